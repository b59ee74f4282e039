//! Upgrade jobs as Alibaba Cloud IoT's OTA service runs them (OpenAPI
//! `CreateOTAStaticUpgradeJob`, `CreateOTADynamicUpgradeJob`, `ConfirmOTATask`,
//! `CancelOTATaskByJob`, `ReupgradeOTATask`, `ListOTATaskByJob`, `QueryOTAJob`): a job's policy
//! ([`JobSpec`]: targets, grey share, source versions, tags, schedule, push rate, retries,
//! timeout, overwrite mode, confirmation, push or pull, download protocol, module), the
//! platform's limits and refusals ([`JobError`], each with a stable code), and the states of a
//! job ([`JobStatus`]) and of its tasks ([`TaskStatus`], one task per device, every change
//! timestamped). The [`Cloud`](crate::Cloud) runs the jobs on its clock
//! ([`Cloud::create_job`](crate::Cloud::create_job), `handle_timeout`, `poll_timeout`); this
//! module holds their types and rules.
//!
//! Where the platform documents nothing, otalab chooses, and says so on the item:
//! - a grey share takes the first devices of the fleet in its order (the platform picks at
//!   random);
//! - devices already on the target version are not targeted;
//! - an ignored notice (no progress report) is pushed again every
//!   [`DEFAULT_REPUSH_MINUTES`] minutes, and whenever the device reports a version other than
//!   the target (it came back online);
//! - the timeout counts from the first progress report of each attempt (a retry starts a new
//!   count);
//! - at the forced finish time, unfinished tasks fail with the reason "the job's finish time
//!   passed" and the job is `COMPLETED`;
//! - a device is not told that its task was cancelled.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::model::DeviceKey;

/// `TargetDeviceName` lists at most 200 devices.
pub const MAX_SPECIFIC_DEVICES: usize = 200;
/// A verify job (`VERIFY_FIRMWARE`) targets at most 10 devices.
pub const MAX_VERIFY_DEVICES: usize = 10;
/// `SrcVersion`: at most 10 source versions.
pub const MAX_SRC_VERSIONS: usize = 10;
/// `Tag`: at most 10 key/value pairs…
pub const MAX_TAGS: usize = 10;
/// …of at most 4096 characters in all.
pub const MAX_TAG_CHARS: usize = 4096;
/// `RetryInterval` values (minutes).
pub const RETRY_INTERVALS: [u32; 5] = [0, 10, 30, 60, 1440];
/// `RetryCount` values.
pub const RETRY_COUNTS: [u32; 3] = [1, 2, 5];
/// `MaximumPerMinute` range.
pub const RATE_RANGE: RangeInclusive<u32> = 10..=10_000;
/// `MaximumPerMinute` when not given.
pub const DEFAULT_RATE: u32 = 10_000;
/// `TimeoutInMinutes` range.
pub const TIMEOUT_RANGE: RangeInclusive<u32> = 1..=1440;
/// `ScheduleTime`: 5 minutes to 7 days ahead (ms).
pub const SCHEDULE_AHEAD_MS: RangeInclusive<u64> = 5 * MINUTE_MS..=7 * DAY_MS;
/// `ScheduleFinishTime`: 1 hour to 30 days after the start (ms).
pub const FINISH_AFTER_MS: RangeInclusive<u64> = 60 * MINUTE_MS..=30 * DAY_MS;
/// `ConfirmOTATask` and `ReupgradeOTATask` take at most 10 task ids.
pub const MAX_TASK_IDS: usize = 10;
/// `ListOTATaskByJob`: pages of at most 100 tasks…
pub const MAX_PAGE_SIZE: u32 = 100;
/// …and page × size at most 100,000.
pub const MAX_PAGE_REACH: u64 = 100_000;
/// A device is matched by a version-based dynamic job at most 10 times.
pub const MAX_DYNAMIC_MATCHES: u32 = 10;
/// How often an ignored notice is pushed again (otalab's choice; the platform does not say).
pub const DEFAULT_REPUSH_MINUTES: u64 = 10;

/// One minute in ms.
pub const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 24 * 60 * MINUTE_MS;

/// `JobType`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobType {
    /// `UPGRADE_FIRMWARE`.
    #[default]
    UpgradeFirmware,
    /// `VERIFY_FIRMWARE`: a trial on at most [`MAX_VERIFY_DEVICES`] devices.
    VerifyFirmware,
}

/// `DynamicMode` of a dynamic job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DynamicMode {
    /// `1`: devices that match now, and any that match later.
    CurrentAndFuture,
    /// `2`: only devices that later report a matching version.
    FutureOnly,
}

impl DynamicMode {
    /// The platform's number for it.
    pub fn number(self) -> u8 {
        match self {
            Self::CurrentAndFuture => 1,
            Self::FutureOnly => 2,
        }
    }
}

