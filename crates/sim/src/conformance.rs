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
//! | `repeat` | the same notice again while the (slowed) download is provably in flight: one download, one upgrade (steps never restart, one 100, nothing downloaded after the new version) |
//! | `second_module` | a module other than `default` the device reported: it upgrades that module; none reported is not applicable |
//! | `mqtt` | the package over MQTT: it asks for blocks and upgrades; no block request is not applicable |
//! | `mqtt_bad_crc` | over MQTT, one block with a corrupted CRC: asked for again, then success |
//! | `mqtt_wrong_offset` | over MQTT, one reply for another offset: ignored, asked for again, then success |
//! | `mqtt_drop_reply` | over MQTT, one reply never sent: asked for again after a timeout, then success |
//! | `mqtt_error_reply` | over MQTT, an error frame (code 500): -4 (Link SDK C) or -2, the old version kept |
//! | `retry` | (`jobs`) a wrong digest fails with -3; once settled, the same version pushed again, correct, as a retry policy does: it is taken |
//! | `ignored_notice` | (`jobs`) a notice the device does not react to is pushed again every quarter of the reaction time, at most [`IGNORED_REPUSHES`] times: it must eventually take it (step 0, the new version); taking the first at once is not applicable |
//! | `report_after_reboot` | (`jobs`) after flashing, the new version on T1 within 2 s of the device coming back online (seen from the platform's status messages); no reconnection seen is not applicable |
//!
//! Cases never see each other's traffic: after a case is judged its job is ended in the cloud
//! (late reports change nothing, a pull is answered afresh), and the next case starts only once
//! the device has been silent for [`SuiteOptions::quiet_ms`]. What still arrives after a case
//! was judged is added to that case's evidence, marked as late; a late version report of an
//! earlier case's version during a later case is shown as such and not counted. Evidence is
//! bounded: repeated messages are one line with a count, lines are cut at
//! [`LINE_LIMIT`] characters and a case keeps at most [`EVIDENCE_LIMIT`] lines.

use std::collections::BTreeMap;

use otalab_protocol::{Module, Progress, SignMethod, Step, Topic, TopicKind, VersionReport};
use serde::{Deserialize, Serialize};

use crate::cloud::{Cloud, DeviceKey, NoticeKind, Outgoing, Package, Qos, reply_topic};
use crate::model::{Verdict, iso_time};

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
    /// Over MQTT, one block with a corrupted CRC.
    MqttBadCrc,
    /// Over MQTT, one reply for another offset.
    MqttWrongOffset,
    /// Over MQTT, one reply dropped.
    MqttDropReply,
    /// Over MQTT, answered with an error frame.
    MqttErrorReply,
    /// A first notice that fails verification (a wrong digest: -3), then the notice again,
    /// correct, as the platform's retry policy pushes it: the device must take it and upgrade.
    /// Catches devices that keep the digest state of a failed update (a known Link SDK C bug)
    /// or stay failed until rebooted. Part of the upgrade-job model (the `jobs` feature).
    #[cfg(feature = "jobs")]
    Retry,
    /// A correct notice; while the device does not react (no progress report, no block
    /// request), the same notice again every quarter of the reaction time, at most
    /// [`IGNORED_REPUSHES`] times, as the platform pushes an ignored notice again: the device
    /// must eventually take it (step 0, then the new version). A device that takes the first
    /// notice at once ignored nothing: not applicable. Part of the upgrade-job model (the
    /// `jobs` feature).
    #[cfg(feature = "jobs")]
    IgnoredNotice,
    /// A correct notice: after flashing, the device must report the new version within
    /// [`REPORT_AFTER_REBOOT_MS`] of coming back online, as the platform expects (seen from the
    /// platform's device status messages, `/as/mqtt/status/{pk}/{dn}`); a device that does
    /// not reconnect, or a broker without status messages, makes it not applicable. Part of the
    /// upgrade-job model (the `jobs` feature).
    #[cfg(feature = "jobs")]
    ReportAfterReboot,
}

/// How soon after coming back online the `report_after_reboot` case wants the new version
/// (ms): "within about 2 s", the platform's rule.
#[cfg(feature = "jobs")]
pub const REPORT_AFTER_REBOOT_MS: u64 = 2_000;

/// How many times the `ignored_notice` case pushes an ignored notice again.
#[cfg(feature = "jobs")]
pub const IGNORED_REPUSHES: u32 = 3;

