//! `tidepool demo`: a pool under a small built-in concurrent load.
//!
//! Worker threads alternate between a busy phase (no think time) and a quiet
//! phase, so the adaptive sizing has something to do; every worker measures
//! its own acquire latency in an HDR histogram, and the summary reconciles
//! the workers' counts with the pool's.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp};

use super::CliError;
use tidepool::clock::Clock;
use tidepool::export::{ExportConfig, Exporters, DEFAULT_LISTEN};
use tidepool::pool::{Pool, Stats, Status};
use tidepool::sync::{LockSnapshot, ProfiledMutex, ProfiledRwLock};

/// Options of `tidepool demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub seconds: u64,
    /// Where to serve /metrics (loopback unless you name another address).
    #[arg(long, default_value_t = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Do not serve /metrics at all.
    #[arg(long)]
    pub no_metrics: bool,
    /// When /metrics cannot be served (the port is in use), warn and run
    /// without it instead of exiting with code 2.
    #[arg(long, conflicts_with = "no_metrics")]
    pub metrics_optional: bool,
    /// Worker threads generating load.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub threads: u64,
    /// Seed for the workers' random hold and think times.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The `job` and `instance` labels of every series on /metrics.
    #[command(flatten)]
    pub labels: super::args::LabelArgs,
}

/// What a demo run measured.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DemoReport {
    /// Wall-clock length of the load.
    pub elapsed: Duration,
    /// Worker threads.
    pub threads: u64,
    /// Acquires the workers completed (their own count).
    pub ops: u64,
    /// Acquires that timed out (workers' count).
    pub timeouts: u64,
    /// Acquires failed by the factory (workers' count).
    pub factory_errors: u64,
    /// Acquire latency seen by the workers, microseconds: p50, p99, max.
    pub wait_us: [u64; 3],
    /// The pool's own totals at the end.
    pub stats: Stats,
    /// The pool's levels at the end, after the load stopped.
    pub status: Status,
    /// Highest size target the sizing policy set.
    pub peak_target: usize,
    /// How long prewarming `min_size` objects took.
    pub prewarm: Duration,
    /// Where /metrics was served, if it was.
    pub metrics_at: Option<SocketAddr>,
    /// The demo's profiled locks at the end, sorted by total wait.
    pub locks: Vec<LockSnapshot>,
}

/// Results shared by every worker: a profiled mutex, touched once per
/// operation, so real contention shows on /metrics.
#[derive(Debug, Default)]
struct Results {
    by_document: std::collections::BTreeMap<u64, u64>,
    recorded: u64,
}

/// Shared settings, read on every operation and rewritten now and then.
#[derive(Debug)]
struct Settings {
    scratch_bytes: usize,
}

/// A stand-in for an expensive object: a buffer that takes a few ms to make.
#[derive(Debug)]
struct Parser {
    scratch: Vec<u8>,
}

const POOL: &str = "demo";
const PHASE: Duration = Duration::from_secs(3);

