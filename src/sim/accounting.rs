//! One accounting for both runs: the engine (virtual time) and the wall
//! runner count operations, integrate the pool's levels, track memory and
//! build samples and outcomes through these same types, so both modes count
//! identically.

use super::observer::{Sample, WallSample};
use super::outcome::{Conservation, Injected, IntervalTally, Outcome, Tally};
use super::schedule::ns;
use super::workload::Workload;
use crate::pool::{Pool, Status};

/// Memory floors ignore the first `min(5 min, run / 20)`: the warm-up.
const WARMUP_MAX_NS: u64 = 5 * 60 * 1_000_000_000;

/// Adds the levels `(in_use, size)` held over `(from, to)` to the areas of
/// its phase and the drift windows they overlap (the run's are the phases'
/// sum).
#[inline]
pub(crate) fn integrate(
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
    phase.in_use_area += in_use as u128 * dt as u128;
    phase.size_area += size as u128 * dt as u128;
    phase.span_ns += dt;
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

/// How an operation's own code ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpEnd {
    /// It returned `Ok`.
    Ok,
    /// It returned an error.
    Error,
    /// It panicked.
    Panicked,
}

/// Which slices of the run an operation counts in: its phase, and the drift
/// windows its intended start falls in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpKey {
    /// Intended start, ns since the run's start.
    pub(crate) intended: u64,
    /// Index into the workload's phases.
    pub(crate) phase: u16,
}

/// The operation counts of a run (or of one shard of a wall-clock run's
/// executors, merged at each sample and at the end): each phase, the drift
/// windows, and the interval since the last sample. The whole run's tally
/// is the phases' sum, made by [`outcome`] (phases partition the run).
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    pub(crate) phases: Vec<Tally>,
    pub(crate) drift: [Tally; 2],
    windows: [(u64, u64); 2],
    /// Counts since the last sample (not merged by [`Ledger::merge`]).
    pub(crate) interval: IntervalTally,
    /// Per phase: operations (holding an object, waiting in line) when the
    /// run ended.
    pub(crate) open: Vec<(u64, u64)>,
}

impl Ledger {
    pub(crate) fn new(phases: usize, windows: [(u64, u64); 2]) -> Ledger {
        Ledger {
            phases: (0..phases).map(|_| Tally::default()).collect(),
            drift: [Tally::default(), Tally::default()],
            windows,
            interval: IntervalTally::new(),
            open: vec![(0, 0); phases],
        }
    }

    /// Applies `f` to every tally `op` counts in.
    #[inline]
    fn each<F: Fn(&mut Tally)>(&mut self, op: OpKey, f: F) {
        // No total: it is the phases' sum ([`outcome`]).
        f(&mut self.phases[op.phase as usize]);
        for k in 0..2 {
            let (a, b) = self.windows[k];
            if op.intended >= a && op.intended < b {
                f(&mut self.drift[k]);
            }
        }
    }

    /// An operation arrived.
    #[inline]
    pub(crate) fn arrived(&mut self, op: OpKey) {
        self.each(op, |t| t.arrived += 1);
        self.interval.arrived += 1;
    }

    /// An acquire was served `corrected` ns after its intended start
    /// (`uncorrected`: after it actually started, where that differs).
    #[inline]
    pub(crate) fn served(&mut self, op: OpKey, corrected: u64, uncorrected: Option<u64>, fresh: bool) {
        // Most acquires wait 0: a counter is cheaper than a histogram record.
        if corrected == 0 {
            self.interval.pending_zero_waits += 1;
        } else {
            self.interval.wait.saturating_record(corrected);
        }
        self.each(op, |t| {
            if corrected == 0 {
                t.pending_zero_waits += 1;
            } else {
                t.wait_corrected.saturating_record(corrected);
            }
            if let Some(u) = uncorrected {
                t.wait_uncorrected.saturating_record(u);
            }
            t.served += 1;
            t.waited += u64::from(corrected > 0);
            t.fresh += u64::from(fresh);
        });
    }

