//! Scenario files in the page: TOML read and written by smol-toml (a JavaScript TOML 1.0
//! parser; `index.html` loads it as `window.otalabToml`), checked by otalab-sim's
//! [`Scenario::from_json`], the same rules the runner applies after its own TOML parser. The
//! page's wasm carries no TOML crate.

use otalab_sim::{Scenario, ScenarioError};
use wasm_bindgen::{JsCast, JsValue};

/// `window.otalabToml.<name>`, a function.
fn function(name: &str) -> Result<js_sys::Function, String> {
    let toml = web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &JsValue::from_str("otalabToml")).ok())
        .filter(|v| v.is_object())
        .ok_or("the TOML reader (smol-toml) is not loaded: reload the page")?;
    js_sys::Reflect::get(&toml, &JsValue::from_str(name))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or_else(|| format!("otalabToml.{name} is missing"))
}

fn message(error: &JsValue) -> String {
    js_sys::Reflect::get(error, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

/// Parses and checks a scenario file.
pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    let parse = function("parse").map_err(ScenarioError::Syntax)?;
    let value = parse
        .call1(&JsValue::NULL, &JsValue::from_str(text))
        .map_err(|e| ScenarioError::Syntax(message(&e)))?;
    let json = js_sys::JSON::stringify(&value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| ScenarioError::Syntax("the TOML could not be read as data".into()))?;
    Scenario::from_json(&json)
}

/// Drops what TOML cannot say (no value).
fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// The scenario as a TOML file.
pub fn to_toml(scenario: &Scenario) -> Result<String, String> {
    let value = serde_json::to_value(scenario).map_err(|e| e.to_string())?;
    let json = serde_json::to_string(&without_nulls(value)).map_err(|e| e.to_string())?;
    let data = js_sys::JSON::parse(&json).map_err(|e| message(&e))?;
    function("stringify")?
        .call1(&JsValue::NULL, &data)
        .map_err(|e| message(&e))?
        .as_string()
        .ok_or_else(|| "the TOML writer gave no text".to_owned())
}
