//! `otalab`: the native runner. Runs an OTA scenario headless (`otalab run`), grades a real
//! device's OTA behaviour (`otalab conformance`), merges the reports of shards
//! (`otalab report merge`), checks scenario files (`otalab check`) and prints the scenario JSON
//! Schema (`otalab schema`).
//!
//! Exit codes: 0 every expectation held (every conformance case passed, degraded or not
//! applicable); 1 an expectation (a case) failed; 2 the run could not happen (bad scenario,
//! sandbox or broker unreachable, bad arguments).
//!
//! Shaped like ripgrep's `main`: [`Cli::parse`] (clap: typed values, environment fallbacks,
//! shared option groups), [`run`] does the command and returns an [`Outcome`] or an
//! [`Error`], and `main` alone turns that into the exit code.

mod conformance;
mod device;
mod devices;
mod http;
mod link;
mod run;
mod serve;
mod transport;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use otalab_sim::{DeviceKey, Report, Scenario, Shard};

use run::{Progress, RunOptions};

/// Milliseconds since 1970.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Parser)]
#[command(
    name = "otalab",
    version,
    about = "OTA test bench for Alibaba Cloud IoT devices: the native runner"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the sandbox and the broker are (`run` and `conformance`).
#[derive(Args)]
struct Connect {
    /// The sandbox server (default: $OTALAB_SANDBOX, or http://127.0.0.1:8686; for `run`, a
    /// sandbox URL in the scenario comes before $OTALAB_SANDBOX).
    #[arg(long)]
    sandbox: Option<String>,
    /// $OTALAB_SANDBOX, read by clap (see --sandbox for the order).
    #[arg(long = "sandbox-from-env", env = "OTALAB_SANDBOX", hide = true)]
    sandbox_env: Option<String>,
    /// Connect to this broker instead of the sandbox's (mqtt://, mqtts://, ws://, wss://).
    #[arg(long)]
    broker: Option<String>,
    /// Also trust the CA certificates in this PEM file (a private broker or server).
    #[arg(long)]
    ca: Option<PathBuf>,
}

