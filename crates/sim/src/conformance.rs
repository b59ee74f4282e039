//! The conformance suite: grades one device's OTA implementation (a real board, a vendor's
//! code, or a simulated device) against Alibaba Cloud IoT's rules, one case after another,
//! each with a deadline, each pushing a fresh higher version where success is expected.
//!
//! Sans-IO like the rest of the crate: [`Suite::observe`] takes every message the device sends
//! (T1, T3, T4, T6), [`Suite::step`] drives the [`Cloud`] (pushes, pull answers, repeats) and
//! returns what to publish; both take the time. Each case ends [`Grade::Pass`],
//! [`Grade::Degraded`], [`Grade::Fail`] with the evidence (what was expected, what arrived,
//! when), or [`Grade::NotApplicable`].
//!
//! | case | expected |
//! |---|---|
//! | `md5` | a correct `Md5` package: steps non-decreasing to 100, then the new version on T1 |
//! | `sha256` | the same with a `SHA256` package |
//! | `bad_digest` | -3, and the version unchanged |
//! | `wrong_size` | -3 (or -2), and the version unchanged |
//! | `expired_url` | -2 (HTTP 403) |
//! | `missing_url` | -2 (HTTP 404) |
//! | `flaky_url` | success after the connection broke halfway, resuming (steps never go back); restarting from zero is *degraded*; -2 fails |
//! | `pull` | the device's pull (T4) answered with a package: it upgrades; no pull at all is not applicable |
//! | `repeat` | the same notice again during the upgrade: one upgrade (steps never restart, one 100) |
//! | `second_module` | a module other than `default` the device reported: it upgrades that module; none reported is not applicable |
//! | `mqtt` | the package over MQTT: it asks for blocks and upgrades; no block request is not applicable |

use std::collections::BTreeMap;

use otalab_protocol::{Module, Progress, SignMethod, Topic, TopicKind, VersionReport};
use serde::{Deserialize, Serialize};

use crate::cloud::{Cloud, DeviceKey, NoticeKind, Outgoing, Package, Qos, reply_topic};
use crate::report::{Verdict, iso_time};

/// One case of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    /// A correct package signed with `Md5`.
    Md5,
    /// A correct package signed with `SHA256`.
    Sha256,
    /// One digest digit flipped.
    BadDigest,
    /// The size one byte too large.
    WrongSize,
    /// The URL answers 403.
    ExpiredUrl,
    /// The URL answers 404.
    MissingUrl,
    /// The connection breaks halfway through the first request.
    FlakyUrl,
    /// The device's pull is answered with a package.
    Pull,
    /// The notice is sent again while the device upgrades.
    Repeat,
    /// A module other than `default`.
    SecondModule,
    /// The package over MQTT.
    Mqtt,
}

impl Case {
    /// Every case, in the order the suite runs them.
    pub const ALL: [Case; 11] = [
        Case::Md5,
        Case::Sha256,
        Case::BadDigest,
        Case::WrongSize,
        Case::ExpiredUrl,
        Case::MissingUrl,
        Case::FlakyUrl,
        Case::Pull,
        Case::Repeat,
        Case::SecondModule,
        Case::Mqtt,
    ];

