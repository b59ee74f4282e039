// The local sandbox: mosquitto with a WebSocket listener on 127.0.0.1, and one HTTP server for
// the dashboard, firmware files (Range, CORS), firmware uploads and deliberately broken URLs.
// Used by `scripts/run` and by the end-to-end tests.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, promises as fs, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

import { autoTopics, startAutoSubscribe } from './auto-subscribe.mjs';
import { startMosquitto } from './mosquitto.mjs';
import { ossError, parseRange, sendFile, sendJson, startStaticServer } from './static-server.mjs';

/** Firmware file names: no leading dot (no `..`, no hidden temporary uploads). */
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
const MAX_UPLOAD = 1024 * 1024 * 1024;
/** How fast `/slow/<name>` serves a file (bytes per second): a 1 MiB download takes 5 s. */
export const SLOW_RATE = 200 * 1024;

/** Deterministic demo firmware: `size` bytes from a linear congruential generator. */
export function demoFirmware(size, seed) {
  const bytes = Buffer.alloc(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

/** Size, MD5 and SHA-256 of a stream, hashed while it flows (constant memory). */
async function digestStream(stream) {
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    md5.update(chunk);
    sha256.update(chunk);
    size += chunk.length;
  }
  return { size, md5: md5.digest('hex'), sha256: sha256.digest('hex') };
}

/** Descriptions of files, hashed once per (name, size, mtime) while streaming from disk. */
const described = new Map();

async function describe(dir, name, url) {
  const file = path.join(dir, name);
  const stat = await fs.stat(file);
  const key = `${file}:${stat.size}:${stat.mtimeMs}`;
  if (!described.has(key)) described.set(key, digestStream(createReadStream(file)));
  return { name, url, ...(await described.get(key)) };
}

/** This machine's IPv4 addresses on its networks (not loopback). */
export function lanAddresses() {
  return Object.values(os.networkInterfaces()).flat()
    .filter((a) => a && a.family === 'IPv4' && !a.internal)
    .map((a) => a.address);
}

/**
 * Starts the sandbox. `dist` is the built dashboard (Trunk output). Ports 0 pick free ones;
 * `persistence` keeps the broker's sessions and queued QoS 1 messages across a restart.
 * `lan: true` binds the broker and the HTTP server on every interface for real devices, names
 * `lanHost` (default: this machine's first network address) in every URL it hands out, and
 * refuses uploads without the token it returns (`?token=` or the `X-Otalab-Token` header).
 * The plain MQTT port (`brokerPort`, `brokerUrl`) is the automatic subscription front
 * (`auto-subscribe.mjs`) before mosquitto, whose own plain listener (`broker.url`) stays on
 * 127.0.0.1; the WebSocket port is mosquitto's.
 * Returns `{ url, token, brokerWs, brokerUrl, mqttPort, firmwareDir, info, broker, front,
 * cutDownloads(), setDownloadRate(), stop() }`.
 */
export async function startSandbox({ dist, port = 0, brokerPort, brokerWsPort, persistence = false, log = () => {}, lan = false, lanHost } = {}) {
  const bind = lan ? '0.0.0.0' : '127.0.0.1';
  const host = lan ? (lanHost ?? lanAddresses()[0] ?? '127.0.0.1') : '127.0.0.1';
  const token = lan ? randomBytes(16).toString('hex') : null;
  const firmwareDir = mkdtempSync(path.join(os.tmpdir(), 'otalab-firmware-'));
  await fs.writeFile(path.join(firmwareDir, 'demo-2.0.0.bin'), demoFirmware(1024 * 1024, 1));
  await fs.writeFile(path.join(firmwareDir, 'demo-2.1.0.bin'), demoFirmware(4 * 1024 * 1024, 2));
  const broker = await startMosquitto({ wsPort: brokerWsPort, persistence, host: bind, plainHost: '127.0.0.1' });
  const front = await startAutoSubscribe({ upstreamPort: broker.port, port: brokerPort ?? 0, host: bind, log });
  const brokerWs = `ws://${host}:${broker.wsPort}`;
  const brokerTcp = `mqtt://${host}:${front.port}`;

  let base = '';
  const info = async () => ({
    brokerWs,
    brokerTcp,
    // What the plain MQTT port does for devices that never subscribe (Link SDK C).
    autoSubscribe: { port: front.port, topics: autoTopics('{productKey}', '{deviceName}') },
    ...(lan ? {
      lan: {
        host, addresses: lanAddresses(), mqttPort: front.port, wsPort: broker.wsPort, httpPort: Number(new URL(base).port),
        tls: false, anyLogin: true, tokenRequired: true,
      },
    } : {}),
    firmwareBase: `${base}/firmware/`,
    demo: [
      { version: '2.0.0', ...(await describe(firmwareDir, 'demo-2.0.0.bin', `${base}/firmware/demo-2.0.0.bin`)) },
      { version: '2.1.0', ...(await describe(firmwareDir, 'demo-2.1.0.bin', `${base}/firmware/demo-2.1.0.bin`)) },
    ],
    faults: {
      flaky: `${base}/flaky/`,
      expired: `${base}/expired/`,
      missing: `${base}/missing/`,
      slow: `${base}/slow/`,
    },
  });


  // Serves a firmware file, or the first half of it and then a reset connection (once per
  // request without Range or from byte 0): the device must resume with Range.
  const flaky = (req, res, name) => {
    const file = path.join(firmwareDir, name);
    if (!NAME.test(name) || !existsSync(file)) return ossError(res, 404, { key: `flaky/${name}` });
    const size = statSync(file).size;
    const range = req.headers.range ? parseRange(req.headers.range, size) : null;
    if (range && range.start > 0) {
      res.writeHead(206, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(range.end - range.start + 1),
        'Content-Range': `bytes ${range.start}-${range.end}/${size}`,
        'Accept-Ranges': 'bytes',
      });
      createReadStream(file, range).on('error', () => res.destroy()).pipe(res);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size), 'Accept-Ranges': 'bytes' });
    const half = Math.floor(size / 2);
    const stream = createReadStream(file, { start: 0, end: half - 1 }).on('error', () => res.destroy());
    stream.pipe(res, { end: false });
    stream.on('end', () => setTimeout(() => req.socket.destroy(), 50));
  };

  const handle = async (req, res, url) => {
    const [, section, name = ''] = url.pathname.split('/');
    if (url.pathname === '/sandbox.json') {
      sendJson(res, 200, await info());
      return true;
    }
    if (section === 'upload') {
      // On the network, nothing is written without the token printed at start.
      if (token && url.searchParams.get('token') !== token && req.headers['x-otalab-token'] !== token) {
        req.resume();
        sendJson(res, 401, { error: 'uploads need the token printed by scripts/run --lan (?token=… or X-Otalab-Token)' });
        return true;
      }
      if (req.method !== 'PUT' && req.method !== 'POST') {
        sendJson(res, 405, { error: 'uploads are PUT or POST' }, { Allow: 'PUT, POST, OPTIONS' });
        return true;
      }
      if (!NAME.test(name)) {
        sendJson(res, 400, { error: 'file names are 1-128 characters of A-Z a-z 0-9 . _ - and do not start with a dot' });
        return true;
      }
      const length = Number(req.headers['content-length'] ?? NaN);
      if (!(Number.isSafeInteger(length) && length >= 0 && length <= MAX_UPLOAD)) {
        sendJson(res, 413, { error: `uploads need a Content-Length of at most ${MAX_UPLOAD} bytes` });
        return true;
      }
      // Written to a temporary file and hashed while it streams; renamed over the name only
      // when every declared byte arrived, so a cut or lying upload leaves nothing behind and
      // two uploads of one name never mix (the last complete one wins, whole).
      const temporary = path.join(firmwareDir, `.upload-${randomBytes(8).toString('hex')}`);
      const md5 = createHash('md5');
      const sha256 = createHash('sha256');
      let size = 0;
      req.on('data', (chunk) => {
        md5.update(chunk);
        sha256.update(chunk);
        size += chunk.length;
      });
      try {
        await pipeline(req, createWriteStream(temporary, { flags: 'wx' }));
        if (size !== length || !req.complete) throw new Error(`received ${size} of ${length} bytes`);
        await fs.rename(temporary, path.join(firmwareDir, name));
      } catch (error) {
        await fs.rm(temporary, { force: true });
        log(`upload of ${name} failed: ${error.message}`);
        if (!res.headersSent && !res.destroyed) sendJson(res, 400, { error: `upload incomplete: ${error.message}` });
        return true;
      }
      sendJson(res, 201, {
        name, url: `${base}/firmware/${name}`, size, md5: md5.digest('hex'), sha256: sha256.digest('hex'),
      });
      return true;
    }
    if (section === 'flaky') {
      flaky(req, res, name);
      return true;
    }
    // Broken URLs answer as an expired or wrong OSS link does (XML body, Content-Length).
    if (section === 'expired') {
      req.resume();
      ossError(res, 403, { key: name });
      return true;
    }
    if (section === 'missing') {
      req.resume();
      ossError(res, 404, { key: name });
      return true;
    }
    // The firmware at SLOW_RATE: a download that stays in flight for seconds.
    if (section === 'slow') {
      const file = path.join(firmwareDir, name);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        ossError(res, 405, { key: name, headers: { Allow: 'GET, HEAD, OPTIONS' } });
        return true;
      }
      if (!NAME.test(name) || !existsSync(file)) {
        ossError(res, 404, { key: name });
        return true;
      }
      sendFile(req, res, file, statSync(file), { rate: SLOW_RATE, key: name });
      return true;
    }
    return false;
  };

  const server = await startStaticServer({ root: dist, mounts: { '/firmware/': firmwareDir }, port, host: bind, log, handle });
  base = `http://${host}:${server.port}`;
  return {
    url: base,
    token,
    brokerWs,
    brokerUrl: brokerTcp,
    mqttPort: front.port,
    front,
    firmwareDir,
    broker,
    info,
    /** Cuts every firmware download under way at once; returns how many were cut. */
    cutDownloads: () => server.cut('/firmware/'),
    /** Serves firmware at `bytesPerSec` from now on, like a slow link (0: full speed). */
    setDownloadRate: (bytesPerSec) => server.setRate('/firmware/', bytesPerSec),
    stop: async () => {
      await server.close();
      await front.close();
      await broker.stop();
    },
  };
}
