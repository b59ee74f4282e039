//! The simulated device's OTA flow, driven step by step.

use otalab_protocol::{
    Action, Device, DeviceConfig, FailureKind, Fault, Phase, SignMethod, Step, digest_hex,
};
use serde_json::Value;

const PK: &str = "a1B2c3D4e5F";
const DN: &str = "meter-0001";
const URL: &str = "http://127.0.0.1:1/fw.bin";

fn firmware() -> Vec<u8> {
    (0..10_000u32).map(|i| (i * 7 % 256) as u8).collect()
}

fn notice(bytes: &[u8], sign: &str) -> String {
    serde_json::json!({"code":"1000","id":"77","message":"success","data":{
        "size": bytes.len(), "version": "2.0.0", "url": URL, "sign": sign, "signMethod": "SHA256"}})
    .to_string()
}

fn upgrade_topic() -> String {
    format!("/ota/device/upgrade/{PK}/{DN}")
}

/// Published (topic suffix, JSON) pairs.
fn published(actions: &[Action]) -> Vec<(String, Value)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Publish { topic, payload } => Some((
                topic
                    .rsplit_once(&format!("/{PK}/{DN}"))
                    .map_or(topic.clone(), |(t, _)| t.to_owned()),
                serde_json::from_str(payload).unwrap(),
            )),
            _ => None,
        })
        .collect()
}

fn steps(actions: &[Action]) -> Vec<String> {
    published(actions)
        .into_iter()
        .filter(|(t, _)| t == "/ota/device/progress")
        .map(|(_, v)| v["params"]["step"].as_str().unwrap().to_owned())
        .collect()
}

fn device(fault: Fault) -> Device {
    let mut config = DeviceConfig::new(PK, DN, "1.0.0");
    config.fault = fault;
    config.cadence_percent = 25;
    Device::new(config)
}

/// Runs the download to its end in `chunk`-byte pieces; returns all actions.
fn download(device: &mut Device, bytes: &[u8], chunk: usize, now: u64) -> Vec<Action> {
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk) {
        out.extend(device.data(piece, now));
        if matches!(
            device.phase(),
            Phase::Failed { .. } | Phase::Stalled | Phase::Offline
        ) {
            return out;
        }
    }
    out.extend(device.fetch_ended(now));
    out
}

#[test]
fn full_upgrade_reports_progress_in_order_then_the_new_version() {
    let bytes = firmware();
    let mut d = device(Fault::None);
    let hello = d.connected(0);
    assert_eq!(
        published(&hello),
        [(
            "/ota/device/inform".to_string(),
            serde_json::json!({"id":"1","params":{"version":"1.0.0"}})
        )]
    );
    assert_eq!(
        d.subscriptions(),
        [
            upgrade_topic(),
            format!("/sys/{PK}/{DN}/thing/ota/firmware/get_reply")
        ]
    );

    let start = d
        .message(
            &upgrade_topic(),
            notice(&bytes, &digest_hex(SignMethod::Sha256, &bytes)).as_bytes(),
            10,
        )
        .unwrap()
        .unwrap();
    assert!(
        start.contains(&Action::Fetch {
            url: URL.into(),
            offset: 0
        }),
        "{start:?}"
    );
    let mut all = start.clone();
    all.extend(download(&mut d, &bytes, 1000, 20));
    assert_eq!(steps(&all), ["0", "25", "50", "75", "100"]);
    assert_eq!(d.phase(), &Phase::Flashing);
    let wake = d.tick(20 + 1500);
    assert_eq!(wake, [Action::Disconnect, Action::WakeAt(20 + 1500 + 1000)]);
    assert_eq!(d.tick(2519), []);
    assert_eq!(d.tick(2520), [Action::Connect]);
    let back = d.connected(2600);
    assert_eq!(published(&back)[0].1["params"]["version"], "2.0.0");
    assert_eq!(
        d.phase(),
        &Phase::Upgraded {
            version: "2.0.0".into()
        }
    );
    assert_eq!(
        d.history().iter().map(|s| s.step).collect::<Vec<_>>(),
        [0, 25, 50, 75, 100]
    );
}

#[test]
fn a_wrong_digest_is_minus_3_and_a_short_file_is_resumed_with_range() {
    let bytes = firmware();
    let mut d = device(Fault::None);
    d.message(
        &upgrade_topic(),
        notice(&bytes, &"0".repeat(64)).as_bytes(),
        0,
    )
    .unwrap();
    let out = download(&mut d, &bytes, 4096, 1);
    assert_eq!(steps(&out).last().map(String::as_str), Some("-3"));
    assert!(
        matches!(d.phase(), Phase::Failed { code: -3, desc } if desc.contains("digest mismatch"))
    );

    // Broken connection after 3000 bytes: the next fetch starts at 3000.
    let mut d = device(Fault::None);
    d.message(
        &upgrade_topic(),
        notice(&bytes, &digest_hex(SignMethod::Sha256, &bytes)).as_bytes(),
        0,
    )
    .unwrap();
    d.data(&bytes[..3000], 1);
    assert_eq!(
        d.fetch_failed(None, "network error", 2),
        [Action::Fetch {
            url: URL.into(),
            offset: 3000
        }]
    );
    d.data(&bytes[3000..5000], 3);
    assert_eq!(
        d.fetch_ended(4),
        [Action::Fetch {
            url: URL.into(),
            offset: 5000
        }]
    );
    let out = download(&mut d, &bytes[5000..], 1000, 5);
    assert_eq!(steps(&out).last().map(String::as_str), Some("100"));
}

