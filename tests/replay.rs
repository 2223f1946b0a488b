//! `tidepool replay` of a captured rate series, and `series` phases in
//! workload files.

use std::path::Path;
use std::process::{Command, Output};

use statrs::distribution::{ChiSquared, ContinuousCDF};

fn tidepool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidepool")).args(args).output().expect("tidepool runs")
}

/// 60 one-minute rows whose counts swing between 1 500 and 4 500, with a
/// spike: a day's shape in an hour.
fn series_csv() -> (String, Vec<f64>) {
    let mut text = String::from("timestamp,value\n");
    let mut counts = Vec::new();
    for k in 0..60u32 {
        let base = 3000.0 + 1500.0 * (f64::from(k) / 60.0 * std::f64::consts::TAU).sin();
        let count = if k == 40 { 9000.0 } else { base.round() };
        // Unix seconds on the first half, calendar times on the second.
        let t = 1_700_000_000 + u64::from(k) * 60;
        if k < 30 {
            text += &format!("{t},{count}\n");
        } else {
            // 1 700 000 000 is 2023-11-14 22:13:20 UTC.
            let (h, m) = (22 + (13 + k) / 60, (13 + k) % 60);
            text += &format!("2023-11-14 {h:02}:{m:02}:20,{count}\n");
        }
        counts.push(count);
    }
    (text, counts)
}

#[test]
fn arrivals_follow_the_series_bin_by_bin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (csv, counts) = series_csv();
    let file = dir.path().join("requests.csv");
    std::fs::write(&file, csv).expect("write");
    let out = dir.path().join("out");
    let run = tidepool(&[
        "replay",
        file.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "-q",
        "--hold",
        "5ms",
        "--seed",
        "3",
    ]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    // samples.jsonl: one line per 2 s; 30 lines per one-minute row.
    let text = std::fs::read_to_string(out.join("samples.jsonl")).expect("samples");
    let mut observed = vec![0.0f64; counts.len()];
    for line in text.lines() {
        let s: serde_json::Value = serde_json::from_str(line).expect("json line");
        let t = s["t"].as_f64().expect("t");
        let bin = ((t - 1e-9) / 60.0).floor() as usize;
        observed[bin.min(counts.len() - 1)] += s["arrived"].as_f64().expect("arrived");
    }
    // Each bin's count is Poisson with the row's value as its mean: a
    // chi-square test of all 60 bins at once.
    let chi2: f64 = observed.iter().zip(&counts).map(|(o, e)| (o - e).powi(2) / e).sum();
    let p = 1.0 - ChiSquared::new(counts.len() as f64).expect("df").cdf(chi2);
    eprintln!("chi2 = {chi2:.1} on {} bins, p = {p:.3}", counts.len());
    assert!(p > 0.001, "arrivals do not follow the series: chi2 {chi2:.1}, p {p:.5}\n{observed:?}");
    // The spike row is there, and a flat replay would fail the test.
    assert!(observed[40] > 8000.0, "{}", observed[40]);
    let flat = counts.iter().sum::<f64>() / counts.len() as f64;
    let chi2_flat: f64 = observed.iter().map(|o| (o - flat).powi(2) / flat).sum();
    assert!(
        1.0 - ChiSquared::new(60.0).expect("df").cdf(chi2_flat) < 1e-6,
        "the test can tell a flat replay"
    );
    let total: f64 = counts.iter().sum();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("report"))
            .expect("json");
    let arrived = report["ops"]["arrived"].as_f64().expect("arrived");
    assert!((arrived - total).abs() < 4.0 * total.sqrt(), "{arrived} arrivals for a series of {total}");
    assert_eq!(report["virtual_seconds"].as_f64(), Some(3600.0));
}

#[test]
fn a_workload_file_can_follow_a_series_and_validate_counts_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (csv, counts) = series_csv();
    std::fs::write(dir.path().join("captured.csv"), csv).expect("write");
    let workload = r#"
