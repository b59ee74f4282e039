// An OTA device written outside otalab's Rust code: MQTT.js for the link, node:http for the
// download, node:crypto for the digests. It follows the documented Link SDK / Python Linkkit
// behaviour: report T1 for each module on connect; on a notice (T2, or the reply T5 to its
// own pull T4) download the file with Range resume after a broken connection, hash while the
// bytes arrive, check size and digest (-3 when they differ), report progress (T3) every 10 %,
// "flash", reboot (disconnect, reconnect) and report the new version. A repeated notice for the
// version it is already upgrading to is ignored. It never asks for MQTT blocks (no MQTT
// download support), so that case is not applicable to it.
//
// Switchable defects, each breaking one documented rule:
//   ignoreDigest  accepts a file whose digest differs from the notice's sign
//   noResume      reports -2 when the connection breaks instead of resuming with Range
//   rebootOld     reports 100, reboots, and comes back on its old version
//   ignorePulls   asks for upgrades (T4) but ignores the answers
//
// Run as a process: node tests/support/ota-device.mjs --broker mqtt://127.0.0.1:1883 \
//   --pk a1Dev --dn board-1 [--version 1.0.0] [--module mcu=1.0.0] [--defect ignoreDigest]
import { createHash } from 'node:crypto';
import http from 'node:http';
import mqtt from 'mqtt';

const STEP = 10;

