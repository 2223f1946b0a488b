//! The Grafana dashboards and Prometheus rules in `dashboards/` against a real
//! Prometheus (Debian's `prometheus` package) scraping real tidepool series:
//! a wall-clock soak (`tidepool soak --time wall`: pools, the monitor's
//! alerts, the simulator, process_*) and this test process, which serves
//! profiled locks under contention and two caches through
//! `tidepool::export::PrometheusExporter` (no CLI command runs a cache, and
//! the soak has no profiled lock).
//!
//! Every target of every panel, with the Grafana variables substituted, must
//! be valid PromQL and return data; every variable query must find values;
//! every rule of `dashboards/prometheus/tidepool-rules.yml` must evaluate
//! with health "ok", and every recording rule must record something. Under
//! `CI=true` a missing server fails the test; otherwise it is a loud SKIP.

mod common;
#[allow(unused_imports)]
use common::*;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tidepool::cache::Cache;
use tidepool::export::PrometheusExporter;
use tidepool::sync::{ProfiledMutex, ProfiledRwLock};

/// Grafana's built-in intervals, as the test substitutes them: the scrape
/// interval is 1 s, so a 10 s rate interval holds ten samples.
const BUILTIN_INTERVALS: [(&str, &str); 3] =
    [("__rate_interval", "10s"), ("__interval", "2s"), ("__range", "30s")];

/// The dashboards' query variables: substituted by a regex matching anything.
const MATCH_ALL: &str = ".*";

const DASHBOARDS: [&str; 4] =
    ["tidepool-overview.json", "tidepool-locks.json", "tidepool-memory.json", "tidepool-alerts.json"];

/// A small two-phase workload, long enough to outlive the queries (the test
/// stops it when done): a run that ended leaves stale series behind.
const WORKLOAD: &str = r#"
name = "dash"
seed = 1
duration = "60s"
sample_interval = "1s"
hold = { dist = "lognormal", median = "2ms", sigma = 0.5 }

[pool]
min = 2
max = 8
acquire_timeout = "1s"
sizing_interval = "2s"
maintenance_interval = "1s"
create_time = { dist = "lognormal", median = "5ms", sigma = 0.3 }
# Objects are recreated all along, so the create-time panels have recent
# samples whenever they are queried (not only while the pool first grows).
max_lifetime = "3s"

[[phase]]
name = "quiet"
duration = "4s"
arrival = { process = "poisson", rate = 100 }

[[phase]]
name = "busy"
duration = "56s"
arrival = { process = "poisson", rate = 400 }
"#;

/// Stops the in-process load when the test ends, pass or fail.
struct Stop(Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        for handle in self.1.drain(..) {
            let _ = handle.join();
        }
    }
}

/// GETs a Prometheus API path; `Err` with the reason unless it answered
/// `"status": "success"`.
fn api(port: u16, path: &str) -> Result<Value, String> {
    let (status, body) = get(port, path).map_err(|e| format!("prometheus unreachable: {e}"))?;
    let json: Value =
        serde_json::from_str(&body).map_err(|e| format!("HTTP {status}, not JSON ({e}): {body}"))?;
    if status != 200 || json["status"] != "success" {
        return Err(format!("HTTP {status}: {body}"));
    }
    Ok(json["data"].clone())
}

/// An instant query's result series.
fn query(port: u16, promql: &str) -> Result<Vec<Value>, String> {
    let data = api(port, &format!("/api/v1/query?query={}", encode(promql)))?;
    match &data["result"] {
        Value::Array(series) => Ok(series.clone()),
        // A scalar or string result: one value.
        other if !other.is_null() => Ok(vec![other.clone()]),
        _ => Err(format!("no result in {data}")),
    }
}

/// Whether a result series (or scalar) has a finite sample value.
fn finite(series: &Value) -> bool {
    let value = if series["value"].is_array() { &series["value"][1] } else { &series[1] };
    value.as_str().and_then(|v| v.parse::<f64>().ok()).is_some_and(f64::is_finite)
}

