//! Recovery of a killed run's reports from its checkpoint and samples
//! (`tidepool report`).

use std::path::{Path, PathBuf};

use super::{human_seconds, write_atomic, Recovery, Report, CHECKPOINT};

/// Why a run's reports could not be recovered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoverError {
    /// The samples or the checkpoint are missing or malformed (naming the
    /// file and line), or a report is in the way.
    #[error("{0}")]
    Input(String),
    /// The recovered reports could not be written.
    #[error("{0}")]
    Write(String),
}

/// Rebuilds `report.json`, `report.md` and `report.html` of a run that was
/// killed (kill -9, OOM, a runner's timeout) from what it flushed: its last
/// checkpoint (`checkpoint.json`, written as the run goes), marked
/// recovered and interrupted, with how far `samples.jsonl` reaches beyond
/// it. `samples` is the run's `samples.jsonl` or its directory; the reports
/// go to `out` (default: beside the samples), replacing one there only with
/// `force`. Returns the summary `tidepool report` prints.
///
/// # Errors
///
/// [`RecoverError::Input`], [`RecoverError::Write`].
pub fn recover(samples: &Path, out: Option<&Path>, force: bool) -> Result<String, RecoverError> {
    let samples = if samples.is_dir() { samples.join("samples.jsonl") } else { samples.to_path_buf() };
    let dir = samples.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
    let checkpoint = dir.join(CHECKPOINT);
    let text = std::fs::read_to_string(&checkpoint).map_err(|e| {
        let why = if dir.join("report.json").exists() {
            "the run finished: its report.json is there".to_string()
        } else {
            format!("{e} (a run writes it at its first sample; one killed earlier left nothing to recover)")
        };
        RecoverError::Input(format!("{}: {why}", checkpoint.display()))
    })?;
    let mut report: Report = serde_json::from_str(&text).map_err(|e| {
        RecoverError::Input(format!("{}:{}:{}: {e}", checkpoint.display(), e.line(), e.column()))
    })?;
    let (samples_seconds, after, arrivals_after) = scan(&samples, report.virtual_seconds)?;
    report.recovered = Some(Recovery {
        checkpoint_seconds: report.virtual_seconds,
        samples_seconds: samples_seconds.max(report.virtual_seconds),
        samples_after_checkpoint: after,
        arrivals_after_checkpoint: arrivals_after,
    });
    report.interrupted = true;
    report.passed = false;
    let out = out.map_or(dir, Path::to_path_buf);
    let existing = out.join("report.json");
    if existing.exists() && !force {
        return Err(RecoverError::Input(format!(
            "{}: a report is already there: pass --force to replace it, or choose another --out",
            existing.display()
        )));
    }
    // Only regular files are replaced, --force or not: refused up front,
    // before anything is written.
    for name in ["report.json", "report.md", "report.html"] {
        let path = out.join(name);
        super::replaceable(&path).map_err(|e| RecoverError::Input(format!("{}: {e}", path.display())))?;
    }
    std::fs::create_dir_all(&out).map_err(|e| {
        RecoverError::Input(format!("--out {}: cannot create the directory: {e}", out.display()))
    })?;
    let json = write_atomic(&out, "report.json", &report.to_json())
        .map_err(|e| RecoverError::Write(format!("writing the report: {e}")))?;
    let md = write_atomic(&out, "report.md", &report.to_markdown())
        .map_err(|e| RecoverError::Write(format!("writing the report: {e}")))?;
    write_atomic(&out, "report.html", &super::html::render(&report, &samples))
        .map_err(|e| RecoverError::Write(format!("writing the report: {e}")))?;
    Ok(format!(
        "report {}: RECOVERED — the checkpoint covers {} ({} arrived); the samples reach {} ({} samples, {} arrivals after it)\n  reports: {}, {}\n",
        report.workload,
        human_seconds(report.virtual_seconds),
        report.ops.arrived,
        human_seconds(samples_seconds),
        after,
        arrivals_after,
        json.display(),
        md.display()
    ))
}

/// Reads samples.jsonl: the time the samples reach, and the samples and
/// arrivals after `covered` seconds. A torn last line (the kill came
/// mid-write) is skipped; a malformed line before it is an error.
fn scan(path: &Path, covered: f64) -> Result<(f64, u64, u64), RecoverError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| RecoverError::Input(format!("{}: {e}", path.display())))?;
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
                return Err(RecoverError::Input(format!("{}:{}:{}: {e}", path.display(), i + 1, e.column())));
            }
        };
        let field = |name: &str| {
            value.get(name).and_then(serde_json::Value::as_f64).ok_or_else(|| {
                RecoverError::Input(format!("{}:{}: {name}: missing or not a number", path.display(), i + 1))
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