/// Runs the demo and returns what it measured.
///
/// # Errors
///
/// [`CliError::Input`] if /metrics cannot be served on the address;
/// [`CliError::Run`] if the pool cannot be built.
pub fn run(args: &DemoArgs) -> Result<DemoReport, CliError> {
    let metrics_at = if args.no_metrics {
        if let Some(flag) =
            [("--job", args.labels.job.is_some()), ("--instance", args.labels.instance.is_some())]
                .iter()
                .find_map(|(flag, on)| on.then_some(flag))
        {
            return Err(CliError::Input(format!("{flag} labels /metrics: not with --no-metrics")));
        }
        None
    } else {
        let mut export = ExportConfig { listen: args.listen, ..ExportConfig::default() };
        export.labels.insert("job".into(), args.labels.job());
        export.labels.insert("instance".into(), args.labels.instance(Some(args.listen.port())));
        match Exporters::install(&export) {
            Ok(_) => Some(args.listen),
            Err(e @ tidepool::export::ExportError::Bind { .. }) if args.metrics_optional => {
                say!(
                    "tidepool: --listen {}: {e}; going on without /metrics (--metrics-optional)",
                    args.listen
                );
                None
            }
            Err(e) => {
                return Err(CliError::Input(format!(
                    "--listen {}: {e} (choose another address, or pass --metrics-optional to run without /metrics)",
                    args.listen
                )))
            }
        }
    };
    let clock = Clock::system();
    let pool = Pool::builder(POOL)
        .min_size(2)
        .max_size(8)
        .acquire_timeout(Duration::from_millis(250))
        .sizing_interval(Duration::from_secs(2))
        .maintenance_interval(Some(Duration::from_millis(250)))
        .max_idle_time(Duration::from_secs(4))
        .leak_threshold(Duration::from_secs(2))
        .clock(clock.clone())
        .factory(|| {
            std::thread::sleep(Duration::from_millis(5));
            Ok(Parser { scratch: Vec::with_capacity(64 * 1024) })
        })
        .recycle(|p: &mut Parser| {
            p.scratch.clear();
            Ok(())
        })
        .build()
        .map_err(|e| CliError::Run(e.to_string()))?;

    say!(
        "tidepool demo: {} threads for {} s{}",
        args.threads,
        args.seconds,
        metrics_at.map(|a| format!(", metrics on http://{a}/metrics")).unwrap_or_default()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        results: ProfiledMutex::new("demo-results", Results::default()),
        settings: ProfiledRwLock::new("demo-settings", Settings { scratch_bytes: 256 }),
    });
    let start = clock.now_nanos();
    let workers: Vec<_> = (0..args.threads)
        .map(|i| {
            let pool = pool.clone();
            let stop = Arc::clone(&stop);
            let clock = clock.clone();
            let shared = Arc::clone(&shared);
            let seed = args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i);
            std::thread::spawn(move || worker(&pool, &shared, &clock, &stop, seed, start))
        })
        .collect();

    let mut peak_target = pool.status().target;
    let deadline = start + args.seconds * 1_000_000_000;
    while clock.now_nanos() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        peak_target = peak_target.max(pool.status().target);
    }
    stop.store(true, Ordering::Relaxed);

    let mut tally = Tally::new();
    for handle in workers {
        let part = handle.join().map_err(|_| CliError::Run("a demo worker panicked".into()))?;
        tally.merge(&part);
    }
    let elapsed = Duration::from_nanos(clock.now_nanos().saturating_sub(start));
    pool.maintain(); // publish the final values before the summary
    tidepool::sync::registry().publish();
    let recorded = shared.results.lock().recorded;
    let mut locks: Vec<LockSnapshot> =
        tidepool::sync::registry().snapshot().into_iter().filter(|s| s.name.starts_with("demo-")).collect();
    // The summary's lock (taken just now for `recorded`) is one more than the workers'.
    if let Some(row) = locks.iter_mut().find(|s| &*s.name == "demo-results") {
        row.acquisitions = row.acquisitions.saturating_sub(1);
    }
    if recorded != tally.ops {
        return Err(CliError::Run(format!(
            "demo-results recorded {recorded} results for {} operations",
            tally.ops
        )));
    }
    Ok(DemoReport {
        elapsed,
        threads: args.threads,
        ops: tally.ops,
        timeouts: tally.timeouts,
        factory_errors: tally.factory_errors,
        wait_us: [
            tally.wait_us.value_at_quantile(0.5),
            tally.wait_us.value_at_quantile(0.99),
            tally.wait_us.max(),
        ],
        stats: pool.stats(),
        status: pool.status(),
        peak_target,
        prewarm: pool.prewarm_time(),
        metrics_at,
        locks,
    })
}

#[derive(Debug)]
struct Shared {
    results: ProfiledMutex<Results>,
    settings: ProfiledRwLock<Settings>,
}

#[derive(Debug)]
struct Tally {
    ops: u64,
    timeouts: u64,
    factory_errors: u64,
    wait_us: Histogram<u64>,
}

impl Tally {
    fn new() -> Self {
        // 1 µs .. 60 s at 3 significant digits: a few tens of KiB, whatever the run length.
        let wait_us = Histogram::new_with_bounds(1, 60_000_000, 3)
            .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!("3 sigfig is valid")));
        Tally { ops: 0, timeouts: 0, factory_errors: 0, wait_us }
    }

    fn merge(&mut self, other: &Tally) {
        self.ops += other.ops;
        self.timeouts += other.timeouts;
        self.factory_errors += other.factory_errors;
        let _ = self.wait_us.add(&other.wait_us);
    }
}

