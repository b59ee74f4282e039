// The platform's automatic topic subscription, in front of mosquitto's plain MQTT listener.
//
// On Alibaba Cloud IoT a device never has to SUBSCRIBE to its OTA reply topics: the platform
// subscribes it itself ("automatic topic subscription", relied on by Link SDK C 3.1, 3.2 and
// 4.x, whose OTA and MQTT-download modules only register handlers). mosquitto has no such
// thing, so the sandbox's plain MQTT port is this small front: every byte goes through to
// mosquitto unchanged, and for each device it learns of, it sends mosquitto a SUBSCRIBE on the
// device's own connection for
//
//   /ota/device/upgrade/{pk}/{dn}                  (T2, notices)
//   /sys/{pk}/{dn}/thing/ota/firmware/get_reply    (T5, answers to pulls)
//   /sys/{pk}/{dn}/thing/file/download_reply       (T7, file blocks over MQTT)
//
// and swallows mosquitto's SUBACK for it. A device is learnt from its login (Aliyun user name
// `dn&pk`, or client id `pk.dn|…`) and from what it publishes on its own OTA topics (T1, T3, T4,
// T6), so a gateway speaking for several devices gets each one's topics. Topics the client
// already subscribed to itself (same or wider filter) are left alone; a client that subscribes
// later to a wider filter gets the front's own subscription removed, so nothing is delivered
// twice.
//
// It also publishes the platform's device status messages, as its server-side subscription
// delivers them: on `/as/mqtt/status/{pk}/{dn}`, `online` when the broker accepted a device's
// login, `offline` when its connection ends, with `productKey`, `deviceName`, `time` (China
// Standard Time), `utcTime`, `lastTime`/`utcLastTime` (its last packet before the change) and
// `clientIp`. The conformance suite's `report_after_reboot` case times the version report from
// them. They come from the front's own client (QoS 1, not retained). Packets are parsed for
// their boundaries only: a malformed length closes the
// connection, oversized packets pass through uninspected; a slow side pauses the other (no
// unbounded buffering in the front). MQTT 3.1, 3.1.1 and 5.
import net from 'node:net';

import mqtt from 'mqtt';

/** The reply topics the platform subscribes a device to. */
export function autoTopics(pk, dn) {
  return [
    `/ota/device/upgrade/${pk}/${dn}`,
    `/sys/${pk}/${dn}/thing/ota/firmware/get_reply`,
    `/sys/${pk}/${dn}/thing/file/download_reply`,
  ];
}

/** The platform's device status topic. */
export function statusTopic(pk, dn) {
  return `/as/mqtt/status/${pk}/${dn}`;
}

/** A device status message as the platform writes it (`online` true or false). */
export function statusMessage(pk, dn, online, now, last, clientIp) {
  const cst = (ms) => new Date(ms + 8 * 3_600_000).toISOString().replace('T', ' ').replace('Z', '');
  const utc = (ms) => new Date(ms).toISOString();
  return JSON.stringify({
    status: online ? 'online' : 'offline', productKey: pk, deviceName: dn,
    time: cst(now), utcTime: utc(now), lastTime: cst(last), utcLastTime: utc(last), clientIp,
  });
}

/** How many of the latest subscriptions `subscribed()` keeps (a long-running sandbox). */
const RECORD_LIMIT = 10_000;

/** Largest packet head looked into (CONNECT, a PUBLISH's topic, SUBSCRIBE, SUBACK). */
const INSPECT_LIMIT = 64 * 1024;

