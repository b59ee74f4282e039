// The Rust MQTT client (otalab-browser over web-sys WebSocket) in headless Chromium against a
// real mosquitto with a password file and an ACL. MQTT.js over plain TCP is the independent
// peer. Needs `scripts/build-harness` first (scripts/test runs it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';

import { startMosquitto } from '../../sandbox/mosquitto.mjs';
import { startStaticServer } from '../../sandbox/static-server.mjs';
import { launchChromium } from '../support/browser.mjs';
import { until } from '../support/until.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ACL = `
user device
topic readwrite dev/#
topic read forbidden/#
pattern read none/%u

user observer
topic readwrite #
`;

let broker;
let server;
let browser;
let page;
const peers = [];


async function observer(options = {}) {
  const client = await mqtt.connectAsync(broker.url, {
    username: 'observer', password: 'watch', protocolVersion: 4, reconnectPeriod: 100, ...options,
  });
  peers.push(client);
  const received = [];
  client.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString(), dup: packet.dup }));
  return { client, received };
}

/** Creates a Harness in the page under `name`. */
async function harness(name, { password = 'secret', clientId = name } = {}) {
  await page.evaluate(({ name, url, password, clientId }) => {
    window[name] = new window.Harness(url, clientId, 'device', password, 30, 200, 2000);
    window[name].connect();
  }, { name, url: broker.wsUrl, password, clientId });
}

const call = (name, method, ...args) =>
  page.evaluate(({ name, method, args }) => window[name][method](...args), { name, method, args });

/** Subscribes from the page; `{ granted }` or `{ error: code }`. */
const trySubscribe = (name, filter) => page.evaluate(async ({ name, filter }) => {
  try {
    return { granted: await window[name].subscribe(filter, 1) };
  } catch (error) {
    return { error: String(error) };
  }
}, { name, filter });

before(async () => {
  broker = await startMosquitto({ users: { device: 'secret', observer: 'watch' }, acl: ACL, persistence: true });
  server = await startStaticServer({ root: path.join(repo, 'target/harness') });
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.url}/index.html`);
  await page.waitForFunction(() => window.harnessReady === true);
});

after(async () => {
  await Promise.all(peers.map((p) => p.endAsync(true)));
  await browser?.close();
  await server?.close();
  await broker?.stop();
});

