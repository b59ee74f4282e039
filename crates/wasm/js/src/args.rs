//! The one argument layer of otalab's JavaScript classes: every argument is taken as a
//! `JsValue` (so that the wasm-bindgen glue never throws a `TypeError` or leaves an object
//! borrowed), read here by name with its type and range, and refused with an `OtaError`
//! `INVALID_ARGUMENT` whose `path` names the field (`options.fault.atPercent`).
//!
//! Options objects are first copied into JSON data by [`json_arg`] (a copy that refuses `NaN`,
//! `Infinity`, bigints, functions, symbols, binary data, cycles and getters or proxies that
//! throw, each with its path), then typed by serde with the field's path kept
//! ([`serde_path_to_error`]).

use js_sys::{Array, Reflect, Uint8Array};
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::{JsResult, bad_argument, string_arg};

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// How deep options may nest before they are refused (a cycle, or not options at all).
const MAX_DEPTH: usize = 64;

/// The longest array taken inside options (a proxy may claim any length).
const MAX_ITEMS: u32 = 1 << 22;

#[wasm_bindgen]
extern "C" {
    /// `Array.isArray`, which throws for a revoked proxy.
    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    fn try_is_array(value: &JsValue) -> Result<bool, JsValue>;
    /// `Object.keys`, which runs a proxy's traps.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = keys)]
    fn try_keys(value: &JsValue) -> Result<Array, JsValue>;
    /// `ArrayBuffer.isView`: typed arrays and `DataView`s.
    #[wasm_bindgen(js_namespace = ArrayBuffer, js_name = isView)]
    fn is_view(value: &JsValue) -> bool;
}

/// What a thrown JavaScript value says, for an error message.
fn thrown(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| describe(error))
}

/// Whether `value` is an array (a revoked proxy is refused, naming `path`).
pub fn is_array(path: &str, value: &JsValue) -> JsResult<bool> {
    try_is_array(value).map_err(|e| bad_argument(path, format!("cannot be read: {}", thrown(&e))))
}

/// What a value is, for "found ..." in error messages: `undefined`, `null`, `a boolean`,
/// `the number NaN`, `a string`, `a bigint`, `a symbol`, `a function`, `an array`, `a
/// Float64Array`, `an ArrayBuffer`, `an object`.
pub fn describe(value: &JsValue) -> String {
    if value.is_undefined() {
        return "undefined".into();
    }
    if value.is_null() {
        return "null".into();
    }
    if let Some(n) = value.as_f64() {
        return format!("the number {}", number_text(n));
    }
    if value.is_string() {
        return "a string".into();
    }
    if value.as_bool().is_some() {
        return "a boolean".into();
    }
    if value.is_bigint() {
        return "a bigint".into();
    }
    if value.is_symbol() {
        return "a symbol".into();
    }
    if value.is_function() {
        return "a function".into();
    }
    if try_is_array(value).unwrap_or(false) {
        return "an array".into();
    }
    if value.is_instance_of::<js_sys::ArrayBuffer>() {
        return "an ArrayBuffer".into();
    }
    if is_view(value) {
        let name = Reflect::get(value, &"constructor".into())
            .ok()
            .and_then(|c| Reflect::get(&c, &"name".into()).ok())
            .and_then(|n| n.as_string())
            .unwrap_or_else(|| "typed array".into());
        return format!("a {name}");
    }
    "an object".into()
}

/// A number as JavaScript writes it (`NaN`, `-Infinity`, `1.5`, `3`), by JavaScript (Rust's
/// float formatting would add kilobytes to every module).
fn number_text(n: f64) -> String {
    js_sys::Number::from(n)
        .to_string_with_radix(10)
        .map(String::from)
        .unwrap_or_default()
}

/// A JavaScript value copied into JSON data, refusing what JSON cannot hold faithfully: `NaN`
/// and infinities, bigints, symbols, functions, binary data, nesting deeper than 64 (cycles),
/// and properties whose getter or proxy trap throws. `undefined` properties are left out (as
/// `JSON.stringify` does); integers up to `Number.MAX_SAFE_INTEGER` (and `-0`, as 0) become JSON
/// integers.
pub fn json_arg(path: &str, value: &JsValue) -> JsResult<Value> {
    walk(path, value, 0)
}

