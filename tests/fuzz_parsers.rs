//! Hostile input for every parser: random bytes and random mutations of
//! valid workloads, rate series and traces. A parser may accept or refuse;
//! it must never panic, and a refusal names the file (and a line where
//! there is one). `make test` runs a few thousand cases per parser;
//! `make fuzz` runs a million (`PROPTEST_CASES`).

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
