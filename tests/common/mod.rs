//! Helpers shared by the integration tests: running the built binary,
//! writing and reading files, and starting real servers on loopback under
//! the rule that a missing server is a loud SKIP locally and a failure
//! under `CI=true`.

#![allow(dead_code)] // each test file uses its own subset

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

/// Runs the built `tidepool` binary to completion.
pub fn tidepool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidepool")).args(args).output().expect("tidepool runs")
}

/// Writes `text` to `dir/name`; returns the path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

/// Reads a JSON file.
pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Kills the child when the test ends, pass or fail.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `binary` in the repository's `.deps/bin` (what `make deps` fetches
/// privately: VictoriaMetrics), else on the PATH.
pub fn find(binary: &str) -> Option<PathBuf> {
    let private = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/bin").join(binary);
    if private.is_file() {
        return Some(private);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join(binary))
        .find(|path| path.is_file())
}

/// The first of `binaries` on the PATH, or `None` after a loud notice —
/// a panic under `CI=true`, where `make deps` must have installed it.
pub fn require(binaries: &[&str]) -> Option<PathBuf> {
    if let Some(path) = binaries.iter().find_map(|b| find(b)) {
        return Some(path);
    }
    let name = binaries.first().copied().unwrap_or("a server");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is not installed and CI=true: run `make deps`");
    }
    eprintln!("\n!!! SKIPPED: {name} not found on PATH; run `make deps`. This test did NOT run. !!!\n");
    None
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A minimal HTTP/1.0 GET on loopback; returns (status, body).
pub fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// Waits (10 s at most) for a 200 on `path`; returns the body.
pub fn wait_until_up(port: u16, path: &str, what: &str) -> String {
    wait_until(port, path, what, |_| true)
}

/// Polls `path` (10 s at most) until a 200 whose body satisfies `ok`;
/// returns that body, or panics naming `what` with the last answer.
pub fn wait_until(port: u16, path: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let mut last = String::from("(no answer)");
    for _ in 0..200 {
        if let Ok((200, body)) = get(port, path) {
            if ok(&body) {
                return body;
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not seen on 127.0.0.1:{port}{path} within 10 s; last answer:\n{last}");
}

/// Starts a real Prometheus with `config` on 127.0.0.1:`port`, its data
/// under `data`, and waits until it is ready.
pub fn start_prometheus(binary: &Path, config: &Path, data: &Path, port: u16) -> Killed {
    let server = Killed(
        Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    wait_until_up(port, "/-/ready", "prometheus");
    server
}

/// Percent-encodes a query-string value (PromQL, filters).
pub fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Starts `binary` with `args` (a server listening on 127.0.0.1:`port`)
/// and waits until `/-/ready` answers 200.
pub fn start_server(binary: &Path, args: &[String], port: u16, what: &str) -> Killed {
    let server = Killed(
        Command::new(binary)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}")),
    );
    wait_until_up(port, "/-/ready", what);
    server
}
