//! The discrete-event engine: replays a [`Workload`] through a real
//! [`Pool`] on a manual clock.
//!
//! One thread, one event heap ordered by `(virtual time, sequence)`; the
//! sequence number breaks ties in scheduling order, so a run is a pure
//! function of its workload and seed. Each operation arrives at its intended
//! time, acquires through [`Pool::acquire_or_queue`] (waiting in the pool's
//! own FIFO line via a [`Ticket`]), holds for its sampled time, and returns
//! the object by dropping the guard — the same code paths a production
//! caller runs, read against virtual time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::schedule::{self, ns, ArrivalCursor, Instance, NO_HOLD};
use super::workload::{Arrival, FaultKind, Sampler, Workload};
use crate::clock::{Clock, ManualClock};
use crate::pool::{Admission, Pool, PoolGuard, Ticket};

/// Adds the levels `(in_use, size)` held over `(from, to)` to the areas of
/// the run, its phase and the drift windows they overlap.
#[inline]
pub(crate) fn integrate(
    total: &mut Tally,
    phase: &mut Tally,
    drift: &mut [Tally; 2],
    windows: &[(u64, u64); 2],
    (from, to): (u64, u64),
    (in_use, size): (usize, usize),
) {
    let dt = to.saturating_sub(from);
    if dt == 0 {
        return;
    }
    for tally in [total, phase] {
        tally.in_use_area += in_use as u128 * dt as u128;
        tally.size_area += size as u128 * dt as u128;
        tally.span_ns += dt;
    }
    for (k, &(a, b)) in windows.iter().enumerate() {
        let overlap = to.min(b).saturating_sub(from.max(a));
        if overlap > 0 {
            drift[k].in_use_area += in_use as u128 * overlap as u128;
            drift[k].size_area += size as u128 * overlap as u128;
            drift[k].span_ns += overlap;
        }
    }
}

/// The drift windows of a run: its first and last full cycle when it has
/// two, else its first and last tenth.
pub(crate) fn drift_windows(workload: &Workload) -> [(u64, u64); 2] {
    let end = ns(workload.duration);
    let cycle = ns(workload.cycle());
    if cycle > 0 && end / cycle >= 2 {
        let last = end / cycle * cycle;
        [(0, cycle), (last - cycle, last)]
    } else {
        let w = (end / 10).max(1);
        [(0, w), (end.saturating_sub(w), end)]
    }
}

/// Modeled memory over a run: start, peak, and the floor (lowest level,
/// warm-up excluded) of each drift window.
#[derive(Debug, Clone)]
pub(crate) struct MemoryTrack {
    start: u64,
    peak: u64,
    floor: [u64; 2],
    warmup: u64,
    windows: [(u64, u64); 2],
}

impl MemoryTrack {
    pub(crate) fn new(start: u64, end: u64, windows: [(u64, u64); 2]) -> MemoryTrack {
        // The pool starts at min_size and grows to its working level: that
        // warm-up is not growth, so floors ignore it.
        let warmup = (end / 20).min(WARMUP_MAX_NS);
        MemoryTrack { start, peak: start, floor: [u64::MAX; 2], warmup, windows }
    }

    /// Notes the level `memory` at `now` (ns since the start).
    pub(crate) fn note(&mut self, now: u64, memory: u64) {
        self.peak = self.peak.max(memory);
        for (k, &(a, b)) in self.windows.iter().enumerate() {
            if now >= a.max(self.warmup) && now < b {
                self.floor[k] = self.floor[k].min(memory);
            }
        }
        // A start window that ended inside the warm-up: its floor is the
        // first level after the warm-up, never the end's.
        if self.floor[0] == u64::MAX && now >= self.warmup && now >= self.windows[0].1 {
            self.floor[0] = memory;
        }
    }

    /// (start, end, peak) given the level at the end.
    pub(crate) fn extent(&self, end: u64) -> (u64, u64, u64) {
        (self.start, end, self.peak.max(end))
    }

