// Exercises every function of the npm package `otalab`. Environment-agnostic: Node (ESM and
// CommonJS wrappers), a plain browser page and a Vite bundle all run these same cases against the
// package as installed from its tarball.
//
// `cases(lib, reference)` returns `{ name: () => void }`. `reference` holds digests of
// `bigFirmware()` computed outside the package (node:crypto): `{ md5, sha256 }`.

/** 5 MiB + 123 bytes of deterministic data (a linear congruential generator). */
export function bigFirmware() {
  const bytes = new Uint8Array(5 * 1024 * 1024 + 123);
  let seed = 2463534242;
  for (let i = 0; i < bytes.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    bytes[i] = seed >>> 24;
  }
  return bytes;
}

/** Uneven chunk sizes that cover tiny, odd, window-sized and larger-than-window pieces. */
const CHUNKS = [1, 7, 63, 64, 65, 1000, 65535, 65536, 65537, 1048579, 3];

function* unevenChunks(bytes) {
  let offset = 0;
  for (let i = 0; offset < bytes.length; i++) {
    const size = CHUNKS[i % CHUNKS.length];
    yield bytes.subarray(offset, offset + size);
    offset += size;
  }
}

class Failure extends Error {}

function eq(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Failure(`${what}: expected ${e}, got ${a}`);
}

function ok(condition, what) {
  if (!condition) throw new Failure(`${what}: not true`);
}

/** Runs `fn`, which must throw an OtaError with `code`; returns the error. */
function throwsCode(lib, fn, code, what) {
  try {
    fn();
  } catch (error) {
    ok(error instanceof lib.OtaError, `${what}: thrown value is an OtaError (got ${error})`);
    ok(error instanceof Error, `${what}: OtaError is an Error`);
    eq(error.name, 'OtaError', `${what}: name`);
    eq(error.code, code, `${what}: code (message: ${error.message})`);
    ok(typeof error.message === 'string' && error.message.length > 0, `${what}: message`);
    return error;
  }
  throw new Failure(`${what}: did not throw ${code}`);
}

const MD5_HELLO = '5d41402abc4b2a76b9719d911017c592';
const URL = 'https://example-bucket.oss-cn-shanghai.aliyuncs.com/fw.bin?Expires=1502955804&OSSAccessKeyId=AK&Signature=S%3D';
const NOTICE = JSON.stringify({
  code: '1000', id: 1626969597470, message: 'success',
  data: {
    size: 432945, version: '2.0.0', isDiff: 1, url: URL,
    md5: '93230c3bde425a9d7984a594ac55ea1e', sign: '93230c3bde425a9d7984a594ac55ea1e', signMethod: 'Md5',
    digestsign: 'A4WOP...', module: 'MCU', extData: { key1: 'value1', _package_udi: '{"ota_notice":"x"}' }, future: [1],
  },
  trace: 't-1',
});

