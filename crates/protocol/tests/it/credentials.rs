//! Aliyun MQTT login, against values computed with openssl:
//! `printf %s "$content" | openssl dgst -sha256 -hmac secret1`.

use otalab_protocol::{
    CredentialOptions, DeviceIdentity, Endpoint, MqttCredentials, MqttSignMethod,
};

const CONTENT: &str = "clientId12345deviceNamedevice1productKeya1FlMDWCTf1timestamp1700000000000";

fn device() -> DeviceIdentity {
    DeviceIdentity {
        product_key: "a1FlMDWCTf1".into(),
        device_name: "device1".into(),
        device_secret: "secret1".into(),
    }
}

#[test]
fn worked_example_for_all_three_hmacs() {
    let expected = [
        (MqttSignMethod::HmacMd5, "afa9e73864531ecef2c641f351eeff09"),
        (
            MqttSignMethod::HmacSha1,
            "6ca5d65bd4dc5bd3b6dccc537212fe16db2f520f",
        ),
        (
            MqttSignMethod::HmacSha256,
            "7be1cb5440351ebc347f696c5051bac301a653e6f4e6d803d0ec6522d724a5e6",
        ),
    ];
    for (method, password) in expected {
        assert_eq!(
            method.sign_hex(b"secret1", CONTENT.as_bytes()),
            password,
            "{method}"
        );
        let options = CredentialOptions {
            client_id: Some("12345".into()),
            timestamp: Some("1700000000000".into()),
            sign_method: method,
            tls: true,
        };
        let login = MqttCredentials::new(&device(), &options).unwrap();
        assert_eq!(login.password, password, "{method}");
        assert_eq!(
            login.client_id,
            format!("12345|securemode=2,signmethod={method},timestamp=1700000000000|")
        );
        assert_eq!(login.username, "device1&a1FlMDWCTf1");
    }
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let login = MqttCredentials::new(&device(), &CredentialOptions::default()).unwrap();
    let shown = format!("{login:?}");
    assert!(!shown.contains(&login.password), "{shown}");
    assert!(shown.contains("redacted"));
}

#[test]
fn endpoints() {
    let region = Endpoint::region("cn-shanghai").unwrap();
    assert_eq!(
        region.websocket_url("a1FlMDWCTf1", true),
        "wss://a1FlMDWCTf1.iot-as-mqtt.cn-shanghai.aliyuncs.com:443/"
    );
    let instance = Endpoint::instance("iot-06z00ax1o4d9lh8").unwrap();
    assert_eq!(
        instance.websocket_url("a1FlMDWCTf1", false),
        "ws://iot-06z00ax1o4d9lh8.mqtt.iothub.aliyuncs.com:443/"
    );
    assert_eq!(Endpoint::region("").unwrap_err().code(), "INVALID_ENDPOINT");
    assert_eq!(
        Endpoint::region("a/b").unwrap_err().code(),
        "INVALID_ENDPOINT"
    );
}