/// Which devices a job targets: a static job's `TargetSelection`, or a dynamic job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `ALL`: every device of the fleet.
    All,
    /// `SPECIFIC`: these devices (at most [`MAX_SPECIFIC_DEVICES`]).
    Specific(Vec<DeviceKey>),
    /// `GRAY`: this share of the fleet, `GrayPercent` as the platform takes it: a decimal
    /// string with at most 3 decimals, above 0 and at most 100; the device count is rounded
    /// down, and at least one device is taken.
    Gray(String),
    /// `GROUP`: the devices of a group the cloud knows
    /// ([`Cloud::define_group`](crate::Cloud::define_group)).
    Group(String),
    /// A dynamic job (`CreateOTADynamicUpgradeJob`).
    Dynamic(DynamicMode),
}

impl Target {
    /// The platform's name for it (`ALL`, `SPECIFIC`, `GRAY`, `GROUP`, `DYNAMIC`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::All => "ALL",
            Self::Specific(_) => "SPECIFIC",
            Self::Gray(_) => "GRAY",
            Self::Group(_) => "GROUP",
            Self::Dynamic(_) => "DYNAMIC",
        }
    }
}

/// `RetryInterval` (minutes) and `RetryCount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    /// Minutes between a failure and the next push: one of [`RETRY_INTERVALS`].
    pub interval_minutes: u32,
    /// How many times a failed task is pushed again: one of [`RETRY_COUNTS`].
    pub count: u32,
}

/// `OverwriteMode`: what a new job does to a device's unfinished task in another job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverwriteMode {
    /// `1`: the existing task stays; the new job's task for the device fails.
    #[default]
    Keep,
    /// `2`: the existing task is cancelled and replaced, unless it is in progress.
    Replace,
}

/// `DownloadProtocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DownloadProtocol {
    /// `HTTPS`: the notice carries a URL.
    #[default]
    Https,
    /// `MQTT`: the device fetches blocks over MQTT (one file of at most 16 MB).
    Mqtt,
}

/// A job's policy: every field of the platform's create-job calls that changes what devices
/// see. [`JobSpec::new`] gives the platform's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// `JobType`.
    pub job_type: JobType,
    /// Which devices.
    pub target: Target,
    /// `SrcVersion`: only devices that reported one of these are targeted (empty: any).
    pub src_versions: Vec<String>,
    /// `Tag`: sent to the device in the notice's `extData`.
    pub tags: BTreeMap<String, String>,
    /// `ScheduleTime` (ms since 1970): the job waits `PLANNED` until then.
    pub schedule_ms: Option<u64>,
    /// `ScheduleFinishTime` (ms since 1970): the upgrade is ended by force then.
    pub finish_ms: Option<u64>,
    /// `MaximumPerMinute`: devices notified per minute.
    pub maximum_per_minute: u32,
    /// `RetryInterval` and `RetryCount`.
    pub retry: Option<Retry>,
    /// `TimeoutInMinutes`, from the first progress report.
    pub timeout_minutes: Option<u32>,
    /// `OverwriteMode`.
    pub overwrite: OverwriteMode,
    /// `MultiModuleMode`.
    pub multi_module: bool,
    /// `NeedPush`: `false` sends nothing; devices must pull.
    pub need_push: bool,
    /// `NeedConfirm`: tasks wait in `CONFIRM` until [`Cloud::confirm_tasks`](crate::Cloud::confirm_tasks).
    pub need_confirm: bool,
    /// `DownloadProtocol`.
    pub download: DownloadProtocol,
    /// The module upgraded (`default` when empty).
    pub module: String,
}

impl JobSpec {
    /// A job for `target` with the platform's defaults: push now to all at the highest rate,
    /// no retry, no timeout, keep other jobs' tasks, pushed, not confirmed, over HTTPS, the
    /// default module.
    pub fn new(target: Target) -> Self {
        Self {
            job_type: JobType::UpgradeFirmware,
            target,
            src_versions: Vec::new(),
            tags: BTreeMap::new(),
            schedule_ms: None,
            finish_ms: None,
            maximum_per_minute: DEFAULT_RATE,
            retry: None,
            timeout_minutes: None,
            overwrite: OverwriteMode::Keep,
            multi_module: false,
            need_push: true,
            need_confirm: false,
            download: DownloadProtocol::Https,
            module: String::new(),
        }
    }

    /// True for a dynamic job.
    pub fn is_dynamic(&self) -> bool {
        matches!(self.target, Target::Dynamic(_))
    }