export function cases(lib, reference) {
  const t = (fn, code, what) => throwsCode(lib, fn, code, what);
  return {
    'topic and parseTopic'() {
      const kinds = {
        inform: '/ota/device/inform/pk/dn',
        upgrade: '/ota/device/upgrade/pk/dn',
        progress: '/ota/device/progress/pk/dn',
        firmwareGet: '/sys/pk/dn/thing/ota/firmware/get',
        firmwareGetReply: '/sys/pk/dn/thing/ota/firmware/get_reply',
      };
      for (const [kind, text] of Object.entries(kinds)) {
        eq(lib.topic(kind, 'pk', 'dn'), text, `topic(${kind})`);
        eq(lib.parseTopic(text), { kind, productKey: 'pk', deviceName: 'dn' }, `parseTopic(${text})`);
      }
      t(() => lib.topic('upgrade', 'p/k', 'dn'), 'TOPIC_ILLEGAL_CHAR', 'slash in productKey');
      t(() => lib.topic('upgrade', 'pk', ''), 'TOPIC_EMPTY_SEGMENT', 'empty deviceName');
      t(() => lib.topic('downgrade', 'pk', 'dn'), 'INVALID_ARGUMENT', 'unknown kind');
      t(() => lib.topic(undefined, 'pk', 'dn'), 'INVALID_ARGUMENT', 'undefined kind');
      t(() => lib.parseTopic('/ota/device/upgrade/pk'), 'TOPIC_UNKNOWN', 'short topic');
      t(() => lib.parseTopic(42), 'INVALID_ARGUMENT', 'number topic');
    },

    'version reports'() {
      eq(lib.encodeVersionReport({ id: 123, version: '1.0.1' }), '{"id":"123","params":{"version":"1.0.1"}}', 'number id, default module');
      eq(lib.encodeVersionReport({ id: '7', version: 'v2', module: 'MCU' }), '{"id":"7","params":{"version":"v2","module":"MCU"}}', 'module');
      const decoded = lib.decodeVersionReport(new TextEncoder().encode('{"id":5,"params":{"version":"1.0","module":"MCU"}}'));
      eq([decoded.id, decoded.version, decoded.module], ['5', '1.0', 'MCU'], 'decode from bytes');
      eq(lib.decodeVersionReport('{"id":"5","params":{"version":"1.0"}}').module, 'default', 'absent module');
      t(() => lib.encodeVersionReport({ id: 1, version: 'a b' }), 'INVALID_VERSION', 'space in version');
      t(() => lib.encodeVersionReport({ id: -1, version: '1' }), 'INVALID_ID', 'negative id');
      t(() => lib.encodeVersionReport({ id: 1.5, version: '1' }), 'INVALID_ID', 'fractional id');
      t(() => lib.encodeVersionReport({ version: '1' }), 'INVALID_ARGUMENT', 'missing id');
      t(() => lib.encodeVersionReport(null), 'INVALID_ARGUMENT', 'null report');
      t(() => lib.decodeVersionReport('{"id":"1","params":{"version":"' + 'x'.repeat(65) + '"}}'), 'INVALID_VERSION', '65-char version');
    },

    'upgrade notices'() {
      const n = lib.decodeUpgradeNotice(NOTICE);
      eq(n.id, '1626969597470', 'id kept digit for digit');
      eq(n.version, '2.0.0', 'version');
      eq(n.module, 'MCU', 'module');
      eq(n.isDiff, true, 'isDiff');
      eq(n.signMethod, 'Md5', 'signMethod in the spelling the cloud sends');
      eq(n.files, [{ size: 432945, url: URL, sign: '93230c3bde425a9d7984a594ac55ea1e' }], 'files');
      eq(n.download, 'https', 'download');
      eq(n.digestSign, 'A4WOP...', 'digestsign');
      eq(n.extData, { _package_udi: '{"ota_notice":"x"}', key1: 'value1' }, 'extData');
      eq(n.packageUdi, '{"ota_notice":"x"}', 'packageUdi');
      eq(n.unknown, { future: [1] }, 'unknown data fields kept');
      eq(n.unknownEnvelope, { trace: 't-1' }, 'unknown top-level fields kept');

      const mqtt = lib.decodeUpgradeNotice('{"id":"5","data":{"size":10,"version":"3","sign":"' + MD5_HELLO + '","signMethod":"MD5","dProtocol":"mqtt","streamId":1397345,"streamFileId":1}}');
      eq([mqtt.download, mqtt.streamId, mqtt.streamFileId, mqtt.files[0].url], ['mqtt', 1397345, 1, undefined], 'MQTT download');
      const multi = lib.decodeUpgradeNotice(JSON.stringify({ id: 6, data: { version: '4', signMethod: 'Sha256', files: [
        { fileName: 'a.bin', fileSize: 3, fileUrl: 'https://h/a', fileSign: 'A'.repeat(64) },
        { fileName: 'b.bin', fileSize: 4, fileUrl: 'https://h/b', fileSign: 'b'.repeat(64) }] } }));
      eq(multi.files.map((f) => [f.name, f.size, f.sign.slice(0, 2)]), [['a.bin', 3, 'aa'], ['b.bin', 4, 'bb']], 'multi-file');
      const legacy = lib.decodeUpgradeNotice('{"id":1,"data":{"size":5,"version":"1","url":"http://127.0.0.1/f","md5":"' + MD5_HELLO.toUpperCase() + '"}}');
      eq([legacy.signMethod, legacy.files[0].sign], ['Md5', MD5_HELLO], 'md5-only legacy push');

      const e = t(() => lib.decodeUpgradeNotice('{"id":"1","data":{"size":"abc","version":"1"}}'), 'WRONG_TYPE', 'size as text');
      eq(e.path, 'data.size', 'error path');
      eq(e.message, 'data.size: expected a non-negative integer, found "abc"', 'error message');
      t(() => lib.decodeUpgradeNotice('{"id":'), 'INVALID_JSON', 'truncated JSON');
      t(() => lib.decodeUpgradeNotice('{"id":"1","data":{"size":1,"version":"1","url":"ftp://h/f","md5":"' + MD5_HELLO + '"}}'), 'INVALID_URL', 'ftp URL');
      t(() => lib.decodeUpgradeNotice('{"id":"1","data":{"size":1,"version":"1","url":"https://h/f","sign":"' + MD5_HELLO + '","signMethod":"CRC32"}}'), 'UNKNOWN_SIGN_METHOD', 'CRC32');
      t(() => lib.decodeUpgradeNotice('{"id":"1","data":{"size":1,"version":"1","url":"https://h/f","sign":"abc","signMethod":"MD5"}}'), 'INVALID_DIGEST', 'short digest');
      t(() => lib.decodeUpgradeNotice('{"id":"1","data":{"version":"1","url":"https://h/f","sign":"' + MD5_HELLO + '"}}'), 'MISSING_FIELD', 'no size');
      t(() => lib.decodeUpgradeNotice('x'.repeat(300 * 1024)), 'PAYLOAD_TOO_LARGE', 'oversized string');
      t(() => lib.decodeUpgradeNotice(new Uint8Array(300 * 1024)), 'PAYLOAD_TOO_LARGE', 'oversized bytes');
      t(() => lib.decodeUpgradeNotice({ id: 1 }), 'INVALID_ARGUMENT', 'object instead of payload');
    },

    'firmware pull: request and reply'() {
      eq(lib.encodeFirmwareGet({ id: 123, module: 'MCU' }), '{"id":"123","version":"1.0","params":{"module":"MCU"},"method":"thing.ota.firmware.get"}', 'T4');
      eq(lib.encodeFirmwareGet({ id: '9' }), '{"id":"9","version":"1.0","params":{},"method":"thing.ota.firmware.get"}', 'T4 default module');
      eq(lib.decodeFirmwareGet('{"id":5,"params":{}}').module, 'default', 'minimal T4');
      eq(lib.decodeFirmwareGetReply('{"id":"1","code":200,"data":{}}'), null, 'no package');
      const reply = lib.decodeFirmwareGetReply('{"id":"2","code":200,"data":{"size":5,"version":"2","url":"https://h/f","sign":"' + MD5_HELLO + '","signMethod":"MD5"}}');
      eq([reply.id, reply.version, reply.files[0].size], ['2', '2', 5], 'package');
      const e = t(() => lib.decodeFirmwareGetReply('{"id":"3","code":460,"message":"request parameter error"}'), 'CLOUD_ERROR', 'cloud refusal');
      eq(e.path, 'code', 'cloud error path');
      t(() => lib.encodeFirmwareGet({ id: 'x' }), 'INVALID_ID', 'bad id');
    },

    'firmware over MQTT: block request and reply frame'() {
      // An independent CRC-16/ARC (bit by bit, poly 0xA001 reflected, init 0).
      const arc = (bytes) => {
        let crc = 0;
        for (const b of bytes) {
          crc ^= b;
          for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
        }
        return crc;
      };
      eq(arc(new TextEncoder().encode('123456789')), 0xbb3d, 'the independent CRC itself');
      eq(lib.topic('fileDownloadReply', 'pk', 'dn'), '/sys/pk/dn/thing/file/download_reply', 'T7 topic');
      eq(lib.parseTopic('/sys/pk/dn/thing/file/download').kind, 'fileDownload', 'T6 parsed');

      const text = lib.encodeFileBlockRequest({ id: 3, streamId: 12332, fileId: 1, offset: 10240, size: 5120 });
      eq(JSON.parse(text), { id: '3', version: '1.0', params: { fileInfo: { streamId: 12332, fileId: 1 }, fileBlock: { size: 5120, offset: 10240 } } }, 'request without token');
      eq(lib.decodeFileBlockRequest(text), { id: '3', streamId: 12332, fileId: 1, offset: 10240, size: 5120, fileToken: null }, 'request round trip');
      const sdk = lib.decodeFileBlockRequest(new TextEncoder().encode('{"id":"4","version":"1.0","params":{"fileToken":"default","fileInfo":{"streamId":7,"fileId":1,},"fileBlock":{"size":5120,"offset":0}}}'));
      eq([sdk.id, sdk.fileToken, sdk.streamId], ['4', 'default', 7], "Link SDK C's trailing comma");
      throwsCode(lib, () => lib.decodeFileBlockRequest('{"id":"1","params":{"fileInfo":{"streamId":1},"fileBlock":{"size":1,"offset":0}}}'), 'MISSING_FIELD', 'no fileId');
      throwsCode(lib, () => lib.encodeFileBlockRequest({ id: 1, streamId: -1, fileId: 1, offset: 0, size: 1 }), 'INVALID_ARGUMENT', 'negative streamId');

      const block = new Uint8Array(5120);
      for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff;
      const frame = lib.encodeFileBlockReply({ id: '3', fileLength: 1048576, offset: 10240, block, fileToken: 'default' });
      ok(frame instanceof Uint8Array, 'frame is a Uint8Array');
      // Read the frame by hand: header length, header JSON, block, CRC low byte first.
      const n = (frame[0] << 8) | frame[1];
      const header = JSON.parse(new TextDecoder().decode(frame.subarray(2, 2 + n)));
      eq(header, { id: '3', code: 200, msg: '', data: { fileToken: 'default', fileLength: 1048576, bSize: 5120, bOffset: 10240 } }, 'header');
      eq(frame.length, 2 + n + 5120 + 2, 'frame length');
      eq(frame[frame.length - 2] | (frame[frame.length - 1] << 8), arc(block), 'CRC matches the independent one');
      const reply = lib.decodeFileBlockReply(frame);
      eq([reply.id, reply.code, reply.fileToken, reply.fileLength, reply.offset, reply.size], ['3', 200, 'default', 1048576, 10240, 5120], 'reply fields');
      ok(reply.block instanceof Uint8Array && reply.block.every((b, i) => b === block[i]), 'block bytes');
      eq(lib.decodeFileBlockReply(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.length)).size, 5120, 'from an ArrayBuffer');

      const corrupt = frame.slice();
      corrupt[2 + n + 100] ^= 1;
      const crc = throwsCode(lib, () => lib.decodeFileBlockReply(corrupt), 'CRC_MISMATCH', 'flipped bit');
      eq(crc.path, 'frame', 'CRC error path');
      throwsCode(lib, () => lib.decodeFileBlockReply(frame.subarray(0, frame.length - 1)), 'FRAME_LENGTH_MISMATCH', 'one byte short');
      throwsCode(lib, () => lib.decodeFileBlockReply(new Uint8Array([0, 200, 123])), 'SHORT_FRAME', 'header cut off');
      throwsCode(lib, () => lib.decodeFileBlockReply(lib.encodeFileBlockReply({ id: 9, code: 460, msg: 'bad offset' })), 'CLOUD_ERROR', 'non-200');
      throwsCode(lib, () => lib.decodeFileBlockReply('not bytes'), 'INVALID_ARGUMENT', 'string frame');
      throwsCode(lib, () => lib.encodeFileBlockReply({ id: 1, fileLength: 4, offset: 0, block: 'text' }), 'INVALID_ARGUMENT', 'string block');
      throwsCode(lib, () => lib.encodeFileBlockReply({ id: 1, offset: 0, block }), 'INVALID_ARGUMENT', 'no fileLength');
    },

    'progress'() {
      eq(lib.encodeProgress({ id: 1, step: 57, desc: 'downloading', module: 'MCU' }), '{"id":"1","params":{"step":"57","desc":"downloading","module":"MCU"}}', 'percent');
      eq(lib.encodeProgress({ id: 1, step: '-3' }), '{"id":"1","params":{"step":"-3","desc":""}}', 'failure as text, no desc');
      const p = lib.decodeProgress('{"id":"1","params":{"step":"-2","desc":"timeout"}}');
      eq([p.id, p.step, p.desc, p.module], ['1', -2, 'timeout', 'default'], 'decode');
      eq(lib.decodeProgress('{"id":2,"params":{"step":100}}').step, 100, 'numeric step');
      for (const bad of [101, -5, 'half', 2.5]) {
        t(() => lib.encodeProgress({ id: 1, step: bad }), 'INVALID_STEP', `step ${bad}`);
      }
      t(() => lib.decodeProgress('{"id":"1","params":{"step":"-9"}}'), 'INVALID_STEP', 'decode -9');
    },

    'streaming verify of a multi-MiB file in uneven chunks'() {
      const data = bigFirmware();
      for (const [method, digest] of [['MD5', reference.md5], ['SHA256', reference.sha256], ['sha256', reference.sha256.toUpperCase()]]) {
        const v = new lib.FirmwareVerifier({ size: data.length, signMethod: method, sign: digest });
        let pieces = 0;
        for (const chunk of unevenChunks(data)) { v.update(chunk); pieces++; }
        ok(pieces > 20, 'many chunks');
        eq(v.received, data.length, `${method} received`);
        eq(v.finish(), { ok: true, size: data.length, digest: digest.toLowerCase() }, `${method} result`);
        t(() => v.update(new Uint8Array(1)), 'VERIFIER_FINISHED', 'update after finish');
        t(() => v.finish(), 'VERIFIER_FINISHED', 'finish after finish');
        v.free();
      }
      // One byte flipped in the middle: digest mismatch with the actual digest.
      const corrupt = data.slice();
      corrupt[corrupt.length >> 1] ^= 0xff;
      const bad = new lib.FirmwareVerifier({ size: data.length, signMethod: 'SHA256', sign: reference.sha256 });
      for (const chunk of unevenChunks(corrupt)) bad.update(chunk);
      const result = bad.finish();
      eq([result.ok, result.failure, result.size], [false, 'DIGEST_MISMATCH', data.length], 'corrupt file');
      ok(result.digest.length === 64 && result.digest !== reference.sha256, 'actual digest given');
      // Truncated: size mismatch at finish. Too long: SIZE_EXCEEDED at once, with expected/actual.
      const short = new lib.FirmwareVerifier({ size: data.length, signMethod: 'MD5', sign: reference.md5 });
      short.update(data.subarray(0, data.length - 1));
      eq(short.finish().failure, 'SIZE_MISMATCH', 'truncated download');
      const long = new lib.FirmwareVerifier({ size: 5, signMethod: 'MD5', sign: MD5_HELLO });
      long.update(new TextEncoder().encode('hell'));
      const e = t(() => long.update(new TextEncoder().encode('o!')), 'SIZE_EXCEEDED', 'one byte too many');
      eq([e.expected, e.actual], [5, 6], 'expected/actual sizes');
      t(() => new lib.FirmwareVerifier({ size: 5, signMethod: 'SHA1', sign: MD5_HELLO }), 'UNKNOWN_SIGN_METHOD', 'SHA1');
      t(() => new lib.FirmwareVerifier({ size: -1, signMethod: 'MD5', sign: MD5_HELLO }), 'INVALID_ARGUMENT', 'negative size');
      t(() => new lib.FirmwareVerifier({ size: 5, signMethod: 'MD5', sign: 'xyz' }), 'INVALID_DIGEST', 'bad digest');
      t(() => new lib.FirmwareVerifier({ size: 5, signMethod: 'MD5', sign: MD5_HELLO }).update('hello'), 'INVALID_ARGUMENT', 'string chunk');
      const fromBuffer = new lib.FirmwareVerifier({ size: 5, signMethod: 'MD5', sign: MD5_HELLO });
      fromBuffer.update(new TextEncoder().encode('hello').buffer);
      eq(fromBuffer.finish().ok, true, 'ArrayBuffer chunk');
    },

    'verifyFirmware on a whole buffer'() {
      const hello = new TextEncoder().encode('hello');
      eq(lib.verifyFirmware(hello, { size: 5, signMethod: 'md5', sign: MD5_HELLO }), { ok: true, size: 5, digest: MD5_HELLO }, 'ok');
      const wrong = lib.verifyFirmware(new TextEncoder().encode('hellx'), { size: 5, signMethod: 'MD5', sign: MD5_HELLO });
      eq([wrong.ok, wrong.failure], [false, 'DIGEST_MISMATCH'], 'digest mismatch');
      const longer = lib.verifyFirmware(new TextEncoder().encode('hello!'), { size: 5, signMethod: 'MD5', sign: MD5_HELLO });
      eq([longer.ok, longer.failure, longer.size], [false, 'SIZE_MISMATCH', 6], 'too long');
      t(() => lib.verifyFirmware([1, 2], { size: 2, signMethod: 'MD5', sign: MD5_HELLO }), 'INVALID_ARGUMENT', 'plain array');
    },

    'Aliyun credentials'() {
      const base = { productKey: 'a1FlMDWCTf1', deviceName: 'device1', deviceSecret: 'secret1', clientId: '12345', timestamp: '1700000000000' };
      // Expected passwords: printf %s "$content" | openssl dgst -<md5|sha1|sha256> -hmac secret1
      const expected = {
        hmacmd5: 'afa9e73864531ecef2c641f351eeff09',
        hmacsha1: '6ca5d65bd4dc5bd3b6dccc537212fe16db2f520f',
        hmacsha256: '7be1cb5440351ebc347f696c5051bac301a653e6f4e6d803d0ec6522d724a5e6',
      };
      for (const [signMethod, password] of Object.entries(expected)) {
        const login = lib.aliyunCredentials({ ...base, signMethod });
        eq(login, { clientId: `12345|securemode=2,signmethod=${signMethod},timestamp=1700000000000|`, username: 'device1&a1FlMDWCTf1', password }, signMethod);
      }
      eq(lib.aliyunCredentials({ ...base, timestamp: 1700000000000, region: 'cn-shanghai' }).url, 'wss://a1FlMDWCTf1.iot-as-mqtt.cn-shanghai.aliyuncs.com:443/', 'region URL, number timestamp');
      const plain = lib.aliyunCredentials({ ...base, tls: false, instanceId: 'iot-06z00ax1o4d9lh8' });
      eq([plain.url, plain.clientId.includes('securemode=3')], ['ws://iot-06z00ax1o4d9lh8.mqtt.iothub.aliyuncs.com:443/', true], 'instance, no TLS');
      t(() => lib.aliyunCredentials({ ...base, signMethod: 'hmacsha512' }), 'UNKNOWN_MQTT_SIGN_METHOD', 'sha512');
      t(() => lib.aliyunCredentials({ ...base, deviceSecret: '' }), 'CREDENTIALS_EMPTY_FIELD', 'empty secret');
      t(() => lib.aliyunCredentials({ ...base, clientId: 'a|b' }), 'INVALID_CLIENT_ID', 'pipe in clientId');
      t(() => lib.aliyunCredentials({ ...base, timestamp: 'soon' }), 'INVALID_TIMESTAMP', 'text timestamp');
      t(() => lib.aliyunCredentials({ ...base, region: 'cn shanghai' }), 'INVALID_ENDPOINT', 'space in region');
      t(() => lib.aliyunCredentials({ ...base, region: 'a', instanceId: 'b' }), 'INVALID_ARGUMENT', 'region and instance');
      t(() => lib.aliyunCredentials({ productKey: 'p' }), 'INVALID_ARGUMENT', 'missing fields');
    },

    'parseDevicesConf'() {
      const devices = lib.parseDevicesConf('# devices\nmeter-0001 {\n  productKey : a1B2c3D4e5F\n  deviceName : meter-0001\n  deviceSecret : 0123\n}\n"m 2" = { productKey = "pk", deviceName = "dn", deviceSecret = "s#x" }\n');
      eq(devices, [
        { originalIdentity: 'meter-0001', productKey: 'a1B2c3D4e5F', deviceName: 'meter-0001', deviceSecret: '0123' },
        { originalIdentity: 'm 2', productKey: 'pk', deviceName: 'dn', deviceSecret: 's#x' },
      ], 'both styles');
      const e = t(() => lib.parseDevicesConf('a {\n  productKey: p\n  deviceName d\n}'), 'DEVICES_CONF_SYNTAX', 'missing separator');
      eq(e.line, 3, 'error line');
      const m = t(() => lib.parseDevicesConf('a { productKey: p, deviceName: d }'), 'DEVICES_CONF_DEVICE', 'missing secret');
      ok(m.message.includes('deviceSecret'), 'message names the field');
    },

    'OtaBridge'() {
      const devices = lib.parseDevicesConf('m1 { productKey: pk, deviceName: dn1, deviceSecret: s }\nm2 { productKey: pk, deviceName: dn2, deviceSecret: s }');
      const sent = [];
      const bridge = new lib.OtaBridge({ devices, publish: (topic, payload, qos) => { sent.push([topic, payload, qos]); } });
      eq(bridge.subscriptions(), ['/ota/device/upgrade/pk/dn1', '/sys/pk/dn1/thing/ota/firmware/get_reply', '/ota/device/upgrade/pk/dn2', '/sys/pk/dn2/thing/ota/firmware/get_reply'], 'subscriptions');
      eq(bridge.reportOtaVersion('12345', 'm1', '1.0.1'), true, 'report version');
      const seen = [];
      bridge.setOtaUpgradeHandler((requestId, info, session) => {
        seen.push([requestId, info.size, info.signMethod, info.sign, info.version, info.url, info.notice.module, session]);
        return true;
      });
      eq(bridge.handleMessage('/ota/device/upgrade/pk/dn2', NOTICE), true, 'notice for m2');
      eq(bridge.handleMessage('/ota/device/upgrade/pk/other', NOTICE), false, 'other device');
      eq(bridge.handleMessage('/ota/device/inform/pk/dn1', '{}'), false, 'uplink topic');
      eq(bridge.handleMessage('/sys/pk/dn1/thing/ota/firmware/get_reply', '{"id":"1","code":200,"data":{}}'), false, 'empty pull reply');
      eq(seen, [['1626969597470', 432945, 'Md5', '93230c3bde425a9d7984a594ac55ea1e', '2.0.0', URL, 'MCU', { originalIdentity: 'm2', productKey: 'pk', deviceName: 'dn2' }]], 'handler arguments');
      eq(bridge.reportOtaProgress('1626969597470', 'm2', -3, 'digest mismatch', 'MCU'), true, 'report progress');
      eq(sent, [
        ['/ota/device/inform/pk/dn1', '{"id":"12345","params":{"version":"1.0.1"}}', 1],
        ['/ota/device/progress/pk/dn2', '{"id":"1626969597470","params":{"step":"-3","desc":"digest mismatch","module":"MCU"}}', 1],
      ], 'published');
      t(() => bridge.reportOtaVersion('1', 'nobody', '1.0'), 'UNKNOWN_DEVICE', 'unknown device');
      t(() => bridge.reportOtaProgress('1', 'm1', 150, ''), 'INVALID_STEP', 'bad step');
      const e = t(() => bridge.handleMessage('/ota/device/upgrade/pk/dn1', '{"id":1,"data":{}}'), 'MISSING_FIELD', 'malformed notice');
      eq(e.topic, '/ota/device/upgrade/pk/dn1', 'error topic');
      const failing = new lib.OtaBridge({ devices, publish: () => { throw new Error('offline'); } });
      eq(failing.reportOtaVersion('1', 'm1', '1.0'), false, 'publish that throws');
      const refusing = new lib.OtaBridge({ devices, publish: () => false });
      eq(refusing.reportOtaVersion('1', 'm1', '1.0'), false, 'publish that returns false');
      t(() => new lib.OtaBridge({ devices }), 'INVALID_ARGUMENT', 'no publish');
      t(() => new lib.OtaBridge({ devices: [devices[0], devices[0]], publish() {} }), 'DUPLICATE_DEVICE', 'duplicate');
      bridge.free();
    },
  };
}
