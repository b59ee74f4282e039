//! The sandbox cloud and its verdict rule, with simulated devices, in memory: an event queue
//! routes each publish to its subscribers, serves downloads from an in-memory file (and the
//! sandbox's broken URLs), and advances time. Every notice kind and device fault ends in the
//! verdict the cloud's rule gives.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use otalab_protocol::{Failure, SignMethod, digest_hex};
use otalab_sim::{
    Action, Cloud, CloudError, Device, DeviceConfig, DeviceKey, Fault, FaultUrls, NoticeKind,
    Package, Report, Verdict,
};
use otalab_sim::{Case, Grade, Suite, SuiteOptions};

const BASE: &str = "http://127.0.0.1:1/firmware/";

fn firmware() -> Vec<u8> {
    (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// The sandbox's broken URLs, on a port nothing listens on (the test world serves them).
fn fault_urls() -> FaultUrls {
    FaultUrls {
        flaky: "http://127.0.0.1:1/flaky/".into(),
        expired: "http://127.0.0.1:1/expired/".into(),
        missing: "http://127.0.0.1:1/missing/".into(),
        slow: "http://127.0.0.1:1/slow/".into(),
    }
}

fn package(bytes: &[u8]) -> Package {
    Package {
        name: "fw.bin".into(),
        url: format!("{BASE}fw.bin"),
        size: bytes.len() as u64,
        md5: digest_hex(SignMethod::Md5, bytes),
        sha256: digest_hex(SignMethod::Sha256, bytes),
        version: "2.0.0".into(),
    }
}

enum Event {
    /// Deliver to the cloud.
    ToCloud(String, Vec<u8>),
    /// Deliver to a device.
    ToDevice(usize, String, Vec<u8>),
    /// Wake a device.
    Wake(usize),
    /// Advance the conformance suite.
    Tick,
    /// The next chunk of a slow download (device, download number, offset).
    Chunk(usize, u64, u64),
}

/// Devices, the cloud and a clock.
struct World {
    now: u64,
    cloud: Cloud,
    devices: Vec<Device>,
    online: Vec<bool>,
    file: Vec<u8>,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Event>,
    seq: u64,
    /// Each device's download number: a new fetch or an abort ends the slow one under way.
    fetching: Vec<u64>,
}

impl World {
    fn new(faults: Vec<Fault>) -> Self {
        let devices: Vec<Device> = faults
            .into_iter()
            .enumerate()
            .map(|(i, fault)| {
                let mut c = DeviceConfig::new("pk", &format!("d{i}"), "1.0.0");
                c.fault = fault;
                c.cadence_percent = 20;
                c.flash_ms = 100;
                c.reboot_ms = 100;
                c.block_size = 16 * 1024;
                c.block_timeout_ms = 500;
                Device::new(c)
            })
            .collect();
        let mut cloud = Cloud::new(1000);
        cloud.set_fault_urls(Some(fault_urls()));
        let n = devices.len();
        let mut world = World {
            now: 1_700_000_000_000,
            cloud,
            devices,
            online: vec![true; n],
            file: firmware(),
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            seq: 0,
            fetching: vec![0; n],
        };
        for i in 0..n {
            let now = world.now;
            let actions = world.devices[i].connected(now);
            world.exec(i, actions);
        }
        world.run();
        world
    }

    fn keys(&self) -> Vec<DeviceKey> {
        (0..self.devices.len())
            .map(|i| DeviceKey::new("pk", format!("d{i}")))
            .collect()
    }

    fn at(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse((self.now + delay, self.seq)));
        self.events.insert(self.seq, event);
    }

    fn route(&mut self, topic: &str, payload: Vec<u8>) {
        let to: Vec<usize> = (0..self.devices.len())
            .filter(|i| {
                self.online[*i] && self.devices[*i].subscriptions().iter().any(|s| s == topic)
            })
            .collect();
        for i in to {
            self.at(1, Event::ToDevice(i, topic.to_owned(), payload.clone()));
        }
    }

    /// Serves `url` from `offset` like the sandbox server: the file, or a broken URL; the slow
    /// URL sends 8 KiB every 100 ms.
    fn fetch(&mut self, i: usize, url: &str, offset: u64) {
        let now = self.now;
        self.fetching[i] += 1;
        if url.contains("/slow/") && (offset as usize) < self.file.len() {
            let download = self.fetching[i];
            self.at(100, Event::Chunk(i, download, offset));
            return;
        }
        let actions = if url.contains("/expired/") {
            self.devices[i].fetch_failed(Some(403), "Forbidden", now)
        } else if url.contains("/missing/") {
            self.devices[i].fetch_failed(Some(404), "Not Found", now)
        } else if offset as usize >= self.file.len() {
            self.devices[i].fetch_failed(Some(416), "Range Not Satisfiable", now)
        } else {
            // The flaky URL sends the first half of a request from byte 0, then breaks.
            let end = if url.contains("/flaky/") && offset == 0 {
                self.file.len() / 2
            } else {
                self.file.len()
            };
            let body = self.file[offset as usize..end].to_vec();
            let mut actions = Vec::new();
            for chunk in body.chunks(8192) {
                actions.extend(self.devices[i].data(chunk, now));
                if actions.iter().any(|a| matches!(a, Action::AbortFetch)) {
                    return self.exec(i, actions);
                }
            }
            actions.extend(self.devices[i].fetch_ended(now));
            actions
        };
        self.exec(i, actions);
    }

    fn exec(&mut self, i: usize, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Publish { topic, payload } | Action::RequestBlock { topic, payload } => {
                    if self.online[i] {
                        self.at(1, Event::ToCloud(topic, payload.into_bytes()));
                    }
                }
                Action::Fetch { url, offset } => self.fetch(i, &url, offset),
                Action::AbortFetch => self.fetching[i] += 1,
                Action::Disconnect => self.online[i] = false,
                Action::Connect => {
                    self.online[i] = true;
                    let now = self.now;
                    let more = self.devices[i].connected(now);
                    self.exec(i, more);
                }
                Action::WakeAt(at) => {
                    let delay = at.saturating_sub(self.now);
                    self.at(delay, Event::Wake(i));
                }
            }
        }
    }

    fn push(&mut self, targets: &[DeviceKey], kind: NoticeKind, method: SignMethod) {
        let package = package(&self.file);
        if kind.over_mqtt() {
            self.cloud.add_stream(&package, self.file.clone()).unwrap();
        }
        let out = self
            .cloud
            .push(targets, &package, kind, method, self.now)
            .unwrap();
        for o in out {
            self.route(&o.topic, o.payload);
        }
    }

    /// Runs until nothing is left to do (or a minute of simulated time).
    fn run(&mut self) {
        self.drive(None, 60_000);
    }

    /// Runs the conformance suite against the devices until it is done (or an hour of
    /// simulated time): every message to the cloud is shown to the suite too.
    fn run_suite(&mut self, suite: &mut Suite) {
        self.at(0, Event::Tick);
        self.drive(Some(suite), 3_600_000);
    }

    /// The event loop, for `limit` ms of simulated time; with a suite, until it is done.
    fn drive(&mut self, mut suite: Option<&mut Suite>, limit: u64) {
        let stop = self.now + limit;
        while let Some(Reverse((at, seq))) = self.queue.pop() {
            if at > stop || suite.as_ref().is_some_and(|s| s.is_done()) {
                break;
            }
            self.now = self.now.max(at);
            let now = self.now;
            match self.events.remove(&seq).unwrap() {
                Event::ToCloud(topic, payload) => {
                    let out = match suite.as_mut() {
                        Some(suite) => suite.handle_message(&mut self.cloud, &topic, &payload, now),
                        None => self.cloud.message(&topic, &payload, now),
                    };
                    for o in out {
                        self.route(&o.topic, o.payload);
                    }
                }
                Event::ToDevice(i, topic, payload) => {
                    if let Ok(Some(actions)) = self.devices[i].message(&topic, &payload, now) {
                        self.exec(i, actions);
                    }
                }
                Event::Wake(i) => {
                    let actions = self.devices[i].tick(now);
                    self.exec(i, actions);
                }
                Event::Chunk(i, download, offset) => {
                    if download != self.fetching[i] {
                        continue;
                    }
                    let end = (offset as usize + 8192).min(self.file.len());
                    let chunk = self.file[offset as usize..end].to_vec();
                    let mut actions = self.devices[i].data(&chunk, now);
                    if !actions.iter().any(|a| matches!(a, Action::AbortFetch)) {
                        if end == self.file.len() {
                            actions.extend(self.devices[i].fetch_ended(now));
                        } else {
                            self.at(100, Event::Chunk(i, download, end as u64));
                        }
                    }
                    self.exec(i, actions);
                }
                Event::Tick => {
                    if let Some(suite) = suite.as_mut() {
                        for o in suite.step(&mut self.cloud, now) {
                            self.route(&o.topic, o.payload);
                        }
                        self.at(100, Event::Tick);
                    }
                }
            }
        }
    }

    fn report(&self) -> Report {
        self.cloud.report(&self.keys(), self.now)
    }
}

