//! A real Prometheus (Debian's `prometheus` package) scrapes `tidepool demo`;
//! assertions go through its HTTP API. `promtool check metrics` lints the
//! exposition. `make deps` installs both; under `CI=true` a missing server
//! fails the test instead of skipping it.

mod common;
#[allow(unused_imports)]
use common::*;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

/// Runs an instant query and returns every sample value.
fn query(port: u16, promql: &str) -> Vec<f64> {
    let (status, body) =
        get(port, &format!("/api/v1/query?query={}", encode(promql))).expect("prometheus answers");
    assert_eq!(status, 200, "{promql}: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["status"], "success", "{promql}: {body}");
    json["data"]["result"]
        .as_array()
        .expect("vector result")
        .iter()
        .map(|r| r["value"][1].as_str().and_then(|v| v.parse().ok()).expect("numeric sample"))
        .collect()
}

#[test]
fn prometheus_scrapes_the_demo_and_promtool_accepts_the_exposition() {
    let (Some(prometheus), Some(promtool)) = (require(&["prometheus"]), require(&["promtool"])) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let demo_port = free_port();
    let prom_port = free_port();

    let demo = Killed(
        Command::new(env!("CARGO_BIN_EXE_tidepool"))
            .args(["demo", "--seconds", "8", "--threads", "4", "--listen", &format!("127.0.0.1:{demo_port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tidepool demo starts"),
    );
    // The listener is up before the demo's pool is built: wait for a scrape
    // that carries the pool's and the locks' families, so the lint sees the
    // whole exposition.
    let exposition = wait_until(demo_port, "/metrics", "tidepool demo's pool and locks", |body| {
        body.contains("tidepool_pool_wait_seconds") && body.contains("tidepool_lock_")
    });

    // The exposition passes promtool's linter.
    let mut lint = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    lint.stdin.take().expect("stdin").write_all(exposition.as_bytes()).expect("write exposition");
    let lint = lint.wait_with_output().expect("promtool finishes");
    assert!(
        lint.status.success(),
        "promtool check metrics failed:\n{}{}\n--- exposition ---\n{exposition}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    assert!(exposition.contains("# TYPE tidepool_pool_wait_seconds histogram"), "histograms, not summaries");

    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: tidepool\n    static_configs:\n      - targets: ['127.0.0.1:{demo_port}']\n"
        ),
    )
    .expect("write config");
    let _prometheus = start_prometheus(&prometheus, &config, &dir.path().join("data"), prom_port);

    // Let the demo finish; Prometheus has scraped it every second meanwhile.
    let mut demo = demo;
    let status = demo.0.wait().expect("demo exits");
    assert!(status.success(), "demo failed: {status}");
    let mut summary = String::new();
    demo.0.stdout.take().expect("stdout").read_to_string(&mut summary).expect("summary");
    assert!(summary.contains("workers' counts match the pool's"), "{summary}");

    let up = query(prom_port, "max_over_time(up{job=\"tidepool\"}[1m])");
    assert_eq!(up, vec![1.0], "the target was scraped");
    let acquires = query(prom_port, "max_over_time(tidepool_pool_acquires_total{pool=\"demo\"}[1m])");
    assert_eq!(acquires.len(), 2, "direct and waited series: {acquires:?}");
    assert!(acquires.iter().sum::<f64>() > 100.0, "acquires arrived: {acquires:?}");
    assert_eq!(query(prom_port, "max_over_time(tidepool_pool_size_max{pool=\"demo\"}[1m])"), vec![8.0]);
    let used = query(prom_port, "max_over_time(tidepool_pool_objects{pool=\"demo\",state=\"used\"}[1m])");
    assert!(used.len() == 1 && used[0] >= 1.0 && used[0] <= 8.0, "objects in use within 1..=max: {used:?}");
    let utilization = query(prom_port, "max_over_time(tidepool_pool_utilization_ratio{pool=\"demo\"}[1m])");
    assert!(utilization.len() == 1 && utilization[0] > 0.0 && utilization[0] <= 1.0, "{utilization:?}");
    let p99 = query(
        prom_port,
        "histogram_quantile(0.99, sum by (le) (max_over_time(tidepool_pool_wait_seconds_bucket{pool=\"demo\"}[1m])))",
    );
    assert!(
        p99.len() == 1 && p99[0].is_finite() && p99[0] >= 0.0 && p99[0] <= 0.25,
        "wait p99 within the 250 ms timeout: {p99:?}"
    );
    // The demo's profiled locks: real contention between its worker threads.
    let taken = query(
        prom_port,
        "max_over_time(tidepool_lock_acquisitions_total{lock=\"demo-results\",mode=\"exclusive\"}[1m])",
    );
    assert!(taken.len() == 1 && taken[0] > 100.0, "demo-results acquisitions scraped: {taken:?}");
    let waits = query(
        prom_port,
        "max_over_time(tidepool_lock_wait_seconds_count{lock=\"demo-results\",mode=\"exclusive\"}[1m])",
    );
    let contended = query(
        prom_port,
        "max_over_time(tidepool_lock_contentions_total{lock=\"demo-results\",mode=\"exclusive\"}[1m])",
    );
    assert_eq!(waits, contended, "every contention is one wait sample");
    let readers = query(
        prom_port,
        "max_over_time(tidepool_lock_acquisitions_total{lock=\"demo-settings\",mode=\"shared\"}[1m])",
    );
    assert!(readers.len() == 1 && readers[0] > 100.0, "{readers:?}");
    let prewarm = query(prom_port, "max_over_time(tidepool_pool_prewarm_seconds{pool=\"demo\"}[1m])");
    assert!(
        prewarm.len() == 1 && prewarm[0] > 0.004 && prewarm[0] < 5.0,
        "prewarm of 5 ms objects: {prewarm:?}"
    );
}