impl Case {
    /// Every case, in the order the suite runs them.
    pub const ALL: &'static [Case] = &[
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
        Case::MqttBadCrc,
        Case::MqttWrongOffset,
        Case::MqttDropReply,
        Case::MqttErrorReply,
        #[cfg(feature = "jobs")]
        Case::Retry,
        #[cfg(feature = "jobs")]
        Case::IgnoredNotice,
        #[cfg(feature = "jobs")]
        Case::ReportAfterReboot,
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
            Case::MqttBadCrc => "mqtt_bad_crc",
            Case::MqttWrongOffset => "mqtt_wrong_offset",
            Case::MqttDropReply => "mqtt_drop_reply",
            Case::MqttErrorReply => "mqtt_error_reply",
            #[cfg(feature = "jobs")]
            Case::Retry => "retry",
            #[cfg(feature = "jobs")]
            Case::IgnoredNotice => "ignored_notice",
            #[cfg(feature = "jobs")]
            Case::ReportAfterReboot => "report_after_reboot",
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
            Case::Repeat => {
                "one download and one upgrade, although the notice came again mid-download"
            }
            Case::SecondModule => "the second module upgraded (T3 and T1 with its module)",
            Case::Mqtt => "blocks asked for over MQTT, then success",
            Case::MqttBadCrc => "the block with a bad CRC asked for again, then success",
            Case::MqttWrongOffset => {
                "the reply for another offset ignored, the block asked for again, then success"
            }
            Case::MqttDropReply => {
                "the dropped block asked for again after a timeout, then success"
            }
            Case::MqttErrorReply => {
                "-4 (as Link SDK C) or -2 after an error frame, and the old version kept"
            }
            #[cfg(feature = "jobs")]
            Case::Retry => {
                "-3 for the first notice (a wrong digest), then the retried correct notice taken: the new version reported on T1"
            }
            #[cfg(feature = "jobs")]
            Case::IgnoredNotice => {
                "a notice the device ignores pushed again until it reacts: eventually step 0, then the new version on T1"
            }
            #[cfg(feature = "jobs")]
            Case::ReportAfterReboot => {
                "after flashing, the new version on T1 within 2 s of the device coming back online"
            }
        }
    }

    /// The notice kind the case pushes.
    fn kind(self) -> NoticeKind {
        match self {
            Case::BadDigest => NoticeKind::BadDigest,
            #[cfg(feature = "jobs")]
            Case::Retry => NoticeKind::BadDigest,
            Case::WrongSize => NoticeKind::WrongSize,
            Case::ExpiredUrl => NoticeKind::Expired,
            Case::MissingUrl => NoticeKind::Missing,
            Case::FlakyUrl => NoticeKind::Flaky,
            Case::Repeat => NoticeKind::Slow,
            Case::Mqtt => NoticeKind::Mqtt,
            Case::MqttBadCrc => NoticeKind::MqttBadCrc,
            Case::MqttWrongOffset => NoticeKind::MqttWrongOffset,
            Case::MqttDropReply => NoticeKind::MqttDropReply,
            Case::MqttErrorReply => NoticeKind::MqttErrorReply,
            _ => NoticeKind::Correct,
        }
    }

    /// True when the case expects the device to upgrade.
    fn expects_success(self) -> bool {
        !matches!(
            self,
            Case::BadDigest
                | Case::WrongSize
                | Case::ExpiredUrl
                | Case::MissingUrl
                | Case::MqttErrorReply
        )
    }

    /// The failure codes a case that expects a failure accepts.
    fn allowed_failures(self) -> &'static [i64] {
        match self {
            Case::BadDigest => &[-3],
            Case::WrongSize => &[-3, -2],
            Case::MqttErrorReply => &[-4, -2],
            _ => &[-2],
        }
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
            crate::model::xml(&name),
            self.cases.len(),
            crate::model::xml(&self.started_at),
        );
        for c in &self.cases {
            let time = c.ended_at_ms.saturating_sub(c.started_at_ms) as f64 / 1000.0;
            x.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{time:.3}\">",
                crate::model::xml(&name),
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
                    crate::model::xml(&c.observed),
                    crate::model::xml(&detail)
                )),
                Grade::NotApplicable => x.push_str(&format!(
                    "<skipped message=\"{}\"/>",
                    crate::model::xml(&c.observed)
                )),
                Grade::Degraded => x.push_str(&format!(
                    "<system-out>degraded: {}</system-out>",
                    crate::model::xml(&detail)
                )),
                Grade::Pass => {}
            }
            x.push_str("</testcase>\n");
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        x
    }
}

/// Time limits of the suite (a limit left out when read is its default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
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
    /// How long the device must have been silent before the next case starts (ms); it starts
    /// anyway after `reaction_ms`, and its evidence says so.
    #[serde(default = "default_quiet_ms")]
    pub quiet_ms: u64,
}

fn default_quiet_ms() -> u64 {
    2_000
}

/// The longest evidence line (characters); longer ones are cut with a note.
pub const LINE_LIMIT: usize = 300;

/// The most evidence lines a case keeps (the first ones and the last ones).
pub const EVIDENCE_LIMIT: usize = 60;

