//! The one place where core errors become JavaScript `OtaError`s.

use std::cell::RefCell;

use js_sys::{Array, Function, Object, Reflect};
use otalab_protocol::{
    BridgeError, CredentialsError, DevicesConfError, PayloadError, TopicError, ValueError,
    VerifyError,
};
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

/// A core error that can be thrown to JavaScript.
pub trait Coded: std::fmt::Display {
    /// Its stable code.
    fn code(&self) -> &'static str;
    /// Fields worth giving to JavaScript code besides code and message.
    fn details(&self) -> Details {
        Vec::new()
    }
    /// The thrown value.
    fn to_js(&self) -> JsValue {
        ota_error(self.code(), &self.to_string(), self.details())
    }
}

/// Implements [`Coded`] with the core type's own `code()` and the given details.
macro_rules! coded {
    ($ty:ty) => {
        coded!($ty, |_e| Vec::new());
    };
    ($ty:ty, $details:expr) => {
        impl Coded for $ty {
            fn code(&self) -> &'static str {
                <$ty>::code(self)
            }
            fn details(&self) -> Details {
                let details: fn(&$ty) -> Details = $details;
                details(self)
            }
        }
    };
}

fn num(n: impl Into<f64>) -> JsValue {
    JsValue::from_f64(n.into())
}

coded!(TopicError);
coded!(ValueError);
coded!(CredentialsError);
coded!(PayloadError, |e| vec![("path", e.path().into())]);
coded!(DevicesConfError, |e| match e {
    DevicesConfError::Syntax { line, column, .. } => {
        vec![("line", num(*line as f64)), ("column", num(*column as f64))]
    }
    _ => vec![("line", num(e.line() as f64))],
});
coded!(VerifyError, |e| match e {
    VerifyError::SizeExceeded { expected, received } => {
        vec![
            ("expected", num(*expected as f64)),
            ("actual", num(*received as f64)),
        ]
    }
    VerifyError::SizeMismatch {
        expected, actual, ..
    } => {
        vec![
            ("expected", num(*expected as f64)),
            ("actual", num(*actual as f64)),
        ]
    }
    VerifyError::DigestMismatch {
        expected, actual, ..
    } => {
        vec![
            ("expected", expected.as_str().into()),
            ("actual", actual.as_str().into()),
        ]
    }
    _ => Vec::new(),
});
coded!(BridgeError, |e| match e {
    BridgeError::Payload { topic, source } => {
        let mut details = source.details();
        details.push(("topic", topic.as_str().into()));
        details
    }
    _ => Vec::new(),
});

/// Converts any coded core error into the thrown value.
pub fn throw<E: Coded>(error: E) -> JsValue {
    error.to_js()
}

/// An argument of the wrong shape (not what the TypeScript types promise).
pub fn bad_argument(argument: &str, message: impl std::fmt::Display) -> JsValue {
    ota_error(
        "INVALID_ARGUMENT",
        &format!("{argument}: {message}"),
        vec![("path", argument.into())],
    )
}
