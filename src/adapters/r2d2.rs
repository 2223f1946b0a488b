//! [r2d2](https://docs.rs/r2d2): its event hooks, exactly.
//!
//! [`Events`] is an [`r2d2::HandleEvent`]: every checkout (its wait),
//! checkin (its hold), timeout, connection opened and closed is recorded,
//! whichever code calls `get`. [`R2d2Pool`] builds the pool with it and
//! adds a `get` that counts waiting callers (r2d2 keeps no such count).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tidepool::adapters::r2d2::R2d2Pool;
//!
//! #[derive(Debug)]
//! struct Parsers;
//! impl r2d2::ManageConnection for Parsers {
//!     type Connection = Vec<u8>;
//!     type Error = std::io::Error;
//!     fn connect(&self) -> Result<Vec<u8>, std::io::Error> { Ok(Vec::new()) }
//!     fn is_valid(&self, _: &mut Vec<u8>) -> Result<(), std::io::Error> { Ok(()) }
//!     fn has_broken(&self, _: &mut Vec<u8>) -> bool { false }
//! }
//!
//! let pool = R2d2Pool::build("parsers", r2d2::Pool::builder().max_size(4), Parsers)?;
//! pool.get()?.extend_from_slice(b"work");
//! assert_eq!(pool.instruments().waits().count(), 1);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use r2d2::event::{AcquireEvent, CheckinEvent, CheckoutEvent, ReleaseEvent, TimeoutEvent};
use r2d2::ManageConnection;

use super::{spawn_publisher, InGet, Instruments, Peer, Watched};
use crate::monitor::WatchedPool;
use crate::pool::{DestroyReason, Status};

/// The r2d2 event handler that records into [`Instruments`].
#[derive(Debug)]
pub struct Events {
    instruments: Arc<Instruments>,
    /// While a trace records: each checked-out connection's `get` start and
    /// wait, by connection id.
    out: Mutex<HashMap<u64, (u64, Duration)>>,
}

impl Events {
    /// Records into `instruments`.
    pub fn new(instruments: Arc<Instruments>) -> Events {
        Events { instruments, out: Mutex::new(HashMap::new()) }
    }
}

impl r2d2::HandleEvent for Events {
    fn handle_acquire(&self, _: AcquireEvent) {
        self.instruments.created(1);
    }

    fn handle_release(&self, _: ReleaseEvent) {
        self.instruments.destroyed(DestroyReason::Closed, 1);
    }

    fn handle_checkout(&self, event: CheckoutEvent) {
        let wait = event.duration();
        let start = self.instruments.now_ns().saturating_sub(super::duration_ns(wait));
        self.instruments.acquired(start, wait);
        if self.instruments.trace.get().is_some() {
            self.out.lock().insert(event.connection_id(), (start, wait));
        }
    }

    fn handle_timeout(&self, event: TimeoutEvent) {
        let waited = event.timeout();
        let start = self.instruments.now_ns().saturating_sub(super::duration_ns(waited));
        self.instruments.timed_out(start, waited);
    }

    fn handle_checkin(&self, event: CheckinEvent) {
        let hold = event.duration();
        match self.out.lock().remove(&event.connection_id()) {
            Some((start, wait)) => self.instruments.released(start, wait, hold),
            // Not traced (or checked out before the trace started).
            None => self.instruments.metrics.use_buckets.record(super::duration_ns(hold)),
        }
    }
}

/// An r2d2 pool with tidepool's instruments.
pub struct R2d2Pool<M: ManageConnection> {
    inner: Arc<Inner<M>>,
}

struct Inner<M: ManageConnection> {
    pool: r2d2::Pool<M>,
    instruments: Arc<Instruments>,
}

impl<M: ManageConnection> Peer for Inner<M> {
    fn instruments(&self) -> &Instruments {
        &self.instruments
    }

    fn status(&self) -> Status {
        let state = self.pool.state();
        let (size, idle) = (state.connections as usize, state.idle_connections as usize);
        let max = self.pool.max_size() as usize;
        Status {
            size,
            idle,
            in_use: size.saturating_sub(idle),
            pending: self.instruments.pending(),
            min: self.pool.min_idle().map_or(max, |m| m as usize),
            max,
            target: max,
        }
    }
}

impl<M: ManageConnection> R2d2Pool<M> {
    /// Builds `builder` around `manager` with [`Events`] as its event
    /// handler (replacing any other), as the pool `name`.
    ///
    /// # Errors
    ///
    /// r2d2's, when it cannot open `min_idle` connections in time.
    pub fn build(
        name: impl Into<String>,
        builder: r2d2::Builder<M>,
        manager: M,
    ) -> Result<R2d2Pool<M>, r2d2::Error> {
        let instruments = Instruments::new(name);
        let events = Events::new(Arc::clone(&instruments));
        let pool = builder.event_handler(Box::new(events)).build(manager)?;
        instruments.set_acquire_timeout(pool.connection_timeout());
        let inner = Arc::new(Inner { pool, instruments });
        spawn_publisher(&inner);
        Ok(R2d2Pool { inner })
    }

    /// `r2d2::Pool::get`, counting the caller as waiting until it returns.
    ///
    /// # Errors
    ///
    /// r2d2's, on a timeout.
    pub fn get(&self) -> Result<r2d2::PooledConnection<M>, r2d2::Error> {
        let _in = InGet::enter(&self.inner.instruments);
        self.inner.pool.get()
    }

    /// The r2d2 pool (its checkouts are recorded too).
    pub fn pool(&self) -> &r2d2::Pool<M> {
        &self.inner.pool
    }

    /// The instruments: its waits, traces and series.
    pub fn instruments(&self) -> &Arc<Instruments> {
        &self.inner.instruments
    }

    /// The pool as the monitor watches it
    /// ([`Agent::watch_pool`](crate::Agent::watch_pool),
    /// [`Sampler::watch`](crate::monitor::sampler::Sampler::watch)).
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

impl<M: ManageConnection> Clone for R2d2Pool<M> {
    fn clone(&self) -> Self {
        R2d2Pool { inner: Arc::clone(&self.inner) }
    }
}

impl<M: ManageConnection> std::fmt::Debug for R2d2Pool<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("R2d2Pool").field("name", &self.inner.instruments.name()).finish_non_exhaustive()
    }
}
