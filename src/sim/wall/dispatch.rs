//! The dispatcher, on a thread of its own: waits for each intended start
//! and hands it to the executors (or spawns it as a task); starts
//! closed-loop workers; grows the executors when they are all blocked.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::shared::{Job, Shared};
use super::watch::HOUSEKEEPING_NS;
use super::work::Work;
use crate::sim::schedule::{ns, ArrivalCursor, Instance, NO_HOLD};
use crate::sim::workload::{Arrival, Dist, Sampler};
use crate::sim::SimError;

/// See the [module docs](self).
pub(super) struct Dispatcher<'s, T: Send + 'static> {
    pub(super) shared: &'s Arc<Shared<T>>,
    pub(super) instances: Vec<Instance>,
    /// Executors running.
    pub(super) workers: usize,
    /// The most executors this run may start (the most tasks in progress,
    /// for async work).
    pub(super) max_workers: usize,
    /// Consecutive checks that found every executor blocked and starts queued.
    pub(super) starved: u32,
    /// When to check next whether the executors keep up.
    pub(super) next_check: u64,
    /// The next shard a task counts in.
    pub(super) next_shard: usize,
}

impl<'s, T: Send + 'static> Dispatcher<'s, T> {
    /// Starts `n` more executors (fewer at the cap).
    pub(super) fn grow_executors<'scope>(
        &mut self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        rx: &Receiver<Job>,
        n: usize,
    ) -> Result<(), SimError>
    where
        's: 'scope,
    {
        if self.shared.work.is_async() {
            return Ok(()); // operations are tasks: no executor threads
        }
        let shared: &'s Shared<T> = self.shared;
        for _ in 0..n.min(self.max_workers - self.workers) {
            let w = self.workers;
            let rx = rx.clone();
            let shard = &shared.shards[w % shared.shards.len()];
            std::thread::Builder::new()
                .name(format!("tidepool-exec-{w}"))
                .spawn_scoped(scope, move || shared.executor(shard, &rx))
                .map_err(|e| SimError::Threads(format!("starting executor {w}: {e}")))?;
            self.workers += 1;
            shared.workers.store(self.workers, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Doubles the executors (up to the cap) when, at two checks a
    /// millisecond apart, every one was blocked — in the pool's line or
    /// sleeping through a hold — while starts queued behind them.
    /// Executors short of CPU are not blocked: more threads would not help
    /// them.
    fn grow_if_starved<'scope>(
        &mut self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        tx: &crossbeam_channel::Sender<Job>,
        rx: &Receiver<Job>,
        now: u64,
    ) -> Result<(), SimError>
    where
        's: 'scope,
    {
        if now < self.next_check || self.workers >= self.max_workers || self.shared.work.is_async() {
            return Ok(());
        }
        self.next_check = now + HOUSEKEEPING_NS;
        let blocked = self.shared.blocked.load(Ordering::Relaxed);
        if blocked >= self.workers && !tx.is_empty() {
            self.starved += 1;
        } else {
            self.starved = 0;
        }
        if self.starved >= 2 {
            self.starved = 0;
            self.grow_executors(scope, rx, self.workers.max(1))?;
        }
        Ok(())
    }

    /// Waits until `at`; false when the run ended before it. A start due
    /// before the end that the run's end overtook returns true at once:
    /// the caller's `try_send` then finds the queue closed to it (the
    /// executors leave unstarted jobs unstarted) and it counts as dropped.
    pub(super) fn wait_until(&self, at: u64) -> bool {
        loop {
            // Acquire: pairs with the monitor's Release, so `ended_at` is seen.
            if self.shared.ending.load(Ordering::Acquire) {
                return at < self.shared.ended_at.load(Ordering::Relaxed);
            }
            let now = self.shared.now();
            if now >= at {
                return true;
            }
            let left = (at - now).min(20_000_000);
            if left > 200_000 {
                // Linux oversleeps by up to ~60 µs: wake early, spin the rest.
                std::thread::sleep(Duration::from_nanos(left - 100_000));
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Hands an open-loop start to the executors, or spawns it as a task;
    /// false when it cannot start (the queue is full, too many tasks are in
    /// progress, or the run is ending): dropped.
    fn start(&mut self, tx: &crossbeam_channel::Sender<Job>, job: Job) -> bool {
        let shared = self.shared;
        if shared.ending.load(Ordering::Relaxed) {
            return false;
        }
        match &shared.work {
            Work::Async(op, runtime) => {
                if shared.tasks.load(Ordering::Relaxed) >= self.max_workers {
                    return false;
                }
                shared.tasks.fetch_add(1, Ordering::Relaxed);
                self.next_shard = self.next_shard.wrapping_add(1);
                runtime.spawn(Arc::clone(shared).perform_async(self.next_shard, job, Arc::clone(op)));
                true
            }
            Work::Hold | Work::Sync(_) => tx.try_send(job).is_ok(),
        }
    }

    /// Starts the closed-loop workers of phase instance `i`: threads, or
    /// tasks for async work.
    fn start_closed<'scope>(
        &mut self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        (i, instance): (usize, Instance),
        (workers, think): (usize, Option<Sampler>),
        hold: &Sampler,
    ) -> Result<(), SimError>
    where
        's: 'scope,
    {
        let shared: &'s Arc<Shared<T>> = self.shared;
        for w in 0..workers {
            let seed =
                shared.workload.seed ^ ((i as u64) << 32 | w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let think = think.clone();
            if let Work::Async(op, runtime) = &shared.work {
                shared.tasks.fetch_add(1, Ordering::Relaxed);
                runtime.spawn(Arc::clone(shared).closed_worker_async(
                    w,
                    instance,
                    think,
                    seed,
                    Arc::clone(op),
                ));
                continue;
            }
            let shard = &shared.shards[w % shared.shards.len()];
            let hold = hold.clone();
            std::thread::Builder::new()
                .name(format!("tidepool-closed-{w}"))
                .spawn_scoped(scope, move || shared.closed_worker(shard, instance, hold, think, seed))
                .map_err(|e| SimError::Threads(format!("starting closed-loop worker {w}: {e}")))?;
        }
        Ok(())
    }

    /// Plays the schedule: open-loop starts to the executors (or as
    /// tasks), closed-loop phases on threads (or tasks) of their own.
    pub(super) fn play<'scope>(
        &mut self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        tx: &crossbeam_channel::Sender<Job>,
        rx: &Receiver<Job>,
    ) -> Result<(), SimError>
    where
        's: 'scope,
    {
        let shared: &'s Arc<Shared<T>> = self.shared;
        let workload = &shared.workload;
        let mut rng = SmallRng::seed_from_u64(workload.seed);
        let holds: Vec<Sampler> = (0..workload.phases.len())
            .map(|i| workload.hold_of(i).map_or(Sampler::Constant(0.0), |d| d.sampler()))
            .collect();
        let mut cursor = ArrivalCursor::default();
        let end = ns(workload.duration);
        for i in 0..self.instances.len() {
            let instance = self.instances[i];
            if !self.wait_until(instance.start) {
                return Ok(());
            }
            let phase = &workload.phases[instance.phase];
            let ending = shared.ending.load(Ordering::Relaxed);
            if let (Arrival::Closed { workers, think }, false) = (&phase.arrival, ending) {
                let think = think.as_ref().map(Dist::sampler);
                self.start_closed(scope, (i, instance), (*workers, think), &holds[instance.phase])?;
            } else if !matches!(phase.arrival, Arrival::Closed { .. }) {
                cursor.reset();
                let mut next = cursor.next(workload, &instance, instance.start, &mut rng);
                while let Some((at, recorded)) = next {
                    if !self.wait_until(at) {
                        return Ok(());
                    }
                    let hold = if recorded == NO_HOLD {
                        holds[instance.phase].sample_ns(&mut rng)
                    } else {
                        recorded
                    };
                    shared.scheduled.fetch_add(1, Ordering::Relaxed);
                    let job = Job { intended: at, hold, phase: instance.phase as u16 };
                    if !self.start(tx, job) {
                        shared.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    self.grow_if_starved(scope, tx, rx, at)?;
                    next = cursor.next(workload, &instance, at, &mut rng);
                }
                if let Some(e) = cursor.take_error() {
                    return Err(SimError::Input(e));
                }
            }
            if !self.wait_until(instance.end.min(end)) {
                return Ok(());
            }
        }
        Ok(())
    }
}