/// Replaces Grafana's `$name`, `${name}` and `[[name]]` forms of each
/// variable, longest names first (so `$__range` is not taken for `$__r…`).
fn substitute(expr: &str, vars: &[(String, String)]) -> String {
    let mut vars = vars.to_vec();
    vars.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut out = expr.to_owned();
    for (name, value) in &vars {
        for form in [format!("${{{name}}}"), format!("[[{name}]]"), format!("${name}")] {
            out = out.replace(&form, value);
        }
    }
    out
}

/// The variables of one dashboard, as the test substitutes them: query
/// variables match everything, interval/custom/constant ones take their
/// current value, and the datasource variable only appears in `datasource`
/// fields, never in PromQL.
fn variables(dashboard: &Value, file: &str) -> Vec<(String, String)> {
    let list = dashboard["templating"]["list"].as_array().unwrap_or_else(|| panic!("{file}: no templating"));
    let mut vars: Vec<(String, String)> =
        BUILTIN_INTERVALS.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    for var in list {
        let name = var["name"].as_str().unwrap_or_else(|| panic!("{file}: a variable without a name"));
        let value = match var["type"].as_str() {
            Some("query") => MATCH_ALL.to_owned(),
            Some("datasource") => String::new(),
            _ => match &var["current"]["value"] {
                Value::String(s) => s.clone(),
                other => panic!("{file}: variable {name} has no current value: {other}"),
            },
        };
        vars.push((name.to_owned(), value));
    }
    vars
}

/// The dashboard's structure: the variables the brief asks of every one,
/// Prometheus targets through `$datasource`, unique panel ids.
fn check_structure(dashboard: &Value, file: &str) {
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 39), "{file}: schemaVersion >= 39");
    assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()), "{file}: a uid");
    let list = dashboard["templating"]["list"].as_array().expect("templating list");
    let var = |name: &str| {
        list.iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("{file}: no `{name}` variable"))
    };
    let ds = var("datasource");
    assert_eq!(
        (ds["type"].as_str(), ds["query"].as_str()),
        (Some("datasource"), Some("prometheus")),
        "{file}"
    );
    for name in ["job", "instance", "pool", "lock"] {
        let v = var(name);
        assert_eq!(v["type"], "query", "{file}: {name} is a query variable");
        let q = v["query"]["query"].as_str().or(v["query"].as_str()).unwrap_or_default();
        assert!(q.starts_with("label_values("), "{file}: {name} uses label_values: {q}");
    }
    for name in ["job", "instance", "pool", "lock"] {
        assert_eq!(
            (&var(name)["multi"], &var(name)["includeAll"]),
            (&Value::Bool(true), &Value::Bool(true)),
            "{file}: {name} multi with All"
        );
    }
    // All of `job` and `instance` is the values found (so other exporters'
    // process_* stay out), not `.*`.
    for name in ["job", "instance"] {
        assert_eq!(var(name)["allValue"], Value::Null, "{file}: {name} All is the values found");
    }
    // The drill-down: a row of per-instance panels with `instance` in
    // their legends.
    let per_instance = panels(dashboard)
        .into_iter()
        .filter(|p| {
            p["targets"].as_array().map(Vec::as_slice).unwrap_or_default().iter().any(|t| {
                t["legendFormat"].as_str().is_some_and(|l| l.contains("{{instance}}"))
                    && t["expr"].as_str().is_some_and(|e| e.contains("by (job, instance"))
            })
        })
        .count();
    assert!(per_instance >= 1, "{file}: no per-instance panel");
    let mut ids = std::collections::BTreeSet::new();
    for panel in panels(dashboard) {
        let id = panel["id"].as_u64().unwrap_or_else(|| panic!("{file}: a panel without id"));
        assert!(ids.insert(id), "{file}: panel id {id} twice");
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{file}: panel {}", panel["title"]);
        let targets = panel["targets"].as_array().map(Vec::as_slice).unwrap_or_default();
        assert!(!targets.is_empty(), "{file}: panel {} has no target", panel["title"]);
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{file}: panel {}", panel["title"]);
        }
    }
}

/// Every panel, those inside collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().map(Vec::as_slice).unwrap_or_default() {
        out.push(panel);
        out.extend(panel["panels"].as_array().map(Vec::as_slice).unwrap_or_default());
    }
    out
}

