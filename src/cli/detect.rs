//! `tidepool detect`: score a `timestamp,value` series row by row with the
//! streaming [`AnomalyDetector`] and write `timestamp,value,anomaly_score,severity`.
//!
//! Rows are read and written one at a time (memory does not grow with the
//! input), through a temporary file renamed at the end: bad input leaves no
//! output file and a reader never sees half a file.
//!
//! Real data is accepted as it comes: rows out of time order or repeated are
//! scored in file order, and values that are not finite or beyond ±1e150
//! are scored 0; both are counted in a warning on stderr naming the first
//! such line. Numeric timestamps in milliseconds, microseconds or
//! nanoseconds since the epoch are recognised by their size (the first
//! row's) and said so.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use super::CliError;
use tidepool::monitor::anomaly::{AnomalyConfig, AnomalyDetector};
use tidepool::sim::series::parse_timestamp;

/// Arguments of `tidepool detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// The series: a `timestamp,value` CSV (header row optional). Timestamps
    /// are Unix seconds (or milliseconds, microseconds, nanoseconds: told
    /// by their size), `YYYY-MM-DD HH:MM:SS` (UTC) or RFC 3339. Rows out of
    /// time order are scored in file order, with a warning.
    pub series: PathBuf,
    /// Where to write `timestamp,value,anomaly_score,severity`, one row per input row.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// The detector's parameters: `general` (any series; scored on NAB) or
    /// `runtime` (runtime metrics with daily load cycles, as the monitor
    /// uses: seasonal from the second day, spikes judged for their hour).
    #[arg(long, value_enum, default_value_t = Preset::General)]
    pub preset: Preset,
    /// Change one of the preset's parameters, NAME=VALUE (repeatable), for
    /// experiments: warmup, level_alpha, holdoff, alert_tail, ... (the
    /// fields of `AnomalyConfig`, docs/monitor.md). Out-of-range values are
    /// refused (exit 2).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

impl DetectArgs {
    /// The preset with every `--set` applied.
    fn config(&self) -> Result<AnomalyConfig, CliError> {
        let mut config = self.preset.config();
        for pair in &self.set {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| CliError::Input(format!("--set {pair:?}: want NAME=VALUE")))?;
            config.set(name.trim(), value).map_err(|e| CliError::Input(format!("--set {pair}: {e}")))?;
        }
        Ok(config)
    }
}

/// A named [`AnomalyConfig`]: `General` is [`AnomalyConfig::default`],
/// `Runtime` is [`AnomalyConfig::runtime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Any series; the parameters scored on NAB.
    General,
    /// Runtime metrics with daily load cycles, as the monitor uses.
    Runtime,
}

impl Preset {
    fn config(self) -> AnomalyConfig {
        match self {
            Preset::General => AnomalyConfig::default(),
            Preset::Runtime => AnomalyConfig::runtime(),
        }
    }
}

/// The longest line read: a series row is a few dozen bytes.
const MAX_LINE_BYTES: usize = 1 << 20;

/// Values beyond this magnitude are scored 0 (the detector's own bound).
const MAX_VALUE: f64 = 1e150;

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

/// The unit of numeric timestamps, told from the first row's magnitude.
#[derive(Debug, Clone, Copy, PartialEq)]
enum EpochUnit {
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

impl EpochUnit {
    /// Seconds up to 1e11 (the year 5138); each unit beyond is 1000 times
    /// larger for the same dates.
    fn of(t: f64) -> EpochUnit {
        match t.abs() {
            x if x < 1e11 => EpochUnit::Seconds,
            x if x < 1e14 => EpochUnit::Milliseconds,
            x if x < 1e17 => EpochUnit::Microseconds,
            _ => EpochUnit::Nanoseconds,
        }
    }

    fn per_second(self) -> f64 {
        match self {
            EpochUnit::Seconds => 1.0,
            EpochUnit::Milliseconds => 1e3,
            EpochUnit::Microseconds => 1e6,
            EpochUnit::Nanoseconds => 1e9,
        }
    }

    fn name(self) -> &'static str {
        match self {
            EpochUnit::Seconds => "seconds",
            EpochUnit::Milliseconds => "milliseconds",
            EpochUnit::Microseconds => "microseconds",
            EpochUnit::Nanoseconds => "nanoseconds",
        }
    }
}

/// Rows that were scored but not as written, for the warning: how many and
/// the first line.
#[derive(Debug, Default)]
struct Oddities {
    out_of_order: (u64, Option<usize>),
    unscorable: (u64, Option<usize>),
}

impl Oddities {
    fn note(slot: &mut (u64, Option<usize>), line: usize) {
        slot.0 += 1;
        slot.1.get_or_insert(line);
    }

    /// The warning lines for `file`.
    fn warnings(&self, file: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let (n, Some(line)) = self.out_of_order {
            out.push(format!(
                "{file}: {n} row(s) out of time order or repeated (the first at line {line}): scored in file order"
            ));
        }
        if let (n, Some(line)) = self.unscorable {
            out.push(format!(
                "{file}: {n} value(s) NaN, infinite or beyond ±1e150 (the first at line {line}): scored 0"
            ));
        }
        out
    }
}