    /// The floors, a window never reached taking the level at the end.
    pub(crate) fn floors(&self, end: u64) -> [u64; 2] {
        self.floor.map(|f| if f == u64::MAX { end } else { f })
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The pool settings of the workload were refused by the pool.
    #[error("pool settings: {0}")]
    Pool(#[from] crate::pool::BuildError),
    /// A wall-clock run could not start its threads.
    #[error("{0}")]
    Threads(String),
    /// The workload asks for something this mode cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// A series or trace could not be read again as the run went (it
    /// changed, or became unreadable, since it was first read).
    #[error("{0}")]
    Input(#[from] super::workload::WorkloadError),
}

/// One snapshot of the run, taken every sample interval of virtual time
/// (a line of `samples.jsonl`).
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Virtual seconds since the start.
    pub t: f64,
    /// The phase running.
    pub phase: String,
    /// Objects alive.
    pub size: usize,
    /// Objects idle.
    pub idle: usize,
    /// Objects held.
    pub in_use: usize,
    /// Callers in line.
    pub waiting: usize,
    /// The sizing policy's target.
    pub target: usize,
    /// Operations that arrived in the interval.
    pub arrived: u64,
    /// Operations completed in the interval.
    pub completed: u64,
    /// Acquires that timed out in the interval.
    pub timed_out: u64,
    /// Acquires failed by the factory in the interval.
    pub failed: u64,
    /// p99 of the corrected wait of acquires served in the interval, seconds.
    pub wait_p99: f64,
    /// Modeled memory at the sample: objects × object_bytes + leaked bytes.
    pub memory_bytes: u64,
    /// Wall-clock runs only: the schedule and the process.
    #[serde(flatten)]
    pub wall: Option<WallSample>,
}

/// What a wall-clock run adds to each sample.
#[derive(Debug, Clone, Serialize)]
pub struct WallSample {
    /// p99 of how late the interval's operations started, seconds.
    pub lag_p99: f64,
    /// Starts in the interval later than the late threshold.
    pub late: u64,
    /// Starts in the interval that never happened (the executors were too
    /// far behind).
    pub dropped: u64,
    /// The process's resident memory, bytes (0 where unknown).
    pub rss_bytes: u64,
    /// The process's CPU time so far, seconds.
    pub cpu_seconds: f64,
}

/// Receives progress as the run goes (`samples.jsonl`, the progress bar,
/// checkpoints).
pub trait Observer {
    /// Called at every sample, in time order.
    fn on_sample(&mut self, sample: &Sample);

    /// Asked after each sample: whether to build a checkpoint now (a copy
    /// of everything measured so far, for [`Observer::on_checkpoint`]).
    fn wants_checkpoint(&mut self) -> bool {
        false
    }

    /// Everything measured up to the last sample, when
    /// [`Observer::wants_checkpoint`] said yes; `wall` in wall-clock runs.
    fn on_checkpoint(&mut self, outcome: &Outcome, wall: Option<&super::WallFigures>) {
        let _ = (outcome, wall);
    }
}

/// An [`Observer`] that ignores everything.
#[derive(Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn on_sample(&mut self, _: &Sample) {}
}

/// Counters and histograms of one slice of the run (the whole run, one
/// phase, or a drift window).
#[derive(Debug, Clone)]
pub struct Tally {
    /// Operations that arrived.
    pub arrived: u64,
    /// Operations that acquired, held and released.
    pub completed: u64,
    /// Acquires that timed out.
    pub timed_out: u64,
    /// Acquires failed by the factory.
    pub failed: u64,
    /// Acquires served by a newly created object.
    pub fresh: u64,
    /// Acquires served (a guard handed over), after waiting or not.
    pub served: u64,
    /// Served acquires that waited (a wait above zero).
    pub waited: u64,
    /// Wait from the intended arrival to the object being ready, ns; a
    /// timed-out acquire counts with the time it waited (the timeout).
    pub wait_corrected: Histogram<u64>,
    /// Wait from the moment the acquire actually started, ns. Filled in
    /// wall-clock runs only, where a start can lag its schedule; in virtual
    /// time every acquire starts on time and the two measures coincide.
    pub wait_uncorrected: Histogram<u64>,
    /// Zero waits counted but not yet added to `wait_corrected` (most
    /// acquires wait 0: a counter is cheaper than a histogram record).
    /// [`Tally::settle`] adds them.
    pending_zero_waits: u64,
    /// Time objects were held, ns.
    pub hold: Histogram<u64>,
    /// ∫ in_use dt (object-nanoseconds).
    pub in_use_area: u128,
    /// ∫ size dt.
    pub size_area: u128,
    /// Virtual nanoseconds covered.
    pub span_ns: u64,
}

/// Histogram range: 1 ns to 30 days at 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 30 * 86_400 * 1_000_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits is valid"))
    })
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            arrived: 0,
            completed: 0,
            timed_out: 0,
            failed: 0,
            fresh: 0,
            served: 0,
            waited: 0,
            wait_corrected: histogram(),
            wait_uncorrected: histogram(),
            pending_zero_waits: 0,
            hold: histogram(),
            in_use_area: 0,
            size_area: 0,
            span_ns: 0,
        }
    }
}

impl Tally {
    /// Adds `other`'s counts, histograms and areas to these.
    pub fn merge(&mut self, other: &Tally) {
        self.arrived += other.arrived;
        self.completed += other.completed;
        self.timed_out += other.timed_out;
        self.failed += other.failed;
        self.fresh += other.fresh;
        self.served += other.served;
        self.waited += other.waited;
        // Same bounds on both sides: `add` cannot fail; saturate regardless.
        let _ = self.wait_corrected.add(&other.wait_corrected);
        let _ = self.wait_uncorrected.add(&other.wait_uncorrected);
        let _ = self.hold.add(&other.hold);
        self.pending_zero_waits += other.pending_zero_waits;
        self.in_use_area += other.in_use_area;
        self.size_area += other.size_area;
        self.span_ns += other.span_ns;
    }

    /// Adds the counted zero waits to the histogram.
    pub(crate) fn settle(&mut self) {
        let zeros = std::mem::take(&mut self.pending_zero_waits);
        self.wait_corrected.saturating_record_n(0, zeros);
    }

    /// Mean in_use / size over the slice (time-weighted).
    pub fn utilization_mean(&self) -> f64 {
        if self.size_area == 0 {
            0.0
        } else {
            self.in_use_area as f64 / self.size_area as f64
        }
    }

    /// Mean pool size over the slice (time-weighted).
    pub fn size_mean(&self) -> f64 {
        if self.span_ns == 0 {
            0.0
        } else {
            self.size_area as f64 / self.span_ns as f64
        }
    }

    /// Served acquires that reused an object, over all served (1 if none).
    pub fn reuse_ratio(&self) -> f64 {
        let served = self.served;
        if served == 0 {
            1.0
        } else {
            (served - self.fresh.min(served)) as f64 / served as f64
        }
    }
}

/// Counts of one sample interval; reset after each sample.
#[derive(Debug)]
pub(crate) struct IntervalTally {
    pub arrived: u64,
    pub completed: u64,
    pub timed_out: u64,
    pub failed: u64,
    /// 2 significant digits: reset every sample, so kept small.
    pub wait: Histogram<u64>,
    pub pending_zero_waits: u64,
}

impl IntervalTally {
    pub fn new() -> Self {
        let wait = Histogram::new_with_bounds(1, 30 * 86_400 * 1_000_000_000, 2).unwrap_or_else(|_| {
            Histogram::new(2).unwrap_or_else(|_| unreachable!("2 significant digits is valid"))
        });
        IntervalTally { arrived: 0, completed: 0, timed_out: 0, failed: 0, wait, pending_zero_waits: 0 }
    }

    /// Adds `other`'s counts and waits to these.
    pub fn merge(&mut self, other: &IntervalTally) {
        self.arrived += other.arrived;
        self.completed += other.completed;
        self.timed_out += other.timed_out;
        self.failed += other.failed;
        self.pending_zero_waits += other.pending_zero_waits;
        let _ = self.wait.add(&other.wait);
    }

    /// The interval's wait p99, seconds (settles the zero waits).
    pub fn wait_p99(&mut self) -> f64 {
        let zeros = std::mem::take(&mut self.pending_zero_waits);
        self.wait.saturating_record_n(0, zeros);
        self.wait.value_at_quantile(0.99) as f64 / 1e9
    }

