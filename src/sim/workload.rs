//! Workload files: what load to replay through a pool, for how long, with
//! which faults, and which gates the run must pass.
//!
//! The format is TOML; `workloads/README.md` documents every field. Parsing
//! rejects unknown fields, and every error names the file, the line and the
//! field ([`WorkloadError`]).
//!
//! # Examples
//!
//! ```
//! use tidepool::sim::Workload;
//!
//! let text = r#"
//!     name = "tiny"
//!     seed = 7
//!     [pool]
//!     min = 2
//!     max = 8
//!     [[phase]]
//!     name = "steady"
//!     duration = "1m"
//!     arrival = { process = "poisson", rate = 50.0 }
//!     hold = { dist = "exponential", mean = "20ms" }
//! "#;
//! let workload = Workload::parse(text, "tiny.toml").unwrap();
//! assert_eq!(workload.duration.as_secs(), 60);
//! assert!((workload.expected_ops() - 3000.0).abs() < 1e-9);
//! ```

use std::path::Path;
use std::time::Duration;

use rand::Rng;
use rand_distr::Distribution;
use serde::{Deserialize, Deserializer, Serialize};

use crate::de::{
    check_f64, de_bytes, de_duration, de_duration_or_zero, de_nonneg, de_number, de_opt_bytes,
    de_opt_duration, de_opt_positive, de_opt_probability, de_positive, de_probability, ser_duration,
    ser_opt_duration,
};
use crate::pool::PoolSettings;
use crate::text::{field_at, find_in_table, find_key, line_col, read_text, written_at_top, written_in_table};
use crate::units::fmt_duration;

/// Why a workload file was rejected. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkloadError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not UTF-8 text (a binary file, say).
    #[error("{file}: not a text file (invalid UTF-8 at byte {offset})")]
    NotText {
        /// The file.
        file: String,
        /// The first offending byte.
        offset: usize,
    },
    /// The file has no content.
    #[error("{file}: empty file (it needs {needs})")]
    Empty {
        /// The file.
        file: String,
        /// What the file should hold.
        needs: &'static str,
    },
    /// A syntax error, an unknown field, or a value out of range.
    #[error("{file}:{line}:{column}: {field}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line of the offending value (0 when the whole file is at fault).
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field at fault, as written in the file (`phase.rate`, say).
        field: String,
        /// What is wrong and what is accepted.
        message: String,
    },
}

impl From<crate::text::TextError> for WorkloadError {
    fn from(e: crate::text::TextError) -> Self {
        match e {
            crate::text::TextError::Read { file, source } => WorkloadError::Read { file, source },
            crate::text::TextError::NotText { file, offset } => WorkloadError::NotText { file, offset },
        }
    }
}

/// A parsed, validated workload.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    /// A name for reports.
    pub name: String,
    /// The seed of every random draw of the run.
    pub seed: u64,
    /// Total virtual duration; the phases repeat (a cycle) to fill it.
    #[serde(serialize_with = "ser_duration")]
    pub duration: Duration,
    /// How often a sample line is written to `samples.jsonl`.
    #[serde(serialize_with = "ser_duration")]
    pub sample_interval: Duration,
    /// The pool under test.
    pub pool: PoolSpec,
    /// Default hold time for phases that give none.
    pub hold: Option<Dist>,
    /// The phases of one cycle, in order.
    pub phases: Vec<Phase>,
    /// Injected faults.
    pub faults: Vec<Fault>,
    /// Pass/fail gates.
    pub slo: Slo,
    /// The monitor's floors, stability and cooldowns for this run
    /// (`[monitor]`; defaults: [`crate::monitor::MonitorConfig::default`]).
    pub monitor: crate::monitor::MonitorConfig,
    /// Locks around shared state that operations take (`[[lock]]`).
    pub locks: Vec<super::system::LockSpec>,
    /// A result cache each operation looks up (`[cache]`).
    pub cache: Option<super::system::CacheSpec>,
}

/// The pool of a workload: the agent's [`PoolSettings`] (the same keys,
/// aliases and defaults as the agent configuration's `[pool]`: paste one
/// into the other) and, beside them, the model of the objects a workload
/// stands in for — its factory's speed and failures, its objects' memory.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tidepool::sim::Workload;
/// let w = Workload::parse("[pool]\nmin = 2\nmax_size = 3\nobject_bytes = \"1MiB\"\n[[phase]]\nname = \"a\"\nduration = \"1s\"\narrival = { process = \"poisson\", rate = 1 }\nhold = { dist = \"constant\", value = \"1ms\" }\n", "w")?;
/// assert_eq!((w.pool.settings.min_size, w.pool.settings.max_size), (2, 3));
/// assert_eq!(w.pool.model.object_bytes, 1 << 20);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "crate::de::Split<PoolSettings, ObjectModel>")]
pub struct PoolSpec {
    /// The pool's settings, as in the agent configuration.
    #[serde(flatten)]
    pub settings: PoolSettings,
    /// What the simulated objects cost.
    #[serde(flatten)]
    pub model: ObjectModel,
}

impl From<crate::de::Split<PoolSettings, ObjectModel>> for PoolSpec {
    fn from(split: crate::de::Split<PoolSettings, ObjectModel>) -> Self {
        PoolSpec { settings: split.first, model: split.second }
    }
}

/// The objects a workload's pool holds, modeled: keys of a workload's
/// `[pool]` beside the [`PoolSettings`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectModel {
    /// Time to create one object (charged to the acquire that creates it).
    pub create_time: Option<Dist>,
    /// Probability that one factory call fails, in [0, 1].
    #[serde(deserialize_with = "de_probability")]
    pub factory_failure: f64,
    /// Modeled memory of one object, in bytes (`"4MiB"` or a number).
    #[serde(deserialize_with = "de_bytes")]
    pub object_bytes: u64,
}

/// One phase of the cycle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Its name in reports (`high`, `medium`, `low`, ...).
    pub name: String,
    /// How long it lasts. Optional for a `series` phase (default: the
    /// series' length); required otherwise.
    #[serde(default, deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub duration: Duration,
    /// How operations arrive.
    pub arrival: Arrival,
    /// How long each operation holds its object (else the workload's `hold`).
    #[serde(default)]
    pub hold: Option<Dist>,
}

