// The native runner (`target/debug/otalab`) against real components: the sandbox (mosquitto +
// the HTTP server with Range), mosquitto over TLS and secure WebSocket with a throw-away CA,
// and an independent cloud written with MQTT.js and node:crypto. Scenario files are checked
// with independent parsers (smol-toml, Ajv for the JSON Schema, fast-xml-parser for JUnit).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Ajv2020 from 'ajv/dist/2020.js';
import { XMLParser } from 'fast-xml-parser';
import mqtt from 'mqtt';
import { parse as parseToml } from 'smol-toml';

import { freePort, startMosquitto } from '../../sandbox/mosquitto.mjs';
import { startSandbox } from '../../sandbox/sandbox.mjs';
import { bin, otalab } from '../support/otalab.mjs';
import { until } from '../support/until.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const examples = path.join(repo, 'examples/scenarios');
const scenarios = path.join(repo, 'tests/runner/scenarios');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'otalab-runner-'));

let sandbox;

const run = (scenario, extra = [], options) =>
  otalab(['run', scenario, '--sandbox', sandbox.url, '--progress', 'plain', ...extra], options);

before(async () => {
  assert.ok(existsSync(bin), `${bin} is missing: cargo build -p otalab-cli`);
  sandbox = await startSandbox({ dist: tmp });
});

after(async () => {
  await sandbox?.stop();
});

const exampleFiles = readdirSync(examples).filter((f) => f.endsWith('.toml')).sort();

