//! `FirmwareVerifier`: the streaming verifier as a JS class over a running/finished state.

use otalab_protocol::{
    Digest, FirmwareVerifier, MAX_SAFE_INTEGER, SignMethod, Verified, VerifyError, judge_firmware,
};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::convert::{argument_error, bytes_arg, from_js, to_js};
use crate::error::{JsResult, bad_argument, throw};

/// What the file should be: `{ size, signMethod, sign }`.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Expected {
    size: f64,
    sign_method: String,
    sign: String,
}

impl Expected {
    /// The checked parts: size, method and digest, with the constructor's errors.
    fn check(value: JsValue) -> JsResult<(u64, SignMethod, Digest)> {
        let expected: Expected = from_js("expected", value)?;
        let size = expected.size;
        if !(size.fract() == 0.0 && size >= 0.0 && size <= MAX_SAFE_INTEGER as f64) {
            return Err(bad_argument(
                "expected.size",
                format!("expected a non-negative integer, found {size}"),
            ));
        }
        let method = SignMethod::parse(&expected.sign_method)
            .map_err(|e| argument_error("expected.signMethod", e))?;
        let digest = Digest::parse(method, &expected.sign)
            .map_err(|e| argument_error("expected.sign", e))?;
        Ok((size as u64, method, digest))
    }

    fn verifier(value: JsValue) -> JsResult<FirmwareVerifier> {
        let (size, method, digest) = Self::check(value)?;
        Ok(FirmwareVerifier::new(size, method, digest))
    }
}

/// The result of `finish()`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Finished {
    ok: bool,
    size: u64,
    digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

fn finish(verifier: FirmwareVerifier) -> JsResult<JsValue> {
    let received = verifier.received();
    finished(verifier.finish(), received)
}

/// The object `finish()` returns for a judged file.
fn finished(judged: Result<Verified, VerifyError>, received: u64) -> JsResult<JsValue> {
    let finished = match judged {
        Ok(verified) => Finished {
            ok: true,
            size: verified.size,
            digest: verified.digest,
            failure: None,
            message: None,
        },
        Err(error) => {
            let digest = match &error {
                VerifyError::SizeMismatch { actual_digest, .. } => actual_digest.clone(),
                VerifyError::DigestMismatch { actual, .. } => actual.clone(),
                _ => String::new(),
            };
            Finished {
                ok: false,
                size: received,
                digest,
                failure: Some(error.code()),
                message: Some(error.to_string()),
            }
        }
    };
    to_js(&finished)
}

/// Chunks are copied into WebAssembly memory through this much space at a time, so memory stays
/// constant whatever the chunk size.
const WINDOW: u32 = 64 * 1024;

/// Feeds a JavaScript byte array to the verifier through `window`.
fn feed(
    verifier: &mut FirmwareVerifier,
    window: &mut Vec<u8>,
    chunk: &js_sys::Uint8Array,
) -> JsResult<()> {
    let length = chunk.length();
    let mut offset = 0;
    while offset < length {
        let end = length.min(offset + WINDOW);
        let size = (end - offset) as usize;
        if window.len() < size {
            window.resize(size, 0);
        }
        let part = &mut window[..size];
        chunk.subarray(offset, end).copy_to(part);
        verifier.update(part).map_err(throw)?;
        offset = end;
    }
    Ok(())
}

enum State {
    Running(FirmwareVerifier),
    Finished { received: u64 },
}

/// Verifies a firmware file while it streams in (size and MD5/SHA-256), in constant memory.
#[wasm_bindgen(js_name = FirmwareVerifier)]
pub struct JsFirmwareVerifier {
    state: State,
    window: Vec<u8>,
}

#[wasm_bindgen(js_class = FirmwareVerifier)]
impl JsFirmwareVerifier {
    /// `new FirmwareVerifier({ size, signMethod, sign })`.
    #[wasm_bindgen(constructor)]
    pub fn new(expected: JsValue) -> JsResult<JsFirmwareVerifier> {
        Ok(Self {
            state: State::Running(Expected::verifier(expected)?),
            window: Vec::new(),
        })
    }