/// The report files every command that judges can write.
#[derive(Args)]
struct ReportFiles {
    /// Write the report as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the report as JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Grade one device's OTA behaviour with the conformance suite; exit 0 when no case fails.
    Conformance {
        /// The device under test: productKey/deviceName (it must be connected to the broker).
        #[arg(long, value_parser = parse_device)]
        device: DeviceKey,
        #[command(flatten)]
        connect: Connect,
        /// The sandbox's demo firmware to push (its file name; default the first).
        #[arg(long)]
        firmware: Option<String>,
        /// Only these cases, in this order (comma-separated; default all).
        #[arg(long, value_delimiter = ',', value_parser = parse_case)]
        cases: Vec<otalab_sim::Case>,
        /// Longest one case may take, in seconds.
        #[arg(long, default_value_t = 120)]
        case_timeout: u64,
        /// How long the device may stay silent after a push, in seconds.
        #[arg(long, default_value_t = 20)]
        reaction: u64,
        /// How long to wait for the device's first version report, in seconds.
        #[arg(long, default_value_t = 30)]
        wait: u64,
        #[command(flatten)]
        files: ReportFiles,
    },
    /// Run a scenario; exit 0 only when every expectation holds.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        #[command(flatten)]
        connect: Connect,
        #[command(flatten)]
        files: ReportFiles,
        /// Write the report as CSV here.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Write the report as a printable HTML page here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Run shard i of n (1-based) of the fleet; defaults to the Kubernetes Indexed Job's
        /// JOB_COMPLETION_INDEX / JOB_COMPLETIONS when they are set.
        #[arg(long, value_parser = Shard::parse)]
        shard: Option<Shard>,
        /// $JOB_COMPLETION_INDEX (0-based), read by clap.
        #[arg(
            long = "job-completion-index",
            env = "JOB_COMPLETION_INDEX",
            hide = true
        )]
        job_index: Option<String>,
        /// $JOB_COMPLETIONS, read by clap.
        #[arg(long = "job-completions", env = "JOB_COMPLETIONS", hide = true)]
        job_completions: Option<String>,
        /// Worker threads (0: one per core; 1: everything on one thread).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// How many downloads run at once.
        #[arg(long, default_value_t = 64)]
        downloads: usize,
        /// Progress output.
        #[arg(long, value_enum, default_value_t = Progress::Auto)]
        progress: Progress,
        /// Run in this process on a virtual clock: devices, the sandbox cloud, a broker and a
        /// file server in memory, no sockets, no sleeping (sandbox scenarios).
        #[arg(long, conflicts_with_all = ["broker", "sandbox", "ca"])]
        in_memory: bool,
        /// With --in-memory: seeds the devices' connection times and the notice ids (the same
        /// seed and file give the same report).
        #[arg(long, default_value_t = 1, requires = "in_memory")]
        seed: u64,
        /// Connect the devices from these local addresses, round robin: ADDR[,ADDR…] or an
        /// IPv4 range A-B (e.g. 127.0.0.2-127.0.0.9), to pass the ~60,000 ports of one address.
        #[arg(long, value_delimiter = ',', conflicts_with = "in_memory")]
        bind: Vec<String>,
        /// Device connections being opened at once (from the TCP connect until CONNACK or
        /// the failure). 64 opens 10,000 devices on the sandbox's mosquitto without one
        /// refused attempt; the report's timings count failed attempts (connectFailures).
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
        connecting: u32,
        /// Device connection attempts started per second, evenly spaced, reconnections
        /// included (0: as fast as --connecting allows).
        #[arg(long, default_value_t = 0)]
        connect_rate: u32,
        /// This fleet device (productKey/deviceName) is not simulated here: a real device or
        /// another tool logs in with its identity, and the sandbox cloud counts it, pushes to
        /// it and judges it like the others (repeatable; sandbox-cloud scenarios).
        #[arg(long, value_parser = parse_device, conflicts_with = "in_memory")]
        external: Vec<DeviceKey>,
    },
    /// Reports.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Check scenario files without running them.
    Check {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the scenario format.
    Schema,
    /// Run a fleet of simulated devices on a broker until Ctrl-C: devices for `otalab serve`
    /// (register them with RegisterDevice, then create a job) or for any cloud.
    Devices(devices::DevicesOptions),
    /// Run the bench as a local Alibaba Cloud IoT OTA platform: the platform's OTA OpenAPI
    /// (signed V3 or V1), the sandbox cloud with upgrade jobs on a broker (its own mosquitto,
    /// or --broker), state in a database that survives a crash. Runs until Ctrl-C.
    Serve(serve::ServeOptions),
}

/// The cases of the conformance suite, by name.
fn parse_case(name: &str) -> Result<otalab_sim::Case, String> {
    otalab_sim::Case::ALL
        .iter()
        .copied()
        .find(|c| c.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = otalab_sim::Case::ALL.iter().map(|c| c.name()).collect();
            format!("no case {name:?}; the cases are {}", names.join(", "))
        })
}

/// `productKey/deviceName`, with the names the OTA topics allow.
fn parse_device(text: &str) -> Result<DeviceKey, String> {
    text.parse()
        .map_err(|e: otalab_sim::model::DeviceKeyError| e.to_string())
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Merge the JSON reports of shards into the report of the whole run (judged again).
    Merge {
        /// Shard reports.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Write the merged report here (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Also write it as JUnit XML.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
}

/// How a command that ran ended (exit 0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Every expectation held, no conformance case failed.
    Passed,
    /// An expectation or a case failed.
    Failed,
}

