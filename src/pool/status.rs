//! Lock-free views of a pool: [`Status`] (levels now) and [`Stats`] (totals).

use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use super::DestroyReason;
use crate::per_thread::PerThreadCounter;

/// The pool's levels right now, read from atomics only — never a lock, so it
/// is safe to call per request.
///
/// Fields are read one after another while the pool runs, so the snapshot
/// may be momentarily inconsistent (e.g. `idle + in_use` one off `size`).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tidepool::pool::Pool;
/// let pool = Pool::builder("ex").min_size(2).max_size(4).factory(|| Ok(0u8)).build()?;
/// let status = pool.status();
/// assert_eq!((status.size, status.idle, status.in_use), (2, 2, 0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// Objects alive (idle + in use + being created).
    pub size: usize,
    /// Objects waiting in the idle queue.
    pub idle: usize,
    /// Objects held by callers.
    pub in_use: usize,
    /// Callers waiting in line.
    pub pending: usize,
    /// Configured minimum.
    pub min: usize,
    /// Configured maximum.
    pub max: usize,
    /// Current adaptive target: the pool creates on demand up to it.
    pub target: usize,
}

impl Status {
    /// `in_use / size`, or 0 for an empty pool.
    pub fn utilization(&self) -> f64 {
        if self.size == 0 {
            0.0
        } else {
            self.in_use as f64 / self.size as f64
        }
    }
}

/// Running totals since the pool was built, read from atomics.
///
/// Take two and subtract ([`Stats::since`]) for an interval's deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Acquires served without waiting in line.
    pub acquires_direct: u64,
    /// Acquires served after waiting in line.
    pub acquires_waited: u64,
    /// Acquires served by an object created for them (the rest reused one).
    pub acquires_fresh: u64,
    /// Acquires that timed out.
    pub timeouts: u64,
    /// Acquires failed by the factory (error or panic).
    pub factory_errors: u64,
    /// Objects created by reason: prewarm, demand, replenish.
    pub created: [u64; 3],
    /// Objects destroyed, indexed like [`DestroyReason::ALL`].
    pub destroyed: [u64; DestroyReason::COUNT],
    /// Guards held past the leak threshold.
    pub leaks: u64,
    /// Total time callers waited (successful acquires).
    pub wait_total: Duration,
    /// Total time objects were held: exact when every hold is timed, else
    /// the timed holds times the sampling interval (see
    /// [`PoolBuilder::hold_sample_every`](super::PoolBuilder::hold_sample_every)).
    pub use_total: Duration,
    /// Total time the factory spent creating.
    pub create_total: Duration,
}

impl Stats {
    /// All successful acquires.
    pub fn acquires(&self) -> u64 {
        self.acquires_direct + self.acquires_waited
    }

    /// Acquires served by an existing object over all acquires (1 if none).
    pub fn reuse_ratio(&self) -> f64 {
        let all = self.acquires();
        if all == 0 {
            1.0
        } else {
            (all - self.acquires_fresh.min(all)) as f64 / all as f64
        }
    }

    /// Objects created for any reason.
    pub fn created_total(&self) -> u64 {
        self.created.iter().sum()
    }

    /// Objects destroyed (or detached) for any reason.
    pub fn destroyed_total(&self) -> u64 {
        self.destroyed.iter().sum()
    }

    /// Objects destroyed for one reason.
    pub fn destroyed_by(&self, reason: DestroyReason) -> u64 {
        self.destroyed[reason as usize]
    }

    /// The deltas from `earlier` to `self` (tokio-metrics' intervals).
    pub fn since(&self, earlier: &Stats) -> Stats {
        let sub = |a: u64, b: u64| a.saturating_sub(b);
        let mut created = [0; 3];
        for (i, c) in created.iter_mut().enumerate() {
            *c = sub(self.created[i], earlier.created[i]);
        }
        let mut destroyed = [0; DestroyReason::COUNT];
        for (i, d) in destroyed.iter_mut().enumerate() {
            *d = sub(self.destroyed[i], earlier.destroyed[i]);
        }
        Stats {
            acquires_direct: sub(self.acquires_direct, earlier.acquires_direct),
            acquires_waited: sub(self.acquires_waited, earlier.acquires_waited),
            acquires_fresh: sub(self.acquires_fresh, earlier.acquires_fresh),
            timeouts: sub(self.timeouts, earlier.timeouts),
            factory_errors: sub(self.factory_errors, earlier.factory_errors),
            created,
            destroyed,
            leaks: sub(self.leaks, earlier.leaks),
            wait_total: self.wait_total.saturating_sub(earlier.wait_total),
            use_total: self.use_total.saturating_sub(earlier.use_total),
            create_total: self.create_total.saturating_sub(earlier.create_total),
        }
    }
}

/// The atomics behind [`Stats`]; objects in use are the pool's guard
/// count ([`super::custody`]).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Successful acquires, direct or waited: a shard per live thread.
    checkouts: PerThreadCounter,
    pub(crate) acquires_waited: AtomicU64,
    pub(crate) acquires_fresh: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) factory_errors: AtomicU64,
    pub(crate) created: [AtomicU64; 3],
    pub(crate) destroyed: [AtomicU64; DestroyReason::COUNT],
    pub(crate) leaks: AtomicU64,
    pub(crate) wait_ns: AtomicU64,
    pub(crate) create_ns: AtomicU64,
}

impl Counters {
    /// Counts a successful acquire, direct or waited, on this thread's
    /// shard. Release: a reader that sees it also sees what the acquire
    /// counted before (`acquires_waited`, the pool's `direct_fresh`), so the
    /// direct acquires derived from it are never overcounted.
    #[inline]
    pub(crate) fn checked_out(&self) {
        self.checkouts.increment();
    }

    /// Every counter; `use_total` is the hold histogram's to fill in.
    pub(crate) fn snapshot(&self) -> Stats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        // Checkouts first (see `checked_out`).
        let checkouts = self.checkouts.sum();
        let acquires_waited = load(&self.acquires_waited);
        Stats {
            acquires_direct: checkouts.saturating_sub(acquires_waited),
            acquires_waited,
            acquires_fresh: load(&self.acquires_fresh),
            timeouts: load(&self.timeouts),
            factory_errors: load(&self.factory_errors),
            created: [load(&self.created[0]), load(&self.created[1]), load(&self.created[2])],
            destroyed: std::array::from_fn(|i| load(&self.destroyed[i])),
            leaks: load(&self.leaks),
            wait_total: Duration::from_nanos(load(&self.wait_ns)),
            use_total: Duration::ZERO,
            create_total: Duration::from_nanos(load(&self.create_ns)),
        }
    }
}
