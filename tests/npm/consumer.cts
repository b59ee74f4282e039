// CommonJS TypeScript consumer: `require` gets the same precise types.
import otalab = require('otalab');

const n: otalab.UpgradeNotice = otalab.decodeUpgradeNotice('{}');
const sign: string = n.files[0].sign;
const login: otalab.AliyunCredentials = otalab.aliyunCredentials({ productKey: 'p', deviceName: 'd', deviceSecret: 's' });
// @ts-expect-error: received is a number
const r: string = new otalab.FirmwareVerifier({ size: 1, signMethod: 'MD5', sign: '' }).received;
import sim = require('otalab/sim');
const passed: boolean = sim.Scenario.parse('').runInMemory().passed;
// @ts-expect-error: passed is a boolean
const p: string = sim.Scenario.fromJSON({}).runInMemory({ seed: 1 }).passed;
export = [sign, login.password, r, passed, p];
