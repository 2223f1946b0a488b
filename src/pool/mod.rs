//! A bounded, instrumented object pool with adaptive sizing.
//!
//! [`Pool<T>`] keeps expensive objects (parsers, detectors, connections) for
//! reuse. Idle objects sit in a lock-free bounded queue; callers that find
//! none wait in a FIFO line; a [`SizingPolicy`] moves the creation ceiling
//! between `min_size` and `max_size`. Every event is counted in atomics
//! ([`Pool::status`], [`Pool::stats`]) and in the `metrics` facade
//! ([`metrics`] lists the names).
//!
//! # Examples
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tidepool::pool::Pool;
//!
//! let pool = Pool::builder("buffers")
//!     .min_size(1)
//!     .max_size(4)
//!     .factory(|| Ok(Vec::<u8>::with_capacity(4096)))
//!     .build()?;
//!
//! {
//!     let mut buf = pool.acquire_blocking()?;
//!     buf.extend_from_slice(b"hello");
//! } // returned to the pool here
//!
//! assert_eq!(pool.stats().acquires(), 1);
//! # Ok(()) }
//! ```

mod builder;
mod custody;
use custody::Handle;
mod error;
mod guard;
mod handoff;
pub mod metrics;
mod settings;
mod sizing;
mod status;
pub mod trace;
mod waits;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use futures_util::FutureExt;
use parking_lot::Mutex;

pub use builder::PoolBuilder;
pub use error::{AcquireError, BoxError, BuildError};
pub use guard::PoolGuard;
pub use settings::{PoolSettings, Sizing};
pub use sizing::{FixedPolicy, SizingInput, SizingPolicy, UtilizationPolicy};
pub use status::{Stats, Status};
pub use waits::{WaitHistogram, WAIT_BUCKETS};

use builder::{Factory, LeakHook, RecycleFn};
use handoff::{Grant, Handoff, Wake};
use metrics::PoolMetrics;
use status::Counters;

use crate::clock::Clock;

/// The hard cap on `max_size`.
pub const MAX_POOL_SIZE: usize = 4096;

/// Why an object left the pool, as the `reason` label of
/// `tidepool_pool_destroyed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DestroyReason {
    /// Idle longer than `max_idle_time`.
    IdleTimeout = 0,
    /// Older than `max_lifetime`.
    MaxLifetime = 1,
    /// The recycle hook failed or panicked.
    RecycleFailed = 2,
    /// Retired by the sizing policy.
    Retired = 3,
    /// Taken out of the pool with [`PoolGuard::detach`].
    Detached = 4,
    /// Its holder panicked while holding it.
    Panicked = 5,
    /// The pool was closed.
    Closed = 6,
}

impl DestroyReason {
    /// Number of reasons.
    pub const COUNT: usize = 7;
    /// Every reason, in `as usize` order.
    pub const ALL: [DestroyReason; Self::COUNT] = [
        DestroyReason::IdleTimeout,
        DestroyReason::MaxLifetime,
        DestroyReason::RecycleFailed,
        DestroyReason::Retired,
        DestroyReason::Detached,
        DestroyReason::Panicked,
        DestroyReason::Closed,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DestroyReason::IdleTimeout => "idle_timeout",
            DestroyReason::MaxLifetime => "max_lifetime",
            DestroyReason::RecycleFailed => "recycle_failed",
            DestroyReason::Retired => "retired",
            DestroyReason::Detached => "detached",
            DestroyReason::Panicked => "panicked",
            DestroyReason::Closed => "closed",
        }
    }
}

/// Why an object was created (index into [`Stats::created`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CreateReason {
    Prewarm = 0,
    Demand = 1,
    Replenish = 2,
}

/// Raised when a guard has been held longer than the leak threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeakEvent {
    /// The pool's name.
    pub pool: String,
    /// How long the guard had been held when the leak was noticed.
    pub held: Duration,
    /// The threshold it crossed.
    pub threshold: Duration,
}

/// What one [`Pool::maintain`] pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Maintenance {
    /// Leaks newly found.
    pub leaks: usize,
    /// Idle objects destroyed for idle time or lifetime.
    pub expired: usize,
    /// Objects created to get back to `min_size`.
    pub replenished: usize,
    /// Idle objects retired because the target fell.
    pub retired: usize,
    /// The new target if the sizing policy ran this pass, or if callers were
    /// waiting and the target rose for them.
    pub new_target: Option<usize>,
}

/// The default of [`PoolBuilder::hold_sample_every`]: one hold in 16 is
/// timed on the system clock.
pub const DEFAULT_HOLD_SAMPLE_EVERY: u32 = 16;

/// A slot's checkout stamp while held by a checkout that read no clock: the
/// leak scan stamps it with its own time the first time it sees it.
const STAMP_UNTIMED: u64 = 1;

/// A slot's checkout stamp for a checkout at `now` (0 is idle, 1 untimed).
fn stamp_of(now: u64) -> u64 {
    now.saturating_add(2)
}

/// The checkout time a timed stamp (above [`STAMP_UNTIMED`]) stands for.
fn checkout_of(stamp: u64) -> u64 {
    stamp - 2
}

thread_local!(
    /// The hold sampler's xorshift64 state (0: not yet seeded).
    static HOLD_RNG: std::cell::Cell<u64> = const { std::cell::Cell::new(0) }
);

/// Whether to time this checkout's hold: always with `mask` 0, else one in
/// `mask + 1` at random (per thread, so that pools sharing a thread are
/// sampled alike, with no shared counter).
#[inline]
fn hold_timed(mask: u64) -> bool {
    mask == 0
        || HOLD_RNG.with(|cell| {
            let mut x = cell.get();
            if x == 0 {
                // Seeded from the thread's id: distinct, never 0.
                x = crate::per_thread::thread_id().wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cell.set(x);
            (x >> 32) & mask == 0
        })
}

/// A pooled object and its slot id. Kept small (its times live in
/// [`Slots`]): it moves between the idle queue, the guard and the caller.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    value: T,
    slot: u32,
}

/// Per-object bookkeeping, indexed by slot: checkout stamps for leak
/// detection, and the times expiry needs. Only the object's current owner
/// touches its times (its creator, its holder, or the maintenance pass that
/// popped it), so they are relaxed: a hand-over (the idle queue's push and
/// pop, a waiter's mutex) orders them, and a slot id is reused only through
/// the `free` queue, after its object's last read.
#[derive(Debug)]
struct Slots {
    free: ArrayQueue<u32>,
    /// `checkout time + 2` while held ([`stamp_of`]), [`STAMP_UNTIMED`]
    /// while held by a checkout that read no clock, 0 while idle.
    checkout_ns: Box<[AtomicU64]>,
    /// The checkout stamp whose leak was last reported, so each checkout is
    /// reported once without clearing on return (no race with the scan).
    leaked: Box<[AtomicU64]>,
    /// When the object was created.
    created_ns: Box<[AtomicU64]>,
    /// When it was last put back idle (read only with an idle limit).
    idle_since_ns: Box<[AtomicU64]>,
}