impl Default for SuiteOptions {
    fn default() -> Self {
        Self {
            case_timeout_ms: 120_000,
            reaction_ms: 20_000,
            settle_ms: 3_000,
            gap_ms: 1_000,
            quiet_ms: default_quiet_ms(),
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
        step: Step,
        desc: String,
    },
    Pull,
    Block,
    /// The suite sent the notice again.
    Repeated,
    /// The suite retried the failed notice with a correct one (the `retry` case).
    #[cfg(feature = "jobs")]
    Retried,
    /// The notice pushed again because the device had not reacted (the `ignored_notice`
    /// case): the how-manieth push.
    #[cfg(feature = "jobs")]
    Repushed(u32),
    /// The platform's status message: the device came online (`true`) or went offline.
    #[cfg(feature = "jobs")]
    Status(bool),
    /// The cloud answered a pull (T5), as sent.
    Answered(String),
    /// A version report of an earlier case's version (not counted for this case).
    LateVersion {
        module: String,
        version: String,
        case: Case,
    },
    /// The case started before the device fell silent.
    StillTalking {
        last_ms: u64,
    },
}

/// What happened in a suite run, for the driver to show (see [`Suite::poll_event`]).
#[derive(Debug, Clone, PartialEq)]
pub enum SuiteEvent {
    /// The device's version is known: the cases can start.
    DeviceVersion {
        /// The version it runs (default module).
        version: String,
    },
    /// The device reported no version before the wait ended; nothing more follows.
    NoVersion {
        /// How long the suite waited (ms).
        waited_ms: u64,
    },
    /// A case started.
    CaseStarted(Case),
    /// A case was judged.
    CaseJudged(CaseResult),
    /// Every case was judged: the report card.
    Finished(Box<ConformanceReport>),
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
    /// The pull answers already in the evidence (the time of the last one).
    answered_at: Option<u64>,
    /// When the `retry` case pushed its second, correct notice.
    #[cfg(feature = "jobs")]
    retried_at: Option<u64>,
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
    /// When the device last sent anything.
    last_heard: u64,
    /// When the last case ended (late traffic is added to its evidence).
    ended_at: u64,
    /// Messages that arrived after the last case was judged.
    late: Vec<(u64, Seen)>,
    /// How many of them are in its evidence already.
    late_filed: usize,
    /// The last case's evidence as judged (before late messages were added).
    late_base: Vec<String>,
    /// The version each case pushed, for telling late reports apart.
    pushed: Vec<(String, String, Case)>,
    /// Until when to wait for the device's first version (see [`Suite::wait_for_version`]).
    waiting_until: Option<u64>,
    /// Messages to publish, for [`Suite::poll_transmit`].
    transmit: std::collections::VecDeque<Outgoing>,
    /// What happened, for [`Suite::poll_event`].
    events: std::collections::VecDeque<SuiteEvent>,
    /// The suite finished (or gave up) and said so.
    over: bool,
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
            last_heard: 0,
            ended_at: now,
            late: Vec::new(),
            late_filed: 0,
            late_base: Vec::new(),
            pushed: Vec::new(),
            waiting_until: None,
            transmit: std::collections::VecDeque::new(),
            events: std::collections::VecDeque::new(),
            over: false,
        }
    }

    /// Starts no case before the device's version is known: from what the cloud heard (a T1
    /// before the suite started) or a T1 it sees; gives up at `until` ([`SuiteEvent::NoVersion`]).
    pub fn wait_for_version(&mut self, until: u64) {
        self.waiting_until = Some(until);
    }

    /// Time passed (call it at [`poll_timeout`](Self::poll_timeout)): the suite starts the next
    /// case, pushes, repeats and judges; what to publish waits in
    /// [`poll_transmit`](Self::poll_transmit), what happened in [`poll_event`](Self::poll_event).
    pub fn handle_timeout(&mut self, cloud: &mut Cloud, now: u64) {
        if self.over {
            return;
        }
        if let Some(until) = self.waiting_until {
            let known = self
                .versions
                .get(Module::DEFAULT)
                .cloned()
                .or_else(|| cloud.reported_version(&self.device).map(str::to_owned));
            match known {
                Some(version) => {
                    self.knows_version(Module::DEFAULT, &version);
                    self.waiting_until = None;
                    self.events.push_back(SuiteEvent::DeviceVersion { version });
                }
                None if now >= until => {
                    self.over = true;
                    self.events.push_back(SuiteEvent::NoVersion {
                        waited_ms: now.saturating_sub(self.started_at_ms),
                    });
                    return;
                }
                None => return,
            }
        }
        let before = (self.current(), self.results.len());
        let out = self.step(cloud, now);
        self.transmit.extend(out);
        let judged: Vec<CaseResult> = self.results[before.1..].to_vec();
        self.events
            .extend(judged.into_iter().map(SuiteEvent::CaseJudged));
        if let Some(case) = self.current()
            && before.0 != Some(case)
        {
            self.events.push_back(SuiteEvent::CaseStarted(case));
        }
        if self.is_done() {
            self.over = true;
            self.events
                .push_back(SuiteEvent::Finished(Box::new(self.report())));
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due (`None` once the suite is over).
    pub fn poll_timeout(&self, now: u64) -> Option<u64> {
        (!self.over).then_some(now + 100)
    }

    /// The next message to publish.
    pub fn poll_transmit(&mut self) -> Option<Outgoing> {
        self.transmit.pop_front()
    }

    /// The next thing that happened.
    pub fn poll_event(&mut self) -> Option<SuiteEvent> {
        self.events.pop_front()
    }

    /// The topics a driver subscribes to for the suite: the cloud's, of the device under test
    /// only (so suites share a broker), and (with upgrade jobs) the platform's status topic of
    /// the device ([`crate::model::status_topic`]), which `report_after_reboot` needs.
    pub fn subscriptions(&self) -> Vec<String> {
        #[cfg_attr(not(feature = "jobs"), allow(unused_mut))]
        let mut filters = Cloud::subscriptions(Some(&self.device));
        #[cfg(feature = "jobs")]
        filters.push(crate::model::status_topic(&self.device));
        filters
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

    /// A message for the cloud while the suite runs: the suite sees it first (and decides what
    /// pulls are answered with), then the cloud answers it. Every driver (the runner, the page,
    /// the in-memory world) hands the cloud's messages over through here.
    pub fn handle_message(
        &mut self,
        cloud: &mut Cloud,
        topic: &str,
        payload: &[u8],
        now: u64,
    ) -> Vec<Outgoing> {
        self.observe(topic, payload, now);
        let pull = self.pull_package();
        if cloud.pull_package() != pull.as_ref() {
            cloud.set_pull_package(pull);
        }
        cloud.message(topic, payload, now)
    }

    /// A message the device published (any topic; others' messages are ignored).
    pub fn observe(&mut self, topic: &str, payload: &[u8], now: u64) {
        // The platform's status messages: when the device came back online after a reboot.
        #[cfg(feature = "jobs")]
        if let Some(device) = crate::model::status_device(topic) {
            if device == self.device
                && let (Some(online), Some(run)) =
                    (crate::model::status_online(payload), &mut self.current)
            {
                run.seen.push((now, Seen::Status(online)));
            }
            return;
        }
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
                    step: p.step,
                    desc: p.desc.clone(),
                },
                Err(_) => return,
            },
            TopicKind::FirmwareGet => Seen::Pull,
            TopicKind::FileDownload => Seen::Block,
            _ => return,
        };
        // An idle device's pulls are background traffic, not an earlier case's leftovers.
        let background = matches!(seen, Seen::Pull);
        if !background {
            self.last_heard = now;
        }
        let Some(run) = &mut self.current else {
            // Between cases: the last case's leftovers, shown with it.
            if !background {
                self.late.push((now, seen));
            }
            return;
        };
        // A report of the version an earlier case pushed is that case's, not this one's.
        let seen = match seen {
            Seen::Version { module, version }
                if version != run.version
                    && !run.seen.iter().any(|(_, s)| matches!(s, Seen::Step { .. })) =>
            {
                match self
                    .pushed
                    .iter()
                    .rev()
                    .find(|(m, v, _)| *m == module && *v == version)
                {
                    Some((_, _, case)) => Seen::LateVersion {
                        module,
                        version,
                        case: *case,
                    },
                    None => Seen::Version { module, version },
                }
            }
            other => other,
        };
        if run.failed_at.is_none()
            && matches!(
                seen,
                Seen::Step {
                    step: Step::Failed(_),
                    ..
                }
            )
        {
            run.failed_at = Some(now);
        }
        run.seen.push((now, seen));
    }

    /// Advances the suite at `now`: starts the next case, pushes, repeats, judges. Returns
    /// what to publish.
    pub fn step(&mut self, cloud: &mut Cloud, now: u64) -> Vec<Outgoing> {
        if self.current.is_none() {
            self.file_late();
            if now < self.next_at || self.queue.is_empty() {
                return Vec::new();
            }
            // The next case waits for silence (at most `reaction_ms`).
            let quiet = now.saturating_sub(self.last_heard) >= self.options.quiet_ms;
            let waited = now.saturating_sub(self.ended_at)
                >= self.options.reaction_ms.max(self.options.gap_ms);
            if !quiet && !waited {
                return Vec::new();
            }
            let Some(case) = self.queue.pop() else {
                return Vec::new();
            };
            let out = self.start(case, cloud, now);
            if !quiet && let Some(run) = &mut self.current {
                let last_ms = now.saturating_sub(self.last_heard);
                run.seen.push((now, Seen::StillTalking { last_ms }));
            }
            return out;
        }
        let mut out = Vec::new();
        let device = self.device.clone();
        #[cfg(feature = "jobs")]
        let settle_ms = self.options.settle_ms;
        #[cfg(feature = "jobs")]
        let package = self.package.clone();
        #[cfg(feature = "jobs")]
        let reaction_ms = self.options.reaction_ms;
        if let Some(run) = &mut self.current {
            // The retry: once the first (wrong) notice failed and the device settled, the same
            // version again with a correct notice, as the platform's retry policy pushes it.
            #[cfg(feature = "jobs")]
            if run.case == Case::Retry
                && !run.repeated
                && run
                    .failed_at
                    .is_some_and(|t| now.saturating_sub(t) >= settle_ms)
                && let Ok(o) = cloud.push_module(
                    std::slice::from_ref(&device),
                    &Package {
                        version: run.version.clone(),
                        ..package
                    },
                    NoticeKind::Correct,
                    SignMethod::Md5,
                    &Module::parse(&run.module).unwrap_or_default(),
                    now,
                )
            {
                run.repeated = true;
                run.retried_at = Some(now);
                out.extend(o);
                run.seen.push((now, Seen::Retried));
            }
            // The ignored notice: pushed again every quarter of the reaction time while the
            // device neither reported progress nor asked for a block.
            #[cfg(feature = "jobs")]
            if run.case == Case::IgnoredNotice {
                let reacted = run.seen.iter().any(|(_, s)| {
                    matches!(s, Seen::Block)
                        || matches!(s, Seen::Step { module, .. } if *module == run.module)
                });
                let pushes = run
                    .seen
                    .iter()
                    .filter(|(_, s)| matches!(s, Seen::Repushed(_)))
                    .count() as u64;
                let due = run.started + (pushes + 1) * repush_interval(reaction_ms);
                if !reacted
                    && pushes < u64::from(IGNORED_REPUSHES)
                    && now >= due
                    && let Some(job) = cloud.job(&device)
                {
                    out.push(Outgoing {
                        topic: reply_topic(TopicKind::Upgrade, &device),
                        payload: job.notice.encode().into_bytes(),
                        qos: Qos::AtLeastOnce,
                    });
                    run.seen.push((now, Seen::Repushed(pushes as u32 + 2)));
                }
            }
            // What the cloud answered the pull with, as it was sent.
            if let Some(answer) = cloud
                .last_pull(&device)
                .filter(|a| a.at_ms >= run.started && Some(a.at_ms) != run.answered_at)
            {
                run.answered_at = Some(answer.at_ms);
                run.seen
                    .push((answer.at_ms, Seen::Answered(answer.to_string())));
            }
            // The same notice again, while the download is provably in flight (a step between
            // 0 and 100 arrived, and the slowed download is not finished).
            let in_flight = run.seen.iter().any(
                |(_, s)| matches!(s, Seen::Step { module, step: Step::Percent(p), .. } if *module == run.module && (1..100).contains(p)),
            );
            let ended = run.seen.iter().any(|(_, s)| {
                matches!(s, Seen::Step { module, step, .. } if *module == run.module && matches!(step, Step::Percent(100) | Step::Failed(_)))
            });
            if run.case == Case::Repeat
                && !run.repeated
                && in_flight
                && !ended
                && let Some(job) = cloud.job(&device)
            {
                run.repeated = true;
                out.push(Outgoing {
                    topic: reply_topic(TopicKind::Upgrade, &device),
                    payload: job.notice.encode().into_bytes(),
                    qos: Qos::AtLeastOnce,
                });
                run.seen.push((now, Seen::Repeated));
            }
        }
        if let Some(result) = self.judge(cloud, now) {
            self.late.clear();
            self.late_filed = 0;
            self.late_base = result.evidence.clone();
            self.results.push(result);
            self.current = None;
            self.next_at = now + self.options.gap_ms;
            self.ended_at = now;
            // The case's job is over: late reports change nothing, pulls are answered afresh.
            cloud.end_job(&device);
        }
        out
    }

    /// Adds what arrived after the last case was judged to its evidence, marked as late.
    fn file_late(&mut self) {
        if self.late.len() == self.late_filed {
            return;
        }
        self.late_filed = self.late.len();
        let ended = self.ended_at;
        if let Some(last) = self.results.last_mut() {
            let lines = self.late.iter().map(|(at, seen)| {
                let t = at.saturating_sub(ended) as f64 / 1000.0;
                (
                    format!("+{t:.3} s"),
                    format!("after the verdict (late): {}", seen_text(seen)),
                )
            });
            let mut evidence = self.late_base.clone();
            evidence.extend(compress(lines));
            last.evidence = bound(evidence);
        }
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
        let no_mqtt = self
            .results
            .iter()
            .find(|r| r.case == Case::Mqtt && r.grade == Grade::NotApplicable);
        if case != Case::Mqtt
            && case.kind().over_mqtt()
            && let Some(mqtt) = no_mqtt
        {
            let evidence = vec![format!("mqtt: {}", mqtt.observed)];
            self.not_applicable(
                case,
                "the device does not download over MQTT (see the mqtt case)".to_owned(),
                String::new(),
                evidence,
                now,
            );
            return Vec::new();
        }
        let module = if case == Case::SecondModule {
            match self.versions.keys().find(|m| m.as_str() != Module::DEFAULT) {
                Some(m) => m.clone(),
                None => {
                    let evidence = self
                        .versions
                        .iter()
                        .map(|(m, v)| format!("T1 reported {m} {v}"))
                        .collect();
                    self.not_applicable(
                        case,
                        "the device reported no module other than default".to_owned(),
                        String::new(),
                        evidence,
                        now,
                    );
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
            answered_at: None,
            #[cfg(feature = "jobs")]
            retried_at: None,
        };
        self.pushed.push((module.clone(), version.clone(), case));
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
                    self.not_applicable(
                        case,
                        format!("the cloud could not push it: {}: {e}", e.code()),
                        run.version,
                        vec![format!("push refused: {}", e.code())],
                        now,
                    );
                    return Vec::new();
                }
            }
        }
        self.current = Some(run);
        out
    }

    /// Ends `case` as not applicable before it started (nothing was sent for it).
    fn not_applicable(
        &mut self,
        case: Case,
        observed: String,
        version: String,
        evidence: Vec<String>,
        now: u64,
    ) {
        self.results.push(CaseResult {
            case,
            grade: Grade::NotApplicable,
            expected: case.expected().to_owned(),
            observed,
            version,
            started_at_ms: now,
            ended_at_ms: now,
            evidence,
        });
    }

    /// The case's result once it is decided.
    fn judge(&self, cloud: &Cloud, now: u64) -> Option<CaseResult> {
        let result = self.judge_case(cloud, now)?;
        #[cfg(feature = "jobs")]
        if let Some(run) = self
            .current
            .as_ref()
            .filter(|r| r.case == Case::IgnoredNotice)
        {
            return Some(ignored_notice_grade(run, result));
        }
        #[cfg(feature = "jobs")]
        if let Some(run) = self
            .current
            .as_ref()
            .filter(|r| r.case == Case::ReportAfterReboot)
        {
            return report_after_reboot_grade(run, result, now);
        }
        Some(result)
    }

    /// [`judge`](Self::judge) before the `ignored_notice` case's grade is told apart.
    fn judge_case(&self, cloud: &Cloud, now: u64) -> Option<CaseResult> {
        let run = self.current.as_ref()?;
        let case = run.case;
        let elapsed = now.saturating_sub(run.started);
        let mine = |s: &Seen| match s {
            Seen::Version { module, .. } | Seen::Step { module, .. } => *module == run.module,
            Seen::Pull | Seen::Block => true,
            Seen::Repeated
            | Seen::Answered(_)
            | Seen::LateVersion { .. }
            | Seen::StillTalking { .. } => false,
            #[cfg(feature = "jobs")]
            Seen::Retried | Seen::Repushed(_) | Seen::Status(_) => false,
        };
        let steps: Vec<(i64, &str)> = run
            .seen
            .iter()
            .filter_map(|(_, s)| match s {
                Seen::Step { module, step, desc } if *module == run.module => {
                    Some((step.value(), desc.as_str()))
                }
                _ => None,
            })
            .collect();
        let reacted = run.seen.iter().any(|(_, s)| mine(s));
        let blocks = run.seen.iter().any(|(_, s)| matches!(s, Seen::Block));
        let new_version_at = run.seen.iter().find_map(
            |(at, s)| matches!(s, Seen::Version { module, version } if *module == run.module && *version == run.version).then_some(*at),
        );
        let new_version = new_version_at.is_some();
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
                observed: cut(&observed),
                version: run.version.clone(),
                started_at_ms: run.started,
                ended_at_ms: now,
                evidence: self.evidence(run),
            })
        };
        let steps_text = || steps_list(steps.iter().map(|(s, _)| *s));
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
                    // Quoted as sent: the cloud's own record of its answer.
                    let answer = run
                        .seen
                        .iter()
                        .rev()
                        .find_map(|(_, s)| match s {
                            Seen::Answered(a) => Some(a.as_str()),
                            _ => None,
                        })
                        .unwrap_or("nothing (no answer was sent)");
                    return result(
                        Grade::Fail,
                        format!(
                            "its pull at +{:.1} s was answered with {answer}; no progress within {} s",
                            at.saturating_sub(run.started) as f64 / 1000.0,
                            self.options.reaction_ms / 1000
                        ),
                    );
                }
                Some(_) => {}
            }
        }
        if case.kind().over_mqtt() && !blocks && (silent || failure.is_some() || timeout) {
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
        if case == Case::Repeat
            && !run.repeated
            && (new_version || steps.iter().any(|(s, _)| *s >= 100))
        {
            return result(
                Grade::NotApplicable,
                format!(
                    "no progress between 0 and 100 arrived during the slowed download, so the \
                     notice could not be sent again provably mid-download; {}",
                    steps_text()
                ),
            );
        }
        #[cfg(feature = "jobs")]
        if case == Case::IgnoredNotice && first_reaction(run).is_none() {
            let pushes = repushes(run);
            let last = run.started
                + u64::from(IGNORED_REPUSHES) * repush_interval(self.options.reaction_ms);
            let over =
                pushes >= IGNORED_REPUSHES && now.saturating_sub(last) >= self.options.reaction_ms;
            if over || timeout {
                return result(
                    Grade::Fail,
                    format!(
                        "ignored the notice and the {pushes} pushes of it again over {:.1} s: no progress report, no block request",
                        elapsed as f64 / 1000.0
                    ),
                );
            }
            return None;
        }
        #[cfg(feature = "jobs")]
        if case == Case::Retry {
            let Some(retried_at) = run.retried_at else {
                // The first notice carries a wrong digest: it must fail with -3.
                if new_version || verdict == Some(Verdict::Succeeded) {
                    return result(
                        Grade::Fail,
                        format!(
                            "installed the first notice's package although its digest was wrong; {}",
                            steps_text()
                        ),
                    );
                }
                return match failure {
                    Some((code, desc)) if code != -3 => result(
                        Grade::Fail,
                        format!(
                            "reported {code} {desc:?} for a wrong digest, not -3; {}",
                            steps_text()
                        ),
                    ),
                    // Failed as it should: the retry follows once the device settled.
                    Some(_) => None,
                    None => give_up("no failure code for the first notice"),
                };
            };
            let after: Vec<(i64, &str)> = run
                .seen
                .iter()
                .filter(|(at, _)| *at >= retried_at)
                .filter_map(|(_, s)| match s {
                    Seen::Step { module, step, desc } if *module == run.module => {
                        Some((step.value(), desc.as_str()))
                    }
                    _ => None,
                })
                .collect();
            let after_text = || steps_list(after.iter().map(|(s, _)| *s));
            if let Some((code, desc)) = after.iter().find(|(s, _)| *s < 0) {
                return result(
                    Grade::Fail,
                    format!(
                        "the retried notice was correct, yet it reported {code} {desc:?} (state kept from the failed update?); {}",
                        after_text()
                    ),
                );
            }
            if verdict == Some(Verdict::Failed) {
                let back = self.versions.get(&run.module).cloned().unwrap_or_default();
                return result(
                    Grade::Fail,
                    format!(
                        "took the retry, then came back on {back}, not {}; {}",
                        run.version,
                        after_text()
                    ),
                );
            }
            if verdict == Some(Verdict::Succeeded) && new_version {
                return result(
                    Grade::Pass,
                    format!(
                        "-3 for the wrong digest, then {} after the retry: {}",
                        run.version,
                        after_text()
                    ),
                );
            }
            if after.is_empty() && now.saturating_sub(retried_at) >= self.options.reaction_ms {
                return result(
                    Grade::Fail,
                    format!(
                        "no reaction to the retried notice within {} s",
                        self.options.reaction_ms / 1000
                    ),
                );
            }
            return give_up("not upgraded after the retry");
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
                        format!(
                            "downloaded twice for one notice sent twice; {}",
                            steps_text()
                        ),
                    );
                }
                if case == Case::Repeat
                    && let Some(at) = new_version_at
                {
                    // A second download may follow the upgrade: watch for it a while.
                    let after: Vec<i64> = run
                        .seen
                        .iter()
                        .filter(|(t, _)| *t > at)
                        .filter_map(|(_, s)| match s {
                            Seen::Step { module, step, .. } if *module == run.module => {
                                Some(step.value())
                            }
                            _ => None,
                        })
                        .collect();
                    if !after.is_empty() {
                        return result(
                            Grade::Fail,
                            format!(
                                "reported {} and then downloaded again ({} after it); {}",
                                run.version,
                                steps_list(after.iter().copied()),
                                steps_text()
                            ),
                        );
                    }
                    if now.saturating_sub(at) < self.options.settle_ms {
                        return None;
                    }
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
        let allowed = case.allowed_failures();
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

    /// The case's messages as lines: `+1.234 s T3 default -3 "md5 mismatch"`; a run of the
    /// same message is one line with its count, and the whole is bounded ([`bound`]).
    fn evidence(&self, run: &Running) -> Vec<String> {
        let first = format!(
            "+0.000 s {} {} ({})",
            if run.case == Case::Pull {
                "waiting for a pull (T4) to answer with"
            } else {
                "pushed"
            },
            run.version,
            run.case.kind().key()
        );
        let lines = run.seen.iter().map(|(at, seen)| {
            let t = at.saturating_sub(run.started) as f64 / 1000.0;
            (format!("+{t:.3} s"), seen_text(seen))
        });
        let mut all = vec![first];
        all.extend(compress(lines));
        bound(all)
    }
}

