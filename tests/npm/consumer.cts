// CommonJS TypeScript consumer: `require` gets the same precise types.
import otalab = require('otalab');

const n: otalab.UpgradeNotice = otalab.decodeUpgradeNotice('{}');
const sign: string = n.files[0].sign;
const login: otalab.AliyunCredentials = otalab.aliyunCredentials({ productKey: 'p', deviceName: 'd', deviceSecret: 's' });
// @ts-expect-error: received is a number
const r: string = new otalab.FirmwareVerifier({ size: 1, signMethod: 'MD5', sign: '' }).received;
export = [sign, login.password, r];
