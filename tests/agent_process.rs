//! A service that embeds the agent gets the `process_*` series (resident
//! memory, CPU seconds as a counter, threads, open file descriptors) on its
//! own `/metrics`, with nothing else running: no soak, no CLI. The values are
//! checked against what this process does meanwhile (memory touched, CPU
//! burnt, threads started, files opened), so a constant or a stale value
//! fails.
#![cfg(target_os = "linux")]

mod common;
#[allow(unused_imports)]
use common::*;

use std::time::Duration;

use tidepool::config::AgentConfig;

/// The value of the unlabelled-but-global-labelled series `name`, and the
/// type its `# TYPE` line declares.
fn series(body: &str, name: &str) -> (f64, String) {
    let kind = body
        .lines()
        .find_map(|l| l.strip_prefix(&format!("# TYPE {name} ")))
        .unwrap_or_else(|| panic!("no `# TYPE {name}` line in:\n{body}"))
        .to_string();
    let value = body
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample of {name} in:\n{body}"));
    (value, kind)
}

#[test]
fn an_embedded_agent_publishes_the_process_series() {
    let port = free_port();
    let mut config = AgentConfig::default();
    config.export.listen = format!("127.0.0.1:{port}").parse().expect("address");
    config.export.labels.insert("job".into(), "embedded".into());
    config.monitoring.sample_interval = Duration::from_millis(100);
    let agent = tidepool::Agent::start(config).expect("the agent starts");

    let body = wait_until_up(port, "/metrics", "the agent's exporter");
    let (rss, kind) = series(&body, "process_resident_memory_bytes");
    assert_eq!(kind, "gauge");
    assert!(rss > 1e6, "a running test binary has more than 1 MB resident: {rss}");
    let (threads, kind) = series(&body, "process_threads");
    assert_eq!(kind, "gauge");
    // The test's thread, the agent's, the exporter's at least.
    assert!(threads >= 3.0, "threads: {threads}");
    let (fds, kind) = series(&body, "process_open_fds");
    assert_eq!(kind, "gauge");
    assert!(fds >= 3.0, "stdin, stdout, stderr at least: {fds}");
    let (cpu, kind) = series(&body, "process_cpu_seconds_total");
    assert_eq!(kind, "counter", "CPU time only grows: a counter");
    assert!(cpu >= 0.0);
    let line = body.lines().find(|l| l.starts_with("process_threads{")).expect("labelled");
    assert!(line.contains("job=\"embedded\""), "global labels on the process series: {line}");

    // 64 MiB touched: RSS rises by about that much at the next sample.
    let ballast = vec![1u8; 64 << 20];
    let body = wait_until(port, "/metrics", "RSS up by 48 MiB", |b| {
        series(b, "process_resident_memory_bytes").0 >= rss + (48 << 20) as f64
    });
    assert!(
        series(&body, "process_resident_memory_bytes").0 < rss + (512 << 20) as f64,
        "RSS implausibly high"
    );

    // 40 files open: the descriptor count follows.
    let files: Vec<std::fs::File> =
        (0..40).map(|_| std::fs::File::open("/proc/self/status").expect("open")).collect();
    wait_until(port, "/metrics", "40 more open fds", |b| series(b, "process_open_fds").0 >= fds + 40.0);

    // 8 threads parked: the thread count follows.
    let stop = std::sync::Arc::new(std::sync::Barrier::new(9));
    let parked: Vec<_> = (0..8)
        .map(|_| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                stop.wait();
            })
        })
        .collect();
    wait_until(port, "/metrics", "8 more threads", |b| series(b, "process_threads").0 >= threads + 8.0);
    stop.wait();
    for t in parked {
        t.join().expect("join");
    }

    // CPU: burn until the counter has moved by a whole second (the counter
    // counts whole seconds), and check it never went back on the way.
    let clock = tidepool::clock::Clock::system();
    let start = clock.now();
    let mut previous = cpu;
    let mut x = 0u64;
    loop {
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        let (_, body) = get(port, "/metrics").expect("scrape");
        let now = series(&body, "process_cpu_seconds_total").0;
        assert!(now >= previous, "the CPU counter went back: {previous} then {now}");
        previous = now;
        if now >= cpu + 1.0 {
            break;
        }
        assert!(
            clock.now().saturating_sub(start) < Duration::from_secs(30),
            "CPU counter stuck at {now} (x {x})"
        );
    }
    drop((ballast, files));
    agent.shutdown().expect("shutdown");
}
