// `otalab conformance` (target/debug/otalab) grades devices it did not simulate: the
// independent device of tests/support/ota-device.mjs (MQTT.js, node:http, node:crypto),
// correct and with each of its switchable defects, and in its stock Link SDK C mode (never
// subscribes, core_http's download rules, MQTT download with its own CRC), against the real
// sandbox (mosquitto behind the automatic subscription front, the HTTP server with Range and
// broken URLs). The correct and the stock device pass every case they can take; each
// defective one fails exactly the cases its defect breaks. Report cards are read back with an
// independent XML parser.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { XMLParser } from 'fast-xml-parser';

import { startSandbox } from '../../sandbox/sandbox.mjs';
import { startDevice } from '../support/ota-device.mjs';
import { ALL, variants } from '../support/conformance-variants.mjs';
import { bin } from '../support/otalab.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'otalab-conformance-'));

let sandbox;

before(async () => {
  assert.ok(existsSync(bin), `${bin} is missing: cargo build -p otalab-cli`);
  sandbox = await startSandbox({ dist: tmp });
});

after(async () => {
  await sandbox?.stop();
});

/** Runs `otalab conformance` for pk/dn; resolves `{ code, stderr }` once it exits. Calls
 * `ready()` when it waits for the device (so that the device connects after it listens). */
function conformance(pk, dn, extra, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['conformance', '--device', `${pk}/${dn}`, '--sandbox', sandbox.url,
      '--case-timeout', '30', '--reaction', '6', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let started = false;
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!started && stderr.includes('waiting for')) {
        started = true;
        ready();
      }
    });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`conformance took too long\n${stderr}`)); }, 300_000);
    child.on('error', reject);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stderr }); });
  });
}