    /// The case's name (`bad_digest`, …).
    pub fn name(self) -> &'static str {
        match self {
            Case::Md5 => "md5",
            Case::Sha256 => "sha256",
            Case::BadDigest => "bad_digest",
            Case::WrongSize => "wrong_size",
            Case::ExpiredUrl => "expired_url",
            Case::MissingUrl => "missing_url",
            Case::FlakyUrl => "flaky_url",
            Case::Pull => "pull",
            Case::Repeat => "repeat",
            Case::SecondModule => "second_module",
            Case::Mqtt => "mqtt",
        }
    }

    /// What the platform's rules expect, in words.
    pub fn expected(self) -> &'static str {
        match self {
            Case::Md5 | Case::Sha256 => {
                "steps non-decreasing to 100, then the new version reported on T1"
            }
            Case::BadDigest => "-3 (verification failed) and the old version kept",
            Case::WrongSize => "-3 (or -2) and the old version kept",
            Case::ExpiredUrl => "-2 (download failed: HTTP 403)",
            Case::MissingUrl => "-2 (download failed: HTTP 404)",
            Case::FlakyUrl => {
                "success after the connection broke halfway, resuming with Range (steps never go back)"
            }
            Case::Pull => "the pull (T4) answered with a package: the device upgrades",
            Case::Repeat => "one upgrade, although the notice came twice",
            Case::SecondModule => "the second module upgraded (T3 and T1 with its module)",
            Case::Mqtt => "blocks asked for over MQTT, then success",
        }
    }

    /// The notice kind the case pushes.
    fn kind(self) -> NoticeKind {
        match self {
            Case::BadDigest => NoticeKind::BadDigest,
            Case::WrongSize => NoticeKind::WrongSize,
            Case::ExpiredUrl => NoticeKind::Expired,
            Case::MissingUrl => NoticeKind::Missing,
            Case::FlakyUrl => NoticeKind::Flaky,
            Case::Mqtt => NoticeKind::Mqtt,
            _ => NoticeKind::Correct,
        }
    }

    /// True when the case expects the device to upgrade.
    fn expects_success(self) -> bool {
        !matches!(
            self,
            Case::BadDigest | Case::WrongSize | Case::ExpiredUrl | Case::MissingUrl
        )
    }
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// As the rules expect.
    Pass,
    /// Acceptable, but not as well as the SDKs do it (restarting a broken download from zero).
    Degraded,
    /// Against the rules.
    Fail,
    /// The device does not offer what the case needs (no pull, no second module, no MQTT download).
    NotApplicable,
}

/// One case's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// The grade.
    pub grade: Grade,
    /// What the rules expect.
    pub expected: String,
    /// What happened, in one line.
    pub observed: String,
    /// The version pushed (empty when nothing was pushed).
    pub version: String,
    /// When the case started and ended (ms since 1970).
    pub started_at_ms: u64,
    /// When it ended.
    pub ended_at_ms: u64,
    /// What arrived, in order, with the time since the case started.
    pub evidence: Vec<String>,
}

/// The suite's outcome: the report card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConformanceReport {
    /// The device.
    pub product_key: String,
    /// The device.
    pub device_name: String,
    /// When the suite started.
    pub started_at: String,
    /// Each case in order.
    pub cases: Vec<CaseResult>,
}

impl ConformanceReport {
    /// True when no case failed.
    pub fn passed(&self) -> bool {
        self.cases.iter().all(|c| c.grade != Grade::Fail)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// JUnit XML: one test case per case; a failure carries the expectation and the evidence,
    /// a case not applicable is skipped, a degraded one passes with a note.
    pub fn to_junit(&self) -> String {
        let name = format!("conformance {}/{}", self.product_key, self.device_name);
        let failures = self.cases.iter().filter(|c| c.grade == Grade::Fail).count();
        let skipped = self
            .cases
            .iter()
            .filter(|c| c.grade == Grade::NotApplicable)
            .count();
        let mut x = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"otalab\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" timestamp=\"{}\">\n",
            self.cases.len(),
            crate::report::xml(&name),
            self.cases.len(),
            crate::report::xml(&self.started_at),
        );
        for c in &self.cases {
            let time = c.ended_at_ms.saturating_sub(c.started_at_ms) as f64 / 1000.0;
            x.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{time:.3}\">",
                crate::report::xml(&name),
                c.case.name()
            ));
            let detail = format!(
                "expected: {}\nobserved: {}\n{}",
                c.expected,
                c.observed,
                c.evidence.join("\n")
            );
            match c.grade {
                Grade::Fail => x.push_str(&format!(
                    "<failure message=\"{}\">{}</failure>",
                    crate::report::xml(&c.observed),
                    crate::report::xml(&detail)
                )),
                Grade::NotApplicable => x.push_str(&format!(
                    "<skipped message=\"{}\"/>",
                    crate::report::xml(&c.observed)
                )),
                Grade::Degraded => x.push_str(&format!(
                    "<system-out>degraded: {}</system-out>",
                    crate::report::xml(&detail)
                )),
                Grade::Pass => {}
            }
            x.push_str("</testcase>\n");
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        x
    }
}

