//! No type that holds a device secret or a password prints it with `Debug`.

use otalab_protocol::{
    Bridge, CredentialOptions, DeviceIdentity, MqttCredentials, parse_devices_conf,
};

const SECRET: &str = "pl4nted-s3cret-0123456789abcdef";

#[test]
fn debug_output_never_shows_a_device_secret() {
    let identity = DeviceIdentity {
        product_key: "a1B2c3D4e5F".into(),
        device_name: "meter-0001".into(),
        device_secret: SECRET.into(),
    };
    let login = MqttCredentials::new(&identity, &CredentialOptions::default()).unwrap();
    let entries = parse_devices_conf(&format!(
        "m1 {{ productKey: a1B2c3D4e5F, deviceName: meter-0001, deviceSecret: \"{SECRET}\" }}"
    ))
    .unwrap();
    assert_eq!(entries[0].device_secret, SECRET, "the secret is read");
    let bridge = Bridge::new(entries.clone()).unwrap();
    for (what, text) in [
        ("DeviceIdentity", format!("{identity:?}")),
        ("MqttCredentials", format!("{login:?}")),
        ("DeviceEntry", format!("{:?}", entries[0])),
        ("Bridge", format!("{bridge:?}")),
        ("DeviceIdentity (pretty)", format!("{identity:#?}")),
    ] {
        assert!(!text.contains(SECRET), "{what} shows the secret: {text}");
        assert!(
            !text.contains(&login.password),
            "{what} shows the password: {text}"
        );
        assert!(
            text.contains("meter-0001"),
            "{what} still shows the device: {text}"
        );
    }
    assert!(format!("{identity:?}").contains("<redacted>"));
}
