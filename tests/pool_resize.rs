//! Adaptive sizing in virtual time, and bounds under real concurrency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tidepool::clock::Clock;
use tidepool::pool::{DestroyReason, Pool};

#[test]
fn grows_when_callers_wait_and_shrinks_when_idle() {
    let (clock, time) = Clock::manual();
    let pool = Pool::builder("resize")
        .min_size(2)
        .max_size(8)
        .clock(clock)
        .sizing_interval(Duration::from_secs(15))
        .acquire_timeout(Duration::from_millis(1))
        .factory(|| Ok(()))
        .build()
        .expect("valid");
    assert_eq!(pool.status().target, 2);
    // Busy: 2 held, and a third caller has to wait (and times out: the
    // manual clock is frozen, so advance it from another thread).
    let held: Vec<_> = (0..2).map(|_| pool.acquire_blocking().expect("object")).collect();
    let t = {
        let time = time.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            time.advance(Duration::from_millis(5));
        })
    };
    assert!(pool.acquire_blocking().expect_err("full").is_timeout());
    t.join().expect("advancer");
    for _ in 0..15 {
        time.advance(Duration::from_secs(1));
        pool.maintain();
    }
    let grown = pool.status().target;
    assert!(grown >= 3, "utilization 100 % and a timeout must grow the target, got {grown}");
    // Now the pool may create up to the new target without waiting.
    let more: Vec<_> = (2..grown).map(|_| pool.try_acquire().expect("creates up to the target")).collect();
    drop(more);
    drop(held);
    // Idle for a whole interval: shrink back to min, retiring idle objects.
    for _ in 0..15 {
        time.advance(Duration::from_secs(1));
        pool.maintain();
    }
    let st = pool.status();
    assert_eq!(st.target, 2);
    assert_eq!(st.size, 2);
    assert_eq!(pool.stats().destroyed_by(DestroyReason::Retired), grown as u64 - 2);
}

#[test]
fn eight_threads_hundred_thousand_ops_each_keep_every_invariant() {
    let drops = Arc::new(AtomicUsize::new(0));
    let live = Arc::new(AtomicUsize::new(0));
    let in_hand = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    #[derive(Debug)]
    struct Obj {
        drops: Arc<AtomicUsize>,
        live: Arc<AtomicUsize>,
        holder: AtomicUsize,
    }
    impl Drop for Obj {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let pool = {
        let (drops, live) = (Arc::clone(&drops), Arc::clone(&live));
        Pool::builder("stress")
            .min_size(2)
            .max_size(6)
            .acquire_timeout(Duration::from_secs(30))
            .sizing_interval(Duration::from_millis(5))
            .maintenance_interval(Some(Duration::from_millis(1)))
            .max_lifetime(Duration::from_millis(20))
            .factory(move || {
                live.fetch_add(1, Ordering::SeqCst);
                Ok(Obj {
                    drops: Arc::clone(&drops),
                    live: Arc::clone(&live),
                    holder: AtomicUsize::new(usize::MAX),
                })
            })
            .build()
            .expect("valid")
    };
    let ops = 100_000;
    let threads: Vec<_> = (0..8)
        .map(|id| {
            let (pool, in_hand, peak) = (pool.clone(), Arc::clone(&in_hand), Arc::clone(&peak));
            std::thread::spawn(move || {
                for i in 0..ops {
                    let g = pool.acquire_blocking().expect("30 s is plenty");
                    // Nobody else holds this object right now.
                    let prev = g.holder.swap(id, Ordering::SeqCst);
                    assert_eq!(prev, usize::MAX, "object handed out twice");
                    let now = in_hand.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    if i % 64 == 0 {
                        std::thread::yield_now();
                    }
                    in_hand.fetch_sub(1, Ordering::SeqCst);
                    g.holder.store(usize::MAX, Ordering::SeqCst);
                    drop(g);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no deadlock, no panic");
    }
    // The maintenance tick keeps expiring (20 ms lifetimes) and replenishing
    // objects concurrently: read a moment it left alone (the same counts
    // before and after the status) once it has restored `min_size`, which
    // it must do within a few ticks.
    let mut tries = 0;
    let (st, s) = loop {
        let before = pool.stats();
        let st = pool.status();
        let s = pool.stats();
        let still =
            (before.created_total(), before.destroyed_total()) == (s.created_total(), s.destroyed_total());
        tries += 1;
        if (still && st.size >= st.min) || tries == 2_000 {
            break (st, s);
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(s.acquires(), 8 * ops as u64);
    assert_eq!(st.in_use, 0, "all guards returned");
    assert_eq!(st.pending, 0);
    assert!(peak.load(Ordering::SeqCst) <= 6, "more than max_size objects in hand");
    assert!(live.load(Ordering::SeqCst) <= 6, "more than max_size objects alive");
    assert!(st.size >= st.min && st.size <= st.max, "{st:?}");
    assert_eq!(s.created_total(), st.idle as u64 + s.destroyed_total(), "conservation: {s:?} {st:?}");
    assert_eq!(drops.load(Ordering::SeqCst) as u64, s.destroyed_total());
    assert!(s.destroyed_by(DestroyReason::MaxLifetime) > 0, "lifetime expiry was exercised");
}
