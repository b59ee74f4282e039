//! Scenario files, expectations, shards and reports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use otalab_sim::{
    DeviceReport, Expectations, Fault, ObservedStep, Report, Scenario, Shard, Target, Verdict,
};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios")
}

const MINIMAL: &str = r#"
name = "minimal"
[fleet]
product_key = "pk"
names = "d-{01..10}"
[firmware.v2]
file = "demo-2.0.0.bin"
version = "2.0.0"
[[actions]]
push = "v2"
"#;

#[test]
fn every_example_parses_and_builds_its_fleet() {
    let mut seen = 0;
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let scenario = Scenario::parse(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let fleet = scenario
            .fleet(|f| std::fs::read_to_string(examples().join(f)).map_err(|e| e.to_string()))
            .unwrap();
        assert!(!fleet.is_empty(), "{path:?}");
        // The TOML written back parses to the same scenario.
        let again = Scenario::parse(&scenario.to_toml().unwrap()).unwrap();
        assert_eq!(again, scenario, "{path:?}");
        seen += 1;
    }
    assert!(seen >= 4, "only {seen} examples");
}

#[test]
fn the_committed_json_schema_is_the_generated_one() {
    let committed = std::fs::read_to_string(examples().join("scenario.schema.json")).unwrap();
    let generated = otalab_sim::scenario::json_schema();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "examples/scenarios/scenario.schema.json is stale; regenerate it with: \
         cargo run -p otalab-cli -- schema > examples/scenarios/scenario.schema.json"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert!(schema["properties"]["expect"].is_object());
}

#[test]
fn errors_say_what_and_where() {
    let cases = [
        (MINIMAL.replace("names =", "nmes ="), "SCENARIO_INVALID", "fleet.nmes: unknown field `nmes`"),
        (MINIMAL.replace("push = \"v2\"", "push = \"v3\""), "SCENARIO_INVALID", "actions[0].push: no firmware named \"v3\" (known: v2)"),
        (MINIMAL.replace("names = \"d-{01..10}\"", "names = \"d-{01..10}\"\ncsv = \"x.csv\""), "SCENARIO_INVALID", "fleet: give exactly one"),
        (MINIMAL.replace("[fleet]", "[device]\ncadence_percent = 0\n[fleet]"), "SCENARIO_INVALID", "device.cadence_percent"),
        (MINIMAL.replace("[fleet]", "[device]\nfaults = [{ share = 1.5, fault = { kind = \"stall\", at_percent = 1 } }]\n[fleet]"), "SCENARIO_INVALID", "device.faults[0].share"),
        (MINIMAL.replace("file = \"demo-2.0.0.bin\"", "url = \"ftp://x/y\""), "SCENARIO_INVALID", "firmware.v2.url"),
        (MINIMAL.replace("[fleet]", "[device]\njoin = { share = 0.5, count = 2, to_ms = 10 }\n[fleet]"), "SCENARIO_INVALID", "device.join: give one of share or count"),
        (MINIMAL.replace("[fleet]", "[device]\njoin = { count = 2, from_ms = 20, to_ms = 10 }\n[fleet]"), "SCENARIO_INVALID", "device.join.to_ms: must be at least from_ms (20)"),
        (MINIMAL.replace("[fleet]", "[device]\njoin = { count = 2 }\n[fleet]"), "SCENARIO_INVALID", "device.join: missing field `to_ms` (line 4, column 8)"),
        (MINIMAL.replace("push = \"v2\"", "push = \"v2\"\nnotice = \"sideways\""), "SCENARIO_INVALID", "actions[0].notice: unknown variant `sideways`"),
        (MINIMAL.replace("name = \"minimal\"", "name = \"minimal\"\n[connection]\nkind = \"aliyun\"\nregion = \"cn-shanghai\""), "SCENARIO_INVALID", "firmware.v2.file"),
        (MINIMAL.replace("name = \"minimal\"", "name = \"minimal\"\n[connection]\nkind = \"aliyun\"\nregion = \"cn-shanghai\"\nsign_method = \"hmacsha9\""), "SCENARIO_INVALID", "unknown mqtt sign method \"hmacsha9\""),
        (format!("{MINIMAL}[[expect.steps]]\nsequence = [0, 101]\n"), "SCENARIO_INVALID", "invalid progress step 101"),
        (format!("{MINIMAL}[device]\nfaults = [{{ count = 1, fault = {{ kind = \"fail\", failure = \"burn\", at_percent = 5 }} }}]\n"), "SCENARIO_INVALID", "burn"),
        ("name = 3".to_owned(), "SCENARIO_INVALID", "name: invalid type: integer `3`, expected a string (line 1, column 8)"),
        ("name = \"x\"\n[device]\nflash_ms = -5\n".to_owned(), "SCENARIO_INVALID", "device.flash_ms: invalid value: integer `-5`, expected u64 (line 3, column 12)"),
        ("name = \"x\n".to_owned(), "SCENARIO_SYNTAX", "line 1, column"),
        ("\u{0}\u{1}[[[".to_owned(), "SCENARIO_SYNTAX", ""),
    ];
    for (text, code, fragment) in cases {
        let error = Scenario::parse(&text).unwrap_err();
        assert_eq!(error.code(), code, "{error}");
        assert!(error.to_string().contains(fragment), "{error}");
    }
}