/// Why a command could not do its work (exit 2).
#[derive(Debug, thiserror::Error)]
enum Error {
    /// The run could not happen: sandbox, broker, scenario, firmware.
    #[error(transparent)]
    Setup(#[from] run::SetupError),
    /// A file could not be read, parsed or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Shard reports that do not merge.
    #[error("{code}: {message}")]
    Merge {
        /// The merge error's stable code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Scenario files that do not parse (each was named as it was checked).
    #[error("{bad} of {total} scenario files are invalid")]
    Invalid {
        /// How many.
        bad: usize,
        /// Of how many.
        total: usize,
    },
    /// Anything else that stops a command: a shard from the environment, the CA file, the
    /// async runtime.
    #[error("{0}")]
    Other(String),
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::File {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| file_error(path, e))
}

/// The shard from --shard, else from a Kubernetes Indexed Job's environment, else all.
fn shard_of(
    shard: Option<Shard>,
    job_index: Option<&str>,
    completions: Option<&str>,
) -> Result<Shard, Error> {
    match (shard, job_index, completions) {
        (Some(shard), _, _) => Ok(shard),
        (None, Some(index), Some(count)) => Shard::from_job(index, count).map_err(Error::Other),
        (None, Some(_), None) => Err(Error::Other(
            "JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not".into(),
        )),
        (None, None, _) => Ok(Shard::ALL),
    }
}

/// Prints the expectations and returns the outcome.
fn conclude(report: &Report) -> Outcome {
    let s = report.summary;
    eprintln!(
        "otalab: {}: {} devices · succeeded {} · failed {} · upgrading {} · pending {}",
        report.scenario.as_deref().unwrap_or("report"),
        s.total,
        s.succeeded,
        s.failed,
        s.upgrading,
        s.pending
    );
    for e in &report.expectations {
        let mark = if e.held { "ok  " } else { "FAIL" };
        eprintln!("  {mark} {}: {}", e.name, e.detail);
    }
    if report.passed() {
        eprintln!("otalab: every expectation held");
        Outcome::Passed
    } else {
        let failed = report.expectations.iter().filter(|e| !e.held).count();
        eprintln!("otalab: {failed} expectation(s) failed");
        Outcome::Failed
    }
}

fn outputs(
    report: &Report,
    files: &ReportFiles,
    csv: Option<&Path>,
    html: Option<&Path>,
) -> Result<(), Error> {
    if let Some(path) = &files.report {
        write(path, &report.to_json())?;
    }
    if let Some(path) = &files.junit {
        write(path, &report.to_junit())?;
    }
    if let Some(path) = csv {
        write(path, &report.to_csv())?;
    }
    if let Some(path) = html {
        let title = match &report.scenario {
            Some(name) => format!("otalab report: {name}"),
            None => "otalab report".to_owned(),
        };
        write(path, &report.to_html(&title, None))?;
    }
    Ok(())
}

fn trust(connect: &Connect) -> Result<(), Error> {
    match &connect.ca {
        Some(path) => transport::trust_pem_file(path)
            .map(|_| ())
            .map_err(Error::Other),
        None => Ok(()),
    }
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, Error> {
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if threads > 1 {
            b.worker_threads(threads);
        }
        b
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| Error::Other(e.to_string()))
}

/// `otalab check`: each file named with its verdict.
fn check(scenarios: &[PathBuf]) -> Result<Outcome, Error> {
    let mut bad = 0;
    for path in scenarios {
        let checked = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| Scenario::parse(&text).map_err(|e| format!("{}: {e}", e.code())));
        match checked {
            Ok(s) => eprintln!("{}: ok ({})", path.display(), s.name),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                bad += 1;
            }
        }
    }
    if bad > 0 {
        return Err(Error::Invalid {
            bad,
            total: scenarios.len(),
        });
    }
    Ok(Outcome::Passed)
}

