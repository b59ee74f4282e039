//! Firmware over MQTT for JavaScript: the T6 block request and the T7 binary reply frame.
//!
//! Arguments are read field by field with `Reflect` rather than through serde: these four
//! functions then cost a few KiB of wasm instead of a derive per shape.

use js_sys::{Object, Reflect, Uint8Array};
use otalab_protocol::{
    FileBlockReply, FileBlockRequest, MAX_PAYLOAD_BYTES, MAX_SAFE_INTEGER, PayloadError,
};
use wasm_bindgen::prelude::*;

use crate::convert::{
    NumberOrText, bytes_arg, coded, message_id, payload_bytes, string_arg, type_name,
};
use crate::error::{JsResult, bad_argument, throw};

/// The fields of the options object `argument`; every refusal names `argument.field`.
struct Fields<'a> {
    argument: &'a str,
    object: &'a JsValue,
}

impl<'a> Fields<'a> {
    /// The options object of `argument`, or an `INVALID_ARGUMENT`.
    fn of(argument: &'a str, object: &'a JsValue) -> JsResult<Fields<'a>> {
        otalab_js::object_keys(argument, object)?;
        Ok(Fields { argument, object })
    }

    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.argument)
    }

    /// `object[key]`, `None` when undefined or null; a getter that throws is refused.
    fn field(&self, key: &str) -> JsResult<Option<JsValue>> {
        let value = otalab_js::property(self.argument, self.object, key)?;
        Ok((!value.is_undefined() && !value.is_null()).then_some(value))
    }

    fn missing(&self, key: &str) -> JsValue {
        bad_argument(&self.path(key), "missing required field")
    }

    /// A non-negative safe integer field (JavaScript numbers are exact up to 2^53 - 1).
    fn count(&self, key: &str) -> JsResult<Option<u64>> {
        self.field(key)?
            .map(|value| otalab_js::integer_arg(&self.path(key), &value, 0, MAX_SAFE_INTEGER))
            .transpose()
    }

    fn required_count(&self, key: &str) -> JsResult<u64> {
        self.count(key)?.ok_or_else(|| self.missing(key))
    }

    /// An optional string field.
    fn text(&self, key: &str) -> JsResult<Option<String>> {
        self.field(key)?
            .map(|value| string_arg(&self.path(key), &value))
            .transpose()
    }

    /// The `id` field: a string of digits or a number.
    fn id_text(&self) -> JsResult<NumberOrText> {
        let value = self.field("id")?.ok_or_else(|| self.missing("id"))?;
        match (value.as_f64(), value.as_string()) {
            (Some(n), _) => Ok(NumberOrText::Number(n)),
            (_, Some(s)) => Ok(NumberOrText::Text(s)),
            _ => Err(bad_argument(
                &self.path("id"),
                format!("expected a string or a number, found {}", type_name(&value)),
            )),
        }
    }
}

fn set(object: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(object, &key.into(), &value.into());
}

fn optional(value: Option<&String>) -> JsValue {
    value.map_or(JsValue::NULL, |s| JsValue::from_str(s))
}

/// `encodeFileBlockRequest({ id, streamId, fileId, offset, size, fileToken? })`: the T6 JSON text.
#[wasm_bindgen(js_name = encodeFileBlockRequest)]
pub fn encode_file_block_request(request: JsValue) -> JsResult<String> {
    let request = Fields::of("request", &request)?;
    Ok(FileBlockRequest {
        id: message_id("request.id", &request.id_text()?)?,
        stream_id: request.required_count("streamId")?,
        file_id: request.required_count("fileId")?,
        offset: request.required_count("offset")?,
        size: request.required_count("size")?,
        file_token: request.text("fileToken")?,
    }
    .encode())
}

