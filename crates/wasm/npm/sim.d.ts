// Type definitions for otalab/sim: the otalab simulation (scenarios run in memory).

/** A device's outcome. */
export type Verdict = 'pending' | 'upgrading' | 'succeeded' | 'failed' | 'cancelled';

/** One progress report as the sandbox cloud received it. */
export interface ObservedStep {
  /** Milliseconds since 1970 on the run's clock (virtual in memory). */
  atMs: number;
  /** The same instant, ISO 8601 UTC. */
  at: string;
  /** 0..100, or -1 upgrade, -2 download, -3 verify, -4 flash failed. */
  step: number;
  desc: string;
}

/** One device of a report. */
export interface DeviceReport {
  productKey: string;
  deviceName: string;
  targetVersion: string | null;
  /** The notice the device was sent (decoded), if any. */
  notice: Record<string, unknown> | null;
  steps: ObservedStep[];
  finalVersion: string | null;
  verdict: Verdict;
  /** Why it failed: the failure step (`code` -1..-4, or null for a wrong version) and reason. */
  failure?: { code: number | null; reason: string };
  /** The batch whose job it was. */
  batch?: number;
  /** The fault injected into the device, described, e.g. `-3 verification fails @ 100 %`. */
  fault?: string;
}

/** One expectation of the scenario, held or not. */
export interface ExpectationResult {
  /** What was expected, e.g. `succeeded: exactly 20`. */
  name: string;
  held: boolean;
  /** What was seen, with the first offending devices. */
  detail: string;
  /** The run hit its time limit. */
  timedOut?: boolean;
}

/** A report as JSON: the same shape as `otalab run --report` writes. */
export interface ReportJson {
  generatedAtMs: number;
  summary: { total: number; pending: number; upgrading: number; succeeded: number; failed: number; cancelled: number };
  devices: DeviceReport[];
  /** The scenario's name. */
  scenario?: string;
  expectations?: ExpectationResult[];
  /** Batches, upgrade jobs, expectations as written, timings: see the README. */
  [more: string]: unknown;
}

/** Options of `Scenario.runInMemory`. */
export interface RunInMemoryOptions {
  /** Seeds the connection times and notice ids: the same seed gives the same run (default 1). */
  seed?: number;
  /** Only this shard of the fleet, `"i/n"`. */
  shard?: string;
  /**
   * Files by name: a firmware `file` (or a firmware `url`), the fleet's `csv` or `devices_conf`.
   * `demo-2.0.0.bin` and `demo-2.1.0.bin` are the sandbox's demo files unless given here.
   */
  files?: Record<string, Uint8Array | string>;
}

/** An OTA test scenario: the format of `otalab run` and the page (see the package README). */
export class Scenario {
  private constructor();
  /** Reads and checks a scenario file (TOML). Throws OtaError `SCENARIO_SYNTAX` (not TOML: `line`, `column`) or `SCENARIO_INVALID` (a wrong value, an unknown key or a broken reference: `path`, and `line`, `column` where the text names it). */
  static parse(text: string): Scenario;
  /** Checks a scenario given as JSON text or a plain object (what `toJSON()` gives). */
  static fromJSON(value: string | object): Scenario;
  /** Its name. */
  readonly name: string;
  /** The scenario as a plain object (every default written out). */
  toJSON(): Record<string, unknown>;
  /** The scenario as TOML. */
  toToml(): string;
  /**
   * Runs it in this thread on a virtual clock: simulated devices, the sandbox cloud, an
   * in-process broker and file server. Minutes of flashing, retries and time limits take as
   * long as the work. Throws OtaError `NO_SANDBOX_CLOUD`, `FIRMWARE_UNREADABLE`,
   * `SCENARIO_INVALID` (a fleet file missing) or `INVALID_ARGUMENT`.
   */
  runInMemory(options?: RunInMemoryOptions): SimReport;
  /** Frees its WebAssembly memory now rather than when garbage-collected. */
  free(): void;
}

/** What `runInMemory` gives. */
export class SimReport {
  private constructor();
  /** Every expectation held. */
  readonly passed: boolean;
  /** What the in-memory world did. */
  readonly stats: { virtualMs: number; messages: number; servedBytes: number; events: number };
  /** The report as JSON data. */
  toJSON(): ReportJson;
  /** CSV: a row per progress report (one for a device without any), then the summary and the batches. */
  toCsv(): string;
  /** JUnit XML: a test case per device and per expectation. */
  toJunit(): string;
  /** A self-contained HTML page (titled with the scenario's name unless given). */
  toHtml(title?: string): string;
  /** Frees its WebAssembly memory now rather than when garbage-collected. */
  free(): void;
}

/** A fault injected into a simulated device (the scenario format's `fault`). */
export type Fault =
  | { kind: 'none' }
  | { kind: 'fail'; failure: 'upgrade' | 'download' | 'verify' | 'flash'; at_percent: number }
  | { kind: 'wrongVersion'; version: string }
  | { kind: 'stall'; at_percent: number }
  | { kind: 'offline'; at_percent: number; for_ms: number };

