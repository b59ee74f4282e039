//! `otalab conformance`: runs the conformance suite (`otalab_sim::Suite`) against one device
//! connected to the sandbox broker, with the sandbox's firmware and broken URLs, and writes the
//! report card (JSON, JUnit XML).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use otalab_mqtt::Options;
use otalab_sim::cloud::MQTT_DELIVERY_LIMIT;
use otalab_sim::{Case, Cloud, ConformanceReport, DeviceKey, Suite, SuiteEvent, SuiteOptions};
use tokio::sync::{mpsc, watch};

use crate::http;
use crate::now_ms;
use crate::run::{CloudClient, DEFAULT_SANDBOX, SetupError, nonce, run_cloud, sandbox_info, setup};
use crate::transport::Endpoint;

/// What `otalab conformance` was asked to do.
pub struct ConformanceOptions {
    /// The device under test.
    pub device: DeviceKey,
    /// The sandbox server (`--sandbox`, else `$OTALAB_SANDBOX`).
    pub sandbox: Option<String>,
    /// Overrides the broker.
    pub broker: Option<String>,
    /// The demo firmware to push (its name); the first one by default.
    pub firmware: Option<String>,
    /// The cases, in order.
    pub cases: Vec<Case>,
    /// Time limits.
    pub limits: SuiteOptions,
    /// How long to wait for the device's first version report (ms).
    pub wait_ms: u64,
}

/// Runs the suite; returns the report card.
pub async fn run(opts: ConformanceOptions) -> Result<ConformanceReport, SetupError> {
    let server = opts
        .sandbox
        .clone()
        .unwrap_or_else(|| DEFAULT_SANDBOX.to_owned());
    let info = sandbox_info(&server).await?;
    let package = match &opts.firmware {
        Some(name) => info.demo.iter().find(|p| &p.name == name),
        None => info.demo.first(),
    }
    .cloned()
    .ok_or_else(|| setup("the sandbox offers no such firmware"))?;
    let url = opts
        .broker
        .clone()
        .or(info.broker_tcp.clone())
        .unwrap_or_else(|| info.broker_ws.clone());
    let endpoint = Endpoint::parse(&url).map_err(setup)?;

    let mut cloud = Cloud::new(now_ms());
    cloud.set_fault_urls(Some(info.faults.clone()));
    if opts.cases.contains(&Case::Mqtt) && Cloud::check_deliverable(&package).is_ok() {
        let bytes = http::get_all(&package.url, MQTT_DELIVERY_LIMIT)
            .await
            .map_err(|e| setup(format!("firmware {}: {e}", package.name)))?;
        cloud
            .add_stream(&package, bytes)
            .map_err(|e| setup(format!("{}: {e}", e.code())))?;
    }
    let cloud = Arc::new(Mutex::new(cloud));
    let mut suite = Suite::new(
        opts.device.clone(),
        package,
        &opts.cases,
        opts.limits,
        now_ms(),
    );
    // The suite starts once the device has said which version it runs (T1).
    suite.wait_for_version(now_ms() + opts.wait_ms);
    // The device's OTA topics and its status topic (report_after_reboot).
    let filters = suite.subscriptions();
    let suite = Arc::new(Mutex::new(suite));

    let (stop_tx, stop_rx) = watch::channel(false);
    let (cloud_tx, cloud_rx) = mpsc::unbounded_channel();
    let (sub_tx, mut sub_rx) = watch::channel(0);
    let mut options = Options::new(format!("otalab-conformance-{:x}", nonce() & 0xffff_ffff));
    options.max_outbox = usize::MAX;
    let wanted = filters.len();
    let task = tokio::spawn(run_cloud(
        CloudClient {
            options,
            endpoint: endpoint.clone(),
            filters,
            owned: Arc::new(HashSet::from([opts.device.clone()])),
            cloud: cloud.clone(),
            suite: Some(suite.clone()),
            external: Arc::default(),
        },
        cloud_rx,
        sub_tx,
        stop_rx,
    ));
    let stop = |message: String| {
        let _ = stop_tx.send(true);
        Err(setup(message))
    };
    let ready =
        tokio::time::timeout(Duration::from_secs(15), sub_rx.wait_for(|n| *n >= wanted)).await;
    if !matches!(ready, Ok(Ok(_))) {
        return stop(format!(
            "could not subscribe on {}:{} within 15 s",
            endpoint.host, endpoint.port
        ));
    }
    // The suite is otalab-sim's: this loop gives it the time and the cloud, publishes what it
    // asks for and prints what it says.
    let DeviceKey(pk, dn) = &opts.device;
    eprintln!("otalab: waiting for {pk}/{dn} to report its version (T1) on {url}");
    let report = loop {
        let (out, events) = match (suite.lock(), cloud.lock()) {
            (Ok(mut s), Ok(mut c)) => {
                s.handle_timeout(&mut c, now_ms());
                let out: Vec<_> = std::iter::from_fn(|| s.poll_transmit()).collect();
                let events: Vec<SuiteEvent> = std::iter::from_fn(|| s.poll_event()).collect();
                (out, events)
            }
            _ => return stop("the suite's state is poisoned".into()),
        };
        if !out.is_empty() {
            let _ = cloud_tx.send(out);
        }
        let mut finished = None;
        for event in events {
            match event {
                SuiteEvent::DeviceVersion { version } => {
                    eprintln!("otalab: {pk}/{dn} runs {version}; running the suite");
                }
                SuiteEvent::NoVersion { .. } => {
                    return stop(format!(
                        "{pk}/{dn} reported no version within {} s: is it connected to {url}?",
                        opts.wait_ms / 1000
                    ));
                }
                SuiteEvent::CaseJudged(c) => {
                    eprintln!("  {:<14} {:?}: {}", c.case.name(), c.grade, c.observed);
                }
                SuiteEvent::CaseStarted(_) => {}
                SuiteEvent::Finished(report) => finished = Some(*report),
            }
        }
        if let Some(report) = finished {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = stop_tx.send(true);
    let _ = task.await;
    Ok(report)
}
