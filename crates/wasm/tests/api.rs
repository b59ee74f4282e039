//! The binding as JavaScript sees it. Runs in Node (`cargo test --target wasm32-unknown-unknown
//! -p otalab-wasm`) and in headless Chromium (the same with `WASM_BINDGEN_USE_BROWSER=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, JSON, Object, Reflect, Uint8Array};
use otalab_wasm::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap()
}

fn text(value: &JsValue, key: &str) -> String {
    get(value, key)
        .as_string()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

fn bytes(data: &[u8]) -> JsValue {
    Uint8Array::from(data).into()
}

fn json(text: &str) -> JsValue {
    JSON::parse(text).unwrap()
}

/// The thrown value is an Error named OtaError; returns its code.
fn code(error: JsValue) -> String {
    assert!(
        error.is_instance_of::<js_sys::Error>(),
        "not an Error: {error:?}"
    );
    assert_eq!(text(&error, "name"), "OtaError");
    text(&error, "code")
}

const NOTICE: &str = r#"{"code":"1000","id":1626969597470,"message":"success","data":{"size":5,"version":"2.0.0","isDiff":1,"url":"https://h/fw.bin","md5":"5d41402abc4b2a76b9719d911017c592","signMethod":"Md5","module":"MCU","extData":{"_package_udi":"{\"a\":1}"},"future":true}}"#;

#[wasm_bindgen_test]
fn topics() {
    let t = topic("upgrade".into(), "pk".into(), "dn".into()).unwrap();
    assert_eq!(t, "/ota/device/upgrade/pk/dn");
    let parsed = parse_topic(t.as_str().into()).unwrap();
    assert_eq!(text(&parsed, "kind"), "upgrade");
    assert_eq!(text(&parsed, "productKey"), "pk");
    assert_eq!(
        code(topic("upgrade".into(), "p+k".into(), "dn".into()).unwrap_err()),
        "TOPIC_ILLEGAL_CHAR"
    );
    assert_eq!(
        code(topic("downgrade".into(), "pk".into(), "dn".into()).unwrap_err()),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(parse_topic("/a/b".into()).unwrap_err()),
        "TOPIC_UNKNOWN"
    );
}

#[wasm_bindgen_test]
fn notices_from_strings_and_bytes() {
    let from_text = decode_upgrade_notice(NOTICE.into()).unwrap();
    let bytes = Uint8Array::from(NOTICE.as_bytes());
    let from_bytes = decode_upgrade_notice(bytes.into()).unwrap();
    for notice in [from_text, from_bytes] {
        assert_eq!(text(&notice, "id"), "1626969597470");
        assert_eq!(text(&notice, "signMethod"), "Md5");
        assert_eq!(text(&notice, "module"), "MCU");
        assert_eq!(get(&notice, "isDiff"), JsValue::TRUE);
        assert_eq!(text(&notice, "packageUdi"), r#"{"a":1}"#);
        assert_eq!(text(&notice, "download"), "https");
        let files = Array::from(&get(&notice, "files"));
        assert_eq!(files.length(), 1);
        assert_eq!(get(&files.get(0), "size").as_f64(), Some(5.0));
        assert_eq!(get(&get(&notice, "unknown"), "future"), JsValue::TRUE);
    }
    let error = decode_upgrade_notice(r#"{"id":"1","data":{"size":"abc","version":"1"}}"#.into())
        .unwrap_err();
    assert_eq!(text(&error, "path"), "data.size");
    assert_eq!(
        text(&error, "message"),
        r#"data.size: expected a non-negative integer, found "abc""#
    );
    assert_eq!(code(error), "WRONG_TYPE");
    assert_eq!(
        code(decode_upgrade_notice(JsValue::from(5)).unwrap_err()),
        "INVALID_ARGUMENT"
    );
    let huge = "x".repeat(300 * 1024);
    assert_eq!(
        code(decode_upgrade_notice(huge.into()).unwrap_err()),
        "PAYLOAD_TOO_LARGE"
    );
}

#[wasm_bindgen_test]
fn pull_reply_without_package_is_null() {
    assert!(
        decode_firmware_get_reply(r#"{"id":"1","code":200,"data":{}}"#.into())
            .unwrap()
            .is_null()
    );
    assert_eq!(
        encode_firmware_get(json(r#"{"id":7,"module":"MCU"}"#)).unwrap(),
        r#"{"id":"7","version":"1.0","params":{"module":"MCU"},"method":"thing.ota.firmware.get"}"#
    );
}

#[wasm_bindgen_test]
fn reports_and_progress() {
    assert_eq!(
        encode_version_report(json(r#"{"id":123,"version":"1.0.1"}"#)).unwrap(),
        r#"{"id":"123","params":{"version":"1.0.1"}}"#
    );
    let report = decode_version_report(r#"{"id":5,"params":{"version":"1"}}"#.into()).unwrap();
    assert_eq!(text(&report, "module"), "default");
    let p = encode_progress(json(r#"{"id":"9","step":-3,"desc":"bad digest"}"#)).unwrap();
    assert_eq!(
        p,
        r#"{"id":"9","params":{"step":"-3","desc":"bad digest"}}"#
    );
    let decoded = decode_progress(p.as_str().into()).unwrap();
    assert_eq!(get(&decoded, "step").as_f64(), Some(-3.0));
    assert_eq!(
        code(encode_progress(json(r#"{"id":"9","step":101}"#)).unwrap_err()),
        "INVALID_STEP"
    );
    assert_eq!(
        code(encode_progress(json(r#"{"id":-1,"step":1}"#)).unwrap_err()),
        "INVALID_ID"
    );
    assert_eq!(
        code(encode_version_report(json(r#"{"id":1}"#)).unwrap_err()),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(encode_version_report(json(r#"{"id":1,"version":"a b"}"#)).unwrap_err()),
        "INVALID_VERSION"
    );
}

#[wasm_bindgen_test]
fn streaming_verifier() {
    let expected =
        json(r#"{"size":5,"signMethod":"MD5","sign":"5d41402abc4b2a76b9719d911017c592"}"#);
    let mut verifier = JsFirmwareVerifier::new(expected.clone()).unwrap();
    verifier.update(bytes(b"he")).unwrap();
    verifier.update(bytes(b"llo")).unwrap();
    assert_eq!(verifier.received(), 5.0);
    let result = verifier.finish().unwrap();
    assert_eq!(get(&result, "ok"), JsValue::TRUE);
    assert_eq!(text(&result, "digest"), "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(
        code(verifier.update(bytes(b"x")).unwrap_err()),
        "VERIFIER_FINISHED"
    );
    assert_eq!(code(verifier.finish().unwrap_err()), "VERIFIER_FINISHED");

    let mut long = JsFirmwareVerifier::new(expected.clone()).unwrap();
    long.update(bytes(b"hello")).unwrap();
    let error = long.update(bytes(b"!")).unwrap_err();
    assert_eq!(get(&error, "expected").as_f64(), Some(5.0));
    assert_eq!(code(error), "SIZE_EXCEEDED");
    let result = long.finish().unwrap();
    assert_eq!(get(&result, "ok"), JsValue::FALSE);
    assert_eq!(text(&result, "failure"), "SIZE_MISMATCH");

    let wrong = verify_firmware(bytes(b"hellx"), expected.clone()).unwrap();
    assert_eq!(text(&wrong, "failure"), "DIGEST_MISMATCH");
    assert_eq!(
        code(
            JsFirmwareVerifier::new(json(r#"{"size":5,"signMethod":"CRC","sign":"00"}"#))
                .err()
                .unwrap()
        ),
        "UNKNOWN_SIGN_METHOD"
    );
    assert_eq!(
        code(
            JsFirmwareVerifier::new(json(r#"{"size":-5,"signMethod":"MD5","sign":"00"}"#))
                .err()
                .unwrap()
        ),
        "INVALID_ARGUMENT"
    );
}

#[wasm_bindgen_test]
fn credentials_and_devices_conf() {
    let login = aliyun_credentials(json(
        r#"{"productKey":"a1FlMDWCTf1","deviceName":"device1","deviceSecret":"secret1","clientId":"12345","timestamp":1700000000000,"region":"cn-shanghai"}"#,
    ))
    .unwrap();
    assert_eq!(
        text(&login, "password"),
        "7be1cb5440351ebc347f696c5051bac301a653e6f4e6d803d0ec6522d724a5e6"
    );
    assert_eq!(
        text(&login, "url"),
        "wss://a1FlMDWCTf1.iot-as-mqtt.cn-shanghai.aliyuncs.com:443/"
    );
    assert_eq!(
        code(
            aliyun_credentials(json(
                r#"{"productKey":"p","deviceName":"d","deviceSecret":"s","signMethod":"rsa"}"#
            ))
            .unwrap_err()
        ),
        "UNKNOWN_MQTT_SIGN_METHOD"
    );
    let devices =
        parse_devices_conf_js("a {\n productKey: p\n deviceName: d\n deviceSecret: s\n}".into())
            .unwrap();
    assert_eq!(text(&Array::from(&devices).get(0), "originalIdentity"), "a");
    let error = parse_devices_conf_js("a {\n productKey p\n}".into()).unwrap_err();
    assert_eq!(get(&error, "line").as_f64(), Some(2.0));
    assert_eq!(code(error), "DEVICES_CONF_SYNTAX");
}

#[wasm_bindgen_test]
fn bridge_publishes_and_routes() {
    let sent: Rc<RefCell<Vec<(String, String, f64)>>> = Rc::default();
    let sink = sent.clone();
    let publish = Closure::<dyn Fn(String, String, f64)>::new(move |t, p, q| {
        sink.borrow_mut().push((t, p, q))
    });
    let options = Object::new();
    Reflect::set(
        &options,
        &"devices".into(),
        &parse_devices_conf_js("m1 { productKey: pk, deviceName: dn, deviceSecret: s }".into())
            .unwrap(),
    )
    .unwrap();
    Reflect::set(&options, &"publish".into(), publish.as_ref()).unwrap();
    let mut bridge = JsOtaBridge::new(options.into()).unwrap();

    assert!(
        bridge
            .report_ota_version("1".into(), "m1".into(), "1.0.0".into(), JsValue::UNDEFINED)
            .unwrap()
    );
    assert!(
        bridge
            .report_ota_progress(
                2.into(),
                "m1".into(),
                "57".into(),
                "downloading".into(),
                JsValue::NULL
            )
            .unwrap()
    );
    assert_eq!(
        code(
            bridge
                .report_ota_version("1".into(), "m2".into(), "1.0.0".into(), JsValue::UNDEFINED)
                .unwrap_err()
        ),
        "UNKNOWN_DEVICE"
    );
    assert_eq!(
        *sent.borrow(),
        [
            (
                "/ota/device/inform/pk/dn".to_string(),
                r#"{"id":"1","params":{"version":"1.0.0"}}"#.to_string(),
                1.0
            ),
            (
                "/ota/device/progress/pk/dn".to_string(),
                r#"{"id":"2","params":{"step":"57","desc":"downloading"}}"#.to_string(),
                1.0
            ),
        ]
    );
    assert_eq!(
        bridge.subscriptions(),
        [
            "/ota/device/upgrade/pk/dn",
            "/sys/pk/dn/thing/ota/firmware/get_reply"
        ]
    );

    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let log = seen.clone();
    let handler = Closure::<dyn Fn(String, JsValue, JsValue) -> bool>::new(
        move |id: String, info: JsValue, session: JsValue| {
            log.borrow_mut().push(format!(
                "{id} {} {} {}",
                text(&info, "version"),
                text(&info, "url"),
                text(&session, "originalIdentity")
            ));
            true
        },
    );
    bridge
        .set_ota_upgrade_handler(handler.as_ref().clone())
        .unwrap();
    assert_eq!(
        code(bridge.set_ota_upgrade_handler(5.into()).unwrap_err()),
        "INVALID_ARGUMENT"
    );
    assert!(
        bridge
            .handle_message("/ota/device/upgrade/pk/dn".into(), NOTICE.into())
            .unwrap()
    );
    assert!(
        !bridge
            .handle_message("/ota/device/upgrade/pk/other".into(), NOTICE.into())
            .unwrap()
    );
    assert_eq!(*seen.borrow(), ["1626969597470 2.0.0 https://h/fw.bin m1"]);
    assert_eq!(
        code(
            bridge
                .handle_message("/ota/device/upgrade/pk/dn".into(), "{".into())
                .unwrap_err()
        ),
        "INVALID_JSON"
    );
}
