//! Wall-clock runs (`--time wall`): a workload's schedule played against the
//! real pool on real threads and the real clock.
//!
//! The schedule is the virtual engine's (`sim::schedule`): the same
//! generator draws the intended start of every operation. A *dispatcher*
//! thread sleeps (then spins) until each intended start and hands the
//! operation to *executor* threads through a bounded queue, so arrivals
//! never wait for earlier operations (open loop, like k6's arrival-rate
//! executors and wrk2). An executor acquires through
//! [`Pool::acquire_blocking`] — the production path, parking in the pool's
//! line — holds by sleeping, and drops the guard. The dispatcher starts
//! with [`default_workers`] executors and doubles them, up to
//! [`WallOptions::workers`], while all are blocked with starts queued.
//!
//! Every wait is measured from the intended start (corrected for
//! coordinated omission) and from the actual start (uncorrected). A start
//! later than [`WallOptions::late_after`] counts as *late*; a start the
//! executors could not take because the queue was full, or that was still
//! queued at the end, counts as *dropped* (k6's `dropped_iterations`). The
//! report puts both beside the results: a run that dropped its schedule did
//! not test what it says.
//!
//! Closed-loop phases run their workers as threads of their own for the
//! phase's length.
//!
//! The calling thread is the *monitor*: every millisecond it reads the
//! pool's levels (for the time-weighted utilization and size), and every
//! sample interval it merges the executors' counts into a [`Sample`](super::Sample) with
//! the process's RSS and CPU time, publishes the run's gauges, and hands
//! samples and checkpoints to the observer — off the dispatcher's thread,
//! so they never delay a start.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::accounting::{self, drift_windows, Ending, Ledger, Levels, OpKey};
use super::faults::{panic_holding, quiet_injected_panics, FactoryModel, Window};
use super::observer::{Observer, WallSample};
use super::outcome::{Injected, IntervalTally, Outcome};
use super::SimError;

/// Shards of the set of held object ids.
const HELD_SHARDS: usize = 64;
use super::schedule::{self, ns, ArrivalCursor, Instance, NO_HOLD};
use super::workload::{Arrival, Dist, Sampler, Workload};
use crate::clock::Clock;
use crate::pool::{AcquireError, Pool};
use crate::process::{self, ProcessSample};

/// Settings of a wall-clock run.
///
/// # Examples
///
/// ```
/// let options = tidepool::sim::WallOptions { workers: Some(8), ..Default::default() };
/// assert_eq!(options.late_after, std::time::Duration::from_millis(1));
/// ```
#[derive(Debug, Clone)]
pub struct WallOptions {
    /// The most executor threads, so the most open-loop operations in
    /// progress at once (k6's `maxVUs`); `None`: [`DEFAULT_MAX_WORKERS`].
    /// A run starts [`default_workers`] of them and doubles them whenever
    /// all are blocked (in the pool's line, or holding) while starts queue.
    pub workers: Option<usize>,
    /// A start this much after its intended time counts as late.
    pub late_after: Duration,
    /// Record the pool's operations here (see [`crate::pool::trace`]).
    pub trace: Option<Arc<crate::pool::trace::TraceRecorder>>,
}

impl Default for WallOptions {
    fn default() -> Self {
        WallOptions { workers: None, late_after: Duration::from_millis(1), trace: None }
    }
}

/// The most executor or closed-loop worker threads a run may start.
pub const MAX_THREADS: usize = 4096;

/// The most executors a run starts unless `--workers` says otherwise.
pub const DEFAULT_MAX_WORKERS: usize = 1024;

/// What only a wall-clock run measures: how well the schedule was kept, and
/// what the process cost.
#[derive(Debug, Clone)]
pub struct WallFigures {
    /// Executor threads started (grown as the run needed them).
    pub workers: usize,
    /// Open-loop starts the schedule asked for before the run ended.
    pub scheduled: u64,
    /// Of those, never started: the queue to the executors was full, or
    /// they were still queued at the end.
    pub dropped: u64,
    /// Starts later than `late_after`.
    pub late: u64,
    /// The threshold for `late`.
    pub late_after: Duration,
    /// How late every start was, ns (0: on time).
    pub lag: Histogram<u64>,
    /// The process at the start and the end of the run.
    pub process: Option<(ProcessSample, ProcessSample)>,
    /// The largest RSS sampled, bytes.
    pub rss_peak: u64,
    /// Wall seconds from the first intended start to the end.
    pub seconds: f64,
}

