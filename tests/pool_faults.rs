//! Factory failures and panics, holder panics, recycle failures, leaks:
//! never a lost object, never a poisoned pool.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tidepool::clock::Clock;
use tidepool::pool::{AcquireError, BuildError, DestroyReason, Pool};

/// An object that counts its own drops.
#[derive(Debug)]
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn ten_percent_factory_failures_lose_nothing_and_are_counted() {
    let drops = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let pool = {
        let (drops, calls) = (Arc::clone(&drops), Arc::clone(&calls));
        Pool::builder("flaky")
            .min_size(1)
            .max_size(4)
            .acquire_timeout(Duration::from_secs(5))
            .max_lifetime(Duration::from_millis(1)) // forces frequent re-creation
            .maintenance_interval(None)
            .factory(move || {
                // Deterministic 10 %: every tenth call fails (the first succeeds for prewarm).
                if calls.fetch_add(1, Ordering::SeqCst) % 10 == 9 {
                    Err("connection refused".into())
                } else {
                    Ok(Tracked(Arc::clone(&drops)))
                }
            })
            .build()
            .expect("prewarm succeeds")
    };
    let mut failures = 0u64;
    let mut ok = 0u64;
    for _ in 0..2_000 {
        match pool.acquire_blocking() {
            Ok(g) => {
                ok += 1;
                std::thread::sleep(Duration::from_micros(50));
                drop(g);
            }
            Err(e) => {
                assert!(matches!(e, AcquireError::Factory { .. }), "{e}");
                assert!(e.to_string().contains("connection refused"));
                failures += 1;
            }
        }
    }
    let s = pool.stats();
    let calls = calls.load(Ordering::SeqCst);
    assert!(failures >= 20, "lifetime expiry should force many creations; {failures} failures");
    assert_eq!(failures, calls / 10, "every tenth factory call fails and each failure reaches a caller");
    assert_eq!(s.factory_errors, failures);
    assert_eq!(s.acquires(), ok);
    // Conservation at a quiescent point: created = idle + in use + destroyed.
    let st = pool.status();
    assert_eq!(st.in_use, 0);
    assert_eq!(s.created_total(), st.idle as u64 + s.destroyed_total());
    assert_eq!(drops.load(Ordering::SeqCst) as u64, s.destroyed_total());
    assert_eq!(st.size, st.idle, "no size unit leaked by a failed creation");
}

#[test]
fn a_panicking_factory_is_an_error_not_a_poisoned_pool() {
    let calls = Arc::new(AtomicUsize::new(0));
    let pool = {
        let calls = Arc::clone(&calls);
        Pool::builder("panicky")
            .min_size(1)
            .max_size(2)
            .sizing_policy(tidepool::pool::FixedPolicy)
            .sizing_interval(Duration::from_millis(1))
            .maintenance_interval(None)
            .factory(move || {
                if calls.fetch_add(1, Ordering::SeqCst) == 1 {
                    panic!("factory exploded");
                }
                Ok(1u8)
            })
            .build()
            .expect("prewarm succeeds")
    };
    std::thread::sleep(Duration::from_millis(2));
    pool.maintain(); // FixedPolicy: target = max = 2
    let _first = pool.acquire_blocking().expect("prewarmed object");
    let err = pool.acquire_blocking().expect_err("second creation panics");
    assert!(
        matches!(&err, AcquireError::FactoryPanicked { message, .. } if message.contains("factory exploded")),
        "{err}"
    );
    assert_eq!(pool.status().size, 1, "the failed reservation was released");
    assert!(pool.acquire_blocking().is_ok(), "the pool still creates");
}

#[test]
fn a_failing_prewarm_fails_the_build() {
    let err =
        Pool::<u8>::builder("dead").factory(|| Err("db down".into())).build().expect_err("prewarm fails");
    assert!(matches!(err, BuildError::Prewarm { .. }));
    assert!(err.to_string().contains("db down"), "{err}");
}