fn walk(path: &str, value: &JsValue, depth: usize) -> JsResult<Value> {
    if value.is_null() || value.is_undefined() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = value.as_f64() {
        return number_value(path, n);
    }
    if let Some(s) = value.as_string() {
        return Ok(Value::String(s));
    }
    if !value.is_object() || is_view(value) || value.is_instance_of::<js_sys::ArrayBuffer>() {
        return Err(bad_argument(
            path,
            format!(
                "expected data (text, numbers, objects), found {}",
                describe(value)
            ),
        ));
    }
    if depth >= MAX_DEPTH {
        return Err(bad_argument(
            path,
            format!("nested deeper than {MAX_DEPTH} levels (a cycle?)"),
        ));
    }
    let read = |key: &JsValue, at: &str| {
        Reflect::get(value, key)
            .map_err(|e| bad_argument(at, format!("cannot be read: {}", thrown(&e))))
    };
    if is_array(path, value)? {
        let length = read(&"length".into(), path)?.as_f64().unwrap_or(0.0);
        if length > f64::from(MAX_ITEMS) {
            return Err(bad_argument(
                path,
                format!("{} items: more than {MAX_ITEMS}", number_text(length)),
            ));
        }
        let mut items = Vec::with_capacity(length as usize);
        for i in 0..length as u32 {
            let at = format!("{path}[{i}]");
            let item = read(&i.into(), &at)?;
            if item.is_undefined() {
                return Err(bad_argument(&at, "expected a value, found undefined"));
            }
            items.push(walk(&at, &item, depth + 1)?);
        }
        return Ok(Value::Array(items));
    }
    let keys = try_keys(value)
        .map_err(|e| bad_argument(path, format!("cannot be read: {}", thrown(&e))))?;
    let mut map = Map::new();
    for key in keys.iter() {
        let Some(name) = key.as_string() else {
            continue;
        };
        let at = format!("{path}.{name}");
        let item = read(&key, &at)?;
        if item.is_undefined() {
            continue;
        }
        map.insert(name, walk(&at, &item, depth + 1)?);
    }
    Ok(Value::Object(map))
}

fn number_value(path: &str, n: f64) -> JsResult<Value> {
    if !n.is_finite() {
        return Err(bad_argument(
            path,
            format!("expected a finite number, found {}", number_text(n)),
        ));
    }
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER as f64 {
        return Ok(if n < 0.0 {
            Value::from(n as i64)
        } else {
            Value::from(n as u64)
        });
    }
    Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
}

/// An options object read into `T` (see [`json_arg`] and [`typed`]); anything but an object is
/// refused.
pub fn object_arg<T: DeserializeOwned>(path: &str, value: &JsValue) -> JsResult<T> {
    if !value.is_object() || is_array(path, value)? || value.is_function() {
        return Err(bad_argument(
            path,
            format!("expected an object, found {}", describe(value)),
        ));
    }
    typed(path, json_arg(path, value)?).map_err(|(at, message)| bad_argument(&at, message))
}

/// An optional options object: `undefined` and `null` are `T::default()`.
pub fn optional_object_arg<T: DeserializeOwned + Default>(
    path: &str,
    value: &JsValue,
) -> JsResult<T> {
    if value.is_undefined() || value.is_null() {
        Ok(T::default())
    } else {
        object_arg(path, value)
    }
}

/// JSON data typed as `T`; a refusal is `(path of the field, what is wrong)`, the path under
/// `base` (`options.fault.atPercent`), the message in JavaScript's words (`expected a whole
/// number from 0 to 255, found 300`).
pub fn typed<T: DeserializeOwned>(base: &str, value: Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let mut path = base.to_owned();
        for segment in error.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => path.push_str(&format!("[{index}]")),
                serde_path_to_error::Segment::Map { key } => {
                    path.push('.');
                    path.push_str(key);
                }
                serde_path_to_error::Segment::Enum { .. } => {}
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let message = error.into_inner().to_string();
        plain_words(path, &message)
    })
}

