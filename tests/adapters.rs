//! The pools services already run, seen as tidepool's own: r2d2, bb8 and
//! deadpool pools through `tidepool::adapters` export the same
//! `tidepool_pool_*` series (names, labels, buckets) as a `tidepool::Pool`
//! in the same process, with exact counts, feed the monitor the same
//! readings, and record replayable traces. Run with
//! `--features r2d2,bb8,deadpool` (`make unit` does).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tidepool::adapters::bb8::Bb8Pool;
use tidepool::adapters::deadpool::DeadpoolPool;
use tidepool::adapters::r2d2::R2d2Pool;
use tidepool::export::{ExportConfig, Exporters};
use tidepool::monitor::sampler::Sampler;
use tidepool::monitor::Kind;
use tidepool::pool::metrics::SECONDS_BUCKETS;
use tidepool::pool::Pool;

/// The process's exporter, installed once (a global recorder).
fn exporters() -> &'static Exporters {
    static EXPORTERS: OnceLock<Exporters> = OnceLock::new();
    EXPORTERS.get_or_init(|| {
        let config = ExportConfig { serve: false, ..ExportConfig::default() };
        Exporters::install(&config).expect("the exporter installs")
    })
}

/// A series' metric name and its sorted label names (but `pool`).
type Shape = (String, Vec<String>);

/// `(metric, sorted label names)` of every series of pool `pool`, and the
/// value of each `(metric, labels)` line.
fn series_of(text: &str, pool: &str) -> (BTreeSet<Shape>, Vec<(String, f64)>) {
    let mut shapes = BTreeSet::new();
    let mut values = Vec::new();
    let needle = format!("pool=\"{pool}\"");
    for line in text.lines().filter(|l| !l.starts_with('#') && l.contains(&needle)) {
        let (series, value) = line.rsplit_once(' ').expect("name{labels} value");
        let (name, labels) = series.split_once('{').expect("labels");
        let mut keys: Vec<String> = labels
            .trim_end_matches('}')
            .split(',')
            .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string()))
            .filter(|k| k != "pool")
            .collect();
        keys.sort();
        shapes.insert((name.to_string(), keys));
        let series = series.replace(&needle, "").replace("{,", "{").replace(",}", "}").replace("{}", "");
        values.push((series, value.parse().unwrap_or(f64::NAN)));
    }
    (shapes, values)
}

/// The value of `series` (labels other than `pool`, as exposed) of `pool`.
fn value(text: &str, pool: &str, series: &str) -> f64 {
    let (_, values) = series_of(text, pool);
    values
        .iter()
        .find(|(s, _)| s == series)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no {series} for {pool}"))
}

/// The series a tidepool pool exports: what every adapter must match.
fn reference_shapes() -> BTreeSet<Shape> {
    let _ = exporters();
    static REFERENCE: OnceLock<Pool<u8>> = OnceLock::new();
    let pool =
        REFERENCE.get_or_init(|| Pool::builder("reference").factory(|| Ok(0u8)).build().expect("pool"));
    drop(pool.acquire_blocking().expect("an object"));
    pool.maintain();
    series_of(&exporters().exposition(), "reference").0
}

fn assert_same_series(pool: &str) {
    let text = exporters().exposition();
    let (shapes, _) = series_of(&text, pool);
    assert_eq!(shapes, reference_shapes(), "the series of {pool} vs a tidepool pool's");
    // The same buckets as every tidepool histogram.
    for histogram in ["tidepool_pool_wait_seconds", "tidepool_pool_use_seconds"] {
        let bounds: Vec<f64> = text
            .lines()
            .filter(|l| {
                l.starts_with(&format!("{histogram}_bucket")) && l.contains(&format!("pool=\"{pool}\""))
            })
            .filter_map(|l| l.split("le=\"").nth(1).and_then(|r| r.split('"').next()))
            .filter(|le| *le != "+Inf")
            .map(|le| le.parse().expect("a bound"))
            .collect();
        assert_eq!(bounds, SECONDS_BUCKETS.to_vec(), "{histogram} buckets of {pool}");
    }
}

#[derive(Debug)]
struct Connections(Arc<AtomicU64>);

impl r2d2::ManageConnection for Connections {
    type Connection = u64;
    type Error = std::io::Error;
    fn connect(&self) -> Result<u64, std::io::Error> {
        Ok(self.0.fetch_add(1, Ordering::Relaxed))
    }
    fn is_valid(&self, _: &mut u64) -> Result<(), std::io::Error> {
        Ok(())
    }
    fn has_broken(&self, _: &mut u64) -> bool {
        false
    }
}

impl bb8::ManageConnection for Connections {
    type Connection = u64;
    type Error = std::io::Error;
    async fn connect(&self) -> Result<u64, std::io::Error> {
        Ok(self.0.fetch_add(1, Ordering::Relaxed))
    }
    async fn is_valid(&self, _: &mut u64) -> Result<(), std::io::Error> {
        Ok(())
    }
    fn has_broken(&self, _: &mut u64) -> bool {
        false
    }
}

