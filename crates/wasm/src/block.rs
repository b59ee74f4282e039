//! Firmware over MQTT for JavaScript: the T6 block request and the T7 binary reply frame.

use js_sys::{Reflect, Uint8Array};
use otalab_protocol::{
    FileBlockReply, FileBlockRequest, MAX_PAYLOAD_BYTES, MAX_SAFE_INTEGER, PayloadError,
};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::convert::{
    NumberOrText, bytes_arg, coded, from_js, message_id, payload_bytes, to_js, type_name,
};
use crate::error::{JsResult, bad_argument, throw};

/// A non-negative safe integer argument (JavaScript numbers are exact up to 2^53 - 1).
fn safe_u64(argument: &str, value: f64) -> JsResult<u64> {
    if value.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER as f64).contains(&value) {
        Ok(value as u64)
    } else {
        Err(bad_argument(
            argument,
            format!("expected a non-negative integer up to 2^53 - 1, found {value}"),
        ))
    }
}

/// Sets `key` to `null` when the converted object lacks it (an absent optional field).
fn null_if_absent(object: &JsValue, key: &str) {
    let present = Reflect::has(object, &key.into()).unwrap_or(false);
    if !present {
        let _ = Reflect::set(object, &key.into(), &JsValue::NULL);
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn {
    id: NumberOrText,
    stream_id: f64,
    file_id: f64,
    offset: f64,
    size: f64,
    file_token: Option<String>,
}

/// `encodeFileBlockRequest({ id, streamId, fileId, offset, size, fileToken? })`: the T6 JSON text.
#[wasm_bindgen(js_name = encodeFileBlockRequest)]
pub fn encode_file_block_request(request: JsValue) -> JsResult<String> {
    let r: RequestIn = from_js("request", request)?;
    Ok(FileBlockRequest {
        id: message_id("id", &r.id)?,
        stream_id: safe_u64("streamId", r.stream_id)?,
        file_id: safe_u64("fileId", r.file_id)?,
        offset: safe_u64("offset", r.offset)?,
        size: safe_u64("size", r.size)?,
        file_token: r.file_token,
    }
    .encode())
}

/// `decodeFileBlockRequest(payload)`: `{ id, streamId, fileId, offset, size, fileToken }`
/// (`fileToken` is `null` when the device left it out). Accepts Link SDK C's trailing comma.
#[wasm_bindgen(js_name = decodeFileBlockRequest)]
pub fn decode_file_block_request(payload: JsValue) -> JsResult<JsValue> {
    let request = coded(FileBlockRequest::decode(&payload_bytes(&payload)?))?;
    let value = to_js(&request)?;
    null_if_absent(&value, "fileToken");
    Ok(value)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplyIn {
    id: NumberOrText,
    file_length: Option<f64>,
    offset: Option<f64>,
    file_token: Option<String>,
    code: Option<f64>,
    msg: Option<String>,
}

/// `encodeFileBlockReply({ id, fileLength, offset, block, fileToken?, code?, msg? })`: the T7
/// frame as a `Uint8Array`. With a `code` other than 200, `block` may be left out (`bSize` 0).
#[wasm_bindgen(js_name = encodeFileBlockReply)]
pub fn encode_file_block_reply(reply: JsValue) -> JsResult<Uint8Array> {
    let block = Reflect::get(&reply, &"block".into()).unwrap_or(JsValue::UNDEFINED);
    let r: ReplyIn = from_js("reply", reply)?;
    let code = match r.code {
        None => 200,
        Some(c) if c.fract() == 0.0 && c.abs() <= MAX_SAFE_INTEGER as f64 => c as i64,
        Some(c) => {
            return Err(bad_argument(
                "code",
                format!("expected an integer, found {c}"),
            ));
        }
    };
    let block = if block.is_undefined() && code != 200 {
        Vec::new()
    } else {
        bytes_arg("block", &block)?.to_vec()
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
    let required = |name: &str, value: Option<f64>| match value {
        Some(v) => safe_u64(name, v),
        None if code != 200 => Ok(0),
        None => Err(bad_argument(name, "missing required field")),
    };
    let reply = FileBlockReply {
        id: r.id.to_text(),
        code,
        msg: r.msg.unwrap_or_default(),
        file_token: r.file_token,
        file_length: required("fileLength", r.file_length)?,
        offset: required("offset", r.offset)?,
        block,
    };
    Ok(Uint8Array::from(reply.encode().as_slice()))
}

/// `decodeFileBlockReply(bytes)`: `{ id, code, msg, fileToken, fileLength, offset, size, block }`.
/// Throws `OtaError` `SHORT_FRAME`, `FRAME_LENGTH_MISMATCH`, `CRC_MISMATCH`, or `CLOUD_ERROR` for a
/// non-200 `code`.
#[wasm_bindgen(js_name = decodeFileBlockReply)]
pub fn decode_file_block_reply(frame: JsValue) -> JsResult<JsValue> {
    let bytes = bytes_arg("frame", &frame).map_err(|_| {
        bad_argument(
            "frame",
            format!(
                "expected the binary frame as a Uint8Array or an ArrayBuffer, found {}",
                type_name(&frame)
            ),
        )
    })?;
    let size = bytes.length() as usize;
    if size > MAX_PAYLOAD_BYTES {
        return Err(throw(PayloadError::TooLarge {
            size,
            limit: MAX_PAYLOAD_BYTES,
        }));
    }
    let reply = coded(FileBlockReply::decode(&bytes.to_vec()))?;
    let value = to_js(&reply)?;
    null_if_absent(&value, "fileToken");
    let _ = Reflect::set(&value, &"size".into(), &(reply.block.len() as f64).into());
    let _ = Reflect::set(
        &value,
        &"block".into(),
        &Uint8Array::from(reply.block.as_slice()).into(),
    );
    Ok(value)
}