/// `decodeFileBlockRequest(payload)`: `{ id, streamId, fileId, offset, size, fileToken }`
/// (`fileToken` is `null` when the device left it out). Accepts Link SDK C's trailing comma.
#[wasm_bindgen(js_name = decodeFileBlockRequest)]
pub fn decode_file_block_request(payload: JsValue) -> JsResult<JsValue> {
    let request = coded(FileBlockRequest::decode(&payload_bytes(&payload)?))?;
    let object = Object::new();
    set(&object, "id", request.id.as_str());
    set(&object, "streamId", request.stream_id as f64);
    set(&object, "fileId", request.file_id as f64);
    set(&object, "offset", request.offset as f64);
    set(&object, "size", request.size as f64);
    set(&object, "fileToken", optional(request.file_token.as_ref()));
    Ok(object.into())
}

/// `encodeFileBlockReply({ id, fileLength, offset, block, fileToken?, code?, msg? })`: the T7
/// frame as a `Uint8Array`. With a `code` other than 200, `block` may be left out (`bSize` 0).
#[wasm_bindgen(js_name = encodeFileBlockReply)]
pub fn encode_file_block_reply(reply: JsValue) -> JsResult<Uint8Array> {
    let fields = Fields::of("reply", &reply)?;
    let code = match fields.field("code")? {
        None => 200,
        Some(value) => match value.as_f64() {
            Some(c) if c.fract() == 0.0 && c.abs() <= MAX_SAFE_INTEGER as f64 => c as i64,
            _ => {
                return Err(bad_argument(
                    "reply.code",
                    format!("expected an integer, found {}", type_name(&value)),
                ));
            }
        },
    };
    let block = match fields.field("block")? {
        None if code != 200 => Vec::new(),
        None => return Err(fields.missing("block")),
        Some(value) => bytes_arg("reply.block", &value)?.to_vec(),
    };
    // The frame must fit in one MQTT message that decoders accept.
    if block.len() > MAX_PAYLOAD_BYTES {
        return Err(bad_argument(
            "reply.block",
            format!(
                "{} bytes is over the limit of {MAX_PAYLOAD_BYTES} bytes per frame",
                block.len()
            ),
        ));
    }
    let numbers = |key: &str| -> JsResult<u64> {
        match fields.count(key)? {
            Some(n) => Ok(n),
            None if code != 200 => Ok(0),
            None => Err(fields.missing(key)),
        }
    };
    let frame = FileBlockReply {
        id: fields.id_text()?.to_text(),
        code,
        msg: fields.text("msg")?.unwrap_or_default(),
        file_token: fields.text("fileToken")?,
        file_length: numbers("fileLength")?,
        offset: numbers("offset")?,
        block,
    }
    .encode();
    Ok(Uint8Array::from(frame.as_slice()))
}

/// `decodeFileBlockReply(bytes)`: `{ id, code, msg, fileToken, fileLength, offset, size, block }`.
/// Throws `OtaError` `SHORT_FRAME`, `FRAME_LENGTH_MISMATCH`, `CRC_MISMATCH`, or `CLOUD_ERROR` for a
/// non-200 `code`.
#[wasm_bindgen(js_name = decodeFileBlockReply)]
pub fn decode_file_block_reply(frame: JsValue) -> JsResult<JsValue> {
    let bytes = bytes_arg("frame", &frame)?;
    let size = bytes.length() as usize;
    if size > MAX_PAYLOAD_BYTES {
        return Err(throw(PayloadError::TooLarge {
            size,
            limit: MAX_PAYLOAD_BYTES,
        }));
    }
    let reply = coded(FileBlockReply::decode(&bytes.to_vec()))?;
    let object = Object::new();
    set(&object, "id", reply.id.as_str());
    set(&object, "code", reply.code as f64);
    set(&object, "msg", reply.msg.as_str());
    set(&object, "fileToken", optional(reply.file_token.as_ref()));
    set(&object, "fileLength", reply.file_length as f64);
    set(&object, "offset", reply.offset as f64);
    set(&object, "size", reply.block.len() as f64);
    set(&object, "block", Uint8Array::from(reply.block.as_slice()));
    Ok(object.into())
}
