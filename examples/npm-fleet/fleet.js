// The fleet tool of index.html: everything it does goes through otalab/sim's public API.
import init, { SimulatedDevice, Cloud, mqttJsAdapter } from 'otalab/sim';
import mqttInit, { MqttClient } from 'otalab/mqtt';
import mqtt from 'mqtt';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
$('broker').value = params.get('broker') ?? 'ws://127.0.0.1:9001';
$('firmware').value = params.get('firmware') ?? '';
$('client').value = params.get('client') ?? 'otalab';
let cloud;
let devices = [];

/**
 * A connected MQTT client over WebSocket, as the adapter otalab/sim takes: otalab's own
 * (`otalab/mqtt`, an adapter as it is) or MQTT.js (through `mqttJsAdapter`).
 */
async function connect(clientId) {
  if ($('client').value === 'otalab') {
    const client = new MqttClient({ url: $('broker').value, clientId });
    await client.connect();
    return client;
  }
  const client = mqtt.connect($('broker').value, { clientId, protocolVersion: 4, reconnectPeriod: 0 });
  await new Promise((resolve, reject) => { client.once('connect', resolve); client.once('error', reject); });
  return mqttJsAdapter(client);
}

/** Redraws the rows and the status once per frame, whatever changed (a device or the cloud). */
let drawing = false;
function redraw() {
  if (drawing) return;
  drawing = true;
  requestAnimationFrame(() => {
    drawing = false;
    for (const device of devices) draw(device);
    summary();
  });
}

/** Draws one device's row (rows keyed by device). */
function draw(device) {
  let row = document.querySelector(`tr[data-key="${device.key}"]`);
  if (!row) {
    row = document.createElement('tr');
    row.dataset.key = device.key;
    $('rows').append(row);
  }
  const { phase, percent, versions } = device.state;
  const verdict = cloud.verdict(device.key);
  row.className = verdict;
  row.innerHTML = '';
  for (const text of [device.key, phase, percent === null ? '' : `${percent} %`, versions.default, verdict]) {
    const cell = document.createElement('td');
    cell.textContent = text;
    row.append(cell);
  }
}

function summary() {
  const report = cloud.report(devices.map((d) => d.key));
  const { summary: s } = report.toJSON();
  $('status').textContent = `${s.total} devices: ${s.succeeded} succeeded, ${s.failed} failed, ${s.upgrading} upgrading, ${s.pending} pending`;
  const link = $('csv');
  URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([report.toCsv()], { type: 'text/csv' }));
  link.hidden = false;
  report.free();
}

$('setup').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('start').disabled = true;
  try {
    await Promise.all([init(), mqttInit()]);
    cloud = new Cloud({}, { mqtt: await connect('fleet-cloud') });
    await cloud.start();
    cloud.onChange(redraw); // verdicts change when the cloud hears from a device
    const count = Number($('count').value);
    for (let i = 1; i <= count; i++) {
      const name = `unit-${String(i).padStart(3, '0')}`;
      const device = new SimulatedDevice({ productKey: 'a1Fleet', deviceName: name, flashMs: 500, rebootMs: 300, cadencePercent: 10 },
        { mqtt: await connect(`fleet-${name}`) });
      device.onChange(redraw);
      devices.push(device);
      await device.start();
      draw(device);
    }
    summary();
    window.fleet = { cloud, devices }; // for the browser's console
    $('push').disabled = false;
  } catch (error) {
    $('status').textContent = `Cannot connect: ${error.message}`;
    $('start').disabled = false;
  }
});

$('push').addEventListener('click', async () => {
  $('push').disabled = true;
  const url = $('firmware').value;
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const pkg = Cloud.describe(url, '2.0.0', bytes);
  const keys = devices.map((d) => d.key);
  const half = Math.ceil(keys.length / 2);
  cloud.push(keys.slice(0, half), pkg);
  cloud.push(keys.slice(half), pkg, { kind: 'bad_digest' });
  summary();
});
