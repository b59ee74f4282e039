// The npm package's `otalab/sim` and the native runner drive one engine: every example scenario
// run in memory from Node (Scenario.runInMemory) gives the same report as
// `otalab run --in-memory` (target/debug/otalab) with the same seed, device for device, step
// for step, expectation for expectation. Only the generation time (the wall clock) differs.
// Usage: node --test tests/runner/npm-sim.test.mjs   (after scripts/build-npm, cargo build -p otalab-cli)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bin } from '../support/otalab.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const entry = path.join(repo, 'target/npm/otalab/node/sim.cjs');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'otalab-npm-sim-'));

const examples = ['examples/scenarios', 'examples/jobs'].flatMap((dir) =>
  readdirSync(path.join(repo, dir)).filter((f) => f.endsWith('.toml')).map((f) => path.join(dir, f)));

/** The files a scenario names (firmware `file`s, the fleet's csv or devices_conf) that exist beside it. */
function filesBeside(scenario, dir) {
  const json = scenario.toJSON();
  const names = [...Object.values(json.firmware ?? {}).map((f) => f.file), json.fleet.csv, json.fleet.devices_conf].filter(Boolean);
  return Object.fromEntries(names.filter((n) => existsSync(path.join(dir, n))).map((n) => [n, readFileSync(path.join(dir, n))]));
}

test('every example scenario: otalab/sim in Node and otalab run --in-memory give the same report', () => {
  assert.ok(existsSync(bin), `${bin} is missing: cargo build -p otalab-cli`);
  assert.ok(existsSync(entry), `${entry} is missing: scripts/build-npm`);
  const { Scenario } = createRequire(import.meta.url)(entry);
  assert.ok(examples.length >= 8, `only ${examples.length} examples`);
  for (const example of examples) {
    for (const seed of [1, 9]) {
      const out = path.join(tmp, `${path.basename(example)}-${seed}.json`);
      const cli = spawnSync(bin, ['run', '--in-memory', example, '--seed', String(seed), '--report', out, '--progress', 'none'], { cwd: repo, encoding: 'utf8' });
      assert.equal(cli.status, 0, `${example}: ${cli.stderr}`);
      const native = JSON.parse(readFileSync(out, 'utf8'));
      const scenario = Scenario.parse(readFileSync(path.join(repo, example), 'utf8'));
      const report = scenario.runInMemory({ seed, files: filesBeside(scenario, path.dirname(path.join(repo, example))) });
      const npm = report.toJSON();
      assert.ok(npm.devices.length > 0 && npm.devices.length === native.devices.length, `${example}: devices`);
      assert.deepEqual({ ...npm, generatedAtMs: 0 }, { ...native, generatedAtMs: 0 }, `${example}, seed ${seed}`);
      assert.equal(report.passed, true, `${example}: expectations`);
    }
  }
});
