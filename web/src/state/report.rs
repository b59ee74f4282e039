//! The test report: per device the notice, every progress step with its time, the final
//! version and the verdict (Aliyun's rule: success only when the reported version equals the
//! target), plus the fleet summary. Exported as JSON and CSV.

use serde::Serialize;

/// A device's outcome by the cloud's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// When it was made (ms since 1970).
    pub generated_at_ms: u64,
    /// Counts.
    pub summary: Summary,
    /// Devices.
    pub devices: Vec<DeviceReport>,
}

impl Report {
    /// Builds the report; the summary is counted from the devices.
    pub fn new(generated_at_ms: u64, devices: Vec<DeviceReport>) -> Self {
        Self {
            generated_at_ms,
            summary: Summary::of(devices.iter().map(|d| d.verdict)),
            devices,
        }
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