/// An arrival process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "process", rename_all = "snake_case", deny_unknown_fields)]
pub enum Arrival {
    /// Open loop, exponential gaps at `rate` per second.
    Poisson {
        /// Mean operations per second.
        #[serde(deserialize_with = "de_rate")]
        rate: f64,
    },
    /// Open loop, evenly spaced at `rate` per second.
    Constant {
        /// Operations per second.
        #[serde(deserialize_with = "de_rate")]
        rate: f64,
    },
    /// Open loop Poisson whose rate moves linearly from `from` to `to` over the phase.
    Ramp {
        /// Rate at the phase's start.
        #[serde(deserialize_with = "de_rate_or_zero")]
        from: f64,
        /// Rate at the phase's end.
        #[serde(deserialize_with = "de_rate_or_zero")]
        to: f64,
    },
    /// Open loop, a non-homogeneous Poisson process following a captured
    /// `timestamp,value` series (see [`super::series`]).
    Series {
        /// The CSV file, relative to the workload file.
        file: std::path::PathBuf,
        /// `count` (arrivals per row interval, the default) or `per_second`.
        #[serde(default)]
        unit: RawUnit,
        /// Multiplies every value (default 1).
        #[serde(default = "default_scale", deserialize_with = "de_positive")]
        scale: f64,
        /// The loaded series (filled in when the workload is parsed).
        #[serde(skip)]
        loaded: Option<std::sync::Arc<super::series::RateSeries>>,
    },
    /// Open loop: a recorded trace's operations at their recorded times
    /// (divided by `speed`), each with its recorded hold
    /// (`tidepool replay TRACE.jsonl`; not written in workload files).
    #[serde(skip_deserializing)]
    Trace {
        /// The trace.
        #[serde(skip)]
        trace: std::sync::Arc<super::trace::Trace>,
        /// Playback speed: 2 plays the gaps twice as fast (holds unchanged).
        speed: f64,
        /// Times the trace plays back to back (at least 1).
        loops: u32,
    },
    /// Closed loop: `workers` each acquire, hold, release, think, repeat.
    Closed {
        /// Concurrent workers.
        #[serde(deserialize_with = "de_workers")]
        workers: usize,
        /// Think time between a worker's operations.
        #[serde(default)]
        think: Option<Dist>,
    },
}

/// A series' unit as written: `count` or `per_second`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawUnit {
    /// Arrivals per row interval.
    #[default]
    Count,
    /// Arrivals per second.
    PerSecond,
}

impl From<RawUnit> for super::series::SeriesUnit {
    fn from(u: RawUnit) -> Self {
        match u {
            RawUnit::Count => super::series::SeriesUnit::Count,
            RawUnit::PerSecond => super::series::SeriesUnit::PerSecond,
        }
    }
}

fn default_scale() -> f64 {
    1.0
}

/// A time distribution (holds, creation, think time). Times are durations
/// like `"20ms"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum Dist {
    /// Always `value`.
    Constant {
        /// The time.
        #[serde(deserialize_with = "de_duration_or_zero", serialize_with = "ser_duration")]
        value: Duration,
    },
    /// Exponential with `mean`.
    Exponential {
        /// The mean.
        #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
        mean: Duration,
    },
    /// Log-normal with `median` and shape `sigma` (of the underlying normal).
    Lognormal {
        /// The median (e^μ).
        #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
        median: Duration,
        /// σ ≥ 0.
        #[serde(deserialize_with = "de_nonneg")]
        sigma: f64,
    },
    /// Pareto with minimum `scale` and tail index `shape`.
    Pareto {
        /// The minimum.
        #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
        scale: Duration,
        /// α > 0 (the mean is finite for α > 1).
        #[serde(deserialize_with = "de_positive")]
        shape: f64,
    },
    /// Weibull with `scale` λ and `shape` k.
    Weibull {
        /// λ.
        #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
        scale: Duration,
        /// k > 0.
        #[serde(deserialize_with = "de_positive")]
        shape: f64,
    },
    /// Normal with `mean` and `std_dev`, truncated to `[min, max]` by redrawing.
    Normal {
        /// The mean.
        #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
        mean: Duration,
        /// The standard deviation.
        #[serde(deserialize_with = "de_duration_or_zero", serialize_with = "ser_duration")]
        std_dev: Duration,
        /// Lower bound (default 0).
        #[serde(default, deserialize_with = "de_opt_duration", serialize_with = "ser_opt_duration")]
        min: Option<Duration>,
        /// Upper bound (default none).
        #[serde(default, deserialize_with = "de_opt_duration", serialize_with = "ser_opt_duration")]
        max: Option<Duration>,
    },
}

/// A [`Dist`] ready to draw nanoseconds from.
#[derive(Debug, Clone)]
pub(crate) enum Sampler {
    Constant(f64),
    Exponential(rand_distr::Exp<f64>),
    Lognormal(rand_distr::LogNormal<f64>),
    Pareto(rand_distr::Pareto<f64>),
    Weibull(rand_distr::Weibull<f64>),
    Normal { normal: rand_distr::Normal<f64>, min: f64, max: f64 },
}

impl Dist {
    /// The distribution's mean, in seconds (infinite for a Pareto with α ≤ 1).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidepool::sim::Dist;
    /// let d = Dist::Exponential { mean: Duration::from_millis(20) };
    /// assert!((d.mean_seconds() - 0.020).abs() < 1e-12);
    /// ```
    pub fn mean_seconds(&self) -> f64 {
        match self {
            Dist::Constant { value } => value.as_secs_f64(),
            Dist::Exponential { mean } => mean.as_secs_f64(),
            Dist::Lognormal { median, sigma } => median.as_secs_f64() * (sigma * sigma / 2.0).exp(),
            Dist::Pareto { scale, shape } => {
                if *shape <= 1.0 {
                    f64::INFINITY
                } else {
                    shape * scale.as_secs_f64() / (shape - 1.0)
                }
            }
            Dist::Weibull { scale, shape } => scale.as_secs_f64() * gamma(1.0 + 1.0 / shape),
            Dist::Normal { mean, .. } => mean.as_secs_f64(),
        }
    }

    /// Builds the sampler; parameters were validated at parse time, so the
    /// constructors cannot fail (a failure falls back to the mean).
    pub(crate) fn sampler(&self) -> Sampler {
        let ns = |d: &Duration| d.as_secs_f64() * 1e9;
        let fallback = Sampler::Constant(self.mean_seconds() * 1e9);
        match self {
            Dist::Constant { value } => Sampler::Constant(ns(value)),
            Dist::Exponential { mean } => {
                rand_distr::Exp::new(1.0 / ns(mean)).map(Sampler::Exponential).unwrap_or(fallback)
            }
            Dist::Lognormal { median, sigma } => rand_distr::LogNormal::new(ns(median).ln(), *sigma)
                .map(Sampler::Lognormal)
                .unwrap_or(fallback),
            Dist::Pareto { scale, shape } => {
                rand_distr::Pareto::new(ns(scale), *shape).map(Sampler::Pareto).unwrap_or(fallback)
            }
            Dist::Weibull { scale, shape } => {
                rand_distr::Weibull::new(ns(scale), *shape).map(Sampler::Weibull).unwrap_or(fallback)
            }
            Dist::Normal { mean, std_dev, min, max } => {
                match rand_distr::Normal::new(ns(mean), ns(std_dev)) {
                    Ok(normal) => Sampler::Normal {
                        normal,
                        min: min.as_ref().map_or(0.0, ns),
                        max: max.as_ref().map_or(f64::INFINITY, ns),
                    },
                    Err(_) => fallback,
                }
            }
        }
    }
}

