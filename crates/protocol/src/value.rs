//! Validated values that appear inside OTA messages.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ValueError, quote};

/// An Alink message id: a decimal number carried as a JSON string (canonical) or number.
///
/// The documentation says 0..4294967295, but the cloud itself pushes millisecond timestamps
/// (`1626969597470`), so any decimal of 1 to 20 digits is accepted; the digits are kept exactly
/// as received so that replies correlate byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// Parses a decimal id of 1 to 20 ASCII digits.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        if (1..=20).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError::Id {
                value: quote(value),
            })
        }
    }

    /// The id as its decimal digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a JSON number when it is a plain decimal (no leading zero) of at most
    /// 2^53 - 1, which every JSON reader keeps exactly; otherwise its digits as a JSON string.
    pub fn to_json_number(&self) -> serde_json::Value {
        const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
        let plain = self.0 == "0" || !self.0.starts_with('0');
        match self.0.parse::<u64>() {
            Ok(n) if plain && n <= MAX_SAFE_INTEGER => n.into(),
            _ => self.0.as_str().into(),
        }
    }
}

impl From<u64> for MessageId {
    fn from(value: u64) -> Self {
        Self(value.to_string())
    }
}

impl FromStr for MessageId {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MessageId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Checks the cloud's rule for version and module names: 1..=64 chars of `[A-Za-z0-9._-]`.
fn name_rule(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        Err("must not be empty")
    } else if value.len() > 64 {
        Err("longer than 64 characters")
    } else if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Err("only letters, digits, '.', '_' and '-' are allowed")
    } else {
        Ok(())
    }
}

/// A firmware version: 1..=64 characters of `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(String);

impl Version {
    /// Validates a version string.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        name_rule(value)
            .map(|()| Self(value.to_owned()))
            .map_err(|reason| ValueError::Version {
                value: quote(value),
                reason,
            })
    }

    /// The version text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Version {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A firmware module name; absent on the wire means [`Module::DEFAULT`] (`default`, the whole device).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Module(String);

impl Module {
    /// The name of the whole-device module, which the wire leaves out.
    pub const DEFAULT: &'static str = "default";

    /// Validates a module name (1..=64 characters of `[A-Za-z0-9._-]`).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        name_rule(value)
            .map(|()| Self(value.to_owned()))
            .map_err(|reason| ValueError::Module {
                value: quote(value),
                reason,
            })
    }

    /// The module name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the `default` module, which canonical encoding leaves out.
    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }
}

impl Default for Module {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl FromStr for Module {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Module {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// How a firmware file is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SignMethod {
    /// MD5, 32 hex digits. On the wire: `Md5`.
    #[serde(rename = "Md5")]
    Md5,
    /// SHA-256, 64 hex digits.
    #[serde(rename = "SHA256")]
    Sha256,
}

impl SignMethod {
    /// Parses `MD5`/`SHA256` in any letter case (`Md5`, `Sha256`, ...), also `SHA-256`.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        match value.to_ascii_lowercase().as_str() {
            "md5" => Ok(Self::Md5),
            "sha256" | "sha-256" => Ok(Self::Sha256),
            _ => Err(ValueError::SignMethod {
                value: quote(value),
            }),
        }
    }

    /// The spelling the cloud puts on the wire: `Md5` or `SHA256`. The official device SDKs
    /// compare it exactly (Link SDK C 4.x accepts `Md5`, `SHA256`, `Sha256`; the Python Linkkit
    /// SDK `Md5` and `SHA256`), so `MD5` would be dropped by real devices.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "Md5",
            Self::Sha256 => "SHA256",
        }
    }

    /// The name used in error messages: `MD5` or `SHA256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA256",
        }
    }

    /// Length of a hex digest of this method.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Md5 => 32,
            Self::Sha256 => 64,
        }
    }
}

