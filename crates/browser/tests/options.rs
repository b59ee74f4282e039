//! The Aliyun options helper (pure: runs natively).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use otalab_browser::{ClientError, ClientOptions};
use otalab_protocol::{CredentialOptions, DeviceIdentity, Endpoint, MqttSignMethod};

#[test]
fn aliyun_options_carry_the_signed_login_and_the_endpoint_url() {
    let device = DeviceIdentity {
        product_key: "a1FlMDWCTf1".into(),
        device_name: "device1".into(),
        device_secret: "secret1".into(),
    };
    let credentials = CredentialOptions {
        client_id: Some("12345".into()),
        timestamp: Some("1700000000000".into()),
        sign_method: MqttSignMethod::HmacSha256,
        tls: true,
    };
    let endpoint = Endpoint::region("cn-shanghai").unwrap();
    let options = ClientOptions::aliyun(&device, &credentials, &endpoint, 60).unwrap();
    assert_eq!(
        options.url,
        "wss://a1FlMDWCTf1.iot-as-mqtt.cn-shanghai.aliyuncs.com:443/"
    );
    assert_eq!(
        options.session.client_id,
        "12345|securemode=2,signmethod=hmacsha256,timestamp=1700000000000|"
    );
    assert_eq!(
        options.session.username.as_deref(),
        Some("device1&a1FlMDWCTf1")
    );
    // printf %s clientId12345deviceNamedevice1productKeya1FlMDWCTf1timestamp1700000000000 | openssl dgst -sha256 -hmac secret1
    assert_eq!(
        options.session.password.as_deref(),
        Some("7be1cb5440351ebc347f696c5051bac301a653e6f4e6d803d0ec6522d724a5e6")
    );
    assert_eq!(options.session.keep_alive_secs, 60);

    for bad in [29, 1201] {
        let error = ClientOptions::aliyun(&device, &credentials, &endpoint, bad).unwrap_err();
        assert_eq!(error, ClientError::KeepAlive { secs: bad });
        assert_eq!(error.code(), "MQTT_KEEP_ALIVE_RANGE");
    }
    let mut empty = device.clone();
    empty.device_secret.clear();
    assert_eq!(
        ClientOptions::aliyun(&empty, &credentials, &endpoint, 60)
            .unwrap_err()
            .code(),
        "CREDENTIALS_EMPTY_FIELD"
    );
}

#[test]
fn debug_output_never_shows_the_password_or_the_secret() {
    let device = DeviceIdentity {
        product_key: "a1FlMDWCTf1".into(),
        device_name: "device1".into(),
        device_secret: "pl4nted-s3cret".into(),
    };
    let options = ClientOptions::aliyun(
        &device,
        &CredentialOptions::default(),
        &Endpoint::region("cn-shanghai").unwrap(),
        60,
    )
    .unwrap();
    let password = options.session.password.clone().unwrap();
    for text in [format!("{options:?}"), format!("{:#?}", options.session)] {
        assert!(!text.contains(&password), "{text}");
        assert!(!text.contains("pl4nted-s3cret"), "{text}");
        assert!(
            text.contains("<redacted>") && text.contains("device1&a1FlMDWCTf1"),
            "{text}"
        );
    }
}

#[test]
fn broker_urls_a_browser_cannot_open_are_refused_with_the_reason() {
    for good in [
        "ws://127.0.0.1:8688",
        "wss://broker.example:443/mqtt",
        "ws://[::1]:9001/",
    ] {
        assert_eq!(ClientOptions::check_url(good), Ok(()), "{good}");
    }
    for (bad, why) in [
        ("", "empty"),
        ("mqtt://127.0.0.1:1883", "cannot open plain MQTT"),
        ("javascript:alert(1)", "only ws:// and wss://"),
        ("http://127.0.0.1/", "only ws:// and wss://"),
        ("ws://", "no host"),
        ("ws://:8688", "no host"),
        ("ws://host name", "spaces"),
    ] {
        let error = ClientOptions::check_url(bad).unwrap_err();
        assert_eq!(error.code(), "MQTT_BAD_URL", "{bad}");
        assert!(error.to_string().contains(why), "{bad}: {error}");
    }
}
