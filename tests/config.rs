//! The agent configuration (issue #9): `tidepool config default | config
//! check`, errors naming file:line and key (exit 2), environment overrides,
//! and a live `Agent::from_config` serving /metrics with its global labels.
//!
//! The `metrics` recorder can be installed once per process: only
//! `agent_from_config_serves_labels_and_pool_settings` starts an agent here.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use common::{free_port, get, tidepool, wait_until_up, write};
use tidepool::config::AgentConfig;

fn check(path: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["config", "check", path])
        .envs(env.iter().copied())
        .output()
        .expect("tidepool runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_default_file_round_trips() {
    let out = tidepool(&["config", "default"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(text, AgentConfig::DEFAULT_FILE);
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/tidepool.toml"))
        .expect("config/tidepool.toml");
    assert_eq!(text, committed);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "tidepool.toml", &text);
    let (code, stdout, stderr) = check(&path, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with(&format!("{path}: ok\n")), "{stdout}");
    assert!(stdout.contains("min_size 4, max_size 16"), "{stdout}");
    assert!(stdout.contains("contended when over 1 % of acquires wait, every 15s"), "{stdout}");
    assert!(stdout.contains("every 3m") && stdout.contains("(400.0 MB)"), "{stdout}");
    assert!(stdout
        .contains("sample every 2s, baseline 30 samples, suppression on, auto-resolution (remedies) on"));
    assert!(stdout.contains("/metrics on 127.0.0.1:9464"), "{stdout}");

    // The documented defaults are the code's, and serializing them parses back.
    let parsed = AgentConfig::parse(&text, "tidepool.toml").expect("default parses");
    assert_eq!(parsed, AgentConfig::default());
    let serialized = toml::to_string(&parsed).expect("serializes");
    assert_eq!(AgentConfig::parse(&serialized, "s.toml").expect("round trip"), parsed);
    // An empty file is the defaults too.
    assert_eq!(AgentConfig::parse("", "e.toml").expect("empty"), AgentConfig::default());
}

#[test]
fn bad_files_are_exit_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, &str, &str)] = &[
        // Unknown keys and sections.
        ("[pool]\nmax_sise = 3\n", ":2:1: pool.max_sise: unknown field `max_sise`", "unknown key"),
        ("[pools]\n", ":1:2: pools: unknown field `pools`", "unknown section"),
        (
            "[monitoring]\npool_wait = { warning = 0.01, critical = 0.02, emergency = 0.05, fatal = 1 }\n",
            ":2:66: monitoring.pool_wait.fatal: unknown field `fatal`",
            "unknown key in an inline table",
        ),
        (
            "[export]\nlisten = \"127.0.0.1:1\"\npushgatway = \"http://x:1\"\n",
            ":3:1: export.pushgatway",
            "unknown key",
        ),
        // Wrong types.
        ("[pool]\nmax_size = \"big\"\n", ":2:12: pool.max_size: invalid type: string \"big\"", "wrong type"),
        (
            "[monitoring]\nsuppression = \"yes\"\n",
            ":2:15: monitoring.suppression: invalid type",
            "wrong type",
        ),
        (
            "[memory]\ncleanup_interval = \"soon\"\n",
            ":2:20: memory.cleanup_interval: `soon` is not a duration",
            "wrong type",
        ),
        ("[export]\nlisten = \"localhost\"\n", ":2:10: export.listen: invalid socket address", "wrong type"),
        // Out of range: the builders' own limits.
        ("[pool]\nmin_size = 2\nmax_size = 5000\n", ":3:1: pool.max_size: invalid pool size", "out of range"),
        ("[pool]\nmin = 0\n", ":2:1: pool.min_size: invalid pool size", "out of range (alias)"),
        (
            "[pool]\nmin_size = 20\n",
            ":2:1: pool.min_size: invalid pool size: min_size 20 and max_size 16",
            "min above the default max",
        ),
        (
            "[pool]\nacquire_timeout = \"2d\"\n",
            ":2:1: pool.acquire_timeout: invalid acquire_timeout",
            "out of range",
        ),
        (
            "[pool]\ntarget_utilization = 1.5\n",
            ":2:22: pool.target_utilization: 1.5 is out of range",
            "out of range",
        ),
        (
            "[memory]\ncleanup_interval = \"500ms\"\n",
            ":2:1: memory.cleanup_interval: must be between 1s and 24h",
            "out of range",
        ),
        (
            "[memory]\nmemory_pressure_threshold = 0\n",
            ":2:1: memory.memory_pressure_threshold",
            "out of range",
        ),
        (
            "[monitoring]\nbaseline_samples = 1\n",
            ":2:1: monitoring.baseline_samples: anomaly detector: warmup = 1",
            "out of range",
        ),
        (
            "[monitor]\nsample_interval = \"1ms\"\n",
            ":2:1: monitoring.sample_interval: must be at least 10ms",
            "out of range",
        ),
        (
            "[monitoring]\nstarvation = { warning = 0.9, critical = 0.5, emergency = 1 }\n",
            ":2:1: monitoring.starvation",
            "out of range",
        ),
        (
            "[export]\npushgateway = \"https://example.com\"\n",
            ":2:1: export.pushgateway: `https://example.com`",
            "out of range",
        ),
        (
            "[export.labels]\njob = \"\"\n",
            ":2:1: export.labels.job: the value must not be empty",
            "out of range",
        ),
    ];
    for (i, (text, wanted, what)) in cases.iter().enumerate() {
        let name = format!("c{i}.toml");
        let path = write(dir.path(), &name, text);
        let (code, stdout, stderr) = check(&path, &[]);
        assert_eq!(code, 2, "{what}: {text:?}: exit {code}, stdout {stdout}, stderr {stderr}");
        assert!(stdout.is_empty(), "{what}: {stdout}");
        assert!(
            stderr.starts_with(&format!("tidepool: error: {path}{wanted}")),
            "{what}: {text:?}: want `{path}{wanted}`, got {stderr}"
        );
    }
    let (code, _, stderr) = check(&dir.path().join("missing.toml").display().to_string(), &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.toml: cannot read"), "{stderr}");
}

