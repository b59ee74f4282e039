// The packed npm tarball (scripts/build-npm) installed into a fresh project, as a consumer has it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const version = JSON.parse(readFileSync(path.join(repo, 'crates/wasm/npm/package.json'), 'utf8')).version;

/** The tarball: `OTALAB_TARBALL`, or target/npm/otalab-<version>.tgz. */
export const tarball = path.resolve(process.env.OTALAB_TARBALL ?? path.join(repo, `target/npm/otalab-${version}.tgz`));

/**
 * Installs the tarball into a new project under the system's temporary directory; returns
 * `require` from inside it (`require('otalab/sim')`, ...). Throws with npm's output on failure.
 */
export function installTarball(prefix) {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), `otalab-${prefix}-`)), 'consumer');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'package.json'), '{"name":"consumer","private":true}');
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm install ${tarball} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return createRequire(path.join(dir, 'index.js'));
}
