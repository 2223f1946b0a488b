//! One signal's detector: static floors per severity, the adaptive
//! baseline of [`super::anomaly`], and the confirmation and hysteresis that
//! turn per-sample verdicts into a stable severity.

use serde::{Deserialize, Serialize};

use super::anomaly::{AnomalyConfig, AnomalyDetector, Direction, Severity};

/// What a reading measures: the `kind` label of alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A pool's wait p99 over the sample interval, seconds.
    PoolWait,
    /// A pool's `in_use / max` while callers wait (0 when nobody waits).
    Starvation,
    /// Memory, bytes: the process's RSS, or a simulated run's modeled memory.
    Memory,
    /// A lock's mean wait per acquisition over the interval, seconds.
    LockContention,
    /// Bytes allocated per second (with [`super::alloc::CountingAllocator`]).
    AllocationRate,
    /// A cache's misses over its lookups in the interval (1 − hit ratio):
    /// the work the cache stopped saving.
    CacheMissRatio,
    /// Predicted: memory's trend reaches its limit within the horizon
    /// ([`super::forecast`]). An alert's value is the forecast seconds to
    /// exhaustion.
    MemoryExhaustionPredicted,
    /// Predicted: a pool's size reaches its max within the horizon.
    PoolSizeExhaustionPredicted,
    /// Predicted: the queue of waiting callers reaches its bound within
    /// the horizon.
    QueueExhaustionPredicted,
}

impl Kind {
    /// Every kind, in label order: the signals, then the predicted kinds.
    pub const ALL: [Kind; 9] = [
        Kind::PoolWait,
        Kind::Starvation,
        Kind::Memory,
        Kind::LockContention,
        Kind::AllocationRate,
        Kind::CacheMissRatio,
        Kind::MemoryExhaustionPredicted,
        Kind::PoolSizeExhaustionPredicted,
        Kind::QueueExhaustionPredicted,
    ];

    /// The measured signals: the kinds with static floors and readings.
    pub const SIGNALS: [Kind; 6] = [
        Kind::PoolWait,
        Kind::Starvation,
        Kind::Memory,
        Kind::LockContention,
        Kind::AllocationRate,
        Kind::CacheMissRatio,
    ];

    /// The label value: `pool_wait`, `starvation`, `memory`,
    /// `lock_contention`, `allocation_rate`, `cache_miss_ratio`, `memory_exhaustion_predicted`,
    /// `pool_size_exhaustion_predicted`, `queue_exhaustion_predicted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PoolWait => "pool_wait",
            Kind::Starvation => "starvation",
            Kind::Memory => "memory",
            Kind::LockContention => "lock_contention",
            Kind::AllocationRate => "allocation_rate",
            Kind::CacheMissRatio => "cache_miss_ratio",
            Kind::MemoryExhaustionPredicted => "memory_exhaustion_predicted",
            Kind::PoolSizeExhaustionPredicted => "pool_size_exhaustion_predicted",
            Kind::QueueExhaustionPredicted => "queue_exhaustion_predicted",
        }
    }

    /// Whether alerts of this kind are forecasts (their value is seconds
    /// to exhaustion; lower is worse).
    ///
    /// ```
    /// use tidepool::monitor::Kind;
    /// assert!(Kind::QueueExhaustionPredicted.is_predicted() && !Kind::Memory.is_predicted());
    /// ```
    pub fn is_predicted(self) -> bool {
        matches!(
            self,
            Kind::MemoryExhaustionPredicted
                | Kind::PoolSizeExhaustionPredicted
                | Kind::QueueExhaustionPredicted
        )
    }

    /// Formats a value of this kind for people.
    pub fn format(self, value: f64) -> String {
        match self {
            Kind::PoolWait | Kind::LockContention => format!("{:.2} ms", value * 1e3),
            Kind::Starvation | Kind::CacheMissRatio => format!("{:.0} %", value * 100.0),
            Kind::Memory => format!("{:.1} MB", value / 1e6),
            Kind::AllocationRate => format!("{:.1} MB/s", value / 1e6),
            Kind::MemoryExhaustionPredicted
            | Kind::PoolSizeExhaustionPredicted
            | Kind::QueueExhaustionPredicted => {
                format!("exhausted in {}", crate::units::human_seconds(value))
            }
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The static floors of one kind: a value at or above a floor is at least
/// that severity (before the adaptive band is consulted).
///
/// ```
/// use tidepool::monitor::{Floors, Severity};
/// let f = Floors::new(0.010, 0.025, 0.050);
/// assert_eq!(f.level(0.030), Severity::Critical);
/// assert_eq!(f.level(0.001), Severity::None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Floors {
    /// Warning at or above this.
    pub warning: f64,
    /// Critical at or above this.
    pub critical: f64,
    /// Emergency at or above this.
    pub emergency: f64,
}

impl Floors {
    /// Floors for warning, critical and emergency.
    pub const fn new(warning: f64, critical: f64, emergency: f64) -> Floors {
        Floors { warning, critical, emergency }
    }

    /// The highest severity whose floor `value` reaches.
    pub fn level(&self, value: f64) -> Severity {
        if value >= self.emergency {
            Severity::Emergency
        } else if value >= self.critical {
            Severity::Critical
        } else if value >= self.warning {
            Severity::Warning
        } else {
            Severity::None
        }
    }

    /// The floor of `severity` (infinite for none).
    pub fn of(&self, severity: Severity) -> f64 {
        match severity {
            Severity::None => f64::INFINITY,
            Severity::Warning => self.warning,
            Severity::Critical => self.critical,
            Severity::Emergency => self.emergency,
        }
    }
}

/// How the static floor and the adaptive band combine into a severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// The highest level whose floor *and* adaptive band are both exceeded
    /// (the default): a value must be both bad and unusual.
    #[default]
    Both,
    /// The floor alone (a plain threshold alert).
    FloorOnly,
    /// The adaptive band alone, for signals without meaningful floors.
    AdaptiveOnly,
    /// The higher of the two.
    Either,
}

