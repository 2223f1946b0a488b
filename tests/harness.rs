//! Your code under replay: `Soak::run_with(Harness)` runs a user's own
//! objects and operation (sync and async) under a workload's schedule, on
//! real threads, and reports, gates and judges them as `tidepool soak` does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tidepool::pool::Pool;
use tidepool::sim::Workload;
use tidepool::soak::{Harness, Soak, SoakEnd, SoakError, SoakResult};

/// 3 s of Poisson arrivals at 400/s on a pool of 2..8, with gates.
fn workload(extra: &str) -> Workload {
    let text = format!(
        r#"name = "harness"
seed = 7
duration = "3s"
sample_interval = "250ms"
hold = {{ dist = "constant", value = "1ms" }}

[pool]
min = 2
max = 8
acquire_timeout = "2s"

[[phase]]
name = "steady"
duration = "3s"
arrival = {{ process = "poisson", rate = 400 }}
{extra}"#
    );
    Workload::parse(&text, "harness.toml").expect("workload")
}

const GATES: &str = "[slo]\nmax_error_rate = 0.01\nmax_wait_p99 = \"1s\"\n";

fn run<T: Send + 'static>(workload: Workload, harness: Harness<T>) -> (SoakResult, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let result = Soak::new(workload).out(dir.path()).run_with(harness).expect("the soak runs");
    (result, dir)
}

/// Every arrival ran the user's operation once: the run's counts and the
/// operation's own count agree, and the reports say so.
fn reconciles(result: &SoakResult, calls: u64) {
    let ops = &result.report.ops;
    assert!(ops.arrived > 600, "{ops:?}");
    assert_eq!(
        ops.arrived,
        ops.completed + ops.timed_out + ops.failed + ops.in_flight + ops.waiting,
        "{ops:?}"
    );
    assert_eq!(ops.completed, calls, "completed operations vs calls of the operation: {ops:?}");
    let took = result.report.operation_seconds.as_ref().expect("the operation's own duration");
    assert_eq!(took.count, calls, "{took:?}");
    assert!(took.p50 > 0.0 && took.p50 <= took.p99 && took.p99 <= took.max, "{took:?}");
}

#[test]
fn a_sync_operation_runs_once_per_arrival_and_is_gated() {
    let calls = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&calls);
    let pool = Pool::builder("parsers")
        .max_size(8)
        .factory(|| Ok(String::with_capacity(256)))
        .build()
        .expect("pool");
    // Real work: format and parse a JSON document on the pooled buffer.
    let harness = Harness::new(pool.clone(), move |buffer: &mut String| {
        let n = counted.fetch_add(1, Ordering::Relaxed);
        buffer.clear();
        buffer.push_str(&format!(r#"{{"id":{n},"tags":["a","b"],"score":{}}}"#, n as f64 / 3.0));
        let value: serde_json::Value = serde_json::from_str(buffer)?;
        assert_eq!(value["id"].as_u64(), Some(n));
        Ok::<(), serde_json::Error>(())
    });
    let (result, dir) = run(workload(GATES), harness);
    reconciles(&result, calls.load(Ordering::Relaxed));
    assert_eq!(result.report.ops.errored + result.report.ops.panicked, 0);
    assert_eq!(result.end, SoakEnd::Passed, "{}", result.gate_table());
    for gate in ["max_error_rate", "max_wait_p99", "conservation"] {
        assert!(
            result.report.slo.iter().any(|g| g.name == gate && g.passed),
            "{gate}: {}",
            result.gate_table()
        );
    }
    result.assert_passed();
    // The user's pool was the one measured, and it is whole afterwards.
    let status = pool.status();
    assert_eq!(status.in_use, 0, "{status:?}");
    for file in ["report.json", "report.md", "report.html", "samples.jsonl"] {
        assert!(dir.path().join(file).is_file(), "{file} written");
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report.md");
    assert!(md.contains("operation"), "report.md shows the operation's own duration:\n{md}");
}

#[test]
fn errors_and_panics_of_the_operation_are_counted_and_fail_the_gate() {
    let calls = Arc::new(AtomicU64::new(0));
    let (failed, panicked) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let made = Arc::new(AtomicU64::new(0));
    let (c, f, p, m) = (Arc::clone(&calls), Arc::clone(&failed), Arc::clone(&panicked), Arc::clone(&made));
    let harness = Harness::with_factory(
        move || {
            m.fetch_add(1, Ordering::Relaxed);
            Ok::<_, std::io::Error>(0u64)
        },
        move |uses: &mut u64| {
            *uses += 1;
            let n = c.fetch_add(1, Ordering::Relaxed);
            if n % 20 == 3 {
                f.fetch_add(1, Ordering::Relaxed);
                return Err(std::io::Error::other("every 20th call fails"));
            }
            if n % 100 == 42 {
                p.fetch_add(1, Ordering::Relaxed);
                panic!("every 100th call panics (on purpose, in a test)");
            }
            Ok(())
        },
    );
    let (result, _dir) = run(workload(GATES), harness);
    reconciles(&result, calls.load(Ordering::Relaxed));
    let ops = &result.report.ops;
    assert_eq!(ops.errored, failed.load(Ordering::Relaxed), "{ops:?}");
    assert_eq!(ops.panicked, panicked.load(Ordering::Relaxed), "{ops:?}");
    assert!(ops.errored > 20 && ops.panicked > 3, "{ops:?}");
    let expected = (ops.errored + ops.panicked) as f64 / ops.arrived as f64;
    assert!((result.report.error_rate - expected).abs() < 1e-9, "{} vs {expected}", result.report.error_rate);
    // A panicking operation leaves its object broken: the pool destroys it
    // and makes another.
    let made = made.load(Ordering::Relaxed);
    assert!(
        made > ops.panicked && result.report.pool.destroyed >= ops.panicked,
        "{made} made: {:?}",
        result.report.pool
    );

    assert_eq!(result.end, SoakEnd::Failed);
    let gate = result.report.slo.iter().find(|g| g.name == "max_error_rate").expect("the gate");
    assert!(!gate.passed, "{}", result.gate_table());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| result.assert_passed()));
    let message = caught.expect_err("assert_passed fails the test");
    let message = message.downcast_ref::<String>().expect("a message");
    assert!(message.contains("max_error_rate") && message.contains("FAIL"), "{message}");
}

