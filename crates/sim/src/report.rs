//! The test report: per device the notice, every progress step with its time, the final
//! version and the verdict (Aliyun's rule: success only when the reported version equals the
//! target), plus the fleet summary. Exported as JSON and CSV.

use serde::{Deserialize, Serialize};

use crate::expect::{ExpectationResult, Expectations};

/// A device's outcome by the cloud's rule.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    /// No job, or the job did not start.
    Pending,
    /// Progress seen, not finished.
    Upgrading,
    /// Reported the target version.
    Succeeded,
    /// Reported a failure code, or a version other than the target after 100.
    Failed,
}

impl Verdict {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Upgrading => "upgrading",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// One progress report as the cloud received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedStep {
    /// Milliseconds since 1970.
    pub at_ms: u64,
    /// 0..=100 or -1..=-4.
    pub step: i64,
    /// Description.
    pub desc: String,
}

/// One device in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceReport {
    /// productKey.
    pub product_key: String,
    /// deviceName.
    pub device_name: String,
    /// Target version of the job.
    pub target_version: Option<String>,
    /// The notice sent (decoded form), if any.
    pub notice: Option<serde_json::Value>,
    /// Progress reports in arrival order.
    pub steps: Vec<ObservedStep>,
    /// Last reported version.
    pub final_version: Option<String>,
    /// Outcome.
    pub verdict: Verdict,
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Devices in the report.
    pub total: usize,
    /// Pending.
    pub pending: usize,
    /// Upgrading.
    pub upgrading: usize,
    /// Succeeded.
    pub succeeded: usize,
    /// Failed.
    pub failed: usize,
}

impl Summary {
    /// Counts the verdicts.
    pub fn of(verdicts: impl IntoIterator<Item = Verdict>) -> Self {
        let mut s = Self::default();
        for v in verdicts {
            s.total += 1;
            match v {
                Verdict::Pending => s.pending += 1,
                Verdict::Upgrading => s.upgrading += 1,
                Verdict::Succeeded => s.succeeded += 1,
                Verdict::Failed => s.failed += 1,
            }
        }
        s
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// When it was made (ms since 1970).
    pub generated_at_ms: u64,
    /// Counts.
    pub summary: Summary,
    /// Devices.
    pub devices: Vec<DeviceReport>,
    /// The scenario that produced it (runner and imported scenarios).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// The scenario's expectations, kept so that shard reports can be merged and judged again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expectations>,
    /// Each expectation, held or not, in the scenario's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expectations: Vec<ExpectationResult>,
    /// How long the run took to reach its milestones (runner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

/// Milestones of a run, in milliseconds from its start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Until every device was connected (absent when some never connected).
    pub all_connected_ms: Option<u64>,
    /// Until every device with a job had a final verdict (absent when some did not).
    pub all_settled_ms: Option<u64>,
    /// Until the run ended.
    pub total_ms: u64,
    /// The runner process's peak resident memory in KiB (Linux; absent elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_kib: Option<u64>,
}

impl Timings {
    /// The milestones of shards run side by side: the slowest of each (absent when absent in any).
    fn slowest(all: &[Timings]) -> Timings {
        let max = |f: fn(&Timings) -> Option<u64>| {
            all.iter()
                .map(f)
                .try_fold(0, |acc, v| v.map(|v| acc.max(v)))
        };
        Timings {
            all_connected_ms: max(|t| t.all_connected_ms),
            all_settled_ms: max(|t| t.all_settled_ms),
            total_ms: all.iter().map(|t| t.total_ms).max().unwrap_or(0),
            peak_rss_kib: all.iter().filter_map(|t| t.peak_rss_kib).max(),
        }
    }
}

/// Why shard reports cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no reports to merge")]
    Empty,
    /// The reports come from different scenarios.
    #[error("report {index} is of scenario {found:?}, the first of {expected:?}")]
    ScenarioMismatch {
        /// Position of the report in the list (0-based).
        index: usize,
        /// The first report's scenario.
        expected: Option<String>,
        /// This report's scenario.
        found: Option<String>,
    },
    /// The same device is in two reports (overlapping shards).
    #[error("device {product_key}/{device_name} is in more than one report (overlapping shards)")]
    DuplicateDevice {
        /// productKey.
        product_key: String,
        /// deviceName.
        device_name: String,
    },
}

