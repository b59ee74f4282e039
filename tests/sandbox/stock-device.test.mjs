// A device that does not change a line for the sandbox: the stock Link SDK C mode of
// tests/support/ota-device.mjs (never subscribes, core_http's download rules) against the real
// sandbox, with an independent cloud written here with MQTT.js. It receives notices and pull
// replies through the sandbox's automatic subscription front, and the broken URLs answer as
// object storage does (Content-Length, an OSS XML error), so the SDK reports -2 at once; a
// server that answers 403 chunked, as the sandbox used to, makes the same device re-request
// forever. Error bodies are read with an independent XML parser.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import mqtt from 'mqtt';
import { XMLParser } from 'fast-xml-parser';

import { autoTopics, filterMatches, loginDevice, topicDevice } from '../../sandbox/auto-subscribe.mjs';
import { startSandbox } from '../../sandbox/sandbox.mjs';
import { startDevice } from '../support/ota-device.mjs';
import { until } from '../support/until.mjs';

let sandbox;
let cloud;
const messages = []; // { topic, payload } the cloud saw
const tmp = mkdtempSync(path.join(os.tmpdir(), 'otalab-stock-'));

before(async () => {
  sandbox = await startSandbox({ dist: tmp });
  // The independent cloud talks to mosquitto itself (not through the front).
  cloud = await mqtt.connectAsync(sandbox.broker.url, { clientId: 'independent-cloud', protocolVersion: 4 });
  await cloud.subscribeAsync(['/ota/device/#', '/sys/+/+/thing/ota/firmware/get'], { qos: 1 });
  cloud.on('message', (topic, payload) => messages.push({ topic, payload: payload.toString() }));
});

after(async () => {
  await cloud?.endAsync();
  await sandbox?.stop();
});

const steps = (pk, dn) => messages
  .filter((m) => m.topic === `/ota/device/progress/${pk}/${dn}`)
  .map((m) => Number(JSON.parse(m.payload).params.step));
const versions = (pk, dn) => messages
  .filter((m) => m.topic === `/ota/device/inform/${pk}/${dn}`)
  .map((m) => JSON.parse(m.payload).params.version);

/** A notice as the platform writes it, for the demo firmware at `url`. */
async function notice(version, url) {
  const info = await (await fetch(`${sandbox.url}/sandbox.json`)).json();
  const demo = info.demo[0];
  return JSON.stringify({
    code: '1000', id: Date.now(), message: 'success',
    data: { size: demo.size, version, url, sign: demo.md5, signMethod: 'Md5', md5: demo.md5 },
  });
}

