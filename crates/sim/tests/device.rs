//! The simulated device's OTA flow, driven step by step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use otalab_protocol::Failure;
use otalab_protocol::{FileBlockReply, FileBlockRequest, SignMethod, Step, crc16_arc, digest_hex};
use otalab_sim::{Action, Device, DeviceConfig, Fault, Phase};
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
            format!("/sys/{PK}/{DN}/thing/ota/firmware/get_reply"),
            format!("/sys/{PK}/{DN}/thing/file/download_reply")
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
        d.history()
            .iter()
            .map(|s| s.step.value())
            .collect::<Vec<_>>(),
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
        matches!(d.phase(), Phase::Failed { code: Failure::Verify, desc } if desc.contains("digest mismatch"))
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
    assert!(
        matches!(d.phase(), Phase::Failed { code: Failure::Download, desc } if desc == "HTTP 404: Not Found")
    );

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
        (Failure::Download, "-2"),
        (Failure::Upgrade, "-1"),
        (Failure::Verify, "-3"),
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
        failure: Failure::Flash,
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

// ---------------------------------------------------------------------------------------------
// Firmware over MQTT (dProtocol "mqtt"): stop-and-wait block requests on T6, frames on T7.

const STREAM: u64 = 1_397_345;

fn reply_topic() -> String {
    format!("/sys/{PK}/{DN}/thing/file/download_reply")
}

fn mqtt_notice(bytes: &[u8], method: SignMethod, sign: &str) -> String {
    serde_json::json!({"code":"1000","id":1695281536874u64,"message":"success","data":{
        "size": bytes.len(), "version": "2.0.0", "sign": sign, "signMethod": method.as_str(),
        "dProtocol": "mqtt", "streamId": STREAM, "streamFileId": 1}})
    .to_string()
}

/// The block requests among the actions (each must be followed by its timeout).
fn requests(actions: &[Action]) -> Vec<FileBlockRequest> {
    actions
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a {
            Action::RequestBlock { topic, payload } => {
                assert_eq!(topic, &format!("/sys/{PK}/{DN}/thing/file/download"));
                assert!(
                    matches!(actions.get(i + 1), Some(Action::WakeAt(_))),
                    "a request arms its timeout: {actions:?}"
                );
                // Devices must send valid JSON (only the cloud tolerates the SDK's comma).
                serde_json::from_str::<Value>(payload).unwrap();
                Some(FileBlockRequest::decode(payload.as_bytes()).unwrap())
            }
            _ => None,
        })
        .collect()
}

/// What a correct cloud answers to `request` from `file`.
fn serve(request: &FileBlockRequest, file: &[u8]) -> Vec<u8> {
    let start = request.offset as usize;
    let end = (start + request.size as usize).min(file.len());
    FileBlockReply::block(
        request.id.as_str(),
        file.len() as u64,
        request.offset,
        file[start..end].to_vec(),
    )
    .encode()
}

fn mqtt_device() -> Device {
    let mut config = DeviceConfig::new(PK, DN, "1.0.0");
    config.cadence_percent = 10;
    Device::new(config)
}

#[test]
fn over_mqtt_blocks_are_asked_one_at_a_time_verified_and_the_upgrade_completes() {
    let bytes = firmware(); // 10 000 bytes: blocks of 5120 and 4880
    for method in [SignMethod::Md5, SignMethod::Sha256] {
        let mut d = mqtt_device();
        let sign = digest_hex(method, &bytes);
        let out = d
            .message(
                &upgrade_topic(),
                mqtt_notice(&bytes, method, &sign).as_bytes(),
                100,
            )
            .unwrap()
            .unwrap();
        assert_eq!(steps(&out), ["0"]);
        assert!(!out.iter().any(|a| matches!(a, Action::Fetch { .. })));
        let mut all = out.clone();
        let mut pending = requests(&out);
        let mut asked = Vec::new();
        let mut now = 100;
        while let Some(request) = pending.pop() {
            assert!(pending.is_empty(), "stop-and-wait: one request at a time");
            asked.push((request.id.as_str().to_owned(), request.offset, request.size));
            assert_eq!((request.stream_id, request.file_id), (STREAM, 1));
            assert_eq!(request.file_token.as_deref(), Some("default"));
            now += 10;
            let out = d
                .message(&reply_topic(), &serve(&request, &bytes), now)
                .unwrap()
                .unwrap();
            pending = requests(&out);
            all.extend(out);
        }
        assert_eq!(
            asked,
            [("1".to_owned(), 0, 5120), ("2".to_owned(), 5120, 4880)],
            "{method:?}"
        );
        // Every 10 %, though each block carries about half the file.
        assert_eq!(
            steps(&all),
            [
                "0", "10", "20", "30", "40", "50", "60", "70", "80", "90", "100"
            ],
            "{method:?}"
        );
        assert_eq!(d.phase(), &Phase::Flashing);
        let flashed = d.tick(now + 1500);
        assert_eq!(flashed[0], Action::Disconnect);
        d.tick(now + 2500);
        assert_eq!(
            published(&d.connected(now + 2600))[0].1["params"]["version"],
            "2.0.0"
        );
    }
}

