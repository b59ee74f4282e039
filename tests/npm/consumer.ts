// A strict TypeScript consumer of otalab. Every API is used with its declared types; the
// expect-error lines below prove the types are precise (they fail to compile if a type were `any`).
import init, {
  topic, parseTopic, encodeVersionReport, decodeVersionReport, decodeUpgradeNotice,
  decodeFirmwareGetReply, encodeFirmwareGet, decodeFirmwareGet, encodeProgress, decodeProgress,
  FirmwareVerifier, verifyFirmware, aliyunCredentials, parseDevicesConf, OtaBridge, OtaError,
  initSync, encodeFileBlockRequest, decodeFileBlockRequest, encodeFileBlockReply, decodeFileBlockReply,
  type FileBlockRequest, type FileBlockReply,
  type UpgradeNotice, type VerifyResult, type DeviceEntry, type FirmwareInfo, type BridgeSession,
  type TopicKind, type AliyunCredentials, type ProgressReport,
} from 'otalab';
import simInit, {
  Scenario, SimReport, OtaError as SimOtaError, initSync as simInitSync, SimulatedDevice, Cloud, mqttJsAdapter,
  ConformanceSuite, type CaseName, type CaseResult, type ConformanceReport, type SuiteEvent,
  type ReportJson, type DeviceReport, type Verdict, type RunInMemoryOptions, type MqttAdapter, type DeviceState,
  type Package,
} from 'otalab/sim';
import mqttInit, { MqttClient, OtaError as MqttOtaError, type MqttClientEvent, type MqttClientState } from 'otalab/mqtt';

/** otalab's MQTT client, handed to the simulation as its adapter as it is. */
export async function overWebSocket(): Promise<string[]> {
  await mqttInit();
  const client = new MqttClient({ url: 'ws://127.0.0.1:8688', clientId: 'ts', keepAliveSecs: 30, reconnect: true });
  const kinds: string[] = [];
  client.onEvent((e: MqttClientEvent) => { kinds.push(e.kind === 'disconnected' ? e.code : e.kind); });
  client.onMessage((topic: string, payload: Uint8Array) => { kinds.push(`${topic}:${payload.length}`); });
  await client.connect();
  const granted: number[] = await client.subscribe(['a/#', 'b/+'], { qos: 1 });
  await client.publish('a/1', new Uint8Array(2), { qos: 0, retain: true });
  const state: MqttClientState = client.state;
  const adapter: MqttAdapter = client;
  const device = new SimulatedDevice({ productKey: 'pk', deviceName: 'dn' }, { mqtt: client });
  client.disconnect();
  // @ts-expect-error: QoS 2 is not spoken
  client.publish('a/1', 'x', { qos: 2 });
  // @ts-expect-error: the URL is required
  new MqttClient({ clientId: 'x' });
  // @ts-expect-error: not a state
  const wrong: MqttClientState = 'open';
  return [...kinds, String(granted), state, String(adapter === client), device.key, String(MqttOtaError === SimOtaError), wrong, String(client.pending)];
}

/** The drivers on an adapter of one's own. */
export async function drive(adapter: MqttAdapter, bytes: Uint8Array): Promise<string[]> {
  const device = new SimulatedDevice({ productKey: 'pk', deviceName: 'dn', cadencePercent: 10, fault: { kind: 'stall', at_percent: 40 } }, { mqtt: adapter });
  await device.start();
  const state: DeviceState = device.state;
  const cloud = new Cloud({ firstId: 5 }, { mqtt: adapter, clock: { now: () => 0, setTimeout: () => 0, clearTimeout: () => {} } });
  await cloud.start();
  const pkg: Package = Cloud.describe('https://h/fw.bin', '2.0.0', bytes);
  const batch: number = cloud.push(cloud.devices, pkg, { kind: 'bad_digest', signMethod: 'SHA256' });
  const verdict: Verdict = cloud.verdict(device.key);
  await cloud.whenSettled({ quietMs: 1000 });
  // @ts-expect-error: not a notice kind
  cloud.push([], pkg, { kind: 'sideways' });
  // @ts-expect-error: faults are typed
  new SimulatedDevice({ productKey: 'pk', deviceName: 'dn', fault: { kind: 'explode' } }, { mqtt: adapter });
  const fromMqttJs: MqttAdapter = mqttJsAdapter({
    publish: () => 0, subscribe: () => 0, on: () => 0, end: () => 0, once: () => 0, reconnect: () => 0,
  });
  return [state.phase, String(batch), verdict, String(cloud.report().passed), String(fromMqttJs.disconnect !== undefined)];
}

