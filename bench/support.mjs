// What the benchmarks share: running a process and reading the in-memory runner's summary.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Runs `cmd argv…` (stdout ignored); resolves `{ code, stderr }`. */
export function exec(cmd, argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

/**
 * `otalab run --in-memory toml --progress none` with binary `bin`: wall seconds (measured
 * here), and the virtual seconds and peak RSS (KiB) the runner prints. Throws on a failed run.
 */
export async function runInMemory(bin, toml) {
  const t0 = process.hrtime.bigint();
  const r = await exec(bin, ['run', '--in-memory', toml, '--progress', 'none']);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.code !== 0) throw new Error(`otalab run --in-memory ${toml} exited ${r.code}:\n${r.stderr}`);
  const m = r.stderr.match(/in memory: (\d+) devices, ([\d.]+) virtual s in ([\d.]+) wall s, peak RSS (\d+) KiB/);
  if (!m) throw new Error(`no summary line:\n${r.stderr}`);
  return { wall, virtualS: Number(m[2]), rssKib: Number(m[4]) };
}

/**
 * Writes a scenario `text` as bench.toml in a new folder under `tmp` (named after `n`), with
 * `files` (name → bytes) beside it, where the in-memory runner reads a firmware `file`.
 * Returns the scenario's path.
 */
export function scenarioFile(tmp, n, files, text) {
  const dir = mkdtempSync(path.join(tmp, `n${n}-`));
  for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(dir, name), bytes);
  const toml = path.join(dir, 'bench.toml');
  writeFileSync(toml, text);
  return toml;
}
