'use strict';
// Node (CommonJS) entry: the WebAssembly module is loaded synchronously; no init call needed.
const wasm = require('./otalab_wasm.js');

/** Every error otalab throws: `code` is stable, `message` says what was wrong and where. */
class OtaError extends Error {
  constructor(message, code, details) {
    super(message);
    this.name = 'OtaError';
    this.code = code;
    if (details) Object.assign(this, details);
  }
}
wasm.__setErrorClass(OtaError);

/** Already initialised in Node; kept so code written for browsers runs unchanged. */
async function init() {}
function initSync() {}

module.exports = {
  topic: wasm.topic,
  parseTopic: wasm.parseTopic,
  encodeVersionReport: wasm.encodeVersionReport,
  decodeVersionReport: wasm.decodeVersionReport,
  decodeUpgradeNotice: wasm.decodeUpgradeNotice,
  decodeFirmwareGetReply: wasm.decodeFirmwareGetReply,
  encodeFirmwareGet: wasm.encodeFirmwareGet,
  decodeFirmwareGet: wasm.decodeFirmwareGet,
  encodeProgress: wasm.encodeProgress,
  decodeProgress: wasm.decodeProgress,
  encodeFileBlockRequest: wasm.encodeFileBlockRequest,
  decodeFileBlockRequest: wasm.decodeFileBlockRequest,
  encodeFileBlockReply: wasm.encodeFileBlockReply,
  decodeFileBlockReply: wasm.decodeFileBlockReply,
  FirmwareVerifier: wasm.FirmwareVerifier,
  verifyFirmware: wasm.verifyFirmware,
  aliyunCredentials: wasm.aliyunCredentials,
  parseDevicesConf: wasm.parseDevicesConf,
  OtaBridge: wasm.OtaBridge,
  OtaError,
  init,
  initSync,
  default: init,
};