#[test]
fn faults_are_shared_out_in_fleet_order() {
    let text = MINIMAL.replace(
        "[fleet]",
        "[device]\nfaults = [\n { share = 0.2, fault = { kind = \"stall\", at_percent = 5 } },\n { count = 3, fault = { kind = \"wrongVersion\", version = \"0.1\" } },\n]\n[fleet]",
    );
    let scenario = Scenario::parse(&text).unwrap();
    let fleet = scenario.fleet(|_| unreachable!()).unwrap();
    let kinds: Vec<&str> = fleet
        .iter()
        .map(|d| match d.fault {
            Fault::None => "none",
            Fault::Stall { .. } => "stall",
            Fault::WrongVersion { .. } => "wrong",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "stall", "stall", "wrong", "wrong", "wrong", "none", "none", "none", "none", "none"
        ]
    );
    let config = scenario.device_config(&fleet[0]);
    assert_eq!(config.fault, Fault::Stall { at_percent: 5 });
    assert_eq!(config.modules["default"], "1.0.0");
    // More faulty devices than devices is refused.
    let too_many = text.replace("count = 3", "count = 30");
    let error = Scenario::parse(&too_many)
        .unwrap()
        .fleet(|_| unreachable!())
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("faulty devices in a fleet of 10"),
        "{error}"
    );
}

#[test]
fn csv_and_devices_conf_fleets() {
    let csv = MINIMAL.replace(
        "product_key = \"pk\"\nnames = \"d-{01..10}\"",
        "csv = \"fleet.csv\"",
    );
    let scenario = Scenario::parse(&csv).unwrap();
    let fleet = scenario
        .fleet(|name| {
            assert_eq!(name, "fleet.csv");
            Ok("productKey,deviceName,deviceSecret,version\npk,a,s1,1.1\npk,b,,\n".into())
        })
        .unwrap();
    assert_eq!(fleet.len(), 2);
    assert_eq!(fleet[0].spec.version, "1.1");
    assert_eq!(fleet[1].spec.version, "1.0.0");
    let missing = scenario.fleet(|_| Err("no such file".into())).unwrap_err();
    assert_eq!(missing.to_string(), "fleet.csv: no such file");
}

