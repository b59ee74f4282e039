// The npm package's ConformanceSuite (`otalab/sim`, from target/npm/otalab) grades the
// independent device of tests/support/ota-device.mjs, correct, with each of its defects and in
// its stock Link SDK C mode, against the real sandbox (mosquitto behind the automatic
// subscription front, the HTTP server with Range and broken URLs), over an MQTT.js client: the
// same case results as `otalab conformance` gets (tests/runner/conformance.test.mjs holds it to
// the same table), with the report card read back by an independent XML parser.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { XMLParser } from 'fast-xml-parser';

import { startSandbox } from '../../sandbox/sandbox.mjs';
import { startDevice } from '../support/ota-device.mjs';
import { ALL, variants } from '../support/conformance-variants.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const entry = path.join(repo, 'target/npm/otalab/node/sim.cjs');
let sandbox;
let sim;
const clients = [];

before(async () => {
  assert.ok(existsSync(entry), `${entry} is missing: scripts/build-npm`);
  sim = createRequire(import.meta.url)(entry);
  sandbox = await startSandbox({ dist: mkdtempSync(path.join(os.tmpdir(), 'otalab-npm-conformance-')) });
});

after(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await sandbox?.stop();
});


async function info() {
  return (await fetch(`${sandbox.url}/sandbox.json`)).json();
}

test('ConformanceSuite from npm grades the independent device and each defective variant as otalab conformance does', async () => {
  assert.deepEqual(sim.ConformanceSuite.cases, ALL);
  const { demo, faults, brokerTcp } = await info();
  const pkg = demo[0];
  const firmware = new Uint8Array(await (await fetch(pkg.url)).arrayBuffer());
  const pk = 'a1NpmConf';
  const devices = {};
  try {
    const runs = variants.map(async (v, i) => {
      const dn = `board-${i + 1}`;
      const client = await mqtt.connectAsync(brokerTcp, { clientId: `npm-suite-${i}`, protocolVersion: 4 });
      clients.push(client);
      const suite = new sim.ConformanceSuite({
        device: `${pk}/${dn}`, package: pkg, firmware, faultUrls: faults,
        limits: { caseTimeoutMs: 30_000, reactionMs: 6_000 }, waitMs: 60_000,
      }, { mqtt: sim.mqttJsAdapter(client) });
      const events = [];
      suite.onEvent((e) => events.push(e.kind));
      const card = suite.run();
      devices[v.name] = await startDevice({ broker: sandbox.brokerUrl, pk, dn, modules: { mcu: '1.0.0' }, defects: v.defects, stock: v.stock, pullEveryMs: 1000 });
      return { v, card: await card, junit: suite.junit(), events, errors: suite.errors };
    });
    for (const { v, card, junit, events, errors } of await Promise.all(runs)) {
      assert.deepEqual(card.cases.map((c) => c.case), ALL, v.name);
      const grades = Object.fromEntries(card.cases.map((c) => [c.case, c.grade]));
      const expected = Object.fromEntries(ALL.map((c) => [c, v.na.includes(c) ? 'not_applicable' : v.fails.includes(c) ? 'fail' : 'pass']));
      assert.deepEqual(grades, expected, `${v.name}\n${card.cases.map((c) => `${c.case} ${c.grade}: ${c.observed}`).join('\n')}`);
      assert.equal(card.passed, v.fails.length === 0, v.name);
      for (const c of card.cases.filter((c) => c.grade === 'fail')) {
        assert.ok(c.evidence.length > 1 && c.expected && c.observed, `${v.name} ${c.case} carries its evidence`);
      }
      const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(junit);
      assert.equal(Number(xml.testsuites.tests), ALL.length);
      assert.equal(Number(xml.testsuites.failures), v.fails.length, v.name);
      assert.equal(Number(xml.testsuites.skipped), v.na.length, v.name);
      assert.equal(events[0], 'version', v.name);
      assert.equal(events.filter((e) => e === 'caseJudged').length, ALL.length, v.name);
      assert.equal(events.at(-1), 'finished', v.name);
      assert.deepEqual(errors, [], v.name);
    }
  } finally {
    await Promise.all(Object.values(devices).map((d) => d.stop()));
  }
});

test('ConformanceSuite refusals: a silent device (NO_VERSION), bad options named', async () => {
  const { demo, brokerTcp } = await info();
  const client = await mqtt.connectAsync(brokerTcp, { clientId: 'npm-suite-silent', protocolVersion: 4 });
  clients.push(client);
  const io = { mqtt: sim.mqttJsAdapter(client) };
  const silent = new sim.ConformanceSuite({ device: 'a1NpmConf/nobody', package: demo[0], cases: ['md5'], waitMs: 1000 }, io);
  await assert.rejects(silent.run(), (e) => e instanceof sim.OtaError && e.code === 'NO_VERSION' && /reported no version within \d+ ms/.test(e.message));
  const refused = (options, code, where) => assert.throws(() => new sim.ConformanceSuite(options, io),
    (e) => e instanceof sim.OtaError && e.code === code && String(e.path ?? '').startsWith(where), JSON.stringify(options));
  refused({ device: 'a1/x', package: demo[0] }, 'INVALID_ARGUMENT', 'options.faultUrls');
  refused({ device: 'a1/x', package: demo[0], cases: ['md5', 'mqtt'] }, 'INVALID_ARGUMENT', 'options.firmware');
  refused({ device: 'a1/x', package: demo[0], cases: ['sideways'] }, 'INVALID_ARGUMENT', 'options');
  refused({ device: 'a1/x', package: demo[0], cases: [] }, 'INVALID_ARGUMENT', 'options.cases');
  refused({ device: 'a1/x', package: demo[0], cases: ['md5'], limits: { caseTimeout: 1 } }, 'INVALID_ARGUMENT', 'options');
  refused({ device: 'a1/x', package: demo[0], cases: ['md5'], firmware: 'bytes' }, 'INVALID_ARGUMENT', 'options.firmware');
  assert.throws(() => new sim.ConformanceSuite({ device: 'nobody', package: demo[0], cases: ['md5'] }, io), (e) => e.code === 'INVALID_DEVICE_KEY');
});
