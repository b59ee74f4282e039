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
// The scenario of N devices: one full OTA each, or (idle) connected and left waiting until
// the time limit (5 s + 1 ms per device), which ends an idle run. A shard expects no failure
// (each judges its own half; the merged report is checked for every success).
function scenarioFile(n, { idle = false, tag = '' } = {}) {
  const file = path.join(tmp, `bench-${n}${idle ? '-idle' : ''}${tag}.toml`);
  const names = `b-{00001..${String(n).padStart(5, '0')}}`;
  const upgrade = idle ? '' : `[firmware.v2]
file = "bench-256k.bin"
version = "2.0.0"
[[actions]]
push = "v2"
`;
  writeFileSync(file, `name = "bench ${n}${idle ? ' idle' : ''}"
[fleet]
product_key = "a1Bench"
names = "${names}"
[device]
cadence_percent = 10
flash_ms = 100
reboot_ms = 100
${upgrade}[expect]
${idle ? `time_limit_ms = ${5000 + n}` : `time_limit_ms = 900000
verdicts = { ${tag ? 'failed = 0' : `succeeded = ${n}`} }`}
`);
  return file;
}

// One `otalab run`; its report's timings. Both simulators talk to mosquitto's own listener:
// the sandbox's automatic subscription front (a Node proxy for devices that never subscribe)
// is not what is measured here.
async function otalab(scenario, extra = []) {
  const report = path.join(tmp, `report-${Math.random().toString(36).slice(2)}.json`);
  const run = await exec(bin, ['run', scenario, '--sandbox', sandbox.url, '--broker', sandbox.broker.url, '--report', report, '--progress', 'none', '--downloads', '64', ...extra]);
  if (run.code !== 0) throw new Error(`otalab run ${[scenario, ...extra].join(' ')} exited ${run.code}:\n${run.stderr}`);
  const r = JSON.parse(readFileSync(report, 'utf8'));
  return { report, summary: r.summary, connectedMs: r.timings.allConnectedMs, succeededMs: r.timings.allSettledMs, rssKib: r.timings.peakRssKib, failures: r.timings.connectFailures ?? 0 };
}

const rows = [];
const idle = [];
const ramp = [];
let shards = null;
const largest = Math.max(...sizes);
try {
  for (const n of sizes) {
    const ours = await otalab(scenarioFile(n));
    if (ours.summary.succeeded !== n) throw new Error(`otalab: ${n - ours.summary.succeeded} of ${n} devices did not succeed`);
    const theirs = await exec(process.execPath, ['--max-old-space-size=8192', path.join(repo, 'bench/node-sim.mjs'),
      JSON.stringify({ broker: sandbox.broker.url, url, md5, size: SIZE, n, cadence: 10, flashMs: 100, rebootMs: 100, downloads: 64 })]);
    if (theirs.code !== 0) throw new Error(`node-sim (N=${n}) exited ${theirs.code}:\n${theirs.stderr}`);
    const node = JSON.parse(theirs.stdout.trim().split('\n').at(-1));
    if (node.failed) throw new Error(`node-sim: ${node.failed} devices failed`);
    rows.push({ n, otalab: ours, node: { connectedMs: node.connectedMs, succeededMs: node.succeededMs, rssKib: node.maxRssKib } });
    console.error(`N=${n}: otalab ${ours.succeededMs} ms, ${ours.rssKib} KiB; node ${node.succeededMs} ms, ${node.maxRssKib} KiB`);
    // Idle: the same devices connected and waiting for a notice that never comes.
    const still = await otalab(scenarioFile(n, { idle: true }));
    idle.push({ n, ...still });
    console.error(`N=${n} idle: ${still.rssKib} KiB`);
  }
  // The connection ramp at the largest size: connections opening at once, and one paced run.
  for (const connecting of [16, 64, 256, 1024]) {
    const r = await otalab(scenarioFile(largest, { idle: true }), ['--connecting', String(connecting)]);
    ramp.push({ limit: `--connecting ${connecting}`, ...r });
    console.error(`ramp --connecting ${connecting}: ${r.connectedMs} ms, ${r.failures} failed attempts`);
  }
  const paced = Math.max(1000, Math.round(largest / 4));
  const r = await otalab(scenarioFile(largest, { idle: true }), ['--connect-rate', String(paced)]);
  ramp.push({ limit: `--connect-rate ${paced}`, ...r });
  // Two processes of half the largest fleet each (shards), side by side on one sandbox, and
  // their reports merged by `otalab report merge`.
  const file = scenarioFile(largest, { tag: '-shards' });
  const t0 = Date.now();
  const halves = await Promise.all([1, 2].map((i) => otalab(file, ['--shard', `${i}/2`])));
  const wallMs = Date.now() - t0;
  const merged = path.join(tmp, 'merged.json');
  const m = await exec(bin, ['report', 'merge', ...halves.map((h) => h.report), '--output', merged]);
  if (m.code !== 0) throw new Error(`otalab report merge exited ${m.code}:\n${m.stderr}`);
  const report = JSON.parse(readFileSync(merged, 'utf8'));
  if (report.summary.succeeded !== largest) throw new Error(`shards: ${largest - report.summary.succeeded} devices did not succeed`);
  shards = { n: largest, wallMs, connectedMs: report.timings.allConnectedMs, succeededMs: report.timings.allSettledMs, rssKib: halves.map((h) => h.rssKib) };
} finally {
  await sandbox.stop();
}

