//! devices.conf parsing and the bridge core.

use otalab_protocol::{Bridge, DeviceEntry, parse_devices_conf};

const CONF: &str = r#"
# bridge devices
meter-0001 {
  productKey : a1B2c3D4e5F
  deviceName : meter-0001
  deviceSecret : 0123456789abcdef0123456789abcdef
}
// second style: quoted keys, '=' and commas
"meter 0002" = {
  "productKey" = "a1B2c3D4e5F", "deviceName" = "meter-0002",
  deviceSecret: "s#cret//x"   # quoted values may hold comment characters
  region: cn-shanghai
}
"#;

fn entry(identity: &str, pk: &str, dn: &str, ds: &str) -> DeviceEntry {
    DeviceEntry {
        original_identity: identity.into(),
        product_key: pk.into(),
        device_name: dn.into(),
        device_secret: ds.into(),
    }
}

#[test]
fn reads_both_styles_with_comments() {
    let devices = parse_devices_conf(CONF).unwrap();
    assert_eq!(
        devices,
        [
            entry(
                "meter-0001",
                "a1B2c3D4e5F",
                "meter-0001",
                "0123456789abcdef0123456789abcdef"
            ),
            entry("meter 0002", "a1B2c3D4e5F", "meter-0002", "s#cret//x"),
        ]
    );
}

#[test]
fn braced_root_and_empty_file() {
    let devices =
        parse_devices_conf("{ a { productKey = p, deviceName = d, deviceSecret = s } }").unwrap();
    assert_eq!(devices, [entry("a", "p", "d", "s")]);
    assert_eq!(parse_devices_conf("  # nothing\n").unwrap(), []);
}

#[test]
fn syntax_errors_name_the_line() {
    let cases = [
        ("a {\n  productKey p\n}", 2, "DEVICES_CONF_SYNTAX"),
        ("a {\n productKey: p\n", 3, "DEVICES_CONF_SYNTAX"),
        ("a productKey", 1, "DEVICES_CONF_SYNTAX"),
        (
            "a {\n\n deviceName: \"unterminated\n}",
            3,
            "DEVICES_CONF_SYNTAX",
        ),
        (
            "{ a { productKey = p, deviceName = d, deviceSecret = s }\n",
            2,
            "DEVICES_CONF_SYNTAX",
        ),
        (
            "\n\nb {\n productKey: p\n deviceName: d\n}",
            3,
            "DEVICES_CONF_DEVICE",
        ),
        (
            "c { productKey: p/q, deviceName: d, deviceSecret: s }",
            1,
            "DEVICES_CONF_DEVICE",
        ),
    ];
    for (text, line, code) in cases {
        let error = parse_devices_conf(text).unwrap_err();
        assert_eq!(
            (error.line(), error.code()),
            (line, code),
            "{text:?}: {error}"
        );
        assert!(
            error.to_string().contains(&format!("line {line}")),
            "{error}"
        );
    }
    let error = parse_devices_conf("\n\nb {\n productKey: p\n deviceName: d\n}").unwrap_err();
    assert_eq!(
        error.to_string(),
        "devices.conf line 3: device \"b\": missing deviceSecret"
    );
}

#[test]
fn bridge_encodes_reports_and_routes_notices() {
    let bridge = Bridge::new(parse_devices_conf(CONF).unwrap()).unwrap();
    let report = bridge
        .version_report("12345", "meter-0001", "1.0.1", None)
        .unwrap();
    assert_eq!(report.topic, "/ota/device/inform/a1B2c3D4e5F/meter-0001");
    assert_eq!(
        report.payload,
        r#"{"id":"12345","params":{"version":"1.0.1"}}"#
    );
    let progress = bridge
        .progress("7979", "meter 0002", "100", "ota success", Some("MCU"))
        .unwrap();
    assert_eq!(
        progress.topic,
        "/ota/device/progress/a1B2c3D4e5F/meter-0002"
    );
    assert_eq!(
        progress.payload,
        r#"{"id":"7979","params":{"step":"100","desc":"ota success","module":"MCU"}}"#
    );

    assert_eq!(
        bridge
            .version_report("1", "nobody", "1.0", None)
            .unwrap_err()
            .code(),
        "UNKNOWN_DEVICE"
    );
    assert_eq!(
        bridge
            .progress("1", "meter-0001", "150", "", None)
            .unwrap_err()
            .code(),
        "INVALID_STEP"
    );
    assert_eq!(
        bridge
            .version_report("x", "meter-0001", "1.0", None)
            .unwrap_err()
            .code(),
        "INVALID_ID"
    );

    assert_eq!(
        bridge.subscriptions(),
        [
            "/ota/device/upgrade/a1B2c3D4e5F/meter-0001",
            "/sys/a1B2c3D4e5F/meter-0001/thing/ota/firmware/get_reply",
            "/ota/device/upgrade/a1B2c3D4e5F/meter-0002",
            "/sys/a1B2c3D4e5F/meter-0002/thing/ota/firmware/get_reply",
        ]
    );

    let push = br#"{"code":"1000","id":"99","data":{"size":5,"version":"2.0","url":"https://h/f","md5":"5d41402abc4b2a76b9719d911017c592"}}"#;
    let routed = bridge
        .route("/ota/device/upgrade/a1B2c3D4e5F/meter-0002", push)
        .unwrap()
        .unwrap();
    assert_eq!(routed.device.original_identity, "meter 0002");
    assert_eq!(routed.notice.version.as_str(), "2.0");
    // Not for us: other device, uplink topic, non-OTA topic, empty pull reply.
    assert!(
        bridge
            .route("/ota/device/upgrade/a1B2c3D4e5F/other", push)
            .unwrap()
            .is_none()
    );
    assert!(
        bridge
            .route("/ota/device/inform/a1B2c3D4e5F/meter-0001", push)
            .unwrap()
            .is_none()
    );
    assert!(bridge.route("/x/y", push).unwrap().is_none());
    let empty = br#"{"id":"1","code":200,"data":{}}"#;
    assert!(
        bridge
            .route(
                "/sys/a1B2c3D4e5F/meter-0001/thing/ota/firmware/get_reply",
                empty
            )
            .unwrap()
            .is_none()
    );
    // For us but broken: a coded error naming the topic.
    let error = bridge
        .route("/ota/device/upgrade/a1B2c3D4e5F/meter-0001", b"{")
        .unwrap_err();
    assert_eq!(error.code(), "INVALID_JSON");
    assert!(
        error
            .to_string()
            .starts_with("/ota/device/upgrade/a1B2c3D4e5F/meter-0001: ")
    );
}

#[test]
fn duplicate_devices_are_refused() {
    let twice = vec![entry("a", "p", "d", "s"), entry("b", "p", "d", "s")];
    assert_eq!(Bridge::new(twice).unwrap_err().code(), "DUPLICATE_DEVICE");
}