/// `otalab report merge`.
fn merge(
    reports: &[PathBuf],
    output: Option<&Path>,
    junit: Option<PathBuf>,
) -> Result<Outcome, Error> {
    let mut parsed = Vec::new();
    for path in reports {
        let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
        parsed.push(serde_json::from_str::<Report>(&text).map_err(|e| file_error(path, e))?);
    }
    let merged = Report::merge(parsed).map_err(|e| Error::Merge {
        code: e.code(),
        message: e.to_string(),
    })?;
    match output {
        Some(path) => write(path, &merged.to_json())?,
        None => println!("{}", merged.to_json()),
    }
    outputs(
        &merged,
        &ReportFiles {
            report: None,
            junit,
        },
        None,
        None,
    )?;
    Ok(conclude(&merged))
}

/// Does the command; `main` maps the result to the exit code.
fn run(cli: Cli) -> Result<Outcome, Error> {
    match cli.command {
        Command::Schema => {
            println!("{}", otalab_sim::scenario::json_schema());
            Ok(Outcome::Passed)
        }
        Command::Check { scenarios } => check(&scenarios),
        Command::Devices(options) => {
            runtime(0)?.block_on(devices::run(options))?;
            Ok(Outcome::Passed)
        }
        Command::Serve(options) => {
            runtime(0)?.block_on(serve::serve(options))?;
            Ok(Outcome::Passed)
        }
        Command::Report {
            command:
                ReportCommand::Merge {
                    reports,
                    output,
                    junit,
                },
        } => merge(&reports, output.as_deref(), junit),
        Command::Conformance {
            device,
            connect,
            firmware,
            cases,
            case_timeout,
            reaction,
            wait,
            files,
        } => {
            trust(&connect)?;
            let name = device.to_string();
            let options = conformance::ConformanceOptions {
                device,
                sandbox: connect.sandbox.or(connect.sandbox_env),
                broker: connect.broker,
                firmware,
                cases: if cases.is_empty() {
                    otalab_sim::Case::ALL.to_vec()
                } else {
                    cases
                },
                limits: otalab_sim::SuiteOptions {
                    case_timeout_ms: case_timeout.max(1) * 1000,
                    reaction_ms: reaction.max(1) * 1000,
                    ..otalab_sim::SuiteOptions::default()
                },
                wait_ms: wait * 1000,
            };
            let card = runtime(1)?.block_on(conformance::run(options))?;
            if let Some(path) = &files.report {
                write(path, &card.to_json())?;
            }
            if let Some(path) = &files.junit {
                write(path, &card.to_junit())?;
            }
            let failed = card
                .cases
                .iter()
                .filter(|c| c.grade == otalab_sim::Grade::Fail)
                .count();
            if failed == 0 {
                eprintln!("otalab: {name}: no case failed");
                Ok(Outcome::Passed)
            } else {
                eprintln!("otalab: {name}: {failed} case(s) failed");
                Ok(Outcome::Failed)
            }
        }
        Command::Run {
            scenario,
            connect,
            files,
            csv,
            html,
            shard,
            job_index,
            job_completions,
            threads,
            downloads,
            progress,
            in_memory,
            seed,
            bind,
            connecting,
            connect_rate,
            external,
        } => {
            let shard = shard_of(shard, job_index.as_deref(), job_completions.as_deref())?;
            if in_memory {
                let report = run::run_in_memory(&scenario, shard, seed)?;
                outputs(&report, &files, csv.as_deref(), html.as_deref())?;
                return Ok(conclude(&report));
            }
            trust(&connect)?;
            let bind = transport::parse_bind(&bind).map_err(run::SetupError)?;
            let options = RunOptions {
                scenario,
                broker: connect.broker,
                sandbox: connect.sandbox,
                sandbox_env: connect.sandbox_env,
                shard,
                downloads,
                progress,
                bind,
                connecting: connecting as usize,
                connect_rate,
                external,
            };
            let report = runtime(threads)?.block_on(run::run(options))?;
            outputs(&report, &files, csv.as_deref(), html.as_deref())?;
            Ok(conclude(&report))
        }
    }
}

/// The one place that maps what happened to the exit code.
fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(Outcome::Passed) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("otalab: error: {e}");
            ExitCode::from(2)
        }
    }
}
