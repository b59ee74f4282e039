// In Node the package's FirmwareVerifier and verifyFirmware hash with node:crypto; browsers keep
// the WebAssembly verifier. These tests hold the two to the same results and the same errors,
// case by case, over random files, chunkings, sizes and expectations (both from the built
// package in target/npm/otalab).
// Usage: node --test tests/npm/verifier.test.mjs   (after scripts/build-npm)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
const pkg = require(path.join(repo, 'target/npm/otalab/node/index.cjs'));
const wasm = require(path.join(repo, 'target/npm/otalab/node/otalab_wasm.js'));

/** A deterministic generator, so that a failure can be replayed. */
function random(seed) {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** What a call did: its value, or the thrown error's name, code, message and details. */
function outcome(call) {
  try {
    return { value: call() };
  } catch (e) {
    const { name, code, message, ...details } = e;
    return { error: { name, code, message, ...details } };
  }
}

/** Runs one streaming case on a verifier class and records every step's outcome. */
function stream(Class, expected, chunks, extra) {
  const steps = [];
  const made = outcome(() => new Class(expected));
  steps.push(made.error ?? 'made');
  if (made.error) return steps;
  const v = made.value;
  for (const chunk of chunks) steps.push(outcome(() => v.update(chunk)), v.received);
  steps.push(outcome(() => v.finish()), v.received);
  for (const after of extra) steps.push(outcome(after(v)));
  v.free();
  return steps;
}

test('the Node entries hash with node:crypto, not the WebAssembly class', () => {
  assert.notEqual(pkg.FirmwareVerifier, wasm.FirmwareVerifier);
  assert.notEqual(pkg.verifyFirmware, wasm.verifyFirmware);
  // Still the package's error class for everything thrown.
  const e = outcome(() => new pkg.FirmwareVerifier({ size: 1, signMethod: 'SHA1', sign: 'x' })).error;
  assert.equal(e.code, 'UNKNOWN_SIGN_METHOD');
  assert.throws(() => new pkg.FirmwareVerifier({ size: 1, signMethod: 'SHA1', sign: 'x' }), pkg.OtaError);
});

test('Node and WebAssembly verifiers agree on 300 random streams', () => {
  const next = random(20261205);
  for (let round = 0; round < 300; round++) {
    const length = next(5) === 0 ? 0 : next(200_000);
    const data = new Uint8Array(length);
    for (let i = 0; i < length; i++) data[i] = next(256);
    const method = ['MD5', 'SHA256', 'md5', 'sha256'][next(4)];
    const algorithm = method.toLowerCase() === 'md5' ? 'md5' : 'sha256';
    let sign = createHash(algorithm).update(data).digest('hex');
    if (next(2)) sign = sign.toUpperCase();
    if (next(6) === 0) sign = sign.replace(/^./, (c) => (c === '0' ? '1' : '0')); // a wrong digest
    let size = length;
    const drift = next(8);
    if (drift === 0) size = Math.max(0, length - 1 - next(100)); // the file runs long
    if (drift === 1) size = length + 1 + next(100); // the file runs short
    // Uneven chunks, some empty, some ArrayBuffers.
    const chunks = [];
    for (let at = 0; at < length;) {
      const n = Math.min(length - at, next(70_000));
      const piece = data.slice(at, at + n);
      chunks.push(next(5) === 0 ? piece.buffer : piece);
      at += n;
    }
    const expected = { size, signMethod: method, sign };
    const extra = [(v) => () => v.update(new Uint8Array(1)), (v) => () => v.finish()];
    const nodeSide = stream(pkg.FirmwareVerifier, expected, chunks, extra);
    const wasmSide = stream(wasm.FirmwareVerifier, expected, chunks, extra);
    assert.deepEqual(nodeSide, wasmSide, `round ${round}: ${JSON.stringify(expected)}`);
    const whole = outcome(() => pkg.verifyFirmware(data, expected));
    assert.deepEqual(whole, outcome(() => wasm.verifyFirmware(data, expected)), `round ${round}: verifyFirmware`);
    // A whole buffer and a stream end alike unless the stream stopped at SIZE_EXCEEDED.
    if (size >= length) assert.deepEqual(whole, nodeSide.at(-4), `round ${round}: whole = stream`);
  }
});

test('Node and WebAssembly verifiers refuse bad arguments alike', () => {
  const hello = new TextEncoder().encode('hello');
  const md5 = createHash('md5').update(hello).digest('hex');
  const expectations = [
    undefined, null, 5, 'MD5', [], {},
    { size: 5, signMethod: 'MD5' },
    { size: 5, sign: md5 },
    { size: -1, signMethod: 'MD5', sign: md5 },
    { size: 2.5, signMethod: 'MD5', sign: md5 },
    { size: 2 ** 60, signMethod: 'MD5', sign: md5 },
    { size: '5', signMethod: 'MD5', sign: md5 },
    { size: 5, signMethod: 'SHA1', sign: md5 },
    { size: 5, signMethod: 7, sign: md5 },
    { size: 5, signMethod: 'MD5', sign: 'xyz' },
    { size: 5, signMethod: 'SHA256', sign: md5 },
    { size: 5, signMethod: 'MD5', sign: md5 },
  ];
  const chunks = ['hello', [1, 2], 5, null, undefined, new DataView(new ArrayBuffer(2)), new Int8Array(2), hello];
  for (const expected of expectations) {
    for (const chunk of chunks) {
      assert.deepEqual(stream(pkg.FirmwareVerifier, expected, [chunk], []), stream(wasm.FirmwareVerifier, expected, [chunk], []),
        `expected ${JSON.stringify(expected)}, chunk ${String(chunk)}`);
      assert.deepEqual(outcome(() => pkg.verifyFirmware(chunk, expected)), outcome(() => wasm.verifyFirmware(chunk, expected)),
        `verifyFirmware(${String(chunk)}, ${JSON.stringify(expected)})`);
    }
  }
});