impl MergeError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "NO_REPORTS",
            Self::ScenarioMismatch { .. } => "SCENARIO_MISMATCH",
            Self::DuplicateDevice { .. } => "DUPLICATE_DEVICE",
        }
    }
}

impl Report {
    /// Builds the report; the summary is counted from the devices.
    pub fn new(generated_at_ms: u64, devices: Vec<DeviceReport>) -> Self {
        Self {
            generated_at_ms,
            summary: Summary::of(devices.iter().map(|d| d.verdict)),
            devices,
            scenario: None,
            expect: None,
            expectations: Vec::new(),
            timings: None,
        }
    }

    /// Judges the report by `expect` (kept in the report) and records each result.
    pub fn judge(&mut self, expect: &Expectations, timed_out: bool) {
        self.expectations = expect.check(self, timed_out);
        self.expect = Some(expect.clone());
    }

    /// True when every recorded expectation held.
    pub fn passed(&self) -> bool {
        self.expectations.iter().all(|e| e.held)
    }

    /// Combines the reports of shards of one run into the report of the whole run: devices
    /// sorted by name, counts recounted, expectations judged again over all devices, the
    /// slowest milestones.
    pub fn merge(reports: Vec<Report>) -> Result<Report, MergeError> {
        let first = reports.first().ok_or(MergeError::Empty)?;
        let scenario = first.scenario.clone();
        let expect = first.expect.clone();
        let generated_at_ms = reports.iter().map(|r| r.generated_at_ms).max().unwrap_or(0);
        let timings: Vec<Timings> = reports.iter().filter_map(|r| r.timings).collect();
        let timed_out = reports
            .iter()
            .flat_map(|r| &r.expectations)
            .any(|e| e.timed_out);
        let mut devices = Vec::new();
        for (index, report) in reports.into_iter().enumerate() {
            if report.scenario != scenario {
                return Err(MergeError::ScenarioMismatch {
                    index,
                    expected: scenario,
                    found: report.scenario,
                });
            }
            devices.extend(report.devices);
        }
        devices.sort_by(|a, b| {
            (&a.product_key, &a.device_name).cmp(&(&b.product_key, &b.device_name))
        });
        if let Some(pair) = devices
            .windows(2)
            .find(|w| w[0].product_key == w[1].product_key && w[0].device_name == w[1].device_name)
        {
            return Err(MergeError::DuplicateDevice {
                product_key: pair[0].product_key.clone(),
                device_name: pair[0].device_name.clone(),
            });
        }
        let mut merged = Report::new(generated_at_ms, devices);
        merged.scenario = scenario;
        merged.timings = (!timings.is_empty()).then(|| Timings::slowest(&timings));
        if let Some(expect) = expect {
            merged.judge(&expect, timed_out);
        }
        Ok(merged)
    }