fn verdicts(report: &Report) -> Vec<Verdict> {
    report.devices.iter().map(|d| d.verdict).collect()
}

fn last_steps(report: &Report) -> Vec<Option<i64>> {
    report
        .devices
        .iter()
        .map(|d| d.steps.last().map(|s| s.step.value()))
        .collect()
}

#[test]
fn every_notice_kind_ends_in_the_verdict_the_rule_gives() {
    use NoticeKind::*;
    let cases = [
        (Correct, Verdict::Succeeded, Some(100)),
        (BadDigest, Verdict::Failed, Some(-3)),
        (WrongSize, Verdict::Failed, Some(-3)),
        (Expired, Verdict::Failed, Some(-2)),
        (Missing, Verdict::Failed, Some(-2)),
        (Flaky, Verdict::Succeeded, Some(100)),
        (Slow, Verdict::Succeeded, Some(100)),
        (Mqtt, Verdict::Succeeded, Some(100)),
        (MqttBadCrc, Verdict::Succeeded, Some(100)),
        (MqttWrongOffset, Verdict::Succeeded, Some(100)),
        (MqttDropReply, Verdict::Succeeded, Some(100)),
        (MqttErrorReply, Verdict::Failed, Some(-4)),
    ];
    assert_eq!(
        cases.len(),
        NoticeKind::ALL.len(),
        "every kind is in the table"
    );
    for (kind, verdict, last) in cases {
        for method in [SignMethod::Md5, SignMethod::Sha256] {
            let mut world = World::new(vec![Fault::None; 2]);
            let keys = world.keys();
            world.push(&keys, kind, method);
            world.run();
            let report = world.report();
            assert_eq!(verdicts(&report), vec![verdict; 2], "{kind:?} {method:?}");
            assert_eq!(last_steps(&report), vec![last; 2], "{kind:?} {method:?}");
            let expected_version = if verdict == Verdict::Succeeded {
                "2.0.0"
            } else {
                "1.0.0"
            };
            for d in &report.devices {
                assert_eq!(
                    d.final_version.as_deref(),
                    Some(expected_version),
                    "{kind:?}"
                );
                assert_eq!(d.target_version.as_deref(), Some("2.0.0"));
            }
        }
    }
}

#[test]
fn device_faults_give_failed_wrong_version_stall_and_push_again() {
    let mut world = World::new(vec![
        Fault::None,
        Fault::Fail {
            failure: Failure::Flash,
            at_percent: 0,
        },
        Fault::WrongVersion {
            version: "1.9.9".into(),
        },
        Fault::Stall { at_percent: 40 },
        Fault::Offline {
            at_percent: 40,
            for_ms: 2000,
        },
    ]);
    let keys = world.keys();
    world.push(&keys, NoticeKind::Correct, SignMethod::Md5);
    world.run();
    let report = world.report();
    assert_eq!(
        verdicts(&report),
        [
            Verdict::Succeeded,
            Verdict::Failed,
            Verdict::Failed,
            Verdict::Upgrading,
            Verdict::Succeeded
        ]
    );
    assert_eq!(last_steps(&report)[1], Some(-4));
    // Wrong image after 100: failed, though no negative step was sent.
    assert_eq!(last_steps(&report)[2], Some(100));
    assert_eq!(report.devices[2].final_version.as_deref(), Some("1.9.9"));
    // The offline device was pushed again and started over from 0.
    let steps: Vec<i64> = report.devices[4]
        .steps
        .iter()
        .map(|s| s.step.value())
        .collect();
    assert_eq!(steps.iter().filter(|s| **s == 0).count(), 2, "{steps:?}");
    assert_eq!(report.summary.succeeded, 2);
    assert_eq!(report.summary.failed, 2);
    assert_eq!(report.summary.upgrading, 1);
}

