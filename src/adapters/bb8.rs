//! [bb8](https://docs.rs/bb8): its statistics, exactly, and a timed `get`.
//!
//! bb8 counts gets (direct, waited, timed out), connections created and
//! closed by cause, and waiting gets itself: [`Bb8Pool`] reads those
//! totals, so they are exact whoever calls `get`. Its own
//! [`get`](Bb8Pool::get) times the wait and returns a [`Held`] connection
//! that times the hold when dropped.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tidepool::adapters::bb8::Bb8Pool;
//!
//! struct Sessions;
//! impl bb8::ManageConnection for Sessions {
//!     type Connection = Vec<u8>;
//!     type Error = std::io::Error;
//!     async fn connect(&self) -> Result<Vec<u8>, std::io::Error> { Ok(Vec::new()) }
//!     async fn is_valid(&self, _: &mut Vec<u8>) -> Result<(), std::io::Error> { Ok(()) }
//!     fn has_broken(&self, _: &mut Vec<u8>) -> bool { false }
//! }
//!
//! let pool = Bb8Pool::new("sessions", bb8::Pool::builder().max_size(4).build(Sessions).await?, 4);
//! pool.get().await?.extend_from_slice(b"work");
//! # Ok(()) }
//! ```

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use bb8::{ManageConnection, PooledConnection, RunError};

use super::{spawn_publisher, Instruments, Peer, Totals, Watched};
use crate::monitor::WatchedPool;
use crate::pool::{DestroyReason, Status};

/// A bb8 pool with tidepool's instruments.
pub struct Bb8Pool<M: ManageConnection> {
    inner: Arc<Inner<M>>,
}

struct Inner<M: ManageConnection> {
    pool: bb8::Pool<M>,
    max_size: u32,
    instruments: Arc<Instruments>,
}

impl<M: ManageConnection> Peer for Inner<M> {
    fn instruments(&self) -> &Instruments {
        &self.instruments
    }

    fn status(&self) -> Status {
        let state = self.pool.state();
        let (size, idle) = (state.connections as usize, state.idle_connections as usize);
        let max = self.max_size as usize;
        Status {
            size,
            idle,
            in_use: size.saturating_sub(idle),
            pending: usize::try_from(state.statistics.pending_gets()).unwrap_or(usize::MAX),
            min: 0,
            max,
            target: max,
        }
    }

    fn refresh(&self) {
        let s = self.pool.state().statistics;
        self.instruments.set_totals(&Totals {
            acquires_direct: s.get_direct,
            acquires_waited: s.get_waited,
            timeouts: s.get_timed_out,
            created: s.connections_created,
            destroyed: vec![
                (DestroyReason::RecycleFailed, s.connections_closed_broken + s.connections_closed_invalid),
                (DestroyReason::MaxLifetime, s.connections_closed_max_lifetime),
                (DestroyReason::IdleTimeout, s.connections_closed_idle_timeout),
            ],
        });
    }
}

impl<M: ManageConnection> Bb8Pool<M> {
    /// Watches `pool` as the pool `name`; `max_size` is the builder's (bb8
    /// does not say).
    pub fn new(name: impl Into<String>, pool: bb8::Pool<M>, max_size: u32) -> Bb8Pool<M> {
        let inner = Arc::new(Inner { pool, max_size, instruments: Instruments::new(name) });
        spawn_publisher(&inner);
        Bb8Pool { inner }
    }

    /// `bb8::Pool::get`, timed: the wait now, the hold when the returned
    /// connection drops.
    ///
    /// # Errors
    ///
    /// bb8's: a timeout, or the manager's error.
    pub async fn get(&self) -> Result<Held<'_, M>, RunError<M::Error>> {
        let instruments = &*self.inner.instruments;
        let start = instruments.now_ns();
        let got = self.inner.pool.get().await;
        let wait = Duration::from_nanos(instruments.now_ns().saturating_sub(start));
        match got {
            Ok(conn) => {
                instruments.acquired(start, wait);
                Ok(Held { conn, instruments, start, wait })
            }
            Err(RunError::TimedOut) => {
                instruments.timed_out(start, wait);
                Err(RunError::TimedOut)
            }
            Err(e) => {
                instruments.factory_error(start, wait);
                Err(e)
            }
        }
    }

    /// The bb8 pool (its gets are counted too, not timed).
    pub fn pool(&self) -> &bb8::Pool<M> {
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

impl<M: ManageConnection> Clone for Bb8Pool<M> {
    fn clone(&self) -> Self {
        Bb8Pool { inner: Arc::clone(&self.inner) }
    }
}

impl<M: ManageConnection> std::fmt::Debug for Bb8Pool<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bb8Pool").field("name", &self.inner.instruments.name()).finish_non_exhaustive()
    }
}

/// A connection from [`Bb8Pool::get`]: the hold is timed until it drops.
pub struct Held<'a, M: ManageConnection> {
    conn: PooledConnection<'a, M>,
    instruments: &'a Instruments,
    start: u64,
    wait: Duration,
}

impl<M: ManageConnection> Deref for Held<'_, M> {
    type Target = M::Connection;
    fn deref(&self) -> &M::Connection {
        &self.conn
    }
}

impl<M: ManageConnection> DerefMut for Held<'_, M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        &mut self.conn
    }
}

impl<M: ManageConnection> Drop for Held<'_, M> {
    fn drop(&mut self) {
        let checkout = self.start + super::duration_ns(self.wait);
        let hold = Duration::from_nanos(self.instruments.now_ns().saturating_sub(checkout));
        self.instruments.released(self.start, self.wait, hold);
    }
}

impl<M: ManageConnection> std::fmt::Debug for Held<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").field("pool", &self.instruments.name()).field("wait", &self.wait).finish()
    }
}