#[test]
fn an_async_operation_runs_on_a_runtime_tidepool_starts_or_yours() {
    for own_runtime in [false, true] {
        let calls = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&calls);
        let pool =
            Pool::builder("clients").max_size(8).factory(|| Ok(Vec::<u8>::new())).build().expect("pool");
        let mut harness = Harness::new_async(pool, move |buffer: &mut Vec<u8>| {
            let counted = Arc::clone(&counted);
            async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                buffer.clear();
                buffer.extend_from_slice(b"pong");
                counted.fetch_add(1, Ordering::Relaxed);
                Ok::<(), std::io::Error>(())
            }
            .boxed()
        });
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
        let runtime = runtime.expect("a runtime");
        if own_runtime {
            harness = harness.runtime(runtime.handle().clone());
        }
        let (result, _dir) = run(workload(GATES), harness);
        reconciles(&result, calls.load(Ordering::Relaxed));
        let took = result.report.operation_seconds.as_ref().expect("timed");
        assert!(took.p50 >= 0.002, "the async operation's own time includes its await: {took:?}");
        result.assert_passed();
    }
}

#[test]
fn factory_faults_wrap_the_users_factory() {
    let made = Arc::new(AtomicU64::new(0));
    let m = Arc::clone(&made);
    let harness = Harness::with_factory(
        move || {
            m.fetch_add(1, Ordering::Relaxed);
            Ok::<_, std::io::Error>(())
        },
        |_: &mut ()| Ok::<(), std::io::Error>(()),
    );
    // Objects live 50 ms, so the factory keeps being called; it is down
    // for a second in the middle.
    let faults = "[[fault]]\nkind = \"factory_outage\"\nat = \"1s\"\nduration = \"1s\"\n";
    let mut w = workload(faults);
    w.pool.settings.max_lifetime = Some(Duration::from_millis(50));
    let (result, _dir) = run(w, harness);
    let ops = &result.report.ops;
    assert!(ops.failed > 0, "acquires the outage failed: {ops:?}");
    assert_eq!(
        ops.arrived,
        ops.completed + ops.timed_out + ops.failed + ops.in_flight + ops.waiting,
        "{ops:?}"
    );
    assert!(made.load(Ordering::Relaxed) > 0);
}

#[test]
fn a_factory_that_always_fails_is_a_run_error_and_a_leak_fault_is_refused() {
    let harness = Harness::with_factory(
        || Err::<u8, _>(std::io::Error::other("the database is down")),
        |_: &mut u8| Ok::<(), std::io::Error>(()),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Soak::new(workload("")).out(dir.path()).run_with(harness).expect_err("no object, no run");
    assert!(matches!(err, SoakError::Run(_)), "{err:?}");
    assert!(err.to_string().contains("the database is down"), "{err}");

    let leak = workload("[[fault]]\nkind = \"leak\"\nbytes_per_op = 16\n");
    let harness =
        Harness::with_factory(|| Ok::<_, std::io::Error>(0u8), |_: &mut u8| Ok::<(), std::io::Error>(()));
    let err = Soak::new(leak).out(dir.path()).run_with(harness).expect_err("modeled memory");
    assert!(matches!(err, SoakError::Input(_)), "{err:?}");
    assert!(err.to_string().contains("leak"), "{err}");
}