impl Sampler {
    /// One draw, in whole nanoseconds (saturating).
    #[inline]
    pub(crate) fn sample_ns<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let x = match self {
            Sampler::Constant(v) => *v,
            Sampler::Exponential(d) => d.sample(rng),
            Sampler::Lognormal(d) => d.sample(rng),
            Sampler::Pareto(d) => d.sample(rng),
            Sampler::Weibull(d) => d.sample(rng),
            Sampler::Normal { normal, min, max } => {
                let mut x = normal.sample(rng);
                // Redraw up to 64 times, then clamp: a bound far in a tail
                // must not spin.
                for _ in 0..64 {
                    if x >= *min && x <= *max {
                        break;
                    }
                    x = normal.sample(rng);
                }
                x.clamp(*min, *max)
            }
        };
        // A heavy tail can draw an enormous value, even infinity (a Pareto
        // with a small shape): that is a hold past any run's end, capped at
        // the longest run (30 days), never 0. NaN (none of the samplers
        // makes one) and negatives are 0.
        const CAP_NS: f64 = MAX_DURATION.as_nanos() as f64;
        if x > 0.0 {
            x.min(CAP_NS) as u64
        } else {
            0
        }
    }
}

/// Lanczos approximation of Γ(x) for x > 0 (the Weibull mean).
fn gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        std::f64::consts::PI / ((std::f64::consts::PI * x).sin() * gamma(1.0 - x))
    } else {
        let x = x - 1.0;
        let mut a = C[0];
        let t = x + G + 0.5;
        for (i, c) in C.iter().enumerate().skip(1) {
            a += c / (x + i as f64);
        }
        (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * a
    }
}

/// An injected fault, active from `at` for `duration` of virtual time.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    /// What goes wrong.
    pub kind: FaultKind,
    /// When it starts, from the run's start (default 0).
    #[serde(serialize_with = "ser_duration")]
    pub at: Duration,
    /// How long it lasts (default: to the end of the run).
    #[serde(serialize_with = "ser_opt_duration")]
    pub duration: Option<Duration>,
}

/// The kinds of fault.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Every operation leaks `bytes_per_op` of memory that is never freed.
    Leak {
        /// Bytes leaked per operation.
        bytes_per_op: u64,
    },
    /// Holders stop returning objects: releases due in the window happen at its end.
    Stall,
    /// Hold times of operations starting in the window are multiplied by `factor`.
    Slow {
        /// The multiplier, > 0.
        factor: f64,
    },
    /// Every factory call in the window fails.
    FactoryOutage,
    /// Factory calls in the window panic, each with `probability`.
    FactoryPanic {
        /// The chance that one call panics, in [0, 1] (default 1).
        probability: f64,
    },
    /// Holders whose hold ends in the window panic while holding (the
    /// guard drops during unwinding), each with `probability`.
    HolderPanic {
        /// The chance that one holder panics, in [0, 1] (default 1).
        probability: f64,
    },
    /// Holders served in the window never return their object, each with
    /// `probability`: the pool's leak detection must notice, and the pool
    /// must go on serving with what is left up to its max.
    Abandon {
        /// The chance that one holder never returns, in [0, 1] (default 1).
        probability: f64,
    },
    /// The process stops at `at` for `by` (a VM pause, SIGSTOP, a long
    /// collection) and the clock jumps forward: whatever was due in the
    /// gap happens at its end, arrivals pile up, deadlines expire at once.
    ClockJump {
        /// The jump.
        #[serde(serialize_with = "ser_duration")]
        by: Duration,
    },
}

/// A `[[fault]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    kind: RawFaultKind,
    #[serde(default, deserialize_with = "de_duration_or_zero")]
    at: Duration,
    #[serde(default, deserialize_with = "de_opt_duration")]
    duration: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_bytes")]
    bytes_per_op: Option<u64>,
    #[serde(default, deserialize_with = "de_opt_positive")]
    factor: Option<f64>,
    #[serde(default, deserialize_with = "de_opt_probability")]
    probability: Option<f64>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    by: Option<Duration>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawFaultKind {
    Leak,
    Stall,
    Slow,
    FactoryOutage,
    FactoryPanic,
    HolderPanic,
    Abandon,
    ClockJump,
}

impl RawFaultKind {
    fn name(self) -> &'static str {
        match self {
            RawFaultKind::Leak => "leak",
            RawFaultKind::Stall => "stall",
            RawFaultKind::Slow => "slow",
            RawFaultKind::FactoryOutage => "factory_outage",
            RawFaultKind::FactoryPanic => "factory_panic",
            RawFaultKind::HolderPanic => "holder_panic",
            RawFaultKind::Abandon => "abandon",
            RawFaultKind::ClockJump => "clock_jump",
        }
    }
}

impl FaultKind {
    /// The kind as written in a workload file (`factory_outage`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Leak { .. } => "leak",
            FaultKind::Stall => "stall",
            FaultKind::Slow { .. } => "slow",
            FaultKind::FactoryOutage => "factory_outage",
            FaultKind::FactoryPanic { .. } => "factory_panic",
            FaultKind::HolderPanic { .. } => "holder_panic",
            FaultKind::Abandon { .. } => "abandon",
            FaultKind::ClockJump { .. } => "clock_jump",
        }
    }
}

/// Checks what the field types cannot: a truncated normal's bounds.
fn check_dist(d: &Dist) -> Result<(), String> {
    if let Dist::Normal { min: Some(lo), max: Some(hi), .. } = d {
        if lo > hi {
            return Err(format!("normal: min ({}) is above max ({})", fmt_duration(*lo), fmt_duration(*hi)));
        }
    }
    Ok(())
}

impl Fault {
    /// Whether the fault is active at `t` (from the run's start).
    pub fn active_at(&self, t: Duration) -> bool {
        t >= self.at && self.duration.is_none_or(|d| t < self.at + d)
    }

    /// The end of the window (`None`: to the end of the run).
    pub fn end(&self) -> Option<Duration> {
        self.duration.map(|d| self.at + d)
    }
}

/// Pass/fail gates, checked at the end of a run. Absent gates are not checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Highest allowed (timed out + failed) / arrived.
    #[serde(default, deserialize_with = "de_opt_probability")]
    pub max_error_rate: Option<f64>,
    /// Highest allowed p99 of the corrected wait (from intended arrival).
    #[serde(default, deserialize_with = "de_opt_duration", serialize_with = "ser_opt_duration")]
    pub max_wait_p99: Option<Duration>,
    /// Highest allowed number of timed-out acquires.
    #[serde(default)]
    pub max_timeouts: Option<u64>,
    /// Highest allowed growth of modeled memory per hour, in bytes (also
    /// the budget of the monitor's leak verdict).
    #[serde(default, deserialize_with = "de_opt_bytes")]
    pub max_memory_growth_per_hour: Option<u64>,
    /// The most severe alert the monitor may raise (`none`: no alert at
    /// all; `warning`: warnings only; ...). Suppressed alerts count.
    #[serde(default)]
    pub max_alert_severity: Option<crate::monitor::Severity>,
    /// Highest allowed p99 wait of every `[[lock]]` (each lock, each side).
    #[serde(default, deserialize_with = "de_opt_duration", serialize_with = "ser_opt_duration")]
    pub max_lock_wait_p99: Option<Duration>,
    /// Lowest allowed hit ratio of the `[cache]` over the run.
    #[serde(default, deserialize_with = "de_opt_probability")]
    pub min_cache_hit_ratio: Option<f64>,
}

