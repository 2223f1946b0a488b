//! The `tidepool` command line.
//!
//! `main` parses arguments with clap, runs one subcommand, and maps its error
//! to a documented exit code:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (every soak gate passed) |
//! | 1 | the run finished but failed (a gate, an unrecoverable runtime error) |
//! | 2 | bad input: usage, settings, a workload file, a port already in use |
//! | 130 | interrupted (Ctrl-C, SIGTERM); the reports are still written (a second signal exits at once) |
//!
//! A closed stdout (`tidepool demo | head`) is not an error, and neither is
//! a stderr that cannot be written (a full disk under `2> log`): messages
//! to it are best effort, never a panic.

/// `eprintln!` that ignores a stderr it cannot write to.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod args;
mod config;
mod demo;
mod detect;
mod recover;
mod soak;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use args::{ReplayArgs, SoakArgs, ValidateArgs};
use config::ConfigArgs;
use demo::DemoArgs;
use detect::DetectArgs;
use recover::ReportArgs;
use tidepool::soak::SoakEnd;

/// tidepool: instrument resource pools and replay workloads through them.
#[derive(Debug, Parser)]
#[command(name = "tidepool", version, about, long_about = None)]
#[command(after_help = "Exit codes: 0 success (all gates pass), 1 a gate or the run failed, \
    2 bad input (usage, workload file, settings, port in use), 130 interrupted.\n\
    Start with `tidepool soak` (the built-in 24 h daily cycle) or `tidepool validate workloads/steady.toml`.\n\
    Docs: README.md and workloads/README.md.")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a workload through a real pool (virtual time, or --time wall) and write a soak report with pass/fail gates and alerts.
    Soak(SoakArgs),
    /// Replay a captured rate series (`timestamp,value` CSV) or a recorded trace (`.jsonl`) through a real pool (same report, gates and alerts as soak).
    Replay(ReplayArgs),
    /// Check a workload file, trace or rate series and print what a run would do, without running it.
    Validate(ValidateArgs),
    /// Run a pool under a small built-in concurrent load while serving /metrics, then print a summary.
    Demo(DemoArgs),
    /// Rebuild report.json and report.md of a killed run from its samples.jsonl and last checkpoint.
    Report(ReportArgs),
    /// Score a `timestamp,value` series with the streaming anomaly detector and write per-row scores and severities.
    Detect(DetectArgs),
    /// Check an agent configuration file (`config check FILE`) or print the documented default (`config default`).
    Config(ConfigArgs),
}

/// Errors of the command line, each with its exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Bad input: settings, files, addresses. Exit code 2.
    #[error("{0}")]
    Input(String),
    /// The run itself failed. Exit code 1.
    #[error("{0}")]
    Run(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(_) => 2,
            CliError::Run(_) => 1,
        }
    }
}

/// Parses the process arguments, runs, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // In virtual time the pool's own warnings (a failed replenish, say)
    // would repeat thousands of times a wall second; the soak report counts
    // those events instead. TIDEPOOL_LOG overrides either default.
    init_tracing(match cli.command {
        Command::Soak(_) | Command::Replay(_) => "warn,tidepool::pool=error",
        _ => "warn",
    });
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args).and_then(|report| print(&report.to_string())),
        Command::Validate(args) => soak::validate(&args).and_then(|text| print(&text)),
        Command::Report(args) => recover::recover(&args).and_then(|text| print(&text)),
        Command::Detect(args) => detect::detect(&args),
        Command::Config(args) => config::config(&args).and_then(|text| print(&text)),
        Command::Soak(args) => return finish_run(soak::run(&args)),
        Command::Replay(args) => return finish_run(soak::replay(&args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Prints a soak or replay summary and maps its end to the exit code.
fn finish_run(run: Result<(String, SoakEnd), CliError>) -> ExitCode {
    match run.and_then(|(summary, end)| print(&summary).map(|()| end)) {
        Ok(SoakEnd::Passed) => ExitCode::SUCCESS,
        Ok(SoakEnd::Failed) => ExitCode::from(1),
        Ok(SoakEnd::Interrupted) => ExitCode::from(130),
        Err(e) => fail(&e),
    }
}

fn fail(e: &CliError) -> ExitCode {
    say!("tidepool: error: {e}");
    ExitCode::from(e.exit_code())
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIDEPOOL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Writes to stdout; a closed pipe ends quietly.
fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Run(format!("writing to stdout: {e}"))),
    }
}
