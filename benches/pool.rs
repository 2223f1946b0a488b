//! Acquire + release cost of `tidepool::pool::Pool` against its peers.
//!
//! `cargo bench --bench pool` (or `make bench`). `TIDEPOOL_BENCH_QUICK=1`
//! shrinks the work about 20× for a smoke run; `TIDEPOOL_BENCH_VERBOSE=1`
//! prints every timed round on stderr. Results and their reading are in
//! `BENCHMARKS.md`.
//!
//! Every implementation runs the same loop: acquire → touch the object (a
//! `u64`, read and written through `black_box`) → release. Pools hold exactly
//! as many objects as there are threads, so nobody ever waits: this is the
//! uncontended-for-objects fast path (threads still share the pool's cache
//! lines). Each (implementation, threads) pair runs `ROUNDS` timed rounds after
//! one untimed warm-up round; the implementations take turns within a round
//! (round-robin, rotated each round) to spread machine noise over all of them.
//! A round's ns/op is its wall time (first thread's start to last thread's end)
//! over the ops each thread did; the table shows the median round.
//!
//! Threads start through a spinning gate. Async rows: 1 thread runs the loop
//! in `block_on` of a current-thread Tokio runtime; N threads spawn N tasks
//! (one loop each) on a multi-thread Tokio runtime with N workers, gated so
//! that each task runs on its own worker. For every 2-thread row the bench
//! checks that the two loops really overlapped in time and warns if not.
//! The 4-thread rows oversubscribe a 2-core machine on purpose: threads are
//! preempted while they hold an object or a line, as a service's are.
//!
//! Two diagnostic rows build the same tidepool pool under `metrics`'s no-op
//! recorder (`with_local_recorder`), to separate the cost of the metrics from
//! the rest of the fast path. Before each round the bench also times a cache
//! line bounced between two threads: on a VM that latency moves with the
//! host's placement of the vCPUs and drives every 2-thread number.
//!
//! The Prometheus recorder is installed before any tidepool pool is built, so
//! tidepool records every metric it would record in production. Its histogram
//! samples are drained (`run_upkeep`) between runs, outside the timed region,
//! as the exporter's upkeep thread would do every 5 s.

// The library reads time through tidepool::clock; a benchmark times itself.
#![allow(clippy::disallowed_methods)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use tidepool::export::{PrometheusExporter, PrometheusHandle};
use tidepool::pool::Pool;
use tokio::runtime::Runtime;

/// Timed rounds per (implementation, threads).
const ROUNDS: usize = 7;
/// Acquire/release pairs per thread per timed round.
const OPS_PER_THREAD: u64 = 1_500_000;
/// Thread counts measured.
const THREADS: [usize; 3] = [1, 2, 4];

/// The "use the object" step: a read and a write the optimiser cannot drop.
#[inline(always)]
fn touch(v: &mut u64) {
    *v = black_box(*v).wrapping_add(1);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Sync,
    Async,
}

impl Api {
    fn as_str(self) -> &'static str {
        match self {
            Api::Sync => "sync",
            Api::Async => "async",
        }
    }
}

/// One implementation, as measured.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Impl {
    Tidepool,
    TidepoolNoMetrics,
    TidepoolTraced,
    ArrayQueue,
    LockfreeLinear,
    LockfreeSpinLock,
    ObjectPool,
    R2d2,
    TidepoolAsync,
    TidepoolAsyncNoMetrics,
    Deadpool,
    Bb8,
}

impl Impl {
    const ALL: [Impl; 12] = [
        Impl::Tidepool,
        Impl::TidepoolNoMetrics,
        Impl::TidepoolTraced,
        Impl::ArrayQueue,
        Impl::LockfreeLinear,
        Impl::LockfreeSpinLock,
        Impl::ObjectPool,
        Impl::R2d2,
        Impl::TidepoolAsync,
        Impl::TidepoolAsyncNoMetrics,
        Impl::Deadpool,
        Impl::Bb8,
    ];

