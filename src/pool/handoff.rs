//! The accounting core of the pool: idle objects, FIFO waiters, and the size
//! budget, with the hand-off between a returning object and a waiting caller.
//!
//! # Protocol
//!
//! * The fast path is lock-free: pop an idle object from the bounded
//!   [`IdleQueue`], or reserve a creation slot with one CAS on `size`.
//! * A caller that gets neither enqueues a [`Waiter`] under the `waiters` mutex
//!   (the slow path), then runs [`Handoff::dispatch`].
//! * A returning object is pushed to the idle queue, then `waiting` is read;
//!   if anyone waits, [`Handoff::dispatch`] moves idle objects (or creation
//!   slots) to the front waiters.
//!
//! The race that deadlocked another Rust pool — a waiter enqueues just after a
//! returning object looked and saw nobody waiting — is closed by a Dekker-style
//! pairing: the returner *writes* the queue then *reads* `waiting`; the waiter
//! *writes* `waiting` then *reads* the queue, each separated by a `SeqCst` fence.
//! At least one of them sees the other and dispatches. `make loom` checks this
//! exhaustively for small interleavings (see the `loom_tests` module).

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

use crate::primitives::{fence, AtomicUsize, IdleQueue, Mutex, Ordering, Thread};

/// What a waiter (or a fast-path caller) is handed.
#[derive(Debug)]
pub(crate) enum Grant<E> {
    /// An existing idle object.
    Object(E),
    /// A reserved slot in the size budget: the holder must create an object or
    /// give the slot back with [`Handoff::release_slot`].
    Create,
}

/// How a waiter is told that its state changed.
pub(crate) enum Wake {
    /// Unpark a blocked thread.
    Thread(Thread),
    /// Wake an async task; the waker is refreshed on every poll.
    Task(parking_lot::Mutex<Option<Waker>>),
    /// Nothing to wake: the owner polls (the simulator's event-driven
    /// tickets, unit tests and the loom models).
    Poll,
}

impl std::fmt::Debug for Wake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Wake::Thread(_) => "Thread",
            Wake::Task(_) => "Task",
            Wake::Poll => "Poll",
        })
    }
}

impl Wake {
    fn wake(&self) {
        match self {
            Wake::Thread(thread) => thread.unpark(),
            Wake::Task(waker) => {
                if let Some(waker) = waker.lock().take() {
                    waker.wake();
                }
            }
            Wake::Poll => {}
        }
    }
}

#[derive(Debug)]
enum WaitState<E> {
    Waiting,
    Granted(Grant<E>),
    Closed,
    Finished,
}

/// One caller waiting in line.
#[derive(Debug)]
pub(crate) struct Waiter<E> {
    state: Mutex<WaitState<E>>,
    pub(crate) wake: Wake,
}

/// What a waiter found when it looked.
#[derive(Debug)]
pub(crate) enum Poll<E> {
    /// Served: the grant is now the caller's.
    Ready(Grant<E>),
    /// Still in line.
    Pending,
    /// The pool closed while waiting.
    Closed,
}

impl<E> Waiter<E> {
    /// Takes the grant if one has arrived.
    pub(crate) fn poll(&self) -> Poll<E> {
        let mut state = self.state.lock();
        match std::mem::replace(&mut *state, WaitState::Finished) {
            WaitState::Granted(grant) => Poll::Ready(grant),
            WaitState::Waiting => {
                *state = WaitState::Waiting;
                Poll::Pending
            }
            WaitState::Closed => Poll::Closed,
            WaitState::Finished => Poll::Closed,
        }
    }

    /// Hands over the grant. The caller wakes the waiter after releasing the
    /// line's lock (a waker that polls inline must not find it held).
    fn grant(&self, grant: Grant<E>) {
        *self.state.lock() = WaitState::Granted(grant);
    }
}

/// Idle queue, waiter line and size budget of one pool.
#[derive(Debug)]
pub(crate) struct Handoff<E> {
    idle: IdleQueue<E>,
    waiters: Mutex<VecDeque<Arc<Waiter<E>>>>,
    /// Number of entries in `waiters`; read without the lock on the fast path.
    waiting: AtomicUsize,
    /// Objects alive (idle, in use, in transit) plus reserved creation slots.
    size: AtomicUsize,
    /// Creation is allowed while `size < target`. `min ≤ target ≤ max`.
    target: AtomicUsize,
    /// Set once by `close`; checked under the `waiters` lock.
    closed: AtomicUsize,
}