/** How a simulated device behaves; the defaults are the dashboard's and the runner's. */
export interface DeviceOptions {
  productKey: string;
  deviceName: string;
  /** The default module's version (default `1.0.0`). */
  version?: string;
  /** Other modules and their versions. */
  modules?: Record<string, string>;
  /** Report progress every this many percent, 1..100 (default 5). */
  cadencePercent?: number;
  /** How long flashing takes, ms (default 1500). */
  flashMs?: number;
  /** How long the reboot takes, ms (default 1000). */
  rebootMs?: number;
  /** Start downloading when a notice arrives (default true); otherwise call `upgrade()`. */
  autoUpgrade?: boolean;
  /** Resumes of a broken HTTP download before -2 (default 3). */
  maxResumes?: number;
  /** Bytes per block over MQTT (default 5120), seconds per block (default 10 s), re-sends (default 3). */
  blockSize?: number;
  blockTimeoutMs?: number;
  maxBlockRetries?: number;
  fault?: Fault;
}

/** Your MQTT client, as the simulation needs it. */
export interface MqttAdapter {
  /** Publishes; may return a promise (a rejection is recorded in `errors`). */
  publish(topic: string, payload: string | Uint8Array, options: { qos: 0 | 1; retain: boolean }): void | Promise<unknown>;
  /** Subscribes to topic filters; resolves once the broker granted them. */
  subscribe(filters: string[]): void | Promise<unknown>;
  /** Registers the handler every incoming message goes to. */
  onMessage(handler: (topic: string, payload: Uint8Array | string) => void): void;
  /** A simulated reboot: closes the connection (optional: without it the device only goes quiet). */
  disconnect?(): void | Promise<unknown>;
  /** Opens it again after a reboot (optional). */
  connect?(): void | Promise<unknown>;
}

/** Time as the simulation sees it: `Date.now` and `setTimeout` unless given (tests drive it by hand). */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The I/O of a driver. */
export interface SimIo {
  mqtt: MqttAdapter;
  clock?: Clock;
  /** HTTP(S) downloads (default `globalThis.fetch`); Range requests to resume. */
  fetch?: (url: string, init: { headers: Record<string, string>; signal?: AbortSignal }) => Promise<Response>;
}

/** What a simulated device is doing. */
export interface DeviceState {
  key: string;
  phase: 'idle' | 'notified' | 'downloading' | 'flashing' | 'rebooting' | 'upgraded' | 'failed' | 'stalled' | 'offline';
  percent: number | null;
  versions: Record<string, string>;
  steps: { atMs: number; step: number; desc: string }[];
}

/** A simulated OTA device on your MQTT client: the dashboard's and the runner's device. */
export class SimulatedDevice {
  /** Throws OtaError `INVALID_ARGUMENT` (with `path`) for a bad option or adapter. */
  constructor(options: DeviceOptions, io: SimIo);
  /** `productKey/deviceName`. */
  readonly key: string;
  readonly state: DeviceState;
  /** Malformed messages and failed publishes (the device carries on). */
  readonly errors: OtaError[];
  /** Subscribes to its topics and reports its versions. */
  start(): Promise<void>;
  /** Starts the notified upgrade (with `autoUpgrade: false`). */
  upgrade(): void;
  /** Calls `listener` after every change; returns the function that stops it. */
  onChange(listener: (state: DeviceState) => void): () => boolean;
  /** No more timers, downloads or publishes. */
  stop(): void;
}

/** The firmware a cloud pushes. */
export interface Package {
  name: string;
  url: string;
  size: number;
  md5: string;
  sha256: string;
  version: string;
}

/** Notice kinds: a correct one, or a deliberately wrong one. */
export type NoticeKind = 'correct' | 'bad_digest' | 'wrong_size' | 'expired_url' | 'missing_url' | 'flaky_url' | 'slow_url'
  | 'over_mqtt' | 'mqtt_bad_crc' | 'mqtt_wrong_offset' | 'mqtt_drop_reply' | 'mqtt_error_reply';

/** A batch with its counts. */
export interface BatchStatus {
  id: number;
  [more: string]: unknown;
}

