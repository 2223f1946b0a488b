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
    let scanned = scan(&samples, report.virtual_seconds)?;
    let (samples_seconds, after, arrivals_after) = (scanned.reach, scanned.after, scanned.arrivals);
    let skipped = scanned.first_corrupt.map(|(line, why)| {
        format!(
            "{} line(s) of {} are not samples and were skipped (the first, line {line}: {why})",
            scanned.corrupt,
            samples.display()
        )
    });
    if let Some(caveat) = &skipped {
        report.caveats.push(caveat.clone());
    }
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
    let skipped = skipped.map_or(String::new(), |s| format!("  {s}\n"));
    Ok(format!(
        "report {}: RECOVERED — the checkpoint covers {} ({} arrived); the samples reach {} ({} samples, {} arrivals after it)\n{skipped}  reports: {}, {}\n",
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

/// What [`scan`] found in samples.jsonl.
#[derive(Debug, Default)]
struct Scanned {
    /// The latest sample time.
    reach: f64,
    /// Samples after the checkpoint.
    after: u64,
    /// Their arrivals.
    arrivals: u64,
    /// Lines that are not a sample (a torn last line included), and the
    /// first of them: line number and why.
    corrupt: u64,
    first_corrupt: Option<(u64, String)>,
}

/// Reads samples.jsonl line by line: the time the samples reach, and the
/// samples and arrivals after `covered` seconds. A line that is not a
/// sample (a torn last line after a kill, a sector lost on a bad disk) is
/// skipped and counted: the checkpoint, not the samples, is what the
/// reports are made of.
fn scan(path: &Path, covered: f64) -> Result<Scanned, RecoverError> {
    let mut scanned = Scanned::default();
    super::each_sample_line(path, |number, line| {
        let sample = line.map_err(|e| e.to_string()).and_then(|v| {
            let field = |name: &str| {
                v.get(name)
                    .and_then(serde_json::Value::as_f64)
                    .ok_or_else(|| format!("{name}: missing or not a number"))
            };
            Ok((field("t")?, field("arrived")?))
        });
        match sample {
            Ok((t, arrived)) if t.is_finite() && arrived.is_finite() => {
                scanned.reach = scanned.reach.max(t);
                // Sample times and the checkpoint's come from the same
                // clock reading; allow for the decimal round trip.
                if t > covered + 1e-6 {
                    scanned.after += 1;
                    scanned.arrivals += arrived as u64;
                }
            }
            Ok(_) => scanned.skip(number, "not a finite number".into()),
            Err(why) => scanned.skip(number, why),
        }
    })
    .map_err(|e| RecoverError::Input(format!("{}: {e}", path.display())))?;
    Ok(scanned)
}

impl Scanned {
    fn skip(&mut self, line: u64, why: String) {
        self.corrupt += 1;
        self.first_corrupt.get_or_insert((line, crate::text::clip(&why, 200)));
    }
}
