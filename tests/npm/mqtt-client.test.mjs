// `otalab/mqtt`, otalab's own MQTT client over WebSocket, from the installed tarball, in Node
// (with the `ws` package as the global WebSocket, which Node 20 lacks) against mosquitto's
// WebSocket listener, with MQTT.js over plain MQTT as the independent peer: messages both ways,
// retained messages, QoS 1 acknowledgements, reconnection after a broker restart with its
// subscriptions restored, refusals with their codes; and as the adapter of `otalab/sim`: a Cloud
// and ten SimulatedDevices, each on its own MqttClient, upgrade (half with a bad digest) with
// the devices' reboots closing and reopening their connections.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { WebSocket } from 'ws';

import { freePort, startMosquitto } from '../../sandbox/mosquitto.mjs';
import { startStaticServer } from '../../sandbox/static-server.mjs';
import { installTarball } from '../support/npm.mjs';
import { until } from '../support/until.mjs';

globalThis.WebSocket ??= WebSocket;

let lib;
let sim;
let broker;
let guarded;
let files;
let firmware;
const peers = [];
const ours = [];

before(async () => {
  const require = installTarball('mqtt-client');
  lib = require('otalab/mqtt');
  sim = require('otalab/sim');
  broker = await startMosquitto();
  // mosquitto's dynamic security plugin checks subscriptions when they are made (SUBACK 0x80).
  guarded = await startMosquitto({ dynsec: { device: { password: 'secret', subscribe: ['dev/#'], publish: ['dev/#'] } } });
  const root = mkdtempSync(path.join(os.tmpdir(), 'otalab-mqtt-client-fw-'));
  firmware = randomBytes(200 * 1024);
  writeFileSync(path.join(root, 'fw-2.0.0.bin'), firmware);
  files = await startStaticServer({ root });
});

after(async () => {
  for (const c of ours) c.disconnect();
  await Promise.all(peers.map((c) => c.endAsync(true)));
  await files?.close();
  await broker?.stop();
  await guarded?.stop();
});

/** An MQTT.js peer over plain MQTT. */
async function peer(clientId) {
  const c = await mqtt.connectAsync(broker.url, { clientId, protocolVersion: 4, reconnectPeriod: 200 });
  peers.push(c);
  return c;
}

/** An otalab MqttClient on the WebSocket listener, connected. */
async function client(clientId, options = {}) {
  const c = new lib.MqttClient({ url: broker.wsUrl, clientId, ...options });
  ours.push(c);
  await c.connect();
  return c;
}

test('messages both ways with MQTT.js, QoS 1 and retained, the events in order', async () => {
  const events = [];
  const c = new lib.MqttClient({ url: broker.wsUrl, clientId: 'ours-1', keepAliveSecs: 30 });
  ours.push(c);
  c.onEvent((e) => events.push(e.kind === 'state' ? `state:${e.state}` : e.kind));
  assert.equal(c.state, 'idle');
  await c.connect();
  assert.equal(c.state, 'connected');
  assert.deepEqual(events, ['state:connecting', 'connected', 'state:connected']);

  const got = [];
  c.onMessage((topic, payload) => got.push([topic, Buffer.from(payload).toString('hex')]));
  assert.deepEqual(await c.subscribe(['to-ours/#', 'also/+'], { qos: 1 }), [1, 1]);
  const other = await peer('peer-1');
  const bytes = randomBytes(70_000);
  await other.publishAsync('to-ours/big', bytes, { qos: 1 });
  await other.publishAsync('also/x', 'text', { qos: 0 });
  await until('both messages', () => got.length === 2);
  assert.deepEqual(got, [['to-ours/big', bytes.toString('hex')], ['also/x', Buffer.from('text').toString('hex')]]);

  const seen = [];
  await other.subscribeAsync('from-ours/#', { qos: 1 });
  other.on('message', (topic, payload, packet) => seen.push([topic, payload.toString(), packet.retain]));
  await c.publish('from-ours/a', 'hello', { qos: 1 });
  await c.publish('from-ours/b', new Uint8Array([0x68, 0x69]), { qos: 0 });
  await c.publish('retained/r', 'kept', { qos: 1, retain: true });
  await until('MQTT.js heard both', () => seen.length === 2);
  assert.deepEqual(seen, [['from-ours/a', 'hello', false], ['from-ours/b', 'hi', false]]);
  const late = await peer('peer-late');
  const retained = new Promise((resolve) => late.on('message', (topic, payload, packet) => resolve([topic, payload.toString(), packet.retain])));
  await late.subscribeAsync('retained/#', { qos: 1 });
  assert.deepEqual(await retained, ['retained/r', 'kept', true]);
  assert.equal(c.pending, 0);
});

test('a broker restart: the client reconnects and its subscriptions come back', async () => {
  const c = await client('ours-restart');
  const kinds = [];
  c.onEvent((e) => kinds.push(e.kind));
  const got = [];
  c.onMessage((topic) => got.push(topic));
  await c.subscribe('after/#');
  await broker.restart();
  await until('reconnected', () => kinds.includes('disconnected') && c.state === 'connected', 30_000);
  assert.ok(kinds.includes('reconnecting'), kinds.join());
  const other = await peer('peer-restart');
  // Until the re-subscription is in, a message may pass unseen: publish until one arrives.
  await until('a message after the restart', async () => {
    await other.publishAsync('after/x', 'again', { qos: 1 });
    return got.includes('after/x');
  }, 20_000, 200);
});

