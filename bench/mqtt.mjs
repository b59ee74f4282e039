// Benchmark: MQTT over WebSocket from headless Chromium to a local mosquitto.
// 1. Messages per second, QoS 0 and QoS 1, 16-byte payloads: the Rust client (otalab-browser,
//    release build) against MQTT.js 5 in the same page, in the same run. Each client publishes
//    N messages to a topic it subscribes to itself; time runs until all N came back through
//    the broker (and, for QoS 1, until every PUBACK arrived).
// 2. Connection ramp: K connections opened one after another (each waits for CONNACK), per
//    second, for both clients.
// Usage: node bench/mqtt.mjs [N=5000] [K=100]   (builds the release harness itself)
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startMosquitto } from '../sandbox/mosquitto.mjs';
import { startStaticServer } from '../sandbox/static-server.mjs';
import { launchChromium } from '../tests/support/browser.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.argv[2] ?? 5000);
const K = Number(process.argv[3] ?? 100);
const ROUNDS = 3;

execFileSync('bash', ['scripts/build-harness', '--release'], { cwd: repo, stdio: 'inherit' });
const broker = await startMosquitto();
const server = await startStaticServer({ root: repo });
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}/target/harness/index.html`);
  await page.waitForFunction(() => window.harnessReady === true);
  const result = await page.evaluate(async ({ url, N, K, ROUNDS }) => {
    const mqtt = (await import('/node_modules/mqtt/dist/mqtt.esm.js')).default;
    const payload = 'x'.repeat(16);
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const waitFor = async (pred) => { while (!pred()) await new Promise((r) => setTimeout(r, 0)); };

    async function rust(qos, round) {
      const h = new window.Harness(url, `rust-${qos}-${round}`, undefined, undefined, 60, 500, 5000);
      h.setRecord(false);
      h.connect();
      await waitFor(() => h.state() === 'connected');
      const topic = `bench/rust/${qos}/${round}`;
      await h.subscribe(topic, qos);
      const start = performance.now();
      const acks = [];
      for (let i = 0; i < N; i++) {
        if (qos === 1) acks.push(h.publish(topic, payload, 1)); else h.publishNoWait(topic, payload, 0);
      }
      await Promise.all(acks);
      await waitFor(() => h.received() >= N);
      const ms = performance.now() - start;
      h.disconnect();
      h.free();
      return ms;
    }

    async function mqttjs(qos, round) {
      const c = await mqtt.connectAsync(url, { clientId: `js-${qos}-${round}`, protocolVersion: 4, reconnectPeriod: 0 });
      const topic = `bench/js/${qos}/${round}`;
      await c.subscribeAsync(topic, { qos });
      let received = 0;
      c.on('message', () => { received++; });
      const start = performance.now();
      const acks = [];
      for (let i = 0; i < N; i++) acks.push(c.publishAsync(topic, payload, { qos }));
      await Promise.all(acks);
      await waitFor(() => received >= N);
      const ms = performance.now() - start;
      await c.endAsync(true);
      return ms;
    }

    async function rampRust() {
      const clients = [];
      const start = performance.now();
      for (let i = 0; i < K; i++) {
        const h = new window.Harness(url, `ramp-rust-${i}`, undefined, undefined, 60, 500, 5000);
        h.connect();
        await waitFor(() => h.state() === 'connected');
        clients.push(h);
      }
      const ms = performance.now() - start;
      for (const h of clients) { h.disconnect(); h.free(); }
      return ms;
    }

    async function rampJs() {
      const clients = [];
      const start = performance.now();
      for (let i = 0; i < K; i++) {
        clients.push(await mqtt.connectAsync(url, { clientId: `ramp-js-${i}`, protocolVersion: 4, reconnectPeriod: 0 }));
      }
      const ms = performance.now() - start;
      await Promise.all(clients.map((c) => c.endAsync(true)));
      return ms;
    }

    const best = async (fn) => { let b = Infinity; for (let r = 0; r < ROUNDS; r++) { b = Math.min(b, await fn(r)); await sleep(200); } return b; };
    const out = { ua: navigator.userAgent.match(/Chrome\/[\d.]+/)[0] };
    for (const qos of [0, 1]) {
      out[`rust${qos}`] = await best((r) => rust(qos, r));
      out[`js${qos}`] = await best((r) => mqttjs(qos, r));
    }
    out.rampRust = await rampRust();
    await sleep(500);
    out.rampJs = await rampJs();
    return out;
  }, { url: broker.wsUrl, N, K, ROUNDS });

  const rate = (ms, n) => Math.round((n * 1000) / ms);
  const rows = [0, 1].map((qos) => ({
    test: `QoS ${qos}, ${N} msgs round trip`,
    'otalab msg/s': rate(result[`rust${qos}`], N),
    'MQTT.js msg/s': rate(result[`js${qos}`], N),
    'otalab / MQTT.js': (result[`js${qos}`] / result[`rust${qos}`]).toFixed(2),
  }));
  rows.push({
    test: `${K} sequential connections`,
    'otalab msg/s': `${rate(result.rampRust, K)} conn/s`,
    'MQTT.js msg/s': `${rate(result.rampJs, K)} conn/s`,
    'otalab / MQTT.js': (result.rampJs / result.rampRust).toFixed(2),
  });
  console.log(`${result.ua}, mosquitto over ws://127.0.0.1, best of ${ROUNDS}; target: >= 1.0x MQTT.js`);
  console.table(rows);
} finally {
  await browser.close();
  await server.close();
  await broker.stop();
}