/** The sandbox cloud on your MQTT client: pushes, answers pulls, serves blocks, judges, reports. */
export class Cloud {
  constructor(options: { firstId?: number } | undefined, io: SimIo);
  /** Describes a firmware file (http or https URL) from its bytes. */
  static describe(url: string, version: string, bytes: Uint8Array): Package;
  /** Subscribes to every device's OTA topics. */
  start(): Promise<void>;
  stop(): void;
  /** Devices heard from (`productKey/deviceName`). */
  readonly devices: string[];
  readonly errors: OtaError[];
  onChange(listener: () => void): () => boolean;
  /** Keeps a package's bytes so that MQTT notice kinds can serve it. */
  serve(pkg: Package, bytes: Uint8Array): number;
  /**
   * Where the broken-URL kinds point: URL **prefixes** (http or https) to which the package's
   * file name is appended (`http://127.0.0.1:8686/expired/` + `fw-2.0.0.bin`).
   */
  setFaultUrls(urls: { flaky: string; expired: string; missing: string; slow?: string }): void;
  /** Pushes a notice to devices; returns the batch id. Throws OtaError (`NO_DEVICES`, `INVALID_PACKAGE`, `PACKAGE_NOT_LOADED`, ...). */
  push(devices: string[], pkg: Package, options?: { kind?: NoticeKind; signMethod?: 'MD5' | 'SHA256'; module?: string }): number;
  /** Cancels a batch; returns how many jobs it cancelled. Throws OtaError `NO_SUCH_BATCH`, `BATCH_CANCELLED`. */
  cancel(batch: number): number;
  /** Pushes a batch again to its failed devices; returns the new batch id. Throws OtaError `NO_SUCH_BATCH`, `NOTHING_TO_RETRY`. */
  retryFailed(batch: number): number;
  /** A device's verdict by the platform's rule. Throws OtaError `INVALID_DEVICE_KEY` for anything but `productKey/deviceName`. */
  verdict(device: string): Verdict;
  batches(): BatchStatus[];
  /**
   * Resolves with `true` once every job is final or quiet for `quietMs` (default 15000);
   * rejects with OtaError `TIMEOUT` when neither happened within `timeoutMs` (default 600000; the
   * cloud goes on), with `INVALID_ARGUMENT` for options that are not whole numbers of ms.
   */
  whenSettled(options?: { quietMs?: number; timeoutMs?: number }): Promise<true>;
  /** The report of `devices` (default: every device heard from). */
  report(devices?: string[]): SimReport;
}

/** A conformance case's name. */
export type CaseName = 'md5' | 'sha256' | 'bad_digest' | 'wrong_size' | 'expired_url' | 'missing_url' | 'flaky_url' | 'pull'
  | 'repeat' | 'second_module' | 'mqtt' | 'mqtt_bad_crc' | 'mqtt_wrong_offset' | 'mqtt_drop_reply' | 'mqtt_error_reply' | 'retry'
  | 'ignored_notice' | 'report_after_reboot';

/** One case's outcome on the report card. */
export interface CaseResult {
  case: CaseName;
  grade: 'pass' | 'degraded' | 'fail' | 'not_applicable';
  expected: string;
  observed: string;
  version: string;
  startedAtMs: number;
  endedAtMs: number;
  evidence: string[];
}

/** The conformance report card. */
export interface ConformanceReport {
  productKey: string;
  deviceName: string;
  startedAt: string;
  cases: CaseResult[];
  /** No case failed. */
  passed: boolean;
}

/** What the suite says while it runs. */
export type SuiteEvent =
  | { kind: 'version'; version: string }
  | { kind: 'noVersion'; waitedMs: number }
  | { kind: 'caseStarted'; case: CaseName }
  | { kind: 'caseJudged'; result: CaseResult }
  | { kind: 'finished' };

/** Grades one device on the broker behind `io.mqtt`, as `otalab conformance` and the dashboard do. */
export class ConformanceSuite {
  /** Every case, in the order the suite runs them. */
  static readonly cases: CaseName[];
  /**
   * `firmware` (the package's bytes) is needed for the MQTT cases, `faultUrls` for the
   * broken-URL ones; `limits` in ms (defaults: case 120 s, reaction 20 s, settle 3 s, gap 1 s, quiet 2 s).
   */
  constructor(options: {
    device: string;
    package: Package;
    firmware?: Uint8Array;
    cases?: CaseName[];
    limits?: { caseTimeoutMs?: number; reactionMs?: number; settleMs?: number; gapMs?: number; quietMs?: number };
    faultUrls?: { flaky: string; expired: string; missing: string; slow?: string };
    /** How long to wait for the device's first version report (default 60 s). */
    waitMs?: number;
  }, io: SimIo);
  onEvent(listener: (event: SuiteEvent) => void): () => boolean;
  readonly errors: OtaError[];
  /** Runs every case; rejects with OtaError `NO_VERSION` when the device never reports its version. */
  run(): Promise<ConformanceReport>;
  /** The report card so far. */
  report(): ConformanceReport;
  /** The report card as JUnit XML. */
  junit(): string;
  stop(): void;
}

/** An adapter for an MQTT.js client (Node or browser). */
export function mqttJsAdapter(client: {
  publish(topic: string, payload: string | Uint8Array, options: object, callback: (error?: Error) => void): unknown;
  subscribe(filters: string[], options: object, callback: (error: Error | null, granted?: { topic: string; qos: number }[]) => void): unknown;
  on(event: 'message', handler: (topic: string, payload: Uint8Array) => void): unknown;
  end(force: boolean, options: object, callback: () => void): unknown;
  once(event: string, handler: (...args: any[]) => void): unknown;
  reconnect(): unknown;
}): MqttAdapter;

import { OtaError } from './index.js';
export { OtaError };

/** Accepted by `init`. */
export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/** Loads the simulation's WebAssembly module. Required once in browsers and bundlers; a no-op in Node. */
export default function init(input?: InitInput | Promise<InitInput>): Promise<void>;
/** Synchronous init from bytes or a compiled module (browsers; a no-op in Node). */
export function initSync(module: BufferSource | WebAssembly.Module): void;
