//! `otalab`: the native runner. Runs an OTA scenario headless (`otalab run`), grades a real
//! device's OTA behaviour (`otalab conformance`), merges the reports of shards
//! (`otalab report merge`), checks scenario files (`otalab check`) and prints the scenario JSON
//! Schema (`otalab schema`).
//!
//! Exit codes: 0 every expectation held (every conformance case passed, degraded or not
//! applicable); 1 an expectation (a case) failed; 2 the run could not happen (bad scenario,
//! sandbox or broker unreachable, bad arguments).

mod conformance;
mod device;
mod http;
mod run;
mod transport;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use otalab_sim::{Report, Scenario, Shard};

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

#[derive(Subcommand)]
enum Command {
    /// Grade one device's OTA behaviour with the conformance suite; exit 0 when no case fails.
    Conformance {
        /// The device under test: productKey/deviceName (it must be connected to the broker).
        #[arg(long)]
        device: String,
        /// The sandbox server (default: $OTALAB_SANDBOX, or http://127.0.0.1:8686).
        #[arg(long)]
        sandbox: Option<String>,
        /// Connect to this broker instead of the sandbox's (mqtt://, mqtts://, ws://, wss://).
        #[arg(long)]
        broker: Option<String>,
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
        /// Write the report card as JSON here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Write the report card as JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Also trust the CA certificates in this PEM file (a private broker).
        #[arg(long)]
        ca: Option<PathBuf>,
    },
    /// Run a scenario; exit 0 only when every expectation holds.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Connect to this broker instead (mqtt://, mqtts://, ws://, wss://).
        #[arg(long)]
        broker: Option<String>,
        /// The sandbox server (default: the scenario's, $OTALAB_SANDBOX, or http://127.0.0.1:8686).
        #[arg(long)]
        sandbox: Option<String>,
        /// Write the report as JSON here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Write the report as JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Write the report as CSV here.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Write the report as a printable HTML page here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Run shard i of n (1-based) of the fleet; defaults to the Kubernetes Indexed Job's
        /// JOB_COMPLETION_INDEX / JOB_COMPLETIONS when they are set.
        #[arg(long)]
        shard: Option<String>,
        /// Also trust the CA certificates in this PEM file (a private broker or server).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Worker threads (0: one per core; 1: everything on one thread).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// How many downloads run at once.
        #[arg(long, default_value_t = 64)]
        downloads: usize,
        /// Progress output.
        #[arg(long, value_enum, default_value_t = Progress::Auto)]
        progress: Progress,
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
}

/// The cases of the conformance suite, by name.
fn parse_case(name: &str) -> Result<otalab_sim::Case, String> {
    otalab_sim::Case::ALL
        .into_iter()
        .find(|c| c.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = otalab_sim::Case::ALL.iter().map(|c| c.name()).collect();
            format!("no case {name:?}; the cases are {}", names.join(", "))
        })
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

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn shard_of(arg: Option<&str>) -> Result<Shard, String> {
    if let Some(text) = arg {
        return Shard::parse(text);
    }
    match (
        std::env::var("JOB_COMPLETION_INDEX"),
        std::env::var("JOB_COMPLETIONS"),
    ) {
        (Ok(index), Ok(count)) => Shard::from_job(&index, &count),
        (Ok(_), Err(_)) => Err("JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not".into()),
        _ => Ok(Shard::ALL),
    }
}

/// Prints the expectations and returns the exit code.
fn conclude(report: &Report) -> ExitCode {
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
        ExitCode::SUCCESS
    } else {
        let failed = report.expectations.iter().filter(|e| !e.held).count();
        eprintln!("otalab: {failed} expectation(s) failed");
        ExitCode::from(1)
    }
}

