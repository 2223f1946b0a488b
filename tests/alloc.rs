//! The counting allocator, installed as this test binary's global
//! allocator, feeds the monitor's allocation-pressure signal.

use std::time::Duration;

use tidepool::monitor::alloc::{counters, CountingAllocator};
use tidepool::monitor::{sampler::Sampler, AlertState, Kind, Monitor, MonitorConfig, Severity};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::system();

#[test]
fn counts_allocations_and_frees() {
    let before = counters().expect("installed");
    let v = vec![7u8; 3 << 20];
    let mid = counters().expect("installed");
    assert!(mid.allocated_bytes - before.allocated_bytes >= 3 << 20);
    assert!(mid.allocations > before.allocations);
    drop(v);
    let after = counters().expect("installed");
    assert!(after.freed_bytes - before.freed_bytes >= 3 << 20);
}

#[test]
fn an_allocation_storm_fires_allocation_rate() {
    let mut sampler = Sampler::new().allocations();
    let mut monitor = Monitor::new(MonitorConfig::default());
    let mut t = 0.0;
    let mut heap_seen = false;
    let mut step = |monitor: &mut Monitor, sampler: &mut Sampler| {
        t += 2.0;
        let readings = sampler.readings();
        heap_seen |= readings.iter().any(|r| r.kind == Kind::Memory && r.subject == "heap");
        monitor.observe(t, &readings)
    };
    // Calm: a few small allocations per interval.
    for _ in 0..40 {
        let v: Vec<u64> = (0..100).collect();
        std::hint::black_box(&v);
        std::thread::sleep(Duration::from_millis(5));
        step(&mut monitor, &mut sampler);
    }
    assert_eq!(monitor.severity(Kind::AllocationRate, "heap"), Severity::None);
    // The storm: 64 MiB allocated (and freed) every ~10 ms: several GB/s.
    let mut events = Vec::new();
    // Critical needs 5 consecutive samples above its floor; on a runner
    // whose host steals CPU a round can stretch and dip below it, so the
    // storm lasts until it is confirmed (or 60 rounds: then it fails).
    for _ in 0..60 {
        if monitor.severity(Kind::AllocationRate, "heap") >= Severity::Critical {
            break;
        }
        for _ in 0..4 {
            let v = vec![1u8; 16 << 20];
            std::hint::black_box(&v);
        }
        std::thread::sleep(Duration::from_millis(10));
        events.extend(step(&mut monitor, &mut sampler));
    }
    assert!(heap_seen, "the heap's live bytes are a memory reading");
    let severity = monitor.severity(Kind::AllocationRate, "heap");
    assert!(severity >= Severity::Critical, "{severity:?}: {events:?}");
    assert!(
        events.iter().any(|e| e.kind == Kind::AllocationRate && e.state == AlertState::Firing),
        "{events:?}"
    );
}