impl FromStr for SignMethod {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for SignMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hex digest checked against its sign method, stored in lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest(String);

impl Digest {
    /// Validates `value` as a hex digest of `method` (either letter case).
    pub fn parse(method: SignMethod, value: &str) -> Result<Self, ValueError> {
        let fail = |reason: String| ValueError::Digest {
            method: method.name(),
            value: quote(value),
            reason,
        };
        if let Some(bad) = value.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(fail(format!("{bad:?} is not a hex digit")));
        }
        if value.len() != method.hex_len() {
            return Err(fail(format!(
                "expected {} hex digits, found {}",
                method.hex_len(),
                value.len()
            )));
        }
        Ok(Self(value.to_ascii_lowercase()))
    }

    /// The digest as lowercase hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Why an upgrade failed, as the progress topic encodes it (-1..=-4). Written by its name:
/// `upgrade`, `download`, `verify` or `flash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Failure {
    /// `-1`: the upgrade failed (any other reason).
    Upgrade,
    /// `-2`: the download failed.
    Download,
    /// `-3`: verification (size or digest) failed.
    Verify,
    /// `-4`: flashing (burning) failed.
    Flash,
}

impl Failure {
    /// The wire code: -1, -2, -3 or -4.
    pub fn code(self) -> i8 {
        match self {
            Self::Upgrade => -1,
            Self::Download => -2,
            Self::Verify => -3,
            Self::Flash => -4,
        }
    }

    /// The failure whose wire code is `code` (-1..=-4), if any.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            -1 => Some(Self::Upgrade),
            -2 => Some(Self::Download),
            -3 => Some(Self::Verify),
            -4 => Some(Self::Flash),
            _ => None,
        }
    }

    /// What the code means, as a report says it (`verification failed`).
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Upgrade => "upgrade failed",
            Self::Download => "download failed",
            Self::Verify => "verification failed",
            Self::Flash => "flashing failed",
        }
    }

    /// A short English name (`upgrade`, `download`, `verify`, `flash`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Upgrade => "upgrade",
            Self::Download => "download",
            Self::Verify => "verify",
            Self::Flash => "flash",
        }
    }
}

/// A progress step: a percentage or a failure code. Nothing else means anything to the cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// 0..=100 percent.
    Percent(u8),
    /// A failure code (-1..=-4).
    Failed(Failure),
}

impl Step {
    /// Checks a numeric step.
    pub fn from_i64(value: i64) -> Result<Self, ValueError> {
        match value {
            0..=100 => Ok(Self::Percent(value as u8)),
            _ => Failure::from_code(value)
                .map(Self::Failed)
                .ok_or_else(|| ValueError::Step {
                    value: value.to_string(),
                }),
        }
    }

    /// The failure, when the step is a failure code.
    pub fn failure(self) -> Option<Failure> {
        match self {
            Self::Percent(_) => None,
            Self::Failed(failure) => Some(failure),
        }
    }

    /// Parses a step written as decimal text (`"57"`, `"-3"`, surrounding spaces allowed).
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        value
            .trim()
            .parse::<i64>()
            .map_err(|_| ValueError::Step {
                value: quote(value),
            })
            .and_then(Self::from_i64)
    }

    /// The numeric value: 0..=100 or -1..=-4.
    pub fn value(self) -> i64 {
        match self {
            Self::Percent(p) => i64::from(p),
            Self::Failed(f) => i64::from(f.code()),
        }
    }
}

impl FromStr for Step {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value())
    }
}

/// A step is its number in serde formats (`57`, `-3`).
impl Serialize for Step {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.value())
    }
}

/// Reads a step from an integer; anything outside 0..=100 and -1..=-4 is refused.
impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(deserializer)?;
        Self::from_i64(value).map_err(serde::de::Error::custom)
    }
}

/// Checks that `value` is an absolute `http://` or `https://` URL with a host. Only such URLs are
/// ever fetched or linked.
pub fn check_http_url(value: &str) -> Result<(), ValueError> {
    let fail = |reason| ValueError::Url {
        value: quote(value),
        reason,
    };
    let lower = value.get(..8).unwrap_or(value).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &value[8..]
    } else if lower.starts_with("http://") {
        &value[7..]
    } else {
        return Err(fail("only http:// and https:// URLs are allowed"));
    };
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail("contains whitespace or control characters"));
    }
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..host_end];
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if host.is_empty() || host.starts_with(':') {
        return Err(fail("has no host"));
    }
    Ok(())
}
