//! Inputs that are not files: devices that never end (`/dev/zero`), FIFOs
//! nobody writes to, directories, and files too large to be settings. Each
//! is refused at once with exit 2 naming the input; none is read forever,
//! blocks, or grows memory.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tidepool::clock::Clock;

/// Runs the binary with `args`, killing it after 20 s (the old code spun
/// forever on some of these): its output, and how long it took.
fn bounded(args: &[&str]) -> (Output, Duration) {
    let clock = Clock::system();
    let start = clock.now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tidepool starts");
    while child.try_wait().expect("wait").is_none() {
        if clock.now() - start > Duration::from_secs(20) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (output, clock.now() - start)
}

fn refused(args: &[&str], what: &str) {
    let (out, took) = bounded(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?} after {took:?}: {stderr}");
    assert!(stderr.contains(what), "{args:?}: {stderr}");
    assert!(took < Duration::from_secs(10), "{args:?} took {took:?}");
}

#[test]
fn endless_devices_are_refused_by_every_command_that_reads_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let out = out.to_str().expect("utf-8");
    let scores = dir.path().join("scores.csv");
    let scores = scores.to_str().expect("utf-8");
    for args in [
        vec!["validate", "/dev/zero"],
        vec!["soak", "/dev/zero", "--out", out],
        vec!["config", "check", "/dev/zero"],
        vec!["replay", "/dev/zero", "--out", out],
        vec!["detect", "/dev/zero", "--out", scores],
    ] {
        refused(&args, "/dev/zero: cannot read: not a regular file (a device)");
    }
    assert!(!Path::new(out).join("report.json").exists());
    assert!(!Path::new(scores).exists());
}

#[test]
fn a_fifo_nobody_writes_to_is_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("w.toml");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let fifo = fifo.to_str().expect("utf-8");
    refused(&["validate", fifo], "not a regular file (a FIFO)");
    let series = dir.path().join("s.csv");
    assert!(Command::new("mkfifo").arg(&series).status().expect("mkfifo").success());
    refused(&["replay", series.to_str().expect("utf-8"), "--out", fifo], "not a regular file (a FIFO)");
}

#[test]
fn directories_and_oversized_settings_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    refused(&["validate", dir.path().to_str().expect("utf-8")], "not a regular file (a directory)");
    // A workload of 17 MiB (comments): past the 16 MiB settings files may have.
    let big = dir.path().join("big.toml");
    let line = format!("# {}\n", "x".repeat(1021));
    std::fs::write(&big, line.repeat(17 * 1024)).expect("write");
    refused(&["validate", big.to_str().expect("utf-8")], "larger than the 16777216 bytes read at most");
    refused(&["config", "check", big.to_str().expect("utf-8")], "larger than");
}

/// Names reach the terminal, report.md and metric labels: an escape
/// sequence or a line break in one is refused at its line.
#[test]
fn control_characters_in_names_are_refused_at_their_line() {
    let body = "[pool]\nmin = 1\nmax = 2\n[[phase]]\nname = \"p\"\nduration = \"1s\"\narrival = { process = \"poisson\", rate = 1 }\nhold = { dist = \"constant\", value = \"1ms\" }\n";
    let lock = "[[lock]]\nname = \"l\"\nhold = { dist = \"constant\", value = \"1ms\" }\n";
    let cache = "[cache]\nname = \"c\"\ncapacity = 1\nkeys = 1\nmiss_cost = { dist = \"constant\", value = \"1ms\" }\n";
    let cases = [
        (format!("name = \"x\\u001b[31mred\"\n{body}"), 1),
        (body.replace("name = \"p\"", "name = \"p\\nq\""), 5),
        (format!("{body}{}", lock.replace("name = \"l\"", "name = \"l\\t\""),), 10),
        (format!("{body}{}", cache.replace("name = \"c\"", "name = \"c\\r\""),), 10),
    ];
    for (text, line) in cases {
        let e = tidepool::sim::Workload::parse(&text, "names.toml").expect_err(&text).to_string();
        assert!(e.starts_with(&format!("names.toml:{line}:")) && e.contains("control characters"), "{e}");
        assert!(!e.contains('\u{1b}'), "the error echoes the escape: {e:?}");
    }
}