    /// Checks every limit the platform checks when the job is created at `now` (ms).
    pub fn validate(&self, now: u64) -> Result<(), JobError> {
        match &self.target {
            Target::Specific(devices) => {
                if devices.is_empty() {
                    return Err(JobError::NoTargetDevices);
                }
                if devices.len() > MAX_SPECIFIC_DEVICES {
                    return Err(JobError::TooManyDevices {
                        given: devices.len(),
                    });
                }
            }
            Target::Gray(percent) => {
                gray_share(percent)?;
            }
            Target::Group(name) if name.trim().is_empty() => {
                return Err(JobError::NoSuchGroup { name: name.clone() });
            }
            Target::Dynamic(_) if self.job_type == JobType::VerifyFirmware => {
                return Err(JobError::DynamicVerifyJob);
            }
            _ => {}
        }
        if self.src_versions.len() > MAX_SRC_VERSIONS {
            return Err(JobError::TooManySrcVersions {
                given: self.src_versions.len(),
            });
        }
        if let Target::Dynamic(DynamicMode::FutureOnly) = self.target
            && self.src_versions.is_empty()
        {
            return Err(JobError::NoSrcVersions);
        }
        let tag_chars: usize = self
            .tags
            .iter()
            .map(|(k, v)| k.chars().count() + v.chars().count())
            .sum();
        if self.tags.len() > MAX_TAGS || tag_chars > MAX_TAG_CHARS {
            return Err(JobError::TagsTooLarge {
                pairs: self.tags.len(),
                chars: tag_chars,
            });
        }
        if let Some(key) = self
            .tags
            .keys()
            .find(|k| k.trim().is_empty() || k.starts_with('_'))
        {
            return Err(JobError::InvalidTagKey { key: key.clone() });
        }
        if let Some(at) = self.schedule_ms {
            let ahead = at.saturating_sub(now);
            if at < now || !SCHEDULE_AHEAD_MS.contains(&ahead) {
                return Err(JobError::ScheduleOutOfRange {
                    at_ms: at,
                    now_ms: now,
                });
            }
        }
        if let Some(finish) = self.finish_ms {
            let start = self.schedule_ms.unwrap_or(now);
            if finish < start || !FINISH_AFTER_MS.contains(&(finish - start)) {
                return Err(JobError::FinishOutOfRange {
                    finish_ms: finish,
                    start_ms: start,
                });
            }
        }
        if !RATE_RANGE.contains(&self.maximum_per_minute) {
            return Err(JobError::RateOutOfRange {
                given: self.maximum_per_minute,
            });
        }
        if let Some(minutes) = self.timeout_minutes
            && !TIMEOUT_RANGE.contains(&minutes)
        {
            return Err(JobError::TimeoutOutOfRange { given: minutes });
        }
        if let Some(retry) = self.retry {
            if !RETRY_INTERVALS.contains(&retry.interval_minutes) {
                return Err(JobError::InvalidRetryInterval {
                    given: retry.interval_minutes,
                });
            }
            if !RETRY_COUNTS.contains(&retry.count) {
                return Err(JobError::InvalidRetryCount { given: retry.count });
            }
            if let Some(timeout) = self.timeout_minutes
                && retry.interval_minutes >= timeout
            {
                return Err(JobError::RetryNotBelowTimeout {
                    interval: retry.interval_minutes,
                    timeout,
                });
            }
        }
        if self.overwrite == OverwriteMode::Replace && self.multi_module {
            return Err(JobError::OverwriteWithMultiModule);
        }
        if self.job_type == JobType::VerifyFirmware
            && let Target::Specific(devices) = &self.target
            && devices.len() > MAX_VERIFY_DEVICES
        {
            return Err(JobError::TooManyVerifyDevices {
                given: devices.len(),
            });
        }
        Ok(())
    }
}

/// How many of `fleet` devices a `GrayPercent` takes: rounded down, at least 1 (0 for an
/// empty fleet).
pub fn gray_count(percent: &str, fleet: usize) -> Result<usize, JobError> {
    let thousandths = gray_share(percent)?;
    let count = (fleet as u64 * thousandths / 100_000) as usize;
    Ok(if fleet == 0 { 0 } else { count.max(1) })
}

