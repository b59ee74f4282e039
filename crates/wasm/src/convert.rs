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
pub use otalab_js::{bytes_arg, string_arg, type_name};

/// Reads an argument into a Rust shape ([`otalab_js::json_arg`], then serde): a wrong shape
/// names the field (`options.productKey`).
pub fn from_js<T: DeserializeOwned>(argument: &str, value: JsValue) -> JsResult<T> {
    otalab_js::typed(argument, otalab_js::json_arg(argument, &value)?)
        .map_err(|(path, message)| bad_argument(&path, message))
}

/// Writes a Rust value as plain JSON-compatible JavaScript objects.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> JsResult<JsValue> {
    let text = serde_json::to_string(value).map_err(|e| {
        ota_error(
            "INTERNAL",
            &format!("cannot convert result: {e}"),
            Vec::new(),
        )
    })?;
    js_sys::JSON::parse(&text)
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
        return Ok(otalab_js::copy_bytes(bytes));
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

/// A number or string as JavaScript callers give ids, steps and timestamps.
pub enum NumberOrText {
    /// A JavaScript number.
    Number(f64),
    /// A string.
    Text(String),
}

impl<'de> Deserialize<'de> for NumberOrText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// A number or a string, nothing else.
        struct Either;
        impl serde::de::Visitor<'_> for Either {
            type Value = NumberOrText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_u64<E>(self, n: u64) -> Result<NumberOrText, E> {
                Ok(NumberOrText::Number(n as f64))
            }
            fn visit_i64<E>(self, n: i64) -> Result<NumberOrText, E> {
                Ok(NumberOrText::Number(n as f64))
            }
            fn visit_f64<E>(self, n: f64) -> Result<NumberOrText, E> {
                Ok(NumberOrText::Number(n))
            }
            fn visit_str<E>(self, text: &str) -> Result<NumberOrText, E> {
                Ok(NumberOrText::Text(text.to_owned()))
            }
        }
        deserializer.deserialize_any(Either)
    }
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
pub fn module(argument: &str, module: Option<&str>) -> JsResult<Module> {
    match module {
        None => Ok(Module::default()),
        Some(m) => Module::parse(m).map_err(|e| argument_error(argument, e)),
    }
}

/// A progress step from a string or number.
pub fn step(argument: &str, step: &NumberOrText) -> JsResult<Step> {
    Step::parse(&step.to_text()).map_err(|e| argument_error(argument, e))
}

/// Throws a coded core error.
pub fn coded<T, E: Coded>(result: Result<T, E>) -> JsResult<T> {
    result.map_err(throw)
}
