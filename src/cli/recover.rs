//! `tidepool report`: rebuilds report.json and report.md of a run that was
//! killed (kill -9, OOM, a runner's timeout) from what it flushed.
//!
//! A run writes `checkpoint.json` beside `samples.jsonl` as it goes: a full
//! report of everything measured so far (every sample in wall-clock runs,
//! once a wall second in virtual time). This command takes the last
//! checkpoint, marks it recovered and interrupted, says how far the samples
//! reach beyond it, and writes the two reports.

use std::path::{Path, PathBuf};

use clap::Args;

use super::soak::CHECKPOINT;
use super::CliError;
use crate::report::{self, Recovery, Report};

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
///
/// # Errors
///
/// [`CliError::Input`] when the samples or the checkpoint are missing or
/// malformed (naming the file and line), [`CliError::Run`] when the reports
/// cannot be written.
pub fn recover(args: &ReportArgs) -> Result<String, CliError> {
    let samples =
        if args.samples.is_dir() { args.samples.join("samples.jsonl") } else { args.samples.clone() };
    let dir = samples.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
    let checkpoint = dir.join(CHECKPOINT);
    let text = std::fs::read_to_string(&checkpoint).map_err(|e| {
        let why = if dir.join("report.json").exists() {
            "the run finished: its report.json is there".to_string()
        } else {
            format!("{e} (a run writes it at its first sample; one killed earlier left nothing to recover)")
        };
        CliError::Input(format!("{}: {why}", checkpoint.display()))
    })?;
    let mut report: Report = serde_json::from_str(&text)
        .map_err(|e| CliError::Input(format!("{}:{}:{}: {e}", checkpoint.display(), e.line(), e.column())))?;
    let (samples_seconds, after, arrivals_after) = scan(&samples, report.virtual_seconds)?;
    report.recovered = Some(Recovery {
        checkpoint_seconds: report.virtual_seconds,
        samples_seconds: samples_seconds.max(report.virtual_seconds),
        samples_after_checkpoint: after,
        arrivals_after_checkpoint: arrivals_after,
    });
    report.interrupted = true;
    report.passed = false;
    let out = args.out.clone().unwrap_or(dir);
    let existing = out.join("report.json");
    if existing.exists() && !args.force {
        return Err(CliError::Input(format!(
            "{}: a report is already there: pass --force to replace it, or choose another --out",
            existing.display()
        )));
    }
    std::fs::create_dir_all(&out)
        .map_err(|e| CliError::Input(format!("--out {}: cannot create the directory: {e}", out.display())))?;
    let json = report::write_atomic(&out, "report.json", &report.to_json())
        .map_err(|e| CliError::Run(format!("writing the report: {e}")))?;
    let md = report::write_atomic(&out, "report.md", &report.to_markdown())
        .map_err(|e| CliError::Run(format!("writing the report: {e}")))?;
    report::write_atomic(&out, "report.html", &report::html::render(&report, &samples))
        .map_err(|e| CliError::Run(format!("writing the report: {e}")))?;
    Ok(format!(
        "report {}: RECOVERED — the checkpoint covers {} ({} arrived); the samples reach {} ({} samples, {} arrivals after it)\n  reports: {}, {}\n",
        report.workload,
        report::human_seconds(report.virtual_seconds),
        report.ops.arrived,
        report::human_seconds(samples_seconds),
        after,
        arrivals_after,
        json.display(),
        md.display()
    ))
}

/// Reads samples.jsonl: the time the samples reach, and the samples and
/// arrivals after `covered` seconds. A torn last line (the kill came
/// mid-write) is skipped; a malformed line before it is an error.
fn scan(path: &Path, covered: f64) -> Result<(f64, u64, u64), CliError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    let lines: Vec<&str> = text.lines().collect();
    let (mut reach, mut after, mut arrivals) = (0.0f64, 0u64, 0u64);
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(e) => {
                return Err(CliError::Input(format!("{}:{}:{}: {e}", path.display(), i + 1, e.column())));
            }
        };
        let field = |name: &str| {
            value.get(name).and_then(serde_json::Value::as_f64).ok_or_else(|| {
                CliError::Input(format!("{}:{}: {name}: missing or not a number", path.display(), i + 1))
            })
        };
        let t = field("t")?;
        let arrived = field("arrived")?;
        reach = reach.max(t);
        // Sample times and the checkpoint's come from the same clock
        // reading; allow for the decimal round trip.
        if t > covered + 1e-6 {
            after += 1;
            arrivals += arrived as u64;
        }
    }
    Ok((reach, after, arrivals))
}