    pub fn reset(&mut self) {
        self.arrived = 0;
        self.completed = 0;
        self.timed_out = 0;
        self.failed = 0;
        self.pending_zero_waits = 0;
        self.wait.reset();
    }
}

/// Everything a run measured; [`crate::report`] turns it into files.
#[derive(Debug)]
pub struct Outcome {
    /// Virtual time reached.
    pub virtual_ns: u64,
    /// Whether the run stopped early (interrupted).
    pub interrupted: bool,
    /// The whole run.
    pub total: Tally,
    /// Per phase, indexed like [`Workload::phases`].
    pub phases: Vec<Tally>,
    /// Drift windows: the start and the end of the run.
    pub drift: [Tally; 2],
    /// Where the drift windows lie, ns.
    pub drift_windows: [(u64, u64); 2],
    /// Operations still holding an object at the end.
    pub in_flight: u64,
    /// Per phase: (holding an object, waiting in line) at the end.
    pub phase_open: Vec<(u64, u64)>,
    /// Operations still in line at the end.
    pub waiting: u64,
    /// Smallest and largest pool size seen.
    pub size_seen: (usize, usize),
    /// Times the sizing policy changed the target.
    pub resizes: u64,
    /// The pool's own totals at the end.
    pub pool_stats: crate::pool::Stats,
    /// Modeled memory at the start, the end, and its peak, bytes.
    pub memory: (u64, u64, u64),
    /// The lowest modeled memory in each drift window (the floor the pool
    /// returns to between bursts), bytes.
    pub memory_floor: [u64; 2],
    /// What the injected holder and factory faults did.
    pub injected: Injected,
    /// The pool's objects accounted for at the end.
    pub conservation: Conservation,
}

/// Counts of the injected faults that fired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Injected {
    /// Factory calls that panicked (`factory_panic`).
    pub factory_panics: u64,
    /// Holders that panicked while holding (`holder_panic`).
    pub holder_panics: u64,
    /// Holders that never returned their object (`abandon`).
    pub abandoned: u64,
    /// Clock jumps taken (`clock_jump`).
    pub clock_jumps: u64,
}

/// Every object the pool made, accounted for: none lost, none handed to two
/// holders at once.
///
/// ```
/// let c = tidepool::sim::engine::Conservation {
///     created: 10, destroyed: 4, size: 6, idle: 2, in_use: 4, held: 4, handed_out_twice: 0,
/// };
/// assert_eq!(c.lost(), 0);
/// assert!(c.holds());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Conservation {
    /// Objects the factory made (the pool's count).
    pub created: u64,
    /// Objects the pool destroyed, for any reason.
    pub destroyed: u64,
    /// The pool's size at the end.
    pub size: u64,
    /// Idle in the pool at the end.
    pub idle: u64,
    /// In use, by the pool's count.
    pub in_use: u64,
    /// Held by the simulated holders (abandoned ones included).
    pub held: u64,
    /// Times an object went to a holder while another still held it.
    pub handed_out_twice: u64,
}

impl Conservation {
    /// Objects unaccounted for: created but neither destroyed nor in the
    /// pool, in the pool but neither idle nor in use, in use by the pool's
    /// count but held by nobody (or the reverse).
    pub fn lost(&self) -> u64 {
        let live = self.created.abs_diff(self.destroyed);
        live.abs_diff(self.size)
            + self.size.abs_diff(self.idle + self.in_use)
            + self.in_use.abs_diff(self.held)
    }

    /// Nothing lost and nothing handed out twice.
    pub fn holds(&self) -> bool {
        self.lost() == 0 && self.handed_out_twice == 0
    }
}

/// What the factory does, set by the workload's failure probability and
/// outage windows. Shared with the pool's factory closure.
#[derive(Debug)]
pub(crate) struct FactoryModel {
    failure: f64,
    outages: Vec<(u64, u64)>,
    panics: Vec<(u64, u64, f64)>,
    /// Panics injected so far.
    panicked: std::sync::atomic::AtomicU64,
    rng: Mutex<SmallRng>,
    clock: Clock,
    /// The run's start on `clock` (outage windows count from it).
    origin: std::sync::atomic::AtomicU64,
    /// Creation takes this long, for real (wall-clock runs; the engine
    /// charges creation time in virtual time instead).
    create_time: Option<Sampler>,
    armed: AtomicBool,
    next_id: std::sync::atomic::AtomicU64,
}

