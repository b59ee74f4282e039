//! JavaScript values in and out: argument shapes, ids, payloads, the JSON-compatible serializer.

use js_sys::{JsString, Uint8Array};
use otalab_protocol::{
    MAX_PAYLOAD_BYTES, MAX_SAFE_INTEGER, MessageId, Module, PayloadError, Step, ValueError,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::error::{Coded, JsResult, bad_argument, ota_error, throw};
pub use otalab_js::{string_arg, type_name};

/// Reads an options object into a Rust shape; a wrong shape names the argument.
pub fn from_js<T: DeserializeOwned>(argument: &str, value: JsValue) -> JsResult<T> {
    serde_wasm_bindgen::from_value(value).map_err(|e| bad_argument(argument, e))
}

/// Writes a Rust value as plain JSON-compatible JavaScript objects.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> JsResult<JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| {
            ota_error(
                "INTERNAL",
                &format!("cannot convert result: {e}"),
                Vec::new(),
            )
        })
}

/// A value error about one argument: `id: invalid message id "x": ...`.
pub fn argument_error(argument: &str, error: ValueError) -> JsValue {
    ota_error(
        error.code(),
        &format!("{argument}: {error}"),
        vec![("path", argument.into())],
    )
}

/// `string | Uint8Array` payloads, refused above the size limit before copying.
pub fn payload_bytes(payload: &JsValue) -> JsResult<Vec<u8>> {
    let too_large = |size: usize| {
        throw(PayloadError::TooLarge {
            size,
            limit: MAX_PAYLOAD_BYTES,
        })
    };
    if let Some(text) = payload.dyn_ref::<JsString>() {
        // Every UTF-16 unit is at least one UTF-8 byte.
        let units = text.length() as usize;
        if units > MAX_PAYLOAD_BYTES {
            return Err(too_large(units));
        }
        return Ok(String::from(text).into_bytes());
    }
    if let Some(bytes) = payload.dyn_ref::<Uint8Array>() {
        let size = bytes.length() as usize;
        if size > MAX_PAYLOAD_BYTES {
            return Err(too_large(size));
        }
        return Ok(bytes.to_vec());
    }
    Err(bad_argument("payload", "expected a string or a Uint8Array"))
}

/// An optional string argument (`undefined` or `null` = absent).
pub fn optional_string_arg(argument: &str, value: &JsValue) -> JsResult<Option<String>> {
    if value.is_undefined() || value.is_null() {
        Ok(None)
    } else {
        string_arg(argument, value).map(Some)
    }
}

/// Bytes given as a `Uint8Array` (Node `Buffer` included) or an `ArrayBuffer`.
pub fn bytes_arg(argument: &str, value: &JsValue) -> JsResult<Uint8Array> {
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        return Ok(bytes.clone());
    }
    if let Some(buffer) = value.dyn_ref::<js_sys::ArrayBuffer>() {
        return Ok(Uint8Array::new(buffer));
    }
    Err(bad_argument(
        argument,
        format!(
            "expected a Uint8Array or an ArrayBuffer, found {}",
            type_name(value)
        ),
    ))
}

/// A number or string as JavaScript callers give ids, steps and timestamps.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum NumberOrText {
    /// A JavaScript number.
    Number(f64),
    /// A string.
    Text(String),
}

impl NumberOrText {
    /// Decimal text of a non-negative safe integer, or the text as given.
    pub fn to_text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Number(n) if n.fract() == 0.0 && *n >= 0.0 && *n <= MAX_SAFE_INTEGER as f64 => {
                format!("{}", *n as u64)
            }
            Self::Number(n) if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER as f64 => {
                format!("{}", *n as i64)
            }
            Self::Number(n) => n.to_string(),
        }
    }
}

/// A message id from a string or number.
pub fn message_id(argument: &str, id: &NumberOrText) -> JsResult<MessageId> {
    MessageId::parse(&id.to_text()).map_err(|e| argument_error(argument, e))
}

/// An optional module; absent or null means `default`.
pub fn module(module: Option<&str>) -> JsResult<Module> {
    match module {
        None => Ok(Module::default()),
        Some(m) => Module::parse(m).map_err(|e| argument_error("module", e)),
    }
}

/// A progress step from a string or number.
pub fn step(step: &NumberOrText) -> JsResult<Step> {
    Step::parse(&step.to_text()).map_err(|e| argument_error("step", e))
}

/// Throws a coded core error.
pub fn coded<T, E: Coded>(result: Result<T, E>) -> JsResult<T> {
    result.map_err(throw)
}
