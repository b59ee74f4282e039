//! Aliyun MQTT login (reference §5): client id, username, HMAC password, WebSocket URL.

use std::fmt;
use std::str::FromStr;

use hmac::{KeyInit, Mac};
use serde::Serialize;

use crate::error::{CredentialsError, quote};
use crate::topic::check_segment;
use crate::verify::to_hex;

/// The HMAC used for the MQTT password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MqttSignMethod {
    /// `hmacmd5`.
    HmacMd5,
    /// `hmacsha1`.
    HmacSha1,
    /// `hmacsha256` (the default).
    #[default]
    HmacSha256,
}

impl MqttSignMethod {
    /// Parses `hmacmd5`, `hmacsha1` or `hmacsha256` in any letter case.
    pub fn parse(value: &str) -> Result<Self, CredentialsError> {
        match value.to_ascii_lowercase().as_str() {
            "hmacmd5" => Ok(Self::HmacMd5),
            "hmacsha1" => Ok(Self::HmacSha1),
            "hmacsha256" => Ok(Self::HmacSha256),
            _ => Err(CredentialsError::SignMethod {
                value: quote(value),
            }),
        }
    }

    /// The spelling used in the client id: `hmacmd5`, `hmacsha1`, `hmacsha256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HmacMd5 => "hmacmd5",
            Self::HmacSha1 => "hmacsha1",
            Self::HmacSha256 => "hmacsha256",
        }
    }

    /// Hex HMAC of `content` keyed with `key`.
    pub fn sign_hex(self, key: &[u8], content: &[u8]) -> String {
        fn run<M: Mac + KeyInit>(key: &[u8], content: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length; new_from_slice cannot fail for it.
            match <M as KeyInit>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(content);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        let bytes = match self {
            Self::HmacMd5 => run::<hmac::Hmac<md5::Md5>>(key, content),
            Self::HmacSha1 => run::<hmac::Hmac<sha1::Sha1>>(key, content),
            Self::HmacSha256 => run::<hmac::Hmac<sha2::Sha256>>(key, content),
        };
        to_hex(&bytes)
    }
}

impl FromStr for MqttSignMethod {
    type Err = CredentialsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for MqttSignMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the device connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// An older public instance: `{pk}.iot-as-mqtt.{region}.aliyuncs.com`.
    Region(String),
    /// An instance created since 2021-07-30: `{instanceId}.mqtt.iothub.aliyuncs.com`.
    Instance(String),
}

impl Endpoint {
    fn check(field: &'static str, value: &str) -> Result<(), CredentialsError> {
        if !value.is_empty()
            && value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            Ok(())
        } else {
            Err(CredentialsError::Endpoint {
                field,
                value: quote(value),
            })
        }
    }

    /// A region endpoint such as `cn-shanghai`.
    pub fn region(region: &str) -> Result<Self, CredentialsError> {
        Self::check("region", region).map(|()| Self::Region(region.to_owned()))
    }

    /// An instance endpoint such as `iot-06z00ax1o4d9lh8`.
    pub fn instance(instance_id: &str) -> Result<Self, CredentialsError> {
        Self::check("instanceId", instance_id).map(|()| Self::Instance(instance_id.to_owned()))
    }

    /// The host name for a product.
    pub fn host(&self, product_key: &str) -> String {
        match self {
            Self::Region(region) => format!("{product_key}.iot-as-mqtt.{region}.aliyuncs.com"),
            Self::Instance(id) => format!("{id}.mqtt.iothub.aliyuncs.com"),
        }
    }

    /// The MQTT-over-WebSocket URL: `wss://host:443/` with TLS, `ws://host:443/` without.
    pub fn websocket_url(&self, product_key: &str, tls: bool) -> String {
        let scheme = if tls { "wss" } else { "ws" };
        format!("{scheme}://{}:443/", self.host(product_key))
    }
}

