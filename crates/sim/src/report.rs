//! The test report: per device the notice, every progress step with its time, the final
//! version and the verdict (Aliyun's rule: success only when the reported version equals the
//! target), plus the fleet summary. Exported as JSON and CSV.

use serde::{Deserialize, Serialize};

use crate::expect::{ExpectationResult, Expectations};
pub(crate) use crate::model::xml;
pub use crate::model::{DeviceReport, Failure, ObservedStep, Summary, Verdict, iso_time};

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
    /// The batches pushed to these devices, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batches: Vec<crate::batch::BatchStatus>,
    /// The upgrade jobs that had tasks for these devices (`QueryOTAJob`'s view), oldest first.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::model::jobs_only"
    )]
    pub jobs: Vec<crate::jobs::JobView>,
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
    /// Device connection attempts that failed (refused, reset, or refused in CONNACK) during
    /// the run: a ramp too fast for the broker shows here (the socket runner; absent
    /// elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_failures: Option<u64>,
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
            connect_failures: all
                .iter()
                .filter_map(|t| t.connect_failures)
                .reduce(|a, b| a + b),
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
            batches: Vec::new(),
            jobs: Vec::new(),
            scenario: None,
            expect: None,
            expectations: Vec::new(),
            timings: None,
        }
    }

    /// Judges the report by `expect`; `timed_out` says the run stopped at the time limit.
    pub fn check(&self, expect: &Expectations, timed_out: bool) -> Vec<ExpectationResult> {
        expect.check(&self.devices, self.summary, &self.jobs, timed_out)
    }

    /// Judges the report by `expect` (kept in the report) and records each result.
    pub fn judge(&mut self, expect: &Expectations, timed_out: bool) {
        self.expectations = self.check(expect, timed_out);
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
        let mut jobs: Vec<crate::jobs::JobView> = Vec::new();
        for (index, report) in reports.into_iter().enumerate() {
            // Each shard's cloud made the same jobs for its own devices: one view per job.
            for view in &report.jobs {
                match jobs.iter_mut().find(|j| j.id == view.id) {
                    Some(merged) => merged.absorb(view),
                    None => jobs.push(view.clone()),
                }
            }
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
        merged.jobs = jobs;
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

    /// CSV: one row per progress report (a device without reports gets one row), with the
    /// batch, a human time, the failure code and reason and the injected fault; then, after a
    /// blank line, the summary counts; then the batches with their grouped failures.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "productKey,deviceName,batch,targetVersion,time,atMs,step,desc,finalVersion,verdict,failureCode,failureReason,fault\n",
        );
        for d in &self.devices {
            let target = d.target_version.as_deref().unwrap_or_default();
            let version = d.final_version.as_deref().unwrap_or_default();
            let batch = d.batch.map(|b| b.to_string()).unwrap_or_default();
            let code = d
                .failure
                .as_ref()
                .and_then(|f| f.code)
                .map(|c| c.code().to_string())
                .unwrap_or_default();
            let reason = d.failure.as_ref().map(|f| f.reason.as_str()).unwrap_or("");
            let fault = d.fault.as_deref().unwrap_or_default();
            let row = |step: Option<&ObservedStep>| {
                let (time, at, value, desc) = step.map_or_else(Default::default, |s| {
                    (
                        iso_time(s.at_ms),
                        s.at_ms.to_string(),
                        s.step.to_string(),
                        s.desc.as_str(),
                    )
                });
                [
                    d.product_key.as_str(),
                    &d.device_name,
                    &batch,
                    target,
                    &time,
                    &at,
                    &value,
                    desc,
                    version,
                    d.verdict.name(),
                    &code,
                    reason,
                    fault,
                ]
                .map(csv_field)
                .join(",")
            };
            if d.steps.is_empty() {
                out.push_str(&row(None));
                out.push('\n');
            }
            for s in &d.steps {
                out.push_str(&row(Some(s)));
                out.push('\n');
            }
        }
        let c = &self.summary;
        out.push_str("\ntotal,pending,upgrading,succeeded,failed,cancelled\n");
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            c.total, c.pending, c.upgrading, c.succeeded, c.failed, c.cancelled
        ));
        if !self.batches.is_empty() {
            out.push_str("\nbatch,time,firmware,version,notice,signMethod,devices,pending,upgrading,succeeded,failed,cancelled,cancelledAt,retryOf,failures\n");
            for b in &self.batches {
                let failures: Vec<String> = b.failures.iter().map(|g| g.to_string()).collect();
                let c = &b.counts;
                let cells = [
                    b.id.to_string(),
                    b.at.clone(),
                    b.firmware.clone(),
                    b.version.clone(),
                    b.kind.key().to_owned(),
                    b.sign_method.clone(),
                    c.total.to_string(),
                    c.pending.to_string(),
                    c.upgrading.to_string(),
                    c.succeeded.to_string(),
                    c.failed.to_string(),
                    c.cancelled.to_string(),
                    b.cancelled_at_ms.map(iso_time).unwrap_or_default(),
                    b.retry_of.map(|r| r.to_string()).unwrap_or_default(),
                    failures.join("; "),
                ];
                out.push_str(
                    &cells
                        .iter()
                        .map(|c| csv_field(c))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                out.push('\n');
            }
        }
        #[cfg(feature = "jobs")]
        self.jobs_csv(&mut out);
        out
    }

    /// The upgrade jobs' section of the CSV: one row per job, its task counts per status.
    #[cfg(feature = "jobs")]
    fn jobs_csv(&self, out: &mut String) {
        use crate::jobs::TaskStatus;
        if self.jobs.is_empty() {
            return;
        }
        let statuses: Vec<&str> = TaskStatus::ALL.iter().map(|s| s.name()).collect();
        out.push_str(&format!(
            "\njob,target,status,firmware,version,{},timedOut,retried,retries,pushes\n",
            statuses.join(",")
        ));
        for j in &self.jobs {
            let mut cells = vec![
                j.id.to_string(),
                j.target.clone(),
                j.status.name().to_owned(),
                j.firmware.clone(),
                j.version.clone(),
            ];
            cells.extend(
                TaskStatus::ALL
                    .iter()
                    .map(|s| j.counts.get(s).copied().unwrap_or(0).to_string()),
            );
            cells.extend([
                j.timed_out.to_string(),
                j.retried.to_string(),
                j.retries.to_string(),
                j.pushes.to_string(),
            ]);
            let cells: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
    }

    /// The upgrade jobs' section of the HTML page.
    #[cfg(feature = "jobs")]
    fn jobs_html(&self, h: &mut String) {
        use crate::jobs::TaskStatus;
        if self.jobs.is_empty() {
            return;
        }
        h.push_str("<h2>Upgrade jobs</h2><table><tr><th>Job</th><th>Target</th><th>Status</th><th>Firmware</th>");
        for s in TaskStatus::ALL {
            h.push_str(&format!("<th>{}</th>", s.name()));
        }
        h.push_str("<th>Timed out</th><th>Retried</th><th>Notices sent</th></tr>");
        for j in &self.jobs {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td>",
                j.id,
                xml(&j.target),
                j.status.name(),
                xml(&j.firmware),
                xml(&j.version)
            ));
            for s in TaskStatus::ALL {
                h.push_str(&format!(
                    "<td>{}</td>",
                    j.counts.get(&s).copied().unwrap_or(0)
                ));
            }
            h.push_str(&format!(
                "<td>{}</td><td>{}</td><td>{}</td></tr>",
                j.timed_out, j.retried, j.pushes
            ));
        }
        h.push_str("</table>");
    }

    /// A printable HTML page: the summary, the expectations, every batch with its notice and
    /// grouped failures, and every device with its steps at human times, its failure and its
    /// injected fault. `chart_svg` (an SVG the caller drew from numbers) goes under the summary
    /// as it is; every other text is escaped.
    pub fn to_html(&self, title: &str, chart_svg: Option<&str>) -> String {
        let e = xml;
        let c = &self.summary;
        let mut h = String::with_capacity(4096 + self.devices.len() * 512);
        h.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        h.push_str(&format!("<title>{}</title>", e(title)));
        h.push_str(HTML_STYLE);
        h.push_str("</head><body>");
        h.push_str(&format!(
            "<h1>{}</h1><p class=\"meta\">Generated {}{}</p>",
            e(title),
            iso_time(self.generated_at_ms),
            self.scenario
                .as_ref()
                .map(|s| format!(" · scenario {}", e(s)))
                .unwrap_or_default()
        ));
        h.push_str("<h2>Summary</h2><table class=\"summary\"><tr><th>Devices</th><th>Pending</th><th>Upgrading</th><th>Succeeded</th><th>Failed</th><th>Cancelled</th></tr>");
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"ok\">{}</td><td class=\"bad\">{}</td><td>{}</td></tr></table>",
            c.total, c.pending, c.upgrading, c.succeeded, c.failed, c.cancelled
        ));
        if let Some(svg) = chart_svg {
            h.push_str("<figure class=\"chart\">");
            h.push_str(svg);
            h.push_str("<figcaption>Devices upgrading, succeeded and failed over time (seconds)</figcaption></figure>");
        }
        if !self.expectations.is_empty() {
            h.push_str("<h2>Expectations</h2><table><tr><th>Expectation</th><th>Held</th><th>Detail</th></tr>");
            for x in &self.expectations {
                h.push_str(&format!(
                    "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                    e(&x.name),
                    if x.held { "ok" } else { "bad" },
                    if x.held { "yes" } else { "no" },
                    e(&x.detail)
                ));
            }
            h.push_str("</table>");
        }
        if !self.batches.is_empty() {
            h.push_str("<h2>Batches</h2>");
            for b in &self.batches {
                let n = &b.counts;
                h.push_str(&format!(
                    "<section class=\"batch\"><h3>Batch {} · {} → {} · {} · {}</h3><p class=\"meta\">Pushed {}{}{} · {} devices: {} pending, {} upgrading, {} succeeded, {} failed, {} cancelled</p>",
                    b.id,
                    e(&b.firmware),
                    e(&b.version),
                    b.kind.key(),
                    e(&b.sign_method),
                    b.at,
                    b.retry_of.map(|r| format!(" · retries batch {r}")).unwrap_or_default(),
                    b.cancelled_at_ms
                        .map(|t| format!(" · cancelled {}", iso_time(t)))
                        .unwrap_or_default(),
                    n.total, n.pending, n.upgrading, n.succeeded, n.failed, n.cancelled
                ));
                if !b.failures.is_empty() {
                    h.push_str("<table><tr><th>Failure</th><th>Devices</th></tr>");
                    for g in &b.failures {
                        h.push_str(&format!(
                            "<tr><td class=\"bad\">{}</td><td>{}</td></tr>",
                            e(&g.to_string()),
                            e(&g.devices.join(", "))
                        ));
                    }
                    h.push_str("</table>");
                }
                if let Some(notice) = &b.notice {
                    let text = serde_json::to_string_pretty(notice).unwrap_or_default();
                    h.push_str(&format!(
                        "<details open><summary>Notice</summary><pre>{}</pre></details>",
                        e(&text)
                    ));
                }
                h.push_str("</section>");
            }
        }
        #[cfg(feature = "jobs")]
        self.jobs_html(&mut h);
        h.push_str("<h2>Devices</h2><table class=\"devices\"><tr><th>Device</th><th>Batch</th><th>Target</th><th>Final version</th><th>Verdict</th><th>Failure</th><th>Injected fault</th><th>Steps</th></tr>");
        for d in &self.devices {
            let steps: Vec<String> = d
                .steps
                .iter()
                .map(|s| {
                    let at = iso_time(s.at_ms);
                    // The time of day; the full date is in the title (and in the page's header).
                    format!(
                        "<li><time datetime=\"{at}\" title=\"{at}\">{}</time> <b>{}</b> {}</li>",
                        at.get(11..23).unwrap_or(&at),
                        s.step,
                        e(&s.desc)
                    )
                })
                .collect();
            h.push_str(&format!(
                "<tr><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"v-{}\">{}</td><td>{}</td><td>{}</td><td><ol class=\"steps\">{}</ol></td></tr>",
                e(&d.product_key),
                e(&d.device_name),
                d.batch.map(|b| b.to_string()).unwrap_or_default(),
                e(d.target_version.as_deref().unwrap_or("")),
                e(d.final_version.as_deref().unwrap_or("")),
                d.verdict.name(),
                d.verdict.name(),
                e(&d.failure.as_ref().map(|f| f.to_string()).unwrap_or_default()),
                e(d.fault.as_deref().unwrap_or("")),
                steps.concat()
            ));
        }
        h.push_str("</table></body></html>\n");
        h
    }
}