/** True when MQTT filter `filter` matches topic `topic`. */
export function filterMatches(filter, topic) {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** The device named by a login: user name `dn&pk`, else client id `pk.dn` (before any `|`). */
export function loginDevice(clientId, username) {
  const ok = (pk, dn) => /^[A-Za-z0-9]{1,64}$/.test(pk) && dn.length > 0 && !/[/+#\s]/.test(dn);
  if (username) {
    const amp = username.lastIndexOf('&');
    if (amp > 0) {
      const dn = username.slice(0, amp);
      const pk = username.slice(amp + 1);
      if (ok(pk, dn)) return { pk, dn };
    }
  }
  const id = (clientId ?? '').split('|')[0];
  const dot = id.indexOf('.');
  if (dot > 0) {
    const pk = id.slice(0, dot);
    const dn = id.slice(dot + 1);
    if (ok(pk, dn)) return { pk, dn };
  }
  return null;
}

/** The device a device-to-cloud OTA topic names (T1, T3, T4, T6), or null. */
export function topicDevice(topic) {
  let m = /^\/ota\/device\/(?:inform|progress)\/([^/]+)\/([^/]+)$/.exec(topic);
  if (m) return { pk: m[1], dn: m[2] };
  m = /^\/sys\/([^/]+)\/([^/]+)\/thing\/(?:ota\/firmware\/get|file\/download)$/.exec(topic);
  return m ? { pk: m[1], dn: m[2] } : null;
}

/** Fixed header of the packet at the start of `buf`: `{ type, headerLen, total }`, null when
 * incomplete, or `{ error }` for a remaining length longer than four bytes. */
function fixedHeader(buf) {
  if (buf.length < 2) return null;
  let value = 0;
  let multiplier = 1;
  for (let i = 1; i <= 4; i++) {
    if (i >= buf.length) return null;
    const byte = buf[i];
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return { type: buf[0] >> 4, flags: buf[0] & 0x0f, headerLen: i + 1, total: i + 1 + value };
    multiplier *= 128;
  }
  return { error: 'malformed remaining length' };
}

/** A variable byte integer at `at`: `[value, bytes]`, or null. */
function varint(buf, at) {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < 4 && at + i < buf.length; i++) {
    value += (buf[at + i] & 0x7f) * multiplier;
    if ((buf[at + i] & 0x80) === 0) return [value, i + 1];
    multiplier *= 128;
  }
  return null;
}

/** A length-prefixed UTF-8 string at `at`: `[text, next]`, or null when cut short. */
function string(buf, at) {
  if (at + 2 > buf.length) return null;
  const len = buf.readUInt16BE(at);
  if (at + 2 + len > buf.length) return null;
  return [buf.toString('utf8', at + 2, at + 2 + len), at + 2 + len];
}

/** `{ level, clientId, username }` of a whole CONNECT packet, or null. */
function parseConnect(packet, headerLen) {
  const name = string(packet, headerLen);
  if (!name) return null;
  let at = name[1];
  if (at + 4 > packet.length) return null;
  const level = packet[at];
  const flags = packet[at + 1];
  at += 4; // level, flags, keep-alive
  if (level === 5) {
    const props = varint(packet, at);
    if (!props) return null;
    at += props[1] + props[0];
  }
  const clientId = string(packet, at);
  if (!clientId) return null;
  at = clientId[1];
  if (flags & 0x04) {
    if (level === 5) {
      const props = varint(packet, at);
      if (!props) return null;
      at += props[1] + props[0];
    }
    const willTopic = string(packet, at);
    if (!willTopic || willTopic[1] + 2 > packet.length) return null;
    at = willTopic[1] + 2 + packet.readUInt16BE(willTopic[1]);
  }
  const username = flags & 0x80 ? string(packet, at)?.[0] ?? null : null;
  return { level, clientId: clientId[0], username };
}

/** The filters of a whole SUBSCRIBE packet (level 5 has properties first). */
function parseSubscribe(packet, headerLen, level) {
  let at = headerLen + 2;
  if (level === 5) {
    const props = varint(packet, at);
    if (!props) return [];
    at += props[1] + props[0];
  }
  const filters = [];
  while (at < packet.length) {
    const s = string(packet, at);
    if (!s) break;
    filters.push(s[0]);
    at = s[1] + 1; // options byte
  }
  return filters;
}

/** A SUBSCRIBE (QoS 1 each) or UNSUBSCRIBE packet for `topics` with packet id `id`. */
function encodeSubscription(kind, id, topics, level) {
  const parts = [Buffer.from([id >> 8, id & 0xff])];
  if (level === 5) parts.push(Buffer.from([0]));
  for (const topic of topics) {
    const bytes = Buffer.from(topic, 'utf8');
    parts.push(Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes);
    if (kind === 'subscribe') parts.push(Buffer.from([1]));
  }
  const body = Buffer.concat(parts);
  const length = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    length.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([kind === 'subscribe' ? 0x82 : 0xa2, ...length]), body]);
}

