// An OTA device written outside otalab's Rust code: MQTT.js for the link, node:http for the
// download, node:crypto for the digests. It follows the documented Link SDK / Python Linkkit
// behaviour: report T1 for each module on connect; on a notice (T2, or the reply T5 to its
// own pull T4) download the file with Range resume after a broken connection, hash while the
// bytes arrive, check size and digest (-3 when they differ), report progress (T3) every 10 %,
// "flash", reboot (disconnect, reconnect) and report the new version. A repeated notice for the
// version it is already upgrading to is ignored. It never asks for MQTT blocks (no MQTT
// download support), so that case is not applicable to it.
//
// `stock: true` (`--stock`) behaves as a device built from Link SDK C 4.x as it ships, written
// from the SDK's sources (components/ota: aiot_ota_api.c, the MQTT download module, core_http):
//   - it logs in as the SDK does (client id `pk.dn|securemode=2,…|`, user name `dn&pk`) and never
//     sends SUBSCRIBE: it relies on the platform's automatic subscription of its reply topics;
//   - HTTP download over a raw socket like core_http: `Range: bytes=N-` on every request, a
//     progress report (T3, the current percent) each time a request is sent, the body handed
//     over only as far as `Content-Length` (matched case-sensitively); a reply without one (or
//     with 0) is a receive of nothing, so the request is sent again, forever; a reply with a
//     body and a status other than 200/206 is -2; a broken connection resumes from the bytes
//     it has; progress every 5 %;
//   - MQTT download (`dProtocol: "mqtt"`): 5 KiB blocks, one request at a time, the SDK's
//     request JSON with its trailing comma, frames checked for length and CRC-16/ARC (its own
//     CRC code, not otalab's), a reply for another offset ignored, 10 s per block, at most 3
//     tries per block, then -4; a frame with a code other than 200 is -4.
//
// Switchable defects, each breaking one documented rule:
//   ignoreDigest  accepts a file whose digest differs from the notice's sign
//   noResume      reports -2 when the connection breaks instead of resuming with Range
//   rebootOld     reports 100, reboots, and comes back on its old version
//   ignorePulls   asks for upgrades (T4) but ignores the answers
//   downloadTwice keeps a notice repeated mid-download and downloads it again after upgrading
//   keepDigest    does not reset its digest after a failed verification: the next update hashes
//                 on from the failed one's bytes and fails too (a known Link SDK C bug)
//   lateReport    after the reboot of an upgrade, reports its versions 3 s after reconnecting
//                 (the platform wants them within about 2 s)
//   onceOnly      drops every notice for a version it was notified of before (with `defer`, it
//                 never upgrades: the notice pushed again is dropped)
//
// `defer: true` (`--defer`) is an app that postpones upgrades: it ignores the first notice of
// each version (no progress report) and takes it when it comes again, pushed or as the answer
// to its pull. `pullEveryMs: 0` never pulls.
//
// Run as a process: node tests/support/ota-device.mjs --broker mqtt://127.0.0.1:1883 \
//   --pk a1Dev --dn board-1 [--version 1.0.0] [--module mcu=1.0.0] [--defect ignoreDigest]
//   [--stock] [--defer] [--pull-every-ms 0]
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import mqtt from 'mqtt';

const STEP = 10;

