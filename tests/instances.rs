//! Many instances in one view (issue #9): two `tidepool soak --time wall`
//! processes of one job, `--job fleet --instance runner-a|runner-b`, scraped
//! by one real Prometheus (Debian's `prometheus`) with `honor_labels: true`
//! as in `dashboards/prometheus/prometheus.yml`. The overview dashboard's
//! queries, taken from its JSON with the variables substituted as Grafana
//! would, must see both: the job's aggregate is one series worth the sum of
//! the two per-instance series, the drill-down has one series per instance,
//! and picking one instance narrows the aggregate to it. The job-level
//! recording rules add the two up too. Under `CI=true` a missing
//! `prometheus` fails the test; otherwise it is a loud SKIP.
//!
//! Also here: the `--job` / `--instance` values refused with exit 2.

mod common;
#[allow(unused_imports)]
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tidepool::clock::Clock;

use serde_json::Value;

/// One workload for both runners (so they share the pool name, as runners
/// of one CI job do), long enough to outlive the test, which stops them.
const WORKLOAD: &str = r#"
name = "fleet-load"
seed = 1
duration = "60s"
sample_interval = "1s"
hold = { dist = "lognormal", median = "2ms", sigma = 0.5 }

[pool]
min = 2
max = 8
acquire_timeout = "1s"
maintenance_interval = "1s"

[[phase]]
name = "steady"
duration = "60s"
arrival = { process = "poisson", rate = 150 }
"#;

const JOB: &str = "fleet";
const INSTANCES: [&str; 2] = ["runner-a", "runner-b"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An instant query at `time` (Unix seconds): each series' labels and value.
fn query_at(port: u16, promql: &str, time: f64) -> Vec<(serde_json::Map<String, Value>, f64)> {
    let (status, body) =
        get(port, &format!("/api/v1/query?query={}&time={time:.3}", encode(promql))).expect("prometheus");
    let json: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{promql}: {e}: {body}"));
    assert!(status == 200 && json["status"] == "success", "{promql}: HTTP {status}: {body}");
    json["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{promql}: not a vector: {body}"))
        .iter()
        .map(|s| {
            let labels = s["metric"].as_object().cloned().unwrap_or_default();
            let value = s["value"][1].as_str().and_then(|v| v.parse().ok()).expect("a number");
            (labels, value)
        })
        .collect()
}

/// Prometheus' own time now (Unix seconds), so that several queries can
/// be asked about one instant.
fn now(port: u16) -> f64 {
    let (_, body) = get(port, "/api/v1/query?query=time()").expect("prometheus");
    let json: Value = serde_json::from_str(&body).expect("JSON");
    json["data"]["result"][0].as_f64().expect("time() is a number")
}

/// Polls until `promql` returns a series, or panics after about `secs`.
fn wait_for(port: u16, promql: &str, secs: u64) {
    for _ in 0..secs * 4 {
        if !query_at(port, promql, now(port)).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("no data for {promql} within {secs} s");
}

/// The first target of the panel titled `title` in the overview dashboard.
fn panel_expr(dashboard: &Value, title: &str) -> String {
    let mut panels: Vec<&Value> = Vec::new();
    for p in dashboard["panels"].as_array().expect("panels") {
        panels.push(p);
        panels.extend(p["panels"].as_array().map(Vec::as_slice).unwrap_or_default());
    }
    let panel = panels
        .into_iter()
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("tidepool-overview.json: no panel {title:?}"));
    panel["targets"][0]["expr"].as_str().expect("an expr").to_owned()
}

/// `expr` with the dashboard's variables as Grafana substitutes them: a
/// multi-value variable becomes `(a|b)`, `$__rate_interval` 10 s (ten
/// scrapes at 1 s).
fn substitute(expr: &str, instances: &[&str]) -> String {
    let s = expr
        .replace("$__rate_interval", "10s")
        .replace("$__range", "30s")
        .replace("$instance", &format!("({})", instances.join("|")))
        .replace("$job", &format!("({JOB})"))
        .replace("$pool", ".*");
    assert!(!s.contains('$'), "unsubstituted variable in {s}");
    s
}

