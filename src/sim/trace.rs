//! Recorded traces (`TraceRecorder` output): each line one operation with
//! its start time and hold, replayed with the original gaps and holds.
//!
//! ```text
//! {"t":0.000000000,"wait":0.000000000,"hold":0.006812345}
//! {"t":0.001204000,"wait":0.000000000,"hold":0.004100000}
//! ```
//!
//! `t` is seconds from the trace's start (non-decreasing), `hold` the
//! seconds the object was held; `wait` is informational (the replay
//! measures its own). `outcome` (`ok` when absent, `timeout`, `error`) says
//! how the recorded acquire ended: a failed one is replayed as an arrival
//! that holds for its recorded `hold` (0), since its load still happened.
//!
//! # Examples
//!
//! ```
//! use tidepool::sim::trace::Trace;
//! let t = Trace::parse("{\"t\":0,\"hold\":0.01}\n{\"t\":0.5,\"hold\":0.02}\n", "t.jsonl").unwrap();
//! assert_eq!(t.len(), 2);
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::workload::WorkloadError;

/// A recorded trace: (start, hold) per operation, ns, in start order.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    events: Vec<(u64, u64)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    t: f64,
    #[serde(default)]
    #[allow(dead_code)]
    wait: f64,
    hold: f64,
    #[serde(default)]
    #[allow(dead_code)]
    outcome: Outcome,
}

/// A recorded outcome; only checked (the replay's pool decides its own).
#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    #[default]
    Ok,
    Timeout,
    Error,
}

/// The field a JSON error is about: the one a missing or unknown field
/// message names, else the last key before the error's column.
fn field_of(line: &str, e: &serde_json::Error) -> String {
    let message = e.to_string();
    if message.starts_with("missing field") || message.starts_with("unknown field") {
        if let Some(name) = message.split('`').nth(1) {
            return name.to_string();
        }
    }
    let upto = line.get(..e.column().min(line.len())).unwrap_or(line);
    let mut key = None;
    let mut rest = upto;
    while let Some(open) = rest.find('"') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else { break };
        let name = &after[..close];
        let tail = &after[close + 1..];
        if tail.trim_start().starts_with(':') {
            key = Some(name.to_string());
        }
        rest = tail;
    }
    key.unwrap_or_else(|| "line".into())
}

fn invalid(file: &str, line: usize, field: &str, message: String) -> WorkloadError {
    WorkloadError::Invalid { file: file.into(), line, column: 1, field: field.into(), message }
}

impl Trace {
    /// Reads a trace file.
    ///
    /// # Errors
    ///
    /// [`WorkloadError`] naming the file, line and field.
    pub fn load(path: &Path) -> Result<Trace, WorkloadError> {
        let (text, file) = super::workload::read_text(path)?;
        Trace::parse(&text, &file)
    }

    /// Parses trace text; `file` names it in errors.
    ///
    /// # Errors
    ///
    /// [`WorkloadError`]: a line that is not the format, a time or hold that
    /// is negative or not finite, times out of order, no lines.
    pub fn parse(text: &str, file: &str) -> Result<Trace, WorkloadError> {
        let mut events = Vec::new();
        let mut last = 0.0f64;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let row: Line = serde_json::from_str(line)
                .map_err(|e| invalid(file, n, &field_of(line, &e), format!("not a trace line ({e})")))?;
            for (field, v) in [("t", row.t), ("hold", row.hold)] {
                if !v.is_finite() || v < 0.0 || v > super::workload::MAX_DURATION.as_secs_f64() {
                    return Err(invalid(
                        file,
                        n,
                        field,
                        format!("{v} is not a time in seconds (0 to 30 days)"),
                    ));
                }
            }
            if row.t < last {
                return Err(invalid(
                    file,
                    n,
                    "t",
                    format!("{} is before the previous line's {last} (lines must be in time order)", row.t),
                ));
            }
            last = row.t;
            events.push(((row.t * 1e9).round() as u64, (row.hold * 1e9).round() as u64));
        }
        if events.is_empty() {
            return Err(WorkloadError::Empty { file: file.into(), needs: "one JSON line per operation" });
        }
        Ok(Trace { events })
    }

    /// The same trace with every idle gap between consecutive operations
    /// capped at `max_gap` (GoReplay's and pgreplay's idle-gap limit).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidepool::sim::trace::Trace;
    /// let t = Trace::parse("{\"t\":0,\"hold\":0}\n{\"t\":3600,\"hold\":0}\n", "t").unwrap();
    /// assert_eq!(t.with_max_gap(Duration::from_secs(1)).span(), Duration::from_secs(1));
    /// ```
    pub fn with_max_gap(&self, max_gap: Duration) -> Trace {
        let cap = u64::try_from(max_gap.as_nanos()).unwrap_or(u64::MAX);
        let mut out = Vec::with_capacity(self.events.len());
        let mut prev_in: Option<u64> = None;
        let mut t_out = 0u64;
        for &(t, hold) in &self.events {
            if let Some(p) = prev_in {
                t_out += (t - p).min(cap);
            }
            prev_in = Some(t);
            out.push((t_out, hold));
        }
        Trace { events: out }
    }

    /// Operations in the trace.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the trace has no operations (never for a parsed one).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// From the first start to the last start.
    pub fn span(&self) -> Duration {
        Duration::from_nanos(self.events.last().map_or(0, |e| e.0) - self.events.first().map_or(0, |e| e.0))
    }

    /// The `k`-th operation: (start from the first, hold), ns.
    pub(crate) fn get(&self, k: usize) -> Option<(u64, u64)> {
        let origin = self.events.first()?.0;
        self.events.get(k).map(|&(t, h)| (t - origin, h))
    }

    /// The holds, ns.
    pub fn holds(&self) -> impl Iterator<Item = u64> + '_ {
        self.events.iter().map(|e| e.1)
    }
}