#[test]
fn shards_split_the_fleet_without_gaps_or_overlaps() {
    for n in 1..=7u32 {
        let mut owners = vec![0; 100];
        for i in 1..=n {
            let shard = Shard::parse(&format!("{i}/{n}")).unwrap();
            for (p, owner) in owners.iter_mut().enumerate() {
                if shard.contains(p) {
                    *owner += 1;
                }
            }
        }
        assert!(owners.iter().all(|o| *o == 1), "n = {n}");
    }
    assert_eq!(
        Shard::from_job("0", "4").unwrap(),
        Shard { index: 1, count: 4 }
    );
    assert_eq!(
        Shard::from_job("3", "4").unwrap(),
        Shard { index: 4, count: 4 }
    );
    assert!(Shard::from_job("4", "4").is_err());
    for bad in ["0/3", "4/3", "1/0", "x/2", "3", ""] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn targets_pick_devices_in_fleet_order() {
    let fleet: Vec<otalab_sim::DeviceKey> = (0..10)
        .map(|i| otalab_sim::DeviceKey::new("pk", format!("d{i}")))
        .collect();
    assert_eq!(Target::All.select(&fleet).len(), 10);
    assert_eq!(Target::Share { share: 0.25 }.select(&fleet), [0, 1, 2]);
    assert_eq!(Target::First { first: 20 }.select(&fleet).len(), 10);
    let named = Target::Devices {
        devices: vec!["pk/d3".into(), "d7".into(), "other/d1".into()],
    };
    assert_eq!(named.select(&fleet), [3, 7]);
}

fn device(name: &str, verdict: Verdict, steps: &[i64], version: &str) -> DeviceReport {
    DeviceReport {
        product_key: "pk".into(),
        device_name: name.into(),
        target_version: Some("2.0.0".into()),
        notice: None,
        steps: steps
            .iter()
            .enumerate()
            .map(|(i, s)| ObservedStep {
                at_ms: i as u64,
                at: String::new(),
                step: otalab_protocol::Step::from_i64(*s).expect("a step"),
                desc: String::new(),
            })
            .collect(),
        final_version: Some(version.into()),
        verdict,
        failure: None,
        batch: None,
        fault: None,
    }
}

fn expectations(toml_text: &str) -> Expectations {
    let text = format!("{MINIMAL}\n[expect]\n{toml_text}");
    Scenario::parse(&text).unwrap().expect
}

#[test]
fn expectations_hold_or_say_which_devices_broke_them() {
    let report = Report::new(
        0,
        vec![
            device("a", Verdict::Succeeded, &[0, 50, 100], "2.0.0"),
            device("b", Verdict::Succeeded, &[0, 100], "2.0.0"),
            device("c", Verdict::Failed, &[0, -3], "1.0.0"),
            device("d", Verdict::Upgrading, &[0, 30], "1.0.0"),
        ],
    );
    let expect = expectations(
        "verdicts = { succeeded = 2, failed = { at_most = 1 }, upgrading = { at_least_share = 0.25, at_most_share = 0.25 } }\n\
         final_versions = { \"2.0.0\" = { at_least = 2 } }\n\
         steps = [{ verdict = \"succeeded\", sequence = [0, 100] }, { verdict = \"failed\", sequence = [0, -3], exact = true }]",
    );
    let results = report.check(&expect, false);
    assert_eq!(results.len(), 7);
    assert!(results.iter().all(|r| r.held), "{results:#?}");

    let strict = expectations(
        "verdicts = { succeeded = 4 }\nsteps = [{ sequence = [0, 50, 100] }, { sequence = [0], exact = true }]",
    );
    let results = report.check(&strict, true);
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !r.held)
        .map(|r| r.detail.as_str())
        .collect();
    assert_eq!(failed.len(), 4, "{results:#?}");
    assert!(
        failed[0].contains("time limit was reached with devices still busy: pk/d"),
        "{}",
        failed[0]
    );
    assert!(
        failed[1].contains("expected exactly 4 succeeded, got 2 of 4"),
        "{}",
        failed[1]
    );
    assert!(
        failed[1].contains("not succeeded: pk/c, pk/d"),
        "{}",
        failed[1]
    );
    assert!(
        failed[2].contains("3 of 4 devices did not: pk/b, pk/c, pk/d (pk/b reported [0, 100])"),
        "{}",
        failed[2]
    );
    assert!(
        failed[3].contains("4 of 4 devices did not"),
        "{}",
        failed[3]
    );
}

