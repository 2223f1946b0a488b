//! The harness's own cost per operation (`Soak::run_with`): the CPU a
//! soak of your operation takes per operation, minus what the operation
//! itself takes in a bare loop.
//!
//! `cargo bench --bench harness` (`TIDEPOOL_BENCH_SECONDS`, default 5, sets
//! each run's length). Run without `--bench` (as `cargo test --all-targets`
//! does) it is a smoke run that only checks every row works.
//!
//! Rows, interleaved round-robin over 3 rounds (median shown):
//!
//! * **bare loop**: one thread calls the operation on one object, back to
//!   back: the operation's own CPU cost.
//! * **bare loop + pool**: the same with `acquire_blocking` and release
//!   around each call (what any pooled service pays anyway).
//! * **modeled zero hold** at the same rates: `tidepool soak`'s own wall
//!   run of the same schedule (the runner without your code).
//! * **harness** at 100 000 ops/s (and 20 000): `Soak::run_with` on a
//!   Poisson schedule, your sync operation on a tidepool pool of 4..16,
//!   reports written: the scheduler, executors, accounting, monitor and
//!   reports. CPU is the whole process's (/proc/self/stat), over the run.
//!
//! The operation: FNV-1a over a 256-byte buffer kept in the object (about
//! a hundred nanoseconds: small, so the harness's cost is not hidden).

#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::Instant;

use tidepool::pool::Pool;
use tidepool::sim::Workload;
use tidepool::soak::{Harness, Soak};

struct Object {
    buffer: [u8; 256],
    hashes: u64,
}

fn operation(o: &mut Object) -> Result<(), std::io::Error> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in &o.buffer {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    o.buffer[(h % 256) as usize] ^= 1;
    o.hashes = o.hashes.wrapping_add(black_box(h) & 1);
    Ok(())
}

fn new_object() -> Object {
    Object { buffer: [7; 256], hashes: 0 }
}

fn cpu_seconds() -> f64 {
    tidepool::process::sample().map_or(0.0, |p| p.cpu_seconds)
}

/// CPU ns per call of a bare loop of `n` calls.
fn bare(n: u64, pooled: bool) -> f64 {
    let pool =
        Pool::builder("bare").min_size(1).max_size(1).factory(|| Ok(new_object())).build().expect("pool");
    let mut object = new_object();
    let cpu = cpu_seconds();
    for _ in 0..n {
        if pooled {
            let mut guard = pool.acquire_blocking().expect("an object");
            operation(&mut guard).expect("ok");
        } else {
            operation(&mut object).expect("ok");
        }
    }
    black_box(&object);
    (cpu_seconds() - cpu) * 1e9 / n as f64
}

/// CPU ns per operation of a harness run at `rate` for `seconds`, and the
/// fraction of starts more than 1 ms late.
fn harness(rate: f64, seconds: f64, yours: bool) -> (f64, f64, u64) {
    let ms = (seconds * 1000.0) as u64;
    let text = format!(
        r#"name = "harness-bench"
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
        si = ms.clamp(1, 1000)
    );
    let workload = Workload::parse(&text, "harness-bench").expect("workload");
    let pool = Pool::builder("harness-bench")
        .min_size(4)
        .max_size(16)
        .factory(|| Ok(new_object()))
        .build()
        .expect("pool");
    let dir = tempfile::tempdir().expect("tempdir");
    let cpu = cpu_seconds();
    let started = Instant::now();
    let soak = Soak::new(workload).out(dir.path());
    let result = if yours {
        soak.run_with(Harness::new(pool, operation))
    } else {
        soak.time(tidepool::soak::Time::wall()).run()
    };
    let result = result.expect("runs");
    let cpu = cpu_seconds() - cpu;
    let _ = started.elapsed();
    let ops = result.report.ops.completed.max(1);
    let late = result.report.schedule.as_ref().map_or(0.0, |s| s.late_fraction);
    (cpu * 1e9 / ops as f64, late, ops)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let seconds: f64 = if bench {
        std::env::var("TIDEPOOL_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0)
    } else {
        0.2
    };
    let rounds = if bench { 3 } else { 1 };
    let calls = if bench { 20_000_000 } else { 100_000 };
    let rates: &[f64] = if bench { &[20_000.0, 100_000.0] } else { &[10_000.0] };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("harness overhead, {seconds} s per harness run, {rounds} rounds, {cpus} CPUs");
    let (mut plain, mut pooled) = (Vec::new(), Vec::new());
    let mut runs: Vec<Vec<(f64, f64, u64)>> = rates.iter().map(|_| Vec::new()).collect();
    let mut modeled: Vec<Vec<(f64, f64, u64)>> = rates.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        plain.push(bare(calls, false));
        pooled.push(bare(calls, true));
        for (i, &rate) in rates.iter().enumerate() {
            runs[i].push(harness(rate, seconds, true));
            modeled[i].push(harness(rate, seconds, false));
        }
    }
    let (plain, pooled) = (median(plain), median(pooled));
    println!("| row | CPU per operation | minus the bare loop | minus the modeled run | late > 1 ms |");
    println!("|---|---:|---:|---:|---:|");
    println!("| bare loop | {plain:.0} ns | | | |");
    println!("| bare loop + pool acquire/release | {pooled:.0} ns | | | |");
    for (i, &rate) in rates.iter().enumerate() {
        let base = median(modeled[i].iter().map(|r| r.0).collect());
        let base_late = median(modeled[i].iter().map(|r| r.1).collect());
        println!(
            "| modeled zero hold (`tidepool soak`) at {rate:.0}/s | {base:.0} ns | | | {:.3} % |",
            base_late * 100.0
        );
        let ns = median(runs[i].iter().map(|r| r.0).collect());
        let late = median(runs[i].iter().map(|r| r.1).collect());
        println!(
            "| harness at {rate:.0}/s | {ns:.0} ns | {:.2} µs | {:.2} µs | {:.3} % |",
            (ns - plain) / 1000.0,
            (ns - base) / 1000.0,
            late * 100.0
        );
    }
}