describe('MQTT over WebSocket from the browser', () => {
  test('connects, subscribes, receives QoS 1 from an independent client and publishes QoS 1 to it', async () => {
    const { client, received } = await observer();
    await client.subscribeAsync('dev/out', { qos: 1 });
    await harness('a');
    await until('connected', async () => (await call('a', 'state')) === 'connected');
    assert.equal(await call('a', 'subscribe', 'dev/in', 1), 1);
    await client.publishAsync('dev/in', 'hello device', { qos: 1 });
    await until('message at the device', async () => (await call('a', 'received')) === 1);
    assert.deepEqual(await call('a', 'takeMessages'), [['dev/in', 'hello device', false]]);
    assert.equal(await call('a', 'publish', 'dev/out', 'hello cloud', 1), true);
    await until('message at the observer', () => received.length === 1);
    assert.deepEqual(received[0], { topic: 'dev/out', payload: 'hello cloud', dup: false });
    // The connection really used WebSocket with the device's credentials.
    assert.match(broker.log(), /New client connected from 127\.0\.0\.1:\d+ as a \(p2, c1, k30, u'device'\)/);
  });

  test('a QoS 0 publish resolves once written and reaches an independent client', async () => {
    const { client, received } = await observer();
    await client.subscribeAsync('dev/q0', { qos: 0 });
    await harness('q0');
    await until('connected', async () => (await call('q0', 'state')) === 'connected');
    const outcome = await page.evaluate(() => Promise.race([
      window.q0.publish('dev/q0', 'at most once', 0).then(() => 'resolved', (e) => `rejected: ${e}`),
      new Promise((resolve) => setTimeout(() => resolve('still pending after 5 s'), 5_000)),
    ]));
    assert.equal(outcome, 'resolved');
    await until('QoS 0 message at the observer', () => received.some((m) => m.topic === 'dev/q0'));
    assert.deepEqual(received.find((m) => m.topic === 'dev/q0'), { topic: 'dev/q0', payload: 'at most once', dup: false });
    // Several in one JS task all resolve too (they share one WebSocket frame).
    const many = await page.evaluate(() => Promise.race([
      Promise.all(Array.from({ length: 10 }, (_, i) => window.q0.publish('dev/q0', `burst ${i}`, 0))).then(() => 'resolved'),
      new Promise((resolve) => setTimeout(() => resolve('still pending after 5 s'), 5_000)),
    ]));
    assert.equal(many, 'resolved');
    await until('the burst at the observer', () => received.filter((m) => m.payload.startsWith('burst ')).length === 10);
  });

  test('a subscription the broker refuses (SUBACK 0x80) is the typed error MQTT_SUBSCRIBE_REFUSED', async () => {
    // mosquitto's dynamic security plugin checks subscriptions when they are made.
    const strict = await startMosquitto({ dynsec: { device: { password: 'secret', subscribe: ['dev/#'], publish: ['dev/#'] } } });
    try {
      // MQTT.js, the independent client, is refused the same filter.
      const peer = await mqtt.connectAsync(strict.url, { username: 'device', password: 'secret', protocolVersion: 4 });
      await assert.rejects(peer.subscribeAsync('private/#', { qos: 1 }), /Subscribe error/);
      await peer.endAsync(true);
      await page.evaluate(({ url }) => {
        window.strict = new window.Harness(url, 'strict', 'device', 'secret', 30, 200, 2000);
        window.strict.connect();
      }, { url: strict.wsUrl });
      await until('connected', async () => (await call('strict', 'state')) === 'connected');
      assert.deepEqual(await trySubscribe('strict', 'private/#'), { error: 'MQTT_SUBSCRIBE_REFUSED' });
      assert.deepEqual(await trySubscribe('strict', 'dev/#'), { granted: 1 });
      // The refusal is not a disconnect: the client stays connected and keeps working.
      assert.equal(await call('strict', 'state'), 'connected');
      const events = (await call('strict', 'takeEvents')).map((e) => JSON.parse(e));
      assert.ok(events.some((e) => e.type === 'subscribed' && e.filter === 'private/#' && e.granted === null), JSON.stringify(events));
      await call('strict', 'disconnect');
    } finally {
      await strict.stop();
    }
  });

  test('a wrong password is a typed refusal and the client stops retrying', async () => {
    await harness('bad', { password: 'wrong' });
    await until('stopped', async () => (await call('bad', 'state')) === 'stopped');
    const events = (await call('bad', 'takeEvents')).map((e) => JSON.parse(e));
    const refusal = events.find((e) => e.type === 'disconnected');
    // mosquitto answers a wrong password with CONNACK return code 5 (not authorised).
    assert.equal(refusal.code, 'MQTT_NOT_AUTHORIZED', JSON.stringify(events));
    assert.ok(!events.some((e) => e.type === 'reconnecting'), JSON.stringify(events));
  });

  test('forbidden topics: nothing is delivered either way', async () => {
    const { client, received } = await observer();
    await client.subscribeAsync(['secret/#', 'dev/control'], { qos: 1 });
    await harness('acl');
    await until('connected', async () => (await call('acl', 'state')) === 'connected');
    // The ACL file filters deliveries only: mosquitto 2.0 grants the subscription itself.
    await trySubscribe('acl', 'private/#');
    assert.deepEqual(await trySubscribe('acl', 'dev/control'), { granted: 1 });
    // Observer -> device on a topic the device may not read, then an allowed control message.
    await client.publishAsync('private/x', 'must not arrive', { qos: 1 });
    await client.publishAsync('dev/control', 'control', { qos: 1 });
    await until('control at the device', async () => (await call('acl', 'received')) >= 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual((await call('acl', 'takeMessages')).map((m) => m[0]), ['dev/control']);
    // Device -> observer on a topic the device may not write, then an allowed one.
    await call('acl', 'publish', 'secret/x', 'must not arrive', 1);
    await call('acl', 'publish', 'dev/control', 'from device', 1);
    await until('control at the observer', () => received.some((m) => m.payload === 'from device'));
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!received.some((m) => m.topic.startsWith('secret/')), JSON.stringify(received));
  });

  test('broker killed and restarted: reconnects by itself, resubscribes, and the outbox arrives exactly once', async () => {
    // A persistent observer session: the restarted broker keeps its subscription and queue.
    const { client, received } = await observer({ clientId: 'observer-persistent', clean: false });
    await client.subscribeAsync('dev/stream', { qos: 1 });
    await harness('r');
    await until('connected', async () => (await call('r', 'state')) === 'connected');
    await call('r', 'subscribe', 'dev/back', 1);

    // Mid-stream: 20 messages acknowledged before the kill.
    await page.evaluate(() => Promise.all(Array.from({ length: 20 }, (_, i) => window.r.publish('dev/stream', `m${i}`, 1))));
    await until('first 20 at the observer', () => received.length >= 20);
    await broker.stop();
    await until('link lost', async () => (await call('r', 'state')) !== 'connected');

    // 30 more while the broker is down: they wait in the outbox.
    const acked = page.evaluate(() => Promise.all(Array.from({ length: 30 }, (_, i) => window.r.publish('dev/stream', `m${20 + i}`, 1))));
    assert.equal(await call('r', 'pending'), 30);
    await broker.restart();
    await until('reconnected', async () => (await call('r', 'state')) === 'connected');
    await acked;
    assert.equal(await call('r', 'pending'), 0);
    await until('all 50 at the observer', () => received.length >= 50);
    await new Promise((r) => setTimeout(r, 500));
    const stream = received.filter((m) => m.topic === 'dev/stream');
    const expected = Array.from({ length: 50 }, (_, i) => `m${i}`);
    // The client sent every message exactly once: mosquitto logs each PUBLISH it received.
    const sentByClient = broker.log().split('\n')
      .filter((line) => /Received PUBLISH from r \(d\d, q1, r0, m\d+, 'dev\/stream'/.test(line));
    assert.equal(sentByClient.length, 50, sentByClient.join('\n'));
    // Everything published while the broker was away arrived exactly once.
    for (const payload of expected.slice(20)) {
      assert.equal(stream.filter((m) => m.payload === payload).length, 1, `${payload}: ${JSON.stringify(stream)}`);
    }
    // The restarted broker may redeliver to the persistent observer what it had in flight for
    // it (marked DUP); apart from those, the observer saw each message once, in order.
    const seen = new Set();
    const firsts = stream.filter((m) => {
      if (seen.has(m.payload)) {
        assert.ok(m.dup, `undeclared duplicate ${m.payload}`);
        return false;
      }
      seen.add(m.payload);
      return true;
    });
    assert.deepEqual(firsts.map((m) => m.payload), expected, 'each message, in order');

    // Resubscribed by itself: a message on its old subscription reaches it.
    await client.publishAsync('dev/back', 'after restart', { qos: 1 });
    await until('resubscribed', async () => (await call('r', 'takeMessages')).some((m) => m[1] === 'after restart'));
    const events = (await call('r', 'takeEvents')).map((e) => JSON.parse(e));
    assert.ok(events.some((e) => e.type === 'reconnecting'), JSON.stringify(events));
    assert.ok(events.filter((e) => e.type === 'subscribed' && e.filter === 'dev/back').length >= 2, JSON.stringify(events));
  });
});