#[derive(Debug)]
struct SizingState {
    policy: Box<dyn SizingPolicy>,
    interval_start_ns: u64,
    ticks: u64,
    in_use_sum: u64,
    peak_in_use: usize,
    stats_at_start: Stats,
}

pub(crate) struct Inner<T> {
    name: String,
    /// The settings the pool was built with.
    settings: PoolSettings,
    core: Handoff<Entry<T>>,
    min: usize,
    max: usize,
    acquire_timeout: Duration,
    max_idle_ns: Option<u64>,
    max_lifetime_ns: Option<u64>,
    leak_threshold: Option<Duration>,
    sizing_interval_ns: u64,
    maintenance_interval: Option<Duration>,
    factory: Factory<T>,
    recycle: Option<RecycleFn<T>>,
    on_leak: Option<LeakHook>,
    trace: Option<Arc<trace::TraceRecorder>>,
    /// A timed hold counts this many times (1: every hold is timed).
    hold_every: u64,
    /// `hold_every - 1`, for [`hold_timed`].
    hold_mask: u64,
    /// A return reads the clock whatever the sampling: an idle or lifetime
    /// limit needs the time.
    return_reads_clock: bool,
    clock: Clock,
    slots: Slots,
    counters: Counters,
    /// Guards out (objects in use): see [`custody`].
    guards: custody::GuardCount,
    metrics: PoolMetrics,
    sizing: Mutex<SizingState>,
    prewarm_ns: AtomicU64,
    /// Direct acquires served by a new object (their wait is the creation).
    direct_fresh: AtomicU64,
    /// Zero-wait samples already added to the wait histogram.
    zero_waits_published: AtomicU64,
    /// No idle object can expire before this clock reading (ns): a lower
    /// bound of the deadlines (`idle_since + max_idle_time`,
    /// `created + max_lifetime`) of the objects put idle since the last
    /// expiry pass, so maintenance passes over the idle queue only when
    /// one may be due, not every tick whatever the pool's size.
    next_expiry_ns: AtomicU64,
    /// The last expiry pass kept objects past their idle deadline only
    /// because the pool was at `min_size`: growing above it re-arms a pass.
    expiry_held_by_min: AtomicBool,
}

/// A bounded pool of `T`. Cloning is cheap and shares the pool.
///
/// See the [module docs](self) for an example and [`PoolBuilder`] for the
/// settings.
pub struct Pool<T> {
    inner: Arc<Handle<T>>,
}

impl<T> Clone for Pool<T> {
    fn clone(&self) -> Self {
        Pool { inner: Arc::clone(&self.inner) }
    }
}

impl<T: Send + 'static> std::fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("name", &self.inner.name).field("status", &self.status()).finish()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl<T: Send + 'static> Pool<T> {
    /// Starts a builder for a pool called `name` (the `pool` label).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tidepool::pool::Pool::builder("ids").factory(|| Ok(0u64)).build();
    /// assert!(pool.is_ok());
    /// ```
    pub fn builder(name: impl Into<String>) -> PoolBuilder<T> {
        PoolBuilder::new(name)
    }

    pub(crate) fn from_builder(b: PoolBuilder<T>) -> Pool<T> {
        let label: ::metrics::SharedString = b.name.clone().into();
        let settings = b.settings.clone();
        let policy = b.policy.unwrap_or_else(|| settings.sizing_policy());
        let free = ArrayQueue::new(settings.max_size);
        for slot in 0..settings.max_size {
            // Capacity is exactly max_size: every push succeeds.
            let _ = free.push(slot as u32);
        }
        let now = b.clock.now_nanos();
        // A virtual clock is read for free and must keep runs exact; a
        // trace records every hold it keeps.
        let hold_every = if b.clock.is_system() && b.trace.is_none() { b.hold_sample_every } else { 1 };
        let metrics = PoolMetrics::register(&label, settings.min_size, settings.max_size);
        metrics.target.set(settings.min_size as f64);
        let inner = Inner {
            core: Handoff::new(settings.max_size, settings.min_size),
            min: settings.min_size,
            max: settings.max_size,
            acquire_timeout: settings.acquire_timeout,
            max_idle_ns: settings.max_idle_time.map(nanos),
            max_lifetime_ns: settings.max_lifetime.map(nanos),
            leak_threshold: settings.leak_threshold,
            sizing_interval_ns: nanos(settings.sizing_interval),
            maintenance_interval: b.maintenance_thread.then_some(settings.maintenance_interval),
            // validate() ran: the factory is present.
            factory: b.factory.unwrap_or_else(|| Factory::Sync(Arc::new(|| Err("no factory".into())))),
            recycle: b.recycle,
            on_leak: b.on_leak,
            trace: b.trace,
            hold_every,
            hold_mask: hold_every - 1,
            return_reads_clock: settings.max_idle_time.is_some() || settings.max_lifetime.is_some(),
            slots: Slots {
                free,
                checkout_ns: (0..settings.max_size).map(|_| AtomicU64::new(0)).collect(),
                leaked: (0..settings.max_size).map(|_| AtomicU64::new(0)).collect(),
                created_ns: (0..settings.max_size).map(|_| AtomicU64::new(0)).collect(),
                idle_since_ns: (0..settings.max_size).map(|_| AtomicU64::new(0)).collect(),
            },
            counters: Counters::default(),
            guards: custody::GuardCount::new(),
            metrics,
            sizing: Mutex::new(SizingState {
                policy,
                interval_start_ns: now,
                ticks: 0,
                in_use_sum: 0,
                peak_in_use: 0,
                stats_at_start: Stats::default(),
            }),
            prewarm_ns: AtomicU64::new(0),
            direct_fresh: AtomicU64::new(0),
            zero_waits_published: AtomicU64::new(0),
            next_expiry_ns: AtomicU64::new(u64::MAX),
            expiry_held_by_min: AtomicBool::new(false),
            clock: b.clock,
            name: b.name,
            settings,
        };
        Pool { inner: Arc::new(Handle::new(inner)) }
    }

    /// Creates `min_size` objects in parallel, one thread each (in batches of
    /// 64), and records how long it took.
    fn prewarm_blocking(&self) -> Result<(), BuildError> {
        let inner = &self.inner;
        let start = inner.clock.now_nanos();
        let mut failure = None;
        let mut remaining = inner.min;
        while remaining > 0 && failure.is_none() {
            let batch = remaining.min(64);
            remaining -= batch;
            let results: Vec<Result<Entry<T>, AcquireError>> = std::thread::scope(|scope| {
                let create = || inner.reserve_and_create_blocking(CreateReason::Prewarm);
                let spawned: Vec<_> =
                    (0..batch).map(|_| std::thread::Builder::new().spawn_scoped(scope, create)).collect();
                spawned
                    .into_iter()
                    .map(|handle| match handle {
                        Ok(handle) => handle.join().unwrap_or_else(|p| Err(inner.panicked(p.as_ref()))),
                        // No thread to be had: create on this one instead.
                        Err(_) => create(),
                    })
                    .collect()
            });
            for result in results {
                match result {
                    Ok(entry) => inner.put_idle(entry),
                    Err(e) => failure = failure.or(Some(e)),
                }
            }
        }
        self.finish_prewarm(start, failure)
    }