#[test]
fn environment_overrides_change_values_and_bad_ones_name_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "agent.toml", "[pool]\nmin_size = 2\nmax_size = 8\n");
    let (code, stdout, stderr) = check(
        &path,
        &[
            ("TIDEPOOL_POOL__MAX_SIZE", "32"),
            ("TIDEPOOL_MONITORING__SAMPLE_INTERVAL", "5s"),
            ("TIDEPOOL_EXPORT__LABELS__INSTANCE", "web-7"),
            ("TIDEPOOL_LOG", "warn"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("min_size 2, max_size 32"), "{stdout}");
    assert!(stdout.contains("sample every 5s"), "{stdout}");
    assert!(stdout.contains("labels {instance=\"web-7\"}"), "{stdout}");
    assert!(stdout.contains("    TIDEPOOL_POOL__MAX_SIZE=32 (pool.max_size)\n"), "{stdout}");
    assert!(!stdout.contains("TIDEPOOL_LOG"), "not an override: {stdout}");

    for (var, value, wanted) in [
        (
            "TIDEPOOL_POOL__MAX_SIZE",
            "lots",
            "TIDEPOOL_POOL__MAX_SIZE: pool.max_size: invalid type: string \"lots\"",
        ),
        (
            "TIDEPOOL_POOL__MAX_SIZE",
            "1",
            "TIDEPOOL_POOL__MAX_SIZE: pool.max_size: invalid pool size: min_size 2 and max_size 1",
        ),
        ("TIDEPOOL_POOL__MAXSIZE", "3", "TIDEPOOL_POOL__MAXSIZE: pool.maxsize: unknown field `maxsize`"),
        ("TIDEPOOL_PUMP__MAX_SIZE", "3", "TIDEPOOL_PUMP__MAX_SIZE: unknown section `pump`"),
        (
            "TIDEPOOL_MEMORY__CLEANUP_INTERVAL",
            "0s",
            "TIDEPOOL_MEMORY__CLEANUP_INTERVAL: memory.cleanup_interval: must be greater than zero",
        ),
        (
            "TIDEPOOL_MONITORING__SUPPRESSION",
            "maybe",
            "TIDEPOOL_MONITORING__SUPPRESSION: monitoring.suppression: invalid type",
        ),
    ] {
        let (code, stdout, stderr) = check(&path, &[(var, value)]);
        assert_eq!(code, 2, "{var}={value}: {stdout}{stderr}");
        assert!(stderr.starts_with(&format!("tidepool: error: {wanted}")), "{var}={value}: {stderr}");
    }
}

#[test]
fn workload_files_and_the_agent_share_the_sections() {
    // The agent file's [monitoring] section is a workload's [monitor].
    let section = AgentConfig::DEFAULT_FILE
        .split("\n[monitoring]\n")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [monitoring] section");
    let workload = format!(
        "[pool]\nmin_size = 2\nmax_size = 8\n[[phase]]\nname = \"a\"\nduration = \"1m\"\n\
         arrival = {{ process = \"poisson\", rate = 5 }}\nhold = {{ dist = \"constant\", value = \"1ms\" }}\n\
         [monitoring]\n{section}\n"
    );
    let w = tidepool::sim::Workload::parse(&workload, "w.toml")
        .expect("the agent's sections parse in a workload");
    assert_eq!(w.monitor, AgentConfig::default().monitoring);
    assert_eq!((w.pool.settings.min_size, w.pool.settings.max_size), (2, 8));
    // `[monitor] sample_interval` is the run's sample interval.
    let w = tidepool::sim::Workload::parse(
        &workload.replace("sample_interval = \"2s\"", "sample_interval = \"5s\""),
        "w.toml",
    )
    .expect("parses");
    assert_eq!(w.sample_interval, Duration::from_secs(5));
    let both = format!(
        "sample_interval = \"3s\"\n{}",
        workload.replace("sample_interval = \"2s\"", "sample_interval = \"5s\"")
    );
    let err = tidepool::sim::Workload::parse(&both, "w.toml").expect_err("two sample intervals").to_string();
    assert!(err.contains("sample_interval: 5s differs from the top-level sample_interval (3s)"), "{err}");
    // And the agent reads a workload's names.
    let c = AgentConfig::parse("[pool]\nmin = 3\nmax = 9\n[monitor]\nsuppression = false\n", "a.toml")
        .expect("aliases");
    assert_eq!((c.pool.min_size, c.pool.max_size, c.monitoring.suppression), (3, 9, false));
    // Every example workload still parses.
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/workloads")).expect("workloads/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            tidepool::sim::Workload::load(&path).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// A one-request Pushgateway: returns the body of the first PUT.
fn fake_pushgateway() -> (u16, std::thread::JoinHandle<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("a push");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut request_line = String::new();
        reader.read_line(&mut request_line).expect("request line");
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("length");
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .expect("reply");
        (request_line, String::from_utf8_lossy(&body).into_owned())
    });
    (port, handle)
}

