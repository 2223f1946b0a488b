//! The engine against queueing theory: an M/M/c workload (Poisson arrivals,
//! exponential holds, a fixed pool of c objects, no timeout) must reproduce
//! the Erlang-C probability of waiting and mean wait within 3 % relative.
//!
//! The runs are long (millions of operations) because the sample mean of a
//! queue's wait converges slowly near saturation; the engine makes that
//! cheap (`cargo test` builds these with optimisations: see Cargo.toml's
//! `[profile.test]`).

use std::sync::atomic::AtomicBool;

use tidepool::sim::{run, NoObserver, Workload};

/// Erlang C: (probability that an arrival waits, mean wait in seconds).
fn erlang_c(c: usize, lambda: f64, mean_hold: f64) -> (f64, f64) {
    let mu = 1.0 / mean_hold;
    let a = lambda / mu; // offered load in erlangs
    let rho = a / c as f64;
    assert!(rho < 1.0);
    // Σ_{k<c} a^k/k! and a^c/c!, accumulated term by term (no overflow).
    let mut term = 1.0;
    let mut sum = 0.0;
    for k in 0..c {
        sum += term;
        term *= a / (k + 1) as f64;
    }
    let tail = term / (1.0 - rho);
    let p_wait = tail / (sum + tail);
    (p_wait, p_wait / (c as f64 * mu - lambda))
}

fn mmc(c: usize, rho: f64, mean_hold_ms: f64, hours: f64, seed: u64) -> Workload {
    let lambda = rho * c as f64 / (mean_hold_ms / 1e3);
    let text = format!(
        r#"
        name = "mmc"
        seed = {seed}
        sample_interval = "1h"
        [pool]
        min = {c}
        max = {c}
        sizing = "fixed"
        acquire_timeout = "24h"
        [[phase]]
        name = "mmc"
        duration = {secs}
        arrival = {{ process = "poisson", rate = {lambda} }}
        hold = {{ dist = "exponential", mean = "{mean_hold_ms}ms" }}
        "#,
        secs = hours * 3600.0
    );
    Workload::parse(&text, "mmc.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// Runs M/M/c and compares with Erlang C. Returns the relative errors.
fn check(c: usize, rho: f64, hours: f64) -> (f64, f64) {
    let mean_hold_ms = 10.0;
    let w = mmc(c, rho, mean_hold_ms, hours, 42 + c as u64);
    let lambda = rho * c as f64 / (mean_hold_ms / 1e3);
    let (p_wait, mean_wait) = erlang_c(c, lambda, mean_hold_ms / 1e3);
    let outcome = run(&w, &mut NoObserver, &AtomicBool::new(false)).expect("runs");
    let t = &outcome.total;
    let served = t.served as f64;
    assert_eq!(t.served, t.wait_corrected.len(), "no timeouts: every wait sample is a served acquire");
    let measured_p = t.waited as f64 / served;
    let measured_mean = t.wait_corrected.mean() / 1e9;
    let ep = (measured_p - p_wait).abs() / p_wait;
    let ew = (measured_mean - mean_wait).abs() / mean_wait;
    eprintln!(
        "M/M/{c} rho={rho}: {served} served; P(wait) {measured_p:.5} vs Erlang C {p_wait:.5} ({:.2} %), \
         mean wait {:.4} ms vs {:.4} ms ({:.2} %)",
        ep * 100.0,
        measured_mean * 1e3,
        mean_wait * 1e3,
        ew * 100.0
    );
    assert_eq!(t.timed_out + t.failed, 0, "no timeouts or failures in M/M/c");
    assert!(ep < 0.03, "M/M/{c} at rho {rho}: P(wait) {measured_p} vs {p_wait}");
    assert!(ew < 0.03, "M/M/{c} at rho {rho}: mean wait {measured_mean} vs {mean_wait}");
    (ep, ew)
}

#[test]
fn erlang_c_formula_matches_known_values() {
    // M/M/1: P(wait) = rho, Wq = rho / (mu - lambda).
    let (p, w) = erlang_c(1, 50.0, 0.01);
    assert!((p - 0.5).abs() < 1e-12 && (w - 0.01).abs() < 1e-12, "{p} {w}");
    // A textbook value: c = 2, a = 1 erlang -> P(wait) = 1/3.
    let (p, _) = erlang_c(2, 100.0, 0.01);
    assert!((p - 1.0 / 3.0).abs() < 1e-12, "{p}");
}

#[test]
fn mm1_at_half_load() {
    check(1, 0.5, 2.0);
}

#[test]
fn mm4_at_80_percent() {
    check(4, 0.8, 2.0);
}

#[test]
fn mm8_at_90_percent() {
    check(8, 0.9, 2.0);
}

#[test]
fn mm16_at_95_percent() {
    check(16, 0.95, 3.0);
}