impl FactoryModel {
    /// The factory `workload` describes, reading `clock`.
    pub(crate) fn new(workload: &Workload, clock: Clock, sleep_create_time: bool) -> FactoryModel {
        let outages = workload
            .faults
            .iter()
            .filter(|f| matches!(f.kind, FaultKind::FactoryOutage))
            .map(|f| (ns(f.at), f.end().map_or(u64::MAX, ns)))
            .collect();
        let panics = workload
            .faults
            .iter()
            .filter_map(|f| match f.kind {
                FaultKind::FactoryPanic { probability } => {
                    Some((ns(f.at), f.end().map_or(u64::MAX, ns), probability))
                }
                _ => None,
            })
            .collect();
        let create_time =
            workload.pool.model.create_time.as_ref().filter(|_| sleep_create_time).map(|d| d.sampler());
        FactoryModel {
            failure: workload.pool.model.factory_failure,
            outages,
            panics,
            panicked: std::sync::atomic::AtomicU64::new(0),
            // A stream of its own, so factory draws never shift the others.
            rng: Mutex::new(SmallRng::seed_from_u64(workload.seed ^ 0x9E37_79B9_7F4A_7C15)),
            clock,
            origin: std::sync::atomic::AtomicU64::new(0),
            create_time,
            armed: AtomicBool::new(false),
            next_id: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Starts counting outage windows from `origin` and arms the faults.
    pub(crate) fn arm(&self, origin: u64) {
        self.origin.store(origin, Ordering::Relaxed);
        self.armed.store(true, Ordering::Relaxed);
    }

    /// Factory panics injected so far.
    pub(crate) fn panics(&self) -> u64 {
        self.panicked.load(Ordering::Relaxed)
    }

    pub(crate) fn create(&self) -> Result<u64, crate::pool::BoxError> {
        if let Some(create) = &self.create_time {
            let d = create.sample_ns(&mut *self.rng.lock());
            std::thread::sleep(std::time::Duration::from_nanos(d));
        }
        if self.armed.load(Ordering::Relaxed) {
            let now = self.clock.now_nanos().saturating_sub(self.origin.load(Ordering::Relaxed));
            if self.outages.iter().any(|&(a, b)| now >= a && now < b) {
                return Err("factory outage (injected fault)".into());
            }
            if !self.panics.is_empty() && fires(&self.panics, now, &mut self.rng.lock()) {
                self.panicked.fetch_add(1, Ordering::Relaxed);
                std::panic::panic_any(InjectedPanic("factory_panic"));
            }
            if self.failure > 0.0 && self.rng.lock().random::<f64>() < self.failure {
                return Err("factory failure (injected, factory_failure)".into());
            }
        }
        Ok(self.next_id.fetch_add(1, Ordering::Relaxed))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A phase instance begins.
    PhaseStart(u32),
    /// An operation arrives: (phase instance, worker or `u32::MAX` when open loop).
    Arrival(u32, u32),
    /// A holder returns its object (slab index).
    Release(u32),
    /// The deadline of the front of the line (at most one armed at a time).
    Deadline,
    /// A maintenance pass.
    Maintain,
    /// A sample.
    Sample,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    at: u64,
    seq: u64,
    kind: Kind,
}

/// One operation. In virtual time every acquire is issued exactly at its
/// intended arrival (nothing can delay the generator), so one timestamp
/// serves: corrected and uncorrected waits coincide by construction.
#[derive(Debug, Clone, Copy)]
struct Op {
    intended: u64,
    /// A recorded hold to replay, or `NO_HOLD`.
    hold: u64,
    phase: u16,
    instance: u32,
    worker: u32,
}

const OPEN_LOOP: u32 = u32::MAX;

/// Memory floors ignore the first `min(5 min, run / 20)`: the warm-up.
const WARMUP_MAX_NS: u64 = 5 * 60 * 1_000_000_000;

struct Held {
    guard: PoolGuard<u64>,
    op: Op,
    since: u64,
}

struct Waiting {
    ticket: Option<Ticket<u64>>,
    op: Op,
    deadline: u64,
}

/// The payload of every panic tidepool injects (`factory_panic`,
/// `holder_panic`): the simulator's panic hook keeps them off stderr, and
/// nothing else may be caught silently.
#[derive(Debug, Clone, Copy)]
pub struct InjectedPanic(pub &'static str);

/// Installs, once per process, a panic hook that stays silent for an
/// [`InjectedPanic`] and hands every other panic to the hook before it.
pub(crate) fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<InjectedPanic>() {
                previous(info);
            }
        }));
    });
}

/// A holder panics with `guard` in hand: the guard drops during unwinding,
/// and the pool must destroy, not reuse, the object.
pub(crate) fn panic_holding<G: Send>(guard: G) {
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _guard = guard;
        std::panic::panic_any(InjectedPanic("holder_panic"));
    }));
    debug_assert!(unwound.is_err());
}

/// Whether a window `(from, to, probability)` around `now` fires, drawing
/// from `rng` only inside a window (runs without the fault draw nothing).
#[inline]
fn fires(windows: &[(u64, u64, f64)], now: u64, rng: &mut SmallRng) -> bool {
    windows.iter().any(|&(a, b, p)| now >= a && now < b && rng.random::<f64>() < p)
}

/// The workload's hold-time, holder and memory faults, as windows in ns.
pub(crate) struct Window {
    slow: Vec<(u64, u64, f64)>,
    stall: Vec<(u64, u64)>,
    leak: Vec<(u64, u64, u64)>,
    holder_panic: Vec<(u64, u64, f64)>,
    abandon: Vec<(u64, u64, f64)>,
    /// Clock jumps: `[from, to)` skipped.
    pauses: Vec<(u64, u64)>,
    /// Draws of the holder faults, a stream of their own (locked only
    /// inside a fault's window).
    rng: Mutex<SmallRng>,
}

impl Window {
    pub(crate) fn of(workload: &Workload) -> Window {
        let mut faults = Window {
            slow: Vec::new(),
            stall: Vec::new(),
            leak: Vec::new(),
            holder_panic: Vec::new(),
            abandon: Vec::new(),
            pauses: Vec::new(),
            rng: Mutex::new(SmallRng::seed_from_u64(workload.seed ^ 0xD1B5_4A32_D192_ED03)),
        };
        for f in &workload.faults {
            let (a, b) = (ns(f.at), f.end().map_or(u64::MAX, ns));
            match f.kind {
                FaultKind::Slow { factor } => faults.slow.push((a, b, factor)),
                FaultKind::Stall => faults.stall.push((a, b)),
                FaultKind::Leak { bytes_per_op } => faults.leak.push((a, b, bytes_per_op)),
                FaultKind::HolderPanic { probability } => faults.holder_panic.push((a, b, probability)),
                FaultKind::Abandon { probability } => faults.abandon.push((a, b, probability)),
                FaultKind::ClockJump { .. } => faults.pauses.push((a, b)),
                FaultKind::FactoryOutage | FaultKind::FactoryPanic { .. } => {}
            }
        }
        faults
    }

    /// Whether the holder whose hold ends at `now` panics while holding.
    #[inline]
    pub(crate) fn holder_panics(&self, now: u64) -> bool {
        !self.holder_panic.is_empty() && fires(&self.holder_panic, now, &mut self.rng.lock())
    }

    /// Whether the holder served at `now` never returns its object.
    #[inline]
    pub(crate) fn abandons(&self, now: u64) -> bool {
        !self.abandon.is_empty() && fires(&self.abandon, now, &mut self.rng.lock())
    }

    /// Whether the workload jumps the clock (virtual time only).
    pub(crate) fn jumps_clock(&self) -> bool {
        !self.pauses.is_empty()
    }

