//! What decides a verdict: Alibaba Cloud IoT's rule for one device's upgrade job, applied to
//! what the device reports. The sandbox cloud keeps one [`Job`] per device it pushed to; the
//! native runner keeps one per device when the real cloud pushes (it sees the same messages
//! from the device side). Nothing else in otalab decides whether an upgrade succeeded.
//!
//! The rule:
//! - a job starts [`Verdict::Pending`] when the notice is sent;
//! - any progress step ≥ 0 makes it [`Verdict::Upgrading`];
//! - any negative step (-1 upgrade, -2 download, -3 verify, -4 flash failed) makes it
//!   [`Verdict::Failed`], for good;
//! - a version report (T1) of the job's module equal to the target makes it
//!   [`Verdict::Succeeded`] (unless it already failed);
//! - a version report of another version after step 100 makes it [`Verdict::Failed`] (the
//!   device flashed but came back on the wrong image);
//! - a version report of another version while upgrading (before 100) means the device came
//!   back mid-upgrade: the cloud pushes the notice again ([`VersionOutcome::PushAgain`]);
//! - cancelling the job's batch before it ended makes it [`Verdict::Cancelled`], for good
//!   (reports still arrive and are kept, but no longer change the verdict).

use otalab_protocol::{Module, Step, UpgradeNotice};

use crate::model::{Failure, ObservedStep, Verdict};

/// One device's upgrade job, judged by the cloud's rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The notice sent (its version is the target).
    pub notice: UpgradeNotice,
    /// Progress reports in arrival order.
    pub steps: Vec<ObservedStep>,
    /// The last version the device reported for the job's module.
    pub final_version: Option<String>,
    /// The verdict so far.
    pub verdict: Verdict,
    /// When the device last reported anything for this job (ms).
    pub last_activity_ms: u64,
    /// Why the cloud failed the job itself (an upgrade job's timeout or forced finish), if
    /// it did.
    pub ended_by_cloud: Option<String>,
}

/// What a version report means for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOutcome {
    /// Nothing to do.
    Noted,
    /// The device came back mid-upgrade: push the notice again.
    PushAgain,
}

impl Job {
    /// A job for a notice sent at `now` (ms).
    pub fn new(notice: UpgradeNotice, now: u64) -> Self {
        Self {
            notice,
            steps: Vec::new(),
            final_version: None,
            verdict: Verdict::Pending,
            last_activity_ms: now,
            ended_by_cloud: None,
        }
    }

    /// The target version.
    pub fn target(&self) -> &str {
        self.notice.version.as_str()
    }

    /// A progress report (T3) arrived.
    pub fn progress(&mut self, step: Step, desc: &str, now: u64) {
        self.steps.push(ObservedStep {
            at_ms: now,
            at: crate::model::iso_time(now),
            step,
            desc: desc.to_owned(),
        });
        self.last_activity_ms = now;
        if self.verdict == Verdict::Cancelled {
            return;
        }
        if step.failure().is_some() {
            self.verdict = Verdict::Failed;
        } else if self.verdict == Verdict::Pending {
            self.verdict = Verdict::Upgrading;
        }
    }

    /// A version report (T1) of `module` arrived; reports of other modules are not this job's.
    pub fn version(&mut self, module: &Module, version: &str, now: u64) -> VersionOutcome {
        if *module != self.notice.module {
            return VersionOutcome::Noted;
        }
        self.final_version = Some(version.to_owned());
        self.last_activity_ms = now;
        if self.verdict == Verdict::Cancelled {
            return VersionOutcome::Noted;
        }
        if version == self.target() {
            if self.verdict != Verdict::Failed {
                self.verdict = Verdict::Succeeded;
            }
        } else if self
            .steps
            .last()
            .is_some_and(|s| s.step == Step::Percent(100))
        {
            self.verdict = Verdict::Failed;
        } else if self.verdict == Verdict::Upgrading {
            return VersionOutcome::PushAgain;
        }
        VersionOutcome::Noted
    }

    /// True once the verdict cannot change any more by the rule's normal course.
    pub fn is_final(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::Succeeded | Verdict::Failed | Verdict::Cancelled
        )
    }

    /// Fails the job for a reason of the cloud's own (a timeout) unless it already ended; true
    /// when it was failed.
    pub fn fail(&mut self, reason: &str) -> bool {
        if self.is_final() {
            return false;
        }
        self.verdict = Verdict::Failed;
        self.ended_by_cloud = Some(reason.to_owned());
        true
    }

    /// Cancels the job unless it already ended; true when it was cancelled.
    pub fn cancel(&mut self) -> bool {
        if self.is_final() {
            return false;
        }
        self.verdict = Verdict::Cancelled;
        true
    }

    /// Why the job failed: its first negative step (code and the device's description, or the
    /// code's meaning when the description is empty), or the wrong version it came back on.
    pub fn failure(&self) -> Option<Failure> {
        if self.verdict != Verdict::Failed {
            return None;
        }
        if let Some(reason) = &self.ended_by_cloud {
            return Some(Failure {
                code: None,
                reason: reason.clone(),
            });
        }
        if let Some((step, failure)) = self
            .steps
            .iter()
            .find_map(|s| s.step.failure().map(|f| (s, f)))
        {
            let reason = if step.desc.trim().is_empty() {
                failure.meaning().to_owned()
            } else {
                step.desc.clone()
            };
            return Some(Failure {
                code: Some(failure),
                reason,
            });
        }
        Some(Failure {
            code: None,
            reason: format!(
                "came back on {} after 100, not {}",
                self.final_version.as_deref().unwrap_or("?"),
                self.target()
            ),
        })
    }
}

/// A device's own upgrade judged by the same rule, from the device side (when the real cloud,
/// or another cloud, pushes and the sandbox cloud does not run): a job starts with each new
/// notice the device takes (not while one is upgrading), and what the device publishes feeds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceJudge {
    job: Option<Job>,
}

impl DeviceJudge {
    /// The device took `notice` at `now`.
    pub fn notice(&mut self, notice: &UpgradeNotice, now: u64) {
        let same = self.job.as_ref().is_some_and(|j| j.notice.id == notice.id);
        let upgrading = self
            .job
            .as_ref()
            .is_some_and(|j| j.verdict == Verdict::Upgrading);
        if !same && !upgrading {
            self.job = Some(Job::new(notice.clone(), now));
        }
    }

    /// The device published `payload` on `topic` at `now` (progress and version reports count).
    pub fn published(&mut self, topic: &str, payload: &[u8], now: u64) {
        let Some(job) = &mut self.job else { return };
        match otalab_protocol::Topic::parse(topic).map(|t| t.kind) {
            Ok(otalab_protocol::TopicKind::Progress) => {
                if let Ok(p) = otalab_protocol::Progress::decode(payload) {
                    job.progress(p.step, &p.desc, now);
                }
            }
            Ok(otalab_protocol::TopicKind::Inform) => {
                if let Ok(r) = otalab_protocol::VersionReport::decode(payload) {
                    job.version(&r.module, r.version.as_str(), now);
                }
            }
            _ => {}
        }
    }

    /// The job, if the device took a notice.
    pub fn job(&self) -> Option<&Job> {
        self.job.as_ref()
    }

    /// The job, kept.
    pub fn into_job(self) -> Option<Job> {
        self.job
    }
}
