//! Opt-in capture of a pool's operations, for replay (`tidepool replay
//! TRACE.jsonl`).
//!
//! A [`TraceRecorder`] attached with [`super::PoolBuilder::trace`] keeps one
//! operation in `N`: when the acquire started, how long it waited, how long
//! the object was held, and the outcome (served, timed out, or failed by the
//! factory), in a bounded buffer (events past its capacity are counted, not
//! kept). [`TraceRecorder::write_jsonl`] writes the trace
//! format documented in `workloads/README.md`. A pool without a recorder
//! pays one untaken branch per return.
//!
//! # Examples
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tidepool::pool::{trace::TraceRecorder, Pool};
//!
//! let recorder = Arc::new(TraceRecorder::new(1, 10_000));
//! let pool = Pool::builder("traced").factory(|| Ok(0u8)).trace(Arc::clone(&recorder)).build()?;
//! drop(pool.acquire_blocking()?);
//! let mut out = Vec::new();
//! recorder.write_jsonl(&mut out)?;
//! assert!(String::from_utf8(out)?.starts_with("{\"t\":"));
//! # Ok(()) }
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// One captured operation, in nanoseconds of the pool's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceEvent {
    /// When the acquire started.
    pub start_ns: u64,
    /// How long it waited for the object.
    pub wait_ns: u64,
    /// How long the object was held (0 unless served).
    pub hold_ns: u64,
    /// How the acquire ended.
    pub outcome: TraceOutcome,
}

/// How a traced acquire ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceOutcome {
    /// Served: the object was held and returned.
    Ok,
    /// The acquire timed out (`wait` is how long it waited).
    Timeout,
    /// The factory failed or panicked creating the object.
    Error,
}

impl TraceOutcome {
    /// `ok`, `timeout` or `error`, as in the trace file.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceOutcome::Ok => "ok",
            TraceOutcome::Timeout => "timeout",
            TraceOutcome::Error => "error",
        }
    }
}

/// A bounded, sampled buffer of [`TraceEvent`]s.
#[derive(Debug)]
pub struct TraceRecorder {
    sample_every: u64,
    seen: AtomicU64,
    dropped: AtomicU64,
    capacity: usize,
    events: Mutex<Vec<TraceEvent>>,
}

impl TraceRecorder {
    /// Keeps one operation in `sample_every` (1: all), at most `capacity`
    /// of them until written out.
    pub fn new(sample_every: u64, capacity: usize) -> Self {
        TraceRecorder {
            sample_every: sample_every.max(1),
            seen: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            capacity,
            events: Mutex::new(Vec::new()),
        }
    }

    /// Records a returned object (called by the pool).
    pub(crate) fn record(&self, start_ns: u64, checkout_ns: u64, now_ns: u64) {
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        if n % self.sample_every != 0 {
            return;
        }
        self.push(TraceEvent {
            start_ns,
            wait_ns: checkout_ns.saturating_sub(start_ns),
            hold_ns: now_ns.saturating_sub(checkout_ns),
            outcome: TraceOutcome::Ok,
        });
    }

    /// Records an acquire that ended without an object (called by the pool).
    pub(crate) fn record_failed(&self, start_ns: u64, now_ns: u64, outcome: TraceOutcome) {
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        if n % self.sample_every != 0 {
            return;
        }
        self.push(TraceEvent { start_ns, wait_ns: now_ns.saturating_sub(start_ns), hold_ns: 0, outcome });
    }

    fn push(&self, event: TraceEvent) {
        let mut events = self.events.lock();
        if events.len() < self.capacity {
            events.push(event);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Operations seen (sampled or not).
    pub fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    /// Sampled events lost because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Takes the buffered events, sorted by start time.
    pub fn take(&self) -> Vec<TraceEvent> {
        let mut events = std::mem::take(&mut *self.events.lock());
        events.sort_by_key(|e| e.start_ns);
        events
    }

    /// Writes the buffered events as JSON lines (`t`, `wait`, `hold` in
    /// seconds, `t` from the first event; `outcome` on acquires that ended
    /// without an object) and empties the buffer.
    ///
    /// # Errors
    ///
    /// The writer's I/O errors.
    pub fn write_jsonl(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let events = self.take();
        let origin = events.first().map_or(0, |e| e.start_ns);
        for e in events {
            write!(
                out,
                "{{\"t\":{:.9},\"wait\":{:.9},\"hold\":{:.9}",
                (e.start_ns - origin) as f64 / 1e9,
                e.wait_ns as f64 / 1e9,
                e.hold_ns as f64 / 1e9
            )?;
            match e.outcome {
                TraceOutcome::Ok => writeln!(out, "}}")?,
                other => writeln!(out, ",\"outcome\":\"{}\"}}", other.as_str())?,
            }
        }
        out.flush()
    }
}
