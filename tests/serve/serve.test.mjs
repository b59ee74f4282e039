// `otalab serve` against someone else's code: the official Python SDK (alibabacloud-iot20180120,
// signature V3) runs a QA campaign written for the real platform, @alicloud/pop-core (V1) and
// requests signed here with node:crypto call it and are refused as the platform refuses them,
// MQTT.js watches what reaches the devices, and a real `kill -9` in the middle of a job loses
// nothing. The broker is a real mosquitto; the devices are `otalab devices` processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import RPCClient from '@alicloud/pop-core';
import mqtt from 'mqtt';

import { freePort, startMosquitto } from '../../sandbox/mosquitto.mjs';
import { bin } from '../support/otalab.mjs';
import { until } from '../support/until.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const python = process.env.OTALAB_PYTHON ?? path.join(repo, 'target/pyenv/bin/python');
const KEY = { id: 'LTAIserveTest', secret: `secret-${process.pid}` };

let broker;
const children = new Set();

/** Starts `otalab serve` on `data`; resolves `{ child, url, endpoint, out() }` once it listens. */
async function startServe(data, { port = 0 } = {}) {
  const child = spawn(bin, ['serve', '--data', data, '--port', String(port), '--broker', broker.url, '--access-key', `${KEY.id}:${KEY.secret}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const url = await until('otalab serve to print its address', () => (child.exitCode !== null ? assert.fail(out) : out.match(/OpenAPI: +(http:\/\/\S+)\//)?.[1]), 30_000);
  return { child, url, endpoint: url.replace('http://', ''), out: () => out };
}

/** Starts `otalab devices …` on the test's broker. */
async function startDevices(args) {
  return startDevicesOn(broker.url, args);
}

/** Starts `otalab devices …` on `url`. */
async function startDevicesOn(url, args) {
  const child = spawn(bin, ['devices', '--broker', url, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  child.log = () => err;
  return child;
}

function killed(child) {
  return new Promise((resolve) => { if (child.exitCode !== null || child.signalCode) resolve(); else child.once('exit', resolve); });
}

/** A V1 call signed here with node:crypto (independent of otalab's own signing). */
function v1Url(base, action, params, { secret = KEY.secret, id = KEY.id, nonce = randomBytes(8).toString('hex'), timestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z'), at = '/' } = {}) {
  const all = { Action: action, Version: '2018-01-20', Format: 'JSON', AccessKeyId: id, SignatureMethod: 'HMAC-SHA1', SignatureVersion: '1.0', SignatureNonce: nonce, Timestamp: timestamp, ...params };
  const encode = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const canonical = Object.keys(all).sort().map((k) => `${encode(k)}=${encode(all[k])}`).join('&');
  const signature = createHmac('sha1', `${secret}&`).update(`GET&${encode('/')}&${encode(canonical)}`).digest('base64');
  return `${base}${at}?${canonical}&Signature=${encode(signature)}`;
}

before(async () => {
  broker = await startMosquitto();
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await broker?.stop();
});

describe('otalab serve: the platform OpenAPI', () => {
  test('the official Python SDK runs a QA campaign written for the real platform, endpoint and keys aside: devices, firmware upload, a grey job with a retry and a timeout, a rate, cancel, re-upgrade, confirmation', { timeout: 300_000 }, async () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'otalab-serve-'));
    const serve = await startServe(path.join(data, 'state'));
    const firmware = path.join(data, 'fw.bin');
    writeFileSync(firmware, randomBytes(200_000));
    const script = spawn(python, [path.join(repo, 'tests/serve/campaign.py'), serve.endpoint, KEY.id, KEY.secret, 'a1Campaign', '30', firmware], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(script);
    let out = '';
    let err = '';
    script.stdout.on('data', (d) => { out += d; });
    script.stderr.on('data', (d) => { err += d; });
    // The devices come online after they are registered, as on the platform.
    await until('the campaign to register its devices', () => out.includes('"registered"') || script.exitCode !== null, 60_000);
    const devices = await startDevices(['--product', 'a1Campaign', '--names', 'dev-{001..030}', '--fail-share', '0.2']);
    const code = await new Promise((resolve) => script.on('exit', resolve));
    assert.equal(code, 0, `${out}\n${err}\n${serve.out()}\n${devices.log()}`);
    const steps = Object.fromEntries(out.trim().split('\n').map((l) => JSON.parse(l)).map((s) => [s.step, s]));
    assert.deepEqual(steps['gray job'].tasks, { SUCCEEDED: 9, FAILED: 6 });
    assert.equal(steps['rate-limited job'].queued_then_cancelled, 5);
    assert.deepEqual(steps['re-upgraded'].tasks, { SUCCEEDED: 15 });
    assert.deepEqual(steps['confirmed job'].tasks, { FAILED: 6 });
    // The database holds every task's status changes with their times.
    devices.kill('SIGINT');
    serve.child.kill('SIGINT');
    await Promise.all([killed(devices), killed(serve.child)]);
  });

  test("README's first example runs as written, against devices that came online before they were registered", { timeout: 120_000 }, async () => {
    const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
    const example = readme.match(/```python\n([\s\S]*?)```/)[1];
    const data = mkdtempSync(path.join(os.tmpdir(), 'otalab-serve-'));
    const serve = await startServe(path.join(data, 'state'));
    const firmware = randomBytes(100_000);
    const files = http.createServer((req, res) => {
      res.writeHead(200, { 'content-length': firmware.length, 'content-type': 'application/octet-stream' });
      res.end(firmware);
    });
    await new Promise((resolve) => files.listen(0, '127.0.0.1', resolve));
    const devices = await startDevices(['--product', 'a1Demo', '--names', 'dev-{1..3}']);
    await until('the devices to connect', () => devices.log().includes('connected 3 of 3'), 20_000);
    // A console follows the campaign on the event stream (signed like a V1 call).
    const refusedStream = await fetch(`${serve.url}/events`);
    assert.equal(refusedStream.status, 400);
    const stream = await fetch(v1Url(serve.url, 'SubscribeEvents', {}, { at: '/events' }));
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type'), /text\/event-stream/);
    const events = [];
    (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of stream.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const name = block.match(/^event: (.*)$/m)?.[1];
          const data = block.match(/^data: (.*)$/m)?.[1];
          if (name && data) events.push({ name, data: JSON.parse(data) });
        }
      }
    })().catch(() => {});
    const script = spawn(python, ['-c', example], {
      env: { ...process.env, OTALAB_AK: KEY.id, OTALAB_SECRET: KEY.secret, OTALAB_ENDPOINT: serve.endpoint, FIRMWARE_URL: `http://127.0.0.1:${files.address().port}/fw/demo-2.0.0.bin` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    script.stdout.on('data', (d) => { out += d; });
    script.stderr.on('data', (d) => { out += d; });
    const code = await new Promise((resolve) => script.on('exit', resolve));
    assert.equal(code, 0, out);
    const printed = example.match(/# (\{'dev-1'.*\})/)[1];
    assert.equal(out.trim(), printed);
    await until('the stream to tell the job completed', () => events.some((e) => e.name === 'job' && e.data.JobStatus === 'COMPLETED'), 10_000);
    const succeeded = events.filter((e) => e.name === 'task' && e.data.TaskStatus === 'SUCCEEDED').map((e) => e.data.DeviceName).sort();
    assert.deepEqual(succeeded, ['dev-1', 'dev-2', 'dev-3']);
    const order = events.filter((e) => e.name === 'task' && e.data.DeviceName === 'dev-1').map((e) => e.data.TaskStatus);
    assert.deepEqual(order.at(-1), 'SUCCEEDED');
    assert.ok(order.includes('NOTIFIED') || order.includes('QUEUED'), order.join(','));
    const steps = events.filter((e) => e.name === 'progress' && e.data.DeviceName === 'dev-1').map((e) => e.data.Progress);
    assert.ok(steps.length > 0 && steps.every((v, i) => i === 0 || v >= steps[i - 1]) && steps.at(-1) <= 100, steps.join(','));
    stream.body.cancel().catch(() => {});
    devices.kill('SIGINT');
    serve.child.kill('SIGINT');
    files.close();
    await Promise.all([killed(devices), killed(serve.child)]);
  });

  test('a device on the official Python device SDK (Linkkit, with its DeviceSecret) is upgraded by a job made with the official OpenAPI SDK', { timeout: 90_000 }, async () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'otalab-serve-'));
    const serve = await startServe(path.join(data, 'state'));
    const firmware = path.join(data, 'fw.bin');
    writeFileSync(firmware, randomBytes(150_000));
    const script = spawn(python, [path.join(repo, 'tests/serve/linkkit_job.py'), serve.endpoint, KEY.id, KEY.secret, '127.0.0.1', String(broker.port), firmware], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(script);
    let out = '';
    script.stdout.on('data', (d) => { out += d; });
    script.stderr.on('data', (d) => { out += d; });
    const code = await new Promise((resolve) => script.on('exit', resolve));
    assert.equal(code, 0, out);
    const steps = Object.fromEntries(out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).map((s) => [s.step, s]));
    assert.deepEqual([steps.online.status, steps.online.version], ['ONLINE', '1.0.0'], out);
    assert.deepEqual([steps.job.task, steps.job.version], ['SUCCEEDED', '2.0.0'], out);
    assert.ok(steps.device.log.some((l) => /^notice 2\.0\.0 Md5 http:/.test(l)), out);
    assert.ok(steps.device.log.includes('upgraded to 2.0.0 (150000 bytes)'), out);
    serve.child.kill('SIGINT');
    await killed(serve.child);
  });

  test('a V1 client (@alicloud/pop-core) is answered, GET and POST; wrong secret, unknown key, replayed nonce, stale time, unknown action, missing field and unsigned calls get the platform codes; the server keeps serving', { timeout: 60_000 }, async () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'otalab-serve-'));
    const serve = await startServe(path.join(data, 'state'));
    const client = new RPCClient({ accessKeyId: KEY.id, accessKeySecret: KEY.secret, endpoint: serve.url, apiVersion: '2018-01-20' });
    const registered = await client.request('RegisterDevice', { ProductKey: 'a1Pop', DeviceName: 'pop-0001' }, { method: 'POST' });
    assert.equal(registered.Success, true);
    assert.match(registered.Data.DeviceSecret, /^[0-9a-f]{32}$/);
    const detail = await client.request('QueryDeviceDetail', { ProductKey: 'a1Pop', DeviceName: 'pop-0001' }, { method: 'GET' });
    assert.equal(detail.Data.Status, 'UNACTIVE');
    assert.equal(detail.Data.DeviceSecret, registered.Data.DeviceSecret);
    const listed = await client.request('QueryDevice', { ProductKey: 'a1Pop', CurrentPage: 1, PageSize: 10 }, { method: 'POST' });
    assert.equal(listed.Total, 1);
    assert.equal(listed.Data.DeviceInfo[0].DeviceName, 'pop-0001');
    const refused = async (promise, code) => {
      const e = await promise.then(() => assert.fail('accepted'), (e) => e);
      assert.equal(e.data?.Code ?? e.code, code, e.message);
    };
    // Business errors: HTTP 200, Success false and an iot. code (pop-core raises on any Code).
    await refused(client.request('QueryOTAJob', { JobId: 'nope' }, { method: 'POST' }), 'iot.ota.JobNotExist');
    await refused(client.request('RegisterDevice', { ProductKey: 'a1Pop', DeviceName: 'pop-0001' }, { method: 'POST' }), 'iot.device.AlreadyExistedDeviceName');
    const wrong = new RPCClient({ accessKeyId: KEY.id, accessKeySecret: 'not-the-secret', endpoint: serve.url, apiVersion: '2018-01-20' });
    await refused(wrong.request('QueryDevice', { ProductKey: 'a1Pop' }, { method: 'POST' }), 'SignatureDoesNotMatch');
    const stranger = new RPCClient({ accessKeyId: 'LTAIstranger', accessKeySecret: KEY.secret, endpoint: serve.url, apiVersion: '2018-01-20' });
    await refused(stranger.request('QueryDevice', { ProductKey: 'a1Pop' }, { method: 'POST' }), 'InvalidAccessKeyId.NotFound');
    await refused(client.request('CreateProductX', {}, { method: 'POST' }), 'InvalidAction.NotFound');
    await refused(client.request('QueryDeviceDetail', { DeviceName: 'pop-0001' }, { method: 'POST' }), 'MissingParameter');

    // By hand, signed with node:crypto: the same nonce twice, a stale time, no signature.
    const nonce = randomBytes(8).toString('hex');
    const once = await fetch(v1Url(serve.url, 'GetDeviceStatus', { ProductKey: 'a1Pop', DeviceName: 'pop-0001' }, { nonce }));
    assert.equal(once.status, 200);
    assert.equal((await once.json()).Data.Status, 'UNACTIVE');
    const twice = await fetch(v1Url(serve.url, 'GetDeviceStatus', { ProductKey: 'a1Pop', DeviceName: 'pop-0001' }, { nonce }));
    assert.deepEqual([twice.status, (await twice.json()).Code], [400, 'SignatureNonceUsed']);
    const stale = await fetch(v1Url(serve.url, 'GetDeviceStatus', { ProductKey: 'a1Pop', DeviceName: 'pop-0001' }, { timestamp: '2020-01-01T00:00:00Z' }));
    assert.deepEqual([stale.status, (await stale.json()).Code], [400, 'InvalidTimeStamp.Expired']);
    const unsigned = await fetch(`${serve.url}/?Action=QueryDevice&ProductKey=a1Pop`);
    const body = await unsigned.json();
    assert.deepEqual([unsigned.status, body.Code], [400, 'IncompleteSignature']);
    assert.ok(body.RequestId && body.HostId && body.Message, JSON.stringify(body));

    // Hostile requests: a huge body, garbage, a bad V3 header. Each is refused; the server
    // keeps answering.
    const huge = await fetch(`${serve.url}/`, { method: 'POST', body: Buffer.alloc(2 * 1024 * 1024, 65), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(huge.status, 400);
    const garbage = await fetch(`${serve.url}/?%ff%fe=%00`, { method: 'POST', body: '\u0000\u0001', headers: { authorization: 'ACS3-HMAC-SHA256 garbage' } });
    assert.equal(garbage.status, 400);
    assert.equal((await garbage.json()).Code, 'IncompleteSignature');
    const still = await client.request('GetDeviceStatus', { ProductKey: 'a1Pop', DeviceName: 'pop-0001' }, { method: 'GET' });
    assert.equal(still.Data.Status, 'UNACTIVE');

    // The Python SDK (V3) with a wrong secret: the SDK raises the platform's code.
    const probe = spawn(python, ['-c', `
from alibabacloud_iot20180120.client import Client
from alibabacloud_iot20180120 import models
from alibabacloud_tea_openapi import models as open_api
c = Client(open_api.Config(access_key_id="${KEY.id}", access_key_secret="wrong", endpoint="${serve.endpoint}", protocol="http", region_id="cn-shanghai"))
try:
    c.query_device(models.QueryDeviceRequest(product_key="a1Pop"))
    print("accepted")
except Exception as e:
    print(getattr(e, "code", e))
`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    probe.stdout.on('data', (d) => { said += d; });
    probe.stderr.on('data', (d) => { said += d; });
    await new Promise((resolve) => probe.on('exit', resolve));
    assert.equal(said.trim(), 'SignatureDoesNotMatch');
    serve.child.kill('SIGINT');
    await killed(serve.child);
  });

  test('kill -9 in the middle of a 200-device job (a rate, a retry, a timeout), then serve again: the job ends with every task accounted for, no device notified twice for one attempt, the same counts as a run without the kill', { timeout: 400_000 }, async () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'otalab-serve-'));
    const state = path.join(data, 'state');
    const firmware = randomBytes(64 * 1024);
    writeFileSync(path.join(data, 'fw.bin'), firmware);
    const md5 = createHash('md5').update(firmware).digest('hex');
    // The firmware is served by serve's own upload store: put it there through the API. The
    // restarted serve listens on the same port, as a service would.
    const port = await freePort();
    let serve = await startServe(state, { port });
    let client = new RPCClient({ accessKeyId: KEY.id, accessKeySecret: KEY.secret, endpoint: serve.url, apiVersion: '2018-01-20' });
    const call = async (action, params) => {
      const r = await client.request(action, params, { method: 'POST' });
      assert.equal(r.Success, true, `${action}: ${JSON.stringify(r)}`);
      return r;
    };
    const upload = (await call('GenerateOTAUploadURL', { FileSuffix: 'bin' })).Data;
    const form = new FormData();
    for (const [k, v] of Object.entries({ key: upload.Key, policy: upload.Policy, OSSAccessKeyId: upload.OSSAccessKeyId, Signature: upload.Signature })) form.append(k, v);
    form.append('file', new Blob([firmware]), 'fw.bin');
    assert.equal((await fetch(upload.Host, { method: 'POST', body: form })).status, 204);

    // MQTT.js watches every notice.
    const watcher = mqtt.connect(broker.url, { clientId: `kill-watcher-${process.pid}`, reconnectPeriod: 0 });
    await new Promise((resolve, reject) => { watcher.once('connect', resolve); watcher.once('error', reject); });
    const notices = new Map();
    watcher.on('message', (topic, payload) => {
      const [, , , , pk, dn] = topic.split('/');
      const key = `${pk}/${dn}`;
      notices.set(key, [...(notices.get(key) ?? []), JSON.parse(payload.toString()).id]);
    });
    await watcher.subscribeAsync('/ota/device/upgrade/+/+', { qos: 1 });

    const campaign = async (pk, kill) => {
      for (let i = 1; i <= 200; i++) await call('RegisterDevice', { ProductKey: pk, DeviceName: `k-${String(i).padStart(3, '0')}` });
      const devices = await startDevices(['--product', pk, '--names', 'k-{001..200}', '--fail-share', '0.2']);
      await until(`${pk}: 200 devices report 1.0.0`, async () => {
        const r = await call('QueryDevice', { ProductKey: pk, CurrentPage: 1, PageSize: 50 });
        return r.Total === 200 && devices.log().includes('connected 200 of 200');
      }, 60_000, 200);
      const fw = (await call('CreateOTAFirmware', { ProductKey: pk, FirmwareName: 'fw', DestVersion: '2.0.0', FirmwareUrl: upload.FirmwareUrl, FirmwareSign: md5, SignMethod: 'MD5', FirmwareSize: firmware.length })).Data.FirmwareId;
      const job = (await call('CreateOTAStaticUpgradeJob', { ProductKey: pk, FirmwareId: fw, TargetSelection: 'ALL', MaximumPerMinute: 100, RetryCount: 1, RetryInterval: 0, TimeoutInMinutes: 5 })).Data.JobId;
      const failures = new Map();
      const counts = async () => {
        failures.clear();
        const all = {};
        for (let page = 1; page <= 2; page++) {
          const r = await call('ListOTATaskByJob', { JobId: job, CurrentPage: page, PageSize: 100 });
          for (const t of r.Data.SimpleOTATaskInfo) {
            all[t.TaskStatus] = (all[t.TaskStatus] ?? 0) + 1;
            if (t.TaskStatus === 'FAILED') failures.set(t.TaskDesc, (failures.get(t.TaskDesc) ?? 0) + 1);
          }
        }
        return all;
      };
      if (kill) {
        // Kill once part of the first minute's devices have finished and others are mid-way.
        await until('some tasks to succeed', async () => ((await counts()).SUCCEEDED ?? 0) >= 20, 60_000, 50);
        serve.child.kill('SIGKILL');
        await killed(serve.child);
        const atKill = new Map(notices);
        serve = await startServe(state, { port });
        assert.match(serve.out(), /[1-9]\d* stored inputs replayed/);
        client = new RPCClient({ accessKeyId: KEY.id, accessKeySecret: KEY.secret, endpoint: serve.url, apiVersion: '2018-01-20' });
        // The notices sent before the kill are not sent again for the same attempt.
        await until('the second minute of the job', async () => ((await counts()).QUEUED ?? 0) === 0, 120_000, 500);
        for (const [key, ids] of atKill) {
          const later = notices.get(key).slice(ids.length);
          for (const id of later) assert.ok(!ids.includes(id), `${key}: notice ${id} sent again after the restart`);
        }
      }
      const final = await until(`${pk}: every task final`, async () => {
        const c = await counts();
        const open = (c.QUEUED ?? 0) + (c.NOTIFIED ?? 0) + (c.IN_PROGRESS ?? 0);
        const job2 = (await call('QueryOTAJob', { JobId: job })).Data;
        return open === 0 && job2.JobStatus === 'COMPLETED' ? c : null;
      }, 240_000, 500);
      devices.kill('SIGINT');
      await killed(devices);
      // At most one notice per attempt: 1 for a device that succeeded, 2 (the retry) for one
      // that failed.
      for (const [key, ids] of notices) {
        if (!key.startsWith(`${pk}/`)) continue;
        assert.ok(ids.length <= 2, `${key}: ${ids.length} notices (${ids.join(', ')})`);
        assert.equal(new Set(ids).size, ids.length, `${key}: a notice id twice: ${ids.join(', ')}`);
      }
      return { ...final, failures: Object.fromEntries(failures) };
    };
    const calm = await campaign('a1Calm', false);
    const killedRun = await campaign('a1Kill', true);
    assert.deepEqual(calm, { SUCCEEDED: 160, FAILED: 40, failures: { '-2 injected download failure at 40%': 40 } });
    assert.deepEqual(killedRun, calm);
    watcher.end();
    serve.child.kill('SIGINT');
    await killed(serve.child);
  });

  test('without --broker, otalab serve starts its own mosquitto: devices reach it, it outlives a kill -9 and is used again, Ctrl-C stops it', { timeout: 60_000 }, async () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'otalab-serve-'));
    const mqttPort = await freePort();
    const own = (port) => {
      const child = spawn(bin, ['serve', '--data', data, '--port', String(port), '--mqtt-port', String(mqttPort), '--access-key', `${KEY.id}:${KEY.secret}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      child.on('exit', () => children.delete(child));
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { out += d; });
      child.out = () => out;
      return child;
    };
    const apiPort = await freePort();
    let serve = own(apiPort);
    await until('serve to start its broker', () => (serve.exitCode !== null ? assert.fail(serve.out()) : serve.out().includes('Press Ctrl-C')), 20_000);
    assert.match(serve.out(), new RegExp(`Broker: +mqtt://127\\.0\\.0\\.1:${mqttPort}`));
    const client = new RPCClient({ accessKeyId: KEY.id, accessKeySecret: KEY.secret, endpoint: `http://127.0.0.1:${apiPort}`, apiVersion: '2018-01-20' });
    await client.request('RegisterDevice', { ProductKey: 'a1Own', DeviceName: 'own-1' }, { method: 'POST' });
    const devices = await startDevicesOn(`mqtt://127.0.0.1:${mqttPort}`, ['--product', 'a1Own', '--names', 'own-{1..1}']);
    const online = async () => (await client.request('QueryDeviceDetail', { ProductKey: 'a1Own', DeviceName: 'own-1' }, { method: 'POST' })).Data;
    await until('the device to report its version', async () => (await online()).FirmwareVersion === '1.0.0', 20_000, 100);
    serve.kill('SIGKILL');
    await killed(serve);
    // The broker is still there (the device stays connected to it), and the next start uses it.
    const probe = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: `probe-${process.pid}`, reconnectPeriod: 0 });
    await new Promise((resolve, reject) => { probe.once('connect', resolve); probe.once('error', reject); });
    probe.end();
    serve = own(apiPort);
    await until('serve to start again', () => (serve.exitCode !== null ? assert.fail(serve.out()) : serve.out().includes('Press Ctrl-C')), 20_000);
    assert.match(serve.out(), /using the mosquitto left running/);
    assert.equal((await online()).FirmwareVersion, '1.0.0');
    devices.kill('SIGINT');
    await killed(devices);
    serve.kill('SIGINT');
    await killed(serve);
    const refused = () => new Promise((resolve) => {
      const socket = net.connect(mqttPort, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(false); });
      socket.once('error', () => resolve(true));
    });
    await until('the broker to stop after Ctrl-C', refused, 10_000, 50);
  });

  test('a second otalab serve on the same data is refused; a database from a newer otalab is refused with a clear message and left as it is', { timeout: 30_000 }, async () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'otalab-serve-'));
    // A first start makes the database; a second one on the same directory is refused.
    const serve = await startServe(data);
    const second = spawn(bin, ['serve', '--data', data, '--port', '0', '--broker', broker.url]);
    let secondErr = '';
    second.stderr.on('data', (d) => { secondErr += d; });
    assert.equal(await new Promise((resolve) => second.on('exit', resolve)), 2);
    assert.match(secondErr, /another otalab serve is using this directory/);
    // Then the database is marked as written by schema version 99.
    serve.child.kill('SIGINT');
    await killed(serve.child);
    const db = path.join(data, 'otalab.db');
    assert.ok(existsSync(db));
    const mark = spawn(python, ['-c', `import sqlite3; c = sqlite3.connect(${JSON.stringify(db)}); c.execute("PRAGMA user_version = 99"); c.commit()`]);
    assert.equal(await new Promise((resolve) => mark.on('exit', resolve)), 0);
    const before = readFileSync(db);
    const again = spawn(bin, ['serve', '--data', data, '--port', '0', '--broker', broker.url]);
    let err = '';
    again.stderr.on('data', (d) => { err += d; });
    const code = await new Promise((resolve) => again.on('exit', resolve));
    assert.equal(code, 2);
    assert.match(err, /schema version 99 is newer than this otalab's \(1\)/);
    assert.deepEqual(readFileSync(db), before);
  });
});
