//! Adapters for the pools services already run: [r2d2] (cargo
//! feature `r2d2`), [bb8] (`bb8`) and [deadpool]
//! (`deadpool`).
//!
//! Each adapter exports the very `tidepool_pool_*` series a
//! [`tidepool::Pool`](crate::pool::Pool) exports (same names, labels and
//! buckets: the bundled dashboards and rules work unchanged), is a
//! [`WatchedPool`] (the agent's monitor and a soak's judge it alike; see
//! [`Agent::watch_pool`](crate::Agent::watch_pool)), and can record the
//! trace format `tidepool replay` reads ([`Instruments::record_trace`]).
//!
//! What each peer can tell, and so which series are exact, estimated or
//! registered at zero:
//!
//! | series | r2d2 | bb8 | deadpool |
//! |---|---|---|---|
//! | `acquires_total{path}` | exact count; `path` from the wait (> 100 µs: waited) | exact (its statistics) | exact count; `path` from the wait |
//! | `timeouts_total` | exact (event) | exact (its statistics) | exact (through `get`) |
//! | `wait_seconds` | every checkout (event) | through `get` | through `get` |
//! | `use_seconds` | every checkin (event) | through `get`'s guard | through `get`'s guard |
//! | `create_seconds` | zero (r2d2 does not time `connect`) | zero | zero |
//! | `created_total{reason}` | exact, `demand` | exact, `demand` | objects served fresh, `demand` |
//! | `destroyed_total{reason}` | exact, `closed` | exact by cause | created − alive, `recycle_failed` |
//! | `factory_errors_total` | zero (r2d2 retries `connect` inside `get`) | through `get` | through `get` |
//! | `pending_requests` | through `get` | exact (its statistics) | exact (its status) |
//! | `objects{state}`, `size_*`, ratios | its state | its state | its status |
//! | `leaks_total`, `prewarm_seconds` | zero | zero | zero |
//!
//! "Through `get`": the adapter's own `get`, which times the wait and wraps
//! the object to time the hold; objects taken from the peer's pool directly
//! are counted where the peer counts them, and not timed.
//!
//! The series are published by a thread per adapter every second (and when
//! the monitor reads the pool), which ends when the adapter is dropped.

#[cfg(feature = "bb8")]
pub mod bb8;
#[cfg(feature = "deadpool")]
pub mod deadpool;
#[cfg(feature = "r2d2")]
pub mod r2d2;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use metrics::SharedString;

use crate::clock::Clock;
use crate::monitor::WatchedPool;
use crate::pool::metrics::PoolMetrics;
use crate::pool::trace::{TraceOutcome, TraceRecorder};
use crate::pool::{DestroyReason, Status, WaitHistogram};

/// A checkout that took longer than this queued first (`path="waited"`),
/// for peers that do not say.
pub const WAITED_AFTER: Duration = Duration::from_micros(100);

/// How often each adapter's thread publishes its series.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// The recorder behind every adapter: the pool series of one named pool,
/// fed from a peer's events, statistics and timed `get`s.
///
/// ```
/// use std::time::Duration;
/// use tidepool::adapters::Instruments;
/// let instruments = Instruments::new("db");
/// let start = instruments.now_ns();
/// instruments.acquired(start, Duration::from_micros(40));
/// instruments.released(start, Duration::from_micros(40), Duration::from_millis(3));
/// assert_eq!(instruments.waits().count(), 1);
/// ```
#[derive(Debug)]
pub struct Instruments {
    name: String,
    metrics: PoolMetrics,
    clock: Clock,
    acquires_direct: AtomicU64,
    acquires_waited: AtomicU64,
    timeouts: AtomicU64,
    /// The longest wait that timed out, ns (the peer's acquire timeout).
    timeout_ns: AtomicU64,
    factory_errors: AtomicU64,
    created: AtomicU64,
    destroyed: [AtomicU64; DestroyReason::COUNT],
    /// Callers inside the adapter's `get`.
    pending: AtomicI64,
    trace: OnceLock<Arc<TraceRecorder>>,
}