describe('otalab conformance', () => {
  test('grades the independent device all-pass and each defective variant failing exactly what its defect breaks', async () => {
    const pk = 'a1Conform';
    const devices = {};
    const runs = variants.map(async (v, i) => {
      const dn = `board-${i + 1}`;
      const report = path.join(tmp, `${v.name}.json`);
      const junit = path.join(tmp, `${v.name}.xml`);
      const result = await conformance(pk, dn, ['--report', report, '--junit', junit], async () => {
        devices[v.name] = await startDevice({ broker: sandbox.brokerUrl, pk, dn, modules: { mcu: '1.0.0' }, defects: v.defects, stock: v.stock, pullEveryMs: 1000 });
      });
      return { v, dn, result, report, junit };
    });
    try {
      for (const { v, result, report, junit } of await Promise.all(runs)) {
        assert.equal(result.code, v.fails.length === 0 ? 0 : 1, `${v.name}: exit code\n${result.stderr}`);
        const card = JSON.parse(readFileSync(report, 'utf8'));
        assert.deepEqual(card.cases.map((c) => c.case), ALL, v.name);
        const grades = Object.fromEntries(card.cases.map((c) => [c.case, c.grade]));
        const expected = Object.fromEntries(ALL.map((c) => [c, v.na.includes(c) ? 'not_applicable' : v.fails.includes(c) ? 'fail' : 'pass']));
        assert.deepEqual(grades, expected, `${v.name}\n${card.cases.map((c) => `${c.case} ${c.grade}: ${c.observed}`).join('\n')}`);
        for (const c of card.cases.filter((c) => c.grade === 'fail')) {
          assert.ok(c.evidence.length > 1 && c.expected && c.observed, `${v.name} ${c.case} carries its evidence`);
        }
        // JUnit by an independent parser: one test case per case, failures and skips counted.
        const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(readFileSync(junit, 'utf8'));
        assert.equal(Number(xml.testsuites.tests), ALL.length);
        assert.equal(Number(xml.testsuites.failures), v.fails.length, v.name);
        assert.equal(Number(xml.testsuites.skipped), v.na.length, v.name);
        // Evidence is bounded: no line past 300 characters (and a note), no case past 60 lines.
        for (const c of card.cases) {
          assert.ok(c.evidence.length <= 60, `${v.name} ${c.case}: ${c.evidence.length} lines`);
          for (const line of [c.observed, ...c.evidence]) assert.ok(line.length < 400, `${v.name} ${c.case}: ${line.slice(0, 80)}…`);
        }
        // A device that behaves leaves nothing behind: each case starts on a silent device.
        if (v.fails.length === 0) {
          for (const c of card.cases) assert.ok(!c.evidence.some((l) => l.includes('still sending')), `${v.name} ${c.case}: ${c.evidence.join('\n')}`);
        }
        // repeat: the notice went out again while the slowed download was in flight.
        const repeat = card.cases.find((c) => c.case === 'repeat');
        if (v.fails.length === 0) {
          assert.ok(repeat.evidence.some((l) => l.includes('sent again, mid-download')), `${v.name}: ${repeat.evidence.join('\n')}`);
        }
        // pull: the evidence quotes the answer as sent, with the pull case's own version.
        const pull = card.cases.find((c) => c.case === 'pull');
        assert.ok(pull.evidence.some((l) => l.includes(`T5 pull answered with ${pull.version} (`)), `${v.name}: ${pull.evidence.join('\n')}`);
      }
      // The stock device was never asked to subscribe: the sandbox's front did it, and it
      // answered the broken URLs in a way the SDK understands (-2 at once, no renewals).
      const front = sandbox.front.subscribed().filter((s) => s.pk === pk && s.dn === `board-${variants.length}`);
      assert.ok(front.length > 0, 'the front subscribed the stock device');
      assert.equal(devices.stock.stats.renewals <= 2, true, `stock device renewals: ${devices.stock.stats.renewals}`);
      assert.ok(devices.stock.stats.blocks > 0, 'the stock device downloaded over MQTT');
      // What the suite saw is what happened: the correct device runs the last version pushed.
      for (const name of ['correct', 'stock']) {
        const card = JSON.parse(readFileSync(path.join(tmp, `${name}.json`), 'utf8'));
        // (`ignored_notice` is not applicable because the device upgraded at once.)
        const upgraded = card.cases.filter((c) => (c.grade === 'pass' || c.case === 'ignored_notice') && c.case !== 'second_module' && !['bad_digest', 'wrong_size', 'expired_url', 'missing_url', 'mqtt_error_reply'].includes(c.case));
        assert.equal(devices[name].versions.default, upgraded.at(-1).version, name);
        const mcu = card.cases.find((c) => c.case === 'second_module').version;
        assert.equal(devices[name].versions.mcu, mcu, name);
      }
    } finally {
      await Promise.all(Object.values(devices).map((d) => d.stop()));
    }
  });

  test('ignored_notice: a device that postpones the first notice takes it pushed again, or by its pull; one that drops repeats fails', async () => {
    const pk = 'a1Ignored';
    const kinds = [
      { dn: 'pushed', defer: true, defects: [], pullEveryMs: 0, grade: 'pass', observed: /reacted at \+[\d.]+ s to push 2 of it/ },
      { dn: 'pulled', defer: true, defects: [], pullEveryMs: 300, grade: 'pass', observed: /to the answer to its pull/ },
      { dn: 'dropped', defer: true, defects: ['onceOnly'], pullEveryMs: 0, grade: 'fail', observed: /ignored the notice and the 3 pushes of it again/ },
    ];
    const devices = [];
    try {
      const runs = kinds.map(async (k) => {
        const report = path.join(tmp, `ignored-${k.dn}.json`);
        const result = await conformance(pk, k.dn, ['--cases', 'ignored_notice', '--report', report], async () => {
          devices.push(await startDevice({ broker: sandbox.brokerUrl, pk, dn: k.dn, defer: k.defer, defects: k.defects, pullEveryMs: k.pullEveryMs }));
        });
        return { k, result, card: JSON.parse(readFileSync(report, 'utf8')) };
      });
      for (const { k, result, card } of await Promise.all(runs)) {
        const [c] = card.cases;
        assert.equal(c.grade, k.grade, `${k.dn}: ${c.observed}\n${c.evidence.join('\n')}`);
        assert.match(c.observed, k.observed, k.dn);
        assert.equal(result.code, k.grade === 'pass' ? 0 : 1, `${k.dn}\n${result.stderr}`);
        const pushes = c.evidence.filter((l) => l.includes('the notice pushed again')).length;
        assert.ok(k.dn === 'pulled' ? pushes <= 1 : pushes >= 1, `${k.dn}: ${c.evidence.join('\n')}`);
      }
    } finally {
      await Promise.all(devices.map((d) => d.stop()));
    }
  });

  test('a device that never connects, and a bad device name, are refused with the reason (exit 2)', async () => {
    const silent = await conformance('a1Conform', 'nobody', ['--wait', '2'], () => {});
    assert.equal(silent.code, 2);
    assert.match(silent.stderr, /reported no version within 2 s/);
    const bad = await new Promise((resolve) => {
      const child = spawn(bin, ['conformance', '--device', 'a1/b/c', '--sandbox', sandbox.url], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--device/);
  });
});
