//! A scenario's expectations and how a [`Report`](crate::Report) is judged by them: verdict counts or shares,
//! final versions, required step sequences, and the time limit.

use std::collections::BTreeMap;

use otalab_protocol::Step;
use serde::{Deserialize, Serialize};

use crate::model::{DeviceReport, Summary, Verdict};

fn default_time_limit() -> u64 {
    120_000
}

fn default_quiet() -> u64 {
    15_000
}

/// What must hold at the end of a run. Every rule is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The run stops after this many milliseconds even if devices are still busy; a run that
    /// needs the whole limit fails the expectation "settled within the time limit".
    #[serde(default = "default_time_limit")]
    pub time_limit_ms: u64,
    /// A device that has been silent this long counts as settled (a stalled device never
    /// reports again). The run ends once every upgrade job is final or silent. Keep it above
    /// the devices' block timeout and outages.
    #[serde(default = "default_quiet")]
    pub quiet_ms: u64,
    /// Device counts per verdict (`succeeded`, `failed`, `upgrading`, `pending`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub verdicts: BTreeMap<Verdict, CountRule>,
    /// Device counts per final version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub final_versions: BTreeMap<String, CountRule>,
    /// Progress steps every device (of a verdict) must have reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRule>,
    /// Upgrade-job task counts over every job of the run (`succeeded`, `failed`, `canceled`,
    /// `confirm`, `queued`, `notified`, `in_progress`, `timed_out`, `retried`); shares are of
    /// all tasks. Only the otalab runner reads them (not the page yet).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "crate::model::jobs_only"
    )]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "BTreeMap<crate::jobs::TaskCount, CountRule>")
    )]
    pub tasks: BTreeMap<crate::jobs::TaskCount, CountRule>,
}

impl Default for Expectations {
    fn default() -> Self {
        Self {
            time_limit_ms: default_time_limit(),
            quiet_ms: default_quiet(),
            verdicts: BTreeMap::new(),
            final_versions: BTreeMap::new(),
            steps: Vec::new(),
            tasks: BTreeMap::new(),
        }
    }
}

// Read by a hand-written `Deserialize` (below): serde's untagged form buffered the value and
// answered "data did not match any variant".
/// How many devices: an exact number, or bounds on the count and/or the share of the fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum CountRule {
    /// Exactly this many devices.
    Exactly(u64),
    /// Bounds (all given ones must hold).
    Bounds(Bounds),
}

impl<'de> Deserialize<'de> for CountRule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, Visitor, value::MapAccessDeserializer};
        /// A whole number, or a table of bounds.
        struct RuleVisitor;
        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = CountRule;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a number of devices, or { at_least, at_most, at_least_share, at_most_share }",
                )
            }
            fn visit_u64<E: Error>(self, n: u64) -> Result<CountRule, E> {
                Ok(CountRule::Exactly(n))
            }
            fn visit_i64<E: Error>(self, n: i64) -> Result<CountRule, E> {
                u64::try_from(n)
                    .map(CountRule::Exactly)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CountRule, A::Error> {
                Bounds::deserialize(MapAccessDeserializer::new(map)).map(CountRule::Bounds)
            }
        }
        deserializer.deserialize_any(RuleVisitor)
    }
}

/// Bounds on a device count; shares are fractions of the devices in the report (0.0..=1.0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// At least this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<u64>,
    /// At most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<u64>,
    /// At least this share of the fleet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least_share: Option<f64>,
    /// At most this share of the fleet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most_share: Option<f64>,
}

impl CountRule {
    /// Whether `count` of `total` devices satisfies the rule.
    pub fn holds(&self, count: u64, total: u64) -> bool {
        let share = if total == 0 {
            0.0
        } else {
            count as f64 / total as f64
        };
        match self {
            Self::Exactly(n) => count == *n,
            Self::Bounds(b) => {
                b.at_least.is_none_or(|n| count >= n)
                    && b.at_most.is_none_or(|n| count <= n)
                    && b.at_least_share.is_none_or(|s| share + 1e-9 >= s)
                    && b.at_most_share.is_none_or(|s| share <= s + 1e-9)
            }
        }
    }