const s = (ms) => (ms / 1000).toFixed(1);
const mib = (kib) => (kib / 1024).toFixed(0);
const perDevice = (kib, n) => (kib / n).toFixed(1);
const rate = (n, ms) => (ms == null ? 'not all' : Math.round(n / (ms / 1000)).toLocaleString('en-US'));
console.log(`\nOne full OTA per device (256 KiB, MD5-verified, progress every 10 %, flash + reboot), mosquitto on loopback, ${os.cpus().length} cores.`);
console.log('Baseline: bench/node-sim.mjs (one MQTT.js client per device, fetch + node:crypto), same run.\n');
console.log('| devices | otalab: all connected | otalab: all succeeded | otalab: peak RSS (per device) | Node: all connected | Node: all succeeded | Node: peak RSS (per device) | devices/s vs Node | memory/device vs Node |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const { n, otalab, node } of rows) {
  const speed = node.succeededMs / otalab.succeededMs;
  const memory = (otalab.rssKib / n) / (node.rssKib / n);
  console.log(`| ${n} | ${s(otalab.connectedMs)} s | ${s(otalab.succeededMs)} s | ${mib(otalab.rssKib)} MiB (${perDevice(otalab.rssKib, n)} KiB) | ${s(node.connectedMs)} s | ${s(node.succeededMs)} s | ${mib(node.rssKib)} MiB (${perDevice(node.rssKib, n)} KiB) | ${speed.toFixed(2)}× | ${memory.toFixed(2)}× |`);
}
console.log('\nGoal: devices/s ≥ 2× the Node simulator\'s, memory per device ≤ 0.25× its, ≤ 8 KiB per device.');
console.log('\nIdle: the devices connected (subscribed, versions reported) and waiting for a notice.\n');
console.log('| devices | all connected | connected/s | peak RSS | per device |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const r of idle) console.log(`| ${r.n} | ${r.connectedMs == null ? 'not all' : `${s(r.connectedMs)} s`} | ${rate(r.n, r.connectedMs)} | ${mib(r.rssKib)} MiB | ${perDevice(r.rssKib, r.n)} KiB |`);
console.log(`\nThe connection ramp: ${largest} devices connecting to mosquitto (idle scenario).\n`);
console.log('| limit | all connected | connected/s | failed attempts |');
console.log('| --- | ---: | ---: | ---: |');
for (const r of ramp) console.log(`| ${r.limit} | ${r.connectedMs == null ? 'not all' : `${s(r.connectedMs)} s`} | ${rate(largest, r.connectedMs)} | ${r.failures} |`);
console.log(`\nShards: 2 processes of ${largest / 2} devices side by side, reports merged.\n`);
console.log('| devices | wall time | all connected | all succeeded | peak RSS per process | per device (sum of peaks) |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
const sum = shards.rssKib.reduce((a, b) => a + b, 0);
console.log(`| ${shards.n} | ${s(shards.wallMs)} s | ${s(shards.connectedMs)} s | ${s(shards.succeededMs)} s | ${shards.rssKib.map(mib).join(' + ')} MiB | ${perDevice(sum, shards.n)} KiB |`);
