//! A scenario's run as a sans-IO machine, the one executor every driver uses (the native
//! runner over sockets, the in-memory runner on a virtual clock, the page): it resolves the
//! firmware, waits for the fleet to connect, carries out the cloud's actions on time, waits until
//! every job is final or quiet (or the time limit) and judges the report by the expectations.
//!
//! The shape is quinn-proto's: the driver feeds it what happened (`handle_*`, with the time),
//! and asks it what to do (`poll_transmit`: messages to publish; `poll_timeout`: when to call
//! [`handle_timeout`](ScenarioRun::handle_timeout) next; `poll_event`: what happened, ending with
//! [`RunEvent::Finished`] carrying the [`Report`]). The sandbox cloud is the driver's (the page
//! keeps one for manual pushes too) and is lent to the run at each call that needs it.
//!
//! ```
//! use otalab_sim::{Cloud, DeviceKey, Package, RunEvent, Scenario, ScenarioRun, Shard};
//!
//! let scenario = Scenario::parse(r#"
//!     name = "one"
//!     fleet = { product_key = "pk", names = "d{1..2}" }
//!     firmware.v2 = { url = "http://127.0.0.1:1/fw.bin", version = "2.0.0" }
//!     actions = [{ push = "v2" }]
//!     expect = { time_limit_ms = 1000, verdicts = { succeeded = 2 } }
//! "#).unwrap();
//! let fleet = vec![DeviceKey::new("pk", "d1"), DeviceKey::new("pk", "d2")];
//! let mut run = ScenarioRun::new(scenario, fleet, Shard::ALL);
//! for want in run.firmware(None).unwrap() {
//!     let package = Package::describe(&want.url, &want.version, b"firmware");
//!     run.handle_firmware(&want.key, package);
//! }
//! let mut cloud = Cloud::new(1);
//! run.start(0).unwrap();
//! run.handle_connected(2, 10);
//! run.handle_timeout(&mut cloud, 10);
//! assert_eq!(run.poll_transmit().map(|m| m.topic), Some("/ota/device/upgrade/pk/d1".into()));
//! // Nobody answers: at the time limit (or once the jobs are quiet) the run stops; the
//! // driver lets go of its devices, and the next handle_timeout (due at once) judges.
//! run.handle_timeout(&mut cloud, 1000);
//! let events: Vec<RunEvent> = std::iter::from_fn(|| run.poll_event()).collect();
//! assert!(matches!(events.last(), Some(RunEvent::Stop { timed_out: true })));
//! assert_eq!(run.poll_timeout(&cloud), Some(1000));
//! run.handle_timeout(&mut cloud, 1001);
//! let finished = std::iter::from_fn(|| run.poll_event()).find_map(|e| match e {
//!     RunEvent::Finished(report) => Some(report),
//!     _ => None,
//! });
//! let report = finished.unwrap();
//! assert_eq!((report.summary.total, report.summary.succeeded), (2, 0));
//! assert!(!report.passed());
//! ```

use std::collections::{BTreeMap, VecDeque};

use otalab_protocol::SignMethod;

use crate::cloud::{Cloud, CloudError, Outgoing};
use crate::device::Fault;
use crate::expect::ExpectationResult;
use crate::model::{DeviceKey, DeviceReport, NoticeKind, Package, Summary};
use crate::report::{Report, Timings};
use crate::scenario::{FleetDevice, Scenario, Shard};

/// How often a settling run looks at the jobs again (ms).
pub const CHECK_EVERY_MS: u64 = 100;

/// A firmware package the run needs, before it starts: the driver reads it once (size and
/// digests, and the bytes themselves when `stream`) and hands it over with
/// [`ScenarioRun::handle_firmware`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareWanted {
    /// Its key in the scenario's `[firmware]`.
    pub key: String,
    /// Where it is (`file` resolved against the sandbox's firmware base, or `url`).
    pub url: String,
    /// The version it installs.
    pub version: String,
    /// An action delivers it over MQTT: the cloud needs its bytes ([`Cloud::add_stream`]).
    pub stream: bool,
}

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunPhase {
    /// Firmware not handed over yet.
    Preparing,
    /// Waiting for every device of the shard to connect.
    Connecting,
    /// Carrying out the actions on time.
    Acting,
    /// Waiting until every job is final or quiet.
    Settling,
    /// Stopped; waiting for the devices' own reports (verdicts judged on the device side).
    Stopping,
    /// Finished (the report was given out).
    Done,
}

