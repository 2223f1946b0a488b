//! Replay speed and memory of the discrete-event engine (`tidepool::sim::run`)
//! against the naive design it replaces: a Tokio task per operation on a
//! paused clock.
//!
//! `cargo bench --bench sim`. `TIDEPOOL_BENCH_QUICK=1` skips the two 24 h
//! replays and shortens the rest (a few seconds); `TIDEPOOL_BENCH_VERBOSE=1`
//! prints every timed run on stderr. Run without `--bench` (as
//! `cargo test --all-targets` does) it is a smoke run of a few virtual
//! seconds that only checks every row works.
//!
//! What runs, in this order, in one process:
//!
//! 1. **Memory**: the built-in daily cycle (`tidepool::soak::DAILY_CYCLE`,
//!    24 h, 86.4 M operations) through `sim::run` with an [`Observer`] that
//!    reads `VmRSS` from `/proc/self/status` every few hundred samples. The
//!    peak (`VmHWM`) is reset through `/proc/self/clear_refs` just before the
//!    run, so it is the run's own peak. It runs first, before anything else
//!    has grown the heap.
//! 2. **Engine, 24 h**: the same replay with [`NoObserver`], timed once.
//! 3. **Timed rounds**, round-robin, `rounds` times each:
//!    * engine on a slice of the daily cycle (its first hour, all in the
//!      400/s "low" phase: `workload.duration` cut to 1 h), with its lock and
//!      cache, and the same slice with the pool alone (what replaying the
//!      shared state costs);
//!    * engine on a flat Poisson load at the daily cycle's mean rate
//!      (expected ops / duration = 1000/s), same pool and base holds, no
//!      lock or cache (the naive peers model neither);
//!    * the naive peer on that same flat load and virtual span, twice: with
//!      tidepool's own `Pool` (async `acquire().await`, the pool's clock
//!      reading Tokio's paused clock, a maintenance task calling
//!      `Pool::maintain` every `maintenance_interval`, creation time slept on
//!      the timer) — same pool code as the engine, so the ratio isolates the
//!      driving design — and with a `tokio::sync::Semaphore` of `max` permits
//!      as a stand-in pool that does no accounting at all, the most
//!      favourable case for the naive design;
//!    * a bare discrete-event loop on that same load (same arrivals and
//!      holds, a binary heap of events, an integer for the free objects, a
//!      FIFO line, waits in an HDR histogram; no pool, sizing, samples or
//!      timeouts): the floor any replay of this load pays, against which
//!      the engine with the real pool is compared.
//!
//! Ops per wall second = arrived operations / wall time of the run. For the
//! engine that is `outcome.total.arrived` over `sim::run`'s wall time (pool
//! build included). For the naive peer: operations with an arrival before the
//! end of the span (counted when their task wakes), over the wall time from
//! the first spawn to the driver reaching the end of the span (runtime and
//! pool build excluded; tasks still in flight at the end are drained
//! afterwards, untimed).
//!
//! Caveats, printed with the results: Tokio's timer has a 1 ms resolution, so
//! the naive peer's arrivals and releases are rounded up to the next
//! millisecond (its holds come out ~0.5 ms longer on average, and it handles
//! several operations per timer tick, which flatters it); the `Semaphore`
//! stand-in has `max` permits from the start, so it never waits, while both
//! tidepool rows start at `min` objects and grow through the sizing policy
//! (whatever waiting or timing out that warm-up causes shows in the "what
//! each run did" table, for the engine and the naive row alike).

// The library reads time through tidepool::clock; a benchmark times itself.
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::Distribution;
use tidepool::clock::{Clock, TimeSource};
use tidepool::pool::Pool;
use tidepool::sim::{self, Arrival, Dist, NoObserver, Observer, Outcome, Phase, Sample, Workload};

/// Target of the issue: simulated operations per wall second.
const TARGET_OPS_PER_SEC: f64 = 5e6;
/// Target of the issue: wall time of the 24 h replay.
const TARGET_DAY_WALL: Duration = Duration::from_secs(20);
/// Target of the issue: peak RSS of the 24 h replay.
const TARGET_RSS_BYTES: u64 = 64 << 20;
/// Target of the issue: engine / naive.
const TARGET_RATIO: f64 = 10.0;
/// RSS counts as flat when it grows by at most this much from 10 % to 100 %.
const FLAT_SLACK_BYTES: u64 = 2 << 20;

