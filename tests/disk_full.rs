//! A disk that fills during a run (part of the hardening). A file-size limit
//! (`RLIMIT_FSIZE`, with SIGXFSZ ignored, so a write past it fails with
//! EFBIG as a full disk fails with ENOSPC) stands in for the full disk: the
//! run must stop at once, exit 1 with the summary, and keep what adds up —
//! the reports of what ran, or else the last good checkpoint — and no
//! temporary file.

mod common;
#[allow(unused_imports)]
use common::*;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

const HOUR: &str = r#"
name = "filling"
seed = 11
duration = "1h"
sample_interval = "1s"
hold = { dist = "exponential", mean = "20ms" }

[pool]
min = 2
max = 8

[[phase]]
name = "only"
duration = "1h"
arrival = { process = "poisson", rate = 100 }
"#;

/// `tidepool args` with every file it writes limited to `bytes`: its output.
fn tidepool_limited(args: &[&str], bytes: u64) -> Output {
    limited(args, bytes).output().expect("run tidepool")
}

/// The command `tidepool args` with every file it writes limited to `bytes`.
fn limited(args: &[&str], bytes: u64) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tidepool"));
    command.args(args);
    // SAFETY: signal and setrlimit are async-signal-safe and touch only the
    // child; an ignored signal stays ignored across exec.
    unsafe {
        command.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

fn no_temporary_files(out: &Path) {
    for entry in std::fs::read_dir(out).expect("out") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp") && !name.starts_with('.'), "left behind: {name}");
    }
}

/// The half-written line was cut: the file is whole lines, at least one.
fn whole_lines(path: &Path) {
    let text = std::fs::read_to_string(path).expect("samples.jsonl");
    assert!(text.ends_with('\n'), "a half-written last line: {:?}", &text[text.len().saturating_sub(100)..]);
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    assert!(!text.is_empty());
}

#[test]
fn a_disk_that_fills_stops_the_run_early_and_the_reports_cover_what_ran() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write(dir.path(), "w.toml", HOUR);
    let out = dir.path().join("out");
    // samples.jsonl reaches 256 KiB after a few hundred of its 3 600 lines;
    // every report is far smaller.
    let o = tidepool_limited(&["soak", &w, "--out", out.to_str().expect("utf-8"), "-q"], 256 << 10);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("samples.jsonl") && stderr.contains("the run stopped early"), "{stderr}");
    assert!(stderr.contains("the reports cover what ran"), "{stderr}");
    // The summary of what ran.
    assert!(stderr.contains("soak filling:") && stderr.contains("INTERRUPTED"), "{stderr}");

    let report = json(&out.join("report.json"));
    assert_eq!(report["interrupted"], true, "{report}");
    let ran = report["virtual_seconds"].as_f64().expect("virtual_seconds");
    assert!(ran > 0.0 && ran < 1800.0, "the run went on to {ran} s of 3600");
    let ops = &report["ops"];
    let sum: u64 = ["completed", "timed_out", "failed", "in_flight", "waiting"]
        .iter()
        .map(|k| ops[k].as_u64().unwrap_or_else(|| panic!("ops.{k}")))
        .sum();
    assert_eq!(ops["arrived"].as_u64(), Some(sum), "{ops}");
    assert!(out.join("report.md").is_file() && out.join("report.html").is_file());
    whole_lines(&out.join("samples.jsonl"));
    // The reports supersede the checkpoint.
    assert!(!out.join("checkpoint.json").exists());
    no_temporary_files(&out);
}

#[test]
fn when_even_the_reports_cannot_be_written_the_run_says_so_and_keeps_what_it_can() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write(dir.path(), "w.toml", HOUR);
    let out = dir.path().join("out");
    // 2 KiB: a few sample lines, and no report fits.
    let o = tidepool_limited(&["soak", &w, "--out", out.to_str().expect("utf-8"), "-q"], 2 << 10);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the run stopped early") && stderr.contains("the reports could not be written"),
        "{stderr}"
    );
    assert!(stderr.contains("no checkpoint could be kept"), "{stderr}");
    assert!(stderr.contains("soak filling:"), "the summary is missing: {stderr}");
    assert!(!out.join("report.json").exists());
    no_temporary_files(&out);
    assert!(!stderr.contains("reports:"), "no report to point at: {stderr}");
    whole_lines(&out.join("samples.jsonl"));
}

#[test]
fn a_log_file_on_the_full_disk_is_no_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write(dir.path(), "w.toml", HOUR);
    let out = dir.path().join("out");
    let log = std::fs::File::create(dir.path().join("log")).expect("log");
    // `2> log` with the log's disk full: the messages are lost, not a panic (101).
    let status =
        limited(&["soak", &w, "--out", out.to_str().expect("utf-8")], 512).stderr(log).status().expect("run");
    assert_eq!(status.code(), Some(1));
}
