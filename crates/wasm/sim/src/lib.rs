//! # otalab-sim-wasm
//!
//! The npm package's `otalab/sim` entry: the [`otalab_sim`] engine for JavaScript. Scenarios are
//! checked by the same rules as the runner's and the page's, and run in memory on the virtual
//! clock of [`otalab_sim::memory`]: no broker, no socket, no sleeping. TOML is read and written
//! by the entry's JavaScript (smol-toml, as in the page), so this module carries no TOML crate.
//! Errors are thrown as `OtaError { code, message, ...details }` ([`otalab_js`]).

use std::collections::BTreeMap;

use js_sys::{JSON, Uint8Array};
use otalab_sim::memory::{self, MemoryOptions, WorldStats};
use otalab_sim::{Report, Scenario, ScenarioError, Shard};
use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

pub use otalab_js::set_error_class;
use otalab_js::{JsResult, bad_argument, object_keys, ota_error, property, string_arg, type_name};

/// A scenario error as an `OtaError` (`SCENARIO_SYNTAX`, or `SCENARIO_INVALID` with `path`).
fn scenario_error(error: ScenarioError) -> JsValue {
    let details = match &error {
        ScenarioError::Invalid { path, .. } => vec![("path", JsValue::from(path.as_str()))],
        _ => Vec::new(),
    };
    ota_error(error.code(), &error.to_string(), details)
}

mod machines;

pub use machines::{JsCloudMachine, JsDeviceMachine, JsSuiteMachine};

/// Serde JSON text handed to JavaScript as plain objects.
pub(crate) fn json_value<T: Serialize>(value: &T) -> JsResult<JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|e| ota_error("INTERNAL", &format!("cannot convert: {e}"), Vec::new()))?;
    JSON::parse(&text)
}

/// An OTA test scenario: the same format and checks as `otalab run` and the page.
#[wasm_bindgen(js_name = Scenario)]
pub struct JsScenario {
    scenario: Scenario,
}

#[wasm_bindgen(js_class = Scenario)]
impl JsScenario {
    /// `Scenario.fromJSON(value)`: checks a scenario given as JSON text or a plain object (what
    /// `toJSON()` gives, or what a TOML parser gives for a scenario file). Throws `OtaError`
    /// `SCENARIO_SYNTAX` (not the scenario format: the message says where) or `SCENARIO_INVALID`
    /// (with `path`, e.g. `actions[1].push`).
    #[wasm_bindgen(js_name = fromJSON)]
    pub fn from_json(value: JsValue) -> JsResult<JsScenario> {
        let scenario = if let Some(text) = value.as_string().filter(|_| value.is_string()) {
            Scenario::from_json(&text)
        } else if value.is_object() && !otalab_js::is_array("value", &value)? {
            Scenario::from_value(otalab_js::json_arg("value", &value)?)
        } else {
            return Err(bad_argument(
                "value",
                format!(
                    "expected JSON text or an object, found {}",
                    type_name(&value)
                ),
            ));
        };
        Ok(Self {
            scenario: scenario.map_err(scenario_error)?,
        })
    }

    /// Its name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.scenario.name.clone()
    }

    /// The scenario as a plain object (every default written out).
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsResult<JsValue> {
        json_value(&self.scenario)
    }

    /// `runInMemory({ seed?, shard?, files? })`: runs the scenario in this thread on a virtual
    /// clock, with the sandbox cloud, an in-process broker and file server, and returns its
    /// report. `files` maps names to contents (`Uint8Array` or text): a firmware `file` or `url`,
    /// and the fleet's `csv` or `devices_conf`; firmware named `demo-2.0.0.bin` or
    /// `demo-2.1.0.bin` is the sandbox's demo file unless given. `seed` (default 1) decides the
    /// connection times and notice ids: the same seed gives the same run. `shard` is `"i/n"`.
    #[wasm_bindgen(js_name = runInMemory)]
    pub fn run_in_memory(&self, options: JsValue) -> JsResult<JsSimReport> {
        let options = RunOptions::read(options)?;
        let fleet = self
            .scenario
            .fleet(|name| match options.files.get(name) {
                Some(bytes) => String::from_utf8(bytes.to_vec())
                    .map_err(|_| format!("{name}: files[{name:?}] is not UTF-8 text")),
                None => Err(format!("{name}: not in options.files")),
            })
            .map_err(scenario_error)?;
        let read = |want: &otalab_sim::FirmwareWanted| -> Result<Vec<u8>, String> {
            let name = want.url.strip_prefix(memory::FIRMWARE_BASE);
            if let Some(bytes) = name
                .and_then(|name| options.files.get(name))
                .or_else(|| options.files.get(&want.url))
            {
                return Ok(bytes.to_vec());
            }
            name.and_then(memory::demo_file).ok_or_else(|| {
                format!(
                    "{}: not in options.files (by its file name or URL), and not one of the sandbox's demo files",
                    name.unwrap_or(&want.url)
                )
            })
        };
        let memory_options = MemoryOptions {
            seed: options.seed,
            ..MemoryOptions::default()
        };
        let memory_error = |e: memory::MemoryError| ota_error(e.code(), &e.to_string(), Vec::new());
        let (run, mut world) =
            memory::prepare(&self.scenario, &fleet, options.shard, memory_options, read)
                .map_err(memory_error)?;
        let mut report = memory::run_scenario(run, &mut world).map_err(memory_error)?;
        // Steps and timings are on the virtual clock; the generation time is the wall clock's.
        report.generated_at_ms = js_sys::Date::now() as u64;
        Ok(JsSimReport {
            report,
            stats: world.stats(),
            title: self.scenario.name.clone(),
        })
    }
}