    fn label(self) -> &'static str {
        match self {
            Impl::Tidepool => "tidepool `Pool::acquire_blocking` (metrics on)",
            Impl::TidepoolNoMetrics => "tidepool `Pool::acquire_blocking` (no recorder, diagnostic)",
            Impl::TidepoolTraced => "tidepool `Pool::acquire_blocking` (metrics on, trace capture at N = 1)",
            Impl::ArrayQueue => "crossbeam `ArrayQueue` pop + push (floor)",
            Impl::LockfreeLinear => "lockfree-object-pool 0.1 `LinearObjectPool::pull`",
            Impl::LockfreeSpinLock => "lockfree-object-pool 0.1 `SpinLockObjectPool::pull`",
            Impl::ObjectPool => "object-pool 0.6 `Pool::pull`",
            Impl::R2d2 => "r2d2 0.8 `Pool::get`",
            Impl::TidepoolAsync => "tidepool `Pool::acquire().await` (metrics on)",
            Impl::TidepoolAsyncNoMetrics => "tidepool `Pool::acquire().await` (no recorder, diagnostic)",
            Impl::Deadpool => "deadpool 0.12 managed `Pool::get().await`",
            Impl::Bb8 => "bb8 0.9 `Pool::get().await`",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Impl::Tidepool | Impl::TidepoolAsync => "tidepool",
            Impl::TidepoolNoMetrics | Impl::TidepoolAsyncNoMetrics => "tidepool (no recorder)",
            Impl::TidepoolTraced => "tidepool (trace N = 1)",
            Impl::ArrayQueue => "ArrayQueue",
            Impl::LockfreeLinear => "lockfree-object-pool Linear",
            Impl::LockfreeSpinLock => "lockfree-object-pool SpinLock",
            Impl::ObjectPool => "object-pool",
            Impl::R2d2 => "r2d2",
            Impl::Deadpool => "deadpool",
            Impl::Bb8 => "bb8",
        }
    }

    fn api(self) -> Api {
        match self {
            Impl::TidepoolAsync | Impl::TidepoolAsyncNoMetrics | Impl::Deadpool | Impl::Bb8 => Api::Async,
            _ => Api::Sync,
        }
    }
}

// ---------------------------------------------------------------------------
// Trivial managers for the connection-pool peers.

struct R2d2Manager;

impl r2d2::ManageConnection for R2d2Manager {
    type Connection = u64;
    type Error = Infallible;

    fn connect(&self) -> Result<u64, Infallible> {
        Ok(0)
    }

    fn is_valid(&self, _conn: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut u64) -> bool {
        false
    }
}

struct DeadpoolManager;

impl deadpool::managed::Manager for DeadpoolManager {
    type Type = u64;
    type Error = Infallible;

    async fn create(&self) -> Result<u64, Infallible> {
        Ok(0)
    }

    async fn recycle(
        &self,
        _obj: &mut u64,
        _metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Infallible> {
        Ok(())
    }
}

struct Bb8Manager;

impl bb8::ManageConnection for Bb8Manager {
    type Connection = u64;
    type Error = Infallible;

    async fn connect(&self) -> Result<u64, Infallible> {
        Ok(0)
    }

    async fn is_valid(&self, _conn: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut u64) -> bool {
        false
    }
}

// ---------------------------------------------------------------------------
// Round runners.

/// Runs `body(ops)` on `threads` threads released together; returns the wall
/// time from the first thread's start to the last thread's end.
///
/// The start gate spins rather than sleeps: a sleeping thread (and, in a VM,
/// its halted vCPU) can take long enough to wake that short rounds would run
/// one thread after the other.
fn sync_round(threads: usize, ops: u64, body: &(dyn Fn(u64) + Sync)) -> Round {
    let arrived = AtomicUsize::new(0);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    arrived.fetch_add(1, Ordering::AcqRel);
                    while arrived.load(Ordering::Acquire) < threads {
                        std::hint::spin_loop();
                    }
                    let start = Instant::now();
                    body(ops);
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("bench thread panicked")).collect()
    });
    Round::of(&spans)
}