#[test]
fn over_mqtt_a_bad_crc_a_wrong_offset_and_a_dropped_reply_are_recovered_by_asking_again() {
    let bytes = firmware();
    let mut d = mqtt_device();
    let sign = digest_hex(SignMethod::Md5, &bytes);
    let out = d
        .message(
            &upgrade_topic(),
            mqtt_notice(&bytes, SignMethod::Md5, &sign).as_bytes(),
            0,
        )
        .unwrap()
        .unwrap();
    let first = requests(&out).remove(0);

    // 1. A corrupted CRC: the same block is asked for again at once.
    let mut frame = serve(&first, &bytes);
    let n = frame.len();
    frame[n - 1] ^= 0xff;
    let again = requests(&d.message(&reply_topic(), &frame, 5).unwrap().unwrap());
    assert_eq!(
        again.iter().map(|r| (r.offset, r.size)).collect::<Vec<_>>(),
        [(0, 5120)]
    );
    assert_ne!(again[0].id, first.id, "each request has its own id");

    // 2. A reply at another offset is ignored: no action, still waiting for offset 0.
    let stray = FileBlockReply::block("99", 10_000, 5120, bytes[5120..6000].to_vec()).encode();
    assert_eq!(
        d.message(&reply_topic(), &stray, 6).unwrap(),
        Some(Vec::new())
    );
    assert!(matches!(d.phase(), Phase::Downloading { received: 0, .. }));

    // 3. Nothing comes (a dropped reply): after 10 s the block is asked for again.
    assert_eq!(d.tick(5 + 9_999), []);
    let retry = requests(&d.tick(5 + 10_000));
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].offset, 0);

    // A good reply resets the re-send count; the download completes and verifies.
    let mut request = retry[0].clone();
    let mut all = Vec::new();
    loop {
        let out = d
            .message(&reply_topic(), &serve(&request, &bytes), 20_000)
            .unwrap()
            .unwrap();
        all.extend(out.clone());
        match requests(&out).pop() {
            Some(next) => request = next,
            None => break,
        }
    }
    assert_eq!(steps(&all).last().map(String::as_str), Some("100"));
    assert_eq!(d.phase(), &Phase::Flashing);
}

#[test]
fn over_mqtt_a_non_200_reply_and_a_fourth_failure_are_minus_4_and_a_bad_digest_is_minus_3() {
    let bytes = firmware();
    let sign = digest_hex(SignMethod::Md5, &bytes);
    let start = |d: &mut Device, sign: &str| {
        let out = d
            .message(
                &upgrade_topic(),
                mqtt_notice(&bytes, SignMethod::Md5, sign).as_bytes(),
                0,
            )
            .unwrap()
            .unwrap();
        requests(&out).remove(0)
    };

    // Non-200: the SDK gives up at once with -4.
    let mut d = mqtt_device();
    start(&mut d, &sign);
    let error = FileBlockReply::error("1", 404, "stream not found").encode();
    let out = d.message(&reply_topic(), &error, 1).unwrap().unwrap();
    assert_eq!(steps(&out), ["-4"]);
    assert!(
        matches!(d.phase(), Phase::Failed { code: Failure::Flash, desc } if desc.contains("404") && desc.contains("stream not found"))
    );

    // Four timeouts in a row: three re-sends, then -4.
    let mut d = mqtt_device();
    start(&mut d, &sign);
    let mut now = 0;
    for _ in 0..3 {
        now += 10_000;
        assert_eq!(requests(&d.tick(now)).len(), 1);
    }
    now += 10_000;
    let out = d.tick(now);
    assert_eq!(steps(&out), ["-4"]);
    assert!(
        matches!(d.phase(), Phase::Failed { code: Failure::Flash, desc } if desc.contains("after 3 re-sends"))
    );

    // Truncated frames count like timeouts.
    let mut d = mqtt_device();
    let first = start(&mut d, &sign);
    let frame = serve(&first, &bytes);
    for _ in 0..3 {
        let out = d
            .message(&reply_topic(), &frame[..frame.len() - 1], 1)
            .unwrap()
            .unwrap();
        assert_eq!(requests(&out).len(), 1);
    }
    let out = d.message(&reply_topic(), &frame[..10], 1).unwrap().unwrap();
    assert_eq!(steps(&out), ["-4"]);

    // Every block arrives intact (CRCs right) but the file's digest is wrong: -3.
    let mut d = mqtt_device();
    let mut request = start(&mut d, &"0".repeat(32));
    let mut all = Vec::new();
    loop {
        let frame = serve(&request, &bytes);
        let body = &frame[frame.len() - 2 - request.size as usize..frame.len() - 2];
        assert_eq!(
            u16::from_le_bytes([frame[frame.len() - 2], frame[frame.len() - 1]]),
            crc16_arc(body)
        );
        let out = d.message(&reply_topic(), &frame, 2).unwrap().unwrap();
        all.extend(out.clone());
        match requests(&out).pop() {
            Some(next) => request = next,
            None => break,
        }
    }
    assert_eq!(steps(&all).last().map(String::as_str), Some("-3"));
    assert!(
        matches!(d.phase(), Phase::Failed { code: Failure::Verify, desc } if desc.contains("digest mismatch"))
    );
}

