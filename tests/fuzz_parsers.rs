//! Hostile input for every parser: random bytes and random mutations of
//! valid workloads, rate series and traces. A parser may accept or refuse;
//! it must never panic, and a refusal names the file (and a line where
//! there is one). `make test` runs a few thousand cases per parser;
//! `make fuzz` runs a million (`PROPTEST_CASES`). The same inputs also go
//! through `tidepool validate`, `soak` and `replay` end to end (module
//! `end_to_end`).

use proptest::prelude::*;
use tidepool::sim::series::{RateSeries, SeriesUnit};
use tidepool::sim::trace::Trace;
use tidepool::sim::{Workload, WorkloadError};

const FILE: &str = "fuzz.input";

/// Valid seeds the mutations start from: every example workload, a series
/// and a trace (read once).
fn seeds() -> &'static [String] {
    static SEEDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(read_seeds)
}

fn read_seeds() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/workloads"))
        .expect("workloads/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    out.push(
        "timestamp,value\n2014-04-01 00:00:00,10\n2014-04-01 00:05:00,12.5\n2014-04-01 00:10:00,0\n".into(),
    );
    out.push(
        "{\"t\":0,\"wait\":0,\"hold\":0.01}\n{\"t\":0.5,\"hold\":0.02,\"outcome\":\"timeout\"}\n".into(),
    );
    out
}

/// One edit: replace, insert or delete a byte at a position.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    /// Duplicate a slice (repeats keys, tables, lines).
    Repeat(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes biased to the syntax that matters: digits, quotes, brackets,
    // separators, signs, letters of units and keys.
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(b"0123456789.-+eE\"'[]{}=,:#\n \t_msuhdMiBnafNIty".to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), 1..64usize).prop_map(|(i, n)| Edit::Repeat(i, n)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for e in edits {
        let n = bytes.len().max(1);
        match *e {
            Edit::Replace(i, b) if !bytes.is_empty() => bytes[i % n] = b,
            Edit::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Edit::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % n);
            }
            Edit::Repeat(i, len) if !bytes.is_empty() => {
                let start = i % n;
                let end = (start + len).min(bytes.len());
                let piece = bytes[start..end].to_vec();
                bytes.splice(end..end, piece);
            }
            _ => {}
        }
    }
    // The parsers take text: invalid UTF-8 is refused before them (by
    // `read_text`), so feed the lossy text.
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A refusal names the file, and where it has a line, the line. (A
/// workload may name a series file of its own: an error reading that one
/// names that file.)
fn check(err: &WorkloadError) {
    let message = err.to_string();
    if let WorkloadError::Read { file, .. } = err {
        assert!(message.starts_with(file.as_str()), "{message}");
        return;
    }
    assert!(message.starts_with(FILE), "the error names the file: {message}");
    if let WorkloadError::Invalid { line, .. } = err {
        assert!(message.contains(&format!("{FILE}:{line}:")), "{message}");
    }
}

fn parse_all(text: &str) {
    if let Err(e) = Workload::parse(text, FILE) {
        check(&e);
    }
    for unit in [SeriesUnit::Count, SeriesUnit::PerSecond] {
        if let Err(e) = RateSeries::parse(text, FILE, unit, 1.0) {
            check(&e);
        }
    }
    if let Err(e) = Trace::parse(text, FILE) {
        check(&e);
    }
}

/// 2 000 cases per property in `make test`; `PROPTEST_CASES` (as `make
/// fuzz` sets it) for more.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn mutated_valid_inputs_never_panic(seed in 0usize..64, edits in prop::collection::vec(edit(), 1..12)) {
        let seeds = seeds();
        let text = apply(&seeds[seed % seeds.len()], &edits);
        parse_all(&text);
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,400}") {
        parse_all(&text);
    }

    #[test]
    fn random_lines_of_numbers_never_panic(rows in prop::collection::vec((any::<f64>(), any::<f64>()), 0..40)) {
        let csv: String = rows.iter().map(|(t, v)| format!("{t},{v}\n")).collect();
        parse_all(&csv);
        let trace: String = rows.iter().map(|(t, h)| format!("{{\"t\":{t},\"hold\":{h}}}\n")).collect();
        parse_all(&trace);
    }
}

/// End to end: the same hostile inputs as files, through `tidepool
/// validate` (in process, every case) and then through the binary's
/// `validate` and `soak`/`replay` (every case small enough to run in
/// moments: a few hundred in `make test`). Exit 0, 1 or 2 only, never a
/// panic; a refusal names the file; a run that happened wrote a report
/// whose objects and operations add up.
mod end_to_end {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    /// A workload that runs in moments, with a fault of every kind.
    const SMALL: &str = r#"
name = "small"
seed = 7
duration = "20s"
sample_interval = "1s"
hold = { dist = "exponential", mean = "20ms" }
[pool]
min = 1
max = 4
acquire_timeout = "100ms"
leak_threshold = "2s"
factory_failure = 0.1
[[phase]]
name = "a"
duration = "10s"
arrival = { process = "poisson", rate = 100 }
[[phase]]
name = "b"
duration = "10s"
arrival = { process = "closed", workers = 3, think = { dist = "constant", value = "5ms" } }
[[fault]]
kind = "holder_panic"
probability = 0.05
[[fault]]
kind = "factory_panic"
at = "2s"
duration = "3s"
probability = 0.5
[[fault]]
kind = "abandon"
at = "5s"
duration = "1s"
probability = 0.05
[[fault]]
kind = "clock_jump"
at = "12s"
by = "1s"
[[fault]]
kind = "stall"
at = "15s"
duration = "500ms"
[slo]
max_error_rate = 0.5
max_wait_p99 = "1s"
"#;

    /// The binary runs one case in this many (it costs a process).
    fn binary_every() -> u32 {
        (cases() / 300).clamp(1, 1000)
    }