/// Runs one task per thread: inline in `block_on` for 1 thread (current-thread
/// runtime), as spawned tasks otherwise (multi-thread runtime).
fn async_round<F, Fut>(rt: &Runtime, threads: usize, ops: u64, task: &F) -> Round
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    rt.block_on(async {
        if threads == 1 {
            let start = Instant::now();
            task(ops).await;
            return Round::of(&[(start, Instant::now())]);
        }
        let arrived = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let fut = task(ops);
                let arrived = Arc::clone(&arrived);
                tokio::spawn(async move {
                    // Start together, each task on its own worker: the gate
                    // spins *without* yielding, so the worker holding the
                    // first task cannot also run the second; the idle worker
                    // takes it. Bounded, so that a scheduler that does not
                    // hand it over cannot hang the bench (the overlap check
                    // then reports the round).
                    arrived.fetch_add(1, Ordering::AcqRel);
                    let give_up = Instant::now() + Duration::from_secs(1);
                    while arrived.load(Ordering::Acquire) < threads && Instant::now() < give_up {
                        std::hint::spin_loop();
                    }
                    let start = Instant::now();
                    fut.await;
                    (start, Instant::now())
                })
            })
            .collect();
        let mut spans = Vec::with_capacity(threads);
        for h in handles {
            spans.push(h.await.expect("bench task panicked"));
        }
        Round::of(&spans)
    })
}

/// Round-trip time of one cache line bounced between two threads, in ns: what
/// any cross-thread hand-off costs on this machine right now. On a VM it moves
/// with where the host runs the vCPUs, which is why it is printed.
fn core_to_core_round_trip() -> f64 {
    const TRIPS: u64 = 20_000;
    let flag = AtomicU64::new(0);
    let start = std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..TRIPS {
                while flag.load(Ordering::Acquire) != 2 * i + 1 {
                    std::hint::spin_loop();
                }
                flag.store(2 * i + 2, Ordering::Release);
            }
        });
        // Wait for the partner's first answer before starting the clock.
        flag.store(1, Ordering::Release);
        while flag.load(Ordering::Acquire) != 2 {
            std::hint::spin_loop();
        }
        let start = Instant::now();
        for i in 1..TRIPS {
            flag.store(2 * i + 1, Ordering::Release);
            while flag.load(Ordering::Acquire) != 2 * i + 2 {
                std::hint::spin_loop();
            }
        }
        start
    });
    start.elapsed().as_nanos() as f64 / (TRIPS - 1) as f64
}

/// One timed round.
struct Round {
    /// First thread's start to last thread's end.
    wall: Duration,
    /// Sum of the threads' busy spans over the wall time: about 2.0 when two
    /// threads (or tasks) really ran side by side, about 1.0 if they ran one
    /// after the other (e.g. two tasks landed on the same Tokio worker).
    overlap: f64,
}

impl Round {
    fn of(spans: &[(Instant, Instant)]) -> Round {
        let first = spans.iter().map(|s| s.0).min().expect("at least one thread");
        let last = spans.iter().map(|s| s.1).max().expect("at least one thread");
        let wall = last - first;
        let busy: f64 = spans.iter().map(|s| (s.1 - s.0).as_secs_f64()).sum();
        Round { wall, overlap: busy / wall.as_secs_f64().max(1e-12) }
    }
}

fn runtime(threads: usize) -> Runtime {
    let built = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
    };
    built.expect("tokio runtime")
}

type RoundFn = Box<dyn FnMut(u64) -> Round>;

fn tidepool_pool(name: String, size: usize, metrics: bool) -> Pool<u64> {
    tidepool_pool_traced(name, size, metrics, None)
}

fn tidepool_pool_traced(
    name: String,
    size: usize,
    metrics: bool,
    trace: Option<Arc<tidepool::pool::trace::TraceRecorder>>,
) -> Pool<u64> {
    let build = || {
        let b =
            Pool::builder(name).min_size(size).max_size(size).maintenance_interval(None).factory(|| Ok(0u64));
        match trace {
            Some(t) => b.trace(t),
            None => b,
        }
        .build()
        .expect("tidepool pool")
    };
    if metrics {
        build()
    } else {
        // Handles resolve at build: built under the no-op recorder, this pool
        // records nothing (but still reads its clock and counts in atomics).
        metrics::with_local_recorder(&metrics::NoopRecorder, build)
    }
}