/// `GrayPercent` in thousandths of a percent: a decimal string with at most 3 decimals, above
/// 0 and at most 100.
fn gray_share(percent: &str) -> Result<u64, JobError> {
    let invalid = |reason: &str| JobError::InvalidGrayPercent {
        given: percent.to_owned(),
        reason: reason.to_owned(),
    };
    let (whole, fraction) = percent.split_once('.').unwrap_or((percent, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || percent.ends_with('.') {
        return Err(invalid("not a decimal number"));
    }
    if fraction.len() > 3 {
        return Err(invalid("more than 3 decimals"));
    }
    let whole: u64 = whole.parse().map_err(|_| invalid("not a decimal number"))?;
    let fraction: u64 = format!("{fraction:0<3}").parse().unwrap_or(0);
    let thousandths = whole.saturating_mul(1000).saturating_add(fraction);
    if thousandths == 0 || thousandths > 100_000 {
        return Err(invalid("not above 0 and at most 100"));
    }
    Ok(thousandths)
}

/// A refusal of a job call, as the platform refuses it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// `SPECIFIC` with no device.
    #[error("TargetSelection SPECIFIC needs at least one device")]
    NoTargetDevices,
    /// More than [`MAX_SPECIFIC_DEVICES`] devices.
    #[error("TargetDeviceName lists {given} devices: at most {MAX_SPECIFIC_DEVICES}")]
    TooManyDevices {
        /// How many were given.
        given: usize,
    },
    /// A verify job on more than [`MAX_VERIFY_DEVICES`] devices.
    #[error("a VERIFY_FIRMWARE job targets {given} devices: at most {MAX_VERIFY_DEVICES}")]
    TooManyVerifyDevices {
        /// How many were given.
        given: usize,
    },
    /// A verify job cannot be dynamic.
    #[error("a VERIFY_FIRMWARE job cannot be dynamic")]
    DynamicVerifyJob,
    /// A `GrayPercent` the platform refuses.
    #[error(
        "GrayPercent {given:?}: {reason} (a decimal above 0, at most 100, with at most 3 decimals)"
    )]
    InvalidGrayPercent {
        /// What was given.
        given: String,
        /// What is wrong.
        reason: String,
    },
    /// A group the cloud does not know.
    #[error("there is no device group {name:?}")]
    NoSuchGroup {
        /// The name given.
        name: String,
    },
    /// More than [`MAX_SRC_VERSIONS`] source versions.
    #[error("SrcVersion lists {given} versions: at most {MAX_SRC_VERSIONS}")]
    TooManySrcVersions {
        /// How many were given.
        given: usize,
    },
    /// A dynamic job of mode 2 without source versions.
    #[error("DynamicMode 2 (future devices only) needs at least one SrcVersion")]
    NoSrcVersions,
    /// Tags over the limits.
    #[error(
        "Tag has {pairs} pairs of {chars} characters: at most {MAX_TAGS} pairs of {MAX_TAG_CHARS} characters in all"
    )]
    TagsTooLarge {
        /// Pairs given.
        pairs: usize,
        /// Characters in all.
        chars: usize,
    },
    /// An empty tag key, or one starting with `_` (the platform's own `extData` keys).
    #[error("Tag key {key:?} is empty or starts with '_'")]
    InvalidTagKey {
        /// The key.
        key: String,
    },
    /// `ScheduleTime` not 5 minutes to 7 days ahead.
    #[error("ScheduleTime {at_ms} is not 5 minutes to 7 days after now ({now_ms})")]
    ScheduleOutOfRange {
        /// The time given (ms).
        at_ms: u64,
        /// Now (ms).
        now_ms: u64,
    },
    /// `ScheduleFinishTime` not 1 hour to 30 days after the start.
    #[error("ScheduleFinishTime {finish_ms} is not 1 hour to 30 days after the start ({start_ms})")]
    FinishOutOfRange {
        /// The time given (ms).
        finish_ms: u64,
        /// The start (ms).
        start_ms: u64,
    },
    /// `MaximumPerMinute` outside 10..=10000.
    #[error("MaximumPerMinute {given}: from 10 to 10000")]
    RateOutOfRange {
        /// What was given.
        given: u32,
    },
    /// `TimeoutInMinutes` outside 1..=1440.
    #[error("TimeoutInMinutes {given}: from 1 to 1440")]
    TimeoutOutOfRange {
        /// What was given.
        given: u32,
    },
    /// A `RetryInterval` not in the platform's set.
    #[error("RetryInterval {given}: one of 0, 10, 30, 60, 1440 minutes")]
    InvalidRetryInterval {
        /// What was given.
        given: u32,
    },
    /// A `RetryCount` not in the platform's set.
    #[error("RetryCount {given}: one of 1, 2, 5")]
    InvalidRetryCount {
        /// What was given.
        given: u32,
    },
    /// `RetryInterval` not lower than `TimeoutInMinutes`.
    #[error("RetryInterval {interval} must be lower than TimeoutInMinutes {timeout}")]
    RetryNotBelowTimeout {
        /// Retry interval (minutes).
        interval: u32,
        /// Timeout (minutes).
        timeout: u32,
    },
    /// `OverwriteMode` 2 with `MultiModuleMode`.
    #[error("OverwriteMode 2 cannot be combined with MultiModuleMode")]
    OverwriteWithMultiModule,
    /// A second running dynamic job for one package.
    #[error("package {package} already has a running dynamic job ({job})")]
    DynamicJobExists {
        /// The package's file name.
        package: String,
        /// The running job.
        job: u32,
    },
    /// No device matches the job's targets.
    #[error("no device matches the job's targets")]
    NoMatchingDevice,
    /// A job id the cloud never made.
    #[error("there is no job {id}")]
    NoSuchJob {
        /// The id asked for.
        id: u32,
    },
    /// A task id the cloud (or the job named) does not have.
    #[error("there is no task {task}")]
    NoSuchTask {
        /// The task asked for.
        task: u64,
    },
    /// Too many or no task ids.
    #[error("{given} task ids: from 1 to {MAX_TASK_IDS}")]
    TaskIdCount {
        /// How many were given.
        given: usize,
    },
    /// A task not in the state the call needs.
    #[error("task {task} is {status}: {needs}")]
    WrongTaskStatus {
        /// The task.
        task: u64,
        /// Its status.
        status: TaskStatus,
        /// What the call needs.
        needs: &'static str,
    },
    /// `CancelOTATaskByJob` without anything to cancel.
    #[error(
        "CancelOTATaskByJob needs one of CancelScheduled, CancelQueued, CancelInProgress, CancelNotified, CancelUnconfirmedTask"
    )]
    NothingToCancel,
    /// Cancelling scheduled tasks of a job that is not `PLANNED`.
    #[error("job {id} is {status}, not PLANNED: CancelScheduled does not apply")]
    NotScheduled {
        /// The job.
        id: u32,
        /// Its status.
        status: JobStatus,
    },
    /// A call on a job that has ended.
    #[error("job {id} is {status}")]
    JobEnded {
        /// The job.
        id: u32,
        /// Its status.
        status: JobStatus,
    },
    /// A page outside `ListOTATaskByJob`'s limits.
    #[error("page {page} of {size}: pages of 1 to 100 tasks, page × size at most 100000")]
    PageOutOfRange {
        /// Page number (from 1).
        page: u32,
        /// Page size.
        size: u32,
    },
    /// A call for dynamic jobs (`UpdateOTAJob`, `CancelOTAStrategyByJob`) on a static job.
    #[error("job {id} is a static job: only dynamic jobs are updated or have a strategy")]
    NotDynamic {
        /// The job.
        id: u32,
    },
}

