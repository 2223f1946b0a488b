//! An OTLP receiver gets the series the Prometheus path exposes, under the
//! same names. The receiver is VictoriaMetrics (Debian trixie's
//! `victoria-metrics`, unpacked into `.deps/` by `make deps`:
//! `scripts/fetch-victoriametrics.sh`), started on loopback with
//! `-opentelemetry.usePrometheusNaming`, queried with PromQL. Under `CI=true`
//! a missing binary is a failure; otherwise a loud SKIP.
#![cfg(feature = "otlp")]

mod common;
#[allow(unused_imports)]
use common::*;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use tidepool::export::{OtlpExporter, PrometheusExporter};
use tidepool::pool::Pool;

/// The instant vector of `query`: each series' labels and value.
fn query(port: u16, query: &str) -> Vec<(serde_json::Map<String, serde_json::Value>, f64)> {
    let (status, body) = get(port, &format!("/api/v1/query?query={}", encode(query))).expect("query");
    assert_eq!(status, 200, "{query}: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    json["data"]["result"]
        .as_array()
        .expect("a vector")
        .iter()
        .map(|s| {
            let labels = s["metric"].as_object().expect("labels").clone();
            let value = s["value"][1].as_str().expect("value").parse().expect("number");
            (labels, value)
        })
        .collect()
}

#[test]
fn an_otlp_receiver_gets_the_prometheus_series_under_the_same_names() {
    let Some(binary) = require(&["victoria-metrics"]) else { return };
    let port = free_port();
    let storage = tempfile::tempdir().expect("tempdir");
    let _server = Killed(
        Command::new(binary)
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-storageDataPath={}", storage.path().display()))
            .arg("-opentelemetry.usePrometheusNaming")
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start victoria-metrics"),
    );
    let mut up = false;
    for _ in 0..200 {
        if matches!(get(port, "/health"), Ok((200, _))) {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up, "victoria-metrics did not answer on 127.0.0.1:{port}");

    let otlp = OtlpExporter::new(&format!("http://127.0.0.1:{port}/opentelemetry/v1/metrics"))
        .expect("url")
        .interval(Duration::from_secs(60))
        .install(
            PrometheusExporter::new()
                .without_listener()
                .global_label("job", "otlp-fleet")
                .global_label("instance", "otlp-runner")
                .global_label("workload", "otlp-test"),
        )
        .expect("install");
    let pool = Pool::builder("otlp")
        .min_size(1)
        .max_size(2)
        .maintenance_interval(None)
        .factory(|| Ok(()))
        .build()
        .expect("pool");
    const N: usize = 25;
    for _ in 0..N {
        drop(pool.acquire_blocking().expect("object"));
    }
    pool.maintain();
    otlp.flush().expect("OTLP push");
    let exposition = otlp.prometheus().render();
    let _ = get(port, "/internal/force_flush");

    // The Prometheus path's names for this pool.
    let scraped: BTreeSet<String> = exposition
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("pool=\"otlp\""))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect();
    assert!(scraped.contains("tidepool_pool_acquires_total"), "{exposition}");
    assert!(scraped.contains("tidepool_pool_wait_seconds_bucket"), "{exposition}");

    // The receiver's names for the same pool (the data may take a moment).
    let mut received = BTreeSet::new();
    for _ in 0..100 {
        received = query(port, r#"{pool="otlp"}"#)
            .into_iter()
            .filter_map(|(labels, _)| labels.get("__name__").and_then(|n| n.as_str()).map(str::to_owned))
            .collect();
        if scraped.is_subset(&received) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let _ = get(port, "/internal/force_flush");
    }
    let missing: Vec<_> = scraped.difference(&received).collect();
    assert!(
        missing.is_empty(),
        "series scraped but not received over OTLP: {missing:?}\nreceived: {received:?}"
    );
    let extra: Vec<_> = received.difference(&scraped).collect();
    assert!(extra.is_empty(), "series received over OTLP but not scraped: {extra:?}");

    // Values agree with what was done.
    let acquires: f64 =
        query(port, r#"tidepool_pool_acquires_total{pool="otlp"}"#).iter().map(|(_, v)| v).sum();
    assert_eq!(acquires, N as f64);
    let count = query(port, r#"tidepool_pool_wait_seconds_count{pool="otlp"}"#);
    assert_eq!(count.len(), 1, "{count:?}");
    assert_eq!(count[0].1, N as f64);
    let created = query(port, r#"tidepool_pool_created_total{pool="otlp",reason="prewarm"}"#);
    assert_eq!(created.iter().map(|(_, v)| v).sum::<f64>(), 1.0, "{created:?}");

    // The buckets: the same `le` values as the scrape, SECONDS_BUCKETS and +Inf.
    let buckets = query(port, r#"tidepool_pool_wait_seconds_bucket{pool="otlp"}"#);
    let le_received: BTreeSet<String> =
        buckets.iter().filter_map(|(l, _)| l.get("le").and_then(|v| v.as_str()).map(str::to_owned)).collect();
    let le_scraped: BTreeSet<String> = exposition
        .lines()
        .filter(|l| l.starts_with("tidepool_pool_wait_seconds_bucket{") && l.contains("pool=\"otlp\""))
        .filter_map(|l| l.split("le=\"").nth(1).and_then(|r| r.split('"').next()).map(str::to_owned))
        .collect();
    assert_eq!(le_scraped.len(), tidepool::pool::metrics::SECONDS_BUCKETS.len() + 1);
    assert_eq!(le_received, le_scraped, "bucket bounds differ between OTLP and the scrape");
    let inf = buckets.iter().find(|(l, _)| l.get("le").and_then(|v| v.as_str()) == Some("+Inf"));
    assert_eq!(inf.map(|(_, v)| *v), Some(N as f64));

    // The resource: the same job and instance as the scrape's global labels
    // (also as service.name and service.instance.id, which Prometheus' own
    // OTLP receiver turns into job and instance).
    let labels = &query(port, r#"tidepool_pool_acquires_total{pool="otlp"}"#)[0].0;
    eprintln!("received labels: {labels:?}");
    let label = |name: &str| labels.get(name).and_then(|v| v.as_str());
    assert_eq!((label("job"), label("instance")), (Some("otlp-fleet"), Some("otlp-runner")), "{labels:?}");
    assert!(exposition.contains(r#"job="otlp-fleet",instance="otlp-runner""#), "{exposition}");
    otlp.shutdown().expect("last push");
}