/** CRC-16/ARC (poly 0xA001 reflected, init 0), bit by bit: independent of otalab's. */
export function crc16arc(bytes) {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** Starts a device; returns `{ versions, stop() }` (`versions` is module → running version). */
export async function startDevice({ broker, pk, dn, version = '1.0.0', modules = {}, defects = [], pullEveryMs = 2000, stock = false, defer = false, log = () => {} }) {
  const has = (d) => defects.includes(d);
  const versions = { default: version, ...modules };
  const topic = {
    inform: `/ota/device/inform/${pk}/${dn}`,
    upgrade: `/ota/device/upgrade/${pk}/${dn}`,
    progress: `/ota/device/progress/${pk}/${dn}`,
    get: `/sys/${pk}/${dn}/thing/ota/firmware/get`,
    getReply: `/sys/${pk}/${dn}/thing/ota/firmware/get_reply`,
    download: `/sys/${pk}/${dn}/thing/file/download`,
    downloadReply: `/sys/${pk}/${dn}/thing/file/download_reply`,
  };
  /** What the device did, for tests: HTTP requests sent, renewals, block requests. */
  const stats = { requests: 0, renewals: 0, blocks: 0, downloads: 0 };
  let repeated = null; // a notice repeated mid-download (kept by the downloadTwice defect)
  let onBlock = null; // the MQTT download waiting for a frame
  let id = 0;
  let client = null;
  let busy = null; // the { module, version } being upgraded to
  let stopped = false;
  let pullTimer = null;
  let lastPull = null; // the module of the last pull, round-robin
  let rebooted = false; // the next connection is the one after an upgrade's reboot
  const notified = new Set(); // `module@version` of every notice seen (defer, onceOnly)

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

  // Link SDK C's login: client id `pk.dn|…|`, user name `dn&pk` (the password would be its
  // HMAC; the sandbox takes any).
  const login = stock
    ? { clientId: `${pk}.${dn}|timestamp=${Date.now()},_ss=1,_v=sdk-c-4.2.0,securemode=2,signmethod=hmacsha256,ext=3,|`, username: `${dn}&${pk}`, password: '0'.repeat(64) }
    : { clientId: `${pk}.${dn}` };
  const connect = () => new Promise((resolve) => {
    client = mqtt.connect(broker, { ...login, protocolVersion: 4, reconnectPeriod: 500, clean: true });
    client.on('connect', async () => {
      // The stock SDK never subscribes: the platform does it for the device.
      if (!stock) await client.subscribeAsync([topic.upgrade, topic.getReply], { qos: 1 });
      if (rebooted && has('lateReport')) await new Promise((r) => setTimeout(r, 3_000));
      rebooted = false;
      inform();
      resolve();
    });
    client.on('message', (t, payload) => {
      if (t === topic.downloadReply) return onBlock?.(payload);
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
    const overMqtt = data.dProtocol === 'mqtt';
    if (!stock && (overMqtt || !data.url)) {
      // No MQTT download support: the notice is not for this device's SDK.
      log(`${dn} ignores a notice without a URL (dProtocol ${data.dProtocol})`);
      return;
    }
    if (busy && busy.module === module && busy.version === data.version) {
      // A repeated notice: ignored (the defective device keeps it for later).
      if (has('downloadTwice')) repeated = data;
      return;
    }
    if (busy) return;
    const seen = `${module}@${data.version}`;
    const again = notified.has(seen);
    notified.add(seen);
    if (again && has('onceOnly')) {
      log(`${dn} drops a notice for ${seen} it was notified of before`);
      return;
    }
    if (defer && !again) {
      log(`${dn} postpones the notice for ${seen}`);
      return;
    }
    busy = { module, version: data.version };
    try {
      stats.downloads += 1;
      if (overMqtt) await mqttUpgrade(module, data);
      else if (stock) await stockUpgrade(module, data);
      else await upgrade(module, data);
    } finally {
      busy = null;
    }
    if (repeated) {
      const again = repeated;
      repeated = null;
      await onNotice(again);
    }
  }

  /** After a verified download: flash, reboot (the link goes down and comes back on the new
   * image) and report it. */
  /** keepDigest: the hash of the last failed verification, which the next update continues. */
  let staleHash = null;

  async function flashAndReboot(module, data) {
    await new Promise((r) => setTimeout(r, 200));
    if (!has('rebootOld')) versions[module] = data.version;
    await new Promise((r) => client.end(true, {}, r));
    if (stopped) return;
    rebooted = true;
    await connect();
  }

  /** What the SDK takes from a notice: the digest to expect, a hasher for it, the size. */
  const expected = (data) => {
    const method = String(data.signMethod ?? '').toLowerCase() === 'sha256' ? 'sha256' : 'md5';
    return { sign: String(data.sign ?? '').toLowerCase(), hash: createHash(method), size: Number(data.size) };
  };

  /** Reports download progress as the SDK's demo does: every 5 % and at 100. */
  const progress = (module) => {
    let last = 0;
    return (percent) => {
      if (percent - last >= 5 || (percent === 100 && last !== 100)) {
        last = percent;
        report(module, percent, '');
      }
    };
  };

  // Link SDK C's HTTP download: aiot_download_send_request + aiot_download_recv, as a loop.
  async function stockUpgrade(module, data) {
    const { sign, hash, size } = expected(data);
    const tell = progress(module);
    let fetched = 0;
    let percent = 0;
    for (;;) {
      if (stopped) return;
      // Every request sent reports the current percent (aiot_download_send_request).
      stats.requests += 1;
      report(module, percent, '');
      const outcome = await sdkRequest(data.url, fetched, (chunk) => {
        const take = chunk.subarray(0, Math.max(0, size - fetched));
        hash.update(take);
        fetched += take.length;
        percent = Math.floor((fetched * 100) / size);
        if (fetched < size) tell(percent);
      });
      if (outcome.badStatus) return report(module, -2, '');
      if (fetched >= size) break;
      // Nothing usable arrived, or the link broke: send the request again (renewal), forever.
      stats.renewals += 1;
      await new Promise((r) => setImmediate(r));
    }
    if (hash.digest('hex') !== sign && !has('ignoreDigest')) return report(module, -3, '');
    tell(100);
    await flashAndReboot(module, data);
  }

  /** One GET as core_http does it. `onBody` gets body bytes, only as far as Content-Length;
   * resolves `{ badStatus }` when a body arrived with a status other than 200/206, else `{}`
   * when the connection ended (whatever it delivered). */
  function sdkRequest(url, from, onBody) {
    return new Promise((resolve) => {
      const u = new URL(url);
      const socket = net.connect(Number(u.port || 80), u.hostname);
      let head = Buffer.alloc(0);
      let status = 0;
      let length = -1; // Content-Length; -1 before the head is read
      let got = 0;
      const done = (result) => {
        socket.destroy();
        resolve(result);
      };
      socket.setTimeout(10_000, () => done({}));
      socket.on('connect', () => socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n`
        + `Accept: text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8\r\nRange: bytes=${from}-\r\n\r\n`,
      ));
      socket.on('data', (chunk) => {
        if (length < 0) {
          head = Buffer.concat([head, chunk]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          const lines = head.subarray(0, end).toString('latin1').split('\r\n');
          status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? 0);
          // The SDK compares the header name byte for byte with "Content-Length".
          const header = lines.find((l) => l.startsWith('Content-Length:'));
          length = header ? Number(header.slice(15).trim()) || 0 : 0;
          chunk = head.subarray(end + 4);
        }
        const body = chunk.subarray(0, Math.max(0, length - got));
        if (body.length === 0) {
          // No Content-Length (chunked) or 0: core_http hands over nothing.
          if (length === 0 || got >= length) done({});
          return;
        }
        got += body.length;
        if (status !== 200 && status !== 206) return done({ badStatus: status });
        onBody(body);
        if (got >= length) done({});
      });
      socket.on('end', () => done({}));
      socket.on('error', () => done({}));
    });
  }

  // Link SDK C's MQTT download: stop-and-wait 5 KiB blocks, 10 s each, 3 tries, then -4.
  async function mqttUpgrade(module, data) {
    const { sign, hash, size } = expected(data);
    const tell = progress(module);
    const BLOCK = 5 * 1024;
    let offset = 0;
    let id = 0;
    report(module, 0, '');
    while (offset < size) {
      const want = Math.min(BLOCK, size - offset);
      let block = null;
      for (let attempt = 0; attempt < 3 && !block && !stopped; attempt++) {
        id += 1;
        stats.blocks += 1;
        // The SDK's request, trailing comma included.
        client.publish(topic.download, `{"id":"${id}","version":"1.0","params":{"fileToken":"default","fileInfo":{"streamId":${data.streamId},"fileId":${data.streamFileId},},"fileBlock":{"size":${want},"offset":${offset}}}}`, { qos: 0 });
        block = await new Promise((resolve) => {
          const timer = setTimeout(() => { onBlock = null; resolve(null); }, 10_000);
          onBlock = (frame) => {
            if (frame.length < 4) return;
            const n = frame.readUInt16BE(0);
            let header;
            try { header = JSON.parse(frame.subarray(2, 2 + n).toString('utf8')); } catch { return finish(null); }
            if (header.code !== 200) return finish({ error: header.code });
            const bSize = Number(header.data?.bSize);
            if (Number(header.data?.bOffset) !== offset) return; // another offset: ignored, keep waiting
            if (frame.length !== 2 + n + bSize + 2) return finish(null);
            const bytes = frame.subarray(2 + n, 2 + n + bSize);
            const crc = frame[2 + n + bSize] | (frame[2 + n + bSize + 1] << 8);
            finish(crc === crc16arc(bytes) ? { bytes } : null);
          };
          function finish(value) {
            clearTimeout(timer);
            onBlock = null;
            resolve(value);
          }
        });
        if (block?.error) return report(module, -4, '');
      }
      if (stopped) return;
      if (!block) return report(module, -4, '');
      hash.update(block.bytes);
      offset += block.bytes.length;
      tell(Math.floor((offset * 100) / size));
    }
    if (hash.digest('hex') !== sign && !has('ignoreDigest')) return report(module, -3, '');
    tell(100);
    await flashAndReboot(module, data);
  }

  async function upgrade(module, data) {
    const method = String(data.signMethod ?? (data.md5 ? 'Md5' : '')).toLowerCase();
    const sign = String(data.sign ?? data.md5 ?? '').toLowerCase();
    // keepDigest: a failed verification's state is used again until an update succeeds.
    const hash = (has('keepDigest') && staleHash) || createHash(method === 'sha256' ? 'sha256' : 'md5');
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
    // keepDigest: the state is kept, not reset, when verification fails.
    const kept = has('keepDigest') ? hash.copy() : null;
    const digest = hash.digest('hex');
    if (received !== size) {
      staleHash = kept;
      return report(module, -3, `size ${received}, expected ${size}`);
    }
    if (digest !== sign && !has('ignoreDigest')) {
      staleHash = kept;
      return report(module, -3, `${method} mismatch`);
    }
    staleHash = null;
    report(module, 100, 'downloaded and verified');
    await flashAndReboot(module, data);
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
  if (pullEveryMs > 0) pullTimer = setInterval(pull, pullEveryMs);
  return {
    versions,
    stats,
    /** Asks for an upgrade (T4) now. */
    pullNow: pull,
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
    modules, defects: all('defect'), pullEveryMs: Number(opt('pull-every-ms') ?? 2000), stock: args.includes('--stock'), defer: args.includes('--defer'),
    log: (line) => console.log(line),
  });
  console.log(`device ${opt('pk')}/${opt('dn')} connected`);
  process.on('SIGTERM', async () => { await device.stop(); process.exit(0); });
  process.on('SIGINT', async () => { await device.stop(); process.exit(0); });
}