/// Profiled locks under real contention, and two caches (entry- and
/// byte-bounded) with hits, misses and evictions, served by this process.
fn start_library_load(stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
    let mutex = Arc::new(ProfiledMutex::new("dash-contended", 0u64));
    let rwlock = Arc::new(ProfiledRwLock::new("dash-settings", 0u64));
    let mut threads = Vec::new();
    for worker in 0..3u64 {
        let (mutex, rwlock, stop) = (mutex.clone(), rwlock.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                {
                    let mut guard = mutex.lock();
                    *guard += 1;
                    // Held across a sleep: the other workers wait.
                    std::thread::sleep(Duration::from_micros(300));
                }
                if i % 8 == worker {
                    *rwlock.write() += 1;
                } else {
                    let _ = *rwlock.read();
                }
                i += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
        }));
    }
    let stop = stop.clone();
    threads.push(std::thread::spawn(move || {
        let entries =
            Cache::<u64, u64>::builder("dash-entries").max_entries(64).build().expect("entry cache");
        let bytes = Cache::<u64, Vec<u8>>::builder("dash-bytes")
            .max_bytes(16 * 1024, |_, v: &Vec<u8>| v.len())
            .build()
            .expect("byte cache");
        let mut key = 1u64;
        let mut round = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..200 {
                // A skewed key stream over 256 keys: hits and misses both.
                key = key.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let k = (key >> 33) % 256;
                let k = k * k / 256;
                entries.get_or_insert_with(k, || k * 2);
                bytes.get_or_insert_with(k, || vec![0u8; 512]);
            }
            if round % 5 == 0 {
                entries.maintain();
                bytes.maintain();
            }
            round += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
    }));
    threads
}