#[test]
fn extreme_times_and_sizes_never_overflow() {
    let bytes = firmware();
    let good = digest_hex(SignMethod::Sha256, &bytes);
    let late = u64::MAX - 10;
    // Flash and reboot times at the maximum, at the end of time.
    let mut config = DeviceConfig::new(PK, DN, "1.0.0");
    config.flash_ms = u64::MAX;
    config.reboot_ms = u64::MAX;
    let mut d = Device::new(config);
    d.message(&upgrade_topic(), notice(&bytes, &good).as_bytes(), late)
        .unwrap();
    let out = download(&mut d, &bytes, 5000, late);
    assert!(out.contains(&Action::WakeAt(u64::MAX)), "{out:?}");
    assert_eq!(
        d.tick(u64::MAX),
        [Action::Disconnect, Action::WakeAt(u64::MAX)]
    );

    // Offline for the longest time.
    let mut d = device(Fault::Offline {
        at_percent: 10,
        for_ms: u64::MAX,
    });
    d.message(&upgrade_topic(), notice(&bytes, &good).as_bytes(), late)
        .unwrap();
    let out = download(&mut d, &bytes, 5000, late);
    assert!(out.ends_with(&[
        Action::AbortFetch,
        Action::Disconnect,
        Action::WakeAt(u64::MAX)
    ]));

    // A package whose sizes add up past u64: the total saturates, nothing panics.
    // 2100 files of 2^53 - 1 bytes: more than u64 can count, in under 256 KiB of JSON.
    let md5 = digest_hex(SignMethod::Md5, &bytes);
    let files: Vec<_> = (0..2100)
        .map(|_| serde_json::json!({"fileSize": 9_007_199_254_740_991u64, "fileUrl": URL, "fileSign": md5}))
        .collect();
    let many = serde_json::json!({"code":"1000","id":"1","data":{"version":"2","signMethod":"Md5","files": files}});
    let mut d = device(Fault::None);
    let out = d
        .message(&upgrade_topic(), many.to_string().as_bytes(), 0)
        .unwrap()
        .unwrap();
    assert_eq!(d.notice().unwrap().total_size(), u64::MAX);
    assert!(out.contains(&Action::Fetch {
        url: URL.into(),
        offset: 0
    }));
    assert_eq!(d.data(&bytes, 1).len(), 0);
}

#[test]
fn progress_is_reported_at_every_cadence_step_and_faults_fire_at_their_percent_whatever_the_chunks()
{
    let bytes = firmware();
    let sign = digest_hex(SignMethod::Sha256, &bytes);
    let start = |fault: Fault, cadence: u8| {
        let mut d = device(fault);
        d.config_mut().cadence_percent = cadence;
        let out = d
            .message(&upgrade_topic(), notice(&bytes, &sign).as_bytes(), 10)
            .unwrap()
            .unwrap();
        (d, out)
    };
    // The whole file in one chunk, cadence 5: 0, 5, 10, ..., 95, then 100 after verification.
    let (mut d, mut all) = start(Fault::None, 5);
    all.extend(d.data(&bytes, 20));
    all.extend(d.fetch_ended(30));
    let expected: Vec<String> = (0..20)
        .map(|i| (i * 5).to_string())
        .chain(["100".into()])
        .collect();
    assert_eq!(steps(&all), expected);
    // Cadence 7 in chunks of 3,333 bytes: every multiple of 7 up to 98.
    let (mut d, mut all) = start(Fault::None, 7);
    for chunk in bytes.chunks(3333) {
        all.extend(d.data(chunk, 20));
    }
    all.extend(d.fetch_ended(30));
    let expected: Vec<String> = (0..15)
        .map(|i| (i * 7).to_string())
        .chain(["100".into()])
        .collect();
    assert_eq!(steps(&all), expected);
    // A download failure at 40 % fires at 40 %, not at the end of the chunk.
    let fault = Fault::Fail {
        failure: Failure::Download,
        at_percent: 40,
    };
    let (mut d, mut all) = start(fault, 10);
    all.extend(d.data(&bytes, 20));
    assert_eq!(steps(&all), ["0", "10", "20", "30", "-2"]);
    assert!(
        matches!(d.phase(), Phase::Failed { desc, .. } if desc.contains("at 40%")),
        "{:?}",
        d.phase()
    );
    // A stall at 33 % stops reporting there and aborts the download.
    let (mut d, mut all) = start(Fault::Stall { at_percent: 33 }, 10);
    let out = d.data(&bytes, 20);
    assert!(out.contains(&Action::AbortFetch));
    all.extend(out);
    assert_eq!(steps(&all), ["0", "10", "20", "30"]);
    assert_eq!(d.phase(), &Phase::Stalled);
}
