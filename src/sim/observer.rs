//! What a run hands out as it goes: a [`Sample`] every sample interval
//! (a line of `samples.jsonl`), to an [`Observer`].

use serde::Serialize;

use std::sync::Arc;

use super::Outcome;
use crate::monitor::WatchedPool;

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

/// The shared state a run drives beside its pool: the names of its
/// `[[lock]]`s (registered in [`crate::sync::registry`]) and its `[cache]`.
#[derive(Debug, Clone, Default)]
pub struct SharedState {
    /// The workload's lock names.
    pub locks: Vec<String>,
    /// The workload's cache.
    pub cache: Option<crate::cache::Cache<u64, ()>>,
}

/// Receives progress as the run goes (`samples.jsonl`, the progress bar,
/// checkpoints).
pub trait Observer {
    /// Called once, before the first operation, with the pool the run
    /// drives (to sample it, or to act on it as a live agent would).
    fn on_start(&mut self, pool: Arc<dyn WatchedPool>) {
        let _ = pool;
    }

    /// Called once, after [`Observer::on_start`], with the workload's
    /// locks and cache (to read their contention and hit ratio as a live
    /// agent would).
    fn on_shared_state(&mut self, state: SharedState) {
        let _ = state;
    }

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
