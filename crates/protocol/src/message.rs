//! The OTA payloads T1–T5 (reference §2): tolerant decoders and canonical encoders.
//!
//! Decoders accept every spelling the cloud and the official SDKs use and keep unknown fields;
//! encoders write the documented form. Both are pure functions on bytes and strings.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::block::{FileBlockReply, FileBlockRequest};
use crate::error::PayloadError;
use crate::json::{Object, flag, invalid, string, unsigned, wrong_type};
use crate::topic::TopicKind;
use crate::value::{Digest, MessageId, Module, SignMethod, Step, Version, check_http_url};

/// Method name of the T4 pull request.
pub const FIRMWARE_GET_METHOD: &str = "thing.ota.firmware.get";

/// Appends unknown fields to an encoded object without replacing known ones.
fn extend_unknown(target: &mut Map<String, Value>, unknown: &Map<String, Value>) {
    for (key, value) in unknown {
        if !target.contains_key(key) {
            target.insert(key.clone(), value.clone());
        }
    }
}

/// Takes the `params` object of an uplink message.
fn take_params(root: &mut Object) -> Result<Object, PayloadError> {
    root.take_object("params")
}

// ---------------------------------------------------------------------------------------------
// T1

/// T1: a device reports the current version of one module.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionReport {
    /// Message id.
    pub id: MessageId,
    /// The version the device runs.
    pub version: Version,
    /// The module (`default` when absent on the wire).
    pub module: Module,
    /// Unknown fields inside `params`, kept as received.
    pub unknown: Map<String, Value>,
    /// Unknown top-level fields, kept as received.
    pub unknown_envelope: Map<String, Value>,
}

impl VersionReport {
    /// A report with no unknown fields.
    pub fn new(id: MessageId, version: Version, module: Module) -> Self {
        Self {
            id,
            version,
            module,
            unknown: Map::new(),
            unknown_envelope: Map::new(),
        }
    }

    /// Decodes a T1 payload.
    pub fn decode(payload: &[u8]) -> Result<Self, PayloadError> {
        let mut root = Object::parse_root(payload)?;
        let id = root.take_id()?;
        let mut params = take_params(&mut root)?;
        let version = params.take_version()?;
        let module = params.take_module()?;
        Ok(Self {
            id,
            version,
            module,
            unknown: params.rest(),
            unknown_envelope: root.rest(),
        })
    }

    /// Encodes canonically: `{"id":"1","params":{"version":"1.0.1","module":"MCU"}}`.
    pub fn encode(&self) -> String {
        let mut params = Map::new();
        params.insert("version".into(), self.version.as_str().into());
        if !self.module.is_default() {
            params.insert("module".into(), self.module.as_str().into());
        }
        extend_unknown(&mut params, &self.unknown);
        let mut root = Map::new();
        root.insert("id".into(), self.id.as_str().into());
        root.insert("params".into(), Value::Object(params));
        extend_unknown(&mut root, &self.unknown_envelope);
        Value::Object(root).to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// T3

/// T3: upgrade progress or a failure code.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Message id.
    pub id: MessageId,
    /// Percent or failure code.
    pub step: Step,
    /// Free text (the error message on failure); empty when absent.
    pub desc: String,
    /// The module (`default` when absent on the wire).
    pub module: Module,
    /// Unknown fields inside `params`, kept as received.
    pub unknown: Map<String, Value>,
    /// Unknown top-level fields, kept as received.
    pub unknown_envelope: Map<String, Value>,
}

impl Progress {
    /// A progress report with no unknown fields.
    pub fn new(id: MessageId, step: Step, desc: impl Into<String>, module: Module) -> Self {
        Self {
            id,
            step,
            desc: desc.into(),
            module,
            unknown: Map::new(),
            unknown_envelope: Map::new(),
        }
    }

    /// Decodes a T3 payload. `step` may be a string (canonical) or a number.
    pub fn decode(payload: &[u8]) -> Result<Self, PayloadError> {
        let mut root = Object::parse_root(payload)?;
        let id = root.take_id()?;
        let mut params = take_params(&mut root)?;
        let step_path = params.path_of("step");
        let step = match params.required("step")? {
            Value::String(s) => Step::parse(&s).map_err(|e| invalid(&step_path, e))?,
            Value::Number(n) => match n.as_i64() {
                Some(v) => Step::from_i64(v).map_err(|e| invalid(&step_path, e))?,
                None => {
                    return Err(wrong_type(&step_path, "an integer step", &Value::Number(n)));
                }
            },
            other => return Err(wrong_type(&step_path, "a step (string or number)", &other)),
        };
        let desc_path = params.path_of("desc");
        let desc = match params.take("desc") {
            None => String::new(),
            Some(value) => string(&desc_path, &value)?,
        };
        let module = params.take_module()?;
        Ok(Self {
            id,
            step,
            desc,
            module,
            unknown: params.rest(),
            unknown_envelope: root.rest(),
        })
    }