/// What happened, for the driver to show or act on.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// Every device of the shard connected, this long after the start.
    AllConnected {
        /// Milliseconds since [`ScenarioRun::start`].
        after_ms: u64,
    },
    /// An action pushed a package.
    Pushed {
        /// The action's index in the scenario.
        action: usize,
        /// The package.
        package: Package,
        /// The notice kind.
        kind: NoticeKind,
        /// How it was signed.
        method: SignMethod,
        /// The devices it went to.
        devices: Vec<DeviceKey>,
        /// When.
        at_ms: u64,
    },
    /// An action created an upgrade job (its notices go out as its policy allows).
    JobCreated {
        /// The action's index in the scenario.
        action: usize,
        /// The cloud's job id.
        job: u32,
        /// When.
        at_ms: u64,
    },
    /// The run stops: devices can be disconnected. With the sandbox cloud judging,
    /// [`Finished`](RunEvent::Finished) follows at the next
    /// [`ScenarioRun::handle_timeout`] ([`poll_timeout`](ScenarioRun::poll_timeout) says it
    /// is due at once), so a driver can let go of its devices before the report is built;
    /// otherwise after [`ScenarioRun::handle_device_reports`].
    Stop {
        /// The time limit ended it.
        timed_out: bool,
    },
    /// The judged report (timings without `peak_rss_kib`, which only the process knows).
    Finished(Box<Report>),
    /// The run cannot go on (an action the cloud refused); nothing more follows.
    Failed(RunError),
}

/// Why a run cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// A firmware entry names neither a file (with a sandbox) nor a URL.
    #[error("firmware.{key}: no file or url")]
    NoFirmwareSource {
        /// The firmware key.
        key: String,
    },
    /// The run was started before every package was handed over.
    #[error("firmware.{key}: not read yet")]
    FirmwareMissing {
        /// The firmware key.
        key: String,
    },
    /// The cloud refused an action's push.
    #[error("actions[{action}]: {source}")]
    Push {
        /// The action's index.
        action: usize,
        /// Why.
        source: CloudError,
    },
}

impl RunError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoFirmwareSource { .. } => "NO_FIRMWARE_SOURCE",
            Self::FirmwareMissing { .. } => "FIRMWARE_MISSING",
            Self::Push { source, .. } => source.code(),
        }
    }
}

/// Counts for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunProgress {
    /// Where the run is.
    pub phase: RunPhase,
    /// Devices of the shard connected at least once.
    pub connected: usize,
    /// Devices in the shard.
    pub total: usize,
    /// Verdict counts of the shard.
    pub summary: Summary,
    /// Milliseconds since the actions' time zero (0 before).
    pub elapsed_ms: u64,
}

/// One scenario run (one shard of the fleet), sans-IO. See the module docs.
#[derive(Debug)]
pub struct ScenarioRun {
    scenario: Scenario,
    fleet: Vec<DeviceKey>,
    mine: Vec<DeviceKey>,
    /// How many of `mine` are there from the start (the others join late).
    present: usize,
    /// The injected fault of each device of the shard that has one (for the report).
    faults: BTreeMap<DeviceKey, String>,
    shard: Shard,
    cloud_judges: bool,
    /// By firmware key (a scenario has a few: a `Vec`, one B-tree type less in wasm).
    packages: Vec<(String, Package)>,
    phase: RunPhase,
    started: u64,
    deadline: u64,
    t0: u64,
    next_action: usize,
    next_check: u64,
    connected: usize,
    device_final: usize,
    all_connected_ms: Option<u64>,
    timed_out: bool,
    stopped_at: u64,
    all_settled_ms: Option<u64>,
    transmit: VecDeque<Outgoing>,
    events: VecDeque<RunEvent>,
    /// What the run does to its jobs later (confirm, cancel, upgrade again), when and to which.
    job_steps: Vec<(u64, u32, JobStep)>,
}

/// An operator's call on a job that a scenario schedules.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "jobs"), allow(dead_code))]
enum JobStep {
    /// `ConfirmOTATask` of the job's `CONFIRM` tasks.
    Confirm,
    /// `CancelOTATaskByJob`.
    Cancel(crate::jobs::CancelTasks),
    /// `ReupgradeOTATask` of the job's `FAILED` and `CANCELED` tasks.
    Reupgrade,
}

