// Node (ES module) entry: the same instance as the CommonJS entry; no init call needed.
import otalab from './index.cjs';

export const {
  topic, parseTopic,
  encodeVersionReport, decodeVersionReport,
  decodeUpgradeNotice, decodeFirmwareGetReply,
  encodeFirmwareGet, decodeFirmwareGet,
  encodeProgress, decodeProgress,
  encodeFileBlockRequest, decodeFileBlockRequest,
  encodeFileBlockReply, decodeFileBlockReply,
  FirmwareVerifier, verifyFirmware,
  aliyunCredentials, parseDevicesConf,
  OtaBridge, OtaError, initSync,
} = otalab;
export default otalab.init;
