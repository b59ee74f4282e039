// otalab serve under load (a benchmark, not a test; figures in README). Usage:
//   cargo build --profile native -p otalab-cli && node bench/serve.mjs [TASKS] [DEVICES]
// 1. OpenAPI calls per second and latency (p50, p99) of QueryOTAJob and ListOTATaskByJob (pages
//    of 100 anywhere in the job) on a job of TASKS tasks (default 100,000), 4 clients at once,
//    and RegisterDevice (a write: stored and fsynced before it is answered) with 8 clients;
// 2. the database's size per task;
// 3. a job over DEVICES simulated devices (default 10,000) on sockets at MaximumPerMinute
//    10,000 through `otalab serve` (every decision stored first), against the same job in the
//    runner's own cloud (`otalab run`, no database) in the same run: the cost of durability.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import RPCClient from '@alicloud/pop-core';

import { demoFirmware, startSandbox } from '../sandbox/sandbox.mjs';
import { freePort } from '../sandbox/mosquitto.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = process.env.OTALAB_BIN ?? path.join(repo, 'target/native/otalab');
const TASKS = Number(process.argv[2] ?? 100_000);
const DEVICES = Number(process.argv[3] ?? 10_000);
const KEY = { id: 'LTAIbench', secret: 'bench-secret' };
const tmp = mkdtempSync(path.join(os.tmpdir(), 'otalab-bench-serve-'));
const children = [];

function start(args) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  child.out = () => out;
  return child;
}

