//! Who frees the pool: its handles, or the last guard out.
//!
//! A [`super::PoolGuard`] holds a plain pointer to the pool's state, not a
//! reference count: an `Arc` clone and drop per checkout were two locked
//! operations on a line every thread writes, the costliest part of the fast
//! path. The state stays alive because the handles' `Arc` (one reference,
//! held by [`super::Pool`]'s inner `Handle`) is given up only when no guard
//! is out. [`GuardCount`] counts the guards out, with one bit that says the
//! last handle is gone:
//!
//! * the last handle sets the bit ([`GuardCount::orphan`]); if no guard was
//!   out it frees the state itself, otherwise it leaves its reference to the
//!   guards;
//! * a guard coming back takes itself off the count as the very last thing
//!   it does with the state ([`GuardCount::gone`]); the one that finds the bit
//!   set and itself the last frees the state.
//!
//! Exactly one of them frees it, after every other access (the loom model
//! below checks both with `make loom`). No guard can be handed out once the
//! bit is set: handing one out needs a handle (a `Pool` or a `Ticket`).
//!
//! This module is the pool's only `unsafe` code, behind two safe types:
//! [`Handle`] (the handles' reference, and the only way to make a guard)
//! and [`StateRef`] (a guard's pointer, counted out on creation and back on
//! drop). Both hold the pointer `Arc::into_raw` returned, so that the one
//! that frees the state frees it through that pointer.
#![allow(unsafe_code)]

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::{Arc, Weak};

use super::Inner;
use crate::primitives::{AtomicUsize, Ordering};

/// The bit set once the last handle is gone.
const ORPHANED: usize = 1 << (usize::BITS - 1);

/// Guards out, and whether the last handle is gone.
#[derive(Debug)]
pub(crate) struct GuardCount(AtomicUsize);

impl GuardCount {
    pub(crate) fn new() -> Self {
        GuardCount(AtomicUsize::new(0))
    }

    /// One more guard out. Relaxed: the caller holds a handle, whose drop
    /// (through `Arc`'s release/acquire) comes after this.
    #[inline]
    pub(crate) fn checked_out(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// One guard back, its last access to the pool's state. `true`: the
    /// last handle is gone and this was the last guard, so the caller frees
    /// the state. Release: what the guard did comes before the free;
    /// acquire: the free comes after what every other guard did.
    #[inline]
    pub(crate) fn gone(&self) -> bool {
        self.0.fetch_sub(1, Ordering::AcqRel) == ORPHANED | 1
    }

    /// The last handle is gone. `true`: no guard is out, so the caller
    /// frees the state now; otherwise the last guard back will.
    pub(crate) fn orphan(&self) -> bool {
        self.0.fetch_or(ORPHANED, Ordering::AcqRel) == 0
    }

    /// Guards out now.
    pub(crate) fn out(&self) -> usize {
        self.0.load(Ordering::Relaxed) & !ORPHANED
    }
}

/// What every [`super::Pool`] clone and [`super::Ticket`] shares: one strong
/// reference to the pool's state, held as the pointer `Arc::into_raw` gave
/// (so that whoever frees it, handle or guard, frees it through that
/// pointer). Dropped with the last of them; the state goes with it unless
/// guards are out, in which case the last guard back frees it. Only a
/// handle hands out guards ([`Handle::check_out`]).
pub(crate) struct Handle<T>(NonNull<Inner<T>>);

impl<T> Handle<T> {
    pub(crate) fn new(inner: Inner<T>) -> Self {
        let state = Arc::into_raw(Arc::new(inner)).cast_mut();
        // SAFETY: `Arc::into_raw` never returns null.
        Handle(unsafe { NonNull::new_unchecked(state) })
    }

    /// Counts one more guard out and gives it its pointer. Through a
    /// handle only: once the last handle is gone, no guard can be made.
    #[inline]
    pub(crate) fn check_out(&self) -> StateRef<T> {
        self.guards.checked_out();
        StateRef(self.0)
    }

    /// A weak reference (the maintenance thread's).
    pub(crate) fn downgrade(&self) -> Weak<Inner<T>> {
        // SAFETY: the pointer came from `Arc::into_raw` and this handle's
        // strong reference keeps it valid; `ManuallyDrop` leaves the count
        // as it was.
        let arc = ManuallyDrop::new(unsafe { Arc::from_raw(self.0.as_ptr()) });
        Arc::downgrade(&arc)
    }
}

impl<T> std::ops::Deref for Handle<T> {
    type Target = Inner<T>;

