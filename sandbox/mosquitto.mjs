// Starts a real mosquitto for a test: a plain MQTT listener and a WebSocket listener on
// 127.0.0.1, optional password file and ACL, logging to a file. Used by every test that needs
// a broker; the broker is never faked.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, deadline) {
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

/**
 * Starts mosquitto. `users` is `{ name: password }` (none: anonymous access), `acl` the text of
 * an ACL file; `persistence` keeps sessions and queued QoS 1 messages across restarts.
 * `dynsec` uses mosquitto's dynamic security plugin instead, which checks subscriptions when
 * they are made (SUBACK 0x80 for a filter a client may not subscribe to; the ACL file only
 * filters deliveries): `{ name: { password, subscribe: [patterns], publish: [patterns] } }`.
 * `tls: true` adds a TLS listener (and a secure WebSocket one) with a certificate for
 * 127.0.0.1 and localhost signed by a throw-away CA, made with openssl (`caFile` is its PEM).
 * `host` is the address the plain and WebSocket listeners bind (`0.0.0.0` for devices on the
 * network; URLs still name 127.0.0.1); `plainHost` binds the plain listener elsewhere (the
 * sandbox keeps it on 127.0.0.1 behind its automatic subscription front).
 * Returns `{ port, wsPort, url, wsUrl, tlsUrl, wssUrl, caFile, dir, log(), stop(), restart() }`.
 */
export async function startMosquitto({ users, acl, dynsec, port, wsPort, persistence = false, tls = false, host = '127.0.0.1', plainHost = host, maxConnections } = {}) {
  const binary = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find(existsSync);
  if (!binary) throw new Error('mosquitto is not installed: run scripts/setup');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'otalab-mosquitto-'));
  port ??= await freePort();
  wsPort ??= await freePort();
  const auth = [];
  const admin = ['otalab-admin', `admin-${process.pid}-${Date.now()}`];
  if (dynsec) {
    if (!existsSync(DYNSEC_PLUGIN)) throw new Error(`the dynamic security plugin is missing: ${DYNSEC_PLUGIN}`);
    const config = path.join(dir, 'dynamic-security.json');
    execFileSync('mosquitto_ctrl', ['dynsec', 'init', config, ...admin], { stdio: 'ignore' });
    auth.push('allow_anonymous false', `plugin ${DYNSEC_PLUGIN}`, `plugin_opt_config_file ${config}`);
  } else if (users) {
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, '');
    for (const [name, password] of Object.entries(users)) {
      execFileSync('mosquitto_passwd', ['-b', passwd, name, password]);
    }
    auth.push('allow_anonymous false', `password_file ${passwd}`);
  } else {
    auth.push('allow_anonymous true');
  }
  if (acl) {
    writeFileSync(path.join(dir, 'acl'), acl);
    auth.push(`acl_file ${path.join(dir, 'acl')}`);
  }
  const tlsListeners = [];
  let tlsPort;
  let wssPort;
  if (tls) {
    tlsPort = await freePort();
    wssPort = await freePort();
    const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=otalab test CA',
      '-keyout', 'ca.key', '-out', 'ca.pem', '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
    writeFileSync(path.join(dir, 'server.ext'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-days', '2', '-out', 'server.pem', '-extfile', 'server.ext');
    const files = [`certfile ${dir}/server.pem`, `keyfile ${dir}/server.key`];
    tlsListeners.push(
      `listener ${tlsPort} 127.0.0.1`, 'socket_domain ipv4', ...files,
      `listener ${wssPort} 127.0.0.1`, 'socket_domain ipv4', 'protocol websockets', ...files,
    );
  }
  const logFile = path.join(dir, 'mosquitto.log');
  writeFileSync(path.join(dir, 'mosquitto.conf'), [
    ...(persistence
      ? ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 1']
      : ['persistence false']),
    `log_dest file ${logFile}`,
    'log_type all',
    'max_queued_messages 100000',
    'max_inflight_messages 1000',
    'user root',
    ...auth,
    `listener ${port} ${plainHost}`,
    'socket_domain ipv4',
    ...(maxConnections ? [`max_connections ${maxConnections}`] : []),
    `listener ${wsPort} ${host}`,
    'socket_domain ipv4',
    'protocol websockets',
    ...tlsListeners,
    '',
  ].join('\n'));

  let child;
  const start = async () => {
    child = spawn(binary, ['-c', path.join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const deadline = Date.now() + 10_000;
    const ports = [port, wsPort, ...(tls ? [tlsPort, wssPort] : [])];
    let up = true;
    for (const p of ports) up = up && (await waitForPort(p, child, deadline));
    if (!up) {
      child.kill('SIGKILL');
      throw new Error(`mosquitto did not start: ${stderr}\n${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`);
    }
  };
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  await start();
  for (const [name, { password, subscribe = [], publish = [] }] of Object.entries(dynsec ?? {})) {
    const ctrl = (...args) => execFileSync('mosquitto_ctrl',
      ['-h', '127.0.0.1', '-p', String(port), '-u', admin[0], '-P', admin[1], 'dynsec', ...args], { stdio: 'ignore' });
    ctrl('createClient', name, '-p', password);
    ctrl('createRole', `${name}-role`);
    for (const topic of subscribe) ctrl('addRoleACL', `${name}-role`, 'subscribePattern', topic, 'allow');
    for (const topic of publish) ctrl('addRoleACL', `${name}-role`, 'publishClientSend', topic, 'allow');
    ctrl('addClientRole', name, `${name}-role`);
  }
  return {
    port,
    wsPort,
    url: `mqtt://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    tlsUrl: tls ? `mqtts://127.0.0.1:${tlsPort}` : undefined,
    wssUrl: tls ? `wss://localhost:${wssPort}` : undefined,
    caFile: tls ? path.join(dir, 'ca.pem') : undefined,
    dir,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    stop,
    restart: async () => { await stop(); await start(); },
  };
}
