// Type definitions for otalab: Alibaba Cloud IoT OTA in WebAssembly.

/** A message payload: JSON text or its UTF-8 bytes. Payloads over 256 KiB are refused. */
export type Payload = string | Uint8Array;

/** The OTA topics: T1..T5, and T6/T7 for packages delivered over MQTT. */
export type TopicKind = 'inform' | 'upgrade' | 'progress' | 'firmwareGet' | 'firmwareGetReply' | 'fileDownload' | 'fileDownloadReply';

/** Firmware digest algorithm in the spelling the cloud sends (`Md5`, `SHA256`); inputs accept any case. */
export type SignMethod = 'Md5' | 'SHA256';

/** A parsed topic. */
export interface ParsedTopic {
  kind: TopicKind;
  productKey: string;
  deviceName: string;
}

/** One file of an upgrade package. Single-file notices give one file without `name`. */
export interface FirmwareFile {
  /** `fileName` of a multi-file package. */
  name?: string;
  /** Size in bytes. */
  size: number;
  /** http(s) download URL; absent for MQTT downloads. */
  url?: string;
  /** Expected digest, lowercase hex. */
  sign: string;
  /** Unknown fields of a multi-file entry. */
  unknown?: Record<string, unknown>;
}

/** A decoded upgrade notice (T2 push or T5 reply), normalised. */
export interface UpgradeNotice {
  /** Message id (decimal digits, as received). */
  id: string;
  /** Target version. */
  version: string;
  /** Module; 'default' when the wire leaves it out. */
  module: string;
  /** Differential package. */
  isDiff: boolean;
  signMethod: SignMethod;
  /** Single-file and multi-file packages as one list. */
  files: FirmwareFile[];
  download: 'https' | 'mqtt';
  streamId?: number;
  streamFileId?: number;
  /** `digestsign`: Base64 RSA signature over the package digest. */
  digestSign?: string;
  /** Batch tags. */
  extData: Record<string, string>;
  /** `extData._package_udi`, when present. */
  packageUdi?: string;
  /** Unknown fields inside `data`, kept as received. */
  unknown: Record<string, unknown>;
  /** Unknown top-level fields, kept as received. */
  unknownEnvelope: Record<string, unknown>;
}

/** A decoded T1 version report. */
export interface VersionReport {
  id: string;
  version: string;
  module: string;
  unknown: Record<string, unknown>;
  unknownEnvelope: Record<string, unknown>;
}

/** A decoded T3 progress message. `step` is 0..100 or -1 (upgrade), -2 (download), -3 (verify), -4 (flash). */
export interface ProgressReport {
  id: string;
  step: number;
  desc: string;
  module: string;
  unknown: Record<string, unknown>;
  unknownEnvelope: Record<string, unknown>;
}

/** A decoded T4 pull request. */
export interface FirmwareGetRequest {
  id: string;
  module: string;
  unknown: Record<string, unknown>;
  unknownEnvelope: Record<string, unknown>;
}

/** What a firmware file must be. */
export interface ExpectedFirmware {
  size: number;
  /** MD5 or SHA256, any case. */
  signMethod: string;
  /** Hex digest, either case. */
  sign: string;
}

/** The outcome of a verification. */
export interface VerifyResult {
  ok: boolean;
  /** Bytes received. */
  size: number;
  /** Digest of the bytes received, lowercase hex. */
  digest: string;
  failure?: 'SIZE_MISMATCH' | 'DIGEST_MISMATCH';
  /** Human-readable failure. */
  message?: string;
}

/** Streams a firmware file through size and digest checks in constant memory. */
export class FirmwareVerifier {
  constructor(expected: ExpectedFirmware);
  /** Feeds the next chunk; throws OtaError `SIZE_EXCEEDED` as soon as too many bytes arrive. */
  update(chunk: Uint8Array): void;
  /** Bytes received so far. */
  readonly received: number;
  /** Ends the stream. Any call after it throws OtaError `VERIFIER_FINISHED`. */
  finish(): VerifyResult;
  /** Frees the WebAssembly memory now (otherwise freed when garbage-collected). */
  free(): void;
  [Symbol.dispose](): void;
}

/** Verifies a whole buffer. */
export function verifyFirmware(bytes: Uint8Array, expected: ExpectedFirmware): VerifyResult;

