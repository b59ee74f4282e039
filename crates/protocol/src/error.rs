//! Error types, one enum per concern.
//!
//! Every variant has a stable [`code`](ValueError::code) string (pinned by a test): tools that
//! consume otalab match on the code, people read the message. Messages are lowercase, say what
//! was wrong and where, and quote the offending value (shortened when long).

use thiserror::Error;

/// Longest quoted input shown inside an error message.
const QUOTE_LIMIT: usize = 48;

/// Renders a value for an error message: JSON-quoted and shortened to a readable length.
pub(crate) fn quote(value: &str) -> String {
    let mut shown: String = value.chars().take(QUOTE_LIMIT).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    serde_json::Value::String(shown).to_string()
}

/// A topic could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TopicError {
    /// A productKey or deviceName segment is empty.
    #[error("{segment}: must not be empty")]
    EmptySegment {
        /// Which segment (`productKey` or `deviceName`).
        segment: &'static str,
    },
    /// A segment holds a character that breaks topic matching (`/`, `+`, `#`) or a control character.
    #[error(
        "{segment}: illegal character {ch:?} in {value}; `/`, `+`, `#` and control characters are not allowed"
    )]
    IllegalChar {
        /// Which segment (`productKey` or `deviceName`).
        segment: &'static str,
        /// The segment as given (quoted, shortened).
        value: String,
        /// The first illegal character.
        ch: char,
    },
    /// The topic is not one of the OTA topics.
    #[error(
        "topic {topic} is not an OTA topic; expected /ota/device/{{inform|upgrade|progress}}/{{pk}}/{{dn}}, /sys/{{pk}}/{{dn}}/thing/ota/firmware/get[_reply] or /sys/{{pk}}/{{dn}}/thing/file/download[_reply]"
    )]
    Unknown {
        /// The topic as given (quoted, shortened).
        topic: String,
    },
}

impl TopicError {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptySegment { .. } => "TOPIC_EMPTY_SEGMENT",
            Self::IllegalChar { .. } => "TOPIC_ILLEGAL_CHAR",
            Self::Unknown { .. } => "TOPIC_UNKNOWN",
        }
    }
}

/// A single value (version, digest, step, ...) is not valid on its own.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A version string is empty, longer than 64 characters, or uses characters outside `[A-Za-z0-9._-]`.
    #[error("invalid version {value}: {reason}")]
    Version {
        /// The value as given (quoted, shortened).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A module name is empty, longer than 64 characters, or uses characters outside `[A-Za-z0-9._-]`.
    #[error("invalid module {value}: {reason}")]
    Module {
        /// The value as given (quoted, shortened).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A message id is not a decimal number of at most 20 digits.
    #[error("invalid message id {value}: expected a decimal number of 1 to 20 digits")]
    Id {
        /// The value as given (quoted, shortened).
        value: String,
    },
    /// A digest is not hex, or not of the length its sign method needs.
    #[error("invalid {method} digest {value}: {reason}")]
    Digest {
        /// The sign method the digest was checked against (`MD5` or `SHA256`).
        method: &'static str,
        /// The value as given (quoted, shortened).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A sign method is neither MD5 nor SHA256 (in any letter case).
    #[error("unknown sign method {value}; expected MD5 or SHA256 (any case)")]
    SignMethod {
        /// The value as given (quoted, shortened).
        value: String,
    },
    /// A progress step is neither a percentage 0..=100 nor a failure code -1..=-4.
    #[error(
        "invalid progress step {value}: expected 0..=100 or a failure code -1 (upgrade), -2 (download), -3 (verify), -4 (flash)"
    )]
    Step {
        /// The value as given.
        value: String,
    },
    /// A download URL is not an absolute `http://` or `https://` URL.
    #[error("invalid url {value}: {reason}")]
    Url {
        /// The value as given (quoted, shortened).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The download protocol (`dProtocol`) is neither https nor mqtt.
    #[error("unknown download protocol {value}; expected \"https\" or \"mqtt\"")]
    DownloadProtocol {
        /// The value as given (quoted, shortened).
        value: String,
    },
}

impl ValueError {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Version { .. } => "INVALID_VERSION",
            Self::Module { .. } => "INVALID_MODULE",
            Self::Id { .. } => "INVALID_ID",
            Self::Digest { .. } => "INVALID_DIGEST",
            Self::SignMethod { .. } => "UNKNOWN_SIGN_METHOD",
            Self::Step { .. } => "INVALID_STEP",
            Self::Url { .. } => "INVALID_URL",
            Self::DownloadProtocol { .. } => "UNKNOWN_DOWNLOAD_PROTOCOL",
        }
    }
}

