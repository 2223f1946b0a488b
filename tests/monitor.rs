//! The monitor: each bottleneck kind fires at the right severity in a
//! scenario built for it, a fault-free daily cycle fires nothing, the
//! lifecycle rules (suppression, escalation, resolution) hold, a remedy
//! ends a starvation alert, and a real Alertmanager (Debian's
//! `prometheus-alertmanager`) receives and resolves an alert of a real run.

mod common;
#[allow(unused_imports)]
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tidepool::monitor::{
    actions, sampler::Sampler, AlertState, Combine, Kind, Monitor, MonitorConfig, Reading, Severity,
    Stability,
};

fn events(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("alerts.jsonl"))
        .expect("alerts.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// Runs a soak of `workload` (TOML) in virtual time; returns its out dir.
fn soak(dir: &Path, name: &str, workload: &str) -> (PathBuf, serde_json::Value) {
    let w = write(dir, &format!("{name}.toml"), workload);
    let out = dir.join(name);
    let o = tidepool(&["soak", &w, "--out", out.to_str().expect("utf-8"), "-q"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{o:?}");
    let report = json(&out.join("report.json"));
    (out, report)
}

const STEADY: &str = r#"
seed = 9
duration = "40m"
hold = { dist = "exponential", mean = "5ms" }
[pool]
min = 4
max = 8
acquire_timeout = "5s"
[[phase]]
name = "steady"
duration = "40m"
arrival = { process = "poisson", rate = 200 }
"#;

#[test]
fn a_holder_stall_fires_starvation_at_emergency_and_resolves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stalled = format!("{STEADY}\n[[fault]]\nkind = \"stall\"\nat = \"20m\"\nduration = \"30s\"\n");
    let (out, report) = soak(dir.path(), "stall", &stalled);
    let ev = events(&out);
    let starvation: Vec<_> = ev.iter().filter(|e| e["kind"] == "starvation").collect();
    assert!(!starvation.is_empty(), "no starvation alert: {ev:?}");
    // Every holder stuck: in_use / max = 100 %, past the 98 % floor.
    let peak = report["alerts"]["episodes"]
        .as_array()
        .expect("episodes")
        .iter()
        .filter(|e| e["kind"] == "starvation")
        .map(|e| e["peak"].as_str().expect("peak").to_string())
        .collect::<Vec<_>>();
    assert_eq!(peak, vec!["emergency"], "{peak:?}");
    let fired = starvation[0]["at"].as_f64().expect("at");
    assert!((1200.0..=1240.0).contains(&fired), "fired within the stall: {fired}");
    assert!(starvation.iter().any(|e| e["state"] == "resolved"), "resolved after the stall: {starvation:?}");
    // The same holds for the wait: callers queue behind the stall.
    assert!(ev.iter().any(|e| e["kind"] == "pool_wait" && e["state"] == "firing"), "{ev:?}");
    // And nothing before the stall.
    assert!(ev.iter().all(|e| e["at"].as_f64().expect("at") >= 1200.0), "{ev:?}");
    let md = std::fs::read_to_string(out.join("report.md")).expect("md");
    assert!(md.contains("## Alerts") && md.contains("starvation"), "{md}");
}

#[test]
fn a_5_mb_per_hour_leak_is_growing_within_2_hours_and_none_is_a_plateau() {
    let dir = tempfile::tempdir().expect("tempdir");
    let two_hours = STEADY.replace("\"40m\"", "\"2h\"").replace("rate = 200", "rate = 100");
    // 100 ops/s × 14 bytes = 5.04 MB per hour.
    let leaky = format!("{two_hours}\n[[fault]]\nkind = \"leak\"\nat = \"0s\"\nbytes_per_op = 14\n");
    let (_, report) = soak(dir.path(), "leak", &leaky);
    let leak = &report["alerts"]["leak"];
    assert_eq!(leak["verdict"], "growing", "{leak}");
    let slope = leak["slope_bytes_per_hour"].as_f64().expect("slope");
    assert!((slope - 5.04e6).abs() < 0.5e6, "slope {slope} for a 5.04 MB/h leak");
    // (The interval is the regression's: around the leak that happened,
    // 14 bytes × the Poisson arrivals drawn, not around 5.04 MB/h exactly.)
    let lo = leak["ci95_bytes_per_hour"][0].as_f64().expect("lo");
    assert!(lo > 1_048_576.0, "growing: the whole interval is past the 1 MiB/h budget: {leak}");
    let (_, clean) = soak(dir.path(), "clean", &two_hours);
    assert_eq!(clean["alerts"]["leak"]["verdict"], "plateau", "{}", clean["alerts"]["leak"]);
}

#[test]
fn a_fault_free_daily_cycle_fires_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("daily");
    let o = tidepool(&["soak", "--out", out.to_str().expect("utf-8"), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(events(&out).is_empty(), "{:?}", events(&out));
    let r = json(&out.join("report.json"));
    assert_eq!(r["virtual_seconds"], 86_400.0);
    assert_eq!(r["alerts"]["worst"], "none");
    assert!(r["alerts"]["episodes"].as_array().expect("episodes").is_empty());
}

#[test]
fn a_lock_storm_fires_lock_contention() {
    use tidepool::sync::ProfiledMutex;
    let lock = Arc::new(ProfiledMutex::new("storm-lock", 0u64));
    let mut sampler = Sampler::new().locks();
    let mut monitor = Monitor::new(MonitorConfig::default());
    let mut t = 0.0;
    let mut sample = |monitor: &mut Monitor, sampler: &mut Sampler| {
        t += 2.0;
        let readings: Vec<Reading> =
            sampler.readings().into_iter().filter(|r| r.subject == "storm-lock").collect();
        monitor.observe(t, &readings)
    };
    // Calm: one thread, never contended: the baseline.
    for _ in 0..40 {
        for _ in 0..100 {
            *lock.lock() += 1;
        }
        sample(&mut monitor, &mut sampler);
    }
    assert_eq!(monitor.severity(Kind::LockContention, "storm-lock"), Severity::None);
    // The storm: 6 threads taking turns holding it for 4 ms.
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut g = lock.lock();
                    *g += 1;
                    std::thread::sleep(Duration::from_millis(4));
                }
            })
        })
        .collect();
    let mut fired = Vec::new();
    for _ in 0..12 {
        std::thread::sleep(Duration::from_millis(100));
        fired.extend(sample(&mut monitor, &mut sampler));
    }
    stop.store(true, Ordering::Relaxed);
    for th in threads {
        th.join().expect("storm thread");
    }
    // Waits of ~20 ms per acquisition: past the 10 ms emergency floor.
    let severity = monitor.severity(Kind::LockContention, "storm-lock");
    assert!(severity >= Severity::Critical, "{severity:?}: {fired:?}");
    assert!(
        fired.iter().any(|e| e.state == AlertState::Firing && e.kind == Kind::LockContention),
        "{fired:?}"
    );
}

