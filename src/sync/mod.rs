//! Profiled locks: [`ProfiledMutex`] and [`ProfiledRwLock`] measure, per
//! lock, how often it was taken, how often a taker had to wait and for how
//! long, how long it was held, and who took it after whom — the figures of
//! mutrace, Linux lockstat and Go's mutex profile, at a cost close to the
//! bare `parking_lot` lock.
//!
//! # Cost model
//!
//! * **Uncontended** acquisition: one `try_lock` (the same CAS the plain lock
//!   does), plus counter updates made while the lock is held (plain stores,
//!   no read-modify-write, for exclusive modes), and no clock read.
//! * **Contended** acquisition (the `try_lock` failed): two clock reads
//!   around the blocking acquire; the wait is recorded.
//! * **Hold time** is sampled: one acquisition in `N` of each lock (default
//!   64, a power of two) reads the clock at acquire and release and counts
//!   `N ×` its hold, like Go's sampled profiles; at `N = 1` every hold is
//!   measured exactly. Long holds are found among the sampled ones.
//!
//! Every lock registers itself in the process-wide [`registry`]: a snapshot
//! of all locks sorted by total wait (mutrace's table), a bounded history
//! per lock, recent slow-acquire and long-hold events, and the Prometheus
//! series labelled `lock` and `mode` ([`metrics`]).
//!
//! # Examples
//!
//! ```
//! use tidepool::sync::{registry, ProfiledMutex};
//!
//! let totals = ProfiledMutex::new("doc-totals", 0u64);
//! *totals.lock() += 1;
//! let snap = totals.snapshot();
//! assert_eq!(snap.acquisitions, 1);
//! assert_eq!(snap.contentions, 0);
//! assert!(registry().snapshot().iter().any(|s| &*s.name == "doc-totals"));
//! ```

pub mod metrics;
mod mutex;
mod rwlock;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;

pub use crate::pool::WaitHistogram;
pub use mutex::{ProfiledMutex, ProfiledMutexGuard};
pub use rwlock::{ProfiledRwLock, ProfiledRwLockReadGuard, ProfiledRwLockWriteGuard};

use crate::clock::Clock;
use crate::per_thread::{thread_id, PerThreadCounter};
use crate::pool::metrics::BucketHistogram;

/// Holds measured by default: one acquisition in 64. Two clock reads and a
/// record cost about 40 ns on the reference machine, against about 5 ns for
/// an uncontended `parking_lot` lock; one in 64 keeps the average overhead
/// near 1 ns (`make bench`, BENCHMARKS.md), and 1 M acquisitions still give
/// 15 000 samples (the hold total's estimate is within 1 % in
/// `tests/locks.rs`).
pub const DEFAULT_SAMPLE_EVERY: u32 = 64;

/// Settings of a profiled lock.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tidepool::sync::{LockOptions, ProfiledMutex};
///
/// let opts = LockOptions::default().hold_sample_every(1).slow_threshold(Duration::from_millis(1));
/// let m = ProfiledMutex::with_options("exact", Vec::<u8>::new(), opts);
/// m.lock().push(1);
/// assert_eq!(m.snapshot().hold_samples, 1); // N = 1: every hold measured
/// ```
#[derive(Debug, Clone)]
pub struct LockOptions {
    pub(crate) sample_every: u32,
    pub(crate) threshold: Duration,
    pub(crate) clock: Clock,
    pub(crate) trace: Option<Arc<crate::pool::trace::TraceRecorder>>,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            sample_every: DEFAULT_SAMPLE_EVERY,
            threshold: Duration::from_millis(10),
            clock: Clock::system(),
            trace: None,
        }
    }
}

impl LockOptions {
    /// Measure the hold of one acquisition in `n` (default
    /// [`DEFAULT_SAMPLE_EVERY`]; 1 measures
    /// every hold). `n` is rounded up to a power of two, so the choice is a
    /// mask, not a division, on the hot path.
    pub fn hold_sample_every(mut self, n: u32) -> Self {
        self.sample_every = n.max(1).checked_next_power_of_two().unwrap_or(1 << 31);
        self
    }

    /// Waits and holds at or above this are slow-acquire and long-hold
    /// events (default 10 ms, JFR's default).
    pub fn slow_threshold(mut self, threshold: Duration) -> Self {
        self.threshold = threshold;
        self
    }

