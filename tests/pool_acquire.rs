//! Every acquire path, timeouts, closing, and bad settings.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tidepool::pool::{AcquireError, BuildError, DestroyReason, Pool};

fn pool(min: usize, max: usize, timeout_ms: u64) -> Pool<u64> {
    let next = AtomicUsize::new(0);
    Pool::builder("t")
        .min_size(min)
        .max_size(max)
        .acquire_timeout(Duration::from_millis(timeout_ms))
        .maintenance_interval(None)
        .factory(move || Ok(next.fetch_add(1, Ordering::Relaxed) as u64))
        .build()
        .expect("valid pool")
}

#[test]
fn prewarm_creates_min_size_and_reports_its_time() {
    let p = Pool::builder("warm")
        .min_size(4)
        .max_size(8)
        .maintenance_interval(None)
        .factory(|| {
            std::thread::sleep(Duration::from_millis(50));
            Ok(())
        })
        .build()
        .expect("valid pool");
    let status = p.status();
    assert_eq!((status.size, status.idle, status.in_use), (4, 4, 0));
    assert_eq!(p.stats().created, [4, 0, 0]);
    // Four 50 ms creations in parallel take about 50 ms, not 200 ms.
    assert!(p.prewarm_time() >= Duration::from_millis(50), "{:?}", p.prewarm_time());
    assert!(p.prewarm_time() < Duration::from_millis(180), "prewarm not parallel: {:?}", p.prewarm_time());
}

#[test]
fn try_acquire_creates_up_to_target_then_reports_exhausted() {
    let p = pool(1, 4, 100);
    let a = p.try_acquire().expect("idle object");
    assert!(
        matches!(p.try_acquire(), Err(AcquireError::Exhausted { .. })),
        "target is min until the policy grows it"
    );
    drop(a);
    assert_eq!(p.stats().acquires_direct, 1);
    assert_eq!(p.stats().reuse_ratio(), 1.0);
}

#[test]
fn blocking_acquire_times_out_and_counts_it() {
    let p = pool(1, 1, 50);
    let held = p.acquire_blocking().expect("first");
    let err = p.acquire_blocking().expect_err("pool exhausted");
    assert!(err.is_timeout(), "{err}");
    assert_eq!(p.stats().timeouts, 1);
    assert_eq!(p.status().pending, 0, "the timed-out waiter left the line");
    drop(held);
    assert!(p.acquire_blocking().is_ok());
}

#[test]
fn blocking_waiter_is_handed_the_returned_object() {
    let p = pool(1, 1, 5_000);
    let held = p.acquire_blocking().expect("first");
    let waiter = {
        let p = p.clone();
        std::thread::spawn(move || p.acquire_blocking().map(|g| *g))
    };
    while p.status().pending == 0 {
        std::thread::yield_now();
    }
    let value = *held;
    drop(held);
    assert_eq!(waiter.join().expect("no panic").expect("served"), value);
    let stats = p.stats();
    assert_eq!((stats.acquires_direct, stats.acquires_waited), (1, 1));
    assert!(stats.wait_total > Duration::ZERO);
}

#[test]
fn waiters_are_served_first_in_first_out() {
    let p = pool(1, 1, 10_000);
    let held = p.acquire_blocking().expect("first");
    let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for i in 0..4 {
        let (q, order) = (p.clone(), Arc::clone(&order));
        handles.push(std::thread::spawn(move || {
            let g = q.acquire_blocking().expect("served");
            order.lock().push(i);
            drop(g);
        }));
        // Enqueue strictly one after another.
        while p.status().pending < i + 1 {
            std::thread::yield_now();
        }
    }
    drop(held);
    for h in handles {
        h.join().expect("no panic");
    }
    assert_eq!(*order.lock(), vec![0, 1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_acquire_waits_times_out_and_gives_up_its_place_on_drop() {
    let p = Pool::builder("async")
        .min_size(1)
        .max_size(1)
        .acquire_timeout(Duration::from_millis(50))
        .maintenance_interval(None)
        .async_factory(|| async { Ok(7u32) })
        .build_async()
        .await
        .expect("valid pool");
    let held = p.acquire().await.expect("first");
    let err = p.acquire().await.expect_err("exhausted");
    assert!(err.is_timeout());

    // A cancelled acquire leaves no ghost in line.
    let cancelled = tokio::time::timeout(Duration::from_millis(10), p.acquire()).await;
    assert!(cancelled.is_err(), "the outer timeout fired first");
    assert_eq!(p.status().pending, 0);

    let waiter = {
        let p = p.clone();
        tokio::spawn(async move { p.acquire().await.map(|g| *g) })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(held);
    assert_eq!(waiter.await.expect("joined").expect_err_or_value(), 7);
    let s = p.stats();
    assert_eq!(s.timeouts, 1);
    assert_eq!(s.created_total(), 1 + s.destroyed_total() - s.destroyed_by(DestroyReason::Closed));
}

trait OkValue {
    fn expect_err_or_value(self) -> u32;
}

impl OkValue for Result<u32, AcquireError> {
    fn expect_err_or_value(self) -> u32 {
        match self {
            Ok(v) => v,
            Err(e) => panic!("waiter failed: {e}"),
        }
    }
}

#[test]
fn close_fails_waiters_and_destroys_objects() {
    let p = pool(2, 2, 5_000);
    let held = p.acquire_blocking().expect("first");
    let _second = p.acquire_blocking().expect("second");
    let waiter = {
        let p = p.clone();
        std::thread::spawn(move || p.acquire_blocking().map(|_| ()))
    };
    while p.status().pending == 0 {
        std::thread::yield_now();
    }
    p.close();
    assert!(matches!(waiter.join().expect("no panic"), Err(AcquireError::Closed { .. })));
    drop(held);
    assert!(matches!(p.acquire_blocking(), Err(AcquireError::Closed { .. })));
    assert_eq!(p.stats().destroyed_by(DestroyReason::Closed), 1);
}

#[test]
fn detach_frees_the_slot_for_a_new_object() {
    let p = pool(1, 1, 100);
    let g = p.acquire_blocking().expect("first");
    let first = g.detach();
    assert_eq!(p.status().size, 0);
    let g = p.acquire_blocking().expect("a replacement is created");
    assert_ne!(*g, first);
    assert_eq!(p.stats().destroyed_by(DestroyReason::Detached), 1);
}

#[test]
fn invalid_settings_are_rejected_with_a_clear_error() {
    let sizes = [(0, 4), (5, 4), (1, 4097)];
    for (min, max) in sizes {
        let err =
            Pool::builder("bad").min_size(min).max_size(max).factory(|| Ok(())).build().expect_err("invalid");
        assert!(matches!(err, BuildError::InvalidSize { .. }), "{err}");
        assert!(err.to_string().contains("1 <= min_size <= max_size <= 4096"), "{err}");
    }
    for timeout in [Duration::ZERO, Duration::from_secs(86_401)] {
        let err =
            Pool::builder("bad").acquire_timeout(timeout).factory(|| Ok(())).build().expect_err("invalid");
        assert!(err.to_string().contains("acquire_timeout"), "{err}");
    }
    let err = Pool::<()>::builder("bad").build().expect_err("no factory");
    assert!(matches!(err, BuildError::MissingFactory));
    let err = Pool::builder("").factory(|| Ok(())).build().expect_err("no name");
    assert!(matches!(err, BuildError::EmptyName));
}