/// How long the `ignored_notice` case waits for a reaction before it pushes again: a quarter
/// of the reaction time.
#[cfg(feature = "jobs")]
fn repush_interval(reaction_ms: u64) -> u64 {
    (reaction_ms / 4).max(1)
}

/// How many times the case's notice was pushed again.
#[cfg(feature = "jobs")]
fn repushes(run: &Running) -> u32 {
    run.seen
        .iter()
        .filter(|(_, s)| matches!(s, Seen::Repushed(_)))
        .count() as u32
}

/// When the device first reacted to the case's notice (progress or a block request).
#[cfg(feature = "jobs")]
fn first_reaction(run: &Running) -> Option<u64> {
    run.seen.iter().find_map(|(at, s)| {
        (matches!(s, Seen::Block)
            || matches!(s, Seen::Step { module, .. } if *module == run.module))
        .then_some(*at)
    })
}

/// The `ignored_notice` case's grade: judged as an upgrade, then a pass by a device that took
/// the first notice at once is not applicable (it ignored nothing), and the observation says
/// what it took in the end: a push again, or the answer to its own pull (Link SDK C's
/// `aiot_ota_query_firmware` asks again for a task it ignored).
#[cfg(feature = "jobs")]
fn ignored_notice_grade(run: &Running, mut result: CaseResult) -> CaseResult {
    let Some(at) = first_reaction(run) else {
        return result;
    };
    let before = |f: fn(&Seen) -> bool| run.seen.iter().filter(|(t, s)| *t <= at && f(s)).count();
    let pushes = before(|s| matches!(s, Seen::Repushed(_)));
    let answers = before(|s| matches!(s, Seen::Answered(_)));
    let when = at.saturating_sub(run.started) as f64 / 1000.0;
    if pushes == 0 && answers == 0 {
        if result.grade == Grade::Pass {
            result.grade = Grade::NotApplicable;
            result.observed = cut(&format!(
                "took the first notice at once (+{when:.1} s): nothing was ignored, so nothing was pushed again; {}",
                result.observed
            ));
        }
        return result;
    }
    let took = if answers > 0 {
        format!("the answer to its pull, after {pushes} push(es) again")
    } else {
        format!("push {} of it", pushes + 1)
    };
    result.observed = cut(&format!(
        "ignored the notice, reacted at +{when:.1} s to {took}; {}",
        result.observed
    ));
    result
}