/** Aliyun MQTT login options. */
export interface AliyunCredentialOptions {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
  /** Free client id (MAC, SN, ...); `${productKey}.${deviceName}` when absent. */
  clientId?: string;
  /** Milliseconds since 1970; left out of the signature when absent. */
  timestamp?: string | number;
  /** Default 'hmacsha256'. */
  signMethod?: 'hmacmd5' | 'hmacsha1' | 'hmacsha256';
  /** wss with securemode=2 (default true), or ws with securemode=3. */
  tls?: boolean;
  /** Region of an older public instance, e.g. 'cn-shanghai'. */
  region?: string;
  /** Instance id, e.g. 'iot-06z00ax1o4d9lh8'. */
  instanceId?: string;
}

/** MQTT CONNECT fields (and the WebSocket URL when a region or instance was given). */
export interface AliyunCredentials {
  clientId: string;
  username: string;
  password: string;
  url?: string;
}

/** One device of a bridge `devices.conf`. */
export interface DeviceEntry {
  originalIdentity: string;
  productKey: string;
  deviceName: string;
  deviceSecret: string;
}

/** The bridge SDK's `OtaFirmwareInfo`, plus the whole notice. */
export interface FirmwareInfo {
  /** Total size of the package's files. */
  size: number;
  signMethod: SignMethod;
  /** Digest of the first file. */
  sign: string;
  version: string;
  /** URL of the first file ('' for MQTT downloads). */
  url: string;
  notice: UpgradeNotice;
}

/** The device a notice is for. */
export interface BridgeSession {
  originalIdentity: string;
  productKey: string;
  deviceName: string;
}

/** Handler of upgrade notices, as the bridge SDK's `onUpgrade`. */
export type OtaUpgradeHandler = (requestId: string, firmwareInfo: FirmwareInfo, session: BridgeSession) => boolean;

/** Publishes a message; return false (or throw) when it could not be sent. */
export type PublishFunction = (topic: string, payload: string, qos: 0 | 1) => unknown;

/** The bridge SDK's three OTA calls over any MQTT client. */
export class OtaBridge {
  constructor(options: { devices: DeviceEntry[]; publish: PublishFunction });
  /** Publishes T1. False when publish failed; throws OtaError on bad arguments or an unknown device. */
  reportOtaVersion(requestId: string | number, originalIdentity: string, version: string, module?: string): boolean;
  /** Sets the handler called for every upgrade notice of a configured device. */
  setOtaUpgradeHandler(handler: OtaUpgradeHandler): void;
  /** Publishes T3: step 0..100 or -1..-4. */
  reportOtaProgress(requestId: string | number, originalIdentity: string, step: string | number, desc: string, module?: string): boolean;
  /** Feed every incoming message; true if it was an upgrade notice for a configured device. */
  handleMessage(topic: string, payload: Payload): boolean;
  /** Topics to subscribe to (T2 and T5 of every device). */
  subscriptions(): string[];
  free(): void;
  [Symbol.dispose](): void;
}

/** A file block request (T6) of a package delivered over MQTT. */
export interface FileBlockRequest {
  /** Request id (decimal digits). */
  id: string;
  /** The notice's `streamId`. */
  streamId: number;
  /** The notice's `streamFileId`. */
  fileId: number;
  /** Absolute byte offset. */
  offset: number;
  /** Bytes asked for. */
  size: number;
  /** `fileToken` (Link SDK C sends 'default'); null when the device left it out. */
  fileToken: string | null;
}

/** A decoded file block reply frame (T7). */
export interface FileBlockReply {
  /** Echo of the request id. */
  id: string;
  /** Always 200 here: any other code throws CLOUD_ERROR. */
  code: number;
  msg: string;
  fileToken: string | null;
  /** The whole file's size. */
  fileLength: number;
  /** Absolute offset of the block. */
  offset: number;
  /** Bytes in the block. */
  size: number;
  block: Uint8Array;
}

/** Builds a topic. */
export function topic(kind: TopicKind, productKey: string, deviceName: string): string;
/** Parses one of the seven OTA topics. */
export function parseTopic(topic: string): ParsedTopic;
/** Encodes T1. */
export function encodeVersionReport(report: { id: string | number; version: string; module?: string }): string;
/** Decodes T1. */
export function decodeVersionReport(payload: Payload): VersionReport;
/** Decodes a T2 upgrade notice. */
export function decodeUpgradeNotice(payload: Payload): UpgradeNotice;
/** Decodes a T5 pull reply; null when the cloud has no package. */
export function decodeFirmwareGetReply(payload: Payload): UpgradeNotice | null;
/** Encodes T4. */
export function encodeFirmwareGet(request: { id: string | number; module?: string }): string;
/** Decodes T4. */
export function decodeFirmwareGet(payload: Payload): FirmwareGetRequest;
/** Encodes T3 (step as a string on the wire). */
export function encodeProgress(progress: { id: string | number; step: number | string; desc?: string; module?: string }): string;
/** Decodes T3. */
export function decodeProgress(payload: Payload): ProgressReport;
/** Encodes a T6 file block request as JSON text (valid JSON, in Link SDK C's field order). */
export function encodeFileBlockRequest(request: { id: string | number; streamId: number; fileId: number; offset: number; size: number; fileToken?: string }): string;
/** Decodes a T6 request; accepts Link SDK C's trailing comma (`"fileId":1,}`), a number id, no version. */
export function decodeFileBlockRequest(payload: Payload): FileBlockRequest;
/**
 * Encodes a T7 reply frame: 2-byte big-endian header length, JSON header, block, CRC-16/ARC low
 * byte first. With `code` other than 200 (an error reply) `block` may be left out.
 */