/**
 * A packet splitter over a byte stream: `onPacket(head, header)` sees each packet's first
 * bytes (the whole packet up to `want(header, buf)` bytes) and returns true to forward it or
 * false to drop it; bytes beyond the inspected head stream through `forward`.
 */
function splitter({ want, onPacket, forward, onError }) {
  let buf = Buffer.alloc(0);
  let passing = 0; // bytes of the current packet still to pass through
  let dropping = false;
  return (chunk) => {
    while (chunk.length > 0 || (passing === 0 && buf.length > 0)) {
      if (passing > 0) {
        const n = Math.min(passing, chunk.length);
        if (n === 0) return;
        if (!dropping) forward(chunk.subarray(0, n));
        passing -= n;
        chunk = chunk.subarray(n);
        continue;
      }
      if (chunk.length > 0) {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        chunk = Buffer.alloc(0);
      }
      const header = fixedHeader(buf);
      if (header === null) return;
      if (header.error) {
        onError(header.error);
        return;
      }
      const need = Math.min(header.total, want(header, buf));
      if (buf.length < need) return;
      const keep = onPacket(buf.subarray(0, Math.min(buf.length, header.total)), header);
      const take = Math.min(buf.length, header.total);
      if (keep) forward(buf.subarray(0, take));
      dropping = !keep;
      passing = header.total - take;
      buf = buf.subarray(take);
    }
  };
}

/**
 * Starts the front on `host`:`port` (0: any free port), forwarding to mosquitto on
 * 127.0.0.1:`upstreamPort`. Returns `{ port, subscribed(), buffered(), close() }`; `subscribed()` lists what
 * the front subscribed, per connection: `{ clientId, pk, dn, topics }` (the latest 10,000).
 */