#[test]
fn pulls_are_answered_with_the_job_or_the_pull_package_or_nothing() {
    let mut world = World::new(vec![Fault::None; 2]);
    // No job, no pull package: "no upgrade".
    let now = world.now;
    let pull =
        |id: &str| format!(r#"{{"id":"{id}","version":"1.0","params":{{"module":"default"}}}}"#);
    let out = world.cloud.message(
        "/sys/pk/d0/thing/ota/firmware/get",
        pull("5").as_bytes(),
        now,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].topic, "/sys/pk/d0/thing/ota/firmware/get_reply");
    let reply: serde_json::Value = serde_json::from_slice(&out[0].payload).unwrap();
    assert_eq!(reply["data"], serde_json::json!({}));
    assert!(world.cloud.job(&DeviceKey::new("pk", "d0")).is_none());
    // With a pull package: a job, answered with its notice and the pull's id.
    let package = package(&world.file);
    world.cloud.set_pull_package(Some(package));
    let out = world.cloud.message(
        "/sys/pk/d0/thing/ota/firmware/get",
        pull("6").as_bytes(),
        now,
    );
    let reply: serde_json::Value = serde_json::from_slice(&out[0].payload).unwrap();
    assert_eq!(reply["id"], "6");
    assert_eq!(reply["data"]["version"], "2.0.0");
    assert_eq!(
        world.cloud.verdict(&DeviceKey::new("pk", "d0")),
        Verdict::Pending
    );
    // Malformed pulls and foreign topics are ignored.
    assert!(
        world
            .cloud
            .message("/sys/pk/d0/thing/ota/firmware/get", b"{", now)
            .is_empty()
    );
    assert!(world.cloud.message("/not/ours", b"{}", now).is_empty());
}

#[test]
fn refusals_are_typed_and_send_nothing() {
    let mut cloud = Cloud::new(1);
    let bytes = firmware();
    let p = package(&bytes);
    let keys = vec![DeviceKey::new("pk", "d0")];
    let e = cloud
        .push(&keys, &p, NoticeKind::Mqtt, SignMethod::Md5, 0)
        .unwrap_err();
    assert_eq!(e.code(), "PACKAGE_NOT_LOADED");
    let e = cloud
        .push(&keys, &p, NoticeKind::Expired, SignMethod::Md5, 0)
        .unwrap_err();
    assert_eq!(
        e,
        CloudError::NoFaultUrls {
            kind: "expired_url"
        }
    );
    let bad = vec![DeviceKey::new("pk", "a/b")];
    let e = cloud
        .push(&bad, &p, NoticeKind::Correct, SignMethod::Md5, 0)
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_DEVICE");
    let mut wrong = p.clone();
    wrong.version = String::new();
    let e = cloud
        .push(&keys, &wrong, NoticeKind::Correct, SignMethod::Md5, 0)
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_PACKAGE");
    let e = cloud.add_stream(&p, vec![1, 2, 3]).unwrap_err();
    assert_eq!(e.code(), "PACKAGE_BYTES_DIFFER");
    let mut huge = p.clone();
    huge.size = 17 * 1024 * 1024;
    assert_eq!(
        Cloud::check_deliverable(&huge).unwrap_err().code(),
        "PACKAGE_TOO_LARGE"
    );
    assert!(cloud.job(&keys[0]).is_none(), "no job after a refusal");
    // Loading the same package twice gives the same stream.
    let a = cloud.add_stream(&p, bytes.clone()).unwrap();
    assert_eq!(cloud.add_stream(&p, bytes).unwrap(), a);
}

