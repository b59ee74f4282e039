'use strict';
// FirmwareVerifier and verifyFirmware for the Node entries: the bytes are hashed by node:crypto
// (native OpenSSL, several times the speed of WebAssembly for SHA-256); checking the expectation,
// judging the result and every error come from the WebAssembly module, so both verifiers follow
// one set of rules. Browsers keep the WebAssembly verifier.

const { createHash } = require('node:crypto');

/** Builds the two exports over the package's WebAssembly module `wasm` (its Node build). */
function nodeVerifier(wasm) {
  const algorithm = (expect) => (expect.signMethod === 'MD5' ? 'md5' : 'sha256');
  // `instanceof` runs a proxy's trap: the module's check reads anything else (and a detached
  // view, which node:crypto cannot read, as no bytes).
  const isBytes = (value) => {
    try {
      return value instanceof Uint8Array && value.length > 0;
    } catch {
      return false;
    }
  };
  const bytes = (name, value) => (isBytes(value) ? value : wasm.__bytesArg(name, value));

  /** Verifies a firmware file while it streams in (size and MD5/SHA-256), in constant memory. */
  class FirmwareVerifier {
    #expect;
    #hash;
    #received = 0;

    /** `new FirmwareVerifier({ size, signMethod, sign })`. */
    constructor(expected) {
      this.#expect = wasm.__verifierExpect(expected);
      this.#hash = createHash(algorithm(this.#expect));
    }

    /** Feeds the next chunk; throws `SIZE_EXCEEDED` as soon as too many bytes have arrived. */
    update(chunk) {
      if (!this.#hash) throw wasm.__verifierError(0, 0);
      const data = bytes('chunk', chunk);
      this.#hash.update(data);
      this.#received += data.length;
      if (this.#received > this.#expect.size) throw wasm.__verifierError(this.#expect.size, this.#received);
    }

    /** Bytes received so far (still readable after `finish()`). */
    get received() {
      return this.#received;
    }

    /** Ends the stream: `{ ok, size, digest, failure?, message? }`. Calls after this throw. */
    finish() {
      if (!this.#hash) throw wasm.__verifierError(0, 0);
      const digest = this.#hash.digest('hex');
      this.#hash = null;
      return wasm.__verifierJudge(this.#expect, this.#received, digest);
    }

    /** Nothing to free (kept so code written for the WebAssembly class runs unchanged). */
    free() {}
  }

  /** Verifies a whole buffer at once; same result as the streaming class. */
  function verifyFirmware(data, expected) {
    const all = bytes('bytes', data);
    const expect = wasm.__verifierExpect(expected);
    const digest = createHash(algorithm(expect)).update(all).digest('hex');
    return wasm.__verifierJudge(expect, all.length, digest);
  }

  return { FirmwareVerifier, verifyFirmware };
}

module.exports = { nodeVerifier };
