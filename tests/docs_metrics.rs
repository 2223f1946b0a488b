//! docs/metrics.md lists exactly the series tidepool registers, with their
//! types. The series are not read from the source but from what real
//! exporters serve:
//!
//! * this process: an [`Agent`](tidepool::Agent) (monitor, agent, process
//!   series) with a pool of its own, a profiled lock and two caches (one
//!   bounded by entries, one by bytes), scraped over HTTP;
//! * a wall-clock soak of the built binary (`tidepool soak --time wall`),
//!   scraped over HTTP while it runs (simulator and its process series);
//! * the results a soak pushes to a Pushgateway (`Report::to_exposition`)
//!   of a two-hour virtual soak that has a leak verdict and forecasts.
//!
//! A series served but missing from the docs, one documented but served by
//! nothing, or a type that differs, fails with the table row to fix.
#![cfg(target_os = "linux")]

mod common;
#[allow(unused_imports)]
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use tidepool::config::AgentConfig;
use tidepool::sim::Workload;
use tidepool::soak::Soak;

const DOC: &str = "docs/metrics.md";

/// Metric families of an exposition: name -> the types its `# TYPE` lines
/// declare.
fn families(exposition: &str, into: &mut BTreeMap<String, BTreeSet<String>>) {
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                into.entry(name.to_string()).or_default().insert(kind.to_string());
            }
        }
    }
}

/// The rows of every table in docs/metrics.md: name -> (type cell, line).
fn documented() -> BTreeMap<String, (String, usize)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("| `") else { continue };
        let Some((name, rest)) = rest.split_once('`') else { continue };
        let kind = rest.trim_start_matches([' ', '|']).split(" |").next().unwrap_or("").trim().to_string();
        let previous = rows.insert(name.to_string(), (kind, i + 1));
        assert!(previous.is_none(), "{DOC}:{}: `{name}` is listed twice", i + 1);
    }
    rows
}

