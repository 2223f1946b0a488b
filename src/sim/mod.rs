//! The workload replay simulator.
//!
//! * [`workload`]: the TOML workload format (phases, arrivals, holds, faults, gates).
//! * [`engine`]: the discrete-event engine that replays a workload through a
//!   real [`crate::pool::Pool`] on a manual clock, deterministically.
//! * [`wall`]: the same schedule through the same pool on real threads and
//!   the real clock (`--time wall`).
//!
//! [`crate::report`] turns an [`Outcome`] into `report.json`, `report.md` and
//! the gate verdicts.

pub(crate) mod accounting;
pub mod engine;
pub(crate) mod faults;
pub mod lines;
mod observer;
mod outcome;
mod schedule;
pub mod series;
pub mod system;
pub mod trace;
pub mod wall;
pub mod workload;

pub use engine::run;
pub use faults::InjectedPanic;
pub use observer::{NoObserver, Observer, Sample, SharedState, WallSample};
pub use outcome::{Conservation, Injected, Outcome, Tally};
pub use system::{
    CacheReport, CacheSpec, EvictionsReport, LockKind, LockReport, LockSpec, Placement, SystemFigures,
};
pub use wall::{run_wall, run_wall_on, WallFigures, WallOptions};
pub use workload::{
    Arrival, Dist, Fault, FaultKind, ObjectModel, Phase, PoolSpec, Slo, Workload, WorkloadError,
};

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The pool settings of the workload were refused by the pool.
    #[error("pool settings: {0}")]
    Pool(#[from] crate::pool::BuildError),
    /// A wall-clock run could not start its threads.
    #[error("{0}")]
    Threads(String),
    /// The workload asks for something this mode cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// A series or trace could not be read again as the run went (it
    /// changed, or became unreadable, since it was first read).
    #[error("{0}")]
    Input(#[from] workload::WorkloadError),
}
