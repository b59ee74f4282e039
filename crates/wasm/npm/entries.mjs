// Writes the package's entries from the one export list (exports.json) and the one OtaError
// (ota_error.js), for each of its three WebAssembly modules: the core (`otalab`: web/index.js,
// node/index.cjs, node/index.mjs), the simulation (`otalab/sim`: web/sim.js, node/sim.cjs,
// node/sim.mjs) and the MQTT client (`otalab/mqtt`: web/mqtt.js, node/mqtt.cjs, node/mqtt.mjs).
// Browsers and bundlers call init(); Node CommonJS loads the WebAssembly synchronously and Node
// ESM re-exports the same instance. Every module throws the same OtaError.
// Usage (from scripts/build-npm): node crates/wasm/npm/entries.mjs OUT_DIR
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) throw new Error('usage: node entries.mjs OUT_DIR');
const exportsList = JSON.parse(readFileSync(path.join(here, 'exports.json'), 'utf8'));
const header = '// Written by crates/wasm/npm/entries.mjs from exports.json: edit those, not this file.\n';
const copy = (from, to, transform = (t) => t) => writeFileSync(path.join(out, to), header + transform(readFileSync(path.join(here, from), 'utf8')));
/** An ES module's source as CommonJS: `export class/function X` become module.exports. */
const toCommonJs = (source, exported) => `'use strict';\n${source.replace(/^export (class|function) /gm, '$1 ')}\nmodule.exports = { ${exported.join(', ')} };\n`;

// The error class: one source (ESM); the CommonJS copy is written from it.
const otaError = readFileSync(path.join(here, 'ota_error.js'), 'utf8');
if (!otaError.includes('export class OtaError')) throw new Error('ota_error.js must define `export class OtaError`');
copy('ota_error.js', 'web/ota_error.js');
copy('ota_error.js', 'node/ota_error.cjs', (t) => toCommonJs(t, ['OtaError']));

/**
 * Writes one entry's three files. `module`: the wasm-bindgen output's name; `names`: what it
 * exports from the module; `webSetup`/`nodeSetup`: code run once the module's classes are
 * there; `nodeOwn`: names the Node entries define in `nodeSetup` instead of taking the module's.
 */
function entry({ web, node, module, names, title, webImports = '', webSetup = '', nodeSetup = '', nodeOwn = [], own = [] }) {
  for (const n of [...nodeOwn, ...own]) if (!names.includes(n)) throw new Error(`exports.json lost ${n}`);
  const list = (indent) => names.map((n) => `${indent}${n},`).join('\n');
  const fromModule = names.filter((n) => !own.includes(n)).map((n) => `  ${n},`).join('\n');
  writeFileSync(path.join(out, `web/${web}`), `${header}// ${title}: browsers and bundlers; call the default export \`init()\` once before anything else.
import wasmInit, { initSync as wasmInitSync, __setErrorClass } from './${module}.js';
import { OtaError } from './ota_error.js';
${webImports}
export {
${fromModule}
} from './${module}.js';
export { OtaError };
${webSetup}${own.length ? `export { ${own.join(', ')} };\n` : ''}
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
  writeFileSync(path.join(out, `node/${node}.cjs`), `'use strict';
${header}// ${title}: Node (CommonJS); the WebAssembly module is loaded synchronously, no init call needed.
const wasm = require('./${module}.js');
const { OtaError } = require('./ota_error.cjs');
${nodeSetup}
wasm.__setErrorClass(OtaError);

/** Already initialised in Node; kept so code written for browsers runs unchanged. */
async function init() {}
function initSync() {}

module.exports = {
${names.map((n) => `  ${n}: ${nodeOwn.includes(n) || own.includes(n) ? n : `wasm.${n}`},`).join('\n')}
  OtaError,
  init,
  initSync,
  default: init,
};
`);
  writeFileSync(path.join(out, `node/${node}.mjs`), `${header}// ${title}: Node (ES module), the same instance as the CommonJS entry; no init call needed.
import entry from './${node}.cjs';

export const {
${list('  ')}
  OtaError, initSync,
} = entry;
export default entry.init;
`);
  console.log(`${title}: ${names.length} names from exports.json`);
}

// The core. In Node the firmware is hashed by node:crypto; the rules and errors stay the module's.
copy('node_verifier.cjs', 'node/node_verifier.cjs');
entry({
  title: 'otalab', web: 'index.js', node: 'index', module: 'otalab_wasm', names: exportsList.wasm,
  nodeSetup: "const { FirmwareVerifier, verifyFirmware } = require('./node_verifier.cjs').nodeVerifier(wasm);\n",
  nodeOwn: ['FirmwareVerifier', 'verifyFirmware'],
});

// The simulation. Scenario TOML is read and written by smol-toml (vendored beside the entries
// by scripts/build-npm: web/toml/, node/toml.cjs), as in the page.
// SimulatedDevice, Cloud, ConformanceSuite and mqttJsAdapter are JavaScript (sim_driver.js) over
// the module's sans-IO DeviceMachine, CloudMachine and SuiteMachine.
copy('sim_toml.js', 'web/sim_toml.js');
copy('sim_toml.js', 'node/sim_toml.cjs', (t) => toCommonJs(t, ['withToml']));
copy('sim_driver.js', 'web/sim_driver.js');
copy('sim_driver.js', 'node/sim_driver.cjs', (t) => toCommonJs(t, ['simDrivers']));
const drivers = ['SimulatedDevice', 'Cloud', 'ConformanceSuite', 'mqttJsAdapter'];
entry({
  title: 'otalab/sim', web: 'sim.js', node: 'sim', module: 'otalab_sim', names: exportsList.sim, own: drivers,
  webImports: "import * as toml from './toml/index.js';\nimport { withToml } from './sim_toml.js';\nimport { simDrivers } from './sim_driver.js';\nimport * as simWasm from './otalab_sim.js';\n",
  webSetup: `\nwithToml(simWasm.Scenario, toml, OtaError);\nconst { ${drivers.join(', ')} } = simDrivers(simWasm, OtaError);\n`,
  nodeSetup: `require('./sim_toml.cjs').withToml(wasm.Scenario, require('./toml.cjs'), OtaError);\nconst { ${drivers.join(', ')} } = require('./sim_driver.cjs').simDrivers(wasm, OtaError);\n`,
});

// otalab's MQTT client over WebSocket (the dashboard's), an adapter for otalab/sim as it is.
entry({ title: 'otalab/mqtt', web: 'mqtt.js', node: 'mqtt', module: 'otalab_mqtt', names: exportsList.mqtt });