/// Executor threads a run starts with: twice the busiest phase's
/// concurrency — peak rate × mean hold, or, past the pool's `max`, `max`
/// holders plus peak rate × acquire timeout waiters —
/// at least one per CPU but the scheduler's, and at most [`MAX_THREADS`].
///
/// # Examples
///
/// ```
/// let w = tidepool::sim::Workload::parse(r#"
///     hold = { dist = "constant", value = "50ms" }
///     [pool]
///     max = 100
///     [[phase]]
///     name = "busy"
///     duration = "1m"
///     arrival = { process = "poisson", rate = 1000 }
/// "#, "doc.toml").unwrap();
/// assert_eq!(tidepool::sim::wall::default_workers(&w), 100);
/// ```
pub fn default_workers(workload: &Workload) -> usize {
    let need = (0..workload.phases.len())
        .filter(|&i| !matches!(workload.phases[i].arrival, Arrival::Closed { .. }))
        .map(|i| {
            let hold = workload.hold_of(i).map_or(0.0, Dist::mean_seconds);
            let rate = workload.peak_rate(i);
            // Creation time only delays the acquires that create: not
            // charged to every operation.
            let busy = rate * hold;
            if busy > workload.pool.settings.max_size as f64 {
                // Past the pool's capacity, callers queue for up to the
                // acquire timeout, each holding an executor meanwhile.
                workload.pool.settings.max_size as f64
                    + rate * workload.pool.settings.acquire_timeout.as_secs_f64()
            } else {
                busy
            }
        })
        .fold(0.0, f64::max);
    // The scheduler keeps a core busy at high rates: one executor per
    // other core suffices when nothing blocks.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let floor = cpus.saturating_sub(1).max(1);
    let want = (2.0 * need).ceil();
    if want.is_finite() {
        (want as usize).clamp(floor, MAX_THREADS)
    } else {
        MAX_THREADS
    }
}

/// One operation handed to an executor.
#[derive(Debug, Clone, Copy)]
struct Job {
    /// Intended start, ns since the run's origin.
    intended: u64,
    /// Hold time, ns.
    hold: u64,
    phase: u16,
}

impl Job {
    #[inline]
    fn key(&self) -> OpKey {
        OpKey { intended: self.intended, phase: self.phase }
    }
}

/// Counts kept by a group of executors; the monitor merges the shards.
struct Shard {
    ledger: Ledger,
    lag: Histogram<u64>,
    interval_lag: Histogram<u64>,
    late: u64,
    interval_late: u64,
    /// Jobs still queued when the run ended.
    unstarted: u64,
}

fn lag_histogram() -> Histogram<u64> {
    // 1 ns to 1 h at 2 significant digits: small enough to keep one per
    // shard and per interval.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 2).unwrap_or_else(|_| {
        Histogram::new(2).unwrap_or_else(|_| unreachable!("2 significant digits is valid"))
    })
}

impl Shard {
    fn new(phases: usize, windows: [(u64, u64); 2]) -> Shard {
        Shard {
            ledger: Ledger::new(phases, windows),
            lag: lag_histogram(),
            interval_lag: lag_histogram(),
            late: 0,
            interval_late: 0,
            unstarted: 0,
        }
    }
}

/// What the threads of a run share.
struct Shared<'w> {
    workload: &'w Workload,
    pool: Pool<u64>,
    clock: Clock,
    origin: u64,
    /// Set when the run ends (schedule done or stopped): holds cut short,
    /// queued jobs left unstarted.
    ending: AtomicBool,
    faults: Window,
    /// The modeled factory (`None`: a pool the caller built).
    factory: Option<Arc<FactoryModel>>,
    /// Guards of holders that never return (the `abandon` fault).
    abandoned: Mutex<Vec<crate::pool::PoolGuard<u64>>>,
    holder_panics: AtomicU64,
    /// Objects held now, by factory id, in shards (a second holder of one
    /// id is an object handed out twice).
    held_ids: Vec<Mutex<std::collections::HashSet<u64>>>,
    handed_out_twice: AtomicU64,
    leaked: AtomicU64,
    late_after: u64,
    shards: Vec<Mutex<Shard>>,
    /// Threads inside an acquire or sleeping through a hold: waiting on
    /// the pool or the workload, not on the CPU.
    blocked: std::sync::atomic::AtomicUsize,
    /// Open-loop starts the schedule asked for so far.
    scheduled: AtomicU64,
    /// Of those, not taken by an executor (the queue was full).
    dropped: AtomicU64,
    /// Executors started.
    workers: std::sync::atomic::AtomicUsize,
    /// The dispatcher returned (schedule done, or an error).
    dispatch_done: AtomicBool,
    /// When `ending` was set (ns since the origin): starts due before it
    /// that the dispatcher had not reached count as dropped.
    ended_at: AtomicU64,
}