    /// An acquire gave up after waiting `corrected` ns from its intended
    /// start: that belongs in the wait distribution (a p99 gate must see it).
    #[inline]
    pub(crate) fn timed_out(&mut self, op: OpKey, corrected: u64, uncorrected: Option<u64>) {
        self.each(op, |t| {
            t.timed_out += 1;
            t.wait_corrected.saturating_record(corrected);
            if let Some(u) = uncorrected {
                t.wait_uncorrected.saturating_record(u);
            }
        });
        self.interval.timed_out += 1;
        self.interval.wait.saturating_record(corrected);
    }

    /// An acquire failed (the factory, or the pool closed).
    #[inline]
    pub(crate) fn failed(&mut self, op: OpKey) {
        self.each(op, |t| t.failed += 1);
        self.interval.failed += 1;
    }

    /// An operation returned its object after holding it `held` ns.
    #[inline]
    pub(crate) fn completed(&mut self, op: OpKey, held: u64) {
        self.interval.completed += 1;
        self.each(op, |t| {
            t.completed += 1;
            t.hold.saturating_record(held);
        });
    }

    /// The operation's own code ran `took` ns and ended so (a user's
    /// operation: call before [`Ledger::completed`]).
    #[inline]
    pub(crate) fn operated(&mut self, op: OpKey, took: u64, end: OpEnd) {
        self.each(op, |t| {
            t.operation.saturating_record(took);
            match end {
                OpEnd::Ok => {}
                OpEnd::Error => t.op_errors += 1,
                OpEnd::Panicked => t.op_panics += 1,
            }
        });
    }

    /// An operation of `phase` still open when the run ended: holding an
    /// object, or waiting in line.
    pub(crate) fn still_open(&mut self, phase: u16, holding: bool) {
        let open = &mut self.open[phase as usize];
        if holding {
            open.0 += 1;
        } else {
            open.1 += 1;
        }
    }

    /// `holding` operations of `phase` hold an object at `at` and
    /// `waiting` ones have started but not yet been served: counted open,
    /// as [`Ledger::still_open`] at a run's end (the waiting ones arrive
    /// now, as an acquire cut short at the end does).
    pub(crate) fn open_now(&mut self, phase: u16, at: u64, holding: u64, waiting: u64) {
        let open = &mut self.open[phase as usize];
        open.0 += holding;
        open.1 += waiting;
        for _ in 0..waiting {
            self.each(OpKey { intended: at, phase }, |t| t.arrived += 1);
        }
    }

    /// Adds the levels `(in_use, size)` held over `span` to the areas of
    /// `phase` and of the drift windows they overlap.
    #[inline]
    pub(crate) fn integrate(&mut self, phase: usize, span: (u64, u64), levels: (usize, usize)) {
        integrate(&mut self.phases[phase], &mut self.drift, &self.windows, span, levels);
    }

    /// Adds `other`'s tallies and open operations (not its interval).
    pub(crate) fn merge(&mut self, other: &Ledger) {
        for (p, x) in self.phases.iter_mut().zip(&other.phases) {
            p.merge(x);
        }
        for (d, x) in self.drift.iter_mut().zip(&other.drift) {
            d.merge(x);
        }
        for (o, x) in self.open.iter_mut().zip(&other.open) {
            o.0 += x.0;
            o.1 += x.1;
        }
    }

    /// The drift windows, ns.
    pub(crate) fn windows(&self) -> [(u64, u64); 2] {
        self.windows
    }
}

/// The pool's levels over a run: the time-weighted areas (through the
/// [`Ledger`]), the smallest and largest size, the target's changes, and
/// modeled memory.
#[derive(Debug, Clone)]
pub(crate) struct Levels {
    /// Up to when the areas are integrated, ns.
    pub(crate) last_at: u64,
    /// Objects held since `last_at`.
    pub(crate) in_use: usize,
    /// The pool's size since `last_at`.
    size: usize,
    pub(crate) size_seen: (usize, usize),
    target: usize,
    /// Times the target changed (sizing, waiters, remedies).
    pub(crate) resizes: u64,
    pub(crate) memory: MemoryTrack,
}