/// The adaptive detector as the monitor uses it: the runtime preset
/// ([`AnomalyConfig::runtime`], for signals with daily load cycles), except
/// that it reports every anomalous sample (no hold-off: the monitor wants a
/// state, not one alert per episode) and adopts level shifts only after an
/// hour of samples (a lasting bottleneck keeps alerting instead of becoming
/// the new normal in two minutes).
pub fn monitor_anomaly_config() -> AnomalyConfig {
    AnomalyConfig { holdoff: 0, shift_confirm: 1800, ..AnomalyConfig::runtime() }
}

/// Confirmation and hysteresis settings of a [`SignalDetector`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stability {
    /// Consecutive samples a higher severity must hold before it is taken (5).
    pub confirm_samples: u32,
    /// Consecutive samples a lower severity must hold before the detector
    /// steps down or clears (3).
    pub clear_samples: u32,
    /// To step down from a level, the value must also be below that level's
    /// floor × this (0.9): a value hovering at the floor does not flap.
    pub hysteresis: f64,
}

impl Default for Stability {
    fn default() -> Self {
        Stability { confirm_samples: 5, clear_samples: 3, hysteresis: 0.9 }
    }
}

/// One signal's detector.
///
/// ```
/// use tidepool::monitor::{Combine, Floors, Severity, SignalDetector, Stability};
///
/// let mut d = SignalDetector::new(Floors::new(10.0, 20.0, 30.0), Combine::FloorOnly, Stability::default());
/// for t in 0..5 {
///     d.observe(f64::from(t) * 2.0, 25.0);
/// }
/// assert_eq!(d.severity(), Severity::Critical); // confirmed after 5 samples
/// ```
#[derive(Debug, Clone)]
pub struct SignalDetector {
    floors: Floors,
    combine: Combine,
    stability: Stability,
    adaptive: AnomalyDetector,
    current: Severity,
    up: u32,
    down: u32,
    /// The lowest candidate during the current run of higher candidates.
    pending: Severity,
    last_expected: f64,
}

impl SignalDetector {
    /// A detector with these floors, combination and stability.
    pub fn new(floors: Floors, combine: Combine, stability: Stability) -> SignalDetector {
        SignalDetector {
            floors,
            combine,
            stability,
            adaptive: AnomalyDetector::new(monitor_anomaly_config()),
            current: Severity::None,
            up: 0,
            down: 0,
            pending: Severity::Emergency,
            last_expected: 0.0,
        }
    }

    /// The same detector with an adaptive band that learns from `samples`
    /// samples before scoring (default 30; a value outside 2 ..= 100 000
    /// falls back to 30).
    ///
    /// ```
    /// use tidepool::monitor::{Combine, Floors, SignalDetector, Stability};
    /// let d = SignalDetector::new(Floors::new(1.0, 2.0, 3.0), Combine::Both, Stability::default())
    ///     .with_baseline_samples(60);
    /// assert_eq!(d.severity(), tidepool::monitor::Severity::None);
    /// ```
    pub fn with_baseline_samples(mut self, samples: usize) -> SignalDetector {
        self.adaptive = AnomalyDetector::new(AnomalyConfig { warmup: samples, ..monitor_anomaly_config() });
        self
    }

