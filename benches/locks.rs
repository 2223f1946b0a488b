//! Lock + unlock cost of tidepool's profiled locks against the bare
//! `parking_lot` locks they wrap (and `std`'s, for reference).
//!
//! `cargo bench --bench locks` (part of `make bench`); `TIDEPOOL_BENCH_QUICK=1`
//! shrinks the work 20×. Without `--bench` (as `cargo test --all-targets`
//! runs it) it is a smoke run whose numbers mean nothing.
//!
//! Every row runs the same loop per thread: lock → increment the protected
//! `u64` through `black_box` → unlock. With 1 thread the lock is never
//! contended; with 2 threads both hammer the same lock (the contended case:
//! every acquisition races the other thread). Rows take turns within each
//! round (rotated every round) and the table shows the median of the rounds.
//! No metrics recorder is installed: the profiled locks never touch the
//! metrics facade on their hot path (a background thread publishes), so a
//! recorder would not change these numbers.

// A benchmark times itself.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tidepool::sync::{LockOptions, ProfiledMutex, ProfiledRwLock};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Row {
    ParkingLotMutex,
    ProfiledMutex,
    ProfiledMutex8,
    ProfiledMutexExact,
    StdMutex,
    ParkingLotRead,
    ProfiledRead,
    ParkingLotWrite,
    ProfiledWrite,
}

impl Row {
    const ALL: [Row; 9] = [
        Row::ParkingLotMutex,
        Row::ProfiledMutex,
        Row::ProfiledMutex8,
        Row::ProfiledMutexExact,
        Row::StdMutex,
        Row::ParkingLotRead,
        Row::ProfiledRead,
        Row::ParkingLotWrite,
        Row::ProfiledWrite,
    ];

    fn label(self) -> &'static str {
        match self {
            Row::ParkingLotMutex => "parking_lot::Mutex lock",
            Row::ProfiledMutex => "ProfiledMutex lock (default: holds sampled 1 in 64)",
            Row::ProfiledMutex8 => "ProfiledMutex lock (holds sampled 1 in 8)",
            Row::ProfiledMutexExact => "ProfiledMutex lock (every hold timed, N = 1)",
            Row::StdMutex => "std::sync::Mutex lock",
            Row::ParkingLotRead => "parking_lot::RwLock read",
            Row::ProfiledRead => "ProfiledRwLock read (default, 1 in 64)",
            Row::ParkingLotWrite => "parking_lot::RwLock write",
            Row::ProfiledWrite => "ProfiledRwLock write (default, 1 in 64)",
        }
    }
}

type Body = Arc<dyn Fn(u64) + Send + Sync>;

fn body(row: Row) -> Body {
    match row {
        Row::ParkingLotMutex => {
            let m = parking_lot::Mutex::new(0u64);
            Arc::new(move |n| {
                for _ in 0..n {
                    let mut g = m.lock();
                    *g = black_box(*g).wrapping_add(1);
                }
            })
        }
        Row::ProfiledMutex | Row::ProfiledMutex8 | Row::ProfiledMutexExact => {
            let n = match row {
                Row::ProfiledMutex => tidepool::sync::DEFAULT_SAMPLE_EVERY,
                Row::ProfiledMutex8 => 8,
                _ => 1,
            };
            let opts = LockOptions::default().hold_sample_every(n);
            let m = ProfiledMutex::with_options(format!("bench-{row:?}"), 0u64, opts);
            Arc::new(move |n| {
                for _ in 0..n {
                    let mut g = m.lock();
                    *g = black_box(*g).wrapping_add(1);
                }
            })
        }
        Row::StdMutex => {
            let m = std::sync::Mutex::new(0u64);
            Arc::new(move |n| {
                for _ in 0..n {
                    if let Ok(mut g) = m.lock() {
                        *g = black_box(*g).wrapping_add(1);
                    }
                }
            })
        }
        Row::ParkingLotRead => {
            let l = parking_lot::RwLock::new(0u64);
            Arc::new(move |n| {
                for _ in 0..n {
                    black_box(*l.read());
                }
            })
        }
        Row::ProfiledRead => {
            let l = ProfiledRwLock::new(format!("bench-{row:?}"), 0u64);
            Arc::new(move |n| {
                for _ in 0..n {
                    black_box(*l.read());
                }
            })
        }
        Row::ParkingLotWrite => {
            let l = parking_lot::RwLock::new(0u64);
            Arc::new(move |n| {
                for _ in 0..n {
                    let mut g = l.write();
                    *g = black_box(*g).wrapping_add(1);
                }
            })
        }
        Row::ProfiledWrite => {
            let l = ProfiledRwLock::new(format!("bench-{row:?}"), 0u64);
            Arc::new(move |n| {
                for _ in 0..n {
                    let mut g = l.write();
                    *g = black_box(*g).wrapping_add(1);
                }
            })
        }
    }
}