    async fn prewarm_async(&self) -> Result<(), BuildError> {
        let inner = &self.inner;
        let start = inner.clock.now_nanos();
        let futures = (0..inner.min).map(|_| inner.reserve_and_create_async(CreateReason::Prewarm));
        let mut failure = None;
        for result in futures_util::future::join_all(futures).await {
            match result {
                Ok(entry) => inner.put_idle(entry),
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        self.finish_prewarm(start, failure)
    }

    fn finish_prewarm(&self, start: u64, failure: Option<AcquireError>) -> Result<(), BuildError> {
        let inner = &self.inner;
        if let Some(source) = failure {
            inner.drain_idle(DestroyReason::Closed);
            inner.core.close();
            return Err(BuildError::Prewarm { pool: inner.name.clone(), source });
        }
        let took = inner.clock.now_nanos().saturating_sub(start);
        inner.prewarm_ns.store(took, Ordering::Relaxed);
        inner.metrics.prewarm.set(took as f64 / 1e9);
        inner.publish();
        Ok(())
    }

    fn start_maintenance(&self) -> Result<(), BuildError> {
        let Some(interval) = self.inner.maintenance_interval else { return Ok(()) };
        if !self.inner.clock.is_system() {
            return Ok(());
        }
        let weak: Weak<Inner<T>> = self.inner.downgrade();
        std::thread::Builder::new()
            .name(format!("tidepool-maint-{}", self.inner.name))
            .spawn(move || loop {
                std::thread::park_timeout(interval);
                let Some(inner) = weak.upgrade() else { return };
                if inner.core.is_closed() {
                    return;
                }
                // A panicking on_leak hook or sizing policy (user code) must
                // not end maintenance for good.
                if catch_unwind(AssertUnwindSafe(|| inner.maintain())).is_err() {
                    tracing::error!(pool = %inner.name, "maintenance pass panicked; retrying next tick");
                }
            })
            .map_err(BuildError::Thread)?;
        Ok(())
    }

    /// Takes an idle object, or creates one if the pool is below its target,
    /// without waiting in line.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Exhausted`] if nothing is idle and the pool is at its
    /// target (or callers are already waiting); [`AcquireError::Closed`];
    /// a factory error if a creation was attempted and failed.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = tidepool::pool::Pool::builder("one").min_size(1).max_size(1).factory(|| Ok(1)).build()?;
    /// let held = pool.try_acquire()?;
    /// assert!(pool.try_acquire().is_err());
    /// drop(held);
    /// assert!(pool.try_acquire().is_ok());
    /// # Ok(()) }
    /// ```
    pub fn try_acquire(&self) -> Result<PoolGuard<T>, AcquireError> {
        let inner = &self.inner;
        if inner.core.is_closed() {
            return Err(inner.closed());
        }
        match inner.core.try_take() {
            Some(grant) => inner.serve_blocking(grant, None, Path::Direct),
            None => Err(AcquireError::Exhausted { pool: inner.name.clone() }),
        }
    }

    /// Acquires an object, parking the thread in line for up to the acquire
    /// timeout.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Timeout`], [`AcquireError::Closed`], or a factory error.
    #[inline]
    pub fn acquire_blocking(&self) -> Result<PoolGuard<T>, AcquireError> {
        let inner = &self.inner;
        if inner.core.is_closed() {
            return Err(inner.closed());
        }
        // No clock on the direct path: it waits zero by definition.
        if let Some(grant) = inner.core.try_take() {
            return inner.serve_blocking(grant, None, Path::Direct);
        }
        let start = inner.clock.now_nanos();
        let waiter =
            inner.core.enqueue(Wake::Thread(crate::primitives::current())).ok_or_else(|| inner.closed())?;
        let timeout = nanos(inner.acquire_timeout);
        let grant = loop {
            match waiter.poll() {
                handoff::Poll::Ready(grant) => break grant,
                handoff::Poll::Closed => return Err(inner.closed()),
                handoff::Poll::Pending => {}
            }
            let waited = inner.clock.now_nanos().saturating_sub(start);
            if waited >= timeout {
                match inner.core.cancel(&waiter) {
                    handoff::Poll::Ready(grant) => break grant,
                    handoff::Poll::Closed => return Err(inner.closed()),
                    handoff::Poll::Pending => return Err(inner.timed_out(start)),
                }
            }
            std::thread::park_timeout(Duration::from_nanos(timeout - waited));
        };
        inner.serve_blocking(grant, Some(start), Path::Waited)
    }

    /// Acquires an object, waiting in line asynchronously for up to the
    /// acquire timeout. Dropping the future gives up its place in line.
    ///
    /// The timeout sleeps on Tokio's timer: call it inside a Tokio runtime
    /// with time enabled.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Timeout`], [`AcquireError::Closed`], or a factory error.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = tidepool::pool::Pool::builder("conns")
    ///     .async_factory(|| async { Ok(String::from("connection")) })
    ///     .build_async()
    ///     .await?;
    /// let conn = pool.acquire().await?;
    /// assert_eq!(conn.as_str(), "connection");
    /// # Ok(()) }
    /// ```
    pub async fn acquire(&self) -> Result<PoolGuard<T>, AcquireError> {
        let inner = &self.inner;
        if inner.core.is_closed() {
            return Err(inner.closed());
        }
        if let Some(grant) = inner.core.try_take() {
            // An idle object is handed out without entering another future.
            return match inner.serve_idle(grant, None, Path::Direct) {
                Ok(guard) => Ok(guard),
                Err(start) => inner.create_and_serve_async(start, Path::Direct).await,
            };
        }
        let start = inner.clock.now_nanos();
        let waiter =
            inner.core.enqueue(Wake::Task(parking_lot::Mutex::new(None))).ok_or_else(|| inner.closed())?;
        let mut line = InLine { inner, waiter: Some(waiter), start };
        let timeout = nanos(inner.acquire_timeout);
        let waited = inner.clock.now_nanos().saturating_sub(start);
        let sleep = tokio::time::sleep(Duration::from_nanos(timeout.saturating_sub(waited)));
        let mut sleep = std::pin::pin!(sleep);
        let outcome = std::future::poll_fn(|cx| line.poll(cx, sleep.as_mut())).await;
        match outcome {
            Ok(grant) => match inner.serve_idle(grant, Some(start), Path::Waited) {
                Ok(guard) => Ok(guard),
                Err(start) => inner.create_and_serve_async(start, Path::Waited).await,
            },
            Err(e) => Err(e),
        }
    }

    /// Acquires without blocking: an object now if one is idle or may be
    /// created, otherwise a [`Ticket`] holding a place in the FIFO line. For
    /// single-threaded event loops that wait by polling; the acquire timeout
    /// is the caller's to enforce with [`Ticket::expire`].
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`], or a factory error when an object was
    /// created at once and that failed.
    pub fn acquire_or_queue(&self) -> Result<Admission<T>, AcquireError> {
        let inner = &self.inner;
        if inner.core.is_closed() {
            return Err(inner.closed());
        }
        if let Some(grant) = inner.core.try_take() {
            return inner.serve_blocking(grant, None, Path::Direct).map(Admission::Ready);
        }
        let start = inner.clock.now_nanos();
        let waiter = inner.core.enqueue(Wake::Poll).ok_or_else(|| inner.closed())?;
        let mut ticket = Ticket { inner: Arc::clone(inner), waiter: Some(waiter), start };
        // `enqueue` serves the line once: this caller may already be served.
        match ticket.poll() {
            Some(outcome) => outcome.map(Admission::Ready),
            None => Ok(Admission::Queued(ticket)),
        }
    }

    /// The pool's levels, from atomics only (see [`Status`]).
    pub fn status(&self) -> Status {
        self.inner.status()
    }

    /// Running totals since build (see [`Stats`]).
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Every acquire's wait since build, by bucket, and the timeouts: the
    /// pool's own histogram, from atomics (see [`WaitHistogram`]). The
    /// monitor's pool wait signal is the p99 of two of these subtracted.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = tidepool::pool::Pool::builder("db").factory(|| Ok(0u8)).build()?;
    /// let before = pool.wait_histogram();
    /// drop(pool.acquire_blocking()?);
    /// let interval = pool.wait_histogram().since(&before);
    /// assert_eq!(interval.count(), 1);
    /// assert!(interval.quantile(0.99) <= 0.000_01); // the first bucket, le 10 µs
    /// # Ok(()) }
    /// ```
    pub fn wait_histogram(&self) -> WaitHistogram {
        let inner = &self.inner;
        let stats = inner.stats();
        let mut counts = inner.metrics.wait_buckets.counts();
        // Direct acquires served by an idle object waited exactly zero and
        // are counted, not recorded (the fast path records nothing).
        counts[0] += stats.acquires_direct.saturating_sub(inner.direct_fresh.load(Ordering::Relaxed));
        WaitHistogram::new(counts, stats.timeouts, inner.acquire_timeout)
    }

    /// How long the prewarm of `min_size` objects took at build.
    pub fn prewarm_time(&self) -> Duration {
        Duration::from_nanos(self.inner.prewarm_ns.load(Ordering::Relaxed))
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The settings the pool was built with (a policy set in code aside).
    ///
    /// ```
    /// let pool = tidepool::pool::Pool::builder("db").max_size(8).factory(|| Ok(0u8)).build().unwrap();
    /// assert_eq!(pool.settings().max_size, 8);
    /// ```
    pub fn settings(&self) -> &PoolSettings {
        &self.inner.settings
    }

    /// The clock the pool reads.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// One maintenance pass at the clock's current time: reports leaks,
    /// expires idle objects, replenishes to `min_size`, runs the sizing
    /// policy when its interval has passed, and publishes the gauges.
    ///
    /// A system-clock pool runs this on its own thread every maintenance
    /// interval; a manual-clock pool (the simulator) calls it itself.
    pub fn maintain(&self) -> Maintenance {
        self.inner.maintain()
    }

    /// Sets the size target now, clamped to `min_size..=max_size`, and
    /// returns it: the remedy for a starving pool (the monitor's built-in
    /// `grow_pool` action raises it to `max_size`). The sizing policy may
    /// move it again at its next interval.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = tidepool::pool::Pool::builder("grown").min_size(1).max_size(8).factory(|| Ok(0u8)).build()?;
    /// assert_eq!(pool.set_target(100), 8);
    /// assert_eq!(pool.status().target, 8);
    /// # Ok(()) }
    /// ```
    pub fn set_target(&self, target: usize) -> usize {
        let inner = &self.inner;
        let target = target.clamp(inner.min, inner.max);
        inner.core.set_target(target);
        target
    }

    /// Destroys idle objects above `min_size` now and returns how many: the
    /// remedy for memory pressure (the monitor's built-in `trim_idle`
    /// action). Counted as retired.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = tidepool::pool::Pool::builder("trimmed").min_size(1).max_size(4).factory(|| Ok(0u8)).build()?;
    /// let held: Vec<_> = (0..4).map(|_| pool.acquire_blocking()).collect::<Result<_, _>>()?;
    /// drop(held);
    /// assert_eq!(pool.trim_idle(), 3);
    /// assert_eq!(pool.status().size, 1);
    /// # Ok(()) }
    /// ```
    pub fn trim_idle(&self) -> usize {
        let inner = &self.inner;
        let mut trimmed = 0;
        while inner.core.size() > inner.min {
            let Some(entry) = inner.core.pop_idle() else { break };
            inner.destroy(entry, DestroyReason::Retired);
            trimmed += 1;
        }
        trimmed
    }

    /// Closes the pool: waiters fail with [`AcquireError::Closed`], idle
    /// objects are destroyed now and held ones when returned.
    pub fn close(&self) {
        self.inner.core.close();
        self.inner.drain_idle(DestroyReason::Closed);
        self.inner.publish();
    }

    /// Whether [`Pool::close`] ran.
    pub fn is_closed(&self) -> bool {
        self.inner.core.is_closed()
    }
}

/// What [`Pool::acquire_or_queue`] got: an object now, or a place in line.
#[derive(Debug)]
pub enum Admission<T: Send + 'static> {
    /// Served at once.
    Ready(PoolGuard<T>),
    /// In line; poll the ticket after anything that may free an object.
    Queued(Ticket<T>),
}

/// A place in a pool's FIFO line, for callers that drive their own event
/// loop (the simulator) instead of blocking or awaiting. Nothing wakes the
/// holder: it calls [`Ticket::poll`] after returning an object, running
/// [`Pool::maintain`], or anything else that may serve the line. Dropping a
/// ticket gives up its place (and hands back a grant that arrived).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tidepool::pool::{Admission, Pool};
///
/// let pool = Pool::builder("one").min_size(1).max_size(1).factory(|| Ok(7)).build()?;
/// let held = pool.try_acquire()?;
/// let Admission::Queued(mut ticket) = pool.acquire_or_queue()? else { unreachable!() };
/// assert!(ticket.poll().is_none()); // still in line
/// drop(held); // the object goes straight to the front of the line
/// let guard = ticket.poll().expect("served")?;
/// assert_eq!(*guard, 7);
/// # Ok(()) }
/// ```
pub struct Ticket<T: Send + 'static> {
    /// A handle: a ticket can still hand out a guard.
    inner: Arc<Handle<T>>,
    waiter: Option<Arc<handoff::Waiter<Entry<T>>>>,
    start: u64,
}

impl<T: Send + 'static> std::fmt::Debug for Ticket<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket").field("pool", &self.inner.name).field("start_ns", &self.start).finish()
    }
}