/// The `report_after_reboot` case's grade: an upgrade that passed is judged on how long after
/// coming back online the new version came. The reconnection is the last `online` status
/// before the version report (or, as the status message and the report race each other, one
/// within a second after it: no wait at all; `None` while that second runs).
#[cfg(feature = "jobs")]
fn report_after_reboot_grade(
    run: &Running,
    mut result: CaseResult,
    now: u64,
) -> Option<CaseResult> {
    if result.grade != Grade::Pass {
        return Some(result);
    }
    let reported = run.seen.iter().find_map(|(at, s)| {
        matches!(s, Seen::Version { module, version } if *module == run.module && *version == run.version)
            .then_some(*at)
    });
    let Some(reported) = reported else {
        return Some(result);
    };
    let online = |(at, s): &(u64, Seen)| matches!(s, Seen::Status(true)).then_some(*at);
    let back = run
        .seen
        .iter()
        .filter_map(online)
        .rfind(|at| *at <= reported)
        .or_else(|| {
            run.seen
                .iter()
                .filter_map(online)
                .find(|at| *at <= reported + 1_000)
        });
    let Some(back) = back else {
        if now < reported + 1_000 {
            return None;
        }
        result.grade = Grade::NotApplicable;
        result.observed = cut(&format!(
            "no reconnection seen: no online status message (/as/mqtt/status) between the notice and the new version; the device did not reboot, or the broker sends no status messages; {}",
            result.observed
        ));
        return Some(result);
    };
    let after = reported.saturating_sub(back);
    let secs = after as f64 / 1000.0;
    if after > REPORT_AFTER_REBOOT_MS {
        result.grade = Grade::Fail;
        result.observed = cut(&format!(
            "reported {} {secs:.1} s after coming back online: the platform wants it within about {} s (the task waits in IN_PROGRESS until then, and may time out); {}",
            run.version,
            REPORT_AFTER_REBOOT_MS / 1000,
            result.observed
        ));
    } else {
        result.observed = cut(&format!(
            "reported {} {secs:.1} s after coming back online; {}",
            run.version, result.observed
        ));
    }
    Some(result)
}

