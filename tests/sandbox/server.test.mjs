// The sandbox server under hostile requests: malformed and traversing paths, aborted and lying
// uploads, concurrent uploads of one name, unknown methods, oversized heads, and a bounded load
// of parallel Range downloads. The sandbox runs as its own process (`sandbox/run.mjs`, exactly
// what `scripts/run` starts), so a crash would show, and its memory is read from /proc.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort } from '../../sandbox/mosquitto.mjs';
import { until } from '../support/until.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let child;
let base;
let firmwareDir;
let port;


/**
 * Sends raw bytes; resolves with the raw answer (status line parsed) when the server closes or
 * `ms` pass. `halfClose` ends the client's side right after writing (a body that never comes).
 */
function raw(bytes, { ms = 5_000, halfClose = false } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = data.toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text, body: data.subarray(data.indexOf('\r\n\r\n') + 4) });
    };
    const timer = setTimeout(done, ms);
    socket.on('data', (d) => { data = Buffer.concat([data, d]); });
    socket.on('end', done);
    socket.on('error', (e) => (data.length ? done() : reject(e)));
    socket.on('connect', () => {
      socket.write(bytes);
      if (halfClose) socket.end();
    });
  });
}

const get = (target, headers = '') => raw(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${headers}\r\n`);

async function stillServing() {
  assert.equal(child.exitCode, null, 'the sandbox process is alive');
  const res = await fetch(`${base}/sandbox.json`);
  assert.equal(res.status, 200);
  await res.json();
}

const leftovers = () => readdirSync(firmwareDir).filter((f) => f.startsWith('.upload-'));

function memory() {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kib = (key) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)[1]);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

before(async () => {
  port = await freePort();
  const [mqttPort, wsPort] = [await freePort(), await freePort()];
  child = spawn(process.execPath, [path.join(repo, 'sandbox/run.mjs')], {
    env: { ...process.env, OTALAB_PORT: String(port), OTALAB_MQTT_PORT: String(mqttPort), OTALAB_MQTT_WS_PORT: String(wsPort), OTALAB_API_PORT: String(await freePort()), OTALAB_DATA: mkdtempSync(path.join(os.tmpdir(), 'otalab-serve-')) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  await until('the sandbox to start', () => /files in (\S+)\)/.test(out), 20_000);
  firmwareDir = /files in (\S+)\)/.exec(out)[1];
  base = `http://127.0.0.1:${port}`;
});

after(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
});