    /// JUnit XML: a test case per expectation (suite `expectations`) and per device (suite
    /// `devices`, whose failed verdicts count as failures only when there are no expectations:
    /// a scenario may expect failures).
    pub fn to_junit(&self) -> String {
        let name = self.scenario.as_deref().unwrap_or("otalab");
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let expectation_failures = self.expectations.iter().filter(|e| !e.held).count();
        let judged = !self.expectations.is_empty();
        let device_failures = if judged {
            0
        } else {
            self.summary.failed + self.summary.pending + self.summary.upgrading
        };
        let seconds = self.timings.map_or(0.0, |t| t.total_ms as f64 / 1000.0);
        out.push_str(&format!(
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{seconds:.3}\">\n",
            xml(name),
            self.expectations.len() + self.devices.len(),
            expectation_failures + device_failures
        ));
        out.push_str(&format!(
            "  <testsuite name=\"{}: expectations\" tests=\"{}\" failures=\"{expectation_failures}\">\n",
            xml(name),
            self.expectations.len()
        ));
        for e in &self.expectations {
            out.push_str(&format!(
                "    <testcase classname=\"expectations\" name=\"{}\"",
                xml(&e.name)
            ));
            if e.held {
                out.push_str(&format!(
                    ">\n      <system-out>{}</system-out>\n    </testcase>\n",
                    xml(&e.detail)
                ));
            } else {
                out.push_str(&format!(
                    ">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                    xml(&e.detail)
                ));
            }
        }
        out.push_str("  </testsuite>\n");
        out.push_str(&format!(
            "  <testsuite name=\"{}: devices\" tests=\"{}\" failures=\"{device_failures}\">\n",
            xml(name),
            self.devices.len()
        ));
        for d in &self.devices {
            let steps: Vec<String> = d.steps.iter().map(|s| s.step.to_string()).collect();
            let detail = format!(
                "verdict {}; target {}; final version {}; steps [{}]",
                d.verdict.name(),
                d.target_version.as_deref().unwrap_or("-"),
                d.final_version.as_deref().unwrap_or("-"),
                steps.join(", ")
            );
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\">\n",
                xml(&d.product_key),
                xml(&d.device_name)
            ));
            if !judged && d.verdict != Verdict::Succeeded {
                out.push_str(&format!("      <failure message=\"{}\"/>\n", xml(&detail)));
            } else {
                out.push_str(&format!(
                    "      <system-out>{}</system-out>\n",
                    xml(&detail)
                ));
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// CSV: one row per progress report (a device without reports gets one row).
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "productKey,deviceName,targetVersion,atMs,step,desc,finalVersion,verdict\n",
        );
        for d in &self.devices {
            let target = d.target_version.as_deref().unwrap_or_default();
            let version = d.final_version.as_deref().unwrap_or_default();
            let row = |at: String, step: String, desc: &str| {
                [
                    d.product_key.as_str(),
                    &d.device_name,
                    target,
                    &at,
                    &step,
                    desc,
                    version,
                    d.verdict.name(),
                ]
                .map(csv_field)
                .join(",")
            };
            if d.steps.is_empty() {
                out.push_str(&row(String::new(), String::new(), ""));
                out.push('\n');
            }
            for s in &d.steps {
                out.push_str(&row(s.at_ms.to_string(), s.step.to_string(), &s.desc));
                out.push('\n');
            }
        }
        out
    }
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Quotes a CSV field when needed; neutralises spreadsheet formulas.
fn csv_field(value: &str) -> String {
    let mut v = value.to_owned();
    if v.starts_with(['=', '+', '@']) || (v.starts_with('-') && v.parse::<f64>().is_err()) {
        v.insert(0, '\'');
    }
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_and_quoting() {
        let report = Report::new(
            1,
            vec![DeviceReport {
                product_key: "pk".into(),
                device_name: "d,1".into(),
                target_version: Some("2.0".into()),
                notice: None,
                steps: vec![
                    ObservedStep {
                        at_ms: 5,
                        step: 0,
                        desc: "say \"hi\"".into(),
                    },
                    ObservedStep {
                        at_ms: 6,
                        step: -3,
                        desc: "=cmd()".into(),
                    },
                ],
                final_version: Some("1.0".into()),
                verdict: Verdict::Failed,
            }],
        );
        let csv = report.to_csv();
        let lines: Vec<_> = csv.lines().collect();
        assert_eq!(lines[1], r#"pk,"d,1",2.0,5,0,"say ""hi""",1.0,failed"#);
        assert_eq!(lines[2], "pk,\"d,1\",2.0,6,-3,'=cmd(),1.0,failed");
        assert_eq!(
            report.summary,
            Summary {
                total: 1,
                failed: 1,
                ..Summary::default()
            }
        );
    }
}