#[test]
fn one_prometheus_sees_two_runners_of_one_job_aggregated_and_by_instance() {
    let Some(prometheus) = require(&["prometheus"]) else { return };
    let clock = Clock::system();
    let started = clock.now();
    let dir = tempfile::tempdir().expect("temp dir");
    let workload = dir.path().join("fleet.toml");
    std::fs::write(&workload, WORKLOAD).expect("write workload");
    let ports = [free_port(), free_port()];
    let _runners: Vec<Killed> = INSTANCES
        .iter()
        .zip(ports)
        .map(|(instance, port)| {
            Killed(
                Command::new(env!("CARGO_BIN_EXE_tidepool"))
                    .arg("soak")
                    .arg(&workload)
                    .args(["--time", "wall", "--quiet", "--listen", &format!("127.0.0.1:{port}")])
                    .args(["--job", JOB, "--instance", instance])
                    .arg("--out")
                    .arg(dir.path().join(instance))
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("tidepool soak starts"),
            )
        })
        .collect();
    for port in ports {
        wait_until_up(port, "/metrics", "tidepool soak");
    }

    let rules = repo().join("dashboards/prometheus/tidepool-rules.yml");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: {JOB}\n    honor_labels: true\n    static_configs:\n      \
             - targets: ['127.0.0.1:{}', '127.0.0.1:{}']\n",
            rules.display(),
            ports[0],
            ports[1]
        ),
    )
    .expect("write config");
    let prom_port = free_port();
    let _prometheus = start_prometheus(&prometheus, &config, &dir.path().join("data"), prom_port);

    // Both targets up, and each runner's acquires scraped for longer than
    // the 10 s rate window (a series younger than the window would make
    // `rate` read low: it divides the increase by the whole window).
    wait_for(prom_port, &format!("count by (job) (up{{job=\"{JOB}\"}} == 1) == 2"), 15);
    wait_for(
        prom_port,
        &format!(
            "count(count by (instance) (count_over_time(tidepool_pool_acquires_total{{job=\"{JOB}\"}}[13s]) >= 12)) == 2"
        ),
        25,
    );

    let text = std::fs::read_to_string(repo().join("dashboards/grafana/tidepool-overview.json"))
        .expect("overview dashboard");
    let overview: Value = serde_json::from_str(&text).expect("overview JSON");
    let aggregate = substitute(&panel_expr(&overview, "Acquires/s"), &INSTANCES);
    let by_instance = substitute(&panel_expr(&overview, "Acquires/s by instance"), &INSTANCES);
    let count = substitute(&panel_expr(&overview, "Instances"), &INSTANCES);
    assert!(aggregate.starts_with("sum by (job) ("), "{aggregate}");

    // Every query at one instant: the sums must agree exactly.
    let at = now(prom_port) - 1.0;
    let job = query_at(prom_port, &aggregate, at);
    assert_eq!(job.len(), 1, "{aggregate}: one series for the job: {job:?}");
    assert_eq!(job[0].0.get("job").and_then(Value::as_str), Some(JOB), "{job:?}");
    let total = job[0].1;

    let mut per: Vec<(String, f64)> = query_at(prom_port, &by_instance, at)
        .into_iter()
        .map(|(labels, v)| (labels.get("instance").and_then(Value::as_str).unwrap_or("?").to_owned(), v))
        .collect();
    per.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = per.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(names, INSTANCES, "{by_instance}: one series per instance: {per:?}");
    let sum: f64 = per.iter().map(|(_, v)| v).sum();
    assert!(per.iter().all(|(_, v)| *v > 0.0), "{per:?}");
    assert!((total - sum).abs() <= 1e-9 * total.max(1.0), "job {total} != sum of instances {sum} ({per:?})");
    // 150/s each, on a shared machine: loosely.
    assert!((150.0..=450.0).contains(&total), "aggregate {total} ops/s, expected about 300");

    let instances = query_at(prom_port, &count, at);
    assert_eq!(instances.len(), 1, "{count}: {instances:?}");
    assert_eq!(instances[0].1, 2.0, "{count}: {instances:?}");
    let up = query_at(prom_port, &format!("count by (job) (up{{job=\"{JOB}\"}})"), at);
    assert_eq!(up.iter().map(|(_, v)| *v).collect::<Vec<_>>(), [2.0], "{up:?}");

    // The drill-down: one instance picked, the aggregate is that instance.
    let only_a = query_at(prom_port, &substitute(&panel_expr(&overview, "Acquires/s"), &INSTANCES[..1]), at);
    assert_eq!(only_a.len(), 1, "{only_a:?}");
    assert!((only_a[0].1 - per[0].1).abs() <= 1e-9 * per[0].1, "{only_a:?} vs {per:?}");

    // The job-level recording rules: two instances, one pool over both.
    wait_for(prom_port, &format!("job:tidepool_instances:count{{job=\"{JOB}\"}} == 2"), 10);
    wait_for(
        prom_port,
        &format!("job_pool:tidepool_pool_acquires:rate1m{{job=\"{JOB}\",pool=\"fleet-load\"}} > 0"),
        10,
    );
    // (Its 1 m window reaches back before the runs began: it reads low here.)
    let recorded = query_at(
        prom_port,
        &format!("job_pool:tidepool_pool_acquires:rate1m{{job=\"{JOB}\"}}"),
        now(prom_port),
    );
    assert_eq!(recorded.len(), 1, "{recorded:?}");

    eprintln!(
        "instances: job {JOB} {total:.1} ops/s = {} {:.1} + {} {:.1}; job_pool rule {:.1} ops/s (1m); {:.1} s",
        per[0].0,
        per[0].1,
        per[1].0,
        per[1].1,
        recorded[0].1,
        (clock.now() - started).as_secs_f64()
    );
}

#[test]
fn bad_job_and_instance_values_are_exit_2() {
    let long = "x".repeat(tidepool::export::MAX_LABEL_VALUE_CHARS + 1);
    for (args, needle) in [
        (vec!["soak", "--time", "wall", "--job", ""], "must not be empty"),
        (vec!["soak", "--time", "wall", "--instance", long.as_str()], "at most 128"),
        (vec!["replay", "x.csv", "--time", "wall", "--instance", "a\nb"], "control character"),
        (vec!["demo", "--job", ""], "must not be empty"),
        // Nothing to label: virtual time without a sink, demo without /metrics.
        (vec!["soak", "--job", "fleet"], "--job labels what the run exports"),
        (vec!["demo", "--no-metrics", "--instance", "a"], "--instance labels /metrics"),
    ] {
        let o = tidepool(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
