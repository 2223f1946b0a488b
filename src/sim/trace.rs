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
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::lines::{cache_limit, LineReader, Source};
use super::workload::WorkloadError;

/// A recorded trace, read once to check it and sum it up: its operation
/// count, span and mean hold. Its operations are read again, in order,
/// when it is replayed ([`Trace::events`]): from memory when it has at
/// most [`super::lines::DEFAULT_CACHE_LIMIT`] operations (16 bytes each),
/// from its file otherwise, so a trace of any size replays in bounded
/// memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Where to read the operations again.
    source: Source,
    /// How the input is named in errors.
    name: Arc<str>,
    /// (start from the first, hold), ns, idle gaps capped: the whole
    /// trace when it fits the cache.
    cached: Option<Arc<[(u64, u64)]>>,
    /// Operations.
    len: u64,
    /// The last start, from the first, idle gaps capped, ns.
    span_ns: u64,
    /// The idle-gap cap, ns (`u64::MAX`: none).
    max_gap: u64,
    /// The holds' sum, ns, summed in order as `f64`.
    hold_sum: f64,
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

/// Parses one line: `Ok(None)` for a blank one, else (start, hold) in ns.
/// `last` is the previous line's time (for the order check).
fn parse_line(line: &str, n: usize, file: &str, last: &mut f64) -> Result<Option<(u64, u64)>, WorkloadError> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let row: Line = serde_json::from_str(line)
        .map_err(|e| invalid(file, n, &field_of(line, &e), format!("not a trace line ({e})")))?;
    for (field, v) in [("t", row.t), ("hold", row.hold)] {
        if !v.is_finite() || v < 0.0 || v > super::workload::MAX_DURATION.as_secs_f64() {
            return Err(invalid(file, n, field, format!("{v} is not a time in seconds (0 to 30 days)")));
        }
    }
    if row.t < *last {
        return Err(invalid(
            file,
            n,
            "t",
            format!("{} is before the previous line's {last} (lines must be in time order)", row.t),
        ));
    }
    *last = row.t;
    Ok(Some(((row.t * 1e9).round() as u64, (row.hold * 1e9).round() as u64)))
}

/// A trace's lines as operations: (start from the first, hold), ns, idle
/// gaps capped on the fly.
struct Reader<'a> {
    lines: LineReader<'a>,
    last: f64,
    /// The previous start as read, ns.
    prev: Option<u64>,
    /// The previous start as replayed (gaps capped), ns.
    at: u64,
    max_gap: u64,
}

impl<'a> Reader<'a> {
    fn new(lines: LineReader<'a>, max_gap: u64) -> Self {
        Reader { lines, last: 0.0, prev: None, at: 0, max_gap }
    }

    fn next_event(&mut self) -> Result<Option<(u64, u64)>, WorkloadError> {
        loop {
            let Some((n, line, file)) = self.lines.next_line()? else { return Ok(None) };
            let Some((t, hold)) = parse_line(line, n, file, &mut self.last)? else { continue };
            if let Some(p) = self.prev {
                self.at += (t - p).min(self.max_gap);
            }
            self.prev = Some(t);
            return Ok(Some((self.at, hold)));
        }
    }
}

impl Trace {
    /// Reads a trace file.
    ///
    /// # Errors
    ///
    /// [`WorkloadError`] naming the file, line and field.
    pub fn load(path: &Path) -> Result<Trace, WorkloadError> {
        Trace::load_with_max_gap(path, None)
    }

    /// Reads a trace file, every idle gap between consecutive operations
    /// capped at `max_gap` (GoReplay's and pgreplay's idle-gap limit).
    ///
    /// # Errors
    ///
    /// [`WorkloadError`] naming the file, line and field.
    pub fn load_with_max_gap(path: &Path, max_gap: Option<Duration>) -> Result<Trace, WorkloadError> {
        let name: Arc<str> = path.display().to_string().into();
        let lines = LineReader::open(path, Arc::clone(&name))?;
        Trace::read(lines, Source::File(path.to_path_buf()), name, cap_of(max_gap))
    }