impl<T: Send + 'static> Ticket<T> {
    /// `None` while still in line; otherwise the outcome (an object, the
    /// pool closed, or a factory error for a creation grant). After it
    /// returns `Some`, the ticket is spent and further polls say `Closed`.
    pub fn poll(&mut self) -> Option<Result<PoolGuard<T>, AcquireError>> {
        let Some(waiter) = self.waiter.as_ref() else { return Some(Err(self.inner.closed())) };
        match waiter.poll() {
            handoff::Poll::Pending => None,
            handoff::Poll::Ready(grant) => {
                self.waiter = None;
                Some(self.inner.serve_blocking(grant, Some(self.start), Path::Waited))
            }
            handoff::Poll::Closed => {
                self.waiter = None;
                Some(Err(self.inner.closed()))
            }
        }
    }

    /// Gives up waiting (the caller's deadline passed): counted as a timeout,
    /// unless the line served this ticket in the meantime, in which case the
    /// object is returned as if polled.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Timeout`], [`AcquireError::Closed`], or a factory
    /// error for a creation grant.
    pub fn expire(mut self) -> Result<PoolGuard<T>, AcquireError> {
        let Some(waiter) = self.waiter.take() else { return Err(self.inner.closed()) };
        match self.inner.core.cancel(&waiter) {
            handoff::Poll::Ready(grant) => self.inner.serve_blocking(grant, Some(self.start), Path::Waited),
            handoff::Poll::Closed => Err(self.inner.closed()),
            handoff::Poll::Pending => Err(self.inner.timed_out(self.start)),
        }
    }

    /// When the ticket's acquire started, in the pool clock's nanoseconds.
    pub fn started_ns(&self) -> u64 {
        self.start
    }
}

