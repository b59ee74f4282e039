//! The local IoT platform behind `otalab serve`: the device registry, the firmware, the
//! upgrade jobs (the engine's [`Cloud`] with its jobs) and the platform's OTA OpenAPI over
//! them. Deterministic: [`Platform::apply`] takes an [`Input`] and its time and gives the
//! answer and the messages to publish, so replaying the stored inputs rebuilds the same
//! platform (see [`store`](super::store)).
//!
//! The OpenAPI's field names, value sets, limits and paging follow
//! `alibabacloud-iot20180120`'s models; what the engine decides (job policies, task states,
//! retries, timeouts, notices) stays in `otalab-sim`.

use std::collections::BTreeMap;

use otalab_protocol::{SignMethod, Topic};
use otalab_sim::jobs::{
    CancelTasks, DownloadProtocol, DynamicMode, JobSpec, JobStatus, JobType, OverwriteMode, Retry,
    Target, TaskStatus,
};
use otalab_sim::{Cloud, CloudError, DeviceKey, JobError, Outgoing, Package};
use serde_json::{Map, Value, json};

use super::sign::{GatewayError, format_utc, sha256_hex};
use super::store::{Input, TaskRow};

/// Parameters the server adds to a call before it is stored (never sent by a client).
pub mod added {
    /// A generated DeviceSecret.
    pub const SECRET: &str = "_DeviceSecret";
    /// A fetched firmware file's size.
    pub const SIZE: &str = "_Size";
    /// Its MD5.
    pub const MD5: &str = "_Md5";
    /// Its SHA-256.
    pub const SHA256: &str = "_Sha256";
}

/// What a call answers besides `RequestId` and `Success`.
pub type Fields = Map<String, Value>;

/// Why a call failed: at the gateway (HTTP 4xx) or in the service (`Success: false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The gateway refused it.
    Gateway(GatewayError),
    /// The service refused it: an `iot.` code and a message.
    Business {
        /// The platform's code.
        code: &'static str,
        /// What is wrong, and where.
        message: String,
    },
}

fn business(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Business {
        code,
        message: message.into(),
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    business("iot.common.InvalidFormattedParameter", message)
}

impl From<CloudError> for ApiError {
    fn from(e: CloudError) -> Self {
        let code = match &e {
            CloudError::Job(JobError::NoSuchJob { .. }) => "iot.ota.JobNotExist",
            CloudError::Job(JobError::NoSuchTask { .. }) => "iot.ota.TaskNotExist",
            CloudError::Job(JobError::NoMatchingDevice | JobError::NoTargetDevices) => {
                "iot.ota.NoMatchedDevice"
            }
            CloudError::Job(JobError::DynamicJobExists { .. }) => "iot.ota.DynamicJobExisted",
            CloudError::Job(
                JobError::WrongTaskStatus { .. }
                | JobError::JobEnded { .. }
                | JobError::NotScheduled { .. }
                | JobError::NotDynamic { .. }
                | JobError::NothingToCancel,
            ) => "iot.ota.InvalidJobOrTaskStatus",
            _ => "iot.common.InvalidFormattedParameter",
        };
        business(code, format!("[{}] {e}", e.code()))
    }
}

/// Whether an action writes (stored before it is acted on), reads, or does not exist.
pub fn writes(action: &str) -> Option<bool> {
    Some(match action {
        "RegisterDevice"
        | "DeleteDevice"
        | "CreateOTAFirmware"
        | "DeleteOTAFirmware"
        | "CreateOTAStaticUpgradeJob"
        | "CreateOTADynamicUpgradeJob"
        | "CreateOTAVerifyJob"
        | "CancelOTATaskByJob"
        | "CancelOTATaskByDevice"
        | "CancelOTAStrategyByJob"
        | "ConfirmOTATask"
        | "ReupgradeOTATask"
        | "UpdateOTAJob" => true,
        "QueryDeviceDetail"
        | "QueryDevice"
        | "GetDeviceStatus"
        | "QueryOTAFirmware"
        | "ListOTAFirmware"
        | "GenerateOTAUploadURL"
        | "QueryOTAJob"
        | "ListOTAJobByFirmware"
        | "ListOTAJobByDevice"
        | "ListOTATaskByJob"
        | "ListOTAUnfinishedTaskByDevice"
        | "ListOTAModuleVersionsByDevice" => false,
        _ => return None,
    })
}

/// Every action `otalab serve` answers.
#[cfg(test)]
pub const ACTIONS: [&str; 25] = [
    "RegisterDevice",
    "QueryDeviceDetail",
    "QueryDevice",
    "DeleteDevice",
    "GetDeviceStatus",
    "CreateOTAFirmware",
    "GenerateOTAUploadURL",
    "QueryOTAFirmware",
    "ListOTAFirmware",
    "DeleteOTAFirmware",
    "CreateOTAStaticUpgradeJob",
    "CreateOTADynamicUpgradeJob",
    "CreateOTAVerifyJob",
    "QueryOTAJob",
    "ListOTAJobByFirmware",
    "ListOTAJobByDevice",
    "UpdateOTAJob",
    "ListOTATaskByJob",
    "ListOTAUnfinishedTaskByDevice",
    "CancelOTATaskByJob",
    "CancelOTATaskByDevice",
    "CancelOTAStrategyByJob",
    "ConfirmOTATask",
    "ReupgradeOTATask",
    "ListOTAModuleVersionsByDevice",
];

/// A call's parameters, read by name with the platform's types.
pub struct Params<'a>(pub &'a BTreeMap<String, String>);

impl Params<'_> {
    /// A parameter's text.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A required parameter (the gateway's `MissingParameter` when absent).
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.text(name)
            .ok_or_else(|| ApiError::Gateway(GatewayError::MissingParameter(name.to_owned())))
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.text(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    invalid(format!(
                        "{name}: expected a non-negative integer, found {v:?}"
                    ))
                })
            })
            .transpose()
    }

    /// An integer parameter that fits `u32`.
    pub fn int32(&self, name: &str) -> Result<Option<u32>, ApiError> {
        self.int(name)?
            .map(|v| u32::try_from(v).map_err(|_| invalid(format!("{name}: {v} is out of range"))))
            .transpose()
    }

    /// A boolean parameter (`true`/`false`).
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.text(name)
            .map(|v| match v {
                "true" | "True" => Ok(true),
                "false" | "False" => Ok(false),
                _ => Err(invalid(format!(
                    "{name}: expected true or false, found {v:?}"
                ))),
            })
            .transpose()
    }

    /// A list parameter: `Name.1`, `Name.2`… in order.
    pub fn list(&self, name: &str) -> Vec<String> {
        let mut items: Vec<(u64, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let index = k
                    .strip_prefix(name)?
                    .strip_prefix('.')?
                    .parse::<u64>()
                    .ok()?;
                Some((index, v.clone()))
            })
            .collect();
        items.sort();
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// A list of key/value structs: `Name.1.Key`, `Name.1.Value`…
    pub fn pairs(&self, name: &str) -> Vec<(String, String)> {
        let mut items: BTreeMap<u64, (String, String)> = BTreeMap::new();
        for (k, v) in self.0 {
            let Some(rest) = k.strip_prefix(name).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let Some((index, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(index) = index.parse::<u64>() else {
                continue;
            };
            let entry = items.entry(index).or_default();
            match field {
                "Key" => entry.0 = v.clone(),
                "Value" => entry.1 = v.clone(),
                _ => {}
            }
        }
        items.into_values().collect()
    }

    /// `CurrentPage` and `PageSize` (defaults 1 and `default_size`; sizes 1 to `max`).
    pub fn page(&self, default_size: u32, max: u32) -> Result<(u32, u32), ApiError> {
        let page = self.int32("CurrentPage")?.unwrap_or(1);
        let size = self.int32("PageSize")?.unwrap_or(default_size);
        if page == 0 {
            return Err(invalid("CurrentPage: pages count from 1"));
        }
        if size == 0 || size > max {
            return Err(invalid(format!("PageSize: 1 to {max}, found {size}")));
        }
        Ok((page, size))
    }
}

/// One page of `items` with the platform's paging fields.
fn paged<T>(items: Vec<T>, page: u32, size: u32) -> (Vec<T>, Fields) {
    let total = items.len();
    let size_n = size as usize;
    let pages = total.div_ceil(size_n);
    let slice: Vec<T> = items
        .into_iter()
        .skip((page as usize - 1) * size_n)
        .take(size_n)
        .collect();
    let mut fields = Map::new();
    fields.insert("Total".into(), json!(total));
    fields.insert("PageSize".into(), json!(size));
    fields.insert("PageCount".into(), json!(pages));
    fields.insert("CurrentPage".into(), json!(page));
    (slice, fields)
}

#[derive(Debug, Clone)]
struct DeviceRecord {
    key: DeviceKey,
    iot_id: String,
    secret: String,
    nickname: String,
    created_ms: u64,
    /// Online or not, and since when (`None`: never logged in: `UNACTIVE`).
    online: Option<(bool, u64)>,
    active_ms: Option<u64>,
    ip: String,
}

impl DeviceRecord {
    fn status(&self) -> &'static str {
        match self.online {
            None => "UNACTIVE",
            Some((true, _)) => "ONLINE",
            Some((false, _)) => "OFFLINE",
        }
    }
}