    /// When an event due at `at` happens: at the end of a clock jump that
    /// skips it, else at `at`.
    #[inline]
    fn resume_at(&self, at: u64) -> u64 {
        self.pauses.iter().fold(at, |t, &(a, b)| if t >= a && t < b { b } else { t })
    }

    /// Whether any leak window exists.
    #[inline]
    pub(crate) fn leaks(&self) -> bool {
        !self.leak.is_empty()
    }

    /// Bytes an operation arriving at `now` leaks.
    #[inline]
    pub(crate) fn leak_at(&self, now: u64) -> u64 {
        self.leak
            .iter()
            .filter(|&&(a, b, _)| now >= a && now < b)
            .fold(0u64, |s, &(_, _, x)| s.saturating_add(x))
    }

    /// When an object ready at `ready` for `hold` ns is returned: a slow
    /// window multiplies the hold, a stall window holds every release due
    /// inside it until its end.
    #[inline]
    pub(crate) fn release_at(&self, ready: u64, hold: u64) -> u64 {
        let mut hold = hold;
        for &(a, b, factor) in &self.slow {
            if ready >= a && ready < b {
                hold = (hold as f64 * factor).min(u64::MAX as f64 / 2.0) as u64;
            }
        }
        let mut release = ready.saturating_add(hold);
        for &(a, b) in &self.stall {
            if release >= a && release < b {
                release = b;
            }
        }
        release
    }
}

/// The engine's state while running.
struct Engine<'w, 'o> {
    workload: &'w Workload,
    pool: Pool<u64>,
    time: ManualClock,
    heap: BinaryHeap<Reverse<Event>>,
    /// The next open-loop arrival, kept beside the heap: at most one is
    /// pending per phase instance, and arrivals are half of all events.
    /// Ordered against the heap by `(at, seq)`, so the order is the same.
    next_arrival: Option<Event>,
    seq: u64,
    rng: SmallRng,
    now: u64,
    end: u64,
    instances: Vec<Instance>,
    current: usize,
    holds: Vec<Sampler>,
    thinks: Vec<Option<Sampler>>,
    create: Option<Sampler>,
    held: Vec<Option<Held>>,
    free_slots: Vec<u32>,
    line: VecDeque<Waiting>,
    /// Where the open-loop arrivals of the current phase instance are.
    arrivals: ArrivalCursor,
    /// When the last sample was taken.
    last_sample_at: u64,
    /// The recorded hold of the pending trace arrival (`NO_HOLD`: draw one).
    pending_hold: u64,
    /// Whether a `Deadline` event is pending. Waiters share one timeout and
    /// queue FIFO, so the front's deadline is always the earliest: one
    /// event at a time suffices, and the heap never fills with stale ones.
    deadline_armed: bool,
    faults: Window,
    total: Tally,
    phases: Vec<Tally>,
    drift: [Tally; 2],
    drift_windows: [(u64, u64); 2],
    interval: IntervalTally,
    last_area_at: u64,
    in_use: usize,
    size: usize,
    size_seen: (usize, usize),
    resizes: u64,
    target: usize,
    leaked_bytes: u64,
    memory_track: MemoryTrack,
    /// Holders that will never return (the `abandon` fault).
    abandoned: Vec<Held>,
    factory: Arc<FactoryModel>,
    /// The due time of the event being handled (before a clock jump
    /// moved it): an arrival's intended start.
    event_at: u64,
    /// Which objects (by factory id) a holder has now.
    held_ids: Vec<bool>,
    injected: Injected,
    handed_out_twice: u64,
    observer: &'o mut dyn Observer,
    stop: &'o AtomicBool,
}

/// Replays `workload` through a real pool in virtual time.
///
/// `observer` sees every sample as it is taken; setting `stop` ends the run
/// early (its outcome says `interrupted`).
///
/// # Errors
///
/// [`SimError::Pool`] if the pool refuses the workload's settings.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use tidepool::sim::{run, NoObserver, Workload};
///
/// let w = Workload::parse(r#"
///     seed = 3
///     [pool]
///     min = 2
///     max = 2
///     [[phase]]
///     name = "only"
///     duration = "10s"
///     arrival = { process = "poisson", rate = 20 }
///     hold = { dist = "exponential", mean = "10ms" }
/// "#, "doc.toml").unwrap();
/// let outcome = run(&w, &mut NoObserver, &AtomicBool::new(false)).unwrap();
/// let t = &outcome.total;
/// assert_eq!(t.arrived, t.completed + t.timed_out + t.failed + outcome.in_flight + outcome.waiting);
/// ```
pub fn run(workload: &Workload, observer: &mut dyn Observer, stop: &AtomicBool) -> Result<Outcome, SimError> {
    run_traced(workload, observer, stop, None)
}

/// As [`run`], recording the pool's operations into `trace` (see
/// [`crate::pool::trace`]) for a later `tidepool replay`.
///
/// # Errors
///
/// [`SimError::Pool`] if the pool refuses the workload's settings;
/// [`SimError::Input`] if a series or trace cannot be read again as the
/// run goes.
pub fn run_traced(
    workload: &Workload,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
    trace: Option<Arc<crate::pool::trace::TraceRecorder>>,
) -> Result<Outcome, SimError> {
    let mut engine = Engine::new(workload, observer, stop, trace)?;
    engine.run();
    if let Some(e) = engine.arrivals.take_error() {
        return Err(SimError::Input(e));
    }
    Ok(engine.finish())
}