fn outputs(
    report: &Report,
    json: Option<&Path>,
    junit: Option<&Path>,
    csv: Option<&Path>,
    html: Option<&Path>,
) -> Result<(), String> {
    if let Some(path) = json {
        write(path, &report.to_json())?;
    }
    if let Some(path) = junit {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let fail = |message: String| {
        eprintln!("otalab: error: {message}");
        ExitCode::from(2)
    };
    match cli.command {
        Command::Schema => {
            println!("{}", otalab_sim::scenario::json_schema());
            ExitCode::SUCCESS
        }
        Command::Check { scenarios } => {
            let mut code = ExitCode::SUCCESS;
            for path in scenarios {
                let checked = std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|text| {
                        Scenario::parse(&text).map_err(|e| format!("{}: {e}", e.code()))
                    });
                match checked {
                    Ok(s) => eprintln!("{}: ok ({})", path.display(), s.name),
                    Err(e) => {
                        eprintln!("{}: {e}", path.display());
                        code = ExitCode::from(2);
                    }
                }
            }
            code
        }
        Command::Report {
            command:
                ReportCommand::Merge {
                    reports,
                    output,
                    junit,
                },
        } => {
            let mut parsed = Vec::new();
            for path in &reports {
                let report = std::fs::read_to_string(path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str::<Report>(&t).map_err(|e| e.to_string()));
                match report {
                    Ok(r) => parsed.push(r),
                    Err(e) => return fail(format!("{}: {e}", path.display())),
                }
            }
            let merged = match Report::merge(parsed) {
                Ok(m) => m,
                Err(e) => return fail(format!("{}: {e}", e.code())),
            };
            let written = match &output {
                Some(path) => write(path, &merged.to_json()),
                None => {
                    println!("{}", merged.to_json());
                    Ok(())
                }
            }
            .and_then(|()| outputs(&merged, None, junit.as_deref(), None, None));
            if let Err(e) = written {
                return fail(e);
            }
            conclude(&merged)
        }
        Command::Conformance {
            device,
            sandbox,
            broker,
            firmware,
            cases,
            case_timeout,
            reaction,
            wait,
            report,
            junit,
            ca,
        } => {
            if let Some(path) = &ca
                && let Err(e) = transport::trust_pem_file(path)
            {
                return fail(e);
            }
            let Some((pk, dn)) = device.split_once('/') else {
                return fail(format!(
                    "--device {device:?}: expected productKey/deviceName"
                ));
            };
            if let Err(e) = otalab_protocol::Topic::new(otalab_protocol::TopicKind::Inform, pk, dn)
            {
                return fail(format!("--device {device:?}: {e}"));
            }
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => return fail(e.to_string()),
            };
            let options = conformance::ConformanceOptions {
                device: (pk.to_owned(), dn.to_owned()),
                sandbox,
                broker,
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
            match runtime.block_on(conformance::run(options)) {
                Ok(card) => {
                    let written = report
                        .as_deref()
                        .map_or(Ok(()), |p| write(p, &card.to_json()))
                        .and_then(|()| {
                            junit
                                .as_deref()
                                .map_or(Ok(()), |p| write(p, &card.to_junit()))
                        });
                    if let Err(e) = written {
                        return fail(e);
                    }
                    let failed = card
                        .cases
                        .iter()
                        .filter(|c| c.grade == otalab_sim::Grade::Fail)
                        .count();
                    if failed == 0 {
                        eprintln!("otalab: {device}: no case failed");
                        ExitCode::SUCCESS
                    } else {
                        eprintln!("otalab: {device}: {failed} case(s) failed");
                        ExitCode::from(1)
                    }
                }
                Err(e) => fail(e.to_string()),
            }
        }
        Command::Run {
            scenario,
            broker,
            sandbox,
            report,
            junit,
            csv,
            html,
            shard,
            ca,
            threads,
            downloads,
            progress,
        } => {
            if let Some(path) = &ca
                && let Err(e) = transport::trust_pem_file(path)
            {
                return fail(e);
            }
            let shard = match shard_of(shard.as_deref()) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let mut builder = if threads == 1 {
                tokio::runtime::Builder::new_current_thread()
            } else {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                if threads > 1 {
                    b.worker_threads(threads);
                }
                b
            };
            let runtime = match builder.enable_all().build() {
                Ok(r) => r,
                Err(e) => return fail(e.to_string()),
            };
            let options = RunOptions {
                scenario,
                broker,
                sandbox,
                shard,
                downloads,
                progress,
            };
            let result = runtime.block_on(run::run(options));
            match result {
                Ok(r) => {
                    if let Err(e) = outputs(
                        &r,
                        report.as_deref(),
                        junit.as_deref(),
                        csv.as_deref(),
                        html.as_deref(),
                    ) {
                        return fail(e);
                    }
                    conclude(&r)
                }
                Err(e) => fail(e.to_string()),
            }
        }
    }
}