impl Instruments {
    /// The series of the pool `name`, registered at zero.
    pub fn new(name: impl Into<String>) -> Arc<Instruments> {
        let name = name.into();
        let metrics = PoolMetrics::register(&SharedString::from(name.clone()), 0, 0);
        Arc::new(Instruments {
            name,
            metrics,
            clock: Clock::system(),
            acquires_direct: AtomicU64::new(0),
            acquires_waited: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            timeout_ns: AtomicU64::new(30_000_000_000),
            factory_errors: AtomicU64::new(0),
            created: AtomicU64::new(0),
            destroyed: std::array::from_fn(|_| AtomicU64::new(0)),
            pending: AtomicI64::new(0),
            trace: OnceLock::new(),
        })
    }

    /// The pool's name (the `pool` label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Now on the instruments' clock, ns: the `start` of a `get`.
    pub fn now_ns(&self) -> u64 {
        self.clock.now_nanos()
    }

    /// Records, from now on, one operation in `every` into a trace of at
    /// most `capacity` operations (the format of `tidepool replay`), and
    /// returns it; a second call returns the first recorder.
    pub fn record_trace(&self, every: u64, capacity: usize) -> Arc<TraceRecorder> {
        Arc::clone(self.trace.get_or_init(|| Arc::new(TraceRecorder::new(every, capacity))))
    }

    /// The acquire timeout the peer applies, when known (r2d2, deadpool;
    /// else learnt from the first timeout).
    pub fn set_acquire_timeout(&self, timeout: Duration) {
        self.timeout_ns.store(duration_ns(timeout), Ordering::Relaxed);
    }

    /// A `get` started at `start_ns` got an object after `wait`.
    pub fn acquired(&self, start_ns: u64, wait: Duration) {
        let _ = start_ns;
        self.metrics.wait_buckets.record(duration_ns(wait));
        let path = if wait > WAITED_AFTER { &self.acquires_waited } else { &self.acquires_direct };
        path.fetch_add(1, Ordering::Relaxed);
    }

    /// The object of a `get` started at `start_ns`, served after `wait`,
    /// came back after a hold of `hold`.
    pub fn released(&self, start_ns: u64, wait: Duration, hold: Duration) {
        let hold_ns = duration_ns(hold);
        self.metrics.use_buckets.record(hold_ns);
        if let Some(trace) = self.trace.get() {
            let checkout = start_ns + duration_ns(wait);
            trace.record(start_ns, checkout, checkout + hold_ns);
        }
    }