    /// The clock waits and holds are read from (default: the system clock).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Captures acquisitions into `recorder` (one in its N): when each
    /// acquire began, its wait and its hold, and timed-out `try_lock_for`s,
    /// in the trace format of [`crate::pool::trace`]. Every hold is then
    /// timed (the cost of `hold_sample_every(1)`: see BENCHMARKS.md).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tidepool::pool::trace::TraceRecorder;
    /// use tidepool::sync::{LockOptions, ProfiledMutex};
    ///
    /// let recorder = Arc::new(TraceRecorder::new(1, 1000));
    /// let m = ProfiledMutex::with_options("traced", 0u32, LockOptions::default().trace(Arc::clone(&recorder)));
    /// *m.lock() += 1;
    /// *m.lock() += 1;
    /// assert_eq!(recorder.take().len(), 2);
    /// ```
    pub fn trace(mut self, recorder: Arc<crate::pool::trace::TraceRecorder>) -> Self {
        self.trace = Some(recorder);
        self
    }
}

/// How a lock was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockMode {
    /// A mutex, or an `RwLock`'s write side.
    Exclusive,
    /// An `RwLock`'s read side.
    Shared,
}

impl LockMode {
    /// The `mode` label: `exclusive` or `shared`.
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Exclusive => "exclusive",
            LockMode::Shared => "shared",
        }
    }
}

/// A taker that queues itself instead of blocking (an async task that
/// polls, an operation of the simulator): who it is, for owner-change
/// counting, and since when it has waited, on the lock's clock.
///
/// Pass it to [`ProfiledMutex::try_lock_by`] (or the `RwLock`'s
/// `try_read_by`/`try_write_by`): an acquisition by a taker that has been
/// waiting is counted as contended, with the wait from `since` to now.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tidepool::clock::Clock;
/// use tidepool::sync::{LockOptions, ProfiledMutex, Taker};
///
/// let (clock, time) = Clock::manual();
/// let m = ProfiledMutex::with_options("queued", (), LockOptions::default().clock(clock));
/// let first = m.try_lock_by(Taker::new(1)).expect("free");
/// assert!(m.try_lock_by(Taker::new(2)).is_none()); // task 2 queues itself at t = 0
/// time.advance(Duration::from_millis(3));
/// drop(first);
/// let _second = m.try_lock_by(Taker::new(2).waiting_since(Duration::ZERO)).expect("free now");
/// let snap = m.snapshot();
/// assert_eq!((snap.acquisitions, snap.contentions, snap.owner_changes), (2, 1, 1));
/// assert_eq!(snap.wait_total, Duration::from_millis(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taker {
    owner: u64,
    since: Option<u64>,
}

impl Taker {
    /// A taker identified by `owner` (any id the caller keeps per task).
    pub fn new(owner: u64) -> Taker {
        // Set the top bit: ids never collide with thread ids or the 0
        // that means "no holder yet".
        Taker { owner: owner | 1 << 63, since: None }
    }

    /// The same taker, waiting since `since` on the lock's clock.
    pub fn waiting_since(self, since: Duration) -> Taker {
        Taker { since: Some(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)), ..self }
    }
}

/// A slow acquire or a long hold, at or above the lock's threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct LockEvent {
    /// The lock.
    pub lock: Arc<str>,
    /// How it was taken.
    pub mode: LockMode,
    /// What happened.
    pub kind: LockEventKind,
    /// How long the wait or the hold lasted.
    pub duration: Duration,
    /// When it ended, on the lock's clock.
    pub at: Duration,
}

/// The kinds of [`LockEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockEventKind {
    /// A taker waited at least the threshold.
    SlowAcquire,
    /// A (sampled) holder held at least the threshold.
    LongHold,
}

/// One lock's figures for one mode, at one moment (a row of mutrace's table).
#[derive(Debug, Clone, PartialEq)]
pub struct LockSnapshot {
    /// The lock's name (the `lock` label).
    pub name: Arc<str>,
    /// The mode these figures are for.
    pub mode: LockMode,
    /// Successful acquisitions.
    pub acquisitions: u64,
    /// Acquisitions whose uncontended attempt failed (they waited).
    pub contentions: u64,
    /// Total time contended acquisitions waited.
    pub wait_total: Duration,
    /// Longest single wait.
    pub wait_max: Duration,
    /// Estimated total hold time: sampled holds × the sampling interval
    /// (exact when every hold is sampled).
    pub hold_total: Duration,
    /// Holds actually measured.
    pub hold_samples: u64,
    /// Longest measured hold.
    pub hold_max: Duration,
    /// `try_*_for` calls that gave up.
    pub timeouts: u64,
    /// Times the lock was taken by a different thread than the last taker
    /// (exclusive mode only; mutrace's "Changed").
    pub owner_changes: u64,
    /// Waits at or above the threshold.
    pub slow_acquires: u64,
    /// Measured holds at or above the threshold.
    pub long_holds: u64,
    /// When the snapshot was taken, on the lock's clock.
    pub at: Duration,
}