    /// Feeds the next chunk; throws `SIZE_EXCEEDED` as soon as too many bytes have arrived.
    pub fn update(&mut self, chunk: JsValue) -> JsResult<()> {
        match &mut self.state {
            State::Running(verifier) => {
                feed(verifier, &mut self.window, &bytes_arg("chunk", &chunk)?)
            }
            State::Finished { .. } => Err(throw(VerifyError::Finished)),
        }
    }

    /// Bytes received so far (still readable after `finish()`).
    #[wasm_bindgen(getter)]
    pub fn received(&self) -> f64 {
        match &self.state {
            State::Running(verifier) => verifier.received() as f64,
            State::Finished { received } => *received as f64,
        }
    }

    /// Ends the stream: `{ ok, size, digest, failure?, message? }`. Calls after this throw.
    pub fn finish(&mut self) -> JsResult<JsValue> {
        let received = self.received() as u64;
        match std::mem::replace(&mut self.state, State::Finished { received }) {
            State::Running(verifier) => finish(verifier),
            State::Finished { .. } => Err(throw(VerifyError::Finished)),
        }
    }
}

/// Verifies a whole buffer at once; same result as the streaming class.
#[wasm_bindgen(js_name = verifyFirmware)]
pub fn verify_firmware(bytes: JsValue, expected: JsValue) -> JsResult<JsValue> {
    let bytes = bytes_arg("bytes", &bytes)?;
    let mut verifier = Expected::verifier(expected)?;
    // Too many bytes is reported by finish() as SIZE_MISMATCH, like the streaming class: every
    // byte is counted and hashed, past the first extra one too.
    let mut window = Vec::new();
    let length = bytes.length();
    let mut offset = 0;
    while offset < length {
        let end = length.min(offset + WINDOW);
        let _ = feed(&mut verifier, &mut window, &bytes.subarray(offset, end));
        offset = end;
    }
    finish(verifier)
}

// The verifier of the Node entries hashes with node:crypto (`node_verifier.cjs`) and asks these
// for everything else, so that both verifiers check, judge and fail by the same rules.

/// The checked expectation `{ size, signMethod, sign }` (sign in lowercase hex), or the
/// constructor's error.
#[wasm_bindgen(js_name = "__verifierExpect")]
pub fn verifier_expect(expected: JsValue) -> JsResult<JsValue> {
    let (size, method, digest) = Expected::check(expected)?;
    to_js(&Expected {
        size: size as f64,
        sign_method: method.name().to_owned(),
        sign: digest.as_str().to_owned(),
    })
}

/// `finish()`'s result for a file of `received` bytes hashing to `digest` (lowercase hex).
#[wasm_bindgen(js_name = "__verifierJudge")]
pub fn verifier_judge(expected: JsValue, received: f64, digest: String) -> JsResult<JsValue> {
    let (size, method, expected) = Expected::check(expected)?;
    let received = received as u64;
    finished(
        judge_firmware(size, method, &expected, received, digest),
        received,
    )
}

/// The error `update` throws: `SIZE_EXCEEDED` when `received > size`, else `VERIFIER_FINISHED`.
#[wasm_bindgen(js_name = "__verifierError")]
pub fn verifier_error(size: f64, received: f64) -> JsValue {
    if received > size {
        throw(VerifyError::SizeExceeded {
            expected: size as u64,
            received: received as u64,
        })
    } else {
        throw(VerifyError::Finished)
    }
}

/// A chunk argument as bytes (a Uint8Array or an ArrayBuffer), or the argument error.
#[wasm_bindgen(js_name = "__bytesArg")]
pub fn bytes_argument(name: String, value: JsValue) -> JsResult<js_sys::Uint8Array> {
    bytes_arg(&name, &value)
}
