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
  /** Reads and checks a scenario file (TOML). Throws OtaError `SCENARIO_SYNTAX` (with `line`, `column`) or `SCENARIO_INVALID` (with `path`). */
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

export { OtaError } from './index.js';

/** Accepted by `init`. */
export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/** Loads the simulation's WebAssembly module. Required once in browsers and bundlers; a no-op in Node. */
export default function init(input?: InitInput | Promise<InitInput>): Promise<void>;
/** Synchronous init from bytes or a compiled module (browsers; a no-op in Node). */
export function initSync(module: BufferSource | WebAssembly.Module): void;