/// One message as evidence text (without its time).
fn seen_text(seen: &Seen) -> String {
    match seen {
        Seen::Version { module, version } => format!("T1 {module} {version}"),
        Seen::Step { module, step, desc } => format!("T3 {module} {step} {desc:?}"),
        Seen::Pull => "T4 pull".to_owned(),
        Seen::Block => "T6 block request".to_owned(),
        Seen::Repeated => "the same notice sent again, mid-download".to_owned(),
        #[cfg(feature = "jobs")]
        Seen::Retried => "the notice sent again, correct (the platform's retry)".to_owned(),
        #[cfg(feature = "jobs")]
        Seen::Repushed(n) => format!("no reaction yet: the notice pushed again (push {n})"),
        #[cfg(feature = "jobs")]
        Seen::Status(true) => "online (the platform's status message)".to_owned(),
        #[cfg(feature = "jobs")]
        Seen::Status(false) => "offline (the platform's status message)".to_owned(),
        Seen::Answered(answer) => format!("T5 pull answered with {answer}"),
        Seen::LateVersion {
            module,
            version,
            case,
        } => format!(
            "T1 {module} {version}: the version the {} case pushed, a late report of it (not counted here)",
            case.name()
        ),
        Seen::StillTalking { last_ms } => format!(
            "started although the device was still sending (last message {:.1} s before)",
            *last_ms as f64 / 1000.0
        ),
    }
}

