// `scripts/run` ends here: starts the sandbox around the built dashboard and prints the URL.
// Ctrl-C stops everything it started.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startSandbox } from './sandbox.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const port = Number(process.env.OTALAB_PORT ?? 8686);
const sandbox = await startSandbox({
  dist: path.join(repo, 'dist'),
  port,
  brokerPort: Number(process.env.OTALAB_MQTT_PORT ?? port + 1),
  brokerWsPort: Number(process.env.OTALAB_MQTT_WS_PORT ?? port + 2),
});
console.log(`
otalab sandbox is running.

  Open:        ${sandbox.url}/
  MQTT (ws):   ${sandbox.brokerWs}
  MQTT (tcp):  ${sandbox.brokerUrl}   (e.g. mosquitto_sub -p ${sandbox.broker.port} -t '/ota/#' -v)
  Firmware:    ${sandbox.url}/firmware/  (files in ${sandbox.firmwareDir})
  Scenarios:   otalab run examples/scenarios/correct-upgrade.toml --sandbox ${sandbox.url}
               (install the runner: cargo install --path crates/cli --locked --profile native)

Press Ctrl-C to stop.`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await sandbox.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