impl LockSnapshot {
    /// Contended acquisitions per 1000 acquisitions.
    pub fn contention_per_1000(&self) -> f64 {
        if self.acquisitions == 0 {
            0.0
        } else {
            self.contentions as f64 * 1000.0 / self.acquisitions as f64
        }
    }

    /// Mean wait of the contended acquisitions.
    pub fn wait_mean(&self) -> Duration {
        if self.contentions == 0 {
            Duration::ZERO
        } else {
            self.wait_total / u32::try_from(self.contentions).unwrap_or(u32::MAX)
        }
    }
}

/// Formats snapshots as a table sorted as given (mutrace's layout).
///
/// # Examples
///
/// ```
/// let table = tidepool::sync::format_table(&tidepool::sync::registry().snapshot());
/// assert!(table.starts_with("lock"));
/// ```
pub fn format_table(rows: &[LockSnapshot]) -> String {
    use fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:<9} {:>10} {:>9} {:>8} {:>8} {:>12} {:>10} {:>12} {:>10} {:>8}",
        "lock",
        "mode",
        "acquired",
        "contended",
        "per 1000",
        "changed",
        "wait total",
        "wait max",
        "hold total",
        "hold max",
        "timeouts"
    );
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
    for s in rows {
        let _ = writeln!(
            out,
            "{:<24} {:<9} {:>10} {:>9} {:>8.1} {:>8} {:>12} {:>10} {:>12} {:>10} {:>8}",
            s.name,
            s.mode.as_str(),
            s.acquisitions,
            s.contentions,
            s.contention_per_1000(),
            s.owner_changes,
            ms(s.wait_total),
            ms(s.wait_max),
            ms(s.hold_total),
            ms(s.hold_max),
            s.timeouts
        );
    }
    out
}

/// Counts for one mode of one lock. Fields marked *protected* are only
/// written while the lock is held exclusively, so they use a plain load and
/// store rather than a read-modify-write.
#[derive(Debug)]
pub(crate) struct ModeStats {
    mode: LockMode,
    /// Protected in exclusive mode; unused in shared mode.
    acquisitions: AtomicU64,
    /// Shared mode's acquisitions, a shard per live thread (up to the
    /// [`PerThreadCounter`]'s owned slots; shared shards beyond); `None` in
    /// exclusive mode.
    reads: Option<PerThreadCounter>,
    /// Protected (exclusive mode).
    last_owner: AtomicU64,
    owner_changes: AtomicU64,
    contentions: AtomicU64,
    wait_ns: AtomicU64,
    wait_max_ns: AtomicU64,
    hold_ns: AtomicU64,
    hold_samples: AtomicU64,
    hold_max_ns: AtomicU64,
    timeouts: AtomicU64,
    slow: AtomicU64,
    long: AtomicU64,
    pub(crate) wait_hist: BucketHistogram,
    pub(crate) hold_hist: BucketHistogram,
}

impl ModeStats {
    fn new(mode: LockMode) -> Self {
        ModeStats {
            mode,
            acquisitions: AtomicU64::new(0),
            reads: (mode == LockMode::Shared).then(PerThreadCounter::default),
            last_owner: AtomicU64::new(0),
            owner_changes: AtomicU64::new(0),
            contentions: AtomicU64::new(0),
            wait_ns: AtomicU64::new(0),
            wait_max_ns: AtomicU64::new(0),
            hold_ns: AtomicU64::new(0),
            hold_samples: AtomicU64::new(0),
            hold_max_ns: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            slow: AtomicU64::new(0),
            long: AtomicU64::new(0),
            wait_hist: BucketHistogram::new(),
            hold_hist: BucketHistogram::new(),
        }
    }

    fn acquisitions(&self) -> u64 {
        self.acquisitions.load(Ordering::Relaxed) + self.reads.as_ref().map_or(0, PerThreadCounter::sum)
    }
}