/// The registered devices: by key, and in registration order.
#[derive(Debug, Default)]
struct Registry {
    by_key: BTreeMap<DeviceKey, DeviceRecord>,
    order: Vec<DeviceKey>,
}

impl Registry {
    fn get(&self, key: &DeviceKey) -> Option<&DeviceRecord> {
        self.by_key.get(key)
    }
    fn get_mut(&mut self, key: &DeviceKey) -> Option<&mut DeviceRecord> {
        self.by_key.get_mut(key)
    }
    fn iter(&self) -> impl Iterator<Item = &DeviceRecord> {
        self.order.iter().filter_map(|k| self.by_key.get(k))
    }
    fn len(&self) -> usize {
        self.order.len()
    }
    fn push(&mut self, record: DeviceRecord) {
        self.order.push(record.key.clone());
        self.by_key.insert(record.key.clone(), record);
    }
    fn remove(&mut self, key: &DeviceKey) {
        if self.by_key.remove(key).is_some() {
            self.order.retain(|k| k != key);
        }
    }
}

/// A firmware as `CreateOTAFirmware` made it.
#[derive(Debug, Clone)]
pub struct FirmwareRecord {
    /// FirmwareId.
    pub id: String,
    fields: BTreeMap<String, String>,
    /// The package the engine pushes.
    pub package: Package,
    sign_method: SignMethod,
    need_verify: bool,
    created_ms: u64,
}

#[derive(Debug, Clone)]
struct JobRecord {
    id: String,
    cloud: u32,
    firmware: String,
    product_key: String,
    verify: bool,
    gray_percent: String,
    tags: Vec<(String, String)>,
    created_ms: u64,
    modified_ms: u64,
}

/// The platform.
#[derive(Debug)]
pub struct Platform {
    cloud: Cloud,
    devices: Registry,
    /// The last version report of each device not registered (yet): applied when it is.
    heard: BTreeMap<DeviceKey, Vec<u8>>,
    firmware: Vec<FirmwareRecord>,
    jobs: Vec<JobRecord>,
    next_firmware: u64,
    /// Each task's source version (the device's version when the task was made) and how
    /// many of its timeline entries were written to the store.
    tasks_seen: BTreeMap<u64, (String, usize)>,
    /// How many tasks of each job (by engine id - 1) were noted.
    noted: Vec<usize>,
    /// Each job's status as last told by [`Platform::changed_jobs`].
    job_seen: Vec<Option<JobStatus>>,
    /// Each device's tasks, oldest first.
    by_device: BTreeMap<DeviceKey, Vec<u64>>,
    /// The devices whose tasks may have changed since [`Platform::changed_tasks`] (`None`:
    /// any task may have).
    dirty: Option<std::collections::BTreeSet<DeviceKey>>,
}

/// Deterministic opaque ids (a replay must give the same ones).
fn opaque(prefix: &str, seed: &str) -> String {
    format!("{prefix}{}", &sha256_hex(seed.as_bytes())[..20])
}

impl Platform {
    /// An empty platform whose notice ids start at `first_id`.
    pub fn new(first_id: u64) -> Self {
        let mut cloud = Cloud::new(first_id);
        cloud.record_events();
        Self {
            cloud,
            devices: Registry::default(),
            heard: BTreeMap::new(),
            firmware: Vec::new(),
            jobs: Vec::new(),
            next_firmware: 1,
            tasks_seen: BTreeMap::new(),
            noted: Vec::new(),
            job_seen: Vec::new(),
            by_device: BTreeMap::new(),
            dirty: None,
        }
    }

    /// When the engine's timers want [`Input::Tick`].
    pub fn poll_timeout(&self) -> Option<u64> {
        self.cloud.poll_timeout()
    }

    /// Firmware whose bytes the engine serves over MQTT: (sha256, stream not loaded yet).
    pub fn firmware(&self) -> &[FirmwareRecord] {
        &self.firmware
    }

    /// Loads a firmware's bytes for delivery over MQTT.
    pub fn load_stream(&mut self, package: &Package, bytes: Vec<u8>) -> Result<u64, CloudError> {
        self.cloud.add_stream(package, bytes)
    }

    fn device(&self, key: &DeviceKey) -> Option<&DeviceRecord> {
        self.devices.get(key)
    }

    /// True when `key` is a registered device.
    pub fn is_registered(&self, key: &DeviceKey) -> bool {
        self.device(key).is_some()
    }

    fn device_from(&self, p: &Params<'_>) -> Result<&DeviceRecord, ApiError> {
        if let Some(iot_id) = p.text("IotId") {
            return self
                .devices
                .iter()
                .find(|d| d.iot_id == iot_id)
                .ok_or_else(|| {
                    business(
                        "iot.device.NotExistedDevice",
                        format!("IotId {iot_id}: no such device"),
                    )
                });
        }
        let key = DeviceKey::new(p.required("ProductKey")?, p.required("DeviceName")?);
        self.device(&key).ok_or_else(|| {
            business(
                "iot.device.NotExistedDevice",
                format!("device {}/{} is not registered", key.0, key.1),
            )
        })
    }

    fn firmware_by_id(&self, id: &str) -> Result<&FirmwareRecord, ApiError> {
        self.firmware.iter().find(|f| f.id == id).ok_or_else(|| {
            business(
                "iot.ota.FirmwareNotExist",
                format!("FirmwareId {id}: no such firmware"),
            )
        })
    }

    fn job_by_id(&self, id: &str) -> Result<&JobRecord, ApiError> {
        self.jobs
            .iter()
            .find(|j| j.id == id)
            .ok_or_else(|| business("iot.ota.JobNotExist", format!("JobId {id}: no such job")))
    }

    /// Applies one input at `now`: the call's answer (for a call) and what to publish.
    pub fn apply(&mut self, now: u64, input: &Input) -> (Result<Fields, ApiError>, Vec<Outgoing>) {
        // A device's message changes that device's tasks only, unless the engine's timers are
        // due (it runs them first); anything else may change any task.
        let device = match input {
            Input::Message { topic, .. } if self.cloud.poll_timeout().is_none_or(|t| t > now) => {
                Topic::parse(topic)
                    .ok()
                    .map(|t| Some(DeviceKey::new(t.product_key, t.device_name)))
                    .unwrap_or(Some(DeviceKey::new("", "")))
            }
            _ => None,
        };
        match (device, &mut self.dirty) {
            (Some(key), Some(dirty)) => {
                dirty.insert(key);
            }
            (Some(_), None) => {}
            (None, dirty) => *dirty = None,
        }
        let result = match input {
            Input::Call { action, params } => {
                let p = Params(params);
                let mut out = Vec::new();
                let answer = self.write(action, &p, now, &mut out);
                (answer, out)
            }
            Input::Message { topic, payload } => {
                (Ok(Map::new()), self.message(topic, payload, now))
            }
            Input::Tick => (Ok(Map::new()), self.cloud.handle_timeout(now)),
        };
        self.note_new_tasks();
        result
    }

    /// Notes each new task's source version: the device's version when the task was made.
    fn note_new_tasks(&mut self) {
        for job in self.cloud.upgrade_jobs() {
            let index = job.id as usize - 1;
            if self.noted.len() <= index {
                self.noted.resize(index + 1, 0);
            }
            for id in &job.tasks[self.noted[index]..] {
                if let Some(task) = self.cloud.task(*id) {
                    let version = self
                        .cloud
                        .reported_version(&task.device)
                        .unwrap_or_default()
                        .to_owned();
                    self.tasks_seen.entry(*id).or_insert((version, 0));
                    self.by_device
                        .entry(task.device.clone())
                        .or_default()
                        .push(*id);
                }
            }
            self.noted[index] = job.tasks.len();
        }
    }

