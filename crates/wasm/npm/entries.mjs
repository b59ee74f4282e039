// Writes the package's entries from the one export list (exports.json) and the one OtaError
// (ota_error.js): web/index.js (browsers, bundlers), node/index.cjs (Node CommonJS, which loads
// the WebAssembly synchronously) and node/index.mjs (Node ESM, the same instance).
// Usage (from scripts/build-npm): node crates/wasm/npm/entries.mjs OUT_DIR
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) throw new Error('usage: node entries.mjs OUT_DIR');
const { wasm: names } = JSON.parse(readFileSync(path.join(here, 'exports.json'), 'utf8'));
const list = (indent) => names.map((n) => `${indent}${n},`).join('\n');
const header = '// Written by crates/wasm/npm/entries.mjs from exports.json: edit those, not this file.\n';

// The error class: one source (ESM); the CommonJS copy is written from it.
const otaError = readFileSync(path.join(here, 'ota_error.js'), 'utf8');
if (!otaError.includes('export class OtaError')) throw new Error('ota_error.js must define `export class OtaError`');
writeFileSync(path.join(out, 'web/ota_error.js'), header + otaError);
writeFileSync(path.join(out, 'node/ota_error.cjs'),
  `'use strict';\n${header}${otaError.replace('export class OtaError', 'class OtaError')}\nmodule.exports = { OtaError };\n`);

writeFileSync(path.join(out, 'web/index.js'), `${header}// Browser and bundler entry: call the default export \`init()\` once before anything else.
import wasmInit, { initSync as wasmInitSync, __setErrorClass } from './otalab_wasm.js';
import { OtaError } from './ota_error.js';

export {
${list('  ')}
} from './otalab_wasm.js';
export { OtaError };

let ready;

/** Loads the WebAssembly module (from next to this file, or from \`input\`: URL, Response, bytes or Module). */
export default function init(input) {
  if (!ready) {
    ready = wasmInit(input === undefined ? undefined : { module_or_path: input }).then(() => {
      __setErrorClass(OtaError);
    });
  }
  return ready;
}

/** Synchronous init from wasm bytes or a compiled \`WebAssembly.Module\`. */
export function initSync(module) {
  wasmInitSync({ module });
  __setErrorClass(OtaError);
}
`);

// Names the Node entries take from node_verifier.cjs instead of the WebAssembly module.
const nodeOwn = new Set(['FirmwareVerifier', 'verifyFirmware']);
for (const n of nodeOwn) if (!names.includes(n)) throw new Error(`exports.json lost ${n}`);
writeFileSync(path.join(out, 'node/node_verifier.cjs'), readFileSync(path.join(here, 'node_verifier.cjs'), 'utf8'));

writeFileSync(path.join(out, 'node/index.cjs'), `'use strict';
${header}// Node (CommonJS) entry: the WebAssembly module is loaded synchronously; no init call needed.
const wasm = require('./otalab_wasm.js');
const { OtaError } = require('./ota_error.cjs');
// In Node the bytes are hashed by node:crypto; the rules and errors stay the module's.
const { FirmwareVerifier, verifyFirmware } = require('./node_verifier.cjs').nodeVerifier(wasm);

wasm.__setErrorClass(OtaError);

/** Already initialised in Node; kept so code written for browsers runs unchanged. */
async function init() {}
function initSync() {}

module.exports = {
${names.map((n) => `  ${n}: ${nodeOwn.has(n) ? n : `wasm.${n}`},`).join('\n')}
  OtaError,
  init,
  initSync,
  default: init,
};
`);

writeFileSync(path.join(out, 'node/index.mjs'), `${header}// Node (ES module) entry: the same instance as the CommonJS entry; no init call needed.
import otalab from './index.cjs';

export const {
${list('  ')}
  OtaError, initSync,
} = otalab;
export default otalab.init;
`);
console.log(`entries written: ${names.length} names from exports.json`);