    /// Encodes canonically, `step` as a JSON string:
    /// `{"id":"1","params":{"step":"57","desc":"downloading","module":"MCU"}}`.
    pub fn encode(&self) -> String {
        let mut params = Map::new();
        params.insert("step".into(), self.step.to_string().into());
        params.insert("desc".into(), self.desc.clone().into());
        if !self.module.is_default() {
            params.insert("module".into(), self.module.as_str().into());
        }
        extend_unknown(&mut params, &self.unknown);
        let mut root = Map::new();
        root.insert("id".into(), self.id.as_str().into());
        root.insert("params".into(), Value::Object(params));
        extend_unknown(&mut root, &self.unknown_envelope);
        Value::Object(root).to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// T4

/// T4: a device asks for its upgrade package (pull).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareGet {
    /// Message id.
    pub id: MessageId,
    /// The module asked about (`default` when absent on the wire).
    pub module: Module,
    /// Unknown fields inside `params`, kept as received.
    pub unknown: Map<String, Value>,
    /// Unknown top-level fields, kept as received (a `version`/`method` other than the documented
    /// `"1.0"`/`thing.ota.firmware.get` lands here too).
    pub unknown_envelope: Map<String, Value>,
}

impl FirmwareGet {
    /// A request with no unknown fields.
    pub fn new(id: MessageId, module: Module) -> Self {
        Self {
            id,
            module,
            unknown: Map::new(),
            unknown_envelope: Map::new(),
        }
    }

    /// Decodes a T4 payload; the minimal `{"id":..,"params":{..}}` body is accepted.
    pub fn decode(payload: &[u8]) -> Result<Self, PayloadError> {
        let mut root = Object::parse_root(payload)?;
        let id = root.take_id()?;
        let mut params = take_params(&mut root)?;
        let module = params.take_module()?;
        for (key, canonical) in [("version", "1.0"), ("method", FIRMWARE_GET_METHOD)] {
            if let Some(value) = root.take(key)
                && value.as_str() != Some(canonical)
            {
                root.keep(key, value);
            }
        }
        Ok(Self {
            id,
            module,
            unknown: params.rest(),
            unknown_envelope: root.rest(),
        })
    }

