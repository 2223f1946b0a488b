//! The `tidepool` command line.
//!
//! `main` parses arguments with clap, runs one subcommand, and maps its error
//! to a documented exit code:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the run finished but failed (a gate, an unrecoverable runtime error) |
//! | 2 | bad input: usage, settings, a file, a port already in use |
//!
//! A closed stdout (`tidepool demo | head`) is not an error.

mod demo;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use demo::{DemoArgs, DemoReport};

/// tidepool: instrument resource pools and replay workloads through them.
#[derive(Debug, Parser)]
#[command(name = "tidepool", version, about, long_about = None)]
#[command(after_help = "Exit codes: 0 success, 1 run failed, 2 bad input (usage, settings, port in use).\n\
    Docs: README.md; metrics served on http://127.0.0.1:9464/metrics by default.")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pool under a small built-in concurrent load while serving /metrics, then print a summary.
    Demo(DemoArgs),
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
    init_tracing();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args).and_then(|report| print(&report.to_string())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tidepool: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIDEPOOL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
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
