// Streaming MD5/SHA-256 throughput in Node: otalab's FirmwareVerifier against hash-wasm and
// node:crypto on the same 64 MiB in 1 MiB chunks, measured in this run. Prints ratios.
// Usage: node bench/hash-node.mjs [path to the built package, default target/npm/otalab]
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createMD5, createSHA256 } from 'hash-wasm';

const require = createRequire(import.meta.url);
const pkg = path.resolve(process.argv[2] ?? 'target/npm/otalab');
const { FirmwareVerifier } = require(path.join(pkg, 'node/index.cjs'));

const MIB = 1 << 20;
const TOTAL = 64 * MIB;
const chunks = [];
let seed = 0x12345678;
for (let c = 0; c < TOTAL / MIB; c++) {
  const chunk = new Uint8Array(MIB);
  for (let i = 0; i < MIB; i += 4) {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    chunk[i] = seed; chunk[i + 1] = seed >>> 8; chunk[i + 2] = seed >>> 16; chunk[i + 3] = seed >>> 24;
  }
  chunks.push(chunk);
}

function time(run) {
  const start = process.hrtime.bigint();
  const digest = run();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, digest };
}
/** Best of `rounds` runs (after one warm-up) to damp noise on a shared machine. */
function best(run, rounds = 5) {
  run();
  let fastest = null;
  for (let i = 0; i < rounds; i++) {
    const r = time(run);
    if (!fastest || r.seconds < fastest.seconds) fastest = r;
  }
  return fastest;
}

const results = [];
for (const [method, node, makeWasm] of [['MD5', 'md5', createMD5], ['SHA256', 'sha256', createSHA256]]) {
  const reference = createHash(node);
  for (const c of chunks) reference.update(c);
  const expected = reference.digest('hex');
  const hw = await makeWasm();
  const ours = best(() => {
    const v = new FirmwareVerifier({ size: TOTAL, signMethod: method, sign: expected });
    for (const c of chunks) v.update(c);
    const r = v.finish();
    v.free();
    if (!r.ok) throw new Error(`otalab ${method} failed: ${r.message}`);
    return r.digest;
  });
  const hashWasm = best(() => { hw.init(); for (const c of chunks) hw.update(c); return hw.digest('hex'); });
  const crypto = best(() => { const h = createHash(node); for (const c of chunks) h.update(c); return h.digest('hex'); });
  for (const r of [ours, hashWasm, crypto]) {
    if (r.digest !== expected) throw new Error(`${method}: digest mismatch ${r.digest} != ${expected}`);
  }
  const mbps = (r) => (TOTAL / MIB / r.seconds).toFixed(0);
  results.push({
    method,
    'otalab MiB/s': mbps(ours),
    'hash-wasm MiB/s': mbps(hashWasm),
    'node:crypto MiB/s': mbps(crypto),
    'otalab / hash-wasm': (hashWasm.seconds / ours.seconds).toFixed(2),
    'otalab / node:crypto': (crypto.seconds / ours.seconds).toFixed(2),
  });
}
console.log(`Node ${process.version}, 64 MiB in 1 MiB chunks, best of 5`);
console.table(results);
