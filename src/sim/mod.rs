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

pub mod engine;
pub mod lines;
mod schedule;
pub mod series;
pub mod trace;
pub mod wall;
pub mod workload;

pub use engine::{run, NoObserver, Observer, Outcome, Sample, SimError, Tally, WallSample};
pub use wall::{run_wall, WallFigures, WallOptions};
pub use workload::{
    Arrival, Dist, Fault, FaultKind, ObjectModel, Phase, PoolSpec, Slo, Workload, WorkloadError,
};
