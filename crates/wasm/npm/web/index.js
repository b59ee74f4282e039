// Browser and bundler entry: call the default export `init()` once before anything else.
import wasmInit, { initSync as wasmInitSync, __setErrorClass } from './otalab_wasm.js';
import { OtaError } from './ota_error.js';

export {
  topic, parseTopic,
  encodeVersionReport, decodeVersionReport,
  decodeUpgradeNotice, decodeFirmwareGetReply,
  encodeFirmwareGet, decodeFirmwareGet,
  encodeProgress, decodeProgress,
  encodeFileBlockRequest, decodeFileBlockRequest,
  encodeFileBlockReply, decodeFileBlockReply,
  FirmwareVerifier, verifyFirmware,
  aliyunCredentials, parseDevicesConf,
  OtaBridge,
} from './otalab_wasm.js';
export { OtaError };

let ready;

/** Loads the WebAssembly module (from next to this file, or from `input`: URL, Response, bytes or Module). */
export default function init(input) {
  if (!ready) {
    ready = wasmInit(input === undefined ? undefined : { module_or_path: input }).then(() => {
      __setErrorClass(OtaError);
    });
  }
  return ready;
}

/** Synchronous init from wasm bytes or a compiled `WebAssembly.Module`. */
export function initSync(module) {
  wasmInitSync({ module });
  __setErrorClass(OtaError);
}