describe('scenario files', () => {
  test('every example is valid by the JSON Schema, read by independent parsers', () => {
    const schema = JSON.parse(readFileSync(path.join(examples, 'scenario.schema.json'), 'utf8'));
    const validate = new Ajv2020({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
    assert.ok(exampleFiles.length >= 4);
    const jobs = path.join(repo, 'examples/jobs');
    const jobFiles = readdirSync(jobs).filter((f) => f.endsWith('.toml')).map((f) => path.join(jobs, f));
    assert.ok(jobFiles.length >= 4);
    for (const file of [...exampleFiles.map((f) => path.join(examples, f)), ...jobFiles, ...readdirSync(scenarios).map((f) => path.join(scenarios, f))]) {
      const doc = parseToml(readFileSync(file, 'utf8'));
      assert.ok(validate(doc), `${file}: ${JSON.stringify(validate.errors)}`);
    }
    // The schema refuses what the runner refuses.
    assert.equal(validate({ name: 'x', fleet: { names: 'a' }, actions: [{ push: 'v', notice: 'sideways' }] }), false);
    assert.equal(validate({ name: 'x', fleet: { names: 'a' }, unknown: 1 }), false);
    assert.equal(validate({ fleet: { names: 'a' } }), false);
    assert.equal(validate({ name: 'x', fleet: { names: 'a' }, actions: [{ push: 'v', job: { target: 'sideways' } }] }), false);
    assert.equal(validate({ name: 'x', fleet: { names: 'a' }, actions: [{ push: 'v', job: { colour: 'red' } }] }), false);
  });

  test('otalab check accepts the examples and refuses a broken file with a code and a place', async () => {
    const jobs = readdirSync(path.join(repo, 'examples/jobs')).filter((f) => f.endsWith('.toml')).map((f) => path.join(repo, 'examples/jobs', f));
    const ok = await otalab(['check', ...exampleFiles.map((f) => path.join(examples, f)), ...jobs]);
    assert.equal(ok.code, 0, ok.stderr);
    const broken = path.join(tmp, 'broken.toml');
    writeFileSync(broken, readFileSync(path.join(scenarios, 'wrong-expectation.toml'), 'utf8').replace('push = "v2"', 'push = "v9"'));
    const bad = await otalab(['check', broken]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /SCENARIO_INVALID: actions\[0\]\.push: no firmware named "v9" \(known: v2\)/);
  });
});

describe('otalab run against the sandbox', () => {
  for (const file of exampleFiles) {
    test(`examples/scenarios/${file} passes`, async () => {
      const report = path.join(tmp, `${file}.json`);
      const junit = path.join(tmp, `${file}.xml`);
      const csv = path.join(tmp, `${file}.csv`);
      const html = path.join(tmp, `${file}.html`);
      const result = await run(path.join(examples, file), ['--report', report, '--junit', junit, '--csv', csv, '--html', html]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /every expectation held/);
      const json = JSON.parse(readFileSync(report, 'utf8'));
      assert.ok(json.expectations.length >= 2);
      assert.ok(json.expectations.every((e) => e.held), JSON.stringify(json.expectations));
      assert.equal(json.summary.total, json.devices.length);
      assert.ok(json.timings.allConnectedMs >= 0 && json.timings.totalMs >= json.timings.allConnectedMs);
      // JUnit read by an independent parser: every expectation and device a test case, no failure.
      const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(readFileSync(junit, 'utf8'));
      assert.equal(Number(xml.testsuites.failures), 0);
      assert.equal(Number(xml.testsuites.tests), json.expectations.length + json.devices.length);
      const lines = readFileSync(csv, 'utf8').trim().split('\n');
      assert.equal(lines[0], 'productKey,deviceName,batch,targetVersion,time,atMs,step,desc,finalVersion,verdict,failureCode,failureReason,fault');
      const blank = lines.indexOf('');
      assert.ok(blank > json.devices.length, 'device rows, then the summary');
      assert.equal(lines[blank + 1], 'total,pending,upgrading,succeeded,failed,cancelled');
      const s = json.summary;
      assert.equal(lines[blank + 2], [s.total, s.pending, s.upgrading, s.succeeded, s.failed, s.cancelled].join(','));
      // The printable page names every device and its verdict.
      const page = readFileSync(html, 'utf8');
      assert.match(page, /^<!doctype html>/);
      for (const d of json.devices) assert.ok(page.includes(`${d.productKey}/${d.deviceName}`), d.deviceName);

      // The same file in memory (virtual clock, no sockets): the same verdicts, final versions
      // and steps per device as over the sandbox's real broker and HTTP server.
      const memory = path.join(tmp, `${file}.memory.json`);
      const again = path.join(tmp, `${file}.memory-again.json`);
      for (const out of [memory, again]) {
        const m = await otalab(['run', '--in-memory', path.join(examples, file), '--report', out, '--progress', 'none']);
        assert.equal(m.code, 0, m.stderr);
        assert.match(m.stderr, /otalab: in memory: \d+ devices/);
      }
      // Over sockets, a device that drops offline resends its unacknowledged QoS 1 progress
      // reports when it is back (MQTT's at-least-once; how many depends on timing): a positive
      // step already reported since the last 0 is such a copy and is counted once.
      const once = (steps) => {
        const seen = new Set();
        return steps.filter((step) => {
          if (step === 0) seen.clear();
          if (step > 0 && seen.has(step)) return false;
          seen.add(step);
          return true;
        });
      };
      const outcome = (r) => Object.fromEntries(r.devices.map((d) => [
        `${d.productKey}/${d.deviceName}`,
        { verdict: d.verdict, finalVersion: d.finalVersion ?? null, fault: d.fault ?? null, steps: once(d.steps.map((st) => st.step)) },
      ]));
      const inMemory = JSON.parse(readFileSync(memory, 'utf8'));
      assert.deepEqual(outcome(inMemory), outcome(json));
      // Injected faults are named in the report by the runner as by the page.
      if (file === 'faults-mixed.toml') {
        assert.equal(json.devices.find((d) => d.deviceName === 'unit-001').fault, '-3 verification fails @ 100 %');
      }
      assert.deepEqual(inMemory.summary, json.summary);
      // Deterministic: the same report twice, byte for byte but for the generation time.
      const strip = (text) => text.replace(/"generatedAt(Ms)?": ?("[^"]*"|\d+)/g, '');
      assert.equal(strip(readFileSync(again, 'utf8')), strip(readFileSync(memory, 'utf8')));
    });
  }

  test('what the devices and the cloud put on the broker is what the protocol says, seen by MQTT.js', async () => {
    const seen = [];
    const observer = mqtt.connect(sandbox.brokerUrl, { clientId: `observer-${process.pid}`, reconnectPeriod: 0 });
    await new Promise((resolve, reject) => { observer.once('connect', resolve); observer.once('error', reject); });
    await observer.subscribeAsync(['/ota/device/#'], { qos: 1 });
    observer.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));
    const result = await run(path.join(examples, 'correct-upgrade.toml'));
    assert.equal(result.code, 0, result.stderr);
    await until('the last reports', () => seen.filter((m) => m.topic.startsWith('/ota/device/inform/')).length >= 40);
    observer.end();
    const by = (prefix) => seen.filter((m) => m.topic.startsWith(prefix)).map((m) => ({ ...m, json: JSON.parse(m.payload) }));
    for (const m of by('/ota/device/inform/')) {
      assert.match(m.topic, /^\/ota\/device\/inform\/a1Demo\/meter-\d\d$/);
      assert.equal(typeof m.json.id, 'string');
      assert.match(m.json.params.version, /^(1|2)\.0\.0$/);
    }
    const notices = by('/ota/device/upgrade/');
    assert.equal(notices.length, 20);
    for (const n of notices) {
      // The cloud's wire form: numeric id, Md5 with its md5 twin, single-file shape.
      assert.equal(typeof n.json.id, 'number');
      assert.equal(n.json.code, '1000');
      assert.equal(n.json.data.signMethod, 'Md5');
      assert.equal(n.json.data.md5, n.json.data.sign);
      assert.equal(n.json.data.size, 1024 * 1024);
    }
    const steps = by('/ota/device/progress/').map((m) => m.json.params.step);
    assert.ok(steps.every((s) => typeof s === 'string'), 'steps are strings');
    assert.equal(steps.filter((s) => s === '100').length, 20);
  });

  test('a scenario with a wrong expectation exits 1 and says which and why', async () => {
    const junit = path.join(tmp, 'wrong.xml');
    const result = await run(path.join(scenarios, 'wrong-expectation.toml'), ['--junit', junit]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /FAIL succeeded: exactly 5: expected exactly 5 succeeded, got 4 of 4/);
    assert.match(result.stderr, /1 expectation\(s\) failed/);
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(readFileSync(junit, 'utf8'));
    assert.equal(Number(xml.testsuites.failures), 1);
  });

  test('a run that cannot happen exits 2 with a clear message', async () => {
    const port = await freePort();
    const gone = await otalab(['run', path.join(examples, 'correct-upgrade.toml'), '--sandbox', `http://127.0.0.1:${port}`]);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /the sandbox does not answer .*start it with scripts\/run/);
    const shard = await otalab(['run', path.join(examples, 'correct-upgrade.toml'), '--shard', '4/3']);
    assert.equal(shard.code, 2);
    assert.match(shard.stderr, /shard "4\/3": need 1 <= i <= n/);
    const missing = await otalab(['run', path.join(tmp, 'nope.toml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.toml: No such file/);
    const noBroker = await run(path.join(examples, 'correct-upgrade.toml'), ['--broker', `mqtt://127.0.0.1:${port}`]);
    assert.equal(noBroker.code, 2);
    assert.match(noBroker.stderr, /the sandbox cloud could not subscribe on 127\.0\.0\.1:\d+ within 15 s/);
  });
});

describe('shards', () => {
  test('n shard processes merge to the same report as one process', async () => {
    const scenario = path.join(scenarios, 'shards.toml');
    const whole = path.join(tmp, 'whole.json');
    const one = await run(scenario, ['--report', whole]);
    assert.equal(one.code, 0, one.stderr);
    const parts = [1, 2, 3].map((i) => path.join(tmp, `shard-${i}.json`));
    // Shard 1 by flag, shards 2 and 3 as Kubernetes Indexed Job pods (0-based index).
    const shards = await Promise.all([
      run(scenario, ['--shard', '1/3', '--report', parts[0]]),
      run(scenario, ['--report', parts[1]], { env: { JOB_COMPLETION_INDEX: '1', JOB_COMPLETIONS: '3' } }),
      run(scenario, ['--report', parts[2]], { env: { JOB_COMPLETION_INDEX: '2', JOB_COMPLETIONS: '3' } }),
    ]);
    for (const s of shards) assert.equal(s.code, 1, 'a shard alone does not meet fleet-wide counts');
    const sizes = parts.map((p) => JSON.parse(readFileSync(p, 'utf8')).devices.length);
    assert.deepEqual(sizes, [8, 8, 8]);
    const merged = path.join(tmp, 'merged.json');
    const merge = await otalab(['report', 'merge', ...parts, '-o', merged, '--junit', path.join(tmp, 'merged.xml')]);
    assert.equal(merge.code, 0, merge.stderr);
    const shape = (file) => {
      const r = JSON.parse(readFileSync(file, 'utf8'));
      return {
        summary: r.summary,
        expectations: r.expectations,
        devices: r.devices.map((d) => ({
          name: `${d.productKey}/${d.deviceName}`,
          verdict: d.verdict,
          target: d.targetVersion,
          final: d.finalVersion,
          steps: d.steps.map((s) => s.step),
        })),
      };
    };
    assert.deepEqual(shape(merged), shape(whole));
    const overlap = await otalab(['report', 'merge', parts[0], parts[0]]);
    assert.equal(overlap.code, 2);
    assert.match(overlap.stderr, /DUPLICATE_DEVICE: device a1Shard\/s-01 is in more than one report/);
  });
});

describe('transports', () => {
  let secure;
  before(async () => { secure = await startMosquitto({ tls: true }); });
  after(async () => { await secure?.stop(); });

  test('MQTT over TLS and over secure WebSocket with the broker CA; refused without it', async () => {
    const scenario = path.join(examples, 'correct-upgrade.toml');
    for (const broker of [secure.tlsUrl, secure.wssUrl, secure.wsUrl]) {
      const result = await run(scenario, ['--broker', broker, '--ca', secure.caFile]);
      assert.equal(result.code, 0, `${broker}: ${result.stderr}`);
    }
    const untrusted = await run(scenario, ['--broker', secure.tlsUrl]);
    assert.equal(untrusted.code, 2, untrusted.stderr);
    assert.match(untrusted.stderr, /could not subscribe/);
  });
});

describe('an independent cloud', () => {
  test('an MQTT.js + node:crypto cloud upgrades the runner\'s devices, judged from the device side', async () => {
    const firmware = readFileSync(path.join(sandbox.firmwareDir, 'demo-2.0.0.bin'));
    const md5 = createHash('md5').update(firmware).digest('hex');
    const cloud = mqtt.connect(sandbox.brokerUrl, { clientId: `peer-cloud-${process.pid}`, reconnectPeriod: 0 });
    await new Promise((resolve, reject) => { cloud.once('connect', resolve); cloud.once('error', reject); });
    await cloud.subscribeAsync(['/ota/device/inform/a1Peer/+', '/ota/device/progress/a1Peer/+'], { qos: 1 });
    const steps = new Map();
    const versions = new Map();
    let id = 7000;
    cloud.on('message', (topic, payload) => {
      const [, , , kind, pk, dn] = topic.split('/');
      const body = JSON.parse(payload.toString());
      if (kind === 'inform') {
        versions.set(dn, body.params.version);
        if (body.params.version === '1.0.0') {
          // What the real cloud sends (reference: captured push), built here by hand.
          const notice = {
            code: '1000',
            data: { size: firmware.length, sign: md5, version: '2.0.0', url: `${sandbox.url}/firmware/demo-2.0.0.bin`, signMethod: 'Md5', md5 },
            id: id++,
            message: 'success',
          };
          cloud.publish(`/ota/device/upgrade/${pk}/${dn}`, JSON.stringify(notice), { qos: 1 });
        }
      } else {
        steps.set(dn, [...(steps.get(dn) ?? []), body.params.step]);
      }
    });
    const report = path.join(tmp, 'peer.json');
    const result = await otalab(['run', path.join(scenarios, 'peer-cloud.toml'), '--broker', sandbox.brokerUrl, '--report', report, '--progress', 'plain']);
    assert.equal(result.code, 0, result.stderr);
    await until('every device reported 2.0.0 to the peer', () => [...versions.values()].filter((v) => v === '2.0.0').length === 5);
    cloud.end();
    assert.equal(steps.size, 5);
    for (const s of steps.values()) {
      // Progress as the protocol wants it: strings, from 0 up to 100, never backwards.
      assert.equal(s[0], '0');
      assert.equal(s.at(-1), '100');
      assert.ok(s.map(Number).every((v, i, all) => i === 0 || v > all[i - 1]), s.join(','));
    }
    const json = JSON.parse(readFileSync(report, 'utf8'));
    assert.deepEqual(json.devices.map((d) => d.verdict), Array(5).fill('succeeded'));
    assert.deepEqual(json.devices.map((d) => d.targetVersion), Array(5).fill('2.0.0'));
  });
});

describe('upgrade jobs over sockets', () => {
  test('a grey job then a full job: the notices on the wire (seen by MQTT.js) follow the jobs, and the report counts their tasks', async () => {
    const watcher = mqtt.connect(sandbox.brokerUrl, { clientId: 'job-watcher', reconnectPeriod: 0 });
    await new Promise((resolve, reject) => { watcher.once('connect', resolve); watcher.once('error', reject); });
    const notices = new Map();
    watcher.on('message', (topic, payload) => {
      const dn = topic.split('/').at(-1);
      notices.set(dn, [...(notices.get(dn) ?? []), { at: Date.now(), body: JSON.parse(payload.toString()) }]);
    });
    await new Promise((resolve, reject) => watcher.subscribe('/ota/device/upgrade/a1JobSock/+', { qos: 1 }, (e) => (e ? reject(e) : resolve())));
    const report = path.join(tmp, 'jobs.json');
    const csv = path.join(tmp, 'jobs.csv');
    const html = path.join(tmp, 'jobs.html');
    const result = await run(path.join(scenarios, 'jobs.toml'), ['--report', report, '--csv', csv, '--html', html]);
    watcher.end();
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    assert.deepEqual(json.jobs.map((j) => [j.id, j.target, j.status, j.counts.SUCCEEDED]), [[1, 'GRAY', 'COMPLETED', 2], [2, 'ALL', 'COMPLETED', 8]]);
    assert.ok(json.expectations.some((e) => e.name === 'tasks succeeded: exactly 10' && e.held));
    // The CSV's job rows (counts per task status, in the platform's order) and the HTML table.
    const lines = readFileSync(csv, 'utf8').split('\n');
    const header = lines.indexOf('job,target,status,firmware,version,CONFIRM,QUEUED,NOTIFIED,IN_PROGRESS,SUCCEEDED,FAILED,CANCELED,timedOut,retried,retries,pushes');
    assert.ok(header > 0, lines.join('\n'));
    assert.match(lines[header + 1], /^1,GRAY,COMPLETED,demo-2\.0\.0\.bin,2\.0\.0,0,0,0,0,2,0,0,0,0,0,\d+$/);
    assert.match(lines[header + 2], /^2,ALL,COMPLETED,demo-2\.0\.0\.bin,2\.0\.0,0,0,0,0,8,0,0,0,0,0,\d+$/);
    assert.match(readFileSync(html, 'utf8'), /<h2>Upgrade jobs<\/h2>/);
    // Every device got exactly one notice: the grey two with the job's tag in extData, the
    // others without it, at least 5 s later.
    assert.equal(notices.size, 10);
    const grey = [...notices.entries()].filter(([, n]) => n[0].body.data.extData?.ring === 'grey');
    assert.equal(grey.length, 2);
    for (const [dn, n] of notices) assert.equal(n.length, 1, `${dn}: ${n.length} notices`);
    const firstGrey = Math.min(...grey.map(([, n]) => n[0].at));
    for (const [dn, n] of notices) {
      if (grey.some(([g]) => g === dn)) continue;
      assert.equal(n[0].body.data.extData?.ring, undefined);
      assert.ok(n[0].at - firstGrey >= 4000, `${dn} notified ${n[0].at - firstGrey} ms after the grey devices`);
    }
  });
});

describe('late joiners (device.join) over sockets', () => {
  test('the joiners stay offline until their time (seen by MQTT.js), and a dynamic job upgrades them as they come', async () => {
    const watcher = mqtt.connect(sandbox.brokerUrl, { clientId: 'join-watcher', reconnectPeriod: 0 });
    await new Promise((resolve, reject) => { watcher.once('connect', resolve); watcher.once('error', reject); });
    const informed = new Map();
    const notified = new Map();
    watcher.on('message', (topic, payload) => {
      const dn = topic.split('/').at(-1);
      const seen = topic.startsWith('/ota/device/inform/') ? informed : notified;
      if (!seen.has(dn)) seen.set(dn, Date.now());
    });
    for (const filter of ['/ota/device/inform/a1LateSock/+', '/ota/device/upgrade/a1LateSock/+']) {
      await new Promise((resolve, reject) => watcher.subscribe(filter, { qos: 1 }, (e) => (e ? reject(e) : resolve())));
    }
    const report = path.join(tmp, 'late.json');
    const result = await run(path.join(scenarios, 'late-joiners.toml'), ['--report', report]);
    watcher.end();
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    assert.equal(json.summary.succeeded, 6);
    assert.equal(json.jobs[0].target, 'DYNAMIC');
    // The first version report of each device: the joiners' come 2, 3 and 4 s after the others'
    // (give or take the link), each joiner's notice after its own version report.
    const start = Math.min(...['late-1', 'late-2', 'late-3'].map((dn) => informed.get(dn)));
    for (const [dn, after] of [['late-4', 2000], ['late-5', 3000], ['late-6', 4000]]) {
      assert.ok(informed.get(dn) - start >= after - 300, `${dn} reported at +${informed.get(dn) - start} ms`);
      assert.ok(notified.get(dn) >= informed.get(dn), `${dn} notified before it came online`);
    }
  });
});

describe('source addresses (--bind)', () => {
  test('devices connect from the addresses given, round robin: the broker (mosquitto\'s own log) sees only those', async () => {
    const broker = await startMosquitto();
    try {
      const result = await otalab(['run', path.join(examples, 'correct-upgrade.toml'), '--sandbox', sandbox.url, '--broker', broker.url, '--bind', '127.0.0.2,127.0.0.3-127.0.0.4', '--progress', 'plain']);
      assert.equal(result.code, 0, result.stderr);
      const from = new Map();
      for (const m of broker.log().matchAll(/New client connected from ([\d.]+):\d+ as (\S+)/g)) {
        if (m[2].startsWith('a1Demo.')) from.set(m[2], m[1]);
      }
      assert.equal(from.size, 20, broker.log());
      const perAddress = {};
      for (const address of from.values()) perAddress[address] = (perAddress[address] ?? 0) + 1;
      assert.deepEqual(perAddress, { '127.0.0.2': 7, '127.0.0.3': 7, '127.0.0.4': 6 });
    } finally {
      await broker.stop();
    }
  });

  test('--bind refuses an address that is not this machine\'s, a backwards range and a word, before connecting', async () => {
    for (const [value, message] of [
      ['192.0.2.1', /--bind 192\.0\.2\.1: not an address of this machine/],
      ['127.0.0.9-127.0.0.2', /a range goes up/],
      ['localhost', /"localhost" is not an IP address/],
    ]) {
      const result = await otalab(['run', path.join(examples, 'correct-upgrade.toml'), '--sandbox', sandbox.url, '--bind', value]);
      assert.equal(result.code, 2, `${value}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
  });
});

describe('the connection ramp (--connecting, --connect-rate)', () => {
  // Twenty devices and no action: the run ends at its time limit.
  const scenario = (limitMs) => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'otalab-ramp-')), 'ramp.toml');
    writeFileSync(file, `name = "ramp"\n[fleet]\nproduct_key = "a1Ramp"\nnames = "r-{01..20}"\n[expect]\ntime_limit_ms = ${limitMs}\n`);
    return file;
  };

  test('--connect-rate spaces the attempts: 20 devices at 10 per second take at least 1.9 s, none refused', async () => {
    const broker = await startMosquitto();
    try {
      const report = path.join(mkdtempSync(path.join(os.tmpdir(), 'otalab-ramp-')), 'r.json');
      const result = await otalab(['run', scenario(4000), '--sandbox', sandbox.url, '--broker', broker.url, '--connect-rate', '10', '--connecting', '1', '--report', report]);
      assert.equal(result.code, 0, result.stderr);
      const { timings } = JSON.parse(readFileSync(report, 'utf8'));
      assert.ok(timings.allConnectedMs >= 1900, `all connected after ${timings.allConnectedMs} ms`);
      assert.equal(timings.connectFailures, 0);
      // mosquitto saw each device connect exactly once.
      const connects = [...broker.log().matchAll(/New client connected from [\d.]+:\d+ as (a1Ramp\S+)/g)].map((m) => m[1]);
      assert.equal(connects.length, 20, broker.log());
      assert.equal(new Set(connects).size, 20);
    } finally {
      await broker.stop();
    }
  });

  test('refused attempts are counted in the report (a broker taking 11 connections: the cloud and 10 devices)', async () => {
    const broker = await startMosquitto({ maxConnections: 11 });
    try {
      const report = path.join(mkdtempSync(path.join(os.tmpdir(), 'otalab-ramp-')), 'r.json');
      const result = await otalab(['run', scenario(3000), '--sandbox', sandbox.url, '--broker', broker.url, '--report', report]);
      const { timings, summary } = JSON.parse(readFileSync(report, 'utf8'));
      assert.equal(summary.total, 20, result.stderr);
      assert.equal(timings.allConnectedMs, null, 'not every device connected');
      assert.ok(timings.connectFailures >= 10, `connectFailures ${timings.connectFailures}`);
    } finally {
      await broker.stop();
    }
  });

  test('--connecting 0 and a word for --connect-rate exit 2 with the reason', async () => {
    for (const [args, message] of [[['--connecting', '0'], /--connecting/], [['--connect-rate', 'fast'], /--connect-rate/]]) {
      const result = await otalab(['run', scenario(1000), '--sandbox', sandbox.url, ...args]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    }
  });
});

describe('deploy/kubernetes', () => {
  test('the Indexed Job runs as many shards as it says, with options the runner has, on a valid scenario', async () => {
    const { parseAllDocuments } = await import('yaml');
    const docs = parseAllDocuments(readFileSync(path.join(repo, 'deploy/kubernetes/job.yaml'), 'utf8')).map((d) => d.toJS());
    const job = docs.find((d) => d.kind === 'Job');
    assert.equal(job.spec.completionMode, 'Indexed');
    assert.equal(job.spec.parallelism, job.spec.completions);
    const container = job.spec.template.spec.containers[0];
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
    assert.equal(Number(env.JOB_COMPLETIONS), job.spec.completions);
    const help = await otalab(['run', '--help']);
    for (const flag of container.args.filter((a) => a.startsWith('--'))) assert.ok(help.stdout.includes(flag), flag);
    const claim = docs.find((d) => d.kind === 'PersistentVolumeClaim').metadata.name;
    assert.ok(job.spec.template.spec.volumes.some((v) => v.persistentVolumeClaim?.claimName === claim));
    const checked = await otalab(['check', path.join(repo, 'deploy/kubernetes/scenario.toml')]);
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(readFileSync(path.join(repo, 'deploy/kubernetes/Dockerfile'), 'utf8'), /--profile native -p otalab-cli/);
  });
});

describe('README', () => {
  test('the CI example parses, and the commands and options it uses exist', async () => {
    const { parse } = await import('yaml');
    const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
    const block = /<!-- ci-example[^>]*-->\s*```yaml\n([\s\S]*?)```/.exec(readme);
    assert.ok(block, 'the CI example block is in README');
    const workflow = parse(block[1]);
    const runs = Object.values(workflow.jobs).flatMap((j) => j.steps).filter((s) => s.run).map((s) => s.run).join('\n');
    assert.match(runs, /node sandbox\/run\.mjs/);
    assert.ok(existsSync(path.join(repo, 'sandbox/run.mjs')));
    assert.match(runs, /cargo install --path crates\/cli --locked --profile native/);
    assert.ok(readFileSync(path.join(repo, 'Cargo.toml'), 'utf8').includes('[profile.native]'));
    assert.match(runs, /curl -sf http:\/\/127\.0\.0\.1:8686\/sandbox\.json/);
    const help = await otalab(['run', '--help']);
    for (const line of runs.split('\n').filter((l) => l.includes('otalab run'))) {
      for (const flag of line.match(/--[a-z-]+/g) ?? []) assert.ok(help.stdout.includes(flag), `${flag} in: ${line}`);
    }
    // The scenarios it runs are the examples, which the tests above run.
    assert.match(runs, /examples\/scenarios\/\*\.toml/);
  });
});