fn worker(
    pool: &Pool<Parser>,
    shared: &Shared,
    clock: &Clock,
    stop: &AtomicBool,
    seed: u64,
    start: u64,
) -> Tally {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Mean hold 4 ms; think time 0 in busy phases, mean 40 ms in quiet ones.
    let hold = Exp::new(1.0 / 4.0).unwrap_or_else(|_| unreachable!("positive rate"));
    let think = Exp::new(1.0 / 40.0).unwrap_or_else(|_| unreachable!("positive rate"));
    let mut tally = Tally::new();
    while !stop.load(Ordering::Relaxed) {
        let asked = clock.now_nanos();
        match pool.acquire_blocking() {
            Ok(mut parser) => {
                let got = clock.now_nanos();
                tally.ops += 1;
                tally.wait_us.saturating_record(got.saturating_sub(asked) / 1_000);
                let bytes = shared.settings.read().scratch_bytes;
                parser.scratch.extend_from_slice(&vec![rng.random::<u8>(); bytes]);
                sleep_ms(hold.sample(&mut rng));
                {
                    // The shared state every worker touches: a short
                    // critical section, but six threads want it.
                    let mut results = shared.results.lock();
                    let doc = rng.random_range(0..4096u64);
                    *results.by_document.entry(doc).or_default() += parser.scratch.len() as u64;
                    results.recorded += 1;
                    // A digest over every result: tens of µs under the lock.
                    let digest = results.by_document.values().fold(0u64, |a, v| a.rotate_left(5) ^ v);
                    std::hint::black_box(digest);
                    if results.by_document.len() > 2048 {
                        let oldest = results.by_document.keys().next().copied();
                        if let Some(k) = oldest {
                            results.by_document.remove(&k);
                        }
                    }
                }
                if tally.ops % 500 == 0 {
                    shared.settings.write().scratch_bytes = 128 + rng.random_range(0..256);
                }
            }
            Err(e) if e.is_timeout() => tally.timeouts += 1,
            Err(e) if e.is_factory() => tally.factory_errors += 1,
            Err(_) => break,
        }
        let phase = clock.now_nanos().saturating_sub(start) / PHASE.as_nanos() as u64;
        if phase % 2 == 1 {
            sleep_ms(think.sample(&mut rng));
        }
    }
    tally
}

fn sleep_ms(ms: f64) {
    std::thread::sleep(Duration::from_secs_f64(ms.clamp(0.0, 1_000.0) / 1_000.0));
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let s = &self.stats;
        writeln!(f, "tidepool demo summary")?;
        writeln!(f, "  load        {} threads for {:.1} s", self.threads, secs)?;
        writeln!(
            f,
            "  acquires    {} ({:.0}/s), {} direct, {} waited",
            self.ops,
            self.ops as f64 / secs,
            s.acquires_direct,
            s.acquires_waited
        )?;
        writeln!(f, "  failures    {} timeouts, {} factory errors", self.timeouts, self.factory_errors)?;
        writeln!(
            f,
            "  wait        p50 {} us, p99 {} us, max {} us (measured by the workers)",
            self.wait_us[0], self.wait_us[1], self.wait_us[2]
        )?;
        writeln!(
            f,
            "  objects     {} created, {} destroyed, reuse ratio {:.4}",
            s.created_total(),
            s.destroyed_total(),
            s.reuse_ratio()
        )?;
        writeln!(
            f,
            "  sizing      target peaked at {} (min {}, max {}); now size {}, idle {}",
            self.peak_target, self.status.min, self.status.max, self.status.size, self.status.idle
        )?;
        writeln!(
            f,
            "  prewarm     {} objects in {:.1} ms",
            self.status.min,
            self.prewarm.as_secs_f64() * 1e3
        )?;
        let agree = self.ops == s.acquires() && self.timeouts == s.timeouts;
        writeln!(
            f,
            "  reconciled  workers' counts {} the pool's",
            if agree { "match" } else { "DO NOT match" }
        )?;
        if let Some(addr) = self.metrics_at {
            writeln!(f, "  metrics     were served on http://{addr}/metrics")?;
        }
        if !self.locks.is_empty() {
            writeln!(f, "\nprofiled locks (sorted by total wait)")?;
            for line in tidepool::sync::format_table(&self.locks).lines() {
                writeln!(f, "  {line}")?;
            }
        }
        Ok(())
    }
}