impl<'w, 'o> Engine<'w, 'o> {
    fn new(
        workload: &'w Workload,
        observer: &'o mut dyn Observer,
        stop: &'o AtomicBool,
        trace: Option<Arc<crate::pool::trace::TraceRecorder>>,
    ) -> Result<Self, SimError> {
        let (clock, time) = Clock::manual();
        let spec = &workload.pool;
        let factory = Arc::new(FactoryModel::new(workload, clock.clone(), false));
        let model = Arc::clone(&factory);
        let mut builder = spec
            .settings
            .configure(Pool::builder(workload.name.clone()))
            // Maintenance runs as events of the engine, not on a thread.
            .maintenance_interval(None)
            .clock(clock)
            .factory(move || model.create())
            // Counted by the pool (stats().leaks); no log line per leak.
            .on_leak(|_| {});
        if let Some(recorder) = trace {
            builder = builder.trace(recorder);
        }
        let pool = builder.build()?;
        factory.arm(0);
        quiet_injected_panics();

        let end = ns(workload.duration);
        let instances = schedule::instances(workload);
        let holds = (0..workload.phases.len())
            .map(|i| workload.hold_of(i).map_or(super::workload::Sampler::Constant(0.0), |d| d.sampler()))
            .collect();
        let thinks = workload
            .phases
            .iter()
            .map(|p| match &p.arrival {
                Arrival::Closed { think, .. } => think.as_ref().map(|d| d.sampler()),
                _ => None,
            })
            .collect();
        let faults = Window::of(workload);
        let drift_windows = drift_windows(workload);
        let status = pool.status();
        let memory_start = (status.size as u64).saturating_mul(spec.model.object_bytes);
        Ok(Engine {
            workload,
            time,
            heap: BinaryHeap::with_capacity(1024),
            next_arrival: None,
            seq: 0,
            rng: SmallRng::seed_from_u64(workload.seed),
            now: 0,
            end,
            instances,
            current: 0,
            holds,
            thinks,
            create: spec.model.create_time.as_ref().map(|d| d.sampler()),
            held: Vec::new(),
            free_slots: Vec::new(),
            line: VecDeque::new(),
            deadline_armed: false,
            arrivals: ArrivalCursor::default(),
            last_sample_at: 0,
            pending_hold: NO_HOLD,
            faults,
            total: Tally::default(),
            phases: (0..workload.phases.len()).map(|_| Tally::default()).collect(),
            drift: [Tally::default(), Tally::default()],
            drift_windows,
            interval: IntervalTally::new(),
            last_area_at: 0,
            in_use: 0,
            size: status.size,
            size_seen: (status.size, status.size),
            resizes: 0,
            target: status.target,
            leaked_bytes: 0,
            memory_track: MemoryTrack::new(memory_start, end, drift_windows),
            abandoned: Vec::new(),
            factory,
            event_at: 0,
            held_ids: Vec::new(),
            injected: Injected::default(),
            handed_out_twice: 0,
            observer,
            stop,
            pool,
        })
    }

    fn schedule(&mut self, at: u64, kind: Kind) {
        self.seq += 1;
        let event = Event { at, seq: self.seq, kind };
        if matches!(kind, Kind::Arrival(_, OPEN_LOOP)) && self.next_arrival.is_none() {
            self.next_arrival = Some(event);
        } else {
            self.heap.push(Reverse(event));
        }
    }

    /// The earliest event: the heap's top or the pending arrival.
    #[inline]
    fn pop_event(&mut self) -> Option<Event> {
        match (self.next_arrival, self.heap.peek()) {
            (Some(arrival), Some(Reverse(top))) if (top.at, top.seq) < (arrival.at, arrival.seq) => {
                self.heap.pop().map(|Reverse(e)| e)
            }
            (Some(arrival), _) => {
                self.next_arrival = None;
                Some(arrival)
            }
            (None, _) => self.heap.pop().map(|Reverse(e)| e),
        }
    }

    fn run(&mut self) {
        for i in 0..self.instances.len() {
            self.schedule(self.instances[i].start, Kind::PhaseStart(i as u32));
        }
        let maintenance = ns(self.workload.pool.settings.maintenance_interval);
        self.schedule(maintenance, Kind::Maintain);
        self.schedule(ns(self.workload.sample_interval), Kind::Sample);
        self.note_memory();
        let mut handled: u32 = 0;
        while let Some(event) = self.pop_event() {
            if event.at > self.end {
                break;
            }
            handled = handled.wrapping_add(1);
            if handled % 4096 == 0 && self.stop.load(Ordering::Relaxed) {
                break;
            }
            self.event_at = event.at;
            let at = if self.faults.pauses.is_empty() { event.at } else { self.resume_at(event.at) };
            self.advance(at);
            match event.kind {
                Kind::PhaseStart(i) => self.phase_start(i as usize),
                Kind::Arrival(instance, worker) => self.arrival(instance, worker),
                Kind::Release(slot) => self.release(slot),
                Kind::Deadline => self.deadline(),
                Kind::Maintain => {
                    self.maintain();
                    self.schedule(self.now + maintenance, Kind::Maintain);
                }
                Kind::Sample => {
                    self.sample();
                    self.schedule(self.now + ns(self.workload.sample_interval), Kind::Sample);
                }
            }
        }
        if !self.stop.load(Ordering::Relaxed) {
            self.advance(self.end);
            // The last, partial interval (or the only one, when the sample
            // interval outlasts the run) still gets its line.
            if self.last_sample_at < self.end {
                self.sample();
            }
        }
    }

    /// When an event due at `at` happens, counting each clock jump the
    /// first time it moves one.
    fn resume_at(&mut self, at: u64) -> u64 {
        let resumed = self.faults.resume_at(at);
        if resumed != at && self.now < resumed {
            self.injected.clock_jumps += 1;
        }
        resumed.min(self.end)
    }

    /// Moves virtual time to `at`, integrating in_use and size over the gap.
    #[inline]
    fn advance(&mut self, at: u64) {
        if at > self.now {
            if at > self.last_area_at {
                let phase = self.instances.get(self.current).map_or(0, |i| i.phase);
                let span = (self.last_area_at, at);
                let levels = (self.in_use, self.size);
                integrate(
                    &mut self.total,
                    &mut self.phases[phase],
                    &mut self.drift,
                    &self.drift_windows,
                    span,
                    levels,
                );
                self.last_area_at = at;
            }
            self.now = at;
            self.time.set_nanos(at);
        }
    }

    /// Reads the pool's size after anything that may have changed it.
    #[inline]
    fn observe_size(&mut self) {
        let size = self.pool.status().size;
        if size != self.size {
            self.size = size;
            self.size_seen = (self.size_seen.0.min(size), self.size_seen.1.max(size));
            self.note_memory();
        }
    }

    /// Updates the memory peak and the floors of the drift windows.
    fn note_memory(&mut self) {
        let memory = self.memory();
        self.memory_track.note(self.now, memory);
    }

