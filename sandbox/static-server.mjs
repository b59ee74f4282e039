// A static file server for tests and the sandbox: correct MIME types (application/wasm),
// CORS, HEAD, and single-range `Range: bytes=a-b` requests (206 / 416). Only files under `root`
// are served; malformed paths are 400, traversal attempts never leave the root, unknown methods
// are 405, oversized request heads 431, and no request can crash the process. Optional `routes` (path -> handler(req, res)) and `handle(req, res, url)` (returns
// true when it answered) run first: uploads, fault injection.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';

export const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** Parses `bytes=a-b`, `bytes=a-`, `bytes=-n` against `size`; null when unsatisfiable or malformed. */
export function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start;
  let end;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return null;
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return null;
  return { start, end };
}

function cors(res) {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Headers', 'Range, Content-Type');
  res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, PUT, OPTIONS');
  res.setHeader('Access-Control-Expose-Headers', 'Content-Length, Content-Range, Accept-Ranges, ETag');
}

/**
 * Maps a URL path onto a file under `base`, or returns null: a malformed escape (`/%`), a NUL
 * byte, or anything that resolves outside `base` (`..`, `%2e%2e`, `..%2F`, and siblings that
 * merely share `base` as a prefix, like `dist-secret` next to `dist`).
 */
export function resolveInside(base, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  // Hidden files (temporary uploads, dotfiles) are never served.
  if (decoded.split(/[\\/]/).some((segment) => segment.startsWith('.') && segment !== '.')) return null;
  const file = path.resolve(base, `.${path.posix.sep}${decoded}`);
  const relative = path.relative(base, file);
  const outside = relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);
  return outside ? null : file;
}

/** OSS's error code and message for each status the servers answer with. */
const OSS_ERRORS = {
  400: ['InvalidArgument', 'The request is not valid.'],
  403: ['AccessDenied', 'Request has expired.'],
  404: ['NoSuchKey', 'The specified key does not exist.'],
  405: ['MethodNotAllowed', 'The specified method is not allowed against this resource.'],
  416: ['InvalidRange', 'The requested range cannot be satisfied.'],
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
};

function xmlText(text) {
  return String(text).replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Answers an error as Alibaba Cloud OSS does: an XML `<Error>` body (Code, Message, RequestId,
 * HostId, the object's Key) with a Content-Length (never chunked: Link SDK C only sees the
 * status of a reply that has a Content-Length and a body), `x-oss-request-id` and
 * `Server: AliyunOSS`. `message` overrides the standard text; `headers` are added (Allow,
 * Content-Range). A response already under way is cut instead.
 */
export function ossError(res, status, { key = '', message, headers = {} } = {}) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const [code, text] = OSS_ERRORS[status] ?? ['InternalError', 'error'];
  const requestId = randomBytes(12).toString('hex').toUpperCase();
  const body = Buffer.from([
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Error>',
    `  <Code>${code}</Code>`,
    `  <Message>${xmlText(message ?? text)}</Message>`,
    `  <RequestId>${requestId}</RequestId>`,
    '  <HostId>otalab-sandbox</HostId>',
    ...(key ? [`  <Key>${xmlText(key)}</Key>`] : []),
    '</Error>',
    '',
  ].join('\n'));
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/xml',
    'Content-Length': String(body.length),
    'x-oss-request-id': requestId,
    Server: 'AliyunOSS',
  }).end(body);
}

/** Answers `status` as OSS would ([`ossError`]) unless a response already started; then drops
 * the connection. */
export function fail(res, status, message) {
  ossError(res, status, { message });
}

/** Answers `body` (an object, as JSON) with its Content-Length. */
export function sendJson(res, status, body, headers = {}) {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(bytes.length) }).end(bytes);
}

/** Passes bytes on at most `rate` bytes per second (a slow link). */
function slowly(rate) {
  const start = Date.now();
  let sent = 0;
  return new Transform({
    transform(chunk, _encoding, done) {
      sent += chunk.length;
      const wait = start + (sent / rate) * 1000 - Date.now();
      setTimeout(() => done(null, chunk), Math.max(0, wait));
    },
  });
}

/**
 * Sends `file` (its `stat`) for GET or HEAD with single-range `Range` support (206, or 416 as
 * OSS answers it), an ETag and `Accept-Ranges`; `rate` (bytes per second) sends it like a
 * slow link.
 */