/// `12,345`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Lines of `(time, text)`, where a run of the same text becomes one line:
/// `+1.000 s … +30.000 s T3 default 0 "" × 33,422`.
fn compress(lines: impl Iterator<Item = (String, String)>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut run: Option<(String, String, String, usize)> = None; // first time, last time, text, count
    let flush = |out: &mut Vec<String>, run: Option<(String, String, String, usize)>| {
        if let Some((first, last, text, n)) = run {
            out.push(if n == 1 {
                cut(&format!("{first} {text}"))
            } else {
                cut(&format!("{first} … {last} {text} × {}", thousands(n)))
            });
        }
    };
    for (time, text) in lines {
        match &mut run {
            Some((_, last, same, n)) if *same == text => {
                *last = time;
                *n += 1;
            }
            _ => {
                let done = run.take();
                flush(&mut out, done);
                run = Some((time.clone(), time, text, 1));
            }
        }
    }
    flush(&mut out, run);
    out
}

/// At most [`EVIDENCE_LIMIT`] lines: the first 40 and the last 19, with a line saying how many
/// were left out between them.
fn bound(mut lines: Vec<String>) -> Vec<String> {
    if lines.len() <= EVIDENCE_LIMIT {
        return lines;
    }
    let tail = lines.split_off(lines.len() - (EVIDENCE_LIMIT - 41));
    let left_out = lines.len() - 40;
    lines.truncate(40);
    lines.push(format!("… {} more lines …", thousands(left_out)));
    lines.extend(tail);
    lines
}