/// What every profiled lock shares with the registry.
#[derive(Debug)]
pub(crate) struct LockShared {
    pub(crate) name: Arc<str>,
    clock: Clock,
    sample_every: u32,
    /// `sample_every - 1`: an acquisition whose count has these bits clear
    /// is sampled.
    sample_mask: u64,
    threshold_ns: u64,
    /// Capture of every acquisition (kept 1 in the recorder's N).
    trace: Option<Arc<crate::pool::trace::TraceRecorder>>,
    pub(crate) modes: Vec<ModeStats>,
    pub(crate) metrics: Vec<metrics::LockMetrics>,
    history: Mutex<VecDeque<Vec<LockSnapshot>>>,
}

/// The number of snapshots kept per lock by [`LockRegistry::record_history`].
pub const HISTORY_LEN: usize = 1000;

impl LockShared {
    pub(crate) fn new(name: String, modes: &[LockMode], options: LockOptions) -> Arc<LockShared> {
        let name: Arc<str> = name.into();
        let shared = Arc::new(LockShared {
            metrics: modes.iter().map(|&m| metrics::LockMetrics::register(&name, m)).collect(),
            modes: modes.iter().map(|&m| ModeStats::new(m)).collect(),
            name,
            clock: options.clock,
            // A trace needs every hold timed; the recorder samples.
            sample_every: if options.trace.is_some() { 1 } else { options.sample_every },
            sample_mask: if options.trace.is_some() { 0 } else { u64::from(options.sample_every) - 1 },
            trace: options.trace,
            threshold_ns: u64::try_from(options.threshold.as_nanos()).unwrap_or(u64::MAX),
            history: Mutex::new(VecDeque::new()),
        });
        registry().register(&shared);
        shared
    }

    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.now_nanos()
    }

    /// `(now, now)`: the span of an acquire that did not wait.
    #[inline]
    pub(crate) fn now_span(&self) -> (u64, u64) {
        let t = self.now();
        (t, t)
    }

    /// Counts an exclusive acquisition (the caller holds the lock) and says
    /// whether to measure its hold: every `sample_every`-th acquisition of
    /// this lock, counted per lock so two locks taken in turn never alias.
    #[inline]
    pub(crate) fn acquired_exclusive(&self, mode: usize) -> bool {
        self.acquired_exclusive_by(mode, thread_id())
    }

    /// As [`Self::acquired_exclusive`], for taker `me`.
    #[inline]
    pub(crate) fn acquired_exclusive_by(&self, mode: usize, me: u64) -> bool {
        let s = &self.modes[mode];
        // Protected: only the holder writes these, so no read-modify-write.
        let n = s.acquisitions.load(Ordering::Relaxed) + 1;
        s.acquisitions.store(n, Ordering::Relaxed);
        let last = s.last_owner.load(Ordering::Relaxed);
        if last != me {
            s.last_owner.store(me, Ordering::Relaxed);
            // The very first holder changes nothing.
            if last != 0 {
                s.owner_changes.store(s.owner_changes.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
        }
        n & self.sample_mask == 0
    }

    /// Counts a shared acquisition and says whether to measure its hold
    /// (every `sample_every`-th acquisition on the reader's shard). Readers
    /// run concurrently: each counts on its own shard, without a locked
    /// instruction while its thread owns a slot ([`PerThreadCounter`]).
    #[inline]
    pub(crate) fn acquired_shared(&self, mode: usize) -> bool {
        let reads = self.modes[mode].reads.as_ref();
        debug_assert!(reads.is_some(), "a shared acquisition of an exclusive-only mode");
        let n = reads.map_or(1, PerThreadCounter::increment);
        n & self.sample_mask == 0
    }

    /// Records a contended acquisition's wait. `exclusive`: the caller now
    /// holds the lock exclusively (plain stores suffice).
    fn waited(&self, mode: usize, start: u64, end: u64, exclusive: bool) {
        let s = &self.modes[mode];
        let wait = end.saturating_sub(start);
        if exclusive {
            let add = |a: &AtomicU64, v: u64| {
                a.store(a.load(Ordering::Relaxed).saturating_add(v), Ordering::Relaxed)
            };
            add(&s.contentions, 1);
            add(&s.wait_ns, wait);
            if wait > s.wait_max_ns.load(Ordering::Relaxed) {
                s.wait_max_ns.store(wait, Ordering::Relaxed);
            }
            s.wait_hist.record_exclusive(wait);
        } else {
            s.contentions.fetch_add(1, Ordering::Relaxed);
            s.wait_ns.fetch_add(wait, Ordering::Relaxed);
            s.wait_max_ns.fetch_max(wait, Ordering::Relaxed);
            s.wait_hist.record(wait);
        }
        if wait >= self.threshold_ns {
            s.slow.fetch_add(1, Ordering::Relaxed);
            self.event(s.mode, LockEventKind::SlowAcquire, wait, end);
        }
    }

    /// Records a measured hold; `(asked, start)`: when the acquire began
    /// and when the hold did. `exclusive`: the caller still holds the lock
    /// exclusively, so the counts take plain stores; otherwise (readers)
    /// read-modify-writes.
    pub(crate) fn held(&self, mode: usize, (asked, start): (u64, u64), exclusive: bool) {
        let s = &self.modes[mode];
        let end = self.now();
        if let Some(trace) = &self.trace {
            trace.record(asked, start, end);
        }
        let held = end.saturating_sub(start);
        let scaled = held.saturating_mul(u64::from(self.sample_every));
        if exclusive {
            let add = |a: &AtomicU64, v: u64| {
                a.store(a.load(Ordering::Relaxed).saturating_add(v), Ordering::Relaxed)
            };
            add(&s.hold_ns, scaled);
            add(&s.hold_samples, 1);
            if held > s.hold_max_ns.load(Ordering::Relaxed) {
                s.hold_max_ns.store(held, Ordering::Relaxed);
            }
            s.hold_hist.record_exclusive(held);
        } else {
            s.hold_ns.fetch_add(scaled, Ordering::Relaxed);
            s.hold_samples.fetch_add(1, Ordering::Relaxed);
            s.hold_max_ns.fetch_max(held, Ordering::Relaxed);
            s.hold_hist.record(held);
        }
        if held >= self.threshold_ns {
            s.long.fetch_add(1, Ordering::Relaxed);
            self.event(s.mode, LockEventKind::LongHold, held, end);
        }
    }

    /// The slow path of every acquire, after its uncontended attempt failed:
    /// runs `block` (a blocking or timed acquire) between two clock reads and
    /// records the wait, or the timeout when `block` gives up. Returns the
    /// guard and when the acquire began and ended.
    pub(crate) fn contended<G>(
        &self,
        mode: usize,
        exclusive: bool,
        block: impl FnOnce() -> Option<G>,
    ) -> Option<(G, (u64, u64))> {
        let start = self.now();
        match block() {
            Some(guard) => {
                let end = self.now();
                self.waited(mode, start, end, exclusive);
                Some((guard, (start, end)))
            }
            None => {
                self.timed_out(mode, start);
                None
            }
        }
    }

    /// A queued taker got the lock: its wait from `since` to now, if it
    /// waited. Returns the acquire's span.
    pub(crate) fn queued(&self, mode: usize, since: Option<u64>, exclusive: bool) -> Option<(u64, u64)> {
        let since = since?;
        let end = self.now();
        self.waited(mode, since, end, exclusive);
        Some((since, end))
    }

    /// `mode`'s waits (uncontended acquisitions in the first bucket: they
    /// waited 0) and measured holds, by bucket.
    pub(crate) fn histograms(&self, mode: usize) -> (crate::pool::WaitHistogram, crate::pool::WaitHistogram) {
        let s = &self.modes[mode];
        let mut waits = s.wait_hist.counts();
        let uncontended = s.acquisitions().saturating_sub(s.contentions.load(Ordering::Relaxed));
        waits[0] = waits[0].saturating_add(uncontended);
        let timeouts = s.timeouts.load(Ordering::Relaxed);
        (
            crate::pool::WaitHistogram::new(waits, timeouts, Duration::ZERO),
            crate::pool::WaitHistogram::new(s.hold_hist.counts(), 0, Duration::ZERO),
        )
    }

    fn timed_out(&self, mode: usize, start: u64) {
        self.modes[mode].timeouts.fetch_add(1, Ordering::Relaxed);
        if let Some(trace) = &self.trace {
            trace.record_failed(start, self.now(), crate::pool::trace::TraceOutcome::Timeout);
        }
    }

    fn event(&self, mode: LockMode, kind: LockEventKind, nanos: u64, at: u64) {
        registry().push_event(LockEvent {
            lock: Arc::clone(&self.name),
            mode,
            kind,
            duration: Duration::from_nanos(nanos),
            at: Duration::from_nanos(at),
        });
    }

    pub(crate) fn snapshots(&self) -> Vec<LockSnapshot> {
        let at = Duration::from_nanos(self.now());
        let d = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
        self.modes
            .iter()
            .map(|s| LockSnapshot {
                name: Arc::clone(&self.name),
                mode: s.mode,
                acquisitions: s.acquisitions(),
                contentions: s.contentions.load(Ordering::Relaxed),
                wait_total: d(&s.wait_ns),
                wait_max: d(&s.wait_max_ns),
                hold_total: d(&s.hold_ns),
                hold_samples: s.hold_samples.load(Ordering::Relaxed),
                hold_max: d(&s.hold_max_ns),
                timeouts: s.timeouts.load(Ordering::Relaxed),
                owner_changes: s.owner_changes.load(Ordering::Relaxed),
                slow_acquires: s.slow.load(Ordering::Relaxed),
                long_holds: s.long.load(Ordering::Relaxed),
                at,
            })
            .collect()
    }

    fn publish(&self) {
        for ((s, m), snap) in self.modes.iter().zip(&self.metrics).zip(self.snapshots()) {
            m.publish(s, &snap);
        }
    }
}

/// Every live profiled lock in the process. Get it with [`registry`].
#[derive(Debug)]
pub struct LockRegistry {
    locks: Mutex<Vec<Weak<LockShared>>>,
    events: Mutex<VecDeque<LockEvent>>,
    events_total: AtomicU64,
    publisher: std::sync::Once,
}

/// Recent events kept by the registry.
pub const EVENTS_KEPT: usize = 1024;

static REGISTRY: LazyLock<LockRegistry> = LazyLock::new(|| LockRegistry {
    locks: Mutex::new(Vec::new()),
    events: Mutex::new(VecDeque::new()),
    events_total: AtomicU64::new(0),
    publisher: std::sync::Once::new(),
});

/// The process-wide registry of profiled locks.
pub fn registry() -> &'static LockRegistry {
    &REGISTRY
}

