// examples/npm-fleet: the small web tool built on otalab/sim, in headless Chromium, against a
// real mosquitto over WebSocket, with firmware over HTTP: 20 devices connect, a push gives a
// correct notice to half and a bad digest to the others, and the page's table, status and CSV
// say so, on otalab's own MQTT client (otalab/mqtt) and on MQTT.js. An MQTT.js observer in Node
// checks the wire independently.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';

import { startMosquitto } from '../../sandbox/mosquitto.mjs';
import { startStaticServer } from '../../sandbox/static-server.mjs';
import { launchChromium } from '../support/browser.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let broker;
let server;
let browser;
let observer;
/** Devices the wire says failed with -3, in the current test. */
let failures = new Set();

before(async () => {
  assert.ok(existsSync(path.join(repo, 'target/npm/otalab/web/sim.js')), 'run scripts/build-npm first');
  broker = await startMosquitto();
  const firmwareDir = mkdtempSync(path.join(os.tmpdir(), 'otalab-fleet-fw-'));
  writeFileSync(path.join(firmwareDir, 'fw-2.0.0.bin'), randomBytes(200 * 1024));
  server = await startStaticServer({ root: repo, mounts: { '/firmware/': firmwareDir } });
  browser = await launchChromium();
  observer = await mqtt.connectAsync(broker.url, { clientId: 'fleet-observer', protocolVersion: 4 });
  await observer.subscribeAsync('/ota/device/progress/#', { qos: 1 });
  observer.on('message', (topic, payload) => {
    if (String(JSON.parse(payload.toString()).params.step) === '-3') failures.add(topic.split('/').at(-1));
  });
});

after(async () => {
  await observer?.endAsync(true);
  await browser?.close();
  await server?.close();
  await broker?.stop();
});


for (const client of ['otalab', 'mqttjs']) test(`the fleet page on ${client === 'otalab' ? "otalab's own MQTT client" : 'MQTT.js'}: 20 devices, half upgraded and half failing with -3, in the table, the status and the CSV`, async () => {
  failures = new Set();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const query = new URLSearchParams({ broker: broker.wsUrl, firmware: `${server.url}/firmware/fw-2.0.0.bin`, client });
  await page.goto(`${server.url}/examples/npm-fleet/index.html?${query}`);
  await page.click('#start');
  await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 20 && !document.querySelector('#push').disabled, null, { timeout: 60_000 });
  assert.match(await page.textContent('#status'), /20 devices: 0 succeeded, 0 failed, 0 upgrading, 20 pending/);
  await page.click('#push');
  await page.waitForFunction(() => /10 succeeded, 10 failed, 0 upgrading, 0 pending/.test(document.querySelector('#status').textContent), null, { timeout: 60_000 });
  const rows = await page.$$eval('#rows tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.equal(rows.filter((r) => r[4] === 'succeeded' && r[3] === '2.0.0' && r[1] === 'upgraded').length, 10, JSON.stringify(rows));
  assert.equal(rows.filter((r) => r[4] === 'failed' && r[3] === '1.0.0' && r[1] === 'failed').length, 10, JSON.stringify(rows));
  const csv = await page.evaluate(async () => (await fetch(document.querySelector('#csv').href)).text());
  assert.ok(csv.startsWith('productKey,deviceName,') && csv.includes(',-3,'), csv.slice(0, 200));
  // The wire, read by MQTT.js: the second half said -3.
  assert.deepEqual([...failures].sort(), Array.from({ length: 10 }, (_, i) => `unit-${String(i + 11).padStart(3, '0')}`));
  assert.equal(await page.inputValue('#client'), client);
  if (client === 'otalab') await page.screenshot({ path: path.join(repo, 'docs/screenshots/npm-fleet.png') });
  await page.close();
  assert.deepEqual(errors, []);
});