/// What `runInMemory` was given.
struct RunOptions {
    seed: u64,
    shard: Shard,
    files: BTreeMap<String, std::sync::Arc<[u8]>>,
}

impl RunOptions {
    fn read(options: JsValue) -> JsResult<RunOptions> {
        let mut read = RunOptions {
            seed: 1,
            shard: Shard::ALL,
            files: BTreeMap::new(),
        };
        if options.is_undefined() || options.is_null() {
            return Ok(read);
        }
        for key in object_keys("options", &options)? {
            if !["seed", "shard", "files"].contains(&key.as_str()) {
                return Err(bad_argument(
                    &format!("options.{key}"),
                    "unknown option; expected seed, shard or files",
                ));
            }
        }
        let seed = property("options", &options, "seed")?;
        if !seed.is_undefined() {
            read.seed =
                otalab_js::integer_arg("options.seed", &seed, 0, otalab_js::MAX_SAFE_INTEGER)?;
        }
        let shard = property("options", &options, "shard")?;
        if !shard.is_undefined() {
            let text = string_arg("options.shard", &shard)?;
            read.shard = Shard::parse(&text).map_err(|e| bad_argument("options.shard", e))?;
        }
        let files = property("options", &options, "files")?;
        if !files.is_undefined() {
            for name in object_keys("options.files", &files)? {
                let path = format!("options.files[{name:?}]");
                let value = js_sys::Reflect::get(&files, &name.as_str().into())
                    .map_err(|_| bad_argument(&path, "cannot be read"))?;
                let bytes = if let Some(text) = value.as_string().filter(|_| value.is_string()) {
                    text.into_bytes()
                } else if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
                    otalab_js::copy_bytes(bytes)
                } else {
                    return Err(bad_argument(
                        &path,
                        format!("expected a Uint8Array or text, found {}", type_name(&value)),
                    ));
                };
                read.files.insert(name, bytes.into());
            }
        }
        Ok(read)
    }
}

/// A scenario's report, with what the in-memory world counted.
#[wasm_bindgen(js_name = SimReport)]
pub struct JsSimReport {
    report: Report,
    stats: WorldStats,
    title: String,
}

impl JsSimReport {
    /// A report titled `title` (the in-memory world's counts left at zero).
    pub(crate) fn new(report: Report, title: String) -> Self {
        Self {
            report,
            stats: WorldStats::default(),
            title,
        }
    }
}

#[wasm_bindgen(js_class = SimReport)]
impl JsSimReport {
    /// Whether every expectation held (and no device was left unjudged).
    #[wasm_bindgen(getter)]
    pub fn passed(&self) -> bool {
        self.report.passed()
    }

    /// The report as a plain object: the same JSON as `otalab run --report` writes.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsResult<JsValue> {
        JSON::parse(&self.report.to_json())
    }

    /// CSV as the runner and the page export: a row per progress report, then the summary and
    /// the batches.
    #[wasm_bindgen(js_name = toCsv)]
    pub fn to_csv(&self) -> String {
        self.report.to_csv()
    }

    /// JUnit XML: one test case per device and per expectation.
    #[wasm_bindgen(js_name = toJunit)]
    pub fn to_junit(&self) -> String {
        self.report.to_junit()
    }

    /// A self-contained HTML page (title: the scenario's name unless given).
    #[wasm_bindgen(js_name = toHtml)]
    pub fn to_html(&self, title: JsValue) -> JsResult<String> {
        let title = if title.is_undefined() || title.is_null() {
            self.title.clone()
        } else {
            string_arg("title", &title)?
        };
        Ok(self.report.to_html(&title, None))
    }

    /// What the in-memory world did: `{ virtualMs, messages, servedBytes, events }`.
    #[wasm_bindgen(getter)]
    pub fn stats(&self) -> JsResult<JsValue> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Stats {
            virtual_ms: u64,
            messages: u64,
            served_bytes: u64,
            events: u64,
        }
        json_value(&Stats {
            virtual_ms: self.report.timings.as_ref().map_or(0, |t| t.total_ms),
            messages: self.stats.delivered,
            served_bytes: self.stats.served_bytes,
            events: self.stats.events,
        })
    }
}