/// `--listen` with port 0 would serve /metrics where nobody can find it:
/// refused; and the report's replay line reruns into its own --out (so
/// it carries --force).
#[test]
fn port_zero_is_refused_and_the_replay_line_reruns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let workload = dir.path().join("w.toml");
    std::fs::write(
        &workload,
        "duration = \"1s\"\n[pool]\nmin = 1\nmax = 2\n[[phase]]\nname = \"p\"\nduration = \"1s\"\narrival = { process = \"poisson\", rate = 10 }\nhold = { dist = \"constant\", value = \"1ms\" }\n",
    )
    .expect("write");
    let w = workload.to_str().expect("utf-8");
    let out = dir.path().join("out");
    let o = out.to_str().expect("utf-8");
    refused(&["soak", w, "--time", "wall", "--listen", "127.0.0.1:0", "--out", o], "port 0");
    let (done, _) = bounded(&["soak", w, "--out", o, "-q"]);
    assert_eq!(done.status.code(), Some(0), "{}", String::from_utf8_lossy(&done.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("report"))
            .expect("json");
    let replay = report["replay"].as_str().expect("replay line").to_string();
    assert!(replay.ends_with("--force"), "{replay}");
    // Run it as printed: it replaces the results with the same ones.
    let args: Vec<&str> = replay.split_whitespace().skip(1).collect();
    let (again, _) = bounded(&args);
    assert_eq!(again.status.code(), Some(0), "{replay}: {}", String::from_utf8_lossy(&again.stderr));
}

/// An error quotes the offending value, but not a megabyte of it.
#[test]
fn errors_do_not_echo_megabyte_long_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    let workload = dir.path().join("long.toml");
    std::fs::write(&workload, format!("[pool]\nmin = 1\nmax = \"{}\"\n", "y".repeat(1 << 20)))
        .expect("write");
    let config = dir.path().join("long-agent.toml");
    std::fs::write(&config, format!("[pool]\nmax_size = \"{}\"\n", "y".repeat(1 << 20))).expect("write");
    for args in [
        vec!["validate", workload.to_str().expect("utf-8")],
        vec!["config", "check", config.to_str().expect("utf-8")],
    ] {
        let (out, _) = bounded(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr.len() < 1000
                && stderr.contains("bytes in all")
                && (stderr.contains(":2:") || stderr.contains(":3:")),
            "{args:?}: {} bytes: {}",
            stderr.len(),
            &stderr[..stderr.len().min(300)]
        );
    }
}

#[test]
fn a_corrupt_line_in_samples_does_not_refuse_recovery_from_a_good_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = common::write(
        dir.path(),
        "w.toml",
        "name = \"torn\"\nduration = \"60s\"\nsample_interval = \"1s\"\nhold = { dist = \"constant\", value = \"10ms\" }\n\
         [pool]\nmax = 4\n[[phase]]\nname = \"p\"\nduration = \"60s\"\narrival = { process = \"poisson\", rate = 50 }\n",
    );
    let out = dir.path().join("out");
    let o = common::tidepool(&["soak", &w, "--out", out.to_str().expect("utf-8"), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // What a killed run leaves: its checkpoint (a report marked
    // interrupted) and its samples, here with one line garbled mid-file.
    let mut checkpoint = common::json(&out.join("report.json"));
    checkpoint["interrupted"] = serde_json::Value::Bool(true);
    std::fs::write(out.join("checkpoint.json"), checkpoint.to_string()).expect("checkpoint");
    for name in ["report.json", "report.md", "report.html"] {
        std::fs::remove_file(out.join(name)).expect("remove");
    }
    let samples = out.join("samples.jsonl");
    let text = std::fs::read_to_string(&samples).expect("samples");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[9] = "\u{0}\u{0}\u{0}{\"t\": 10.0, garbage".into();
    std::fs::write(&samples, lines.join("\n") + "\n").expect("garble");

    let o = common::tidepool(&["report", out.to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("RECOVERED") && stdout.contains("1 line(s)") && stdout.contains("line 10"),
        "{stdout}"
    );
    let report = common::json(&out.join("report.json"));
    let caveats = report["caveats"].to_string();
    assert!(caveats.contains("line 10"), "{caveats}");
}
