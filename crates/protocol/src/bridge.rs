//! The bridge SDK's three OTA calls (reference §4) as a transport-agnostic core: it turns calls
//! into `(topic, payload, qos)` to publish, and incoming messages into notices for a device.

use std::collections::HashMap;

use thiserror::Error;

use crate::devices_conf::DeviceEntry;
use crate::error::{PayloadError, TopicError, ValueError, quote};
use crate::message::{Progress, UpgradeNotice, VersionReport};
use crate::topic::{Topic, TopicKind};
use crate::value::{MessageId, Module, Step, Version};

/// A bridge call could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// No device with this originalIdentity was configured.
    #[error("unknown device {identity}: not in the configured devices")]
    UnknownDevice {
        /// The originalIdentity (quoted).
        identity: String,
    },
    /// Two configured devices share an originalIdentity or a (productKey, deviceName).
    #[error("duplicate device {identity}")]
    DuplicateDevice {
        /// The repeated identity (quoted).
        identity: String,
    },
    /// An argument (request id, version, step, module) is invalid.
    #[error("{argument}: {source}")]
    Argument {
        /// Which argument.
        argument: &'static str,
        /// What is wrong with it.
        source: ValueError,
    },
    /// A configured device has an illegal productKey or deviceName.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// An incoming OTA payload for a known device could not be decoded.
    #[error("{topic}: {source}")]
    Payload {
        /// The topic it came on.
        topic: String,
        /// What is wrong with it.
        source: PayloadError,
    },
}

impl BridgeError {
    /// The stable machine-readable code (the inner error's code for wrapped errors).
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownDevice { .. } => "UNKNOWN_DEVICE",
            Self::DuplicateDevice { .. } => "DUPLICATE_DEVICE",
            Self::Argument { source, .. } => source.code(),
            Self::Topic(inner) => inner.code(),
            Self::Payload { source, .. } => source.code(),
        }
    }
}

/// A message the transport must publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The topic.
    pub topic: String,
    /// The JSON payload.
    pub payload: String,
    /// MQTT QoS (0 or 1; Alibaba Cloud IoT has no QoS 2).
    pub qos: u8,
}

/// An upgrade notice that arrived for a configured device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceNotice<'a> {
    /// The device it is for.
    pub device: &'a DeviceEntry,
    /// The notice (from T2, or from a T5 reply carrying a package).
    pub notice: UpgradeNotice,
}

/// Maps originalIdentity ↔ (productKey, deviceName) and speaks T1/T2/T3/T5 for them.
#[derive(Debug, Clone)]
pub struct Bridge {
    devices: Vec<DeviceEntry>,
    by_identity: HashMap<String, usize>,
    by_topic: HashMap<(String, String), usize>,
}

fn argument<T>(argument: &'static str, r: Result<T, ValueError>) -> Result<T, BridgeError> {
    r.map_err(|source| BridgeError::Argument { argument, source })
}

impl Bridge {
    /// A bridge for these devices (as read from `devices.conf`).
    pub fn new(devices: Vec<DeviceEntry>) -> Result<Self, BridgeError> {
        let mut by_identity = HashMap::new();
        let mut by_topic = HashMap::new();
        for (index, device) in devices.iter().enumerate() {
            crate::topic::check_segment("productKey", &device.product_key)?;
            crate::topic::check_segment("deviceName", &device.device_name)?;
            let key = (device.product_key.clone(), device.device_name.clone());
            if by_identity
                .insert(device.original_identity.clone(), index)
                .is_some()
                || by_topic.insert(key, index).is_some()
            {
                return Err(BridgeError::DuplicateDevice {
                    identity: quote(&device.original_identity),
                });
            }
        }
        Ok(Self {
            devices,
            by_identity,
            by_topic,
        })
    }

    /// The configured devices.
    pub fn devices(&self) -> &[DeviceEntry] {
        &self.devices
    }

    /// The device with this originalIdentity.
    pub fn device(&self, identity: &str) -> Result<&DeviceEntry, BridgeError> {
        self.by_identity
            .get(identity)
            .and_then(|&i| self.devices.get(i))
            .ok_or_else(|| BridgeError::UnknownDevice {
                identity: quote(identity),
            })
    }

    fn topic(&self, kind: TopicKind, device: &DeviceEntry) -> Result<String, BridgeError> {
        Ok(Topic::new(kind, &device.product_key, &device.device_name)?.to_string())
    }

    fn module(module: Option<&str>) -> Result<Module, BridgeError> {
        module.map_or(Ok(Module::default()), |m| {
            argument("module", Module::parse(m))
        })
    }

    /// `reportOtaVersion`: the T1 message reporting `version`.
    pub fn version_report(
        &self,
        request_id: &str,
        identity: &str,
        version: &str,
        module: Option<&str>,
    ) -> Result<Outgoing, BridgeError> {
        let device = self.device(identity)?;
        let report = VersionReport::new(
            argument("requestId", MessageId::parse(request_id))?,
            argument("version", Version::parse(version))?,
            Self::module(module)?,
        );
        Ok(Outgoing {
            topic: self.topic(TopicKind::Inform, device)?,
            payload: report.encode(),
            qos: 1,
        })
    }

    /// `reportOtaProgress`: the T3 message for `step` (0..=100 or -1..=-4).
    pub fn progress(
        &self,
        request_id: &str,
        identity: &str,
        step: &str,
        desc: &str,
        module: Option<&str>,
    ) -> Result<Outgoing, BridgeError> {
        let device = self.device(identity)?;
        let progress = Progress::new(
            argument("requestId", MessageId::parse(request_id))?,
            argument("step", Step::parse(step))?,
            desc,
            Self::module(module)?,
        );
        Ok(Outgoing {
            topic: self.topic(TopicKind::Progress, device)?,
            payload: progress.encode(),
            qos: 1,
        })
    }

    /// The topics to subscribe to: T2 and T5 of every device.
    pub fn subscriptions(&self) -> Vec<String> {
        self.devices
            .iter()
            .flat_map(|d| {
                [TopicKind::Upgrade, TopicKind::FirmwareGetReply].map(|kind| {
                    Topic {
                        kind,
                        product_key: d.product_key.clone(),
                        device_name: d.device_name.clone(),
                    }
                    .to_string()
                })
            })
            .collect()
    }

    /// Routes an incoming message. `Ok(None)` when it is not an OTA downlink for a configured
    /// device (or a T5 reply without a package); an error when it is one but does not decode.
    pub fn route(
        &self,
        topic: &str,
        payload: &[u8],
    ) -> Result<Option<DeviceNotice<'_>>, BridgeError> {
        let Ok(parsed) = Topic::parse(topic) else {
            return Ok(None);
        };
        if !parsed.kind.is_downlink() {
            return Ok(None);
        }
        let Some(device) = self
            .by_topic
            .get(&(parsed.product_key, parsed.device_name))
            .and_then(|&i| self.devices.get(i))
        else {
            return Ok(None);
        };
        let wrap = |source| BridgeError::Payload {
            topic: topic.to_owned(),
            source,
        };
        let notice = match parsed.kind {
            TopicKind::Upgrade => Some(UpgradeNotice::decode(payload).map_err(wrap)?),
            _ => UpgradeNotice::decode_reply(payload).map_err(wrap)?,
        };
        Ok(notice.map(|notice| DeviceNotice { device, notice }))
    }
}
