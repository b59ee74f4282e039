// The native runner for the tests under tests/runner: where its binary is, and one way to run it.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The `otalab` binary under test: `$OTALAB_BIN`, or the debug build (`cargo build -p otalab-cli`). */
export const bin = process.env.OTALAB_BIN ?? path.join(repo, 'target/debug/otalab');

/**
 * Runs `otalab args…` and resolves `{ code, stdout, stderr }` when it exits. `env` adds to the
 * environment; `onStderr` sees stderr, in full, each time it grows (to await a line); a run over
 * `timeout` ms is killed and rejects with its stderr.
 */
export function otalab(args, { env = {}, timeout = 120_000, onStderr = () => {} } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; onStderr(stderr); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`otalab ${args.join(' ')} took over ${timeout} ms\n${stderr}`)); }, timeout);
    child.on('error', reject);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}
