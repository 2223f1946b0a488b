//! Scrapers that misbehave (part of the hardening): a flood of idle
//! connections to /metrics must neither starve the run of descriptors (its
//! checkpoint and reports still get written) nor stop real scrapes for
//! longer than the header timeout.

mod common;
#[allow(unused_imports)]
use common::*;

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use tidepool::clock::Clock;
use tidepool::export::{HEADER_TIMEOUT, MAX_CONNECTIONS};

const RUN: &str = r#"
name = "scraped"
seed = 3
duration = "12s"
sample_interval = "1s"
hold = { dist = "constant", value = "1ms" }

[pool]
min = 1
max = 4

[[phase]]
name = "only"
duration = "12s"
arrival = { process = "poisson", rate = 200 }
"#;

/// Raises this process's descriptor limit to `want` (or its hard limit).
fn raise_fd_limit(want: u64) -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit write or read the one struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = want.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    limit.rlim_cur
}

/// The first read on `stream`: Ok(0) when the server closed it.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).expect("timeout");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
    }
}

#[test]
fn a_flood_of_idle_scrapers_neither_starves_the_run_nor_blocks_scrapes_for_long() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write(dir.path(), "w.toml", RUN);
    let out = dir.path().join("out");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tidepool"));
    command
        .args([
            "soak",
            &w,
            "--time",
            "wall",
            "--listen",
            &listen,
            "--out",
            out.to_str().expect("utf-8"),
            "-q",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 256, rlim_max: 256 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().expect("spawn tidepool");
    wait_until_up(port, "/metrics", "tidepool's /metrics");

    // Four times the child's whole descriptor limit, all idle.
    let flood = raise_fd_limit(2048).saturating_sub(64).min(1024) as usize;
    assert!(flood > 256 + MAX_CONNECTIONS, "this machine allows only {flood} sockets");
    let clock = Clock::system();
    let opened = clock.now();
    let mut idle: Vec<TcpStream> = (0..flood).filter_map(|_| TcpStream::connect(&listen).ok()).collect();
    assert!(idle.len() > 256, "only {} connections were accepted by the kernel", idle.len());

    // Every idle connection is closed by the server: those over the cap at
    // once, those served after the header timeout.
    let slack = Duration::from_secs(3);
    let mut open = 0;
    for stream in &mut idle {
        let left = (HEADER_TIMEOUT + slack).saturating_sub(clock.now() - opened);
        if !closed_within(stream, left.max(Duration::from_millis(1))) {
            open += 1;
        }
    }
    assert_eq!(open, 0, "{open} idle connections outlived the header timeout");
    drop(idle);
    // And scrapes work again.
    let body = wait_until_up(port, "/metrics", "/metrics after the flood");
    assert!(body.contains("tidepool_pool_acquires_total"), "{body}");

    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the run failed: {stderr}");
    let report = json(&out.join("report.json"));
    assert_eq!(report["interrupted"], false, "{report}");
    let samples = std::fs::read_to_string(out.join("samples.jsonl")).expect("samples");
    assert!(samples.lines().count() >= 11, "samples stopped: {} lines", samples.lines().count());
}