/// Builds the pool for `which` at `threads` threads (size = threads) and
/// returns a closure that runs one round of `ops` per thread.
fn setup(which: Impl, threads: usize) -> RoundFn {
    let n = threads;
    match which {
        Impl::Tidepool | Impl::TidepoolNoMetrics | Impl::TidepoolTraced => {
            // Room for every event of the run (1.5 M per thread per round).
            let trace = (which == Impl::TidepoolTraced)
                .then(|| Arc::new(tidepool::pool::trace::TraceRecorder::new(1, 40_000_000)));
            let pool = tidepool_pool_traced(
                format!("bench_sync_{which:?}_{n}t"),
                n,
                which != Impl::TidepoolNoMetrics,
                trace,
            );
            Box::new(move |ops| {
                sync_round(threads, ops, &|ops| {
                    for _ in 0..ops {
                        let mut g = pool.acquire_blocking().expect("acquire");
                        touch(&mut g);
                    }
                    // Inside the timed span: the maintenance pass publishes
                    // the direct acquires' zero-wait samples in bulk, work
                    // the maintenance thread does in production.
                    pool.maintain();
                })
            })
        }
        Impl::ArrayQueue => {
            let q = ArrayQueue::new(n);
            for _ in 0..n {
                q.push(0u64).expect("room");
            }
            Box::new(move |ops| {
                sync_round(threads, ops, &|ops| {
                    for _ in 0..ops {
                        let mut v = q.pop().expect("an idle item");
                        touch(&mut v);
                        q.push(v).expect("room");
                    }
                })
            })
        }
        Impl::LockfreeLinear => {
            let pool = lockfree_object_pool::LinearObjectPool::<u64>::new(|| 0, |_| {});
            Box::new(move |ops| {
                sync_round(threads, ops, &|ops| {
                    for _ in 0..ops {
                        let mut g = pool.pull();
                        touch(&mut g);
                    }
                })
            })
        }
        Impl::LockfreeSpinLock => {
            let pool = lockfree_object_pool::SpinLockObjectPool::<u64>::new(|| 0, |_| {});
            Box::new(move |ops| {
                sync_round(threads, ops, &|ops| {
                    for _ in 0..ops {
                        let mut g = pool.pull();
                        touch(&mut g);
                    }
                })
            })
        }
        Impl::ObjectPool => {
            let pool = object_pool::Pool::<u64>::new(n, || 0);
            Box::new(move |ops| {
                sync_round(threads, ops, &|ops| {
                    for _ in 0..ops {
                        let mut g = pool.pull(|| 0);
                        touch(&mut g);
                    }
                })
            })
        }
        Impl::R2d2 => {
            let pool = r2d2::Pool::builder()
                .max_size(n as u32)
                .min_idle(Some(n as u32))
                .test_on_check_out(false)
                .idle_timeout(None)
                .max_lifetime(None)
                .build(R2d2Manager)
                .expect("r2d2 pool");
            Box::new(move |ops| {
                sync_round(threads, ops, &|ops| {
                    for _ in 0..ops {
                        let mut g = pool.get().expect("get");
                        touch(&mut g);
                    }
                })
            })
        }
        Impl::TidepoolAsync | Impl::TidepoolAsyncNoMetrics => {
            let rt = runtime(threads);
            let pool = tidepool_pool(format!("bench_async_{n}t"), n, which == Impl::TidepoolAsync);
            Box::new(move |ops| {
                async_round(&rt, threads, ops, &|ops| {
                    let pool = pool.clone();
                    async move {
                        for _ in 0..ops {
                            let mut g = pool.acquire().await.expect("acquire");
                            touch(&mut g);
                        }
                        pool.maintain(); // timed, as in the sync rows
                    }
                })
            })
        }
        Impl::Deadpool => {
            let rt = runtime(threads);
            let pool: deadpool::managed::Pool<DeadpoolManager> =
                deadpool::managed::Pool::builder(DeadpoolManager).max_size(n).build().expect("deadpool pool");
            Box::new(move |ops| {
                async_round(&rt, threads, ops, &|ops| {
                    let pool = pool.clone();
                    async move {
                        for _ in 0..ops {
                            let mut g = pool.get().await.expect("get");
                            touch(&mut g);
                        }
                    }
                })
            })
        }
        Impl::Bb8 => {
            let rt = runtime(threads);
            let pool = rt.block_on(async {
                bb8::Pool::builder()
                    .max_size(n as u32)
                    .min_idle(Some(n as u32))
                    .test_on_check_out(false)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .build(Bb8Manager)
                    .await
                    .expect("bb8 pool")
            });
            Box::new(move |ops| {
                async_round(&rt, threads, ops, &|ops| {
                    let pool = pool.clone();
                    async move {
                        for _ in 0..ops {
                            let mut g = pool.get().await.expect("get");
                            touch(&mut g);
                        }
                    }
                })
            })
        }
    }
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

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

struct Measured {
    which: Impl,
    threads: usize,
    samples: Vec<f64>,
    /// Lowest overlap seen over the timed rounds.
    min_overlap: f64,
}

impl Measured {
    fn median(&self) -> f64 {
        median(&mut self.samples.clone())
    }

    fn min(&self) -> f64 {
        self.samples.iter().copied().fold(f64::INFINITY, f64::min)
    }

    fn max(&self) -> f64 {
        self.samples.iter().copied().fold(0.0, f64::max)
    }
}

fn find(results: &[Measured], which: Impl, threads: usize) -> &Measured {
    results.iter().find(|r| r.which == which && r.threads == threads).expect("measured")
}

fn ratio_line(results: &[Measured], ours: Impl, peer: Impl) -> String {
    let cells: Vec<String> = THREADS
        .iter()
        .map(|&t| {
            let r = find(results, ours, t).median() / find(results, peer, t).median();
            format!("{t} thread{}: {r:.2}×", if t == 1 { "" } else { "s" })
        })
        .collect();
    format!("- {} {} vs {}: {}", ours.short(), ours.api().as_str(), peer.short(), cells.join(", "))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not and
    // gets a smoke run that only checks every implementation works.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let quick = smoke || std::env::var("TIDEPOOL_BENCH_QUICK").is_ok_and(|v| v == "1");
    let ops = if smoke {
        1_000
    } else if quick {
        OPS_PER_THREAD / 20
    } else {
        OPS_PER_THREAD
    };
    let warmup_ops = (ops / 10).max(1_000);

    // Before any pool is built: handles resolve against the recorder present
    // at build time.
    let handle: PrometheusHandle =
        PrometheusExporter::new().without_listener().install().expect("install the Prometheus recorder");

    let mut results: Vec<Measured> = Vec::new();
    let mut runs: Vec<RoundFn> = Vec::new();
    for &threads in &THREADS {
        for which in Impl::ALL {
            runs.push(setup(which, threads));
            results.push(Measured {
                which,
                threads,
                samples: Vec::with_capacity(ROUNDS),
                min_overlap: f64::INFINITY,
            });
        }
    }

    let verbose = std::env::var("TIDEPOOL_BENCH_VERBOSE").is_ok_and(|v| v == "1");
    let bench_start = Instant::now();
    // Warm-up: lazily created objects (deadpool, lockfree-object-pool) get
    // made here, caches and branch predictors settle.
    for run in runs.iter_mut() {
        black_box(run(warmup_ops));
        handle.run_upkeep();
    }
    let n = runs.len();
    let mut round_trips = Vec::with_capacity(ROUNDS + 1);
    for round in 0..ROUNDS {
        round_trips.push(core_to_core_round_trip());
        for k in 0..n {
            let i = (k + round * 3) % n;
            let round_result = runs[i](ops);
            let per_op = round_result.wall.as_nanos() as f64 / ops as f64;
            if verbose {
                eprintln!(
                    "{:>6.1}s round {round} {:>2}t {:<32} {per_op:>8.1} ns/op  overlap {:.2}",
                    bench_start.elapsed().as_secs_f64(),
                    results[i].threads,
                    results[i].which.short(),
                    round_result.overlap,
                );
            }
            results[i].samples.push(per_op);
            results[i].min_overlap = results[i].min_overlap.min(round_result.overlap);
            handle.run_upkeep();
        }
    }
    round_trips.push(core_to_core_round_trip());
    let elapsed = bench_start.elapsed();
    // Keep the exposition honest: tidepool did record.
    let exposition = handle.render();
    assert!(exposition.contains("tidepool_pool_use_seconds_count"), "tidepool recorded no metrics");

    println!("# tidepool pool benchmark\n");
    println!("- CPU: {} ({} logical cores available)", cpu_model(), num_cores());
    println!("- kernel: {}", command_line("uname", &["-sr"]));
    println!("- rustc: {}", command_line("rustc", &["--version"]));
    println!("- date: {}", command_line("date", &[]));
    println!(
        "- work: {} timed rounds × {} acquire+release per thread (+1 warm-up round of {}), round-robin{}",
        ROUNDS,
        ops,
        warmup_ops,
        if quick { " — QUICK MODE (TIDEPOOL_BENCH_QUICK=1)" } else { "" }
    );
    println!("- pool size = threads; measured time: {:.1} s", elapsed.as_secs_f64());
    let rt_min = round_trips.iter().copied().fold(f64::INFINITY, f64::min);
    let rt_max = round_trips.iter().copied().fold(0.0, f64::max);
    println!(
        "- cache-line round trip between two threads, before each round and at the end: \
         median {:.0} ns, min–max {rt_min:.0}–{rt_max:.0} ns\n",
        median(&mut round_trips.clone())
    );

    let header: Vec<String> = THREADS
        .iter()
        .map(|&t| {
            let threads = format!("{t} thread{}", if t == 1 { "" } else { "s" });
            format!("{threads} ns/op (median) | {threads} min–max")
        })
        .collect();
    println!("| implementation | API | {} |", header.join(" | "));
    println!("|---|---|{}", "---:|---:|".repeat(THREADS.len()));
    for which in Impl::ALL {
        let cells: Vec<String> = THREADS
            .iter()
            .map(|&t| {
                let m = find(&results, which, t);
                format!("{:.1} | {:.1}–{:.1}", m.median(), m.min(), m.max())
            })
            .collect();
        println!("| {} | {} | {} |", which.label(), which.api().as_str(), cells.join(" | "));
    }

    println!("\nRatios (tidepool median / other median; above 1 means tidepool is slower):\n");
    let floor = find(&results, Impl::Tidepool, 1).median() / find(&results, Impl::ArrayQueue, 1).median();
    println!(
        "- tidepool sync vs ArrayQueue floor, 1 thread: {floor:.2}× (target ≤ 1.50×: {})",
        if floor <= 1.5 { "met" } else { "NOT met" }
    );
    println!("{}", ratio_line(&results, Impl::Tidepool, Impl::ArrayQueue));
    for peer in [Impl::LockfreeLinear, Impl::LockfreeSpinLock, Impl::ObjectPool, Impl::R2d2] {
        println!("{}", ratio_line(&results, Impl::Tidepool, peer));
    }
    for peer in [Impl::Deadpool, Impl::Bb8] {
        println!("{}", ratio_line(&results, Impl::TidepoolAsync, peer));
    }
    println!("- diagnostic: {}", &ratio_line(&results, Impl::Tidepool, Impl::TidepoolNoMetrics)[2..]);
    println!("- trace capture: {}", &ratio_line(&results, Impl::TidepoolTraced, Impl::Tidepool)[2..]);
    println!(
        "- diagnostic: {}",
        &ratio_line(&results, Impl::TidepoolAsync, Impl::TidepoolAsyncNoMetrics)[2..]
    );

    // Did the two threads (tasks) of each 2-thread round really run side by side?
    let two: Vec<&Measured> = results.iter().filter(|r| r.threads == 2).collect();
    let worst = two.iter().min_by(|a, b| a.min_overlap.total_cmp(&b.min_overlap)).expect("2-thread rows");
    println!(
        "\n2-thread overlap (sum of per-thread busy time / wall time; 2.00 = fully side by side): \
         lowest over all timed rounds {:.2} ({} {})",
        worst.min_overlap,
        worst.which.short(),
        worst.which.api().as_str()
    );
    for r in two.iter().filter(|r| r.min_overlap < 1.8) {
        println!(
            "- WARNING: {} {} had a round with overlap {:.2}: its threads partly ran one after the other",
            r.which.short(),
            r.which.api().as_str(),
            r.min_overlap
        );
    }
}

fn num_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