/// The file's top level, before cross-field checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    name: Option<String>,
    #[serde(default = "default_seed")]
    seed: u64,
    #[serde(default, deserialize_with = "de_opt_duration")]
    duration: Option<Duration>,
    #[serde(default = "default_sample", deserialize_with = "de_duration")]
    sample_interval: Duration,
    pool: PoolSpec,
    #[serde(default)]
    hold: Option<Dist>,
    #[serde(default)]
    phase: Vec<Phase>,
    #[serde(default)]
    fault: Vec<RawFault>,
    #[serde(default)]
    slo: Slo,
    #[serde(default, alias = "monitoring")]
    monitor: crate::monitor::MonitorConfig,
    #[serde(default)]
    lock: Vec<super::system::LockSpec>,
    #[serde(default)]
    cache: Option<super::system::CacheSpec>,
}

fn default_seed() -> u64 {
    1
}
fn default_sample() -> Duration {
    Duration::from_secs(2)
}

/// The longest virtual run accepted: 30 days.
pub use crate::units::MAX_DURATION;

/// The index of the second lock named like lock `i` (where a duplicate
/// name is reported).
fn last_dup(locks: &[super::system::LockSpec], i: usize) -> usize {
    locks.iter().enumerate().skip(i + 1).find(|(_, l)| l.name == locks[i].name).map_or(i, |(j, _)| j)
}

/// The most a `leak` fault leaks per operation: 1 GiB.
pub const MAX_LEAK_BYTES_PER_OP: u64 = 1 << 30;

/// The largest `factor` of a `slow` fault.
pub const MAX_SLOW_FACTOR: f64 = 1e6;

/// A finite mean above [`MAX_DURATION`], in seconds (an infinite one is
/// checked apart: a Pareto's may be infinite by design).
fn too_long(mean_seconds: f64) -> bool {
    mean_seconds.is_finite() && mean_seconds > MAX_DURATION.as_secs_f64()
}

/// Phases per cycle: each keeps its own histograms (about 0.7 MB).
pub const MAX_PHASES: usize = 100;

/// Phase instances in a run (the cycle repeated): the schedule is a list.
pub const MAX_PHASE_INSTANCES: usize = 1_000_000;

/// Expected operations in a run: beyond this a replay takes hours (at about
/// 5 M operations per wall second) and is almost surely a typo.
pub const MAX_EXPECTED_OPS: f64 = 2e10;

/// Operations waiting at once that a run may have to hold: each is a
/// waiter in the pool's line and an event in the schedule (about 200 bytes
/// together), so a workload that could queue more is refused up front.
pub const MAX_WAITING: f64 = 1e7;

impl Workload {
    /// The open-loop phase whose waiting operations could exceed
    /// [`MAX_WAITING`], with how many: the arrivals beyond the pool's
    /// capacity (`max` over the mean hold) pile up for as long as
    /// `acquire_timeout` (or the phase) lasts — the fluid bound of the
    /// line's length.
    fn peak_waiting(&self) -> Option<(usize, f64)> {
        let max = self.pool.settings.max_size as f64;
        let timeout = self.pool.settings.acquire_timeout.as_secs_f64();
        (0..self.phases.len())
            .filter(|&i| !matches!(self.phases[i].arrival, Arrival::Closed { .. }))
            .map(|i| {
                let hold = self.hold_of(i).map_or(0.0, Dist::mean_seconds);
                let capacity = if hold > 0.0 { max / hold } else { f64::INFINITY };
                let window =
                    timeout.min(self.phases[i].duration.as_secs_f64()).min(self.duration.as_secs_f64());
                (i, (self.peak_rate(i) - capacity).max(0.0) * window)
            })
            .find(|&(_, waiting)| waiting > MAX_WAITING)
    }

    /// Reads and validates a workload file.
    ///
    /// # Errors
    ///
    /// [`WorkloadError`], naming the file, line and field.
    pub fn load(path: &Path) -> Result<Workload, WorkloadError> {
        let (text, file) = read_text(path)?;
        Workload::parse(&text, &file)
    }