impl deadpool::managed::Manager for Connections {
    type Type = u64;
    type Error = std::io::Error;
    async fn create(&self) -> Result<u64, std::io::Error> {
        Ok(self.0.fetch_add(1, Ordering::Relaxed))
    }
    async fn recycle(
        &self,
        _: &mut u64,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<std::io::Error> {
        Ok(())
    }
}

const GETS: u64 = 200;

#[test]
fn r2d2_events_give_exact_counts_and_the_same_series() {
    let _ = exporters();
    let made = Arc::new(AtomicU64::new(0));
    let builder =
        r2d2::Pool::builder().max_size(2).min_idle(Some(0)).connection_timeout(Duration::from_millis(200));
    let pool = R2d2Pool::build("r2d2-db", builder, Connections(Arc::clone(&made))).expect("pool");
    let trace = pool.instruments().record_trace(1, 10_000);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for _ in 0..GETS / 4 {
                    let conn = pool.get().expect("a connection");
                    std::thread::sleep(Duration::from_micros(300));
                    drop(conn);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no panic");
    }
    // Both connections held: a third caller waits (the monitor sees it
    // starve) and times out.
    let (a, b) = (pool.get().expect("one"), pool.get().expect("two"));
    let waiter = {
        let pool = pool.clone();
        std::thread::spawn(move || pool.get().is_err())
    };
    std::thread::sleep(Duration::from_millis(50));
    let mut sampler = Sampler::new().watch(pool.watched());
    let readings = sampler.readings();
    let starvation = readings.iter().find(|r| r.kind == Kind::Starvation).expect("starvation reading");
    assert_eq!(starvation.value, 1.0, "{readings:?}");
    assert!(waiter.join().expect("no panic"), "the third get times out");
    drop((a, b));

    pool.publish();
    let text = exporters().exposition();
    assert_same_series("r2d2-db");
    let served = GETS + 2;
    let acquires = value(&text, "r2d2-db", "tidepool_pool_acquires_total{path=\"direct\"}")
        + value(&text, "r2d2-db", "tidepool_pool_acquires_total{path=\"waited\"}");
    assert_eq!(acquires, served as f64);
    assert_eq!(value(&text, "r2d2-db", "tidepool_pool_timeouts_total"), 1.0);
    assert_eq!(
        value(&text, "r2d2-db", "tidepool_pool_created_total{reason=\"demand\"}"),
        made.load(Ordering::Relaxed) as f64
    );
    assert_eq!(value(&text, "r2d2-db", "tidepool_pool_use_seconds_count"), served as f64);
    assert_eq!(value(&text, "r2d2-db", "tidepool_pool_size_max"), 2.0);
    let waits = pool.instruments().waits();
    assert_eq!((waits.count(), waits.timeouts), (served + 1, 1));
    assert!(waits.timeout >= Duration::from_millis(200), "{:?}", waits.timeout);
    // Every operation traced: served ones with their hold, the timeout.
    let events = trace.take();
    assert_eq!(events.len() as u64, served + 1);
    assert!(events.iter().filter(|e| e.hold_ns > 0).count() as u64 >= GETS, "holds traced");
}

#[test]
fn bb8_statistics_give_exact_counts_and_the_same_series() {
    let _ = exporters();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let made = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        let inner = bb8::Pool::builder()
            .max_size(2)
            .connection_timeout(Duration::from_secs(1))
            .build(Connections(Arc::clone(&made)))
            .await
            .expect("pool");
        let pool = Bb8Pool::new("bb8-db", inner, 2);
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for _ in 0..GETS / 4 {
                        let conn = pool.get().await.expect("a connection");
                        tokio::time::sleep(Duration::from_micros(300)).await;
                        drop(conn);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("no panic");
        }
        let (a, b) = (pool.get().await.expect("one"), pool.get().await.expect("two"));
        assert!(pool.get().await.is_err(), "the third get times out");
        drop((a, b));
        pool.publish();
    });
    let text = exporters().exposition();
    assert_same_series("bb8-db");
    let served = GETS + 2;
    let acquires = value(&text, "bb8-db", "tidepool_pool_acquires_total{path=\"direct\"}")
        + value(&text, "bb8-db", "tidepool_pool_acquires_total{path=\"waited\"}");
    assert_eq!(acquires, served as f64);
    assert_eq!(value(&text, "bb8-db", "tidepool_pool_timeouts_total"), 1.0);
    assert_eq!(
        value(&text, "bb8-db", "tidepool_pool_created_total{reason=\"demand\"}"),
        made.load(Ordering::Relaxed) as f64
    );
    assert_eq!(value(&text, "bb8-db", "tidepool_pool_use_seconds_count"), served as f64);
    assert_eq!(value(&text, "bb8-db", "tidepool_pool_wait_seconds_count"), served as f64);
}

#[test]
fn deadpool_status_and_timed_gets_give_exact_counts_and_the_same_series() {
    let _ = exporters();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let made = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        let inner = deadpool::managed::Pool::builder(Connections(Arc::clone(&made)))
            .max_size(2)
            .wait_timeout(Some(Duration::from_millis(200)))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .expect("pool");
        let pool = DeadpoolPool::new("deadpool-db", inner);
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for _ in 0..GETS / 4 {
                        let object = pool.get().await.expect("an object");
                        tokio::time::sleep(Duration::from_micros(300)).await;
                        drop(object);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("no panic");
        }
        let (a, b) = (pool.get().await.expect("one"), pool.get().await.expect("two"));
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.is_err() })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let status = pool.status();
        assert_eq!((status.in_use, status.pending), (2, 1), "{status:?}");
        assert!(waiting.await.expect("no panic"), "the third get times out");
        drop((a, b));
        pool.publish();
    });
    let text = exporters().exposition();
    assert_same_series("deadpool-db");
    let served = GETS + 2;
    let acquires = value(&text, "deadpool-db", "tidepool_pool_acquires_total{path=\"direct\"}")
        + value(&text, "deadpool-db", "tidepool_pool_acquires_total{path=\"waited\"}");
    assert_eq!(acquires, served as f64);
    assert_eq!(value(&text, "deadpool-db", "tidepool_pool_timeouts_total"), 1.0);
    assert_eq!(
        value(&text, "deadpool-db", "tidepool_pool_created_total{reason=\"demand\"}"),
        made.load(Ordering::Relaxed) as f64
    );
    assert_eq!(value(&text, "deadpool-db", "tidepool_pool_use_seconds_count"), served as f64);
}