describe('the sandbox server under hostile requests', () => {
  test('a malformed path (GET /%) is 400 and the server keeps serving', async () => {
    for (const target of ['/%', '/firmware/%', '/%E0%A4%A', '/firmware/a%00b']) {
      const res = await get(target);
      assert.equal(res.status, 400, `${target}: ${res.text.slice(0, 80)}`);
    }
    await stillServing();
  });

  test('traversal attempts never leave the root, including encoded and sibling-prefix ones', async () => {
    // A sibling directory whose name starts with the firmware directory's name.
    const sibling = `${firmwareDir}-secret`;
    mkdirSync(sibling, { recursive: true });
    writeFileSync(path.join(sibling, 'key.txt'), 'TOP-SECRET-KEY');
    const name = path.basename(firmwareDir);
    for (const target of [
      `/firmware/..%2F${name}-secret/key.txt`,
      `/firmware/%2e%2e%2f${name}-secret%2fkey.txt`,
      `/firmware/..%5C${name}-secret%5Ckey.txt`,
      '/..%2F..%2F..%2Fetc%2Fpasswd',
      '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/firmware/../../../../etc/passwd',
      '/firmware/.upload-anything',
    ]) {
      const res = await get(target);
      assert.ok([400, 404].includes(res.status), `${target}: ${res.status}`);
      assert.doesNotMatch(res.text, /TOP-SECRET-KEY|root:x:0/, target);
    }
    await stillServing();
  });

  test('an aborted upload and a lying Content-Length leave no file behind', async () => {
    // Cut after 1000 of 100000 declared bytes.
    await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write('PUT /upload/cut.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100000\r\n\r\n');
        socket.write(Buffer.alloc(1000, 1), () => setTimeout(() => { socket.destroy(); resolve(); }, 50));
      });
      socket.on('error', resolve);
    });
    // Declares 5000 bytes, sends 100 and closes its side.
    const lying = await raw(Buffer.concat([Buffer.from('PUT /upload/lie.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5000\r\n\r\n'), Buffer.alloc(100, 2)]), { halfClose: true });
    assert.ok([0, 400].includes(lying.status), lying.text);
    await until('temporary files removed', () => leftovers().length === 0);
    for (const name of ['cut.bin', 'lie.bin']) {
      assert.equal(existsSync(path.join(firmwareDir, name)), false, name);
      assert.equal((await fetch(`${base}/firmware/${name}`)).status, 404, name);
    }
    // No Content-Length, or one past the limit: refused before reading.
    assert.equal((await raw('PUT /upload/x.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')).status, 413);
    assert.equal((await raw('PUT /upload/x.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 9999999999999\r\n\r\n')).status, 413);
    assert.ok([400, 405].includes((await raw('PUT /upload/.. HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx')).status));
    assert.equal((await raw('PUT /upload/.hidden HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx')).status, 400);
    await stillServing();
  });

  test('two uploads of one name at once: the file is one of them, whole, and each answer describes its own bytes', async () => {
    const a = Buffer.alloc(2 * 1024 * 1024, 0xaa);
    const b = Buffer.alloc(3 * 1024 * 1024, 0xbb);
    const put = (body) => fetch(`${base}/upload/same.bin`, { method: 'PUT', body }).then(async (r) => [r.status, await r.json()]);
    const answers = await Promise.all([put(a), put(b)]);
    for (const [[status, info], body] of [[answers[0], a], [answers[1], b]]) {
      assert.equal(status, 201);
      assert.equal(info.size, body.length);
      assert.equal(info.sha256, createHash('sha256').update(body).digest('hex'), 'hashed while streaming');
      assert.equal(info.md5, createHash('md5').update(body).digest('hex'));
    }
    const stored = Buffer.from(await (await fetch(`${base}/firmware/same.bin`)).arrayBuffer());
    assert.ok(stored.equals(a) || stored.equals(b), `the stored file is one upload whole (${stored.length} bytes)`);
    assert.deepEqual(leftovers(), []);
    await stillServing();
  });

  test('unknown methods are 405 (or 400 when not HTTP), oversized heads 431', async () => {
    assert.equal((await raw('DELETE /firmware/demo-2.0.0.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status, 405);
    assert.equal((await raw('PATCH /upload/x.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')).status, 405);
    assert.equal((await raw('BREW /pot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status, 400);
    assert.equal((await raw('\x00\x01\x02 garbage\r\n\r\n')).status, 400);
    const huge = await get('/sandbox.json', `X-Big: ${'a'.repeat(64 * 1024)}\r\n`);
    assert.equal(huge.status, 431);
    assert.equal((await get('/firmware/demo-2.0.0.bin', 'Range: bytes=99999999-\r\n')).status, 416);
    assert.equal((await get('/firmware/demo-2.0.0.bin', 'Range: bytes=oops\r\n')).status, 416);
    await stillServing();
  });

  test('a 128 MiB upload is hashed while it streams: the server never holds it in memory', async () => {
    const body = Buffer.alloc(128 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, i);
    const before = memory();
    const res = await fetch(`${base}/upload/big-upload.bin`, { method: 'PUT', body });
    assert.equal(res.status, 201);
    const info = await res.json();
    assert.equal(info.sha256, createHash('sha256').update(body).digest('hex'));
    // /sandbox.json describes files too: it must not read them whole either.
    await stillServing();
    const after = memory();
    console.log(`# 128 MiB upload: sandbox RSS ${before.rss.toFixed(0)} -> ${after.rss.toFixed(0)} MiB (peak ${after.peak.toFixed(0)} MiB)`);
    assert.ok(after.peak - before.peak < 64, `peak grew ${after.peak - before.peak} MiB`);
  });

  test('200 parallel Range downloads on loopback: every byte right, memory reported', async () => {
    const file = readFileSync(path.join(firmwareDir, 'demo-2.1.0.bin'));
    const before = memory();
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
      const start = (i * 20_011) % (file.length - 1);
      const res = await fetch(`${base}/firmware/demo-2.1.0.bin`, { headers: { Range: `bytes=${start}-` } });
      assert.equal(res.status, 206);
      const body = Buffer.from(await res.arrayBuffer());
      assert.ok(body.equals(file.subarray(start)), `download ${i} from ${start}`);
      return body.length;
    }));
    const seconds = (Date.now() - started) / 1000;
    const after = memory();
    const mib = results.reduce((a, b) => a + b, 0) / 1024 / 1024;
    console.log(`# 200 parallel Range downloads: ${mib.toFixed(0)} MiB in ${seconds.toFixed(1)} s; sandbox RSS ${before.rss.toFixed(0)} -> ${after.rss.toFixed(0)} MiB (peak ${after.peak.toFixed(0)} MiB)`);
    // Streams, not buffers: the server must not hold the 200 bodies (~400 MiB) in memory.
    assert.ok(after.peak < before.rss + 200, `peak ${after.peak} MiB`);
    await stillServing();
  });
});
