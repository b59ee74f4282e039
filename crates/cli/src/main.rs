//! `otalab`: the native runner. Runs an OTA scenario headless (`otalab run`), merges the reports
//! of shards (`otalab report merge`), checks scenario files (`otalab check`) and prints the
//! scenario JSON Schema (`otalab schema`).
//!
//! Exit codes: 0 every expectation held; 1 an expectation failed; 2 the run could not happen
//! (bad scenario, sandbox or broker unreachable, bad arguments).

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
