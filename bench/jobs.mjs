// Upgrade jobs at fleet scale in memory (`otalab run --in-memory`): N devices upgraded by a job
// whose rate lets 1,000 devices a minute through (with a 30-minute timeout per task), against
// the same fleet pushed at once by the console's batch as the baseline, same binary, same run.
// A job's run lasts N / 1000 virtual minutes; its cost per device must stay flat as N grows
// (the cloud's task timers and the run's settling checks touch only what fell due).
//
// Usage: cargo build --profile native -p otalab-cli && node bench/jobs.mjs [N ...]
// (default N: 2000 8000 32000; OTALAB_BIN picks another binary, e.g. target/debug/otalab).
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { demoFirmware } from '../sandbox/sandbox.mjs';
import { runInMemory, scenarioFile } from './support.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = process.env.OTALAB_BIN ?? path.join(repo, 'target/native/otalab');
const counts = process.argv.slice(2).map(Number).filter(Boolean);
const sizes = counts.length ? counts : [2000, 8000, 32000];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'otalab-bench-jobs-'));
const firmware = demoFirmware(64 * 1024, 5);

/** N devices, pushed by a batch or by a rate-limited job. */
function scenario(n, job) {
  return scenarioFile(tmp, n, { 'fw.bin': firmware }, `name = "jobs bench ${n}"
[fleet]
product_key = "a1Jobs"
names = "j-{0000001..${String(n).padStart(7, '0')}}"
[device]
flash_ms = 100
reboot_ms = 100
[firmware.v2]
file = "fw.bin"
version = "2.0.0"
[[actions]]
push = "v2"
${job ? 'job = { target = "all", maximum_per_minute = 1000, timeout_minutes = 30 }' : ''}
[expect]
time_limit_ms = ${Math.max(900_000, (n / 1000 + 5) * 60_000)}
verdicts = { succeeded = ${n} }
`);
}

async function run(n, job) {
  try {
    return await runInMemory(bin, scenario(n, job));
  } catch (e) {
    throw new Error(`N=${n} ${job ? 'job' : 'batch'}: ${e.message}`);
  }
}

console.log(`Baseline: the same fleet pushed at once (the console's batch), same binary (${path.relative(repo, bin)}), same run; ${os.cpus().length} cores.\n`);
console.log('| devices | batch wall | job wall | job virtual time | job / batch | job wall per 1,000 devices |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
for (const n of sizes) {
  const batch = await run(n, false);
  const job = await run(n, true);
  console.log(`| ${n.toLocaleString('en')} | ${batch.wall.toFixed(1)} s | ${job.wall.toFixed(1)} s | ${(job.virtualS / 60).toFixed(1)} min | ${(job.wall / batch.wall).toFixed(2)}× | ${(job.wall / (n / 1000)).toFixed(2)} s |`);
}