/// Time limits of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuiteOptions {
    /// Longest a case may take (ms).
    pub case_timeout_ms: u64,
    /// How long the device may stay silent after a push before the case is over (ms): no
    /// reaction at all fails a case, or makes it not applicable (MQTT delivery, pull).
    pub reaction_ms: u64,
    /// How long the device has, after a failure code, to show that it kept its old version
    /// (ms): a version report of the new version within it fails the case.
    pub settle_ms: u64,
    /// Pause between cases (ms), for a device that reboots.
    pub gap_ms: u64,
}

impl Default for SuiteOptions {
    fn default() -> Self {
        Self {
            case_timeout_ms: 120_000,
            reaction_ms: 20_000,
            settle_ms: 3_000,
            gap_ms: 1_000,
        }
    }
}

/// A message from the device, as the suite keeps it.
#[derive(Debug, Clone)]
enum Seen {
    Version {
        module: String,
        version: String,
    },
    Step {
        module: String,
        step: i64,
        desc: String,
    },
    Pull,
    Block,
    /// The suite sent the notice again.
    Repeated,
}

/// The case under way.
#[derive(Debug, Clone)]
struct Running {
    case: Case,
    started: u64,
    module: String,
    version: String,
    pushed: bool,
    repeated: bool,
    seen: Vec<(u64, Seen)>,
    /// When a failure code arrived (the settle window starts).
    failed_at: Option<u64>,
}

/// The suite for one device.
#[derive(Debug, Clone)]
pub struct Suite {
    device: DeviceKey,
    package: Package,
    options: SuiteOptions,
    queue: Vec<Case>,
    current: Option<Running>,
    results: Vec<CaseResult>,
    /// The last version the device reported, per module.
    versions: BTreeMap<String, String>,
    /// The last number of the highest version the suite made.
    bumps: u32,
    started_at_ms: u64,
    next_at: u64,
}

impl Suite {
    /// A suite for `device` with `package` (its version is replaced by fresh higher ones),
    /// running `cases` in order, from `now`.
    pub fn new(
        device: DeviceKey,
        package: Package,
        cases: &[Case],
        options: SuiteOptions,
        now: u64,
    ) -> Self {
        let mut queue: Vec<Case> = cases.to_vec();
        queue.reverse();
        Self {
            device,
            package,
            options,
            queue,
            current: None,
            results: Vec::new(),
            versions: BTreeMap::new(),
            bumps: 0,
            started_at_ms: now,
            next_at: now,
        }
    }

    /// The device under test.
    pub fn device(&self) -> &DeviceKey {
        &self.device
    }

    /// Tells the suite what the device reported before it started (its versions per module).
    pub fn knows_version(&mut self, module: &str, version: &str) {
        self.versions.insert(module.to_owned(), version.to_owned());
    }

    /// The case under way.
    pub fn current(&self) -> Option<Case> {
        self.current.as_ref().map(|r| r.case)
    }

    /// True when every case has ended.
    pub fn is_done(&self) -> bool {
        self.current.is_none() && self.queue.is_empty()
    }

    /// The results so far, in order.
    pub fn results(&self) -> &[CaseResult] {
        &self.results
    }

    /// The report card (so far).
    pub fn report(&self) -> ConformanceReport {
        ConformanceReport {
            product_key: self.device.0.clone(),
            device_name: self.device.1.clone(),
            started_at: iso_time(self.started_at_ms),
            cases: self.results.clone(),
        }
    }

    /// The package the pull case answers pulls with (`None` outside it): the driver sets it
    /// as the cloud's pull package.
    pub fn pull_package(&self) -> Option<Package> {
        let run = self.current.as_ref().filter(|r| r.case == Case::Pull)?;
        Some(Package {
            version: run.version.clone(),
            ..self.package.clone()
        })
    }

