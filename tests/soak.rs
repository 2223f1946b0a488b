//! `tidepool soak` and `tidepool validate` end to end: determinism, the
//! accounting identity, gates and exit codes, bad input, interruption.

mod common;
#[allow(unused_imports)]
use common::*;

use std::process::Command;

/// Two hours of a busy pool with a slow phase and a factory outage, so
/// waits, timeouts and failures all happen.
const BUSY: &str = r#"
name = "busy"
seed = 11
duration = "2h"
hold = { dist = "lognormal", median = "8ms", sigma = 0.6 }

[pool]
min = 2
max = 8
acquire_timeout = "200ms"
max_lifetime = "2m"
create_time = { dist = "exponential", mean = "20ms" }
factory_failure = 0.01

[[phase]]
name = "high"
duration = "20m"
arrival = { process = "poisson", rate = 600 }

[[phase]]
name = "low"
duration = "20m"
arrival = { process = "closed", workers = 3, think = { dist = "exponential", mean = "50ms" } }

[[fault]]
kind = "slow"
factor = 4.0
at = "30m"
duration = "5m"

[[fault]]
kind = "factory_outage"
at = "1h"
duration = "3m"

[slo]
max_timeouts = 0
"#;

#[test]
fn same_workload_and_seed_give_the_same_report_apart_from_wall_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "busy.toml", BUSY);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for out in [&a, &b] {
        let run = tidepool(&["soak", &file, "--out", out.to_str().expect("utf-8"), "-q"]);
        // The max_timeouts = 0 gate fails: exit 1, with the replay command.
        assert_eq!(run.status.code(), Some(1), "{run:?}");
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(stdout.contains("FAIL") && stdout.contains("replay: tidepool soak"), "{stdout}");
        assert!(stdout.contains("--seed 11"), "{stdout}");
    }
    let (mut ra, mut rb) = (json(&a.join("report.json")), json(&b.join("report.json")));
    assert!(ra["wall"]["seconds"].as_f64().is_some());
    for r in [&mut ra, &mut rb] {
        let map = r.as_object_mut().expect("object");
        map.remove("wall");
        map.remove("replay"); // names the --out directory
    }
    assert_eq!(ra, rb, "reports differ");
    let sa = std::fs::read(a.join("samples.jsonl")).expect("samples");
    let sb = std::fs::read(b.join("samples.jsonl")).expect("samples");
    assert!(sa == sb, "samples.jsonl differ");
    // One line per 2 s of virtual time.
    assert_eq!(sa.iter().filter(|&&c| c == b'\n').count(), 3600);

    // A different seed gives a different run.
    let c = dir.path().join("c");
    tidepool(&["soak", &file, "--out", c.to_str().expect("utf-8"), "-q", "--seed", "12"]);
    let rc = json(&c.join("report.json"));
    assert_eq!(rc["seed"], 12);
    assert_ne!(rc["ops"], ra["ops"]);
}

#[test]
fn every_operation_is_accounted_for_and_faults_show() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "busy.toml", BUSY);
    let out = dir.path().join("out");
    tidepool(&["soak", &file, "--out", out.to_str().expect("utf-8"), "-q"]);
    let r = json(&out.join("report.json"));
    let ops = &r["ops"];
    let n = |v: &serde_json::Value| v.as_u64().expect("count");
    let arrived = n(&ops["arrived"]);
    assert_eq!(
        arrived,
        n(&ops["completed"])
            + n(&ops["timed_out"])
            + n(&ops["failed"])
            + n(&ops["in_flight"])
            + n(&ops["waiting"])
    );
    // Per phase, the same identity (in flight and waiting count only in the total).
    let phases = r["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 2);
    let sum: u64 = phases.iter().map(|p| n(&p["ops"]["arrived"])).sum();
    assert_eq!(sum, arrived);
    // The slow phase and the outage left their marks.
    assert!(n(&ops["timed_out"]) > 0, "the slow phase causes timeouts: {ops}");
    assert!(n(&ops["failed"]) > 0, "the outage and factory_failure cause failures: {ops}");
    assert!(r["pool"]["size_max_seen"].as_u64() <= Some(8));
    // The samples reconcile with the totals.
    let text = std::fs::read_to_string(out.join("samples.jsonl")).expect("samples");
    let mut sampled = 0;
    for line in text.lines() {
        let s: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        sampled += n(&s["arrived"]);
    }
    assert_eq!(sampled, arrived, "samples cover every arrival (the last sample is at the end)");
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(md.contains("| max_timeouts |") && md.contains("**FAIL**"), "{md}");
}

#[test]
fn validate_prints_the_expected_duration_and_ops_without_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "busy.toml", BUSY);
    let out = tidepool(&["validate", &file]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2h of virtual time"), "{stdout}");
    // 3 × 20 min at 600/s open loop = 2.16 M, plus the closed loop's bound.
    assert!(stdout.contains("expected operations:"), "{stdout}");
}

