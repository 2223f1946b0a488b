//! The profiled locks' Prometheus metrics, labelled `lock` and `mode`
//! (`exclusive`: a mutex or an `RwLock`'s write side; `shared`: its read side).
//!
//! Counts live in the lock's own atomics; [`super::LockRegistry::publish`]
//! copies them here (every 2 s from a background thread), so the lock's hot
//! path never touches the exporter.

use metrics::{Counter, Gauge, Histogram, SharedString, Unit};

use super::{LockMode, LockSnapshot, ModeStats};

/// Successful acquisitions.
pub const ACQUISITIONS: &str = "tidepool_lock_acquisitions_total";
/// Acquisitions that had to wait (the uncontended attempt failed).
pub const CONTENTIONS: &str = "tidepool_lock_contentions_total";
/// Wait of contended acquisitions.
pub const WAIT_SECONDS: &str = "tidepool_lock_wait_seconds";
/// Measured (sampled) hold times.
pub const HOLD_SECONDS: &str = "tidepool_lock_hold_seconds";
/// Estimated total hold time so far (sampled holds × the sampling interval).
/// A gauge, because counters are integers in the facade; it only grows.
pub const HOLD_ESTIMATED_SECONDS: &str = "tidepool_lock_hold_estimated_seconds";
/// `try_*_for` calls that gave up.
pub const TIMEOUTS: &str = "tidepool_lock_timeouts_total";
/// Acquisitions by a different thread than the previous one.
pub const OWNER_CHANGES: &str = "tidepool_lock_owner_changes_total";
/// Waits at or above the slow threshold.
pub const SLOW_ACQUIRES: &str = "tidepool_lock_slow_acquires_total";
/// Measured holds at or above the slow threshold.
pub const LONG_HOLDS: &str = "tidepool_lock_long_holds_total";
/// Longest wait so far.
pub const WAIT_MAX: &str = "tidepool_lock_wait_max_seconds";
/// Longest measured hold so far.
pub const HOLD_MAX: &str = "tidepool_lock_hold_max_seconds";

/// Registers HELP text and units for the lock metrics.
pub fn describe() {
    metrics::describe_counter!(ACQUISITIONS, "Successful lock acquisitions.");
    metrics::describe_counter!(
        CONTENTIONS,
        "Lock acquisitions that had to wait (the uncontended attempt failed)."
    );
    metrics::describe_histogram!(WAIT_SECONDS, Unit::Seconds, "Wait of contended lock acquisitions.");
    metrics::describe_histogram!(
        HOLD_SECONDS,
        Unit::Seconds,
        "Lock hold times, sampled one acquisition in N of the lock (N = 64 unless set; 1 = every hold)."
    );
    metrics::describe_gauge!(
        HOLD_ESTIMATED_SECONDS,
        Unit::Seconds,
        "Estimated total lock hold time: sampled holds times the sampling interval."
    );
    metrics::describe_counter!(TIMEOUTS, "Timed lock attempts (try_lock_for and kin) that gave up.");
    metrics::describe_counter!(OWNER_CHANGES, "Acquisitions by a different thread than the previous holder.");
    metrics::describe_counter!(SLOW_ACQUIRES, "Lock waits at or above the slow threshold (default 10 ms).");
    metrics::describe_counter!(
        LONG_HOLDS,
        "Measured lock holds at or above the slow threshold (default 10 ms)."
    );
    metrics::describe_gauge!(WAIT_MAX, Unit::Seconds, "Longest lock wait so far.");
    metrics::describe_gauge!(HOLD_MAX, Unit::Seconds, "Longest measured lock hold so far.");
}

/// The facade handles of one lock mode.
#[derive(Debug)]
pub(crate) struct LockMetrics {
    acquisitions: Counter,
    contentions: Counter,
    wait: Histogram,
    hold: Histogram,
    hold_estimated: Gauge,
    timeouts: Counter,
    owner_changes: Counter,
    slow: Counter,
    long: Counter,
    wait_max: Gauge,
    hold_max: Gauge,
}

impl LockMetrics {
    pub(crate) fn register(name: &str, mode: LockMode) -> Self {
        let lock: SharedString = name.to_string().into();
        let labels = [("lock", lock), ("mode", SharedString::const_str(mode.as_str()))];
        let this = LockMetrics {
            acquisitions: metrics::counter!(ACQUISITIONS, &labels),
            contentions: metrics::counter!(CONTENTIONS, &labels),
            wait: metrics::histogram!(WAIT_SECONDS, &labels),
            hold: metrics::histogram!(HOLD_SECONDS, &labels),
            hold_estimated: metrics::gauge!(HOLD_ESTIMATED_SECONDS, &labels),
            timeouts: metrics::counter!(TIMEOUTS, &labels),
            owner_changes: metrics::counter!(OWNER_CHANGES, &labels),
            slow: metrics::counter!(SLOW_ACQUIRES, &labels),
            long: metrics::counter!(LONG_HOLDS, &labels),
            wait_max: metrics::gauge!(WAIT_MAX, &labels),
            hold_max: metrics::gauge!(HOLD_MAX, &labels),
        };
        // Registered at zero: dashboards see a quiet lock, not "No data".
        this.acquisitions.absolute(0);
        this.contentions.absolute(0);
        this.timeouts.absolute(0);
        this.wait_max.set(0.0);
        this.hold_max.set(0.0);
        this
    }

    pub(crate) fn publish(&self, stats: &ModeStats, s: &LockSnapshot) {
        self.acquisitions.absolute(s.acquisitions);
        self.contentions.absolute(s.contentions);
        self.timeouts.absolute(s.timeouts);
        self.owner_changes.absolute(s.owner_changes);
        self.slow.absolute(s.slow_acquires);
        self.long.absolute(s.long_holds);
        self.hold_estimated.set(s.hold_total.as_secs_f64());
        self.wait_max.set(s.wait_max.as_secs_f64());
        self.hold_max.set(s.hold_max.as_secs_f64());
        stats.wait_hist.drain_into(&self.wait);
        stats.hold_hist.drain_into(&self.hold);
    }
}