impl<T: Send + 'static> Drop for Ticket<T> {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            if let handoff::Poll::Ready(grant) = self.inner.core.cancel(&waiter) {
                self.inner.give_back(grant);
            }
        }
    }
}

/// A caller's place in line, given up on drop.
struct InLine<'a, T: Send + 'static> {
    inner: &'a Inner<T>,
    waiter: Option<Arc<handoff::Waiter<Entry<T>>>>,
    /// When the acquire started.
    start: u64,
}

impl<T: Send + 'static> InLine<'_, T> {
    fn poll(
        &mut self,
        cx: &mut std::task::Context<'_>,
        sleep: std::pin::Pin<&mut tokio::time::Sleep>,
    ) -> std::task::Poll<Result<Grant<Entry<T>>, AcquireError>> {
        use std::task::Poll as P;
        let Some(waiter) = self.waiter.as_ref() else { return P::Ready(Err(self.inner.closed())) };
        if let Wake::Task(slot) = &waiter.wake {
            *slot.lock() = Some(cx.waker().clone());
        }
        match waiter.poll() {
            handoff::Poll::Ready(grant) => {
                self.waiter = None;
                return P::Ready(Ok(grant));
            }
            handoff::Poll::Closed => {
                self.waiter = None;
                return P::Ready(Err(self.inner.closed()));
            }
            handoff::Poll::Pending => {}
        }
        if std::future::Future::poll(sleep, cx).is_pending() {
            return P::Pending;
        }
        match self.waiter.take().map(|w| self.inner.core.cancel(&w)) {
            Some(handoff::Poll::Ready(grant)) => P::Ready(Ok(grant)),
            Some(handoff::Poll::Closed) | None => P::Ready(Err(self.inner.closed())),
            Some(handoff::Poll::Pending) => P::Ready(Err(self.inner.timed_out(self.start))),
        }
    }
}

impl<T: Send + 'static> Drop for InLine<'_, T> {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            if let handoff::Poll::Ready(grant) = self.inner.core.cancel(&waiter) {
                self.inner.give_back(grant);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Direct,
    Waited,
}

impl<T: Send + 'static> Inner<T> {
    /// Objects handed out: the guards out. A returning guard leaves the
    /// count last, after its object is idle again, so the count may briefly
    /// exceed the objects.
    fn in_use(&self) -> usize {
        self.guards.out().min(self.core.size())
    }

    fn status(&self) -> Status {
        Status {
            size: self.core.size(),
            idle: self.core.idle(),
            in_use: self.in_use(),
            pending: self.core.waiting(),
            min: self.min,
            max: self.max,
            target: self.core.target(),
        }
    }

    fn closed(&self) -> AcquireError {
        AcquireError::Closed { pool: self.name.clone() }
    }

    /// Counts a timeout of the acquire that started at `start`.
    fn timed_out(&self, start: u64) -> AcquireError {
        self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
        self.metrics.timeouts.increment(1);
        if let Some(trace) = &self.trace {
            trace.record_failed(start, self.clock.now_nanos(), trace::TraceOutcome::Timeout);
        }
        AcquireError::Timeout { pool: self.name.clone(), timeout: self.acquire_timeout }
    }

    fn panicked(&self, payload: &(dyn std::any::Any + Send)) -> AcquireError {
        AcquireError::FactoryPanicked { pool: self.name.clone(), message: error::panic_message(payload) }
    }

    /// Hands an unused grant back (a cancelled waiter that was served).
    fn give_back(&self, grant: Grant<Entry<T>>) {
        match grant {
            Grant::Object(entry) => self.put_idle(entry),
            Grant::Create => self.core.release_slot(),
        }
    }

    /// Puts an object in the idle queue; destroys it if that is impossible.
    #[inline(always)]
    fn put_idle(&self, entry: Entry<T>) {
        self.arm_expiry(self.expiry_of(&entry, true));
        self.put_idle_armed(entry);
    }

    /// When `entry` may expire (`u64::MAX`: never); its idle deadline only
    /// with `idle`.
    #[inline]
    fn expiry_of(&self, entry: &Entry<T>, idle: bool) -> u64 {
        let lifetime = self.max_lifetime_ns.map_or(u64::MAX, |max| self.created(entry).saturating_add(max));
        let idle = match self.max_idle_ns {
            Some(max) if idle => self.idle_since(entry).saturating_add(max),
            _ => u64::MAX,
        };
        lifetime.min(idle)
    }

    /// Lowers the next expiry pass to `at` if it is sooner. A load first:
    /// deadlines rarely precede the current bound (an older object's).
    #[inline]
    fn arm_expiry(&self, at: u64) {
        if at < self.next_expiry_ns.load(Ordering::Relaxed) {
            self.next_expiry_ns.fetch_min(at, Ordering::AcqRel);
        }
    }

    /// [`Self::put_idle`] with its expiry already armed.
    #[inline(always)]
    fn put_idle_armed(&self, entry: Entry<T>) {
        if let Err(entry) = self.core.put(entry) {
            self.destroy(entry, DestroyReason::Closed);
        }
        if self.core.is_closed() {
            self.drain_idle(DestroyReason::Closed);
        }
    }

    fn drain_idle(&self, reason: DestroyReason) {
        while let Some(entry) = self.core.pop_idle() {
            self.destroy(entry, reason);
        }
    }