hold = { dist = "exponential", mean = "5ms" }
[pool]
[[phase]]
name = "captured"
arrival = { process = "series", file = "captured.csv", scale = 2.0 }
"#;
    let file = dir.path().join("w.toml");
    std::fs::write(&file, workload).expect("write");
    let out = tidepool(&["validate", file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let total: f64 = counts.iter().sum::<f64>() * 2.0;
    assert!(stdout.contains(&format!("expected operations: {total:.0}")), "{stdout}");
    assert!(stdout.contains("1h of virtual time"), "the phase lasts as long as the series: {stdout}");
}

fn expect_bad(dir: &Path, name: &str, text: &[u8], needle: &str) {
    let file = dir.join(name);
    std::fs::write(&file, text).expect("write");
    let out_dir = dir.join(format!("out-{name}"));
    let out = tidepool(&["replay", file.to_str().expect("utf-8"), "--out", out_dir.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(needle), "{name}: {stderr}");
    assert!(!out_dir.exists(), "{name}: nothing written");
}

#[test]
fn bad_series_exit_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    expect_bad(d, "order.csv", b"timestamp,value\n100,5\n90,5\n", "order.csv:3:1: timestamp");
    expect_bad(d, "neg.csv", b"timestamp,value\n100,5\n160,-1\n", "neg.csv:3:5: value");
    // 18 arrivals 0.1 ns after the first row: they used to vanish (0 ns
    // interval) and the run passed.
    expect_bad(
        d,
        "close.csv",
        b"timestamp,value\n100,5\n100.0000000001,18\n101,1\n",
        "close.csv:3:1: timestamp",
    );
    expect_bad(d, "word.csv", b"timestamp,value\n100,five\n", "word.csv:2:5: value");
    expect_bad(d, "date.csv", b"timestamp,value\n2024-02-31x,1\n", "date.csv:2:1: timestamp");
    expect_bad(d, "empty.csv", b"", "empty");
    expect_bad(d, "junk.csv", &[0xff, 0xfe, 0x00, 0x12], "not a text file");
    expect_bad(d, "order.jsonl", b"{\"t\":1,\"hold\":0.1}\n{\"t\":0.5,\"hold\":0.1}\n", "order.jsonl:2:1: t");
    expect_bad(d, "neg.jsonl", b"{\"t\":1,\"hold\":-0.1}\n", "neg.jsonl:1:1: hold");
    expect_bad(d, "shape.jsonl", b"{\"t\":1,\"hodl\":0.1}\n", "shape.jsonl:1:1");
    expect_bad(d, "empty.jsonl", b"\n", "empty");
    let out = tidepool(&["replay", "/no/such/series.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/series.csv"));
    let out = tidepool(&["replay", "x.csv", "--scale", "-2"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Two-sample Kolmogorov–Smirnov: (D, asymptotic p-value).
fn ks(a: &mut [f64], b: &mut [f64]) -> (f64, f64) {
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    let en = (n * m / (n + m)).sqrt();
    let lambda = (en + 0.12 + 0.11 / en) * d;
    let p = (1..100)
        .map(|k| 2.0 * (-1f64).powi(k - 1) * (-2.0 * f64::from(k * k) * lambda * lambda).exp())
        .sum::<f64>();
    (d, p.clamp(0.0, 1.0))
}

#[test]
fn a_recorded_run_replays_with_its_arrivals_and_holds() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use tidepool::pool::trace::TraceRecorder;
    use tidepool::sim::{engine::run_traced, trace::Trace, Arrival, NoObserver, Workload};

    let w = Workload::parse(
        "seed = 4\n[pool]\nmin = 8\nmax = 8\n[[phase]]\nname = \"p\"\nduration = \"20m\"\n\
         arrival = { process = \"poisson\", rate = 300 }\nhold = { dist = \"lognormal\", median = \"6ms\", sigma = 0.5 }\n",
        "rec.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let recorded = Arc::new(TraceRecorder::new(1, 1_000_000));
    let first =
        run_traced(&w, &mut NoObserver, &AtomicBool::new(false), Some(Arc::clone(&recorded))).expect("runs");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("run.jsonl");
    let mut file = std::fs::File::create(&path).expect("create");
    recorded.write_jsonl(&mut file).expect("write");
    drop(file);

    let trace = Arc::new(Trace::load(&path).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(trace.len() as u64, first.total.arrived, "every operation recorded at N = 1");
    let mut replay = w.clone();
    replay.duration = trace.span() + std::time::Duration::from_millis(1);
    replay.phases[0].duration = replay.duration;
    replay.phases[0].arrival = Arrival::Trace { trace: Arc::clone(&trace), speed: 1.0, loops: 1 };
    replay.seed = 99; // nothing random is left to draw
    let replayed = Arc::new(TraceRecorder::new(1, 1_000_000));
    let second = run_traced(&replay, &mut NoObserver, &AtomicBool::new(false), Some(Arc::clone(&replayed)))
        .expect("runs");
    assert_eq!(second.total.arrived, first.total.arrived, "arrival count equal");
    let (a, b) = (recorded.take(), replayed.take());
    assert!(a.is_empty(), "written out");
    let mut original: Vec<f64> = trace.holds().expect("reads").map(|h| h.expect("reads") as f64).collect();
    let mut again: Vec<f64> = b.iter().map(|e| e.hold_ns as f64).collect();
    let (d, p) = ks(&mut original, &mut again);
    eprintln!("holds: KS D = {d:.5}, p = {p:.3} over {} operations", again.len());
    assert!(p > 0.01, "hold distributions differ: D {d}, p {p}");
    // And the test can tell: holds of twice the length are rejected.
    let mut doubled: Vec<f64> = original.iter().map(|h| h * 2.0).collect();
    assert!(ks(&mut original, &mut doubled).1 < 1e-6);
}

#[test]
fn a_trace_loops_and_its_idle_gaps_can_be_capped() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Five operations, then an hour of silence, then five more.
    let mut text = String::new();
    for k in 0..10u32 {
        let t = if k < 5 { f64::from(k) } else { 3600.0 + f64::from(k) };
        text += &format!("{{\"t\":{t},\"wait\":0,\"hold\":0.01}}\n");
    }
    let file = dir.path().join("gappy.jsonl");
    std::fs::write(&file, text).expect("write");
    let report = |args: &[&str], out: &str| -> serde_json::Value {
        let out_dir = dir.path().join(out);
        let mut all =
            vec!["replay", file.to_str().expect("utf-8"), "--out", out_dir.to_str().expect("utf-8"), "-q"];
        all.extend_from_slice(args);
        let run = tidepool(&all);
        assert_eq!(run.status.code(), Some(0), "{run:?}");
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).expect("report"))
            .expect("json")
    };
    let once = report(&[], "once");
    assert_eq!(once["ops"]["arrived"], 10);
    assert!(once["virtual_seconds"].as_f64().expect("s") > 3600.0);
    let looped = report(&["--loop", "3", "--max-idle-gap", "2s"], "looped");
    assert_eq!(looped["ops"]["arrived"], 30, "three loops of ten");
    // Each loop: 4 s, a 2 s gap (capped from an hour), 4 s, plus 1 ms.
    let secs = looped["virtual_seconds"].as_f64().expect("s");
    assert!((secs - 3.0 * 10.001).abs() < 1e-6, "{secs}");
}

#[test]
fn a_trace_records_timeouts_and_factory_failures_and_replays_them() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use tidepool::pool::trace::{TraceOutcome, TraceRecorder};
    use tidepool::sim::{engine::run_traced, trace::Trace, NoObserver, Workload};

    // Two objects, held 20 ms, at 150/s: over capacity, so callers time
    // out; and the factory fails one creation in five.
    let w = Workload::parse(
        "seed = 8\n[pool]\nmin = 1\nmax = 2\nacquire_timeout = \"30ms\"\nmax_lifetime = \"1s\"\nfactory_failure = 0.2\n\
         [[phase]]\nname = \"p\"\nduration = \"2m\"\narrival = { process = \"poisson\", rate = 150 }\n\
         hold = { dist = \"constant\", value = \"20ms\" }\n",
        "fail.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let recorder = Arc::new(TraceRecorder::new(1, 1_000_000));
    let outcome =
        run_traced(&w, &mut NoObserver, &AtomicBool::new(false), Some(Arc::clone(&recorder))).expect("runs");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fail.jsonl");
    let mut file = std::fs::File::create(&path).expect("create");
    recorder.write_jsonl(&mut file).expect("write");
    drop(file);
    let text = std::fs::read_to_string(&path).expect("read");
    let count = |o: TraceOutcome| match o {
        TraceOutcome::Ok => text.lines().filter(|l| !l.contains("outcome")).count() as u64,
        other => {
            text.lines().filter(|l| l.contains(&format!("\"outcome\":\"{}\"", other.as_str()))).count() as u64
        }
    };
    let t = &outcome.total;
    assert!(t.timed_out > 0 && t.failed > 0, "the scenario must time out and fail: {t:?}");
    assert_eq!(count(TraceOutcome::Timeout), t.timed_out);
    assert_eq!(count(TraceOutcome::Error), t.failed);
    // Holders cut off by the end of the run return their objects at
    // teardown: recorded too, with the hold they had.
    assert_eq!(count(TraceOutcome::Ok), t.completed + outcome.in_flight);
    for line in text.lines().filter(|l| l.contains("timeout")) {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        assert_eq!(v["hold"], 0.0);
        assert!(v["wait"].as_f64().expect("wait") >= 0.030, "a timeout waited its timeout: {line}");
    }
    // Every recorded arrival replays.
    let trace = Trace::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(trace.len() as u64, t.completed + outcome.in_flight + t.timed_out + t.failed);
    // A misspelt outcome is named.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"t\":0,\"hold\":0,\"outcome\":\"lost\"}\n").expect("write");
    let err = Trace::load(&bad).expect_err("unknown outcome").to_string();
    assert!(err.contains("bad.jsonl:1") && err.contains("outcome"), "{err}");
}

#[test]
fn validate_is_the_dry_run_of_a_trace_and_of_a_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("t.jsonl");
    std::fs::write(
        &trace,
        "{\"t\":0,\"hold\":0.01}\n{\"t\":2,\"hold\":0.03}\n{\"t\":4,\"hold\":0.02,\"outcome\":\"timeout\"}\n",
    )
    .expect("write");
    let o = tidepool(&["validate", trace.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("3 operations over 4.0 s") && text.contains("mean hold 20.00 ms"), "{text}");
    let series = dir.path().join("s.csv");
    std::fs::write(&series, "timestamp,value\n0,60\n60,120\n").expect("write");
    let o = tidepool(&["validate", series.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("2 rows over 2.0 min, 180 expected arrivals"), "{text}");
    // Bad ones name the file and line, exit 2.
    std::fs::write(&series, "timestamp,value\n0,60\n60,-1\n").expect("write");
    let o = tidepool(&["validate", series.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("s.csv:3"), "{o:?}");
}