/// The report page's style: readable on screen, compact on paper.
const HTML_STYLE: &str = "<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0;width:100%}th,td{border:1px solid #ccc;padding:.25em .5em;\
text-align:left;vertical-align:top;overflow-wrap:anywhere}th{background:#f3f3f3}.ok,.v-succeeded{color:#17663a}\
.bad,.v-failed{color:#b3261e}.meta{color:#555}pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:12px}\
ol.steps{margin:0;padding:0;list-style:none}ol.steps li{display:inline}ol.steps li+li::before{content:' · '}\
time{color:#555;font-variant-numeric:tabular-nums}table.devices{table-layout:fixed}\
.devices th:nth-child(1){width:15%}.devices th:nth-child(2){width:5%}.devices th:nth-child(3),.devices th:nth-child(4){width:7%}\
.devices th:nth-child(5){width:8%}.devices th:nth-child(6),.devices th:nth-child(7){width:12%}figure.chart svg{width:100%;max-width:720px;height:auto}\
@media print{body{margin:0}section.batch,tr{break-inside:avoid}details>summary{display:none}}</style>";

/// Quotes a CSV field when needed; neutralises spreadsheet formulas.
fn csv_field(value: &str) -> String {
    let mut v = value.to_owned();
    if v.starts_with(['=', '+', '@']) || (v.starts_with('-') && !is_negative_number(&v)) {
        v.insert(0, '\'');
    }
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// True for a negative decimal number as a spreadsheet reads one (`-3`, `-0.5`, `-1e3`,
/// `-.5`): a cell that starts with `-` and is not one could be a formula. Written out rather than
/// `str::parse::<f64>`, whose float parser would be in every wasm build only for this.
fn is_negative_number(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('-') else {
        return false;
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(whole) && digits(fraction) && whole.len() + fraction.len() > 0;
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use otalab_protocol::Step;

    #[test]
    fn negative_numbers_stay_numbers_and_anything_else_after_a_minus_is_quoted() {
        for n in [
            "-3", "-0.5", "-.5", "-5.", "-1e3", "-1E-3", "-2.5e+10", "-007",
        ] {
            assert!(is_negative_number(n), "{n}");
            assert_eq!(csv_field(n), n, "{n}");
        }
        for f in [
            "-",
            "-.",
            "-e3",
            "-1e",
            "-1e+",
            "-1.2.3",
            "-1-1",
            "-cmd|' /C calc'!A0",
            "- 3",
            "3",
        ] {
            assert!(!is_negative_number(f), "{f}");
        }
        assert_eq!(csv_field("-cmd"), "'-cmd");
        assert_eq!(csv_field("-1+1"), "'-1+1");
    }

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
                        at: String::new(),
                        step: Step::Percent(0),
                        desc: "say \"hi\"".into(),
                    },
                    ObservedStep {
                        at_ms: 6,
                        at: String::new(),
                        step: Step::Failed(otalab_protocol::Failure::Verify),
                        desc: "=cmd()".into(),
                    },
                ],
                final_version: Some("1.0".into()),
                verdict: Verdict::Failed,
                failure: Some(Failure {
                    code: Some(otalab_protocol::Failure::Verify),
                    reason: "=cmd()".into(),
                }),
                batch: Some(1),
                fault: Some("verify failure at 40 %".into()),
            }],
        );
        let csv = report.to_csv();
        let lines: Vec<_> = csv.lines().collect();
        assert_eq!(
            lines[1],
            r#"pk,"d,1",1,2.0,1970-01-01T00:00:00.005Z,5,0,"say ""hi""",1.0,failed,-3,'=cmd(),verify failure at 40 %"#
        );
        assert_eq!(
            lines[2],
            "pk,\"d,1\",1,2.0,1970-01-01T00:00:00.006Z,6,-3,'=cmd(),1.0,failed,-3,'=cmd(),verify failure at 40 %"
        );
        assert_eq!(
            lines[4],
            "total,pending,upgrading,succeeded,failed,cancelled"
        );
        assert_eq!(lines[5], "1,0,0,0,1,0");
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