#[test]
fn batches_count_group_failures_cancel_and_retry() {
    // Four devices: two fail to flash, one stalls, one upgrades.
    let flash = Fault::Fail {
        failure: Failure::Flash,
        at_percent: 0,
    };
    let mut world = World::new(vec![
        flash.clone(),
        Fault::None,
        flash,
        Fault::Stall { at_percent: 40 },
    ]);
    let keys = world.keys();
    world.push(&keys, NoticeKind::Correct, SignMethod::Sha256);
    world.run();
    let status = world.cloud.batch_status(1).unwrap();
    assert_eq!(status.firmware, "fw.bin");
    assert_eq!(status.sign_method, "SHA256");
    assert_eq!(
        (
            status.counts.total,
            status.counts.succeeded,
            status.counts.failed,
            status.counts.upgrading
        ),
        (4, 1, 2, 1)
    );
    assert_eq!(status.failures.len(), 1, "{:?}", status.failures);
    let group = &status.failures[0];
    assert_eq!(group.failure.code, Some(Failure::Flash));
    assert_eq!(
        group.devices,
        vec![
            format!("{}/{}", keys[0].0, keys[0].1),
            format!("{}/{}", keys[2].0, keys[2].1)
        ]
    );
    assert!(group.to_string().starts_with("2 × -4 "), "{group}");
    assert_eq!(
        status.notice.as_ref().unwrap()["data"]["signMethod"],
        "SHA256",
        "{:?}",
        status.notice
    );

    // Cancel: the stalled device's job becomes cancelled; ended jobs keep their verdicts.
    assert_eq!(world.cloud.cancel(1, world.now).unwrap(), 1);
    assert_eq!(world.cloud.verdict(&keys[3]), Verdict::Cancelled);
    assert_eq!(
        world.cloud.cancel(1, world.now).unwrap_err().code(),
        "BATCH_CANCELLED"
    );
    let status = world.cloud.batch_status(1).unwrap();
    assert_eq!((status.counts.cancelled, status.counts.failed), (1, 2));
    assert_eq!(status.retryable, 2);
    assert!(status.is_done());

    // Retry failed: a new batch of the two failed devices, same kind and signing.
    let (retry, out) = world.cloud.retry_failed(1, world.now).unwrap();
    assert_eq!(retry, 2);
    assert_eq!(out.len(), 2);
    let second = world.cloud.batch_status(2).unwrap();
    assert_eq!(second.retry_of, Some(1));
    assert_eq!(second.counts.pending, 2);
    // The first batch keeps its failures as they ended (frozen), not the new jobs.
    let first = world.cloud.batch_status(1).unwrap();
    assert_eq!(first.counts.failed, 2);
    assert_eq!(first.retryable, 0, "its failed devices are batch 2's now");
    assert_eq!(
        world.cloud.retry_failed(2, world.now).unwrap_err().code(),
        "NOTHING_TO_RETRY"
    );
    assert_eq!(
        world.cloud.cancel(9, world.now).unwrap_err().code(),
        "NO_SUCH_BATCH"
    );
    assert_eq!(
        world
            .cloud
            .push(
                &[],
                &package(&world.file),
                NoticeKind::Correct,
                SignMethod::Md5,
                0
            )
            .unwrap_err()
            .code(),
        "NO_DEVICES"
    );

    // The report carries the batches, each device's batch and failure, and human times.
    let report = world.report();
    assert_eq!(report.batches.len(), 2);
    let d0 = &report.devices[0];
    assert_eq!(d0.batch, Some(2));
    assert!(
        d0.steps
            .iter()
            .all(|s| s.at == otalab_sim::report::iso_time(s.at_ms) && s.at.ends_with('Z'))
    );
    let csv = report.to_csv();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",failureCode,failureReason,fault"),
        "{csv}"
    );
    assert!(
        csv.contains("\ntotal,pending,upgrading,succeeded,failed,cancelled\n"),
        "{csv}"
    );
    assert!(
        csv.contains(",2 × -4 "),
        "the batch row names its grouped failure: {csv}"
    );
    let html = report.to_html("Nightly <run>", Some("<svg id=\"chart\"></svg>"));
    assert!(html.contains("<title>Nightly &lt;run&gt;</title>"));
    assert!(html.contains("<svg id=\"chart\"></svg>"));
    assert!(html.contains("2 × -4 "), "grouped failures in the HTML");
}

#[test]
fn a_cancelled_job_stays_cancelled_and_a_pull_gets_no_upgrade() {
    let mut world = World::new(vec![Fault::Stall { at_percent: 30 }]);
    let keys = world.keys();
    world.push(&keys, NoticeKind::Correct, SignMethod::Md5);
    world.run();
    world.cloud.cancel(1, world.now).unwrap();
    let DeviceKey(pk, dn) = &keys[0];
    // A late failure report does not turn the cancelled job into a failure.
    world.cloud.message(
        &format!("/ota/device/progress/{pk}/{dn}"),
        br#"{"id":"9","params":{"step":"-2","desc":"late"}}"#,
        world.now,
    );
    assert_eq!(world.cloud.verdict(&keys[0]), Verdict::Cancelled);
    let out = world.cloud.message(
        &format!("/sys/{pk}/{dn}/thing/ota/firmware/get"),
        br#"{"id":"10","params":{"module":"default"}}"#,
        world.now,
    );
    let reply = String::from_utf8(out[0].payload.clone()).unwrap();
    assert!(
        !reply.contains("\"url\""),
        "no upgrade for a cancelled job: {reply}"
    );
}

#[test]
fn iso_times_are_utc_calendar_dates() {
    use otalab_sim::report::iso_time;
    assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(iso_time(1_795_753_862_123), "2026-11-27T04:31:02.123Z");
}

fn grades(world: &mut World) -> Vec<(&'static str, Grade)> {
    let package = package(&world.file);
    world
        .cloud
        .add_stream(&package, world.file.clone())
        .unwrap();
    let options = SuiteOptions {
        case_timeout_ms: 30_000,
        reaction_ms: 5_000,
        settle_ms: 1_000,
        gap_ms: 200,
        quiet_ms: 500,
    };
    let mut suite = Suite::new(
        world.keys()[0].clone(),
        package,
        Case::ALL,
        options,
        world.now,
    );
    suite.knows_version("default", "1.0.0");
    world.run_suite(&mut suite);
    assert!(suite.is_done(), "the suite ended: {:?}", suite.current());
    let report = suite.report();
    for c in &report.cases {
        assert!(!c.evidence.is_empty(), "{:?} has evidence", c.case);
        assert_eq!(c.expected, c.case.expected());
    }
    report
        .cases
        .iter()
        .map(|c| (c.case.name(), c.grade))
        .collect()
}

