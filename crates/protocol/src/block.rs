//! Firmware over MQTT (`dProtocol: "mqtt"`): the file block request (T6, JSON) and the binary
//! reply frame (T7), as Link SDK C 4.x's `mqtt_download` module speaks them.
//!
//! A reply frame is
//! ```text
//! 2 bytes  header length N, big-endian
//! N bytes  JSON header {"id":"1","code":200,"msg":"","data":{"fileToken":..,"fileLength":..,"bSize":..,"bOffset":..}}
//! bSize    the block
//! 2 bytes  CRC-16/ARC of the block, low byte first
//! ```

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::PayloadError;
use crate::json::{MAX_PAYLOAD_BYTES, Object, string, unsigned};
use crate::value::MessageId;

/// The CRC of a block: CRC-16/ARC (poly 0x8005 reflected, init 0, no final XOR).
const CRC16_ARC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_ARC);

/// The CRC-16/ARC of `bytes` (check value for ASCII `123456789`: `0xBB3D`).
pub fn crc16_arc(bytes: &[u8]) -> u16 {
    CRC16_ARC.checksum(bytes)
}

/// The block size Link SDK C asks for by default: 5 KiB.
pub const DEFAULT_BLOCK_SIZE: u64 = 5 * 1024;

/// The `fileToken` Link SDK C always sends.
pub const DEFAULT_FILE_TOKEN: &str = "default";

/// Removes commas that directly precede `}` or `]` (outside strings): Link SDK C writes
/// `"fileId":1,}`, which is not JSON, and a cloud that serves real devices must read it.
fn strip_trailing_commas(payload: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut escaped = false;
    for (index, &byte) in payload.iter().enumerate() {
        let mut keep = true;
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if byte == b'"' {
            in_string = true;
        } else if byte == b',' {
            let next = payload[index + 1..]
                .iter()
                .find(|b| !b.is_ascii_whitespace());
            keep = !matches!(next, Some(b'}' | b']'));
        }
        match (&mut out, keep) {
            (Some(buffer), true) => buffer.push(byte),
            (Some(_), false) => {}
            (None, true) => {}
            (None, false) => out = Some(payload[..index].to_vec()),
        }
    }
    match out {
        Some(buffer) => Cow::Owned(buffer),
        None => Cow::Borrowed(payload),
    }
}

/// T6: a device asks for one block of a file delivered over MQTT.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileBlockRequest {
    /// Request id (counts up per download); a JSON string on the wire, a number accepted.
    pub id: MessageId,
    /// The notice's `streamId`.
    pub stream_id: u64,
    /// The notice's `streamFileId` (`fileInfo.fileId` on the wire).
    pub file_id: u64,
    /// Absolute byte offset of the block in the file.
    pub offset: u64,
    /// Bytes asked for.
    pub size: u64,
    /// `fileToken` (Link SDK C always sends `"default"`); absent when the device left it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_token: Option<String>,
}

impl FileBlockRequest {
    /// Decodes a T6 request. Accepts what real devices send: Link SDK C's trailing comma
    /// (`"fileId":1,}`), `id` as a number, no `version`, no `fileToken`.
    pub fn decode(payload: &[u8]) -> Result<Self, PayloadError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(PayloadError::TooLarge {
                size: payload.len(),
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        let cleaned = strip_trailing_commas(payload);
        let mut root = Object::parse_root(&cleaned)?;
        let id = root.take_id()?;
        let mut params = root.take_object("params")?;
        let file_token = match params.take("fileToken") {
            None => None,
            Some(value) => Some(string(&params.path_of("fileToken"), &value)?),
        };
        let mut info = params.take_object("fileInfo")?;
        let mut block = params.take_object("fileBlock")?;
        let number = |object: &mut Object, key: &str| -> Result<u64, PayloadError> {
            let path = object.path_of(key);
            unsigned(&path, &object.required(key)?)
        };
        Ok(Self {
            id,
            stream_id: number(&mut info, "streamId")?,
            file_id: number(&mut info, "fileId")?,
            size: number(&mut block, "size")?,
            offset: number(&mut block, "offset")?,
            file_token,
        })
    }

    /// Encodes as valid JSON in the SDK's field order:
    /// `{"id":"1","version":"1.0","params":{"fileToken":"default","fileInfo":{"streamId":1397345,"fileId":1},"fileBlock":{"size":5120,"offset":0}}}`.
    pub fn encode(&self) -> String {
        let mut params = Map::new();
        if let Some(token) = &self.file_token {
            params.insert("fileToken".into(), token.as_str().into());
        }
        params.insert(
            "fileInfo".into(),
            serde_json::json!({"streamId": self.stream_id, "fileId": self.file_id}),
        );
        params.insert(
            "fileBlock".into(),
            serde_json::json!({"size": self.size, "offset": self.offset}),
        );
        let mut root = Map::new();
        root.insert("id".into(), self.id.as_str().into());
        root.insert("version".into(), "1.0".into());
        root.insert("params".into(), Value::Object(params));
        Value::Object(root).to_string()
    }
}

/// T7: the cloud's binary answer to a [`FileBlockRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileBlockReply {
    /// Echo of the request id (the SDK does not check it).
    pub id: String,
    /// 200 for a block; anything else is an error (decoding refuses it as `CLOUD_ERROR`).
    pub code: i64,
    /// Optional text.
    pub msg: String,
    /// Optional echo of the request's `fileToken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_token: Option<String>,
    /// The whole file's size (`data.fileLength`).
    pub file_length: u64,
    /// Absolute offset of the block (`data.bOffset`).
    pub offset: u64,
    /// The block's bytes (`data.bSize` of them).
    #[serde(skip)]
    pub block: Vec<u8>,
}