export function encodeFileBlockReply(reply: { id: string | number; fileLength: number; offset: number; block: Uint8Array; fileToken?: string; code?: number; msg?: string }): Uint8Array;
/** Decodes a T7 frame; throws SHORT_FRAME, FRAME_LENGTH_MISMATCH, CRC_MISMATCH, or CLOUD_ERROR for a non-200 code. */
export function decodeFileBlockReply(frame: Uint8Array | ArrayBuffer): FileBlockReply;
/** Aliyun MQTT login for a device. */
export function aliyunCredentials(options: AliyunCredentialOptions): AliyunCredentials;
/** Reads a bridge `devices.conf` (HOCON); errors carry `line` (and `column`). */
export function parseDevicesConf(text: string): DeviceEntry[];

/**
 * Every error otalab throws (a method that returns a promise rejects with it); never a
 * `TypeError`, and a refused call leaves its object as it was. The package README's "Errors"
 * table says when each code happens: `INVALID_ARGUMENT` (an argument or option of the wrong
 * type, range or shape; `path` names it, e.g. `options.fault.at_percent`); payload errors
 * (`INVALID_JSON`, `WRONG_TYPE`, `MISSING_FIELD`, `PAYLOAD_TOO_LARGE`, `INVALID_VERSION`,
 * `INVALID_MODULE`, `INVALID_ID`, `INVALID_STEP`, `INVALID_DIGEST`, `INVALID_URL`,
 * `UNKNOWN_SIGN_METHOD`, `UNKNOWN_DOWNLOAD_PROTOCOL`); block frames (`CLOUD_ERROR`,
 * `SHORT_FRAME`, `FRAME_LENGTH_MISMATCH`, `CRC_MISMATCH`); topics (`TOPIC_EMPTY_SEGMENT`,
 * `TOPIC_ILLEGAL_CHAR`, `TOPIC_UNKNOWN`); the verifier (`SIZE_EXCEEDED`, `VERIFIER_FINISHED`);
 * logins (`CREDENTIALS_EMPTY_FIELD`, `UNKNOWN_MQTT_SIGN_METHOD`, `INVALID_CLIENT_ID`,
 * `INVALID_TIMESTAMP`, `INVALID_ENDPOINT`); the bridge (`DEVICES_CONF_SYNTAX`,
 * `DEVICES_CONF_DEVICE`, `UNKNOWN_DEVICE`, `DUPLICATE_DEVICE`); `otalab/sim`'s and
 * `otalab/mqtt`'s codes are in their declarations and the same table.
 */
export class OtaError extends Error {
  name: 'OtaError';
  /** Stable code, e.g. 'WRONG_TYPE', 'DIGEST_MISMATCH', 'INVALID_ARGUMENT'. */
  code: string;
  /**
   * The field the error is about: for argument errors the argument and the field in it
   * (`options.fault.at_percent`, `devices[2]`); for payload errors the field in the payload
   * (`data.size`); for scenario errors the place in the scenario (`device.flash_ms`).
   */
  path?: string;
  /** Expected and actual values, for verification errors. */
  expected?: string | number;
  actual?: string | number;
  /** 1-based position, for devices.conf and scenario (TOML) errors. */
  line?: number;
  column?: number;
  /** The topic, for malformed messages seen by OtaBridge.handleMessage. */
  topic?: string;
}

/** Accepted by `init`. */
export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/** Loads the WebAssembly module. Required once in browsers and bundlers; a no-op in Node. */
export default function init(input?: InitInput | Promise<InitInput>): Promise<void>;
/** Synchronous init from bytes or a compiled module (browsers; a no-op in Node). */
export function initSync(module: BufferSource | WebAssembly.Module): void;
