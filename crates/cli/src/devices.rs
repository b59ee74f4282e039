//! `otalab devices`: a fleet of simulated devices that joins a platform (`otalab serve`, or any
//! cloud on a broker) as its devices, and stays until Ctrl-C. The fleet is the `[fleet]` and
//! `[device]` of a scenario file, or built from the options; the devices report their version,
//! take the notices whoever pushes them, download, verify, flash, reboot and report, with the
//! faults asked for. One status line every two seconds; a summary at the end.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use otalab_sim::{Connection, Scenario};
use tokio::sync::{Semaphore, watch};

use crate::device::{self, DeviceRun, Shared};
use crate::link::Ramp;
use crate::run::{SetupError, device_login, nonce, setup};
use crate::transport::Endpoint;

/// What `otalab devices` is told.
#[derive(clap::Args)]
pub struct DevicesOptions {
    /// The broker (the sandbox's plain MQTT port by default).
    #[arg(long, env = "OTALAB_BROKER", default_value = "mqtt://127.0.0.1:8687")]
    pub broker: String,
    /// Run this scenario file's [fleet] and [device] (its connection and actions are not
    /// used).
    #[arg(long, conflicts_with_all = ["product", "names"])]
    pub scenario: Option<PathBuf>,
    /// productKey of every device.
    #[arg(long)]
    pub product: Option<String>,
    /// Device names, with ranges: 'dev-{001..200}'.
    #[arg(long)]
    pub names: Option<String>,
    /// The version each device reports at start.
    #[arg(long, default_value = "1.0.0")]
    pub version: String,
    /// This share of the fleet (0 to 1) fails every download at 40 %.
    #[arg(long, default_value_t = 0.0)]
    pub fail_share: f64,
    /// How many downloads run at once.
    #[arg(long, default_value_t = 64)]
    pub downloads: usize,
    /// Stop after this many seconds (0: at Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub seconds: u64,
}

fn toml_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// The scenario the options describe.
fn scenario_text(opts: &DevicesOptions) -> Result<String, SetupError> {
    let (Some(product), Some(names)) = (&opts.product, &opts.names) else {
        return Err(setup(
            "give --product and --names, or --scenario FILE (its [fleet] and [device])",
        ));
    };
    if !(0.0..=1.0).contains(&opts.fail_share) {
        return Err(setup(format!(
            "--fail-share: a share from 0 to 1, found {}",
            opts.fail_share
        )));
    }
    let mut text = format!(
        "name = \"otalab devices\"\n[connection]\nkind = \"broker\"\nurl = {}\ncloud = false\n[fleet]\nproduct_key = {}\nnames = {}\nversion = {}\n[device]\nflash_ms = 300\nreboot_ms = 300\n",
        toml_string(&opts.broker),
        toml_string(product),
        toml_string(names),
        toml_string(&opts.version),
    );
    if opts.fail_share > 0.0 {
        text.push_str(&format!(
            "[[device.faults]]\nshare = {}\nfault = {{ kind = \"fail\", failure = \"download\", at_percent = 40 }}\n",
            opts.fail_share
        ));
    }
    Ok(text)
}

/// Runs the fleet until Ctrl-C (or `--seconds`).
pub async fn run(opts: DevicesOptions) -> Result<(), SetupError> {
    let (text, base) = match &opts.scenario {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|e| setup(format!("{}: {e}", path.display())))?,
            path.parent().map(PathBuf::from).unwrap_or_default(),
        ),
        None => (scenario_text(&opts)?, PathBuf::new()),
    };
    let scenario = Scenario::parse(&text).map_err(|e| setup(format!("{}: {e}", e.code())))?;
    let fleet = scenario
        .fleet(|file| std::fs::read_to_string(base.join(file)).map_err(|e| format!("{file}: {e}")))
        .map_err(|e| setup(format!("{}: {e}", e.code())))?;
    let broker = Endpoint::parse(&opts.broker).map_err(|e| setup(format!("--broker: {e}")))?;
    let connection = Connection::Broker {
        url: opts.broker.clone(),
        cloud: false,
        username: None,
        password_env: None,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        connected: AtomicUsize::new(0),
        upgraded: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        downloads: Arc::new(Semaphore::new(opts.downloads.max(1))),
        ramp: Arc::new(Ramp::new(64, 0)),
        stop: stop_rx,
    });
    let seed = nonce();
    let mut tasks = Vec::with_capacity(fleet.len());
    for (i, d) in fleet.iter().enumerate() {
        let (options, endpoint) = device_login(&connection, Some(&broker), d, seed ^ i as u64)?;
        let run = DeviceRun {
            key: otalab_sim::DeviceKey::new(d.spec.product_key.clone(), d.spec.device_name.clone()),
            config: scenario.device_config(d),
            options,
            endpoint,
            judge: true,
        };
        tasks.push(tokio::spawn(device::run(run, shared.clone())));
    }
    let total = tasks.len();
    eprintln!(
        "otalab devices: {total} devices on {} (Ctrl-C stops them)",
        opts.broker
    );
    let line = |shared: &Shared| {
        format!(
            "connected {} of {total} · upgraded {} · failed {}",
            shared.connected.load(Ordering::Relaxed),
            shared.upgraded.load(Ordering::Relaxed),
            shared.failed.load(Ordering::Relaxed)
        )
    };
    let deadline = (opts.seconds > 0).then(|| Duration::from_secs(opts.seconds));
    let started = tokio::time::Instant::now();
    let mut last = String::new();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        if deadline.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        let now = line(&shared);
        if now != last {
            eprintln!("otalab devices: {now}");
            last = now;
        }
    }
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    eprintln!("otalab devices: stopped: {}", line(&shared));
    Ok(())
}