impl Levels {
    /// The levels of a run whose pool starts at `status` with `memory`
    /// bytes and that ends at `end` ns.
    pub(crate) fn new(status: &Status, memory: u64, end: u64, windows: [(u64, u64); 2]) -> Levels {
        Levels {
            last_at: 0,
            in_use: status.in_use,
            size: status.size,
            size_seen: (status.size, status.size),
            target: status.target,
            resizes: 0,
            memory: MemoryTrack::new(memory, end, windows),
        }
    }

    /// Integrates the levels held since the last call up to `at`, into
    /// `phase`'s area.
    #[inline]
    pub(crate) fn advance(&mut self, ledger: &mut Ledger, phase: usize, at: u64) {
        if at > self.last_at {
            ledger.integrate(phase, (self.last_at, at), (self.in_use, self.size));
            self.last_at = at;
        }
    }

    /// Notes a size and target read off the pool at `at`; a new size also
    /// notes `memory` (its bytes at that size).
    #[inline]
    pub(crate) fn observe(&mut self, at: u64, size: usize, target: usize, memory: impl FnOnce() -> u64) {
        if target != self.target {
            self.target = target;
            self.resizes += 1;
        }
        if size != self.size {
            self.size = size;
            self.size_seen = (self.size_seen.0.min(size), self.size_seen.1.max(size));
            self.memory.note(at, memory());
        }
    }

    /// The size whose area is being integrated.
    #[inline]
    pub(crate) fn size(&self) -> usize {
        self.size
    }
}

/// One sample: the pool at `status`, the interval's counts (reset
/// afterwards), memory, and a wall-clock run's extras.
pub(crate) fn sample(
    t: u64,
    phase: &str,
    status: &Status,
    interval: &mut IntervalTally,
    memory_bytes: u64,
    wall: Option<WallSample>,
) -> Sample {
    let sample = Sample {
        t: t as f64 / 1e9,
        phase: phase.to_string(),
        size: status.size,
        idle: status.idle,
        in_use: status.in_use,
        waiting: status.pending,
        target: status.target,
        arrived: interval.arrived,
        completed: interval.completed,
        timed_out: interval.timed_out,
        failed: interval.failed,
        wait_p99: interval.wait_p99(),
        memory_bytes,
        wall,
    };
    interval.reset();
    sample
}

/// How a run ended, beside its ledger and levels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ending {
    /// Time reached, ns.
    pub(crate) at: u64,
    pub(crate) interrupted: bool,
    /// Modeled memory at the end.
    pub(crate) memory: u64,
    /// Objects the holders hold (abandoned ones included).
    pub(crate) held: u64,
    pub(crate) handed_out_twice: u64,
    pub(crate) injected: Injected,
}

/// Everything measured: the ledger's tallies (settled), the levels, and the
/// pool's totals and conservation at the end.
pub(crate) fn outcome<T: Send + 'static>(
    mut ledger: Ledger,
    levels: &Levels,
    pool: &Pool<T>,
    end: Ending,
) -> Outcome {
    // The whole run is the sum of its phases (they partition it).
    let mut total = Tally::default();
    for phase in &ledger.phases {
        total.merge(phase);
    }
    for t in std::iter::once(&mut total).chain(ledger.phases.iter_mut()).chain(ledger.drift.iter_mut()) {
        t.settle();
    }
    let stats = pool.stats();
    let status = pool.status();
    let conservation = Conservation {
        created: stats.created.iter().sum(),
        destroyed: stats.destroyed.iter().sum(),
        size: status.size as u64,
        idle: status.idle as u64,
        in_use: status.in_use as u64,
        held: end.held,
        handed_out_twice: end.handed_out_twice,
    };
    let windows = ledger.windows();
    Outcome {
        virtual_ns: end.at,
        interrupted: end.interrupted,
        in_flight: ledger.open.iter().map(|p| p.0).sum(),
        waiting: ledger.open.iter().map(|p| p.1).sum(),
        phase_open: ledger.open,
        total,
        phases: ledger.phases,
        drift: ledger.drift,
        drift_windows: windows,
        size_seen: levels.size_seen,
        resizes: levels.resizes,
        pool_stats: stats,
        memory: levels.memory.extent(end.memory),
        memory_floor: levels.memory.floors(end.memory),
        injected: end.injected,
        conservation,
        system: Default::default(),
    }
}
