// Seeds each fuzz target's corpus from the conformance vectors (tests/vectors) and a few
// independent samples (MQTT packets written by mqtt-packet, the MQTT.js codec).
// Usage: node fuzz/seed.mjs <corpus-dir>
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqttPacket from 'mqtt-packet';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.resolve(process.argv[2] ?? path.join(repo, 'target/fuzz/corpus'));
const vectors = path.join(repo, 'tests/vectors');

const seeds = {};
const add = (target, bytes) => {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  (seeds[target] ??= new Map()).set(createHash('sha1').update(buffer).digest('hex'), buffer);
};
const payloadBytes = (payload) => (typeof payload === 'string' ? payload : JSON.stringify(payload));

const targetsOf = {
  topic: ['topic'],
  version_report: ['version_report'],
  progress: ['progress'],
  firmware_get: ['firmware_get'],
  upgrade_notice: ['upgrade_notice'],
  firmware_get_reply: ['upgrade_notice'],
  file_block_request: ['file_block_request'],
};
for (const file of readdirSync(vectors).filter((f) => f.endsWith('.json'))) {
  const doc = JSON.parse(readFileSync(path.join(vectors, file), 'utf8'));
  for (const c of doc.cases) {
    if (doc.decoder === 'file_block_reply') add('file_block_reply', Buffer.from(c.payload, 'hex'));
    else if (doc.decoder === 'credentials') {
      const p = c.payload;
      add('credentials', [p.productKey, p.deviceName, p.deviceSecret, p.clientId, p.timestamp, p.signMethod, p.region ?? p.instanceId]
        .map((v) => (v === undefined ? '' : String(v))).join('\u001f'));
    } else if (doc.decoder === 'topic_build') add('topic', `/ota/device/inform/${c.payload.productKey}/${c.payload.deviceName}`);
    else for (const target of targetsOf[doc.decoder] ?? []) add(target, payloadBytes(c.payload));
  }
}

const conf = 'meter-0001 {\n  productKey : a1B2c3D4e5F\n  deviceName : meter-0001\n  deviceSecret : 0123456789abcdef0123456789abcdef\n}\n# comment\n"m 2" = { productKey = "a1B2c3D4e5F", deviceName = "m2", deviceSecret = "s" }\n';
add('devices_conf', conf);
add('fleet_import', conf);
add('fleet_import', 'productKey,deviceName,deviceSecret,version\na1B2c3D4e5F,meter-1,secret,1.0.0\na1B2c3D4e5F,meter-2,,2.0\n');
add('fleet_import', '[{"productKey":"a1B2c3D4e5F","deviceName":"meter-1","version":"1.0.0"},{"productKey":"p","deviceName":"d"}]');
add('fleet_import', 'meter-{0001..0250}');
add('fleet_import', 'x-{7..9}-y');
for (const dir of [path.join(repo, 'examples/scenarios'), path.join(repo, 'tests/runner/scenarios')]) {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.toml'))) add('scenario', readFileSync(path.join(dir, file)));
}
add('scenario', JSON.stringify({ generatedAtMs: 1, summary: { total: 1, pending: 0, upgrading: 0, succeeded: 1, failed: 0 }, devices: [{ productKey: 'p', deviceName: 'd', targetVersion: '2', notice: null, steps: [{ atMs: 1, step: 100, desc: 'x' }], finalVersion: '2', verdict: 'succeeded' }], scenario: 's' }));

// Conformance sessions: messages joined by 0xff, each a selector byte (high nibble: time step of
// 100 ms; low nibble: the topic, 0 T1, 1 T3, 2 T4, 3 T6) and a payload.
const msg = (topic, ticks, body) => Buffer.concat([Buffer.from([(ticks << 4) | topic]), Buffer.from(JSON.stringify(body))]);
const t1 = (v, module) => msg(0, 1, { id: '1', params: module ? { version: v, module } : { version: v } });
const t3 = (step, desc = 'downloading') => msg(1, 1, { id: '2', params: { step: String(step), desc } });
const session = (...parts) => Buffer.concat(parts.flatMap((p, i) => (i ? [Buffer.from([0xff]), p] : [p])));
const upgrade = (v) => [t3(0), t3(50), t3(100, 'done'), t1(v)];
add('conformance', session(t1('1.0.0'), t1('1.0.0', 'mcu'), ...upgrade('1.0.1'), ...upgrade('1.0.2'), t3(-3, 'md5 mismatch'), t3(-2, 'HTTP 404')));
add('conformance', session(t1('1.0.0'), msg(2, 5, { id: '3', version: '1.0', params: { module: 'default' }, method: 'thing.ota.firmware.get' }),
  msg(3, 1, { id: '4', params: { fileToken: 't', fileInfo: { streamId: 10001, fileId: 1 }, fileBlock: { size: 5120, offset: 0 } } })));

const packets = [
  { cmd: 'publish', topic: '/ota/device/upgrade/pk/dn', payload: Buffer.from('{"id":1}'), qos: 0, retain: false, dup: false },
  { cmd: 'publish', topic: '/ota/device/upgrade/pk/dn', payload: Buffer.alloc(300, 7), qos: 1, messageId: 9, retain: false, dup: true },
  { cmd: 'suback', messageId: 1, granted: [1, 128] },
  { cmd: 'puback', messageId: 1 },
  { cmd: 'pingresp' },
  { cmd: 'unsuback', messageId: 2 },
];
const wire = packets.map((p) => mqttPacket.generate(p, { protocolVersion: 4 }));
for (const w of wire) add('mqtt_session', Buffer.concat([Buffer.from([7]), w]));
add('mqtt_session', Buffer.concat([Buffer.from([1]), ...wire]));

let total = 0;
for (const [target, map] of Object.entries(seeds)) {
  const dir = path.join(out, target);
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of map) writeFileSync(path.join(dir, `seed-${name}`), bytes);
  total += map.size;
}
console.log(`seeded ${total} inputs for ${Object.keys(seeds).length} targets into ${out}`);