/// Scrapes `/metrics` on `port` until `done` holds for the families seen so
/// far (all scrapes merged) or `limit` passes.
fn scrape_into(
    port: u16,
    limit: Duration,
    into: &mut BTreeMap<String, BTreeSet<String>>,
    done: impl Fn(&BTreeMap<String, BTreeSet<String>>) -> bool,
) {
    let clock = tidepool::clock::Clock::system();
    let start = clock.now();
    while clock.now().saturating_sub(start) < limit {
        if let Ok((200, body)) = get(port, "/metrics") {
            families(&body, into);
            if done(into) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What this process serves: an agent with a pool, a lock and two caches.
fn agent_series() -> BTreeMap<String, BTreeSet<String>> {
    let port = free_port();
    let mut config = AgentConfig::default();
    config.export.listen = format!("127.0.0.1:{port}").parse().expect("address");
    config.monitoring.sample_interval = Duration::from_millis(100);
    let agent = tidepool::Agent::start(config).expect("the agent starts");

    let pool = agent.pool_builder("docs").min_size(1).max_size(2).factory(|| Ok(0u64)).build().expect("pool");
    for _ in 0..10 {
        let _held = pool.acquire_blocking().expect("acquire");
    }
    pool.maintain();

    let lock = tidepool::sync::ProfiledMutex::new("docs", 0u64);
    for _ in 0..1000 {
        *lock.lock() += 1;
    }
    tidepool::sync::registry().publish();

    let by_entries =
        tidepool::cache::Cache::<u64, u64>::builder("docs-entries").max_entries(10).build().expect("cache");
    let by_bytes = tidepool::cache::Cache::<u64, Vec<u8>>::builder("docs-bytes")
        .max_bytes(1 << 20, |_k: &u64, v: &Vec<u8>| v.len())
        .build()
        .expect("cache");
    for k in 0..20 {
        by_entries.insert(k, k);
        by_bytes.insert(k, vec![0; 100]);
        let _ = by_entries.get(&k);
        let _ = by_bytes.get(&(k + 1000));
    }
    by_entries.maintain();
    by_bytes.maintain();

    let mut seen = BTreeMap::new();
    // The pool's, the locks' and the process's periodic publishers all run
    // within 2.5 s; wait for the agent's process series at least.
    scrape_into(port, Duration::from_secs(3), &mut seen, |s| s.contains_key("process_open_fds"));
    std::thread::sleep(Duration::from_millis(2500));
    pool.maintain();
    tidepool::sync::registry().publish();
    scrape_into(port, Duration::from_secs(1), &mut seen, |_| true);
    drop(lock);
    agent.shutdown().expect("shutdown");
    seen
}

/// What a wall-clock soak of the binary serves while it runs.
fn wall_soak_series() -> BTreeMap<String, BTreeSet<String>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let workload = write(
        dir.path(),
        "docs.toml",
        "name = \"docs\"\nduration = \"6s\"\nsample_interval = \"200ms\"\n\
         hold = { dist = \"constant\", value = \"1ms\" }\n[pool]\nmax = 4\n\
         [[phase]]\nname = \"only\"\nduration = \"6s\"\narrival = { process = \"constant\", rate = 50 }\n",
    );
    let port = free_port();
    let out = dir.path().join("out");
    let child = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["soak", &workload, "--time", "wall", "--listen", &format!("127.0.0.1:{port}"), "-q", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tidepool soak starts");
    let mut child = Killed(child);
    let mut seen = BTreeMap::new();
    scrape_into(port, Duration::from_secs(5), &mut seen, |s| {
        ["tidepool_sim_phase", "tidepool_sim_starts_total", "process_threads", "tidepool_pool_use_seconds"]
            .iter()
            .all(|n| s.contains_key(*n))
    });
    let status = child.0.wait().expect("the soak ends");
    assert!(status.success(), "the wall-clock soak failed: {status}");
    seen
}

/// What a soak pushes to a Pushgateway at its end.
fn pushed_series() -> BTreeMap<String, BTreeSet<String>> {
    let workload = Workload::parse(
        "name = \"docs-push\"\nduration = \"2h\"\nhold = { dist = \"constant\", value = \"20ms\" }\n\
         [pool]\nmax = 8\n[[phase]]\nname = \"only\"\nduration = \"2h\"\narrival = { process = \"poisson\", rate = 100 }\n\
         [slo]\nmax_error_rate = 0.01\n",
        "docs-push.toml",
    )
    .expect("workload");
    let dir = tempfile::tempdir().expect("tempdir");
    let result = Soak::new(workload).out(dir.path()).run().expect("the soak runs");
    let exposition = result.report.to_exposition();
    let mut seen = BTreeMap::new();
    families(&exposition, &mut seen);
    seen
}

#[test]
fn the_metrics_reference_lists_every_series_and_nothing_else() {
    let mut served = agent_series();
    for (name, kinds) in wall_soak_series().into_iter().chain(pushed_series()) {
        served.entry(name).or_default().extend(kinds);
    }
    // Sanity: each source contributed what it must, or the check is empty.
    for name in [
        "tidepool_pool_wait_seconds",
        "tidepool_lock_acquisitions_total",
        "tidepool_cache_weighted_size_bytes",
        "tidepool_cache_entries_max",
        "tidepool_alerts_active",
        "tidepool_agent_memory_cleanups_total",
        "process_open_fds",
        "tidepool_sim_phase",
        "tidepool_soak_passed",
        "tidepool_soak_memory_slope_bytes_per_hour",
    ] {
        assert!(
            served.contains_key(name),
            "{name} was not served: the enumeration is incomplete ({served:?})"
        );
    }
    // Only tidepool's own families: metrics-exporter-prometheus adds none.
    let ours: BTreeMap<&String, &BTreeSet<String>> =
        served.iter().filter(|(n, _)| n.starts_with("tidepool_") || n.starts_with("process_")).collect();
    let docs = documented();

    let mut problems = Vec::new();
    for (name, kinds) in &ours {
        match docs.get(*name) {
            None => problems.push(format!(
                "`{name}` ({}) is served but not in {DOC}: add a row `| `{name}` | TYPE | ... |`",
                kinds.iter().cloned().collect::<Vec<_>>().join(", ")
            )),
            Some((cell, line)) => {
                for kind in *kinds {
                    if !cell.contains(kind.as_str()) {
                        problems.push(format!(
                            "{DOC}:{line}: `{name}` is served as a {kind}, the row says `{cell}`"
                        ));
                    }
                }
                let first = cell.split([' ', ';']).next().unwrap_or("");
                if !kinds.contains(first) {
                    problems
                        .push(format!("{DOC}:{line}: `{name}`: the row says `{cell}`, served as {kinds:?}"));
                }
            }
        }
    }
    for (name, (_, line)) in &docs {
        if !ours.contains_key(name) {
            problems
                .push(format!("{DOC}:{line}: `{name}` is documented but nothing serves it: remove the row"));
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}
