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
//! The work of an operation is either the workload's modeled hold, or the
//! caller's own operation on the object ([`crate::soak::Harness`]): on the
//! executor thread, or, for async operations, as a task of its own on a
//! Tokio runtime (the dispatcher spawns one per start instead of queueing
//! it to an executor).
//!
//! The calling thread is the *watch*: every millisecond it reads the
//! pool's levels (for the time-weighted utilization and size), and every
//! sample interval it merges the executors' counts into a [`Sample`](super::Sample) with
//! the process's RSS and CPU time, publishes the run's gauges, and hands
//! samples and checkpoints to the observer — off the dispatcher's thread,
//! so they never delay a start.

mod dispatch;
mod shared;
mod watch;
mod work;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;

use super::accounting::{drift_windows, Ledger, Levels};
use super::faults::{quiet_injected_panics, FactoryModel, Window};
use super::observer::Observer;
use super::outcome::Outcome;
use super::schedule::{self, ns};
use super::workload::{Arrival, Dist, Workload};
use super::SimError;
use crate::clock::Clock;
use crate::pool::Pool;
use crate::process::{self, ProcessSample};
use crate::sim::system::System;
use dispatch::Dispatcher;
use shared::{Job, Shard, Shared, HELD_SHARDS};
use watch::Watch;
pub(crate) use work::{AsyncOp, AsyncOperation, Memory, SyncOp, Work};

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

/// The most open-loop starts a second a wall-clock run schedules (a
/// compressed run's rates included): beyond, one dispatcher thread cannot
/// even count the starts it drops, and the run would overrun its end.
/// Virtual time has no such limit.
pub const MAX_START_RATE: f64 = 2e6;

/// Refuses a workload whose open-loop starts (compression included: pass
/// the compressed workload) exceed [`MAX_START_RATE`].
///
/// # Errors
///
/// [`SimError::Unsupported`] naming the phase.
pub fn check_start_rate(workload: &Workload) -> Result<(), SimError> {
    for (i, p) in workload.phases.iter().enumerate() {
        let rate = workload.peak_rate(i);
        if !matches!(p.arrival, Arrival::Closed { .. }) && rate > MAX_START_RATE {
            return Err(SimError::Unsupported(format!(
                "phase `{}`: arrival: up to {rate:.3e} starts a second; a wall-clock run starts at most \
                 {MAX_START_RATE:e} a second (compression included): use virtual time, a lower rate or less compression",
                p.name
            )));
        }
    }
    Ok(())
}

/// The most executors a run starts unless `--workers` says otherwise:
/// this many per CPU, at most [`DEFAULT_MAX_WORKERS`]. Past a few hundred
/// threads a core, waking them costs more than the schedule's precision
/// (late starts) and starting and joining them overruns the run's end.
pub const DEFAULT_WORKERS_PER_CPU: usize = 128;

/// The most executors a run starts unless `--workers` says otherwise, on
/// any number of CPUs.
pub const DEFAULT_MAX_WORKERS: usize = 1024;

/// The most operations in progress at once as tasks (async work), unless
/// [`WallOptions::workers`] says otherwise.
pub const DEFAULT_MAX_TASKS: usize = 16_384;

/// The most operations a run keeps in progress at once as tasks.
pub const MAX_TASKS: usize = 1 << 20;

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
    /// Wall seconds between the two process samples of
    /// [`WallFigures::process`] (the run's start-up and wind-down
    /// included): what its CPU time is divided by.
    pub process_seconds: f64,
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

/// The gauge `tidepool_sim_phase{workload, phase}`: 1 for the phase running.
pub const SIM_PHASE: &str = "tidepool_sim_phase";
/// `tidepool_sim_starts_total{workload, result="late"|"dropped"}`.
pub const SIM_STARTS: &str = "tidepool_sim_starts_total";
/// The process's resident memory, bytes ([`process::RESIDENT_MEMORY`]).
pub const PROCESS_RSS: &str = process::RESIDENT_MEMORY;
/// The process's CPU time, seconds: a counter of whole seconds, as the
/// agent's ([`process::CPU_SECONDS`]).
pub const PROCESS_CPU: &str = process::CPU_SECONDS;
/// The process's threads ([`process::THREADS`]).
pub const PROCESS_THREADS: &str = process::THREADS;

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
    let play_on = Play {
        pool,
        work: Work::Hold,
        id: |id: &u64| Some(*id),
        factory: Some(factory),
        memory: Memory::Modeled { object_bytes: workload.pool.model.object_bytes },
    };
    play(workload, play_on, observer, stop, options)
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
    let play_on = Play {
        pool,
        work: Work::Hold,
        id: |id: &u64| Some(*id),
        factory: None,
        memory: Memory::Modeled { object_bytes: workload.pool.model.object_bytes },
    };
    play(&workload, play_on, observer, stop, options)
}