/// How often the background publisher copies lock counts to the metrics
/// facade and records a history snapshot.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(2);

impl LockRegistry {
    fn register(&self, lock: &Arc<LockShared>) {
        let mut locks = self.locks.lock();
        locks.retain(|w| w.strong_count() > 0);
        locks.push(Arc::downgrade(lock));
        drop(locks);
        self.publisher.call_once(|| {
            let spawned = std::thread::Builder::new().name("tidepool-locks".into()).spawn(|| loop {
                std::thread::sleep(PUBLISH_INTERVAL);
                registry().publish();
                registry().record_history();
            });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "no lock-metrics publisher thread; call registry().publish() yourself");
            }
        });
    }

    fn live(&self) -> Vec<Arc<LockShared>> {
        self.locks.lock().iter().filter_map(Weak::upgrade).collect()
    }

    fn push_event(&self, event: LockEvent) {
        self.events_total.fetch_add(1, Ordering::Relaxed);
        let mut events = self.events.lock();
        if events.len() == EVENTS_KEPT {
            events.pop_front();
        }
        events.push_back(event);
    }

    /// Every live lock, one row per mode, sorted by total wait (longest
    /// first), then by name.
    pub fn snapshot(&self) -> Vec<LockSnapshot> {
        let mut rows: Vec<LockSnapshot> = self.live().iter().flat_map(|l| l.snapshots()).collect();
        rows.sort_by(|a, b| b.wait_total.cmp(&a.wait_total).then_with(|| a.name.cmp(&b.name)));
        rows
    }

    /// Appends a snapshot of every live lock to its history (the last
    /// [`HISTORY_LEN`] are kept). The background publisher does this every
    /// [`PUBLISH_INTERVAL`].
    pub fn record_history(&self) {
        for lock in self.live() {
            let rows = lock.snapshots();
            let mut history = lock.history.lock();
            if history.len() == HISTORY_LEN {
                history.pop_front();
            }
            history.push_back(rows);
        }
    }

    /// The recorded history of the lock called `name` (oldest first), one
    /// entry per recording with a row per mode.
    pub fn history(&self, name: &str) -> Vec<Vec<LockSnapshot>> {
        self.live()
            .iter()
            .filter(|l| &*l.name == name)
            .flat_map(|l| l.history.lock().iter().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// The most recent slow-acquire and long-hold events (up to
    /// [`EVENTS_KEPT`]), oldest first.
    pub fn recent_events(&self) -> Vec<LockEvent> {
        self.events.lock().iter().cloned().collect()
    }

    /// Events ever recorded, including those no longer kept.
    pub fn events_total(&self) -> u64 {
        self.events_total.load(Ordering::Relaxed)
    }

    /// Copies every live lock's counts to the metrics facade. The background
    /// publisher does this every [`PUBLISH_INTERVAL`]; call it before a
    /// scrape you need exact.
    pub fn publish(&self) {
        for lock in self.live() {
            lock.publish();
        }
    }
}