impl Shared<'_> {
    /// ns since the run's origin.
    #[inline]
    fn now(&self) -> u64 {
        self.clock.now_nanos().saturating_sub(self.origin)
    }

    /// Sleeps until `at` (ns since the origin); false if the run ended first.
    fn sleep_until(&self, at: u64) -> bool {
        loop {
            if self.ending.load(Ordering::Relaxed) {
                return false;
            }
            let now = self.now();
            if now >= at {
                return true;
            }
            let left = at - now;
            if left > 50_000 {
                // Wake at least every 20 ms to notice the end.
                std::thread::sleep(Duration::from_nanos(left.min(20_000_000)));
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Runs one operation: acquire, hold, release; counts it in `shard`.
    fn perform(&self, shard: &Mutex<Shard>, job: Job, executor: bool) {
        // Only executors count as blocked: the scheduler grows them.
        let blocked = if executor { 1 } else { 0 };
        let start = self.now();
        let lag = start.saturating_sub(job.intended);
        if self.faults.leaks() {
            self.leaked.fetch_add(self.faults.leak_at(job.intended), Ordering::Relaxed);
        }
        self.blocked.fetch_add(blocked, Ordering::Relaxed);
        let result = self.pool.acquire_blocking();
        self.blocked.fetch_sub(blocked, Ordering::Relaxed);
        let ready = self.now();
        let corrected = ready.saturating_sub(job.intended);
        let uncorrected = ready.saturating_sub(start);
        {
            let mut s = shard.lock();
            s.lag.saturating_record(lag);
            s.interval_lag.saturating_record(lag);
            if lag > self.late_after {
                s.late += 1;
                s.interval_late += 1;
            }
            let ledger = &mut s.ledger;
            ledger.arrived(job.key());
            match &result {
                Ok(guard) => ledger.served(job.key(), corrected, Some(uncorrected), guard.is_fresh()),
                Err(e) if e.is_timeout() => ledger.timed_out(job.key(), corrected, Some(uncorrected)),
                Err(AcquireError::Closed { .. }) if self.ending.load(Ordering::Relaxed) => {
                    ledger.still_open(job.phase, false);
                }
                Err(_) => ledger.failed(job.key()),
            }
        }
        let Ok(guard) = result else { return };
        let id = *guard;
        if !self.held_ids[id as usize % HELD_SHARDS].lock().insert(id) {
            self.handed_out_twice.fetch_add(1, Ordering::Relaxed);
        }
        if self.faults.abandons(ready) {
            // Never returned: in flight to the end of the run.
            self.abandoned.lock().push(guard);
            shard.lock().ledger.still_open(job.phase, true);
            return;
        }
        let release = self.faults.release_at(ready, job.hold);
        let finished = release <= ready || {
            self.blocked.fetch_add(blocked, Ordering::Relaxed);
            let finished = self.sleep_until(release);
            self.blocked.fetch_sub(blocked, Ordering::Relaxed);
            finished
        };
        self.held_ids[id as usize % HELD_SHARDS].lock().remove(&id);
        if self.faults.holder_panics(self.now()) {
            panic_holding(guard);
            self.holder_panics.fetch_add(1, Ordering::Relaxed);
        } else {
            drop(guard);
        }
        let held = self.now().saturating_sub(ready);
        let mut s = shard.lock();
        if finished {
            s.ledger.completed(job.key(), held);
        } else {
            s.ledger.still_open(job.phase, true);
        }
    }

    /// An executor: takes jobs until the queue closes.
    fn executor(&self, shard: &Mutex<Shard>, jobs: &Receiver<Job>) {
        while let Some(job) = next_job(jobs) {
            if self.ending.load(Ordering::Relaxed) {
                shard.lock().unstarted += 1;
                continue;
            }
            self.perform(shard, job, true);
        }
    }

    /// A closed-loop worker of phase instance `instance`: acquire, hold,
    /// think, until the instance ends.
    fn closed_worker(
        &self,
        shard: &Mutex<Shard>,
        instance: Instance,
        hold: Sampler,
        think: Option<Sampler>,
        seed: u64,
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        loop {
            let now = self.now();
            if now >= instance.end || self.ending.load(Ordering::Relaxed) {
                return;
            }
            let job = Job { intended: now, hold: hold.sample_ns(&mut rng), phase: instance.phase as u16 };
            self.perform(shard, job, false);
            if let Some(think) = &think {
                let until = self.now().saturating_add(think.sample_ns(&mut rng));
                if !self.sleep_until(until.min(instance.end)) {
                    return;
                }
            }
        }
    }
}

/// The next job, `None` once the queue is closed and empty. Under load
/// the queue is rarely empty for long: spin (yielding) a little before
/// parking, so the scheduler does not pay a futex wake per start.
#[inline]
fn next_job(jobs: &Receiver<Job>) -> Option<Job> {
    for _ in 0..SPINS_BEFORE_PARKING {
        match jobs.try_recv() {
            Ok(job) => return Some(job),
            Err(crossbeam_channel::TryRecvError::Disconnected) => return None,
            Err(crossbeam_channel::TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    jobs.recv().ok()
}

/// About 50 µs of yielding.
const SPINS_BEFORE_PARKING: u32 = 100;

/// The monitor, on the calling thread: reads the pool's levels every
/// millisecond (time-weighted utilization and size, memory), takes the
/// samples, publishes the live gauges and hands samples and checkpoints to
/// the observer. None of it runs on the dispatcher's thread, so a sample or
/// a checkpoint never delays a start.
struct Monitor<'s, 'w, 'o> {
    shared: &'s Shared<'w>,
    observer: &'o mut dyn Observer,
    stop: &'o AtomicBool,
    instances: Vec<Instance>,
    /// Areas (utilization, size) are integrated here, not in the shards.
    ledger: Ledger,
    levels: Levels,
    next_sample: u64,
    last_sample_at: u64,
    sample_interval: u64,
    /// `shared.dropped` at the last sample.
    dropped_before: u64,
    rss_peak: u64,
    phase_gauge: Option<usize>,
    process_start: Option<ProcessSample>,
    /// The pool's levels just before it was closed at the end.
    final_status: Option<crate::pool::Status>,
    /// Every executor has returned (the last outcome).
    executors_done: bool,
}

/// The monitor reads the pool this often, ns.
const HOUSEKEEPING_NS: u64 = 1_000_000;

impl Monitor<'_, '_, '_> {
    /// Keeps house until the schedule's end, a stop, or the dispatcher
    /// giving up.
    fn run(&mut self) {
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
    fn outcome(&self, at: u64, interrupted: bool) -> (Outcome, WallFigures) {
        let mut ledger = self.ledger.clone();
        let mut lag = lag_histogram();
        let (mut late, mut dropped) = (0, self.shared.dropped.load(Ordering::Relaxed));
        for shard in &self.shared.shards {
            // Copied under the lock, merged outside it: executors wait for
            // a memcpy, not for the merge.
            let (s_ledger, s_lag) = {
                let s = shard.lock();
                late += s.late;
                dropped += s.unstarted;
                (s.ledger.clone(), s.lag.clone())
            };
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
        let outcome = accounting::outcome(ledger, &self.levels, &self.shared.pool, end);
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
        };
        (outcome, figures)
    }

    fn memory_now(&self) -> u64 {
        (self.levels.size() as u64)
            .saturating_mul(self.shared.workload.pool.model.object_bytes)
            .saturating_add(self.shared.leaked.load(Ordering::Relaxed))
    }

    /// Reads the pool's levels, integrates them up to `now`, and samples
    /// when one is due.
    fn housekeeping(&mut self, now: u64) {
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

    fn sample(&mut self, t: u64) {
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
        let proc = process::sample();
        let rss = proc.map_or(0, |p| p.rss_bytes);
        self.rss_peak = self.rss_peak.max(rss);
        // The interval just ended belongs to the phase running before `t`.
        let phase = self.phase_at(t.saturating_sub(1));
        let name = self.shared.workload.phases.get(phase).map_or("", |p| p.name.as_str());
        self.publish(phase, late, dropped, proc);
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
    fn publish(&mut self, phase: usize, late: u64, dropped: u64, proc: Option<ProcessSample>) {
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
        if let Some(p) = proc {
            metrics::gauge!(PROCESS_RSS).set(p.rss_bytes as f64);
            // A gauge: the counter facade takes whole numbers only.
            metrics::gauge!(PROCESS_CPU).set(p.cpu_seconds);
            metrics::gauge!(PROCESS_THREADS).set(p.threads as f64);
        }
    }
}

/// The dispatcher, on a thread of its own: waits for each intended start
/// and hands it to the executors; starts closed-loop workers; grows the
/// executors when they are all blocked.
struct Dispatcher<'s, 'w> {
    shared: &'s Shared<'w>,
    instances: Vec<Instance>,
    /// Executors running.
    workers: usize,
    /// The most executors this run may start.
    max_workers: usize,
    /// Consecutive checks that found every executor blocked and starts queued.
    starved: u32,
    /// When to check next whether the executors keep up.
    next_check: u64,
}

impl<'s, 'w> Dispatcher<'s, 'w> {
    /// Starts `n` more executors (fewer at the cap).
    fn grow_executors<'scope>(
        &mut self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        rx: &Receiver<Job>,
        n: usize,
    ) -> Result<(), SimError>
    where
        's: 'scope,
        'w: 'scope,
    {
        let shared: &'s Shared<'w> = self.shared;
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
        'w: 'scope,
    {
        if now < self.next_check || self.workers >= self.max_workers {
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
    fn wait_until(&self, at: u64) -> bool {
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

    /// Plays the schedule: open-loop starts to the executors, closed-loop
    /// phases on threads of their own.
    fn play<'scope>(
        &mut self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        tx: &crossbeam_channel::Sender<Job>,
        rx: &Receiver<Job>,
    ) -> Result<(), SimError>
    where
        's: 'scope,
        'w: 'scope,
    {
        let shared: &'s Shared<'w> = self.shared;
        let workload = shared.workload;
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
                for w in 0..*workers {
                    let shard = &shared.shards[w % shared.shards.len()];
                    let (hold, think) = (holds[instance.phase].clone(), think.clone());
                    let seed =
                        workload.seed ^ ((i as u64) << 32 | w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    std::thread::Builder::new()
                        .name(format!("tidepool-closed-{w}"))
                        .spawn_scoped(scope, move || shared.closed_worker(shard, instance, hold, think, seed))
                        .map_err(|e| SimError::Threads(format!("starting closed-loop worker {w}: {e}")))?;
                }
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
                    if shared.ending.load(Ordering::Relaxed) || tx.try_send(job).is_err() {
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

/// The gauge `tidepool_sim_phase{workload, phase}`: 1 for the phase running.
pub const SIM_PHASE: &str = "tidepool_sim_phase";
/// `tidepool_sim_starts_total{workload, result="late"|"dropped"}`.
pub const SIM_STARTS: &str = "tidepool_sim_starts_total";
/// The process's resident memory, bytes (the standard process metric name).
pub const PROCESS_RSS: &str = "process_resident_memory_bytes";
/// The process's CPU time, seconds.
pub const PROCESS_CPU: &str = "process_cpu_seconds_total";
/// The process's threads.
pub const PROCESS_THREADS: &str = "process_threads";

/// Plays `workload` against a real pool on real threads and the real clock.
///
/// The pool's metrics go to whatever `metrics` recorder is installed when
/// this is called (install the exporter first to watch the run live).
/// `observer` sees a sample every sample interval; setting `stop` ends the
/// run early (its outcome says `interrupted`).
///
/// # Errors
///
/// [`SimError::Pool`] if the pool refuses the workload's settings;
/// [`SimError::Threads`] if a thread cannot be started or a closed-loop
/// phase asks for more than [`MAX_THREADS`] workers; [`SimError::Input`]
/// if a series or trace cannot be read again as the run goes.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use tidepool::sim::{run_wall, NoObserver, WallOptions, Workload};
///
/// let w = Workload::parse(r#"
///     duration = "300ms"
///     hold = { dist = "constant", value = "1ms" }
///     [pool]
///     max = 4
///     [[phase]]
///     name = "only"
///     duration = "300ms"
///     arrival = { process = "constant", rate = 200 }
/// "#, "doc.toml").unwrap();
/// let (outcome, figures) = run_wall(&w, &mut NoObserver, &AtomicBool::new(false), &WallOptions::default()).unwrap();
/// let t = &outcome.total;
/// assert_eq!(t.arrived + figures.dropped, figures.scheduled);
/// assert_eq!(t.arrived, t.completed + t.timed_out + t.failed + outcome.in_flight + outcome.waiting);
/// ```
pub fn run_wall(
    workload: &Workload,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
    options: &WallOptions,
) -> Result<(Outcome, WallFigures), SimError> {
    let clock = Clock::system();
    if Window::of(workload).jumps_clock() {
        return Err(SimError::Unsupported(
            "a `clock_jump` fault needs virtual time: the real clock cannot be made to jump".into(),
        ));
    }
    quiet_injected_panics();
    let factory = Arc::new(FactoryModel::new(workload, clock.clone(), true));
    let model = Arc::clone(&factory);
    let mut builder = workload
        .pool
        .settings
        .configure(Pool::builder(workload.name.clone()))
        .clock(clock.clone())
        .factory(move || model.create())
        // Counted by the pool (stats().leaks); no log line per leak.
        .on_leak(|_| {});
    if let Some(recorder) = &options.trace {
        builder = builder.trace(Arc::clone(recorder));
    }
    let pool = builder.build()?;
    play(workload, pool, Some(factory), observer, stop, options)
}

/// Plays `workload` against `pool`, a pool the caller built (with its own
/// factory, recycle and settings: the workload's `[pool]` settings and
/// object model do not apply, nor do its factory faults; its holder
/// faults, holds and schedule do; its objects' modeled memory still counts
/// per object). Otherwise as [`run_wall`]; the run
/// closes the pool at its end (waiters are released).
///
/// The objects must be distinct `u64`s (a counter in the factory): the
/// run checks that no object is handed to two holders at once by them.
///
/// # Errors
///
/// As [`run_wall`].
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
/// use tidepool::pool::Pool;
/// use tidepool::sim::{run_wall_on, NoObserver, WallOptions, Workload};
///
/// let w = Workload::parse(r#"
///     duration = "200ms"
///     hold = { dist = "constant", value = "1ms" }
///     [pool]
///     [[phase]]
///     name = "only"
///     duration = "200ms"
///     arrival = { process = "constant", rate = 100 }
/// "#, "doc.toml").unwrap();
/// let ids = AtomicU64::new(0);
/// let pool = Pool::builder("mine").min_size(1).max_size(2).factory(move || Ok(ids.fetch_add(1, Ordering::Relaxed))).build().unwrap();
/// let (outcome, _) = run_wall_on(&w, pool, &mut NoObserver, &AtomicBool::new(false), &WallOptions::default()).unwrap();
/// assert_eq!(outcome.total.arrived, outcome.total.completed + outcome.in_flight + outcome.waiting
///     + outcome.total.timed_out + outcome.total.failed);
/// ```
pub fn run_wall_on(
    workload: &Workload,
    pool: Pool<u64>,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
    options: &WallOptions,
) -> Result<(Outcome, WallFigures), SimError> {
    if Window::of(workload).jumps_clock() {
        return Err(SimError::Unsupported(
            "a `clock_jump` fault needs virtual time: the real clock cannot be made to jump".into(),
        ));
    }
    quiet_injected_panics();
    // The executors are sized for the pool as built.
    let mut workload = workload.clone();
    workload.pool.settings = pool.settings().clone();
    play(&workload, pool, None, observer, stop, options)
}

/// The run itself, on a built pool.
fn play(
    workload: &Workload,
    pool: Pool<u64>,
    factory: Option<Arc<FactoryModel>>,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
    options: &WallOptions,
) -> Result<(Outcome, WallFigures), SimError> {
    let clock = Clock::system();
    observer.on_start(&pool);
    // Start with what the workload needs on average; grow (up to the cap)
    // whenever every executor is busy and starts queue up behind them.
    let max_workers = options.workers.unwrap_or(DEFAULT_MAX_WORKERS).clamp(1, MAX_THREADS);
    let workers = default_workers(workload).min(max_workers);
    let instances = schedule::instances(workload);
    for (i, p) in workload.phases.iter().enumerate() {
        if let Arrival::Closed { workers, .. } = p.arrival {
            if workers > MAX_THREADS {
                return Err(SimError::Threads(format!(
                    "phase `{}` has {workers} closed-loop workers; a wall-clock run starts at most {MAX_THREADS} threads",
                    workload.phases[i].name
                )));
            }
        }
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let windows = drift_windows(workload);
    let shards = (0..workers.min(cpus).max(1))
        .map(|_| Mutex::new(Shard::new(workload.phases.len(), windows)))
        .collect();
    let process_start = process::sample();
    let origin = clock.now_nanos();
    if let Some(factory) = &factory {
        factory.arm(origin);
    }
    let shared = Shared {
        workload,
        pool,
        clock,
        origin,
        ending: AtomicBool::new(false),
        faults: Window::of(workload),
        factory,
        abandoned: Mutex::new(Vec::new()),
        holder_panics: AtomicU64::new(0),
        held_ids: (0..HELD_SHARDS).map(|_| Mutex::new(std::collections::HashSet::new())).collect(),
        handed_out_twice: AtomicU64::new(0),
        leaked: AtomicU64::new(0),
        late_after: ns(options.late_after),
        shards,
        blocked: std::sync::atomic::AtomicUsize::new(0),
        scheduled: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        workers: std::sync::atomic::AtomicUsize::new(0),
        dispatch_done: AtomicBool::new(false),
        ended_at: AtomicU64::new(u64::MAX),
    };
    let status = shared.pool.status();
    let memory_start = (status.size as u64).saturating_mul(workload.pool.model.object_bytes);
    let end = ns(workload.duration);
    let sample_interval = ns(workload.sample_interval).max(1);
    let mut monitor = Monitor {
        shared: &shared,
        observer,
        stop,
        instances: instances.clone(),
        ledger: Ledger::new(workload.phases.len(), windows),
        levels: Levels::new(&status, memory_start, end, windows),
        next_sample: sample_interval,
        last_sample_at: 0,
        sample_interval,
        dropped_before: 0,
        rss_peak: process_start.map_or(0, |p| p.rss_bytes),
        phase_gauge: None,
        process_start,
        final_status: None,
        executors_done: false,
    };
    let mut dispatcher =
        Dispatcher { shared: &shared, instances, workers: 0, max_workers, starved: 0, next_check: 0 };
    let backlog = (max_workers * 16).max(4096);
    let (tx, rx) = crossbeam_channel::bounded::<Job>(backlog);
    let played = std::thread::scope(|scope| -> Result<(), SimError> {
        let shared = &shared;
        let spawned =
            std::thread::Builder::new().name("tidepool-dispatch".into()).spawn_scoped(scope, move || {
                let result = dispatcher
                    .grow_executors(scope, &rx, workers)
                    .and_then(|()| dispatcher.play(scope, &tx, &rx));
                shared.dispatch_done.store(true, Ordering::Relaxed);
                // `tx` drops here: executors drain the queue and leave.
                result
            });
        let handle = match spawned {
            Ok(handle) => handle,
            Err(e) => return Err(SimError::Threads(format!("starting the dispatcher: {e}"))),
        };
        monitor.run();
        // The pool's last levels, before closing it empties it.
        monitor.housekeeping(shared.now().min(ns(workload.duration)));
        monitor.final_status = Some(shared.pool.status());
        // The end: holds are cut short, waiters released, queued jobs left.
        let ended_at = if stop.load(Ordering::Relaxed) { shared.now() } else { ns(workload.duration) };
        shared.ended_at.store(ended_at, Ordering::Relaxed);
        shared.ending.store(true, Ordering::Release);
        shared.pool.close();
        handle.join().unwrap_or_else(|_| Err(SimError::Threads("the dispatcher panicked".into())))
    });
    let interrupted = stop.load(Ordering::Relaxed);
    let end_at = monitor.levels.last_at;
    // The last interval (partial, or the only one) gets its line once
    // every executor is done, so the samples add up to the run.
    if monitor.last_sample_at < end_at {
        monitor.sample(end_at);
    }
    played?;
    monitor.executors_done = true;
    Ok(monitor.outcome(end_at, interrupted))
}