test('refusals: the URL, options, topics, a closed port, bad credentials and a forbidden filter', async () => {
  const refused = (options, code, where) => assert.throws(() => new lib.MqttClient(options),
    (e) => e instanceof lib.OtaError && e.code === code && e.path === where, JSON.stringify(options));
  refused({ url: 'mqtt://127.0.0.1:1883', clientId: 'x' }, 'MQTT_BAD_URL', 'options.url');
  refused({ url: '', clientId: 'x' }, 'MQTT_BAD_URL', 'options.url');
  refused({ clientId: 'x' }, 'INVALID_ARGUMENT', 'options.url');
  refused({ url: broker.wsUrl }, 'INVALID_ARGUMENT', 'options.clientId');
  refused({ url: broker.wsUrl, clientId: 'x', colour: 'red' }, 'INVALID_ARGUMENT', 'options.colour');
  refused({ url: broker.wsUrl, clientId: 'x', keepAliveSecs: -1 }, 'INVALID_ARGUMENT', 'options.keepAliveSecs');
  refused({ url: broker.wsUrl, clientId: 'x', reconnect: 'yes' }, 'INVALID_ARGUMENT', 'options.reconnect');
  assert.throws(() => new lib.MqttClient('ws://x'), (e) => e instanceof lib.OtaError && e.code === 'INVALID_ARGUMENT');

  const c = await client('ours-refusals');
  await assert.rejects(c.publish('a/+/b', 'x'), (e) => e instanceof lib.OtaError && e.code === 'MQTT_INVALID_TOPIC');
  await assert.rejects(c.publish('a', 42), (e) => e instanceof lib.OtaError && e.code === 'INVALID_ARGUMENT' && e.path === 'payload');
  await assert.rejects(c.publish('a', 'x', { qos: 2 }), (e) => e instanceof lib.OtaError && e.path === 'options.qos');
  await assert.rejects(c.subscribe([1]), (e) => e instanceof lib.OtaError && e.path === 'filters[0]');
  await assert.rejects(c.subscribe('a/#/b'), (e) => e instanceof lib.OtaError && e.code === 'MQTT_INVALID_FILTER');

  const closed = new lib.MqttClient({ url: `ws://127.0.0.1:${await freePort()}`, clientId: 'nobody-home' });
  await assert.rejects(closed.connect(), (e) => e instanceof lib.OtaError && e.code === 'MQTT_CLOSED');
  assert.equal(closed.state, 'stopped');

  const wrong = new lib.MqttClient({ url: guarded.wsUrl, clientId: 'wrong', username: 'device', password: 'guess' });
  await assert.rejects(wrong.connect(), (e) => e instanceof lib.OtaError && ['MQTT_BAD_CREDENTIALS', 'MQTT_NOT_AUTHORIZED'].includes(e.code));
  assert.equal(wrong.state, 'stopped');
  const right = new lib.MqttClient({ url: guarded.wsUrl, clientId: 'right', username: 'device', password: 'secret' });
  ours.push(right);
  await right.connect();
  assert.deepEqual(await right.subscribe('dev/#'), [1]);
  await assert.rejects(right.subscribe('elsewhere/#'), (e) => e instanceof lib.OtaError && e.code === 'MQTT_SUBSCRIBE_REFUSED' && e.message.includes('elsewhere/#'));
});

test('the adapter of otalab/sim as it is: a Cloud and ten devices on MqttClients, reboots reconnect', async () => {
  const observer = await peer('observer');
  const progress = [];
  await observer.subscribeAsync('/ota/device/progress/#', { qos: 1 });
  observer.on('message', (topic, payload) => progress.push([topic.split('/').at(-1), Number(JSON.parse(payload).params.step)]));

  const cloud = new sim.Cloud({}, { mqtt: await client('sim-cloud') });
  await cloud.start();
  const devices = [];
  const connects = {};
  for (let i = 1; i <= 10; i++) {
    const name = `ws-${i}`;
    const c = await client(`a1Ws.${name}`);
    connects[name] = 0;
    c.onEvent((e) => { if (e.kind === 'connected') connects[name] += 1; });
    const d = new sim.SimulatedDevice({ productKey: 'a1Ws', deviceName: name, cadencePercent: 25, flashMs: 100, rebootMs: 100 }, { mqtt: c });
    await d.start();
    devices.push(d);
  }
  const keys = devices.map((d) => d.key);
  await until('every device reported its version', () => keys.every((k) => cloud.devices.includes(k)));
  const pkg = sim.Cloud.describe(`${files.url}/fw-2.0.0.bin`, '2.0.0', firmware);
  cloud.push(keys.slice(0, 5), pkg);
  cloud.push(keys.slice(5), pkg, { kind: 'bad_digest', signMethod: 'SHA256' });
  await until('every verdict final', () => keys.every((k) => ['succeeded', 'failed'].includes(cloud.verdict(k))), 60_000);
  const { summary } = cloud.report().toJSON();
  assert.deepEqual([summary.succeeded, summary.failed], [5, 5]);
  for (const d of devices.slice(0, 5)) {
    assert.equal(d.state.versions.default, '2.0.0', d.key);
    // The reboot closed the connection and opened it again.
    assert.equal(connects[d.key.split('/')[1]], 1, `${d.key} reconnected after its reboot`);
  }
  for (const d of devices.slice(5)) assert.equal(d.state.phase, 'failed', d.key);
  await until('MQTT.js saw every device end', () => keys.every((k) => progress.some(([dn, step]) => k.endsWith(`/${dn}`) && (step === 100 || step === -3))));
  assert.deepEqual(devices.flatMap((d) => d.errors), []);
  devices.forEach((d) => d.stop());
  cloud.stop();
});