async function waitFor(what, fn, ms = 600_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startServe(data, brokerUrl) {
  const port = await freePort();
  const child = start(['serve', '--data', data, '--port', String(port), '--broker', brokerUrl, '--access-key', `${KEY.id}:${KEY.secret}`]);
  await waitFor('serve', () => child.out().includes('Press Ctrl-C'), 30_000);
  const client = new RPCClient({ accessKeyId: KEY.id, accessKeySecret: KEY.secret, endpoint: `http://127.0.0.1:${port}`, apiVersion: '2018-01-20' });
  const call = async (action, params) => {
    const r = await client.request(action, params, { method: 'POST' });
    if (!r.Success) throw new Error(`${action}: ${JSON.stringify(r)}`);
    return r;
  };
  return { child, call, url: `http://127.0.0.1:${port}` };
}

/** Runs `count` calls made by `make(i)` on `clients` workers; returns calls/s and latencies. */
async function measure(clients, count, make) {
  const latencies = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const t = performance.now();
      await make(i);
      latencies.push(performance.now() - t);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { perSecond: Math.round(count / seconds), p50: at(0.5).toFixed(2), p99: at(0.99).toFixed(2) };
}

const sandbox = await startSandbox({ dist: tmp });
const firmware = demoFirmware(256 * 1024, 7);
writeFileSync(path.join(sandbox.firmwareDir, 'bench-256k.bin'), firmware);
const firmwareUrl = `${sandbox.url}/firmware/bench-256k.bin`;
const md5 = createHash('md5').update(firmware).digest('hex');
const rows = [];
try {
  // 1 and 2: a job of TASKS tasks, waiting for confirmation (nothing is sent).
  {
    const data = path.join(tmp, 'api');
    const serve = await startServe(data, sandbox.brokerUrl);
    const names = Array.from({ length: TASKS }, (_, i) => `t-${String(i + 1).padStart(6, '0')}`);
    const reg = await measure(8, TASKS, (i) => serve.call('RegisterDevice', { ProductKey: 'a1Api', DeviceName: names[i] }));
    rows.push(['RegisterDevice (a write), 8 clients', reg]);
    const fw = (await serve.call('CreateOTAFirmware', { ProductKey: 'a1Api', FirmwareName: 'fw', DestVersion: '2.0.0', FirmwareUrl: firmwareUrl, FirmwareSign: md5, SignMethod: 'MD5' })).Data.FirmwareId;
    const t = performance.now();
    const job = (await serve.call('CreateOTAStaticUpgradeJob', { ProductKey: 'a1Api', FirmwareId: fw, TargetSelection: 'ALL', NeedConfirm: true })).Data.JobId;
    const createMs = performance.now() - t;
    const pages = Math.ceil(TASKS / 100);
    rows.push([`QueryOTAJob, job of ${TASKS} tasks, 4 clients`, await measure(4, 4000, () => serve.call('QueryOTAJob', { JobId: job }))]);
    rows.push([`ListOTATaskByJob, page of 100 of ${TASKS}, 4 clients`, await measure(4, 2000, (i) => serve.call('ListOTATaskByJob', { JobId: job, CurrentPage: 1 + ((i * 7919) % pages), PageSize: 100 }))]);
    rows.push([`ListOTATaskByJob with TaskStatus (every task looked at), ${TASKS}, 4 clients`, await measure(4, 400, (i) => serve.call('ListOTATaskByJob', { JobId: job, TaskStatus: 'CONFIRM', CurrentPage: 1 + ((i * 7919) % Math.min(pages, 1000)), PageSize: 100 }))]);
    const bytes = ['otalab.db', 'otalab.db-wal'].map((f) => path.join(data, f)).filter(existsSync).reduce((n, f) => n + statSync(f).size, 0);
    console.log(`job of ${TASKS} tasks created in ${createMs.toFixed(0)} ms; database ${(bytes / 1e6).toFixed(1)} MB: ${(bytes / TASKS).toFixed(0)} bytes per task (the device's registration and its task, with its status changes)`);
    serve.child.kill('SIGKILL');
    // A restart replays every stored input.
    const t2 = performance.now();
    const again = await startServe(data, sandbox.brokerUrl);
    console.log(`restart with ${TASKS} devices and a job of ${TASKS} tasks: ready in ${(performance.now() - t2).toFixed(0)} ms (${again.child.out().match(/\d+ stored inputs replayed in \d+ ms/)[0]})`);
    again.child.kill('SIGKILL');
  }

  // 3: the same job through serve and through the runner's cloud, both straight on mosquitto
  // (the sandbox's front would hold two sockets per device in this process: 20,000 at 10,000
  // devices, the machine's open-file limit).
  const direct = sandbox.broker.url;
  const names = `b-{00001..${String(DEVICES).padStart(5, '0')}}`;
  let serveSeconds;
  {
    const serve = await startServe(path.join(tmp, 'job'), direct);
    await measure(8, DEVICES, (i) => serve.call('RegisterDevice', { ProductKey: 'a1Job', DeviceName: `b-${String(i + 1).padStart(5, '0')}` }));
    const devices = start(['devices', '--broker', direct, '--product', 'a1Job', '--names', names]);
    await waitFor('devices', () => devices.out().includes(`connected ${DEVICES} of ${DEVICES}`));
    const fw = (await serve.call('CreateOTAFirmware', { ProductKey: 'a1Job', FirmwareName: 'fw', DestVersion: '2.0.0', FirmwareUrl: firmwareUrl, FirmwareSign: md5, SignMethod: 'MD5' })).Data.FirmwareId;
    const t = performance.now();
    const job = (await serve.call('CreateOTAStaticUpgradeJob', { ProductKey: 'a1Job', FirmwareId: fw, TargetSelection: 'ALL', MaximumPerMinute: 10000 })).Data.JobId;
    await waitFor('the job', async () => (await serve.call('QueryOTAJob', { JobId: job })).Data.JobStatus === 'COMPLETED');
    serveSeconds = (performance.now() - t) / 1000;
    const succeeded = (await serve.call('ListOTATaskByJob', { JobId: job, TaskStatus: 'SUCCEEDED', CurrentPage: 1, PageSize: 1 })).Total;
    console.log(`otalab serve: ${DEVICES} devices, job to COMPLETED in ${serveSeconds.toFixed(1)} s, ${succeeded} succeeded`);
    devices.kill('SIGINT');
    serve.child.kill('SIGKILL');
  }
  let runnerSeconds;
  {
    const toml = path.join(tmp, 'runner.toml');
    writeFileSync(toml, `name = "bench job"
[fleet]
product_key = "a1Run"
names = "${names}"
[device]
flash_ms = 300
reboot_ms = 300
[firmware.v2]
file = "bench-256k.bin"
version = "2.0.0"
[[actions]]
push = "v2"
job = { target = "all", maximum_per_minute = 10000 }
[expect]
time_limit_ms = 900000
verdicts = { succeeded = ${DEVICES} }
`);
    const report = path.join(tmp, 'runner.json');
    const run = start(['run', toml, '--sandbox', sandbox.url, '--broker', direct, '--report', report, '--progress', 'none']);
    await new Promise((resolve) => run.on('exit', resolve));
    const timings = JSON.parse(readFileSync(report, 'utf8')).timings;
    runnerSeconds = (timings.allSettledMs - timings.allConnectedMs) / 1000;
    console.log(`otalab run (no database): ${DEVICES} devices, job to settled in ${runnerSeconds.toFixed(1)} s`);
  }
  console.log('\n| call | calls/s | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: |');
  for (const [name, r] of rows) console.log(`| ${name} | ${r.perSecond} | ${r.p50} | ${r.p99} |`);
  console.log(`\n| ${DEVICES}-device job at 10,000/min | seconds |\n| --- | ---: |\n| otalab run, the runner's cloud (baseline) | ${runnerSeconds.toFixed(1)} |\n| otalab serve, every decision stored first | ${serveSeconds.toFixed(1)} |\n| ratio (the cost of durability) | ${(serveSeconds / runnerSeconds).toFixed(2)} |`);
} finally {
  for (const child of children) child.kill('SIGKILL');
  await sandbox.stop();
}
