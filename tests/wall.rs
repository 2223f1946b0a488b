//! `--time wall` end to end: real threads against the real pool on the real
//! clock; schedule accounting, live /metrics, compression, SIGINT, and
//! recovery after kill -9 with `tidepool report`.
//!
//! Every assertion is about counts and structure, never about speed: the
//! machines running these are shared and noisy.

mod common;
#[allow(unused_imports)]
use common::*;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tidepool")
}

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Waits until `path` holds at least `lines` lines.
fn wait_for_lines(path: &Path, lines: usize) {
    for _ in 0..400 {
        let n = std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0);
        if n >= lines {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never reached {lines} lines", path.display());
}

/// Two wall seconds of a pool of 2 under 1.25× its capacity: real waits,
/// real timeouts, on real threads.
const OVERLOADED: &str = r#"
name = "overloaded"
seed = 5
duration = "2s"
sample_interval = "500ms"
hold = { dist = "constant", value = "5ms" }

[pool]
min = 1
max = 2
acquire_timeout = "50ms"

[[phase]]
name = "only"
duration = "2s"
arrival = { process = "constant", rate = 500 }
"#;

/// [`OVERLOADED`] lasting `duration`, sampled every `sample`.
fn overloaded(duration: &str, sample: &str) -> String {
    OVERLOADED
        .replace("duration = \"2s\"", &format!("duration = \"{duration}\""))
        .replace("\"500ms\"", &format!("\"{sample}\""))
}

/// arrived = completed + timed out + failed + in flight + waiting.
fn assert_conserved(ops: &serde_json::Value) {
    let sum =
        ["completed", "timed_out", "failed", "in_flight", "waiting"].iter().map(|k| u(&ops[k])).sum::<u64>();
    assert_eq!(u(&ops["arrived"]), sum, "{ops}");
}

#[test]
fn a_wall_clock_run_accounts_for_every_scheduled_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write(dir.path(), "w.toml", OVERLOADED);
    let out = dir.path().join("out");
    let o = tidepool(&[
        "soak",
        &w,
        "--time",
        "wall",
        "--no-metrics",
        "--out",
        out.to_str().expect("utf-8"),
        "-q",
    ]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{o:?}");
    let r = json(&out.join("report.json"));
    assert_eq!(r["time"], "wall");
    // A constant rate of 500/s for 2 s: exactly 1000 intended starts.
    let s = &r["schedule"];
    assert_eq!(u(&s["scheduled"]), 1000, "{s}");
    let ops = &r["ops"];
    assert_eq!(u(&ops["arrived"]) + u(&s["dropped"]), 1000, "{ops} {s}");
    assert_conserved(ops);
    // Two objects held 5 ms each serve at most 400/s: callers waited, and
    // the corrected wait (from the schedule) is never below the uncorrected.
    let waits = &r["wait_seconds"];
    assert!(waits["corrected"]["max"].as_f64().expect("max") > 0.004, "{waits}");
    assert!(waits["corrected"]["p99"].as_f64() >= waits["uncorrected"]["p99"].as_f64(), "{waits}");
    assert!(u(&ops["timed_out"]) > 0, "1.25x overload with a 50 ms timeout must time out: {ops}");
    assert!(r["pool"]["size_max_seen"].as_u64() <= Some(2));
    // Holds are real sleeps of 5 ms.
    let hold = &r["hold_seconds"];
    assert!(hold["p50"].as_f64().expect("p50") >= 0.005, "{hold}");
    // The schedule's own gate is there.
    assert!(r["slo"].as_array().expect("gates").iter().any(|g| g["name"] == "max_dropped_fraction"));
    // Samples: every 500 ms, with the wall-clock fields; they add up to the run.
    let text = std::fs::read_to_string(out.join("samples.jsonl")).expect("samples");
    let samples: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(samples.len(), 4, "{text}");
    for s in &samples {
        assert!(s["lag_p99"].as_f64().is_some() && s["rss_bytes"].as_u64().is_some(), "{s}");
    }
    let arrived: u64 = samples.iter().map(|s| u(&s["arrived"])).sum();
    assert_eq!(arrived, u(&ops["arrived"]));
    // Process figures were read (Linux).
    if cfg!(target_os = "linux") {
        assert!(u(&r["process"]["rss_peak_bytes"]) > 1 << 20, "{}", r["process"]);
    }
    // No checkpoint is left once the report is written.
    assert!(!out.join("checkpoint.json").exists());
}

#[test]
fn metrics_are_served_live_during_a_wall_clock_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write(dir.path(), "w.toml", &overloaded("6s", "1s"));
    let out = dir.path().join("out");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = spawn(&[
        "soak",
        &w,
        "--time",
        "wall",
        "--listen",
        &listen,
        "--out",
        out.to_str().expect("utf-8"),
        "-q",
    ]);
    wait_for_lines(&out.join("samples.jsonl"), 2);
    let mut stream = std::net::TcpStream::connect(&listen).expect("connect to /metrics");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {listen}\r\nConnection: close\r\n\r\n").expect("request");
    let mut body = String::new();
    stream.read_to_string(&mut body).expect("response");
    let _ = child.kill();
    let _ = child.wait();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    for series in [
        "tidepool_pool_acquires_total",
        "tidepool_pool_wait_seconds",
        "tidepool_sim_phase",
        "tidepool_sim_starts_total",
        "process_resident_memory_bytes",
    ] {
        assert!(body.contains(series), "{series} missing from /metrics:\n{body}");
    }
    assert!(body.contains("pool=\"overloaded\""), "{body}");
}