describe('a stock Link SDK C device on the sandbox', () => {
  test('the front learns devices from their login and topics, and matches filters as MQTT does', () => {
    assert.deepEqual(loginDevice('x', 'board-7&a1B2c3D4e5F'), { pk: 'a1B2c3D4e5F', dn: 'board-7' });
    assert.deepEqual(loginDevice('a1B2c3D4e5F.board.7|securemode=2,signmethod=hmacsha256|', ''), { pk: 'a1B2c3D4e5F', dn: 'board.7' });
    assert.equal(loginDevice('otalab-conformance-1f', null), null);
    assert.equal(loginDevice('a1.dev/x|', 'no-ampersand'), null);
    assert.deepEqual(topicDevice('/ota/device/inform/pk/dn'), { pk: 'pk', dn: 'dn' });
    assert.deepEqual(topicDevice('/sys/pk/dn/thing/file/download'), { pk: 'pk', dn: 'dn' });
    // What the cloud publishes names devices too, but never teaches the front anything.
    assert.equal(topicDevice('/ota/device/upgrade/pk/dn'), null);
    assert.equal(topicDevice('/sys/pk/dn/thing/ota/firmware/get_reply'), null);
    assert.ok(filterMatches('/ota/#', '/ota/device/upgrade/pk/dn'));
    assert.ok(filterMatches('/ota/device/upgrade/+/+', '/ota/device/upgrade/pk/dn'));
    assert.ok(!filterMatches('/ota/device/upgrade/+', '/ota/device/upgrade/pk/dn'));
    assert.ok(!filterMatches('/sys/+/+/thing/ota/firmware/get', '/sys/pk/dn/thing/ota/firmware/get_reply'));
    assert.equal(autoTopics('pk', 'dn').length, 3);
  });

  test('it never subscribes, yet takes a notice and a pull reply, upgrades and reports', async () => {
    const pk = 'a1Stock';
    const dn = 'sdk-1';
    const device = await startDevice({ broker: sandbox.brokerUrl, pk, dn, stock: true, pullEveryMs: 60_000 });
    try {
      await until('its version report', () => versions(pk, dn).includes('1.0.0'));
      // mosquitto itself shows who subscribed the device: its own client id, with no SUBSCRIBE
      // from the device (MQTT.js was never asked to subscribe).
      assert.ok(sandbox.front.subscribed().some((s) => s.pk === pk && s.dn === dn && s.clientId.startsWith(`${pk}.${dn}|`)));
      await until('the broker log names the subscription', () => sandbox.broker.log().includes(`/ota/device/upgrade/${pk}/${dn}`));
      await cloud.publishAsync(`/ota/device/upgrade/${pk}/${dn}`, await notice('2.0.0', `${sandbox.url}/firmware/demo-2.0.0.bin`), { qos: 1 });
      await until('2.0.0 reported after the reboot', () => versions(pk, dn).includes('2.0.0'), 30_000);
      const seen = steps(pk, dn);
      assert.equal(seen.at(-1), 100, `${seen}`);
      assert.ok(seen.every((s, i) => i === 0 || s >= seen[i - 1]), `steps never go back: ${seen}`);
      assert.equal(device.stats.renewals, 0);
      // A pull reply reaches it too (T5, which it also never subscribed to).
      const replies = [];
      const watcher = await mqtt.connectAsync(sandbox.broker.url, { clientId: 'pull-watcher', protocolVersion: 4 });
      await watcher.subscribeAsync(`/sys/${pk}/${dn}/thing/ota/firmware/get`, { qos: 1 });
      watcher.on('message', async (_t, payload) => {
        const id = JSON.parse(payload.toString()).id;
        replies.push(id);
        await cloud.publishAsync(`/sys/${pk}/${dn}/thing/ota/firmware/get_reply`,
          JSON.stringify({ code: 200, id, message: 'success', data: JSON.parse(await notice('2.0.1', `${sandbox.url}/firmware/demo-2.0.0.bin`)).data }), { qos: 1 });
      });
      device.pullNow();
      await until('2.0.1 from the pull reply', () => versions(pk, dn).includes('2.0.1'), 30_000);
      assert.equal(replies.length, 1);
      await watcher.endAsync();
    } finally {
      await device.stop();
    }
  });

  test('the front publishes the platform\'s status messages: online on login, offline when the link ends, both around a reboot', async () => {
    const pk = 'a1Status';
    const dn = 'sdk-2';
    const statuses = [];
    const watcher = await mqtt.connectAsync(sandbox.broker.url, { clientId: 'status-watcher', protocolVersion: 4 });
    await watcher.subscribeAsync('/as/mqtt/status/+/+', { qos: 1 });
    watcher.on('message', (topic, payload) => statuses.push({ topic, at: Date.now(), ...JSON.parse(payload.toString()) }));
    const mine = () => statuses.filter((m) => m.topic === `/as/mqtt/status/${pk}/${dn}`);
    const device = await startDevice({ broker: sandbox.brokerUrl, pk, dn, stock: true, pullEveryMs: 60_000 });
    try {
      await until('its online status', () => mine().length === 1);
      const [online] = mine();
      assert.deepEqual(Object.keys(online).sort(), ['at', 'clientIp', 'deviceName', 'lastTime', 'productKey', 'status', 'time', 'topic', 'utcLastTime', 'utcTime']);
      assert.equal(online.status, 'online');
      assert.equal(online.productKey, pk);
      assert.equal(online.deviceName, dn);
      assert.equal(online.clientIp, '127.0.0.1');
      const utc = Date.parse(online.utcTime);
      assert.ok(Math.abs(utc - online.at) < 5_000, `${online.utcTime} is now`);
      // `time` is China Standard Time: the UTC time 8 hours on, written `2026-12-06 13:05:01.123`.
      assert.equal(online.time, new Date(utc + 8 * 3_600_000).toISOString().replace('T', ' ').replace('Z', ''));
      assert.ok(Date.parse(online.utcLastTime) <= utc);
      // A reboot: offline, then online again, then the new version.
      await cloud.publishAsync(`/ota/device/upgrade/${pk}/${dn}`, await notice('2.0.0', `${sandbox.url}/firmware/demo-2.0.0.bin`), { qos: 1 });
      await until('2.0.0 reported after the reboot', () => versions(pk, dn).includes('2.0.0'), 30_000);
      await until('online again', () => mine().length === 3);
      assert.deepEqual(mine().map((m) => m.status), ['online', 'offline', 'online']);
      const offline = mine()[1];
      assert.ok(Date.parse(offline.utcLastTime) <= Date.parse(offline.utcTime));
      await device.stop();
      await until('offline when it stops', () => mine().length === 4);
      assert.equal(mine()[3].status, 'offline');
      // Clients that are not devices (the cloud, this watcher) have no status.
      assert.deepEqual([...new Set(statuses.map((m) => m.topic))].filter((t) => !t.startsWith('/as/mqtt/status/a1')), []);
    } finally {
      await device.stop();
      await watcher.endAsync();
    }
  });

  test('403, 404 and 416 carry a Content-Length and an OSS error body', async () => {
    const parser = new XMLParser();
    for (const [target, status, code, headers] of [
      ['/expired/demo-2.0.0.bin', 403, 'AccessDenied', {}],
      ['/missing/demo-2.0.0.bin', 404, 'NoSuchKey', {}],
      ['/firmware/nothing-here.bin', 404, 'NoSuchKey', {}],
      ['/slow/nothing-here.bin', 404, 'NoSuchKey', {}],
      ['/firmware/demo-2.0.0.bin', 416, 'InvalidRange', { Range: 'bytes=99999999-' }],
    ]) {
      // Raw HTTP: what the device's own client reads, header names as sent.
      const answer = await new Promise((resolve, reject) => {
        const socket = net.connect(Number(new URL(sandbox.url).port), '127.0.0.1');
        let data = '';
        socket.on('connect', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`));
        socket.on('data', (d) => { data += d.toString('latin1'); });
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
      const [head, body] = answer.split('\r\n\r\n');
      assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), target);
      assert.doesNotMatch(head, /Transfer-Encoding/i, target);
      const length = /\r\nContent-Length: (\d+)/.exec(head);
      assert.ok(length, `${target}: Content-Length, spelled as Link SDK C compares it\n${head}`);
      assert.equal(Number(length[1]), Buffer.byteLength(body, 'latin1'), target);
      assert.match(head, /\r\nx-oss-request-id: [0-9A-F]{24}/, target);
      assert.match(head, /\r\nServer: AliyunOSS/, target);
      const xml = parser.parse(body);
      assert.equal(xml.Error.Code, code, target);
      assert.ok(xml.Error.Message && xml.Error.RequestId, target);
      if (status === 416) assert.match(head, /\r\nContent-Range: bytes \*\/1048576/);
    }
  });

  test('the SDK reports -2 at once for an expired URL, and re-requests forever when a 403 comes chunked', async () => {
    const pk = 'a1Stock';
    // The sandbox: one request, -2.
    const dn = 'sdk-2';
    const device = await startDevice({ broker: sandbox.brokerUrl, pk, dn, stock: true, pullEveryMs: 60_000 });
    // A server answering 403 without a Content-Length (chunked), as the sandbox did before.
    const chunked = http.createServer((req, res) => {
      res.writeHead(403, { 'Content-Type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code></Error>');
    });
    await new Promise((r) => chunked.listen(0, '127.0.0.1', r));
    const dn2 = 'sdk-3';
    const looping = await startDevice({ broker: sandbox.brokerUrl, pk, dn: dn2, stock: true, pullEveryMs: 60_000 });
    try {
      await until('both report their version', () => versions(pk, dn).length > 0 && versions(pk, dn2).length > 0);
      await cloud.publishAsync(`/ota/device/upgrade/${pk}/${dn}`, await notice('3.0.0', `${sandbox.url}/expired/demo-2.0.0.bin`), { qos: 1 });
      await until('-2 from the sandbox', () => steps(pk, dn).includes(-2), 10_000);
      assert.deepEqual(steps(pk, dn), [0, -2]);
      assert.equal(device.stats.requests, 1);
      assert.equal(device.stats.renewals, 0);

      await cloud.publishAsync(`/ota/device/upgrade/${pk}/${dn2}`,
        await notice('3.0.0', `http://127.0.0.1:${chunked.address().port}/fw.bin`), { qos: 1 });
      // Many requests, each with a progress report, and never a failure code.
      await until('the renewals pile up', () => looping.stats.renewals >= 50, 20_000);
      // Each request's progress report reaches the cloud a moment after the request.
      await until('a progress report for each of 50 requests', () => steps(pk, dn2).length >= 50, 10_000);
      assert.ok(!steps(pk, dn2).includes(-2), steps(pk, dn2).join(','));
    } finally {
      await device.stop();
      await looping.stop();
      await new Promise((r) => chunked.close(r));
    }
  });
});

// The front never buffers without bound: a device that stops reading pauses the broker side.
describe('the automatic subscription front', () => {
  test('a client that stops reading does not make the front hold what is sent to it', async () => {
    const socket = net.connect(sandbox.mqttPort, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    // CONNECT as a Link SDK C device (the front subscribes it), then never read again.
    const id = Buffer.from('a1Slow.reader|securemode=2|');
    const user = Buffer.from('reader&a1Slow');
    const body = Buffer.concat([Buffer.from([0, 4]), Buffer.from('MQTT'), Buffer.from([4, 0x82, 0, 60]),
      Buffer.from([0, id.length]), id, Buffer.from([0, user.length]), user]);
    socket.write(Buffer.concat([Buffer.from([0x10, body.length]), body]));
    await until('the front subscribed it', () => sandbox.front.subscribed().some((s) => s.dn === 'reader'));
    await until('mosquitto has the subscription', () => sandbox.broker.log().includes('/ota/device/upgrade/a1Slow/reader'));
    socket.pause();
    const block = Buffer.alloc(256 * 1024, 7);
    let peak = 0;
    for (let i = 0; i < 192; i++) {
      cloud.publish('/sys/a1Slow/reader/thing/file/download_reply', block, { qos: 0 });
      if (i % 16 === 15) {
        await new Promise((r) => setTimeout(r, 20));
        peak = Math.max(peak, sandbox.front.buffered());
      }
    }
    await new Promise((r) => setTimeout(r, 500));
    peak = Math.max(peak, sandbox.front.buffered());
    // 48 MiB were sent to it; the front holds at most a few socket buffers' worth.
    assert.ok(peak < 4 * 1024 * 1024, `the front buffered ${peak} bytes`);
    socket.destroy();
  });
});

// The firmware served slowly for the `repeat` case: bounded rate, same bytes.
describe('the slow URL', () => {
  test('serves the same bytes at 200 KiB/s, with Range', async () => {
    const started = Date.now();
    const res = await fetch(`${sandbox.url}/slow/demo-2.0.0.bin`, { headers: { Range: 'bytes=524288-' } });
    assert.equal(res.status, 206);
    const bytes = Buffer.from(await res.arrayBuffer());
    const elapsed = Date.now() - started;
    assert.equal(bytes.length, 524288);
    const whole = readFileSync(path.join(sandbox.firmwareDir, 'demo-2.0.0.bin'));
    assert.equal(createHash('md5').update(bytes).digest('hex'), createHash('md5').update(whole.subarray(524288)).digest('hex'));
    // 512 KiB at 200 KiB/s cannot arrive in much under 2.5 s (a lower bound, not a timing test).
    assert.ok(elapsed >= 2000, `${elapsed} ms`);
  });
});
