// End-to-end: the built dashboard (dist/) in headless Chromium against the real sandbox
// (mosquitto + firmware server with Range). MQTT.js, connected over plain TCP, is the
// independent observer and, where a test needs it, the cloud.
// Needs `scripts/build-dashboard` first (scripts/test runs it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { parse as parseToml } from 'smol-toml';

import { startSandbox } from '../../sandbox/sandbox.mjs';
import { launchChromium } from '../support/browser.mjs';
import { until } from '../support/until.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shots = path.join(repo, 'target/screenshots');

let sandbox;
let browser;
let observer;
const seen = []; // { topic, payload } as the observer received them
const frames = []; // { topic, bytes, at } of the file block topics (binary), as received
const requests = []; // firmware server log lines

before(async () => {
  mkdirSync(shots, { recursive: true });
  // Persistence: the broker keeps sessions across the restart in the fault test.
  sandbox = await startSandbox({ dist: path.join(repo, 'dist'), persistence: true, log: (line) => requests.push(line) });
  observer = await mqtt.connectAsync(sandbox.brokerUrl, { clientId: 'e2e-observer', protocolVersion: 4 });
  observer.on('message', (topic, payload) => {
    if (topic.includes('/thing/file/')) frames.push({ topic, bytes: Buffer.from(payload), at: Date.now(), seq: frames.length });
    else seen.push({ topic, payload: payload.toString() });
  });
  await observer.subscribeAsync(['/ota/#', '/sys/#'], { qos: 1 });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await observer?.endAsync(true);
  await sandbox?.stop();
});


const pages = new Set();

/** A fresh, empty dashboard page (`page.errors` collects its uncaught errors). */
async function openPage() {
  // Pages of earlier tests are closed even when those tests failed.
  await Promise.all([...pages].map((p) => p.close()));
  pages.clear();
  const page = await browser.newPage();
  pages.add(page);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.errors = errors;
  await page.goto(`${sandbox.url}/?demo=0`);
  await page.waitForSelector('[data-testid=package-info]:not(:empty)');
  return page;
}

/** A fresh page with `count` devices named from `template` under `pk`, all connected. */
async function openFleet(pk, template, count, version = '1.0.0') {
  const page = await openPage();
  await page.fill('[data-testid=pk]', pk);
  await page.fill('[data-testid=template]', template);
  await page.fill('[data-testid=version]', version);
  await page.click('[data-testid=add]');
  await page.click('[data-testid=connect-all]');
  await until(`${count} online`, async () => (await count_of(page, 'count-online')) === count, 30_000 + count * 600);
  return page;
}

/** The page is no wider than the window (no horizontal scrolling), and the primary action
 * (Push to all devices) is on screen without scrolling. */
async function assertFits(page, what) {
  const { scroll, inner, push } = await page.evaluate(() => {
    const b = document.querySelector('[data-testid=push]')?.getBoundingClientRect();
    return { scroll: document.documentElement.scrollWidth, inner: window.innerWidth, push: b && { top: b.top + window.scrollY, bottom: b.bottom + window.scrollY } };
  });
  assert.ok(scroll <= inner, `${what}: the page is ${scroll} px wide in a ${inner} px window`);
  assert.ok(push && push.bottom <= 800, `${what}: Push to all devices ends at ${push?.bottom} px, below the fold`);
}

async function count_of(page, testid) {
  return Number(await page.textContent(`[data-testid=${testid}] b`));
}

/** What the observer saw from one device: progress steps and reported versions. */
function observed(pk, dn) {
  const mine = seen.filter((m) => m.topic.endsWith(`/${pk}/${dn}`) || m.topic.includes(`/${pk}/${dn}/`));
  return {
    steps: mine.filter((m) => m.topic.startsWith('/ota/device/progress/')).map((m) => JSON.parse(m.payload).params),
    versions: mine.filter((m) => m.topic.startsWith('/ota/device/inform/')).map((m) => JSON.parse(m.payload).params.version),
  };
}

async function push(page, kind = 'correct', method) {
  await page.selectOption('[data-testid=notice-kind]', kind);
  if (method) await page.selectOption('[data-testid=sign-method]', method);
  await page.click('[data-testid=push]');
}

/** Pushes to the one selected device. */
async function pushTo(page, dn, kind, method) {
  await page.click(`[data-testid=device-${dn}]`);
  await page.selectOption('[data-testid=notice-kind]', kind);
  if (method) await page.selectOption('[data-testid=sign-method]', method);
  await page.click('[data-testid=push-selected]');
}