/// Polls until `promql` returns at least one series, or panics after `secs`.
fn wait_for_data(port: u16, promql: &str, secs: u64) {
    for _ in 0..secs * 4 {
        if query(port, promql).is_ok_and(|r| !r.is_empty()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("no data for {promql} within {secs} s");
}

/// Runs every panel, annotation and variable query of the four dashboards
/// against Prometheus on `prom_port`: (what failed, how many were run). A
/// panel fails on an error, no series, or only NaN.
fn dashboard_queries(prom_port: u16) -> (Vec<String>, usize) {
    let (failures, checked, _) = dashboard_queries_by_panel(prom_port);
    (failures, checked)
}

/// As [`dashboard_queries`], with the panels (`file / title`) that got
/// data from at least one of their queries.
fn dashboard_queries_by_panel(prom_port: u16) -> (Vec<String>, usize, std::collections::BTreeSet<String>) {
    let mut failures = Vec::new();
    let mut answered = std::collections::BTreeSet::new();
    let mut checked = 0;
    for file in DASHBOARDS {
        let path = repo().join("dashboards/grafana").join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let dashboard: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        check_structure(&dashboard, file);
        let vars = variables(&dashboard, file);

        for panel in panels(&dashboard) {
            for target in panel["targets"].as_array().map(Vec::as_slice).unwrap_or_default() {
                let raw = target["expr"].as_str().unwrap_or_default();
                let title = panel["title"].as_str().unwrap_or("?");
                let promql = substitute(raw, &vars);
                checked += 1;
                if promql.contains('$') {
                    failures.push(format!("{file} / {title}: unsubstituted variable in {promql}"));
                    continue;
                }
                match query(prom_port, &promql) {
                    Ok(result) if result.is_empty() => {
                        failures.push(format!("{file} / {title}: EMPTY result for {promql}"))
                    }
                    // Series, but all NaN (a quantile or ratio of nothing).
                    Ok(result) if !result.iter().any(finite) => {
                        failures.push(format!("{file} / {title}: only NaN for {promql}"))
                    }
                    Ok(_) => {
                        answered.insert(format!("{file} / {title}"));
                    }
                    Err(e) => failures.push(format!("{file} / {title}: {promql}: {e}")),
                }
            }
        }
        // Annotation queries: valid PromQL (a phase change may not be in view).
        for a in dashboard["annotations"]["list"].as_array().map(Vec::as_slice).unwrap_or_default() {
            if let Some(raw) = a["expr"].as_str() {
                checked += 1;
                if let Err(e) = query(prom_port, &substitute(raw, &vars)) {
                    failures.push(format!("{file} / annotation {}: {e}", a["name"]));
                }
            }
        }
        // Variable queries: label_values(selector, label) finds values.
        for var in dashboard["templating"]["list"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let Some(q) = var["query"]["query"].as_str().or(var["query"].as_str()) else { continue };
            let Some(inner) = q.strip_prefix("label_values(").and_then(|s| s.strip_suffix(')')) else {
                continue;
            };
            let (selector, label) = inner.rsplit_once(',').expect("label_values(selector, label)");
            let selector = substitute(selector.trim(), &vars);
            checked += 1;
            match api(
                prom_port,
                &format!("/api/v1/label/{}/values?match[]={}", label.trim(), encode(&selector)),
            ) {
                Ok(Value::Array(values)) if !values.is_empty() => {}
                Ok(other) => failures.push(format!("{file} / variable {}: no values ({other})", var["name"])),
                Err(e) => failures.push(format!("{file} / variable {}: {e}", var["name"])),
            }
        }
    }
    (failures, checked, answered)
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_dashboard_panel_and_rule_works_against_a_real_prometheus() {
    let Some(prometheus) = require(&["prometheus"]) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let (lib_port, soak_port, prom_port) = (free_port(), free_port(), free_port());

    // This process: profiled locks and caches.
    let lib_addr: SocketAddr = ([127, 0, 0, 1], lib_port).into();
    PrometheusExporter::new().listen(lib_addr).install().expect("exporter installs");
    let stop = Arc::new(AtomicBool::new(false));
    let _load = Stop(stop.clone(), start_library_load(&stop));

    // A wall-clock soak: pools, monitor alerts, simulator phases, process_*.
    let workload = dir.path().join("dash.toml");
    std::fs::write(&workload, WORKLOAD).expect("write workload");
    let _soak = Killed(
        Command::new(env!("CARGO_BIN_EXE_tidepool"))
            .arg("soak")
            .arg(&workload)
            .args(["--time", "wall", "--quiet", "--listen", &format!("127.0.0.1:{soak_port}")])
            .arg("--out")
            .arg(dir.path().join("soak-out"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tidepool soak starts"),
    );
    wait_until_up(soak_port, "/metrics", "tidepool soak");
    wait_until_up(lib_port, "/metrics", "the test's exporter");

    let rules = repo().join("dashboards/prometheus/tidepool-rules.yml");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: tidepool\n    honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{soak_port}', '127.0.0.1:{lib_port}']\n",
            rules.display()
        ),
    )
    .expect("write config");
    let _prometheus = start_prometheus(&prometheus, &config, &dir.path().join("data"), prom_port);

    // Scraped data: both targets up, every family in, and enough samples for
    // the 10 s rate windows (the locks and the monitor publish every 1-2 s).
    wait_for_data(prom_port, "count(up == 1) == 2", 15);
    for family in [
        "tidepool_pool_wait_seconds_bucket",
        "tidepool_lock_wait_seconds_bucket",
        "tidepool_cache_hits_total",
        "tidepool_alerts_active",
        "tidepool_sim_phase",
        "process_resident_memory_bytes",
    ] {
        wait_for_data(prom_port, family, 15);
    }
    wait_for_data(prom_port, "count_over_time(tidepool_lock_acquisitions_total[1m]) >= 6", 20);
    wait_for_data(prom_port, "rate(tidepool_lock_contentions_total[10s]) > 0", 20);
    wait_for_data(prom_port, "rate(tidepool_cache_misses_total[10s]) > 0", 20);
    wait_for_data(prom_port, "rate(tidepool_pool_acquires_total[10s]) > 0", 20);

    // The soak's own `job` and default `instance` (HOSTNAME:PORT) win over
    // the target's (honor_labels, as in prometheus.yml); the test process
    // exports none and gets the target's.
    let soak_instance = format!("{}:{soak_port}", tidepool::export::hostname());
    let phase = query(prom_port, "count by (job, instance) (tidepool_sim_phase)").expect("query");
    assert_eq!(phase.len(), 1, "{phase:?}");
    assert_eq!(phase[0]["metric"]["job"], "tidepool", "{phase:?}");
    assert_eq!(phase[0]["metric"]["instance"], soak_instance.as_str(), "{phase:?}");
    let locks =
        query(prom_port, "count by (job, instance) (tidepool_lock_acquisitions_total)").expect("query");
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0]["metric"]["instance"], format!("127.0.0.1:{lib_port}").as_str(), "{locks:?}");
    let renamed = query(prom_port, r#"{exported_job!=""} or {exported_instance!=""}"#).expect("query");
    assert!(renamed.is_empty(), "labels renamed despite honor_labels: {renamed:?}");

    let (failures, checked) = dashboard_queries(prom_port);
    assert!(
        failures.is_empty(),
        "{} of {checked} dashboard queries failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 50, "only {checked} queries checked");
    eprintln!("dashboards: {checked} panel, annotation and variable queries answered with data");

    // The rules: both groups loaded, every rule evaluated with health "ok".
    let rules_text = std::fs::read_to_string(&rules).expect("rules file");
    let expected_groups: Vec<&str> =
        rules_text.lines().filter_map(|l| l.trim().strip_prefix("- name: ")).collect();
    let recorded: Vec<&str> =
        rules_text.lines().filter_map(|l| l.trim().strip_prefix("- record: ")).collect();
    assert!(expected_groups.len() >= 2 && recorded.len() >= 5, "{expected_groups:?} {recorded:?}");
    let mut last = String::new();
    let mut healthy = false;
    for _ in 0..40 {
        let data = api(prom_port, "/api/v1/rules").expect("rules API");
        let groups = data["groups"].as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = groups.iter().filter_map(|g| g["name"].as_str()).collect();
        let problems: Vec<String> = groups
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .filter(|r| r["health"] != "ok")
            .map(|r| format!("{}: health {} {}", r["name"], r["health"], r["lastError"]))
            .collect();
        last = format!("groups {names:?}; {problems:?}");
        if expected_groups.iter().all(|g| names.contains(g)) && problems.is_empty() {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(healthy, "rule groups not all healthy: {last}");
    for record in recorded {
        wait_for_data(prom_port, record, 10);
    }
}

/// The built-in daily cycle alone (`tidepool soak --time wall`, no file),
/// compressed to a minute, fills every panel of the four dashboards: the
/// pool, its schema-registry lock and parsed-documents cache, the monitor,
/// the process.
#[test]
fn the_builtin_daily_cycle_fills_every_dashboard() {
    let Some(prometheus) = require(&["prometheus"]) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let (soak_port, prom_port) = (free_port(), free_port());
    let _soak = Killed(
        Command::new(env!("CARGO_BIN_EXE_tidepool"))
            .args(["soak", "--time", "wall", "--compress", "1440", "--quiet"])
            .args(["--listen", &format!("127.0.0.1:{soak_port}")])
            .arg("--out")
            .arg(dir.path().join("soak-out"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tidepool soak starts"),
    );
    wait_until_up(soak_port, "/metrics", "tidepool soak");
    let rules = repo().join("dashboards/prometheus/tidepool-rules.yml");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: tidepool\n    honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{soak_port}']\n",
            rules.display()
        ),
    )
    .expect("write config");
    let _prometheus = start_prometheus(&prometheus, &config, &dir.path().join("data"), prom_port);
    wait_for_data(prom_port, "count(up == 1) == 1", 15);
    wait_for_data(prom_port, "count_over_time(tidepool_lock_acquisitions_total[1m]) >= 6", 30);
    wait_for_data(prom_port, "rate(tidepool_lock_contentions_total[10s]) > 0", 20);
    wait_for_data(prom_port, "rate(tidepool_cache_misses_total[10s]) > 0", 20);
    wait_for_data(prom_port, "rate(tidepool_pool_acquires_total[10s]) > 0", 20);
    let (mut failures, checked, answered) = dashboard_queries_by_panel(prom_port);
    // A panel fills when one of its lines has data: an entry-bounded and a
    // byte-bounded cache each draw one of a panel's two capacity lines, and
    // create-time lines need an object made in their 10 s window (the other
    // test judges every line).
    failures.retain(|f| !answered.iter().any(|panel| f.starts_with(&format!("{panel}:"))));
    assert!(
        failures.is_empty(),
        "the built-in daily cycle leaves {} of {checked} dashboard queries without data:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("dashboards (built-in daily cycle alone): {checked} queries answered with data");
}
