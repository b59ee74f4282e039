// The npm package's JavaScript API under generated arguments (tests/npm/properties.mjs), in Node
// with thousands of cases per call and in Chromium with fewer. Prints the cases tried per entry.
// Runs on the package as scripts/build-npm writes it (target/npm/otalab).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { propertyCases, documentedCodes } from './properties.mjs';
import { launchChromium } from '../support/browser.mjs';
import { startStaticServer } from '../../sandbox/static-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const pkg = path.join(repo, 'target/npm/otalab');
const NODE_RUNS = Number(process.env.OTALAB_PROPERTY_RUNS ?? 5000);
const BROWSER_RUNS = Math.max(1, Math.ceil(NODE_RUNS / 20));
const codes = documentedCodes(readFileSync(path.join(repo, 'crates/wasm/npm/README.md'), 'utf8'));

/** Cases tried per entry, from `{ name: count }`. */
function perEntry(counts) {
  const entries = {};
  for (const [name, count] of Object.entries(counts)) {
    const entry = name.split(' ')[0];
    entries[entry] = (entries[entry] ?? 0) + count;
  }
  return entries;
}

describe('property tests', () => {
  test('the package is built', () => {
    assert.ok(existsSync(path.join(pkg, 'node/index.mjs')), 'run scripts/build-npm first');
    assert.ok(codes.has('INVALID_ARGUMENT') && codes.has('SCENARIO_INVALID') && codes.has('MQTT_INVALID_TOPIC'), 'the README lists the codes');
  });

  test(`Node: every call of every entry, ${NODE_RUNS} generated argument lists each`, async () => {
    const lib = await import(path.join(pkg, 'node/index.mjs'));
    const sim = await import(path.join(pkg, 'node/sim.mjs'));
    const mqtt = await import(path.join(pkg, 'node/mqtt.mjs'));
    const counts = {};
    for (const [name, run] of Object.entries(propertyCases({ fc, lib, sim, mqtt, codes, runs: NODE_RUNS }))) {
      counts[name] = await run();
    }
    console.log(`property cases in Node: ${JSON.stringify(perEntry(counts))}`);
    assert.ok(Object.values(counts).every((n) => n > 0));
  });

  describe('Chromium', () => {
    let browser;
    before(async () => { browser = await launchChromium(); });
    after(async () => { await browser?.close(); });

    test(`a page: every call of every entry, ${BROWSER_RUNS} generated argument lists each`, async () => {
      // fast-check's ES module and the pure-rand modules it imports, by an import map.
      const fastCheck = readFileSync(path.join(repo, 'node_modules/fast-check/lib/fast-check.js'), 'utf8');
      const imports = { 'fast-check': '/node_modules/fast-check/lib/fast-check.js' };
      for (const [, specifier] of fastCheck.matchAll(/from "(pure-rand\/[^"]+)"/g)) {
        imports[specifier] = `/node_modules/pure-rand/lib/esm/${specifier.slice('pure-rand/'.length)}.js`;
      }
      const html = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="importmap">${JSON.stringify({ imports })}</script>
<script type="module">
import fc from 'fast-check';
import init, * as lib from '/target/npm/otalab/web/index.js';
import simInit, * as sim from '/target/npm/otalab/web/sim.js';
import mqttInit, * as mqtt from '/target/npm/otalab/web/mqtt.js';
import { propertyCases } from '/tests/npm/properties.mjs';
try {
  await init(); await simInit(); await mqttInit();
  const codes = new Set(JSON.parse(decodeURIComponent(location.hash.slice(1))));
  const counts = {};
  for (const [name, run] of Object.entries(propertyCases({ fc, lib, sim, mqtt, codes, runs: ${BROWSER_RUNS} }))) counts[name] = await run();
  window.__results = { counts };
} catch (e) {
  window.__results = { error: String(e && e.stack || e) };
}
</script>`;
      const page = (req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end(html); };
      const server = await startStaticServer({ root: repo, routes: { '/properties.html': page } });
      try {
        const tab = await browser.newPage();
        const errors = [];
        tab.on('pageerror', (e) => errors.push(String(e)));
        await tab.goto(`${server.url}/properties.html#${encodeURIComponent(JSON.stringify([...codes]))}`);
        await tab.waitForFunction(() => window.__results !== undefined, null, { timeout: 600_000 });
        const results = await tab.evaluate(() => window.__results);
        await tab.close();
        assert.equal(results.error, undefined, results.error);
        assert.deepEqual(errors, []);
        console.log(`property cases in Chromium: ${JSON.stringify(perEntry(results.counts))}`);
      } finally {
        await server.close();
      }
    });
  });
});