export async function startAutoSubscribe({ upstreamPort, port = 0, host = '127.0.0.1', log = () => {} }) {
  const sockets = new Set();
  const record = [];
  // The front's own client, for the status messages.
  const statusClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${upstreamPort}`, {
    clientId: `otalab-device-status-${process.pid}`, protocolVersion: 4, reconnectPeriod: 1000,
  });
  const status = (device, online, last, ip) => {
    statusClient.publish(statusTopic(device.pk, device.dn), statusMessage(device.pk, device.dn, online, Date.now(), last, ip), { qos: 1 }, (error) => {
      if (error) log(`status of ${device.pk}/${device.dn} not published: ${error.message}`);
    });
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    let level = 4;
    let clientId = '';
    let nextId = 0xffff;
    const ours = new Map(); // packet id -> 'suback' | 'unsuback'
    const injected = new Set(); // topics the front subscribed for this connection
    const own = []; // the client's own filters
    const known = new Set(); // `pk/dn` already handled
    let login = null; // the device its login names
    let online = false; // the broker accepted the login: its status was published online
    let lastAt = Date.now(); // its last packet
    const ip = (client.remoteAddress ?? '').replace(/^::ffff:/, '');
    const close = () => {
      if (online) {
        online = false;
        status(login, false, lastAt, ip);
      }
      client.destroy();
      upstream.destroy();
    };
    const packetId = (kind) => {
      while (ours.has(nextId)) nextId = nextId > 0xf000 ? nextId - 1 : 0xffff;
      const id = nextId;
      nextId = nextId > 0xf000 ? nextId - 1 : 0xffff;
      ours.set(id, kind);
      return id;
    };
    const learn = (device) => {
      if (!device || known.has(`${device.pk}/${device.dn}`)) return;
      known.add(`${device.pk}/${device.dn}`);
      const topics = autoTopics(device.pk, device.dn)
        .filter((t) => !injected.has(t) && !own.some((f) => filterMatches(f, t)));
      if (topics.length === 0) return;
      for (const t of topics) injected.add(t);
      upstream.write(encodeSubscription('subscribe', packetId('suback'), topics, level));
      record.push({ clientId, pk: device.pk, dn: device.dn, topics });
      if (record.length > RECORD_LIMIT) record.splice(0, record.length - RECORD_LIMIT);
      log(`auto-subscribed ${clientId} (${device.pk}/${device.dn}) to ${topics.join(' ')}`);
    };
    const fromClient = splitter({
      want: (h, buf) => {
        if (h.type === 1 || h.type === 8) return INSPECT_LIMIT;
        if (h.type !== 3 || buf.length < h.headerLen + 2) return h.headerLen + 2;
        return h.headerLen + 2 + buf.readUInt16BE(h.headerLen);
      },
      onPacket: (packet, h) => {
        if (h.type === 1 && packet.length === h.total) {
          const connect = parseConnect(packet, h.headerLen);
          if (connect) {
            level = connect.level;
            clientId = connect.clientId;
            login = loginDevice(connect.clientId, connect.username);
            // The CONNECT goes first; the subscription right after it.
            upstream.write(packet);
            learn(login);
            return false;
          }
        } else if (h.type === 3) {
          const topic = string(packet, h.headerLen);
          if (topic) learn(topicDevice(topic[0]));
        } else if (h.type === 8 && packet.length === h.total) {
          const filters = parseSubscribe(packet, h.headerLen, level);
          own.push(...filters);
          upstream.write(packet);
          // A wider filter of the client's own now covers a topic the front subscribed: drop
          // the front's (an identical filter simply replaced it in the broker).
          const covered = [...injected].filter((t) => filters.some((f) => filterMatches(f, t)));
          const replaced = covered.filter((t) => filters.includes(t));
          const wider = covered.filter((t) => !filters.includes(t));
          for (const t of covered) injected.delete(t);
          if (wider.length > 0) upstream.write(encodeSubscription('unsubscribe', packetId('unsuback'), wider, level));
          if (replaced.length + wider.length > 0) log(`${clientId} subscribed itself to ${covered.join(' ')}`);
          return false;
        }
        return true;
      },
      forward: (bytes) => {
        // Backpressure: a slow broker side pauses the client side (and the other way below).
        if (!upstream.write(bytes)) client.pause();
      },
      onError: (reason) => {
        log(`closing ${clientId || 'a client'}: ${reason}`);
        close();
      },
    });
    const fromBroker = splitter({
      want: (h) => (h.type === 9 || h.type === 11 ? 1024 : h.type === 2 ? 8 : 0),
      onPacket: (packet, h) => {
        // CONNACK: the login accepted (return or reason code 0): the device is online.
        if (h.type === 2 && packet.length >= h.headerLen + 2 && packet[h.headerLen + 1] === 0 && login && !online) {
          online = true;
          status(login, true, lastAt, ip);
        }
        if ((h.type === 9 || h.type === 11) && packet.length >= h.headerLen + 2) {
          const id = packet.readUInt16BE(h.headerLen);
          const kind = ours.get(id);
          if (kind === (h.type === 9 ? 'suback' : 'unsuback')) {
            ours.delete(id);
            return false;
          }
        }
        return true;
      },
      forward: (bytes) => {
        if (!client.write(bytes)) upstream.pause();
      },
      onError: close,
    });
    upstream.on('drain', () => client.resume());
    client.on('drain', () => upstream.resume());
    client.on('data', (chunk) => {
      lastAt = Date.now();
      fromClient(chunk);
    });
    upstream.on('data', fromBroker);
    for (const socket of [client, upstream]) {
      socket.on('error', close);
      socket.on('close', () => {
        sockets.delete(socket);
        close();
      });
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port: server.address().port,
    /** What the front subscribed, per connection and device. */
    subscribed: () => record.slice(),
    /** Bytes the front holds in its sockets' write buffers right now (backpressure keeps it small). */
    buffered: () => [...sockets].reduce((sum, socket) => sum + socket.writableLength, 0),
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => statusClient.end(true, {}, () => resolve()));
    }),
  };
}