impl FileBlockReply {
    /// A 200 reply carrying `block` at `offset`.
    pub fn block(id: &str, file_length: u64, offset: u64, block: Vec<u8>) -> Self {
        Self {
            id: id.to_owned(),
            code: 200,
            msg: String::new(),
            file_token: None,
            file_length,
            offset,
            block,
        }
    }

    /// An error reply (`bSize` 0, no block) with a non-200 code, as a cloud simulator answers an
    /// offset past the end or an unknown stream.
    pub fn error(id: &str, code: i64, msg: &str) -> Self {
        Self {
            id: id.to_owned(),
            code,
            msg: msg.to_owned(),
            file_token: None,
            file_length: 0,
            offset: 0,
            block: Vec::new(),
        }
    }

    /// The JSON header, in the documented field order.
    fn header(&self) -> String {
        let mut data = Map::new();
        if let Some(token) = &self.file_token {
            data.insert("fileToken".into(), token.as_str().into());
        }
        data.insert("fileLength".into(), self.file_length.into());
        data.insert("bSize".into(), self.block.len().into());
        data.insert("bOffset".into(), self.offset.into());
        let mut root = Map::new();
        root.insert("id".into(), self.id.as_str().into());
        root.insert("code".into(), self.code.into());
        root.insert("msg".into(), self.msg.as_str().into());
        root.insert("data".into(), Value::Object(data));
        Value::Object(root).to_string()
    }

    /// Encodes the frame: header length (big-endian), header, block, CRC-16/ARC low byte first.
    /// A header longer than 65535 bytes cannot be framed; it is shortened by dropping `msg`.
    pub fn encode(&self) -> Vec<u8> {
        let mut header = self.header();
        if header.len() > usize::from(u16::MAX) {
            header = Self {
                msg: String::new(),
                block: Vec::new(),
                ..self.clone()
            }
            .header();
        }
        let length = u16::try_from(header.len()).unwrap_or(u16::MAX);
        let mut frame = Vec::with_capacity(4 + header.len() + self.block.len());
        frame.extend_from_slice(&length.to_be_bytes());
        frame.extend_from_slice(header.as_bytes());
        frame.extend_from_slice(&self.block);
        frame.extend_from_slice(&crc16_arc(&self.block).to_le_bytes());
        frame
    }

    /// Decodes a frame. A non-200 `code` is a `CLOUD_ERROR` without trusting the rest of the
    /// frame; otherwise the length must be exactly 2 + header + `bSize` + 2 and the CRC must match.
    pub fn decode(frame: &[u8]) -> Result<Self, PayloadError> {
        if frame.len() > MAX_PAYLOAD_BYTES {
            return Err(PayloadError::TooLarge {
                size: frame.len(),
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        let short = |needed: String| PayloadError::ShortFrame {
            length: frame.len(),
            needed,
        };
        let [high, low, ..] = *frame else {
            return Err(short("a frame starts with a 2-byte header length".into()));
        };
        let header_length = usize::from(u16::from_be_bytes([high, low]));
        let Some(header) = frame.get(2..2 + header_length) else {
            return Err(short(format!(
                "its header length says {header_length} bytes of JSON follow"
            )));
        };
        let mut root = Object::parse_root(header)?;
        let code = match root.required("code")? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        let msg = match root.take("msg") {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let code = match code {
            Some(200) => 200,
            other => {
                return Err(PayloadError::CloudError {
                    code: other.map_or_else(|| "a non-numeric code".to_owned(), |c| c.to_string()),
                    message: msg,
                });
            }
        };
        let id = match root.take("id") {
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let mut data = root.take_object("data")?;
        let file_token = match data.take("fileToken") {
            None => None,
            Some(value) => Some(string(&data.path_of("fileToken"), &value)?),
        };
        let mut number = |key: &str| -> Result<u64, PayloadError> {
            let path = data.path_of(key);
            unsigned(&path, &data.required(key)?)
        };
        let file_length = number("fileLength")?;
        let block_size = number("bSize")?;
        let offset = number("bOffset")?;
        let expected = usize::try_from(block_size)
            .ok()
            .and_then(|size| size.checked_add(4 + header_length));
        if expected != Some(frame.len()) {
            return Err(PayloadError::FrameLength {
                expected: expected.unwrap_or(usize::MAX),
                actual: frame.len(),
                block_size,
            });
        }
        let body = &frame[2 + header_length..frame.len() - 2];
        let carried = u16::from_le_bytes([frame[frame.len() - 2], frame[frame.len() - 1]]);
        let actual = crc16_arc(body);
        if carried != actual {
            return Err(PayloadError::CrcMismatch {
                expected: carried,
                actual,
            });
        }
        Ok(Self {
            id,
            code,
            msg,
            file_token,
            file_length,
            offset,
            block: body.to_vec(),
        })
    }
}