impl JobError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoTargetDevices => "JOB_NO_TARGET_DEVICES",
            Self::TooManyDevices { .. } => "JOB_TOO_MANY_DEVICES",
            Self::TooManyVerifyDevices { .. } => "JOB_TOO_MANY_VERIFY_DEVICES",
            Self::DynamicVerifyJob => "JOB_DYNAMIC_VERIFY",
            Self::InvalidGrayPercent { .. } => "JOB_INVALID_GRAY_PERCENT",
            Self::NoSuchGroup { .. } => "JOB_NO_SUCH_GROUP",
            Self::TooManySrcVersions { .. } => "JOB_TOO_MANY_SRC_VERSIONS",
            Self::NoSrcVersions => "JOB_NO_SRC_VERSIONS",
            Self::TagsTooLarge { .. } => "JOB_TAGS_TOO_LARGE",
            Self::InvalidTagKey { .. } => "JOB_INVALID_TAG_KEY",
            Self::ScheduleOutOfRange { .. } => "JOB_SCHEDULE_OUT_OF_RANGE",
            Self::FinishOutOfRange { .. } => "JOB_FINISH_OUT_OF_RANGE",
            Self::RateOutOfRange { .. } => "JOB_RATE_OUT_OF_RANGE",
            Self::TimeoutOutOfRange { .. } => "JOB_TIMEOUT_OUT_OF_RANGE",
            Self::InvalidRetryInterval { .. } => "JOB_INVALID_RETRY_INTERVAL",
            Self::InvalidRetryCount { .. } => "JOB_INVALID_RETRY_COUNT",
            Self::RetryNotBelowTimeout { .. } => "JOB_RETRY_NOT_BELOW_TIMEOUT",
            Self::OverwriteWithMultiModule => "JOB_OVERWRITE_MULTI_MODULE",
            Self::DynamicJobExists { .. } => "JOB_DYNAMIC_JOB_EXISTS",
            Self::NoMatchingDevice => "JOB_NO_MATCHING_DEVICE",
            Self::NoSuchJob { .. } => "JOB_NOT_FOUND",
            Self::NoSuchTask { .. } => "JOB_TASK_NOT_FOUND",
            Self::TaskIdCount { .. } => "JOB_TASK_ID_COUNT",
            Self::WrongTaskStatus { .. } => "JOB_WRONG_TASK_STATUS",
            Self::NothingToCancel => "JOB_NOTHING_TO_CANCEL",
            Self::NotScheduled { .. } => "JOB_NOT_SCHEDULED",
            Self::JobEnded { .. } => "JOB_ENDED",
            Self::PageOutOfRange { .. } => "JOB_PAGE_OUT_OF_RANGE",
            Self::NotDynamic { .. } => "JOB_NOT_DYNAMIC",
        }
    }
}

/// `JobStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Scheduled, waiting for its `ScheduleTime`.
    Planned,
    /// Running.
    InProgress,
    /// Every task ended (a static job), or its finish time passed.
    Completed,
    /// Cancelled while planned.
    Canceled,
}

impl JobStatus {
    /// The platform's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Planned => "PLANNED",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Canceled => "CANCELED",
        }
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `TaskStatus`: one device's task in a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Waiting for confirmation: nothing is sent.
    Confirm,
    /// Waiting to be notified (the rate limit, a pull, a retry interval).
    Queued,
    /// The notice was sent; no progress yet.
    Notified,
    /// The device reported progress.
    InProgress,
    /// The device reported the target version.
    Succeeded,
    /// The device failed (with retries left, it is queued again after the interval), timed out,
    /// or the job was finished by force.
    Failed,
    /// Cancelled.
    Canceled,
}

impl TaskStatus {
    /// Every status, in the platform's order.
    pub const ALL: [Self; 7] = [
        Self::Confirm,
        Self::Queued,
        Self::Notified,
        Self::InProgress,
        Self::Succeeded,
        Self::Failed,
        Self::Canceled,
    ];

    /// The platform's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Confirm => "CONFIRM",
            Self::Queued => "QUEUED",
            Self::Notified => "NOTIFIED",
            Self::InProgress => "IN_PROGRESS",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Canceled => "CANCELED",
        }
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One change of a task's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskChange {
    /// When (ms since 1970).
    pub at_ms: u64,
    /// The status from then on.
    pub status: TaskStatus,
    /// Why (empty when the status says it all).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub desc: String,
}