    fn memory(&self) -> u64 {
        (self.size as u64)
            .saturating_mul(self.workload.pool.model.object_bytes)
            .saturating_add(self.leaked_bytes)
    }

    fn phase_start(&mut self, i: usize) {
        self.current = i;
        let instance = &self.instances[i];
        let phase = &self.workload.phases[instance.phase];
        let start = instance.start;
        match &phase.arrival {
            Arrival::Poisson { .. }
            | Arrival::Constant { .. }
            | Arrival::Ramp { .. }
            | Arrival::Series { .. }
            | Arrival::Trace { .. } => {
                self.arrivals.reset();
                if let Some(first) = self.next_open_arrival(i, start) {
                    self.schedule(first, Kind::Arrival(i as u32, OPEN_LOOP));
                }
            }
            Arrival::Closed { workers, .. } => {
                for w in 0..*workers {
                    self.schedule(start, Kind::Arrival(i as u32, w as u32));
                }
            }
        }
    }

    /// The next open-loop arrival after `from` in phase instance `i`, if
    /// before its end; a recorded hold goes to `pending_hold`.
    #[inline]
    fn next_open_arrival(&mut self, i: usize, from: u64) -> Option<u64> {
        let (at, hold) = self.arrivals.next(self.workload, &self.instances[i], from, &mut self.rng)?;
        self.pending_hold = hold;
        Some(at)
    }

    fn count<F: Fn(&mut Tally)>(&mut self, op: &Op, f: F) {
        f(&mut self.total);
        f(&mut self.phases[op.phase as usize]);
        for k in 0..2 {
            let (a, b) = self.drift_windows[k];
            if op.intended >= a && op.intended < b {
                f(&mut self.drift[k]);
            }
        }
    }

    fn arrival(&mut self, instance: u32, worker: u32) {
        let i = instance as usize;
        // The intended start: a clock jump delays the arrival, not its
        // schedule (arrivals due in the gap pile up at its end).
        let now = self.event_at;
        let phase = self.instances[i].phase as u16;
        // Taken before the next arrival is scheduled (which sets the next one's).
        let hold = std::mem::replace(&mut self.pending_hold, NO_HOLD);
        if worker == OPEN_LOOP {
            if let Some(next) = self.next_open_arrival(i, now) {
                self.schedule(next, Kind::Arrival(instance, OPEN_LOOP));
            }
        } else if now >= self.instances[i].end {
            return;
        }
        let op = Op { intended: now, hold, phase, instance, worker };
        self.count(&op, |t| t.arrived += 1);
        self.interval.arrived += 1;
        if self.faults.leaks() {
            self.leaked_bytes = self.leaked_bytes.saturating_add(self.faults.leak_at(now));
        }
        let admission = self.pool.acquire_or_queue();
        match admission {
            Ok(Admission::Ready(guard)) => self.start_hold(guard, op),
            Ok(Admission::Queued(ticket)) => {
                // The timeout runs from the acquire call (after a clock
                // jump, its end), the corrected wait from the intended start.
                let deadline = self.now.saturating_add(ns(self.workload.pool.settings.acquire_timeout));
                self.line.push_back(Waiting { ticket: Some(ticket), op, deadline });
                self.arm_deadline();
            }
            Err(_) => self.failed(op),
        }
        self.observe_size();
    }

