//! The binary's exit codes and messages for bad input.

use std::net::TcpListener;
use std::process::Command;

fn tidepool(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tidepool")).args(args).output().expect("tidepool runs")
}

#[test]
fn a_metrics_port_in_use_is_bad_input_exit_2_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = tidepool(&["demo", "--seconds", "1", "--listen", &addr]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&addr) && stderr.contains("--listen"), "{stderr}");
    assert!(out.stdout.is_empty(), "no summary for a run that did not happen");
}

#[test]
fn absurd_arguments_are_rejected_with_exit_2() {
    for args in [
        &["demo", "--seconds", "0"][..],
        &["demo", "--threads", "100000"],
        &["demo", "--listen", "nowhere"],
        &["nosuch"],
    ] {
        let out = tidepool(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}

#[test]
fn a_short_demo_without_metrics_prints_a_reconciled_summary() {
    let out = tidepool(&["demo", "--seconds", "1", "--threads", "2", "--no-metrics"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("workers' counts match the pool's"), "{stdout}");
    assert!(!stdout.contains("metrics     were served"), "{stdout}");
}
