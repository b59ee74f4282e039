// Property tests of the npm package's JavaScript API: every public function, constructor and
// method of every entry (`otalab`, `otalab/sim`, `otalab/mqtt`) is called with generated
// argument lists (well-formed values, near misses and hostile ones: NaN, infinities, -0, huge
// numbers, bigints, symbols, functions, null/undefined, missing and extra arguments, proxies and
// getters that throw, revoked proxies, typed arrays of every kind, detached buffers). The
// invariant: the call succeeds, or it throws (or its promise rejects with) an `OtaError` whose
// `code` is one the README documents and, for `INVALID_ARGUMENT`, whose `path` names an argument
// of that call; and the object it was called on still works.
//
// Environment-agnostic: Node runs it with thousands of cases per call, Chromium with fewer.
// `propertyCases({ fc, lib, sim, mqtt, codes, runs })` returns `{ name: async () => count }`.

/** Values no API takes as they are, each made fresh (a detached buffer, a revoked proxy...). */
const HOSTILE = [
  () => undefined,
  () => null,
  () => NaN,
  () => Infinity,
  () => -Infinity,
  () => -0,
  () => 1e308,
  () => -1,
  () => 2 ** 53,
  () => 0.5,
  () => 10n,
  () => Symbol('s'),
  () => () => 1,
  () => '',
  () => 'x'.repeat(300),
  () => '\u0000/+#',
  () => true,
  () => [],
  () => [1, 'a', null],
  () => ({}),
  () => new Date(0),
  () => new Map([[1, 2]]),
  () => new Int8Array([1, -1]),
  () => new Uint8Array([1, 2, 3]),
  () => new Uint8ClampedArray([9]),
  () => new Int16Array([1]),
  () => new Uint16Array([1]),
  () => new Int32Array([1]),
  () => new Uint32Array([1]),
  () => new Float32Array([1.5]),
  () => new Float64Array([NaN]),
  () => new BigInt64Array([1n]),
  () => new BigUint64Array([1n]),
  () => new DataView(new ArrayBuffer(4)),
  () => new ArrayBuffer(3),
  () => detached(),
  () => { const bytes = new Uint8Array(8); structuredClone(bytes.buffer, { transfer: [bytes.buffer] }); return bytes; },
  () => throwingGetter(),
  () => throwingProxy(),
  () => revokedProxy(),
  () => { const cycle = {}; cycle.self = cycle; return cycle; },
  () => Object.create(null),
  () => ({ toString() { throw new Error('toString'); }, valueOf() { throw new Error('valueOf'); } }),
];

function detached() {
  const buffer = new ArrayBuffer(8);
  structuredClone(buffer, { transfer: [buffer] });
  return buffer;
}

function throwingGetter(base = {}) {
  const object = { ...base };
  Object.defineProperty(object, 'boom', { enumerable: true, get() { throw new Error('getter'); } });
  return object;
}

function throwingProxy(base = {}) {
  const fail = () => { throw new Error('trap'); };
  return new Proxy(base, { get: fail, has: fail, ownKeys: fail, getOwnPropertyDescriptor: fail, getPrototypeOf: fail });
}

function revokedProxy() {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

/** Reads the documented codes: every `UPPER_CASE` word in backticks of the README's Errors section. */
export function documentedCodes(readme) {
  const section = readme.slice(readme.indexOf('## Errors'));
  return new Set([...section.matchAll(/`([A-Z][A-Z0-9_]{2,})`/g)].map((m) => m[1]));
}

/**
 * A value made only when the call is made: fast-check looks into the values it generates, and a
 * revoked proxy or a throwing getter would break it there.
 */
class Lazy {
  constructor(make) {
    this.make = make;
  }
}

/** The arguments as the call gets them: every `Lazy` made, plain objects and arrays copied. */
function materialize(value) {
  if (value instanceof Lazy) return value.make();
  if (Array.isArray(value)) return value.map(materialize);
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, materialize(v)]));
  }
  return value;
}

