//! `tidepool detect`: score a `timestamp,value` series row by row with the
//! streaming [`AnomalyDetector`] and write `timestamp,value,anomaly_score,severity`.
//!
//! The input is read whole and checked before anything is written; the
//! output goes through a temporary file and a rename, so bad input leaves no
//! output file and a reader never sees half a file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::CliError;
use tidepool::monitor::anomaly::{AnomalyConfig, AnomalyDetector};
use tidepool::sim::series::parse_timestamp;
use tidepool::text::TextError;

/// Arguments of `tidepool detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// The series: a `timestamp,value` CSV (header row optional). Timestamps
    /// are Unix seconds, `YYYY-MM-DD HH:MM:SS` (UTC) or RFC 3339, in time order.
    pub series: PathBuf,
    /// Where to write `timestamp,value,anomaly_score,severity`, one row per input row.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
}

/// One input row: the timestamp and value as written, and the parsed time and value.
struct Row<'a> {
    ts_text: &'a str,
    value_text: &'a str,
    t: f64,
    value: f64,
}

fn invalid(file: &str, line: usize, column: usize, field: &str, message: String) -> CliError {
    CliError::Input(
        tidepool::sim::WorkloadError::Invalid {
            file: file.into(),
            line,
            column,
            field: field.into(),
            message,
        }
        .to_string(),
    )
}

/// Parses a series: rows of `timestamp,value`, an optional header line, blank
/// lines and `#` comments skipped. A value may be `NaN` or `inf` (the
/// detector skips it and scores it 0); anything else must be a number.
fn parse_rows<'a>(text: &'a str, file: &str) -> Result<Vec<Row<'a>>, CliError> {
    let mut rows: Vec<Row<'a>> = Vec::new();
    let mut seen_line = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let first = !seen_line;
        seen_line = true;
        let Some((ts, value)) = trimmed.split_once(',') else {
            return Err(invalid(file, n, 1, "timestamp", "expected `timestamp,value`".into()));
        };
        let (ts, value) = (ts.trim(), value.trim());
        let t = parse_timestamp(ts);
        let v = value.parse::<f64>();
        if first && t.is_none() && v.is_err() {
            continue; // the header
        }
        let Some(t) = t else {
            return Err(invalid(
                file,
                n,
                1,
                "timestamp",
                format!("`{ts}` is not Unix seconds, YYYY-MM-DD HH:MM:SS or RFC 3339"),
            ));
        };
        let column = trimmed.find(',').map_or(1, |k| k + 2);
        let Ok(v) = v else {
            return Err(invalid(file, n, column, "value", format!("`{value}` is not a number")));
        };
        if let Some(prev) = rows.last() {
            if t < prev.t {
                return Err(invalid(
                    file,
                    n,
                    1,
                    "timestamp",
                    format!(
                        "`{ts}` is before the previous row's `{}` (rows must be in time order)",
                        prev.ts_text
                    ),
                ));
            }
        }
        rows.push(Row { ts_text: ts, value_text: value, t, value: v });
    }
    if rows.is_empty() {
        return Err(CliError::Input(format!("{file}: no rows (expected `timestamp,value` lines)")));
    }
    Ok(rows)
}

/// Reads the series as text. A binary or non-UTF-8 file is named down to the
/// line, column and field of its first bad byte.
fn read_series(path: &Path) -> Result<(String, String), CliError> {
    // Held in memory whole (as its scores are): 1 GiB at most.
    match tidepool::text::read_text_capped(path, 1 << 30) {
        Ok(read) => Ok(read),
        Err(TextError::NotText { file, offset }) => {
            let bytes = std::fs::read(path).unwrap_or_default();
            let before = &bytes[..offset.min(bytes.len())];
            let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |k| k + 1);
            let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
            let field = if before[line_start..].contains(&b',') { "value" } else { "timestamp" };
            Err(invalid(
                &file,
                line,
                offset - line_start + 1,
                field,
                format!("not text (a NUL or invalid UTF-8 byte at offset {offset}); expected a `timestamp,value` CSV"),
            ))
        }
        Err(e) => Err(CliError::Input(e.to_string())),
    }
}

/// Scores `args.series` and writes `args.out`.
///
/// # Errors
///
/// [`CliError::Input`] (exit code 2) naming the file, line and field for a
/// file that cannot be read, is not text, has no rows, has a timestamp or
/// value that does not parse, or goes back in time, or when `--out` exists
/// without `--force`; nothing is written then.
/// [`CliError::Run`] if the output cannot be written.
pub fn detect(args: &DetectArgs) -> Result<(), CliError> {
    // Even with --force, only a regular file is replaced (never a link, a
    // device or a directory).
    tidepool::report::replaceable(&args.out)
        .map_err(|e| CliError::Input(format!("--out {}: {e}", args.out.display())))?;
    if args.out.exists() && !args.force {
        return Err(CliError::Input(format!(
            "--out {}: exists: pass --force to replace it",
            args.out.display()
        )));
    }
    let (text, file) = read_series(&args.series)?;
    let rows = parse_rows(&text, &file)?;
    let mut detector = AnomalyDetector::new(AnomalyConfig::default());
    let mut out = String::with_capacity(rows.len() * 48 + 64);
    out.push_str("timestamp,value,anomaly_score,severity\n");
    for row in &rows {
        let verdict = detector.observe(row.t, row.value);
        // `{:.6}` cannot round a quiet row up to 0.5: quiet scores are at most 0.499.
        let _ = writeln!(out, "{},{},{:.6},{}", row.ts_text, row.value_text, verdict.score, verdict.severity);
    }
    let (dir, name) = split_out(&args.out)?;
    tidepool::report::write_atomic(dir, &name, &out)
        .map_err(|e| CliError::Run(format!("writing scores: {e}")))?;
    Ok(())
}

/// The output's directory (`.` for a bare name) and file name.
fn split_out(path: &Path) -> Result<(&Path, String), CliError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| CliError::Input(format!("--out {}: not a file name", path.display())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((dir, name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_with_or_without_header() {
        let rows = parse_rows("timestamp,value\n2014-04-01 00:00:00,1.5\n2014-04-01 00:05:00,2\n", "a.csv")
            .map_err(|e| e.to_string());
        assert_eq!(rows.as_ref().map(Vec::len), Ok(2));
        let rows = parse_rows("10,1\n20,NaN\n20,3\n", "b.csv").map_err(|e| e.to_string());
        assert_eq!(rows.as_ref().map(Vec::len), Ok(3));
    }

    #[test]
    fn bad_rows_are_named() {
        let cases = [
            ("timestamp,value\n10,1\n5,1\n", "s.csv:3:1: timestamp", "time order"),
            ("timestamp,value\n10,1\n20,many\n", "s.csv:3:4: value", "not a number"),
            ("timestamp,value\n10,1\nnoon,4\n", "s.csv:3:1: timestamp", "not Unix seconds"),
            ("timestamp,value\n10\n", "s.csv:2:1: timestamp", "timestamp,value"),
            ("timestamp,value\n", "s.csv: no rows", "no rows"),
        ];
        for (text, at, what) in cases {
            let err = match parse_rows(text, "s.csv") {
                Ok(_) => String::from("accepted"),
                Err(e) => e.to_string(),
            };
            assert!(err.starts_with(at) && err.contains(what), "{err}");
        }
    }
}
