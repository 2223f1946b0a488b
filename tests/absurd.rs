//! Absurd values — rates of 1e15, durations of 1000 years, pool sizes
//! beyond the cap, NaN, negatives — are refused with exit 2, a message
//! naming the file, line and field (or the flag), and no report written.
//! Each case runs the real binary under a 20 s guard: a case that hangs
//! fails instead of hanging the suite.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The workload every file case edits. Its line numbers are in the cases.
const BASE: &str = r#"name = "absurd"
seed = 1
duration = "10s"
sample_interval = "1s"
hold = { dist = "exponential", mean = "5ms" }

[pool]
min = 2
max = 8
acquire_timeout = "1s"

[[phase]]
name = "p"
duration = "10s"
arrival = { process = "poisson", rate = 100 }
"#;

/// Where appended text starts.
const APPENDED: usize = 16;

/// A short recorded trace and rate series.
const TRACE: &str = "{\"t\":0,\"hold\":0.01}\n{\"t\":1,\"hold\":0.02}\n{\"t\":2,\"hold\":0.01}\n";
const SERIES: &str = "timestamp,value\n0,10\n1,10\n2,10\n";

const GUARD: Duration = Duration::from_secs(20);

struct Run {
    code: Option<i32>,
    stderr: String,
    timed_out: bool,
}

/// Runs `tidepool args` (with `{dir}` replaced by `dir`), killing it after [`GUARD`].
fn run(dir: &Path, args: &[String]) -> Run {
    let args: Vec<String> = args.iter().map(|a| a.replace("{dir}", &dir.display().to_string())).collect();
    let stderr_path = dir.join("stderr.txt");
    let stderr_file = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_file)
        .spawn()
        .expect("tidepool starts");
    // Polls every 20 ms, GUARD's worth of them (sleeps, not a clock read).
    let mut result = None;
    for _ in 0..GUARD.as_millis() / 20 {
        if let Some(status) = child.try_wait().expect("wait") {
            result = Some(status.code());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, timed_out) = match result {
        Some(code) => (code, false),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            (None, true)
        }
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    Run { code, stderr, timed_out }
}

/// The base workload with `from` replaced by `to` (which must occur) and `extra` appended.
fn workload(from: &str, to: &str, extra: &str) -> String {
    assert!(BASE.contains(from), "`{from}` is not in the base workload");
    let mut text = BASE.replacen(from, to, 1);
    text.push_str(extra);
    text
}

/// What a case must do.
enum Want {
    /// Exit 2, stderr containing every string, nothing in `{dir}/out`.
    Refused(Vec<String>),
    /// Exit 0.
    Accepted,
}