/// How a run plays: the pool, what each operation does with its object,
/// and how objects are told apart and memory read.
pub(crate) struct Play<T: Send + 'static> {
    pub(crate) pool: Pool<T>,
    pub(crate) work: Work<T>,
    /// An object's id, for the check that none is handed to two holders at
    /// once (`None`: untracked).
    pub(crate) id: fn(&T) -> Option<u64>,
    /// The modeled factory whose faults the run arms (`None`: the caller's).
    pub(crate) factory: Option<Arc<FactoryModel>>,
    pub(crate) memory: Memory,
}

/// The run itself, on a built pool.
pub(crate) fn play<T: Send + 'static>(
    workload: &Workload,
    play: Play<T>,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
    options: &WallOptions,
) -> Result<(Outcome, WallFigures), SimError> {
    let Play { pool, work, id, factory, memory } = play;
    quiet_injected_panics();
    let clock = Clock::system();
    observer.on_start(Arc::new(pool.clone()));
    // Start with what the workload needs on average; grow (up to the cap)
    // whenever every executor is busy and starts queue up behind them.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max_workers = options
        .workers
        .unwrap_or(if work.is_async() {
            DEFAULT_MAX_TASKS
        } else {
            (DEFAULT_WORKERS_PER_CPU * cpus).min(DEFAULT_MAX_WORKERS)
        })
        .clamp(1, if work.is_async() { MAX_TASKS } else { MAX_THREADS });
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
    check_start_rate(workload)?;
    let windows = drift_windows(workload);
    let shards = (0..workers.min(cpus).max(1))
        .map(|_| Mutex::new(Shard::new(workload.phases.len(), windows)))
        .collect();
    let process_start = process::sample();
    let system = System::build(workload, &clock, false);
    observer.on_shared_state(system.shared_state());
    let origin = clock.now_nanos();
    if let Some(factory) = &factory {
        factory.arm(origin);
    }
    let shared = Arc::new(Shared {
        workload: workload.clone(),
        pool,
        work,
        id,
        memory,
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
        blocked: AtomicUsize::new(0),
        scheduled: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        workers: AtomicUsize::new(0),
        tasks: AtomicUsize::new(0),
        dispatch_done: AtomicBool::new(false),
        ended_at: AtomicU64::new(u64::MAX),
        system,
    });
    let status = shared.pool.status();
    let memory_start = match memory {
        Memory::Modeled { .. } => shared.modeled_memory(status.size),
        Memory::Process => crate::monitor::alloc::counters()
            .map_or(process_start.map_or(0, |p| p.rss_bytes), |c| c.live_bytes()),
    };
    let end = ns(workload.duration);
    let sample_interval = ns(workload.sample_interval).max(1);
    let mut watch = Watch {
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
        rss_last: process_start.map_or(0, |p| p.rss_bytes),
        phase_gauge: None,
        process: process::Publisher::new(),
        process_start,
        final_status: None,
        executors_done: false,
    };
    let mut dispatcher = Dispatcher {
        shared: &shared,
        instances,
        workers: 0,
        max_workers,
        starved: 0,
        next_check: 0,
        next_shard: 0,
    };
    let backlog = (max_workers * 16).clamp(4096, 1 << 20);
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
        watch.run();
        // The pool's last levels, before closing it empties it.
        watch.housekeeping(shared.now().min(ns(workload.duration)));
        watch.final_status = Some(shared.pool.status());
        // The end: holds are cut short, waiters released, queued jobs left.
        let ended_at = if stop.load(Ordering::Relaxed) { shared.now() } else { ns(workload.duration) };
        shared.ended_at.store(ended_at, Ordering::Relaxed);
        shared.ending.store(true, Ordering::Release);
        shared.pool.close();
        let dispatched =
            handle.join().unwrap_or_else(|_| Err(SimError::Threads("the dispatcher panicked".into())));
        // Tasks see the end too: waiters are released and holds cut short,
        // but an operation already running is the caller's code and ends
        // when it ends. Wait for them (a bounded time: one that never
        // returns is counted in flight).
        let deadline = shared.now().saturating_add(TASK_GRACE_NS);
        while shared.tasks.load(Ordering::Relaxed) > 0 && shared.now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        dispatched
    });
    let interrupted = stop.load(Ordering::Relaxed);
    let end_at = watch.levels.last_at;
    // The last interval (partial, or the only one) gets its line once
    // every executor is done, so the samples add up to the run.
    if watch.last_sample_at < end_at {
        watch.sample(end_at);
    }
    played?;
    watch.executors_done = true;
    Ok(watch.outcome(end_at, interrupted))
}

/// How long a run waits for its tasks to end once the schedule is over, ns.
const TASK_GRACE_NS: u64 = 30_000_000_000;