    /// The rule in words ("exactly 20", "at least 90 % and at most 3").
    pub fn describe(&self) -> String {
        match self {
            Self::Exactly(n) => format!("exactly {n}"),
            Self::Bounds(b) => {
                let mut parts = Vec::new();
                if let Some(n) = b.at_least {
                    parts.push(format!("at least {n}"));
                }
                if let Some(n) = b.at_most {
                    parts.push(format!("at most {n}"));
                }
                if let Some(s) = b.at_least_share {
                    parts.push(format!("at least {}%", s * 100.0));
                }
                if let Some(s) = b.at_most_share {
                    parts.push(format!("at most {}%", s * 100.0));
                }
                if parts.is_empty() {
                    "any number".into()
                } else {
                    parts.join(" and ")
                }
            }
        }
    }
}

/// A sequence of progress steps that devices must have reported, in this order (other steps
/// may come between them unless `exact`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StepRule {
    /// Only devices with this verdict (all devices when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Only these devices, as `productKey/deviceName` (all devices when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// The steps, e.g. `[0, 100]` or `[-3]` (each 0..=100 or -1..=-4).
    #[cfg_attr(feature = "schema", schemars(with = "Vec<i64>"))]
    pub sequence: Vec<Step>,
    /// The device's steps must be exactly this sequence.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exact: bool,
}

impl StepRule {
    fn matches(&self, device: &DeviceReport) -> bool {
        let steps = device.steps.iter().map(|s| s.step);
        if self.exact {
            return steps.eq(self.sequence.iter().copied());
        }
        let mut wanted = self.sequence.iter().peekable();
        for step in steps {
            if wanted.peek() == Some(&&step) {
                wanted.next();
            }
        }
        wanted.peek().is_none()
    }
}

/// One expectation judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpectationResult {
    /// What was expected ("succeeded: exactly 20").
    pub name: String,
    /// Whether it held.
    pub held: bool,
    /// What was seen, with the first offending devices.
    pub detail: String,
    /// The run hit its time limit (kept so that merged shard reports say so too).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
}

/// How many offending devices a detail names.
const NAMED: usize = 5;

fn names<'a>(devices: impl Iterator<Item = &'a DeviceReport>) -> String {
    let all: Vec<String> = devices
        .map(|d| format!("{}/{}", d.product_key, d.device_name))
        .collect();
    let mut text = all
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if all.len() > NAMED {
        text.push_str(&format!(" and {} more", all.len() - NAMED));
    }
    text
}