/// serde's words as a JavaScript user reads them.
fn plain_words(mut path: String, message: &str) -> (String, String) {
    if let Some(field) = backticked(message, "missing field `") {
        path.push('.');
        path.push_str(&field);
        return (path, "missing".into());
    }
    if let Some(field) = backticked(message, "unknown field `") {
        if !path.ends_with(&format!(".{field}")) {
            path.push('.');
            path.push_str(&field);
        }
        let known = message
            .split_once(", expected ")
            .map(|(_, rest)| format!("; expected {}", js_words(rest)))
            .unwrap_or_default();
        return (path, format!("unknown option{known}"));
    }
    for lead in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(lead)
            && let Some((found, expected)) = rest.split_once(", expected ")
        {
            return (
                path,
                format!("expected {}, found {}", js_words(expected), js_found(found)),
            );
        }
    }
    (path, js_words(message))
}

/// The text between `lead` and the next backtick.
fn backticked(message: &str, lead: &str) -> Option<String> {
    let rest = message.strip_prefix(lead)?;
    Some(rest.split('`').next().unwrap_or_default().to_owned())
}

/// Rust type names in serde's "expected ..." as JavaScript types.
fn js_words(text: &str) -> String {
    let ranges = [
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a whole number from 0 to 9007199254740991"),
        ("usize", "a whole number from 0 to 9007199254740991"),
        ("i64", "a whole number"),
        ("i32", "a whole number"),
        ("f64", "a number"),
        ("f32", "a number"),
    ];
    for (rust, js) in ranges {
        if text == rust {
            return js.into();
        }
    }
    if text.starts_with("struct ") || text == "a map" {
        return "an object".into();
    }
    if text.starts_with("a sequence") || text.starts_with("tuple") {
        return "an array".into();
    }
    text.replace('`', "\"")
}

/// serde's "found" part (`integer \`300\``, `string "x"`, `map`) in JavaScript's words.
fn js_found(found: &str) -> String {
    let found = found.replace('`', "");
    if let Some(n) = found
        .strip_prefix("integer ")
        .or_else(|| found.strip_prefix("floating point "))
    {
        return format!("the number {n}");
    }
    match found.as_str() {
        "map" => "an object".into(),
        "sequence" => "an array".into(),
        "null" | "unit value" => "null".into(),
        other => other
            .strip_prefix("boolean ")
            .map(|b| format!("the boolean {b}"))
            .unwrap_or_else(|| {
                other
                    .strip_prefix("string ")
                    .map(|s| format!("the string {s}"))
                    .unwrap_or_else(|| other.to_owned())
            }),
    }
}

/// `object[name]`, a getter or proxy trap that throws refused naming `path.name`.
pub fn property(path: &str, object: &JsValue, name: &str) -> JsResult<JsValue> {
    Reflect::get(object, &name.into()).map_err(|e| {
        bad_argument(
            &format!("{path}.{name}"),
            format!("cannot be read: {}", thrown(&e)),
        )
    })
}

/// The own enumerable string keys of an options object; anything but an object is refused.
pub fn object_keys(path: &str, value: &JsValue) -> JsResult<Vec<String>> {
    if !value.is_object() || is_array(path, value)? {
        return Err(bad_argument(
            path,
            format!("expected an object, found {}", describe(value)),
        ));
    }
    let keys = try_keys(value)
        .map_err(|e| bad_argument(path, format!("cannot be read: {}", thrown(&e))))?;
    Ok(keys.iter().filter_map(|k| k.as_string()).collect())
}

/// A whole number in `min..=max` (`-0` is 0); anything else is refused naming `path`.
pub fn integer_arg(path: &str, value: &JsValue, min: u64, max: u64) -> JsResult<u64> {
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && n >= min as f64 && n <= max as f64 => Ok(n as u64),
        _ => Err(bad_argument(
            path,
            format!(
                "expected a whole number from {min} to {max}, found {}",
                describe(value)
            ),
        )),
    }
}

/// A time in ms since 1970 (a whole number from 0 to `Number.MAX_SAFE_INTEGER`).
pub fn time_arg(path: &str, value: &JsValue) -> JsResult<u64> {
    integer_arg(path, value, 0, MAX_SAFE_INTEGER)
}