#[test]
fn a_holder_that_panics_gets_its_object_destroyed_not_reused() {
    let drops = Arc::new(AtomicUsize::new(0));
    let pool = {
        let drops = Arc::clone(&drops);
        Pool::builder("holder")
            .min_size(1)
            .max_size(1)
            .maintenance_interval(None)
            .factory(move || Ok(Tracked(Arc::clone(&drops))))
            .build()
            .expect("valid")
    };
    let p = pool.clone();
    let joined = std::thread::spawn(move || {
        let _g = p.acquire_blocking().expect("object");
        panic!("holder panicked while holding");
    })
    .join();
    assert!(joined.is_err());
    assert_eq!(pool.stats().destroyed_by(DestroyReason::Panicked), 1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(pool.acquire_blocking().is_ok(), "a fresh object replaces it");
    assert_eq!(pool.stats().created_total(), 2);
}

#[test]
fn recycle_failures_destroy_the_object() {
    let pool = Pool::builder("recycle")
        .min_size(1)
        .max_size(1)
        .maintenance_interval(None)
        .factory(|| Ok(0u32))
        .recycle(|n: &mut u32| if *n > 0 { Err("dirty".into()) } else { Ok(()) })
        .build()
        .expect("valid");
    drop(pool.acquire_blocking().expect("clean"));
    *pool.acquire_blocking().expect("still the same object") += 1;
    assert_eq!(pool.stats().destroyed_by(DestroyReason::RecycleFailed), 1);
    assert_eq!(*pool.acquire_blocking().expect("replacement"), 0);
}

#[test]
fn leaks_are_reported_once_per_checkout_in_virtual_time() {
    let (clock, time) = Clock::manual();
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let pool = {
        let seen = Arc::clone(&seen);
        Pool::builder("leaky")
            .min_size(1)
            .max_size(2)
            .clock(clock)
            .leak_threshold(Duration::from_secs(10))
            .factory(|| Ok(()))
            .on_leak(move |e| seen.lock().push(e.held))
            .build()
            .expect("valid")
    };
    let held = pool.acquire_blocking().expect("object");
    time.advance(Duration::from_secs(9));
    assert_eq!(pool.maintain().leaks, 0);
    time.advance(Duration::from_secs(2));
    assert_eq!(pool.maintain().leaks, 1);
    time.advance(Duration::from_secs(5));
    assert_eq!(pool.maintain().leaks, 0, "reported once per checkout");
    assert_eq!(*seen.lock(), vec![Duration::from_secs(11)]);
    assert_eq!(pool.stats().leaks, 1);
    drop(held);
    assert_eq!(pool.stats().use_total, Duration::from_secs(16));
}

#[test]
fn idle_time_and_lifetime_expire_in_virtual_time() {
    let (clock, time) = Clock::manual();
    let pool = Pool::builder("expiry")
        .min_size(1)
        .max_size(4)
        .clock(clock)
        .sizing_policy(tidepool::pool::FixedPolicy)
        .max_idle_time(Duration::from_secs(60))
        .max_lifetime(Duration::from_secs(3600))
        .factory(|| Ok(()))
        .build()
        .expect("valid");
    time.advance(Duration::from_secs(15));
    pool.maintain(); // target -> max
    let held: Vec<_> = (0..3).map(|_| pool.acquire_blocking().expect("object")).collect();
    drop(held);
    assert_eq!(pool.status().idle, 3);
    time.advance(Duration::from_secs(61));
    let m = pool.maintain();
    assert_eq!(m.expired, 2, "idle expiry stops at min_size");
    assert_eq!(pool.status().size, 1);
    time.advance(Duration::from_secs(3600));
    let m = pool.maintain();
    assert_eq!((m.expired, m.replenished), (1, 1), "lifetime always expires; min is replenished");
    let s = pool.stats();
    assert_eq!(s.destroyed_by(DestroyReason::IdleTimeout), 2);
    assert_eq!(s.destroyed_by(DestroyReason::MaxLifetime), 1);
    assert_eq!(s.created[2], 1, "one replenish");
}

/// Maintenance skips the pass over the idle queue until a deadline may be
/// due (objects put back arm it); expiry still happens at the first tick
/// past each deadline, and objects returned later re-arm it.
#[test]
fn expiry_happens_at_the_first_tick_past_each_deadline() {
    let (clock, time) = Clock::manual();
    let pool = Pool::builder("ticks")
        .min_size(1)
        .max_size(4)
        .clock(clock)
        .sizing_policy(tidepool::pool::FixedPolicy)
        .max_idle_time(Duration::from_secs(10))
        .factory(|| Ok(()))
        .build()
        .expect("valid");
    time.advance(Duration::from_secs(15));
    pool.maintain(); // the sizing interval is over: target -> max
    let a = pool.acquire_blocking().expect("a");
    let b = pool.acquire_blocking().expect("b");
    let c = pool.acquire_blocking().expect("c");
    drop(a); // idle from t = 15
    time.advance(Duration::from_secs(4));
    drop(b); // idle from t = 19
    let mut expired_at = Vec::new();
    for second in 20..=35 {
        time.advance(Duration::from_secs(1));
        let m = pool.maintain();
        expired_at.extend(std::iter::repeat_n(second, m.expired));
    }
    assert_eq!(expired_at, vec![25, 29], "each at its own deadline");
    // At min_size, an object past its idle deadline stays.
    drop(c); // idle from t = 35
    time.advance(Duration::from_secs(11));
    assert_eq!(pool.maintain().expired, 0);
    assert_eq!(pool.status().size, 1);
    // A later return re-arms it.
    let c = pool.acquire_blocking().expect("c again");
    drop(pool.acquire_blocking().expect("d")); // a new object, idle from t = 46
    drop(c);
    time.advance(Duration::from_secs(9));
    assert_eq!(pool.maintain().expired, 0);
    time.advance(Duration::from_secs(1));
    assert_eq!(pool.maintain().expired, 1, "back to min_size");
    assert_eq!(pool.status().size, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn cancelling_an_async_acquire_mid_creation_leaks_nothing() {
    let pool = Pool::builder("slow")
        .min_size(1)
        .max_size(2)
        .sizing_policy(tidepool::pool::FixedPolicy)
        .sizing_interval(Duration::from_millis(1))
        .maintenance_interval(None)
        .async_factory(|| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(0u8)
        })
        .build_async()
        .await
        .expect("valid");
    std::thread::sleep(Duration::from_millis(2)); // the pool reads the system clock
    pool.maintain(); // target -> max = 2
    let held = pool.acquire().await.expect("prewarmed");
    // Many acquires cancelled while their object is being created.
    for _ in 0..10 {
        let cancelled = tokio::time::timeout(Duration::from_millis(10), pool.acquire()).await;
        assert!(cancelled.is_err());
        assert_eq!(pool.status().size, 1, "the creation slot came back");
    }
    // The pool can still create its second object.
    let second = pool.acquire().await.expect("created");
    assert_eq!(pool.status().size, 2);
    drop((held, second));
}

#[test]
fn a_slot_reused_after_a_leak_reports_its_own_leak() {
    let (clock, time) = Clock::manual();
    let pool = Pool::builder("releak")
        .min_size(1)
        .max_size(1)
        .clock(clock)
        .leak_threshold(Duration::from_secs(10))
        .factory(|| Ok(()))
        .on_leak(|_| {})
        .build()
        .expect("valid");
    let first = pool.acquire_blocking().expect("object");
    time.advance(Duration::from_secs(11));
    assert_eq!(pool.maintain().leaks, 1);
    drop(first);
    let second = pool.acquire_blocking().expect("same object, same slot");
    time.advance(Duration::from_secs(11));
    assert_eq!(pool.maintain().leaks, 1, "the second checkout's leak is reported too");
    drop(second);
    assert_eq!(pool.stats().leaks, 2);
}

#[test]
fn idle_expiry_on_acquire_keeps_min_size_objects() {
    let (clock, time) = Clock::manual();
    let pool = Pool::builder("quiet")
        .min_size(2)
        .max_size(2)
        .clock(clock)
        .max_idle_time(Duration::from_secs(1))
        .factory(|| Ok(()))
        .build()
        .expect("valid");
    time.advance(Duration::from_secs(5));
    let a = pool.acquire_blocking().expect("object");
    let b = pool.acquire_blocking().expect("object");
    drop((a, b));
    assert_eq!(pool.stats().created_total(), 2, "min_size objects are not rebuilt after a quiet spell");
    assert_eq!(pool.stats().destroyed_by(DestroyReason::IdleTimeout), 0);
}

/// A clock source that steps back 30 s after every few reads (an NTP step,
/// a VM restore): the pool must neither panic nor report absurd durations.
#[derive(Debug, Default)]
struct Stepping(AtomicU64);

impl tidepool::clock::TimeSource for Stepping {
    fn now_nanos(&self) -> u64 {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        // Forward 1 ms a read, then 30 s back every 7th read.
        let forward = 60_000_000_000 + n * 1_000_000;
        forward - (n / 7) * 30_000_000_000 % 60_000_000_000
    }
}

#[test]
fn a_clock_stepping_backwards_neither_panics_nor_loses_objects() {
    let pool = Pool::builder("stepping")
        .min_size(3)
        .max_size(3)
        .clock(Clock::custom(Stepping::default()))
        .maintenance_interval(None)
        .leak_threshold(Duration::from_secs(1))
        .max_idle_time(Duration::from_secs(5))
        .factory(|| Ok(0u8))
        .build()
        .expect("pool");
    for i in 0..1_000 {
        let a = pool.try_acquire().expect("an object");
        let b = pool.try_acquire().expect("a second");
        drop(a);
        if i % 10 == 0 {
            pool.maintain();
        }
        drop(b);
    }
    let stats = pool.stats();
    let status = pool.status();
    assert_eq!(stats.acquires(), 2_000);
    // Durations are measured on a clock that never runs backwards: a hold
    // of a few reads is milliseconds, never a wrapped-around u64.
    assert!(stats.use_total < Duration::from_secs(2_000 * 60), "{stats:?}");
    assert_eq!(stats.created_total() - stats.destroyed_total(), status.size as u64, "{stats:?} {status:?}");
    assert_eq!(status.in_use, 0);
}

/// On the system clock an untimed checkout reads no clock: the leak scan
/// times it from the first pass that sees it, so its leak is found at most
/// one pass late and never before the threshold.
#[test]
fn an_untimed_checkout_is_timed_from_the_first_scan_that_sees_it() {
    let held = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let seen = Arc::clone(&held);
    let clock = Clock::system();
    let pool = Pool::builder("untimed")
        .min_size(1)
        .max_size(1)
        .maintenance_interval(None)
        // 1 in 2^31: no hold of this test is timed (but for odds of 1e-9).
        .hold_sample_every(u32::MAX)
        .leak_threshold(Duration::from_millis(200))
        .on_leak(move |e| seen.lock().push(e.held))
        .factory(|| Ok(()))
        .build()
        .expect("valid");
    let guard = pool.acquire_blocking().expect("object");
    std::thread::sleep(Duration::from_millis(300));
    // Past the threshold since the checkout, but the first pass only stamps.
    let first_pass = clock.now();
    assert_eq!(pool.maintain().leaks, 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pool.maintain().leaks, 1);
    let since_first_pass = clock.now() - first_pass;
    assert_eq!(pool.maintain().leaks, 0, "reported once per checkout");
    let reported = held.lock()[0];
    assert!(reported >= Duration::from_millis(300) && reported <= since_first_pass, "{reported:?}");
    drop(guard);
    // Returned: the next checkout is a new one, unstamped again.
    let _again = pool.acquire_blocking().expect("object");
    assert_eq!(pool.maintain().leaks, 0);
    assert_eq!(pool.stats().leaks, 1);
}
