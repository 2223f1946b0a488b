//! [deadpool](https://docs.rs/deadpool) (`managed`): its status, exactly,
//! and a timed `get`.
//!
//! deadpool's status gives the levels and the waiting futures exactly;
//! [`DeadpoolPool::get`] times the wait, counts timeouts and failures, and
//! returns a [`Held`] object that times the hold when dropped. An object
//! served for the first time counts as created; destroyed is created minus
//! alive (deadpool drops objects whose recycle failed).
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use deadpool::managed::{self, Metrics, RecycleResult};
//! use tidepool::adapters::deadpool::DeadpoolPool;
//!
//! struct Buffers;
//! impl managed::Manager for Buffers {
//!     type Type = Vec<u8>;
//!     type Error = std::io::Error;
//!     async fn create(&self) -> Result<Vec<u8>, std::io::Error> { Ok(Vec::new()) }
//!     async fn recycle(&self, _: &mut Vec<u8>, _: &Metrics) -> RecycleResult<std::io::Error> { Ok(()) }
//! }
//!
//! let pool = DeadpoolPool::new("buffers", managed::Pool::builder(Buffers).max_size(4).build()?);
//! pool.get().await?.extend_from_slice(b"work");
//! # Ok(()) }
//! ```

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::{Manager, Object, Pool, PoolError};

use super::{spawn_publisher, Instruments, Peer, Watched};
use crate::monitor::WatchedPool;
use crate::pool::{DestroyReason, Status};

/// A deadpool pool with tidepool's instruments.
pub struct DeadpoolPool<M: Manager> {
    inner: Arc<Inner<M>>,
}

struct Inner<M: Manager> {
    pool: Pool<M>,
    instruments: Arc<Instruments>,
    /// Objects served fresh through `get`.
    created: AtomicU64,
}

impl<M: Manager + 'static> Peer for Inner<M> {
    fn instruments(&self) -> &Instruments {
        &self.instruments
    }

    fn status(&self) -> Status {
        let s = self.pool.status();
        Status {
            size: s.size,
            idle: s.available,
            in_use: s.size.saturating_sub(s.available),
            pending: s.waiting,
            min: 0,
            max: s.max_size,
            target: s.max_size,
        }
    }

    fn refresh(&self) {
        let created = self.created.load(Ordering::Relaxed);
        let alive = self.pool.status().size as u64;
        let i = &self.instruments;
        let destroyed = created.saturating_sub(alive);
        let before = i.destroyed[DestroyReason::RecycleFailed as usize].load(Ordering::Relaxed);
        i.destroyed(DestroyReason::RecycleFailed, destroyed.saturating_sub(before));
    }
}

impl<M: Manager + 'static> DeadpoolPool<M> {
    /// Watches `pool` as the pool `name`.
    pub fn new(name: impl Into<String>, pool: Pool<M>) -> DeadpoolPool<M> {
        let instruments = Instruments::new(name);
        if let Some(wait) = pool.timeouts().wait {
            instruments.set_acquire_timeout(wait);
        }
        let inner = Arc::new(Inner { pool, instruments, created: AtomicU64::new(0) });
        spawn_publisher(&inner);
        DeadpoolPool { inner }
    }

    /// `Pool::get`, timed: the wait now, the hold when the returned object
    /// drops.
    ///
    /// # Errors
    ///
    /// deadpool's: a timeout, the manager's error, a closed pool.
    pub async fn get(&self) -> Result<Held<M>, PoolError<M::Error>> {
        let instruments = Arc::clone(&self.inner.instruments);
        let start = instruments.now_ns();
        let got = {
            let _in = super::InGet::enter(&instruments);
            self.inner.pool.get().await
        };
        let wait = Duration::from_nanos(instruments.now_ns().saturating_sub(start));
        match got {
            Ok(object) => {
                let metrics = Object::metrics(&object);
                if metrics.recycle_count == 0 && metrics.recycled.is_none() {
                    self.inner.created.fetch_add(1, Ordering::Relaxed);
                    instruments.created(1);
                }
                instruments.acquired(start, wait);
                Ok(Held { object, instruments, start, wait })
            }
            Err(PoolError::Timeout(kind)) => {
                instruments.timed_out(start, wait);
                Err(PoolError::Timeout(kind))
            }
            Err(e) => {
                instruments.factory_error(start, wait);
                Err(e)
            }
        }
    }

    /// The deadpool pool (its objects are counted in its status, not timed).
    pub fn pool(&self) -> &Pool<M> {
        &self.inner.pool
    }

    /// The instruments: its waits, traces and series.
    pub fn instruments(&self) -> &Arc<Instruments> {
        &self.inner.instruments
    }

    /// The pool as the monitor watches it.
    pub fn watched(&self) -> Arc<dyn WatchedPool> {
        Arc::new(Watched(Arc::clone(&self.inner)))
    }

    /// Its levels now.
    pub fn status(&self) -> Status {
        self.inner.status()
    }

    /// Publishes its series now (a thread also does, every second).
    pub fn publish(&self) {
        self.inner.refresh();
        self.inner.instruments.publish(&self.inner.status());
    }
}

impl<M: Manager> Clone for DeadpoolPool<M> {
    fn clone(&self) -> Self {
        DeadpoolPool { inner: Arc::clone(&self.inner) }
    }
}

impl<M: Manager> std::fmt::Debug for DeadpoolPool<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadpoolPool").field("name", &self.inner.instruments.name()).finish_non_exhaustive()
    }
}

/// An object from [`DeadpoolPool::get`]: the hold is timed until it drops.
pub struct Held<M: Manager> {
    object: Object<M>,
    instruments: Arc<Instruments>,
    start: u64,
    wait: Duration,
}

impl<M: Manager> Deref for Held<M> {
    type Target = M::Type;
    fn deref(&self) -> &M::Type {
        &self.object
    }
}

impl<M: Manager> DerefMut for Held<M> {
    fn deref_mut(&mut self) -> &mut M::Type {
        &mut self.object
    }
}

impl<M: Manager> Drop for Held<M> {
    fn drop(&mut self) {
        let checkout = self.start + super::duration_ns(self.wait);
        let hold = Duration::from_nanos(self.instruments.now_ns().saturating_sub(checkout));
        self.instruments.released(self.start, self.wait, hold);
    }
}

impl<M: Manager> std::fmt::Debug for Held<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").field("pool", &self.instruments.name()).field("wait", &self.wait).finish()
    }
}