/// A list of strings (an array whose every item is a string).
pub fn string_list_arg(path: &str, value: &JsValue) -> JsResult<Vec<String>> {
    if !is_array(path, value)? {
        return Err(bad_argument(
            path,
            format!("expected an array of strings, found {}", describe(value)),
        ));
    }
    let length = property(path, value, "length")?;
    let length = integer_arg(&format!("{path}.length"), &length, 0, u64::from(MAX_ITEMS))?;
    (0..length as u32)
        .map(|i| {
            let at = format!("{path}[{i}]");
            let item = Reflect::get(value, &i.into())
                .map_err(|e| bad_argument(&at, format!("cannot be read: {}", thrown(&e))))?;
            string_arg(&at, &item)
        })
        .collect()
}

/// Bytes from a `Uint8Array` (Node's `Buffer` included) or an `ArrayBuffer`; other typed
/// arrays are refused (their bytes depend on the platform's byte order). A detached buffer
/// reads as no bytes.
pub fn bytes_arg(path: &str, value: &JsValue) -> JsResult<Uint8Array> {
    // A view of a detached buffer has no bytes, and copying from it throws: an empty array
    // stands in for it.
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        return Ok(if bytes.length() == 0 {
            Uint8Array::new_with_length(0)
        } else {
            bytes.clone()
        });
    }
    if let Some(buffer) = value.dyn_ref::<js_sys::ArrayBuffer>() {
        return Ok(if buffer.byte_length() == 0 {
            Uint8Array::new_with_length(0)
        } else {
            Uint8Array::new(buffer)
        });
    }
    Err(bad_argument(
        path,
        format!(
            "expected a Uint8Array or an ArrayBuffer, found {}",
            describe(value)
        ),
    ))
}

/// The bytes of a `Uint8Array` (none for a view of a detached buffer, which cannot be copied).
pub fn copy_bytes(bytes: &Uint8Array) -> Vec<u8> {
    if bytes.length() == 0 {
        Vec::new()
    } else {
        bytes.to_vec()
    }
}

/// A function (a callback or a listener).
pub fn function_arg(path: &str, value: &JsValue) -> JsResult<js_sys::Function> {
    value.dyn_ref::<js_sys::Function>().cloned().ok_or_else(|| {
        bad_argument(
            path,
            format!("expected a function, found {}", describe(value)),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Options {
        device_name: String,
        #[serde(default)]
        cadence_percent: Option<u8>,
        #[serde(default)]
        fault: Option<Fault>,
        #[serde(default)]
        list: Vec<u64>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Fault {
        at_percent: u8,
    }

    fn refusal(value: Value) -> (String, String) {
        typed::<Options>("options", value).unwrap_err()
    }

    #[test]
    fn a_wrong_type_names_the_field_in_javascripts_words() {
        let (path, message) = refusal(json!({ "deviceName": "d", "cadencePercent": "x" }));
        assert_eq!(path, "options.cadencePercent");
        assert_eq!(
            message,
            "expected a whole number from 0 to 255, found the string \"x\""
        );
        let (path, message) = refusal(json!({ "deviceName": "d", "cadencePercent": 300 }));
        assert_eq!(path, "options.cadencePercent");
        assert_eq!(
            message,
            "expected a whole number from 0 to 255, found the number 300"
        );
    }

    #[test]
    fn nested_fields_and_items_have_their_whole_path() {
        let (path, _) = refusal(json!({ "deviceName": "d", "fault": { "atPercent": -1 } }));
        assert_eq!(path, "options.fault.atPercent");
        let (path, message) = refusal(json!({ "deviceName": "d", "list": [1, 2, "3"] }));
        assert_eq!(path, "options.list[2]");
        assert!(message.starts_with("expected a whole number"), "{message}");
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let (path, message) = refusal(json!({}));
        assert_eq!(
            (path.as_str(), message.as_str()),
            ("options.deviceName", "missing")
        );
        let (path, message) = refusal(json!({ "deviceName": "d", "flashMz": 1 }));
        assert_eq!(path, "options.flashMz");
        assert!(
            message.starts_with("unknown option; expected one of"),
            "{message}"
        );
        let (path, _) = refusal(json!({ "deviceName": "d", "fault": { "atPercnt": 1 } }));
        assert_eq!(path, "options.fault.atPercnt");
    }

    #[test]
    fn a_wrong_shape_at_the_top_says_object() {
        let (path, message) = refusal(json!("x"));
        assert_eq!(path, "options");
        assert_eq!(message, "expected an object, found the string \"x\"");
    }
}