    /// A message the device published (any topic; others' messages are ignored).
    pub fn observe(&mut self, topic: &str, payload: &[u8], now: u64) {
        let Ok(parsed) = Topic::parse(topic) else {
            return;
        };
        if (parsed.product_key.as_str(), parsed.device_name.as_str())
            != (self.device.0.as_str(), self.device.1.as_str())
        {
            return;
        }
        let seen = match parsed.kind {
            TopicKind::Inform => match VersionReport::decode(payload) {
                Ok(r) => {
                    let module = r.module.as_str().to_owned();
                    let version = r.version.as_str().to_owned();
                    self.versions.insert(module.clone(), version.clone());
                    Seen::Version { module, version }
                }
                Err(_) => return,
            },
            TopicKind::Progress => match Progress::decode(payload) {
                Ok(p) => Seen::Step {
                    module: p.module.as_str().to_owned(),
                    step: p.step.value(),
                    desc: p.desc.clone(),
                },
                Err(_) => return,
            },
            TopicKind::FirmwareGet => Seen::Pull,
            TopicKind::FileDownload => Seen::Block,
            _ => return,
        };
        if let Some(run) = &mut self.current {
            if run.failed_at.is_none() && matches!(seen, Seen::Step { step, .. } if step < 0) {
                run.failed_at = Some(now);
            }
            run.seen.push((now, seen));
        }
    }

    /// Advances the suite at `now`: starts the next case, pushes, repeats, judges. Returns
    /// what to publish.
    pub fn step(&mut self, cloud: &mut Cloud, now: u64) -> Vec<Outgoing> {
        if self.current.is_none() {
            if now < self.next_at {
                return Vec::new();
            }
            let Some(case) = self.queue.pop() else {
                return Vec::new();
            };
            return self.start(case, cloud, now);
        }
        let mut out = Vec::new();
        if let Some(run) = &mut self.current
            && run.case == Case::Repeat
            && !run.repeated
            && run
                .seen
                .iter()
                .any(|(_, s)| matches!(s, Seen::Step { step, .. } if *step > 0))
        {
            // The same notice again, mid-download.
            run.repeated = true;
            if let Some(job) = cloud.job(&self.device) {
                out.push(Outgoing {
                    topic: reply_topic(TopicKind::Upgrade, &self.device),
                    payload: job.notice.encode().into_bytes(),
                    qos: Qos::AtLeastOnce,
                });
                run.seen.push((now, Seen::Repeated));
            }
        }
        if let Some(result) = self.judge(cloud, now) {
            self.results.push(result);
            self.current = None;
            self.next_at = now + self.options.gap_ms;
        }
        out
    }

    /// A fresh version higher than what `module` runs and than any the suite made before:
    /// the last number of the running version, plus one (`.1` appended when it has none).
    fn fresh_version(&mut self, module: &str) -> String {
        let base = self
            .versions
            .get(module)
            .cloned()
            .unwrap_or_else(|| "1.0.0".to_owned());
        let (head, last) = match base.rsplit_once('.') {
            Some((head, last)) if last.parse::<u64>().is_ok() => {
                (format!("{head}."), last.parse::<u64>().unwrap_or(0))
            }
            _ => (format!("{base}."), 0),
        };
        let n = last.max(u64::from(self.bumps)) + 1;
        self.bumps = u32::try_from(n).unwrap_or(u32::MAX);
        format!("{head}{n}")
    }

    fn start(&mut self, case: Case, cloud: &mut Cloud, now: u64) -> Vec<Outgoing> {
        let module = if case == Case::SecondModule {
            match self.versions.keys().find(|m| m.as_str() != Module::DEFAULT) {
                Some(m) => m.clone(),
                None => {
                    self.results.push(CaseResult {
                        case,
                        grade: Grade::NotApplicable,
                        expected: case.expected().to_owned(),
                        observed: "the device reported no module other than default".to_owned(),
                        version: String::new(),
                        started_at_ms: now,
                        ended_at_ms: now,
                        evidence: self
                            .versions
                            .iter()
                            .map(|(m, v)| format!("T1 reported {m} {v}"))
                            .collect(),
                    });
                    return Vec::new();
                }
            }
        } else {
            Module::DEFAULT.to_owned()
        };
        let version = self.fresh_version(&module);
        let mut run = Running {
            case,
            started: now,
            module: module.clone(),
            version: version.clone(),
            pushed: false,
            repeated: false,
            seen: Vec::new(),
            failed_at: None,
        };
        let mut out = Vec::new();
        if case != Case::Pull {
            let package = Package {
                version,
                ..self.package.clone()
            };
            let method = if case == Case::Sha256 {
                SignMethod::Sha256
            } else {
                SignMethod::Md5
            };
            let module = Module::parse(&module).unwrap_or_default();
            match cloud.push_module(
                std::slice::from_ref(&self.device),
                &package,
                case.kind(),
                method,
                &module,
                now,
            ) {
                Ok(o) => {
                    run.pushed = true;
                    out = o;
                }
                Err(e) => {
                    self.results.push(CaseResult {
                        case,
                        grade: Grade::NotApplicable,
                        expected: case.expected().to_owned(),
                        observed: format!("the cloud could not push it: {}: {e}", e.code()),
                        version: run.version,
                        started_at_ms: now,
                        ended_at_ms: now,
                        evidence: vec![format!("push refused: {}", e.code())],
                    });
                    return Vec::new();
                }
            }
        }
        self.current = Some(run);
        out
    }

