// Benchmark: streaming MD5 / SHA-256 throughput of otalab's FirmwareVerifier (in Node it hashes with
// node:crypto, in browsers with WebAssembly) against hash-wasm
// and node:crypto in Node, and against hash-wasm in headless Chromium, on the same 64 MiB in
// 1 MiB chunks, all measured in this run. Prints ratios (best of 5 after a warm-up).
// Usage: node bench/hash.mjs   (after scripts/build-npm)
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMD5, createSHA256 } from 'hash-wasm';

import { startStaticServer } from '../sandbox/static-server.mjs';
import { launchChromium } from '../tests/support/browser.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = path.join(repo, 'target/npm/otalab');
const require = createRequire(import.meta.url);
const { FirmwareVerifier } = require(path.join(pkg, 'node/index.cjs'));

const MIB = 1 << 20;
const TOTAL_MIB = 64;
const ROUNDS = 5;

// Shared with the page (serialised with toString): data, timing, the three contenders.
function makeChunks(totalMib, mib) {
  const chunks = [];
  let seed = 0x12345678;
  for (let c = 0; c < totalMib; c++) {
    const chunk = new Uint8Array(mib);
    for (let i = 0; i < mib; i += 4) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      chunk[i] = seed; chunk[i + 1] = seed >>> 8; chunk[i + 2] = seed >>> 16; chunk[i + 3] = seed >>> 24;
    }
    chunks.push(chunk);
  }
  return chunks;
}
function best(run, rounds, now) {
  run();
  let fastest = null;
  for (let i = 0; i < rounds; i++) {
    const start = now();
    const digest = run();
    const seconds = (now() - start) / 1000;
    if (!fastest || seconds < fastest.seconds) fastest = { seconds, digest };
  }
  return fastest;
}
function otalabRun(FirmwareVerifierClass, chunks, method, expected, total) {
  return () => {
    const v = new FirmwareVerifierClass({ size: total, signMethod: method, sign: expected });
    for (const c of chunks) v.update(c);
    const r = v.finish();
    v.free();
    if (!r.ok) throw new Error(`otalab ${method}: ${r.message}`);
    return r.digest;
  };
}
function hashWasmRun(hasher, chunks) {
  return () => { hasher.init(); for (const c of chunks) hasher.update(c); return hasher.digest('hex'); };
}

function row(engine, method, ours, theirs, crypto) {
  const mbps = (r) => (TOTAL_MIB / r.seconds).toFixed(0);
  return {
    engine, method,
    'otalab MiB/s': mbps(ours),
    'hash-wasm MiB/s': mbps(theirs),
    'otalab / hash-wasm': (theirs.seconds / ours.seconds).toFixed(2),
    'node:crypto MiB/s': crypto ? mbps(crypto) : '-',
    'otalab / node:crypto': crypto ? (crypto.seconds / ours.seconds).toFixed(2) : '-',
  };
}

const rows = [];
const chunks = makeChunks(TOTAL_MIB, MIB);
const now = () => performance.now();
const expected = {};
for (const [method, node, make] of [['MD5', 'md5', createMD5], ['SHA256', 'sha256', createSHA256]]) {
  const h = createHash(node);
  for (const c of chunks) h.update(c);
  expected[method] = h.digest('hex');
  const ours = best(otalabRun(FirmwareVerifier, chunks, method, expected[method], TOTAL_MIB * MIB), ROUNDS, now);
  const theirs = best(hashWasmRun(await make(), chunks), ROUNDS, now);
  const crypto = best(() => { const x = createHash(node); for (const c of chunks) x.update(c); return x.digest('hex'); }, ROUNDS, now);
  for (const r of [ours, theirs, crypto]) if (r.digest !== expected[method]) throw new Error(`${method} digest mismatch`);
  rows.push(row(`Node ${process.version}`, method, ours, theirs, crypto));
}

// Chromium: the package's web build and hash-wasm's ES module, served from this repository.
const server = await startStaticServer({ root: repo });
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}/bench/blank.html`);
  const version = await page.evaluate(() => navigator.userAgent.match(/Chrome\/[\d.]+/)[0]);
  const results = await page.evaluate(async ({ fns, totalMib, mib, rounds, expected }) => {
    const [makeChunksFn, bestFn, otalabRunFn, hashWasmRunFn] = fns.map((f) => new Function(`return (${f})`)());
    const otalab = await import('/target/npm/otalab/web/index.js');
    await otalab.default();
    const hw = await import('/node_modules/hash-wasm/dist/index.esm.js');
    const chunks = makeChunksFn(totalMib, mib);
    const now = () => performance.now();
    const out = {};
    for (const [method, make] of [['MD5', hw.createMD5], ['SHA256', hw.createSHA256]]) {
      const ours = bestFn(otalabRunFn(otalab.FirmwareVerifier, chunks, method, expected[method], totalMib * mib), rounds, now);
      const theirs = bestFn(hashWasmRunFn(await make(), chunks), rounds, now);
      if (ours.digest !== expected[method] || theirs.digest !== expected[method]) throw new Error(`${method} digest mismatch`);
      out[method] = { ours, theirs };
    }
    return out;
  }, { fns: [makeChunks, best, otalabRun, hashWasmRun].map(String), totalMib: TOTAL_MIB, mib: MIB, rounds: ROUNDS, expected });
  for (const method of ['MD5', 'SHA256']) rows.push(row(version, method, results[method].ours, results[method].theirs));
} finally {
  await browser.close();
  await server.close();
}

console.log(`${TOTAL_MIB} MiB in 1 MiB chunks, best of ${ROUNDS} after a warm-up; targets: in browsers (WebAssembly) MD5 >= 1.05x, SHA-256 >= 1.15x hash-wasm; in Node (node:crypto underneath) >= 0.9x node:crypto`);
console.table(rows);
