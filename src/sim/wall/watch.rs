//! The watch, on the calling thread of a wall-clock run: reads the pool's
//! levels every millisecond (time-weighted utilization and size, memory),
//! takes the samples, publishes the live gauges and hands samples and
//! checkpoints to the observer. None of it runs on the dispatcher's thread,
//! so a sample or a checkpoint never delays a start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::shared::{lag_histogram, Shared};
use super::work::Memory;
use super::{WallFigures, SIM_PHASE, SIM_STARTS};
use crate::process::{self, ProcessSample};
use crate::sim::accounting::{self, Ending, Ledger, Levels};
use crate::sim::observer::{Observer, WallSample};
use crate::sim::outcome::{Injected, IntervalTally, Outcome};
use crate::sim::schedule::{ns, Instance};

/// See the [module docs](self).
pub(super) struct Watch<'s, 'o, T: Send + 'static> {
    pub(super) shared: &'s Shared<T>,
    pub(super) observer: &'o mut dyn Observer,
    pub(super) stop: &'o AtomicBool,
    pub(super) instances: Vec<Instance>,
    /// Areas (utilization, size) are integrated here, not in the shards.
    pub(super) ledger: Ledger,
    pub(super) levels: Levels,
    pub(super) next_sample: u64,
    pub(super) last_sample_at: u64,
    pub(super) sample_interval: u64,
    /// `shared.dropped` at the last sample.
    pub(super) dropped_before: u64,
    pub(super) rss_peak: u64,
    /// The resident set at the last sample (real memory without the
    /// counting allocator).
    pub(super) rss_last: u64,
    pub(super) phase_gauge: Option<usize>,
    /// The `process_*` series, as the agent publishes them.
    pub(super) process: process::Publisher,
    pub(super) process_start: Option<ProcessSample>,
    /// The pool's levels just before it was closed at the end.
    pub(super) final_status: Option<crate::pool::Status>,
    /// Every executor (and task) has returned (the last outcome).
    pub(super) executors_done: bool,
}

/// The watch reads the pool this often, ns.
pub(super) const HOUSEKEEPING_NS: u64 = 1_000_000;