export function sendFile(req, res, file, stat, { rate = 0, key = '' } = {}) {
  const headers = {
    'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'no-cache',
    ETag: `"${stat.size.toString(16)}-${stat.mtimeMs.toString(16)}"`,
  };
  let start = 0;
  let end = stat.size - 1;
  let status = 200;
  if (req.headers.range) {
    const range = parseRange(req.headers.range, stat.size);
    if (!range) {
      ossError(res, 416, { key, headers: { 'Content-Range': `bytes */${stat.size}` } });
      return;
    }
    ({ start, end } = range);
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${stat.size}`;
  }
  headers['Content-Length'] = String(stat.size === 0 ? 0 : end - start + 1);
  if (req.method === 'HEAD' || stat.size === 0) {
    res.writeHead(status, headers).end();
    return;
  }
  const stream = createReadStream(file, { start, end });
  stream.once('error', () => fail(res, 500));
  stream.once('open', () => {
    res.writeHead(status, headers);
    if (rate) stream.pipe(slowly(rate)).pipe(res);
    else stream.pipe(res);
  });
  res.once('close', () => stream.destroy());
}

/** Largest request head accepted (bigger: 431). */
export const MAX_HEADER_BYTES = 16 * 1024;

/** Starts serving `root` on `host`:`port` (127.0.0.1, 0 = any). Returns `{ port, url, server, close() }`. */
export async function startStaticServer({ root, mounts = {}, port = 0, host = '127.0.0.1', routes = {}, handle, log = () => {} }) {
  // `mounts` serves other directories under a path prefix, e.g. { '/firmware/': dir }.
  const roots = [
    ...Object.entries(mounts).map(([prefix, dir]) => [prefix, path.resolve(dir)]),
    ['/', path.resolve(root)],
  ];
  const streaming = new Set(); // { path, res } of file bodies being sent
  const rates = new Map(); // path prefix -> bytes per second for file bodies (a slow link)
  const serve = async (req, res) => {
    cors(res);
    const url = new URL(req.url, 'http://127.0.0.1');
    log(`${req.method} ${url.pathname} ${req.headers.range ?? ''}`);
    if (req.method === 'OPTIONS') {
      res.writeHead(204);
      res.end();
      return;
    }
    const route = routes[url.pathname];
    if (route) {
      await route(req, res, url);
      return;
    }
    if (handle && (await handle(req, res, url))) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      ossError(res, 405, { key: url.pathname, headers: { Allow: 'GET, HEAD, OPTIONS' } });
      return;
    }
    const [prefix, base] = roots.find(([p]) => url.pathname.startsWith(p));
    let file = resolveInside(base, url.pathname.slice(prefix.length));
    if (!file) {
      fail(res, 400, 'bad path');
      return;
    }
    let stat;
    try {
      stat = await fs.stat(file);
      if (stat.isDirectory()) {
        file = path.join(file, 'index.html');
        stat = await fs.stat(file);
      }
      if (!stat.isFile()) throw new Error('not a file');
    } catch {
      ossError(res, 404, { key: url.pathname });
      return;
    }
    const rate = [...rates].find(([p]) => url.pathname.startsWith(p))?.[1];
    const entry = { path: url.pathname, res };
    streaming.add(entry);
    res.once('close', () => streaming.delete(entry));
    sendFile(req, res, file, stat, { rate, key: url.pathname });
  };
  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    // Nothing a request does may end the process: every failure becomes a status or a close.
    serve(req, res).catch((error) => {
      log(`error ${req.method} ${req.url}: ${error?.message ?? error}`);
      fail(res, 500, 'internal error');
    });
  });
  server.on('clientError', (error, socket) => {
    if (!socket.writable) return socket.destroy();
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actual = server.address().port;
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    server,
    /** Serves files under `prefix` at `bytesPerSec` from now on (0: full speed). */
    setRate: (prefix, bytesPerSec) => (bytesPerSec > 0 ? rates.set(prefix, bytesPerSec) : rates.delete(prefix)),
    /** Cuts every file download under `prefix` at once (a network fault); returns how many. */
    cut: (prefix = '/') => {
      let count = 0;
      for (const entry of [...streaming]) {
        if (entry.path.startsWith(prefix)) {
          entry.res.socket?.destroy();
          count += 1;
        }
      }
      return count;
    },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}