    #[inline]
    fn deref(&self) -> &Inner<T> {
        // SAFETY: this handle holds a strong reference until its drop.
        unsafe { self.0.as_ref() }
    }
}

impl<T> Drop for Handle<T> {
    fn drop(&mut self) {
        // No guard out: this handle's reference is the last; otherwise the
        // last guard back frees the state (`StateRef`'s drop).
        let_go(self.0, GuardCount::orphan);
    }
}

/// A holder's last access to the state (a handle's or a guard's drop):
/// `leave` takes it off the count and says whether it was the last, in
/// which case the state is freed through the pointer `Arc::into_raw` gave.
fn let_go<T>(state: NonNull<Inner<T>>, leave: fn(&GuardCount) -> bool) {
    let state = state.as_ptr();
    // Only the count is touched, through a reference to that field alone
    // (as `Arc`'s own drop touches only its counter): another holder may
    // free the state as soon as `leave` is done.
    // SAFETY: the state is alive while this holder is counted.
    let last = leave(unsafe { &*std::ptr::addr_of!((*state).guards) });
    if last {
        // `orphan` and `gone` say so to exactly one holder: the last handle
        // is gone and no guard is out, so no one else can reach the state.
        // SAFETY: the handles' reference, from `Arc::into_raw` of this same
        // pointer, is given back once.
        drop(unsafe { Arc::from_raw(state) });
    }
}

// SAFETY: a `Handle` owns a strong reference to the state as an
// `Arc<Inner<T>>` would, and `Arc<X>` is `Send + Sync` when `X: Send + Sync`.
unsafe impl<T> Send for Handle<T> where Inner<T>: Send + Sync {}
// SAFETY: as above: `&Handle` gives out only `&Inner<T>` and guards.
unsafe impl<T> Sync for Handle<T> where Inner<T>: Send + Sync {}

/// A guard's pointer to the pool's state (the handle's, from
/// `Arc::into_raw`): counted out when made ([`Handle::check_out`]), back
/// when dropped, and the state stays alive in between.
pub(crate) struct StateRef<T>(NonNull<Inner<T>>);

impl<T> StateRef<T> {
    /// The pool's state.
    #[inline]
    pub(crate) fn get(&self) -> &Inner<T> {
        // SAFETY: this guard is counted out, so the state is alive until
        // `drop` below takes it off the count; the reference cannot outlive
        // `self`.
        unsafe { self.0.as_ref() }
    }
}

impl<T> Drop for StateRef<T> {
    fn drop(&mut self) {
        let_go(self.0, GuardCount::gone);
    }
}

// SAFETY: a `StateRef` shares the pool's state as an `Arc<Inner<T>>` would,
// and `Arc<X>` is `Send` when `X: Send + Sync`.
unsafe impl<T> Send for StateRef<T> where Inner<T>: Send + Sync {}
// SAFETY: as above: `&StateRef` gives out only `&Inner<T>`.
unsafe impl<T> Sync for StateRef<T> where Inner<T>: Send + Sync {}

/// The real `Handle` and `StateRef` through a real pool, written to run
/// under Miri too (`cargo +nightly miri test --lib pool::custody`: a manual
/// clock, no maintenance thread), which checks the pointer's provenance and
/// that nothing is touched after the free.
#[cfg(all(test, not(tidepool_loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use crate::clock::Clock;
    use crate::pool::Pool;

    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn pool(dropped: &Arc<AtomicUsize>) -> Pool<Counted> {
        let made = Arc::clone(dropped);
        Pool::builder("custody")
            .min_size(2)
            .max_size(2)
            .clock(Clock::manual().0)
            .maintenance_interval(None)
            .factory(move || Ok(Counted(Arc::clone(&made))))
            .build()
            .expect("valid")
    }

    #[test]
    fn the_last_guard_back_on_another_thread_frees_the_pool() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let pool = pool(&dropped);
        let first = pool.acquire_blocking().expect("object");
        let second = {
            let pool = pool.clone();
            std::thread::spawn(move || pool.acquire_blocking().expect("object")).join().expect("thread")
        };
        drop(pool);
        assert_eq!(dropped.load(Ordering::SeqCst), 0, "the pool lives while a guard is out");
        let back = std::thread::spawn(move || drop(first));
        back.join().expect("thread");
        assert_eq!(dropped.load(Ordering::SeqCst), 0, "one guard is still out");
        let _ = &*second; // still usable
        drop(second);
        assert_eq!(dropped.load(Ordering::SeqCst), 2, "freed once, by the last guard back");
    }

    /// A detached object leaves with its owner, not with the pool.
    #[test]
    fn the_last_handle_frees_when_nothing_is_out() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let pool = pool(&dropped);
        let kept = pool.acquire_blocking().expect("object").detach();
        drop(pool.acquire_blocking().expect("object"));
        let clone = pool.clone();
        drop(pool);
        assert_eq!(dropped.load(Ordering::SeqCst), 0, "a handle is left");
        drop(clone);
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "the idle object went with the pool");
        drop(kept);
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
    }
}

