//! One simulated device in the tab: its `otalab_sim::Device` machine, its MQTT client, its
//! download and timer, and the row it shows on.

use gloo_timers::callback::Timeout;
use leptos::prelude::*;
use otalab_browser::{Download, MqttClient};
use otalab_sim::{Device, DeviceKey, Fault, Link, Phase};

use crate::state::fleet::DeviceSpec;
use crate::state::{DeviceRow, DeviceStatus};

/// A device and what drives it.
pub(super) struct SimDevice {
    pub spec: DeviceSpec,
    pub machine: Device,
    pub client: Option<MqttClient>,
    /// Bumped on every new connection or download: events of replaced ones are dropped.
    pub generation: u64,
    pub download: Option<Download>,
    pub wake: Option<Timeout>,
    pub row: DeviceRow,
    pub link: Link,
    pub link_error: Option<String>,
    pub error: Option<String>,
}

impl SimDevice {
    /// A device not connected yet, with its row.
    pub fn new(spec: DeviceSpec, machine: Device, row: DeviceRow) -> Self {
        Self {
            spec,
            machine,
            client: None,
            generation: 0,
            download: None,
            wake: None,
            row,
            link: Link::Idle,
            link_error: None,
            error: None,
        }
    }

    /// `productKey/deviceName`, as the log shows it.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.spec.product_key, self.spec.device_name)
    }

    /// Copies the machine's view into the row's signal (only when something changed).
    pub fn sync(&self) {
        let machine = &self.machine;
        let failure = match machine.phase() {
            Phase::Failed { code, desc } => Some((*code, desc.clone())),
            _ => None,
        };
        let fault = match &machine.config().fault {
            Fault::None => None,
            other => Some(other.clone()),
        };
        let versions: Vec<(String, String)> = machine
            .config()
            .modules
            .iter()
            .map(|(m, v)| (m.clone(), v.clone()))
            .collect();
        let phase = machine.phase();
        let percent = machine.percent();
        let history_len = machine.history().len();
        self.row.status.maybe_update(|s| {
            let changed = s.link != self.link
                || s.link_error != self.link_error
                || s.phase.name() != phase.name()
                || s.percent != percent
                || s.versions != versions
                || s.failure != failure
                || s.history.len() != history_len
                || s.fault != fault
                || s.error != self.error;
            if changed {
                s.link = self.link;
                s.link_error.clone_from(&self.link_error);
                s.phase = phase.clone();
                s.percent = percent;
                s.versions = versions;
                s.failure = failure;
                s.history = machine.history().to_vec();
                s.fault = fault;
                s.error.clone_from(&self.error);
            }
            changed
        });
    }

    /// Shows the last notice (decoded and raw) on the row.
    pub fn set_notice(&self) {
        if let Some(notice) = self.machine.notice() {
            let json = serde_json::to_value(notice).unwrap_or_default();
            let raw = notice.encode();
            self.row.status.update(|s| s.notice = Some((json, raw)));
        }
    }
}

/// A new row for a device, with its own signals (disposed when the device is removed).
pub(super) fn new_row(id: u32, spec: &DeviceSpec) -> DeviceRow {
    DeviceRow {
        id,
        status: RwSignal::new(DeviceStatus::default()),
        name: StoredValue::new(DeviceKey::new(
            spec.product_key.clone(),
            spec.device_name.clone(),
        )),
        verdict: RwSignal::new(None),
        external: false,
    }
}

/// Frees a removed row's signals.
pub fn dispose_row(row: DeviceRow) {
    row.status.dispose();
    row.name.dispose();
    row.verdict.dispose();
}
