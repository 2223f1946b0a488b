//! Synchronisation primitives behind one name, so `--cfg tidepool_loom` can swap
//! in loom's model-checked versions (crossbeam-epoch's `primitive` module does
//! the same). Only the hand-off core uses these; see `make loom`.

#[cfg(not(tidepool_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicUsize, Ordering};

#[cfg(tidepool_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicUsize, Ordering};

/// The handle a parked waiter is woken through.
#[cfg(not(tidepool_loom))]
pub(crate) use std::thread::{current, Thread};

/// The handle a parked waiter is woken through.
#[cfg(tidepool_loom)]
pub(crate) use loom::thread::{current, Thread};

/// A mutex whose `lock` returns the guard directly (parking_lot's shape).
#[cfg(not(tidepool_loom))]
pub(crate) type Mutex<T> = parking_lot::Mutex<T>;

/// A mutex whose `lock` returns the guard directly (parking_lot's shape).
#[cfg(tidepool_loom)]
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(tidepool_loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        // Poisoning cannot happen in the loom models: nothing panics while locked.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The bounded lock-free queue holding idle objects.
#[cfg(not(tidepool_loom))]
pub(crate) type IdleQueue<E> = crossbeam_queue::ArrayQueue<E>;

/// Under loom: a mutex-guarded queue with `ArrayQueue`'s interface. The model
/// checks the hand-off protocol built on the queue, not the queue itself
/// (crossbeam checks its own queue with loom).
#[cfg(tidepool_loom)]
#[derive(Debug)]
pub(crate) struct IdleQueue<E> {
    items: Mutex<std::collections::VecDeque<E>>,
    capacity: usize,
}

#[cfg(tidepool_loom)]
impl<E> IdleQueue<E> {
    pub(crate) fn new(capacity: usize) -> Self {
        IdleQueue { items: Mutex::new(std::collections::VecDeque::new()), capacity }
    }

    pub(crate) fn push(&self, value: E) -> Result<(), E> {
        let mut items = self.items.lock();
        if items.len() >= self.capacity {
            return Err(value);
        }
        items.push_back(value);
        Ok(())
    }

    pub(crate) fn pop(&self) -> Option<E> {
        self.items.lock().pop_front()
    }

    pub(crate) fn len(&self) -> usize {
        self.items.lock().len()
    }
}