impl<T: Send + 'static> Watch<'_, '_, T> {
    /// Keeps house until the schedule's end, a stop, or the dispatcher
    /// giving up.
    pub(super) fn run(&mut self) {
        let end = self.end();
        loop {
            let now = self.shared.now();
            self.housekeeping(now);
            if now >= end
                || self.stop.load(Ordering::Relaxed)
                || self.shared.dispatch_done.load(Ordering::Relaxed)
            {
                return;
            }
            let next = (now + HOUSEKEEPING_NS).min(end);
            std::thread::sleep(Duration::from_nanos(next.saturating_sub(self.shared.now()).max(1)));
        }
    }

    /// Everything measured up to `at` (ns since the origin): the
    /// monitor's areas and the shards' counts, merged.
    pub(super) fn outcome(&self, at: u64, interrupted: bool) -> (Outcome, WallFigures) {
        let mut ledger = self.ledger.clone();
        let mut lag = lag_histogram();
        let (mut late, mut dropped) = (0, self.shared.dropped.load(Ordering::Relaxed));
        for shard in &self.shared.shards {
            // Copied under the lock, merged outside it: executors wait for
            // a memcpy, not for the merge.
            let (mut s_ledger, s_lag, live) = {
                let s = shard.lock();
                late += s.late;
                dropped += s.unstarted;
                (s.ledger.clone(), s.lag.clone(), s.live.clone())
            };
            // Operations under way (none once the executors are done): open,
            // as at the run's end, so a checkpoint adds up.
            for (phase, &(holding, waiting)) in live.iter().enumerate() {
                s_ledger.open_now(phase as u16, at, holding, waiting);
            }
            ledger.merge(&s_ledger);
            let _ = lag.add(&s_lag);
        }
        let process_end = process::sample();
        let abandoned = self.shared.abandoned.lock().len() as u64;
        let status = self.shared.pool.status();
        let end = Ending {
            at,
            interrupted,
            memory: self.memory_now(),
            // Every other guard is back once the executors are done;
            // before that (a checkpoint) the pool's count is all there is.
            held: if self.executors_done { abandoned } else { status.in_use as u64 },
            handed_out_twice: self.shared.handed_out_twice.load(Ordering::Relaxed),
            injected: Injected {
                factory_panics: self.shared.factory.as_ref().map_or(0, |f| f.panics()),
                holder_panics: self.shared.holder_panics.load(Ordering::Relaxed),
                abandoned,
                clock_jumps: 0,
            },
        };
        let mut outcome = accounting::outcome(ledger, &self.levels, &self.shared.pool, end);
        if !self.shared.system.is_empty() {
            outcome.system = crate::sim::SystemFigures::of(&self.shared.system);
        }
        let figures = WallFigures {
            workers: self.shared.workers.load(Ordering::Relaxed),
            scheduled: self.shared.scheduled.load(Ordering::Relaxed),
            dropped,
            late,
            late_after: Duration::from_nanos(self.shared.late_after),
            lag,
            process: self.process_start.zip(process_end),
            rss_peak: self.rss_peak.max(process_end.map_or(0, |p| p.rss_bytes)),
            seconds: at as f64 / 1e9,
            // The process was first sampled just before the origin.
            process_seconds: self.shared.now() as f64 / 1e9,
        };
        (outcome, figures)
    }

    /// Memory now: the model's, or the process's (live heap bytes with the
    /// counting allocator, else the resident set at the last sample).
    fn memory_now(&self) -> u64 {
        match self.shared.memory {
            Memory::Modeled { .. } => self.shared.modeled_memory(self.levels.size()),
            Memory::Process => crate::monitor::alloc::counters().map_or(self.rss_last, |c| c.live_bytes()),
        }
    }

    /// Reads the pool's levels, integrates them up to `now`, and samples
    /// when one is due.
    pub(super) fn housekeeping(&mut self, now: u64) {
        if self.final_status.is_some() {
            return; // the pool is closed: its levels are no longer the run's
        }
        let end = self.end();
        let at = now.min(end);
        let phase = self.phase_at(self.levels.last_at);
        self.levels.advance(&mut self.ledger, phase, at);
        let status = self.shared.pool.status();
        self.levels.in_use = status.in_use;
        self.levels.observe(at, status.size, status.target, || 0);
        // Leaked bytes grow between size changes: note every reading.
        let memory = self.memory_now();
        self.levels.memory.note(at, memory);
        // The sample at the end waits for the executors to finish (run_wall).
        while now >= self.next_sample && self.next_sample < end {
            let t = self.next_sample;
            self.sample(t);
            self.next_sample += self.sample_interval;
        }
    }

    fn end(&self) -> u64 {
        ns(self.shared.workload.duration)
    }

    /// The workload phase running at `t`.
    fn phase_at(&self, t: u64) -> usize {
        let i = self.instances.partition_point(|x| x.start <= t).saturating_sub(1);
        self.instances.get(i).map_or(0, |x| x.phase)
    }

    pub(super) fn sample(&mut self, t: u64) {
        self.last_sample_at = t;
        let mut interval = IntervalTally::new();
        let mut lag = lag_histogram();
        let mut late = 0;
        for shard in &self.shared.shards {
            let mut s = shard.lock();
            interval.merge(&s.ledger.interval);
            s.ledger.interval.reset();
            let _ = lag.add(&s.interval_lag);
            s.interval_lag.reset();
            late += std::mem::take(&mut s.interval_late);
        }
        let dropped_now = self.shared.dropped.load(Ordering::Relaxed);
        let dropped = dropped_now.saturating_sub(std::mem::replace(&mut self.dropped_before, dropped_now));
        let status = self.final_status.unwrap_or_else(|| self.shared.pool.status());
        // Read and published at once: the same process_* series (and
        // types) as an agent's.
        let proc = self.process.publish();
        let rss = proc.map_or(0, |p| p.rss_bytes);
        self.rss_peak = self.rss_peak.max(rss);
        self.rss_last = rss;
        // The interval just ended belongs to the phase running before `t`.
        let phase = self.phase_at(t.saturating_sub(1));
        let name = self.shared.workload.phases.get(phase).map_or("", |p| p.name.as_str());
        self.publish(phase, late, dropped);
        let wall = WallSample {
            lag_p99: lag.value_at_quantile(0.99) as f64 / 1e9,
            late,
            dropped,
            rss_bytes: rss,
            cpu_seconds: proc.map_or(0.0, |p| p.cpu_seconds),
        };
        let sample = accounting::sample(t, name, &status, &mut interval, self.memory_now(), Some(wall));
        self.observer.on_sample(&sample);
        if self.observer.wants_checkpoint() {
            let (outcome, figures) = self.outcome(t, true);
            self.observer.on_checkpoint(&outcome, Some(&figures));
        }
    }

    /// The run's live gauges, for Grafana during the soak.
    fn publish(&mut self, phase: usize, late: u64, dropped: u64) {
        let workload = &self.shared.workload.name;
        if self.phase_gauge != Some(phase) {
            for (i, p) in self.shared.workload.phases.iter().enumerate() {
                metrics::gauge!(SIM_PHASE, "workload" => workload.clone(), "phase" => p.name.clone())
                    .set(if i == phase { 1.0 } else { 0.0 });
            }
            self.phase_gauge = Some(phase);
        }
        metrics::counter!(SIM_STARTS, "workload" => workload.clone(), "result" => "late").increment(late);
        metrics::counter!(SIM_STARTS, "workload" => workload.clone(), "result" => "dropped")
            .increment(dropped);
    }
}
