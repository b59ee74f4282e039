//! The one place where core errors become JavaScript `OtaError`s.

use otalab_protocol::{
    BridgeError, CredentialsError, DevicesConfError, PayloadError, TopicError, ValueError,
    VerifyError,
};
use wasm_bindgen::prelude::*;

pub use otalab_js::{Details, JsResult, bad_argument, ota_error, set_error_class};

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