impl<E> Handoff<E> {
    /// A core for at most `max` objects, creating on demand up to `target`.
    pub(crate) fn new(max: usize, target: usize) -> Self {
        Handoff {
            idle: IdleQueue::new(max.max(1)),
            waiters: Mutex::new(VecDeque::new()),
            waiting: AtomicUsize::new(0),
            size: AtomicUsize::new(0),
            target: AtomicUsize::new(target),
            closed: AtomicUsize::new(0),
        }
    }

    /// Objects alive plus reserved slots.
    #[inline]
    pub(crate) fn size(&self) -> usize {
        self.size.load(Ordering::Relaxed)
    }

    /// Idle objects.
    #[inline]
    pub(crate) fn idle(&self) -> usize {
        self.idle.len()
    }

    /// Callers in line.
    #[inline]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// The creation ceiling.
    #[inline]
    pub(crate) fn target(&self) -> usize {
        self.target.load(Ordering::Relaxed)
    }

    /// Whether `close` ran.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) != 0
    }

    /// The lock-free fast path: an idle object, else a creation slot, else
    /// nothing. Yields to callers already in line so they are served first.
    #[inline]
    pub(crate) fn try_take(&self) -> Option<Grant<E>> {
        if self.waiting.load(Ordering::Relaxed) > 0 {
            return None;
        }
        if let Some(entry) = self.idle.pop() {
            return Some(Grant::Object(entry));
        }
        self.try_reserve().then_some(Grant::Create)
    }

    /// Pops an idle object regardless of waiters (maintenance uses it).
    pub(crate) fn pop_idle(&self) -> Option<E> {
        self.idle.pop()
    }

    /// Reserves one creation slot if `size < target`.
    pub(crate) fn try_reserve(&self) -> bool {
        let target = self.target.load(Ordering::Relaxed);
        self.size
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |size| (size < target).then_some(size + 1))
            .is_ok()
    }

    /// Reserves one creation slot if `size < limit`, whatever the target
    /// (used to keep `min` objects alive).
    pub(crate) fn try_reserve_below(&self, limit: usize) -> bool {
        self.size
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |size| (size < limit).then_some(size + 1))
            .is_ok()
    }

    /// Returns an object to the idle queue and serves anyone waiting.
    ///
    /// Returns the object back if the queue is full, which cannot happen while
    /// `size ≤ max`; the caller then destroys it.
    #[inline]
    pub(crate) fn put(&self, entry: E) -> Result<(), E> {
        self.idle.push(entry)?;
        // Pairs with the fence in `enqueue`: either this load sees the new
        // waiter, or the waiter's dispatch sees the object just pushed.
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) > 0 {
            self.dispatch();
        }
        Ok(())
    }

    /// Gives back one unit of the size budget (an object was destroyed, a
    /// creation failed, a reservation was abandoned) and serves waiters.
    pub(crate) fn release_slot(&self) {
        self.size.fetch_sub(1, Ordering::AcqRel);
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) > 0 {
            self.dispatch();
        }
    }

    /// Moves the creation ceiling and serves waiters that the move unblocks.
    pub(crate) fn set_target(&self, target: usize) {
        self.target.store(target, Ordering::Release);
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) > 0 {
            self.dispatch();
        }
    }

    /// Puts a waiter at the back of the line and serves the line.
    ///
    /// Returns `None` if the pool is closed.
    pub(crate) fn enqueue(&self, wake: Wake) -> Option<Arc<Waiter<E>>> {
        let waiter = Arc::new(Waiter { state: Mutex::new(WaitState::Waiting), wake });
        {
            let mut line = self.waiters.lock();
            if self.is_closed() {
                return None;
            }
            line.push_back(Arc::clone(&waiter));
            self.waiting.fetch_add(1, Ordering::SeqCst);
        }
        // Pairs with the fence in `put`/`release_slot`/`set_target`.
        fence(Ordering::SeqCst);
        self.dispatch();
        Some(waiter)
    }

    /// Serves waiters, front first, while idle objects or creation slots last.
    pub(crate) fn dispatch(&self) {
        let mut served = Vec::new();
        let mut line = self.waiters.lock();
        while !line.is_empty() {
            let grant = if let Some(entry) = self.idle.pop() {
                Grant::Object(entry)
            } else if self.try_reserve() {
                Grant::Create
            } else {
                break;
            };
            if let Some(waiter) = line.pop_front() {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                // Set under the lock, so `cancel` never misses a grant.
                waiter.grant(grant);
                served.push(waiter);
            }
        }
        drop(line);
        for waiter in served {
            waiter.wake.wake();
        }
    }

    /// Takes a waiter out of line (timeout or cancellation).
    ///
    /// Returns `Ready` with the grant if it was served in the meantime (now
    /// the caller's to use or give back), `Closed` if the pool closed, and
    /// `Pending` if it simply left the line.
    pub(crate) fn cancel(&self, waiter: &Arc<Waiter<E>>) -> Poll<E> {
        let mut line = self.waiters.lock();
        // Grants and closing happen under the line's lock, so a waiter still
        // `Waiting` here is in the line, and one that is not has left it:
        // only the former needs the (linear) search.
        let still_waiting = matches!(*waiter.state.lock(), WaitState::Waiting);
        if still_waiting {
            if let Some(position) = line.iter().position(|w| Arc::ptr_eq(w, waiter)) {
                line.remove(position);
                self.waiting.fetch_sub(1, Ordering::SeqCst);
            }
        }
        drop(line);
        waiter.poll()
    }

    /// Closes the line: every waiter is told, no new waiter is accepted.
    pub(crate) fn close(&self) {
        let mut line = self.waiters.lock();
        self.closed.store(1, Ordering::Release);
        let mut told = Vec::with_capacity(line.len());
        while let Some(waiter) = line.pop_front() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            *waiter.state.lock() = WaitState::Closed;
            told.push(waiter);
        }
        drop(line);
        for waiter in told {
            waiter.wake.wake();
        }
    }
}

