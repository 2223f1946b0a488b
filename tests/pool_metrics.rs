//! The pool's series as the `metrics` facade sees them.

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use tidepool::pool::Pool;

#[test]
fn every_series_is_registered_at_build_and_counts_what_happened() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let pool = Pool::builder("m")
            .min_size(1)
            .max_size(2)
            .maintenance_interval(None)
            .hold_sample_every(1)
            .factory(|| Ok(()))
            .build()
            .expect("valid");
        let g = pool.acquire_blocking().expect("object");
        drop(g);
        pool.maintain();
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let find = |name: &str, label: Option<(&str, &str)>| {
        snapshot
            .iter()
            .find(|(key, ..)| {
                let k = key.key();
                k.name() == name
                    && k.labels().any(|l| l.key() == "pool" && l.value() == "m")
                    && label.is_none_or(|(lk, lv)| k.labels().any(|l| l.key() == lk && l.value() == lv))
            })
            .map(|(key, _, desc, value)| (key.kind(), desc.clone(), value))
            .unwrap_or_else(|| panic!("{name} {label:?} not registered"))
    };
    let (kind, desc, value) = find("tidepool_pool_acquires_total", Some(("path", "direct")));
    assert_eq!(kind, MetricKind::Counter);
    assert!(desc.is_some(), "described (HELP)");
    assert_eq!(value, &DebugValue::Counter(1));
    assert_eq!(find("tidepool_pool_acquires_total", Some(("path", "waited"))).2, &DebugValue::Counter(0));
    assert_eq!(find("tidepool_pool_created_total", Some(("reason", "prewarm"))).2, &DebugValue::Counter(1));
    assert_eq!(find("tidepool_pool_destroyed_total", Some(("reason", "retired"))).2, &DebugValue::Counter(0));
    assert_eq!(find("tidepool_pool_timeouts_total", None).2, &DebugValue::Counter(0));
    let (kind, _, value) = find("tidepool_pool_wait_seconds", None);
    assert_eq!(kind, MetricKind::Histogram);
    assert!(matches!(value, DebugValue::Histogram(v) if v.len() == 1 && v[0].into_inner() == 0.0));
    assert!(matches!(find("tidepool_pool_use_seconds", None).2, DebugValue::Histogram(v) if v.len() == 1));
    assert!(
        matches!(find("tidepool_pool_objects", Some(("state", "idle"))).2, DebugValue::Gauge(g) if g.into_inner() == 1.0)
    );
    assert!(matches!(find("tidepool_pool_size_max", None).2, DebugValue::Gauge(g) if g.into_inner() == 2.0));
    assert!(
        matches!(find("tidepool_pool_reuse_ratio", None).2, DebugValue::Gauge(g) if g.into_inner() == 1.0)
    );
    for (key, ..) in &snapshot {
        let name = key.key().name();
        assert!(name.starts_with("tidepool_pool_"), "{name}");
        if key.kind() == MetricKind::Counter {
            assert!(name.ends_with("_total"), "counter {name} must end in _total");
        }
        if key.kind() == MetricKind::Histogram {
            assert!(name.ends_with("_seconds"), "histogram {name} must carry its unit");
        }
    }
}

#[test]
fn zero_waits_are_published_once_each_and_reconcile_with_acquires() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let samples = || {
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .find(|(key, ..)| key.key().name() == "tidepool_pool_wait_seconds")
            .map(|(.., value)| match value {
                DebugValue::Histogram(v) => v.into_iter().map(|f| f.into_inner()).collect::<Vec<f64>>(),
                other => panic!("not a histogram: {other:?}"),
            })
            .unwrap_or_default()
    };
    metrics::with_local_recorder(&recorder, || {
        let pool = Pool::builder("z")
            .min_size(1)
            .max_size(1)
            .maintenance_interval(None)
            .factory(|| Ok(()))
            .build()
            .expect("valid");
        for _ in 0..5 {
            drop(pool.acquire_blocking().expect("object"));
        }
        pool.maintain();
        pool.maintain(); // a second publish adds nothing
        let first = samples();
        assert_eq!(first, vec![0.0; 5], "five direct acquires, five zero waits");
        let g = pool.acquire_blocking().expect("object");
        let t = {
            let p = pool.clone();
            std::thread::spawn(move || drop(p.acquire_blocking().expect("handed over")))
        };
        while pool.status().pending == 0 {
            std::thread::yield_now();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        drop(g);
        t.join().expect("waiter");
        pool.maintain();
        // The snapshot drains histograms: only the new samples show.
        let second = samples();
        assert_eq!(second.len(), 2, "one more zero wait and one real wait: {second:?}");
        assert!(second.iter().any(|&w| w >= 0.004), "the waiter's wait was measured: {second:?}");
        assert_eq!(pool.stats().acquires(), 7);
    });
}

/// On the system clock one hold in N is timed, at random, and counts N
/// times: the hold histogram's count and the hold total estimate every hold,
/// while acquires and waits stay exact counts.
#[test]
fn sampled_holds_estimate_every_hold() {
    let ops = 64_000u64;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let stats = metrics::with_local_recorder(&recorder, || {
        let pool = Pool::builder("sampled")
            .min_size(1)
            .max_size(1)
            .maintenance_interval(None)
            .hold_sample_every(16)
            .factory(|| Ok(()))
            .build()
            .expect("valid");
        for _ in 0..ops {
            drop(pool.acquire_blocking().expect("object"));
        }
        pool.maintain();
        assert_eq!(pool.wait_histogram().count(), ops, "every wait is counted");
        pool.stats()
    });
    assert_eq!(stats.acquires(), ops, "acquires are exact");
    let holds: Vec<f64> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find_map(|(key, _, _, value)| match value {
            DebugValue::Histogram(v) if key.key().name() == "tidepool_pool_use_seconds" => {
                Some(v.into_iter().map(|f| f.into_inner()).collect())
            }
            _ => None,
        })
        .expect("use histogram");
    // 4,000 timed holds expected (binomial, sd 61): 3,700..4,300 of them,
    // each counted 16 times, but for a broken sampler.
    let count = holds.len() as u64;
    assert_eq!(count % 16, 0, "{count}");
    assert!((3_700 * 16..=4_300 * 16).contains(&count), "{count} estimated holds of {ops}");
    // The hold total is the exported histogram's sum.
    let exported: f64 = holds.iter().sum();
    let total = stats.use_total.as_secs_f64();
    assert!((exported - total).abs() <= 1e-6 * total.max(1e-3), "{exported} vs {total}");
}