/// Checked with loom (`make loom`): the free happens exactly once, after
/// every access, whichever of handle and guards finishes last.
#[cfg(all(test, tidepool_loom))]
mod loom_tests {
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;

    /// The pool's state as the model sees it: a plain value per guard
    /// (what a guard's return writes: its object's slot), and how many
    /// times the state was freed.
    struct State {
        count: GuardCount,
        slots: [UnsafeCell<u32>; 2],
        /// What a handle's side writes before it lets go.
        handle_side: UnsafeCell<u32>,
        frees: AtomicUsize,
    }

    impl State {
        /// Guard `i`'s return: it writes its slot, then goes.
        fn guard_back(&self, i: usize) {
            // SAFETY: (the model) a plain write that races with the free unless
            // `gone` orders it first; loom reports any such race.
            self.slots[i].with_mut(|v| unsafe { *v += 1 });
            if self.count.gone() {
                self.free();
            }
        }

        fn free(&self) {
            // The free reads what every guard wrote (as dropping the state
            // drops every object).
            for slot in self.slots.iter().chain([&self.handle_side]) {
                // SAFETY: (the model) as above.
                slot.with(|v| unsafe { assert!(*v <= 1) });
            }
            self.frees.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn two_guards_and_the_last_handle_free_once() {
        loom::model(|| {
            let state = Arc::new(State {
                count: GuardCount::new(),
                slots: [UnsafeCell::new(0), UnsafeCell::new(0)],
                handle_side: UnsafeCell::new(0),
                frees: AtomicUsize::new(0),
            });
            state.count.checked_out();
            state.count.checked_out();
            let guards: Vec<_> = (0..2)
                .map(|i| {
                    let state = Arc::clone(&state);
                    thread::spawn(move || state.guard_back(i))
                })
                .collect();
            if state.count.orphan() {
                state.free();
            }
            for guard in guards {
                guard.join().expect("guard");
            }
            assert_eq!(state.frees.load(Ordering::Relaxed), 1);
            assert_eq!(state.count.out(), 0);
        });
    }

    /// As the pool runs it: two handles (a `Pool` and its clone, dropped
    /// as `Arc<Handle>` drops: release, and an acquire fence on the last);
    /// one guard checked out on the main thread and returned on another,
    /// one checked out on a second thread through its own handle, which it
    /// drops before returning the guard; the main thread writes the state
    /// before dropping its handle. Fails if `orphan` is only `Acquire`.
    #[test]
    fn guards_and_handles_on_their_own_threads_free_once() {
        struct Shared {
            state: State,
            handles: AtomicUsize,
        }
        fn drop_handle(shared: &Shared) {
            if shared.handles.fetch_sub(1, Ordering::Release) == 1 {
                loom::sync::atomic::fence(Ordering::Acquire);
                if shared.state.count.orphan() {
                    shared.state.free();
                }
            }
        }
        loom::model(|| {
            let shared = Arc::new(Shared {
                state: State {
                    count: GuardCount::new(),
                    slots: [UnsafeCell::new(0), UnsafeCell::new(0)],
                    handle_side: UnsafeCell::new(0),
                    frees: AtomicUsize::new(0),
                },
                handles: AtomicUsize::new(2),
            });
            shared.state.count.checked_out();
            let first = {
                let shared = Arc::clone(&shared);
                thread::spawn(move || shared.state.guard_back(0))
            };
            let second = {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    shared.state.count.checked_out();
                    drop_handle(&shared);
                    shared.state.guard_back(1);
                })
            };
            // SAFETY: (the model) a plain write by the handle's side.
            shared.state.handle_side.with_mut(|v| unsafe { *v += 1 });
            drop_handle(&shared);
            first.join().expect("first guard");
            second.join().expect("second guard");
            assert_eq!(shared.state.frees.load(Ordering::Relaxed), 1);
        });
    }

    #[test]
    fn no_guard_out_the_handle_frees() {
        loom::model(|| {
            let count = GuardCount::new();
            count.checked_out();
            assert!(!count.gone(), "a guard back while a handle lives frees nothing");
            assert!(count.orphan());
        });
    }
}
