/**
 * The JavaScript drivers of `otalab/sim`: `SimulatedDevice`, `Cloud` and `ConformanceSuite` run
 * the engine's sans-IO device, cloud and suite (`DeviceMachine`, `CloudMachine`, `SuiteMachine`
 * in the WebAssembly module) on the user's own
 * MQTT client through a small adapter, with `fetch` for HTTP downloads and a clock that defaults
 * to `Date.now`/`setTimeout` and can be driven by hand. `mqttJsAdapter` wraps an MQTT.js client.
 * Every decision is the engine's; this file only moves messages, bytes and timers.
 */
export function simDrivers(wasm, OtaError) {
  const systemClock = {
    now: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle),
  };
  const kind = (value) => {
    if (value === null) return 'null';
    try {
      if (Array.isArray(value)) return 'an array';
    } catch {
      return 'a revoked proxy';
    }
    return typeof value;
  };
  const refuse = (path, message) => new OtaError(`${path}: ${message}`, 'INVALID_ARGUMENT', { path });

  /**
   * Reads the user's argument with `read`: a getter or proxy trap that throws while it is read
   * is refused as `INVALID_ARGUMENT` naming `path`, never passed on as it is.
   */
  function guarded(path, read) {
    try {
      return read();
    } catch (error) {
      if (error instanceof OtaError) throw error;
      throw refuse(path, `cannot be read: ${error?.message ?? String(error)}`);
    }
  }

  /** An optional options object: its own keys, each of them one of `known`. */
  function optionsObject(path, value, known) {
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' || guarded(path, () => Array.isArray(value))) throw refuse(path, `expected an object, found ${kind(value)}`);
    return guarded(path, () => {
      const copy = {};
      for (const key of Object.keys(value)) {
        if (!known.includes(key)) throw refuse(`${path}.${key}`, `unknown option; expected ${known.join(', ')}`);
        copy[key] = value[key];
      }
      return copy;
    });
  }

  /** A whole number of ms from 0 to `Number.MAX_SAFE_INTEGER`. */
  function milliseconds(path, value) {
    if (!Number.isSafeInteger(value) || value < 0) throw refuse(path, `expected a whole number of ms from 0 to ${Number.MAX_SAFE_INTEGER}, found ${typeof value === 'number' ? value : kind(value)}`);
    return value;
  }

  /** Checks the `{ mqtt, clock, fetch }` argument of both drivers. */
  function io(options, needsFetch) {
    if (options === null || typeof options !== 'object') throw refuse('io', `expected { mqtt, clock?, fetch? }, found ${kind(options)}`);
    return guarded('io', () => checkIo(options, needsFetch));
  }

  function checkIo(options, needsFetch) {
    const { mqtt, clock = systemClock } = options;
    if (clock === null || typeof clock !== 'object') throw refuse('io.clock', `expected { now(), setTimeout(fn, ms), clearTimeout(handle) }, found ${kind(clock)}`);
    for (const method of ['publish', 'subscribe', 'onMessage']) {
      if (!mqtt || typeof mqtt[method] !== 'function') {
        throw refuse('io.mqtt', `expected an adapter with publish(topic, payload, { qos, retain }), subscribe(filters) and onMessage(handler); ${method} is missing`);
      }
    }
    for (const method of ['now', 'setTimeout', 'clearTimeout']) {
      if (typeof clock[method] !== 'function') throw refuse('io.clock', `expected { now(), setTimeout(fn, ms), clearTimeout(handle) }; ${method} is missing`);
    }
    // The global fetch is called as a plain function (browsers refuse it with another `this`).
    const fetch = options.fetch ?? (typeof globalThis.fetch === 'function' ? (url, init) => globalThis.fetch(url, init) : undefined);
    if (needsFetch && typeof fetch !== 'function') throw refuse('io.fetch', 'no fetch in this environment: give one');
    return { mqtt, clock, fetch };
  }

  /** Publishes the engine's messages; a failed publish goes to `errors` and the driver carries on. */
  function publishAll(mqtt, messages, errors) {
    for (const { topic, payload, qos } of messages) {
      Promise.resolve(mqtt.publish(topic, payload, { qos, retain: false })).catch((e) => errors.push(e));
    }
  }

  /** One timer on `clock`: `set(at, fn)` replaces it and calls `fn` once the clock reaches `at`. */
  class Alarm {
    #clock;
    #handle = null;
    constructor(clock) {
      this.#clock = clock;
    }
    set(at, fn) {
      this.clear();
      const now = () => Math.floor(this.#clock.now());
      this.#handle = this.#clock.setTimeout(() => {
        this.#handle = null;
        // Timers may fire a little early (or a hand-driven clock may not have moved): wait again.
        if (now() < at) this.set(at, fn);
        else fn();
      }, Math.max(0, at - now()));
    }
    clear() {
      if (this.#handle !== null) this.#clock.clearTimeout(this.#handle);
      this.#handle = null;
    }
  }

  /** Calls `listener` for each change until the returned function is called. */
  class Listeners {
    #set = new Set();
    add(listener) {
      if (typeof listener !== 'function') throw refuse('listener', `expected a function, found ${kind(listener)}`);
      this.#set.add(listener);
      return () => this.#set.delete(listener);
    }
    emit(value) {
      for (const listener of [...this.#set]) listener(value);
    }
  }

  /**
   * A simulated device: the same behaviour options and faults as the dashboard and scenarios, on
   * any broker through `io.mqtt`. Downloads firmware over HTTP(S) with `io.fetch` (resuming with
   * Range) or over MQTT (block requests), reports progress, "flashes" and "reboots".
   */
  class SimulatedDevice {
    #machine;
    #io;
    #topics;
    #online = false;
    #stopped = false;
    #alarm;
    #download = 0;
    #abort = null;
    #errors = [];
    #changes = new Listeners();

    constructor(options, ioOptions) {
      this.#io = io(ioOptions, true);
      this.#machine = new wasm.DeviceMachine(options);
      this.#alarm = new Alarm(this.#io.clock);
      this.#topics = new Set(this.#machine.subscriptions());
      this.#io.mqtt.onMessage((topic, payload) => {
        if (this.#online && !this.#stopped && this.#topics.has(topic)) this.#step(() => this.#machine.message(topic, payload, this.#now()));
      });
    }

    /** `productKey/deviceName`. */
    get key() {
      return this.#machine.key;
    }

    /** `{ key, phase, percent, versions, steps }`. */
    get state() {
      return this.#machine.state;
    }

    /** Malformed messages and failed publishes, as OtaErrors (the device carries on). */
    get errors() {
      return [...this.#errors];
    }

    /** Calls `listener(state)` after every change; returns a function that stops it. */
    onChange(listener) {
      return this.#changes.add(listener);
    }

    /** Subscribes to its topics and reports its versions (T1), as on every connect. */
    async start() {
      await this.#io.mqtt.subscribe([...this.#topics]);
      this.#online = true;
      this.#step(() => this.#machine.connected(this.#now()));
    }

    /** Starts the upgrade it was notified of (with `autoUpgrade: false`). */
    upgrade() {
      this.#step(() => this.#machine.start(this.#now()));
    }

    /** Stops: no more timers, downloads or publishes. */
    stop() {
      this.#stopped = true;
      this.#online = false;
      this.#alarm.clear();
      this.#abort?.abort();
    }

    #now() {
      return Math.floor(this.#io.clock.now());
    }

    #fail(error) {
      this.#errors.push(error instanceof OtaError ? error : new OtaError(String(error?.message ?? error), 'IO_ERROR'));
    }

    #step(call) {
      let actions;
      try {
        actions = call();
      } catch (error) {
        this.#fail(error);
        this.#changes.emit(this.state);
        return;
      }
      for (const action of actions) this.#act(action);
      this.#changes.emit(this.state);
    }

    #act(action) {
      const { mqtt, clock } = this.#io;
      if (this.#stopped) return;
      switch (action.kind) {
        case 'publish':
          if (this.#online) Promise.resolve(mqtt.publish(action.topic, action.payload, { qos: action.qos, retain: false })).catch((e) => this.#fail(e));
          break;
        case 'fetch':
          this.#fetch(action.url, action.offset);
          break;
        case 'abortFetch':
          this.#download++;
          this.#abort?.abort();
          break;
        case 'disconnect':
          this.#online = false;
          if (typeof mqtt.disconnect === 'function') Promise.resolve(mqtt.disconnect()).catch((e) => this.#fail(e));
          break;
        case 'connect':
          Promise.resolve(typeof mqtt.connect === 'function' ? mqtt.connect() : undefined)
            .then(() => mqtt.subscribe([...this.#topics]))
            .then(() => {
              this.#online = true;
              this.#step(() => this.#machine.connected(this.#now()));
            })
            .catch((e) => this.#fail(e));
          break;
        case 'wakeAt':
          this.#wake(action.at);
          break;
        default:
          this.#fail(new OtaError(`unknown action ${action.kind}`, 'INTERNAL'));
      }
    }

    /** Calls the machine's `tick` once the clock reaches `at`. */
    #wake(at) {
      this.#alarm.set(at, () => this.#step(() => this.#machine.tick(this.#now())));
    }

    /** GET `url` from `offset` (Range), streaming the body into the machine. */
    async #fetch(url, offset) {
      const id = ++this.#download;
      this.#abort?.abort();
      const abort = typeof AbortController === 'function' ? new AbortController() : null;
      this.#abort = abort;
      const current = () => id === this.#download && !this.#stopped;
      try {
        const response = await this.#io.fetch(url, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {}, signal: abort?.signal });
        if (!current()) return;
        const expected = offset > 0 ? 206 : 200;
        if (response.status !== expected) {
          await response.body?.cancel?.();
          this.#step(() => this.#machine.fetchFailed(response.status, `${url}: HTTP ${response.status}${response.status < 300 ? ` (expected ${expected})` : ''}`, this.#now()));
          return;
        }
        const reader = response.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (!current()) {
            reader.cancel().catch(() => {});
            return;
          }
          if (done) break;
          this.#step(() => this.#machine.data(value, this.#now()));
        }
        this.#step(() => this.#machine.fetchEnded(this.#now()));
      } catch (error) {
        if (current()) this.#step(() => this.#machine.fetchFailed(undefined, `${url}: ${error?.message ?? error}`, this.#now()));
      }
    }
  }

  /**
   * The sandbox cloud on any broker through `io.mqtt`: pushes notices of every kind with either
   * sign method, answers pulls, serves blocks for MQTT downloads, judges each device by the
   * platform's rule, cancels and retries batches, and reports.
   */
  class Cloud {
    #machine;
    #io;
    #devices = new Set();
    #alarm;
    #stopped = false;
    #errors = [];
    #changes = new Listeners();

    constructor(options, ioOptions) {
      const { firstId = 1000 } = optionsObject('options', options, ['firstId']);
      this.#io = io(ioOptions, false);
      this.#machine = new wasm.CloudMachine(firstId);
      this.#alarm = new Alarm(this.#io.clock);
      this.#io.mqtt.onMessage((topic, payload) => {
        if (this.#stopped) return;
        const parts = topic.split('/');
        // /ota/device/<kind>/<pk>/<dn> and /sys/<pk>/<dn>/thing/... name the device.
        const key = parts[1] === 'ota' ? `${parts[4]}/${parts[5]}` : parts[1] === 'sys' ? `${parts[2]}/${parts[3]}` : null;
        try {
          const out = this.#machine.message(topic, payload, this.#now());
          if (key && parts.length >= 6) this.#devices.add(key);
          this.#send(out);
        } catch (error) {
          this.#errors.push(error);
        }
        this.#arm();
        this.#changes.emit();
      });
    }

    /** Describes a firmware file from its bytes: `{ name, url, size, md5, sha256, version }`. */
    static describe(url, version, bytes) {
      return wasm.CloudMachine.describe(url, version, bytes);
    }

    /** Subscribes to every device's OTA topics. */
    async start() {
      await this.#io.mqtt.subscribe(wasm.CloudMachine.subscriptions());
      this.#arm();
    }

    /** Stops its timers; it handles no more messages. */
    stop() {
      this.#stopped = true;
      this.#alarm.clear();
    }

    /** The devices heard from so far (`productKey/deviceName`), in order. */
    get devices() {
      return [...this.#devices];
    }

    /** Failed publishes and malformed messages seen, as OtaErrors. */
    get errors() {
      return [...this.#errors];
    }

    /** Calls `listener()` after every message handled; returns a function that stops it. */
    onChange(listener) {
      return this.#changes.add(listener);
    }

    /** Keeps a package's bytes so that MQTT notice kinds (`over_mqtt`, ...) can serve it. */
    serve(pkg, bytes) {
      return this.#machine.addStream(pkg, bytes);
    }

    /** Where the broken-URL notice kinds point: `{ flaky, expired, missing, slow }`. */
    setFaultUrls(urls) {
      this.#machine.setFaultUrls(urls);
    }

    /**
     * Pushes `pkg` to `devices` (`productKey/deviceName`) as a notice of `options.kind`
     * (`correct`, `bad_digest`, `wrong_size`, `expired_url`, `missing_url`, `flaky_url`,
     * `slow_url`, `over_mqtt`, `mqtt_bad_crc`, `mqtt_wrong_offset`, `mqtt_drop_reply`,
     * `mqtt_error_reply`) signed with `options.signMethod` (`MD5` or `SHA256`); returns the
     * batch id.
     */
    push(devices, pkg, options) {
      this.#send(this.#machine.push(devices, pkg, options, this.#now()));
      this.#arm();
      return this.batches().at(-1).id;
    }

    /** Cancels a batch; returns how many jobs it cancelled. */
    cancel(batch) {
      return this.#machine.cancel(batch, this.#now());
    }

    /** Pushes a batch again to its failed devices; returns the new batch id. */
    retryFailed(batch) {
      const { batch: id, messages } = this.#machine.retryFailed(batch, this.#now());
      this.#send(messages);
      return id;
    }

    /** A device's verdict by the platform's rule. */
    verdict(device) {
      return this.#machine.verdict(device);
    }

    /** The batches with their counts and grouped failures. */
    batches() {
      return this.#machine.batches();
    }

    /**
     * Resolves with `true` once every job is final or quiet for `quietMs` (default 15 s); rejects
     * with OtaError `TIMEOUT` when neither happened within `timeoutMs` (default 10 min), and
     * with `INVALID_ARGUMENT` for bad options.
     */
    whenSettled(options) {
      let quietMs;
      let timeoutMs;
      try {
        const given = optionsObject('options', options, ['quietMs', 'timeoutMs']);
        quietMs = milliseconds('options.quietMs', given.quietMs ?? 15_000);
        timeoutMs = milliseconds('options.timeoutMs', given.timeoutMs ?? 600_000);
      } catch (error) {
        return Promise.reject(error);
      }
      const { clock } = this.#io;
      const until = this.#now() + timeoutMs;
      return new Promise((resolve, reject) => {
        const check = () => {
          if (this.#machine.settled(this.#now(), quietMs)) return resolve(true);
          if (this.#now() >= until) return reject(new OtaError(`not settled within ${timeoutMs} ms`, 'TIMEOUT'));
          clock.setTimeout(check, 100);
        };
        check();
      });
    }

    /** The report of `devices` (default: every device heard from) as a `SimReport`. */
    report(devices) {
      return this.#machine.report(devices === undefined ? this.devices : devices, this.#now());
    }

    #now() {
      return Math.floor(this.#io.clock.now());
    }

    #send(messages) {
      publishAll(this.#io.mqtt, messages, this.#errors);
    }

    /** Wakes up for the engine's timers (upgrade-job re-pushes and retries). */
    #arm() {
      this.#alarm.clear();
      const due = this.#machine.pollTimeout();
      if (due === undefined || this.#stopped) return;
      this.#alarm.set(due, () => {
        this.#send(this.#machine.handleTimeout(this.#now()));
        this.#arm();
      });
    }
  }

  /**
   * The conformance suite: grades one device (real or simulated, connected to the broker behind
   * `io.mqtt`) against the platform's OTA rules, case by case, with the cases, limits, evidence
   * and report card of `otalab conformance` and the dashboard.
   */
  class ConformanceSuite {
    #machine;
    #io;
    #alarm;
    #running = null;
    #events = new Listeners();
    #errors = [];

    /** Every case's name, in the order the suite runs them. */
    static get cases() {
      return wasm.SuiteMachine.cases();
    }

    /**
     * `options`: `{ device: 'pk/dn', package, firmware?, cases?, limits?, faultUrls?, waitMs? }`;
     * `firmware` (the package's bytes) for the MQTT cases, `faultUrls` for the broken-URL ones.
     */
    constructor(options, ioOptions) {
      if (options === null || typeof options !== 'object' || guarded('options', () => Array.isArray(options))) throw refuse('options', `expected { device, package, ... }, found ${kind(options)}`);
      const { firmware, ...settings } = guarded('options', () => ({ ...options }));
      this.#io = io(ioOptions, false);
      this.#alarm = new Alarm(this.#io.clock);
      this.#machine = new wasm.SuiteMachine(settings, firmware, this.#now());
      this.#io.mqtt.onMessage((topic, payload) => {
        if (!this.#running) return;
        try {
          this.#send(this.#machine.message(topic, payload, this.#now()));
        } catch (error) {
          this.#errors.push(error);
        }
      });
    }

    /** Calls `listener(event)` for each event: `version`, `noVersion`, `caseStarted`, `caseJudged` (with `result`), `finished`. */
    onEvent(listener) {
      return this.#events.add(listener);
    }

    /** Failed publishes and malformed messages, as OtaErrors. */
    get errors() {
      return [...this.#errors];
    }

    /**
     * Runs every case; resolves with the report card `{ productKey, deviceName, startedAt, cases,
     * passed }` (each case `{ case, grade, expected, observed, evidence, ... }`). Rejects with
     * `NO_VERSION` when the device reports no version within `waitMs`.
     */
    run() {
      if (this.#running) return this.#running.promise;
      let resolve;
      let reject;
      const promise = new Promise((yes, no) => { resolve = yes; reject = no; });
      this.#running = { promise, resolve, reject };
      Promise.resolve(this.#io.mqtt.subscribe(this.#machine.subscriptions()))
        .then(() => this.#tick())
        .catch((error) => { this.stop(); reject(error); });
      return promise;
    }

    /** The report card so far. */
    report() {
      const report = this.#machine.report();
      return { ...report, passed: report.cases.every((c) => c.grade !== 'fail') };
    }

    /** The report card as JUnit XML. */
    junit() {
      return this.#machine.reportJunit();
    }

    /** Stops the timers (a pending `run()` stays pending). */
    stop() {
      this.#alarm.clear();
    }

    #now() {
      return Math.floor(this.#io.clock.now());
    }

    #send(messages) {
      publishAll(this.#io.mqtt, messages, this.#errors);
    }

    #tick() {
      const { messages, events } = this.#machine.handleTimeout(this.#now());
      this.#send(messages);
      for (const event of events) {
        this.#events.emit(event);
        if (event.kind === 'noVersion') {
          this.stop();
          this.#running.reject(new OtaError(`${this.#machine.report().productKey}/${this.#machine.report().deviceName} reported no version within ${event.waitedMs} ms: is it connected to the broker?`, 'NO_VERSION'));
          return;
        }
        if (event.kind === 'finished') {
          this.stop();
          this.#running.resolve(this.report());
          return;
        }
      }
      const due = this.#machine.pollTimeout(this.#now());
      if (due !== undefined) this.#alarm.set(due, () => this.#tick());
    }
  }

  /**
   * An adapter for an MQTT.js client (Node or browser): publish and subscribe resolve when
   * the broker acknowledged them (a refused subscription rejects with `SUBSCRIBE_REFUSED`),
   * messages arrive as `Uint8Array`s, and a simulated reboot ends and reconnects the client.
   */
  function mqttJsAdapter(client) {
    if (!client || typeof client !== 'object' || guarded('client', () => typeof client.publish !== 'function' || typeof client.on !== 'function')) {
      throw refuse('client', `expected an MQTT.js client, found ${kind(client)}`);
    }
    const done = (resolve, reject) => (error) => (error ? reject(error) : resolve());
    const bytes = (payload) => (typeof payload === 'string' || !globalThis.Buffer ? payload : globalThis.Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
    return {
      publish: (topic, payload, { qos = 1, retain = false } = {}) =>
        new Promise((resolve, reject) => client.publish(topic, bytes(payload), { qos, retain }, done(resolve, reject))),
      subscribe: (filters) =>
        new Promise((resolve, reject) => client.subscribe(filters, { qos: 1 }, (error, granted) => {
          if (error) return reject(error);
          const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
          return refused.length ? reject(new OtaError(`the broker refused ${refused.join(', ')}`, 'SUBSCRIBE_REFUSED', { topic: refused[0] })) : resolve();
        })),
      onMessage: (handler) => client.on('message', (topic, payload) => handler(topic, new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength))),
      disconnect: () => new Promise((resolve) => client.end(true, {}, () => resolve())),
      connect: () => new Promise((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
        client.reconnect();
      }),
    };
  }

  return { SimulatedDevice, Cloud, ConformanceSuite, mqttJsAdapter };
}
