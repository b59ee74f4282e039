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

/// The options object of `argument`, or an `INVALID_ARGUMENT`.
fn options(argument: &str, value: &JsValue) -> JsResult<()> {
    if value.is_object() && !js_sys::Array::is_array(value) {
        Ok(())
    } else {
        Err(bad_argument(
            argument,
            format!("expected an object, found {}", type_name(value)),
        ))
    }
}

/// `object[key]`, `None` when undefined or null.
fn field(object: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(object, &key.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// A non-negative safe integer field (JavaScript numbers are exact up to 2^53 - 1).
fn count(object: &JsValue, key: &str) -> JsResult<Option<u64>> {
    let Some(value) = field(object, key) else {
        return Ok(None);
    };
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER as f64).contains(&n) => {
            Ok(Some(n as u64))
        }
        _ => Err(bad_argument(
            key,
            format!(
                "expected a non-negative integer up to 2^53 - 1, found {}",
                describe(&value)
            ),
        )),
    }
}

fn required_count(object: &JsValue, key: &str) -> JsResult<u64> {
    count(object, key)?.ok_or_else(|| bad_argument(key, "missing required field"))
}

fn describe(value: &JsValue) -> String {
    match value.as_f64() {
        Some(n) => n.to_string(),
        None => type_name(value),
    }
}

/// An optional string field.
fn text(object: &JsValue, key: &str) -> JsResult<Option<String>> {
    field(object, key)
        .map(|value| string_arg(key, &value))
        .transpose()
}

/// The `id` field: a string of digits or a number.
fn id_text(object: &JsValue) -> JsResult<NumberOrText> {
    let value = field(object, "id").ok_or_else(|| bad_argument("id", "missing required field"))?;
    match (value.as_f64(), value.as_string()) {
        (Some(n), _) => Ok(NumberOrText::Number(n)),
        (_, Some(s)) => Ok(NumberOrText::Text(s)),
        _ => Err(bad_argument(
            "id",
            format!("expected a string or a number, found {}", type_name(&value)),
        )),
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
    options("request", &request)?;
    Ok(FileBlockRequest {
        id: message_id("id", &id_text(&request)?)?,
        stream_id: required_count(&request, "streamId")?,
        file_id: required_count(&request, "fileId")?,
        offset: required_count(&request, "offset")?,
        size: required_count(&request, "size")?,
        file_token: text(&request, "fileToken")?,
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
    options("reply", &reply)?;
    let code = match field(&reply, "code") {
        None => 200,
        Some(value) => match value.as_f64() {
            Some(c) if c.fract() == 0.0 && c.abs() <= MAX_SAFE_INTEGER as f64 => c as i64,
            _ => {
                return Err(bad_argument(
                    "code",
                    format!("expected an integer, found {}", describe(&value)),
                ));
            }
        },
    };
    let block = match field(&reply, "block") {
        None if code != 200 => Vec::new(),
        None => return Err(bad_argument("block", "missing required field")),
        Some(value) => bytes_arg("block", &value)?.to_vec(),
    };
    // The frame must fit in one MQTT message that decoders accept.
    if block.len() > MAX_PAYLOAD_BYTES {
        return Err(bad_argument(
            "block",
            format!(
                "{} bytes is over the limit of {MAX_PAYLOAD_BYTES} bytes per frame",
                block.len()
            ),
        ));
    }
    let numbers = |key: &str| -> JsResult<u64> {
        match count(&reply, key)? {
            Some(n) => Ok(n),
            None if code != 200 => Ok(0),
            None => Err(bad_argument(key, "missing required field")),
        }
    };
    let frame = FileBlockReply {
        id: id_text(&reply)?.to_text(),
        code,
        msg: text(&reply, "msg")?.unwrap_or_default(),
        file_token: text(&reply, "fileToken")?,
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
