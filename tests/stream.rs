//! Huge replay inputs stream: `tidepool replay` of a trace or a series
//! holds a bounded amount of memory whatever the file's size (its peak RSS,
//! measured with `wait4`, does not grow with the file), and a file that
//! changes under a replay is an error, not a panic.

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// Writes `ops` trace lines at ~2000 operations per second (holds of 1 to
/// 6 ms, so the default pool keeps up and no queue grows).
fn write_trace(path: &Path, ops: u64) {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create"));
    let mut x: u64 = 12345;
    let mut t = 0.0f64;
    for _ in 0..ops {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let u = ((x >> 11) + 1) as f64 / (1u64 << 53) as f64;
        t += -u.ln() / 2000.0;
        let hold = 0.001 + ((x >> 20) % 5000) as f64 / 1e6;
        writeln!(out, "{{\"t\":{t:.9},\"wait\":0.000000000,\"hold\":{hold:.9}}}").expect("write");
    }
    out.flush().expect("flush");
}

/// Writes `rows` series rows 1 ms apart, one arrival each on average.
fn write_series(path: &Path, rows: u64) {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create"));
    writeln!(out, "timestamp,value").expect("write");
    for k in 0..rows {
        writeln!(out, "{}.{:03},1", 1_700_000_000 + k / 1000, k % 1000).expect("write");
    }
    out.flush().expect("flush");
}

/// Runs `tidepool replay FILE` and returns its peak RSS in bytes (the
/// child's own `ru_maxrss`, from `wait4`).
fn replay_peak_rss(file: &Path, out: &Path) -> u64 {
    peak_rss(&[
        "replay",
        file.to_str().expect("utf-8"),
        "-q",
        "--force",
        "--out",
        out.to_str().expect("utf-8"),
    ])
}

/// Runs `tidepool ARGS` and returns its peak RSS in bytes.
#[allow(clippy::zombie_processes)] // reaped by wait4, which `Child::wait` cannot be
fn peak_rss(args: &[&str]) -> u64 {
    let child = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tidepool runs");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid, and wait4 reaps our own child,
    // which `child` is never waited on again for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{args:?}: status {status}");
    u64::try_from(usage.ru_maxrss).expect("rss") * 1024 // KiB on Linux
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// The memory bound of README.md and workloads/README.md: a replay's peak
/// RSS does not grow with its input. A 10× larger trace (or series) than
/// the small one, well past the in-memory cache, peaks at no more than
/// 1.5× (and under 64 MiB), where loading it whole took ~80 bytes per
/// operation.
#[test]
fn peak_rss_does_not_grow_with_the_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (small_trace, large_trace) = (d.join("small.jsonl"), d.join("large.jsonl"));
    write_trace(&small_trace, 90_000);
    write_trace(&large_trace, 900_000);
    let (small_series, large_series) = (d.join("small.csv"), d.join("large.csv"));
    write_series(&small_series, 300_000);
    write_series(&large_series, 3_000_000);
    for (small, large) in [(&small_trace, &large_trace), (&small_series, &large_series)] {
        let size = |p: &Path| std::fs::metadata(p).expect("size").len();
        let a = replay_peak_rss(small, &d.join("out-small"));
        let b = replay_peak_rss(large, &d.join("out-large"));
        eprintln!(
            "{}: {:.1} MiB file peaks at {:.1} MiB; {}: {:.1} MiB file peaks at {:.1} MiB",
            small.display(),
            mib(size(small)),
            mib(a),
            large.display(),
            mib(size(large)),
            mib(b)
        );
        assert!(size(large) > 40 << 20, "the large input is large: {} bytes", size(large));
        assert!((b as f64) < 1.5 * a as f64, "peak RSS grows with the input: {a} -> {b} bytes");
        assert!(b < 64 << 20, "peak RSS {:.1} MiB", mib(b));
    }
}