    /// A `get` started at `start_ns` gave up after `waited`.
    pub fn timed_out(&self, start_ns: u64, waited: Duration) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
        self.timeout_ns.fetch_max(duration_ns(waited), Ordering::Relaxed);
        if let Some(trace) = self.trace.get() {
            trace.record_failed(start_ns, start_ns + duration_ns(waited), TraceOutcome::Timeout);
        }
    }

    /// A `get` started at `start_ns` failed after `waited` because the
    /// object could not be made.
    pub fn factory_error(&self, start_ns: u64, waited: Duration) {
        self.factory_errors.fetch_add(1, Ordering::Relaxed);
        if let Some(trace) = self.trace.get() {
            trace.record_failed(start_ns, start_ns + duration_ns(waited), TraceOutcome::Error);
        }
    }

    /// `n` objects were created (on demand).
    pub fn created(&self, n: u64) {
        self.created.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` objects were destroyed, for `reason`.
    pub fn destroyed(&self, reason: DestroyReason, n: u64) {
        self.destroyed[reason as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the totals a peer counts itself (its statistics), replacing
    /// what was recorded: acquires by path, timeouts, creations and
    /// destructions by reason.
    pub fn set_totals(&self, totals: &Totals) {
        self.acquires_direct.store(totals.acquires_direct, Ordering::Relaxed);
        self.acquires_waited.store(totals.acquires_waited, Ordering::Relaxed);
        self.timeouts.store(totals.timeouts, Ordering::Relaxed);
        self.created.store(totals.created, Ordering::Relaxed);
        for (slot, &(reason, n)) in totals.destroyed.iter().enumerate() {
            let _ = slot;
            self.destroyed[reason as usize].store(n, Ordering::Relaxed);
        }
    }

    /// Counts a caller into (`+1`) or out of (`-1`) the adapter's `get`.
    fn waiting(&self, delta: i64) {
        self.pending.fetch_add(delta, Ordering::Relaxed);
    }

    /// Callers inside the adapter's `get` now.
    pub fn pending(&self) -> usize {
        usize::try_from(self.pending.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// The waits so far, as the monitor reads a pool's.
    pub fn waits(&self) -> WaitHistogram {
        let counts = self.metrics.wait_buckets.counts();
        WaitHistogram::new(
            counts,
            self.timeouts.load(Ordering::Relaxed),
            Duration::from_nanos(self.timeout_ns.load(Ordering::Relaxed)),
        )
    }

    /// Publishes the levels `status` and every total recorded so far.
    pub fn publish(&self, status: &Status) {
        let m = &self.metrics;
        m.idle.set(status.idle as f64);
        m.used.set(status.in_use as f64);
        m.target.set(status.target as f64);
        m.pending.set(status.pending as f64);
        m.utilization.set(status.utilization());
        metrics::gauge!(crate::pool::metrics::SIZE_MIN, "pool" => self.name.clone()).set(status.min as f64);
        metrics::gauge!(crate::pool::metrics::SIZE_MAX, "pool" => self.name.clone()).set(status.max as f64);
        let (direct, waited) =
            (self.acquires_direct.load(Ordering::Relaxed), self.acquires_waited.load(Ordering::Relaxed));
        let created = self.created.load(Ordering::Relaxed);
        let acquires = direct + waited;
        m.reuse.set(if acquires == 0 { 0.0 } else { 1.0 - (created.min(acquires) as f64 / acquires as f64) });
        m.acquires_direct.absolute(direct);
        m.acquires_waited.absolute(waited);
        m.timeouts.absolute(self.timeouts.load(Ordering::Relaxed));
        m.factory_errors.absolute(self.factory_errors.load(Ordering::Relaxed));
        // `created{reason="demand"}`: peers grow on demand.
        m.created[1].absolute(created);
        for (counter, value) in m.destroyed.iter().zip(&self.destroyed) {
            counter.absolute(value.load(Ordering::Relaxed));
        }
        m.use_buckets.drain_into(&m.use_time);
        m.wait_buckets.drain_into(&m.wait);
    }
}

/// Totals a peer keeps itself, for [`Instruments::set_totals`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Gets served without queueing.
    pub acquires_direct: u64,
    /// Gets that queued first.
    pub acquires_waited: u64,
    /// Gets that timed out.
    pub timeouts: u64,
    /// Objects created.
    pub created: u64,
    /// Objects destroyed, by reason.
    pub destroyed: Vec<(DestroyReason, u64)>,
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What an adapter is to the monitor: its instruments and a way to read the
/// peer's levels.
pub(crate) trait Peer: Send + Sync + 'static {
    fn instruments(&self) -> &Instruments;
    fn status(&self) -> Status;
    /// Refreshes totals the peer counts itself (default: none).
    fn refresh(&self) {}
}

/// Any peer as a [`WatchedPool`].
pub(crate) struct Watched<P: Peer>(pub(crate) Arc<P>);

impl<P: Peer> WatchedPool for Watched<P> {
    fn name(&self) -> &str {
        self.0.instruments().name()
    }
    fn status(&self) -> Status {
        self.0.status()
    }
    fn waits(&self) -> WaitHistogram {
        self.0.refresh();
        self.0.instruments().waits()
    }
}

/// Publishes `peer`'s series every [`PUBLISH_EVERY`] until it is dropped.
pub(crate) fn spawn_publisher<P: Peer>(peer: &Arc<P>) {
    let weak: Weak<P> = Arc::downgrade(peer);
    let name = format!("tidepool-publish-{}", peer.instruments().name());
    let spawned = std::thread::Builder::new().name(name).spawn(move || loop {
        match weak.upgrade() {
            Some(peer) => {
                peer.refresh();
                peer.instruments().publish(&peer.status());
            }
            None => return,
        }
        std::thread::sleep(PUBLISH_EVERY);
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the adapter's publishing thread: series publish on reads only");
    }
}

/// Counts a caller inside a `get` while it lives.
pub(crate) struct InGet<'a>(&'a Instruments);

impl<'a> InGet<'a> {
    pub(crate) fn enter(instruments: &'a Instruments) -> InGet<'a> {
        instruments.waiting(1);
        InGet(instruments)
    }
}

impl Drop for InGet<'_> {
    fn drop(&mut self) {
        self.0.waiting(-1);
    }
}