#[cfg(all(test, not(tidepool_loom)))]
mod tests {
    use super::*;

    #[test]
    fn waiters_are_served_in_arrival_order() {
        let core: Handoff<u32> = Handoff::new(2, 0);
        let first = core.enqueue(Wake::Poll).expect("open");
        let second = core.enqueue(Wake::Poll).expect("open");
        assert_eq!(core.waiting(), 2);
        core.put(7).expect("room");
        assert!(matches!(first.poll(), Poll::Ready(Grant::Object(7))));
        assert!(matches!(second.poll(), Poll::Pending));
        core.set_target(1);
        assert!(matches!(second.poll(), Poll::Ready(Grant::Create)));
        assert_eq!(core.size(), 1);
        assert_eq!(core.waiting(), 0);
    }

    #[test]
    fn fast_path_yields_to_waiters() {
        let core: Handoff<u32> = Handoff::new(2, 0);
        let waiter = core.enqueue(Wake::Poll).expect("open");
        // Pretend a return raced in without dispatching (cannot happen through
        // `put`, but the fast path must not jump the line either way).
        core.idle.push(1).expect("room");
        assert!(core.try_take().is_none());
        core.dispatch();
        assert!(matches!(waiter.poll(), Poll::Ready(Grant::Object(1))));
    }

    #[test]
    fn cancel_returns_a_grant_that_arrived_first() {
        let core: Handoff<u32> = Handoff::new(1, 0);
        let waiter = core.enqueue(Wake::Poll).expect("open");
        core.put(3).expect("room");
        assert!(matches!(core.cancel(&waiter), Poll::Ready(Grant::Object(3))));
        let waiter = core.enqueue(Wake::Poll).expect("open");
        assert!(matches!(core.cancel(&waiter), Poll::Pending));
        assert_eq!(core.waiting(), 0);
    }

    #[test]
    fn close_tells_every_waiter_and_refuses_new_ones() {
        let core: Handoff<u32> = Handoff::new(1, 0);
        let waiter = core.enqueue(Wake::Poll).expect("open");
        core.close();
        assert!(matches!(waiter.poll(), Poll::Closed));
        assert!(core.enqueue(Wake::Poll).is_none());
    }
}

