// bench/runner's driver (see bench/runner). For each N: one `otalab run` of a generated
// scenario (N devices, a correct MD5 notice for a 256 KiB package, progress every 10 %,
// 100 ms flash and reboot), then the same by bench/node-sim.mjs, against one sandbox.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { demoFirmware, startSandbox } from '../sandbox/sandbox.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'target/native/otalab');
const counts = process.argv.slice(2).map(Number).filter(Boolean);
const sizes = counts.length ? counts : [1000, 5000, 10000];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'otalab-bench-'));
const SIZE = 256 * 1024;

function exec(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const sandbox = await startSandbox({ dist: tmp });
const firmware = demoFirmware(SIZE, 7);
writeFileSync(path.join(sandbox.firmwareDir, 'bench-256k.bin'), firmware);
const url = `${sandbox.url}/firmware/bench-256k.bin`;
const md5 = createHash('md5').update(firmware).digest('hex');
const rows = [];
try {
  for (const n of sizes) {
    const scenario = path.join(tmp, `bench-${n}.toml`);
    writeFileSync(scenario, `name = "bench ${n}"
[fleet]
product_key = "a1Bench"
names = "b-{00001..${String(n).padStart(5, '0')}}"
[device]
cadence_percent = 10
flash_ms = 100
reboot_ms = 100
[firmware.v2]
file = "bench-256k.bin"
version = "2.0.0"
[[actions]]
push = "v2"
[expect]
time_limit_ms = 900000
verdicts = { succeeded = ${n} }
`);
    const report = path.join(tmp, `bench-${n}.json`);
    const t0 = Date.now();
    // Both simulators talk to mosquitto's own listener: the sandbox's automatic subscription
    // front (a Node proxy for devices that never subscribe) is not what is measured here.
    const ours = await exec(bin, ['run', scenario, '--sandbox', sandbox.url, '--broker', sandbox.broker.url, '--report', report, '--progress', 'none', '--downloads', '64']);
    if (ours.code !== 0) throw new Error(`otalab run (N=${n}) exited ${ours.code}:\n${ours.stderr}`);
    const r = JSON.parse(readFileSync(report, 'utf8'));
    const otalab = {
      connectedMs: r.timings.allConnectedMs,
      succeededMs: r.timings.allSettledMs,
      rssKib: r.timings.peakRssKib,
      wallMs: Date.now() - t0,
    };
    const theirs = await exec(process.execPath, ['--max-old-space-size=8192', path.join(repo, 'bench/node-sim.mjs'),
      JSON.stringify({ broker: sandbox.broker.url, url, md5, size: SIZE, n, cadence: 10, flashMs: 100, rebootMs: 100, downloads: 64 })]);
    if (theirs.code !== 0) throw new Error(`node-sim (N=${n}) exited ${theirs.code}:\n${theirs.stderr}`);
    const node = JSON.parse(theirs.stdout.trim().split('\n').at(-1));
    if (node.failed) throw new Error(`node-sim: ${node.failed} devices failed`);
    rows.push({ n, otalab, node: { connectedMs: node.connectedMs, succeededMs: node.succeededMs, rssKib: node.maxRssKib } });
    console.error(`N=${n}: otalab ${otalab.succeededMs} ms, ${otalab.rssKib} KiB; node ${node.succeededMs} ms, ${node.maxRssKib} KiB`);
  }
} finally {
  await sandbox.stop();
}

const s = (ms) => (ms / 1000).toFixed(1);
const mib = (kib) => (kib / 1024).toFixed(0);
const perDevice = (kib, n) => (kib / n).toFixed(1);
console.log(`\nOne full OTA per device (256 KiB, MD5-verified, progress every 10 %, flash + reboot), mosquitto on loopback, ${os.cpus().length} cores.`);
console.log('Baseline: bench/node-sim.mjs (one MQTT.js client per device, fetch + node:crypto), same run.\n');
console.log('| devices | otalab: all connected | otalab: all succeeded | otalab: peak RSS (per device) | Node: all connected | Node: all succeeded | Node: peak RSS (per device) | devices/s vs Node | memory/device vs Node |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const { n, otalab, node } of rows) {
  const speed = node.succeededMs / otalab.succeededMs;
  const memory = (otalab.rssKib / n) / (node.rssKib / n);
  console.log(`| ${n} | ${s(otalab.connectedMs)} s | ${s(otalab.succeededMs)} s | ${mib(otalab.rssKib)} MiB (${perDevice(otalab.rssKib, n)} KiB) | ${s(node.connectedMs)} s | ${s(node.succeededMs)} s | ${mib(node.rssKib)} MiB (${perDevice(node.rssKib, n)} KiB) | ${speed.toFixed(2)}× | ${memory.toFixed(2)}× |`);
}
console.log('\nGoal: devices/s ≥ 2× the Node simulator\'s, memory per device ≤ 0.25× its.');