#[test]
fn http_errors_and_too_many_resumes_are_minus_2() {
    let bytes = firmware();
    let mut d = device(Fault::None);
    d.message(
        &upgrade_topic(),
        notice(&bytes, &digest_hex(SignMethod::Sha256, &bytes)).as_bytes(),
        0,
    )
    .unwrap();
    let out = d.fetch_failed(Some(404), "Not Found", 1);
    assert_eq!(steps(&out), ["-2"]);
    assert!(matches!(d.phase(), Phase::Failed { code: -2, desc } if desc == "HTTP 404: Not Found"));

    let mut d = device(Fault::None);
    d.message(
        &upgrade_topic(),
        notice(&bytes, &digest_hex(SignMethod::Sha256, &bytes)).as_bytes(),
        0,
    )
    .unwrap();
    for _ in 0..3 {
        assert!(matches!(
            d.fetch_failed(None, "reset", 1).as_slice(),
            [Action::Fetch { .. }]
        ));
    }
    assert_eq!(steps(&d.fetch_failed(None, "reset", 2)), ["-2"]);
}

#[test]
fn injected_failures_map_to_their_codes() {
    let bytes = firmware();
    let good = digest_hex(SignMethod::Sha256, &bytes);
    for (failure, code) in [
        (FailureKind::Download, "-2"),
        (FailureKind::Upgrade, "-1"),
        (FailureKind::Verify, "-3"),
    ] {
        let mut d = device(Fault::Fail {
            failure,
            at_percent: 50,
        });
        d.message(&upgrade_topic(), notice(&bytes, &good).as_bytes(), 0)
            .unwrap();
        let out = download(&mut d, &bytes, 500, 1);
        assert_eq!(
            steps(&out).last().map(String::as_str),
            Some(code),
            "{failure:?}"
        );
    }
    let mut d = device(Fault::Fail {
        failure: FailureKind::Flash,
        at_percent: 0,
    });
    d.message(&upgrade_topic(), notice(&bytes, &good).as_bytes(), 0)
        .unwrap();
    download(&mut d, &bytes, 500, 1);
    assert_eq!(steps(&d.tick(1501)), ["-4"]);
}

#[test]
fn wrong_version_stall_and_offline() {
    let bytes = firmware();
    let good = digest_hex(SignMethod::Sha256, &bytes);
    let mut d = device(Fault::WrongVersion {
        version: "1.9.9".into(),
    });
    d.message(&upgrade_topic(), notice(&bytes, &good).as_bytes(), 0)
        .unwrap();
    download(&mut d, &bytes, 5000, 1);
    d.tick(1501);
    d.tick(2501);
    assert_eq!(
        published(&d.connected(2600))[0].1["params"]["version"],
        "1.9.9"
    );

    let mut d = device(Fault::Stall { at_percent: 50 });
    d.message(&upgrade_topic(), notice(&bytes, &good).as_bytes(), 0)
        .unwrap();
    let out = download(&mut d, &bytes, 1000, 1);
    assert_eq!(d.phase(), &Phase::Stalled);
    assert!(out.contains(&Action::AbortFetch));
    assert!(steps(&out).iter().all(|s| s != "100"));

    let mut d = device(Fault::Offline {
        at_percent: 50,
        for_ms: 3000,
    });
    d.message(&upgrade_topic(), notice(&bytes, &good).as_bytes(), 0)
        .unwrap();
    let out = download(&mut d, &bytes, 1000, 10);
    assert!(
        out.ends_with(&[Action::AbortFetch, Action::Disconnect, Action::WakeAt(3010)]),
        "{out:?}"
    );
    assert_eq!(d.tick(3010), [Action::Connect]);
    let back = d.connected(3020);
    assert_eq!(published(&back)[0].1["params"]["version"], "1.0.0");
    assert_eq!(d.phase(), &Phase::Idle);
    // The cloud pushes again: a fresh upgrade starts.
    d.config_mut().fault = Fault::None;
    d.message(&upgrade_topic(), notice(&bytes, &good).as_bytes(), 4000)
        .unwrap();
    let out = download(&mut d, &bytes, 5000, 4001);
    assert_eq!(steps(&out).last().map(String::as_str), Some("100"));
}

#[test]
fn manual_mode_pull_and_foreign_messages() {
    let bytes = firmware();
    let mut config = DeviceConfig::new(PK, DN, "1.0.0");
    config.auto_upgrade = false;
    let mut d = Device::new(config);
    let pull = d.check_for_update(&otalab_protocol::Module::default());
    let Action::Publish { topic, payload } = &pull[0] else {
        panic!("{pull:?}")
    };
    assert_eq!(topic, &format!("/sys/{PK}/{DN}/thing/ota/firmware/get"));
    assert!(payload.contains("thing.ota.firmware.get"));
    let reply = format!(
        r#"{{"id":"1","code":200,"data":{}}}"#,
        serde_json::from_str::<Value>(&notice(&bytes, &"a".repeat(64))).unwrap()["data"]
    );
    let out = d
        .message(
            &format!("/sys/{PK}/{DN}/thing/ota/firmware/get_reply"),
            reply.as_bytes(),
            0,
        )
        .unwrap()
        .unwrap();
    assert!(out.is_empty(), "manual mode waits");
    assert_eq!(d.phase(), &Phase::Notified);
    assert!(matches!(
        d.start(1).as_slice(),
        [Action::Publish { .. }, Action::Fetch { .. }]
    ));
    let manual = d.manual_progress(Step::Percent(42), "by hand", 2);
    assert_eq!(steps(&manual), ["42"]);
    // Other devices' topics and malformed notices.
    assert_eq!(
        d.message("/ota/device/upgrade/other/dev", b"{}", 3)
            .unwrap(),
        None
    );
    assert_eq!(
        d.message(&upgrade_topic(), b"{", 3).unwrap_err().code(),
        "INVALID_JSON"
    );
}