/** The conformance suite on an adapter: its report card, events and JUnit. */
export async function grade(adapter: MqttAdapter, pkg: Package, firmware: Uint8Array): Promise<string[]> {
  const cases: CaseName[] = ConformanceSuite.cases.filter((c) => c.startsWith('mqtt'));
  const suite = new ConformanceSuite({ device: 'pk/dn', package: pkg, firmware, cases, limits: { reactionMs: 5000 }, waitMs: 10_000 }, { mqtt: adapter });
  const kinds: string[] = [];
  const stopListening: () => boolean = suite.onEvent((e: SuiteEvent) => {
    kinds.push(e.kind === 'caseJudged' ? `${e.result.case}:${e.result.grade}` : e.kind);
  });
  const card: ConformanceReport = await suite.run();
  const first: CaseResult = card.cases[0];
  const evidence: string[] = first.evidence;
  const junit: string = suite.junit();
  const errors: OtaError[] = suite.errors;
  suite.stop();
  // @ts-expect-error: not a case
  new ConformanceSuite({ device: 'pk/dn', package: pkg, cases: ['sideways'] }, { mqtt: adapter });
  // @ts-expect-error: the package is required
  new ConformanceSuite({ device: 'pk/dn' }, { mqtt: adapter });
  // @ts-expect-error: grades are named
  const grade: CaseResult['grade'] = 'maybe';
  return [String(card.passed), first.grade, ...evidence, junit, String(errors.length), String(stopListening()), ...kinds, grade];
}

/** The simulation entry: a scenario run in memory and its report. */
export async function simulate(text: string): Promise<string[]> {
  await simInit();
  simInitSync(new Uint8Array());
  const scenario: Scenario = Scenario.parse(text);
  const same: Scenario = Scenario.fromJSON(scenario.toJSON());
  const options: RunInMemoryOptions = { seed: 2, shard: '1/2', files: { 'fleet.csv': 'x', 'fw.bin': new Uint8Array(4) } };
  const report: SimReport = same.runInMemory(options);
  const json: ReportJson = report.toJSON();
  const first: DeviceReport = json.devices[0];
  const verdict: Verdict = first.verdict;
  const virtual: number = report.stats.virtualMs;
  const sameClass: boolean = SimOtaError === OtaError;
  // @ts-expect-error: seed is a number
  same.runInMemory({ seed: '1' });
  // @ts-expect-error: not a verdict
  const bad: Verdict = 'done';
  return [scenario.name, scenario.toToml(), String(report.passed), report.toCsv(), report.toJunit(), report.toHtml('t'),
    verdict, String(virtual), String(sameClass), String(json.summary.failed), bad];
}

