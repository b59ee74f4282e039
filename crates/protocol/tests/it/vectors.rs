//! Walks every conformance vector in `tests/vectors/*.json` (schema: tests/vectors/README.md).

use std::fs;
use std::path::PathBuf;

use otalab_protocol::{
    CredentialOptions, DeviceIdentity, Digest, Endpoint, FileBlockReply, FileBlockRequest,
    FirmwareGet, FirmwareVerifier, MqttCredentials, MqttSignMethod, PayloadError, Progress,
    SignMethod, Topic, TopicKind, UpgradeNotice, VersionReport,
};
use serde_json::{Map, Value, json};

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

/// An error as the vectors describe it.
struct Failure {
    code: String,
    path: Option<String>,
    message: String,
    chunk: Option<usize>,
}

impl From<PayloadError> for Failure {
    fn from(e: PayloadError) -> Self {
        Self {
            code: e.code().into(),
            path: Some(e.path().into()),
            message: e.to_string(),
            chunk: None,
        }
    }
}

macro_rules! failure {
    ($e:expr) => {{
        let e = $e;
        Failure {
            code: e.code().into(),
            path: None,
            message: e.to_string(),
            chunk: None,
        }
    }};
}

/// What running a case produced: the normalised value and the canonical re-encoding.
type Outcome = Result<(Value, Option<String>), Failure>;

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn payload_bytes(case: &Value) -> Vec<u8> {
    let mut bytes = match &case["payload"] {
        Value::String(s) => s.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    };
    if let Some(pad) = case.get("pad").and_then(Value::as_u64) {
        bytes.extend(std::iter::repeat_n(b' ', pad as usize));
    }
    bytes
}

/// Drops the empty maps that the vectors leave out.
fn normalise(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        for key in ["unknown", "unknownEnvelope", "extData"] {
            if map
                .get(key)
                .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
            {
                map.shift_remove(key);
            }
        }
    }
    value
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    normalise(serde_json::to_value(t).unwrap())
}

/// Decodes, checks that the canonical form decodes to the same value, and returns both.
macro_rules! decode_roundtrip {
    ($ty:ty, $bytes:expr) => {{
        let decoded = <$ty>::decode($bytes)?;
        let canonical = decoded.encode();
        let again = <$ty>::decode(canonical.as_bytes())
            .unwrap_or_else(|e| panic!("canonical form {canonical} does not decode: {e}"));
        assert_eq!(again, decoded, "decode(encode(x)) != x for {canonical}");
        Ok((to_value(&decoded), Some(canonical)))
    }};
}

fn run_case(decoder: &str, case: &Value) -> Outcome {
    let bytes = payload_bytes(case);
    match decoder {
        "upgrade_notice" => decode_roundtrip!(UpgradeNotice, &bytes),
        "version_report" => decode_roundtrip!(VersionReport, &bytes),
        "progress" => decode_roundtrip!(Progress, &bytes),
        "firmware_get" => decode_roundtrip!(FirmwareGet, &bytes),
        "file_block_request" => decode_roundtrip!(FileBlockRequest, &bytes),
        "file_block_reply" => {
            let frame = hex_decode(case["payload"].as_str().unwrap());
            let reply = FileBlockReply::decode(&frame)?;
            let canonical = reply.encode();
            assert_eq!(
                FileBlockReply::decode(&canonical).unwrap(),
                reply,
                "decode(encode(x)) != x"
            );
            let mut value = to_value(&reply);
            value["size"] = reply.block.len().into();
            value["blockHex"] = hex_encode(&reply.block).into();
            Ok((value, Some(hex_encode(&canonical))))
        }
        "firmware_get_reply" => match UpgradeNotice::decode_reply(&bytes)? {
            Some(notice) => {
                let canonical = notice.encode_reply();
                let again = UpgradeNotice::decode_reply(canonical.as_bytes()).unwrap();
                assert_eq!(again.as_ref(), Some(&notice));
                Ok((to_value(&notice), Some(canonical)))
            }
            None => {
                let id = case["payload"]["id"].to_string().replace('"', "");
                let id = id.parse().unwrap();
                Ok((Value::Null, Some(UpgradeNotice::encode_empty_reply(&id))))
            }
        },
        "topic" => {
            let text = case["payload"].as_str().unwrap();
            let topic = Topic::parse(text).map_err(|e| failure!(e))?;
            Ok((to_value(&topic), Some(topic.to_string())))
        }
        "topic_build" => {
            let p = &case["payload"];
            let kind = TopicKind::from_name(p["kind"].as_str().unwrap()).unwrap();
            let topic = Topic::new(
                kind,
                p["productKey"].as_str().unwrap(),
                p["deviceName"].as_str().unwrap(),
            )
            .map_err(|e| failure!(e))?;
            Ok((Value::String(topic.to_string()), None))
        }
        "credentials" => credentials(&case["payload"]),
        "verify" => verify(&case["payload"]),
        other => panic!("unknown decoder {other}"),
    }
}

