//! `FirmwareVerifier`: the streaming verifier as a JS class over a running/finished state.

use otalab_protocol::{Digest, FirmwareVerifier, MAX_SAFE_INTEGER, SignMethod, VerifyError};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::convert::{argument_error, bytes_arg, from_js, to_js};
use crate::error::{JsResult, bad_argument, throw};

/// What the file should be: `{ size, signMethod, sign }`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Expected {
    size: f64,
    sign_method: String,
    sign: String,
}

impl Expected {
    fn verifier(value: JsValue) -> JsResult<FirmwareVerifier> {
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
        Ok(FirmwareVerifier::new(size as u64, method, digest))
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
    let finished = match verifier.finish() {
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
    // Too many bytes is reported by finish() as SIZE_MISMATCH, like the streaming class.
    let _ = feed(&mut verifier, &mut Vec::new(), &bytes);
    finish(verifier)
}