/// A payload could not be decoded. `path` names the field (`data.files[1].fileSize`; `payload` is
/// the whole document).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES); it was refused unread.
    #[error("payload: {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the refused payload in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The payload is not well-formed JSON (or not UTF-8).
    #[error("payload: not valid JSON: {detail}")]
    InvalidJson {
        /// What the JSON parser said, with line and column.
        detail: String,
    },
    /// A field has the wrong JSON type.
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// Where the field is.
        path: String,
        /// What was expected, e.g. `a non-negative integer`.
        expected: &'static str,
        /// The value found (JSON, shortened).
        found: String,
    },
    /// A required field is absent (or `null`).
    #[error("{path}: missing required field")]
    MissingField {
        /// Where the field should be.
        path: String,
    },
    /// A field has the right type but an invalid value.
    #[error("{path}: {source}")]
    Invalid {
        /// Where the field is.
        path: String,
        /// What is wrong with the value.
        source: ValueError,
    },
    /// The cloud answered with a non-success `code` (neither "1000" nor 200).
    #[error("code: the cloud answered {code} ({message}) instead of success")]
    CloudError {
        /// The code as sent.
        code: String,
        /// The `message` field, or an empty string.
        message: String,
    },
    /// A file block frame (T7) ends before its own header says it should.
    #[error("frame: {length} bytes is too short: {needed}")]
    ShortFrame {
        /// Bytes received.
        length: usize,
        /// What the frame needed at least, in words (`the 2-byte header length`, ...).
        needed: String,
    },
    /// A file block frame's length is not 2 + header + `bSize` + 2.
    #[error("frame: {actual} bytes, but its header (bSize {block_size}) makes it {expected} bytes")]
    FrameLength {
        /// Length the header implies.
        expected: usize,
        /// Length received.
        actual: usize,
        /// `data.bSize` from the header.
        block_size: u64,
    },
    /// A file block's CRC-16/ARC does not match the one at the end of the frame.
    #[error(
        "frame: block CRC-16 mismatch: the frame says {expected:#06x}, the block gives {actual:#06x}"
    )]
    CrcMismatch {
        /// The CRC carried by the frame.
        expected: u16,
        /// The CRC computed over the block.
        actual: u16,
    },
}

impl PayloadError {
    /// The stable machine-readable code of this error. For [`PayloadError::Invalid`] it is the
    /// code of the value error inside (e.g. `INVALID_DIGEST`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::InvalidJson { .. } => "INVALID_JSON",
            Self::WrongType { .. } => "WRONG_TYPE",
            Self::MissingField { .. } => "MISSING_FIELD",
            Self::Invalid { source, .. } => source.code(),
            Self::CloudError { .. } => "CLOUD_ERROR",
            Self::ShortFrame { .. } => "SHORT_FRAME",
            Self::FrameLength { .. } => "FRAME_LENGTH_MISMATCH",
            Self::CrcMismatch { .. } => "CRC_MISMATCH",
        }
    }

    /// The field path this error points at (`payload` for whole-document errors).
    pub fn path(&self) -> &str {
        match self {
            Self::TooLarge { .. } | Self::InvalidJson { .. } => "payload",
            Self::WrongType { path, .. }
            | Self::MissingField { path }
            | Self::Invalid { path, .. } => path,
            Self::CloudError { .. } => "code",
            Self::ShortFrame { .. } | Self::FrameLength { .. } | Self::CrcMismatch { .. } => {
                "frame"
            }
        }
    }
}

/// Firmware did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// More bytes arrived than the notice announced; reported as soon as the first extra byte arrives.
    #[error("firmware size exceeded: expected {expected} bytes, received {received} so far")]
    SizeExceeded {
        /// The announced size.
        expected: u64,
        /// Bytes received so far.
        received: u64,
    },
    /// The stream ended with a size other than the announced one.
    #[error("firmware size mismatch: expected {expected} bytes, received {actual}")]
    SizeMismatch {
        /// The announced size.
        expected: u64,
        /// Bytes received in all.
        actual: u64,
        /// Digest of the bytes received (lowercase hex).
        actual_digest: String,
    },
    /// The size is right but the digest differs.
    #[error("firmware {method} digest mismatch: expected {expected}, computed {actual}")]
    DigestMismatch {
        /// The sign method (`MD5` or `SHA256`).
        method: &'static str,
        /// The announced digest (lowercase hex).
        expected: String,
        /// The computed digest (lowercase hex).
        actual: String,
    },
    /// The verifier was used after `finish`.
    #[error("the verifier is finished; create a new one for another file")]
    Finished,
}

impl VerifyError {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SizeExceeded { .. } => "SIZE_EXCEEDED",
            Self::SizeMismatch { .. } => "SIZE_MISMATCH",
            Self::DigestMismatch { .. } => "DIGEST_MISMATCH",
            Self::Finished => "VERIFIER_FINISHED",
        }
    }
}

/// Aliyun MQTT credentials could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// productKey or deviceName is not a legal topic segment.
    #[error(transparent)]
    Identity(#[from] TopicError),
    /// A required field is empty.
    #[error("{field}: must not be empty")]
    Empty {
        /// Which field (`deviceSecret`, ...).
        field: &'static str,
    },
    /// The MQTT sign method is not one of hmacmd5, hmacsha1, hmacsha256.
    #[error("unknown mqtt sign method {value}; expected hmacmd5, hmacsha1 or hmacsha256")]
    SignMethod {
        /// The value as given (quoted, shortened).
        value: String,
    },
    /// The client id is longer than 64 characters or contains `|`, `,` or a control character.
    #[error("clientId {value}: {reason}")]
    ClientId {
        /// The value as given (quoted, shortened).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The timestamp is not a decimal number of milliseconds.
    #[error("timestamp {value}: expected milliseconds since 1970 as a decimal number")]
    Timestamp {
        /// The value as given (quoted, shortened).
        value: String,
    },
    /// The region or instance id is not a plain host label.
    #[error(
        "{field} {value}: expected letters, digits and '-' only, e.g. cn-shanghai or iot-06z00ax1o4d9lh8"
    )]
    Endpoint {
        /// `region` or `instanceId`.
        field: &'static str,
        /// The value as given (quoted, shortened).
        value: String,
    },
}

impl CredentialsError {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Identity(inner) => inner.code(),
            Self::Empty { .. } => "CREDENTIALS_EMPTY_FIELD",
            Self::SignMethod { .. } => "UNKNOWN_MQTT_SIGN_METHOD",
            Self::ClientId { .. } => "INVALID_CLIENT_ID",
            Self::Timestamp { .. } => "INVALID_TIMESTAMP",
            Self::Endpoint { .. } => "INVALID_ENDPOINT",
        }
    }
}