#[test]
fn sigint_during_a_wall_clock_run_writes_a_valid_interrupted_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    // The daily cycle compressed to 24 minutes: far longer than this waits.
    let child = spawn(&[
        "soak",
        "--time",
        "wall",
        "--compress",
        "60",
        "--no-metrics",
        "--out",
        out.to_str().expect("utf-8"),
        "-q",
    ]);
    wait_for_lines(&out.join("samples.jsonl"), 1);
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(kill.success());
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(130), "{o:?}");
    let r = json(&out.join("report.json"));
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["passed"], false);
    assert_eq!(r["compress"], 60.0);
    let ops = &r["ops"];
    assert_conserved(ops);
    assert!(u(&ops["arrived"]) > 0);
    let caveats = r["caveats"].as_array().expect("caveats");
    assert!(caveats.iter().any(|c| c.as_str().is_some_and(|c| c.contains("Compressed 60"))), "{caveats:?}");
    assert!(std::fs::read_to_string(out.join("report.md")).expect("md").contains("INTERRUPTED"));
}

#[test]
fn after_kill_9_report_recovers_all_but_the_last_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write(dir.path(), "w.toml", &overloaded("60s", "250ms"));
    let out = dir.path().join("out");
    let samples = out.join("samples.jsonl");
    let mut child =
        spawn(&["soak", &w, "--time", "wall", "--no-metrics", "--out", out.to_str().expect("utf-8"), "-q"]);
    wait_for_lines(&samples, 6);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(!out.join("report.json").exists(), "a killed run writes no report");
    let o = tidepool(&["report", samples.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let r = json(&out.join("report.json"));
    let rec = &r["recovered"];
    let covered = rec["checkpoint_seconds"].as_f64().expect("covered");
    let reach = rec["samples_seconds"].as_f64().expect("reach");
    // Six lines were flushed; the checkpoint follows each line, so the
    // kill may land between the sixth line and its checkpoint.
    assert!(covered >= 1.25, "{rec}");
    // At most the interval in progress is missing.
    assert!(reach - covered <= 0.25 + 1e-6, "{rec}");
    assert!(u(&rec["samples_after_checkpoint"]) <= 1, "{rec}");
    assert_eq!(r["interrupted"], true);
    // The recovered figures reconcile with the samples they cover.
    let text = std::fs::read_to_string(&samples).expect("samples");
    let covered_arrivals: u64 = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|s| s["t"].as_f64().is_some_and(|t| t <= covered + 1e-6))
        .map(|s| u(&s["arrived"]))
        .sum();
    // The checkpoint counts what was under way: the pool of 2 is
    // overloaded, so operations hold both objects and wait in line, and
    // the counts add up.
    let ops = &r["ops"];
    assert_conserved(ops);
    assert!(u(&ops["in_flight"]) + u(&ops["waiting"]) > 0, "nothing under way in an overloaded pool: {ops}");
    // Samples count an arrival when its acquire ends; the checkpoint also
    // counts those still waiting. Executors keep starting operations
    // between a sample and the copy taken for its checkpoint: a handful.
    let arrived = u(&ops["arrived"]) - u(&ops["waiting"]);
    assert!(
        arrived >= covered_arrivals && arrived <= covered_arrivals + 20,
        "{arrived} vs {covered_arrivals}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).expect("md");
    assert!(md.contains("Recovered"), "{md}");
}

#[test]
fn report_without_a_checkpoint_is_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let samples = write(dir.path(), "samples.jsonl", "{\"t\":2.0,\"arrived\":5}\n");
    let o = tidepool(&["report", &samples]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("checkpoint.json"), "{o:?}");
}

