//! What tidepool promises about its footprint on a machine: `unsafe` only
//! where it must be, each block justified; servers on loopback unless the
//! user names another address; metric label sets bounded (per pool, lock,
//! phase, never per operation). (Files only under `--out` and `--force`:
//! tests/cli.rs.)

mod common;
use common::{free_port, get, write, Killed};

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The crate denies `unsafe_code`; two modules allow it — the counting
/// allocator (a `GlobalAlloc` cannot be written without it) and the pool's
/// custody of its state (guards hold a pointer, not a reference count;
/// model-checked with loom) — and there every `unsafe` is preceded by a
/// `SAFETY:` comment.
#[test]
fn unsafe_is_confined_to_two_modules_and_justified() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).expect("lib.rs");
    assert!(lib.contains("#![deny(unsafe_code)]"), "the crate denies unsafe code");
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut allowed = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        if text.contains("allow(unsafe_code)") {
            allowed.push(file.strip_prefix(root).expect("under root").display().to_string());
        }
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let uses_unsafe = ["unsafe {", "unsafe impl", "unsafe fn"].iter().any(|k| code.contains(k));
            if !uses_unsafe || code.trim_start().starts_with("unsafe fn") {
                // An `unsafe fn` of a trait impl restates the trait's contract,
                // justified once above the impl.
                continue;
            }
            let justified = lines[i.saturating_sub(4)..i].iter().any(|l| l.contains("SAFETY:"));
            assert!(justified, "{}:{}: `unsafe` without a SAFETY comment above it", file.display(), i + 1);
        }
    }
    allowed.sort();
    assert_eq!(
        allowed,
        ["src/monitor/alloc.rs", "src/pool/custody.rs"],
        "unsafe code allowed only in the counting allocator and the pool's custody"
    );
}

/// Every server tidepool starts binds 127.0.0.1 unless told otherwise: the
/// exporter's default, and the servers `make up` starts.
#[test]
fn servers_listen_on_loopback_by_default() {
    assert!(tidepool::export::DEFAULT_LISTEN.ip().is_loopback(), "{}", tidepool::export::DEFAULT_LISTEN);
    let makefile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Makefile")).expect("Makefile");
    let listens: Vec<&str> =
        makefile.split_whitespace().filter(|w| w.starts_with("--web.listen-address=")).collect();
    assert_eq!(listens.len(), 3, "prometheus, alertmanager, pushgateway: {listens:?}");
    for l in listens {
        assert!(l.starts_with("--web.listen-address=127.0.0.1:"), "{l}");
    }
    assert!(makefile.contains("--cluster.listen-address= "), "Alertmanager's gossip port stays closed");
}

/// Every series name and label set of /metrics, sample values dropped.
fn series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(s, _)| s.to_string()))
        .collect()
}

/// A wall-clock run's /metrics keeps one label set per pool, phase and
/// result: the series there as the run starts are all the series there are
/// near its end, however many operations ran between (thousands here).
#[test]
fn metric_label_sets_do_not_grow_with_operations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write(
        dir.path(),
        "w.toml",
        r#"
name = "cardinality"
duration = "4s"
sample_interval = "250ms"
hold = { dist = "exponential", mean = "3ms" }
[pool]
min = 2
max = 8
acquire_timeout = "20ms"
factory_failure = 0.05
[[phase]]
name = "a"
duration = "2s"
arrival = { process = "poisson", rate = 1500 }
[[phase]]
name = "b"
duration = "2s"
arrival = { process = "poisson", rate = 3000 }
"#,
    );
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let out = dir.path().join("out");
    let child = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args([
            "soak",
            &w,
            "--time",
            "wall",
            "--listen",
            &listen,
            "-q",
            "--out",
            out.to_str().expect("utf-8"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tidepool runs");
    let mut child = Killed(child);
    let scrape = || get(port, "/metrics").ok().filter(|(status, _)| *status == 200).map(|(_, body)| body);
    let mut early = None;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(50));
        // Once the run has started (the exporter is up a moment before).
        if let Some(body) =
            scrape().filter(|b| b.contains("tidepool_sim_phase") && b.contains("process_threads"))
        {
            early = Some(body);
            break;
        }
    }
    let early = series(&early.expect("/metrics served"));
    std::thread::sleep(Duration::from_millis(2500));
    let late = series(&scrape().expect("/metrics still served"));
    let status = child.0.wait().expect("the run ends");
    assert!(status.success() || status.code() == Some(1), "{status:?}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("report"))
            .expect("json");
    assert!(report["ops"]["arrived"].as_u64().unwrap_or(0) > 5_000, "{}", report["ops"]);
    let new: Vec<&String> = late.difference(&early).collect();
    assert!(new.is_empty(), "label sets appeared as operations ran: {new:#?}");
    assert!(late.len() < 1_000, "{} series", late.len());
}
