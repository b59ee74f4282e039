// `otalab/sim` on a real broker: SimulatedDevice and Cloud from the installed tarball, each on its
// own MQTT.js client through mqttJsAdapter, against mosquitto, with firmware over real HTTP
// (Range) from a static server. Proven against code that is not otalab's: an MQTT.js cloud
// written here (node:crypto digests) upgrades the npm devices, the npm Cloud upgrades the
// independent device of tests/support/ota-device.mjs, and an MQTT.js observer reads the wire.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';

import { startMosquitto } from '../../sandbox/mosquitto.mjs';
import { installTarball } from '../support/npm.mjs';
import { startStaticServer } from '../../sandbox/static-server.mjs';
import { startDevice } from '../support/ota-device.mjs';
import { until } from '../support/until.mjs';


let sim;
let broker;
let files;
let firmware;
const clients = [];
const stops = [];

let consumer;
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

before(async () => {
  const require = installTarball('sim-broker');
  sim = require('otalab/sim');
  consumer = path.dirname(require.resolve('otalab/package.json')).replace(/[\\/]node_modules[\\/]otalab$/, '');
  broker = await startMosquitto();
  const root = mkdtempSync(path.join(os.tmpdir(), 'otalab-sim-fw-'));
  firmware = randomBytes(300 * 1024);
  writeFileSync(path.join(root, 'fw-2.0.0.bin'), firmware);
  files = await startStaticServer({ root });
});

after(async () => {
  for (const stop of stops) await stop();
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await files?.close();
  await broker?.stop();
});

async function client(clientId) {
  const c = await mqtt.connectAsync(broker.url, { clientId, protocolVersion: 4, reconnectPeriod: 0 });
  clients.push(c);
  return c;
}

/** An npm SimulatedDevice on its own MQTT.js client. */
async function device(options, extra = {}) {
  const c = await client(`dev-${options.productKey}-${options.deviceName}`);
  const d = new sim.SimulatedDevice({ flashMs: 200, rebootMs: 200, ...options }, { mqtt: sim.mqttJsAdapter(c), ...extra });
  stops.push(() => d.stop());
  await d.start();
  return d;
}

/** An npm Cloud on its own MQTT.js client. */
async function cloud(name) {
  const c = new sim.Cloud({}, { mqtt: sim.mqttJsAdapter(await client(name)) });
  stops.push(() => c.stop());
  await c.start();
  return c;
}

const pkg = () => sim.Cloud.describe(`${files.url}/fw-2.0.0.bin`, '2.0.0', firmware);

