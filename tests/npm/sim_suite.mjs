// The `otalab/sim` cases, run the same way as suite.mjs in every environment the packaging tests
// cover (Node ESM, Node CommonJS, a plain browser page, a Vite bundle). No file system, no
// network: scenarios are inline and the firmware is the sandbox's demo file or given bytes.

/** A fleet of 10, half failing verification: 5 succeed, 5 fail with -3. */
export const HALF_BAD = `
name = "half the fleet fails verification"

[connection]
kind = "sandbox"

[fleet]
product_key = "a1Npm"
names = "npm-{01..10}"
version = "1.0.0"

[device]
cadence_percent = 25
flash_ms = 600000     # ten minutes of flashing: virtual time, no waiting
reboot_ms = 1000

[[device.faults]]
share = 0.5
fault = { kind = "fail", failure = "verify", at_percent = 100 }

[firmware.v2]
file = "demo-2.0.0.bin"
version = "2.0.0"

[[actions]]
push = "v2"

[expect]
time_limit_ms = 3600000
quiet_ms = 900000     # a device silent this long counts as stalled: longer than the flashing

[expect.verdicts]
succeeded = 5
failed = 5
`;

function check(condition, what) {
  if (!condition) throw new Error(what);
}
function same(a, b, what) {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  if (x !== y) throw new Error(`${what}: ${x} !== ${y}`);
}
/** Calls `fn`, which must throw an OtaError of the core entry's class with `code`. */
function throwsCode(core, fn, code, what) {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof core.OtaError)) throw new Error(`${what}: not the package's OtaError: ${e && e.stack}`);
    if (e.code !== code) throw new Error(`${what}: code ${e.code}, expected ${code} (${e.message})`);
    return e;
  }
  throw new Error(`${what}: did not throw`);
}

/**
 * A broker in a few lines for the drivers' own-adapter case: exact topics or `#`-suffixed
 * filters, delivered in a later microtask. Not MQTT: the broker tests use mosquitto.
 */
function bus() {
  const clients = [];
  return () => {
    const me = { filters: [], handlers: [] };
    clients.push(me);
    const matches = (filter, topic) => (filter.endsWith('/#') ? topic.startsWith(filter.slice(0, -1)) : filter.includes('+')
      ? new RegExp(`^${filter.split('+').map((p) => p.replace(/[.*?^${}()|[\]\\]/g, '\\$&')).join('[^/]+')}$`).test(topic) : filter === topic);
    return {
      publish(topic, payload) {
        for (const c of clients) {
          if (c.filters.some((f) => matches(f, topic))) for (const h of c.handlers) queueMicrotask(() => h(topic, payload));
        }
        return Promise.resolve();
      },
      subscribe(filters) {
        me.filters.push(...filters);
        return Promise.resolve();
      },
      onMessage(handler) {
        me.handlers.push(handler);
      },
    };
  };
}

/** Waits (without a timer) until `fn()` holds, for at most `turns` macrotasks. */
async function settle(fn, turns = 2000) {
  for (let i = 0; i < turns && !fn(); i++) await new Promise((r) => setTimeout(r, 0));
  return fn();
}