/// One device's task in a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Task id (unique in the cloud).
    pub id: u64,
    /// The job.
    pub job: u32,
    /// The device.
    pub device: DeviceKey,
    /// Status now.
    pub status: TaskStatus,
    /// Why it is in that status (a failure's reason, a cancel's cause).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub desc: String,
    /// Every status it went through, oldest first.
    pub timeline: Vec<TaskChange>,
    /// Notices sent for it (first push, pushes again, retries).
    pub pushes: u32,
    /// Retries used.
    pub retries: u32,
    /// True when it failed by its timeout.
    pub timed_out: bool,
    /// When the current attempt's first progress report arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_progress_ms: Option<u64>,
    /// When the cloud acts on it next (a retry, a push again, its timeout).
    #[serde(skip)]
    pub(crate) due_ms: Option<u64>,
}

#[cfg_attr(not(feature = "jobs"), allow(dead_code))]
impl Task {
    /// A task for `device` in `job`, first in `status`.
    pub(crate) fn new(id: u64, job: u32, device: DeviceKey, status: TaskStatus, now: u64) -> Self {
        Self {
            id,
            job,
            device,
            status,
            desc: String::new(),
            timeline: vec![TaskChange {
                at_ms: now,
                status,
                desc: String::new(),
            }],
            pushes: 0,
            retries: 0,
            timed_out: false,
            first_progress_ms: None,
            due_ms: None,
        }
    }

    /// Moves to `status` at `now` for `desc` (recorded even when the status stays, if the
    /// reason is new).
    pub(crate) fn set(&mut self, status: TaskStatus, desc: &str, now: u64) {
        if status == self.status && desc == self.desc {
            return;
        }
        self.status = status;
        self.desc = desc.to_owned();
        self.timeline.push(TaskChange {
            at_ms: now,
            status,
            desc: desc.to_owned(),
        });
    }

    /// True once nothing more happens to it: succeeded, cancelled, or failed with no retry due.
    pub fn is_final(&self) -> bool {
        match self.status {
            TaskStatus::Succeeded | TaskStatus::Canceled => true,
            TaskStatus::Failed => self.due_ms.is_none(),
            _ => false,
        }
    }
}

/// A job as the cloud keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct UpgradeJob {
    /// Job id: 1, 2, 3… in creation order.
    pub id: u32,
    /// Its policy.
    pub spec: JobSpec,
    /// The firmware (its version is the target).
    pub package: crate::model::Package,
    /// How notices are signed.
    pub method: otalab_protocol::SignMethod,
    /// Status now.
    pub status: JobStatus,
    /// When it was created (ms).
    pub created_ms: u64,
    /// When it started (ms).
    pub started_ms: Option<u64>,
    /// When it completed or was cancelled (ms).
    pub ended_ms: Option<u64>,
    /// Its tasks' ids, in creation order.
    pub tasks: Vec<u64>,
    /// The stream id of the package, for MQTT delivery.
    pub(crate) stream: Option<u64>,
    /// The current rate window: its start and the devices notified in it.
    pub(crate) window: (u64, u32),
    /// The fleet a planned static job picks its targets from when it starts.
    pub(crate) fleet: Vec<DeviceKey>,
    /// How often each device was matched (dynamic jobs).
    pub(crate) matches: BTreeMap<DeviceKey, u64>,
    /// Its tasks that have not ended for good.
    pub(crate) open: usize,
    /// A dynamic job whose strategy was cancelled (`CancelOTAStrategyByJob`) takes no new
    /// device.
    pub strategy_canceled: bool,
}

/// What `QueryOTAJob` shows of a job: its status and its tasks' counts per status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    /// Job id.
    pub id: u32,
    /// `STATIC` or `DYNAMIC`… as `Target::name` says (`ALL`, `SPECIFIC`, `GRAY`, `GROUP`,
    /// `DYNAMIC`).
    pub target: String,
    /// Job status.
    pub status: JobStatus,
    /// Firmware file name.
    pub firmware: String,
    /// Target version.
    pub version: String,
    /// Task counts per status (every status present, zero or not).
    pub counts: BTreeMap<TaskStatus, usize>,
    /// Tasks that failed by their timeout.
    pub timed_out: usize,
    /// Tasks retried at least once.
    pub retried: usize,
    /// Retries used, over all tasks.
    pub retries: u32,
    /// Notices sent, over all tasks.
    pub pushes: u32,
}

impl JobView {
    /// The tasks `what` counts.
    pub fn count(&self, what: TaskCount) -> usize {
        match what.status() {
            Some(status) => self.counts.get(&status).copied().unwrap_or(0),
            None if what == TaskCount::TimedOut => self.timed_out,
            None => self.retried,
        }
    }

    /// Every task.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// Adds another shard's view of the same job.
    pub fn absorb(&mut self, other: &JobView) {
        for (status, n) in &other.counts {
            *self.counts.entry(*status).or_default() += n;
        }
        self.timed_out += other.timed_out;
        self.retried += other.retried;
        self.retries += other.retries;
        self.pushes += other.pushes;
    }
}