/// ns per lock+unlock per thread: wall time from the gate to the last thread's end.
fn round(threads: usize, ops: u64, body: &Body) -> f64 {
    let gate = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (gate, body) = (Arc::clone(&gate), Arc::clone(body));
            std::thread::spawn(move || {
                gate.fetch_add(1, Ordering::SeqCst);
                while gate.load(Ordering::SeqCst) < threads {
                    std::hint::spin_loop();
                }
                let t = Instant::now();
                body(ops);
                t
            })
        })
        .collect();
    let starts: Vec<Instant> = handles.into_iter().map(|h| h.join().expect("bench thread")).collect();
    let first = starts.iter().min().copied().unwrap_or_else(Instant::now);
    first.elapsed().as_nanos() as f64 / ops as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let quick = std::env::var_os("TIDEPOOL_BENCH_QUICK").is_some();
    let (ops, rounds) = match (bench, quick) {
        (false, _) => (2_000, 1),
        (true, true) => (250_000, 3),
        (true, false) => (5_000_000, 7),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# tidepool lock benchmark\n");
    println!("- cores: {cores}; {ops} lock+unlock per thread per round; {rounds} rounds, median shown");
    if !bench {
        println!("- SMOKE RUN (no --bench): numbers are meaningless");
    }
    let mut table: Vec<(Row, usize, f64)> = Vec::new();
    for threads in [1usize, 2] {
        let bodies: Vec<(Row, Body)> = Row::ALL.iter().map(|&r| (r, body(r))).collect();
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); bodies.len()];
        for r in 0..=rounds {
            for k in 0..bodies.len() {
                let i = (k + r) % bodies.len();
                let ns = round(threads, ops, &bodies[i].1);
                if r > 0 {
                    samples[i].push(ns); // round 0 warms up
                }
            }
        }
        for (i, (row, _)) in bodies.iter().enumerate() {
            table.push((*row, threads, median(&mut samples[i])));
        }
    }
    println!("\n| lock + unlock | 1 thread ns/op | 2 threads (contended) ns/op |\n|---|---:|---:|");
    let get =
        |row: Row, t: usize| table.iter().find(|(r, th, _)| *r == row && *th == t).map_or(f64::NAN, |x| x.2);
    for row in Row::ALL {
        println!("| {} | {:.1} | {:.1} |", row.label(), get(row, 1), get(row, 2));
    }
    println!("\nRatios against the wrapped lock (targets: ≤ 1.3× uncontended, ≤ 1.5× contended):\n");
    for (ours, base, what) in [
        (Row::ProfiledMutex, Row::ParkingLotMutex, "ProfiledMutex / parking_lot::Mutex"),
        (Row::ProfiledMutex8, Row::ParkingLotMutex, "ProfiledMutex N=8 / parking_lot::Mutex"),
        (Row::ProfiledMutexExact, Row::ParkingLotMutex, "ProfiledMutex N=1 / parking_lot::Mutex"),
        (Row::ProfiledRead, Row::ParkingLotRead, "ProfiledRwLock read / parking_lot read"),
        (Row::ProfiledWrite, Row::ParkingLotWrite, "ProfiledRwLock write / parking_lot write"),
    ] {
        let (u, c) = (get(ours, 1) / get(base, 1), get(ours, 2) / get(base, 2));
        let verdict = |x: f64, limit: f64| if x <= limit { "met" } else { "NOT met" };
        println!(
            "- {what}: uncontended {u:.2}× ({}), contended {c:.2}× ({})",
            verdict(u, 1.3),
            verdict(c, 1.5)
        );
    }
}