/// Reads `input` row by row and writes each row's score to `out`.
struct Scorer<'f> {
    file: &'f str,
    detector: AnomalyDetector,
    unit: Option<EpochUnit>,
    /// The latest time fed to the detector (it only sees time go forward).
    last_t: f64,
    rows: u64,
    oddities: Oddities,
}

impl<'f> Scorer<'f> {
    fn new(file: &'f str, config: AnomalyConfig) -> Scorer<'f> {
        Scorer {
            file,
            detector: AnomalyDetector::new(config),
            unit: None,
            last_t: f64::NEG_INFINITY,
            rows: 0,
            oddities: Oddities::default(),
        }
    }

    /// Scores every row of `input` into `out`.
    fn run(&mut self, input: impl BufRead, out: &mut dyn Write) -> Result<(), CliError> {
        let write_err = |e: std::io::Error| CliError::Run(format!("writing scores: {e}"));
        let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
        let out: &mut dyn Write = &mut out;
        out.write_all(b"timestamp,value,anomaly_score,severity\n").map_err(write_err)?;
        let mut input = input.take(u64::MAX);
        let mut buf = Vec::new();
        let mut n = 0usize;
        let mut seen_line = false;
        loop {
            buf.clear();
            // At most one line's cap (and a byte to tell it was exceeded).
            input.set_limit(MAX_LINE_BYTES as u64 + 1);
            let read = input
                .read_until(b'\n', &mut buf)
                .map_err(|e| CliError::Input(format!("{}: {e}", self.file)))?;
            if read == 0 {
                break;
            }
            n += 1;
            if buf.len() > MAX_LINE_BYTES && !buf.ends_with(b"\n") {
                return Err(invalid(
                    self.file,
                    n,
                    1,
                    "timestamp",
                    format!("a line longer than {MAX_LINE_BYTES} bytes"),
                ));
            }
            let line = match std::str::from_utf8(&buf) {
                Ok(line) => line,
                Err(e) => {
                    let at = e.valid_up_to();
                    let field = if buf[..at].contains(&b',') { "value" } else { "timestamp" };
                    return Err(invalid(
                        self.file,
                        n,
                        at + 1,
                        field,
                        "not text (an invalid UTF-8 byte); expected a `timestamp,value` CSV".into(),
                    ));
                }
            };
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let first = !seen_line;
            seen_line = true;
            self.row(trimmed, n, first, out).map_err(|e| match e {
                RowError::Input(e) => e,
                RowError::Write(e) => write_err(e),
            })?;
        }
        if self.rows == 0 {
            return Err(CliError::Input(format!(
                "{}: no rows (expected `timestamp,value` lines)",
                self.file
            )));
        }
        out.flush().map_err(write_err)
    }

    /// Scores one non-blank row (line `n`); skips a header on the first.
    fn row(&mut self, trimmed: &str, n: usize, first: bool, out: &mut dyn Write) -> Result<(), RowError> {
        let Some((ts, value)) = trimmed.split_once(',') else {
            return Err(RowError::Input(invalid(
                self.file,
                n,
                1,
                "timestamp",
                "expected `timestamp,value`".into(),
            )));
        };
        let (ts, value) = (ts.trim(), value.trim());
        // Numeric timestamps (the common case) are parsed once.
        let numeric = ts.parse::<f64>().ok().filter(|t| t.is_finite());
        let t = numeric.or_else(|| parse_timestamp(ts));
        let v = value.parse::<f64>();
        if first && t.is_none() && v.is_err() {
            return Ok(()); // the header
        }
        let Some(mut t) = t else {
            return Err(RowError::Input(invalid(
                self.file,
                n,
                1,
                "timestamp",
                format!(
                    "`{}` is not Unix seconds (or ms, µs, ns), YYYY-MM-DD HH:MM:SS or RFC 3339",
                    tidepool::text::clip(ts, 200)
                ),
            )));
        };
        let column = trimmed.find(',').map_or(1, |k| k + 2);
        let Ok(v) = v else {
            return Err(RowError::Input(invalid(
                self.file,
                n,
                column,
                "value",
                format!("`{}` is not a number", tidepool::text::clip(value, 200)),
            )));
        };
        if numeric.is_some() {
            let unit = *self.unit.get_or_insert_with(|| {
                let unit = EpochUnit::of(t);
                if unit != EpochUnit::Seconds {
                    say!(
                        "tidepool: {}: numeric timestamps read as {} since the epoch",
                        self.file,
                        unit.name()
                    );
                }
                unit
            });
            t /= unit.per_second();
        }
        if t <= self.last_t && self.rows > 0 {
            Oddities::note(&mut self.oddities.out_of_order, n);
        }
        if !v.is_finite() || v.abs() > MAX_VALUE {
            Oddities::note(&mut self.oddities.unscorable, n);
        }
        // The detector sees time only go forward: a row back in time is
        // scored at the latest time seen.
        self.last_t = self.last_t.max(t);
        let verdict = self.detector.observe(self.last_t, v);
        self.rows += 1;
        // `{:.6}` cannot round a quiet row up to 0.5: quiet scores are at most 0.499.
        writeln!(out, "{ts},{value},{:.6},{}", verdict.score, verdict.severity).map_err(RowError::Write)
    }
}

enum RowError {
    Input(CliError),
    Write(std::io::Error),
}

/// Scores `args.series` and writes `args.out`.
///
/// # Errors
///
/// [`CliError::Input`] (exit code 2) naming the file, line and field for a
/// file that cannot be read, is not text, has no rows, or has a timestamp
/// or value that does not parse, or when `--out` exists without `--force`;
/// nothing is written then. [`CliError::Run`] if the output cannot be
/// written.
pub fn detect(args: &DetectArgs) -> Result<(), CliError> {
    let config = args.config()?;
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
    let file = args.series.display().to_string();
    let input = tidepool::text::open_regular(&args.series)
        .map_err(|e| CliError::Input(format!("{file}: cannot read: {e}")))?;
    if tidepool::text::same_file(&args.series, &args.out) {
        return Err(CliError::Input(format!("--out {}: is the series being read", args.out.display())));
    }
    let mut scorer = Scorer::new(&file, config.clone());
    let (dir, name) = split_out(&args.out)?;
    // The scoring's own error (bad input) is kept apart from the write's.
    let mut failed: Option<CliError> = None;
    let written = tidepool::report::write_atomic_with(dir, &name, |out| {
        scorer.run(BufReader::with_capacity(1 << 16, input), out).map_err(|e| {
            failed = Some(e);
            std::io::Error::other("scoring stopped")
        })
    });
    if let Some(e) = failed {
        return Err(e);
    }
    if let Err(e) = written {
        // The output could not be written (a missing directory, a full
        // disk): bad input is still exit 2 naming its line, as it would be
        // with somewhere to write, so read the rest of the series first.
        let input = tidepool::text::open_regular(&args.series)
            .map_err(|e| CliError::Input(format!("{file}: cannot read: {e}")))?;
        Scorer::new(&file, config).run(BufReader::with_capacity(1 << 16, input), &mut std::io::sink())?;
        return Err(CliError::Run(format!("writing scores: {e}")));
    }
    for warning in scorer.oddities.warnings(&file) {
        say!("tidepool: warning: {warning}");
    }
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

    /// Scores `text`: the output, or the error.
    fn score(text: &str) -> (Result<String, String>, Oddities) {
        let mut scorer = Scorer::new("s.csv", AnomalyConfig::default());
        let mut out = Vec::new();
        let result =
            scorer.run(text.as_bytes(), &mut out).map(|()| String::from_utf8_lossy(&out).into_owned());
        (result.map_err(|e| e.to_string()), std::mem::take(&mut scorer.oddities))
    }

    #[test]
    fn rows_parse_with_or_without_header() {
        let (out, _) = score("timestamp,value\n2014-04-01 00:00:00,1.5\n2014-04-01 00:05:00,2\n");
        assert_eq!(out.map(|o| o.lines().count()), Ok(3));
        let (out, odd) = score("10,1\n20,NaN\n20,3\n");
        assert_eq!(out.map(|o| o.lines().count()), Ok(4));
        assert_eq!(odd.unscorable, (1, Some(2)));
        assert_eq!(odd.out_of_order, (1, Some(3)));
    }

    #[test]
    fn rows_back_in_time_are_scored_in_file_order_and_counted() {
        let (out, odd) = score("timestamp,value\n10,1\n20,1\n5,1\n30,1e300\n");
        let out = out.expect("accepted");
        assert_eq!(out.lines().nth(3).map(|l| l.starts_with("5,1,")), Some(true), "{out}");
        assert_eq!(odd.out_of_order, (1, Some(4)));
        assert_eq!(odd.unscorable, (1, Some(5)));
    }

    #[test]
    fn epoch_units_are_told_by_size() {
        assert_eq!(EpochUnit::of(1.4e9), EpochUnit::Seconds);
        assert_eq!(EpochUnit::of(1.4e12), EpochUnit::Milliseconds);
        assert_eq!(EpochUnit::of(1.4e15), EpochUnit::Microseconds);
        assert_eq!(EpochUnit::of(1.4e18), EpochUnit::Nanoseconds);
    }

    #[test]
    fn bad_rows_are_named() {
        let cases = [
            ("timestamp,value\n10,1\n20,many\n", "s.csv:3:4: value", "not a number"),
            ("timestamp,value\n10,1\nnoon,4\n", "s.csv:3:1: timestamp", "not Unix seconds"),
            ("timestamp,value\n10\n", "s.csv:2:1: timestamp", "timestamp,value"),
            ("timestamp,value\n", "s.csv: no rows", "no rows"),
            ("timestamp,value\n10,1\n20,\u{0}1\n", "s.csv:3:4: value", "not a number"),
        ];
        for (text, at, what) in cases {
            let err = match score(text).0 {
                Ok(_) => String::from("accepted"),
                Err(e) => e,
            };
            assert!(err.starts_with(at) && err.contains(what), "{err}");
        }
    }
}