fn text(p: &Value, key: &str) -> Option<String> {
    p.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn credentials(p: &Value) -> Outcome {
    let identity = DeviceIdentity {
        product_key: text(p, "productKey").unwrap(),
        device_name: text(p, "deviceName").unwrap(),
        device_secret: text(p, "deviceSecret").unwrap(),
    };
    let sign_method = match text(p, "signMethod") {
        Some(m) => MqttSignMethod::parse(&m).map_err(|e| failure!(e))?,
        None => MqttSignMethod::default(),
    };
    let options = CredentialOptions {
        client_id: text(p, "clientId"),
        timestamp: text(p, "timestamp"),
        sign_method,
        tls: p.get("tls").and_then(Value::as_bool).unwrap_or(true),
    };
    let endpoint = match (text(p, "region"), text(p, "instanceId")) {
        (Some(region), _) => Some(Endpoint::region(&region).map_err(|e| failure!(e))?),
        (None, Some(id)) => Some(Endpoint::instance(&id).map_err(|e| failure!(e))?),
        (None, None) => None,
    };
    let login = MqttCredentials::new(&identity, &options).map_err(|e| failure!(e))?;
    let mut value = serde_json::to_value(&login).unwrap();
    if let Some(endpoint) = endpoint {
        value["url"] = endpoint
            .websocket_url(&identity.product_key, options.tls)
            .into();
    }
    Ok((value, None))
}

fn verify(p: &Value) -> Outcome {
    let method = SignMethod::parse(p["signMethod"].as_str().unwrap()).map_err(|e| failure!(e))?;
    let sign = Digest::parse(method, p["sign"].as_str().unwrap()).map_err(|e| failure!(e))?;
    let data = p["text"].as_str().unwrap().as_bytes();
    let mut verifier = FirmwareVerifier::new(p["size"].as_u64().unwrap(), method, sign);
    let mut offset = 0;
    for (index, len) in p["chunks"].as_array().unwrap().iter().enumerate() {
        let len = len.as_u64().unwrap() as usize;
        verifier
            .update(&data[offset..offset + len])
            .map_err(|e| Failure {
                chunk: Some(index),
                ..failure!(e)
            })?;
        offset += len;
    }
    let verified = verifier.finish().map_err(|e| failure!(e))?;
    Ok((
        json!({"size": verified.size, "digest": verified.digest}),
        None,
    ))
}

#[test]
fn every_vector_passes() {
    let mut files: Vec<_> = fs::read_dir(vector_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut count = 0;
    let mut problems = Vec::new();
    for file in &files {
        let doc: Value = serde_json::from_str(&fs::read_to_string(file).unwrap()).unwrap();
        let decoder = doc["decoder"].as_str().unwrap();
        for case in doc["cases"].as_array().unwrap() {
            count += 1;
            let name = format!(
                "{}: {}",
                file.file_name().unwrap().to_string_lossy(),
                case["name"]
            );
            let outcome = run_case(decoder, case);
            match (case.get("error"), outcome) {
                (None, Ok((actual, canonical))) => {
                    if actual != case["expect"] {
                        problems.push(format!(
                            "{name}\n  expected {}\n  actual   {actual}",
                            case["expect"]
                        ));
                    }
                    if let (Some(want), Some(got)) = (case.get("canonical"), &canonical)
                        && want.as_str() != Some(got.as_str())
                    {
                        problems.push(format!(
                            "{name}\n  canonical expected {want}\n  canonical actual   {got}"
                        ));
                    }
                    // A captured real payload: what otalab writes must mean the same to any JSON
                    // reader (same fields, same values, same types; order aside).
                    if case.get("sameMeaning") == Some(&Value::Bool(true)) {
                        let written = canonical
                            .as_deref()
                            .and_then(|c| serde_json::from_str::<Value>(c).ok());
                        if written.as_ref() != Some(&case["payload"]) {
                            problems.push(format!(
                                "{name}\n  captured {}\n  written  {:?}",
                                case["payload"], canonical
                            ));
                        }
                    }
                }
                (None, Err(f)) => problems.push(format!(
                    "{name}: unexpected error {} ({})",
                    f.code, f.message
                )),
                (Some(code), Ok((actual, _))) => {
                    problems.push(format!("{name}: expected error {code}, decoded {actual}"))
                }
                (Some(code), Err(f)) => {
                    if code.as_str() != Some(f.code.as_str()) {
                        problems.push(format!(
                            "{name}: expected {code}, got {} ({})",
                            f.code, f.message
                        ));
                    }
                    if let Some(path) = case.get("path")
                        && path.as_str() != f.path.as_deref()
                    {
                        problems.push(format!("{name}: expected path {path}, got {:?}", f.path));
                    }
                    if let Some(message) = case.get("message")
                        && message.as_str() != Some(f.message.as_str())
                    {
                        problems.push(format!(
                            "{name}:\n  expected message {message}\n  actual message   {:?}",
                            f.message
                        ));
                    }
                    if let Some(chunk) = case.get("failedChunk")
                        && chunk.as_u64() != f.chunk.map(|c| c as u64)
                    {
                        problems.push(format!(
                            "{name}: expected failure at chunk {chunk}, got {:?}",
                            f.chunk
                        ));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {count} vectors failed:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        count >= 40,
        "only {count} vectors found in {}",
        vector_dir().display()
    );
}