/// `text` cut at [`LINE_LIMIT`] characters, saying how much was cut.
fn cut(text: &str) -> String {
    let count = text.chars().count();
    if count <= LINE_LIMIT {
        return text.to_owned();
    }
    let kept: String = text.chars().take(LINE_LIMIT).collect();
    format!(
        "{kept}… ({} more characters)",
        thousands(count - LINE_LIMIT)
    )
}

/// `steps [0, 10 × 3, 20, …]`: runs counted, at most 30 entries (the first 20 and the last 10).
fn steps_list(steps: impl Iterator<Item = i64>) -> String {
    let mut runs: Vec<(i64, usize)> = Vec::new();
    for step in steps {
        match runs.last_mut() {
            Some((s, n)) if *s == step => *n += 1,
            _ => runs.push((step, 1)),
        }
    }
    let text = |(s, n): &(i64, usize)| {
        if *n == 1 {
            s.to_string()
        } else {
            format!("{s} × {}", thousands(*n))
        }
    };
    let mut parts: Vec<String> = Vec::new();
    if runs.len() > 30 {
        parts.extend(runs[..20].iter().map(text));
        parts.push(format!("… {} more …", thousands(runs.len() - 30)));
        parts.extend(runs[runs.len() - 10..].iter().map(text));
    } else {
        parts.extend(runs.iter().map(text));
    }
    format!("steps [{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_is_compressed_and_bounded() {
        let lines = (0..33_422).map(|i| (format!("+{i} ms"), "T3 default 0 \"\"".to_owned()));
        let out = compress(lines.chain([("+9 s".to_owned(), "T1 default 1.0.1".to_owned())]));
        assert_eq!(
            out,
            vec![
                "+0 ms … +33421 ms T3 default 0 \"\" × 33,422".to_owned(),
                "+9 s T1 default 1.0.1".to_owned()
            ]
        );
        let long = cut(&"x".repeat(200_000));
        assert!(long.chars().count() < LINE_LIMIT + 40, "{}", long.len());
        assert!(long.ends_with("(199,700 more characters)"), "{long}");
        let many = bound((0..1000).map(|i| i.to_string()).collect());
        assert_eq!(many.len(), EVIDENCE_LIMIT);
        assert_eq!(many[40], "… 941 more lines …");
        assert_eq!(many.last().map(String::as_str), Some("999"));
        assert_eq!(
            steps_list([0, 0, 0, 10, 20, -2].into_iter()),
            "steps [0 × 3, 10, 20, -2]"
        );
        let alternating = steps_list((0..10_000).map(|i| i % 2));
        assert!(alternating.len() < 200, "{alternating}");
        assert!(alternating.contains("… 9,970 more …"), "{alternating}");
    }
}