/** Starts a device; returns `{ versions, stop() }` (`versions` is module → running version). */
export async function startDevice({ broker, pk, dn, version = '1.0.0', modules = {}, defects = [], pullEveryMs = 2000, log = () => {} }) {
  const has = (d) => defects.includes(d);
  const versions = { default: version, ...modules };
  const topic = {
    inform: `/ota/device/inform/${pk}/${dn}`,
    upgrade: `/ota/device/upgrade/${pk}/${dn}`,
    progress: `/ota/device/progress/${pk}/${dn}`,
    get: `/sys/${pk}/${dn}/thing/ota/firmware/get`,
    getReply: `/sys/${pk}/${dn}/thing/ota/firmware/get_reply`,
  };
  let id = 0;
  let client = null;
  let busy = null; // the { module, version } being upgraded to
  let stopped = false;
  let pullTimer = null;
  let lastPull = null; // the module of the last pull, round-robin

  const send = (t, body) => client?.publish(t, JSON.stringify({ id: String(++id), ...body }), { qos: 1 });
  const report = (module, step, desc) => {
    log(`${dn} T3 ${module} ${step} ${desc}`);
    send(topic.progress, { params: module === 'default' ? { step: String(step), desc } : { step: String(step), desc, module } });
  };
  const inform = () => {
    for (const [module, v] of Object.entries(versions)) {
      send(topic.inform, { params: module === 'default' ? { version: v } : { version: v, module } });
    }
  };

  const connect = () => new Promise((resolve) => {
    client = mqtt.connect(broker, { clientId: `${pk}.${dn}`, protocolVersion: 4, reconnectPeriod: 500, clean: true });
    client.on('connect', async () => {
      await client.subscribeAsync([topic.upgrade, topic.getReply], { qos: 1 });
      inform();
      resolve();
    });
    client.on('message', (t, payload) => {
      let msg;
      try { msg = JSON.parse(payload.toString()); } catch { return; }
      if (t === topic.upgrade) onNotice(msg.data ?? {});
      else if (t === topic.getReply && !has('ignorePulls') && msg.data && Object.keys(msg.data).length > 0) onNotice(msg.data);
    });
  });

  // The pull: the device asks now and then while idle (as an app calling the SDK's query does).
  const pull = () => {
    if (busy || stopped || !client?.connected) return;
    const modules = Object.keys(versions);
    lastPull = modules[(modules.indexOf(lastPull) + 1) % modules.length];
    client.publish(topic.get, JSON.stringify({ id: String(++id), version: '1.0', params: { module: lastPull }, method: 'thing.ota.firmware.get' }), { qos: 1 });
  };

  async function onNotice(data) {
    const module = data.module ?? 'default';
    if (!(module in versions)) return;
    if (data.dProtocol === 'mqtt' || !data.url) {
      // No MQTT download support: the notice is not for this device's SDK.
      log(`${dn} ignores a notice without a URL (dProtocol ${data.dProtocol})`);
      return;
    }
    if (busy && busy.module === module && busy.version === data.version) return; // repeated notice
    if (busy) return;
    busy = { module, version: data.version };
    try {
      await upgrade(module, data);
    } finally {
      busy = null;
    }
  }

  async function upgrade(module, data) {
    const method = String(data.signMethod ?? (data.md5 ? 'Md5' : '')).toLowerCase();
    const sign = String(data.sign ?? data.md5 ?? '').toLowerCase();
    const hash = createHash(method === 'sha256' ? 'sha256' : 'md5');
    const size = Number(data.size);
    let received = 0;
    let reported = -STEP;
    report(module, 0, 'downloading');
    reported = 0;
    let attempts = 0;
    for (;;) {
      const outcome = await fetchFrom(data.url, received, (chunk) => {
        hash.update(chunk);
        received += chunk.length;
        const percent = Math.floor((Math.min(received, size) / size) * 100);
        if (percent >= reported + STEP && percent < 100) {
          reported = percent - (percent % STEP);
          report(module, reported, 'downloading');
        }
      });
      if (outcome.status && outcome.status >= 400) return report(module, -2, `HTTP ${outcome.status}`);
      if (outcome.done) break;
      attempts += 1;
      if (has('noResume') || attempts > 3) return report(module, -2, `download broken at byte ${received}`);
    }
    const digest = hash.digest('hex');
    if (received !== size) return report(module, -3, `size ${received}, expected ${size}`);
    if (digest !== sign && !has('ignoreDigest')) return report(module, -3, `${method} mismatch`);
    report(module, 100, 'downloaded and verified');
    // Flash, then reboot: the link goes down and comes back on the new image.
    await new Promise((r) => setTimeout(r, 200));
    if (!has('rebootOld')) versions[module] = data.version;
    await new Promise((r) => client.end(true, {}, r));
    if (stopped) return;
    await connect();
  }

  /** GETs `url` from byte `from`; resolves `{ done }` at its end, `{ status }` on an HTTP error,
   * `{ done: false }` when the connection broke. */
  function fetchFrom(url, from, onChunk) {
    return new Promise((resolve) => {
      const headers = from > 0 ? { Range: `bytes=${from}-` } : {};
      const req = http.get(url, { headers }, (res) => {
        if (res.statusCode >= 400 || (from > 0 && res.statusCode !== 206)) {
          res.resume();
          resolve({ status: res.statusCode >= 400 ? res.statusCode : 416 });
          return;
        }
        res.on('data', onChunk);
        res.on('end', () => resolve({ done: res.complete }));
        res.on('aborted', () => resolve({ done: false }));
        res.on('error', () => resolve({ done: false }));
      });
      req.on('error', () => resolve({ done: false }));
    });
  }

  await connect();
  pullTimer = setInterval(pull, pullEveryMs);
  return {
    versions,
    stop: async () => {
      stopped = true;
      clearInterval(pullTimer);
      await new Promise((r) => client.end(true, {}, r));
    },
  };
}

// As a process.
if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (name) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : undefined; };
  const all = (name) => args.flatMap((a, i) => (a === `--${name}` ? [args[i + 1]] : []));
  const modules = Object.fromEntries(all('module').map((m) => m.split('=')));
  const device = await startDevice({
    broker: opt('broker') ?? 'mqtt://127.0.0.1:8687', pk: opt('pk'), dn: opt('dn'), version: opt('version') ?? '1.0.0',
    modules, defects: all('defect'), pullEveryMs: Number(opt('pull-every-ms') ?? 2000), log: (line) => console.log(line),
  });
  console.log(`device ${opt('pk')}/${opt('dn')} connected`);
  process.on('SIGTERM', async () => { await device.stop(); process.exit(0); });
  process.on('SIGINT', async () => { await device.stop(); process.exit(0); });
}
