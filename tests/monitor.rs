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