#[test]
fn the_conformance_suite_passes_a_correct_device_and_fails_a_device_that_boots_the_old_image() {
    use Grade::*;
    let mut world = World::new(vec![Fault::None]);
    let got = grades(&mut world);
    let mut want = vec![
        ("md5", Pass),
        ("sha256", Pass),
        ("bad_digest", Pass),
        ("wrong_size", Pass),
        ("expired_url", Pass),
        ("missing_url", Pass),
        ("flaky_url", Pass),
        // The simulated device pulls only when told to.
        ("pull", NotApplicable),
        ("repeat", Pass),
        // It reports the default module only.
        ("second_module", NotApplicable),
        ("mqtt", Pass),
        ("mqtt_bad_crc", Pass),
        ("mqtt_wrong_offset", Pass),
        ("mqtt_drop_reply", Pass),
        ("mqtt_error_reply", Pass),
    ];
    // -3 for the wrong digest, then the retried correct notice installed.
    // It takes every notice at once: it ignores none, so ignored_notice does not apply.
    if cfg!(feature = "jobs") {
        want.push(("retry", Pass));
        want.push(("ignored_notice", NotApplicable));
        // This world sends no status messages: the reconnection is not seen.
        want.push(("report_after_reboot", NotApplicable));
    }
    assert_eq!(got, want);
    // Each case used a fresh, higher version: 1.0.1 … (second_module made none); the last one
    // that installed is report_after_reboot's (1.0.17), or without upgrade jobs
    // mqtt_drop_reply's (1.0.13).
    let last = if cfg!(feature = "jobs") {
        "1.0.17"
    } else {
        "1.0.13"
    };
    let d0 = &world.report().devices[0];
    assert_eq!(d0.final_version.as_deref(), Some(last), "{d0:?}");

    let mut world = World::new(vec![Fault::WrongVersion {
        version: "1.0.0".into(),
    }]);
    let got = grades(&mut world);
    let failed: Vec<&str> = got
        .iter()
        .filter(|(_, g)| *g == Fail)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        failed,
        vec![
            "md5",
            "sha256",
            "flaky_url",
            "repeat",
            "mqtt",
            "mqtt_bad_crc",
            "mqtt_wrong_offset",
            "mqtt_drop_reply",
            #[cfg(feature = "jobs")]
            "retry",
            #[cfg(feature = "jobs")]
            "ignored_notice",
            #[cfg(feature = "jobs")]
            "report_after_reboot",
        ]
    );
}

/// A suite and a cloud fed by hand: what a device publishes goes to the suite, then the cloud
/// (as every driver does); returns what the cloud and the suite sent.
struct Bench {
    cloud: Cloud,
    suite: Suite,
    now: u64,
    sent: Vec<(String, String)>,
}

impl Bench {
    fn new(cases: &[Case]) -> Self {
        let file = firmware();
        let mut cloud = Cloud::new(1);
        cloud.set_fault_urls(Some(fault_urls()));
        let now = 1_700_000_000_000;
        let options = SuiteOptions {
            case_timeout_ms: 60_000,
            reaction_ms: 10_000,
            settle_ms: 2_000,
            gap_ms: 500,
            quiet_ms: 1_000,
        };
        let device = DeviceKey::new("pk", "d0");
        let mut suite = Suite::new(device, package(&file), cases, options, now);
        suite.knows_version("default", "1.0.0");
        Bench {
            cloud,
            suite,
            now,
            sent: Vec::new(),
        }
    }

    /// `ms` later, the device publishes `payload` on its `kind` topic.
    fn device(&mut self, ms: u64, kind: &str, payload: &str) {
        self.tick(ms);
        let topic = match kind {
            "T1" => "/ota/device/inform/pk/d0",
            "T3" => "/ota/device/progress/pk/d0",
            _ => "/sys/pk/d0/thing/ota/firmware/get",
        };
        let out = self
            .suite
            .handle_message(&mut self.cloud, topic, payload.as_bytes(), self.now);
        for o in out {
            self.sent
                .push((o.topic, String::from_utf8_lossy(&o.payload).into_owned()));
        }
    }

    /// `ms` later, the platform's status message for `device` (`online` or offline).
    #[cfg(feature = "jobs")]
    fn status(&mut self, ms: u64, device: &str, online: bool) {
        use otalab_sim::model::{status_payload, status_topic};
        self.tick(ms);
        let key = DeviceKey::new("pk", device);
        let payload = status_payload(&key, online, self.now, self.now - ms, "127.0.0.1");
        let out = self.suite.handle_message(
            &mut self.cloud,
            &status_topic(&key),
            payload.as_bytes(),
            self.now,
        );
        assert!(out.is_empty(), "nothing answers a status message: {out:?}");
    }

    /// Advances time in 100 ms suite steps.
    fn tick(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + 100).min(end);
            for o in self.suite.step(&mut self.cloud, self.now) {
                self.sent
                    .push((o.topic, String::from_utf8_lossy(&o.payload).into_owned()));
            }
        }
    }

    fn notices(&self) -> usize {
        self.sent
            .iter()
            .filter(|(t, _)| t == "/ota/device/upgrade/pk/d0")
            .count()
    }
}

fn step(n: i64) -> String {
    format!(r#"{{"id":"1","params":{{"step":"{n}","desc":""}}}}"#)
}

fn version(v: &str) -> String {
    format!(r#"{{"id":"1","params":{{"version":"{v}"}}}}"#)
}

#[test]
fn repeat_sends_the_notice_again_mid_download_and_fails_a_second_download() {
    // A device that downloads once: the repeat arrives at its first step between 0 and 100,
    // from the slowed URL, and the case passes once nothing followed the new version.
    let mut b = Bench::new(&[Case::Repeat]);
    b.tick(100);
    assert_eq!(b.notices(), 1);
    assert!(b.sent[0].1.contains("/slow/fw.bin"), "{:?}", b.sent[0]);
    b.device(200, "T3", &step(0));
    b.tick(300);
    assert_eq!(
        b.notices(),
        1,
        "not at step 0: the download has not provably begun"
    );
    b.device(200, "T3", &step(20));
    b.tick(100);
    assert_eq!(b.notices(), 2, "sent again while in flight");
    for s in [40, 60, 80, 100] {
        b.device(100, "T3", &step(s));
    }
    b.device(500, "T1", &version("1.0.1"));
    b.tick(1_000);
    assert!(
        b.suite.results().is_empty(),
        "judged before the settle window ended"
    );
    b.tick(1_500);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Pass, "{r:?}");
    assert!(
        r.evidence
            .iter()
            .any(|l| l.contains("the same notice sent again, mid-download")),
        "{:?}",
        r.evidence
    );

    // A device that downloads the repeated notice after upgrading fails.
    let mut b = Bench::new(&[Case::Repeat]);
    b.tick(100);
    for s in [0, 20, 40, 60, 80, 100] {
        b.device(200, "T3", &step(s));
    }
    b.device(500, "T1", &version("1.0.1"));
    b.device(200, "T3", &step(0));
    b.device(200, "T3", &step(20));
    b.tick(3_000);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Fail, "{r:?}");
    assert!(r.observed.contains("downloaded"), "{}", r.observed);

    // A device that reports nothing between 0 and 100 cannot be shown to download twice.
    let mut b = Bench::new(&[Case::Repeat]);
    b.tick(100);
    b.device(3_000, "T3", &step(100));
    b.device(500, "T1", &version("1.0.1"));
    b.tick(3_000);
    assert_eq!(b.suite.results()[0].grade, Grade::NotApplicable);
}