struct Case {
    name: String,
    /// Files to write into the case's directory: (name, text).
    files: Vec<(&'static str, String)>,
    args: Vec<String>,
    want: Want,
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A workload-file case, checked both by `validate` and by `soak`: exit 2
/// naming `w.toml`, the line and the field.
fn file_case(cases: &mut Vec<Case>, name: &str, text: String, line: usize, field: &str) {
    let want = || Want::Refused(vec![format!("w.toml:{line}:"), format!(" {field}: ")]);
    cases.push(Case {
        name: format!("validate: {name}"),
        files: vec![("w.toml", text.clone())],
        args: args(&["validate", "{dir}/w.toml"]),
        want: want(),
    });
    cases.push(Case {
        name: format!("soak: {name}"),
        files: vec![("w.toml", text)],
        args: args(&["soak", "{dir}/w.toml", "--out", "{dir}/out", "-q"]),
        want: want(),
    });
}

/// A flag case: `args` refused with exit 2 and a message naming `flag`.
fn flag_case(cases: &mut Vec<Case>, list: &[&str], flag: &str) {
    cases.push(Case {
        name: list.join(" "),
        files: vec![("w.toml", BASE.into()), ("t.jsonl", TRACE.into()), ("s.csv", SERIES.into())],
        args: args(list),
        want: Want::Refused(vec![flag.into()]),
    });
}

/// A data-file case (series CSV or trace): exit 2 naming `file`, `line` and `field`.
fn data_case(cases: &mut Vec<Case>, file: &'static str, text: &str, line: usize, field: &str) {
    for cmd in [vec!["validate", "{dir}/FILE"], vec!["replay", "{dir}/FILE", "--out", "{dir}/out", "-q"]] {
        let list: Vec<String> = cmd.iter().map(|a| a.replace("FILE", file)).collect();
        cases.push(Case {
            name: format!("{} {file}: {}", cmd[0], text.lines().last().unwrap_or_default()),
            files: vec![(file, text.into())],
            args: list,
            want: Want::Refused(vec![format!("{file}:{line}:"), format!(" {field}: ")]),
        });
    }
}

fn cases() -> Vec<Case> {
    let mut c = Vec::new();
    let rate = |r: &str| workload("rate = 100", &format!("rate = {r}"), "");
    // Rates.
    for r in ["1e15", "inf", "nan", "-5", "0", "-inf", "1e300"] {
        file_case(&mut c, &format!("poisson rate {r}"), rate(r), 15, "arrival");
    }
    for (from, to) in [("0", "1e15"), ("-1", "10"), ("nan", "10"), ("10", "inf")] {
        let text = workload(
            "arrival = { process = \"poisson\", rate = 100 }",
            &format!("arrival = {{ process = \"ramp\", from = {from}, to = {to} }}"),
            "",
        );
        file_case(&mut c, &format!("ramp {from} -> {to}"), text, 15, "arrival");
    }
    // A rate that is legal alone but too much for the run.
    file_case(
        &mut c,
        "1e9/s for 30 days",
        workload("rate = 100", "rate = 1e9", "").replace("duration = \"10s\"", "duration = \"30d\""),
        3,
        "duration",
    );
    // A rate whose waiting operations alone would not fit in memory
    // (1e9/s for 1 s into 8 objects: 1e9 waiters of ~200 B).
    file_case(
        &mut c,
        "1e9/s waiting in line",
        workload("rate = 100", "rate = 1e9", "").replace("\"10s\"", "\"1s\""),
        15,
        "arrival",
    );
    // Legal in virtual time, more than a wall-clock dispatcher can start.
    c.push(Case {
        name: "wall: 3e6 starts a second".into(),
        files: vec![(
            "w.toml",
            workload("rate = 100", "rate = 3e6", "")
                .replace("acquire_timeout = \"1s\"", "acquire_timeout = \"1ms\""),
        )],
        args: args(&["soak", "{dir}/w.toml", "--time", "wall", "--no-metrics", "--out", "{dir}/out", "-q"]),
        want: Want::Refused(vec!["phase `p`: arrival".into(), "at most 2e6 a second".into()]),
    });
    // Closed loops.
    for w in ["0", "-1", "100000000", "1e3"] {
        let text = workload(
            "arrival = { process = \"poisson\", rate = 100 }",
            &format!("arrival = {{ process = \"closed\", workers = {w} }}"),
            "",
        );
        file_case(&mut c, &format!("closed workers {w}"), text, 15, "arrival");
    }
    // Durations.
    for (d, line) in [
        ("\"1000y\"", 3),
        ("\"31d\"", 3),
        ("\"99999999999999999999h\"", 3),
        ("1e300", 3),
        ("-5", 3),
        ("nan", 3),
        ("inf", 3),
        ("0", 3),
        ("\"0s\"", 3),
        ("\"ten\"", 3),
    ] {
        let text = workload("duration = \"10s\"\nsample", &format!("duration = {d}\nsample"), "");
        file_case(&mut c, &format!("duration = {d}"), text, line, "duration");
    }
    for d in ["\"1000y\"", "1e300", "-1", "nan", "0"] {
        let text = workload("name = \"p\"\nduration = \"10s\"", &format!("name = \"p\"\nduration = {d}"), "");
        file_case(&mut c, &format!("phase duration = {d}"), text, 14, "duration");
    }
    // Sampling.
    for (s, why) in [
        ("0", "zero"),
        ("\"1ns\"", "1ns"),
        ("\"1000y\"", "1000y"),
        ("\"11s\"", "longer than the run"),
        ("nan", "NaN"),
    ] {
        let text = workload("sample_interval = \"1s\"", &format!("sample_interval = {s}"), "");
        file_case(&mut c, &format!("sample_interval {why}"), text, 4, "sample_interval");
    }
    // Pool sizes and timeouts.
    for (min, max, line, field) in [
        ("0", "8", 8, "min"),
        ("2", "0", 9, "max"),
        ("9", "8", 9, "max"),
        ("2", "4097", 9, "max"),
        ("2", "1000000000000", 9, "max"),
        ("-1", "8", 8, "min"),
        ("2", "9223372036854775807", 9, "max"),
        ("2", "1e3", 9, "max"),
    ] {
        let text = workload("min = 2\nmax = 8", &format!("min = {min}\nmax = {max}"), "");
        file_case(&mut c, &format!("pool min {min} max {max}"), text, line, field);
    }
    for t in ["0", "\"0s\"", "\"1000y\"", "\"25h\"", "-1", "nan", "\"1us\""] {
        let text = workload("acquire_timeout = \"1s\"", &format!("acquire_timeout = {t}"), "");
        file_case(&mut c, &format!("acquire_timeout {t}"), text, 10, "acquire_timeout");
    }
    for (key, value) in [
        ("max_idle_time", "\"1000y\""),
        ("max_lifetime", "\"-1s\""),
        ("maintenance_interval", "\"1ns\""),
        ("sizing_interval", "\"1000y\""),
        ("leak_threshold", "nan"),
        ("target_utilization", "0"),
        ("target_utilization", "1.5"),
        ("target_utilization", "nan"),
    ] {
        let text = workload(
            "acquire_timeout = \"1s\"\n",
            &format!("acquire_timeout = \"1s\"\n{key} = {value}\n"),
            "",
        );
        file_case(&mut c, &format!("pool {key} = {value}"), text, 11, key);
    }
    // Hold distributions (line 5, the inline table).
    for hold in [
        r#"{ dist = "exponential", mean = "1000y" }"#,
        r#"{ dist = "exponential", mean = -1 }"#,
        r#"{ dist = "exponential", mean = nan }"#,
        r#"{ dist = "constant", value = "1000y" }"#,
        r#"{ dist = "lognormal", median = "5ms", sigma = nan }"#,
        r#"{ dist = "lognormal", median = "5ms", sigma = -1 }"#,
        r#"{ dist = "lognormal", median = "5ms", sigma = 1e300 }"#,
        r#"{ dist = "pareto", scale = "5ms", shape = 0 }"#,
        r#"{ dist = "pareto", scale = "5ms", shape = nan }"#,
        r#"{ dist = "weibull", scale = "5ms", shape = -2 }"#,
        r#"{ dist = "normal", mean = "5ms", std_dev = "1000y" }"#,
        r#"{ dist = "normal", mean = "5ms", std_dev = "1ms", min = "9ms", max = "1ms" }"#,
    ] {
        let text = workload(r#"{ dist = "exponential", mean = "5ms" }"#, hold, "");
        file_case(&mut c, &format!("hold {hold}"), text, 5, "hold");
    }
    // A finite but absurd mean: lognormal sigma 30 (e^450 times the median).
    let text = workload(
        r#"{ dist = "exponential", mean = "5ms" }"#,
        r#"{ dist = "lognormal", median = "5ms", sigma = 30 }"#,
        "",
    );
    file_case(&mut c, "hold lognormal sigma 30", text, 5, "hold");
    let text = workload(
        "acquire_timeout = \"1s\"\n",
        "acquire_timeout = \"1s\"\ncreate_time = { dist = \"lognormal\", median = \"5ms\", sigma = 30 }\n",
        "",
    );
    file_case(&mut c, "create_time lognormal sigma 30", text, 11, "create_time");
    // Faults.
    let fault = |body: &str| workload("", "", &format!("\n[[fault]]\n{body}\n"));
    for (body, line, field) in [
        ("kind = \"stall\"\nat = \"1000y\"", 2, "at"),
        ("kind = \"stall\"\nat = -1", 2, "at"),
        ("kind = \"stall\"\nat = nan", 2, "at"),
        ("kind = \"stall\"\nduration = \"1000y\"", 2, "duration"),
        ("kind = \"stall\"\nduration = 0", 2, "duration"),
        ("kind = \"leak\"\nbytes_per_op = -1", 2, "bytes_per_op"),
        ("kind = \"leak\"\nbytes_per_op = nan", 2, "bytes_per_op"),
        ("kind = \"leak\"\nbytes_per_op = \"1000000GiB\"", 2, "bytes_per_op"),
        ("kind = \"leak\"\nbytes_per_op = 9223372036854775807", 2, "bytes_per_op"),
        ("kind = \"slow\"\nfactor = 0", 2, "factor"),
        ("kind = \"slow\"\nfactor = -2", 2, "factor"),
        ("kind = \"slow\"\nfactor = nan", 2, "factor"),
        ("kind = \"slow\"\nfactor = inf", 2, "factor"),
        ("kind = \"slow\"\nfactor = 1e300", 2, "factor"),
    ] {
        file_case(
            &mut c,
            &format!("fault {}", body.replace('\n', ", ")),
            fault(body),
            APPENDED + 1 + line,
            field,
        );
    }
    // SLO gates.
    let slo = |body: &str| workload("", "", &format!("\n[slo]\n{body}\n"));
    for (body, field) in [
        ("max_error_rate = 1.5", "max_error_rate"),
        ("max_error_rate = -0.1", "max_error_rate"),
        ("max_error_rate = nan", "max_error_rate"),
        ("max_wait_p99 = \"1000y\"", "max_wait_p99"),
        ("max_wait_p99 = -1", "max_wait_p99"),
        ("max_timeouts = -1", "max_timeouts"),
        ("max_timeouts = 1e3", "max_timeouts"),
        ("max_memory_growth_per_hour = -5", "max_memory_growth_per_hour"),
        ("max_memory_growth_per_hour = nan", "max_memory_growth_per_hour"),
        ("max_alert_severity = \"apocalyptic\"", "max_alert_severity"),
    ] {
        file_case(&mut c, &format!("slo {body}"), slo(body), APPENDED + 2, field);
    }
    // The monitor.
    let monitor = |body: &str| workload("", "", &format!("\n[monitor]\n{body}\n"));
    for (body, field) in [
        ("pool_wait = { warning = nan, critical = 1, emergency = 2 }", "pool_wait"),
        ("memory = { warning = -1, critical = 1, emergency = 2 }", "memory"),
        ("starvation = { warning = 0.9, critical = 0.5, emergency = 1 }", "starvation"),
        ("lock_contention = { warning = 1, critical = 2, emergency = inf }", "lock_contention"),
        ("leak_budget_bytes_per_hour = -1", "leak_budget_bytes_per_hour"),
        ("leak_budget_bytes_per_hour = nan", "leak_budget_bytes_per_hour"),
        ("leak_warmup_seconds = inf", "leak_warmup_seconds"),
        ("recover_within_samples = 0", "recover_within_samples"),
        ("recover_within_samples = -1", "recover_within_samples"),
        ("stability = { confirm_samples = 0, clear_samples = 1, hysteresis = 0.5 }", "stability"),
        ("stability = { confirm_samples = 1, clear_samples = 1, hysteresis = nan }", "hysteresis"),
        ("cooldowns = { warning = -1, critical = 1 }", "cooldowns"),
    ] {
        file_case(&mut c, &format!("monitor {body}"), monitor(body), APPENDED + 2, field);
    }
    // Seeds at the limits of a u64 are accepted; beyond them, refused.
    for seed in ["0", "9223372036854775807", "18446744073709551615"] {
        c.push(Case {
            name: format!("seed = {seed} is accepted"),
            files: vec![("w.toml", workload("seed = 1", &format!("seed = {seed}"), ""))],
            args: args(&["soak", "{dir}/w.toml", "--out", "{dir}/out", "-q"]),
            want: Want::Accepted,
        });
    }
    for seed in ["-1", "1e3", "nan", "18446744073709551616"] {
        file_case(
            &mut c,
            &format!("seed = {seed}"),
            workload("seed = 1", &format!("seed = {seed}"), ""),
            2,
            "seed",
        );
    }
    for seed in ["0", "18446744073709551615"] {
        c.push(Case {
            name: format!("--seed {seed} is accepted"),
            files: vec![("w.toml", BASE.into()), ("t.jsonl", TRACE.into())],
            args: args(&["soak", "{dir}/w.toml", "--seed", seed, "--out", "{dir}/out", "-q"]),
            want: Want::Accepted,
        });
        c.push(Case {
            name: format!("replay --seed {seed} is accepted"),
            files: vec![("t.jsonl", TRACE.into())],
            args: args(&["replay", "{dir}/t.jsonl", "--seed", seed, "--out", "{dir}/out", "-q"]),
            want: Want::Accepted,
        });
    }

    // Flags of `soak`.
    let soak = ["soak", "{dir}/w.toml", "--out", "{dir}/out", "-q"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v: Vec<&'static str> = soak.to_vec();
        v.extend_from_slice(extra);
        v
    };
    for (extra, flag) in [
        (&["--seed", "abc"][..], "--seed"),
        (&["--seed", "-1"][..], "--seed"),
        (&["--seed", "18446744073709551616"][..], "--seed"),
        (&["--seed", "1e3"][..], "--seed"),
        (&["--duration", "1000y"][..], "--duration"),
        (&["--duration", "0s"][..], "--duration"),
        (&["--duration", "-5s"][..], "--duration"),
        (&["--duration", "nan"][..], "--duration"),
        (&["--record-trace", "{dir}/t.out", "--record-every", "0"][..], "--record-every"),
        (&["--time", "wall", "--no-metrics", "--compress", "0"][..], "--compress"),
        (&["--time", "wall", "--no-metrics", "--compress", "0.5"][..], "--compress"),
        (&["--time", "wall", "--no-metrics", "--compress", "NaN"][..], "--compress"),
        (&["--time", "wall", "--no-metrics", "--compress", "inf"][..], "--compress"),
        (&["--time", "wall", "--no-metrics", "--compress", "-3"][..], "--compress"),
        (&["--time", "wall", "--no-metrics", "--compress", "1e300"][..], "--compress"),
        (&["--time", "wall", "--no-metrics", "--workers", "0"][..], "--workers"),
        (&["--time", "wall", "--no-metrics", "--workers", "99999999999"][..], "--workers"),
        (&["--time", "wall", "--no-metrics", "--workers", "-1"][..], "--workers"),
        (&["--time", "wall", "--no-metrics", "--late-after", "0s"][..], "--late-after"),
        (&["--time", "wall", "--no-metrics", "--late-after", "1000y"][..], "--late-after"),
        (&["--time", "wall", "--no-metrics", "--late-after", "nan"][..], "--late-after"),
        (&["--compress", "10"][..], "--compress"), // wall-clock flag in virtual time
    ] {
        flag_case(&mut c, &with(extra), flag);
    }
    // Workloads that are fine for a second but absurd when stretched to 30 days.
    let short = |rate: &str, phase: &str| {
        workload("rate = 100", &format!("rate = {rate}"), "")
            .replace("duration = \"10s\"\nsample", "duration = \"1s\"\nsample")
            .replace("name = \"p\"\nduration = \"10s\"", &format!("name = \"p\"\nduration = \"{phase}\""))
    };
    for (rate, phase, why) in [("5e6", "1h", "operations expected"), ("1", "1s", "phase instances")] {
        c.push(Case {
            name: format!("soak --duration 30d, rate {rate}, phase {phase}"),
            files: vec![("w.toml", short(rate, phase))],
            args: args(&["soak", "{dir}/w.toml", "--duration", "30d", "--out", "{dir}/out", "-q"]),
            want: Want::Refused(vec!["--duration".into(), why.into()]),
        });
    }

    // Flags of `replay`.
    let replay_trace = ["replay", "{dir}/t.jsonl", "--out", "{dir}/out", "-q"];
    let replay_series = ["replay", "{dir}/s.csv", "--out", "{dir}/out", "-q"];
    for (base, extra, flag) in [
        (&replay_trace, &["--speed", "0"][..], "--speed"),
        (&replay_trace, &["--speed", "NaN"][..], "--speed"),
        (&replay_trace, &["--speed", "inf"][..], "--speed"),
        (&replay_trace, &["--speed", "-2"][..], "--speed"),
        (&replay_trace, &["--speed", "1e300"][..], "--speed"),
        (&replay_trace, &["--loop", "0"][..], "--loop"),
        (&replay_trace, &["--loop", "4294967296"][..], "--loop"),
        (&replay_trace, &["--loop", "1000001"][..], "--loop"),
        (&replay_trace, &["--loop", "1000000", "--speed", "0.001"][..], "--loop"), // 2e9 s
        (&replay_trace, &["--max-idle-gap", "0s"][..], "--max-idle-gap"),
        (&replay_trace, &["--max-idle-gap", "1000y"][..], "--max-idle-gap"),
        (&replay_trace, &["--max-idle-gap", "nan"][..], "--max-idle-gap"),
        (&replay_trace, &["--hold", "1000y"][..], "--hold"),
        (&replay_trace, &["--hold", "0s"][..], "--hold"),
        (&replay_trace, &["--seed", "abc"][..], "--seed"),
        (&replay_trace, &["--seed", "-1"][..], "--seed"),
        (&replay_series, &["--scale", "0"][..], "--scale"),
        (&replay_series, &["--scale", "NaN"][..], "--scale"),
        (&replay_series, &["--scale", "inf"][..], "--scale"),
        (&replay_series, &["--scale", "-1"][..], "--scale"),
        (&replay_series, &["--scale", "1e300"][..], "--scale"),
        (&replay_series, &["--scale", "1e300", "--unit", "per-second"][..], "--scale"),
        (&replay_series, &["--time", "wall", "--no-metrics", "--compress", "1e300"][..], "--compress"),
        (&replay_series, &["--time", "wall", "--no-metrics", "--workers", "0"][..], "--workers"),
        (&replay_series, &["--time", "wall", "--no-metrics", "--late-after", "1000y"][..], "--late-after"),
    ] {
        let mut list: Vec<&str> = base.to_vec();
        list.extend_from_slice(extra);
        flag_case(&mut c, &list, flag);
    }

    // Series and traces with absurd rows.
    data_case(&mut c, "s.csv", "0,10\n1,1e15\n2,10\n", 0, "value");
    data_case(&mut c, "s.csv", "0,10\n1,NaN\n2,10\n", 2, "value");
    data_case(&mut c, "s.csv", "0,10\n1,-5\n2,10\n", 2, "value");
    data_case(&mut c, "s.csv", "0,10\n1,inf\n", 2, "value");
    data_case(&mut c, "s.csv", "0,10\n31557600000,10\n", 0, "timestamp"); // 1000 years later
    data_case(&mut c, "s.csv", "0,10\n1e300,10\n", 0, "timestamp");
    data_case(&mut c, "s.csv", "0,10\nnan,10\n", 2, "timestamp");
    data_case(&mut c, "s.csv", "5,10\n1,10\n", 2, "timestamp");
    data_case(&mut c, "t.jsonl", "{\"t\":0,\"hold\":1e30}\n", 1, "hold");
    data_case(&mut c, "t.jsonl", "{\"t\":0,\"hold\":-1}\n", 1, "hold");
    data_case(&mut c, "t.jsonl", "{\"t\":0,\"hold\":0.01}\n{\"t\":31557600000,\"hold\":0.01}\n", 2, "t");
    data_case(&mut c, "t.jsonl", "{\"t\":-1,\"hold\":0.01}\n", 1, "t");
    data_case(&mut c, "t.jsonl", "{\"t\":1,\"hold\":0.01}\n{\"t\":0,\"hold\":0.01}\n", 2, "t");
    // A series named by a workload file: the same limits, through the workload.
    c.push(Case {
        name: "series phase with 1e15 per row".into(),
        files: vec![
            ("s.csv", "0,10\n1,1e15\n2,10\n".into()),
            (
                "w.toml",
                workload(
                    "arrival = { process = \"poisson\", rate = 100 }",
                    "arrival = { process = \"series\", file = \"s.csv\" }",
                    "",
                ),
            ),
        ],
        args: args(&["soak", "{dir}/w.toml", "--out", "{dir}/out", "-q"]),
        want: Want::Refused(vec!["w.toml:".into(), "operations expected".into()]),
    });

    // `detect`: rows it refuses (rows out of time order are scored, with a
    // warning: tests/detect.rs), whether or not it could write, and its one flag.
    for (text, line, field) in [("0,1\nabc,1\n", 2, "timestamp"), ("0,1\n1,ten\n", 2, "value")] {
        c.push(Case {
            name: format!("detect {text:?}"),
            files: vec![("d.csv", text.into())],
            args: args(&["detect", "{dir}/d.csv", "--out", "{dir}/out/scores.csv"]),
            want: Want::Refused(vec![format!("d.csv:{line}:"), format!(" {field}: ")]),
        });
    }
    flag_case(&mut c, &["detect", "{dir}/s.csv"], "--out");
    c
}

#[test]
fn absurd_values_are_refused_with_a_message_and_exit_2() {
    let cases = cases();
    let total = cases.len();
    let failures = std::sync::Mutex::new(Vec::<String>::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    // Two runners: the cases are short, and a hung one costs its runner 20 s.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                if let Err(why) = check(case) {
                    failures.lock().expect("lock").push(format!("[{}] {}", case.name, why));
                }
            });
        }
    });
    let failures = failures.into_inner().expect("lock");
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
}

fn check(case: &Case) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path();
    for (name, text) in &case.files {
        common::write(dir, name, text);
    }
    let r = run(dir, &case.args);
    if r.timed_out {
        return Err(format!("still running after {GUARD:?}: killed"));
    }
    if r.stderr.contains("panicked") {
        return Err(format!("panicked: {}", r.stderr.trim()));
    }
    match &case.want {
        Want::Accepted => {
            if r.code != Some(0) {
                return Err(format!("exit {:?}, want 0: {}", r.code, r.stderr.trim()));
            }
        }
        Want::Refused(needles) => {
            if r.code != Some(2) {
                return Err(format!("exit {:?}, want 2; stderr: {}", r.code, r.stderr.trim()));
            }
            if let Some(missing) = needles.iter().find(|n| !r.stderr.contains(n.as_str())) {
                return Err(format!("stderr lacks `{missing}`: {}", r.stderr.trim()));
            }
            let out = dir.join("out");
            let written: Vec<String> = std::fs::read_dir(&out)
                .map(|d| {
                    d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
                })
                .unwrap_or_default();
            if !written.is_empty() {
                return Err(format!("wrote {written:?} into {} although refused", out.display()));
            }
        }
    }
    Ok(())
}
