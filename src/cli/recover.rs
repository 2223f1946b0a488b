//! `tidepool report`: rebuilds the reports of a run that was killed
//! ([`tidepool::report::recover`]).

use std::path::PathBuf;

use clap::Args;
use tidepool::report::RecoverError;

use super::CliError;

/// Arguments of `tidepool report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The killed run's samples.jsonl (or its --out directory).
    pub samples: PathBuf,
    /// Where to write report.json and report.md [default: beside the samples].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace a report already in the output directory.
    #[arg(long)]
    pub force: bool,
}

/// `tidepool report`: writes the recovered reports; returns the summary.
pub fn recover(args: &ReportArgs) -> Result<String, CliError> {
    tidepool::report::recover(&args.samples, args.out.as_deref(), args.force).map_err(|e| match e {
        RecoverError::Input(m) => CliError::Input(m),
        RecoverError::Write(m) => CliError::Run(m),
        other => CliError::Run(other.to_string()),
    })
}