#[test]
fn agent_from_config_serves_labels_and_pool_settings() {
    let port = free_port();
    let (push_port, pushed) = fake_pushgateway();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "agent.toml",
        &format!(
            "[pool]\nmin_size = 2\nmax_size = 32\nacquire_timeout = \"2s\"\n\
             [memory]\ncleanup_interval = \"1s\"\nmemory_pressure_threshold = 1  # always under pressure\n\
             [monitoring]\nsample_interval = \"100ms\"\n\
             [export]\nlisten = \"127.0.0.1:{port}\"\npushgateway = \"http://127.0.0.1:{push_port}\"\n\
             [export.labels]\njob = \"checkout\"\ninstance = \"web-7\"\n"
        ),
    );
    let agent = tidepool::Agent::from_config(&path).expect("the agent starts");
    let pool = agent
        .pool_builder::<Vec<u8>>("orders")
        .sizing_policy(tidepool::pool::FixedPolicy) // the builder can still change a setting
        .factory(|| Ok(vec![0; 1024]))
        .build()
        .expect("pool");
    assert_eq!((pool.status().min, pool.status().max), (2, 32));

    let body = wait_until_up(port, "/metrics", "the agent's exporter");
    let max = body
        .lines()
        .find(|l| l.starts_with("tidepool_pool_size_max{") && l.contains("pool=\"orders\""))
        .unwrap_or_else(|| panic!("no tidepool_pool_size_max for orders:\n{body}"));
    assert!(max.contains("job=\"checkout\"") && max.contains("instance=\"web-7\""), "{max}");
    assert!(max.ends_with(" 32"), "{max}");
    assert!(body.contains("tidepool_alerts_active{"), "the monitor registered its metrics");

    // Memory pressure (threshold 1 byte): within a cleanup interval or two
    // the idle objects above min_size are trimmed.
    let guards: Vec<_> = (0..6).map(|_| pool.acquire_blocking().expect("acquire")).collect();
    drop(guards);
    assert_eq!(pool.status().size, 6);
    let mut trimmed = false;
    for _ in 0..60 {
        if pool.status().size == 2 {
            trimmed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(trimmed, "the memory cleanup did not trim: {:?}", pool.status());
    let (_, body) = get(port, "/metrics").expect("scrape");
    let cleanups = body
        .lines()
        .find(|l| l.starts_with("tidepool_agent_memory_cleanups_total"))
        .unwrap_or_else(|| panic!("no cleanup counter:\n{body}"));
    assert!(!cleanups.ends_with(" 0"), "{cleanups}");

    // Shutting down pushes once more, to the group job/instance.
    let report = agent.shutdown().expect("final push");
    assert!(report.remediations.iter().all(|r| r.action != "grow_pool"), "{report:?}");
    let (request, body) = pushed.join().expect("pushgateway thread");
    assert!(request.starts_with("PUT /metrics/job/checkout/instance/web-7 "), "{request}");
    assert!(body.contains("tidepool_pool_size_max{") && body.contains("pool=\"orders\""), "{body}");
}

/// `TIDEPOOL_POOL_MAX_SIZE` (one underscore between section and key) used
/// to be ignored without a word: it is an error saying how to write it.
#[test]
fn an_override_with_one_underscore_is_an_error_not_ignored() {
    use tidepool::config::AgentConfig;
    let e = AgentConfig::default().with_env([("TIDEPOOL_POOL_MAX_SIZE", "32")]).expect_err("near miss");
    let e = e.to_string();
    assert!(e.starts_with("TIDEPOOL_POOL_MAX_SIZE: ") && e.contains("TIDEPOOL_POOL__MAX_SIZE"), "{e}");
    let e =
        AgentConfig::default().with_env([("TIDEPOOL_MONITOR_SAMPLE_INTERVAL", "5s")]).expect_err("near miss");
    assert!(e.to_string().contains("TIDEPOOL_MONITOR__SAMPLE_INTERVAL"), "{e}");
    // Variables that are no overrides at all stay ignored.
    let config = AgentConfig::default()
        .with_env([("TIDEPOOL_LOG", "debug"), ("TIDEPOOL_REPLAY_CACHE", "0"), ("HOME", "/root")])
        .expect("not overrides");
    assert_eq!(config.pool.max_size, AgentConfig::default().pool.max_size);
}

/// A global label named like a histogram's `le` (or a label tidepool's own
/// series carry) would make the exposition invalid: refused at its line.
#[test]
fn reserved_label_names_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["le", "quantile", "pool"] {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, format!("[export]\nlabels = {{ {name} = \"x\" }}\n")).expect("write");
        let e = tidepool::config::AgentConfig::load(&path).expect_err(name).to_string();
        assert!(e.contains(&format!("export.labels.{name}: reserved")) && e.contains(":2:"), "{e}");
    }
}
