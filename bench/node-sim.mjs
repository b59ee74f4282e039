// The baseline of bench/runner: the same OTA scenario as `otalab run`, written the way a Node
// developer would with MQTT.js and node:crypto: one MQTT.js client per device, fetch() for the
// firmware streamed through createHash('md5'), progress every `cadence` percent, a flash
// delay, a reboot (the client ends, a new one connects after the delay), the new version
// reported; and, in the same process like the runner's, a cloud client that pushes one
// notice per device and counts a device as succeeded when it reports the target version.
// Opens at most 64 connections and runs at most 64 downloads at once, as the runner does.
// Usage: node bench/node-sim.mjs '{"broker":..., "url":..., "md5":..., "size":..., "n":...}'
// Prints one JSON line: { connectedMs, succeededMs, failed, maxRssKib }.
import { createHash } from 'node:crypto';

import mqtt from 'mqtt';

const cfg = JSON.parse(process.argv[2]);
const { broker, url, md5, size, n } = cfg;
const cadence = cfg.cadence ?? 10;
const flashMs = cfg.flashMs ?? 100;
const rebootMs = cfg.rebootMs ?? 100;
const PK = 'a1Node';
const start = Date.now();

/** A counting semaphore. */
function limiter(max) {
  let active = 0;
  const waiting = [];
  return {
    async take() {
      if (active >= max) await new Promise((r) => waiting.push(r));
      active++;
    },
    give() {
      active--;
      waiting.shift()?.();
    },
  };
}
const opening = limiter(64);
const downloads = limiter(cfg.downloads ?? 64);

let connected = 0;
let connectedMs = null;
let succeeded = 0;
let failed = 0;
let nextId = 1;

function connect(name, version, onReady) {
  return opening.take().then(() => new Promise((resolve) => {
    const client = mqtt.connect(broker, { clientId: `${PK}.${name}`, reconnectPeriod: 1000, keepalive: 60 });
    client.once('connect', () => {
      opening.give();
      client.subscribe(`/ota/device/upgrade/${PK}/${name}`, { qos: 1 }, () => {
        client.publish(`/ota/device/inform/${PK}/${name}`,
          JSON.stringify({ id: String(nextId++), params: { version } }), { qos: 1 });
        onReady?.();
        resolve(client);
      });
    });
    client.once('error', () => {});
  }));
}

async function device(name) {
  let client = await connect(name, '1.0.0', () => {
    connected++;
    if (connected === n) connectedMs = Date.now() - start;
  });
  client.on('message', async function onNotice(_topic, payload) {
    const notice = JSON.parse(payload.toString()).data;
    const progress = (step, desc) => client.publish(`/ota/device/progress/${PK}/${name}`,
      JSON.stringify({ id: String(nextId++), params: { step: String(step), desc } }), { qos: 1 });
    await downloads.take();
    const hash = createHash('md5');
    let received = 0;
    let last = -cadence;
    try {
      const response = await fetch(notice.url);
      progress(0, 'downloading');
      last = 0;
      for await (const chunk of response.body) {
        hash.update(chunk);
        received += chunk.length;
        const percent = Math.min(99, Math.floor((received * 100) / notice.size));
        if (percent >= last + cadence) {
          last = percent;
          progress(percent, 'downloading');
        }
      }
    } finally {
      downloads.give();
    }
    if (received !== notice.size || hash.digest('hex') !== notice.sign) {
      progress(-3, 'verify failed');
      return;
    }
    progress(100, 'downloaded and verified');
    await new Promise((r) => setTimeout(r, flashMs));
    await client.endAsync();
    await new Promise((r) => setTimeout(r, rebootMs));
    client = await connect(name, notice.version);
  });
}

// The cloud: pushes a notice to each device that reports 1.0.0, judges by the reported version.
const cloud = mqtt.connect(broker, { clientId: `node-cloud-${process.pid}`, reconnectPeriod: 1000 });
await new Promise((r) => cloud.once('connect', r));
await cloud.subscribeAsync([`/ota/device/inform/${PK}/+`, `/ota/device/progress/${PK}/+`], { qos: 1 });
let done;
const finished = new Promise((r) => { done = r; });
const judged = new Set();
cloud.on('message', (topic, payload) => {
  const [, , , kind, , name] = topic.split('/');
  const body = JSON.parse(payload.toString());
  if (kind === 'inform' && body.params.version === '1.0.0') {
    const notice = { code: '1000', data: { size, sign: md5, version: '2.0.0', url, signMethod: 'Md5', md5 }, id: nextId++, message: 'success' };
    cloud.publish(`/ota/device/upgrade/${PK}/${name}`, JSON.stringify(notice), { qos: 1 });
  } else if (kind === 'inform' && body.params.version === '2.0.0' && !judged.has(name)) {
    judged.add(name);
    succeeded++;
  } else if (kind === 'progress' && Number(body.params.step) < 0 && !judged.has(name)) {
    judged.add(name);
    failed++;
  }
  if (succeeded + failed === n) done();
});

for (let i = 1; i <= n; i++) device(`n-${String(i).padStart(5, '0')}`);
await finished;
const succeededMs = Date.now() - start;
console.log(JSON.stringify({ connectedMs, succeededMs, failed, maxRssKib: process.resourceUsage().maxRSS }));
process.exit(0);
