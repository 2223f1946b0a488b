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
//! [`Handle`] (the handles' reference) and [`StateRef`] (a guard's pointer,
//! counted out on creation and back on drop).
#![allow(unsafe_code)]

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::Arc;

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

/// What every [`super::Pool`] clone and [`super::Ticket`] shares: the one
/// reference to the pool's state that guards rely on. Dropped with the last
/// of them; the state goes with it unless guards are out, in which case the
/// last guard back frees it.
pub(crate) struct Handle<T>(ManuallyDrop<Arc<Inner<T>>>);

impl<T> Handle<T> {
    pub(crate) fn new(inner: Inner<T>) -> Self {
        Handle(ManuallyDrop::new(Arc::new(inner)))
    }
}

impl<T> std::ops::Deref for Handle<T> {
    type Target = Arc<Inner<T>>;

    fn deref(&self) -> &Arc<Inner<T>> {
        &self.0
    }
}

impl<T> Drop for Handle<T> {
    fn drop(&mut self) {
        // SAFETY: `self.0` is taken once, here, and never used again.
        let inner = unsafe { ManuallyDrop::take(&mut self.0) };
        if !inner.guards.orphan() {
            // Guards are out: the last one back frees the state through this
            // reference (`StateRef`'s drop, `Arc::from_raw` of this pointer).
            let _ = Arc::into_raw(inner);
        }
    }
}

/// A guard's pointer to the pool's state: counted out when made, back when
/// dropped, and the state stays alive in between.
pub(crate) struct StateRef<T>(NonNull<Inner<T>>);

impl<T> StateRef<T> {
    /// Counts one more guard out of `inner` (a handle's, so alive now).
    #[inline]
    pub(crate) fn check_out(inner: &Arc<Inner<T>>) -> Self {
        inner.guards.checked_out();
        StateRef(NonNull::from(&**inner))
    }

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
        let state = self.0.as_ptr();
        // SAFETY: the state is alive until this guard leaves the count; only
        // the count is touched, through a reference to that field alone (as
        // `Arc`'s own drop touches only its counter), and nothing after.
        let gone = unsafe { (*std::ptr::addr_of!((*state).guards)).gone() };
        if gone {
            // SAFETY: the last handle left its `Arc` reference to the guards
            // (`Handle::drop`, `Arc::into_raw` of this same pointer) and this
            // was the last guard out: no one else can reach the state.
            drop(unsafe { Arc::from_raw(state) });
        }
    }
}

// SAFETY: a `StateRef` shares the pool's state as an `Arc<Inner<T>>` would,
// and `Arc<X>` is `Send` when `X: Send + Sync`.
unsafe impl<T> Send for StateRef<T> where Inner<T>: Send + Sync {}
// SAFETY: as above: `&StateRef` gives out only `&Inner<T>`.
unsafe impl<T> Sync for StateRef<T> where Inner<T>: Send + Sync {}

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
            for slot in &self.slots {
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
