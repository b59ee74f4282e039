// `otalab run`'s sandbox cloud upgrades npm SimulatedDevices: the scenario's fleet has four
// devices, the runner starts two and leaves the other two to `otalab/sim` devices on their own
// MQTT.js clients (`--external`). The runner's cloud waits for them, pushes a correct notice to one
// and a bad digest to the other, and judges them; the npm devices end where the report says.
// Usage: node --test tests/runner/npm-external.test.mjs   (after scripts/build-npm, cargo build -p otalab-cli)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';

import { startSandbox } from '../../sandbox/sandbox.mjs';
import { bin, otalab } from '../support/otalab.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const entry = path.join(repo, 'target/npm/otalab/node/sim.cjs');
const scenario = path.join(repo, 'tests/runner/scenarios/external-npm.toml');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'otalab-npm-external-'));
let sandbox;
let sim;
const clients = [];
const devices = [];

before(async () => {
  assert.ok(existsSync(bin), `${bin} is missing: cargo build -p otalab-cli`);
  assert.ok(existsSync(entry), `${entry} is missing: scripts/build-npm`);
  sim = createRequire(import.meta.url)(entry);
  sandbox = await startSandbox({ dist: tmp });
});

after(async () => {
  for (const d of devices) d.stop();
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await sandbox?.stop();
});

test('otalab run --external: the runner\'s cloud upgrades npm devices and judges them with its own', async () => {
  const { brokerTcp } = await (await fetch(`${sandbox.url}/sandbox.json`)).json();
  const report = path.join(tmp, 'report.json');
  let listening;
  const heard = new Promise((resolve) => { listening = resolve; });
  const running = otalab(['run', scenario, '--sandbox', sandbox.url, '--progress', 'plain', '--report', report,
    '--external', 'a1Ext/meter-3', '--external', 'a1Ext/meter-4'], { onStderr: (err) => {
    if (err.includes('the cloud is listening: start the external devices now (a1Ext/meter-3, a1Ext/meter-4)')) listening();
  } });
  // Devices report their version once, when they start: the npm devices log in once the
  // runner's cloud listens, and it waits for them.
  await Promise.race([heard, running.then(({ stderr }) => { throw new Error(`otalab ended first: ${stderr}`); })]);
  for (const dn of ['meter-3', 'meter-4']) {
    const client = await mqtt.connectAsync(brokerTcp, { clientId: `a1Ext.${dn}`, protocolVersion: 4 });
    clients.push(client);
    const d = new sim.SimulatedDevice({ productKey: 'a1Ext', deviceName: dn, version: '1.0.0', cadencePercent: 20, flashMs: 200, rebootMs: 200 },
      { mqtt: sim.mqttJsAdapter(client) });
    devices.push(d);
    await d.start();
  }
  const { code, stderr } = await running;
  assert.equal(code, 0, stderr);
  const json = JSON.parse(readFileSync(report, 'utf8'));
  const rows = Object.fromEntries(json.devices.map((d) => [d.deviceName, d]));
  assert.deepEqual(Object.keys(rows).sort(), ['meter-1', 'meter-2', 'meter-3', 'meter-4']);
  assert.equal(rows['meter-3'].verdict, 'succeeded');
  assert.equal(rows['meter-3'].finalVersion, '2.0.0');
  assert.equal(rows['meter-4'].verdict, 'failed');
  assert.equal(rows['meter-4'].failure.code, -3);
  // The npm devices themselves agree with the runner's report.
  const [three, four] = devices;
  assert.equal(three.state.phase, 'upgraded');
  assert.equal(three.state.versions.default, '2.0.0');
  assert.equal(four.state.phase, 'failed');
  assert.equal(four.state.versions.default, '1.0.0');
  assert.deepEqual(three.state.steps.at(-1).step, 100);
  assert.equal(four.state.steps.at(-1).step, -3);
  assert.deepEqual([...three.errors, ...four.errors], []);
});

test('otalab run --external refuses a device outside the fleet or a run without the sandbox cloud', async () => {
  const outside = await otalab(['run', scenario, '--sandbox', sandbox.url, '--progress', 'none', '--external', 'a1Ext/meter-9']);
  assert.equal(outside.code, 2);
  assert.match(outside.stderr, /--external a1Ext\/meter-9: not a device of the fleet/);
  const malformed = await otalab(['run', scenario, '--external', 'no-slash']);
  assert.equal(malformed.code, 2);
  assert.match(malformed.stderr, /--external/);
  const peer = await otalab(['run', path.join(repo, 'tests/runner/scenarios/peer-cloud.toml'), '--broker', sandbox.brokerUrl, '--progress', 'none', '--external', 'a1Peer/p-1']);
  assert.equal(peer.code, 2);
  assert.match(peer.stderr, /--external needs the sandbox cloud/);
});