fn crisp() -> MonitorConfig {
    MonitorConfig {
        combine: Combine::FloorOnly,
        stability: Stability { confirm_samples: 1, clear_samples: 1, hysteresis: 1.0 },
        ..MonitorConfig::default()
    }
}

#[test]
fn suppression_escalation_and_resolution_follow_the_rules() {
    let mut m = Monitor::new(crisp());
    let wait = |m: &mut Monitor, t: f64, v: f64| {
        m.observe(t, &[Reading::new(Kind::PoolWait, "db", v)])
            .into_iter()
            .map(|e| (e.state, e.severity))
            .collect::<Vec<_>>()
    };
    assert_eq!(wait(&mut m, 0.0, 0.015), vec![(AlertState::Firing, Severity::Warning)]);
    assert_eq!(wait(&mut m, 2.0, 0.001), vec![(AlertState::Resolved, Severity::None)]);
    // Again within the warning cooldown (120 s): suppressed, not notified.
    assert_eq!(wait(&mut m, 60.0, 0.015), vec![(AlertState::Suppressed, Severity::Warning)]);
    // An escalation always passes, even inside a cooldown.
    assert_eq!(wait(&mut m, 62.0, 0.030), vec![(AlertState::Escalated, Severity::Critical)]);
    assert_eq!(wait(&mut m, 64.0, 0.015), vec![(AlertState::DeEscalated, Severity::Warning)]);
    assert_eq!(wait(&mut m, 66.0, 0.001), vec![(AlertState::Resolved, Severity::None)]);
    // Critical again 30 s after its last notification (cooldown 60 s): suppressed.
    assert_eq!(wait(&mut m, 92.0, 0.030), vec![(AlertState::Suppressed, Severity::Critical)]);
    assert_eq!(wait(&mut m, 94.0, 0.001), vec![(AlertState::Suppressed, Severity::None)]);
    // Past the cooldown: fires.
    assert_eq!(wait(&mut m, 200.0, 0.030), vec![(AlertState::Firing, Severity::Critical)]);
    assert_eq!(wait(&mut m, 202.0, 0.001), vec![(AlertState::Resolved, Severity::None)]);
    // Emergency is never suppressed.
    assert_eq!(wait(&mut m, 204.0, 0.060), vec![(AlertState::Firing, Severity::Emergency)]);
    assert_eq!(wait(&mut m, 206.0, 0.001), vec![(AlertState::Resolved, Severity::None)]);
    assert_eq!(wait(&mut m, 208.0, 0.060), vec![(AlertState::Firing, Severity::Emergency)]);
    let report = m.report();
    assert_eq!(report.worst, Severity::Emergency);
    // The episode at 60 s began suppressed, but its escalation was notified:
    // only the one at 92 s never reached anyone.
    let silent: Vec<f64> = report.episodes.iter().filter(|e| !e.notified).map(|e| e.started).collect();
    assert_eq!(silent, vec![92.0], "{:?}", report.episodes);
    // Hysteresis: with the default 0.9, a wait hovering just under the floor stays alerting.
    let mut h = Monitor::new(MonitorConfig {
        stability: Stability { hysteresis: 0.9, ..crisp().stability },
        ..crisp()
    });
    wait(&mut h, 0.0, 0.012);
    assert!(wait(&mut h, 2.0, 0.0095).is_empty(), "9.5 ms is within 10 % of the 10 ms floor");
    assert_eq!(wait(&mut h, 4.0, 0.008), vec![(AlertState::Resolved, Severity::None)]);
}