#[test]
fn wall_clock_flags_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write(dir.path(), "w.toml", OVERLOADED);
    let out = dir.path().join("out");
    let out = out.to_str().expect("utf-8");
    for (args, needle) in [
        (vec!["soak", &w, "--compress", "10", "--out", out], "--compress needs --time wall"),
        (vec!["soak", &w, "--time", "wall", "--compress", "0.5", "--out", out], "--compress 0.5"),
        (vec!["soak", &w, "--time", "wall", "--compress", "1e6", "--out", out], "less than 1 ms"),
        (vec!["soak", &w, "--workers", "4", "--out", out], "--workers needs --time wall"),
    ] {
        let o = tidepool(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // A port already taken is bad input, named.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let o = tidepool(&["soak", &w, "--time", "wall", "--listen", &addr, "--out", out]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains(&addr), "{o:?}");
}

#[test]
fn a_rate_series_replays_on_the_wall_clock_compressed() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Ten minutes of a series at 300 then 600 arrivals per minute.
    let mut csv = String::from("timestamp,value\n");
    for i in 0..10 {
        csv += &format!("{},{}\n", 1_700_000_000 + 60 * i, if i < 5 { 300 } else { 600 });
    }
    let series = write(dir.path(), "s.csv", &csv);
    let out = dir.path().join("out");
    // 10 minutes compressed 200x: 3 s, at rates of 5 and 10 per second.
    let o = tidepool(&[
        "replay",
        &series,
        "--time",
        "wall",
        "--compress",
        "200",
        "--hold",
        "1ms",
        "--no-metrics",
        "--out",
        out.to_str().expect("utf-8"),
        "-q",
    ]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{o:?}");
    let r = json(&out.join("report.json"));
    assert!((r["virtual_seconds"].as_f64().expect("s") - 3.0).abs() < 0.1, "{}", r["virtual_seconds"]);
    // Expected 4500 / 200 = 22.5 arrivals; Poisson: within 5 standard deviations.
    let scheduled = u(&r["schedule"]["scheduled"]) as f64;
    assert!((scheduled - 22.5).abs() < 5.0 * 22.5f64.sqrt(), "{scheduled}");
    assert!(r["replay"].as_str().expect("replay").contains("--time wall --compress 200"), "{}", r["replay"]);
}

/// 2 M starts a second (the wall-clock limit) into 4 objects held 10 ms:
/// the dispatcher cannot start most of them.
const FLOOD: &str = r#"
name = "flood"
seed = 1
duration = "30s"
sample_interval = "100ms"
hold = { dist = "constant", value = "10ms" }

[pool]
max = 4
acquire_timeout = "1ms"

[[phase]]
name = "only"
duration = "30s"
arrival = { process = "constant", rate = 2e6 }
"#;

#[test]
fn a_flood_of_starts_is_counted_with_executors_capped_by_the_cpus_and_ctrl_c_ends_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write(dir.path(), "w.toml", FLOOD);
    let out = dir.path().join("out");
    let child =
        spawn(&["soak", &w, "--time", "wall", "--no-metrics", "--out", out.to_str().expect("utf-8"), "-q"]);
    wait_for_lines(&out.join("samples.jsonl"), 5);
    let clock = tidepool::clock::Clock::system();
    let signalled = clock.now();
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(kill.success());
    let o = child.wait_with_output().expect("wait");
    let took = clock.now() - signalled;
    assert_eq!(o.status.code(), Some(130), "{o:?}");
    // Bounded, not timed: the old dispatcher counted every start due before
    // the end one by one (a 1e9/s run took 50 s to stop).
    assert!(took < Duration::from_secs(5), "Ctrl-C took {took:?}");
    let r = json(&out.join("report.json"));
    let schedule = &r["schedule"];
    assert_eq!(u(&schedule["scheduled"]), u(&r["ops"]["arrived"]) + u(&schedule["dropped"]), "{schedule}");
    assert!(u(&schedule["dropped"]) > 0, "{schedule}");
    assert_conserved(&r["ops"]);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = u(&schedule["workers"]) as usize;
    assert!(workers <= 128 * cpus, "{workers} executors on {cpus} CPUs");
    // CPU time over the process's own time, not the schedule's.
    let cores = r["process"]["cpu_cores_mean"].as_f64().expect("cores");
    assert!(cores <= cpus as f64 + 0.25, "{cores} cores on {cpus} CPUs");
}
