//! What a run measured: [`Tally`] (counts and histograms of a slice of the
//! run), [`Outcome`] (the whole run), and the fault and conservation
//! figures every run reports. [`crate::report`] turns an outcome into files.

use hdrhistogram::Histogram;
use serde::Serialize;

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
    pub(crate) pending_zero_waits: u64,
    /// Time objects were held, ns.
    pub hold: Histogram<u64>,
    /// Of the completed, operations whose own code returned an error
    /// (a user's operation under [`crate::soak::Harness`]).
    pub op_errors: u64,
    /// Of the completed, operations whose own code panicked (their object
    /// was destroyed, not returned).
    pub op_panics: u64,
    /// How long the operation's own code ran, ns (a user's operation; empty
    /// when the run models its holds).
    pub operation: Histogram<u64>,
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
            op_errors: 0,
            op_panics: 0,
            operation: histogram(),
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
        self.op_errors += other.op_errors;
        self.op_panics += other.op_panics;
        let _ = self.operation.add(&other.operation);
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
#[derive(Debug, Clone)]
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
    /// Per phase, indexed like [`Workload::phases`](crate::sim::Workload::phases).
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
    /// The workload's locks and cache.
    pub system: super::system::SystemFigures,
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
/// let c = tidepool::sim::Conservation {
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
