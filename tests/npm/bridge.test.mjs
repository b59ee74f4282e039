// OtaBridge over a real broker: mosquitto (WebSocket listener) and MQTT.js. The device side is
// the installed package driving an MQTT.js client over WebSocket; a second MQTT.js client plays
// the cloud over plain MQTT: it pushes an upgrade notice and checks what the bridge reports.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';

import { startMosquitto } from '../../sandbox/mosquitto.mjs';
import { installTarball } from '../support/npm.mjs';


let broker;
let lib;
const clients = [];

before(async () => {
  lib = installTarball('bridge')('otalab');
  broker = await startMosquitto();
});

after(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await broker?.stop();
});

/** Waits until `predicate(messages)` holds, or fails after `ms` with what arrived. */
async function until(messages, predicate, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!predicate(messages)) {
    if (Date.now() > deadline) assert.fail(`timed out; received: ${JSON.stringify(messages, null, 1)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a pushed notice reaches the handler; version and progress reach the cloud', async () => {
  const devices = lib.parseDevicesConf(`
meter-0001 {
  productKey : a1B2c3D4e5F
  deviceName : meter-0001
  deviceSecret : 0123456789abcdef0123456789abcdef
}`);

  // The cloud: plain MQTT, sees everything devices send.
  const cloud = await mqtt.connectAsync(broker.url, { clientId: 'cloud', protocolVersion: 4 });
  clients.push(cloud);
  const atCloud = [];
  cloud.on('message', (topic, payload) => atCloud.push({ topic, payload: JSON.parse(payload.toString()) }));
  await cloud.subscribeAsync(['/ota/device/inform/+/+', '/ota/device/progress/+/+'], { qos: 1 });

  // The device: MQTT over WebSocket, driven by the bridge.
  const device = await mqtt.connectAsync(broker.wsUrl, { clientId: 'meter-0001', protocolVersion: 4 });
  clients.push(device);
  const bridge = new lib.OtaBridge({
    devices,
    publish: (topic, payload, qos) => { device.publish(topic, payload, { qos }); },
  });
  const notices = [];
  const errors = [];
  bridge.setOtaUpgradeHandler((requestId, info, session) => {
    notices.push({ requestId, info, session });
    for (const step of [0, 50, 100]) {
      bridge.reportOtaProgress(requestId, session.originalIdentity, step, step === 100 ? 'ota success' : 'downloading');
    }
    bridge.reportOtaVersion(requestId, session.originalIdentity, info.version);
    return true;
  });
  device.on('message', (topic, payload) => {
    try {
      bridge.handleMessage(topic, payload);
    } catch (error) {
      errors.push(error);
    }
  });
  const granted = await device.subscribeAsync(bridge.subscriptions(), { qos: 1 });
  assert.deepEqual(granted.map((g) => g.qos), [1, 1]);

  assert.equal(bridge.reportOtaVersion('12345', 'meter-0001', '1.0.1'), true);
  await until(atCloud, (m) => m.length === 1);
  assert.deepEqual(atCloud[0], {
    topic: '/ota/device/inform/a1B2c3D4e5F/meter-0001',
    payload: { id: '12345', params: { version: '1.0.1' } },
  });

  // A malformed push: the bridge reports a coded error, nothing is sent.
  await cloud.publishAsync('/ota/device/upgrade/a1B2c3D4e5F/meter-0001', '{"id":', { qos: 1 });
  await until(errors, (e) => e.length === 1);
  assert.ok(errors[0] instanceof lib.OtaError);
  assert.equal(errors[0].code, 'INVALID_JSON');

  const notice = {
    code: '1000', id: 1626969597470, message: 'success',
    data: { size: 432945, version: '2.0.0', url: 'https://fw.example/fw.bin', sign: '93230C3BDE425A9D7984A594AC55EA1E', signMethod: 'Md5' },
  };
  await cloud.publishAsync('/ota/device/upgrade/a1B2c3D4e5F/meter-0001', JSON.stringify(notice), { qos: 1 });
  await until(atCloud, (m) => m.length === 5);

  assert.equal(notices.length, 1);
  assert.equal(notices[0].requestId, '1626969597470');
  assert.deepEqual(
    [notices[0].info.size, notices[0].info.signMethod, notices[0].info.sign, notices[0].info.version, notices[0].info.url],
    [432945, 'Md5', '93230c3bde425a9d7984a594ac55ea1e', '2.0.0', 'https://fw.example/fw.bin'],
  );
  assert.deepEqual(notices[0].session, { originalIdentity: 'meter-0001', productKey: 'a1B2c3D4e5F', deviceName: 'meter-0001' });
  assert.deepEqual(atCloud.slice(1), [
    { topic: '/ota/device/progress/a1B2c3D4e5F/meter-0001', payload: { id: '1626969597470', params: { step: '0', desc: 'downloading' } } },
    { topic: '/ota/device/progress/a1B2c3D4e5F/meter-0001', payload: { id: '1626969597470', params: { step: '50', desc: 'downloading' } } },
    { topic: '/ota/device/progress/a1B2c3D4e5F/meter-0001', payload: { id: '1626969597470', params: { step: '100', desc: 'ota success' } } },
    { topic: '/ota/device/inform/a1B2c3D4e5F/meter-0001', payload: { id: '1626969597470', params: { version: '2.0.0' } } },
  ]);
  assert.equal(errors.length, 1, 'no further errors');
  // The device really talked over WebSocket.
  assert.match(broker.log(), /New client connected from 127\.0\.0\.1:\d+ as meter-0001/);
});