    fn start_hold(&mut self, guard: PoolGuard<u64>, op: Op) {
        let now = self.now;
        let mut ready = now;
        let fresh = guard.is_fresh();
        if fresh {
            if let Some(create) = &self.create {
                ready = ready.saturating_add(create.sample_ns(&mut self.rng));
            }
        }
        let hold =
            if op.hold == NO_HOLD { self.holds[op.phase as usize].sample_ns(&mut self.rng) } else { op.hold };
        let release = self.faults.release_at(ready, hold);
        let corrected = ready - op.intended;
        if corrected == 0 {
            self.interval.pending_zero_waits += 1;
        } else {
            self.interval.wait.saturating_record(corrected);
        }
        self.count(&op, |t| {
            if corrected == 0 {
                t.pending_zero_waits += 1;
            } else {
                t.wait_corrected.saturating_record(corrected);
            }
            t.served += 1;
            t.waited += u64::from(corrected > 0);
            if fresh {
                t.fresh += 1;
            }
        });
        self.note_handed_out(*guard);
        self.in_use += 1;
        if self.faults.abandons(now) {
            // Never returned: held to the end of the run.
            self.injected.abandoned += 1;
            self.abandoned.push(Held { guard, op, since: now });
            return;
        }
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.held.push(None);
                (self.held.len() - 1) as u32
            }
        };
        self.held[slot as usize] = Some(Held { guard, op, since: now });
        self.schedule(release, Kind::Release(slot));
    }

    /// Marks object `id` as held; one already held is handed out twice.
    #[inline]
    fn note_handed_out(&mut self, id: u64) {
        let i = usize::try_from(id).unwrap_or(usize::MAX);
        if i >= self.held_ids.len() {
            self.held_ids.resize(i.saturating_add(1).max(self.held_ids.len() * 2), false);
        }
        if std::mem::replace(&mut self.held_ids[i], true) {
            self.handed_out_twice += 1;
        }
    }

    fn failed(&mut self, op: Op) {
        self.count(&op, |t| t.failed += 1);
        self.interval.failed += 1;
        self.next_for_worker(op);
    }

    /// A closed-loop worker thinks, then arrives again (within its phase).
    fn next_for_worker(&mut self, op: Op) {
        if op.worker == OPEN_LOOP {
            return;
        }
        let think = match &self.thinks[op.phase as usize] {
            Some(s) => s.sample_ns(&mut self.rng),
            None => 0,
        };
        let at = self.now.saturating_add(think);
        if at < self.instances[op.instance as usize].end {
            self.schedule(at, Kind::Arrival(op.instance, op.worker));
        }
    }

    fn release(&mut self, slot: u32) {
        let Some(held) = self.held[slot as usize].take() else { return };
        self.free_slots.push(slot);
        let held_ns = self.now - held.since;
        if let Some(seen) = self.held_ids.get_mut(*held.guard as usize) {
            *seen = false;
        }
        if self.faults.holder_panics(self.now) {
            panic_holding(held.guard);
            self.injected.holder_panics += 1;
        } else {
            drop(held.guard);
        }
        self.in_use -= 1;
        self.interval.completed += 1;
        self.count(&held.op, |t| {
            t.completed += 1;
            t.hold.saturating_record(held_ns);
        });
        self.next_for_worker(held.op);
        self.serve_line();
        self.observe_size();
    }

    /// Polls the line front first: the pool serves FIFO, so the served
    /// tickets are a prefix of the live ones.
    fn serve_line(&mut self) {
        while let Some(front) = self.line.front_mut() {
            let outcome = match front.ticket.as_mut() {
                None => None,
                Some(ticket) => match ticket.poll() {
                    None => return,
                    Some(outcome) => Some(outcome),
                },
            };
            let op = front.op;
            self.line.pop_front();
            match outcome {
                None => {}
                Some(Ok(guard)) => self.start_hold(guard, op),
                Some(Err(_)) => self.failed(op),
            }
        }
    }

    /// Schedules the front's deadline if none is pending.
    fn arm_deadline(&mut self) {
        if !self.deadline_armed {
            if let Some(front) = self.line.front() {
                self.deadline_armed = true;
                self.schedule(front.deadline, Kind::Deadline);
            }
        }
    }

    /// Expires every waiter whose deadline has passed, front first.
    fn deadline(&mut self) {
        self.deadline_armed = false;
        while let Some(front) = self.line.front_mut() {
            if front.ticket.is_some() && front.deadline > self.now {
                break;
            }
            let op = front.op;
            let ticket = front.ticket.take();
            self.line.pop_front();
            let Some(ticket) = ticket else { continue };
            match ticket.expire() {
                Ok(guard) => self.start_hold(guard, op),
                Err(e) if e.is_timeout() => {
                    // The caller waited its whole timeout: that belongs in
                    // the wait distribution (a p99 gate must see it).
                    let waited = self.now - op.intended;
                    self.count(&op, |t| {
                        t.timed_out += 1;
                        t.wait_corrected.saturating_record(waited);
                    });
                    self.interval.timed_out += 1;
                    self.interval.wait.saturating_record(waited);
                    self.next_for_worker(op);
                }
                Err(_) => self.failed(op),
            }
        }
        self.serve_line();
        self.arm_deadline();
        self.observe_size();
    }

    fn maintain(&mut self) {
        let report = self.pool.maintain();
        if let Some(target) = report.new_target {
            if target != self.target {
                self.resizes += 1;
                self.target = target;
            }
        }
        self.serve_line();
        self.observe_size();
    }

    fn sample(&mut self) {
        self.last_sample_at = self.now;
        self.note_memory();
        let status = self.pool.status();
        // The interval just ended belongs to the phase running before `now`
        // (a phase starting exactly now has not contributed to it).
        let mut current = self.current;
        while current > 0 && self.instances.get(current).is_some_and(|i| i.start >= self.now) {
            current -= 1;
        }
        let phase = self.instances.get(current).map_or("", |i| self.workload.phases[i.phase].name.as_str());
        let sample = Sample {
            t: self.now as f64 / 1e9,
            phase: phase.to_string(),
            size: status.size,
            idle: status.idle,
            in_use: status.in_use,
            waiting: status.pending,
            target: status.target,
            arrived: self.interval.arrived,
            completed: self.interval.completed,
            timed_out: self.interval.timed_out,
            failed: self.interval.failed,
            wait_p99: self.interval.wait_p99(),
            memory_bytes: self.memory(),
            wall: None,
        };
        self.interval.reset();
        self.observer.on_sample(&sample);
        if self.observer.wants_checkpoint() {
            let mut snapshot = self.outcome();
            snapshot.interrupted = true;
            self.observer.on_checkpoint(&snapshot, None);
        }
    }

    /// Everything measured so far (the tallies copied and settled).
    fn outcome(&self) -> Outcome {
        let mut total = self.total.clone();
        let mut phases = self.phases.clone();
        let mut drift = self.drift.clone();
        for t in std::iter::once(&mut total).chain(phases.iter_mut()).chain(drift.iter_mut()) {
            t.settle();
        }
        let interrupted = self.stop.load(Ordering::Relaxed);
        let mut phase_open = vec![(0u64, 0u64); self.phases.len()];
        for held in self.held.iter().flatten().chain(&self.abandoned) {
            phase_open[held.op.phase as usize].0 += 1;
        }
        for w in self.line.iter().filter(|w| w.ticket.is_some()) {
            phase_open[w.op.phase as usize].1 += 1;
        }
        let in_flight = phase_open.iter().map(|p| p.0).sum();
        let waiting = phase_open.iter().map(|p| p.1).sum();
        let memory_end = self.memory();
        let status = self.pool.status();
        let stats = self.pool.stats();
        let conservation = Conservation {
            created: stats.created.iter().sum(),
            destroyed: stats.destroyed.iter().sum(),
            size: status.size as u64,
            idle: status.idle as u64,
            in_use: status.in_use as u64,
            held: in_flight,
            handed_out_twice: self.handed_out_twice,
        };
        let injected = Injected { factory_panics: self.factory.panics(), ..self.injected };
        Outcome {
            phase_open,
            virtual_ns: self.now,
            interrupted,
            total,
            phases,
            drift,
            drift_windows: self.drift_windows,
            in_flight,
            waiting,
            size_seen: self.size_seen,
            resizes: self.resizes,
            pool_stats: self.pool.stats(),
            memory: self.memory_track.extent(memory_end),
            memory_floor: self.memory_track.floors(memory_end),
            injected,
            conservation,
        }
    }

    fn finish(mut self) -> Outcome {
        let outcome = self.outcome();
        // The line first, front first: each ticket leaves from the front of
        // the pool's line in O(1). Returning the held objects first would
        // grant them down a long line, one cancelled grant at a time.
        drop(std::mem::take(&mut self.line));
        self.held.clear();
        self.abandoned.clear();
        outcome
    }
}
