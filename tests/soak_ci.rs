//! `make soak-ci`: a 24 h virtual daily cycle with every fault tidepool can
//! inject and every gate (workloads/soak-ci.toml), and a short wall-clock
//! run with the holder and factory faults on real threads. Whatever goes
//! wrong: no object lost or handed out twice, no panic escaping, every gate
//! evaluated, the reports written, tidepool's own memory flat.
//!
//! `make test` runs this file as its own step (`make soak-ci`); the `unit`
//! step skips it, so it runs once.

mod common;
use common::{json, tidepool, write};

use serde_json::Value;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The pool's objects, accounted for (what the `conservation` gate checks,
/// recomputed here from the report's own figures).
fn assert_conserved(report: &Value) {
    let c = &report["pool"]["conservation"];
    let (created, destroyed) = (u(&c["created"]), u(&c["destroyed"]));
    let (size, idle, in_use, held) = (u(&c["size"]), u(&c["idle"]), u(&c["in_use"]), u(&c["held"]));
    assert_eq!(created - destroyed, size, "created - destroyed = size: {c}");
    assert_eq!(idle + in_use, size, "idle + in use = size: {c}");
    assert_eq!(in_use, held, "the pool's in-use count is what the holders hold: {c}");
    assert_eq!(u(&c["handed_out_twice"]), 0, "{c}");
    let gate = report["slo"].as_array().expect("gates").iter().find(|g| g["name"] == "conservation");
    assert_eq!(gate.map(|g| g["passed"].clone()), Some(Value::Bool(true)), "{}", report["slo"]);
}

/// Operations add up: every arrival ended one way or is still open.
fn assert_accounted(report: &Value) {
    let o = &report["ops"];
    assert_eq!(
        u(&o["arrived"]),
        u(&o["completed"]) + u(&o["timed_out"]) + u(&o["failed"]) + u(&o["in_flight"]) + u(&o["waiting"]),
        "{o}"
    );
}

#[test]
fn soak_ci_a_day_of_every_fault_loses_nothing_and_evaluates_every_gate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("soak-ci");
    let workload = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/soak-ci.toml");
    let run = tidepool(&["soak", workload, "-q", "--out", out.to_str().expect("utf-8")]);
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    eprintln!("{stdout}");
    assert!(!stderr.contains("panicked"), "no panic reaches stderr: {stderr}");
    assert_eq!(run.status.code(), Some(0), "{stdout}\n{stderr}");
    let report = json(&out.join("report.json"));
    assert_eq!(report["passed"], true);
    assert_eq!(report["interrupted"], false);
    assert_eq!(report["virtual_seconds"].as_f64(), Some(86_400.0));

    // Every gate of the workload, and the two every run gets, evaluated.
    let mut gates: Vec<&str> =
        report["slo"].as_array().expect("gates").iter().filter_map(|g| g["name"].as_str()).collect();
    gates.sort_unstable();
    assert_eq!(
        gates,
        [
            "conservation",
            "max_alert_severity",
            "max_error_rate",
            "max_memory_growth_per_hour",
            "max_timeouts",
            "max_wait_p99"
        ]
    );
    assert_conserved(&report);
    assert_accounted(&report);

    // Every fault fired.
    let injected = &report["pool"]["injected"];
    for kind in ["factory_panics", "holder_panics", "abandoned"] {
        assert!(u(&injected[kind]) > 0, "{kind}: {injected}");
    }
    assert_eq!(u(&injected["clock_jumps"]), 2, "{injected}");
    // Abandoned holders are still out at the end, and the pool's leak
    // detection flagged each of them (it flags other long holds too: the
    // stall and the slow window).
    assert!(u(&report["ops"]["in_flight"]) >= u(&injected["abandoned"]), "{}", report["ops"]);
    assert!(u(&report["pool"]["leaks"]) >= u(&injected["abandoned"]), "{}", report["pool"]);
    // The 10 % factory failures and the outage show as failed acquires.
    assert!(u(&report["ops"]["failed"]) > 0);
    // The piled-up arrivals of the 5-minute clock jump timed out, from
    // their intended start.
    assert!(report["wait_seconds"]["corrected"]["max"].as_f64().expect("max") >= 300.0);

    // Modeled memory to the byte: the pool's objects and 16 bytes leaked
    // per operation.
    let size = u(&report["pool"]["conservation"]["size"]);
    let expected = size * 8 * 1024 * 1024 + 16 * u(&report["ops"]["arrived"]);
    assert_eq!(u(&report["memory"]["end_bytes"]), expected, "{}", report["memory"]);

    // samples.jsonl grows by one bounded line a sample, nothing else.
    let samples = std::fs::read_to_string(out.join("samples.jsonl")).expect("samples");
    // One line every 2 s of a day, but for the 30 s and 5 min the process
    // was stopped by the clock jumps (one sample at the end of each).
    assert_eq!(samples.lines().count(), 43_200 - (30 + 300) / 2, "one line a sample");
    let longest = samples.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 512, "a sample line is {longest} bytes");

    // tidepool's own resident memory stays flat over the back half.
    let rss = &report["wall"]["rss_trend"];
    assert_eq!(rss["verdict"], "plateau", "{rss}");
    assert!(u(&rss["points"]) >= 500, "{rss}");
    assert!(u(&report["wall"]["peak_rss_bytes"]) < 256 << 20, "{}", report["wall"]);

    for file in ["report.md", "report.html", "alerts.jsonl"] {
        assert!(out.join(file).exists(), "{file}");
    }
    assert!(!out.join("checkpoint.json").exists(), "a finished run leaves no checkpoint");
}

