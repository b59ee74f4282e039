//! # otalab-js
//!
//! What otalab's WebAssembly modules (the npm package's core entry, `otalab-wasm`, and its
//! `otalab/sim` entry, `otalab-sim-wasm`) share about JavaScript: the `OtaError` every error is
//! thrown as, and the checks of argument shapes. Each module registers the entry's `OtaError`
//! class through its own `__setErrorClass` export.

use std::cell::RefCell;

pub mod args;
pub use args::{
    MAX_SAFE_INTEGER, bytes_arg, copy_bytes, describe, function_arg, integer_arg, is_array,
    json_arg, object_arg, object_keys, optional_object_arg, property, string_list_arg, time_arg,
    typed,
};

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

thread_local! {
    /// The `OtaError` class of the package's JS entry (registered at load time).
    static ERROR_CLASS: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Registers the `OtaError` class the package's entry defines; errors are constructed from it.
#[wasm_bindgen(js_name = "__setErrorClass")]
pub fn set_error_class(class: Function) {
    ERROR_CLASS.with(|slot| *slot.borrow_mut() = Some(class));
}

/// Result of every exported function.
pub type JsResult<T> = Result<T, JsValue>;

/// Extra fields of an error (`path`, `expected`, `actual`, `line`, ...).
pub type Details = Vec<(&'static str, JsValue)>;

/// A thrown `OtaError { name: 'OtaError', code, message, ...details }`.
pub fn ota_error(code: &str, message: &str, details: Details) -> JsValue {
    let extra = Object::new();
    for (key, value) in details {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&extra, &key.into(), &value);
    }
    let class = ERROR_CLASS.with(|slot| slot.borrow().clone());
    if let Some(class) = class {
        let args = Array::of3(&message.into(), &code.into(), &extra);
        if let Ok(error) = Reflect::construct(&class, &args) {
            return error;
        }
    }
    // Not registered (e.g. the crate's own wasm-bindgen tests): same shape on a plain Error.
    let error = js_sys::Error::new(message);
    error.set_name("OtaError");
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    let _ = Object::assign(&error, &extra);
    error.into()
}

/// An argument of the wrong shape (not what the TypeScript types promise).
pub fn bad_argument(argument: &str, message: impl std::fmt::Display) -> JsValue {
    ota_error(
        "INVALID_ARGUMENT",
        &format!("{argument}: {message}"),
        vec![("path", argument.into())],
    )
}

/// A string argument; anything else is an `INVALID_ARGUMENT`.
pub fn string_arg(argument: &str, value: &JsValue) -> JsResult<String> {
    value
        .as_string()
        .filter(|_| value.is_string())
        .ok_or_else(|| {
            bad_argument(
                argument,
                format!("expected a string, found {}", type_name(value)),
            )
        })
}

/// A payload argument: text (as UTF-8) or a `Uint8Array`; anything else is an
/// `INVALID_ARGUMENT` naming `argument`.
pub fn payload_arg(argument: &str, value: &JsValue) -> JsResult<Vec<u8>> {
    if let Some(text) = value.as_string() {
        Ok(text.into_bytes())
    } else if let Some(bytes) = value.dyn_ref::<js_sys::Uint8Array>() {
        Ok(copy_bytes(bytes))
    } else {
        Err(bad_argument(
            argument,
            format!(
                "expected a string or a Uint8Array, found {}",
                type_name(value)
            ),
        ))
    }
}

/// What a value is, for error messages (see [`describe`]).
pub fn type_name(value: &JsValue) -> String {
    describe(value)
}