export function propertyCases({ fc, lib, sim, mqtt, codes, runs = 1000 }) {
  const hostile = fc.integer({ min: 0, max: HOSTILE.length - 1 }).map((i) => new Lazy(HOSTILE[i]));
  const anyValue = fc.oneof(
    { weight: 4, arbitrary: hostile },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
    { weight: 1, arbitrary: fc.double() },
    { weight: 1, arbitrary: fc.string() },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  );
  /** A valid value most of the time, else anything. */
  const maybe = (valid) => fc.oneof({ weight: 3, arbitrary: valid }, { weight: 2, arbitrary: anyValue });
  /** An options object with one field (known, nested or unknown) replaced by anything. */
  const mutated = (valid, extraKeys = []) => fc.oneof(
    { weight: 2, arbitrary: fc.constant(new Lazy(() => structuredCloneish(valid))) },
    {
      weight: 5,
      arbitrary: fc.tuple(fc.constantFrom(...Object.keys(valid), ...extraKeys, 'unknownOption'), anyValue)
        .map(([key, value]) => new Lazy(() => ({ ...structuredCloneish(valid), [key]: materialize(value) }))),
    },
    { weight: 1, arbitrary: fc.constant(new Lazy(() => throwingGetter(valid))) },
    { weight: 1, arbitrary: fc.constant(new Lazy(() => throwingProxy(structuredCloneish(valid)))) },
    { weight: 1, arbitrary: anyValue },
  );
  /** Argument lists for a call of `params` arbitraries: some dropped, some extra. */
  const argLists = (params) => fc.tuple(fc.tuple(...params.map(maybe)), fc.nat(params.length), fc.array(anyValue, { maxLength: 2 }))
    .map(([args, drop, extra]) => (extra.length ? [...args, ...extra] : args.slice(0, args.length - drop)));

  /**
   * Checks one call's outcome: success, or an OtaError with a documented code (and for
   * INVALID_ARGUMENT a path naming one of `names`). Returns whether it was refused.
   */
  async function judge(what, names, call, OtaError) {
    let result;
    try {
      result = call();
    } catch (error) {
      checkError(what, names, error, OtaError);
      return true;
    }
    if (result && typeof result.then === 'function') {
      // A promise: a refusal rejects at once; a call that waits (a publish while disconnected,
      // a suite waiting for its device) is left pending.
      const outcome = await Promise.race([
        result.then(() => ({ ok: true }), (error) => ({ error })),
        new Promise((resolve) => setTimeout(() => resolve({ pending: true }), 0)),
      ]);
      if (outcome.error !== undefined) {
        checkError(what, names, outcome.error, OtaError);
        return true;
      }
    }
    return false;
  }

  function checkError(what, names, error, OtaError) {
    const describe = () => `${what}: ${error?.name}: ${error?.message}`;
    if (!(error instanceof OtaError) || error.name !== 'OtaError') throw new Error(`not an OtaError: ${describe()}\n${error?.stack}`);
    if (!codes.has(error.code)) throw new Error(`undocumented code ${error.code}: ${describe()}`);
    if (typeof error.message !== 'string' || error.message.length === 0) throw new Error(`empty message: ${describe()}`);
    if (error.code === 'INVALID_ARGUMENT') {
      const first = typeof error.path === 'string' ? error.path.split(/[.[]/)[0] : undefined;
      if (!names.includes(first)) throw new Error(`path ${JSON.stringify(error.path)} names no argument of (${names.join(', ')}): ${describe()}`);
    }
  }

  /**
   * `count` runs of `call(...args)` on argument lists from `params`; after each, `stillWorks()`
   * must succeed. Returns the number of cases tried.
   */
  async function property(what, names, params, call, stillWorks, OtaError, numRuns = runs) {
    let tried = 0;
    await fc.assert(
      fc.asyncProperty(argLists(params), async (recipe) => {
        tried++;
        const args = materialize(recipe);
        await judge(what, names, () => call(...args), OtaError);
        try {
          stillWorks();
        } catch (error) {
          throw new Error(`${what} left its object unusable after (${recipe.map(show).join(', ')}): ${error?.message}`);
        }
      }),
      { numRuns, endOnFailure: true, includeErrorInReport: true },
    );
    return tried;
  }

  const nothing = () => {};
  const PK = 'a1Prop';
  const DN = 'dev-1';
  const KINDS = ['inform', 'upgrade', 'progress', 'firmwareGet', 'firmwareGetReply', 'fileDownload', 'fileDownloadReply'];
  const MD5_HELLO = '5d41402abc4b2a76b9719d911017c592';
  const NOTICE = `{"code":"1000","id":"7","message":"success","data":{"size":5,"version":"2.0.0","url":"https://h/f.bin","md5":"${MD5_HELLO}","signMethod":"Md5"}}`;
  const ids = fc.oneof(fc.nat(), fc.stringMatching(/^[0-9]{1,12}$/));
  const payloads = (samples) => fc.oneof(fc.constantFrom(...samples), fc.string(), fc.uint8Array({ maxLength: 64 }));

  const core = (OtaError = lib.OtaError) => {
    const functions = {
      topic: [['kind', 'productKey', 'deviceName'], [fc.constantFrom(...KINDS), fc.constantFrom(PK, '', 'a+b'), fc.constantFrom(DN, 'd/e')]],
      parseTopic: [['topic'], [fc.constantFrom(`/ota/device/inform/${PK}/${DN}`, `/sys/${PK}/${DN}/thing/ota/firmware/get`, '/x')]],
      encodeVersionReport: [['report'], [mutated({ id: 1, version: '1.0.0', module: 'MCU' })]],
      decodeVersionReport: [['payload'], [payloads(['{"id":"1","params":{"version":"1.0.0"}}'])]],
      decodeUpgradeNotice: [['payload'], [payloads([NOTICE])]],
      decodeFirmwareGetReply: [['payload'], [payloads([NOTICE, '{"code":"1000","id":"1","data":{}}'])]],
      encodeFirmwareGet: [['request'], [mutated({ id: 2, module: 'default' })]],
      decodeFirmwareGet: [['payload'], [payloads(['{"id":"2","params":{"module":"MCU"}}'])]],
      encodeProgress: [['progress'], [mutated({ id: 3, step: 50, desc: 'half', module: 'MCU' })]],
      decodeProgress: [['payload'], [payloads(['{"id":"3","params":{"step":"50","desc":"x"}}'])]],
      encodeFileBlockRequest: [['request'], [mutated({ id: 1, streamId: 9, fileId: 1, offset: 0, size: 16, fileToken: 't' })]],
      decodeFileBlockRequest: [['payload'], [payloads(['{"id":"1","params":{"fileToken":"t","fileInfo":{"streamId":9,"fileId":1},"fileBlock":{"size":16,"offset":0}}}'])]],
      encodeFileBlockReply: [['reply'], [mutated({ id: '1', fileLength: 3, offset: 0, block: new Uint8Array([1, 2, 3]), code: 200, msg: 'ok' })]],
      decodeFileBlockReply: [['frame'], [fc.oneof(fc.constant(null).map(() => lib.encodeFileBlockReply({ id: '1', fileLength: 3, offset: 0, block: new Uint8Array([1, 2, 3]) })), fc.uint8Array({ maxLength: 64 }))]],
      verifyFirmware: [['bytes', 'expected'], [fc.constant(null).map(() => new TextEncoder().encode('hello')), mutated({ size: 5, signMethod: 'MD5', sign: MD5_HELLO })]],
      aliyunCredentials: [['options'], [mutated({ productKey: PK, deviceName: DN, deviceSecret: 's3cret', clientId: 'c1', timestamp: 1, signMethod: 'hmacsha256', tls: true, region: 'cn-shanghai' }, ['instanceId'])]],
      parseDevicesConf: [['text'], [fc.oneof(fc.constant(`${PK} ${DN} s3cret orig-1\n`), fc.string())]],
    };
    const cases = {};
    for (const [name, [names, params]] of Object.entries(functions)) {
      cases[`otalab ${name}`] = () => property(name, names, params, (...a) => lib[name](...a), nothing, OtaError);
    }
    const expected = { size: 5, signMethod: 'MD5', sign: MD5_HELLO };
    cases['otalab new FirmwareVerifier'] = () => property('new FirmwareVerifier', ['expected'], [mutated(expected)], (...a) => new lib.FirmwareVerifier(...a), nothing, OtaError);
    cases['otalab FirmwareVerifier.update/finish'] = async () => {
      let verifier = new lib.FirmwareVerifier(expected);
      const tried = await property('FirmwareVerifier.update', ['chunk'], [fc.uint8Array({ maxLength: 8 })], (...a) => {
        // A finished verifier refuses with VERIFIER_FINISHED; start a new one now and then.
        if (verifier.received > 64) verifier = new lib.FirmwareVerifier(expected);
        return verifier.update(...a);
      }, () => verifier.received, OtaError);
      return tried + await property('FirmwareVerifier.finish', [], [], () => verifier.finish(), () => verifier.received, OtaError, Math.ceil(runs / 10));
    };
    const bridgeOptions = { devices: [{ originalIdentity: 'orig-1', productKey: PK, deviceName: DN, deviceSecret: 's3cret' }], publish: () => true };
    cases['otalab new OtaBridge'] = () => property('new OtaBridge', ['options'], [mutated(bridgeOptions)], (...a) => new lib.OtaBridge(...a), nothing, OtaError);
    cases['otalab OtaBridge methods'] = async () => {
      const bridge = new lib.OtaBridge(bridgeOptions);
      const works = () => bridge.subscriptions();
      let tried = 0;
      tried += await property('OtaBridge.reportOtaVersion', ['requestId', 'originalIdentity', 'version', 'module'], [ids, fc.constantFrom('orig-1', 'nobody'), fc.constantFrom('2.0.0', ''), fc.constantFrom('MCU', undefined)], (...a) => bridge.reportOtaVersion(...a), works, OtaError);
      tried += await property('OtaBridge.reportOtaProgress', ['requestId', 'originalIdentity', 'step', 'desc', 'module'], [ids, fc.constantFrom('orig-1'), fc.oneof(fc.integer({ min: -5, max: 101 }), fc.string()), fc.string(), fc.constantFrom('MCU', undefined)], (...a) => bridge.reportOtaProgress(...a), works, OtaError);
      tried += await property('OtaBridge.setOtaUpgradeHandler', ['handler'], [fc.constant(() => true)], (...a) => bridge.setOtaUpgradeHandler(...a), works, OtaError);
      bridge.setOtaUpgradeHandler(() => true);
      tried += await property('OtaBridge.handleMessage', ['topic', 'payload'], [fc.constantFrom(`/ota/device/upgrade/${PK}/${DN}`, '/x'), payloads([NOTICE])], (...a) => bridge.handleMessage(...a), works, OtaError);
      return tried;
    };
    return cases;
  };

  /** A stand-in MQTT adapter (the property tests judge argument handling, not the network). */
  const adapter = () => ({ publish: async () => {}, subscribe: async () => {}, onMessage: () => {}, disconnect: async () => {}, connect: async () => {} });
  let now = 1_800_000_000_000;
  const clock = { now: () => now, setTimeout: () => 0, clearTimeout: () => {} };
  const io = () => ({ mqtt: adapter(), clock, fetch: async () => { throw new Error('no network here'); } });

  const simulation = (OtaError = sim.OtaError) => {
    const { Scenario, SimulatedDevice, Cloud, ConformanceSuite, mqttJsAdapter } = sim;
    const TINY = `name = "tiny"\n[fleet]\nproduct_key = "${PK}"\nnames = "d-{1..2}"\n[firmware.v2]\nfile = "demo-2.0.0.bin"\nversion = "2.0.0"\n[[actions]]\npush = "v2"\n[expect.verdicts]\nsucceeded = 2\n`;
    const firmware = new Uint8Array(4096).map((_, i) => i & 0xff);
    const pkg = Cloud.describe('https://firmware.invalid/fw.bin', '2.0.0', firmware);
    const deviceOptions = { productKey: PK, deviceName: DN, version: '1.0.0', modules: { MCU: '1.0' }, cadencePercent: 10, flashMs: 10, rebootMs: 10, autoUpgrade: true, maxResumes: 2, blockSize: 1024, blockTimeoutMs: 100, maxBlockRetries: 2, fault: { kind: 'stall', at_percent: 50 } };
    const suiteOptions = { device: `${PK}/${DN}`, package: pkg, firmware, cases: ['md5', 'mqtt'], waitMs: 1000 };
    const cases = {};
    cases['otalab/sim Scenario.parse'] = () => property('Scenario.parse', ['text'], [fc.oneof(fc.constant(TINY), fc.string(), fc.tuple(fc.constantFrom('flash_ms', 'cadence_percent', 'names', 'surprise'), fc.oneof(fc.integer(), fc.string().map(JSON.stringify))).map(([k, v]) => `${TINY}[device]\n${k} = ${v}\n`))], (...a) => Scenario.parse(...a), nothing, OtaError);
    const json = Scenario.parse(TINY).toJSON();
    cases['otalab/sim Scenario.fromJSON'] = () => property('Scenario.fromJSON', ['value'], [fc.oneof(mutated(json), fc.constant(JSON.stringify(json)), fc.json())], (...a) => Scenario.fromJSON(...a), nothing, OtaError);
    cases['otalab/sim Scenario methods'] = async () => {
      const scenario = Scenario.parse(TINY);
      const works = () => scenario.toJSON();
      let tried = await property('Scenario.runInMemory', ['options'], [mutated({ seed: 1, shard: '1/1', files: {} })], (...a) => scenario.runInMemory(...a), works, OtaError, Math.ceil(runs / 4));
      tried += await property('Scenario.toToml', [], [], (...a) => scenario.toToml(...a), works, OtaError, Math.ceil(runs / 10));
      const report = scenario.runInMemory({ seed: 2 });
      tried += await property('SimReport.toHtml', ['title'], [fc.string()], (...a) => report.toHtml(...a), () => report.toCsv(), OtaError);
      return tried;
    };
    cases['otalab/sim new SimulatedDevice'] = () => property('new SimulatedDevice', ['options', 'io'], [mutated(deviceOptions), fc.constant(null).map(io)], (...a) => new SimulatedDevice(...a).stop(), nothing, OtaError);
    cases['otalab/sim SimulatedDevice methods'] = async () => {
      const device = new SimulatedDevice(deviceOptions, io());
      const works = () => device.state;
      let tried = await property('SimulatedDevice.onChange', ['listener'], [fc.constant(() => {})], (...a) => device.onChange(...a), works, OtaError);
      tried += await property('SimulatedDevice.start/upgrade/stop', [], [], () => { now += 1; return Promise.all([device.start(), device.upgrade()]); }, works, OtaError, Math.ceil(runs / 10));
      return tried;
    };
    cases['otalab/sim new Cloud'] = () => property('new Cloud', ['options', 'io'], [mutated({ firstId: 1000 }), fc.constant(null).map(io)], (...a) => new Cloud(...a).stop(), nothing, OtaError);
    cases['otalab/sim Cloud.describe'] = () => property('Cloud.describe', ['url', 'version', 'bytes'], [fc.constantFrom('https://h/f.bin', 'ftp://h/f', 'http://'), fc.constantFrom('2.0.0', '', 'v 1'), fc.uint8Array({ maxLength: 32 })], (...a) => Cloud.describe(...a), nothing, OtaError);
    cases['otalab/sim Cloud methods'] = async () => {
      const cloud = new Cloud({}, io());
      const works = () => { cloud.batches(); cloud.verdict(`${PK}/${DN}`); };
      const devices = fc.array(fc.constantFrom(`${PK}/${DN}`, `${PK}/d-2`, 'nobody', `${PK}/a+b`), { maxLength: 3 });
      let tried = 0;
      tried += await property('Cloud.serve', ['pkg', 'bytes'], [mutated(pkg), fc.constant(firmware)], (...a) => cloud.serve(...a), works, OtaError);
      tried += await property('Cloud.setFaultUrls', ['urls'], [mutated({ flaky: 'http://127.0.0.1:1/flaky/', expired: 'http://127.0.0.1:1/expired/', missing: 'http://127.0.0.1:1/missing/', slow: '' })], (...a) => cloud.setFaultUrls(...a), works, OtaError);
      tried += await property('Cloud.push', ['devices', 'pkg', 'options'], [devices, mutated(pkg), mutated({ kind: 'over_mqtt', signMethod: 'SHA256', module: 'default' })], (...a) => { now += 1000; return cloud.push(...a); }, works, OtaError);
      tried += await property('Cloud.cancel', ['batch'], [fc.integer({ min: -1, max: 5 })], (...a) => cloud.cancel(...a), works, OtaError);
      tried += await property('Cloud.retryFailed', ['batch'], [fc.integer({ min: -1, max: 5 })], (...a) => cloud.retryFailed(...a), works, OtaError);
      tried += await property('Cloud.verdict', ['device'], [fc.constantFrom(`${PK}/${DN}`, 'x')], (...a) => cloud.verdict(...a), works, OtaError);
      tried += await property('Cloud.whenSettled', ['options'], [mutated({ quietMs: 0, timeoutMs: 0 })], (...a) => cloud.whenSettled(...a), works, OtaError);
      tried += await property('Cloud.report', ['devices'], [devices], (...a) => cloud.report(...a), works, OtaError);
      tried += await property('Cloud.onChange', ['listener'], [fc.constant(() => {})], (...a) => cloud.onChange(...a), works, OtaError);
      return tried;
    };
    cases['otalab/sim new ConformanceSuite'] = () => property('new ConformanceSuite', ['options', 'io'], [mutated(suiteOptions, ['limits', 'faultUrls']), fc.constant(null).map(io)], (...a) => new ConformanceSuite(...a).stop(), nothing, OtaError);
    cases['otalab/sim ConformanceSuite methods'] = async () => {
      const suite = new ConformanceSuite(suiteOptions, io());
      const works = () => suite.report();
      let tried = await property('ConformanceSuite.onEvent', ['listener'], [fc.constant(() => {})], (...a) => suite.onEvent(...a), works, OtaError);
      tried += await property('ConformanceSuite.run/junit', [], [], () => { suite.junit(); return suite.run(); }, works, OtaError, Math.ceil(runs / 10));
      return tried;
    };
    cases['otalab/sim mqttJsAdapter'] = () => property('mqttJsAdapter', ['client'], [fc.constant({ publish() {}, on() {}, subscribe() {}, end() {}, once() {}, reconnect() {} })], (...a) => mqttJsAdapter(...a), nothing, OtaError);
    return cases;
  };

  const client = (OtaError = mqtt.OtaError) => {
    const { MqttClient } = mqtt;
    const options = { url: 'ws://127.0.0.1:9/mqtt', clientId: 'prop-1', username: 'u', password: 'p', keepAliveSecs: 30, cleanSession: true, reconnect: false, connectTimeoutMs: 1000 };
    const cases = {};
    cases['otalab/mqtt new MqttClient'] = () => property('new MqttClient', ['options'], [mutated(options)], (...a) => new MqttClient(...a).free(), nothing, OtaError);
    cases['otalab/mqtt MqttClient methods'] = async () => {
      const c = new MqttClient(options);
      const works = () => c.state;
      let tried = 0;
      tried += await property('MqttClient.publish', ['topic', 'payload', 'options'], [fc.constantFrom('a/b', '', 'a/+'), fc.oneof(fc.string(), fc.uint8Array({ maxLength: 16 })), mutated({ qos: 1, retain: false })], (...a) => c.publish(...a), works, OtaError);
      tried += await property('MqttClient.subscribe', ['filters', 'options'], [fc.oneof(fc.constantFrom('a/#', 'a/#/b'), fc.array(fc.constantFrom('a/+', ''), { maxLength: 3 })), mutated({ qos: 0 })], (...a) => c.subscribe(...a), works, OtaError);
      tried += await property('MqttClient.onMessage', ['handler'], [fc.constant(() => {})], (...a) => c.onMessage(...a), works, OtaError);
      tried += await property('MqttClient.onEvent', ['listener'], [fc.constant(() => {})], (...a) => c.onEvent(...a), works, OtaError);
      c.disconnect();
      return tried;
    };
    return cases;
  };

  return { ...core(), ...simulation(), ...client() };
}

/** A copy of an options object that keeps bytes and functions as they are. */
function structuredCloneish(value) {
  if (Array.isArray(value)) return value.map(structuredCloneish);
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, structuredCloneish(v)]));
  }
  return value;
}

/** An argument as a failure message shows it. */
function show(value) {
  try {
    if (value instanceof Lazy) return `lazy(${String(value.make).slice(0, 60)})`;
    if (typeof value === 'bigint') return `${value}n`;
    if (typeof value === 'symbol' || typeof value === 'function') return String(value);
    if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
