//! Open-loop throughput of wall-clock mode (`tidepool::sim::run_wall`):
//! how many starts per second it keeps on schedule, with zero hold, against
//! the simplest open-loop generator there is.
//!
//! `cargo bench --bench wall`. Run without `--bench` (as `cargo test
//! --all-targets` does) it is a smoke run of a fraction of a second per row
//! that only checks every row works. `TIDEPOOL_BENCH_SECONDS` sets the
//! length of each timed run (default 5).
//!
//! Rows, interleaved round-robin over `rounds` rounds so a noisy neighbour
//! hits them all alike:
//!
//! * **tidepool wall** at a target rate: `run_wall` on a Poisson schedule,
//!   zero hold, pool min 4 / max 16 — the scheduler thread hands each start
//!   to executor threads through a bounded queue; executors acquire through
//!   `Pool::acquire_blocking` and release at once.
//! * **inline peer** at the same rate: one thread draws the same Poisson
//!   schedule, waits for each start (sleep, then yield) and does
//!   `acquire_blocking` + drop itself — no queue, no executors, no
//!   accounting beyond an HDR histogram of lag. A floor for any design
//!   that hands starts to other threads; it cannot hold anything (a hold
//!   would delay every later start) and so is no load tester.
//!
//! For each: achieved starts per second, late starts (lag > 1 ms) as a
//! fraction, dropped starts (tidepool only), lag p50 / p99 / p99.9, CPU
//! cores used (from /proc/self/stat, the whole process, so both rows include
//! the idle threads of the other).

#![allow(clippy::disallowed_methods)]

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tidepool::pool::Pool;
use tidepool::sim::{run_wall, NoObserver, WallOptions, Workload};

fn workload(rate: f64, seconds: f64) -> Workload {
    let text = format!(
        r#"
name = "wall-bench"
seed = 7
duration = "{ms}ms"
sample_interval = "{si}ms"
hold = {{ dist = "constant", value = "0s" }}
[pool]
min = 4
max = 16
[[phase]]
name = "flat"
duration = "{ms}ms"
arrival = {{ process = "poisson", rate = {rate} }}
"#,
        ms = (seconds * 1000.0) as u64,
        si = ((seconds * 1000.0) as u64).clamp(1, 1000)
    );
    match Workload::parse(&text, "wall-bench") {
        Ok(w) => w,
        Err(e) => panic!("bench workload: {e}"),
    }
}

struct Row {
    achieved: f64,
    late: f64,
    dropped: f64,
    lag: [f64; 3],
    cores: f64,
}

fn cpu_seconds() -> f64 {
    tidepool::process::sample().map_or(0.0, |p| p.cpu_seconds)
}

fn tidepool_row(rate: f64, seconds: f64) -> Row {
    let w = workload(rate, seconds);
    let cpu = cpu_seconds();
    let started = Instant::now();
    let (outcome, f) = match run_wall(&w, &mut NoObserver, &AtomicBool::new(false), &WallOptions::default()) {
        Ok(x) => x,
        Err(e) => panic!("run_wall: {e}"),
    };
    let wall = started.elapsed().as_secs_f64();
    let started_ops = outcome.total.arrived as f64;
    Row {
        achieved: started_ops / f.seconds.max(1e-9),
        late: f.late as f64 / started_ops.max(1.0),
        dropped: f.dropped as f64 / (f.scheduled as f64).max(1.0),
        lag: [0.5, 0.99, 0.999].map(|q| f.lag.value_at_quantile(q) as f64 / 1e6),
        cores: (cpu_seconds() - cpu) / wall,
    }
}

fn inline_row(rate: f64, seconds: f64) -> Row {
    let pool = match Pool::builder("inline").min_size(4).max_size(16).factory(|| Ok(0u64)).build() {
        Ok(p) => p,
        Err(e) => panic!("pool: {e}"),
    };
    let mut rng = SmallRng::seed_from_u64(7);
    let mut lag = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 2).expect("histogram bounds");
    let (mut late, mut ops) = (0u64, 0u64);
    let cpu = cpu_seconds();
    let origin = Instant::now();
    let end = seconds * 1e9;
    let mut next = 0.0f64;
    loop {
        let e: f64 = rng.sample(rand_distr::Exp1);
        next += e / rate * 1e9;
        if next >= end {
            break;
        }
        loop {
            let now = origin.elapsed().as_nanos() as f64;
            if now >= next {
                break;
            }
            let left = next - now;
            if left > 200_000.0 {
                std::thread::sleep(Duration::from_nanos((left - 100_000.0) as u64));
            } else {
                std::thread::yield_now();
            }
        }
        let l = (origin.elapsed().as_nanos() as f64 - next).max(0.0) as u64;
        lag.saturating_record(l);
        late += u64::from(l > 1_000_000);
        ops += 1;
        if let Ok(guard) = pool.acquire_blocking() {
            drop(guard);
        }
    }
    let wall = origin.elapsed().as_secs_f64();
    Row {
        achieved: ops as f64 / seconds,
        late: late as f64 / (ops as f64).max(1.0),
        dropped: 0.0,
        lag: [0.5, 0.99, 0.999].map(|q| lag.value_at_quantile(q) as f64 / 1e6),
        cores: (cpu_seconds() - cpu) / wall,
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let seconds: f64 = if bench {
        std::env::var("TIDEPOOL_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0)
    } else {
        0.2
    };
    let rounds = if bench { 3 } else { 1 };
    let rates: &[f64] = if bench { &[100_000.0, 250_000.0, 500_000.0, 750_000.0] } else { &[10_000.0] };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("wall-clock open loop, zero hold, {seconds} s per run, {rounds} rounds, {cpus} CPUs");
    // rows[rate][0 = tidepool, 1 = inline][round]
    let mut rows: Vec<[Vec<Row>; 2]> = rates.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    for _ in 0..rounds {
        for (i, &rate) in rates.iter().enumerate() {
            rows[i][0].push(tidepool_row(rate, seconds));
            rows[i][1].push(inline_row(rate, seconds));
        }
    }
    println!(
        "| target/s | generator | achieved/s | late > 1 ms | dropped | lag p50 | lag p99 | lag p99.9 | CPU cores |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for (i, &rate) in rates.iter().enumerate() {
        for (k, name) in ["tidepool wall", "inline peer"].iter().enumerate() {
            // The median round by lateness: one noisy round does not decide.
            let mut runs: Vec<&Row> = rows[i][k].iter().collect();
            runs.sort_by(|a, b| a.late.total_cmp(&b.late));
            let r = runs[runs.len() / 2];
            println!(
                "| {rate:.0} | {name} | {:.0} | {:.3} % | {:.3} % | {:.3} ms | {:.3} ms | {:.3} ms | {:.2} |",
                r.achieved,
                r.late * 100.0,
                r.dropped * 100.0,
                r.lag[0],
                r.lag[1],
                r.lag[2],
                r.cores
            );
            assert!(r.achieved > 0.0, "{name} at {rate}/s started nothing");
        }
    }
}
