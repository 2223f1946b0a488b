//! # tidepool
//!
//! An instrumentation agent and workload replay simulator for resource pools.
//!
//! The agent (what a service embeds; `default-features = false` builds it
//! alone):
//!
//! * [`pool`]: a bounded [`Pool<T>`](pool::Pool) with a lock-free idle queue,
//!   FIFO waiters, adaptive sizing, leak detection and full metrics; its
//!   settings are one [`PoolSettings`](pool::PoolSettings).
//! * [`sync`]: [`ProfiledMutex`](sync::ProfiledMutex) and
//!   [`ProfiledRwLock`](sync::ProfiledRwLock), locks that measure their
//!   contention, and the registry of all of them.
//! * [`cache`]: an instrumented, bounded [`Cache`](cache::Cache) on quick_cache, aged on the crate's clock.
//! * [`monitor`]: readings ([`Sampler`](monitor::sampler::Sampler)) into
//!   alerts, remedies, the leak verdict and forecasts, and the streaming
//!   [`AnomalyDetector`](monitor::anomaly::AnomalyDetector) behind
//!   `tidepool detect`.
//! * [`export`]: the exporters (Prometheus, OTLP, Pushgateway) of
//!   everything recorded through the `metrics` facade, installed once by
//!   [`Exporters`](export::Exporters).
//! * [`config`] and [`Agent`]: one TOML file (plus `TIDEPOOL_*` environment
//!   overrides) that starts the exporters, the monitor and every pool's
//!   shared settings.
//! * [`clock`]: the one time source everything reads, real or virtual;
//!   [`units`] and [`text`]: durations, sizes and input files as people
//!   write them.
//!
//! Above it, with the `sim` feature (on by default):
//!
//! * `sim`: the workload format and the replay of a workload through the
//!   real pool, in virtual time (deterministic, a day in seconds) or on real
//!   threads;
//! * `report`: the soak report and its gates;
//! * `soak`: the soak runner, `soak::Soak` — what `tidepool soak`
//!   and `tidepool replay` run, callable from a test. A soak judges as the
//!   agent does: the same settings, sampler, floors and remedies.
//!
//! The `cli` feature (default) builds the `tidepool` binary on top.
//! docs/architecture.md describes the layers.
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

#[cfg(any(feature = "r2d2", feature = "bb8", feature = "deadpool"))]
pub mod adapters;
mod agent;
pub mod cache;
pub mod clock;
pub mod config;
mod de;
pub mod export;
mod http;
pub mod monitor;
mod per_thread;
pub mod pool;
mod primitives;
pub mod process;
#[cfg(feature = "sim")]
pub mod report;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(feature = "sim")]
pub mod soak;
pub mod sync;
pub mod text;
pub mod units;

pub use agent::{Agent, AgentError, MEMORY_CLEANUPS};

/// The Rust examples of the README and of `docs/`, compiled (and, unless
/// marked `no_run`, run) as doc tests, so that they cannot drift from the
/// API. Only under `cargo test --doc`.
#[cfg(doctest)]
mod doc_examples {
    #[doc = include_str!("../README.md")]
    struct Readme;
    #[doc = include_str!("../docs/README.md")]
    struct Book;
    #[doc = include_str!("../docs/agent.md")]
    struct Agent;
    #[doc = include_str!("../docs/architecture.md")]
    struct Architecture;
    #[doc = include_str!("../docs/cli.md")]
    struct Cli;
    #[doc = include_str!("../docs/dashboards.md")]
    struct Dashboards;
    #[doc = include_str!("../docs/development.md")]
    struct Development;
    #[doc = include_str!("../docs/library.md")]
    struct Library;
    #[doc = include_str!("../docs/metrics.md")]
    struct Metrics;
    #[doc = include_str!("../docs/monitor.md")]
    struct Monitor;
    #[doc = include_str!("../docs/security.md")]
    struct Security;
    #[doc = include_str!("../docs/soak.md")]
    struct Soak;
    #[doc = include_str!("../docs/workloads.md")]
    struct Workloads;
}