/// Exhaustive interleaving checks of the hand-off, run by `make loom`
/// (`RUSTFLAGS="--cfg tidepool_loom" cargo test --lib --release loom_tests`).
#[cfg(all(test, tidepool_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Enqueues the current thread and parks until it is served.
    fn wait(core: &Handoff<u32>) -> Grant<u32> {
        let waiter = core.enqueue(Wake::Thread(thread::current())).expect("open");
        loop {
            match waiter.poll() {
                Poll::Ready(grant) => return grant,
                Poll::Pending => thread::park(),
                Poll::Closed => panic!("closed"),
            }
        }
    }

    /// One object, held by the main thread; a second thread finds the queue
    /// empty and waits; the holder returns it concurrently. The waiter must
    /// be served in every interleaving (the lost-wakeup deadlock).
    #[test]
    fn return_races_enqueue() {
        loom::model(|| {
            let core = Arc::new(Handoff::<u32>::new(1, 1));
            assert!(core.try_reserve());
            let taker = {
                let core = Arc::clone(&core);
                thread::spawn(move || match core.try_take() {
                    Some(Grant::Object(v)) => v,
                    Some(Grant::Create) => panic!("budget exceeded"),
                    None => match wait(&core) {
                        Grant::Object(v) => v,
                        Grant::Create => panic!("budget exceeded"),
                    },
                })
            };
            core.put(9).expect("room");
            assert_eq!(taker.join().expect("taker"), 9);
            assert_eq!(core.waiting(), 0);
            assert_eq!(core.size(), 1);
        });
    }

    /// A destroyed object frees its slot while a caller enqueues: the waiter
    /// must receive the slot as a creation grant.
    #[test]
    fn release_races_enqueue() {
        loom::model(|| {
            let core = Arc::new(Handoff::<u32>::new(1, 1));
            assert!(core.try_reserve());
            let taker = {
                let core = Arc::clone(&core);
                thread::spawn(move || match core.try_take() {
                    Some(grant) => grant,
                    None => wait(&core),
                })
            };
            core.release_slot();
            assert!(matches!(taker.join().expect("taker"), Grant::Create));
            assert_eq!(core.size(), 1);
        });
    }

    /// Two callers race two returns from the main thread: both served,
    /// nothing left idle, nothing handed out twice. Bounded to 3 preemptions
    /// per execution: it finishes in well under a second; unbounded it ran
    /// past 10 minutes without a failure.
    #[test]
    fn two_returns_two_waiters() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.max_branches = 100_000;
        builder.check(|| {
            let core = Arc::new(Handoff::<u32>::new(2, 2));
            assert!(core.try_reserve());
            assert!(core.try_reserve());
            let takers: Vec<_> = (0..2)
                .map(|_| {
                    let core = Arc::clone(&core);
                    thread::spawn(move || match core.try_take() {
                        Some(Grant::Object(v)) => v,
                        Some(Grant::Create) => panic!("budget exceeded"),
                        None => match wait(&core) {
                            Grant::Object(v) => v,
                            Grant::Create => panic!("budget exceeded"),
                        },
                    })
                })
                .collect();
            core.put(1).expect("room");
            core.put(2).expect("room");
            let mut got: Vec<u32> = takers.into_iter().map(|t| t.join().expect("taker")).collect();
            got.sort_unstable();
            assert_eq!(got, vec![1, 2]);
            assert_eq!(core.idle(), 0);
        });
    }

    /// A waiter times out while an object is returned: either it is served
    /// (and cancel hands back the grant) or the object stays idle. Never lost.
    #[test]
    fn cancel_races_return() {
        loom::model(|| {
            let core = Arc::new(Handoff::<u32>::new(1, 1));
            assert!(core.try_reserve());
            let waiter = core.enqueue(Wake::Poll).expect("open");
            let returner = {
                let core = Arc::clone(&core);
                thread::spawn(move || core.put(5).expect("room"))
            };
            let cancelled = core.cancel(&waiter);
            returner.join().expect("returner");
            let found = match cancelled {
                Poll::Ready(Grant::Object(v)) => Some(v),
                Poll::Ready(Grant::Create) => panic!("budget exceeded"),
                Poll::Pending | Poll::Closed => core.pop_idle(),
            };
            assert_eq!(found, Some(5));
            assert_eq!(core.waiting(), 0);
        });
    }
}