    fn message(&mut self, topic: &str, payload: &[u8], now: u64) -> Vec<Outgoing> {
        if let Some(rest) = topic.strip_prefix("/as/mqtt/status/") {
            let Some((pk, dn)) = rest.split_once('/') else {
                return Vec::new();
            };
            let key = DeviceKey::new(pk, dn);
            let body: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
            if let Some(device) = self.devices.get_mut(&key) {
                let online = body["status"] == "online";
                device.online = Some((online, now));
                if online {
                    device.active_ms.get_or_insert(now);
                    if let Some(ip) = body["clientIp"].as_str() {
                        ip.clone_into(&mut device.ip);
                    }
                }
            }
            return Vec::new();
        }
        let Ok(parsed) = Topic::parse(topic) else {
            return Vec::new();
        };
        let key = DeviceKey::new(parsed.product_key, parsed.device_name);
        let Some(device) = self.devices.get_mut(&key) else {
            // A device may come online before it is registered: its version report is kept.
            if parsed.kind == otalab_protocol::TopicKind::Inform && self.heard.len() < 100_000 {
                self.heard.insert(key, payload.to_vec());
            }
            return Vec::new();
        };
        // A device that speaks is online, even where the broker sends no status messages.
        if !matches!(device.online, Some((true, _))) {
            device.online = Some((true, now));
            device.active_ms.get_or_insert(now);
        }
        self.cloud.message(topic, payload, now)
    }

    /// The task rows changed since the last call (for the store), noting new tasks' source
    /// versions.
    pub fn changed_tasks(&mut self) -> Vec<TaskRow> {
        let ids: Vec<u64> = match self.dirty.replace(Default::default()) {
            None => self
                .cloud
                .upgrade_jobs()
                .iter()
                .flat_map(|j| j.tasks.iter().copied())
                .collect(),
            Some(devices) => devices
                .iter()
                .filter_map(|d| self.by_device.get(d))
                .flatten()
                .copied()
                .collect(),
        };
        let mut rows = Vec::new();
        {
            for id in &ids {
                let Some(task) = self.cloud.task(*id) else {
                    continue;
                };
                let Some(record) = self.jobs.iter().find(|j| j.cloud == task.job) else {
                    continue;
                };
                let seen = self.tasks_seen.entry(*id).or_default();
                if seen.1 == task.timeline.len() {
                    continue;
                }
                rows.push(TaskRow {
                    id: *id,
                    job: record.id.clone(),
                    product_key: task.device.0.clone(),
                    device_name: task.device.1.clone(),
                    status: task.status.name().to_owned(),
                    desc: task.desc.clone(),
                    changes: task.timeline[seen.1..]
                        .iter()
                        .map(|c| (c.at_ms, c.status.name().to_owned(), c.desc.clone()))
                        .collect(),
                });
                seen.1 = task.timeline.len();
            }
        }
        rows
    }

    /// A device's latest task and the progress it last reported: (TaskId, JobId, step).
    pub fn progress(&self, key: &DeviceKey) -> Option<(u64, String, i64)> {
        let id = *self.by_device.get(key)?.last()?;
        let task = self.cloud.task(id)?;
        if task.status != TaskStatus::InProgress {
            return None;
        }
        let job = self.jobs.iter().find(|j| j.cloud == task.job)?;
        let step = self.cloud.job(key)?.steps.last()?.step.value();
        Some((id, job.id.clone(), step))
    }

