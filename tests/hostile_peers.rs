//! Sinks that misbehave (part of the hardening): a Pushgateway or
//! Alertmanager that trickles its answer a byte at a time, one that answers
//! without end, and URLs that carry header injections or passwords. The
//! client gives up within its deadline, reads a bounded answer, and never
//! sends or prints what it must not.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use tidepool::clock::Clock;
use tidepool::export::Pushgateway;

/// A server on loopback that reads one request, then calls `answer` on the
/// connection; returns its URL.
fn server(answer: impl Fn(&mut std::net::TcpStream) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 65536];
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let _ = stream.read(&mut buf);
            answer(&mut stream);
        }
    });
    url
}

#[test]
fn a_peer_that_trickles_its_answer_is_given_up_on_within_the_deadline() {
    let url = server(|stream| {
        // A head, then one byte of body every 100 ms, for a minute.
        if stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 600\r\n\r\n").is_err() {
            return;
        }
        for _ in 0..600 {
            if stream.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let push = Pushgateway::new(&url, "trickle", Some("t")).expect("valid URL");
    let clock = Clock::system();
    let start = clock.now();
    let e = push.push("x 1\n").expect_err("a trickle is no answer");
    let took = clock.now() - start;
    assert!(took >= Duration::from_secs(9) && took < Duration::from_secs(12), "gave up after {took:?}: {e}");
    assert!(e.to_string().contains("no answer within"), "{e}");
}

#[test]
fn an_endless_answer_is_read_up_to_its_cap() {
    let url = server(|stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
        let chunk = vec![b'x'; 65536];
        // 4 GiB if nobody stops reading.
        for _ in 0..65536 {
            if stream.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let push = Pushgateway::new(&url, "endless", Some("e")).expect("valid URL");
    let e = push.push("x 1\n").expect_err("an endless answer");
    assert!(e.to_string().contains("longer than 1048576 bytes"), "{e}");
}

#[test]
fn urls_with_line_breaks_or_credentials_are_refused_without_echoing_secrets() {
    let e = Pushgateway::new("http://127.0.0.1:9/\r\nX-Injected: 1", "j", None).expect_err("CR/LF");
    assert!(e.to_string().contains("control characters"), "{e}");
    let e = Pushgateway::new("http://ops:s3cret@127.0.0.1:9091", "j", None).expect_err("credentials");
    assert!(!e.to_string().contains("s3cret") && e.to_string().contains("***@"), "{e}");
    let e = tidepool::monitor::alertmanager::Alertmanager::new("http://ops:s3cret@127.0.0.1:9093")
        .expect_err("credentials");
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

/// An Alertmanager that accepts and never answers does not stall the
/// monitor: delivering only queues (the posting is another thread's), and
/// past the queue's bound events are dropped and counted.
#[test]
fn a_dead_alertmanager_never_stalls_the_monitor() {
    use tidepool::monitor::alertmanager::{Alertmanager, QUEUE};
    use tidepool::monitor::{AlertEvent, AlertSink, AlertState, Kind, Severity};

    let url = server(|_stream| std::thread::sleep(Duration::from_secs(3600)));
    let mut sink = Alertmanager::new(&url).expect("valid URL");
    let event = |i: usize| AlertEvent {
        at: i as f64,
        kind: Kind::PoolWait,
        subject: "p".into(),
        state: AlertState::Firing,
        severity: Severity::Warning,
        previous: Severity::None,
        value: 0.1,
        expected: 0.01,
        summary: "stalled sink".into(),
    };
    let clock = Clock::system();
    let start = clock.now();
    for i in 0..QUEUE + 50 {
        sink.deliver(&event(i));
    }
    let took = clock.now() - start;
    assert!(took < Duration::from_secs(2), "delivering {} events took {took:?}", QUEUE + 50);
    // One event is with the thread, QUEUE wait in line: the rest dropped.
    assert!(sink.dropped() >= 49 && sink.dropped() <= 50, "dropped {}", sink.dropped());
    // Not waiting for the stalled peer to time out every queued event.
    std::mem::forget(sink);
}

/// A Pushgateway that accepts and never answers, during a wall-clock run:
/// the live push (every 10 s) is another thread's, so samples keep coming
/// on time; Ctrl-C ends the run with its reports, and a second Ctrl-C ends
/// the final push it is still waiting on.
#[test]
fn a_dead_pushgateway_neither_delays_samples_nor_holds_the_end_past_a_second_ctrl_c() {
    use std::process::{Command, Stdio};

    let url = server(|_stream| std::thread::sleep(Duration::from_secs(3600)));
    let dir = tempfile::tempdir().expect("tempdir");
    let w = dir.path().join("w.toml");
    std::fs::write(
        &w,
        "name = \"pushed\"\nduration = \"60s\"\nsample_interval = \"500ms\"\nhold = { dist = \"constant\", value = \"1ms\" }\n\
         [pool]\nmax = 4\n[[phase]]\nname = \"p\"\nduration = \"60s\"\narrival = { process = \"poisson\", rate = 100 }\n",
    )
    .expect("workload");
    let out = dir.path().join("out");
    let clock = Clock::system();
    let start = clock.now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["soak", w.to_str().expect("utf-8"), "--time", "wall", "--no-metrics", "--pushgateway", &url])
        .args(["--out", out.to_str().expect("utf-8"), "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let lines = || std::fs::read_to_string(out.join("samples.jsonl")).map(|t| t.lines().count()).unwrap_or(0);
    // 13 s of samples, past the first live push at 10 s: a push on the
    // monitor's thread held them up to its 10 s deadline.
    while lines() < 26 && clock.now() - start < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let at = clock.now() - start;
    assert!(at < Duration::from_secs(18), "26 samples (13 s) took {at:?}");
    let signal = || {
        let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
        assert!(ok.success());
    };
    signal();
    // The reports are written, then the final push waits on the dead peer.
    let signalled = clock.now();
    while !out.join("report.json").exists() && clock.now() - signalled < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(out.join("report.json").exists(), "no report 5 s after Ctrl-C");
    signal();
    let again = clock.now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if clock.now() - again > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("a second Ctrl-C did not end the final push");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("report"))
            .expect("json");
    assert_eq!(report["interrupted"], true);
}