test('20 npm devices, a correct notice to half and a bad digest to the others: the report and the wire agree', async () => {
  // An independent observer of what devices say.
  const observer = await client('observer');
  const seen = [];
  await observer.subscribeAsync(['/ota/device/progress/#', '/ota/device/inform/#'], { qos: 1 });
  observer.on('message', (topic, payload) => seen.push({ topic, body: JSON.parse(payload.toString()) }));

  const c = await cloud('npm-cloud');
  const fleet = [];
  for (let i = 1; i <= 20; i++) fleet.push(await device({ productKey: 'a1Fleet', deviceName: `unit-${String(i).padStart(2, '0')}`, cadencePercent: 20 }));
  const keys = fleet.map((d) => d.key);
  await until('every device reported its version', () => keys.every((k) => c.devices.includes(k)));
  const good = keys.slice(0, 10);
  const bad = keys.slice(10);
  const first = c.push(good, pkg());
  const second = c.push(bad, pkg(), { kind: 'bad_digest', signMethod: 'SHA256' });
  assert.notEqual(first, second);
  await until('every verdict final', () => keys.every((k) => ['succeeded', 'failed'].includes(c.verdict(k))), 60_000).catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(keys.map((k) => [k, c.verdict(k), fleet.find((d) => d.key === k).state.phase, fleet.find((d) => d.key === k).errors.map(String)]))}`); });

  const report = c.report().toJSON();
  assert.deepEqual([report.summary.total, report.summary.succeeded, report.summary.failed], [20, 10, 10]);
  for (const d of report.devices) {
    const key = `${d.productKey}/${d.deviceName}`;
    if (good.includes(key)) {
      assert.equal(d.verdict, 'succeeded', key);
      assert.equal(d.finalVersion, '2.0.0', key);
    } else {
      assert.equal(d.verdict, 'failed', key);
      assert.equal(d.failure.code, -3, key);
      assert.equal(d.notice.signMethod, 'SHA256', key);
    }
  }
  assert.deepEqual(fleet.slice(0, 10).map((d) => d.state.versions.default), Array(10).fill('2.0.0'));
  assert.deepEqual(fleet.slice(10).map((d) => d.state.phase), Array(10).fill('failed'));
  // On the wire, read by MQTT.js: the bad half said -3, the good half came back on 2.0.0.
  for (const key of bad) {
    assert.ok(seen.some((m) => m.topic === `/ota/device/progress/${key}` && String(m.body.params.step) === '-3'), key);
  }
  for (const key of good) {
    assert.ok(seen.some((m) => m.topic === `/ota/device/inform/${key}` && m.body.params.version === '2.0.0'), key);
  }
  assert.deepEqual(c.batches().map((b) => b.id), [first, second]);
  const csv = c.report().toCsv();
  assert.ok(csv.includes('a1Fleet,unit-11,') && csv.includes(',-3,'), csv.slice(0, 300));
  assert.deepEqual(c.errors, []);
});

test('npm devices upgraded by an MQTT.js cloud written here (node:crypto digests); a wrong digest gives -3', async () => {
  const cloudClient = await client('independent-cloud');
  const heard = [];
  await cloudClient.subscribeAsync(['/ota/device/inform/a1Ind/#', '/ota/device/progress/a1Ind/#'], { qos: 1 });
  cloudClient.on('message', (topic, payload) => heard.push({ topic, body: JSON.parse(payload.toString()) }));
  const ok = await device({ productKey: 'a1Ind', deviceName: 'good', cadencePercent: 10 });
  const wrong = await device({ productKey: 'a1Ind', deviceName: 'bad' });
  await until('both reported 1.0.0', () => ['good', 'bad'].every((dn) => heard.some((m) => m.topic === `/ota/device/inform/a1Ind/${dn}` && m.body.params.version === '1.0.0')));
  const notice = (md5) => JSON.stringify({
    code: '1000', message: 'success', id: 77, data: { size: firmware.length, sign: md5, version: '2.0.0', url: `${files.url}/fw-2.0.0.bin`, signMethod: 'Md5', md5 },
  });
  const md5 = createHash('md5').update(firmware).digest('hex');
  await cloudClient.publishAsync('/ota/device/upgrade/a1Ind/good', notice(md5), { qos: 1 });
  await cloudClient.publishAsync('/ota/device/upgrade/a1Ind/bad', notice(md5.replace(/^./, (c) => (c === '0' ? '1' : '0'))), { qos: 1 });
  await until('the good device reports 2.0.0', () => heard.some((m) => m.topic === '/ota/device/inform/a1Ind/good' && m.body.params.version === '2.0.0'), 30_000);
  await until('the bad device reports -3', () => heard.some((m) => m.topic === '/ota/device/progress/a1Ind/bad' && String(m.body.params.step) === '-3'), 30_000);
  const steps = heard.filter((m) => m.topic === '/ota/device/progress/a1Ind/good').map((m) => Number(m.body.params.step));
  assert.equal(steps.at(-1), 100);
  assert.ok(steps.length >= 10, `progress every 10 %: ${steps}`);
  assert.deepEqual(steps, [...steps].sort((a, b) => a - b), 'in order');
  assert.equal(ok.state.versions.default, '2.0.0');
  assert.equal(wrong.state.versions.default, '1.0.0');
});

test('the npm Cloud upgrades the independent device (tests/support/ota-device.mjs)', async () => {
  const c = await cloud('npm-cloud-2');
  const independent = await startDevice({ broker: broker.url, pk: 'a1Other', dn: 'board-1' });
  stops.push(() => independent.stop());
  await until('the device reported', () => c.devices.includes('a1Other/board-1'));
  c.push(['a1Other/board-1'], pkg(), { signMethod: 'SHA256' });
  await until('succeeded', () => c.verdict('a1Other/board-1') === 'succeeded', 30_000);
  assert.equal(independent.versions.default, '2.0.0');
  const [row] = c.report(['a1Other/board-1']).toJSON().devices;
  assert.equal(row.steps.at(-1).step, 100);
  assert.equal(row.finalVersion, '2.0.0');
});

test('a hand-driven clock: ten minutes of flashing pass when the test says so', async () => {
  let now = Date.now();
  const timers = new Map();
  let next = 1;
  const clock = {
    now: () => now,
    setTimeout: (fn, ms) => { timers.set(next, { at: now + ms, fn }); return next++; },
    clearTimeout: (id) => timers.delete(id),
  };
  const advance = (ms) => {
    now += ms;
    for (const [id, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at <= now) { timers.delete(id); t.fn(); }
    }
  };
  const c = await cloud('npm-cloud-3');
  const d = await device({ productKey: 'a1Clock', deviceName: 'slow', flashMs: 600_000 }, { clock });
  await until('reported', () => c.devices.includes('a1Clock/slow'));
  c.push([d.key], pkg());
  await until('flashing', () => d.state.phase === 'flashing', 30_000);
  advance(599_000);
  assert.equal(d.state.phase, 'flashing', 'still flashing a second before the end');
  advance(1_000);
  await until('rebooting', () => d.state.phase !== 'flashing');
  advance(200);
  await until('upgraded and reported', () => c.verdict(d.key) === 'succeeded', 30_000);
  assert.equal(d.state.versions.default, '2.0.0');
});

test('bad options and bad messages: typed errors that name the place, and the device carries on', async () => {
  const c = await client('refusals');
  const io = { mqtt: sim.mqttJsAdapter(c) };
  const refused = (fn, code, pathPrefix) => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof sim.OtaError, String(e));
      assert.equal(e.code, code, e.message);
      if (pathPrefix) assert.ok(String(e.path).startsWith(pathPrefix), `${e.path}: ${e.message}`);
      return e;
    }
    assert.fail('did not throw');
  };
  refused(() => new sim.SimulatedDevice({ productKey: 'a1', deviceName: 'x', colour: 'red' }, io), 'INVALID_ARGUMENT', 'options');
  refused(() => new sim.SimulatedDevice({ productKey: 'a1', deviceName: 'x', cadencePercent: 0 }, io), 'INVALID_ARGUMENT', 'options.cadencePercent');
  refused(() => new sim.SimulatedDevice({ productKey: 'a1', deviceName: 'x', version: '' }, io), 'INVALID_ARGUMENT', 'options.version');
  refused(() => new sim.SimulatedDevice({ productKey: 'a1', deviceName: 'x', flashMs: NaN }, io), 'INVALID_ARGUMENT', 'options.flashMs');
  refused(() => new sim.SimulatedDevice({ productKey: '', deviceName: 'x' }, io), 'TOPIC_EMPTY_SEGMENT', 'options.productKey');
  refused(() => new sim.SimulatedDevice({ productKey: 'a+1', deviceName: 'x' }, io), 'TOPIC_ILLEGAL_CHAR', 'options.productKey');
  refused(() => new sim.SimulatedDevice({ productKey: 'a1', deviceName: 'x', fault: { kind: 'stall', at_percent: 'half' } }, io), 'INVALID_ARGUMENT', 'options.fault.at_percent');
  refused(() => new sim.SimulatedDevice({ productKey: 'a1', deviceName: 'x', fault: { kind: 'explode' } }, io), 'INVALID_ARGUMENT', 'options');
  refused(() => new sim.SimulatedDevice({ productKey: 'a1', deviceName: 'x' }, { mqtt: {} }), 'INVALID_ARGUMENT', 'io.mqtt');
  refused(() => new sim.SimulatedDevice({ productKey: 'a1', deviceName: 'x' }, { ...io, clock: { now: Date.now } }), 'INVALID_ARGUMENT', 'io.clock');
  refused(() => new sim.SimulatedDevice('a1/x', io), 'INVALID_ARGUMENT', 'options');
  refused(() => new sim.Cloud({ first: 1 }, io), 'INVALID_ARGUMENT', 'options.first');
  const cl = new sim.Cloud({}, io);
  refused(() => cl.push([], pkg()), 'NO_DEVICES');
  refused(() => cl.push(['a1/x'], pkg(), { kind: 'sideways' }), 'INVALID_ARGUMENT', 'options');
  refused(() => cl.push(['a1/x'], pkg(), { signMethod: 'SHA1' }), 'INVALID_ARGUMENT', 'options.signMethod');
  refused(() => cl.push(['a1/x'], { ...pkg(), md5: 'zz' }), 'INVALID_PACKAGE');
  refused(() => cl.push(['no-slash'], pkg()), 'INVALID_DEVICE_KEY');
  refused(() => cl.push(['a1/x'], pkg(), { kind: 'over_mqtt' }), 'PACKAGE_NOT_LOADED');
  refused(() => cl.cancel(99), 'NO_SUCH_BATCH');
  refused(() => cl.cancel('x'), 'INVALID_ARGUMENT', 'batch');
  refused(() => cl.serve(pkg()), 'INVALID_ARGUMENT', 'bytes');
  assert.deepEqual(cl.batches(), [], 'the cloud works after a refused serve');
  refused(() => sim.Cloud.describe(`${files.url}/fw-2.0.0.bin`, '2.0.0'), 'INVALID_ARGUMENT', 'bytes');
  refused(() => sim.Cloud.describe(`${files.url}/fw-2.0.0.bin`, '2.0.0', { length: 3 }), 'INVALID_ARGUMENT', 'bytes');
  await assert.rejects(cl.whenSettled({ timeoutMs: -1 }), (e) => e.code === 'INVALID_ARGUMENT' && e.path === 'options.timeoutMs');
  refused(() => sim.Cloud.describe('ftp://x/y', '2.0.0', firmware), 'INVALID_ARGUMENT', 'url');
  refused(() => sim.Cloud.describe(`${files.url}/fw-2.0.0.bin`, '', firmware), 'INVALID_ARGUMENT', 'version');

  // A malformed notice: recorded, and the device still upgrades from the next one.
  const d = await device({ productKey: 'a1Bad', deviceName: 'robust' });
  const sender = await client('sender');
  await sender.publishAsync('/ota/device/upgrade/a1Bad/robust', '{"code":"1000","data":{"size":"big"}', { qos: 1 });
  await until('the error is recorded', () => d.errors.length === 1);
  assert.ok(d.errors[0] instanceof sim.OtaError);
  assert.equal(d.errors[0].topic, '/ota/device/upgrade/a1Bad/robust');
  const c2 = await cloud('npm-cloud-4');
  c2.push([d.key], pkg());
  await until('upgraded after the bad message', () => d.state.versions.default === '2.0.0', 30_000);
});

test("the README's examples on MQTT.js run as written against mosquitto", () => {
  const readme = readFileSync(path.join(repo, 'crates/wasm/npm/README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).filter((code) => code.includes("from 'mqtt'"));
  assert.ok(blocks.length >= 1, 'the README has an MQTT.js example');
  // `npm install otalab mqtt`: the consumer has otalab from the tarball, mqtt from the workspace.
  const link = path.join(consumer, 'node_modules/mqtt');
  if (!existsSync(link)) symlinkSync(path.join(repo, 'node_modules/mqtt'), link, 'dir');
  blocks.forEach((code, i) => {
    const file = path.join(consumer, `readme-mqtt-${i}.mjs`);
    writeFileSync(file, code);
    const r = spawnSync('node', [file], { cwd: consumer, encoding: 'utf8', timeout: 120_000, env: { ...process.env, MQTT_URL: broker.url } });
    assert.equal(r.status, 0, `README MQTT.js example ${i}:\n${r.stdout}\n${r.stderr}`);
  });
});