/** The cases: `sim` is the `otalab/sim` entry, `core` the `otalab` entry, `mqtt` the `otalab/mqtt` entry. */
export function simCases(sim, core, mqtt) {
  const { Scenario } = sim;
  return {
    'mqtt: the client checks its options and opens nothing before connect()'() {
      check(mqtt.OtaError === core.OtaError, 'one OtaError class for every entry');
      const url = throwsCode(core, () => new mqtt.MqttClient({ url: 'mqtt://127.0.0.1:1883', clientId: 'x' }), 'MQTT_BAD_URL', 'not WebSocket');
      same(url.path, 'options.url', 'path');
      same(throwsCode(core, () => new mqtt.MqttClient({ url: 'ws://127.0.0.1:1', clientId: 'x', qos: 1 }), 'INVALID_ARGUMENT', 'unknown option').path, 'options.qos', 'path');
      same(throwsCode(core, () => new mqtt.MqttClient({ url: 'ws://127.0.0.1:1' }), 'INVALID_ARGUMENT', 'no client id').path, 'options.clientId', 'path');
      const client = new mqtt.MqttClient({ url: 'ws://127.0.0.1:1', clientId: 'nobody-home' });
      same(client.state, 'idle', 'nothing opened yet');
      // Connections are tested against mosquitto: tests/npm/mqtt-client.test.mjs (Node) and
      // tests/npm/fleet-example.test.mjs (Chromium).
    },

    'sim: a scenario runs in memory on a virtual clock and reports'() {
      check(sim.OtaError === core.OtaError, 'one OtaError class for both entries');
      const scenario = Scenario.parse(HALF_BAD);
      same(scenario.name, 'half the fleet fails verification', 'name');
      const report = scenario.runInMemory({ seed: 7 });
      check(report.passed, `expectations: ${JSON.stringify(report.toJSON().expectations)}`);
      const json = report.toJSON();
      same([json.summary.total, json.summary.succeeded, json.summary.failed], [10, 5, 5], 'summary');
      const failed = json.devices.filter((d) => d.verdict === 'failed');
      check(failed.every((d) => d.failure.code === -3 && d.fault === '-3 verification fails @ 100 %'), 'failures and faults');
      check(json.devices.filter((d) => d.verdict === 'succeeded').every((d) => d.finalVersion === '2.0.0'), 'final versions');
      // Ten minutes of flashing passed on the virtual clock.
      check(report.stats.virtualMs >= 600_000, `virtual time ${report.stats.virtualMs}`);
      check(report.stats.servedBytes >= 10 * 1024 * 1024, `served ${report.stats.servedBytes}`);
      // One row per progress report, then (after a blank line) the summary and the batches.
      const csv = report.toCsv().split('\n\n')[0].trim().split('\n');
      check(csv[0].startsWith('productKey,deviceName,'), 'CSV header');
      check(csv.length - 1 === json.devices.reduce((n, d) => n + d.steps.length, 0), 'a CSV row per step');
      const junit = report.toJunit();
      check(junit.includes('devices" tests="10"') && junit.includes('<testcase classname="expectations" name="failed: exactly 5">'), 'JUnit');
      check(report.toHtml().includes('half the fleet fails verification') && report.toHtml('T').includes('<title>T'), 'HTML');
      // The same seed gives the same run.
      const again = scenario.runInMemory({ seed: 7 }).toJSON();
      same({ ...again, generatedAtMs: 0 }, { ...json, generatedAtMs: 0 }, 'same seed, same report');
      const shard = scenario.runInMemory({ seed: 7, shard: '2/2' }).toJSON();
      same(shard.summary.total, 5, 'shard 2/2');
      report.free();
      scenario.free();
    },

    'sim: firmware and fleet files given as bytes and text'() {
      const text = HALF_BAD.replace('file = "demo-2.0.0.bin"', 'file = "mine.bin"')
        .replace('names = "npm-{01..10}"', 'csv = "fleet.csv"');
      const scenario = Scenario.parse(text);
      const csv = 'productKey,deviceName,version\na1Npm,own-1,1.0.0\na1Npm,own-2,1.0.0\n';
      throwsCode(core, () => scenario.runInMemory({ files: { 'mine.bin': new Uint8Array(10) } }), 'SCENARIO_INVALID', 'fleet file missing');
      const missing = throwsCode(core, () => scenario.runInMemory({ files: { 'fleet.csv': csv } }), 'FIRMWARE_UNREADABLE', 'firmware missing');
      check(missing.message.includes('mine.bin'), missing.message);
      const firmware = new Uint8Array(100_000).map((_, i) => i * 7);
      const json = scenario.runInMemory({ files: { 'mine.bin': firmware, 'fleet.csv': csv } }).toJSON();
      same(json.devices.map((d) => d.deviceName), ['own-1', 'own-2'], 'fleet from the CSV');
      same(json.devices[0].notice.files[0].size, 100_000, 'the given firmware was pushed');
    },

    'sim: refusals name the place'() {
      const syntax = throwsCode(core, () => Scenario.parse('name = "x"\n[fleet\n'), 'SCENARIO_SYNTAX', 'TOML syntax');
      same(syntax.line, 2, 'line');
      const invalid = throwsCode(core, () => Scenario.parse(HALF_BAD.replace('push = "v2"', 'push = "v3"')), 'SCENARIO_INVALID', 'unknown firmware');
      check(invalid.path.startsWith('actions[0]'), `path ${invalid.path}`);
      const surprise = HALF_BAD.replace('[expect]', '[expect]\nsurprise = 1');
      const unknown = throwsCode(core, () => Scenario.parse(surprise), 'SCENARIO_INVALID', 'unknown key');
      same(unknown.path, 'expect.surprise', 'unknown key path');
      same(unknown.line, surprise.split('\n').indexOf('surprise = 1') + 1, 'unknown key line');
      same(unknown.column, 1, 'unknown key column');
      const negative = HALF_BAD.replace('flash_ms = 600000', 'flash_ms = -5');
      const range = throwsCode(core, () => Scenario.parse(negative), 'SCENARIO_INVALID', 'negative flash_ms');
      same([range.path, range.line], ['device.flash_ms', negative.split('\n').findIndex((l) => l.startsWith('flash_ms = -5')) + 1], 'negative flash_ms place');
      const wrongType = throwsCode(core, () => Scenario.fromJSON({ ...Scenario.parse(HALF_BAD).toJSON(), name: 3 }), 'SCENARIO_INVALID', 'JSON wrong type');
      same(wrongType.path, 'name', 'JSON wrong type path');
      throwsCode(core, () => Scenario.parse(42), 'INVALID_ARGUMENT', 'not text');
      throwsCode(core, () => Scenario.fromJSON([1]), 'INVALID_ARGUMENT', 'an array');
      throwsCode(core, () => Scenario.fromJSON('{'), 'SCENARIO_SYNTAX', 'bad JSON');
      const scenario = Scenario.parse(HALF_BAD);
      for (const [options, path] of [[{ seed: -1 }, 'options.seed'], [{ shard: '3/2' }, 'options.shard'], [{ files: { x: 5 } }, 'options.files["x"]'], ['x', 'options']]) {
        const e = throwsCode(core, () => scenario.runInMemory(options), 'INVALID_ARGUMENT', JSON.stringify(options));
        same(e.path, path, 'argument path');
      }
      const aliyun = Scenario.parse(HALF_BAD.replace('kind = "sandbox"', 'kind = "aliyun"\nregion = "cn-shanghai"')
        .replace('[[actions]]\npush = "v2"\n', '').replace('[firmware.v2]\nfile = "demo-2.0.0.bin"\nversion = "2.0.0"\n', ''));
      throwsCode(core, () => aliyun.runInMemory(), 'NO_SANDBOX_CLOUD', 'Alibaba Cloud connection');
    },

    async 'sim: a Cloud and SimulatedDevices on your own adapter, clock and fetch'() {
      const connect = bus();
      const firmware = new Uint8Array(50_000).map((_, i) => (i * 31) & 0xff);
      const url = 'https://firmware.example.invalid/fw.bin';
      // Time by hand: timers wait until the test moves the clock.
      let now = 1_800_000_000_000;
      const timers = [];
      const clock = { now: () => now, setTimeout: (fn, ms) => timers.push({ at: now + ms, fn }), clearTimeout: () => {} };
      const fetch = async (asked, init) => {
        check(asked === url && !init.headers.Range, `fetch ${asked}`);
        return new Response(firmware, { status: 200 });
      };
      const cloud = new sim.Cloud({}, { mqtt: connect(), clock });
      await cloud.start();
      const devices = [];
      for (const [name, fault] of [['a', undefined], ['b', { kind: 'fail', failure: 'verify', at_percent: 100 }]]) {
        const d = new sim.SimulatedDevice({ productKey: 'a1Bus', deviceName: name, flashMs: 60_000, rebootMs: 1000, fault }, { mqtt: connect(), clock, fetch });
        await d.start();
        devices.push(d);
      }
      check(await settle(() => cloud.devices.length === 2), `devices heard: ${cloud.devices}`);
      const pkg = sim.Cloud.describe(url, '2.0.0', firmware);
      same([pkg.size, pkg.version, pkg.name], [50_000, '2.0.0', 'fw.bin'], 'describe');
      cloud.push(cloud.devices, pkg, { signMethod: 'SHA256' });
      check(await settle(() => devices[0].state.phase === 'flashing' && cloud.verdict('a1Bus/b') === 'failed'), `phases ${devices.map((d) => d.state.phase)}`);
      // A minute of flashing, then the reboot: by hand.
      for (const step of [60_000, 1000]) {
        now += step;
        for (const t of timers.splice(0)) if (t.at <= now) t.fn(); else timers.push(t);
        await settle(() => false, 5);
      }
      check(await settle(() => cloud.verdict('a1Bus/a') === 'succeeded'), `verdict ${cloud.verdict('a1Bus/a')}`);
      same(devices[0].state.versions, { default: '2.0.0' }, 'new version');
      const json = cloud.report().toJSON();
      same([json.summary.succeeded, json.summary.failed], [1, 1], 'report');
      same(json.devices[1].failure.code, -3, 'the faulty device failed verification');
      throwsCode(core, () => new sim.SimulatedDevice({ productKey: 'a1Bus', deviceName: 'c', colour: 1 }, { mqtt: connect() }), 'INVALID_ARGUMENT', 'unknown option');
      throwsCode(core, () => cloud.push([], pkg), 'NO_DEVICES', 'no devices');
      for (const d of devices) d.stop();
      cloud.stop();
    },

    async 'sim: a ConformanceSuite grades a SimulatedDevice on your own adapter'() {
      const connect = bus();
      const firmware = new Uint8Array(20_000).map((_, i) => (i * 13) & 0xff);
      const url = 'https://firmware.example.invalid/fw.bin';
      const fetch = async () => new Response(firmware, { status: 200 });
      const pkg = sim.Cloud.describe(url, '2.0.0', firmware);
      const cases = ['md5', 'bad_digest', 'mqtt', 'mqtt_bad_crc'];
      const grade = async (fault) => {
        const suite = new sim.ConformanceSuite({
          device: 'a1Suite/dut', package: pkg, firmware, cases,
          limits: { caseTimeoutMs: 10_000, reactionMs: 3000, settleMs: 50, gapMs: 10, quietMs: 100 }, waitMs: 5000,
        }, { mqtt: connect() });
        const events = [];
        suite.onEvent((e) => events.push(e.kind));
        const card = suite.run();
        const device = new sim.SimulatedDevice({ productKey: 'a1Suite', deviceName: 'dut', flashMs: 10, rebootMs: 10, blockSize: 4096, fault }, { mqtt: connect(), fetch });
        await device.start();
        try {
          return { card: await card, events, junit: suite.junit(), errors: suite.errors };
        } finally {
          device.stop();
          suite.stop();
        }
      };
      const good = await grade(undefined);
      same(good.card.cases.map((c) => [c.case, c.grade]), cases.map((c) => [c, 'pass']), 'a correct device passes');
      check(good.card.passed && good.events[0] === 'version' && good.events.at(-1) === 'finished', `events ${good.events}`);
      check(good.junit.includes(`tests="${cases.length}"`) && good.junit.includes('failures="0"'), 'JUnit');
      same(good.errors, [], 'no errors');
      // A device whose every verification "fails" fails the upgrades and passes the refusal.
      const bad = await grade({ kind: 'fail', failure: 'verify', at_percent: 100 });
      same(bad.card.cases.map((c) => [c.case, c.grade]), [['md5', 'fail'], ['bad_digest', 'pass'], ['mqtt', 'fail'], ['mqtt_bad_crc', 'fail']], 'a device that fails verification');
      check(!bad.card.passed && bad.card.cases[0].evidence.length > 0, 'evidence');
      throwsCode(core, () => new sim.ConformanceSuite({ device: 'a1Suite/dut', package: pkg, cases: ['mqtt'] }, { mqtt: connect() }), 'INVALID_ARGUMENT', 'MQTT cases need the firmware');
    },

    'sim: JSON and TOML round trips'() {
      const scenario = Scenario.parse(HALF_BAD);
      const json = scenario.toJSON();
      same(json.fleet.names, 'npm-{01..10}', 'toJSON');
      same(Scenario.fromJSON(json).toJSON(), json, 'fromJSON(object)');
      same(Scenario.fromJSON(JSON.stringify(json)).toJSON(), json, 'fromJSON(text)');
      same(Scenario.parse(scenario.toToml()).toJSON(), json, 'toToml then parse');
    },
  };
}
