//! The Aliyun MQTT login from arbitrary fields: never panics; a login that is made carries the
//! names it was made from and never the secret.
#![no_main]
use libfuzzer_sys::fuzz_target;
use otalab_protocol::{
    CredentialOptions, DeviceIdentity, Endpoint, MqttCredentials, MqttSignMethod,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fields = text.split('\u{1f}');
    let mut next = || fields.next().unwrap_or_default().to_owned();
    let identity = DeviceIdentity {
        product_key: next(),
        device_name: next(),
        device_secret: next(),
    };
    let client_id = next();
    let timestamp = next();
    let method = next();
    let region = next();
    let options = CredentialOptions {
        client_id: (!client_id.is_empty()).then_some(client_id),
        timestamp: (!timestamp.is_empty()).then_some(timestamp),
        sign_method: MqttSignMethod::parse(&method).unwrap_or_default(),
        tls: region.len() % 2 == 0,
    };
    if let Ok(login) = MqttCredentials::new(&identity, &options) {
        assert_eq!(
            login.username,
            format!("{}&{}", identity.device_name, identity.product_key)
        );
        assert!(!format!("{login:?}").contains(&login.password));
    }
    for endpoint in [Endpoint::region(&region), Endpoint::instance(&region)]
        .into_iter()
        .flatten()
    {
        let _ = endpoint.websocket_url(&identity.product_key, options.tls);
    }
});
