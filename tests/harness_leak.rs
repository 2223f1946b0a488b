//! A leak in the user's own code, under a harness: memory is the process's
//! for real (the heap, through the counting allocator installed here), so
//! the leak verdict and the memory gate see it; the same
//! run without the leak passes. One test: the heap is the whole process's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tidepool::monitor::alloc::CountingAllocator;
use tidepool::monitor::LeakVerdict;
use tidepool::sim::Workload;
use tidepool::soak::{Harness, Soak, SoakEnd, SoakResult};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::system();

const WORKLOAD: &str = r#"name = "leaky"
seed = 3
duration = "6s"
sample_interval = "100ms"
hold = { dist = "constant", value = "1ms" }

[pool]
min = 2
max = 8

[[phase]]
name = "steady"
duration = "6s"
arrival = { process = "constant", rate = 300 }

[slo]
max_memory_growth_per_hour = "64MiB"
"#;

/// Runs the workload; each operation keeps 16 KiB forever when `leak`.
fn run(leak: bool) -> SoakResult {
    let kept: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let keep = Arc::clone(&kept);
    let leaking = Arc::new(AtomicBool::new(leak));
    let harness = Harness::with_factory(
        || Ok::<_, std::io::Error>(Vec::<u8>::with_capacity(4096)),
        move |scratch: &mut Vec<u8>| {
            scratch.clear();
            scratch.resize(4096, 1);
            if leaking.load(Ordering::Relaxed) {
                keep.lock().map_err(|_| std::io::Error::other("poisoned"))?.push(vec![7u8; 16 << 10]);
            }
            Ok::<(), std::io::Error>(())
        },
    );
    let workload = Workload::parse(WORKLOAD, "leaky.toml").expect("workload");
    let dir = tempfile::tempdir().expect("tempdir");
    let result = Soak::new(workload).out(dir.path()).run_with(harness).expect("runs");
    drop(kept);
    result
}

#[test]
fn a_leak_in_the_users_code_is_seen_and_gated_and_no_leak_passes() {
    let clean = run(false);
    let leaky = run(true);
    for (name, r) in [("clean", &clean), ("leaky", &leaky)] {
        eprintln!(
            "{name}: memory {:?}; leak {:?}; {}",
            r.report.memory,
            r.report.alerts.as_ref().and_then(|a| a.leak),
            r.gate_table()
        );
    }

    // About 300 x 6 x 16 KiB = 28 MiB kept in 6 s: tens of GiB an hour.
    let growth = leaky.report.memory.growth_per_hour_bytes;
    assert!(growth > 4.0 * (1u64 << 30) as f64, "{growth} B/h");
    let alerts = leaky.report.alerts.as_ref().expect("monitored");
    assert_eq!(alerts.leak.map(|l| l.verdict), Some(LeakVerdict::Growing), "{:?}", alerts.leak);
    let gate = leaky.report.slo.iter().find(|g| g.name == "max_memory_growth_per_hour").expect("gate");
    assert!(!gate.passed, "{}", leaky.gate_table());
    assert_eq!(leaky.end, SoakEnd::Failed);

    // The same run, keeping nothing: the verdict and the gate pass.
    let alerts = clean.report.alerts.as_ref().expect("monitored");
    assert_ne!(alerts.leak.map(|l| l.verdict), Some(LeakVerdict::Growing), "{:?}", alerts.leak);
    clean.assert_passed();
}