    /// Parses and validates workload text; `file` names it in errors.
    ///
    /// # Errors
    ///
    /// [`WorkloadError`], naming the file, line and field.
    pub fn parse(text: &str, file: &str) -> Result<Workload, WorkloadError> {
        if text.trim().is_empty() {
            return Err(WorkloadError::Empty {
                file: file.into(),
                needs: "at least [pool] and one [[phase]]",
            });
        }
        let mut raw: RawWorkload = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((0, 0), |span| line_col(text, span.start));
            let message = crate::text::clip(e.message().trim(), crate::text::MAX_MESSAGE_BYTES);
            let field = field_at(text, line, &message);
            WorkloadError::Invalid { file: file.into(), line, column, field, message }
        })?;
        // `[monitor] sample_interval` (the agent configuration's key) is the
        // run's sample interval unless the top level writes one; both
        // written must agree.
        let in_monitor = ["[monitor]", "[monitoring]"]
            .iter()
            .find_map(|header| written_in_table(text, header, "sample_interval"));
        if let Some((line, column)) = in_monitor {
            if written_at_top(text, "sample_interval") {
                if raw.monitor.sample_interval != raw.sample_interval {
                    return Err(WorkloadError::Invalid {
                        file: file.into(),
                        line,
                        column,
                        field: "sample_interval".into(),
                        message: format!(
                            "{} differs from the top-level sample_interval ({}): write it once",
                            fmt_duration(raw.monitor.sample_interval),
                            fmt_duration(raw.sample_interval)
                        ),
                    });
                }
            } else {
                raw.sample_interval = raw.monitor.sample_interval;
            }
        }
        raw.monitor.sample_interval = raw.sample_interval;
        let at = |key: &str, message: String| {
            let (line, column) = find_key(text, key);
            WorkloadError::Invalid { file: file.into(), line, column, field: key.into(), message }
        };
        if let Err((key, message)) = raw.monitor.validate() {
            // A key inside an inline table (`stability = { hysteresis = ... }`)
            // is not at the start of a line.
            let (line, column) = match find_key(text, key) {
                (0, _) => text
                    .lines()
                    .enumerate()
                    .find_map(|(i, l)| l.find(&format!("{key} =")).map(|c| (i + 1, c + 1)))
                    .unwrap_or((0, 0)),
                found => found,
            };
            return Err(WorkloadError::Invalid {
                file: file.into(),
                line,
                column,
                field: key.into(),
                message,
            });
        }
        let pool = &raw.pool;
        if let Err(e) = pool.settings.validate() {
            // The key as written: `min` or `min_size`, `max` or `max_size`.
            let key = e.setting().unwrap_or("sizing");
            let aliases: &[&str] = match key {
                "min_size" => &["min", "min_size"],
                "max_size" => &["max", "max_size"],
                _ => &[],
            };
            let written = aliases.iter().chain([&key]).find_map(|name| {
                written_in_table(text, "[pool]", name).map(|(line, column)| (*name, line, column))
            });
            let (field, line, column) = written.unwrap_or((key, 0, 0));
            return Err(WorkloadError::Invalid {
                file: file.into(),
                line,
                column,
                field: field.into(),
                message: e.to_string(),
            });
        }
        if raw.sample_interval < Duration::from_millis(10) {
            return Err(at("sample_interval", "must be at least 10ms".into()));
        }
        if raw.phase.is_empty() {
            return Err(WorkloadError::Invalid {
                file: file.into(),
                line: 0,
                column: 0,
                field: "phase".into(),
                message: "at least one [[phase]] is needed".into(),
            });
        }
        let in_table = |header: &str, index: usize, key: &str, message: String| {
            let (line, column) = find_in_table(text, header, index, key);
            WorkloadError::Invalid { file: file.into(), line, column, field: key.into(), message }
        };
        if raw.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(at("name", "must not be empty".into()));
        }
        // Names reach the terminal, report.md/html and metric labels: no
        // escape sequences, line breaks or other control characters.
        let control = |n: &str| n.chars().any(char::is_control);
        const NO_CONTROL: &str =
            "control characters (escape sequences, line breaks, tabs) are not allowed in a name";
        if raw.name.as_deref().is_some_and(control) {
            return Err(at("name", NO_CONTROL.into()));
        }
        if let Some(i) = raw.phase.iter().position(|p| control(&p.name)) {
            return Err(in_table("[[phase]]", i, "name", NO_CONTROL.into()));
        }
        if let Some(i) = raw.lock.iter().position(|l| control(&l.name)) {
            return Err(in_table("[[lock]]", i, "name", NO_CONTROL.into()));
        }
        if raw.cache.as_ref().is_some_and(|c| control(&c.name)) {
            return Err(in_table("[cache]", 0, "name", NO_CONTROL.into()));
        }
        if let Some(hold) = &raw.hold {
            check_dist(hold).map_err(|m| at("hold", m))?;
        }
        if let Some(create) = &pool.model.create_time {
            check_dist(create).map_err(|m| at("create_time", m))?;
        }
        for (i, phase) in raw.phase.iter().enumerate() {
            if phase.name.trim().is_empty() {
                return Err(in_table("[[phase]]", i, "name", "must not be empty".into()));
            }
            if raw.phase[..i].iter().any(|p| p.name == phase.name) {
                return Err(in_table(
                    "[[phase]]",
                    i,
                    "name",
                    format!("a second phase named `{}`", phase.name),
                ));
            }
            let Some(hold) = phase.hold.as_ref().or(raw.hold.as_ref()) else {
                return Err(in_table(
                    "[[phase]]",
                    i,
                    "name",
                    format!("phase `{}` has no `hold` and the workload gives no default `hold`", phase.name),
                ));
            };
            if let Some(own) = &phase.hold {
                check_dist(own).map_err(|m| in_table("[[phase]]", i, "hold", m))?;
            }
            if let Arrival::Closed { workers, think } = &phase.arrival {
                if *workers > 1_000_000 {
                    return Err(in_table(
                        "[[phase]]",
                        i,
                        "arrival",
                        format!("at most 1000000 workers, got {workers}"),
                    ));
                }
                if let Some(think) = think {
                    check_dist(think).map_err(|m| in_table("[[phase]]", i, "arrival", m))?;
                }
                let cycle = hold.mean_seconds() + think.as_ref().map_or(0.0, Dist::mean_seconds);
                if cycle.is_nan() || cycle < 1e-6 {
                    return Err(in_table(
                        "[[phase]]",
                        i,
                        "arrival",
                        "a closed loop needs a mean hold + think time of at least 1us, or virtual time would never advance"
                            .into(),
                    ));
                }
            }
        }
        let base = Path::new(file).parent().map(Path::to_path_buf).unwrap_or_default();
        for (i, phase) in raw.phase.iter_mut().enumerate() {
            if let Arrival::Series { file: series_file, unit, scale, loaded } = &mut phase.arrival {
                let path = base.join(&*series_file);
                let series = super::series::RateSeries::load(&path, (*unit).into(), *scale)?;
                if phase.duration.is_zero() {
                    phase.duration = series.duration();
                }
                *loaded = Some(std::sync::Arc::new(series));
            } else if phase.duration.is_zero() {
                return Err(in_table("[[phase]]", i, "duration", "missing: how long the phase lasts".into()));
            }
        }
        if raw.phase.len() > MAX_PHASES {
            return Err(in_table(
                "[[phase]]",
                MAX_PHASES,
                "name",
                format!("at most {MAX_PHASES} phases per cycle, got {}", raw.phase.len()),
            ));
        }
        for (i, phase) in raw.phase.iter().enumerate() {
            if phase.duration > MAX_DURATION {
                return Err(in_table("[[phase]]", i, "duration", "at most 30 days".into()));
            }
        }
        // At most MAX_PHASES × 30 days: no overflow.
        let cycle: Duration = raw.phase.iter().map(|p| p.duration).sum();
        let duration = raw.duration.unwrap_or(cycle);
        if duration > MAX_DURATION {
            return Err(at(
                "duration",
                format!("at most 30 days of virtual time, got {}", fmt_duration(duration)),
            ));
        }
        // Only as written: the default (2s) may well outlast a short run.
        if raw.sample_interval > duration && find_key(text, "sample_interval").0 > 0 {
            return Err(at(
                "sample_interval",
                format!(
                    "{} is longer than the run ({}): no sample would be taken",
                    fmt_duration(raw.sample_interval),
                    fmt_duration(duration)
                ),
            ));
        }
        if cycle.is_zero() {
            return Err(at("duration", "the phases of the cycle last 0s in all".into()));
        }
        let instances = duration.as_nanos() / cycle.as_nanos().max(1) * raw.phase.len() as u128;
        if instances > MAX_PHASE_INSTANCES as u128 {
            return Err(at(
                "duration",
                format!(
                    "the cycle of {} would repeat into {instances} phase instances (at most {MAX_PHASE_INSTANCES}): lengthen the phases or shorten the run",
                    fmt_duration(cycle)
                ),
            ));
        }
        let mut faults = Vec::with_capacity(raw.fault.len());
        for (i, f) in raw.fault.into_iter().enumerate() {
            // Which of the optional fields each kind takes (and needs).
            let given = [
                ("bytes_per_op", f.bytes_per_op.is_some()),
                ("factor", f.factor.is_some()),
                ("probability", f.probability.is_some()),
                ("by", f.by.is_some()),
                ("duration", f.duration.is_some()),
            ];
            let (takes, needs): (&[&str], &[&str]) = match f.kind {
                RawFaultKind::Leak => (&["bytes_per_op", "duration"], &["bytes_per_op"]),
                RawFaultKind::Slow => (&["factor", "duration"], &["factor"]),
                RawFaultKind::Stall | RawFaultKind::FactoryOutage => (&["duration"], &[]),
                RawFaultKind::FactoryPanic | RawFaultKind::HolderPanic | RawFaultKind::Abandon => {
                    (&["probability", "duration"], &[])
                }
                RawFaultKind::ClockJump => (&["by"], &["by"]),
            };
            if let Some(field) = needs.iter().find(|name| given.iter().any(|(n, on)| n == *name && !on)) {
                return Err(in_table(
                    "[[fault]]",
                    i,
                    "kind",
                    format!("a `{}` fault needs `{field}`", f.kind.name()),
                ));
            }
            if let Some((field, _)) = given.iter().find(|(name, on)| *on && !takes.contains(name)) {
                return Err(in_table(
                    "[[fault]]",
                    i,
                    field,
                    format!("does not apply to a `{}` fault", f.kind.name()),
                ));
            }
            let probability = f.probability.unwrap_or(1.0);
            let kind = match f.kind {
                RawFaultKind::Leak => {
                    let bytes_per_op = f.bytes_per_op.unwrap_or(0);
                    if bytes_per_op > MAX_LEAK_BYTES_PER_OP {
                        return Err(in_table(
                            "[[fault]]",
                            i,
                            "bytes_per_op",
                            format!("{bytes_per_op} bytes: at most 1 GiB leaked per operation"),
                        ));
                    }
                    FaultKind::Leak { bytes_per_op }
                }
                RawFaultKind::Slow => {
                    let factor = f.factor.unwrap_or(1.0);
                    if factor > MAX_SLOW_FACTOR {
                        return Err(in_table(
                            "[[fault]]",
                            i,
                            "factor",
                            format!("{factor} is out of range: at most {MAX_SLOW_FACTOR:e}"),
                        ));
                    }
                    FaultKind::Slow { factor }
                }
                RawFaultKind::Stall => FaultKind::Stall,
                RawFaultKind::FactoryOutage => FaultKind::FactoryOutage,
                RawFaultKind::FactoryPanic => FaultKind::FactoryPanic { probability },
                RawFaultKind::HolderPanic => FaultKind::HolderPanic { probability },
                RawFaultKind::Abandon => FaultKind::Abandon { probability },
                RawFaultKind::ClockJump => {
                    let by = f.by.unwrap_or_default();
                    if by.is_zero() || by > MAX_DURATION {
                        return Err(in_table("[[fault]]", i, "by", "between 1 ns and 30 days".into()));
                    }
                    FaultKind::ClockJump { by }
                }
            };
            if f.at > MAX_DURATION || f.duration.is_some_and(|d| d > MAX_DURATION) {
                let field = if f.at > MAX_DURATION { "at" } else { "duration" };
                return Err(in_table("[[fault]]", i, field, "at most 30 days".into()));
            }
            // A clock jump's window is the gap it skips.
            let duration = match kind {
                FaultKind::ClockJump { by } => Some(by),
                _ => f.duration,
            };
            faults.push(Fault { kind, at: f.at, duration });
        }
        let name = raw.name.unwrap_or_else(|| {
            Path::new(file)
                .file_stem()
                .map_or_else(|| "workload".into(), |s| s.to_string_lossy().into_owned())
        });
        let workload = Workload {
            name,
            seed: raw.seed,
            duration,
            sample_interval: raw.sample_interval,
            pool: raw.pool,
            hold: raw.hold,
            phases: raw.phase,
            faults,
            slo: raw.slo,
            monitor: raw.monitor,
            locks: raw.lock,
            cache: raw.cache,
        };
        super::system::check(&workload.locks, &workload.phases).map_err(|(field, message)| {
            let key = field.rsplit('.').next().unwrap_or("lock");
            let index = workload.locks.iter().position(|l| {
                (key == "name" && workload.locks.iter().filter(|m| m.name == l.name).count() > 1)
                    || (key == "phases"
                        && l.phases.keys().any(|p| !workload.phases.iter().any(|ph| &ph.name == p)))
                    || (key == "read_fraction" && l.read_fraction.is_some())
            });
            in_table(
                "[[lock]]",
                index.map_or(0, |i| if key == "name" { last_dup(&workload.locks, i) } else { i }),
                key,
                message,
            )
        })?;
        for (i, lock) in workload.locks.iter().enumerate() {
            check_dist(&lock.hold).map_err(|m| in_table("[[lock]]", i, "hold", m))?;
            if too_long(lock.hold.mean_seconds()) {
                return Err(in_table(
                    "[[lock]]",
                    i,
                    "hold",
                    "this distribution's mean is over 30 days".into(),
                ));
            }
        }
        if let Some(cache) = &workload.cache {
            check_dist(&cache.miss_cost).map_err(|m| at("miss_cost", m))?;
            if too_long(cache.miss_cost.mean_seconds()) {
                return Err(at("miss_cost", "this distribution's mean is over 30 days".into()));
            }
            if cache.name.trim().is_empty() {
                return Err(at("name", "[cache] name must not be empty".into()));
            }
            if cache.ttl.is_some_and(|t| t < Duration::from_millis(1) || t > MAX_DURATION) {
                return Err(at("ttl", "between 1 ms and 30 days".into()));
            }
            if cache.entry_bytes.is_some_and(|b| b == 0 || b > 1 << 30) {
                return Err(at("entry_bytes", "between 1 B and 1 GiB".into()));
            }
        }
        let ops = workload.expected_ops();
        if ops.is_nan() || ops > MAX_EXPECTED_OPS {
            return Err(at(
                "duration",
                format!("about {ops:.3e} operations expected (at most {MAX_EXPECTED_OPS:e}): lower the rates or shorten the run"),
            ));
        }
        for i in 0..workload.phases.len() {
            // A Pareto with shape <= 1 has an infinite mean by design; any
            // other distribution without a finite mean has absurd parameters.
            let absurd = |d: &Dist| !d.mean_seconds().is_finite() && !matches!(d, Dist::Pareto { .. });
            let message = match workload.hold_of(i) {
                Some(d) if absurd(d) => "this distribution has no finite mean".to_string(),
                // A finite mean can still be absurd (a lognormal with sigma 30).
                Some(d) if too_long(d.mean_seconds()) => {
                    format!("this distribution's mean is {:.3e} s (at most 30 days)", d.mean_seconds())
                }
                _ => continue,
            };
            // The phase's own hold, else the workload's.
            return Err(match workload.phases[i].hold {
                Some(_) => in_table("[[phase]]", i, "hold", message),
                None => at("hold", message),
            });
        }
        if let Some((i, waiting)) = workload.peak_waiting() {
            return Err(in_table(
                "[[phase]]",
                i,
                "arrival",
                format!(
                    "up to {waiting:.3e} operations would wait at once (the arrivals beyond the pool's capacity, \
                     for up to [pool] acquire_timeout): a run holds at most {MAX_WAITING:e} (about 2 GB); \
                     lower the rate, raise [pool] max or shorten acquire_timeout"
                ),
            ));
        }
        if let Some(create) = &workload.pool.model.create_time {
            let mean = create.mean_seconds();
            if too_long(mean)
                || (mean.is_nan() || mean.is_infinite()) && !matches!(create, Dist::Pareto { .. })
            {
                return Err(at(
                    "create_time",
                    format!("this distribution's mean is {mean:.3e} s (at most 30 days)"),
                ));
            }
        }
        Ok(workload)
    }

    /// The length of one cycle (the phases once).
    pub fn cycle(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }

    /// The phase instances of the run, in order: `(start, end, phase index)`.
    pub fn schedule(&self) -> Vec<(Duration, Duration, usize)> {
        let mut out = Vec::new();
        let mut t = Duration::ZERO;
        'outer: loop {
            for (i, phase) in self.phases.iter().enumerate() {
                if t >= self.duration {
                    break 'outer;
                }
                let end = (t + phase.duration).min(self.duration);
                if end > t {
                    out.push((t, end, i));
                }
                t = end;
            }
        }
        out
    }

    /// The hold distribution of phase `i`.
    pub fn hold_of(&self, i: usize) -> Option<&Dist> {
        self.phases.get(i).and_then(|p| p.hold.as_ref()).or(self.hold.as_ref())
    }

    /// The highest arrival rate of phase `i`, per second (for a closed
    /// loop: its workers over its mean hold and think time).
    pub fn peak_rate(&self, i: usize) -> f64 {
        let Some(phase) = self.phases.get(i) else { return 0.0 };
        match &phase.arrival {
            Arrival::Poisson { rate } | Arrival::Constant { rate } => *rate,
            Arrival::Ramp { from, to } => from.max(*to),
            Arrival::Series { loaded, .. } => loaded.as_ref().map_or(0.0, |s| s.peak_rate()),
            Arrival::Trace { trace, speed, .. } => {
                let span = trace.span().as_secs_f64() / speed;
                if span > 0.0 {
                    trace.len() as f64 / span
                } else {
                    trace.len() as f64
                }
            }
            Arrival::Closed { workers, think } => {
                let hold = self.hold_of(i).map_or(0.0, Dist::mean_seconds);
                let cycle = hold + think.as_ref().map_or(0.0, Dist::mean_seconds);
                if cycle > 0.0 {
                    *workers as f64 / cycle
                } else {
                    f64::INFINITY
                }
            }
        }
    }

    /// The workload played `k` times faster, keeping its rates: every phase,
    /// fault window and the total duration last `1/k` as long (a 24 h cycle
    /// in 24/k hours); arrival rates, hold times and the pool's own timers
    /// are unchanged.
    ///
    /// # Errors
    ///
    /// A message when `k` is not a finite number ≥ 1, when a phase replays
    /// a recorded trace (its gaps are its rates: `replay --speed` plays it
    /// faster), or when a phase would last less than a millisecond.
    ///
    /// # Examples
    ///
    /// ```
    /// let w = tidepool::sim::Workload::parse(r#"
    ///     duration = "24h"
    ///     hold = { dist = "constant", value = "1ms" }
    ///     [pool]
    ///     [[phase]]
    ///     name = "busy"
    ///     duration = "6h"
    ///     arrival = { process = "poisson", rate = 100 }
    /// "#, "doc.toml").unwrap();
    /// let fast = w.compressed(60.0).unwrap();
    /// assert_eq!(fast.duration, std::time::Duration::from_secs(24 * 60));
    /// assert_eq!(fast.peak_rate(0), 100.0);
    /// ```
    pub fn compressed(&self, k: f64) -> Result<Workload, String> {
        if !k.is_finite() || k < 1.0 {
            return Err(format!("--compress {k}: need a finite number >= 1"));
        }
        let squeeze = |d: Duration| Duration::from_secs_f64(d.as_secs_f64() / k);
        let mut w = self.clone();
        w.duration = squeeze(w.duration);
        for phase in &mut w.phases {
            phase.duration = squeeze(phase.duration);
            if phase.duration < Duration::from_millis(1) {
                return Err(format!("--compress {k}: phase `{}` would last less than 1 ms", phase.name));
            }
            match &mut phase.arrival {
                Arrival::Series { loaded: Some(series), .. } => {
                    *series = std::sync::Arc::new(series.compressed(k));
                }
                Arrival::Trace { .. } => {
                    return Err(format!(
                        "--compress {k}: phase `{}` replays a recorded trace, whose gaps are its rates; \
                         use `replay --speed` to play it faster",
                        phase.name
                    ));
                }
                _ => {}
            }
        }
        for fault in &mut w.faults {
            fault.at = squeeze(fault.at);
            fault.duration = fault.duration.map(squeeze);
        }
        Ok(w)
    }

    /// Expected operation count of the run: exact for open-loop phases (the
    /// integral of the rate), and `workers × time / (mean hold + mean think)`
    /// for closed-loop ones (an upper bound when they wait).
    pub fn expected_ops(&self) -> f64 {
        self.schedule()
            .into_iter()
            .map(|(start, end, i)| {
                let secs = (end - start).as_secs_f64();
                let full = self.phases[i].duration.as_secs_f64();
                match &self.phases[i].arrival {
                    Arrival::Poisson { rate } | Arrival::Constant { rate } => rate * secs,
                    Arrival::Trace { trace, speed, loops } => {
                        let all = trace.len() as f64 * f64::from(*loops);
                        let whole = trace.span().as_secs_f64() / speed * f64::from(*loops);
                        if whole <= 0.0 {
                            all
                        } else {
                            all * (secs / whole).min(1.0)
                        }
                    }
                    Arrival::Series { loaded, .. } => {
                        let series = loaded.as_ref();
                        // Exact for a whole series; prorated when cut.
                        series.map_or(0.0, |s| s.expected_arrivals() * (secs / full).min(1.0))
                    }
                    Arrival::Ramp { from, to } => {
                        // Integral of the linear rate over the (possibly cut) phase.
                        let end_rate = from + (to - from) * (secs / full);
                        (from + end_rate) / 2.0 * secs
                    }
                    Arrival::Closed { workers, think } => {
                        let hold = self.hold_of(i).map_or(0.0, Dist::mean_seconds);
                        let think = think.as_ref().map_or(0.0, Dist::mean_seconds);
                        let cycle = hold + think;
                        if cycle > 0.0 {
                            *workers as f64 * secs / cycle
                        } else {
                            f64::INFINITY
                        }
                    }
                }
            })
            .sum()
    }
}

