// The in-memory runner (`otalab run --in-memory`: devices, the sandbox cloud, a broker and a
// file server in one process on a virtual clock) against the socket runner as the baseline,
// same scenario, same run: N devices, one full OTA each (a 256 KiB package, MD5-verified,
// progress every 10 %, 100 ms flash and reboot). Then the capacity: the most devices one
// scenario may name (1,000,000) in memory with a 4 KiB package, for the memory per device.
//
// Usage: cargo build --profile native -p otalab-cli && node bench/memory.mjs [N ...] [--no-capacity]
// (default N: 1000 10000 100000; the socket baseline runs at the first N only).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { demoFirmware, startSandbox } from '../sandbox/sandbox.mjs';
import { exec, runInMemory, scenarioFile } from './support.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'target/native/otalab');
const args = process.argv.slice(2);
const counts = args.map(Number).filter(Boolean);
const sizes = counts.length ? counts : [1000, 10000, 100000];
const capacity = !args.includes('--no-capacity');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'otalab-bench-memory-'));

/** A scenario of `n` devices pushing `file` (beside the scenario for the in-memory runner). */
function scenario(n, file, bytes) {
  return scenarioFile(tmp, n, { [file]: bytes }, `name = "bench ${n}"
[fleet]
product_key = "a1Bench"
names = "b-{0000001..${String(n).padStart(7, '0')}}"
[device]
cadence_percent = 10
flash_ms = 100
reboot_ms = 100
[firmware.v2]
file = "${file}"
version = "2.0.0"
[[actions]]
push = "v2"
[expect]
time_limit_ms = 900000
verdicts = { succeeded = ${n} }
`);
}

const inMemory = (toml) => runInMemory(bin, toml);

const SIZE = 256 * 1024;
const firmware = demoFirmware(SIZE, 7);
const rows = [];
const base = sizes[0];

// The baseline: the socket runner against the sandbox (mosquitto, the HTTP server), same file.
const sandbox = await startSandbox({ dist: tmp });
let socket;
try {
  writeFileSync(path.join(sandbox.firmwareDir, 'bench-256k.bin'), firmware);
  const toml = scenario(base, 'bench-256k.bin', firmware);
  const report = path.join(tmp, 'socket.json');
  const t0 = process.hrtime.bigint();
  const r = await exec(bin, ['run', toml, '--sandbox', sandbox.url, '--broker', sandbox.broker.url, '--report', report, '--progress', 'none']);
  if (r.code !== 0) throw new Error(`otalab run (sockets) exited ${r.code}:\n${r.stderr}`);
  const json = JSON.parse(readFileSync(report, 'utf8'));
  socket = { wall: Number(process.hrtime.bigint() - t0) / 1e9, rssKib: json.timings.peakRssKib };
  console.error(`sockets N=${base}: ${socket.wall.toFixed(1)} s, ${socket.rssKib} KiB`);
} finally {
  await sandbox.stop();
}

for (const n of sizes) {
  const r = await inMemory(scenario(n, 'bench-256k.bin', firmware));
  rows.push({ n, label: '256 KiB', ...r });
  console.error(`in memory N=${n}: ${r.wall.toFixed(1)} s, ${r.rssKib} KiB`);
}
if (capacity) {
  const n = 1_000_000;
  const r = await inMemory(scenario(n, 'bench-4k.bin', demoFirmware(4096, 9)));
  rows.push({ n, label: '4 KiB', ...r });
  console.error(`in memory N=${n} (4 KiB): ${r.wall.toFixed(1)} s, ${r.rssKib} KiB`);
}

const mib = (kib) => (kib / 1024).toFixed(0);
console.log(`\nOne full OTA per device (MD5-verified, progress every 10 %, 100 ms flash and reboot), ${os.cpus().length} cores.`);
console.log(`Baseline: otalab run over sockets (mosquitto and the sandbox's HTTP server on loopback), ${base} devices, 256 KiB, same run: ${socket.wall.toFixed(1)} s wall, ${mib(socket.rssKib)} MiB peak RSS.\n`);
console.log('| devices | package | wall time | virtual time | peak RSS | per device | wall per device vs sockets |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  const ratio = (socket.wall / base) / (r.wall / r.n);
  console.log(`| ${r.n} | ${r.label} | ${r.wall.toFixed(1)} s | ${r.virtualS.toFixed(1)} s | ${mib(r.rssKib)} MiB | ${(r.rssKib / r.n).toFixed(1)} KiB | ${ratio.toFixed(1)}× faster |`);
}
const big = rows.at(-1);
console.log(`\nLargest fleet in 16 GiB at ${(big.rssKib / big.n).toFixed(1)} KiB per device: about ${Math.floor((16 * 1024 * 1024) / (big.rssKib / big.n)).toLocaleString('en')} devices (a scenario names at most 1,000,000).`);