/// What a scenario's task expectation counts, over every job of the run: tasks in a
/// [`TaskStatus`], tasks that timed out, tasks retried at least once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskCount {
    /// `CONFIRM`.
    Confirm,
    /// `QUEUED`.
    Queued,
    /// `NOTIFIED`.
    Notified,
    /// `IN_PROGRESS`.
    InProgress,
    /// `SUCCEEDED`.
    Succeeded,
    /// `FAILED` (timed out or not).
    Failed,
    /// `CANCELED`.
    Canceled,
    /// Failed by the job's timeout.
    TimedOut,
    /// Retried at least once.
    Retried,
}

impl TaskCount {
    /// The status it counts, if it is one.
    pub fn status(self) -> Option<TaskStatus> {
        Some(match self {
            Self::Confirm => TaskStatus::Confirm,
            Self::Queued => TaskStatus::Queued,
            Self::Notified => TaskStatus::Notified,
            Self::InProgress => TaskStatus::InProgress,
            Self::Succeeded => TaskStatus::Succeeded,
            Self::Failed => TaskStatus::Failed,
            Self::Canceled => TaskStatus::Canceled,
            Self::TimedOut | Self::Retried => return None,
        })
    }

    /// Its name in a scenario.
    pub fn name(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Queued => "queued",
            Self::Notified => "notified",
            Self::InProgress => "in_progress",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::TimedOut => "timed_out",
            Self::Retried => "retried",
        }
    }
}

/// `CancelOTATaskByJob`'s switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CancelTasks {
    /// `CancelScheduled`: cancel a job that is still `PLANNED`.
    pub scheduled: bool,
    /// `CancelQueued`: `QUEUED` tasks (and `CONFIRM` ones, unless `unconfirmed` is given).
    pub queued: bool,
    /// `CancelInProgress`.
    pub in_progress: bool,
    /// `CancelNotified`.
    pub notified: bool,
    /// `CancelUnconfirmedTask`: `CONFIRM` tasks; `Some(false)` keeps them under `queued`.
    pub unconfirmed: Option<bool>,
}

impl CancelTasks {
    /// Whether a task in `status` is cancelled.
    pub fn covers(&self, status: TaskStatus) -> bool {
        match status {
            TaskStatus::Confirm => self.unconfirmed.unwrap_or(self.queued),
            TaskStatus::Queued => self.queued,
            TaskStatus::Notified => self.notified,
            TaskStatus::InProgress => self.in_progress,
            _ => false,
        }
    }

    /// True when nothing is asked for.
    pub fn is_empty(&self) -> bool {
        !(self.scheduled
            || self.queued
            || self.in_progress
            || self.notified
            || self.unconfirmed == Some(true))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn spec() -> JobSpec {
        JobSpec::new(Target::All)
    }

    fn refused(spec: &JobSpec) -> &'static str {
        spec.validate(NOW).unwrap_err().code()
    }

    #[test]
    fn the_defaults_are_the_platforms_and_pass() {
        let s = spec();
        assert_eq!(s.maximum_per_minute, 10_000);
        assert!(s.need_push && !s.need_confirm);
        assert_eq!(s.overwrite, OverwriteMode::Keep);
        s.validate(NOW).unwrap();
    }

    #[test]
    fn retry_values_outside_the_platforms_sets_are_refused() {
        for interval in RETRY_INTERVALS {
            let mut s = spec();
            s.retry = Some(Retry {
                interval_minutes: interval,
                count: 1,
            });
            s.validate(NOW).unwrap();
        }
        let mut s = spec();
        s.retry = Some(Retry {
            interval_minutes: 15,
            count: 1,
        });
        assert_eq!(refused(&s), "JOB_INVALID_RETRY_INTERVAL");
        s.retry = Some(Retry {
            interval_minutes: 10,
            count: 3,
        });
        assert_eq!(refused(&s), "JOB_INVALID_RETRY_COUNT");
        s.retry = Some(Retry {
            interval_minutes: 60,
            count: 2,
        });
        s.timeout_minutes = Some(60);
        assert_eq!(refused(&s), "JOB_RETRY_NOT_BELOW_TIMEOUT");
        s.timeout_minutes = Some(61);
        s.validate(NOW).unwrap();
    }

    #[test]
    fn rate_timeout_and_schedule_limits() {
        let mut s = spec();
        s.maximum_per_minute = 5;
        assert_eq!(refused(&s), "JOB_RATE_OUT_OF_RANGE");
        s.maximum_per_minute = 10_001;
        assert_eq!(refused(&s), "JOB_RATE_OUT_OF_RANGE");
        s.maximum_per_minute = 10;
        s.validate(NOW).unwrap();
        s.timeout_minutes = Some(0);
        assert_eq!(refused(&s), "JOB_TIMEOUT_OUT_OF_RANGE");
        s.timeout_minutes = Some(1441);
        assert_eq!(refused(&s), "JOB_TIMEOUT_OUT_OF_RANGE");
        s.timeout_minutes = Some(1440);
        s.validate(NOW).unwrap();
        s.schedule_ms = Some(NOW + 4 * MINUTE_MS);
        assert_eq!(refused(&s), "JOB_SCHEDULE_OUT_OF_RANGE");
        s.schedule_ms = Some(NOW - MINUTE_MS);
        assert_eq!(refused(&s), "JOB_SCHEDULE_OUT_OF_RANGE");
        s.schedule_ms = Some(NOW + 8 * DAY_MS);
        assert_eq!(refused(&s), "JOB_SCHEDULE_OUT_OF_RANGE");
        s.schedule_ms = Some(NOW + 5 * MINUTE_MS);
        s.validate(NOW).unwrap();
        s.finish_ms = Some(NOW + 5 * MINUTE_MS + 59 * MINUTE_MS);
        assert_eq!(refused(&s), "JOB_FINISH_OUT_OF_RANGE");
        s.finish_ms = Some(NOW + 5 * MINUTE_MS + 31 * DAY_MS);
        assert_eq!(refused(&s), "JOB_FINISH_OUT_OF_RANGE");
        s.finish_ms = Some(NOW + 5 * MINUTE_MS + 60 * MINUTE_MS);
        s.validate(NOW).unwrap();
    }

