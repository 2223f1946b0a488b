//! Watching a running system's signals.
//!
//! * [`anomaly`]: a streaming adaptive-baseline anomaly detector for one
//!   signal (pool wait p99, memory RSS, a request rate), the engine behind
//!   `tidepool detect`.

pub mod anomaly;