impl Expectations {
    /// Judges a run's `devices` (with their `summary`); `timed_out` says the run stopped at the
    /// time limit. [`Report::check`](crate::Report::check) calls it with a report's.
    pub fn check(
        &self,
        devices: &[DeviceReport],
        summary: Summary,
        jobs: &[crate::jobs::JobView],
        timed_out: bool,
    ) -> Vec<ExpectationResult> {
        let total = devices.len() as u64;
        let mut results = vec![ExpectationResult {
            name: format!("settled within {} ms", self.time_limit_ms),
            held: !timed_out,
            detail: if timed_out {
                let busy = devices
                    .iter()
                    .filter(|d| matches!(d.verdict, Verdict::Upgrading | Verdict::Pending));
                format!(
                    "the time limit was reached with devices still busy: {}",
                    names(busy)
                )
            } else {
                "every upgrade job was final or silent before the limit".into()
            },
            timed_out,
        }];
        for (verdict, rule) in &self.verdicts {
            let count = devices.iter().filter(|d| d.verdict == *verdict).count() as u64;
            let held = rule.holds(count, total);
            let mut detail = format!("{count} of {total} devices {}", verdict.name());
            if !held {
                let others = devices.iter().filter(|d| d.verdict != *verdict);
                let counts = summary;
                detail = format!(
                    "expected {} {}, got {count} of {total} (succeeded {}, failed {}, upgrading {}, pending {}); not {}: {}",
                    rule.describe(),
                    verdict.name(),
                    counts.succeeded,
                    counts.failed,
                    counts.upgrading,
                    counts.pending,
                    verdict.name(),
                    names(others)
                );
            }
            results.push(ExpectationResult {
                name: format!("{}: {}", verdict.name(), rule.describe()),
                held,
                detail,
                timed_out,
            });
        }
        for (version, rule) in &self.final_versions {
            let on = |d: &&DeviceReport| d.final_version.as_deref() == Some(version.as_str());
            let count = devices.iter().filter(on).count() as u64;
            let held = rule.holds(count, total);
            let mut detail = format!("{count} of {total} devices run {version}");
            if !held {
                let mut seen: BTreeMap<String, u64> = BTreeMap::new();
                for d in devices {
                    let version = d.final_version.as_deref().unwrap_or("(none)");
                    *seen.entry(version.to_owned()).or_default() += 1;
                }
                let seen: Vec<String> = seen.iter().map(|(v, n)| format!("{v}: {n}")).collect();
                detail = format!(
                    "expected {} on {version}, got {count} of {total} (final versions {})",
                    rule.describe(),
                    seen.join(", ")
                );
            }
            results.push(ExpectationResult {
                name: format!("final version {version}: {}", rule.describe()),
                held,
                detail,
                timed_out,
            });
        }
        for rule in &self.steps {
            let scope: Vec<&DeviceReport> = devices
                .iter()
                .filter(|d| rule.verdict.is_none_or(|v| d.verdict == v))
                .filter(|d| {
                    rule.devices.is_empty()
                        || rule
                            .devices
                            .iter()
                            .any(|n| crate::model::named(n, &d.product_key, &d.device_name))
                })
                .collect();
            let missing: Vec<&DeviceReport> =
                scope.iter().copied().filter(|d| !rule.matches(d)).collect();
            let mut which = rule.verdict.map_or("every device".to_owned(), |v| {
                format!("every {} device", v.name())
            });
            if !rule.devices.is_empty() {
                which.push_str(&format!(" of {}", rule.devices.join(", ")));
            }
            let shape = if rule.exact { "exactly" } else { "in order" };
            let sequence: Vec<String> = rule.sequence.iter().map(Step::to_string).collect();
            let held = missing.is_empty();
            let detail = if held {
                format!("{} devices reported them", scope.len())
            } else {
                let first = missing[0];
                let got: Vec<String> = first.steps.iter().map(|s| s.step.to_string()).collect();
                format!(
                    "{} of {} devices did not: {} ({}/{} reported [{}])",
                    missing.len(),
                    scope.len(),
                    names(missing.iter().copied()),
                    first.product_key,
                    first.device_name,
                    got.join(", ")
                )
            };
            results.push(ExpectationResult {
                name: format!("{which} reported steps {shape} [{}]", sequence.join(", ")),
                held,
                detail,
                timed_out,
            });
        }
        #[cfg(feature = "jobs")]
        self.check_tasks(jobs, timed_out, &mut results);
        #[cfg(not(feature = "jobs"))]
        let _ = jobs;
        results
    }

    /// The task-count expectations, over every job.
    #[cfg(feature = "jobs")]
    fn check_tasks(
        &self,
        jobs: &[crate::jobs::JobView],
        timed_out: bool,
        results: &mut Vec<ExpectationResult>,
    ) {
        let tasks: usize = jobs.iter().map(crate::jobs::JobView::total).sum();
        for (what, rule) in &self.tasks {
            let count: usize = jobs.iter().map(|j| j.count(*what)).sum();
            let held = rule.holds(count as u64, tasks as u64);
            let per_job: Vec<String> = jobs
                .iter()
                .map(|j| format!("job {} ({}): {}", j.id, j.target, j.count(*what)))
                .collect();
            let detail = format!(
                "{count} of {tasks} tasks {}{}",
                what.name(),
                if per_job.is_empty() {
                    " (no upgrade job ran)".to_owned()
                } else {
                    format!(" ({})", per_job.join("; "))
                }
            );
            results.push(ExpectationResult {
                name: format!("tasks {}: {}", what.name(), rule.describe()),
                held,
                detail,
                timed_out,
            });
        }
    }
}