#[test]
fn cases_wait_for_silence_end_the_last_job_and_show_late_traffic_as_late() {
    let mut b = Bench::new(&[Case::Md5, Case::Pull]);
    b.tick(100);
    for s in [0, 50, 100] {
        b.device(100, "T3", &step(s));
    }
    b.device(300, "T1", &version("1.0.1"));
    b.tick(200);
    assert_eq!(b.suite.results().len(), 1);
    assert_eq!(b.suite.current(), None);
    // The device keeps talking: the pull case waits for it to fall silent.
    for _ in 0..5 {
        b.device(600, "T3", &step(100));
    }
    assert_eq!(
        b.suite.current(),
        None,
        "started while the device was still sending"
    );
    b.tick(1_200);
    assert_eq!(b.suite.current(), Some(Case::Pull));
    // The leftovers are in md5's evidence, marked late.
    let md5 = &b.suite.results()[0];
    assert!(
        md5.evidence
            .iter()
            .any(|l| l.contains("after the verdict (late): T3 default 100") && l.contains("× 5")),
        "{:?}",
        md5.evidence
    );
    // A late report of md5's version during the pull case is md5's, and not a reaction.
    b.device(100, "T1", &version("1.0.1"));
    // The pull is answered with the pull case's own version (md5's job was ended), and the
    // evidence quotes the answer as sent.
    b.device(200, "T4", r#"{"id":"7","params":{"module":"default"}}"#);
    let answer = &b.sent.last().unwrap().1;
    assert!(answer.contains(r#""version":"1.0.2""#), "{answer}");
    b.tick(10_500);
    let pull = &b.suite.results()[1];
    assert_eq!(pull.grade, Grade::Fail, "{pull:?}");
    assert!(
        pull.observed
            .contains("answered with 1.0.2 (http://127.0.0.1:1/firmware/fw.bin)"),
        "{}",
        pull.observed
    );
    assert!(
        pull.evidence
            .iter()
            .any(|l| l.contains("T1 default 1.0.1: the version the md5 case pushed")),
        "{:?}",
        pull.evidence
    );
}

#[test]
fn a_flood_of_progress_is_one_bounded_evidence_line() {
    let mut b = Bench::new(&[Case::ExpiredUrl]);
    b.tick(100);
    for i in 0..20_000 {
        b.device(u64::from(i % 100 == 0), "T3", &step(0));
    }
    b.device(10, "T3", &step(-2));
    b.tick(3_000);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Pass, "{r:?}");
    assert!(r.evidence.len() <= otalab_sim::conformance::EVIDENCE_LIMIT);
    assert!(
        r.evidence.iter().any(|l| l.contains("× 20,000")),
        "{:?}",
        r.evidence
    );
    let text = r.evidence.join("\n") + &r.observed;
    assert!(text.len() < 4_000, "{} bytes", text.len());
}

#[test]
fn a_conformance_report_is_json_and_junit() {
    let mut world = World::new(vec![Fault::None]);
    let package = package(&world.file);
    let mut suite = Suite::new(
        world.keys()[0].clone(),
        package,
        &[Case::BadDigest, Case::SecondModule],
        SuiteOptions::default(),
        world.now,
    );
    world.run_suite(&mut suite);
    let report = suite.report();
    assert!(report.passed());
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["cases"][0]["case"], "bad_digest");
    assert_eq!(json["cases"][0]["grade"], "pass");
    assert_eq!(json["cases"][1]["grade"], "not_applicable");
    let junit = report.to_junit();
    assert!(
        junit.contains("tests=\"2\" failures=\"0\" skipped=\"1\""),
        "{junit}"
    );
    assert!(junit.contains("<skipped message="), "{junit}");
}

#[test]
fn the_cloud_says_what_changed_only_when_asked() {
    use otalab_sim::CloudEvent;
    let bytes = firmware();
    let package = package(&bytes);
    let keys = [DeviceKey::new("pk", "d0"), DeviceKey::new("pk", "d1")];
    // Not recording: nothing is kept.
    let mut quiet = Cloud::new(1);
    quiet
        .push(&keys, &package, NoticeKind::Correct, SignMethod::Md5, 0)
        .unwrap();
    assert_eq!(quiet.poll_event(), None);

    let mut cloud = Cloud::new(1);
    cloud.record_events();
    cloud
        .push(&keys, &package, NoticeKind::Correct, SignMethod::Md5, 0)
        .unwrap();
    let events: Vec<CloudEvent> = std::iter::from_fn(|| cloud.poll_event()).collect();
    for key in &keys {
        assert!(
            events.contains(&CloudEvent::JobCreated {
                device: key.clone(),
                batch: Some(1)
            }),
            "{events:?}"
        );
        assert!(
            events.contains(&CloudEvent::VerdictChanged {
                device: key.clone(),
                verdict: Some(cloud.verdict(key))
            }),
            "{events:?}"
        );
    }
    assert!(events.contains(&CloudEvent::BatchChanged { id: 1 }));

    // d0 reports 100 then the new version: its verdict changes, d1's does not.
    cloud.message(
        "/ota/device/progress/pk/d0",
        br#"{"id":"1","params":{"step":"100","desc":""}}"#,
        10,
    );
    cloud.message(
        "/ota/device/inform/pk/d0",
        br#"{"id":"2","params":{"version":"2.0.0"}}"#,
        20,
    );
    let events: Vec<CloudEvent> = std::iter::from_fn(|| cloud.poll_event()).collect();
    assert!(
        events.contains(&CloudEvent::VerdictChanged {
            device: keys[0].clone(),
            verdict: Some(Verdict::Succeeded)
        }),
        "{events:?}"
    );
    assert!(events.iter().all(|e| !matches!(e, CloudEvent::VerdictChanged { device, .. } | CloudEvent::JobCreated { device, .. } if *device == keys[1])), "{events:?}");
    assert!(events.contains(&CloudEvent::BatchChanged { id: 1 }));

    // A message that changes nothing says nothing; a cancelled batch and a forgotten device do.
    cloud.message(
        "/ota/device/inform/pk/d0",
        br#"{"id":"3","params":{"version":"2.0.0"}}"#,
        30,
    );
    assert_eq!(cloud.poll_event(), None);
    cloud.cancel(1, 40).unwrap();
    let events: Vec<CloudEvent> = std::iter::from_fn(|| cloud.poll_event()).collect();
    assert!(
        events.contains(&CloudEvent::VerdictChanged {
            device: keys[1].clone(),
            verdict: Some(Verdict::Cancelled)
        }),
        "{events:?}"
    );
    cloud.forget(&keys[..1]);
    assert_eq!(
        cloud.poll_event(),
        Some(CloudEvent::VerdictChanged {
            device: keys[0].clone(),
            verdict: None
        })
    );
}

#[test]
fn status_messages_are_written_and_read_as_the_platform_writes_them() {
    use otalab_sim::model::{status_device, status_online, status_payload, status_topic};
    let key = DeviceKey::new("a1B2c3", "board-1");
    assert_eq!(status_topic(&key), "/as/mqtt/status/a1B2c3/board-1");
    assert_eq!(
        status_device("/as/mqtt/status/a1B2c3/board-1"),
        Some(key.clone())
    );
    for topic in [
        "/as/mqtt/status/a1B2c3",
        "/as/mqtt/status//dn",
        "/as/mqtt/status/pk/dn/x",
        "/ota/device/inform/pk/dn",
    ] {
        assert_eq!(status_device(topic), None, "{topic}");
    }
    // 2026-12-06T05:05:01.123Z; its last packet a second before.
    let payload = status_payload(&key, true, 1_796_533_501_123, 1_796_533_500_123, "10.0.0.7");
    let value: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "status": "online", "productKey": "a1B2c3", "deviceName": "board-1",
            "time": "2026-12-06 13:05:01.123", "utcTime": "2026-12-06T05:05:01.123Z",
            "lastTime": "2026-12-06 13:05:00.123", "utcLastTime": "2026-12-06T05:05:00.123Z",
            "clientIp": "10.0.0.7",
        })
    );
    assert_eq!(status_online(payload.as_bytes()), Some(true));
    assert_eq!(
        status_online(status_payload(&key, false, 0, 0, "").as_bytes()),
        Some(false)
    );
    for bad in [
        &b"{}"[..],
        b"not json",
        br#"{"status":"sleeping"}"#,
        br#"{"status":1}"#,
    ] {
        assert_eq!(status_online(bad), None, "{}", String::from_utf8_lossy(bad));
    }
}