fn de_rate<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let x = de_number(d)?;
    check_f64(x, x > 0.0 && x <= 1e9, "a rate in operations per second, 0 < rate <= 1e9")
}

fn de_rate_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let x = de_number(d)?;
    check_f64(x, (0.0..=1e9).contains(&x), "a rate in operations per second, 0 <= rate <= 1e9")
}

fn de_workers<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let x = i64::deserialize(d)?;
    usize::try_from(x)
        .ok()
        .filter(|w| *w >= 1)
        .ok_or_else(|| serde::de::Error::custom(format!("{x} workers: need at least 1")))
}

#[cfg(test)]
mod tests {

    /// A Pareto of shape 0.01 draws infinity now and then (its quantile
    /// function overflows): such a draw is a hold past the run's end, never
    /// 0 ns (which made the heaviest operations the quickest).
    #[test]
    fn an_infinite_draw_is_the_longest_hold_not_zero() {
        use rand::SeedableRng;
        let dist = Dist::Pareto { scale: Duration::from_millis(1), shape: 0.01 };
        let sampler = dist.sampler();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let draws: Vec<u64> = (0..10_000).map(|_| sampler.sample_ns(&mut rng)).collect();
        assert!(draws.iter().all(|&d| d >= 1_000_000), "a draw below the scale");
        let cap = MAX_DURATION.as_nanos() as u64;
        assert!(draws.contains(&cap), "no draw reached the cap");
        assert!(draws.iter().all(|&d| d <= cap));
    }