    /// Drops an object and frees its slot id, keeping its unit of the size
    /// budget (the caller either reuses it or calls `release_slot`).
    fn discard(&self, entry: Entry<T>, reason: DestroyReason) {
        let slot = entry.slot;
        // A panicking Drop of the user's object must not take the pool down.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(entry.value)));
        let _ = self.slots.free.push(slot);
        self.counters.destroyed[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn destroy(&self, entry: Entry<T>, reason: DestroyReason) {
        self.discard(entry, reason);
        self.core.release_slot();
    }

    /// When `entry`'s object was created.
    #[inline]
    fn created(&self, entry: &Entry<T>) -> u64 {
        self.slots.created_ns[entry.slot as usize].load(Ordering::Relaxed)
    }

    /// When `entry`'s object was last put back idle.
    #[inline]
    fn idle_since(&self, entry: &Entry<T>) -> u64 {
        self.slots.idle_since_ns[entry.slot as usize].load(Ordering::Relaxed)
    }

    fn expired(&self, entry: &Entry<T>, now: u64) -> Option<DestroyReason> {
        if let Some(max) = self.max_lifetime_ns {
            if now.saturating_sub(self.created(entry)) >= max {
                return Some(DestroyReason::MaxLifetime);
            }
        }
        if let Some(max) = self.max_idle_ns {
            // Idle expiry never takes the pool below min_size.
            if now.saturating_sub(self.idle_since(entry)) >= max && self.core.size() > self.min {
                return Some(DestroyReason::IdleTimeout);
            }
        }
        None
    }

    fn take_slot(&self) -> Result<u32, AcquireError> {
        // size ≤ max is guaranteed by the size budget, so a slot id is free.
        self.slots.free.pop().ok_or_else(|| AcquireError::FactoryPanicked {
            pool: self.name.clone(),
            message: "internal: no free slot id within the size budget".into(),
        })
    }

    /// Accounts for one factory call. The slot id is taken only once the
    /// object exists, so a creation abandoned mid-way (a cancelled async
    /// acquire) cannot leak one.
    fn finish_create(
        &self,
        made: Result<Result<T, BoxError>, Box<dyn std::any::Any + Send>>,
        start: u64,
        reason: CreateReason,
    ) -> Result<Entry<T>, AcquireError> {
        let now = self.clock.now_nanos();
        let failure = match made {
            Ok(Ok(value)) => {
                // The caller holds a size unit, so a slot id is free.
                let slot = self.take_slot()?;
                let took = now.saturating_sub(start);
                self.counters.create_ns.fetch_add(took, Ordering::Relaxed);
                self.counters.created[reason as usize].fetch_add(1, Ordering::Relaxed);
                self.metrics.create.record(took as f64 / 1e9);
                // Above min_size again: objects kept past their idle
                // deadline only by the minimum may expire now.
                if self.expiry_held_by_min.load(Ordering::Relaxed) && self.core.size() > self.min {
                    self.expiry_held_by_min.store(false, Ordering::Relaxed);
                    self.arm_expiry(now);
                }
                self.slots.created_ns[slot as usize].store(now, Ordering::Relaxed);
                self.slots.idle_since_ns[slot as usize].store(now, Ordering::Relaxed);
                return Ok(Entry { value, slot });
            }
            Ok(Err(source)) => AcquireError::Factory { pool: self.name.clone(), source },
            Err(payload) => self.panicked(payload.as_ref()),
        };
        self.counters.factory_errors.fetch_add(1, Ordering::Relaxed);
        self.metrics.factory_errors.increment(1);
        Err(failure)
    }

    /// Runs the factory on this thread. The caller holds a size unit.
    fn create_blocking(&self, reason: CreateReason) -> Result<Entry<T>, AcquireError> {
        let start = self.clock.now_nanos();
        let made = match &self.factory {
            Factory::Sync(f) => catch_unwind(AssertUnwindSafe(|| f())),
            Factory::Async(f) => {
                let fut = f();
                futures_executor::block_on(AssertUnwindSafe(fut).catch_unwind())
            }
        };
        self.finish_create(made, start, reason)
    }

    /// Awaits the factory. The caller holds a size unit.
    async fn create_async(&self, reason: CreateReason) -> Result<Entry<T>, AcquireError> {
        let start = self.clock.now_nanos();
        let made = match &self.factory {
            Factory::Sync(f) => catch_unwind(AssertUnwindSafe(|| f())),
            Factory::Async(f) => AssertUnwindSafe(f()).catch_unwind().await,
        };
        self.finish_create(made, start, reason)
    }

    /// Creates an object for a size unit the caller holds; on failure the
    /// unit goes back to the budget.
    fn create_in_unit_blocking(&self, reason: CreateReason) -> Result<Entry<T>, AcquireError> {
        self.create_blocking(reason).inspect_err(|_| self.core.release_slot())
    }

    /// As [`Self::create_in_unit_blocking`]; the unit also goes back if the
    /// future is dropped mid-creation (a cancelled acquire).
    async fn create_in_unit_async(&self, reason: CreateReason) -> Result<Entry<T>, AcquireError> {
        struct Unit<'a, T: Send + 'static>(&'a Inner<T>, bool);
        impl<T: Send + 'static> Drop for Unit<'_, T> {
            fn drop(&mut self) {
                if self.1 {
                    self.0.core.release_slot();
                }
            }
        }
        let mut unit = Unit(self, true);
        let made = self.create_async(reason).await;
        unit.1 = made.is_err();
        made
    }

    fn reserve_and_create_blocking(&self, reason: CreateReason) -> Result<Entry<T>, AcquireError> {
        if !self.core.try_reserve_below(self.max) {
            return Err(self.closed());
        }
        self.create_in_unit_blocking(reason)
    }

    async fn reserve_and_create_async(&self, reason: CreateReason) -> Result<Entry<T>, AcquireError> {
        if !self.core.try_reserve_below(self.max) {
            return Err(self.closed());
        }
        self.create_in_unit_async(reason).await
    }

    /// The idle object of a grant if it is still good. An expired one is
    /// discarded and its size unit carries over to a replacement: `None`.
    /// Also the clock reading taken to tell, if one was.
    #[inline(always)]
    fn usable(&self, grant: Grant<Entry<T>>) -> (Option<Entry<T>>, Option<u64>) {
        let Grant::Object(entry) = grant else { return (None, None) };
        // No clock read when nothing can expire.
        if self.max_idle_ns.is_none() && self.max_lifetime_ns.is_none() {
            return (Some(entry), None);
        }
        let now = self.clock.now_nanos();
        match self.expired(&entry, now) {
            None => (Some(entry), Some(now)),
            Some(reason) => {
                self.discard(entry, reason);
                (None, Some(now))
            }
        }
    }

    /// Running totals; the hold total is the hold histogram's sum.
    fn stats(&self) -> Stats {
        Stats {
            use_total: Duration::from_nanos(self.metrics.use_buckets.sum_ns()),
            ..self.counters.snapshot()
        }
    }

    /// Traces a failed creation for the acquire that started at `start`.
    fn failed(&self, e: AcquireError, start: u64) -> AcquireError {
        if let Some(trace) = &self.trace {
            trace.record_failed(start, self.clock.now_nanos(), trace::TraceOutcome::Error);
        }
        e
    }
}

/// The acquire paths that hand out guards: only a handle can
/// ([`Handle::check_out`]).
impl<T: Send + 'static> Handle<T> {
    /// Hands out the grant's idle object if it is still good; otherwise
    /// (a creation grant, or an expired object discarded) says when the
    /// creation's wait starts, if a clock was read. `start` is when the
    /// acquire started, `None` on the direct path (which read no clock).
    #[inline(always)]
    fn serve_idle(
        &self,
        grant: Grant<Entry<T>>,
        start: Option<u64>,
        path: Path,
    ) -> Result<PoolGuard<T>, Option<u64>> {
        match self.usable(grant) {
            (Some(entry), read) => Ok(self.checkout(entry, start.or(read), path, false)),
            (None, read) => Err(start.or(read)),
        }
    }

    /// Turns a grant into a guard on the blocking path, creating an object
    /// when the grant holds none usable.
    #[inline(always)]
    fn serve_blocking(
        &self,
        grant: Grant<Entry<T>>,
        start: Option<u64>,
        path: Path,
    ) -> Result<PoolGuard<T>, AcquireError> {
        let start = match self.serve_idle(grant, start, path) {
            Ok(guard) => return Ok(guard),
            // A creation's wait is the creation: it starts now at the latest.
            Err(start) => start.unwrap_or_else(|| self.clock.now_nanos()),
        };
        let entry = self.create_in_unit_blocking(CreateReason::Demand).map_err(|e| self.failed(e, start))?;
        Ok(self.checkout(entry, Some(start), path, true))
    }

    /// The creation of [`Self::serve_blocking`], awaited: for an async
    /// acquire whose grant held no usable object ([`Self::serve_idle`]'s
    /// `Err`), so that an idle object never enters this future.
    async fn create_and_serve_async(
        &self,
        start: Option<u64>,
        path: Path,
    ) -> Result<PoolGuard<T>, AcquireError> {
        let start = start.unwrap_or_else(|| self.clock.now_nanos());
        let entry =
            self.create_in_unit_async(CreateReason::Demand).await.map_err(|e| self.failed(e, start))?;
        Ok(self.checkout(entry, Some(start), path, true))
    }

    /// Hands `entry` out. `start` is when the acquire started (`None`: a
    /// direct acquire that read no clock); the hold is timed when sampled.
    #[inline(always)]
    fn checkout(&self, entry: Entry<T>, start: Option<u64>, path: Path, fresh: bool) -> PoolGuard<T> {
        let timed = hold_timed(self.hold_mask);
        let now = match (path, fresh, start) {
            // The fast path: no wait, no creation; a clock only to time the
            // hold (or the one read to check expiry).
            (Path::Direct, false, Some(start)) => Some(start),
            (Path::Direct, false, None) => timed.then(|| self.clock.now_nanos()),
            _ => Some(self.clock.now_nanos()),
        };
        self.slots.checkout_ns[entry.slot as usize]
            .store(now.map_or(STAMP_UNTIMED, stamp_of), Ordering::Relaxed);
        if (path, fresh) == (Path::Direct, false) {
            // Waited exactly zero. Those samples are added in bulk by
            // `publish` (from `acquires_direct - direct_fresh`), which keeps a
            // histogram record off the fast path.
        } else {
            if path == Path::Direct {
                // Before the checkout, so `publish` never mistakes this
                // acquire for a zero wait.
                self.direct_fresh.fetch_add(1, Ordering::Relaxed);
            }
            // Waited and fresh acquires have both readings.
            let now = now.unwrap_or_default();
            let waited = now.saturating_sub(start.unwrap_or(now));
            self.counters.wait_ns.fetch_add(waited, Ordering::Relaxed);
            self.metrics.wait_buckets.record(waited);
        }
        if fresh {
            self.counters.acquires_fresh.fetch_add(1, Ordering::Relaxed);
        }
        if path == Path::Waited {
            // Before the checkout: direct acquires are checkouts minus these.
            self.counters.acquires_waited.fetch_add(1, Ordering::Relaxed);
        }
        self.counters.checked_out();
        let start = start.or(now).unwrap_or_default();
        PoolGuard::new(self.check_out(), entry, start, if timed { now } else { None }, fresh)
    }
}

impl<T: Send + 'static> Inner<T> {
    /// Clears a returning object's checkout stamp, says so when its leak had
    /// been reported, and counts its hold if it was timed.
    #[inline(always)]
    fn returned(&self, slot: usize, checkout: Option<u64>, now: Option<u64>) {
        let stamp = self.slots.checkout_ns[slot].load(Ordering::Relaxed);
        self.slots.checkout_ns[slot].store(0, Ordering::Relaxed);
        if stamp > STAMP_UNTIMED && self.slots.leaked[slot].load(Ordering::Relaxed) == stamp {
            let held_ms = now.map(|now| now.saturating_sub(checkout_of(stamp)) / 1_000_000);
            tracing::info!(pool = %self.name, held_ms, "leaked object returned");
        }
        if let (Some(checkout), Some(now)) = (checkout, now) {
            self.metrics.use_buckets.record_many(now.saturating_sub(checkout), self.hold_every);
        }
    }

    /// The return path, run by the guard's drop. `checkout` is when the
    /// object was handed out if its hold is timed.
    #[inline(always)]
    pub(crate) fn check_in(&self, mut entry: Entry<T>, start_ns: u64, checkout: Option<u64>) {
        let now = (checkout.is_some() || self.return_reads_clock).then(|| self.clock.now_nanos());
        if let (Some(trace), Some(checkout), Some(now)) = (&self.trace, checkout, now) {
            trace.record(start_ns, checkout, now);
        }
        self.returned(entry.slot as usize, checkout, now);
        if std::thread::panicking() {
            return self.destroy(entry, DestroyReason::Panicked);
        }
        if let Some(recycle) = &self.recycle {
            let ok = matches!(catch_unwind(AssertUnwindSafe(|| recycle(&mut entry.value))), Ok(Ok(())));
            if !ok {
                return self.destroy(entry, DestroyReason::RecycleFailed);
            }
        }
        if let (Some(max), Some(now)) = (self.max_lifetime_ns, now) {
            if now.saturating_sub(self.created(&entry)) >= max {
                return self.destroy(entry, DestroyReason::MaxLifetime);
            }
        }
        if let Some(now) = now {
            // Read only when an idle limit (or a lifetime) needs it.
            self.slots.idle_since_ns[entry.slot as usize].store(now, Ordering::Relaxed);
        }
        self.put_idle(entry);
    }

    /// Takes the object out of the pool for good (its size unit is freed).
    pub(crate) fn detach(&self, entry: Entry<T>, checkout: Option<u64>) -> T {
        let now = checkout.map(|_| self.clock.now_nanos());
        let slot = entry.slot;
        self.returned(slot as usize, checkout, now);
        let _ = self.slots.free.push(slot);
        self.counters.destroyed[DestroyReason::Detached as usize].fetch_add(1, Ordering::Relaxed);
        self.core.release_slot();
        entry.value
    }

    fn maintain(&self) -> Maintenance {
        let now = self.clock.now_nanos();
        let mut report = Maintenance { leaks: self.scan_leaks(now), ..Maintenance::default() };

        // Expire idle objects: lifetime always, idle time only above min.
        // Only when one may be due: the bound is re-armed by every object
        // put back, this pass's included.
        if now >= self.next_expiry_ns.load(Ordering::Acquire) {
            self.next_expiry_ns.store(u64::MAX, Ordering::Release);
            let mut held_by_min = false;
            for _ in 0..self.core.idle() {
                let Some(entry) = self.core.pop_idle() else { break };
                match self.expired(&entry, now) {
                    Some(reason) => {
                        report.expired += 1;
                        self.destroy(entry, reason);
                    }
                    None => {
                        // Past its idle deadline yet kept (the pool is at
                        // min_size): armed by its lifetime alone, and by
                        // the pool's next growth.
                        let idle_due = self.expiry_of(&entry, true) <= now;
                        held_by_min |= idle_due;
                        self.arm_expiry(self.expiry_of(&entry, !idle_due));
                        self.put_idle_armed(entry);
                    }
                }
            }
            if held_by_min {
                self.expiry_held_by_min.store(true, Ordering::Relaxed);
                // Grown during the pass: the creation may have missed the flag.
                if self.core.size() > self.min {
                    self.arm_expiry(now);
                }
            }
        }

        // Back to min_size.
        while !self.core.is_closed() && self.core.try_reserve_below(self.min) {
            match self.create_in_unit_blocking(CreateReason::Replenish) {
                Ok(entry) => {
                    report.replenished += 1;
                    self.put_idle(entry);
                }
                Err(e) => {
                    tracing::warn!(pool = %self.name, error = %e, "replenishing to min_size failed");
                    break;
                }
            }
        }

        report.new_target = self.run_sizing(now);
        if report.new_target.is_none() {
            report.new_target = self.grow_for_waiters();
        }
        let target = self.core.target();
        while self.core.size() > target {
            let Some(entry) = self.core.pop_idle() else { break };
            report.retired += 1;
            self.destroy(entry, DestroyReason::Retired);
        }
        self.publish();
        report
    }

    /// Callers waiting while the target is below max: raise the target by
    /// their number at once (each maintenance tick), rather than leave them
    /// queued until the sizing interval ends. The policy still decides at
    /// the interval whether the pool keeps that size.
    fn grow_for_waiters(&self) -> Option<usize> {
        let status = self.status();
        if status.pending == 0 || status.target >= self.max {
            return None;
        }
        let target = (status.target.max(status.size) + status.pending).min(self.max);
        self.core.set_target(target);
        Some(target)
    }

    fn scan_leaks(&self, now: u64) -> usize {
        let Some(threshold) = self.leak_threshold else { return 0 };
        let limit = nanos(threshold);
        let mut found = 0;
        for (slot, stamp_ns) in self.slots.checkout_ns.iter().enumerate() {
            let stamp = stamp_ns.load(Ordering::Relaxed);
            if stamp == STAMP_UNTIMED {
                // Held since before now: timed from this pass (a leak is
                // then found at most one pass late). A return in between
                // cleared the stamp and the exchange fails.
                let _ = stamp_ns.compare_exchange(
                    STAMP_UNTIMED,
                    stamp_of(now),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                continue;
            }
            if stamp == 0 || now.saturating_sub(checkout_of(stamp)) < limit {
                continue;
            }
            if self.slots.leaked[slot].swap(stamp, Ordering::Relaxed) == stamp {
                continue;
            }
            found += 1;
            self.counters.leaks.fetch_add(1, Ordering::Relaxed);
            self.metrics.leaks.increment(1);
            let event = LeakEvent {
                pool: self.name.clone(),
                held: Duration::from_nanos(now.saturating_sub(checkout_of(stamp))),
                threshold,
            };
            match &self.on_leak {
                Some(hook) => hook(&event),
                None => tracing::warn!(pool = %event.pool, held = ?event.held, threshold = ?event.threshold,
                    "object held past the leak threshold"),
            }
        }
        found
    }

    fn run_sizing(&self, now: u64) -> Option<usize> {
        let mut sizing = self.sizing.lock();
        let in_use = self.in_use();
        sizing.ticks += 1;
        sizing.in_use_sum += in_use as u64;
        sizing.peak_in_use = sizing.peak_in_use.max(in_use);
        let elapsed = now.saturating_sub(sizing.interval_start_ns);
        if elapsed < self.sizing_interval_ns {
            return None;
        }
        let stats = self.stats();
        let delta = stats.since(&sizing.stats_at_start);
        let status = self.status();
        let input = SizingInput {
            interval: Duration::from_nanos(elapsed),
            size: status.size,
            target: status.target,
            min: self.min,
            max: self.max,
            in_use: status.in_use,
            pending: status.pending,
            mean_in_use: sizing.in_use_sum as f64 / sizing.ticks as f64,
            peak_in_use: sizing.peak_in_use,
            acquires: delta.acquires(),
            waited: delta.acquires_waited,
            timeouts: delta.timeouts,
            wait_total: delta.wait_total,
        };
        let wanted = sizing.policy.next_target(&input);
        let target = wanted.clamp(self.min.max(status.in_use.min(self.max)), self.max);
        sizing.interval_start_ns = now;
        sizing.ticks = 0;
        sizing.in_use_sum = 0;
        sizing.peak_in_use = 0;
        sizing.stats_at_start = stats;
        drop(sizing);
        if target != status.target {
            self.core.set_target(target);
        }
        Some(target)
    }

    /// Copies the atomics to the metrics facade, and adds the zero-wait
    /// samples of direct acquires to the wait histogram.
    fn publish(&self) {
        let status = self.status();
        let stats = self.stats();
        let m = &self.metrics;
        m.idle.set(status.idle as f64);
        m.used.set(status.in_use as f64);
        m.target.set(status.target as f64);
        m.pending.set(status.pending as f64);
        m.utilization.set(status.utilization());
        m.reuse.set(stats.reuse_ratio());
        m.acquires_direct.absolute(stats.acquires_direct);
        m.use_buckets.drain_into(&m.use_time);
        m.wait_buckets.drain_into(&m.wait);
        let zero_waits = stats.acquires_direct.saturating_sub(self.direct_fresh.load(Ordering::Relaxed));
        // fetch_max: concurrent publishers add each zero-wait sample once.
        let published = self.zero_waits_published.fetch_max(zero_waits, Ordering::Relaxed);
        if zero_waits > published {
            m.wait.record_many(0.0, usize::try_from(zero_waits - published).unwrap_or(usize::MAX));
        }
        m.acquires_waited.absolute(stats.acquires_waited);
        for (counter, value) in m.created.iter().zip(stats.created) {
            counter.absolute(value);
        }
        for (counter, value) in m.destroyed.iter().zip(stats.destroyed) {
            counter.absolute(value);
        }
    }
}
