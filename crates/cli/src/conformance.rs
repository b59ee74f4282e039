//! `otalab conformance`: runs the conformance suite (`otalab_sim::Suite`) against one device
//! connected to the sandbox broker, with the sandbox's firmware and broken URLs, and writes the
//! report card (JSON, JUnit XML).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use otalab_mqtt::Options;
use otalab_sim::cloud::MQTT_DELIVERY_LIMIT;
use otalab_sim::{Case, Cloud, ConformanceReport, DeviceKey, Suite, SuiteOptions};
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
    let suite = Arc::new(Mutex::new(Suite::new(
        opts.device.clone(),
        package,
        &opts.cases,
        opts.limits,
        now_ms(),
    )));

    let (stop_tx, stop_rx) = watch::channel(false);
    let (cloud_tx, cloud_rx) = mpsc::unbounded_channel();
    let (sub_tx, mut sub_rx) = watch::channel(0);
    let mut options = Options::new(format!("otalab-conformance-{:x}", nonce() & 0xffff_ffff));
    options.max_outbox = usize::MAX;
    let filters = Cloud::subscriptions(None);
    let wanted = filters.len();
    let task = tokio::spawn(run_cloud(
        CloudClient {
            options,
            endpoint: endpoint.clone(),
            filters,
            owned: Arc::new(HashSet::from([opts.device.clone()])),
            cloud: cloud.clone(),
            suite: Some(suite.clone()),
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
    // The suite starts once the device has said which version it runs (T1).
    let DeviceKey(pk, dn) = &opts.device;
    eprintln!("otalab: waiting for {pk}/{dn} to report its version (T1) on {url}");
    let deadline = now_ms() + opts.wait_ms;
    loop {
        let known = cloud.lock().ok().and_then(|c| {
            c.report(std::slice::from_ref(&opts.device), 0).devices[0]
                .final_version
                .clone()
        });
        if let Some(version) = known {
            if let Ok(mut s) = suite.lock() {
                s.knows_version(otalab_protocol::Module::DEFAULT, &version);
            }
            eprintln!("otalab: {pk}/{dn} runs {version}; running the suite");
            break;
        }
        if now_ms() > deadline {
            return stop(format!(
                "{pk}/{dn} reported no version within {} s: is it connected to {url}?",
                opts.wait_ms / 1000
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut last = 0;
    let report = loop {
        let (out, done, report) = match (suite.lock(), cloud.lock()) {
            (Ok(mut s), Ok(mut c)) => {
                let out = s.step(&mut c, now_ms());
                (out, s.is_done(), s.report())
            }
            _ => return stop("the suite's state is poisoned".into()),
        };
        if !out.is_empty() {
            let _ = cloud_tx.send(out);
        }
        for c in &report.cases[last..] {
            eprintln!("  {:<14} {:?}: {}", c.case.name(), c.grade, c.observed);
        }
        last = report.cases.len();
        if done {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = stop_tx.send(true);
    let _ = task.await;
    Ok(report)
}