#[cfg(feature = "jobs")]
#[test]
fn report_after_reboot_times_the_version_report_from_the_reconnection() {
    let flash = |b: &mut Bench| {
        b.tick(100);
        for s in [0, 50, 100] {
            b.device(200, "T3", &step(s));
        }
        b.status(300, "d0", false);
    };

    // Back online, the new version 0.3 s later: a pass that says how soon.
    let mut b = Bench::new(&[Case::ReportAfterReboot]);
    assert!(
        b.suite
            .subscriptions()
            .contains(&"/as/mqtt/status/pk/d0".to_owned()),
        "{:?}",
        b.suite.subscriptions()
    );
    flash(&mut b);
    b.status(1_000, "d1", true); // another device's status: not this case's
    b.status(500, "d0", true);
    b.device(300, "T1", &version("1.0.1"));
    b.tick(100);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Pass, "{r:?}");
    assert!(
        r.observed
            .contains("reported 1.0.1 0.3 s after coming back online"),
        "{}",
        r.observed
    );
    assert!(
        r.evidence
            .iter()
            .any(|l| l.contains("online (the platform's status message)")),
        "{:?}",
        r.evidence
    );
    assert_eq!(
        r.evidence
            .iter()
            .filter(|l| l.contains("status message"))
            .count(),
        2,
        "offline and online of d0 only: {:?}",
        r.evidence
    );

    // 3 s after: the platform's 2 s are over.
    let mut b = Bench::new(&[Case::ReportAfterReboot]);
    flash(&mut b);
    b.status(500, "d0", true);
    b.device(3_000, "T1", &version("1.0.1"));
    b.tick(100);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Fail, "{r:?}");
    assert!(
        r.observed
            .contains("reported 1.0.1 3.0 s after coming back online"),
        "{}",
        r.observed
    );

    // The status message races the report and comes 0.2 s after it: no wait at all.
    let mut b = Bench::new(&[Case::ReportAfterReboot]);
    flash(&mut b);
    b.device(500, "T1", &version("1.0.1"));
    b.tick(100);
    assert!(b.suite.results().is_empty(), "waits for the status message");
    b.status(100, "d0", true);
    b.tick(100);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Pass, "{r:?}");
    assert!(
        r.observed.contains("0.0 s after coming back online"),
        "{}",
        r.observed
    );

    // No status message at all (no reboot, or a broker without them): not applicable, a
    // second after the report.
    let mut b = Bench::new(&[Case::ReportAfterReboot]);
    b.tick(100);
    for s in [0, 50, 100] {
        b.device(200, "T3", &step(s));
    }
    b.device(500, "T1", &version("1.0.1"));
    b.tick(800);
    assert!(b.suite.results().is_empty());
    b.tick(300);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::NotApplicable, "{r:?}");
    assert!(
        r.observed.contains("no reconnection seen"),
        "{}",
        r.observed
    );

    // A device that comes back on the old version fails as any upgrade does.
    let mut b = Bench::new(&[Case::ReportAfterReboot]);
    flash(&mut b);
    b.status(500, "d0", true);
    b.device(100, "T1", &version("1.0.0"));
    b.tick(3_000);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Fail, "{r:?}");
}