    /// The confirmed severity now.
    pub fn severity(&self) -> Severity {
        self.current
    }

    /// The adaptive baseline's last expected value.
    pub fn expected(&self) -> f64 {
        self.last_expected
    }

    /// The floors.
    pub fn floors(&self) -> &Floors {
        &self.floors
    }

    /// Feeds one sample; returns the confirmed severity after it.
    pub fn observe(&mut self, t: f64, value: f64) -> Severity {
        let obs = self.adaptive.observe(t, value);
        self.last_expected = obs.expected;
        // Bottlenecks are upward: a pool waiting less is no alert.
        let adaptive = if obs.direction == Direction::Up { obs.severity } else { Severity::None };
        let floor = self.floors.level(value);
        let candidate = match self.combine {
            Combine::Both => floor.min(adaptive),
            Combine::FloorOnly => floor,
            Combine::AdaptiveOnly => adaptive,
            Combine::Either => floor.max(adaptive),
        };
        if candidate > self.current {
            self.down = 0;
            self.up += 1;
            self.pending = self.pending.min(candidate);
            if self.up >= self.stability.confirm_samples.max(1) {
                // The level held by every sample of the run.
                self.current = self.pending;
                self.up = 0;
                self.pending = Severity::Emergency;
            }
        } else if candidate < self.current {
            self.up = 0;
            self.pending = Severity::Emergency;
            // Stepping down needs the value clearly below the current floor
            // (unless the floor plays no part).
            let clear = self.combine == Combine::AdaptiveOnly
                || value < self.floors.of(self.current) * self.stability.hysteresis;
            if clear {
                self.down += 1;
                if self.down >= self.stability.clear_samples.max(1) {
                    self.current = candidate;
                    self.down = 0;
                }
            } else {
                self.down = 0;
            }
        } else {
            self.up = 0;
            self.down = 0;
            self.pending = Severity::Emergency;
        }
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floor_only() -> SignalDetector {
        SignalDetector::new(Floors::new(10.0, 20.0, 30.0), Combine::FloorOnly, Stability::default())
    }

    #[test]
    fn a_spike_shorter_than_the_confirmation_never_fires() {
        let mut d = floor_only();
        for t in 0..4 {
            assert_eq!(d.observe(f64::from(t), 50.0), Severity::None);
        }
        assert_eq!(d.observe(4.0, 0.0), Severity::None);
    }

    #[test]
    fn the_confirmed_level_is_the_lowest_the_run_held() {
        let mut d = floor_only();
        for (t, v) in [15.0, 35.0, 35.0, 25.0, 35.0].iter().enumerate() {
            d.observe(t as f64, *v);
        }
        assert_eq!(d.severity(), Severity::Warning);
    }

    #[test]
    fn hysteresis_keeps_a_hovering_value_from_flapping() {
        let mut d = floor_only();
        for t in 0..5 {
            d.observe(f64::from(t), 12.0);
        }
        assert_eq!(d.severity(), Severity::Warning);
        // Just under the floor (9.5 > 10 × 0.9): still warning.
        for t in 5..20 {
            assert_eq!(d.observe(f64::from(t), 9.5), Severity::Warning);
        }
        // Clearly under: clears after 3 samples.
        assert_eq!(d.observe(20.0, 5.0), Severity::Warning);
        assert_eq!(d.observe(21.0, 5.0), Severity::Warning);
        assert_eq!(d.observe(22.0, 5.0), Severity::None);
    }

    #[test]
    fn both_needs_the_value_to_be_unusual_too() {
        // A value above the floor from the very start is the baseline:
        // with Both it never alerts; with FloorOnly it does.
        let mut both =
            SignalDetector::new(Floors::new(10.0, 20.0, 30.0), Combine::Both, Stability::default());
        let mut floor = floor_only();
        for t in 0..200 {
            let v = 12.0 + f64::from(t % 3) * 0.1;
            both.observe(f64::from(t) * 2.0, v);
            floor.observe(f64::from(t) * 2.0, v);
        }
        assert_eq!(both.severity(), Severity::None);
        assert_eq!(floor.severity(), Severity::Warning);
        // A jump to 40 is both unusual and past every floor.
        for t in 200..210 {
            both.observe(f64::from(t) * 2.0, 40.0);
        }
        assert!(both.severity() >= Severity::Critical, "{:?}", both.severity());
    }
}