/// What the credentials are made from. `Debug` shows the secret as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// productKey.
    pub product_key: String,
    /// deviceName.
    pub device_name: String,
    /// deviceSecret (never logged by otalab).
    pub device_secret: String,
}

impl fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("product_key", &self.product_key)
            .field("device_name", &self.device_name)
            .field("device_secret", &"<redacted>")
            .finish()
    }
}

/// Options of the MQTT login.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CredentialOptions {
    /// Free client id (MAC, SN, ...); `{pk}.{dn}` when absent.
    pub client_id: Option<String>,
    /// Milliseconds since 1970 as decimal text; left out of client id and signature when absent.
    pub timestamp: Option<String>,
    /// The HMAC (default hmacsha256).
    pub sign_method: MqttSignMethod,
    /// TLS (`securemode=2`) or plain (`securemode=3`).
    pub tls: bool,
}

/// The MQTT CONNECT fields for one device.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MqttCredentials {
    /// The MQTT client id with its `|securemode=..,signmethod=..,timestamp=..|` suffix.
    pub client_id: String,
    /// `{deviceName}&{productKey}`.
    pub username: String,
    /// Hex HMAC over the sorted parameters, keyed with the device secret.
    pub password: String,
}

impl fmt::Debug for MqttCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttCredentials")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl MqttCredentials {
    /// Computes the login of `identity` under `options`.
    ///
    /// ```
    /// use otalab_protocol::{CredentialOptions, DeviceIdentity, MqttCredentials};
    ///
    /// let device = DeviceIdentity {
    ///     product_key: "a1FlMDWCTf1".into(),
    ///     device_name: "device1".into(),
    ///     device_secret: "secret1".into(),
    /// };
    /// let options = CredentialOptions {
    ///     client_id: Some("12345".into()),
    ///     timestamp: Some("1700000000000".into()),
    ///     tls: true,
    ///     ..Default::default()
    /// };
    /// let login = MqttCredentials::new(&device, &options).unwrap();
    /// assert_eq!(login.client_id, "12345|securemode=2,signmethod=hmacsha256,timestamp=1700000000000|");
    /// assert_eq!(login.username, "device1&a1FlMDWCTf1");
    /// ```
    pub fn new(
        identity: &DeviceIdentity,
        options: &CredentialOptions,
    ) -> Result<Self, CredentialsError> {
        check_segment("productKey", &identity.product_key)?;
        check_segment("deviceName", &identity.device_name)?;
        if identity.device_secret.is_empty() {
            return Err(CredentialsError::Empty {
                field: "deviceSecret",
            });
        }
        let client_id = match &options.client_id {
            Some(id) => {
                let reason = if id.is_empty() {
                    Some("must not be empty")
                } else if id.chars().count() > 64 {
                    Some("longer than 64 characters")
                } else if id.chars().any(|c| c == '|' || c == ',' || c.is_control()) {
                    Some("'|', ',' and control characters are not allowed")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return Err(CredentialsError::ClientId {
                        value: quote(id),
                        reason,
                    });
                }
                id.clone()
            }
            None => format!("{}.{}", identity.product_key, identity.device_name),
        };
        if let Some(ts) = &options.timestamp
            && (ts.is_empty() || ts.len() > 20 || !ts.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(CredentialsError::Timestamp { value: quote(ts) });
        }

        let securemode = if options.tls { 2 } else { 3 };
        let method = options.sign_method;
        let mut suffix = format!("securemode={securemode},signmethod={method}");
        let mut content = format!("clientId{client_id}");
        content.push_str(&format!(
            "deviceName{}productKey{}",
            identity.device_name, identity.product_key
        ));
        if let Some(ts) = &options.timestamp {
            suffix.push_str(&format!(",timestamp={ts}"));
            content.push_str(&format!("timestamp{ts}"));
        }
        Ok(Self {
            client_id: format!("{client_id}|{suffix}|"),
            username: format!("{}&{}", identity.device_name, identity.product_key),
            password: method.sign_hex(identity.device_secret.as_bytes(), content.as_bytes()),
        })
    }
}