    #[test]
    fn gray_percent_is_read_as_the_platform_reads_it() {
        assert_eq!(gray_count("10", 25).unwrap(), 2);
        assert_eq!(gray_count("10.5", 100).unwrap(), 10);
        assert_eq!(gray_count("0.001", 10).unwrap(), 1);
        assert_eq!(gray_count("100", 7).unwrap(), 7);
        assert_eq!(gray_count("33.333", 3).unwrap(), 1);
        for bad in [
            "12.3456", "0", "0.000", "100.001", "-5", "ten", "", "5.", ".5", "1e1",
        ] {
            let err = gray_count(bad, 10).unwrap_err();
            assert_eq!(err.code(), "JOB_INVALID_GRAY_PERCENT", "{bad}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn target_and_tag_limits() {
        let keys = |n: usize| {
            (0..n)
                .map(|i| DeviceKey::new("pk", format!("d{i}")))
                .collect()
        };
        let mut s = JobSpec::new(Target::Specific(keys(200)));
        s.validate(NOW).unwrap();
        s.target = Target::Specific(keys(201));
        assert_eq!(refused(&s), "JOB_TOO_MANY_DEVICES");
        s.target = Target::Specific(Vec::new());
        assert_eq!(refused(&s), "JOB_NO_TARGET_DEVICES");
        s.target = Target::Specific(keys(11));
        s.job_type = JobType::VerifyFirmware;
        assert_eq!(refused(&s), "JOB_TOO_MANY_VERIFY_DEVICES");
        s.target = Target::Dynamic(DynamicMode::CurrentAndFuture);
        assert_eq!(refused(&s), "JOB_DYNAMIC_VERIFY");
        let mut s = spec();
        s.src_versions = (0..11).map(|i| format!("1.{i}")).collect();
        assert_eq!(refused(&s), "JOB_TOO_MANY_SRC_VERSIONS");
        let mut s = JobSpec::new(Target::Dynamic(DynamicMode::FutureOnly));
        assert_eq!(refused(&s), "JOB_NO_SRC_VERSIONS");
        s.src_versions = vec!["1.0".into()];
        s.validate(NOW).unwrap();
        let mut s = spec();
        s.tags = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(refused(&s), "JOB_TAGS_TOO_LARGE");
        s.tags = [("k".to_owned(), "v".repeat(4096))].into();
        assert_eq!(refused(&s), "JOB_TAGS_TOO_LARGE");
        s.tags = [("_package_udi".to_owned(), "v".into())].into();
        assert_eq!(refused(&s), "JOB_INVALID_TAG_KEY");
        let mut s = spec();
        s.overwrite = OverwriteMode::Replace;
        s.multi_module = true;
        assert_eq!(refused(&s), "JOB_OVERWRITE_MULTI_MODULE");
    }

    #[test]
    fn cancel_switches_follow_cancel_ota_task_by_job() {
        let queued = CancelTasks {
            queued: true,
            ..CancelTasks::default()
        };
        assert!(queued.covers(TaskStatus::Queued) && queued.covers(TaskStatus::Confirm));
        assert!(!queued.covers(TaskStatus::Notified));
        let keep_unconfirmed = CancelTasks {
            unconfirmed: Some(false),
            ..queued
        };
        assert!(!keep_unconfirmed.covers(TaskStatus::Confirm));
        assert!(CancelTasks::default().is_empty());
        assert!(!queued.is_empty());
    }

    #[test]
    fn every_task_change_is_timestamped() {
        let mut task = Task::new(1, 1, DeviceKey::new("pk", "d"), TaskStatus::Queued, 5);
        task.set(TaskStatus::Notified, "", 7);
        task.set(TaskStatus::Notified, "", 8);
        task.set(TaskStatus::Failed, "timeout", 9);
        let seen: Vec<(u64, TaskStatus)> =
            task.timeline.iter().map(|c| (c.at_ms, c.status)).collect();
        assert_eq!(
            seen,
            [
                (5, TaskStatus::Queued),
                (7, TaskStatus::Notified),
                (9, TaskStatus::Failed)
            ]
        );
        assert!(task.is_final());
        task.due_ms = Some(10);
        assert!(
            !task.is_final(),
            "a failed task with a retry due is not final"
        );
    }
}