    fn validate_in_process(path: &Path) -> Result<String, String> {
        let args = path;
        tidepool::soak::validate(args).map_err(|e| e.to_string())
    }

    /// Whether a file of this kind is cheap to run whole.
    fn small_enough(text: &str, ext: &str) -> bool {
        match ext {
            "toml" => Workload::parse(text, FILE).is_ok_and(|w| w.expected_ops() < 50_000.0),
            "csv" => RateSeries::parse(text, FILE, SeriesUnit::Count, 1.0)
                .is_ok_and(|s| s.expected_arrivals() < 50_000.0),
            _ => Trace::parse(text, FILE).is_ok_and(|t| t.len() < 50_000),
        }
    }

    fn run_binary(dir: &Path, path: &Path, ext: &str) {
        let file = path.to_str().expect("utf-8");
        let out = dir.join("out");
        let out = out.to_str().expect("utf-8");
        let validate =
            Command::new(env!("CARGO_BIN_EXE_tidepool")).args(["validate", file]).output().expect("runs");
        let verb = if ext == "toml" { "soak" } else { "replay" };
        let run = Command::new(env!("CARGO_BIN_EXE_tidepool"))
            .args([verb, file, "-q", "--force", "--out", out])
            .output()
            .expect("runs");
        for o in [&validate, &run] {
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(!stderr.contains("panicked"), "{file}: {stderr}");
            let code = o.status.code();
            assert!(matches!(code, Some(0..=2)), "{file}: exit {code:?}: {stderr}");
            if code == Some(2) {
                assert!(stderr.contains(file) || stderr.contains("--"), "{file}: names the file: {stderr}");
            }
        }
        if matches!(run.status.code(), Some(0 | 1)) {
            let text = std::fs::read_to_string(dir.join("out/report.json")).expect("a run writes its report");
            let r: serde_json::Value = serde_json::from_str(&text).expect("report.json parses");
            let o = &r["ops"];
            let n = |k: &str| o[k].as_u64().unwrap_or(u64::MAX);
            assert_eq!(
                n("arrived"),
                n("completed") + n("timed_out") + n("failed") + n("in_flight") + n("waiting")
            );
            let gate =
                r["slo"].as_array().and_then(|g| g.iter().find(|g| g["name"] == "conservation").cloned());
            assert_eq!(gate.map(|g| g["passed"].clone()), Some(serde_json::Value::Bool(true)), "{text}");
        }
    }

    fn check_file(text: &str, ext: &str, case: u64) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(format!("input.{ext}"));
        std::fs::write(&path, text).expect("write");
        if let Err(message) = validate_in_process(&path) {
            // A workload may name a series file of its own (beside it): an
            // error reading that one names that file.
            let beside = dir.path().display().to_string();
            assert!(
                message.starts_with(&path.display().to_string()) || message.starts_with(&beside),
                "the error names the file: {message}"
            );
        }
        if case % u64::from(binary_every()) == 0 && small_enough(text, ext) {
            run_binary(dir.path(), &path, ext);
        }
    }

    fn counter() -> u64 {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

        #[test]
        fn mutated_files_through_validate_soak_and_replay(seed in 0usize..64, edits in prop::collection::vec(edit(), 0..4)) {
            let seeds = seeds();
            // Half the cases mutate a workload small enough to run whole
            // (with every kind of fault), the rest the example workloads,
            // the series and the trace.
            let (text, ext) = if seed % 2 == 0 {
                (apply(SMALL, &edits), "toml")
            } else {
                let i = seed / 2 % seeds.len();
                // The seeds are the workloads, then a series, then a trace.
                let ext = if i + 2 == seeds.len() { "csv" } else if i + 1 == seeds.len() { "jsonl" } else { "toml" };
                (apply(&seeds[i], &edits), ext)
            };
            check_file(&text, ext, counter());
        }
    }
}

/// `tidepool report` over a killed run's hostile samples.jsonl: with a good
/// checkpoint, recovery always succeeds (lines that are not samples are
/// skipped and counted), never panics.
mod recovery {
    use super::*;

    /// A real run's report and samples (run once): the checkpoint and the
    /// lines the mutations start from.
    fn run() -> &'static (String, String) {
        static RUN: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
        RUN.get_or_init(|| {
            let workload = Workload::parse(
                "duration = \"20s\"\nhold = { dist = \"exponential\", mean = \"10ms\" }\n[pool]\nmax = 4\n\
                 [[phase]]\nname = \"p\"\nduration = \"20s\"\narrival = { process = \"poisson\", rate = 100 }\n",
                "fuzz.toml",
            )
            .expect("workload");
            let dir = tempfile::tempdir().expect("tempdir");
            let result = tidepool::soak::Soak::new(workload).out(dir.path()).force(true).run().expect("run");
            let samples = std::fs::read_to_string(dir.path().join("samples.jsonl")).expect("samples");
            let mut checkpoint = serde_json::to_value(&result.report).expect("json");
            checkpoint["interrupted"] = serde_json::Value::Bool(true);
            (checkpoint.to_string(), samples)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: (cases() / 10).max(50), ..ProptestConfig::default() })]

        #[test]
        fn recovery_reads_any_samples_file(edits in prop::collection::vec(edit(), 0..16), tail in "\\PC{0,200}") {
            let (checkpoint, samples) = run();
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::write(dir.path().join("checkpoint.json"), checkpoint).expect("checkpoint");
            let garbled = apply(samples, &edits) + &tail;
            std::fs::write(dir.path().join("samples.jsonl"), garbled).expect("samples");
            let recovered = tidepool::report::recover(dir.path(), None, true);
            prop_assert!(recovered.is_ok(), "{:?}", recovered.err());
        }
    }
}