    /// Parses trace text; `file` names it in errors.
    ///
    /// # Errors
    ///
    /// [`WorkloadError`]: a line that is not the format, a time or hold that
    /// is negative or not finite, times out of order, no lines.
    pub fn parse(text: &str, file: &str) -> Result<Trace, WorkloadError> {
        let name: Arc<str> = file.into();
        let lines = LineReader::text(text, Arc::clone(&name));
        let mut trace = Trace::read(lines, Source::Cached, name, u64::MAX)?;
        if trace.cached.is_none() {
            trace.source = Source::Text(text.into());
        }
        Ok(trace)
    }

    /// The first read: checks every line, sums the trace up, and keeps its
    /// operations when they fit the cache.
    fn read(
        lines: LineReader<'_>,
        source: Source,
        name: Arc<str>,
        max_gap: u64,
    ) -> Result<Trace, WorkloadError> {
        let limit = cache_limit();
        let mut reader = Reader::new(lines, max_gap);
        let mut cache = Some(Vec::new());
        let (mut len, mut span_ns, mut hold_sum) = (0u64, 0u64, 0.0f64);
        loop {
            let event = match reader.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(e @ WorkloadError::Invalid { .. }) => {
                    let at = reader.lines.offset();
                    return Err(reader.lines.finish(e, None, Vec::new(), at));
                }
                Err(e) => return Err(e),
            };
            len += 1;
            span_ns = event.0;
            hold_sum += event.1 as f64;
            match &mut cache {
                Some(c) if c.len() < limit => c.push(event),
                _ => cache = None,
            }
        }
        if len == 0 {
            return Err(WorkloadError::Empty {
                file: name.to_string(),
                needs: "one JSON line per operation",
            });
        }
        let (source, cached) = match cache {
            Some(c) => (Source::Cached, Some(Arc::from(c))),
            None => (source, None),
        };
        Ok(Trace { source, name, cached, len, span_ns, max_gap, hold_sum })
    }

    /// The same trace with every idle gap between consecutive operations
    /// capped at `max_gap` (GoReplay's and pgreplay's idle-gap limit).
    /// Reads the trace again (from memory or its file); a large file is
    /// better read once with [`Trace::load_with_max_gap`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidepool::sim::trace::Trace;
    /// let t = Trace::parse("{\"t\":0,\"hold\":0}\n{\"t\":3600,\"hold\":0}\n", "t").unwrap();
    /// assert_eq!(t.with_max_gap(Duration::from_secs(1)).unwrap().span(), Duration::from_secs(1));
    /// ```
    ///
    /// # Errors
    ///
    /// [`WorkloadError`] when the file cannot be read again or has changed.
    pub fn with_max_gap(&self, max_gap: Duration) -> Result<Trace, WorkloadError> {
        let cap = cap_of(Some(max_gap)).min(self.max_gap);
        let source = if self.cached.is_some() { Source::Cached } else { self.source.clone() };
        let mut events = self.events()?;
        let limit = cache_limit();
        let mut cache = Some(Vec::new());
        let (mut prev, mut at, mut len) = (None::<u64>, 0u64, 0u64);
        for event in &mut events {
            let (t, hold) = event?;
            if let Some(p) = prev {
                at += (t - p).min(cap);
            }
            prev = Some(t);
            len += 1;
            match &mut cache {
                Some(c) if c.len() < limit => c.push((at, hold)),
                _ => cache = None,
            }
        }
        let source = if cache.is_some() { Source::Cached } else { source };
        Ok(Trace {
            source,
            name: Arc::clone(&self.name),
            cached: cache.map(Arc::from),
            len,
            span_ns: at,
            max_gap: cap,
            hold_sum: self.hold_sum,
        })
    }

    /// Operations in the trace.
    pub fn len(&self) -> usize {
        usize::try_from(self.len).unwrap_or(usize::MAX)
    }

    /// Whether the trace has no operations (never for a parsed one).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// From the first start to the last start.
    pub fn span(&self) -> Duration {
        Duration::from_nanos(self.span_ns)
    }

    /// The mean hold, seconds.
    pub fn mean_hold(&self) -> f64 {
        self.hold_sum / self.len.max(1) as f64 / 1e9
    }

    /// Whether the operations replay from memory (the trace has at most
    /// [`super::lines::DEFAULT_CACHE_LIMIT`] of them, or the limit set by
    /// `TIDEPOOL_REPLAY_CACHE`) rather than from the file.
    pub fn is_cached(&self) -> bool {
        self.cached.is_some()
    }

    /// The operations in order: (start from the first, hold), ns. Read
    /// from memory or again from the file, one line at a time.
    ///
    /// # Errors
    ///
    /// [`WorkloadError`] when the file cannot be opened again; the
    /// iterator yields one when a line cannot be read or the file no
    /// longer holds the trace first read.
    pub fn events(&self) -> Result<Events, WorkloadError> {
        let reader =
            LineReader::reopen(&self.source, &self.name)?.map(|lines| Reader::new(lines, self.max_gap));
        Ok(Events {
            cached: self.cached.clone(),
            reader,
            k: 0,
            len: self.len,
            span_ns: self.span_ns,
            done: false,
        })
    }

    /// The holds, ns, in order (read as [`Trace::events`] reads).
    ///
    /// # Errors
    ///
    /// As [`Trace::events`].
    pub fn holds(&self) -> Result<impl Iterator<Item = Result<u64, WorkloadError>>, WorkloadError> {
        Ok(self.events()?.map(|e| e.map(|(_, hold)| hold)))
    }
}

