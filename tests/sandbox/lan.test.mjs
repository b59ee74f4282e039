// `scripts/run --lan`: the sandbox process (`sandbox/run.mjs --lan`, what the script starts)
// binds the broker and the HTTP server on every interface, prints what to configure on a
// device, and refuses uploads without the token it printed. The test talks to 127.0.0.1 only
// (OTALAB_LAN_HOST=127.0.0.1 names it in every URL handed out).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';

import { freePort } from '../../sandbox/mosquitto.mjs';
import { until } from '../support/until.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let child;
let out = '';
let ports;

before(async () => {
  ports = { http: await freePort(), mqtt: await freePort(), ws: await freePort(), api: await freePort() };
  child = spawn(process.execPath, [path.join(repo, 'sandbox/run.mjs'), '--lan'], {
    env: {
      ...process.env, OTALAB_LAN_HOST: '127.0.0.1', OTALAB_PORT: String(ports.http),
      OTALAB_MQTT_PORT: String(ports.mqtt), OTALAB_MQTT_WS_PORT: String(ports.ws),
      OTALAB_API_PORT: String(ports.api), OTALAB_DATA: mkdtempSync(path.join(os.tmpdir(), 'otalab-serve-')),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.on('data', (d) => { out += d; });
  await until('the sandbox to start', () => out.includes('Press Ctrl-C'), 20_000);
});

after(async () => {
  child?.kill('SIGTERM');
  await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
});

describe('scripts/run --lan', () => {
  test('prints what a device needs, binds every interface, and says so in sandbox.json', async () => {
    const token = /Uploads need the token: ([0-9a-f]{32})/.exec(out)?.[1];
    assert.ok(token, out);
    assert.match(out, new RegExp(`MQTT host:\\s+127\\.0\\.0\\.1`));
    assert.match(out, new RegExp(`MQTT port:\\s+${ports.mqtt}\\s+\\(plain MQTT 3\\.1\\.1, no TLS\\)`));
    assert.match(out, /any client id, user name and password are accepted/);
    // Devices need not subscribe (Link SDK C does not): the sandbox says so and does it.
    assert.match(out, /Subscribing: not needed on the MQTT port, as on Alibaba Cloud/);
    assert.match(out, new RegExp(`#token=${token}`));
    const info = await (await fetch(`http://127.0.0.1:${ports.http}/sandbox.json`)).json();
    assert.deepEqual({ ...info.lan, addresses: undefined },
      { host: '127.0.0.1', addresses: undefined, mqttPort: ports.mqtt, wsPort: ports.ws, httpPort: ports.http, tls: false, anyLogin: true, tokenRequired: true });
    assert.ok(Array.isArray(info.lan.addresses));
    assert.deepEqual(info.autoSubscribe, {
      port: ports.mqtt,
      topics: ['/ota/device/upgrade/{productKey}/{deviceName}', '/sys/{productKey}/{deviceName}/thing/ota/firmware/get_reply',
        '/sys/{productKey}/{deviceName}/thing/file/download_reply'],
    });
    // Listening on every interface (0.0.0.0), not only loopback: the kernel's socket table.
    const listening = readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f[3] === '0A')
      .map((f) => f[1]);
    for (const port of [ports.http, ports.mqtt, ports.ws]) {
      const hex = port.toString(16).toUpperCase().padStart(4, '0');
      assert.ok(listening.includes(`00000000:${hex}`), `port ${port} on 0.0.0.0: ${listening.join(' ')}`);
    }
    // Any login is accepted.
    const client = await mqtt.connectAsync(info.brokerTcp, { clientId: 'a1Lan.dev', username: 'anything', password: 'at all', reconnectPeriod: 0 });
    await client.endAsync();
  });

  test('uploads need the printed token; with it they are stored', async () => {
    const token = /Uploads need the token: ([0-9a-f]{32})/.exec(out)[1];
    const put = (query, headers = {}) => fetch(`http://127.0.0.1:${ports.http}/upload/lan.bin${query}`, { method: 'PUT', body: 'firmware', headers });
    const refused = await put('');
    assert.equal(refused.status, 401);
    assert.match((await refused.json()).error, /token/);
    assert.equal((await put('?token=wrong')).status, 401);
    const stored = await put(`?token=${token}`);
    assert.equal(stored.status, 201);
    assert.equal((await stored.json()).url, `http://127.0.0.1:${ports.http}/firmware/lan.bin`);
    assert.equal((await put('', { 'X-Otalab-Token': token })).status, 201);
    assert.equal(await (await fetch(`http://127.0.0.1:${ports.http}/firmware/lan.bin`)).text(), 'firmware');
  });
});