/// The holder and factory faults on real threads against the real clock.
const WALL_FAULTS: &str = r#"
name = "wall-faults"
seed = 5
duration = "3s"
sample_interval = "250ms"
hold = { dist = "exponential", mean = "2ms" }

[pool]
min = 2
max = 16
acquire_timeout = "200ms"
leak_threshold = "500ms"
maintenance_interval = "100ms"
factory_failure = 0.1

[[phase]]
name = "busy"
duration = "3s"
arrival = { process = "poisson", rate = 1000 }

[[fault]]
kind = "holder_panic"
probability = 0.02

[[fault]]
kind = "factory_panic"
probability = 0.3

[[fault]]
kind = "abandon"
at = "1s"
duration = "1s"
probability = 0.01

[slo]
max_error_rate = 0.5
"#;

#[test]
fn soak_ci_wall_clock_faults_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write(dir.path(), "w.toml", WALL_FAULTS);
    let out = dir.path().join("out");
    let run = tidepool(&[
        "soak",
        &w,
        "--time",
        "wall",
        "--no-metrics",
        "-q",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let report = json(&out.join("report.json"));
    // What this test is about holds whatever the machine: nothing lost,
    // every operation accounted for, every injected fault counted.
    assert_conserved(&report);
    assert_accounted(&report);
    let injected = &report["pool"]["injected"];
    for kind in ["factory_panics", "holder_panics", "abandoned"] {
        assert!(u(&injected[kind]) > 0, "{kind}: {injected}");
    }
    // Abandoned objects were flagged as leaks, and the pool went on
    // serving with the rest.
    assert!(u(&report["pool"]["leaks"]) >= u(&injected["abandoned"]), "{}", report["pool"]);
    assert!(u(&report["ops"]["completed"]) > 1_000, "{}", report["ops"]);
    // The load gates depend on the machine: on a 2-vCPU runner whose host
    // steals CPU (seen: 55 % steal), executors starve, waits turn into
    // timeouts and the run fails max_error_rate or max_dropped_fraction
    // (exit 1, before and after #14 alike). Those may fail, and only those.
    match run.status.code() {
        Some(0) => {}
        Some(1) => {
            let failed: Vec<&str> = report["slo"]
                .as_array()
                .expect("gates")
                .iter()
                .filter(|g| g["passed"] == Value::Bool(false))
                .filter_map(|g| g["name"].as_str())
                .collect();
            assert!(
                failed.iter().all(|g| ["max_error_rate", "max_dropped_fraction"].contains(g)),
                "only the load gates may fail here: {failed:?}"
            );
            eprintln!(
                "wall-faults: the machine was too slow for the load gates ({failed:?}); nothing was lost"
            );
        }
        other => panic!("exit {other:?}: {run:?}"),
    }
}

#[test]
fn soak_ci_a_clock_jump_needs_virtual_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write(
        dir.path(),
        "w.toml",
        "duration = \"2s\"\n[pool]\n[[phase]]\nname = \"a\"\nduration = \"2s\"\narrival = { process = \"poisson\", rate = 10 }\nhold = { dist = \"constant\", value = \"1ms\" }\n[[fault]]\nkind = \"clock_jump\"\nat = \"1s\"\nby = \"5s\"\n",
    );
    let out = dir.path().join("out");
    let run = tidepool(&[
        "soak",
        &w,
        "--time",
        "wall",
        "--no-metrics",
        "-q",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(String::from_utf8_lossy(&run.stderr).contains("clock_jump"), "{run:?}");
    assert!(!out.join("samples.jsonl").exists(), "nothing written");
}