#[test]
fn growing_the_pool_ends_a_starvation_alert() {
    // Target stuck at 3 of 4 (no maintenance thread: nothing grows it),
    // and 4 callers that each hold an object all the time.
    let pool = tidepool::pool::Pool::builder("starved")
        .min_size(3)
        .max_size(4)
        .acquire_timeout(Duration::from_secs(30))
        .maintenance_interval(None)
        .factory(|| Ok(0u8))
        .build()
        .expect("pool");
    assert_eq!(pool.status().target, 3);
    let mut monitor = Monitor::new(MonitorConfig::default());
    monitor.on(Kind::Starvation, "grow_pool", actions::grow_pool(pool.clone()));
    let mut sampler = Sampler::new().pool(&pool);
    let mut t = 0.0;
    // The baseline: an idle pool, nobody waiting.
    for _ in 0..40 {
        t += 2.0;
        monitor.observe(t, &sampler.readings());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let holders: Vec<_> = (0..4)
        .map(|_| {
            let (pool, stop) = (pool.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(guard) = pool.acquire_blocking() {
                        std::thread::sleep(Duration::from_millis(20));
                        drop(guard);
                    }
                }
            })
        })
        .collect();
    let mut states = Vec::new();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(30));
        t += 2.0;
        let readings = sampler.readings();
        states.extend(monitor.observe(t, &readings).into_iter().filter(|e| e.kind == Kind::Starvation));
        if states.iter().any(|e| e.state == AlertState::Resolved) {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in holders {
        h.join().expect("holder");
    }
    assert!(states.first().is_some_and(|e| e.state == AlertState::Firing), "{states:?}");
    assert!(states.iter().any(|e| e.state == AlertState::Resolved), "{states:?}");
    assert_eq!(pool.status().target, 4, "the remedy raised the target to max");
    let rem = &monitor.report().remediations;
    assert_eq!(rem.len(), 1, "{rem:?}");
    assert!(rem[0].ok && rem[0].recovered == Some(true), "{rem:?}");
}