    /// Encodes the full documented body:
    /// `{"id":"1","version":"1.0","params":{"module":"MCU"},"method":"thing.ota.firmware.get"}`.
    pub fn encode(&self) -> String {
        let mut params = Map::new();
        if !self.module.is_default() {
            params.insert("module".into(), self.module.as_str().into());
        }
        extend_unknown(&mut params, &self.unknown);
        let mut root = Map::new();
        root.insert("id".into(), self.id.as_str().into());
        // A decoded request with another version/method gets it back; new ones are canonical.
        let envelope = |key: &str, canonical: &str| {
            self.unknown_envelope
                .get(key)
                .cloned()
                .unwrap_or_else(|| canonical.into())
        };
        root.insert("version".into(), envelope("version", "1.0"));
        root.insert("params".into(), Value::Object(params));
        root.insert("method".into(), envelope("method", FIRMWARE_GET_METHOD));
        extend_unknown(&mut root, &self.unknown_envelope);
        Value::Object(root).to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// T2 / T5

/// How the package is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Download {
    /// Over HTTP(S) from each file's `url` (the default).
    Https,
    /// Over MQTT (`dProtocol: "mqtt"`) with `streamId`/`streamFileId`.
    Mqtt,
}

/// One file of an upgrade package. Single-file notices give one file with no name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareFile {
    /// `fileName` of a multi-file package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Download URL (http or https); absent for MQTT downloads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Expected digest of the file (by the notice's sign method).
    pub sign: Digest,
    /// Unknown fields of a multi-file entry, kept as received.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub unknown: Map<String, Value>,
}

/// T2 (push) or T5 (pull reply): the cloud tells a device to upgrade.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeNotice {
    /// Message id (the request id for `onUpgrade`).
    pub id: MessageId,
    /// Target version.
    pub version: Version,
    /// Module to upgrade (`default` when absent on the wire).
    pub module: Module,
    /// True for a differential package (`isDiff: 1`).
    pub is_diff: bool,
    /// How files are signed.
    pub sign_method: SignMethod,
    /// The package's files: single-file and multi-file notices normalised into one list.
    pub files: Vec<FirmwareFile>,
    /// HTTPS or MQTT download.
    pub download: Download,
    /// `streamId` of an MQTT download.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<u64>,
    /// `streamFileId` of an MQTT download.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_file_id: Option<u64>,
    /// `digestsign`: Base64 RSA signature over the package digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_sign: Option<String>,
    /// `extData` tags (string → string; other JSON values are kept as their JSON text).
    pub ext_data: BTreeMap<String, String>,
    /// Unknown fields inside `data`, kept as received.
    pub unknown: Map<String, Value>,
    /// Unknown top-level fields, kept as received.
    pub unknown_envelope: Map<String, Value>,
}

/// Every field of `data` that the decoders read (in either shape): an unknown field of a file
/// entry with one of these names cannot move into `data`.
const DATA_FIELDS: [&str; 16] = [
    "size",
    "version",
    "module",
    "isDiff",
    "dProtocol",
    "streamId",
    "streamFileId",
    "digestsign",
    "digestSign",
    "extData",
    "signMethod",
    "files",
    "url",
    "md5",
    "sign",
    "fileName",
];

/// Success codes: `"1000"` in T2, `200` in T5.
fn check_code(root: &mut Object) -> Result<(), PayloadError> {
    let message = root.take("message");
    let Some(code) = root.take("code") else {
        // `"message":"success"` is what the encoder writes anyway; anything else is kept.
        if let Some(message) = message
            && message.as_str() != Some("success")
        {
            root.keep("message", message);
        }
        return Ok(());
    };
    let text = match &code {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => return Err(wrong_type("code", "a string or number code", other)),
    };
    if matches!(text.as_str(), "1000" | "200") {
        if let Some(message) = message
            && message.as_str() != Some("success")
        {
            root.keep("message", message);
        }
        Ok(())
    } else {
        Err(PayloadError::CloudError {
            code: text,
            message: message
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

impl UpgradeNotice {
    /// The `_package_udi` text of `extData`, if any.
    pub fn package_udi(&self) -> Option<&str> {
        self.ext_data.get("_package_udi").map(String::as_str)
    }

    /// Total size of all files in bytes (saturating: thousands of files of 2^53 - 1 bytes each
    /// cannot overflow it).
    pub fn total_size(&self) -> u64 {
        self.files
            .iter()
            .fold(0u64, |total, f| total.saturating_add(f.size))
    }

    /// Decodes a T2 push.
    pub fn decode(payload: &[u8]) -> Result<Self, PayloadError> {
        let mut root = Object::parse_root(payload)?;
        let id = root.take_id()?;
        check_code(&mut root)?;
        let data = root.take_object("data")?;
        Self::from_data(id, data, root)
    }

    /// Decodes a T5 pull reply: `None` when the cloud has no package (`"data":{}`).
    pub fn decode_reply(payload: &[u8]) -> Result<Option<Self>, PayloadError> {
        Self::decode_reply_parts(payload).map(|(_, notice)| notice)
    }

    /// Decodes a T5 reply into its id and its package, if any.
    fn decode_reply_parts(payload: &[u8]) -> Result<(MessageId, Option<Self>), PayloadError> {
        let mut root = Object::parse_root(payload)?;
        let id = root.take_id()?;
        check_code(&mut root)?;
        let data = root.take_object("data")?;
        if data.is_empty() {
            return Ok((id, None));
        }
        Self::from_data(id.clone(), data, root).map(|notice| (id, Some(notice)))
    }

    fn from_data(id: MessageId, mut data: Object, root: Object) -> Result<Self, PayloadError> {
        let version = data.take_version()?;
        let module = data.take_module()?;
        let is_diff = match data.take("isDiff") {
            None => false,
            Some(value) => flag(&data.path_of("isDiff"), &value)?,
        };

        let download = match data.take("dProtocol") {
            None => Download::Https,
            Some(value) => {
                let path = data.path_of("dProtocol");
                let text = string(&path, &value)?;
                match text.to_ascii_lowercase().as_str() {
                    "https" | "http" => Download::Https,
                    "mqtt" => Download::Mqtt,
                    _ => {
                        return Err(invalid(
                            &path,
                            crate::error::ValueError::DownloadProtocol {
                                value: crate::error::quote(&text),
                            },
                        ));
                    }
                }
            }
        };
        let mut optional_u64 = |key: &str| -> Result<Option<u64>, PayloadError> {
            let path = data.path_of(key);
            data.take(key).map(|v| unsigned(&path, &v)).transpose()
        };
        let stream_id = optional_u64("streamId")?;
        let stream_file_id = optional_u64("streamFileId")?;
        if download == Download::Mqtt {
            // Link SDK C refuses such a notice: without both numbers nothing can be requested.
            for (key, value) in [("streamId", stream_id), ("streamFileId", stream_file_id)] {
                if value.is_none() {
                    return Err(PayloadError::MissingField {
                        path: data.path_of(key),
                    });
                }
            }
        }

        let digest_sign = match data.take_any(&["digestsign", "digestSign"]) {
            None => None,
            Some((key, value)) => Some(string(&data.path_of(key), &value)?),
        };
        let ext_path = data.path_of("extData");
        let ext_data = match data.take("extData") {
            None => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect(),
            Some(other) => return Err(wrong_type(&ext_path, "an object of strings", &other)),
        };

        let sign_method_path = data.path_of("signMethod");
        let declared_method = match data.take("signMethod") {
            None => None,
            Some(value) => Some(
                SignMethod::parse(&string(&sign_method_path, &value)?)
                    .map_err(|e| invalid(&sign_method_path, e))?,
            ),
        };

        let (sign_method, mut files) = match data.take("files") {
            Some(files) => {
                let method = declared_method.ok_or_else(|| PayloadError::MissingField {
                    path: sign_method_path.clone(),
                })?;
                (method, Self::multi_files(&data, method, download, files)?)
            }
            None => Self::single_file(&mut data, declared_method, download)?,
        };
        // A one-entry `files` array is re-encoded in the single-file shape, where the entry's
        // unknown fields sit in `data`: keep them there so that decode(encode(x)) == x. An
        // entry field named like a field of `data` has no place there: such an entry stays in
        // `files` (see `encode_data`).
        if let [file] = files.as_mut_slice()
            && !file
                .unknown
                .keys()
                .any(|k| DATA_FIELDS.contains(&k.as_str()))
        {
            for (key, value) in std::mem::take(&mut file.unknown) {
                data.keep_if_absent(&key, value);
            }
        }

        Ok(Self {
            id,
            version,
            module,
            is_diff,
            sign_method,
            files,
            download,
            stream_id,
            stream_file_id,
            digest_sign,
            ext_data,
            unknown: data.rest(),
            unknown_envelope: root.rest(),
        })
    }

    fn checked_url(path: &str, value: &Value) -> Result<String, PayloadError> {
        let url = string(path, value)?;
        check_http_url(&url).map_err(|e| invalid(path, e))?;
        Ok(url)
    }

    /// The single-file shape: `size`, `url`, `sign` (or legacy `md5`) in `data`.
    fn single_file(
        data: &mut Object,
        declared: Option<SignMethod>,
        download: Download,
    ) -> Result<(SignMethod, Vec<FirmwareFile>), PayloadError> {
        let size_path = data.path_of("size");
        let size = unsigned(&size_path, &data.required("size")?)?;
        // Not sent by the cloud in this shape; written back by otalab for a named single file.
        let name = match data.take("fileName") {
            None => None,
            Some(value) => Some(string(&data.path_of("fileName"), &value)?),
        };
        let url = match (data.take("url"), download) {
            (Some(value), _) => Some(Self::checked_url(&data.path_of("url"), &value)?),
            (None, Download::Mqtt) => None,
            (None, Download::Https) => {
                return Err(PayloadError::MissingField {
                    path: data.path_of("url"),
                });
            }
        };
        let md5 = data.take("md5");
        let (sign_key, sign_value) = match (data.take("sign"), &md5) {
            (Some(sign), _) => ("sign", sign),
            (None, Some(md5)) => ("md5", md5.clone()),
            (None, None) => {
                return Err(PayloadError::MissingField {
                    path: data.path_of("sign"),
                });
            }
        };
        let sign_path = data.path_of(sign_key);
        let sign_text = string(&sign_path, &sign_value)?;
        let method = match declared {
            Some(method) => method,
            None if sign_key == "md5" || sign_text.len() == 32 => SignMethod::Md5,
            None if sign_text.len() == 64 => SignMethod::Sha256,
            None => {
                return Err(PayloadError::MissingField {
                    path: data.path_of("signMethod"),
                });
            }
        };
        let sign = Digest::parse(method, &sign_text).map_err(|e| invalid(&sign_path, e))?;
        // `md5` repeats `sign` for MD5 packages; anything else it says is kept, not dropped.
        if let Some(md5) = md5 {
            let same = method == SignMethod::Md5
                && md5
                    .as_str()
                    .is_some_and(|m| m.eq_ignore_ascii_case(sign.as_str()));
            if !same && sign_key != "md5" {
                data.keep("md5", md5);
            }
        }
        Ok((
            method,
            vec![FirmwareFile {
                name,
                size,
                url,
                sign,
                unknown: Map::new(),
            }],
        ))
    }

    /// The multi-file shape: `files: [{fileName, fileSize, fileUrl, fileSign}]`.
    fn multi_files(
        data: &Object,
        method: SignMethod,
        download: Download,
        files: Value,
    ) -> Result<Vec<FirmwareFile>, PayloadError> {
        let path = data.path_of("files");
        let Value::Array(items) = files else {
            return Err(wrong_type(&path, "an array of files", &files));
        };
        if items.is_empty() {
            return Err(wrong_type(
                &path,
                "a non-empty array of files",
                &Value::Array(items),
            ));
        }
        items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                let mut file = Object::from_value(format!("{path}[{index}]"), item)?;
                let name = match file.take("fileName") {
                    None => None,
                    Some(value) => Some(string(&file.path_of("fileName"), &value)?),
                };
                let size = unsigned(&file.path_of("fileSize"), &file.required("fileSize")?)?;
                let url = match (file.take("fileUrl"), download) {
                    (Some(value), _) => Some(Self::checked_url(&file.path_of("fileUrl"), &value)?),
                    (None, Download::Mqtt) => None,
                    (None, Download::Https) => {
                        return Err(PayloadError::MissingField {
                            path: file.path_of("fileUrl"),
                        });
                    }
                };
                let sign_path = file.path_of("fileSign");
                let sign_text = string(&sign_path, &file.required("fileSign")?)?;
                let sign = Digest::parse(method, &sign_text).map_err(|e| invalid(&sign_path, e))?;
                Ok(FirmwareFile {
                    name,
                    size,
                    url,
                    sign,
                    unknown: file.rest(),
                })
            })
            .collect()
    }

    /// The `data` object in canonical form: what the cloud puts on the wire. One file goes out
    /// in the single-file shape (Link SDK C reads `files` only when there are two or more), an
    /// MD5 package also carries the legacy `md5` twin of `sign`, digests are lower case and the
    /// sign method is spelled `Md5` or `SHA256`.
    fn encode_data(&self) -> Value {
        let mut data = Map::new();
        // One file goes out in the single-file shape, unless one of its unknown fields is named
        // like a field of `data` (it would be lost there).
        let single = match self.files.as_slice() {
            [file]
                if !file
                    .unknown
                    .keys()
                    .any(|k| DATA_FIELDS.contains(&k.as_str())) =>
            {
                Some(file)
            }
            _ => None,
        };
        if let Some(file) = single {
            data.insert("size".into(), file.size.into());
        }
        data.insert("version".into(), self.version.as_str().into());
        if self.is_diff {
            data.insert("isDiff".into(), 1.into());
        }
        match single {
            Some(file) => {
                if let Some(name) = &file.name {
                    data.insert("fileName".into(), name.as_str().into());
                }
                if let Some(url) = &file.url {
                    data.insert("url".into(), url.as_str().into());
                }
                if self.sign_method == SignMethod::Md5 && !self.unknown.contains_key("md5") {
                    data.insert("md5".into(), file.sign.as_str().into());
                }
                data.insert("sign".into(), file.sign.as_str().into());
                extend_unknown(&mut data, &file.unknown);
            }
            None => {
                let files = self
                    .files
                    .iter()
                    .map(|file| {
                        let mut entry = Map::new();
                        if let Some(name) = &file.name {
                            entry.insert("fileName".into(), name.as_str().into());
                        }
                        entry.insert("fileSize".into(), file.size.into());
                        if let Some(url) = &file.url {
                            entry.insert("fileUrl".into(), url.as_str().into());
                        }
                        entry.insert("fileSign".into(), file.sign.as_str().into());
                        extend_unknown(&mut entry, &file.unknown);
                        Value::Object(entry)
                    })
                    .collect();
                data.insert("files".into(), Value::Array(files));
            }
        }
        data.insert("signMethod".into(), self.sign_method.as_str().into());
        if let Some(digest_sign) = &self.digest_sign {
            data.insert("digestsign".into(), digest_sign.as_str().into());
        }
        if self.download == Download::Mqtt {
            data.insert("dProtocol".into(), "mqtt".into());
        }
        if let Some(stream_id) = self.stream_id {
            data.insert("streamId".into(), stream_id.into());
        }
        if let Some(stream_file_id) = self.stream_file_id {
            data.insert("streamFileId".into(), stream_file_id.into());
        }
        if !self.module.is_default() {
            data.insert("module".into(), self.module.as_str().into());
        }
        if !self.ext_data.is_empty() {
            data.insert("extData".into(), json!(self.ext_data));
        }
        extend_unknown(&mut data, &self.unknown);
        Value::Object(data)
    }

    fn encode_with(&self, code: Value, id: Value, message: Option<&str>) -> String {
        let mut root = Map::new();
        root.insert("code".into(), code);
        root.insert("id".into(), id);
        // A message other than "success" came with the notice: it goes back as it was.
        match (self.unknown_envelope.get("message"), message) {
            (Some(kept), _) => {
                root.insert("message".into(), kept.clone());
            }
            (None, Some(message)) => {
                root.insert("message".into(), message.into());
            }
            (None, None) => {}
        }
        root.insert("data".into(), self.encode_data());
        extend_unknown(&mut root, &self.unknown_envelope);
        Value::Object(root).to_string()
    }

    /// Encodes as a T2 push, as the cloud sends it:
    /// `{"code":"1000","id":1695281536874,"message":"success","data":{..}}`. The id is a JSON
    /// number when it is a plain decimal up to 2^53 - 1 (exact in every JSON reader), otherwise
    /// its digits as a string.
    pub fn encode(&self) -> String {
        self.encode_with("1000".into(), self.id.to_json_number(), Some("success"))
    }

    /// Encodes as a T5 reply: `{"code":200,"id":"..","data":{..}}` (the id echoes the request's
    /// and stays a string, as in the documented reply).
    pub fn encode_reply(&self) -> String {
        self.encode_with(200.into(), self.id.as_str().into(), None)
    }

    /// Encodes the T5 reply for "no package": `{"code":200,"id":"..","data":{}}`.
    pub fn encode_empty_reply(id: &MessageId) -> String {
        json!({"code": 200, "id": id.as_str(), "data": {}}).to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// dispatch

/// Any decoded OTA message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum OtaMessage {
    /// T1.
    Inform(VersionReport),
    /// T2.
    Upgrade(UpgradeNotice),
    /// T3.
    Progress(Progress),
    /// T4.
    FirmwareGet(FirmwareGet),
    /// T5 (`notice` is absent when the cloud has no package).
    FirmwareGetReply {
        /// Message id of the reply.
        id: MessageId,
        /// The package, if any.
        notice: Option<UpgradeNotice>,
    },
    /// T6: a file block request (firmware over MQTT).
    FileBlockRequest(FileBlockRequest),
    /// T7: a file block reply frame (binary).
    FileBlockReply(FileBlockReply),
}

impl OtaMessage {
    /// Decodes `payload` as the message that belongs on a topic of `kind`.
    pub fn decode(kind: TopicKind, payload: &[u8]) -> Result<Self, PayloadError> {
        Ok(match kind {
            TopicKind::Inform => Self::Inform(VersionReport::decode(payload)?),
            TopicKind::Upgrade => Self::Upgrade(UpgradeNotice::decode(payload)?),
            TopicKind::Progress => Self::Progress(Progress::decode(payload)?),
            TopicKind::FirmwareGet => Self::FirmwareGet(FirmwareGet::decode(payload)?),
            TopicKind::FirmwareGetReply => {
                let (id, notice) = UpgradeNotice::decode_reply_parts(payload)?;
                Self::FirmwareGetReply { id, notice }
            }
            TopicKind::FileDownload => Self::FileBlockRequest(FileBlockRequest::decode(payload)?),
            TopicKind::FileDownloadReply => Self::FileBlockReply(FileBlockReply::decode(payload)?),
        })
    }
}
