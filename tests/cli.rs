//! The binary's exit codes and messages for bad input.

use std::net::TcpListener;

mod common;
use common::tidepool;

#[test]
fn a_metrics_port_in_use_is_bad_input_exit_2_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = tidepool(&["demo", "--seconds", "1", "--listen", &addr]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&addr) && stderr.contains("--listen"), "{stderr}");
    assert!(out.stdout.is_empty(), "no summary for a run that did not happen");
}

#[test]
fn absurd_arguments_are_rejected_with_exit_2() {
    for args in [
        &["demo", "--seconds", "0"][..],
        &["demo", "--threads", "100000"],
        &["demo", "--listen", "nowhere"],
        &["nosuch"],
    ] {
        let out = tidepool(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}

#[test]
fn a_short_demo_without_metrics_prints_a_reconciled_summary() {
    let out = tidepool(&["demo", "--seconds", "1", "--threads", "2", "--no-metrics"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("workers' counts match the pool's"), "{stdout}");
    assert!(!stdout.contains("metrics     were served"), "{stdout}");
}

#[test]
fn a_metrics_port_in_use_with_metrics_optional_runs_without_the_exporter() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = taken.local_addr().expect("addr").to_string();
    let out =
        tidepool(&["demo", "--seconds", "1", "--threads", "2", "--listen", &addr, "--metrics-optional"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&addr) && stderr.contains("going on without /metrics"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("workers' counts match the pool's"), "{stdout}");
    assert!(!stdout.contains("metrics     were served"), "{stdout}");

    // A wall-clock soak: exit 2 without the flag, and nothing written.
    let dir = tempfile::tempdir().expect("tempdir");
    let workload = common::write(dir.path(), "w.toml", STEADY);
    let run_dir = dir.path().join("run");
    let out_dir = run_dir.to_str().expect("utf-8");
    let wall = ["soak", workload.as_str(), "--time", "wall", "--listen", &addr, "-q", "--out", out_dir];
    let out = tidepool(&wall);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&addr) && stderr.contains("--metrics-optional"), "{stderr}");
    assert!(!run_dir.join("samples.jsonl").exists(), "nothing written for a run that did not start");
    // With it: the run goes on, every gate evaluated, the report written.
    let out = tidepool(&[&wall[..], &["--metrics-optional"]].concat());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = common::json(&run_dir.join("report.json"));
    assert_eq!(report["passed"], true, "{report}");
    drop(taken);
}

/// A two-second steady workload with gates.
const STEADY: &str = r#"
name = "steady"
duration = "2s"
sample_interval = "500ms"
[pool]
min = 2
max = 4
[[phase]]
name = "only"
duration = "2s"
arrival = { process = "constant", rate = 50 }
hold = { dist = "constant", value = "1ms" }
[slo]
max_error_rate = 0.01
"#;

#[test]
fn an_earlier_run_is_not_overwritten_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let workload = common::write(dir.path(), "w.toml", STEADY);
    let out_dir = dir.path().join("out");
    let out = out_dir.to_str().expect("utf-8");
    let first = tidepool(&["soak", &workload, "-q", "--out", out]);
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let report = std::fs::read(out_dir.join("report.json")).expect("report");
    let samples = std::fs::read(out_dir.join("samples.jsonl")).expect("samples");

    let again = tidepool(&["soak", &workload, "-q", "--seed", "9", "--out", out]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("--force") && stderr.contains("report.json"), "{stderr}");
    assert_eq!(std::fs::read(out_dir.join("report.json")).expect("report"), report, "untouched");
    assert_eq!(std::fs::read(out_dir.join("samples.jsonl")).expect("samples"), samples, "untouched");

    let forced = tidepool(&["soak", &workload, "-q", "--seed", "9", "--force", "--out", out]);
    assert_eq!(forced.status.code(), Some(0), "{forced:?}");
    assert_eq!(common::json(&out_dir.join("report.json"))["seed"], 9, "replaced");

    // `detect` and `report` keep the same rule for their outputs.
    let series = common::write(dir.path(), "s.csv", "timestamp,value\n1,1\n2,2\n3,1\n");
    let scores = dir.path().join("scores.csv");
    std::fs::write(&scores, "mine\n").expect("write");
    let scored = tidepool(&["detect", &series, "--out", scores.to_str().expect("utf-8")]);
    assert_eq!(scored.status.code(), Some(2), "{scored:?}");
    assert_eq!(std::fs::read_to_string(&scores).expect("scores"), "mine\n");
    let scored = tidepool(&["detect", &series, "--force", "--out", scores.to_str().expect("utf-8")]);
    assert_eq!(scored.status.code(), Some(0), "{scored:?}");
    let recovered = tidepool(&["report", out, "--out", out]);
    assert_eq!(recovered.status.code(), Some(2), "{recovered:?}");
}

#[test]
fn a_recorded_trace_is_written_under_out_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let workload = common::write(dir.path(), "w.toml", STEADY);
    let out_dir = dir.path().join("out");
    let out = out_dir.to_str().expect("utf-8");
    for bad in ["../escape.jsonl", "/tmp/tidepool-escape.jsonl", ""] {
        let run = tidepool(&["soak", &workload, "-q", "--record-trace", bad, "--out", out]);
        assert_eq!(run.status.code(), Some(2), "{bad}: {run:?}");
        assert!(String::from_utf8_lossy(&run.stderr).contains("--record-trace"), "{run:?}");
    }
    assert!(!dir.path().join("escape.jsonl").exists());
    assert!(!out_dir.join("report.json").exists(), "nothing ran");
    let run = tidepool(&["soak", &workload, "-q", "--record-trace", "traces/run.jsonl", "--out", out]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let trace = std::fs::read_to_string(out_dir.join("traces/run.jsonl")).expect("the trace under --out");
    assert_eq!(trace.lines().count(), 100, "2 s at 50/s, every operation");
    // The trace counts as a result: not replaced without --force.
    let again = tidepool(&["soak", &workload, "-q", "--record-trace", "traces/run.jsonl", "--out", out]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
}