    /// The case's result once it is decided.
    fn judge(&self, cloud: &Cloud, now: u64) -> Option<CaseResult> {
        let run = self.current.as_ref()?;
        let case = run.case;
        let elapsed = now.saturating_sub(run.started);
        let mine = |s: &Seen| match s {
            Seen::Version { module, .. } | Seen::Step { module, .. } => *module == run.module,
            Seen::Pull | Seen::Block => true,
            Seen::Repeated => false,
        };
        let steps: Vec<(i64, &str)> = run
            .seen
            .iter()
            .filter_map(|(_, s)| match s {
                Seen::Step { module, step, desc } if *module == run.module => {
                    Some((*step, desc.as_str()))
                }
                _ => None,
            })
            .collect();
        let reacted = run.seen.iter().any(|(_, s)| mine(s));
        let blocks = run.seen.iter().any(|(_, s)| matches!(s, Seen::Block));
        let new_version = run.seen.iter().any(
            |(_, s)| matches!(s, Seen::Version { module, version } if *module == run.module && *version == run.version),
        );
        let verdict = cloud
            .job(&self.device)
            .filter(|j| j.target() == run.version)
            .map(|j| j.verdict);
        let failure = steps.iter().find(|(s, _)| *s < 0).copied();
        let goes_back = steps.windows(2).any(|w| w[1].0 >= 0 && w[1].0 < w[0].0);
        let hundreds = steps.iter().filter(|(s, _)| *s == 100).count();
        let timeout = elapsed >= self.options.case_timeout_ms;
        let silent = !reacted && elapsed >= self.options.reaction_ms;
        let result = |grade: Grade, observed: String| {
            Some(CaseResult {
                case,
                grade,
                expected: case.expected().to_owned(),
                observed,
                version: run.version.clone(),
                started_at_ms: run.started,
                ended_at_ms: now,
                evidence: self.evidence(run),
            })
        };
        let steps_text = || {
            let list: Vec<String> = steps.iter().map(|(s, _)| s.to_string()).collect();
            format!("steps [{}]", list.join(", "))
        };
        // A case still without its outcome: over when the device stays silent or time runs out.
        let give_up = |missing: &str| {
            if silent {
                return result(
                    Grade::Fail,
                    format!("no reaction within {} s", self.options.reaction_ms / 1000),
                );
            }
            if timeout {
                return result(
                    Grade::Fail,
                    format!(
                        "{missing} within {} s; {}",
                        self.options.case_timeout_ms / 1000,
                        steps_text()
                    ),
                );
            }
            None
        };
        if case == Case::Pull {
            let first_pull = run
                .seen
                .iter()
                .find(|(_, s)| matches!(s, Seen::Pull))
                .map(|(at, _)| *at);
            match first_pull {
                None if elapsed >= self.options.reaction_ms => {
                    return result(
                        Grade::NotApplicable,
                        format!(
                            "the device did not pull (T4) within {} s",
                            self.options.reaction_ms / 1000
                        ),
                    );
                }
                None => return None,
                Some(at)
                    if steps.is_empty() && now.saturating_sub(at) >= self.options.reaction_ms =>
                {
                    return result(
                        Grade::Fail,
                        format!(
                            "its pull was answered with {} at +{:.1} s; no progress within {} s",
                            run.version,
                            at.saturating_sub(run.started) as f64 / 1000.0,
                            self.options.reaction_ms / 1000
                        ),
                    );
                }
                Some(_) => {}
            }
        }
        if case == Case::Mqtt && !blocks && (silent || failure.is_some() || timeout) {
            return result(
                Grade::NotApplicable,
                match failure {
                    Some((code, desc)) => {
                        format!("no block asked for; the device reported {code} {desc}")
                    }
                    None => "the device asked for no block over MQTT (no MQTT download)".to_owned(),
                },
            );
        }
        if case.expects_success() {
            if let Some((code, desc)) = failure {
                return result(
                    Grade::Fail,
                    format!("reported {code} {desc:?}; {}", steps_text()),
                );
            }
            if verdict == Some(Verdict::Failed) {
                let back = self.versions.get(&run.module).cloned().unwrap_or_default();
                return result(
                    Grade::Fail,
                    format!(
                        "reported 100, then came back on {back}, not {}; {}",
                        run.version,
                        steps_text()
                    ),
                );
            }
            if verdict == Some(Verdict::Succeeded) && new_version {
                if case == Case::Repeat && (goes_back || hundreds > 1) {
                    return result(
                        Grade::Fail,
                        format!("upgraded twice for one notice sent twice; {}", steps_text()),
                    );
                }
                if goes_back && case == Case::FlakyUrl {
                    return result(
                        Grade::Degraded,
                        format!(
                            "succeeded, but restarted the download from zero; {}",
                            steps_text()
                        ),
                    );
                }
                if goes_back {
                    return result(
                        Grade::Fail,
                        format!("succeeded, but its steps went back; {}", steps_text()),
                    );
                }
                return result(
                    Grade::Pass,
                    format!("reported {} after {}", run.version, steps_text()),
                );
            }
            return give_up("not upgraded");
        }
        // Cases that expect a failure code and the old version kept.
        let allowed: &[i64] = match case {
            Case::BadDigest => &[-3],
            Case::WrongSize => &[-3, -2],
            _ => &[-2],
        };
        if new_version || verdict == Some(Verdict::Succeeded) {
            return result(
                Grade::Fail,
                format!(
                    "installed the package and reported {}; {}",
                    run.version,
                    steps_text()
                ),
            );
        }
        if let Some((code, desc)) = failure {
            if !allowed.contains(&code) {
                return result(
                    Grade::Fail,
                    format!(
                        "reported {code} {desc:?}, not {allowed:?}; {}",
                        steps_text()
                    ),
                );
            }
            let settled = run
                .failed_at
                .is_some_and(|t| now.saturating_sub(t) >= self.options.settle_ms);
            if settled {
                let kept = self.versions.get(&run.module).cloned().unwrap_or_default();
                return result(
                    Grade::Pass,
                    format!("reported {code} {desc:?} and kept {kept}"),
                );
            }
            return None;
        }
        if hundreds > 0 && timeout {
            return result(
                Grade::Fail,
                format!(
                    "reported 100 for a package it should refuse; {}",
                    steps_text()
                ),
            );
        }
        give_up("no failure code")
    }

    /// The case's messages as lines: `+1.234 s T3 -3 "md5 mismatch"` (at most 60).
    fn evidence(&self, run: &Running) -> Vec<String> {
        let mut lines = vec![format!(
            "+0.000 s {} {} ({})",
            if run.case == Case::Pull {
                "waiting for a pull (T4) to answer with"
            } else {
                "pushed"
            },
            run.version,
            run.case.kind().key()
        )];
        for (at, seen) in &run.seen {
            let t = at.saturating_sub(run.started) as f64 / 1000.0;
            let line = match seen {
                Seen::Version { module, version } => format!("+{t:.3} s T1 {module} {version}"),
                Seen::Step { module, step, desc } => {
                    format!("+{t:.3} s T3 {module} {step} {desc:?}")
                }
                Seen::Pull => format!("+{t:.3} s T4 pull"),
                Seen::Block => format!("+{t:.3} s T6 block request"),
                Seen::Repeated => format!("+{t:.3} s the same notice sent again"),
            };
            lines.push(line);
        }
        if lines.len() > 60 {
            let tail = lines.split_off(lines.len() - 20);
            lines.truncate(40);
            lines.push("…".to_owned());
            lines.extend(tail);
        }
        lines
    }
}
