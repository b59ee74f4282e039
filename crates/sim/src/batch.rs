//! Upgrade batches, as the Alibaba Cloud OTA console keeps them: every push is a batch (the
//! firmware, the notice kind and signing, the target devices, the time) with its own status
//! counts and its failures grouped by reason ("7 × -2 HTTP 404"). A batch can be cancelled
//! (jobs not ended yet become [`Verdict::Cancelled`]) and its failed devices retried as a new
//! batch. The [`Cloud`](crate::Cloud) keeps the batches; this module holds their types and the
//! grouping rule.

use std::collections::BTreeMap;

use otalab_protocol::SignMethod;
use serde::{Deserialize, Serialize};

use crate::model::{DeviceKey, Failure, NoticeKind, Package, Summary, Verdict};
use crate::verdict::Job;

/// One push as the cloud recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// 1, 2, 3… in push order.
    pub id: u32,
    /// When it was pushed (ms since 1970).
    pub at_ms: u64,
    /// The firmware (its version is the target).
    pub package: Package,
    /// The notice kind.
    pub kind: NoticeKind,
    /// How the notice was signed.
    pub method: SignMethod,
    /// The target devices, in push order.
    pub devices: Vec<DeviceKey>,
    /// When it was cancelled.
    pub cancelled_at_ms: Option<u64>,
    /// The batch whose failed devices this one retries.
    pub retry_of: Option<u32>,
    /// The notice sent to the first device, as on the wire (the others differ only in their
    /// message id).
    pub notice: Option<serde_json::Value>,
    /// Jobs of this batch that a later push (or removing the device) took over, as they ended.
    pub(crate) frozen: BTreeMap<DeviceKey, Job>,
}

/// Devices that failed for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureGroup {
    /// The reason.
    pub failure: Failure,
    /// The device names (`productKey/deviceName`) that failed for it.
    pub devices: Vec<String>,
}

impl std::fmt::Display for FailureGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} × {}", self.devices.len(), self.failure)
    }
}

/// A batch with its outcome so far: what the console's batch page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchStatus {
    /// Batch id.
    pub id: u32,
    /// When it was pushed (ms since 1970).
    pub at_ms: u64,
    /// The same, as a human time (ISO 8601, UTC).
    pub at: String,
    /// Firmware file name.
    pub firmware: String,
    /// Target version.
    pub version: String,
    /// Notice kind (`correct`, `bad_digest`, …).
    pub kind: NoticeKind,
    /// `Md5` or `SHA256`, as the notice says.
    pub sign_method: String,
    /// The notice sent (to the first device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<serde_json::Value>,
    /// Counts per verdict of its devices.
    pub counts: Summary,
    /// Failures grouped by reason, the largest group first.
    pub failures: Vec<FailureGroup>,
    /// Failed devices that "retry failed" would push to again (not since taken over by a
    /// later batch).
    #[serde(default)]
    pub retryable: usize,
    /// When it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at_ms: Option<u64>,
    /// The batch whose failed devices it retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<u32>,
}

impl BatchStatus {
    /// True once no device of the batch can change its verdict any more.
    pub fn is_done(&self) -> bool {
        self.counts.pending + self.counts.upgrading == 0
    }
}

impl Batch {
    /// The status of the batch, given each device's live job in it (`None`: the device's job
    /// is another batch's now, or it never had one; then its job as this batch left it counts).
    pub fn status<'a>(&self, job_of: impl Fn(&DeviceKey) -> Option<&'a Job>) -> BatchStatus {
        let mut verdicts = Vec::with_capacity(self.devices.len());
        let mut groups: BTreeMap<Failure, Vec<String>> = BTreeMap::new();
        let mut retryable = 0;
        for key in &self.devices {
            let live = job_of(key);
            if live.is_some_and(|j| j.verdict == Verdict::Failed) {
                retryable += 1;
            }
            let job = live.or_else(|| self.frozen.get(key));
            let verdict = job.map_or(Verdict::Pending, |j| j.verdict);
            verdicts.push(verdict);
            if let Some(failure) = job.and_then(Job::failure) {
                groups
                    .entry(failure)
                    .or_default()
                    .push(format!("{}/{}", key.0, key.1));
            }
        }
        let mut failures: Vec<FailureGroup> = groups
            .into_iter()
            .map(|(failure, devices)| FailureGroup { failure, devices })
            .collect();
        failures.sort_by_key(|g| std::cmp::Reverse(g.devices.len()));
        BatchStatus {
            id: self.id,
            at_ms: self.at_ms,
            at: crate::model::iso_time(self.at_ms),
            firmware: self.package.name.clone(),
            version: self.package.version.clone(),
            kind: self.kind,
            sign_method: self.method.as_str().to_owned(),
            notice: self.notice.clone(),
            counts: Summary::of(verdicts),
            failures,
            retryable,
            cancelled_at_ms: self.cancelled_at_ms,
            retry_of: self.retry_of,
        }
    }
}