/// `tidepool detect` streams: 100 times the rows, the same peak RSS (it
/// held the input and its scores whole: 963 MB for 10 M rows).
#[test]
fn detect_peak_rss_does_not_grow_with_the_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (small, large) = (d.join("small.csv"), d.join("large.csv"));
    write_series(&small, 30_000);
    write_series(&large, 3_000_000);
    let rss = |input: &Path, out: &str| {
        peak_rss(&["detect", input.to_str().expect("utf-8"), "--out", d.join(out).to_str().expect("utf-8")])
    };
    let (a, b) = (rss(&small, "small-scores.csv"), rss(&large, "large-scores.csv"));
    eprintln!("detect: 30 000 rows peak at {:.1} MiB, 3 000 000 at {:.1} MiB", mib(a), mib(b));
    // Counted streaming: this process's own RSS must stay small, since a
    // child's ru_maxrss starts from its parent's at the fork (the other
    // tests here measure their children concurrently).
    let scores = std::fs::File::open(d.join("large-scores.csv")).expect("scores");
    let rows = std::io::BufRead::lines(std::io::BufReader::new(scores)).count();
    assert_eq!(rows, 3_000_001, "one row per input row, and the header");
    assert!(
        (b as f64) < 1.2 * a as f64 + (2 << 20) as f64,
        "peak RSS grows with the input: {a} -> {b} bytes"
    );
}

/// A trace or series longer than the cache is read again as the replay
/// goes; one that changed since its first read ends the run with an error
/// naming it (exit 2 from the CLI), never a panic or a silent replay of
/// something else.
#[test]
fn a_file_changed_under_a_replay_is_an_error() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use tidepool::sim::series::{RateSeries, SeriesUnit};
    use tidepool::sim::trace::Trace;
    use tidepool::sim::{Arrival, NoObserver, SimError, Workload};

    let dir = tempfile::tempdir().expect("tempdir");
    let limit = tidepool::sim::lines::DEFAULT_CACHE_LIMIT as u64;
    let w = Workload::parse(
        "hold = { dist = \"constant\", value = \"1ms\" }\n[pool]\nmax = 64\n[[phase]]\nname = \"p\"\nduration = \"1s\"\n\
         arrival = { process = \"poisson\", rate = 1 }\n",
        "w.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let path = dir.path().join("t.jsonl");
    write_trace(&path, limit + 1000);
    let trace = Trace::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!trace.is_cached(), "larger than the cache: read again from the file");
    assert_eq!(trace.events().expect("opens").count() as u64, limit + 1000);
    write_trace(&path, limit / 2); // cut short
    let err = trace.events().expect("opens").find_map(Result::err).expect("the cut is seen");
    assert!(err.to_string().contains("t.jsonl") && err.to_string().contains("changed"), "{err}");
    let mut replay = w.clone();
    replay.duration = trace.span() + std::time::Duration::from_millis(1);
    replay.phases[0].duration = replay.duration;
    replay.phases[0].arrival = Arrival::Trace { trace: Arc::new(trace), speed: 1.0, loops: 1 };
    match tidepool::sim::run(&replay, &mut NoObserver, &AtomicBool::new(false)) {
        Err(SimError::Input(e)) => assert!(e.to_string().contains("ended after"), "{e}"),
        other => panic!("expected an input error, got {:?}", other.map(|o| o.total)),
    }

    let path = dir.path().join("s.csv");
    write_series(&path, limit + 1000);
    let series = RateSeries::load(&path, SeriesUnit::Count, 1.0).unwrap_or_else(|e| panic!("{e}"));
    assert!(!series.is_cached());
    let total: f64 = series.segments().expect("opens").map(|s| s.expect("reads").expected()).sum();
    assert!((total - series.expected_arrivals()).abs() < 1e-6 * total, "{total}");
    std::fs::write(&path, "timestamp,value\n1700000000,1\nnot a row\n").expect("write");
    let err = series.segments().expect("opens").find_map(Result::err).expect("the change is seen");
    assert!(err.to_string().contains("s.csv:3:1: timestamp"), "{err}");
}