    /// The jobs whose status changed since the last call: (JobId, status).
    pub fn changed_jobs(&mut self) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        for record in &self.jobs {
            let Some(job) = self.cloud.upgrade_jobs().get(record.cloud as usize - 1) else {
                continue;
            };
            let index = record.cloud as usize - 1;
            if self.job_seen.len() <= index {
                self.job_seen.resize(index + 1, None);
            }
            if self.job_seen[index] != Some(job.status) {
                self.job_seen[index] = Some(job.status);
                out.push((record.id.clone(), job.status.name()));
            }
        }
        out
    }

    fn write(
        &mut self,
        action: &str,
        p: &Params<'_>,
        now: u64,
        out: &mut Vec<Outgoing>,
    ) -> Result<Fields, ApiError> {
        match action {
            "RegisterDevice" => self.register_device(p, now, out),
            "DeleteDevice" => {
                let key = self.device_from(p)?.key.clone();
                if let Some(task) = self
                    .cloud
                    .device_tasks(&key)
                    .into_iter()
                    .find(|t| !t.is_final())
                {
                    return Err(business(
                        "iot.ota.DeviceHasUnfinishedTask",
                        format!(
                            "device {}/{} has an unfinished OTA task ({}): cancel it first",
                            key.0, key.1, task.id
                        ),
                    ));
                }
                self.devices.remove(&key);
                Ok(Map::new())
            }
            "CreateOTAFirmware" => self.create_firmware(p, now),
            "DeleteOTAFirmware" => {
                let id = p.required("FirmwareId")?.to_owned();
                self.firmware_by_id(&id)?;
                if self.jobs.iter().any(|j| {
                    j.firmware == id
                        && self
                            .cloud
                            .upgrade_jobs()
                            .get(j.cloud as usize - 1)
                            .is_some_and(|job| {
                                matches!(job.status, JobStatus::Planned | JobStatus::InProgress)
                            })
                }) {
                    return Err(business(
                        "iot.ota.FirmwareInUse",
                        format!("FirmwareId {id}: a job of this firmware is still running"),
                    ));
                }
                self.firmware.retain(|f| f.id != id);
                Ok(Map::new())
            }
            "CreateOTAStaticUpgradeJob" => self.create_job(p, JobKind::Static, now, out),
            "CreateOTADynamicUpgradeJob" => self.create_job(p, JobKind::Dynamic, now, out),
            "CreateOTAVerifyJob" => self.create_job(p, JobKind::Verify, now, out),
            "CancelOTATaskByJob" => {
                let job = self.job_by_id(p.required("JobId")?)?.cloud;
                let what = CancelTasks {
                    scheduled: p.flag("CancelScheduledTask")?.unwrap_or(false),
                    queued: p.flag("CancelQueuedTask")?.unwrap_or(false),
                    in_progress: p.flag("CancelInProgressTask")?.unwrap_or(false),
                    notified: p.flag("CancelNotifiedTask")?.unwrap_or(false),
                    unconfirmed: p.flag("CancelUnconfirmedTask")?,
                };
                self.cloud.cancel_tasks(job, what, now)?;
                self.touch(job, now);
                Ok(Map::new())
            }
            "CancelOTATaskByDevice" => {
                let pk = p.required("ProductKey")?.to_owned();
                let firmware = p.required("FirmwareId")?.to_owned();
                self.firmware_by_id(&firmware)?;
                let names = p.list("DeviceName");
                if names.is_empty() {
                    return Err(ApiError::Gateway(GatewayError::MissingParameter(
                        "DeviceName.1".into(),
                    )));
                }
                if names.len() > 200 {
                    return Err(invalid(format!(
                        "DeviceName: at most 200 devices, found {}",
                        names.len()
                    )));
                }
                let keys: Vec<DeviceKey> = names
                    .iter()
                    .map(|n| DeviceKey::new(pk.clone(), n))
                    .collect();
                let only = p.text("JobId").map(str::to_owned);
                let jobs: Vec<u32> = self
                    .jobs
                    .iter()
                    .filter(|j| j.firmware == firmware && only.as_ref().is_none_or(|o| *o == j.id))
                    .map(|j| j.cloud)
                    .collect();
                if let Some(id) = &only
                    && jobs.is_empty()
                {
                    self.job_by_id(id)?;
                }
                for job in jobs {
                    self.cloud.cancel_device_tasks(job, &keys, now)?;
                    self.touch(job, now);
                }
                Ok(Map::new())
            }
            "CancelOTAStrategyByJob" => {
                let job = self.job_by_id(p.required("JobId")?)?.cloud;
                self.cloud.cancel_strategy(job)?;
                self.touch(job, now);
                Ok(Map::new())
            }
            "ConfirmOTATask" => {
                let ids = task_ids(p)?;
                out.extend(self.cloud.confirm_tasks(&ids, now)?);
                Ok(Map::new())
            }
            "ReupgradeOTATask" => {
                let job = self.job_by_id(p.required("JobId")?)?.cloud;
                let ids = task_ids(p)?;
                out.extend(self.cloud.reupgrade_tasks(job, &ids, now)?);
                self.touch(job, now);
                Ok(Map::new())
            }
            "UpdateOTAJob" => {
                let job = self.job_by_id(p.required("JobId")?)?.cloud;
                let rate = p.int32("MaximumPerMinute")?;
                let timeout = p.int32("TimeoutInMinutes")?;
                self.cloud.update_job(job, rate, timeout, now)?;
                self.touch(job, now);
                Ok(Map::new())
            }
            other => Err(ApiError::Gateway(GatewayError::InvalidAction(
                other.to_owned(),
            ))),
        }
    }

    fn touch(&mut self, cloud: u32, now: u64) {
        if let Some(job) = self.jobs.iter_mut().find(|j| j.cloud == cloud) {
            job.modified_ms = now;
        }
    }

    fn register_device(
        &mut self,
        p: &Params<'_>,
        now: u64,
        out: &mut Vec<Outgoing>,
    ) -> Result<Fields, ApiError> {
        let pk = p.required("ProductKey")?;
        let dn = match p.text("DeviceName") {
            Some(dn) => dn.to_owned(),
            None => opaque("", &format!("{pk}/{}", self.devices.len()))[..20].to_owned(),
        };
        let valid_name = (4..=32).contains(&dn.len())
            && dn
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_@.:".contains(c));
        if !valid_name {
            return Err(invalid(format!(
                "DeviceName: 4 to 32 of letters, digits and - _ @ . :, found {dn:?}"
            )));
        }
        if pk.is_empty() || pk.contains(['/', '+', '#']) {
            return Err(invalid(format!("ProductKey: {pk:?} cannot be in a topic")));
        }
        let key = DeviceKey::new(pk, dn.clone());
        if self.device(&key).is_some() {
            return Err(business(
                "iot.device.AlreadyExistedDeviceName",
                format!("device {pk}/{dn} is already registered"),
            ));
        }
        let secret = p
            .text(added::SECRET)
            .ok_or_else(|| invalid("the server did not generate a DeviceSecret"))?
            .to_owned();
        let record = DeviceRecord {
            iot_id: opaque("", &format!("{pk}/{dn}")),
            key,
            secret,
            nickname: p.text("Nickname").unwrap_or_default().to_owned(),
            created_ms: now,
            online: None,
            active_ms: None,
            ip: String::new(),
        };
        let data = json!({
            "ProductKey": record.key.0,
            "DeviceName": record.key.1,
            "DeviceSecret": record.secret,
            "IotId": record.iot_id,
            "Nickname": record.nickname,
        });
        let key = record.key.clone();
        self.devices.push(record);
        if let Some(report) = self.heard.remove(&key) {
            let topic = Topic {
                kind: otalab_protocol::TopicKind::Inform,
                product_key: key.0.clone(),
                device_name: key.1.clone(),
            }
            .to_string();
            out.extend(self.message(&topic, &report, now));
        }
        Ok(data_field(data))
    }

    fn create_firmware(&mut self, p: &Params<'_>, now: u64) -> Result<Fields, ApiError> {
        p.required("ProductKey")?;
        let name = p.required("FirmwareName")?;
        let dest = p.required("DestVersion")?;
        let url = p.required("FirmwareUrl")?;
        if name.chars().count() > 40 {
            return Err(invalid("FirmwareName: at most 40 characters"));
        }
        let firmware_type = p.int("Type")?.unwrap_or(0);
        if firmware_type > 1 {
            return Err(invalid(format!(
                "Type: 0 (full) or 1 (difference), found {firmware_type}"
            )));
        }
        if firmware_type == 1 && p.text("SrcVersion").is_none() {
            return Err(ApiError::Gateway(GatewayError::MissingParameter(
                "SrcVersion".into(),
            )));
        }
        let method_name = p.text("SignMethod").unwrap_or("MD5");
        let method = match method_name {
            "MD5" | "Md5" => SignMethod::Md5,
            "SHA256" | "Sha256" => SignMethod::Sha256,
            other => {
                return Err(invalid(format!(
                    "SignMethod: MD5 or SHA256, found {other:?}"
                )));
            }
        };
        let size = p
            .int(added::SIZE)?
            .ok_or_else(|| invalid("the server did not fetch FirmwareUrl"))?;
        let md5 = p.text(added::MD5).unwrap_or_default().to_owned();
        let sha256 = p.text(added::SHA256).unwrap_or_default().to_owned();
        if let Some(given) = p.int("FirmwareSize")?
            && given != size
        {
            return Err(business(
                "iot.ota.FirmwareSizeMismatch",
                format!("FirmwareSize: {given} given, the file at FirmwareUrl has {size} bytes"),
            ));
        }
        let digest = if method == SignMethod::Md5 {
            &md5
        } else {
            &sha256
        };
        if let Some(given) = p.text("FirmwareSign")
            && !given.eq_ignore_ascii_case(digest)
        {
            return Err(business(
                "iot.ota.FirmwareSignMismatch",
                format!("FirmwareSign: {given} given, the file's {method_name} is {digest}"),
            ));
        }
        otalab_protocol::Version::parse(dest).map_err(|e| invalid(format!("DestVersion: {e}")))?;
        let id = format!("otafw{:06}", self.next_firmware);
        self.next_firmware += 1;
        let mut package = Package {
            name: name.to_owned(),
            url: url.to_owned(),
            size,
            md5,
            sha256,
            version: dest.to_owned(),
        };
        package.name = url
            .rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or(name)
            .to_owned();
        let fields: BTreeMap<String, String> =
            p.0.iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
        self.firmware.push(FirmwareRecord {
            id: id.clone(),
            fields,
            package,
            sign_method: method,
            need_verify: p.flag("NeedToVerify")?.unwrap_or(false),
            created_ms: now,
        });
        Ok(data_field(json!({
            "FirmwareId": id,
            "UtcCreate": format_utc(now),
        })))
    }

    /// The firmware's `Status`: -1 needs no verification, 0 not verified, 1 verified,
    /// 2 verifying, 3 verification failed.
    fn firmware_status(&self, firmware: &FirmwareRecord) -> i32 {
        if !firmware.need_verify {
            return -1;
        }
        let mut status = 0;
        for job in self
            .jobs
            .iter()
            .filter(|j| j.verify && j.firmware == firmware.id)
        {
            let Some(view) = self.cloud.job_view(job.cloud) else {
                continue;
            };
            let done = |s| view.counts.get(&s).copied().unwrap_or(0);
            if done(TaskStatus::Succeeded) == view.total() && view.total() > 0 {
                return 1;
            }
            status = if matches!(view.status, JobStatus::Planned | JobStatus::InProgress) {
                2
            } else {
                3
            };
        }
        status
    }

    fn create_job(
        &mut self,
        p: &Params<'_>,
        kind: JobKind,
        now: u64,
        out: &mut Vec<Outgoing>,
    ) -> Result<Fields, ApiError> {
        let pk = p.required("ProductKey")?.to_owned();
        let firmware = self.firmware_by_id(p.required("FirmwareId")?)?.clone();
        if firmware.fields.get("ProductKey").map(String::as_str) != Some(pk.as_str()) {
            return Err(invalid(format!(
                "FirmwareId {}: the firmware belongs to another product",
                firmware.id
            )));
        }
        if kind != JobKind::Verify && !matches!(self.firmware_status(&firmware), -1 | 1) {
            return Err(business(
                "iot.ota.FirmwareNotVerified",
                format!(
                    "FirmwareId {}: NeedToVerify firmware needs a verify job whose devices all succeeded first (CreateOTAVerifyJob)",
                    firmware.id
                ),
            ));
        }
        let names = |p: &Params<'_>| -> Result<Vec<DeviceKey>, ApiError> {
            let list = p.list("TargetDeviceName");
            for name in &list {
                let key = DeviceKey::new(pk.clone(), name.clone());
                if !self.is_registered(&key) {
                    return Err(business(
                        "iot.device.NotExistedDevice",
                        format!("TargetDeviceName: device {pk}/{name} is not registered"),
                    ));
                }
            }
            Ok(list
                .into_iter()
                .map(|n| DeviceKey::new(pk.clone(), n))
                .collect())
        };
        let mut gray_percent = String::new();
        let target = match kind {
            JobKind::Verify => Target::Specific(names(p)?),
            JobKind::Dynamic => Target::Dynamic(match p.int("DynamicMode")?.unwrap_or(1) {
                1 => DynamicMode::CurrentAndFuture,
                2 => DynamicMode::FutureOnly,
                other => return Err(invalid(format!("DynamicMode: 1 or 2, found {other}"))),
            }),
            JobKind::Static => match p.required("TargetSelection")? {
                "ALL" => Target::All,
                "SPECIFIC" => {
                    if p.text("DnListFileUrl").is_some() {
                        return Err(invalid(
                            "DnListFileUrl: device list files are not supported by otalab serve yet; list the devices in TargetDeviceName",
                        ));
                    }
                    Target::Specific(names(p)?)
                }
                "GRAY" => {
                    gray_percent = p.required("GrayPercent")?.to_owned();
                    Target::Gray(gray_percent.clone())
                }
                "GROUP" => {
                    return Err(invalid(
                        "TargetSelection GROUP: device groups are not in otalab serve yet",
                    ));
                }
                other => {
                    return Err(invalid(format!(
                        "TargetSelection: ALL, SPECIFIC, GRAY or GROUP, found {other:?}"
                    )));
                }
            },
        };
        let mut spec = JobSpec::new(target);
        if kind == JobKind::Verify {
            spec.job_type = JobType::VerifyFirmware;
        }
        spec.src_versions = p.list("SrcVersion");
        if kind == JobKind::Dynamic && spec.src_versions.is_empty() {
            spec.src_versions = p.list("SrcVersions");
        }
        let tags = p.pairs("Tag");
        spec.tags = tags.iter().cloned().collect();
        spec.schedule_ms = p.int("ScheduleTime")?;
        spec.finish_ms = p.int("ScheduleFinishTime")?;
        if let Some(rate) = p.int32("MaximumPerMinute")? {
            spec.maximum_per_minute = rate;
        }
        let interval = p.int32("RetryInterval")?;
        let count = p.int32("RetryCount")?;
        spec.retry = match (interval, count) {
            (None, None) => None,
            (interval, count) => Some(Retry {
                interval_minutes: interval.unwrap_or(0),
                count: count.unwrap_or(1),
            }),
        };
        spec.timeout_minutes = p.int32("TimeoutInMinutes")?;
        spec.overwrite = match p.int("OverwriteMode")?.unwrap_or(1) {
            1 => OverwriteMode::Keep,
            2 => OverwriteMode::Replace,
            other => return Err(invalid(format!("OverwriteMode: 1 or 2, found {other}"))),
        };
        spec.multi_module = p.flag("MultiModuleMode")?.unwrap_or(false);
        spec.need_push = p.flag("NeedPush")?.unwrap_or(true);
        spec.need_confirm = p.flag("NeedConfirm")?.unwrap_or(false);
        spec.download = match p.text("DownloadProtocol").unwrap_or("HTTPS") {
            "HTTPS" => DownloadProtocol::Https,
            "MQTT" => DownloadProtocol::Mqtt,
            other => {
                return Err(invalid(format!(
                    "DownloadProtocol: HTTPS or MQTT, found {other:?}"
                )));
            }
        };
        spec.module = firmware
            .fields
            .get("ModuleName")
            .filter(|m| *m != "default")
            .cloned()
            .unwrap_or_default();
        let fleet: Vec<DeviceKey> = self
            .devices
            .iter()
            .filter(|d| d.key.0 == pk)
            .map(|d| d.key.clone())
            .collect();
        let (cloud, sent) =
            self.cloud
                .create_job(spec, &firmware.package, firmware.sign_method, &fleet, now)?;
        out.extend(sent);
        let id = opaque("otajob", &format!("{}/{cloud}", firmware.id));
        self.jobs.push(JobRecord {
            id: id.clone(),
            cloud,
            firmware: firmware.id.clone(),
            product_key: pk,
            verify: kind == JobKind::Verify,
            gray_percent,
            tags,
            created_ms: now,
            modified_ms: now,
        });
        Ok(data_field(
            json!({ "JobId": id, "UtcCreate": format_utc(now) }),
        ))
    }

    /// Answers a call that only reads.
    pub fn read(
        &self,
        action: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<Fields, ApiError> {
        let p = &Params(params);
        match action {
            "QueryDeviceDetail" => {
                let d = self.device_from(p)?;
                Ok(data_field(self.device_detail(d)))
            }
            "GetDeviceStatus" => {
                let d = self.device_from(p)?;
                Ok(data_field(json!({
                    "Status": d.status(),
                    "Timestamp": d.online.map_or(d.created_ms, |(_, at)| at),
                })))
            }
            "QueryDevice" => {
                let pk = p.required("ProductKey")?;
                let (page, size) = p.page(10, 50)?;
                let rows: Vec<Value> = self
                    .devices
                    .iter()
                    .filter(|d| d.key.0 == pk)
                    .map(|d| {
                        json!({
                            "DeviceName": d.key.1, "ProductKey": d.key.0, "IotId": d.iot_id,
                            "DeviceId": d.iot_id, "DeviceSecret": d.secret, "Nickname": d.nickname,
                            "DeviceStatus": d.status(), "UtcCreate": format_utc(d.created_ms),
                            "UtcModified": format_utc(d.created_ms),
                        })
                    })
                    .collect();
                let (rows, mut fields) = paged(rows, page, size);
                fields.remove("CurrentPage");
                fields.insert("Page".into(), json!(page));
                fields.insert("Data".into(), json!({ "DeviceInfo": rows }));
                Ok(fields)
            }
            "QueryOTAFirmware" => {
                let f = self.firmware_by_id(p.required("FirmwareId")?)?;
                let mut fields = Map::new();
                fields.insert("FirmwareInfo".into(), self.firmware_info(f, true));
                Ok(fields)
            }
            "ListOTAFirmware" => {
                let (page, size) = p.page(10, 200)?;
                let pk = p.text("ProductKey");
                let dest = p.text("DestVersion");
                let rows: Vec<Value> = self
                    .firmware
                    .iter()
                    .filter(|f| {
                        pk.is_none_or(|pk| f.fields.get("ProductKey").is_some_and(|v| v == pk))
                    })
                    .filter(|f| dest.is_none_or(|d| f.package.version == d))
                    .map(|f| self.firmware_info(f, false))
                    .collect();
                let (rows, mut fields) = paged(rows, page, size);
                fields.insert("FirmwareInfo".into(), json!({ "SimpleFirmwareInfo": rows }));
                Ok(fields)
            }
            "QueryOTAJob" => {
                let job = self.job_by_id(p.required("JobId")?)?;
                Ok(data_field(self.job_info(job)))
            }
            "ListOTAJobByFirmware" | "ListOTAJobByDevice" => {
                let firmware = p.required("FirmwareId")?;
                self.firmware_by_id(firmware)?;
                let (page, size) = p.page(10, 100)?;
                let device = if action == "ListOTAJobByDevice" {
                    Some(self.device_from(p)?.key.clone())
                } else {
                    None
                };
                let rows: Vec<Value> = self
                    .jobs
                    .iter()
                    .filter(|j| j.firmware == firmware)
                    .filter(|j| {
                        device.as_ref().is_none_or(|key| {
                            self.cloud
                                .device_tasks(key)
                                .iter()
                                .any(|t| t.job == j.cloud)
                        })
                    })
                    .map(|j| {
                        let mut info = self.job_info(j);
                        if let Value::Object(map) = &mut info {
                            map.retain(|k, _| SIMPLE_JOB_FIELDS.contains(&k.as_str()));
                        }
                        info
                    })
                    .collect();
                let (rows, mut fields) = paged(rows, page, size);
                fields.insert("Data".into(), json!({ "SimpleOTAJobInfo": rows }));
                Ok(fields)
            }
            "ListOTATaskByJob" => {
                let job = self.job_by_id(p.required("JobId")?)?;
                let (page, size) = p.page(10, 100)?;
                if u64::from(page) * u64::from(size) > 100_000 {
                    return Err(invalid(format!(
                        "CurrentPage × PageSize: at most 100000, found {page} × {size}"
                    )));
                }
                let status = p.text("TaskStatus");
                if let Some(s) = status
                    && !TaskStatus::ALL.iter().any(|t| t.name() == s)
                {
                    return Err(invalid(format!(
                        "TaskStatus: one of CONFIRM, QUEUED, NOTIFIED, IN_PROGRESS, SUCCEEDED, FAILED, CANCELED, found {s:?}"
                    )));
                }
                let names = p.list("DeviceNames");
                let ids = self
                    .cloud
                    .upgrade_jobs()
                    .get(job.cloud as usize - 1)
                    .map(|j| j.tasks.as_slice())
                    .unwrap_or_default();
                // Without a filter a page is a slice of the job's tasks; with one, every task
                // is looked at.
                let (tasks, mut fields) = if status.is_none() && names.is_empty() {
                    let (page_ids, fields) = paged(ids.to_vec(), page, size);
                    let tasks: Vec<&otalab_sim::jobs::Task> = page_ids
                        .iter()
                        .filter_map(|id| self.cloud.task(*id))
                        .collect();
                    (tasks, fields)
                } else {
                    let tasks: Vec<&otalab_sim::jobs::Task> = ids
                        .iter()
                        .filter_map(|id| self.cloud.task(*id))
                        .filter(|t| status.is_none_or(|s| t.status.name() == s))
                        .filter(|t| names.is_empty() || names.contains(&t.device.1))
                        .collect();
                    paged(tasks, page, size)
                };
                let rows: Vec<Value> = tasks.iter().map(|t| self.task_info(job, t)).collect();
                fields.insert("Data".into(), json!({ "SimpleOTATaskInfo": rows }));
                Ok(fields)
            }
            "ListOTAUnfinishedTaskByDevice" => {
                let d = self.device_from(p)?;
                let mut statuses = p.list("TaskStatusList");
                if let Some(s) = p.text("TaskStatus") {
                    statuses.push(s.to_owned());
                }
                let module = p.text("ModuleName");
                let rows: Vec<Value> = self
                    .cloud
                    .device_tasks(&d.key)
                    .into_iter()
                    .filter(|t| !t.is_final() || t.status == TaskStatus::Failed && !t.is_final())
                    .filter(|t| {
                        statuses.is_empty() || statuses.iter().any(|s| s == t.status.name())
                    })
                    .filter_map(|t| {
                        let job = self.jobs.iter().find(|j| j.cloud == t.job)?;
                        let firmware = self.firmware_by_id(&job.firmware).ok()?;
                        let name = firmware
                            .fields
                            .get("ModuleName")
                            .map_or("default", String::as_str);
                        if module.is_some_and(|m| m != name) {
                            return None;
                        }
                        let mut info = self.task_info(job, t);
                        if let Value::Object(map) = &mut info {
                            map.insert("ModuleName".into(), json!(name));
                        }
                        Some(info)
                    })
                    .collect();
                Ok(data_field(json!({ "SimpleOTATaskInfo": rows })))
            }
            "ListOTAModuleVersionsByDevice" => {
                let d = self.device_from(p)?;
                let (page, size) = p.page(10, 100)?;
                let rows: Vec<Value> = self
                    .cloud
                    .reported_version(&d.key)
                    .map(|v| {
                        json!({
                            "ProductKey": d.key.0, "DeviceName": d.key.1, "IotId": d.iot_id,
                            "ModuleName": "default", "ModuleVersion": v,
                        })
                    })
                    .into_iter()
                    .collect();
                let (rows, mut fields) = paged(rows, page, size);
                fields.insert("Data".into(), json!({ "SimpleOTAModuleInfo": rows }));
                Ok(fields)
            }
            other if writes(other) == Some(true) => Err(invalid(format!(
                "{other} writes: it is not answered as a read"
            ))),
            other => Err(ApiError::Gateway(GatewayError::InvalidAction(
                other.to_owned(),
            ))),
        }
    }

    fn device_detail(&self, d: &DeviceRecord) -> Value {
        let mut v = json!({
            "ProductKey": d.key.0, "DeviceName": d.key.1, "IotId": d.iot_id,
            "DeviceSecret": d.secret, "Nickname": d.nickname, "Status": d.status(),
            "FirmwareVersion": self.cloud.reported_version(&d.key).unwrap_or_default(),
            "IpAddress": d.ip, "NodeType": 0, "ProductName": d.key.0, "Region": "cn-shanghai",
            "UtcCreate": format_utc(d.created_ms),
        });
        if let Value::Object(map) = &mut v {
            if let Some(at) = d.active_ms {
                map.insert("UtcActive".into(), json!(format_utc(at)));
            }
            if let Some((true, at)) = d.online {
                map.insert("UtcOnline".into(), json!(format_utc(at)));
            }
        }
        v
    }

    fn firmware_info(&self, f: &FirmwareRecord, full: bool) -> Value {
        let field = |k: &str| f.fields.get(k).cloned().unwrap_or_default();
        let mut v = json!({
            "FirmwareId": f.id, "FirmwareName": field("FirmwareName"),
            "DestVersion": f.package.version, "SrcVersion": field("SrcVersion"),
            "FirmwareSize": f.package.size,
            "FirmwareSign": if f.sign_method == SignMethod::Md5 { &f.package.md5 } else { &f.package.sha256 },
            "SignMethod": if f.sign_method == SignMethod::Md5 { "MD5" } else { "SHA256" },
            "ModuleName": f.fields.get("ModuleName").map_or("default", String::as_str),
            "ProductKey": field("ProductKey"), "ProductName": field("ProductKey"),
            "Status": self.firmware_status(f),
            "Type": f.fields.get("Type").and_then(|t| t.parse::<u8>().ok()).unwrap_or(0),
            "FirmwareDesc": field("FirmwareDesc"),
            "UtcCreate": format_utc(f.created_ms), "UtcModified": format_utc(f.created_ms),
        });
        if full && let Value::Object(map) = &mut v {
            map.insert("FirmwareUrl".into(), json!(f.package.url));
            map.insert("Udi".into(), json!(field("Udi")));
            map.insert("VerifyProgress".into(), json!(0));
        }
        v
    }

    fn job_info(&self, job: &JobRecord) -> Value {
        let Some(engine) = self.cloud.upgrade_jobs().get(job.cloud as usize - 1) else {
            return json!({ "JobId": job.id });
        };
        let spec = &engine.spec;
        let dynamic = match spec.target {
            Target::Dynamic(mode) => Some(mode.number()),
            _ => None,
        };
        let utc = |ms: Option<u64>| ms.map(format_utc).unwrap_or_default();
        json!({
            "JobId": job.id,
            "JobStatus": engine.status.name(),
            "JobType": if job.verify { "VERIFY_FIRMWARE" } else { "UPGRADE_FIRMWARE" },
            "FirmwareId": job.firmware,
            "ProductKey": job.product_key,
            "DestVersion": engine.package.version,
            "SrcVersions": { "SrcVersion": spec.src_versions },
            "TargetSelection": if dynamic.is_some() { "ALL" } else { spec.target.name() },
            "SelectionType": if dynamic.is_some() { "DYNAMIC" } else { "STATIC" },
            "DynamicMode": dynamic.unwrap_or(0),
            "GrayPercent": job.gray_percent,
            "MaximumPerMinute": spec.maximum_per_minute,
            "RetryInterval": spec.retry.map_or(0, |r| r.interval_minutes),
            "RetryCount": spec.retry.map_or(0, |r| r.count),
            "TimeoutInMinutes": spec.timeout_minutes.unwrap_or(0),
            "OverwriteMode": if spec.overwrite == OverwriteMode::Replace { 2 } else { 1 },
            "NeedPush": spec.need_push,
            "NeedConfirm": spec.need_confirm,
            "DownloadProtocol": if spec.download == DownloadProtocol::Mqtt { "MQTT" } else { "HTTPS" },
            "MultiModuleMode": spec.multi_module,
            "Tags": { "OtaTagDTO": job.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>() },
            "UtcCreate": format_utc(job.created_ms),
            "UtcModified": format_utc(job.modified_ms),
            "UtcStartTime": utc(engine.started_ms),
            "UtcEndTime": utc(engine.ended_ms),
            "UtcScheduleTime": utc(spec.schedule_ms),
            "UtcScheduleFinishTime": utc(spec.finish_ms),
        })
    }

    fn task_info(&self, job: &JobRecord, task: &otalab_sim::jobs::Task) -> Value {
        let progress = match task.status {
            TaskStatus::Succeeded => 100,
            TaskStatus::InProgress => self
                .cloud
                .job(&task.device)
                .and_then(|j| {
                    j.steps
                        .iter()
                        .rev()
                        .find_map(|s| u8::try_from(s.step.value()).ok())
                })
                .map_or(0, i64::from),
            _ => 0,
        };
        let iot_id = self.device(&task.device).map_or_else(
            || opaque("", &format!("{}/{}", task.device.0, task.device.1)),
            |d| d.iot_id.clone(),
        );
        let engine = self.cloud.upgrade_jobs().get(job.cloud as usize - 1);
        json!({
            "TaskId": task.id.to_string(),
            "JobId": job.id,
            "FirmwareId": job.firmware,
            "ProductKey": task.device.0,
            "ProductName": task.device.0,
            "DeviceName": task.device.1,
            "IotId": iot_id,
            "SrcVersion": self.tasks_seen.get(&task.id).map(|s| s.0.clone()).unwrap_or_default(),
            "DestVersion": engine.map(|j| j.package.version.clone()).unwrap_or_default(),
            "TaskStatus": task.status.name(),
            "Progress": progress.to_string(),
            "TaskDesc": task.desc,
            "Timeout": engine.and_then(|j| j.spec.timeout_minutes).map(|m| m.to_string()).unwrap_or_default(),
            "UtcCreate": format_utc(task.timeline.first().map_or(0, |c| c.at_ms)),
            "UtcModified": format_utc(task.timeline.last().map_or(0, |c| c.at_ms)),
        })
    }
}

