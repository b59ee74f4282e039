//! # otalab-sim
//!
//! The simulation as plain Rust, pure and sans-IO, driven by the dashboard in the browser and
//! by the native `otalab` runner:
//!
//! - [`Device`]: a simulated device's OTA flow with its fault model;
//! - [`Cloud`]: the sandbox cloud (notices of every kind, pull answers, push-again, MQTT block
//!   serving with channel faults, and upgrade jobs with the platform's policies: [`jobs`]);
//! - [`verdict`]: **what decides a verdict** (Alibaba Cloud's rule, in one file);
//! - [`Scenario`]: a test as a TOML file (fleet, behaviour, cloud actions, expectations);
//! - [`ScenarioRun`]: a scenario's run (firmware, fleet, actions on time, settling, judging),
//!   the one executor the runner, the in-memory runner and the page drive;
//! - [`Suite`]: the conformance suite that grades one device's OTA behaviour;
//! - [`Report`]: the outcome as JSON, CSV or JUnit XML, mergeable across shards.
//!
//! Messages, download bytes and time go in; actions and messages to publish come out. The wire
//! protocol it speaks is `otalab-protocol`'s. The words every module shares (device key,
//! package, notice kind, verdict, failure, a report row, counts) live in [`model`] at the
//! bottom; its docs hold the module map, which `tests/modules.rs` keeps free of cycles.

pub mod batch;
pub mod cloud;
pub mod conformance;
mod device;
pub mod expect;
pub mod fleet;
pub mod jobs;
pub mod memory;
pub mod model;
pub mod report;
pub mod run;
pub mod scenario;
pub mod verdict;

pub use batch::{Batch, BatchStatus, FailureGroup};
pub use cloud::{
    AutoSubscribe, Cloud, CloudError, CloudEvent, DeviceKey, FaultUrls, NoticeKind, Outgoing,
    Package, PullAnswer, Qos, SandboxInfo,
};
pub use conformance::{
    Case, CaseResult, ConformanceReport, Grade, Suite, SuiteEvent, SuiteOptions,
};
pub use device::{
    Action, DEFAULT_BLOCK_TIMEOUT_MS, DEFAULT_CADENCE_PERCENT, DEFAULT_FLASH_MS,
    DEFAULT_MAX_RESUMES, DEFAULT_REBOOT_MS, Device, DeviceConfig, Fault, Link, Phase, StepRecord,
};
pub use expect::{Bounds, CountRule, ExpectationResult, Expectations, StepRule};
pub use jobs::{
    CancelTasks, DownloadProtocol, DynamicMode, JobError, JobSpec, JobStatus, JobType, JobView,
    OverwriteMode, Retry, Target as JobTarget, Task, TaskChange, TaskCount, TaskStatus, UpgradeJob,
};
pub use report::{
    DeviceReport, Failure, MergeError, ObservedStep, Report, Summary, Timings, Verdict,
};
pub use run::{FirmwareWanted, RunError, RunEvent, RunPhase, RunProgress, ScenarioRun};
pub use scenario::{
    Behaviour, CloudAction, Connection, FaultShare, FirmwareSpec, FleetDevice, FleetSpec,
    JobAction, JobCancel, JobTargetKind, ListedDevice, Scenario, ScenarioError, Shard, Target,
};
pub use verdict::{DeviceJudge, Job, VersionOutcome};