#[cfg(feature = "jobs")]
#[test]
fn ignored_notice_pushes_the_notice_again_until_the_device_reacts() {
    // Bench: reaction 10 s, so the notice goes again every 2.5 s, at most three more times.
    let upgrade = |b: &mut Bench| {
        for s in [0, 50, 100] {
            b.device(200, "T3", &step(s));
        }
        b.device(500, "T1", &version("1.0.1"));
        b.tick(500);
    };

    // Ignores the first notice, takes the second: a pass that says which push it took.
    let mut b = Bench::new(&[Case::IgnoredNotice]);
    b.tick(2_400);
    assert_eq!(
        b.notices(),
        1,
        "nothing again before a quarter of the reaction time"
    );
    b.tick(200);
    assert_eq!(b.notices(), 2, "pushed again at 2.5 s");
    assert_eq!(b.sent[0], b.sent[1], "the same notice, as sent first");
    upgrade(&mut b);
    assert_eq!(b.notices(), 2, "nothing more once the device reacted");
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Pass, "{r:?}");
    assert!(r.observed.contains("to push 2 of it"), "{}", r.observed);
    assert!(
        r.evidence
            .iter()
            .any(|l| l.contains("no reaction yet: the notice pushed again (push 2)")),
        "{:?}",
        r.evidence
    );

    // Takes the first notice at once: it ignored nothing, the case does not apply.
    let mut b = Bench::new(&[Case::IgnoredNotice]);
    b.tick(100);
    upgrade(&mut b);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::NotApplicable, "{r:?}");
    assert!(
        r.observed.contains("took the first notice at once"),
        "{}",
        r.observed
    );
    assert_eq!(b.notices(), 1);

    // Ignores it, then asks with a pull: the answer carries the notice, and that counts.
    let mut b = Bench::new(&[Case::IgnoredNotice]);
    b.device(
        1_000,
        "T4",
        r#"{"id":"7","version":"1.0","params":{},"method":"thing.ota.firmware.get"}"#,
    );
    assert!(
        b.sent
            .iter()
            .any(|(t, p)| t.ends_with("firmware/get_reply") && p.contains("1.0.1")),
        "{:?}",
        b.sent
    );
    upgrade(&mut b);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Pass, "{r:?}");
    assert!(
        r.observed.contains("the answer to its pull"),
        "{}",
        r.observed
    );

    // Ignores every push: fails once the last push had its reaction time (7.5 + 10 s).
    let mut b = Bench::new(&[Case::IgnoredNotice]);
    b.tick(17_000);
    assert!(b.suite.results().is_empty());
    assert_eq!(b.notices(), 4);
    b.tick(700);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Fail, "{r:?}");
    assert!(
        r.observed
            .contains("ignored the notice and the 3 pushes of it again"),
        "{}",
        r.observed
    );
    assert_eq!(b.notices(), 4);

    // Takes the push again but fails a correct package: a failure like any upgrade's.
    let mut b = Bench::new(&[Case::IgnoredNotice]);
    b.tick(2_600);
    b.device(200, "T3", &step(0));
    b.device(200, "T3", &step(-2));
    b.tick(200);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Fail, "{r:?}");
    assert!(r.observed.contains("reported -2"), "{}", r.observed);
}

#[cfg(feature = "jobs")]
#[test]
fn retry_pushes_a_correct_notice_after_the_wrong_digest_failed_and_grades_what_follows() {
    let sign = |payload: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(payload).unwrap();
        v["data"]["sign"].as_str().unwrap_or_default().to_owned()
    };
    // A device that fails the wrong digest and takes the retry passes.
    let mut b = Bench::new(&[Case::Retry]);
    b.tick(100);
    assert_eq!(b.notices(), 1);
    for s in [0, 50] {
        b.device(200, "T3", &step(s));
    }
    b.device(200, "T3", &step(-3));
    b.tick(1_000);
    assert_eq!(b.notices(), 1, "the retry waits until the device settled");
    b.tick(1_200);
    assert_eq!(b.notices(), 2, "retried once the device settled");
    let (first, second) = (sign(&b.sent[0].1), sign(&b.sent[1].1));
    assert_ne!(first, second, "the retried notice carries the right digest");
    assert!(
        b.sent[1].1.contains("\"version\":\"1.0.1\""),
        "{}",
        b.sent[1].1
    );
    for s in [0, 50, 100] {
        b.device(200, "T3", &step(s));
    }
    b.device(500, "T1", &version("1.0.1"));
    b.tick(3_000);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Pass, "{r:?}");
    assert!(
        r.evidence
            .iter()
            .any(|l| l.contains("the notice sent again, correct (the platform's retry)")),
        "{:?}",
        r.evidence
    );

    // A device that keeps the failed update's digest state fails the retried notice too.
    let mut b = Bench::new(&[Case::Retry]);
    b.tick(100);
    b.device(200, "T3", &step(0));
    b.device(200, "T3", &step(-3));
    b.tick(2_500);
    assert_eq!(b.notices(), 2);
    b.device(200, "T3", &step(0));
    b.device(200, "T3", &step(-3));
    b.tick(500);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Fail, "{r:?}");
    assert!(
        r.observed.contains("the retried notice was correct"),
        "{}",
        r.observed
    );

    // A device that installs the package of the wrong digest fails, without a retry.
    let mut b = Bench::new(&[Case::Retry]);
    b.tick(100);
    for s in [0, 100] {
        b.device(200, "T3", &step(s));
    }
    b.device(500, "T1", &version("1.0.1"));
    b.tick(500);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Fail, "{r:?}");
    assert_eq!(b.notices(), 1);
    assert!(r.observed.contains("digest was wrong"), "{}", r.observed);

    // A device that ignores the retried notice fails when the reaction time is over.
    let mut b = Bench::new(&[Case::Retry]);
    b.tick(100);
    b.device(200, "T3", &step(-3));
    b.tick(2_500);
    assert_eq!(b.notices(), 2);
    b.tick(10_500);
    let r = &b.suite.results()[0];
    assert_eq!(r.grade, Grade::Fail, "{r:?}");
    assert!(
        r.observed.contains("no reaction to the retried notice"),
        "{}",
        r.observed
    );
}
