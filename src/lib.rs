//! # tidepool
//!
//! An instrumentation agent and workload replay simulator for resource pools.
//!
//! * [`pool`]: a bounded [`Pool<T>`](pool::Pool) with a lock-free idle queue,
//!   FIFO waiters, adaptive sizing, leak detection and full metrics.
//! * [`sync`]: [`ProfiledMutex`](sync::ProfiledMutex) and
//!   [`ProfiledRwLock`](sync::ProfiledRwLock), locks that measure their
//!   contention, and the registry of all of them.
//! * [`cache`]: an instrumented, bounded [`Cache`](cache::Cache) on moka.
//! * [`sim`] and [`report`]: the virtual-time workload simulator behind
//!   `tidepool soak`, and its soak reports.
//! * [`clock`]: the one time source everything reads, real or virtual.
//! * [`monitor`]: the streaming [`AnomalyDetector`](monitor::anomaly::AnomalyDetector)
//!   behind `tidepool detect`.
//! * [`export`]: the Prometheus exporter for everything recorded through the
//!   `metrics` facade.
//! * [`config`] and [`Agent`]: one TOML file (plus `TIDEPOOL_*` environment
//!   overrides) that starts the exporters, the monitor and every pool's
//!   shared settings.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tidepool::pool::Pool;
//!
//! let pool = Pool::builder("parsers")
//!     .min_size(2)
//!     .max_size(8)
//!     .acquire_timeout(Duration::from_millis(500))
//!     .factory(|| Ok(String::from("an expensive parser")))
//!     .build()?;
//! let parser = pool.acquire_blocking()?;
//! assert_eq!(parser.len(), 19);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
// `deny`, not `forbid`: the one exception is `monitor::alloc`, a global
// allocator wrapper (implementing `GlobalAlloc` is `unsafe` by definition),
// whose every block says why it is sound.
#![deny(unsafe_code)]

mod agent;
pub mod cache;
pub mod clock;
pub mod config;
mod de;
pub mod export;
mod http;
pub mod monitor;
pub mod pool;
mod primitives;
pub mod process;
pub mod report;
pub mod sim;
pub mod soak;
pub mod sync;
pub mod text;
pub mod units;

pub use agent::{Agent, AgentError, MEMORY_CLEANUPS};
