//! Counters that many threads bump at once, each on a cache line it owns.
//!
//! A shared counter costs every increment a locked instruction, and the
//! threads bumping it bounce its cache line between them. [`PerThreadCounter`]
//! gives each live thread its own shard: the first [`OWNED_SHARDS`] threads
//! alive at once that count anything each own one (a process-wide slot, the
//! same index in every counter, taken at a thread's first count) and count
//! on it with a plain load and store, exact because it is the shard's only
//! writer. Slots are handed back when their thread exits, so short-lived
//! threads reuse them. Threads beyond those `fetch_add` on [`SHARED_SHARDS`]
//! shared shards: still exact, slower. A reader sums every shard. Each
//! counter is `OWNED_SHARDS + SHARED_SHARDS` cache lines (5 KiB).
//!
//! Used for a pool's checkouts and a profiled lock's shared acquisitions
//! (one slot budget for both: a thread that checks objects out and reads a
//! lock owns one slot for the two).
//!
//! Not under the loom shim (`crate::primitives`): loom runs a model's
//! threads on one OS thread, so they would share one slot. A loom model that
//! drives a checkout or a read needs `loom::thread_local!` here first.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

/// Shards owned by one thread each: up to this many live threads count
/// without a locked instruction.
const OWNED_SHARDS: usize = 32;
/// Shards shared (`fetch_add`) by the threads beyond those.
const SHARED_SHARDS: usize = 8;

/// A counter with a shard per live thread (see the module docs).
#[derive(Debug)]
pub(crate) struct PerThreadCounter {
    /// [`OWNED_SHARDS`] owned shards, then [`SHARED_SHARDS`] shared ones.
    shards: Box<[CachePadded<AtomicU64>]>,
}

impl Default for PerThreadCounter {
    fn default() -> Self {
        PerThreadCounter {
            shards: (0..OWNED_SHARDS + SHARED_SHARDS).map(|_| CachePadded::new(AtomicU64::new(0))).collect(),
        }
    }
}

impl PerThreadCounter {
    /// Adds one on this thread's shard and returns the shard's new count
    /// (for sampling one in N). Release: a reader that sees this count
    /// ([`Self::sum`] acquires) sees what the thread wrote before it.
    #[inline]
    pub(crate) fn increment(&self) -> u64 {
        match thread_slot() {
            Some(slot) => {
                let shard = &self.shards[slot];
                // This thread is the shard's only writer while it holds the
                // slot, and the slot's next owner takes it through the free
                // list's mutex (after this store): a load and store is exact.
                let n = shard.load(Ordering::Relaxed) + 1;
                shard.store(n, Ordering::Release);
                n
            }
            None => {
                let shard = OWNED_SHARDS + thread_id() as usize % SHARED_SHARDS;
                self.shards[shard].fetch_add(1, Ordering::Release) + 1
            }
        }
    }

    /// Every shard's count, summed (each loaded with acquire).
    pub(crate) fn sum(&self) -> u64 {
        self.shards.iter().map(|s| s.load(Ordering::Acquire)).fold(0, u64::wrapping_add)
    }
}

/// A process-wide id for the calling thread: never 0, never reused.
#[inline]
pub(crate) fn thread_id() -> u64 {
    THREAD_ID.with(|id| {
        let mut v = id.get();
        if v == 0 {
            v = NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed);
            id.set(v);
        }
        v
    })
}

static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

/// Owned slots not held by a live thread.
static FREE_SLOTS: LazyLock<Mutex<Vec<usize>>> =
    LazyLock::new(|| Mutex::new((0..OWNED_SHARDS).rev().collect()));

/// A thread's owned slot, given back when the thread exits.
struct Slot(Option<usize>);

impl Drop for Slot {
    fn drop(&mut self) {
        // From now on this thread counts on the shared shards; its last
        // count on its shards was stored before, and the next owner takes
        // the slot through the same mutex, so it sees those counts.
        SLOT_CACHE.with(|c| c.set(NO_SLOT));
        if let Some(slot) = self.0 {
            FREE_SLOTS.lock().push(slot);
        }
    }
}

/// [`SLOT_CACHE`] before the thread's first count.
const SLOT_UNKNOWN: u8 = 0;
/// [`SLOT_CACHE`] of a thread without a slot (or exiting).
const NO_SLOT: u8 = u8::MAX;

thread_local! {
    /// This thread's id ([`thread_id`]); 0 until first used.
    static THREAD_ID: Cell<u64> = const { Cell::new(0) };
    /// Holds the slot and gives it back at thread exit.
    static SLOT: Slot = Slot(FREE_SLOTS.lock().pop());
    /// The slot + 1 (or one of the two states above): read on every count,
    /// so a plain cell with no destructor to check.
    static SLOT_CACHE: Cell<u8> = const { Cell::new(SLOT_UNKNOWN) };
}

/// This thread's owned shard of every [`PerThreadCounter`], if one was free
/// when it first counted (none once the thread is exiting).
#[inline]
fn thread_slot() -> Option<usize> {
    match SLOT_CACHE.with(Cell::get) {
        NO_SLOT => None,
        SLOT_UNKNOWN => claim_slot(),
        v => Some(usize::from(v) - 1),
    }
}

#[cold]
fn claim_slot() -> Option<usize> {
    // During thread exit SLOT may be gone: then count as a thread without a
    // slot (the cache is already NO_SLOT if one was held).
    let slot = SLOT.try_with(|slot| slot.0).ok().flatten();
    let cached = slot.and_then(|s| u8::try_from(s + 1).ok()).unwrap_or(NO_SLOT);
    SLOT_CACHE.with(|c| c.set(cached));
    slot
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_are_exact_across_thread_churn_and_slot_overflow() {
        let counter = Arc::new(PerThreadCounter::default());
        // More live threads than owned slots, then waves of short-lived ones
        // that reuse the slots given back.
        for wave in [OWNED_SHARDS + 9, 3, 1, OWNED_SHARDS * 2] {
            let barrier = Arc::new(std::sync::Barrier::new(wave));
            let threads: Vec<_> = (0..wave)
                .map(|_| {
                    let (counter, barrier) = (Arc::clone(&counter), Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        barrier.wait(); // all alive at once
                        for _ in 0..1000 {
                            counter.increment();
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().expect("counting thread");
            }
        }
        assert_eq!(counter.sum(), 1000 * (OWNED_SHARDS as u64 * 3 + 9 + 4));
    }

    #[test]
    fn ids_are_distinct_and_never_zero() {
        let here = thread_id();
        let there = std::thread::spawn(thread_id).join().expect("thread");
        assert!(here != 0 && there != 0 && here != there);
        assert_eq!(thread_id(), here);
    }
}