#[test]
fn bad_input_exits_2_naming_file_line_and_field_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let monitor =
        format!("{BUSY}\n[monitor]\nstarvation = {{ warning = 0.9, critical = 0.5, emergency = 0.98 }}\n");
    let alert_gate = BUSY.replace("[slo]\n", "[slo]\nmax_alert_severity = \"loud\"\n");
    let cases: [(&str, &str, &str); 8] = [
        ("neg.toml", &BUSY.replace("rate = 600", "rate = -600"), "neg.toml:18:"),
        ("nan.toml", &BUSY.replace("rate = 600", "rate = nan"), "neg"),
        ("dur.toml", &BUSY.replace("duration = \"20m\"", "duration = \"twenty\""), "dur.toml:17:"),
        ("unknown.toml", &BUSY.replace("seed = 11", "seed = 11\nseeed = 12"), "seeed"),
        ("size.toml", &BUSY.replace("max = 8", "max = 1"), "size.toml:9:"),
        ("empty.toml", "", "empty file (it needs at least [pool]"),
        ("monitor.toml", &monitor, "starvation: floors 0.9 / 0.5"),
        ("gate.toml", &alert_gate, "max_alert_severity"),
    ];
    for (name, text, expect) in cases {
        let file = write(dir.path(), name, text);
        let out_dir = dir.path().join(format!("out-{name}"));
        for cmd in ["soak", "validate"] {
            let mut args = vec![cmd, file.as_str()];
            let out_str = out_dir.to_str().expect("utf-8");
            if cmd == "soak" {
                args.extend(["--out", out_str]);
            }
            let out = tidepool(&args);
            assert_eq!(out.status.code(), Some(2), "{name} {cmd}: {out:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let expect = if expect == "neg" { "NaN" } else { expect };
            assert!(stderr.contains(expect), "{name} {cmd}: {stderr}");
            assert!(!out_dir.exists(), "{name}: nothing written for bad input");
        }
    }
    let binary = write(dir.path(), "bin.toml", "\u{0}\u{1}\u{2}");
    let out = tidepool(&["validate", &binary]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a text file"));
    let out = tidepool(&["validate", "/no/such/workload.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/workload.toml"));
}

#[test]
fn an_interrupted_soak_exits_130_with_a_complete_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    // The built-in 24 h daily cycle: far longer than this test waits.
    let child = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["soak", "--out", out.to_str().expect("utf-8"), "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until it is replaying (samples are being written), then interrupt.
    let samples = out.join("samples.jsonl");
    for _ in 0..200 {
        if std::fs::metadata(&samples).map(|m| m.len() > 0).unwrap_or(false) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().expect("kill");
    assert!(kill.success());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    let r = json(&out.join("report.json"));
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["passed"], false);
    let virtual_seconds = r["virtual_seconds"].as_f64().expect("seconds");
    assert!(virtual_seconds > 0.0 && virtual_seconds < 86_400.0, "{virtual_seconds}");
    let text = std::fs::read_to_string(&samples).expect("samples");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("only whole lines");
    }
    assert!(std::fs::read_to_string(out.join("report.md")).expect("md").contains("INTERRUPTED"));
}

/// Regressions found in review: a constant phase (it once never advanced
/// time), a final partial sample interval, per-phase open operations, and a
/// run ending with a million callers in line (once quadratic to tear down).
#[test]
fn constant_phases_partial_samples_and_long_lines_end_cleanly() {
    use std::sync::atomic::AtomicBool;
    use tidepool::sim::{run, Observer, Sample, Workload};

    #[derive(Default)]
    struct Arrivals(u64, usize);
    impl Observer for Arrivals {
        fn on_sample(&mut self, s: &Sample) {
            self.0 += s.arrived;
            self.1 += 1;
        }
    }

    let w = Workload::parse(
        "duration = \"9s\"\n[pool]\nmin = 1\nmax = 1\nacquire_timeout = \"1h\"\n[[phase]]\nname = \"c\"\nduration = \"9s\"\n\
         arrival = { process = \"constant\", rate = 10 }\nhold = { dist = \"constant\", value = \"50ms\" }\n",
        "c.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut seen = Arrivals::default();
    let o = run(&w, &mut seen, &AtomicBool::new(false)).expect("runs");
    assert_eq!(o.total.arrived, 90, "one every 100 ms for 9 s");
    assert_eq!(seen.1, 5, "samples at 2, 4, 6, 8 s and the partial one at 9 s");
    assert_eq!(seen.0, 90, "the samples cover every arrival");

    let w = Workload::parse(
        "duration = \"2s\"\n[pool]\nmin = 4\nmax = 4\nacquire_timeout = \"1h\"\n[[phase]]\nname = \"q\"\nduration = \"2s\"\n\
         arrival = { process = \"closed\", workers = 200000 }\nhold = { dist = \"constant\", value = \"1s\" }\n",
        "q.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = run(&w, &mut tidepool::sim::NoObserver, &AtomicBool::new(false)).expect("runs");
    let t = &o.total;
    assert_eq!(t.arrived, t.completed + t.timed_out + t.failed + o.in_flight + o.waiting);
    assert!(o.waiting > 199_000, "{}", o.waiting);
    assert_eq!(o.phase_open, vec![(o.in_flight, o.waiting)], "per phase, the same open operations");
}