impl ScenarioRun {
    /// A run of `scenario` for the `shard` of `fleet` (the whole fleet, in order: targets such
    /// as `{ first = 10 }` are counted in it).
    pub fn new(scenario: Scenario, fleet: Vec<DeviceKey>, shard: Shard) -> Self {
        let mine: Vec<DeviceKey> = fleet
            .iter()
            .enumerate()
            .filter(|(i, _)| shard.contains(*i))
            .map(|(_, k)| k.clone())
            .collect();
        // The late joiners (the end of the fleet) are not waited for before acting.
        let late = (0..fleet.len())
            .filter(|i| shard.contains(*i) && scenario.join_after_ms(*i, fleet.len()) > 0)
            .count();
        Self {
            present: mine.len() - late,
            cloud_judges: scenario.sandbox_cloud(),
            scenario,
            fleet,
            mine,
            faults: BTreeMap::new(),
            shard,
            packages: Vec::new(),
            phase: RunPhase::Preparing,
            started: 0,
            deadline: 0,
            t0: 0,
            next_action: 0,
            next_check: 0,
            connected: 0,
            device_final: 0,
            all_connected_ms: None,
            timed_out: false,
            stopped_at: 0,
            all_settled_ms: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            job_steps: Vec::new(),
        }
    }

    /// Names each device's injected fault in the report (from [`Scenario::fleet`], in fleet
    /// order, the same list the keys came from), as every driver does.
    pub fn set_faults(&mut self, fleet: &[FleetDevice]) {
        // Inserted one by one: collecting into a B-tree sorts first, and the sort is one more
        // generic copy in the wasm builds.
        self.faults.clear();
        for (i, d) in fleet.iter().enumerate() {
            if self.shard.contains(i) && d.fault != Fault::None {
                let key = DeviceKey::new(d.spec.product_key.clone(), d.spec.device_name.clone());
                self.faults.insert(key, d.fault.to_string());
            }
        }
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The devices of this shard, in fleet order.
    pub fn devices(&self) -> &[DeviceKey] {
        &self.mine
    }

    /// Whether the sandbox cloud judges (otherwise each device judges its own upgrade).
    pub fn cloud_judges(&self) -> bool {
        self.cloud_judges
    }

    /// Where the run is.
    pub fn phase(&self) -> RunPhase {
        self.phase
    }

    /// The packages to read before [`start`](Self::start): `file` entries resolve against
    /// `firmware_base` (the sandbox's, `None` without a sandbox).
    pub fn firmware(&self, firmware_base: Option<&str>) -> Result<Vec<FirmwareWanted>, RunError> {
        self.scenario
            .firmware
            .iter()
            .map(|(key, spec)| {
                let url = match (&spec.file, &spec.url, firmware_base) {
                    (Some(file), _, Some(base)) => format!("{base}{file}"),
                    (_, Some(url), _) => url.clone(),
                    _ => return Err(RunError::NoFirmwareSource { key: key.clone() }),
                };
                let stream = self.scenario.actions.iter().any(|a| {
                    &a.push == key
                        && (a.notice.over_mqtt()
                            || a.job.as_ref().is_some_and(|j| {
                                j.download == Some(crate::jobs::DownloadProtocol::Mqtt)
                            }))
                });
                Ok(FirmwareWanted {
                    key: key.clone(),
                    url,
                    version: spec.version.clone(),
                    stream,
                })
            })
            .collect()
    }

    /// A package read (see [`firmware`](Self::firmware)).
    pub fn handle_firmware(&mut self, key: &str, package: Package) {
        match self.packages.iter_mut().find(|(k, _)| k == key) {
            Some((_, old)) => *old = package,
            None => self.packages.push((key.to_owned(), package)),
        }
    }

    /// The packages handed over, with their firmware keys, in the order they came.
    pub fn packages(&self) -> &[(String, Package)] {
        &self.packages
    }

    /// Starts the clock: the time limit counts from `now`, and the run waits for the fleet.
    pub fn start(&mut self, now: u64) -> Result<(), RunError> {
        if let Some(key) = self
            .scenario
            .firmware
            .keys()
            .find(|k| !self.packages.iter().any(|(have, _)| have == *k))
        {
            return Err(RunError::FirmwareMissing { key: key.clone() });
        }
        self.started = now;
        self.deadline = now + self.scenario.expect.time_limit_ms;
        self.phase = RunPhase::Connecting;
        Ok(())
    }

    /// How many devices of the shard have connected at least once.
    pub fn handle_connected(&mut self, connected: usize, now: u64) {
        self.connected = connected;
        if !matches!(
            self.phase,
            RunPhase::Connecting | RunPhase::Acting | RunPhase::Settling
        ) {
            return;
        }
        if self.all_connected_ms.is_none() && connected >= self.mine.len() {
            let after_ms = now.saturating_sub(self.started);
            self.all_connected_ms = Some(after_ms);
            self.events.push_back(RunEvent::AllConnected { after_ms });
        }
        // Late joiners (`device.join`) are not waited for.
        if self.phase == RunPhase::Connecting && connected >= self.present {
            self.act_from(now);
        }
    }

    /// How many devices of the shard reached a final state of their own (verdicts judged on
    /// the device side only).
    pub fn handle_device_final(&mut self, finished: usize) {
        self.device_final = finished;
    }

    /// Time passed: due actions are pushed (their messages wait in
    /// [`poll_transmit`](Self::poll_transmit)), and a settling run checks the jobs.
    pub fn handle_timeout(&mut self, cloud: &mut Cloud, now: u64) {
        // Stopped by an earlier call: the driver has had the Stop event.
        let stopped = self.phase == RunPhase::Stopping;
        if self.phase == RunPhase::Connecting && now >= self.deadline {
            self.act_from(now);
        }
        if self.phase == RunPhase::Acting {
            self.act(cloud, now);
        }
        if matches!(self.phase, RunPhase::Acting | RunPhase::Settling) {
            self.jobs(cloud, now);
        }
        if self.phase == RunPhase::Settling && (now >= self.next_check || now >= self.deadline) {
            self.next_check = now + CHECK_EVERY_MS;
            self.check(cloud, now);
        }
        if stopped && self.cloud_judges {
            // The report as it stood when the run stopped.
            let at = self.stopped_at;
            self.finish(cloud.report(&self.mine, at), at);
        }
    }

    /// The devices' own reports (verdicts judged on the device side), after
    /// [`RunEvent::Stop`]; the run finishes with them.
    pub fn handle_device_reports(&mut self, rows: Vec<DeviceReport>, now: u64) {
        if self.phase != RunPhase::Stopping || self.cloud_judges {
            return;
        }
        self.finish(Report::new(now, rows), now);
    }

    /// The next message to publish.
    pub fn poll_transmit(&mut self) -> Option<Outgoing> {
        self.transmit.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due next (`None`: not before something
    /// else happens).
    pub fn poll_timeout(&self, cloud: &Cloud) -> Option<u64> {
        let cloud_due = cloud.poll_timeout();
        match self.phase {
            RunPhase::Connecting => Some(self.deadline),
            RunPhase::Acting => Some(
                self.scenario
                    .actions
                    .get(self.next_action)
                    .map_or(self.deadline, |a| (self.t0 + a.at_ms).min(self.deadline))
                    .min(self.jobs_due(cloud_due)),
            ),
            RunPhase::Settling => Some(
                self.next_check
                    .min(self.deadline)
                    .min(self.jobs_due(cloud_due)),
            ),
            RunPhase::Stopping if self.cloud_judges => Some(self.stopped_at),
            _ => None,
        }
    }

    /// When the cloud's job timers or one of the run's job steps fall due (`u64::MAX`: never).
    fn jobs_due(&self, cloud_due: Option<u64>) -> u64 {
        let confirm = self.job_steps.iter().map(|(at, _, _)| *at).min();
        cloud_due
            .into_iter()
            .chain(confirm)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// The cloud's job timers and the run's job steps due at `now`, in the order they fall due.
    fn jobs(&mut self, cloud: &mut Cloud, now: u64) {
        if cloud.poll_timeout().is_some_and(|due| due <= now) {
            self.transmit.extend(cloud.handle_timeout(now));
        }
        #[cfg(feature = "jobs")]
        while let Some(index) = self
            .job_steps
            .iter()
            .enumerate()
            .filter(|(_, (at, _, _))| *at <= now)
            .min_by_key(|(_, (at, _, _))| *at)
            .map(|(i, _)| i)
        {
            let (_, job, step) = self.job_steps.remove(index);
            let tasks_of = |cloud: &Cloud, wanted: fn(&crate::jobs::Task) -> bool| -> Vec<u64> {
                cloud
                    .upgrade_jobs()
                    .iter()
                    .filter(|j| j.id == job)
                    .flat_map(|j| j.tasks.iter().copied())
                    .filter(|t| cloud.task(*t).is_some_and(wanted))
                    .collect()
            };
            match step {
                JobStep::Confirm => {
                    let waiting = tasks_of(cloud, |t| t.status == crate::jobs::TaskStatus::Confirm);
                    for ids in waiting.chunks(crate::jobs::MAX_TASK_IDS) {
                        if let Ok(out) = cloud.confirm_tasks(ids, now) {
                            self.transmit.extend(out);
                        }
                    }
                }
                JobStep::Cancel(what) => {
                    // Refused only for a job that has ended or a `scheduled` cancel of a job
                    // already started: nothing to do then, as in the console.
                    let _ = cloud.cancel_tasks(job, what, now);
                    self.transmit.extend(cloud.handle_timeout(now));
                }
                JobStep::Reupgrade => {
                    use crate::jobs::TaskStatus::{Canceled, Failed};
                    let ended = tasks_of(cloud, |t| {
                        matches!(t.status, Failed | Canceled) && t.is_final()
                    });
                    for ids in ended.chunks(crate::jobs::MAX_TASK_IDS) {
                        if let Ok(out) = cloud.reupgrade_tasks(job, ids, now) {
                            self.transmit.extend(out);
                        }
                    }
                }
            }
        }
    }

    /// The next thing that happened.
    pub fn poll_event(&mut self) -> Option<RunEvent> {
        self.events.pop_front()
    }

    /// Milliseconds since the actions' time zero (every device connected, or the time limit
    /// while waiting for them), until the run stopped; 0 before.
    pub fn elapsed_ms(&self, now: u64) -> u64 {
        match self.phase {
            RunPhase::Acting | RunPhase::Settling => now.saturating_sub(self.t0),
            RunPhase::Stopping | RunPhase::Done => self.stopped_at.saturating_sub(self.t0),
            RunPhase::Preparing | RunPhase::Connecting => 0,
        }
    }

    /// Counts for a progress line at `now` (the cloud's verdicts, or the devices' own).
    pub fn progress(
        &self,
        cloud: &Cloud,
        succeeded_failed: Option<(usize, usize)>,
        now: u64,
    ) -> RunProgress {
        let summary = match succeeded_failed {
            Some((succeeded, failed)) => Summary {
                total: self.mine.len(),
                succeeded,
                failed,
                ..Summary::default()
            },
            None => cloud.summary(&self.mine),
        };
        RunProgress {
            phase: self.phase,
            connected: self.connected,
            total: self.mine.len(),
            summary,
            elapsed_ms: self.elapsed_ms(now),
        }
    }

    /// The expectations as they stand (what the page shows while the run goes on).
    pub fn live(&self, cloud: &Cloud, now: u64) -> Vec<ExpectationResult> {
        cloud
            .report(&self.mine, now)
            .check(&self.scenario.expect, false)
    }

    fn act_from(&mut self, now: u64) {
        self.t0 = now;
        self.phase = RunPhase::Acting;
    }

    fn act(&mut self, cloud: &mut Cloud, now: u64) {
        while let Some(action) = self.scenario.actions.get(self.next_action) {
            if (self.t0 + action.at_ms).min(self.deadline) > now {
                return;
            }
            let index = self.next_action;
            self.next_action += 1;
            let Some((_, package)) = self.packages.iter().find(|(k, _)| *k == action.push) else {
                continue;
            };
            if let Some(job) = &action.job {
                #[cfg(feature = "jobs")]
                {
                    let method = action.sign_method.into();
                    let created = job
                        .spec(&self.mine, now)
                        .map_err(|(field, message)| crate::cloud::CloudError::InvalidDevice {
                            product_key: String::new(),
                            device_name: field.to_owned(),
                            reason: message,
                        })
                        .and_then(|spec| {
                            // A shard without any of a specific job's devices has nothing to do.
                            if matches!(&spec.target, crate::jobs::Target::Specific(d) if d.is_empty()) {
                                return Ok(None);
                            }
                            cloud
                                .create_job(spec, package, method, &self.mine, now)
                                .map(Some)
                        });
                    match created {
                        Ok(Some((id, out))) => {
                            self.transmit.extend(out);
                            self.events.push_back(RunEvent::JobCreated {
                                action: index,
                                job: id,
                                at_ms: now,
                            });
                            let steps = [
                                job.confirm_after_ms.map(|after| (after, JobStep::Confirm)),
                                job.cancel.map(|c| (c.after_ms, JobStep::Cancel(c.tasks()))),
                                job.reupgrade_after_ms
                                    .map(|after| (after, JobStep::Reupgrade)),
                            ];
                            self.job_steps.extend(
                                steps
                                    .into_iter()
                                    .flatten()
                                    .map(|(after, step)| (now + after, id, step)),
                            );
                        }
                        Ok(None) => {}
                        Err(source) => {
                            self.phase = RunPhase::Done;
                            self.events.push_back(RunEvent::Failed(RunError::Push {
                                action: index,
                                source,
                            }));
                            return;
                        }
                    }
                }
                #[cfg(not(feature = "jobs"))]
                let _ = job;
                continue;
            }
            let targets: Vec<DeviceKey> = action
                .to
                .select(&self.fleet)
                .into_iter()
                .filter(|i| self.shard.contains(*i))
                .map(|i| self.fleet[i].clone())
                .collect();
            // None of this action's devices is in this shard: nothing to push here.
            if targets.is_empty() {
                continue;
            }
            let method = action.sign_method.into();
            match cloud.push(&targets, package, action.notice, method, now) {
                Ok(out) => {
                    self.transmit.extend(out);
                    self.events.push_back(RunEvent::Pushed {
                        action: index,
                        package: package.clone(),
                        kind: action.notice,
                        method,
                        devices: targets,
                        at_ms: now,
                    });
                }
                Err(source) => {
                    self.phase = RunPhase::Done;
                    self.events.push_back(RunEvent::Failed(RunError::Push {
                        action: index,
                        source,
                    }));
                    return;
                }
            }
        }
        self.phase = RunPhase::Settling;
        self.next_check = now;
    }

    fn check(&mut self, cloud: &Cloud, now: u64) {
        let quiet = self.scenario.expect.quiet_ms;
        // Nothing settles before every late joiner has come online.
        let settled = self.connected >= self.mine.len()
            && if self.cloud_judges {
                // The cheap tests first: while a job still has work of its own (a rate holding
                // tasks back, a retry or a timeout to come), no device is looked at.
                self.job_steps.is_empty()
                    && !cloud.jobs_busy(now)
                    && cloud.settled_among(&self.mine, now, quiet)
            } else {
                self.device_final >= self.mine.len()
            };
        if settled {
            let all_final = !self.cloud_judges
                || self
                    .mine
                    .iter()
                    .all(|k| cloud.job(k).is_none_or(|j| j.is_final()));
            if all_final {
                self.all_settled_ms = Some(now - self.started);
            }
            self.stop(false, now);
        } else if now >= self.deadline {
            self.stop(true, now);
        }
    }

    fn stop(&mut self, timed_out: bool, now: u64) {
        self.timed_out = timed_out;
        self.stopped_at = now;
        self.phase = RunPhase::Stopping;
        self.events.push_back(RunEvent::Stop { timed_out });
    }

    fn finish(&mut self, mut report: Report, now: u64) {
        for row in &mut report.devices {
            let key = DeviceKey::new(row.product_key.clone(), row.device_name.clone());
            if let Some(fault) = self.faults.get(&key) {
                row.fault = Some(fault.clone());
            }
        }
        report.scenario = Some(self.scenario.name.clone());
        report.timings = Some(Timings {
            all_connected_ms: self.all_connected_ms,
            all_settled_ms: self.all_settled_ms,
            total_ms: now - self.started,
            peak_rss_kib: None,
            connect_failures: None,
        });
        report.judge(&self.scenario.expect, self.timed_out);
        self.phase = RunPhase::Done;
        self.events.push_back(RunEvent::Finished(Box::new(report)));
    }
}