/** CRC-16/ARC, bit by bit (independent of otalab's crc crate). */
function crc16arc(bytes) {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** Reads a T7 frame by hand: { header, block, crcOk } (null when it is not even a frame). */
function readFrame(bytes) {
  if (bytes.length < 4) return null;
  const n = bytes.readUInt16BE(0);
  if (bytes.length < 2 + n + 2) return null;
  const header = JSON.parse(bytes.subarray(2, 2 + n).toString('utf8'));
  const block = bytes.subarray(2 + n, bytes.length - 2);
  const crcOk = bytes.readUInt16LE(bytes.length - 2) === crc16arc(block);
  return { header, block, crcOk, lengthOk: block.length === (header.data?.bSize ?? -1) };
}

describe('the dashboard', () => {
  test('3 devices connect and report their versions; a correct notice upgrades them all; the report matches the observer', async () => {
    const pk = 'a1E2eBasic0';
    const page = await openFleet(pk, 'meter-{0001..0003}', 3);
    const names = ['meter-0001', 'meter-0002', 'meter-0003'];
    await until('T1 at the observer', () => names.every((dn) => observed(pk, dn).versions.includes('1.0.0')));

    await push(page);
    await until('3 succeeded', async () => (await count_of(page, 'count-succeeded')) === 3, 60_000);
    for (const dn of names) {
      const { steps, versions } = observed(pk, dn);
      const values = steps.map((s) => Number(s.step));
      assert.equal(values[0], 0, `${dn}: ${values}`);
      assert.equal(values.at(-1), 100, `${dn}: ${values}`);
      assert.deepEqual([...values].sort((a, b) => a - b), values, `${dn}: steps in order`);
      assert.equal(versions.at(-1), '2.0.0', dn);
      assert.equal(await page.textContent(`[data-testid=device-${dn}] [data-role=verdict]`), 'Succeeded');
    }
    await page.click('[data-testid=device-meter-0002]');
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(shots, 'dashboard.png'), fullPage: true });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-json]')]);
    const report = JSON.parse(readFileSync(await download.path(), 'utf8'));
    assert.deepEqual(report.summary, { total: 3, pending: 0, upgrading: 0, succeeded: 3, failed: 0, cancelled: 0 });
    for (const dn of names) {
      const row = report.devices.find((d) => d.deviceName === dn);
      const { steps, versions } = observed(pk, dn);
      assert.deepEqual(row.steps.map((s) => [s.step, s.desc]), steps.map((s) => [Number(s.step), s.desc]), dn);
      assert.equal(row.finalVersion, versions.at(-1));
      assert.equal(row.targetVersion, '2.0.0');
      assert.equal(row.verdict, 'succeeded');
    }
    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-csv]')]);
    const lines = readFileSync(await csv.path(), 'utf8').trim().split('\n');
    const rows = lines.slice(1, lines.indexOf(''));
    assert.equal(rows.length, report.devices.reduce((n, d) => n + d.steps.length, 0));
    // Each row carries the step's human time (ISO 8601), equal to its milliseconds.
    for (const row of rows) {
      const [, , , , time, atMs] = row.split(',');
      assert.equal(new Date(time).getTime(), Number(atMs), row);
    }
    assert.equal(lines[lines.indexOf('') + 1], 'total,pending,upgrading,succeeded,failed,cancelled');
    await assertFits(page, 'after an upgrade');
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  for (const [kind, code, pk] of [['bad_digest', -3, 'a1E2eDigest'], ['missing_url', -2, 'a1E2eMissin'], ['expired_url', -2, 'a1E2eExpire']]) {
    test(`a notice with ${kind} makes the device report ${code}`, async () => {
      const page = await openFleet(pk, 'dev-1', 1);
      await push(page, kind);
      await until('failed', async () => (await count_of(page, 'count-failed')) === 1, 30_000);
      const { steps } = observed(pk, 'dev-1');
      assert.equal(Number(steps.at(-1).step), code, JSON.stringify(steps));
      // The device's failure text wraps in its cell: the page stays 1280 px wide.
      await assertFits(page, `${kind} failure shown`);
      await page.close();
    });
  }

  test('an injected flash failure is -4', async () => {
    const pk = 'a1E2eFlash0';
    const page = await openFleet(pk, 'dev-1', 1);
    await page.click('[data-testid=device-dev-1]');
    await page.selectOption('[data-testid=fault-kind]', 'flash');
    await page.click('[data-testid=fault-selected]');
    await push(page);
    await until('failed', async () => (await count_of(page, 'count-failed')) === 1, 30_000);
    const values = observed(pk, 'dev-1').steps.map((s) => Number(s.step));
    assert.deepEqual(values.slice(-2), [100, -4]);
    await page.close();
  });

  test('a download broken mid-file is resumed with Range and verified', async () => {
    const pk = 'a1E2eFlaky0';
    const page = await openFleet(pk, 'dev-1', 1);
    await push(page, 'flaky_url');
    await until('succeeded', async () => (await count_of(page, 'count-succeeded')) === 1, 60_000);
    assert.ok(requests.some((r) => /^GET \/flaky\/demo-2\.0\.0\.bin bytes=\d+-$/.test(r)), requests.filter((r) => r.includes('flaky')).join('\n'));
    assert.equal(observed(pk, 'dev-1').versions.at(-1), '2.0.0');
    await page.close();
  });

  test('notices go out as the real cloud writes them: Md5 or SHA256, the md5 twin, a number id, one file in the single-file shape', async () => {
    const pk = 'a1E2eWire00';
    const page = await openFleet(pk, 'dev-{1..2}', 2);
    const info = await sandbox.info();
    const firmware = readFileSync(path.join(sandbox.firmwareDir, 'demo-2.0.0.bin'));
    await pushTo(page, 'dev-1', 'correct', 'Md5');
    await pushTo(page, 'dev-2', 'correct', 'SHA256');
    await until('2 succeeded', async () => (await count_of(page, 'count-succeeded')) === 2, 60_000);
    const notice = (dn) => JSON.parse(seen.find((m) => m.topic === `/ota/device/upgrade/${pk}/${dn}`).payload);
    const md5 = notice('dev-1');
    assert.equal(typeof md5.id, 'number', JSON.stringify(md5));
    assert.equal(md5.code, '1000');
    assert.equal(md5.data.signMethod, 'Md5'); // what Link SDK C and the Python SDK compare with
    assert.equal(md5.data.sign, createHash('md5').update(firmware).digest('hex'));
    assert.equal(md5.data.md5, md5.data.sign);
    assert.equal(md5.data.size, firmware.length);
    assert.equal(md5.data.url, info.demo[0].url);
    assert.equal(md5.data.files, undefined);
    const sha = notice('dev-2');
    assert.equal(sha.data.signMethod, 'SHA256');
    assert.equal(sha.data.sign, createHash('sha256').update(firmware).digest('hex'));
    assert.equal(sha.data.md5, undefined);
    for (const dn of ['dev-1', 'dev-2']) assert.equal(observed(pk, dn).versions.at(-1), '2.0.0');
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('firmware over MQTT: 1 MiB to 3 devices in blocks, each surviving one channel fault; an error reply is -4', async () => {
    const pk = 'a1E2eMqttDl';
    const names = ['dev-1', 'dev-2', 'dev-3'];
    const page = await openFleet(pk, 'dev-{1..3}', 3);
    const firmware = readFileSync(path.join(sandbox.firmwareDir, 'demo-2.0.0.bin'));
    assert.ok(firmware.length >= 1024 * 1024);
    const since = frames.length;
    // One fault each, all three downloads at once: a corrupted CRC, a stray offset, a lost reply.
    await pushTo(page, 'dev-1', 'mqtt_bad_crc');
    await pushTo(page, 'dev-2', 'mqtt_wrong_offset');
    await pushTo(page, 'dev-3', 'mqtt_drop_reply');
    await until('3 succeeded', async () => (await count_of(page, 'count-succeeded')) === 3, 120_000);

    const mine = (dn, suffix) => frames.slice(since).filter((f) => f.topic === `/sys/${pk}/${dn}/thing/file/${suffix}`);
    for (const dn of names) {
      const notice = JSON.parse(seen.find((m) => m.topic === `/ota/device/upgrade/${pk}/${dn}`).payload);
      assert.equal(notice.data.dProtocol, 'mqtt');
      assert.equal(notice.data.url, undefined);
      assert.ok(Number.isInteger(notice.data.streamId) && notice.data.streamFileId === 1, JSON.stringify(notice));
      // Requests: valid JSON, 5 KiB blocks, the stream of the notice, covering the whole file.
      const asks = mine(dn, 'download').map((f) => ({ ...JSON.parse(f.bytes.toString()), at: f.at, seq: f.seq }));
      for (const a of asks) {
        assert.equal(a.params.fileInfo.streamId, notice.data.streamId);
        assert.ok(a.params.fileBlock.size <= 5120 && a.params.fileBlock.size > 0, JSON.stringify(a));
      }
      const offsets = [...new Set(asks.map((a) => a.params.fileBlock.offset))].sort((a, b) => a - b);
      assert.deepEqual(offsets, Array.from({ length: Math.ceil(firmware.length / 5120) }, (_, i) => i * 5120), dn);
      // Replies: every frame is well formed; each correct one carries the file's bytes.
      const replies = mine(dn, 'download_reply').map((f) => readFrame(f.bytes));
      assert.ok(replies.every((r) => r && r.header.code === 200 && r.lengthOk), dn);
      const bad = replies.filter((r) => !r.crcOk);
      for (const r of replies.filter((r) => r.crcOk)) {
        const at = r.header.data.bOffset;
        assert.ok(r.block.equals(firmware.subarray(at, at + r.block.length)), `${dn}: bytes at ${at}`);
      }
      // What happened around each reply, in the order the broker delivered it.
      const timed = mine(dn, 'download_reply').map((f) => ({ ...readFrame(f.bytes), seq: f.seq }));
      const askedBefore = (seq) => asks.filter((a) => a.seq < seq).at(-1);
      const stray = timed.filter((r) => r.crcOk && r.header.data.bOffset !== askedBefore(r.seq)?.params.fileBlock.offset);
      // A re-ask: a request for the offset of the request before it.
      const reasks = asks.filter((a, i) => i > 0 && a.params.fileBlock.offset === asks[i - 1].params.fileBlock.offset)
        .map((a) => ({ offset: a.params.fileBlock.offset, gap: a.at - asks[asks.indexOf(a) - 1].at }));
      assert.equal(bad.length, dn === 'dev-1' ? 1 : 0, `${dn}: corrupted CRCs`);
      assert.equal(stray.length, dn === 'dev-2' ? 1 : 0, `${dn}: replies at a wrong offset`);
      if (dn === 'dev-1') {
        // Asked again at once for the block whose CRC was wrong.
        const after = asks.find((a) => a.seq > timed.find((r) => !r.crcOk).seq);
        assert.equal(after.params.fileBlock.offset, bad[0].header.data.bOffset);
      }
      if (dn === 'dev-2' || dn === 'dev-3') {
        // The stray reply was ignored and the lost one waited for: asked again after 10 s.
        assert.ok(reasks.some((r) => r.gap >= 9_000), `${dn}: a block asked for again after the timeout: ${JSON.stringify(reasks)}`);
      }
      const { steps, versions } = observed(pk, dn);
      const values = steps.map((s) => Number(s.step));
      assert.equal(values[0], 0, `${dn}: ${values}`);
      assert.equal(values.at(-1), 100, `${dn}: ${values}`);
      assert.deepEqual([...values].sort((a, b) => a - b), values, `${dn}: steps in order`);
      assert.ok(values.length > 5, `${dn}: progress while downloading: ${values}`);
      assert.equal(versions.at(-1), '2.0.0', dn);
    }
    await page.click('[data-testid=device-dev-2]');
    assert.match(await page.textContent('[data-testid=notice-download]'), /^mqtt · streamId \d+ · streamFileId 1$/);
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(shots, 'mqtt-delivery.png') });

    // An error reply (non-200) is not retried: -4 at once.
    await push(page, 'mqtt_error_reply');
    await until('3 failed', async () => (await count_of(page, 'count-failed')) === 3, 60_000);
    // The page can show the failures a moment before the observer has each device's -4.
    await until('each -4 to reach the observer', () => names.every((dn) => Number(observed(pk, dn).steps.at(-1)?.step) === -4), 10_000);
    for (const dn of names) {
      const last = observed(pk, dn).steps.at(-1);
      assert.equal(Number(last.step), -4, JSON.stringify(last));
      assert.match(last.desc, /500/);
    }
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('script-bearing text in every field a notice can carry is shown as text and runs nothing', async () => {
    const pk = 'a1E2eXss000';
    const page = await openFleet(pk, 'dev-1', 1);
    const info = await sandbox.info();
    // Each payload would set window.__xss to its field's name if the page ever ran it.
    const evil = (field) => [
      `<img src=x onerror="window.__xss='${field}'">`,
      `<svg onload="window.__xss='${field}'"></svg>`,
      `<script>window.__xss='${field}'</script>`,
      `"><iframe srcdoc="<script>parent.__xss='${field}'</script>">`,
    ].join(' ');
    const notice = {
      code: '1000', id: '4242', message: 'success',
      data: {
        size: info.demo[0].size, version: '2.0.0',
        // URLs cannot hold spaces; this one still carries markup.
        url: `${info.demo[0].url}?"><img/src=x/onerror=window.__xss='url'>`,
        sign: info.demo[0].sha256, signMethod: 'SHA256',
        digestsign: evil('digestsign'),
        extData: { note: evil('extData'), _package_udi: evil('_package_udi') },
        desc: evil('unknown-field'),
        [evil('unknown-key')]: 1,
      },
      [`env ${evil('envelope-key')}`]: evil('envelope'),
    };
    await observer.publishAsync(`/ota/device/upgrade/${pk}/dev-1`, JSON.stringify(notice), { qos: 1 });
    // A progress description from a device carries markup too (the log shows it).
    await observer.publishAsync(`/ota/device/progress/${pk}/dev-1`, JSON.stringify({ id: '9', params: { step: '5', desc: evil('progress-desc') } }), { qos: 1 });
    await page.click('[data-testid=device-dev-1]');
    await until('notice shown', async () => (await page.textContent('[data-testid=notice-ext]'))?.includes('<img src=x'));
    await page.click('[data-testid=notice] details summary');
    await until('raw JSON shown', async () => (await page.textContent('[data-testid=notice-raw]'))?.includes('<svg onload'));
    // Give any handler time to fire, then check that none did and no element was created.
    await page.waitForTimeout(1000);
    assert.equal(await page.evaluate(() => window.__xss), undefined, 'a planted handler ran');
    assert.equal(await page.evaluate(() => document.querySelectorAll('body img, body iframe, body svg image, body script:not([type=module])').length), 0);
    const shown = await page.textContent('body');
    for (const field of ['digestsign', 'extData', '_package_udi', 'url']) assert.ok(shown.includes(`window.__xss='${field}'`), `${field} shown as text`);
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('a planted secret is nowhere: not in the log, exports, localStorage (without remember) or the console', async () => {
    const secret = 'PLANTED-s3cret-7c1d9e';
    const page = await openFleet('a1E2eSecret', 'sec-1', 1);
    const consoleLines = [];
    page.on('console', (m) => consoleLines.push(m.text()));
    // A device with a secret, and a broker password in a profile.
    await page.fill('[data-testid=template]', 'sec-2');
    await page.fill('input[type=password]', secret);
    await page.click('[data-testid=add]');
    await page.selectOption('[data-testid=profile]', 'broker');
    await page.fill('[data-testid=broker-password]', secret);
    await page.press('[data-testid=broker-password]', 'Tab');
    await page.selectOption('[data-testid=profile]', 'sandbox');
    await page.click('[data-testid=connect-all]');
    await until('2 online', async () => (await count_of(page, 'count-online')) === 2);
    await push(page);
    await until('2 succeeded', async () => (await count_of(page, 'count-succeeded')) === 2, 60_000);
    const exports = [];
    for (const id of ['export-json', 'export-csv', 'export-fleet', 'export-junit', 'save-scenario']) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(`[data-testid=${id}]`)]);
      exports.push([id, readFileSync(await download.path(), 'utf8')]);
    }
    // The exports are real: the fleet export names both devices.
    assert.match(exports[2][1], /sec-2/);
    for (const [id, text] of exports) assert.ok(!text.includes(secret), `${id} holds the secret`);
    assert.ok(!(await page.textContent('[data-testid=log]')).includes(secret), 'the log holds the secret');
    const storage = await page.evaluate(() => JSON.stringify(Object.entries(localStorage)));
    assert.ok(!storage.includes(secret), 'localStorage holds the secret');
    assert.ok(!consoleLines.some((line) => line.includes(secret)), 'the console printed the secret');
    assert.ok(!seen.some((m) => m.payload.includes(secret)), 'a message on the broker holds the secret');
    await page.evaluate(() => localStorage.clear());
    await page.close();
  });

  test('a 256 MiB firmware dropped into the page is hashed in slices (wasm memory stays flat) and uploaded streaming', async () => {
    const file = path.join(os.tmpdir(), `otalab-big-${process.pid}.bin`);
    const size = 256 * 1024 * 1024;
    const md5 = createHash('md5');
    const sha256 = createHash('sha256');
    const fd = openSync(file, 'w');
    const block = Buffer.alloc(4 * 1024 * 1024);
    for (let offset = 0, n = 0; offset < size; offset += block.length, n++) {
      for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((n * 2654435761 + i) >>> 0, i);
      writeSync(fd, block);
      md5.update(block);
      sha256.update(block);
    }
    closeSync(fd);
    const digests = { md5: md5.digest('hex'), sha256: sha256.digest('hex') };
    try {
      await Promise.all([...pages].map((p) => p.close()));
      pages.clear();
      const page = await browser.newPage();
      pages.add(page);
      page.errors = [];
      page.on('pageerror', (e) => page.errors.push(String(e)));
      await page.addInitScript(() => addEventListener('TrunkApplicationStarted', (e) => { window.__wasm = e.detail.wasm; }));
      await page.goto(`${sandbox.url}/?demo=0`);
      await page.waitForSelector('[data-testid=package-info]:not(:empty)');
      const memory = () => page.evaluate(() => window.__wasm.memory.buffer.byteLength);
      const before = await memory();
      await page.setInputFiles('[data-testid=firmware-file]', file);
      const name = path.basename(file);
      await until('the big file selected', async () => (await page.textContent('[data-testid=package-info]')).startsWith(name), 180_000);
      const after = await memory();
      const growth = (after - before) / 1024 / 1024;
      console.log(`# 256 MiB dropped: wasm memory ${(before / 1048576).toFixed(1)} -> ${(after / 1048576).toFixed(1)} MiB (+${growth.toFixed(1)} MiB)`);
      assert.ok(growth < 16, `wasm memory grew ${growth} MiB`);
      const shown = await page.textContent('[data-testid=package-info]');
      assert.ok(shown.includes(`MD5 ${digests.md5}`) && shown.includes(`SHA-256 ${digests.sha256}`), shown);
      // The sandbox's own digests (computed while the upload streamed) agree with node:crypto's.
      const stored = readFileSync(path.join(sandbox.firmwareDir, name));
      assert.equal(stored.length, size);
      assert.equal(createHash('sha256').update(stored).digest('hex'), digests.sha256);
      assert.deepEqual(page.errors, []);
      await page.close();
    } finally {
      rmSync(file, { force: true });
      rmSync(path.join(sandbox.firmwareDir, path.basename(file)), { force: true });
    }
  });

  test('faults mid-upgrade: the broker restarted and every download cut while 20 devices upgrade', async () => {
    const pk = 'a1E2eFaults';
    const names = Array.from({ length: 20 }, (_, i) => `f-${String(i + 1).padStart(2, '0')}`);
    // A persistent observer: the restarted broker keeps its subscription and what it missed.
    const watcher = await mqtt.connectAsync(sandbox.brokerUrl, { clientId: 'e2e-fault-watcher', clean: false, protocolVersion: 4, reconnectPeriod: 200 });
    const got = [];
    watcher.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), dup: packet.dup }));
    await watcher.subscribeAsync([`/ota/device/progress/${pk}/+`, `/ota/device/inform/${pk}/+`], { qos: 1 });
    const page = await openFleet(pk, 'f-{01..20}', 20);
    // A slow firmware server (100 KB/s per download, about 10 s each) so that faults land mid-download.
    sandbox.setDownloadRate(100_000);
    await push(page);
    const progressOf = (dn) => got.filter((m) => m.topic === `/ota/device/progress/${pk}/${dn}`);
    await until('downloads under way', () => names.filter((dn) => progressOf(dn).some((m) => Number(JSON.parse(m.payload).params.step) >= 5)).length >= 5, 60_000);
    // 1. The firmware server cuts every download at once.
    const before = requests.length;
    const cut = sandbox.cutDownloads();
    // Chromium opens at most 6 connections per host: that many downloads run at a time.
    assert.ok(cut >= 1 && cut <= 6, `downloads cut: ${cut}`);
    // 2. The broker dies and comes back a second later.
    await sandbox.broker.stop();
    await new Promise((r) => setTimeout(r, 1000));
    await sandbox.broker.restart();
    await until('20 online again', async () => (await count_of(page, 'count-online')) === 20, 60_000);
    sandbox.setDownloadRate(0);
    await until('20 succeeded', async () => (await count_of(page, 'count-succeeded')) === 20, 180_000);
    assert.ok(requests.slice(before).some((r) => /^GET \/firmware\/demo-2\.0\.0\.bin bytes=\d+-$/.test(r)), 'resumed with Range after the cut');
    for (const dn of names) {
      // Nothing lost: every message a device sends (T1 and T3) carries the next id of its own
      // counter, so the ids the watcher saw must have no gap.
      const mine = got.filter((m) => m.topic.endsWith(`/${pk}/${dn}`)).map((m) => ({ ...m, body: JSON.parse(m.payload) }));
      const ids = [...new Set(mine.map((m) => Number(m.body.id)))].sort((a, b) => a - b);
      assert.deepEqual(ids, Array.from({ length: ids.length }, (_, i) => ids[0] + i), `${dn}: a message was lost`);
      // Nothing duplicated beyond at-least-once: a step seen twice is the same message (same id)
      // delivered again, never a second report.
      const idsOfStep = new Map();
      for (const m of mine.filter((m) => m.topic.startsWith('/ota/device/progress/'))) {
        idsOfStep.set(m.body.params.step, new Set([...(idsOfStep.get(m.body.params.step) ?? []), m.body.id]));
      }
      for (const [step, stepIds] of idsOfStep) assert.equal(stepIds.size, 1, `${dn}: step ${step} reported ${stepIds.size} times`);
      const values = [...idsOfStep.keys()].map(Number);
      assert.equal(values[0], 0, `${dn}: ${values}`);
      assert.equal(values.at(-1), 100, `${dn}: ${values}`);
      assert.deepEqual([...values].sort((a, b) => a - b), values, `${dn}: in order, none lost at the end`);
      const versions = got.filter((m) => m.topic === `/ota/device/inform/${pk}/${dn}`).map((m) => JSON.parse(m.payload).params.version);
      assert.equal(versions.at(-1), '2.0.0', dn);
      assert.equal(await page.textContent(`[data-testid=device-${dn}] [data-role=verdict]`), 'Succeeded');
    }
    console.log(`# 20 devices: broker restarted mid-download, ${cut} downloads cut at once; all succeeded`);
    await watcher.endAsync(true);
    await page.close();
  });

  test('a page reloaded mid-upgrade: devices come back on their old version and report it; no error', async () => {
    const pk = 'a1E2eReload';
    const page = await openFleet(pk, 'r-{1..3}', 3);
    await page.selectOption('[data-testid=fault-kind]', 'none');
    await page.fill('[data-testid=throttle]', '100000');
    await page.fill('[data-testid=fault-share]', '100');
    await page.click('[data-testid=fault-share-apply]');
    await push(page);
    await until('downloading', () => ['r-1', 'r-2', 'r-3'].every((dn) => observed(pk, dn).steps.length > 0), 30_000);
    const informsBefore = seen.filter((m) => m.topic.startsWith(`/ota/device/inform/${pk}/`)).length;
    // Reloaded as a user opens the page again (`?demo=0` would start with an empty fleet).
    await page.goto(`${sandbox.url}/`);
    await until('3 online after the reload', async () => (await count_of(page, 'count-online')) === 3, 60_000);
    // The fleet is restored; the upgrade that was under way is gone with the page (documented):
    // each device reports its old version again, and the new page's cloud has no job for it.
    await until('versions reported again', () => seen.filter((m) => m.topic.startsWith(`/ota/device/inform/${pk}/`)).length >= informsBefore + 3);
    for (const dn of ['r-1', 'r-2', 'r-3']) {
      assert.equal(observed(pk, dn).versions.at(-1), '1.0.0', dn);
      // No job on this page's cloud: not counted as pending.
      assert.equal(await page.textContent(`[data-testid=device-${dn}] [data-role=verdict]`), 'No job');
    }
    // And the page says what was kept and what was not.
    assert.match(await page.textContent('[data-testid=status-line]'), /^Restored devices: 3 · each keeps its current version; the previous page's upgrade jobs/);
    assert.deepEqual(page.errors, []);
    await page.evaluate(() => localStorage.removeItem('otalab.fleet'));
    await page.close();
  });

  test('removed devices take their upgrade jobs with them: the same names added again start clean', async () => {
    const page = await openFleet('a1Stale', 'st-{1..2}', 2);
    await push(page, 'bad_digest');
    await until('2 failed', async () => (await count_of(page, 'count-failed')) === 2, 60_000);
    await until('the chart drew the upgrade', async () => (await page.getAttribute('polyline.l-failed', 'points')) !== '');
    // Remove all asks first; "No" keeps everything.
    await page.click('[data-testid=remove-all]');
    await page.click('[data-testid=remove-all-no]');
    assert.equal((await page.$$('[data-testid^=device-st-]')).length, 2);
    await page.click('[data-testid=remove-all]');
    await page.click('[data-testid=remove-all-yes]');
    await until('no devices', async () => (await page.$$('[data-testid^=device-st-]')).length === 0);
    // The chart's history went with the fleet.
    assert.equal(await page.getAttribute('polyline.l-failed', 'points'), '');
    await page.click('[data-testid=add]');
    await page.click('[data-testid=connect-all]');
    await until('2 online again', async () => (await count_of(page, 'count-online')) === 2, 30_000);
    assert.equal(await count_of(page, 'count-failed'), 0);
    // Online devices without a push are "no job", not "pending".
    assert.equal(await count_of(page, 'count-pending'), 0);
    assert.equal(await count_of(page, 'count-nojob'), 2);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-json]')]);
    const report = JSON.parse(readFileSync(await download.path(), 'utf8'));
    assert.deepEqual(report.devices.map((d) => [d.deviceName, d.verdict, d.notice ?? null, d.steps.length]),
      [['st-1', 'pending', null, 0], ['st-2', 'pending', null, 0]]);
    // A pull now gets the selected (correct) package, not the old bad notice.
    const before = seen.length;
    await page.click('[data-testid=device-st-1] [data-role=check]');
    const reply = await until('the pull answer', () => seen.slice(before).find((m) => m.topic === '/sys/a1Stale/st-1/thing/ota/firmware/get_reply'));
    const answer = JSON.parse(reply.payload);
    const sandboxInfo = await (await fetch(`${sandbox.url}/sandbox.json`)).json();
    assert.equal(answer.data.sign, sandboxInfo.demo[0].md5);
    assert.deepEqual(page.errors, []);
  });

  test('upgraded devices keep their new version across a reload; invalid devices are refused before anything is added', async () => {
    const page = await openFleet('a1Keep', 'kp-{1..2}', 2);
    await push(page);
    await until('2 succeeded', async () => (await count_of(page, 'count-succeeded')) === 2, 60_000);
    const before = seen.length;
    await page.goto(`${sandbox.url}/`);
    await until('2 online after the reload', async () => (await count_of(page, 'count-online')) === 2, 30_000);
    const versions = await page.$$eval('[data-testid^=device-kp-] [data-role=version]', (cells) => cells.map((c) => c.textContent));
    assert.deepEqual(versions, ['2.0.0', '2.0.0']);
    const informs = await until('both report again', () => {
      const after = seen.slice(before).filter((m) => m.topic.startsWith('/ota/device/inform/a1Keep/'));
      return after.length >= 2 && after;
    });
    assert.ok(informs.every((m) => JSON.parse(m.payload).params.version === '2.0.0'), JSON.stringify(informs));
    // A name that cannot be a topic segment, and an empty version: refused with the reason.
    for (const [field, value, reason] of [['template', 'bad/name', /deviceName/], ['template', 'with space', /' ' is not allowed/],
      ['template', 'n'.repeat(300), /300 characters long/], ['template', 'm-{1..2}{1..2}', /one \{from\.\.to\} range/],
      ['pk', '', /productKey/], ['version', '', /version/]]) {
      await page.fill('[data-testid=pk]', 'a1Keep');
      await page.fill('[data-testid=template]', 'fresh-1');
      await page.fill('[data-testid=version]', '1.0.0');
      await page.fill(`[data-testid=${field}]`, value);
      await page.click('[data-testid=add]');
      // The reason shows next to the form, and the page still fits (long names wrap).
      await until(`the refusal of ${field}`, async () => reason.test(await page.textContent('[data-testid=add-message]')));
      await assertFits(page, `refusal of ${field}`);
      assert.equal((await page.$$('[data-testid^=device-]')).length, 2, `${field}: nothing added`);
    }
    await page.evaluate(() => localStorage.clear());
  });

  test('a scenario file runs in the tab with each expectation shown; the session saved as a scenario replays with otalab run', async () => {
    const page = await openPage();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'otalab-e2e-scenario-'));
    const scenario = (succeeded) => `name = "tab scenario"
description = "4 devices, one fails verification"
[fleet]
product_key = "a1Scn"
names = "tab-{1..4}"
[device]
cadence_percent = 25
flash_ms = 200
reboot_ms = 200
faults = [{ count = 1, fault = { kind = "fail", failure = "verify", at_percent = 100 } }]
[firmware.v2]
file = "demo-2.0.0.bin"
version = "2.0.0"
[[actions]]
push = "v2"
[expect]
time_limit_ms = 60000
quiet_ms = 5000
verdicts = { succeeded = ${succeeded}, failed = { at_most = 1 } }
final_versions = { "2.0.0" = 3 }
steps = [{ verdict = "failed", sequence = [0, -3] }]
`;
    const run = async (file) => {
      await page.setInputFiles('[data-testid=scenario-file]', file);
      await page.waitForSelector('[data-testid=scenario-status][data-status=loaded]');
      await page.click('[data-testid=scenario-run]');
      return until('the run ends', async () => {
        const status = await page.getAttribute('[data-testid=scenario-status]', 'data-status');
        return ['passed', 'failed', 'error'].includes(status) && status;
      }, 90_000);
    };
    const good = path.join(dir, 'good.toml');
    writeFileSync(good, scenario(3));
    assert.equal(await run(good), 'passed', await page.textContent('[data-testid=scenario-panel]'));
    const held = await page.$$eval('[data-testid=expectation]', (items) => items.map((i) => i.dataset.held));
    assert.deepEqual(held, ['true', 'true', 'true', 'true', 'true']);
    assert.equal(await count_of(page, 'count-succeeded'), 3);
    assert.equal(await count_of(page, 'count-failed'), 1);
    // The observer saw the failing device's -3 on the broker.
    assert.ok(observed('a1Scn', 'tab-1').steps.some((p) => p.step === '-3'));
    // The exported report carries the scenario's judged expectations.
    const [json] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-json]')]);
    const report = JSON.parse(readFileSync(await json.path(), 'utf8'));
    assert.equal(report.scenario, 'tab scenario');
    assert.ok(report.expectations.length === 5 && report.expectations.every((e) => e.held));
    // A wrong expectation fails, and says which.
    const bad = path.join(dir, 'bad.toml');
    writeFileSync(bad, scenario(4));
    assert.equal(await run(bad), 'failed');
    const broken = await page.$$eval('[data-testid=expectation][data-held=false]', (items) => items.map((i) => i.textContent));
    assert.equal(broken.length, 1);
    assert.match(broken[0], /succeeded: exactly 4.*expected exactly 4 succeeded, got 3 of 4/);
    // Save the session (the second run) as a scenario; it is the runner's format and replays.
    const [saved] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=save-scenario]')]);
    const text = readFileSync(await saved.path(), 'utf8');
    const doc = parseToml(text);
    assert.equal(doc.fleet.devices.length, 4);
    assert.deepEqual(doc.device.faults[0].devices, ['a1Scn/tab-1']);
    assert.equal(doc.actions.length, 1);
    assert.equal(doc.firmware[doc.actions[0].push].file, 'demo-2.0.0.bin');
    assert.deepEqual({ ...doc.expect.verdicts }, { succeeded: 3, failed: 1 });
    assert.deepEqual(page.errors, []);
    await page.evaluate(() => localStorage.clear());
    await page.close();
    pages.delete(page);
    const replay = path.join(dir, 'saved.toml');
    writeFileSync(replay, text);
    // Asynchronously: the sandbox serving the runner lives in this process.
    const result = await new Promise((resolve, reject) => {
      const child = spawn(path.join(repo, 'target/debug/otalab'), ['run', replay, '--sandbox', sandbox.url, '--progress', 'plain']);
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.on('error', reject);
      child.on('exit', (status) => { clearTimeout(timer); resolve({ status, stderr }); });
    });
    assert.equal(result.status, 0, result.stderr || 'no output');
    assert.match(result.stderr, /every expectation held/);
  });

  test('batches like the console: failures grouped by reason, chips filter the table, retry failed, cancel, remove one device; the printable report', async () => {
    const pk = 'a1Batches';
    const names = ['b-01', 'b-02', 'b-03', 'b-04', 'b-05', 'b-06'];
    const page = await openFleet(pk, 'b-{01..06}', 6);
    // Three devices fail their download at 30 %.
    await page.selectOption('[data-testid=fault-kind]', 'download');
    await page.fill('[data-testid=fault-percent]', '30');
    for (const dn of ['b-02', 'b-04', 'b-06']) {
      await page.click(`[data-testid=device-${dn}]`);
      await page.click('[data-testid=fault-selected]');
    }
    await push(page);
    await until('batch 1 ended', async () => (await page.getAttribute('[data-testid=batch-1]', 'data-done')) === 'true', 60_000);
    assert.equal(await page.textContent('[data-testid=batch-1] [data-testid=batch-failed]'), '3');
    assert.equal(await page.textContent('[data-testid=batch-1] [data-testid=batch-succeeded]'), '3');
    const groups = await page.$$eval('[data-testid=batch-1] [data-testid=batch-failures] > li', (li) => li.map((l) => l.firstChild.textContent));
    assert.equal(groups.length, 1, groups.join(' | '));
    assert.match(groups[0], /^3 × -2 /);
    // The reason is the device's own description, as the observer saw it on the wire.
    const desc = observed(pk, 'b-02').steps.find((s) => Number(s.step) === -2).desc;
    assert.equal(groups[0], `3 × -2 ${desc}`);
    await assertFits(page, 'batch with failures');
    await page.screenshot({ path: path.join(shots, 'layout-1280x800.png') });

    // The Failed chip shows only the failed devices; clicking it again shows all.
    const visible = () => page.$$eval('[data-testid^=device-b-]', (rows) => rows.filter((r) => r.style.display !== 'none').map((r) => r.dataset.testid.slice(7)));
    await page.click('[data-testid=count-failed]');
    assert.deepEqual(await visible(), ['b-02', 'b-04', 'b-06']);
    await page.click('[data-testid=count-failed]');
    assert.deepEqual(await visible(), names);

    // Retry failed: the fault is cleared, the failed three get the same notice as batch 2.
    await page.selectOption('[data-testid=fault-kind]', 'none');
    await page.fill('[data-testid=fault-share]', '100');
    await page.click('[data-testid=fault-share-apply]');
    await page.click('[data-testid=batch-1] [data-testid=batch-retry]');
    await until('6 succeeded', async () => (await count_of(page, 'count-succeeded')) === 6, 60_000);
    assert.match(await page.textContent('[data-testid=batch-2] [data-testid=batch-retry-of]'), /1$/);
    assert.equal(await page.textContent('[data-testid=batch-2] [data-testid=batch-succeeded]'), '3');
    // Batch 1 keeps its outcome as it ended; its failed devices are batch 2's now.
    assert.equal(await page.textContent('[data-testid=batch-1] [data-testid=batch-failed]'), '3');
    assert.ok(await page.isDisabled('[data-testid=batch-1] [data-testid=batch-retry]'));

    // Cancel: a device that stalls at 20 % is cancelled; a late report does not change that.
    await page.selectOption('[data-testid=fault-kind]', 'stall');
    await page.fill('[data-testid=fault-percent]', '20');
    await page.click('[data-testid=device-b-01]');
    await page.click('[data-testid=fault-selected]');
    await page.fill('[data-testid=target]', '3.0.0');
    await pushTo(page, 'b-01', 'correct');
    await until('b-01 upgrading', async () => (await page.getAttribute('[data-testid=device-b-01] [data-role=verdict]', 'data-value')) === 'upgrading', 30_000);
    await page.click('[data-testid=batch-3] [data-testid=batch-cancel]');
    await until('cancelled', async () => (await count_of(page, 'count-cancelled')) === 1);
    assert.equal(await page.textContent('[data-testid=batch-3] [data-testid=batch-cancelled]'), '1');
    assert.ok(await page.isDisabled('[data-testid=batch-3] [data-testid=batch-cancel]'));
    await page.click('[data-testid=batch-1] [data-testid=batch-failures] summary');
    await page.locator('[data-testid=batches]').screenshot({ path: path.join(shots, 'batch.png') });

    // One device removed: its row and its job go.
    await page.click('[data-testid=device-b-06] [data-role=remove]');
    await until('5 rows', async () => (await page.$$('[data-testid^=device-b-]')).length === 5);

    const [json] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-json]')]);
    const report = JSON.parse(readFileSync(await json.path(), 'utf8'));
    assert.deepEqual(report.devices.map((d) => d.deviceName), names.slice(0, 5));
    assert.deepEqual(report.batches.map((b) => [b.id, b.counts.total, b.retryOf ?? null]), [[1, 6, null], [2, 3, 1], [3, 1, null]]);
    assert.equal(report.batches[0].failures[0].devices.length, 3);
    assert.equal(report.batches[0].notice.data.signMethod, 'Md5');
    const b01 = report.devices.find((d) => d.deviceName === 'b-01');
    assert.equal(b01.verdict, 'cancelled');
    assert.equal(b01.fault, 'Stalls @ 20 %');
    assert.ok(b01.steps.every((s) => new Date(s.at).getTime() === s.atMs));

    const [html] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-html]')]);
    const htmlPath = path.join(mkdtempSync(path.join(os.tmpdir(), 'otalab-report-')), 'report.html');
    writeFileSync(htmlPath, readFileSync(await html.path()));
    const text = readFileSync(htmlPath, 'utf8');
    assert.match(text, /^<!doctype html>/);
    assert.ok(text.includes(`3 × -2 ${desc.replaceAll('&', '&amp;')}`), 'grouped failures in the report');
    assert.ok(/<polyline[^>]*points="[\d.]+,[\d.]+ /.test(text), 'the chart is in the report');
    for (const dn of names.slice(0, 5)) assert.ok(text.includes(`${pk}/${dn}`), dn);
    const view = await browser.newPage();
    pages.add(view);
    await view.goto(`file://${htmlPath}`);
    assert.equal(await view.textContent('h1'), 'otalab report', 'rendered as a page');
    assert.equal(await view.$$eval('section.batch', (s) => s.length), 3);
    assert.equal(await view.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, 'the report fits 1280 px');
    await view.screenshot({ path: path.join(shots, 'report.png'), fullPage: true });
    assert.deepEqual(page.errors, []);
  });

  test('input is checked next to its field; the log shows times, QoS, retain and connection events; any message can be published; Chinese throughout', async () => {
    const pk = 'a1Checked';
    const page = await openFleet(pk, 'c-{1..2}', 2);
    // Connection events and message rows with a local time and QoS.
    const events = await until('connected and subscribed events', async () => {
      const rows = await page.$$eval('[data-testid=log] tr[data-direction=event]', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
      const mine = rows.filter((r) => r[2] === `${pk}/c-1`);
      return mine.some((r) => r[3] === 'connected') && mine.some((r) => r[3] === 'subscribed') && mine;
    });
    assert.match(events[0][0], /^\d\d:\d\d:\d\d\.\d{3}$/);
    const out = await page.$$eval('[data-testid=log] tr[data-direction=out]', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    const inform = out.find((r) => r[3] === `/ota/device/inform/${pk}/c-1`);
    assert.equal(inform[4], '1', 'T1 goes at QoS 1');

    // Publishing any message as a device; MQTT.js sees it retained.
    await page.click('[data-testid=publish] summary');
    await page.selectOption('[data-testid=publish-device]', { label: `${pk}/c-2` });
    await page.fill('[data-testid=publish-topic]', `/${pk}/c-2/user/hello`);
    await page.fill('[data-testid=publish-payload]', '{"hi":1}');
    await page.selectOption('[data-testid=publish-qos]', '0');
    await page.check('[data-testid=publish-retain]');
    await page.click('[data-testid=publish-send]');
    await until('published', async () => /^Published to/.test(await page.textContent('[data-testid=publish-message]')));
    const late = await mqtt.connectAsync(sandbox.brokerUrl, { clientId: 'e2e-late', protocolVersion: 4 });
    const retained = new Promise((resolve) => late.on('message', (topic, payload, packet) => resolve({ topic, payload: payload.toString(), retain: packet.retain })));
    await late.subscribeAsync(`/${pk}/c-2/user/hello`, { qos: 1 });
    assert.deepEqual(await retained, { topic: `/${pk}/c-2/user/hello`, payload: '{"hi":1}', retain: true });
    await late.publishAsync(`/${pk}/c-2/user/hello`, '', { retain: true });
    await late.endAsync();
    const row = await page.$$eval('[data-testid=log] tr[data-direction=out]', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)).find((r) => r[3].endsWith('/user/hello')));
    assert.deepEqual([row[4], row[5]], ['0', '✓']);
    await page.fill('[data-testid=publish-topic]', '/a/+/b');
    await page.click('[data-testid=publish-send]');
    await until('a wildcard topic refused', async () => /MQTT_INVALID_TOPIC/.test(await page.textContent('[data-testid=publish-message]')));

    // Number fields: out of range or not a number is refused with the range, nothing applied.
    for (const [field, value, message, range] of [['fault-percent', '150', 'fault-message', '0–100'], ['fault-share', '', 'fault-message', '0–100'],
      ['cadence', '0', 'settings-error', '1–100'], ['log-limit', '-3', 'log-limit-error', '1–20000']]) {
      await page.fill(`[data-testid=${field}]`, value);
      await page.press(`[data-testid=${field}]`, 'Tab');
      await until(`${field} refused`, async () => (await page.textContent(`[data-testid=${message}]`)).includes(range));
    }
    // A target version the wire refuses: said next to it, and the push is refused.
    await page.fill('[data-testid=target]', '');
    assert.notEqual(await page.textContent('[data-testid=target-error]'), '');
    await push(page);
    await until('push refused', async () => /Target version/.test(await page.textContent('[data-testid=push-message]')));
    assert.equal(await page.$$eval('[data-testid^=batch-]', (b) => b.length), 0, 'no batch made');
    await page.fill('[data-testid=target]', '2.0.0');

    // Broker URLs a browser cannot use, and Alibaba Cloud fields, with the client's own rules.
    await page.selectOption('[data-testid=profile]', 'broker');
    for (const url of ['mqtt://127.0.0.1:1883', 'javascript:alert(1)', '']) {
      await page.fill('[data-testid=broker-url]', url);
      await page.press('[data-testid=broker-url]', 'Tab');
      await until(`${url || 'empty'} refused`, async () => /MQTT_BAD_URL/.test(await page.textContent('[data-testid=broker-url-error]')));
    }
    await page.selectOption('[data-testid=profile]', 'aliyun');
    await page.fill('[data-testid=aliyun-region]', '');
    await page.press('[data-testid=aliyun-region]', 'Tab');
    await until('empty region refused', async () => /INVALID_ENDPOINT/.test(await page.textContent('[data-testid=aliyun-region-error]')));
    await page.fill('[data-testid=aliyun-keep-alive]', '5');
    await page.press('[data-testid=aliyun-keep-alive]', 'Tab');
    await until('keep-alive 5 refused', async () => (await page.textContent('[data-testid=aliyun-keep-alive-error]')).includes('30–1200'));
    await page.selectOption('[data-testid=profile]', 'sandbox');

    // Imports: the format's own error.
    await page.click('details:has([data-testid=import-text]) summary');
    for (const [text, reason] of [['{"productKey":"x"}', /^JSON: expected an array/], ['[{"productKey": "x"', /^JSON: /], ['pk,dn,s,1.0.0,extra', /^CSV line 1: 5 field/]]) {
      await page.fill('[data-testid=import-text]', text);
      await page.click('[data-testid=import]');
      await until(`import of ${text} refused`, async () => reason.test(await page.textContent('[data-testid=import-message]')));
    }
    // A 0-byte firmware is refused; an uploaded one joins the firmware list.
    await page.setInputFiles('[data-testid=firmware-file]', { name: 'empty.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(0) });
    await until('empty firmware refused', async () => /empty \(0 bytes\)/.test(await page.textContent('[data-testid=firmware-message]')));
    await page.setInputFiles('[data-testid=firmware-file]', { name: 'tiny-fw.bin', mimeType: 'application/octet-stream', buffer: Buffer.from('tiny firmware') });
    await until('uploaded firmware listed', async () => (await page.$$eval('[data-testid=package] option', (o) => o.map((x) => x.value))).includes('tiny-fw.bin'));
    await assertFits(page, 'with every error shown');

    // Keyboard: Tab to a row, Enter selects it.
    await page.focus('[data-testid=device-c-2]');
    await page.keyboard.press('Enter');
    assert.equal(await page.getAttribute('[data-testid=device-c-2]', 'aria-selected'), 'true');
    assert.equal(await page.isDisabled('[data-testid=push-selected]'), false);

    // Chinese: the document language, badges and fault options.
    await page.click('[data-testid=lang]');
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assert.equal(await page.textContent('[data-testid=device-c-1] [data-role=link]'), '在线');
    assert.equal(await page.textContent('[data-testid=device-c-1] [data-role=verdict]'), '无升级任务');
    assert.ok((await page.$$eval('[data-testid=fault-kind] option', (o) => o.map((x) => x.textContent))).includes('-2 下载失败'));
    await page.click('[data-testid=lang]');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.deepEqual(page.errors, []);
  });

  test('scripts/run --lan: a stock Link SDK C device process (it never subscribes) appears as an external row within a second of its first T1, is upgraded from the page, and graded by the conformance suite', async () => {
    // A sandbox on the network (it hands out 127.0.0.1 here), as `scripts/run --lan` starts it.
    const lan = await startSandbox({ dist: path.join(repo, 'dist'), lan: true, lanHost: '127.0.0.1' });
    const pk = 'a1Board';
    let child;
    const watcher = await mqtt.connectAsync(lan.brokerUrl, { clientId: 'e2e-lan-observer', protocolVersion: 4 });
    try {
      const informs = [];
      watcher.on('message', (topic, payload) => informs.push({ topic, payload: payload.toString(), at: Date.now() }));
      await watcher.subscribeAsync(`/ota/device/inform/${pk}/#`, { qos: 1 });
      const page = await browser.newPage();
      pages.add(page);
      page.errors = [];
      page.on('pageerror', (e) => page.errors.push(String(e)));
      await page.goto(`${lan.url}/?demo=0#token=${lan.token}`);
      await page.waitForSelector('[data-testid=package-info]:not(:empty)');
      assert.match(await page.textContent('[data-testid=lan-info]'), new RegExp(`Host: 127\\.0\\.0\\.1 · MQTT ${lan.mqttPort} \\(no TLS\\)`));
      // The page says what the sandbox does for devices that never subscribe.
      assert.match(await page.textContent('[data-testid=auto-subscribe]'),
        new RegExp(`need not subscribe.*Port ${lan.mqttPort}: /ota/device/upgrade/\\{productKey\\}/\\{deviceName\\}`));

      // A device written outside otalab, as its own process, behaving as Link SDK C as it ships
      // (no SUBSCRIBE, core_http's rules, MQTT download), with one defect: it ignores digests.
      child = spawn(process.execPath, [path.join(repo, 'tests/support/ota-device.mjs'), '--broker', lan.brokerUrl, '--stock',
        '--pk', pk, '--dn', 'board-1', '--defect', 'ignoreDigest', '--pull-every-ms', '1000'], { stdio: 'ignore' });
      const first = await until('its first T1', () => informs[0], 20_000);
      await page.waitForSelector('[data-testid=device-board-1] [data-role=external]', { timeout: 5_000 });
      const shownAfter = Date.now() - first.at;
      assert.ok(shownAfter < 1000, `the external row appeared ${shownAfter} ms after its first T1`);
      console.log(`# the external row appeared ${shownAfter} ms after the device's first T1`);
      assert.equal(await page.textContent('[data-testid=device-board-1] [data-role=version]'), '1.0.0');
      await until('its T1 in the log', async () => (await page.textContent('[data-testid=log]')).includes(`/ota/device/inform/${pk}/board-1`));

      // Upgraded from the page like any device.
      await pushTo(page, 'board-1', 'correct');
      await until('board-1 succeeded', async () => (await page.getAttribute('[data-testid=device-board-1] [data-role=verdict]', 'data-value')) === 'succeeded', 30_000);
      assert.equal(informs.at(-1).payload.includes('"2.0.0"'), true, informs.at(-1).payload);
      assert.equal(await page.textContent('[data-testid=device-board-1] [data-role=version]'), '2.0.0');

      // The conformance suite: everything passes but the digest check it skips (over MQTT too).
      await page.selectOption('[data-testid=conformance-device]', `${pk}/board-1`);
      // 60 s a case: over MQTT the page's cloud answers a 5 KiB block in about 90 ms (1 MiB is
      // about 20 s), and a dropped or stray reply costs the device's 10 s block timeout.
      await page.fill('[data-testid=conformance-timeout]', '60');
      await page.press('[data-testid=conformance-timeout]', 'Tab');
      await page.fill('[data-testid=conformance-reaction]', '6');
      await page.press('[data-testid=conformance-reaction]', 'Tab');
      await page.click('[data-testid=conformance-run]');
      await page.waitForSelector('[data-testid=conformance-status][data-status=done]', { timeout: 480_000 });
      const grades = Object.fromEntries(await page.$$eval('[data-testid=conformance-case]', (li) => li.map((l) => [l.dataset.case, l.dataset.grade])));
      assert.deepEqual(grades, {
        md5: 'pass', sha256: 'pass', bad_digest: 'fail', wrong_size: 'pass', expired_url: 'pass', missing_url: 'pass',
        flaky_url: 'pass', pull: 'pass', repeat: 'pass', second_module: 'not_applicable', mqtt: 'pass',
        mqtt_bad_crc: 'pass', mqtt_wrong_offset: 'pass', mqtt_drop_reply: 'pass', mqtt_error_reply: 'pass',
      }, await page.textContent('[data-testid=conformance]'));
      const [junit] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=conformance-junit]')]);
      const xml = readFileSync(await junit.path(), 'utf8');
      assert.match(xml, /<testsuites name="otalab" tests="15" failures="1" skipped="1">/);
      assert.match(xml, /name="bad_digest"[^>]*><failure message="installed the package/);
      await page.click('[data-testid=conformance-case][data-case=bad_digest] summary');
      await page.locator('[data-testid=conformance]').screenshot({ path: path.join(shots, 'conformance.png') });

      // Forgotten: the row goes.
      await page.click('[data-testid=device-board-1] [data-role=remove]');
      await until('the row is gone', async () => (await page.$$('[data-testid=device-board-1]')).length === 0);
      assert.deepEqual(page.errors, []);
    } finally {
      child?.kill('SIGTERM');
      await watcher.endAsync(true);
      await lan.stop();
    }
  });

  test('the language switches to Chinese and stays switched after a reload', async () => {
    const page = await openFleet('a1E2eLang00', 'dev-1', 1);
    assert.equal(await page.textContent('header h1 small'), 'OTA test bench');
    await page.click('[data-testid=lang]');
    assert.equal(await page.textContent('header h1 small'), 'OTA 测试台');
    await page.reload();
    await page.waitForSelector('[data-testid=package-info]:not(:empty)');
    assert.equal(await page.textContent('header h1 small'), 'OTA 测试台');
    assert.equal(await page.textContent('[data-testid=count-succeeded]'), '成功 0');
    await page.click('[data-testid=lang]');
    assert.equal(await page.textContent('header h1 small'), 'OTA test bench');
  });

  test('the fleet is restored after a reload; secrets are kept only when asked to', async () => {
    const page = await openFleet('a1E2eKeep00', 'keep-{1..2}', 2);
    const stored = () => page.evaluate(() => localStorage.getItem('otalab.fleet'));
    assert.match(await stored(), /keep-2/);
    // A secret typed for a new device is not stored unless "remember secrets" is ticked.
    await page.fill('[data-testid=template]', 'keep-3');
    await page.fill('input[type=password]', 'sup3rsecret');
    await page.click('[data-testid=add]');
    assert.doesNotMatch(await stored(), /sup3rsecret/);
    await page.goto(`${sandbox.url}/`);
    await until('restored and online', async () => (await count_of(page, 'count-online')) === 3);
    assert.deepEqual(await page.$$eval('[data-testid^=device-]', (rows) => rows.map((r) => r.dataset.testid)),
      ['device-keep-1', 'device-keep-2', 'device-keep-3']);
    await page.evaluate(() => localStorage.removeItem('otalab.fleet'));
  });

  test('100 devices go through one full upgrade in one tab', async () => {
    const pk = 'a1E2eFleet0';
    const page = await openFleet(pk, 'node-{001..100}', 100);
    await push(page);
    await until('100 succeeded', async () => (await count_of(page, 'count-succeeded')) === 100, 180_000);
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(shots, 'fleet-100.png') });
    assert.equal(await count_of(page, 'count-failed'), 0);
    assert.deepEqual(page.errors, []);
    await page.close();
  });
});