fn shard_reports(n: u32) -> Vec<Report> {
    let all: Vec<DeviceReport> = (0..9)
        .map(|i| {
            let verdict = if i % 4 == 0 {
                Verdict::Failed
            } else {
                Verdict::Succeeded
            };
            device(&format!("d{i}"), verdict, &[0, 100], "2.0.0")
        })
        .collect();
    let expect = expectations("verdicts = { succeeded = 6, failed = 3 }");
    (1..=n)
        .map(|i| {
            let shard = Shard { index: i, count: n };
            let mine: Vec<DeviceReport> = all
                .iter()
                .enumerate()
                .filter(|(p, _)| shard.contains(*p))
                .map(|(_, d)| d.clone())
                .collect();
            let mut r = Report::new(u64::from(i), mine);
            r.scenario = Some("s".into());
            r.judge(&expect, false);
            r
        })
        .collect()
}

#[test]
fn merged_shard_reports_judge_like_one_run() {
    let whole = Report::merge(shard_reports(1)).unwrap();
    assert!(whole.passed());
    for n in 2..=4 {
        let shards = shard_reports(n);
        // A shard alone fails the fleet-wide counts; merged, it holds again.
        assert!(!shards[0].passed());
        let json: Vec<Report> = shards
            .iter()
            .map(|r| serde_json::from_str(&r.to_json()).unwrap())
            .collect();
        let merged = Report::merge(json).unwrap();
        assert_eq!(merged.devices, whole.devices, "n = {n}");
        assert_eq!(merged.summary, whole.summary);
        assert_eq!(merged.expectations, whole.expectations);
        assert!(merged.passed());
    }
    let mut twice = shard_reports(2);
    twice.push(twice[0].clone());
    assert_eq!(Report::merge(twice).unwrap_err().code(), "DUPLICATE_DEVICE");
    let mut other = shard_reports(2);
    other[1].scenario = Some("t".into());
    assert_eq!(
        Report::merge(other).unwrap_err().code(),
        "SCENARIO_MISMATCH"
    );
    assert_eq!(Report::merge(Vec::new()).unwrap_err().code(), "NO_REPORTS");
}