/// Alerts Alertmanager holds with `alertname`, active or not.
fn alertmanager_alerts(port: u16, alertname: &str) -> Vec<serde_json::Value> {
    let filter = format!("/api/v2/alerts?filter=alertname%3D%22{alertname}%22");
    let Ok((200, body)) = get(port, &filter) else { return Vec::new() };
    serde_json::from_str::<Vec<serde_json::Value>>(&body).unwrap_or_default()
}

#[test]
fn a_real_alertmanager_receives_and_resolves_an_alert_of_a_real_run() {
    let Some(binary) = require(&["prometheus-alertmanager", "alertmanager"]) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(
        dir.path(),
        "alertmanager.yml",
        "route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n",
    );
    let port = free_port();
    let storage = dir.path().join("data");
    let _server = start_server(
        &binary,
        &[
            format!("--config.file={config}"),
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--storage.path={}", storage.display()),
            "--cluster.listen-address=".into(),
        ],
        port,
        "alertmanager",
    );
    // A wall-clock run sampled every 100 ms: 3 s of baseline, then every
    // holder stalls for 3 s (starvation), then 3 s of recovery.
    let w = write(
        dir.path(),
        "stall.toml",
        r#"
name = "am-stall"
duration = "9s"
sample_interval = "100ms"
hold = { dist = "constant", value = "2ms" }
[pool]
min = 2
max = 4
acquire_timeout = "10s"
[[phase]]
name = "steady"
duration = "9s"
arrival = { process = "poisson", rate = 200 }
[[fault]]
kind = "stall"
at = "4s"
duration = "3s"
"#,
    );
    let out = dir.path().join("out");
    let url = format!("http://127.0.0.1:{port}");
    let mut run = Killed(
        Command::new(env!("CARGO_BIN_EXE_tidepool"))
            .args(["soak", &w, "--time", "wall", "--no-metrics", "--alertmanager", &url, "--out"])
            .arg(&out)
            .arg("-q")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tidepool"),
    );
    // While the stall lasts, Alertmanager holds the firing alert.
    let mut seen_active = None;
    for _ in 0..200 {
        let alerts = alertmanager_alerts(port, "TidepoolStarvation");
        if let Some(a) = alerts.iter().find(|a| a["status"]["state"] == "active") {
            seen_active = Some(a.clone());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = run.0.wait().expect("wait");
    let active = seen_active.expect("Alertmanager never showed an active TidepoolStarvation alert");
    assert_eq!(active["labels"]["subject"], "am-stall", "{active}");
    assert_eq!(active["labels"]["job"], "tidepool", "{active}");
    assert!(matches!(status.code(), Some(0 | 1)), "{status:?}");
    // After the run: resolved (Alertmanager no longer lists it as active).
    let mut resolved = false;
    for _ in 0..100 {
        let alerts = alertmanager_alerts(port, "TidepoolStarvation");
        if alerts.iter().all(|a| a["status"]["state"] != "active") {
            resolved = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(resolved, "still active: {:?}", alertmanager_alerts(port, "TidepoolStarvation"));
    let ev = events(&out);
    assert!(ev.iter().any(|e| e["kind"] == "starvation" && e["state"] == "firing"), "{ev:?}");
    assert!(ev.iter().any(|e| e["kind"] == "starvation" && e["state"] == "resolved"), "{ev:?}");
}

/// The emergency floor of the memory signal (the default), bytes.
const MEMORY_EMERGENCY: f64 = 1200e6;

/// When modeled memory first reached `floor` in samples.jsonl.
fn crossed(out: &Path, floor: f64) -> Option<f64> {
    std::fs::read_to_string(out.join("samples.jsonl")).expect("samples").lines().find_map(|l| {
        let s: serde_json::Value = serde_json::from_str(l).expect("json line");
        (s["memory_bytes"].as_f64().expect("memory") >= floor).then(|| s["t"].as_f64().expect("t"))
    })
}

#[test]
fn a_steady_leak_is_predicted_at_least_the_horizon_before_the_emergency_floor() {
    let dir = tempfile::tempdir().expect("tempdir");
    // fault-leak.toml's pool (16..32 objects of 8 MiB, resized by
    // utilization: a level that moves in 8 MiB steps) at 1000 ops/s, every
    // operation leaking 128 bytes from the start: about 460 MB an hour,
    // from about 150 MB to the 1200 MB emergency floor in about 2.3 h.
    // `floor_only`, so the static memory alerts fire too (with the default
    // `both`, a leak this steady never looks unusual to the adaptive band).
    let leak = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/fault-leak.toml"))
        .expect("fault-leak.toml")
        .replace("duration = \"2h\"", "duration = \"150m\"")
        .replace("bytes_per_op = \"16B\"", "bytes_per_op = \"128B\"")
        .replace("at = \"20m\"", "at = \"0s\"")
        .replace("[slo]", "[monitor]\ncombine = \"floor_only\"\n\n[slo]");
    let (out, report) = soak(dir.path(), "leak-to-limit", &leak);
    let ev = events(&out);
    let at = |kind: &str, state: &str, severity: &str| {
        ev.iter()
            .find(|e| e["kind"] == kind && e["state"] == state && e["severity"] == severity)
            .and_then(|e| e["at"].as_f64())
    };
    let predicted = at("memory_exhaustion_predicted", "firing", "warning").expect("a predicted alert");
    let floor = crossed(&out, MEMORY_EMERGENCY).expect("memory reaches the emergency floor");
    let emergency = ev
        .iter()
        .find(|e| e["kind"] == "memory" && e["severity"] == "emergency")
        .and_then(|e| e["at"].as_f64())
        .expect("the static emergency alert");
    eprintln!(
        "predicted at {predicted} s; memory crossed the emergency floor at {floor} s ({} s later); \
         the static emergency alert fired at {emergency} s ({} s later)",
        floor - predicted,
        emergency - predicted
    );
    assert!(floor - predicted >= 3600.0, "predicted {predicted}, crossed {floor}");
    assert!(emergency - predicted >= 3600.0, "predicted {predicted}, emergency {emergency}");
    // Not absurdly early either: inside the horizon, not at the first
    // moment a forecast is possible.
    assert!(floor - predicted < 2.0 * 3600.0, "predicted {predicted}, crossed {floor}");
    let fired = ev.iter().find(|e| e["kind"] == "memory_exhaustion_predicted").expect("event");
    assert_eq!(fired["expected"], 3600.0, "the event carries the horizon: {fired}");
    assert!(fired["value"].as_f64().expect("seconds") <= 3600.0, "{fired}");
    assert!(fired["summary"].as_str().expect("summary").contains("exhausted in"), "{fired}");
    // The report's forecast section.
    let forecasts = report["alerts"]["forecasts"].as_array().expect("forecasts");
    let memory = forecasts.iter().find(|f| f["resource"] == "memory").expect("memory forecast");
    assert_eq!(memory["first_predicted_at"].as_f64(), Some(predicted), "{memory}");
    assert_eq!(memory["limit"].as_f64(), Some(MEMORY_EMERGENCY), "{memory}");
    let slope = memory["latest"]["slope_per_hour"].as_f64().expect("slope");
    assert!((slope - 128.0 * 1000.0 * 3600.0).abs() < 0.1 * 460e6, "slope {slope}");
    assert!(forecasts.iter().any(|f| f["resource"] == "pool_size"), "{forecasts:?}");
    assert!(forecasts.iter().any(|f| f["resource"] == "queue"), "{forecasts:?}");
    let md = std::fs::read_to_string(out.join("report.md")).expect("md");
    assert!(md.contains("## Exhaustion forecast") && md.contains("memory_exhaustion_predicted"), "{md}");
    let html = std::fs::read_to_string(out.join("report.html")).expect("html");
    assert!(html.contains("<h2>Exhaustion forecast</h2>"), "html");
}

#[test]
fn a_plateau_predicts_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let two_hours = STEADY.replace("\"40m\"", "\"2h\"");
    let (out, report) = soak(dir.path(), "plateau", &two_hours);
    let ev = events(&out);
    assert!(ev.iter().all(|e| !e["kind"].as_str().expect("kind").ends_with("_predicted")), "{ev:?}");
    for f in report["alerts"]["forecasts"].as_array().expect("forecasts") {
        assert!(f["latest"].is_null() && f["first_predicted_at"].is_null(), "{f}");
    }
}

#[test]
fn predicted_alerts_resolve_when_the_forecast_leaves_the_horizon() {
    // Library-level: a queue growing by one caller every 10 s toward a
    // bound of 400 for 25 minutes, then draining.
    let config = MonitorConfig { forecast_window_seconds: 600.0, ..MonitorConfig::default() };
    let mut m = Monitor::new(config);
    let mut states = Vec::new();
    let mut t = 0.0;
    let mut level: f64 = 0.0;
    while t < 3000.0 {
        level += if t < 1500.0 { 0.2 } else { -0.3 };
        let levels =
            [tidepool::monitor::Level::new(tidepool::monitor::Resource::Queue, "db", level.max(0.0), 400.0)];
        for e in m.observe_with_levels(t, &[], &levels) {
            states.push((e.at, e.kind, e.state));
        }
        t += 2.0;
    }
    let fired = states.iter().find(|s| s.2 == AlertState::Firing).expect("fired");
    assert_eq!(fired.1, Kind::QueueExhaustionPredicted);
    // Inside the hour (40 callers, 360 to go at 0.1/s) from 400 s on, once
    // the 10-minute window is half full: long before the drain.
    assert!(fired.0 < 1500.0, "{states:?}");
    let resolved = states.iter().find(|s| s.2 == AlertState::Resolved).expect("resolved");
    assert!(resolved.0 > 1500.0, "{states:?}");
    assert_eq!(m.severity(Kind::QueueExhaustionPredicted, "db"), Severity::None);
    assert!(m.forecast_of(tidepool::monitor::Resource::Queue, "db").is_none());
}

#[test]
fn forecast_settings_are_checked_naming_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (setting, key) in [
        ("forecast_horizon_seconds = -1.0", "forecast_horizon_seconds"),
        ("forecast_window_seconds = 0.0", "forecast_window_seconds"),
        ("memory_limit_bytes = -5.0", "memory_limit_bytes"),
        ("queue_limit = nan", "queue_limit"),
    ] {
        let text = format!("{STEADY}\n[monitor]\n{setting}\n");
        let line = text.lines().position(|l| l == setting).expect("line") + 1;
        let w = write(dir.path(), "bad.toml", &text);
        let o = tidepool(&["validate", &w]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{setting}: {stderr}");
        assert!(stderr.contains(&format!("bad.toml:{line}:")) && stderr.contains(key), "{setting}: {stderr}");
    }
    let ok = write(
        dir.path(),
        "ok.toml",
        &format!("{STEADY}\n[monitor]\nforecast_horizon_seconds = 900.0\nmemory_limit_bytes = 2e9\n"),
    );
    assert_eq!(tidepool(&["validate", &ok]).status.code(), Some(0));
}
