//! Tolerant JSON walking with field paths, shared by every decoder.

use serde_json::{Map, Value};

use crate::error::{PayloadError, ValueError};
use crate::value::{MessageId, Module, Version};

/// Largest payload any decoder reads. Alibaba Cloud IoT refuses MQTT messages over 256 KB.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Renders a JSON value for an error message, shortened.
fn found(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 48 {
        let mut short: String = text.chars().take(48).collect();
        short.push('…');
        short
    } else {
        text
    }
}

pub(crate) fn wrong_type(path: &str, expected: &'static str, value: &Value) -> PayloadError {
    PayloadError::WrongType {
        path: path.to_owned(),
        expected,
        found: found(value),
    }
}

pub(crate) fn invalid(path: &str, source: ValueError) -> PayloadError {
    PayloadError::Invalid {
        path: path.to_owned(),
        source,
    }
}

/// A JSON object being taken apart: known keys are removed, what remains is unknown.
pub(crate) struct Object {
    path: String,
    map: Map<String, Value>,
}

impl Object {
    /// Parses a whole payload, which must be a JSON object within the size limit.
    pub(crate) fn parse_root(payload: &[u8]) -> Result<Self, PayloadError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(PayloadError::TooLarge {
                size: payload.len(),
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| PayloadError::InvalidJson {
                detail: e.to_string(),
            })?;
        Self::from_value(String::new(), value)
    }

    /// Wraps a value found at `path`, which must be an object.
    pub(crate) fn from_value(path: String, value: Value) -> Result<Self, PayloadError> {
        match value {
            Value::Object(map) => Ok(Self { path, map }),
            other => {
                let shown = if path.is_empty() { "payload" } else { &path };
                Err(wrong_type(shown, "a JSON object", &other))
            }
        }
    }

    /// The path of a field of this object.
    pub(crate) fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Removes and returns a field; `null` counts as absent.
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        match self.map.shift_remove(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(value),
        }
    }

    /// Removes the first present field among spelling variants; returns it with its key.
    pub(crate) fn take_any(&mut self, keys: &[&'static str]) -> Option<(&'static str, Value)> {
        keys.iter()
            .find_map(|key| self.take(key).map(|value| (*key, value)))
    }

    /// Removes a field that must be present.
    pub(crate) fn required(&mut self, key: &str) -> Result<Value, PayloadError> {
        self.take(key).ok_or_else(|| PayloadError::MissingField {
            path: self.path_of(key),
        })
    }

    /// Puts a field back (it stays unknown).
    pub(crate) fn keep(&mut self, key: &str, value: Value) {
        self.map.insert(key.to_owned(), value);
    }

    /// Keeps a field unless one of that name is already there.
    pub(crate) fn keep_if_absent(&mut self, key: &str, value: Value) {
        self.map.entry(key.to_owned()).or_insert(value);
    }

    /// Removes a nested object field; absent gives an empty object.
    pub(crate) fn take_object(&mut self, key: &str) -> Result<Object, PayloadError> {
        let path = self.path_of(key);
        match self.take(key) {
            None => Ok(Self {
                path,
                map: Map::new(),
            }),
            Some(value) => Self::from_value(path, value),
        }
    }

    /// True when no field is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The fields nobody took, without the room of those taken (a decoded message is kept
    /// by thousands of simulated devices at once).
    pub(crate) fn rest(self) -> Map<String, Value> {
        // Rebuilt, not shrunk: serde_json's map has no shrink_to_fit.
        self.map.into_iter().collect()
    }

    /// Takes `id` (string or number).
    pub(crate) fn take_id(&mut self) -> Result<MessageId, PayloadError> {
        let path = self.path_of("id");
        let value = self.required("id")?;
        id(&path, &value)
    }

    /// Takes an optional `module`; absent means `default`.
    pub(crate) fn take_module(&mut self) -> Result<Module, PayloadError> {
        let path = self.path_of("module");
        match self.take("module") {
            None => Ok(Module::default()),
            Some(value) => Module::parse(&string(&path, &value)?).map_err(|e| invalid(&path, e)),
        }
    }

    /// Takes a required `version`.
    pub(crate) fn take_version(&mut self) -> Result<Version, PayloadError> {
        let path = self.path_of("version");
        let value = self.required("version")?;
        Version::parse(&string(&path, &value)?).map_err(|e| invalid(&path, e))
    }
}

/// A string field.
pub(crate) fn string(path: &str, value: &Value) -> Result<String, PayloadError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(wrong_type(path, "a string", other)),
    }
}

/// A message id: decimal string or non-negative integer.
pub(crate) fn id(path: &str, value: &Value) -> Result<MessageId, PayloadError> {
    match value {
        Value::String(s) => MessageId::parse(s).map_err(|e| invalid(path, e)),
        Value::Number(n) => n.as_u64().map(MessageId::from).ok_or_else(|| {
            invalid(
                path,
                ValueError::Id {
                    value: n.to_string(),
                },
            )
        }),
        other => Err(wrong_type(path, "a decimal id (string or number)", other)),
    }
}

/// Largest size or stream id accepted: 2^53 - 1, the largest integer every JSON reader
/// (JavaScript included) represents exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A non-negative integer up to [`MAX_SAFE_INTEGER`], given as a JSON number or a decimal string.
pub(crate) fn unsigned(path: &str, value: &Value) -> Result<u64, PayloadError> {
    let parsed = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    };
    parsed
        .filter(|n| *n <= MAX_SAFE_INTEGER)
        .ok_or_else(|| wrong_type(path, "a non-negative integer", value))
}

/// A flag given as true/false, 1/0 or "1"/"0".
pub(crate) fn flag(path: &str, value: &Value) -> Result<bool, PayloadError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::String(s) if s == "1" || s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s == "0" || s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(wrong_type(path, "a flag (1, 0, true or false)", other)),
    }
}
