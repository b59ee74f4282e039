// A static file server for tests and the sandbox: correct MIME types (application/wasm),
// CORS, HEAD, and single-range `Range: bytes=a-b` requests (206 / 416). Only files under `root`
// are served. Optional `routes` (path -> handler(req, res)) and `handle(req, res, url)` (returns
// true when it answered) run first: uploads, fault injection.
import http from 'node:http';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';

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

/** Starts serving `root` on 127.0.0.1:`port` (0 = any). Returns `{ port, url, close() }`. */
export async function startStaticServer({ root, mounts = {}, port = 0, routes = {}, handle, log = () => {} }) {
  // `mounts` serves other directories under a path prefix, e.g. { '/firmware/': dir }.
  const roots = [
    ...Object.entries(mounts).map(([prefix, dir]) => [prefix, path.resolve(dir)]),
    ['/', path.resolve(root)],
  ];
  const server = http.createServer(async (req, res) => {
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
      route(req, res, url);
      return;
    }
    if (handle && (await handle(req, res, url))) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD, OPTIONS' }).end();
      return;
    }
    const [prefix, base] = roots.find(([p]) => url.pathname.startsWith(p));
    let file = path.join(base, decodeURIComponent(url.pathname.slice(prefix.length - 1)));
    if (!file.startsWith(base)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    try {
      let stat = await fs.stat(file);
      if (stat.isDirectory()) {
        file = path.join(file, 'index.html');
        stat = await fs.stat(file);
      }
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
          res.writeHead(416, { ...headers, 'Content-Range': `bytes */${stat.size}` }).end();
          return;
        }
        ({ start, end } = range);
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${stat.size}`;
      }
      headers['Content-Length'] = String(stat.size === 0 ? 0 : end - start + 1);
      res.writeHead(status, headers);
      if (req.method === 'HEAD' || stat.size === 0) {
        res.end();
        return;
      }
      createReadStream(file, { start, end }).pipe(res);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const actual = server.address().port;
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}