fn changed(name: &str, what: String) -> WorkloadError {
    WorkloadError::Invalid {
        file: name.into(),
        line: 0,
        column: 0,
        field: "file".into(),
        message: format!("changed during the replay: {what}"),
    }
}

fn cap_of(max_gap: Option<Duration>) -> u64 {
    max_gap.map_or(u64::MAX, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A trace's operations in order, from memory or from its file:
/// (start from the first, hold), ns. After the last one it checks the
/// file still holds the trace first read (its count and span).
pub struct Events {
    cached: Option<Arc<[(u64, u64)]>>,
    reader: Option<Reader<'static>>,
    k: u64,
    len: u64,
    span_ns: u64,
    done: bool,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("k", &self.k).field("len", &self.len).finish()
    }
}

impl Events {
    /// The next operation, `Ok(None)` after the last.
    #[inline]
    pub(crate) fn next_event(&mut self) -> Result<Option<(u64, u64)>, WorkloadError> {
        if let Some(cached) = &self.cached {
            let event = cached.get(self.k as usize).copied();
            self.k += 1;
            return Ok(event);
        }
        if self.done {
            return Ok(None);
        }
        let Some(reader) = &mut self.reader else { return Ok(None) };
        let Some(event) = reader.next_event()? else {
            self.done = true;
            return Err(changed(
                reader.lines.name(),
                format!("it ended after {} of {} operations", self.k, self.len),
            ));
        };
        self.k += 1;
        if self.k >= self.len {
            // The last one: the file must end here, as first read.
            self.done = true;
            if self.k > self.len || reader.next_event()?.is_some() {
                return Err(changed(
                    reader.lines.name(),
                    format!("it has more than the {} operations first read", self.len),
                ));
            }
            if event.0 != self.span_ns {
                return Err(changed(reader.lines.name(), "its last operation is not where it was".into()));
            }
        }
        Ok(Some(event))
    }
}

impl Iterator for Events {
    type Item = Result<(u64, u64), WorkloadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}
