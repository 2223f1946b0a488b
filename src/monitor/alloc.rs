//! An optional counting global allocator: allocation rate and live heap
//! bytes for the monitor (Rust's analogue of a garbage collector's
//! pressure figures).
//!
//! Install it in your binary — the library never does:
//!
//! ```
//! use tidepool::monitor::alloc::CountingAllocator;
//!
//! #[global_allocator]
//! static ALLOC: CountingAllocator = CountingAllocator::system();
//!
//! let before = tidepool::monitor::alloc::counters().expect("installed");
//! let v: Vec<u8> = Vec::with_capacity(1 << 20);
//! let after = tidepool::monitor::alloc::counters().expect("installed");
//! assert!(after.allocated_bytes - before.allocated_bytes >= 1 << 20);
//! drop(v);
//! ```
//!
//! Then [`super::sampler::Sampler::allocations`] turns the counters into
//! [`super::Kind::AllocationRate`] readings (bytes allocated per second) and
//! a `heap` memory series for the leak verdict. The cost is two relaxed
//! atomic additions per allocation and free.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static ALLOCATED: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// A [`GlobalAlloc`] that counts bytes allocated and freed, then delegates
/// to `A` (the system allocator by default).
#[derive(Debug, Default)]
pub struct CountingAllocator<A = System> {
    inner: A,
}

impl CountingAllocator<System> {
    /// Counting over the system allocator.
    pub const fn system() -> Self {
        CountingAllocator { inner: System }
    }
}

impl<A> CountingAllocator<A> {
    /// Counting over `inner` (e.g. a jemalloc or mimalloc allocator).
    pub const fn new(inner: A) -> Self {
        CountingAllocator { inner }
    }
}

#[inline]
fn count_alloc(size: usize) {
    // Relaxed: independent counters, read as a snapshot by the sampler.
    ALLOCATED.fetch_add(size as u64, Ordering::Relaxed);
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
}

// SAFETY: every method delegates to `inner` with the caller's arguments
// unchanged, so `inner`'s guarantees (a valid `GlobalAlloc`) carry over;
// the counting touches only static atomics: it neither allocates (no
// re-entry) nor unwinds.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours: `layout` has a non-zero size.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            count_alloc(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            count_alloc(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by this allocator (so by `inner`) with
        // `layout`, as our caller guarantees.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: our caller's guarantees on `ptr`, `layout` and `new_size`
        // are `inner.realloc`'s.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            FREED.fetch_add(layout.size() as u64, Ordering::Relaxed);
            count_alloc(new_size);
        }
        p
    }
}

/// The counters since the process started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocCounters {
    /// Bytes ever allocated.
    pub allocated_bytes: u64,
    /// Bytes ever freed.
    pub freed_bytes: u64,
    /// Allocations made.
    pub allocations: u64,
}

impl AllocCounters {
    /// Bytes allocated and not yet freed.
    pub fn live_bytes(&self) -> u64 {
        self.allocated_bytes.saturating_sub(self.freed_bytes)
    }
}

/// The counters, or `None` when no [`CountingAllocator`] is installed (or
/// it has not allocated yet).
pub fn counters() -> Option<AllocCounters> {
    INSTALLED.load(Ordering::Relaxed).then(|| AllocCounters {
        allocated_bytes: ALLOCATED.load(Ordering::Relaxed),
        freed_bytes: FREED.load(Ordering::Relaxed),
        allocations: ALLOCATIONS.load(Ordering::Relaxed),
    })
}