export async function main(): Promise<string[]> {
  await init();
  const kind: TopicKind = parseTopic(topic('upgrade', 'pk', 'dn')).kind;
  const report: string = encodeVersionReport({ id: 1, version: '1.0', module: 'MCU' });
  const decoded: { id: string; version: string; module: string } = decodeVersionReport(report);
  const notice: UpgradeNotice = decodeUpgradeNotice(new Uint8Array());
  const sizes: number[] = notice.files.map((f) => f.size);
  const udi: string | undefined = notice.packageUdi;
  const method: 'Md5' | 'SHA256' = notice.signMethod;
  const reply: UpgradeNotice | null = decodeFirmwareGetReply('{}');
  const get: string = encodeFirmwareGet({ id: '1' });
  const getDecoded: string = decodeFirmwareGet(get).module;
  const progress: string = encodeProgress({ id: 1, step: -3, desc: 'x' });
  const p: ProgressReport = decodeProgress(progress);
  const step: number = p.step;
  const ask: string = encodeFileBlockRequest({ id: 1, streamId: 2, fileId: 1, offset: 0, size: 5120 });
  const request: FileBlockRequest = decodeFileBlockRequest(ask);
  const token: string | null = request.fileToken;
  const frame: Uint8Array = encodeFileBlockReply({ id: request.id, fileLength: 4, offset: 0, block: new Uint8Array(4) });
  const block: FileBlockReply = decodeFileBlockReply(frame);
  const blockBytes: Uint8Array = block.block;

  const verifier = new FirmwareVerifier({ size: 1, signMethod: 'MD5', sign: '' });
  verifier.update(new Uint8Array(1));
  const received: number = verifier.received;
  const result: VerifyResult = verifier.finish();
  const failure: 'SIZE_MISMATCH' | 'DIGEST_MISMATCH' | undefined = result.failure;
  const whole: boolean = verifyFirmware(new Uint8Array(), { size: 0, signMethod: 'MD5', sign: '' }).ok;

  const login: AliyunCredentials = aliyunCredentials({ productKey: 'p', deviceName: 'd', deviceSecret: 's', signMethod: 'hmacsha1', timestamp: 1 });
  const url: string | undefined = login.url;
  const devices: DeviceEntry[] = parseDevicesConf('');
  const bridge = new OtaBridge({ devices, publish: (t: string, payload: string, qos: 0 | 1) => t.length + payload.length + qos > 0 });
  bridge.setOtaUpgradeHandler((requestId: string, info: FirmwareInfo, session: BridgeSession): boolean => {
    const target: string = info.notice.version;
    return bridge.reportOtaProgress(requestId, session.originalIdentity, 100, target);
  });
  const sent: boolean = bridge.reportOtaVersion(1, 'm1', '1.0');
  const handled: boolean = bridge.handleMessage('/t', new Uint8Array());
  const subs: string[] = bridge.subscriptions();
  bridge.free();
  initSync(new Uint8Array());

  try {
    topic('inform', '', '');
  } catch (e) {
    if (e instanceof OtaError) {
      const code: string = e.code;
      const where: string | undefined = e.path;
      return [code, where ?? ''];
    }
  }

  // @ts-expect-error: not a topic kind
  topic('downgrade', 'pk', 'dn');
  // @ts-expect-error: step is a number or string
  encodeProgress({ id: 1, step: true });
  // @ts-expect-error: payloads are strings or Uint8Array
  decodeUpgradeNotice(42);
  // @ts-expect-error: size is required
  new FirmwareVerifier({ signMethod: 'MD5', sign: '' });
  // @ts-expect-error: unknown MQTT sign method
  aliyunCredentials({ productKey: 'p', deviceName: 'd', deviceSecret: 's', signMethod: 'rsa' });
  // @ts-expect-error: a block is bytes, not text
  encodeFileBlockReply({ id: 1, fileLength: 4, offset: 0, block: 'abcd' });
  // @ts-expect-error: streamId is required
  encodeFileBlockRequest({ id: 1, fileId: 1, offset: 0, size: 1 });
  // @ts-expect-error: version is a string
  const wrong: number = notice.version;

  return [kind, decoded.module, String(sizes), udi ?? '', method, String(reply), getDecoded, String(step),
    String(received), String(failure), String(whole), url ?? '', String(sent), String(handled), subs.join(), String(wrong),
    token ?? '', String(blockBytes.length)];
}