const SIMPLE_JOB_FIELDS: [&str; 12] = [
    "JobId",
    "JobStatus",
    "JobType",
    "FirmwareId",
    "ProductKey",
    "SelectionType",
    "TargetSelection",
    "Tags",
    "UtcCreate",
    "UtcStartTime",
    "UtcEndTime",
    "UtcModified",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobKind {
    Static,
    Dynamic,
    Verify,
}

fn data_field(data: Value) -> Fields {
    let mut fields = Map::new();
    fields.insert("Data".into(), data);
    fields
}

fn task_ids(p: &Params<'_>) -> Result<Vec<u64>, ApiError> {
    let ids = p.list("TaskId");
    if ids.is_empty() {
        return Err(ApiError::Gateway(GatewayError::MissingParameter(
            "TaskId.1".into(),
        )));
    }
    ids.iter()
        .map(|id| {
            id.parse::<u64>().map_err(|_| {
                business(
                    "iot.ota.TaskNotExist",
                    format!("TaskId {id:?}: no such task"),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::serve::store::{MemoryStore, Store};

    const T0: u64 = 1_767_225_600_000;

    fn call(action: &str, list: &[(&str, &str)]) -> Input {
        Input::Call {
            action: action.into(),
            params: list
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// `CreateOTAFirmware` of `package` for product a1pk, with the digests the server adds.
    fn create_firmware(package: &Package) -> Input {
        let size = package.size.to_string();
        call(
            "CreateOTAFirmware",
            &[
                ("ProductKey", "a1pk"),
                ("FirmwareName", "fw"),
                ("DestVersion", "2.0.0"),
                ("FirmwareUrl", &package.url),
                (added::SIZE, &size),
                (added::MD5, &package.md5),
                (added::SHA256, &package.sha256),
            ],
        )
    }

    #[test]
    fn every_action_is_known() {
        for action in ACTIONS {
            assert!(writes(action).is_some(), "{action}");
        }
        assert_eq!(writes("CreateProduct"), None);
    }

    /// A platform driven through a store, then rebuilt from what the store holds, answers
    /// every query the same.
    #[test]
    fn a_replay_gives_back_the_same_platform() {
        let mut store = MemoryStore::default();
        let mut live = Platform::new(7);
        let bytes = b"firmware bytes".to_vec();
        let package = Package::describe("http://127.0.0.1:1/fw.bin", "2.0.0", &bytes);
        let mut inputs = vec![];
        for dn in ["dev-1", "dev-2", "dev-3"] {
            inputs.push(call(
                "RegisterDevice",
                &[
                    ("ProductKey", "a1pk"),
                    ("DeviceName", dn),
                    (added::SECRET, "s"),
                ],
            ));
        }
        inputs.push(create_firmware(&package));
        for dn in ["dev-1", "dev-2", "dev-3"] {
            inputs.push(Input::Message {
                topic: format!("/ota/device/inform/a1pk/{dn}"),
                payload: br#"{"id":"1","params":{"version":"1.0.0"}}"#.to_vec(),
            });
        }
        inputs.push(call(
            "CreateOTAStaticUpgradeJob",
            &[
                ("ProductKey", "a1pk"),
                ("FirmwareId", "otafw000001"),
                ("TargetSelection", "ALL"),
                ("MaximumPerMinute", "10"),
            ],
        ));
        inputs.push(Input::Message {
            topic: "/ota/device/progress/a1pk/dev-1".into(),
            payload: br#"{"id":"2","params":{"step":"50","desc":""}}"#.to_vec(),
        });
        let mut answers = vec![];
        let mut written: BTreeMap<u64, Vec<(u64, String, String)>> = BTreeMap::new();
        for (i, input) in inputs.iter().enumerate() {
            let at = T0 + i as u64 * 1000;
            let (answer, _) = live.apply(at, input);
            answers.push(answer.clone());
            let rows = live.changed_tasks();
            for row in &rows {
                written
                    .entry(row.id)
                    .or_default()
                    .extend(row.changes.clone());
            }
            store.append(&[(at, input.clone())], &rows).unwrap();
        }
        // The task rows written beside the log hold every status change, once.
        for job in live.cloud.upgrade_jobs() {
            for id in &job.tasks {
                let task = live.cloud.task(*id).unwrap();
                let timeline: Vec<(u64, String, String)> = task
                    .timeline
                    .iter()
                    .map(|c| (c.at_ms, c.status.name().to_owned(), c.desc.clone()))
                    .collect();
                assert_eq!(written[id], timeline, "task {id}");
            }
        }
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        let job = answers.last().unwrap();
        assert!(job.as_ref().unwrap().is_empty());
        let job_id = live.jobs[0].id.clone();
        let mut replayed = Platform::new(7);
        for (at, input) in store.load().unwrap() {
            let _ = replayed.apply(at, &input);
        }
        let params: BTreeMap<String, String> =
            [("JobId".to_string(), job_id)].into_iter().collect();
        for action in ["QueryOTAJob", "ListOTATaskByJob"] {
            let a = live.read(action, &params).unwrap();
            let b = replayed.read(action, &params).unwrap();
            assert_eq!(a, b, "{action}");
        }
        let tasks = live.read("ListOTATaskByJob", &params).unwrap();
        let rows = tasks["Data"]["SimpleOTATaskInfo"].as_array().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["TaskStatus"], "IN_PROGRESS");
        assert_eq!(rows[0]["Progress"], "50");
        assert_eq!(rows[0]["SrcVersion"], "1.0.0");
        assert_eq!(rows[1]["TaskStatus"], "NOTIFIED");
    }

    fn read_ok(p: &Platform, action: &str, list: &[(&str, &str)]) -> Fields {
        let params: BTreeMap<String, String> = list
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        p.read(action, &params).unwrap()
    }

    fn report(dn: &str, version: &str) -> Input {
        Input::Message {
            topic: format!("/ota/device/inform/a1pk/{dn}"),
            payload: format!(r#"{{"id":"1","params":{{"version":"{version}"}}}}"#).into_bytes(),
        }
    }

    /// A dynamic job takes devices as they report a source version until its strategy is
    /// cancelled; UpdateOTAJob changes its rate; CancelOTATaskByDevice cancels one device's
    /// task; a device with an unfinished task is not deleted; the jobs of a device are listed.
    #[test]
    fn dynamic_jobs_strategy_update_and_cancel_by_device() {
        let mut p = Platform::new(1);
        let package = Package::describe("http://127.0.0.1:1/fw.bin", "2.0.0", b"fw");
        for dn in ["dev-1", "dev-2", "dev-3"] {
            let (a, _) = p.apply(
                T0,
                &call(
                    "RegisterDevice",
                    &[
                        ("ProductKey", "a1pk"),
                        ("DeviceName", dn),
                        (added::SECRET, "s"),
                    ],
                ),
            );
            a.unwrap();
        }
        p.apply(T0, &create_firmware(&package)).0.unwrap();
        let (job, _) = p.apply(
            T0,
            &call(
                "CreateOTADynamicUpgradeJob",
                &[
                    ("ProductKey", "a1pk"),
                    ("FirmwareId", "otafw000001"),
                    ("DynamicMode", "2"),
                    ("SrcVersion.1", "1.0.0"),
                ],
            ),
        );
        let job = job.unwrap()["Data"]["JobId"].as_str().unwrap().to_owned();
        let tasks = |p: &Platform| -> Vec<(String, String)> {
            read_ok(p, "ListOTATaskByJob", &[("JobId", &job)])["Data"]["SimpleOTATaskInfo"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t["DeviceName"].as_str().unwrap().to_owned(),
                        t["TaskStatus"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        // dev-1 reports a source version: a task, notified at once.
        let (_, sent) = p.apply(T0 + 1000, &report("dev-1", "1.0.0"));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].topic, "/ota/device/upgrade/a1pk/dev-1");
        assert_eq!(tasks(&p), [("dev-1".into(), "NOTIFIED".into())]);
        assert_eq!(
            read_ok(&p, "QueryOTAJob", &[("JobId", &job)])["Data"]["SelectionType"],
            "DYNAMIC"
        );
        // A new rate; a rate out of range is refused with the engine's code.
        p.apply(
            T0 + 2000,
            &call(
                "UpdateOTAJob",
                &[("JobId", &job), ("MaximumPerMinute", "50")],
            ),
        )
        .0
        .unwrap();
        assert_eq!(
            read_ok(&p, "QueryOTAJob", &[("JobId", &job)])["Data"]["MaximumPerMinute"],
            50
        );
        match p
            .apply(
                T0 + 2000,
                &call(
                    "UpdateOTAJob",
                    &[("JobId", &job), ("MaximumPerMinute", "5")],
                ),
            )
            .0
            .unwrap_err()
        {
            ApiError::Business { code, message } => {
                assert_eq!(code, "iot.common.InvalidFormattedParameter");
                assert!(message.starts_with("[JOB_RATE_OUT_OF_RANGE]"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // dev-2 joins; then the strategy is cancelled and dev-3 is not taken.
        p.apply(T0 + 3000, &report("dev-2", "1.0.0")).0.unwrap();
        p.apply(
            T0 + 4000,
            &call("CancelOTAStrategyByJob", &[("JobId", &job)]),
        )
        .0
        .unwrap();
        let (_, sent) = p.apply(T0 + 5000, &report("dev-3", "1.0.0"));
        assert!(sent.is_empty(), "{sent:?}");
        assert_eq!(tasks(&p).len(), 2);
        // A device with an unfinished task is not deleted; cancel its task by device first.
        match p
            .apply(
                T0 + 6000,
                &call(
                    "DeleteDevice",
                    &[("ProductKey", "a1pk"), ("DeviceName", "dev-2")],
                ),
            )
            .0
            .unwrap_err()
        {
            ApiError::Business { code, .. } => assert_eq!(code, "iot.ota.DeviceHasUnfinishedTask"),
            other => panic!("{other:?}"),
        }
        p.apply(
            T0 + 7000,
            &call(
                "CancelOTATaskByDevice",
                &[
                    ("ProductKey", "a1pk"),
                    ("FirmwareId", "otafw000001"),
                    ("DeviceName.1", "dev-2"),
                ],
            ),
        )
        .0
        .unwrap();
        assert_eq!(
            tasks(&p),
            [
                ("dev-1".into(), "NOTIFIED".into()),
                ("dev-2".into(), "CANCELED".into())
            ]
        );
        let by_device = read_ok(
            &p,
            "ListOTAJobByDevice",
            &[
                ("ProductKey", "a1pk"),
                ("DeviceName", "dev-2"),
                ("FirmwareId", "otafw000001"),
            ],
        );
        assert_eq!(by_device["Total"], 1);
        assert_eq!(
            by_device["Data"]["SimpleOTAJobInfo"][0]["JobId"],
            job.as_str()
        );
        p.apply(
            T0 + 8000,
            &call(
                "DeleteDevice",
                &[("ProductKey", "a1pk"), ("DeviceName", "dev-2")],
            ),
        )
        .0
        .unwrap();
        assert_eq!(
            read_ok(&p, "QueryDevice", &[("ProductKey", "a1pk")])["Total"],
            2
        );
    }

    #[test]
    fn refusals_carry_the_platform_codes() {
        let mut p = Platform::new(1);
        let (answer, _) = p.apply(T0, &call("RegisterDevice", &[("DeviceName", "dev-1")]));
        assert_eq!(
            answer.unwrap_err(),
            ApiError::Gateway(GatewayError::MissingParameter("ProductKey".into()))
        );
        let reg = call(
            "RegisterDevice",
            &[
                ("ProductKey", "a1pk"),
                ("DeviceName", "dev-1"),
                (added::SECRET, "s"),
            ],
        );
        assert!(p.apply(T0, &reg).0.is_ok());
        match p.apply(T0, &reg).0.unwrap_err() {
            ApiError::Business { code, .. } => {
                assert_eq!(code, "iot.device.AlreadyExistedDeviceName")
            }
            other => panic!("{other:?}"),
        }
        let (answer, _) = p.apply(
            T0,
            &call(
                "CreateOTAStaticUpgradeJob",
                &[
                    ("ProductKey", "a1pk"),
                    ("FirmwareId", "nope"),
                    ("TargetSelection", "ALL"),
                ],
            ),
        );
        match answer.unwrap_err() {
            ApiError::Business { code, message } => {
                assert_eq!(code, "iot.ota.FirmwareNotExist");
                assert!(message.contains("nope"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let params: BTreeMap<String, String> = [
            ("ProductKey".to_string(), "a1pk".to_string()),
            ("PageSize".to_string(), "x".to_string()),
        ]
        .into_iter()
        .collect();
        match p.read("QueryDevice", &params).unwrap_err() {
            ApiError::Business { code, message } => {
                assert_eq!(code, "iot.common.InvalidFormattedParameter");
                assert!(message.starts_with("PageSize"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    mod any_input {
        use super::*;
        use proptest::prelude::*;

        /// Parameter names the calls read, and their list and struct forms.
        const NAMES: [&str; 28] = [
            "ProductKey",
            "DeviceName",
            "IotId",
            "FirmwareId",
            "JobId",
            "FirmwareName",
            "DestVersion",
            "SrcVersion",
            "FirmwareUrl",
            "FirmwareSize",
            "FirmwareSign",
            "SignMethod",
            "Type",
            "TargetSelection",
            "TargetDeviceName.1",
            "GrayPercent",
            "ScheduleTime",
            "ScheduleFinishTime",
            "MaximumPerMinute",
            "RetryInterval",
            "RetryCount",
            "TimeoutInMinutes",
            "TaskId.1",
            "CurrentPage",
            "PageSize",
            "Tag.1.Key",
            "DynamicMode",
            "CancelQueuedTask",
        ];

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(String::new()),
                Just("a1pk".to_owned()),
                Just("dev-1".to_owned()),
                Just("otafw000001".to_owned()),
                Just("ALL".to_owned()),
                Just("true".to_owned()),
                "[0-9]{1,25}",
                "-?[0-9]{1,3}(\\.[0-9]{0,5})?",
                "\\PC{0,40}",
            ]
        }

        fn params() -> impl Strategy<Value = BTreeMap<String, String>> {
            proptest::collection::btree_map(
                proptest::sample::select(NAMES.to_vec()).prop_map(str::to_owned),
                value(),
                0..12,
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]
            /// Whatever the parameters, every call answers (data or a coded refusal) and the
            /// platform still serves: no panic, and a replay of the same inputs gives the same
            /// answers.
            #[test]
            fn every_call_answers_any_parameters(
                calls in proptest::collection::vec(
                    (proptest::sample::select(ACTIONS.to_vec()), params()),
                    1..12,
                )
            ) {
                let mut platform = Platform::new(1);
                let mut again = Platform::new(1);
                let setup = call(
                    "RegisterDevice",
                    &[("ProductKey", "a1pk"), ("DeviceName", "dev-1"), (added::SECRET, "s")],
                );
                let _ = platform.apply(T0, &setup);
                let _ = again.apply(T0, &setup);
                for (i, (action, params)) in calls.iter().enumerate() {
                    let at = T0 + i as u64 * 61_000;
                    if writes(action) == Some(true) {
                        let input = Input::Call { action: (*action).to_owned(), params: params.clone() };
                        let (a, _) = platform.apply(at, &input);
                        let (b, _) = again.apply(at, &input);
                        prop_assert_eq!(a, b);
                    } else {
                        let _ = platform.read(action, params);
                    }
                    let _ = platform.apply(at, &Input::Tick);
                    let _ = again.apply(at, &Input::Tick);
                }
                let probe: BTreeMap<String, String> =
                    [("ProductKey".to_owned(), "a1pk".to_owned()), ("DeviceName".to_owned(), "dev-1".to_owned())]
                        .into_iter()
                        .collect();
                prop_assert!(platform.read("QueryDeviceDetail", &probe).is_ok() || calls.iter().any(|(a, _)| *a == "DeleteDevice"));
            }
        }
    }
}
