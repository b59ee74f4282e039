// `scripts/run` ends here: starts the sandbox around the built dashboard and prints the URL.
// `--lan` (or OTALAB_LAN=1) opens it to devices on the network. Ctrl-C stops everything.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startSandbox } from './sandbox.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const port = Number(process.env.OTALAB_PORT ?? 8686);
const lan = process.argv.includes('--lan') || process.env.OTALAB_LAN === '1';
const sandbox = await startSandbox({
  dist: path.join(repo, 'dist'),
  port,
  brokerPort: Number(process.env.OTALAB_MQTT_PORT ?? port + 1),
  brokerWsPort: Number(process.env.OTALAB_MQTT_WS_PORT ?? port + 2),
  lan,
  lanHost: process.env.OTALAB_LAN_HOST,
});
const host = new URL(sandbox.url).hostname;

// The local OTA platform: the OpenAPI, the jobs engine and the database (otalab serve), on the
// sandbox's plain MQTT port. `scripts/run` builds the binary first.
const apiPort = Number(process.env.OTALAB_API_PORT ?? port + 3);
const serveBin = process.env.OTALAB_BIN ?? path.join(repo, 'target/debug/otalab');
const serve = spawn(serveBin, ['serve', '--broker', sandbox.brokerUrl, '--port', String(apiPort), '--host', lan ? '0.0.0.0' : '127.0.0.1', '--public-url', `http://${host}:${apiPort}`, '--data', process.env.OTALAB_DATA ?? path.join(repo, '.otalab')], { stdio: ['ignore', 'pipe', 'inherit'] });
let banner = '';
serve.stdout.on('data', (d) => { banner += d; });
const serveReady = await new Promise((resolve) => {
  serve.on('exit', (code) => resolve(`otalab serve exited (${code}): ${banner}`));
  const check = setInterval(() => { if (banner.includes('Press Ctrl-C')) { clearInterval(check); resolve(null); } }, 50);
});
if (serveReady) {
  console.error(serveReady);
  await sandbox.stop();
  process.exit(1);
}
const apiLines = banner.split('\n').filter((l) => /^ +(OpenAPI|AccessKey|Secret|Data):/.test(l)).map((l) => l.trimStart());
console.log(`
otalab sandbox is running${lan ? ' on the network' : ''}.

  Open:        ${sandbox.url}/${lan ? `#token=${sandbox.token}` : ''}
  MQTT (ws):   ${sandbox.brokerWs}
  MQTT (tcp):  ${sandbox.brokerUrl}   (e.g. mosquitto_sub -h ${host} -p ${sandbox.mqttPort} -t '/ota/#' -v)
               devices are subscribed to their OTA reply topics on connect, as on Alibaba Cloud
  Firmware:    ${sandbox.url}/firmware/  (files in ${sandbox.firmwareDir})

  The local OTA platform (otalab serve): scripts written for Alibaba Cloud IoT's OTA OpenAPI
  run against it with this endpoint and these keys:
  ${apiLines.join('\n  ')}
  Scenarios:   otalab run examples/scenarios/correct-upgrade.toml --sandbox ${sandbox.url}
               (install the runner: cargo install --path crates/cli --locked --profile native)`);
if (lan) {
  console.log(`
Configure a device (Link SDK C, the Python SDK, your own code) with:

  MQTT host:   ${host}  (bound on every interface; devices on this machine can use 127.0.0.1)
  MQTT port:   ${sandbox.mqttPort}  (plain MQTT 3.1.1, no TLS)   WebSocket: ${sandbox.broker.wsPort}
  Login:       any client id, user name and password are accepted
  Topics:      /ota/device/inform/{productKey}/{deviceName} and the rest of the OTA topics
  Subscribing: not needed on the MQTT port, as on Alibaba Cloud: a device is subscribed to
               /ota/device/upgrade/{pk}/{dn}, .../thing/ota/firmware/get_reply and
               .../thing/file/download_reply when it logs in as dn&pk (or pk.dn|...) or
               first publishes on its OTA topics (a stock Link SDK C device needs no change)

It appears in the page as an external device on its first version report (T1).
Uploads need the token: ${sandbox.token} (the Open link above carries it).
Grade it: otalab conformance --device {productKey}/{deviceName} --sandbox ${sandbox.url}`);
}
console.log('\nPress Ctrl-C to stop.');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  serve.kill('SIGINT');
  await sandbox.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