    use super::*;

    const BASE: &str = "[pool]\nmin = 2\nmax = 4\n[[phase]]\nname = \"a\"\nduration = \"10s\"\n";

    fn parse(extra: &str) -> Result<Workload, WorkloadError> {
        Workload::parse(&format!("{BASE}{extra}"), "w.toml")
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = parse("arrival = { process = \"poisson\", rate = -3 }\nhold = { dist = \"constant\", value = \"1ms\" }\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("w.toml:7:"), "{err}");
        assert!(err.contains("arrival") && err.contains("-3"), "{err}");

        let err = parse("arrival = { process = \"poisson\", rate = 3 }\nhold = { dist = \"constant\", value = \"1ms\" }\nbogus = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("w.toml:9:") && err.contains("bogus"), "{err}");

        let err = parse("arrival = { process = \"poisson\", rate = 3 }\nhold = { dist = \"constant\", value = \"ten\" }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("w.toml:8:") && err.contains("`ten` is not a duration"), "{err}");

        let err = parse("arrival = { process = \"poisson\", rate = nan }\nhold = { dist = \"constant\", value = \"1ms\" }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("w.toml:7:") && err.contains("NaN"), "{err}");
    }

    #[test]
    fn impossible_pool_sizes_are_refused() {
        let text = "[pool]\nmin = 9\nmax = 4\n[[phase]]\nname = \"a\"\nduration = \"1s\"\narrival = { process = \"poisson\", rate = 1 }\nhold = { dist = \"constant\", value = \"1ms\" }\n";
        let err = Workload::parse(text, "p.toml").unwrap_err().to_string();
        assert!(err.starts_with("p.toml:3:1: max: invalid pool size: min_size 9 and max_size 4"), "{err}");
        assert!(matches!(Workload::parse("  \n", "e.toml"), Err(WorkloadError::Empty { .. })));
    }

    #[test]
    fn the_cycle_repeats_to_fill_the_duration() {
        let text = "duration = \"25s\"\n[pool]\n[[phase]]\nname = \"hi\"\nduration = \"10s\"\narrival = { process = \"constant\", rate = 10 }\nhold = { dist = \"constant\", value = \"1ms\" }\n[[phase]]\nname = \"lo\"\nduration = \"5s\"\narrival = { process = \"ramp\", from = 0, to = 10 }\nhold = { dist = \"constant\", value = \"1ms\" }\n";
        let w = Workload::parse(text, "c.toml").unwrap();
        let s: Vec<_> = w.schedule().into_iter().map(|(a, b, i)| (a.as_secs(), b.as_secs(), i)).collect();
        assert_eq!(s, vec![(0, 10, 0), (10, 15, 1), (15, 25, 0)]);
        // 100 + 25 + 100 ops.
        assert!((w.expected_ops() - 225.0).abs() < 1e-9, "{}", w.expected_ops());
    }

    #[test]
    fn dist_means_match_samples() {
        use rand::SeedableRng;
        let dists = [
            Dist::Lognormal { median: Duration::from_millis(10), sigma: 0.5 },
            Dist::Weibull { scale: Duration::from_millis(10), shape: 1.5 },
            Dist::Pareto { scale: Duration::from_millis(10), shape: 3.0 },
        ];
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        for d in dists {
            let s = d.sampler();
            let n = 200_000;
            let mean = (0..n).map(|_| s.sample_ns(&mut rng) as f64).sum::<f64>() / n as f64 / 1e9;
            let rel = (mean - d.mean_seconds()).abs() / d.mean_seconds();
            assert!(rel < 0.02, "{d:?}: sample mean {mean} vs {}", d.mean_seconds());
        }
    }

    #[test]
    fn what_soak_would_refuse_validate_refuses_too() {
        let hold = "hold = { dist = \"constant\", value = \"1ms\" }\n";
        let arrival = "arrival = { process = \"poisson\", rate = 3 }\n";
        let cases = [
            // A truncated normal with min above max (it used to panic in soak).
            (format!("{arrival}hold = {{ dist = \"normal\", mean = \"5ms\", std_dev = \"1ms\", min = \"9ms\", max = \"2ms\" }}\n"), "w.toml:8:", "min (9ms) is above max (2ms)"),
            // A closed loop that never advances virtual time (it used to hang).
            ("arrival = { process = \"closed\", workers = 2 }\nhold = { dist = \"constant\", value = \"0s\" }\n".to_string(), "w.toml:7:", "never advance"),
            // The pool's own limits.
            (format!("{arrival}{hold}[pool]\n"), "", "duplicate key"),
            (format!("{arrival}{hold}[[phase]]\nname = \"a\"\nduration = \"1s\"\n{arrival}"), "w.toml:10:", "a second phase named `a`"),
            (format!("{arrival}{hold}[[fault]]\nkind = \"leak\"\nfactor = 2\n"), "w.toml:10:", "a `leak` fault needs `bytes_per_op`"),
            (format!("{arrival}{hold}[[fault]]\nkind = \"stall\"\nfactor = 2\n"), "w.toml:11:", "does not apply to a `stall` fault"),
        ];
        for (extra, location, message) in cases {
            let err = parse(&extra).expect_err(message).to_string();
            assert!(err.contains(location) && err.contains(message), "{err}");
        }
        let lifetime = "[pool]\nmax_lifetime = \"100us\"\n[[phase]]\nname = \"a\"\nduration = \"1s\"\n";
        let err = Workload::parse(&format!("{lifetime}{arrival}{hold}"), "p.toml")
            .expect_err("too short")
            .to_string();
        assert!(err.starts_with("p.toml:2:") && err.contains("max_lifetime"), "{err}");
    }
}
