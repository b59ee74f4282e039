// Type definitions for otalab/mqtt: otalab's MQTT 3.1.1 client over WebSocket.

/** Where and how to connect. */
export interface MqttClientOptions {
  /** The broker's WebSocket listener, `ws://` or `wss://` (anything else throws `MQTT_BAD_URL`). */
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** Keep-alive in seconds (default 60; 0 turns it off). Alibaba Cloud IoT accepts 30..1200. */
  keepAliveSecs?: number;
  /** The CONNECT clean-session flag (default true). */
  cleanSession?: boolean;
  /** Reconnect with back-off after a lost link (default true). */
  reconnect?: boolean;
  /** How long to wait for CONNACK, ms (default 10 s). */
  connectTimeoutMs?: number;
}

/** What the client says about its connection. */
export type MqttClientEvent =
  | { kind: 'state'; state: MqttClientState }
  | { kind: 'connected'; sessionPresent: boolean }
  | { kind: 'disconnected'; code: string; reason: string }
  | { kind: 'reconnecting'; atMs: number; attempt: number };

export type MqttClientState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'stopped';

/**
 * otalab's MQTT client over WebSocket (the dashboard's): QoS 0 and 1, keep-alive, reconnects
 * with back-off and re-subscription, bounded buffers. It is the `io.mqtt` adapter of
 * `otalab/sim`'s `SimulatedDevice`, `Cloud` and `ConformanceSuite` as it is. Needs a global
 * `WebSocket` (browsers; Node 22+, or `globalThis.WebSocket = (await import('ws')).WebSocket`).
 */
export class MqttClient {
  /** Throws OtaError `INVALID_ARGUMENT` (with `path`) or `MQTT_BAD_URL`; opens nothing yet. */
  constructor(options: MqttClientOptions);
  /**
   * Opens the connection; resolves at CONNACK. Rejects with OtaError (`MQTT_CLOSED`,
   * `MQTT_CONNECT_TIMEOUT`, a refusal such as `MQTT_NOT_AUTHORIZED`) when the attempt fails, and stops.
   */
  connect(): Promise<void>;
  /** DISCONNECT and close; no reconnect until `connect()`. */
  disconnect(): void;
  /** Resolves when QoS 1 is acknowledged or QoS 0 written (default QoS 1). */
  publish(topic: string, payload: string | Uint8Array, options?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  /** Resolves with the granted QoS of each filter; rejects with `MQTT_SUBSCRIBE_REFUSED`. */
  subscribe(filters: string | string[], options?: { qos?: 0 | 1 }): Promise<number[]>;
  /** Every message from now on. */
  onMessage(handler: (topic: string, payload: Uint8Array) => void): void;
  /** Connection events from now on. */
  onEvent(listener: (event: MqttClientEvent) => void): void;
  readonly state: MqttClientState;
  /** Messages waiting for a connection or an acknowledgement. */
  readonly pending: number;
  /** Frees the WebAssembly memory (the client must be disconnected). */
  free(): void;
}

import { OtaError } from './index.js';
export { OtaError };

/** Accepted by `init`. */
export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/** Loads the client's WebAssembly module. Required once in browsers and bundlers; a no-op in Node. */
export default function init(input?: InitInput | Promise<InitInput>): Promise<void>;
/** Synchronous init from bytes or a compiled module (browsers; a no-op in Node). */
export function initSync(module: BufferSource | WebAssembly.Module): void;