#[test]
fn junit_counts_failures_and_escapes_text() {
    let mut report = Report::new(
        0,
        vec![
            device("a<&>\"'", Verdict::Succeeded, &[0, 100], "2.0.0"),
            device("b\u{1}", Verdict::Failed, &[-2], "1.0.0"),
        ],
    );
    // Without expectations, a failed device is a failure.
    let xml = report.to_junit();
    assert!(
        xml.contains(r#"name="a&lt;&amp;&gt;&quot;&apos;""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"name="b""#),
        "control characters are dropped: {xml}"
    );
    assert!(
        xml.contains(r#"<testsuites name="otalab" tests="2" failures="1""#),
        "{xml}"
    );
    // With expectations, only broken expectations are failures.
    report.scenario = Some("s & t".into());
    report.judge(
        &expectations("verdicts = { failed = 1, succeeded = 2 }"),
        false,
    );
    let xml = report.to_junit();
    assert!(
        xml.contains(r#"<testsuites name="s &amp; t" tests="5" failures="1""#),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"expected exactly 2 succeeded, got 1 of 2"),
        "{xml}"
    );
}

#[test]
fn listed_devices_and_named_faults() {
    let text = r#"
name = "saved"
[fleet]
version = "1.0.0"
devices = [
  { product_key = "pk", device_name = "a" },
  { product_key = "pk", device_name = "b", version = "1.2.0" },
  { product_key = "pk", device_name = "c" },
]
[device]
faults = [
  { devices = ["pk/c"], fault = { kind = "stall", at_percent = 10 } },
  { count = 1, fault = { kind = "wrongVersion", version = "0.1" } },
]
"#;
    let scenario = Scenario::parse(text).unwrap();
    let fleet = scenario.fleet(|_| unreachable!()).unwrap();
    let versions: Vec<&str> = fleet.iter().map(|d| d.spec.version.as_str()).collect();
    assert_eq!(versions, ["1.0.0", "1.2.0", "1.0.0"]);
    assert_eq!(fleet[2].fault, Fault::Stall { at_percent: 10 });
    assert_eq!(
        fleet[0].fault,
        Fault::WrongVersion {
            version: "0.1".into()
        }
    );
    assert_eq!(fleet[1].fault, Fault::None);
    let missing = text.replace("pk/c\"]", "pk/z\"]");
    let error = Scenario::parse(&missing)
        .unwrap()
        .fleet(|_| unreachable!())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "device.faults[0].devices: no device \"pk/z\" in the fleet"
    );
    let two_ways = text.replace(
        "{ devices = [\"pk/c\"],",
        "{ count = 2, devices = [\"pk/c\"],",
    );
    assert!(
        Scenario::parse(&two_ways)
            .unwrap_err()
            .to_string()
            .contains("give one of share, count or devices")
    );
}

#[test]
fn faults_and_connections_are_read_by_kind_with_serdes_rules() {
    use otalab_protocol::{Failure, MqttSignMethod};
    use otalab_sim::Connection;
    let fault = |json: &str| serde_json::from_str::<Fault>(json).map_err(|e| e.to_string());
    assert_eq!(fault(r#"{"kind":"none"}"#), Ok(Fault::None));
    assert_eq!(
        fault(r#"{"kind":"fail","failure":"verify","at_percent":50}"#),
        Ok(Fault::Fail {
            failure: Failure::Verify,
            at_percent: 50
        })
    );
    assert_eq!(
        fault(r#"{"version":"1.9.9","kind":"wrongVersion"}"#),
        Ok(Fault::WrongVersion {
            version: "1.9.9".into()
        })
    );
    assert_eq!(
        fault(r#"{"kind":"stall","at_percent":30}"#),
        Ok(Fault::Stall { at_percent: 30 })
    );
    assert_eq!(
        fault(r#"{"kind":"offline","at_percent":40,"for_ms":1000}"#),
        Ok(Fault::Offline {
            at_percent: 40,
            for_ms: 1000
        })
    );
    // Written and read back: the same fault.
    for f in [
        Fault::None,
        Fault::Stall { at_percent: 3 },
        Fault::Offline {
            at_percent: 1,
            for_ms: 2,
        },
    ] {
        assert_eq!(fault(&serde_json::to_string(&f).unwrap()), Ok(f));
    }
    let refused = |json: &str, want: &str| {
        let e = fault(json).unwrap_err();
        assert!(e.contains(want), "{json}: {e}");
    };
    refused(r#"{"kind":"stall"}"#, "missing field `at_percent`");
    refused(
        r#"{"kind":"fail","at_percent":5}"#,
        "missing field `failure`",
    );
    refused(
        r#"{"kind":"offline","at_percent":5}"#,
        "missing field `for_ms`",
    );
    refused(r#"{"at_percent":5}"#, "missing field `kind`");
    refused(
        r#"{"kind":"stall","at_percent":5,"for_ms":3}"#,
        "unknown field `for_ms`, expected `at_percent`",
    );
    refused(
        r#"{"kind":"none","version":"1"}"#,
        "unknown field `version`",
    );
    refused(
        r#"{"kind":"stall","at_percent":5,"colour":1}"#,
        "unknown field `colour`",
    );
    refused(r#"{"kind":"explode"}"#, "unknown variant `explode`");
    refused(r#"{"kind":"stall","at_percent":500}"#, "invalid value");
    refused(r#""stall""#, "invalid type");
    refused(
        r#"["stall", null, 30, null, null]"#,
        "expected a table with a kind",
    );

    let connection =
        |json: &str| serde_json::from_str::<Connection>(json).map_err(|e| e.to_string());
    assert_eq!(
        connection(r#"{"kind":"sandbox"}"#),
        Ok(Connection::Sandbox { url: None })
    );
    assert_eq!(
        connection(r#"{"kind":"broker","url":"mqtt://127.0.0.1:1883"}"#),
        Ok(Connection::Broker {
            url: "mqtt://127.0.0.1:1883".into(),
            cloud: true,
            username: None,
            password_env: None
        })
    );
    assert_eq!(
        connection(r#"{"kind":"aliyun","region":"cn-shanghai","sign_method":"HMACSHA1"}"#),
        Ok(Connection::Aliyun {
            region: Some("cn-shanghai".into()),
            instance_id: None,
            sign_method: MqttSignMethod::HmacSha1,
            keep_alive: 60
        })
    );
    let c = Connection::Broker {
        url: "ws://127.0.0.1:1".into(),
        cloud: false,
        username: Some("u".into()),
        password_env: Some("P".into()),
    };
    assert_eq!(connection(&serde_json::to_string(&c).unwrap()), Ok(c));
    for (json, want) in [
        (r#"{"kind":"broker"}"#, "missing field `url`"),
        (
            r#"{"kind":"sandbox","cloud":false}"#,
            "unknown field `cloud`, expected `url`",
        ),
        (r#"{"kind":"aliyun","url":"x"}"#, "unknown field `url`"),
        (r#"{"kind":"aliyun","sign_method":"rot13"}"#, "rot13"),
        (r#"{"kind":"ftp"}"#, "unknown variant `ftp`"),
        (r#"["sandbox", null]"#, "expected a table with a kind"),
    ] {
        let e = connection(json).unwrap_err();
        assert!(e.contains(want), "{json}: {e}");
    }
}

#[test]
fn targets_are_all_a_share_a_count_or_devices_and_anything_else_says_why() {
    let target = |json: &str| serde_json::from_str::<Target>(json).map_err(|e| e.to_string());
    assert_eq!(target(r#""all""#), Ok(Target::All));
    assert_eq!(
        target(r#"{"share":0.25}"#),
        Ok(Target::Share { share: 0.25 })
    );
    assert_eq!(target(r#"{"first":3}"#), Ok(Target::First { first: 3 }));
    assert_eq!(
        target(r#"{"devices":["pk/a","pk/b"]}"#),
        Ok(Target::Devices {
            devices: vec!["pk/a".into(), "pk/b".into()]
        })
    );
    for t in [Target::All, Target::First { first: 2 }] {
        assert_eq!(target(&serde_json::to_string(&t).unwrap()), Ok(t));
    }
    for (json, want) in [
        (r#""some""#, r#"expected "all", found "some""#),
        (r#"{}"#, "an empty target"),
        (
            r#"{"half":1}"#,
            "unknown field `half`, expected one of `share`, `first`, `devices`",
        ),
        (r#"{"share":0.5,"first":3}"#, "not share and first"),
        (r#"{"first":-1}"#, "invalid value"),
        (
            r#"3"#,
            "invalid type: integer `3`, expected \"all\", { share",
        ),
    ] {
        let e = target(json).unwrap_err();
        assert!(e.contains(want), "{json}: {e}");
    }
}

#[test]
fn count_rules_are_a_number_or_bounds_and_anything_else_says_why() {
    use otalab_sim::{Bounds, CountRule};
    let rule = |json: &str| serde_json::from_str::<CountRule>(json).map_err(|e| e.to_string());
    assert_eq!(rule("7"), Ok(CountRule::Exactly(7)));
    assert_eq!(
        rule(r#"{"at_least":2,"at_most_share":0.5}"#),
        Ok(CountRule::Bounds(Bounds {
            at_least: Some(2),
            at_most_share: Some(0.5),
            ..Bounds::default()
        }))
    );
    let bounds = CountRule::Bounds(Bounds {
        at_most: Some(3),
        ..Bounds::default()
    });
    assert_eq!(rule(&serde_json::to_string(&bounds).unwrap()), Ok(bounds));
    for (json, want) in [
        (
            "-1",
            "invalid value: integer `-1`, expected a number of devices",
        ),
        (
            r#""five""#,
            "invalid type: string \"five\", expected a number of devices",
        ),
        (r#"{"at_leest":1}"#, "unknown field `at_leest`"),
        ("1.5", "invalid type: floating point `1.5`"),
    ] {
        let e = rule(json).unwrap_err();
        assert!(e.contains(want), "{json}: {e}");
    }
}