/// How much work each mode does.
struct Plan {
    label: &'static str,
    /// Run the two full-day replays (memory + timed).
    full_day: bool,
    /// Virtual span of the memory run when the full day is skipped.
    memory_span: Duration,
    /// Slice of the daily cycle.
    slice: Duration,
    /// Span of the flat load (engine and naive).
    flat: Duration,
    /// Timed rounds of the slice/flat/naive rows.
    rounds: usize,
    /// One untimed round of every row first.
    warmup: bool,
}

impl Plan {
    fn pick(smoke: bool, quick: bool) -> Plan {
        if smoke {
            Plan {
                label: "SMOKE RUN (no --bench): tiny spans, only checks that every row works",
                full_day: false,
                memory_span: Duration::from_secs(30),
                slice: Duration::from_secs(10),
                flat: Duration::from_secs(3),
                rounds: 1,
                warmup: false,
            }
        } else if quick {
            Plan {
                label: "QUICK MODE (TIDEPOOL_BENCH_QUICK=1): no 24 h replay",
                full_day: false,
                memory_span: Duration::from_secs(3600),
                slice: Duration::from_secs(3600),
                flat: Duration::from_secs(60),
                rounds: 3,
                warmup: true,
            }
        } else {
            Plan {
                label: "full",
                full_day: true,
                memory_span: Duration::from_secs(86_400),
                slice: Duration::from_secs(3600),
                // 30 minutes: the bare loop's runs last ~0.15 s (10 minutes
                // gave 0.05 s runs whose medians moved by 30 % between runs).
                flat: Duration::from_secs(1800),
                rounds: 5,
                warmup: true,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// What one run did.

/// The work one run did, to check that the rows compare like with like.
#[derive(Clone)]
struct Work {
    arrived: u64,
    completed: u64,
    timed_out: u64,
    failed: u64,
    /// p99 of the wait for an object, ns.
    wait_p99: u64,
    /// Mean hold, ns.
    hold_mean: f64,
}

impl Work {
    fn of(outcome: &Outcome) -> Work {
        let t = &outcome.total;
        Work {
            arrived: t.arrived,
            completed: t.completed,
            timed_out: t.timed_out,
            failed: t.failed,
            wait_p99: t.wait_corrected.value_at_quantile(0.99),
            hold_mean: t.hold.mean(),
        }
    }
}

/// One timed run.
struct Timed {
    wall: Duration,
    work: Work,
}

impl Timed {
    fn ops_per_sec(&self) -> f64 {
        self.work.arrived as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

// ---------------------------------------------------------------------------
// The bare loop: the floor of any discrete-event replay of this load.

/// A discrete-event loop with nothing but the load: the same Poisson
/// arrivals and log-normal holds as the flat row, a binary heap of events,
/// an integer for the pool's free objects (`max`, all there from the start)
/// and a FIFO line of waiters, waits in an HDR histogram. No pool, no
/// sizing, no samples, no timeouts (the load never queues long): what the
/// engine's own bookkeeping and the real pool are measured against.
fn bare_run(workload: &Workload, rate: f64, span: Duration) -> Timed {
    use std::cmp::Reverse;
    use std::collections::{BinaryHeap, VecDeque};
    let hold = Draw::of(workload.hold.as_ref().expect("the daily cycle has a default hold"));
    let end = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
    let mut rng = SmallRng::seed_from_u64(workload.seed);
    let gap = |rng: &mut SmallRng| -> u64 {
        let e: f64 = rng.sample(rand_distr::Exp1);
        (e / rate * 1e9) as u64
    };
    let wall_start = Instant::now();
    // (time, kind): 0 a release, 1 an arrival, so a release goes first at a tie.
    let mut events: BinaryHeap<Reverse<(u64, u8)>> = BinaryHeap::new();
    let mut line: VecDeque<u64> = VecDeque::new();
    let mut free = workload.pool.settings.max_size;
    let (mut arrived, mut completed, mut hold_sum) = (0u64, 0u64, 0u64);
    let mut waits = histogram();
    events.push(Reverse((gap(&mut rng), 1)));
    while let Some(Reverse((now, kind))) = events.pop() {
        if kind == 1 {
            if now >= end {
                continue;
            }
            arrived += 1;
            events.push(Reverse((now + gap(&mut rng), 1)));
            if free > 0 {
                free -= 1;
                let h = hold.ns(&mut rng);
                hold_sum += h;
                let _ = waits.record(0);
                events.push(Reverse((now + h, 0)));
            } else {
                line.push_back(now);
            }
        } else {
            completed += 1;
            match line.pop_front() {
                Some(asked) => {
                    let h = hold.ns(&mut rng);
                    hold_sum += h;
                    let _ = waits.record(now - asked);
                    events.push(Reverse((now + h, 0)));
                }
                None => free += 1,
            }
        }
    }
    let wall = wall_start.elapsed();
    let work = Work {
        arrived,
        completed,
        timed_out: 0,
        failed: 0,
        wait_p99: waits.value_at_quantile(0.99),
        hold_mean: if completed == 0 { 0.0 } else { hold_sum as f64 / completed as f64 },
    };
    Timed { wall, work }
}

// ---------------------------------------------------------------------------
// The engine.

fn engine_run(workload: &Workload, observer: &mut dyn Observer) -> (Timed, Outcome) {
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let outcome = sim::run(workload, observer, &stop).expect("the daily cycle's pool settings are valid");
    let wall = start.elapsed();
    (Timed { wall, work: Work::of(&outcome) }, outcome)
}

/// `workload` without its `[[lock]]`s and `[cache]`: the pool alone, as
/// the naive peers model it.
fn pool_only(workload: &Workload) -> Workload {
    let mut w = workload.clone();
    w.locks.clear();
    w.cache = None;
    w
}

/// The daily cycle with its total duration cut to `span`.
fn slice_of(daily: &Workload, span: Duration) -> Workload {
    let mut w = daily.clone();
    w.duration = span.min(daily.duration);
    w
}

/// One Poisson phase at `rate` per second for `span`; pool, holds, seed and
/// faults as in the daily cycle.
fn flat_load(daily: &Workload, rate: f64, span: Duration) -> Workload {
    let mut w = pool_only(daily);
    w.name = "flat".into();
    w.duration = span;
    w.phases =
        vec![Phase { name: "flat".into(), duration: span, arrival: Arrival::Poisson { rate }, hold: None }];
    w
}

// ---------------------------------------------------------------------------
// Memory.

/// A `kB` field of `/proc/self/status`, in bytes.
fn proc_status(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// Resets `VmHWM` to the current RSS (Linux ≥ 4.0).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Reads `VmRSS` every `every` samples.
struct RssObserver {
    every: u64,
    seen: u64,
    readings: Vec<(f64, u64)>,
}

impl Observer for RssObserver {
    fn on_sample(&mut self, sample: &Sample) {
        self.seen += 1;
        if self.seen % self.every == 0 {
            if let Some(rss) = proc_status("VmRSS:") {
                self.readings.push((sample.t, rss));
            }
        }
    }
}

struct Memory {
    span: Duration,
    wall: Duration,
    arrived: u64,
    before: Option<u64>,
    /// (fraction of the run, virtual seconds, RSS bytes) at 10 %, 50 %, 100 %.
    points: Vec<(f64, f64, u64)>,
    /// Lowest and highest reading from 10 % on.
    range: (u64, u64),
    readings: usize,
    peak: Option<u64>,
    peak_reset: bool,
}

fn memory_run(daily: &Workload, span: Duration) -> Memory {
    let w = slice_of(daily, span);
    let samples = (w.duration.as_secs_f64() / w.sample_interval.as_secs_f64()) as u64;
    let mut observer = RssObserver { every: (samples / 200).max(1), seen: 0, readings: Vec::new() };
    let before = proc_status("VmRSS:");
    let peak_reset = reset_peak_rss();
    let (timed, outcome) = engine_run(&w, &mut observer);
    let peak = proc_status("VmHWM:");
    drop(outcome);
    let end = w.duration.as_secs_f64();
    let readings = observer.readings;
    assert!(!readings.is_empty(), "no RSS reading: is /proc/self/status readable?");
    let at = |fraction: f64| {
        let &(t, rss) =
            readings.iter().find(|r| r.0 >= fraction * end - 1e-9).unwrap_or(&readings[readings.len() - 1]);
        (fraction, t, rss)
    };
    let points = vec![at(0.1), at(0.5), at(1.0)];
    let after_tenth = readings.iter().filter(|r| r.0 >= 0.1 * end - 1e-9).map(|r| r.1);
    let range = after_tenth.fold((u64::MAX, 0), |(lo, hi), v| (lo.min(v), hi.max(v)));
    Memory {
        span: w.duration,
        wall: timed.wall,
        arrived: timed.work.arrived,
        before,
        points,
        range,
        readings: readings.len(),
        peak,
        peak_reset,
    }
}

// ---------------------------------------------------------------------------
// The naive peer: one Tokio task per operation on a paused clock.

/// The pool the naive peer acquires from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NaivePool {
    /// tidepool's `Pool`, `acquire().await`.
    Tidepool,
    /// `tokio::sync::Semaphore` with `max` permits.
    Semaphore,
}

/// tidepool's clock reading Tokio's (paused) clock.
#[derive(Debug)]
struct TokioClock {
    epoch: tokio::time::Instant,
}

impl TimeSource for TokioClock {
    fn now_nanos(&self) -> u64 {
        let d = tokio::time::Instant::now().saturating_duration_since(self.epoch);
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Draws nanoseconds from a workload distribution (the daily cycle uses
/// log-normals; other shapes fall back to their mean).
#[derive(Clone, Copy)]
enum Draw {
    LogNormal(rand_distr::LogNormal<f64>),
    Fixed(f64),
}

impl Draw {
    fn of(dist: &Dist) -> Draw {
        match dist {
            Dist::Lognormal { median, sigma } => {
                let ln = (median.as_secs_f64() * 1e9).ln();
                rand_distr::LogNormal::new(ln, *sigma)
                    .map_or(Draw::Fixed(dist.mean_seconds() * 1e9), Draw::LogNormal)
            }
            other => Draw::Fixed(other.mean_seconds() * 1e9),
        }
    }

    fn ns(&self, rng: &mut SmallRng) -> u64 {
        match self {
            Draw::LogNormal(d) => d.sample(rng) as u64,
            Draw::Fixed(v) => *v as u64,
        }
    }
}

#[derive(Default)]
struct NaiveCounts {
    arrived: AtomicU64,
    completed: AtomicU64,
    timed_out: AtomicU64,
    failed: AtomicU64,
}

struct NaiveHistograms {
    wait: Histogram<u64>,
    hold: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 30 * 86_400 * 1_000_000_000, 3).expect("valid histogram bounds")
}

/// The engine's factory model, awaited: creation time slept on the timer,
/// `factory_failure` injected once the pool is built.
struct NaiveFactory {
    create: Option<Draw>,
    failure: f64,
    rng: Mutex<SmallRng>,
    armed: AtomicBool,
    next_id: AtomicU64,
}

impl NaiveFactory {
    async fn create(&self) -> Result<u64, tidepool::pool::BoxError> {
        let (fail, sleep) = {
            let mut rng = self.rng.lock();
            let fail = self.armed.load(Ordering::Relaxed)
                && self.failure > 0.0
                && rng.random::<f64>() < self.failure;
            (fail, self.create.map_or(0, |d| d.ns(&mut rng)))
        };
        if sleep > 0 {
            tokio::time::sleep(Duration::from_nanos(sleep)).await;
        }
        if fail {
            return Err("factory failure (injected, factory_failure)".into());
        }
        Ok(self.next_id.fetch_add(1, Ordering::Relaxed))
    }
}

async fn naive_pool(workload: &Workload, epoch: tokio::time::Instant) -> (Pool<u64>, Arc<NaiveFactory>) {
    let spec = &workload.pool;
    let factory = Arc::new(NaiveFactory {
        create: spec.model.create_time.as_ref().map(Draw::of),
        failure: spec.model.factory_failure,
        rng: Mutex::new(SmallRng::seed_from_u64(workload.seed ^ 0x9E37_79B9_7F4A_7C15)),
        armed: AtomicBool::new(false),
        next_id: AtomicU64::new(0),
    });
    let model = Arc::clone(&factory);
    let builder = spec
        .settings
        .configure(Pool::builder("naive"))
        .maintenance_interval(None)
        .clock(Clock::custom(TokioClock { epoch }))
        .async_factory(move || {
            let model = Arc::clone(&model);
            async move { model.create().await }
        })
        .on_leak(|_| {});
    let pool = builder.build_async().await.expect("naive pool");
    factory.armed.store(true, Ordering::Relaxed);
    (pool, factory)
}

/// Replays a flat Poisson load at `rate`/s for `span` (holds from `workload`)
/// with one Tokio task per operation on a paused current-thread runtime.
///
/// A driver task spawns, at each virtual second, one task per arrival of the
/// coming second; each task sleeps until its arrival time, acquires, sleeps
/// its hold, releases. (Spawning all operations up front would be the most
/// literal version, but at ~600 bytes a task it needs hundreds of MB for 10
/// minutes of load; one second ahead keeps ~1000 tasks alive.)
fn naive_run(which: NaivePool, workload: &Workload, rate: f64, span: Duration) -> Timed {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("tokio runtime");
    let hold = Draw::of(workload.hold.as_ref().expect("the daily cycle has a default hold"));
    let spec = workload.pool.clone();
    let seed = workload.seed;
    let counts = Arc::new(NaiveCounts::default());
    let hist = Arc::new(Mutex::new(NaiveHistograms { wait: histogram(), hold: histogram() }));
    let wall = rt.block_on({
        let counts = Arc::clone(&counts);
        let hist = Arc::clone(&hist);
        async move {
            let epoch = tokio::time::Instant::now();
            let pool = match which {
                NaivePool::Tidepool => Some(naive_pool(workload, epoch).await.0),
                NaivePool::Semaphore => None,
            };
            let semaphore = Arc::new(tokio::sync::Semaphore::new(spec.settings.max_size));
            let done = Arc::new(AtomicBool::new(false));
            if let Some(pool) = &pool {
                let (pool, done, every) =
                    (pool.clone(), Arc::clone(&done), spec.settings.maintenance_interval);
                tokio::spawn(async move {
                    while !done.load(Ordering::Relaxed) {
                        tokio::time::sleep(every).await;
                        pool.maintain();
                    }
                });
            }
            let end = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
            let mut rng = SmallRng::seed_from_u64(seed);
            let gap = |rng: &mut SmallRng| -> u64 {
                let e: f64 = rng.sample(rand_distr::Exp1);
                (e / rate * 1e9) as u64
            };
            let timeout = spec.settings.acquire_timeout;
            let wall_start = Instant::now();
            let mut next = gap(&mut rng);
            let mut second = 0u64;
            while second * 1_000_000_000 < end {
                let horizon = ((second + 1) * 1_000_000_000).min(end);
                while next < horizon {
                    let at = epoch + Duration::from_nanos(next);
                    let hold = Duration::from_nanos(hold.ns(&mut rng));
                    let (counts, hist) = (Arc::clone(&counts), Arc::clone(&hist));
                    match &pool {
                        Some(pool) => {
                            let pool = pool.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep_until(at).await;
                                counts.arrived.fetch_add(1, Ordering::Relaxed);
                                let issued = tokio::time::Instant::now();
                                match pool.acquire().await {
                                    Ok(guard) => {
                                        let ready = tokio::time::Instant::now();
                                        tokio::time::sleep(hold).await;
                                        drop(guard);
                                        finish(&counts, &hist, issued, ready);
                                    }
                                    Err(e) if e.is_timeout() => {
                                        counts.timed_out.fetch_add(1, Ordering::Relaxed);
                                    }
                                    Err(_) => {
                                        counts.failed.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            });
                        }
                        None => {
                            let semaphore = Arc::clone(&semaphore);
                            tokio::spawn(async move {
                                tokio::time::sleep_until(at).await;
                                counts.arrived.fetch_add(1, Ordering::Relaxed);
                                let issued = tokio::time::Instant::now();
                                match tokio::time::timeout(timeout, semaphore.acquire_owned()).await {
                                    Ok(Ok(permit)) => {
                                        let ready = tokio::time::Instant::now();
                                        tokio::time::sleep(hold).await;
                                        drop(permit);
                                        finish(&counts, &hist, issued, ready);
                                    }
                                    Ok(Err(_)) => {
                                        counts.failed.fetch_add(1, Ordering::Relaxed);
                                    }
                                    Err(_) => {
                                        counts.timed_out.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            });
                        }
                    }
                    next += gap(&mut rng);
                }
                second += 1;
                tokio::time::sleep_until(epoch + Duration::from_nanos(horizon)).await;
            }
            let wall = wall_start.elapsed();
            // Untimed: let the operations in flight finish (and time out)
            // inside the runtime, then stop maintenance. The few tasks whose
            // arrival fell in the last timer tick wake here; they are counted
            // as arrived, as the engine counts every arrival before the end.
            done.store(true, Ordering::Relaxed);
            tokio::time::sleep(timeout + Duration::from_secs(10)).await;
            drop(pool);
            wall
        }
    });
    let arrived = counts.arrived.load(Ordering::Relaxed);
    drop(rt);
    let hist = hist.lock();
    let work = Work {
        arrived,
        completed: counts.completed.load(Ordering::Relaxed),
        timed_out: counts.timed_out.load(Ordering::Relaxed),
        failed: counts.failed.load(Ordering::Relaxed),
        wait_p99: hist.wait.value_at_quantile(0.99),
        hold_mean: hist.hold.mean(),
    };
    Timed { wall, work }
}

fn finish(
    counts: &NaiveCounts,
    hist: &Mutex<NaiveHistograms>,
    issued: tokio::time::Instant,
    ready: tokio::time::Instant,
) {
    let now = tokio::time::Instant::now();
    let wait = ready.saturating_duration_since(issued).as_nanos() as u64;
    let held = now.saturating_duration_since(ready).as_nanos() as u64;
    let mut h = hist.lock();
    h.wait.saturating_record(wait);
    h.hold.saturating_record(held);
    drop(h);
    counts.completed.fetch_add(1, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------
// Reporting.

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1u64 << 20) as f64)
}

fn ms(ns: f64) -> String {
    format!("{:.2} ms", ns / 1e6)
}

fn span(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// The rows timed round-robin.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Row {
    EngineSlice,
    EngineSlicePoolOnly,
    EngineFlat,
    NaiveTidepool,
    NaiveSemaphore,
    BareLoop,
}

impl Row {
    const ALL: [Row; 6] = [
        Row::EngineSlice,
        Row::EngineSlicePoolOnly,
        Row::EngineFlat,
        Row::NaiveTidepool,
        Row::NaiveSemaphore,
        Row::BareLoop,
    ];

    fn label(self) -> &'static str {
        match self {
            Row::EngineSlice => "engine `sim::run`, daily cycle, first slice",
            Row::EngineSlicePoolOnly => {
                "engine `sim::run`, daily cycle, first slice, pool only (no [[lock]], [cache])"
            }
            Row::EngineFlat => "engine `sim::run`, flat Poisson at the mean rate, pool only",
            Row::NaiveTidepool => "naive: Tokio task per op, paused clock, tidepool `Pool::acquire().await`",
            Row::NaiveSemaphore => {
                "naive: Tokio task per op, paused clock, `tokio::sync::Semaphore` stand-in"
            }
            Row::BareLoop => "bare event loop: binary heap, an integer for the pool (the floor)",
        }
    }
}

struct Measured {
    row: Row,
    span: Duration,
    runs: Vec<Timed>,
}

impl Measured {
    fn sorted(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.runs.iter().map(Timed::ops_per_sec).collect();
        v.sort_by(f64::total_cmp);
        v
    }

    fn median(&self) -> f64 {
        let v = self.sorted();
        v[v.len() / 2]
    }

    fn median_run(&self) -> &Timed {
        let m = self.median();
        self.runs.iter().find(|r| r.ops_per_sec() == m).expect("the median is one of the runs")
    }
}

fn work_line(name: &str, work: &Work) {
    println!(
        "| {name} | {} | {} | {} | {} | {} | {} |",
        work.arrived,
        work.completed,
        work.timed_out,
        work.failed,
        ms(work.wait_p99 as f64),
        ms(work.hold_mean)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not and
    // gets a smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let quick = !smoke && std::env::var("TIDEPOOL_BENCH_QUICK").is_ok_and(|v| v == "1");
    let verbose = std::env::var("TIDEPOOL_BENCH_VERBOSE").is_ok_and(|v| v == "1");
    let plan = Plan::pick(smoke, quick);

    let daily = Workload::parse(tidepool::soak::DAILY_CYCLE, "workloads/daily-cycle.toml (built in)")
        .expect("the built-in daily cycle parses");
    let mean_rate = daily.expected_ops() / daily.duration.as_secs_f64();
    let load_before = load_average();
    let bench_start = Instant::now();

    // 1. Memory, first, on a heap nothing else has grown yet.
    let memory = memory_run(&daily, plan.memory_span);
    if verbose {
        eprintln!(
            "{:>6.1}s memory run: {} in {:.2} s",
            bench_start.elapsed().as_secs_f64(),
            span(memory.span),
            memory.wall.as_secs_f64()
        );
    }

    // 2. The full day, timed.
    let day = plan.full_day.then(|| engine_run(&daily, &mut NoObserver).0);
    if let (true, Some(day)) = (verbose, &day) {
        eprintln!(
            "{:>6.1}s 24 h replay: {:.2} s",
            bench_start.elapsed().as_secs_f64(),
            day.wall.as_secs_f64()
        );
    }

    // 3. Slices and the naive peer, round-robin.
    let slice = slice_of(&daily, plan.slice);
    let slice_pool_only = pool_only(&slice);
    let flat = flat_load(&daily, mean_rate, plan.flat);
    let mut results: Vec<Measured> = Row::ALL
        .iter()
        .map(|&row| Measured {
            row,
            span: if matches!(row, Row::EngineSlice | Row::EngineSlicePoolOnly) {
                slice.duration
            } else {
                flat.duration
            },
            runs: Vec::new(),
        })
        .collect();
    let run_row = |row: Row| match row {
        Row::EngineSlice => engine_run(&slice, &mut NoObserver).0,
        Row::EngineSlicePoolOnly => engine_run(&slice_pool_only, &mut NoObserver).0,
        Row::EngineFlat => engine_run(&flat, &mut NoObserver).0,
        Row::NaiveTidepool => naive_run(NaivePool::Tidepool, &daily, mean_rate, plan.flat),
        Row::NaiveSemaphore => naive_run(NaivePool::Semaphore, &daily, mean_rate, plan.flat),
        Row::BareLoop => bare_run(&daily, mean_rate, plan.flat),
    };
    if plan.warmup {
        for row in Row::ALL {
            std::hint::black_box(run_row(row).work.arrived);
        }
    }
    for round in 0..plan.rounds {
        for k in 0..results.len() {
            let i = (k + round) % results.len();
            let timed = run_row(results[i].row);
            if verbose {
                eprintln!(
                    "{:>6.1}s round {round} {:<75} {:>8.3} s {:>12.0} ops/s",
                    bench_start.elapsed().as_secs_f64(),
                    results[i].row.label(),
                    timed.wall.as_secs_f64(),
                    timed.ops_per_sec()
                );
            }
            assert!(
                timed.work.arrived > 0 && timed.work.completed > 0,
                "{}: no work done",
                results[i].row.label()
            );
            results[i].runs.push(timed);
        }
    }
    let elapsed = bench_start.elapsed();
    let load_after = load_average();
    let find = |row: Row| results.iter().find(|m| m.row == row).expect("measured");

    // -----------------------------------------------------------------------
    println!("# tidepool simulator benchmark\n");
    println!("- CPU: {} ({} logical cores available)", cpu_model(), num_cores());
    println!("- kernel: {}", command_line("uname", &["-sr"]));
    println!("- rustc: {}", command_line("rustc", &["--version"]));
    println!(
        "- build: {}",
        if cfg!(debug_assertions) { "debug assertions ON (not for numbers)" } else { "optimized" }
    );
    println!("- date: {}", command_line("date", &[]));
    println!("- mode: {}", plan.label);
    println!("- load average (1/5/15 min) before the runs: {load_before}; after: {load_after}");
    println!(
        "- workload: built-in daily cycle (seed {}, {} of virtual time, {:.1} M expected ops, mean rate {mean_rate:.0}/s)",
        daily.seed,
        span(daily.duration),
        daily.expected_ops() / 1e6
    );
    println!(
        "- naive peer: flat Poisson {mean_rate:.0}/s, holds as the daily cycle, {} of virtual time; \
         current-thread Tokio runtime, `start_paused(true)` (timer resolution 1 ms)",
        span(plan.flat)
    );
    println!(
        "- timed rounds per row: {} (round-robin{}); measured time: {:.1} s\n",
        plan.rounds,
        if plan.warmup { ", after 1 untimed warm-up round" } else { "" },
        elapsed.as_secs_f64()
    );

    println!("## Replay speed\n");
    println!("| run | virtual time | ops arrived | wall s | simulated ops / wall s (median) | min–max |");
    println!("|---|---:|---:|---:|---:|---:|");
    if let Some(day) = &day {
        println!(
            "| engine `sim::run`, daily cycle, full 24 h (1 run) | {} | {} | {:.2} | {:.0} | – |",
            span(daily.duration),
            day.work.arrived,
            day.wall.as_secs_f64(),
            day.ops_per_sec()
        );
    }
    for m in &results {
        let v = m.sorted();
        let r = m.median_run();
        println!(
            "| {} | {} | {} | {:.3} | {:.0} | {:.0}–{:.0} |",
            m.row.label(),
            span(m.span),
            r.work.arrived,
            r.wall.as_secs_f64(),
            m.median(),
            v[0],
            v[v.len() - 1]
        );
    }

    let engine_flat = find(Row::EngineFlat).median();
    let shared_state_cost = find(Row::EngineSlice).median() / find(Row::EngineSlicePoolOnly).median();
    let naive_tp = find(Row::NaiveTidepool).median();
    let naive_sem = find(Row::NaiveSemaphore).median();
    println!("\nRatios (ops per wall second; same load, same virtual span, same run):\n");
    println!(
        "- engine, daily cycle slice with its lock and cache / pool only: {shared_state_cost:.2}× (what replaying the shared state costs)"
    );
    println!("- engine flat / naive (tidepool Pool): {:.1}×", engine_flat / naive_tp);
    println!("- engine flat / naive (Semaphore stand-in): {:.1}×", engine_flat / naive_sem);
    let bare = find(Row::BareLoop).median();
    println!(
        "- engine flat / bare event loop: {:.2}× (target ≥ 0.50×: {})",
        engine_flat / bare,
        verdict(engine_flat / bare >= 0.5)
    );
    if let Some(day) = &day {
        println!("- engine 24 h / naive (tidepool Pool): {:.1}×", day.ops_per_sec() / naive_tp);
    }

    println!("\nWhat each run did (median run of each row; waits: engine = intended arrival → ready, naive = task woke → ready):\n");
    println!("| run | arrived | completed | timed out | failed | wait p99 | mean hold |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    if let Some(day) = &day {
        work_line("engine, daily cycle 24 h", &day.work);
    }
    for m in &results {
        work_line(m.row.label(), &m.median_run().work);
    }

    println!("\n## Memory of the replay ({}, `sim::run` with an RSS-reading observer)\n", span(memory.span));
    println!(
        "- wall {:.2} s for {} ops ({:.0} ops/s with the observer); {} RSS readings; RSS before the run: {} MiB",
        memory.wall.as_secs_f64(),
        memory.arrived,
        memory.arrived as f64 / memory.wall.as_secs_f64().max(1e-9),
        memory.readings,
        memory.before.map_or("?".into(), mib)
    );
    println!("\n| point | virtual time | VmRSS MiB |");
    println!("|---|---:|---:|");
    for &(fraction, t, rss) in &memory.points {
        println!("| {:.0} % | {} | {} |", fraction * 100.0, span(Duration::from_secs_f64(t)), mib(rss));
    }
    match memory.peak {
        Some(peak) => println!(
            "| peak (VmHWM{}) | – | {} |",
            if memory.peak_reset { ", reset just before the run" } else { ", NOT reset: process-wide" },
            mib(peak)
        ),
        None => println!("| peak (VmHWM unavailable) | – | ? |"),
    }
    let (lo, hi) = memory.range;
    let tenth = memory.points[0].2;
    let last = memory.points[2].2;
    let flat_ok = last.saturating_sub(tenth) <= FLAT_SLACK_BYTES && hi.saturating_sub(lo) <= FLAT_SLACK_BYTES;
    println!(
        "\nFrom 10 % on: lowest {} MiB, highest {} MiB; growth 10 % → 100 %: {:+.1} MiB",
        mib(lo),
        mib(hi),
        (last as f64 - tenth as f64) / (1u64 << 20) as f64
    );

    println!("\n## Targets\n");
    if smoke {
        println!("(smoke run: tiny spans, unoptimized build; the verdicts below mean nothing here)\n");
    }
    let scope = if day.is_some() { "24 h" } else { "first slice only, no 24 h run in this mode" };
    let speed = day.as_ref().map_or(find(Row::EngineSlice).median(), Timed::ops_per_sec);
    println!(
        "- ≥ {:.0} M simulated ops / wall s ({scope}): {:.2} M — {}",
        TARGET_OPS_PER_SEC / 1e6,
        speed / 1e6,
        verdict(speed >= TARGET_OPS_PER_SEC)
    );
    match &day {
        Some(day) => println!(
            "- 24 h in under {} s: {:.1} s — {}",
            TARGET_DAY_WALL.as_secs(),
            day.wall.as_secs_f64(),
            verdict(day.wall < TARGET_DAY_WALL)
        ),
        None => println!("- 24 h in under {} s: not run in this mode", TARGET_DAY_WALL.as_secs()),
    }
    let peak = memory.peak.unwrap_or(hi);
    println!(
        "- peak RSS ≤ {} MiB ({}): {} MiB — {}",
        TARGET_RSS_BYTES >> 20,
        span(memory.span),
        mib(peak),
        verdict(peak <= TARGET_RSS_BYTES)
    );
    println!(
        "- RSS flat (from 10 % on, within {} MiB): {}",
        FLAT_SLACK_BYTES >> 20,
        if flat_ok { "met" } else { "NOT met" }
    );
    let ratio = engine_flat / naive_tp;
    println!(
        "- engine ≥ {TARGET_RATIO:.0}× the naive design (vs tidepool Pool row): {ratio:.1}× — {}",
        verdict(ratio >= TARGET_RATIO)
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn num_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
