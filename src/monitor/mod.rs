//! The monitor: turns sampled numbers into decisions.
//!
//! Every sample interval (2 s by default; virtual time inside the
//! simulator) the monitor gets one [`Reading`] per signal — a pool's wait,
//! its starvation, memory, a lock's contention — and runs each through its
//! own [`SignalDetector`]: static [`Floors`] per severity combined with the
//! adaptive baseline of [`anomaly`], confirmed over a few samples and
//! cleared with hysteresis. Changes of severity become [`AlertEvent`]s with
//! a lifecycle (firing → escalated / de-escalated → resolved) and per
//! (kind, severity) suppression; remedies registered per kind run when an
//! alert fires, and whether the signal recovered is recorded. A
//! [`LeakTracker`] judges the memory series. Budgets a trend can exhaust
//! (memory, a pool's size, the queue: [`Level`]s) are [`forecast`]: when
//! the time to exhaustion falls inside the horizon a *predicted* alert
//! (kind `memory_exhaustion_predicted` etc.) goes through the same
//! lifecycle. Events go to sinks (`alerts.jsonl`, [`alertmanager`]) and to
//! the metrics `tidepool_alerts_active{kind,severity}`,
//! `tidepool_alerts_total` and `tidepool_forecast_exhaustion_seconds{resource}`.
//!
//! * [`anomaly`]: the streaming adaptive-baseline detector (also behind
//!   `tidepool detect`).
//! * [`sampler`]: readings from live pools, locks and the process, and a
//!   thread that samples them on the real clock.
//! * [`alertmanager`]: delivery to a Prometheus Alertmanager.
//!
//! The simulator feeds the same [`Monitor`] from its samples, so a soak's
//! alerts are the ones production would have raised.
//!
//! # Example
//!
//! ```
//! use tidepool::monitor::{Kind, Monitor, MonitorConfig, Reading, Severity};
//!
//! let mut monitor = Monitor::new(MonitorConfig::default());
//! // A minute of a healthy pool, then a minute of 40 ms waits.
//! for i in 0..60 {
//!     let wait = if i < 30 { 0.0005 } else { 0.040 };
//!     monitor.observe(f64::from(i) * 2.0, &[Reading::new(Kind::PoolWait, "db", wait)]);
//! }
//! assert_eq!(monitor.severity(Kind::PoolWait, "db"), Severity::Critical);
//! ```

pub mod alertmanager;
mod alerts;
pub mod alloc;
pub mod anomaly;
pub mod forecast;
mod leak;
pub mod sampler;
mod signal;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use alerts::{AlertEvent, AlertSink, AlertState, Cooldowns, Episode};
pub use anomaly::Severity;
pub use forecast::{
    linear_fit, Forecast, ForecastReport, Forecaster, Level, LinearFit, Resource, FORECAST_EXHAUSTION_SECONDS,
};
pub use leak::{LeakReport, LeakTracker, LeakVerdict};
pub use signal::{monitor_anomaly_config, Combine, Floors, Kind, SignalDetector, Stability};

/// `tidepool_alerts_active{kind, severity}`: alerts active now.
pub const ALERTS_ACTIVE: &str = "tidepool_alerts_active";
/// `tidepool_alerts_total{kind, severity}`: alerts notified (fired or escalated).
pub const ALERTS_TOTAL: &str = "tidepool_alerts_total";

/// One signal's value at a sample.
///
/// ```
/// use tidepool::monitor::{Kind, Reading};
/// let r = Reading::new(Kind::Starvation, "parsers", 0.75);
/// assert_eq!(r.subject, "parsers");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// What is measured.
    pub kind: Kind,
    /// Which pool, lock, or `process`.
    pub subject: String,
    /// The value, in the kind's unit (seconds, a ratio, bytes).
    pub value: f64,
}

impl Reading {
    /// A reading.
    pub fn new(kind: Kind, subject: impl Into<String>, value: f64) -> Reading {
        Reading { kind, subject: subject.into(), value }
    }
}

/// The monitor's settings. Defaults: the original design's floors, both
/// floor and adaptive band required, 5 samples to confirm, 3 to clear,
/// cooldowns of 120 s (warning) and 60 s (critical), a leak budget of
/// 1 MiB/h after 5 minutes of warm-up, 15 samples for a remedy to work,
/// and exhaustion forecasts over the last 30 minutes with a 1 h horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Pool wait floors (the p99 of a sample interval's acquire waits),
    /// seconds: 10 / 25 / 50 ms.
    pub pool_wait: Floors,
    /// Starvation floors (`in_use / max` while callers wait): 70 / 90 / 98 %.
    pub starvation: Floors,
    /// Memory floors, bytes: 500 / 800 / 1200 MB.
    pub memory: Floors,
    /// Lock contention floors (mean wait per acquisition), seconds:
    /// 1 / 3 / 10 ms (3 ms is the original design's contention threshold).
    pub lock_contention: Floors,
    /// Allocation pressure floors, bytes allocated per second: 256 MB/s,
    /// 1 GB/s, 4 GB/s — a quarter, all, and four times of what one core's
    /// allocator comfortably sustains alongside real work (glibc malloc
    /// serves small blocks at a few GB/s per core when that is all it does).
    pub allocation_rate: Floors,
    /// Cache miss-ratio floors (misses over lookups in a sample interval):
    /// 60 / 80 / 95 %. Judged with the adaptive band like every signal,
    /// so a cache that always misses half its lookups stays quiet and one
    /// whose misses jump (a flushed or undersized cache) alerts.
    pub cache_miss_ratio: Floors,
    /// How floor and adaptive band combine.
    pub combine: Combine,
    /// Confirmation and hysteresis.
    pub stability: Stability,
    /// Suppression cooldowns.
    pub cooldowns: Cooldowns,
    /// The leak verdict's budget, bytes per hour.
    pub leak_budget_bytes_per_hour: f64,
    /// The leak verdict ignores this much of the run's start, seconds.
    pub leak_warmup_seconds: f64,
    /// A remedy "worked" if its alert resolved within this many samples.
    pub recover_within_samples: u32,
    /// A predicted alert fires when a budget's pessimistic forecast time
    /// to exhaustion is at most this, seconds (3600); it resolves when the
    /// forecast leaves the horizon (by the hysteresis) or disappears.
    pub forecast_horizon_seconds: f64,
    /// The forecasts fit the last this many seconds of each level (1800);
    /// a forecast needs half of it.
    pub forecast_window_seconds: f64,
    /// The memory limit forecasts run against, bytes (default: the memory
    /// emergency floor).
    pub memory_limit_bytes: Option<f64>,
    /// The most callers that may wait for a pool, the queue forecast's
    /// limit (default: the pool's max: a queue as long as the pool is large
    /// means every caller in line waits a full hold or more even with the
    /// pool at its max, and acquire timeouts follow).
    pub queue_limit: Option<f64>,
    /// How often a live agent samples its readings (2 s; `"2s"` or a
    /// number of seconds). In a workload file it is the run's
    /// `sample_interval` when that is not written at the top level.
    #[serde(deserialize_with = "crate::de::de_duration", serialize_with = "crate::de::ser_duration")]
    pub sample_interval: std::time::Duration,
    /// Samples each signal's adaptive band learns from before it scores
    /// anything (30, the detector's warm-up; 2 to 100 000).
    pub baseline_samples: usize,
    /// Whether [`cooldowns`](Self::cooldowns) suppress repeated alerts
    /// (true). `false` notifies every firing.
    pub suppression: bool,
    /// Whether the remedies registered with [`Monitor::on`] run when an
    /// alert fires or escalates (true). `false`: alerts only. (Alerts
    /// always resolve by themselves when their signal clears.)
    pub auto_resolution: bool,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            pool_wait: Floors::new(0.010, 0.025, 0.050),
            starvation: Floors::new(0.70, 0.90, 0.98),
            memory: Floors::new(500e6, 800e6, 1200e6),
            lock_contention: Floors::new(0.001, 0.003, 0.010),
            allocation_rate: Floors::new(256e6, 1e9, 4e9),
            cache_miss_ratio: Floors::new(0.60, 0.80, 0.95),
            combine: Combine::Both,
            stability: Stability::default(),
            cooldowns: Cooldowns::default(),
            leak_budget_bytes_per_hour: 1024.0 * 1024.0,
            leak_warmup_seconds: 300.0,
            recover_within_samples: 15,
            forecast_horizon_seconds: 3600.0,
            forecast_window_seconds: 1800.0,
            memory_limit_bytes: None,
            queue_limit: None,
            sample_interval: std::time::Duration::from_secs(2),
            baseline_samples: 30,
            suppression: true,
            auto_resolution: true,
        }
    }
}

impl MonitorConfig {
    /// Checks the settings; on error, the key at fault and why.
    ///
    /// ```
    /// use tidepool::monitor::{Floors, MonitorConfig};
    /// assert!(MonitorConfig::default().validate().is_ok());
    /// let bad = MonitorConfig { pool_wait: Floors::new(0.05, 0.01, 0.1), ..MonitorConfig::default() };
    /// assert_eq!(bad.validate().unwrap_err().0, "pool_wait");
    /// ```
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for kind in Kind::SIGNALS {
            let f = self.floors(kind);
            let ok = [f.warning, f.critical, f.emergency].iter().all(|v| v.is_finite() && *v >= 0.0)
                && f.warning <= f.critical
                && f.critical <= f.emergency;
            if !ok {
                return Err((
                    kind.as_str(),
                    format!(
                        "floors {} / {} / {} must be finite, >= 0 and in order warning <= critical <= emergency",
                        f.warning, f.critical, f.emergency
                    ),
                ));
            }
        }
        let h = self.stability.hysteresis;
        if !(h > 0.0 && h <= 1.0) {
            return Err(("hysteresis", format!("{h} must be in (0, 1]")));
        }
        if self.stability.confirm_samples == 0 || self.stability.clear_samples == 0 {
            return Err(("stability", "confirm_samples and clear_samples must be at least 1".into()));
        }
        let baseline = anomaly::AnomalyConfig { warmup: self.baseline_samples, ..monitor_anomaly_config() };
        if let Err(e) = baseline.validate() {
            return Err(("baseline_samples", e.to_string()));
        }
        if self.sample_interval < std::time::Duration::from_millis(10) {
            return Err(("sample_interval", "must be at least 10ms".into()));
        }
        if self.recover_within_samples == 0 {
            return Err(("recover_within_samples", "must be at least 1".into()));
        }
        for (key, v) in [
            ("cooldowns", self.cooldowns.warning),
            ("cooldowns", self.cooldowns.critical),
            ("leak_budget_bytes_per_hour", self.leak_budget_bytes_per_hour),
            ("leak_warmup_seconds", self.leak_warmup_seconds),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err((key, format!("{v} must be a finite number >= 0")));
            }
        }
        let month = crate::units::MAX_DURATION.as_secs_f64();
        for (key, v) in [
            ("forecast_horizon_seconds", Some(self.forecast_horizon_seconds)),
            ("forecast_window_seconds", Some(self.forecast_window_seconds)),
        ] {
            if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0 && *v <= month)) {
                return Err((
                    key,
                    format!("{v} must be a number of seconds > 0 and at most 30 days ({month})"),
                ));
            }
        }
        for (key, v) in [("memory_limit_bytes", self.memory_limit_bytes), ("queue_limit", self.queue_limit)] {
            if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0)) {
                return Err((key, format!("{v} must be a finite number > 0")));
            }
        }
        Ok(())
    }

    /// The memory limit of the memory forecast: `memory_limit_bytes`, else
    /// the memory emergency floor.
    ///
    /// ```
    /// use tidepool::monitor::MonitorConfig;
    /// assert_eq!(MonitorConfig::default().memory_limit(), 1200e6);
    /// ```
    pub fn memory_limit(&self) -> f64 {
        self.memory_limit_bytes.unwrap_or(self.memory.emergency)
    }

    /// The queue forecast's limit for a pool of `pool_max` objects:
    /// `queue_limit`, else `pool_max`.
    ///
    /// ```
    /// use tidepool::monitor::MonitorConfig;
    /// assert_eq!(MonitorConfig::default().queue_limit_for(32), 32.0);
    /// ```
    pub fn queue_limit_for(&self, pool_max: usize) -> f64 {
        self.queue_limit.unwrap_or(pool_max as f64)
    }

    /// The floors of `kind`. A predicted kind is judged on its urgency
    /// (horizon / pessimistic seconds to exhaustion): warning at 1 (inside
    /// the horizon), never higher (the signal's own floors escalate).
    pub fn floors(&self, kind: Kind) -> Floors {
        match kind {
            Kind::MemoryExhaustionPredicted
            | Kind::PoolSizeExhaustionPredicted
            | Kind::QueueExhaustionPredicted => Floors::new(1.0, f64::INFINITY, f64::INFINITY),
            Kind::PoolWait => self.pool_wait,
            Kind::Starvation => self.starvation,
            Kind::Memory => self.memory,
            Kind::LockContention => self.lock_contention,
            Kind::AllocationRate => self.allocation_rate,
            Kind::CacheMissRatio => self.cache_miss_ratio,
        }
    }
}

/// A remedy: runs when an alert of its kind fires or escalates; returns
/// what it did, or why it could not.
pub type Action = Box<dyn FnMut(&AlertEvent) -> Result<String, String> + Send>;

/// One run of a remedy and whether the signal recovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remediation {
    /// When it ran, seconds.
    pub at: f64,
    /// The alert's kind.
    pub kind: Kind,
    /// The alert's subject.
    pub subject: String,
    /// The remedy's name.
    pub action: String,
    /// What it reported.
    pub result: String,
    /// Whether it ran without error.
    pub ok: bool,
    /// `Some(true)`: the alert resolved within the window; `Some(false)`:
    /// it did not; `None`: the window is still open.
    pub recovered: Option<bool>,
    /// When the alert resolved, seconds.
    pub recovered_at: Option<f64>,
    #[serde(skip)]
    samples_left: u32,
}

/// What the monitor saw over a run: the soak report's alert section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MonitorReport {
    /// Every alert episode, in start order.
    pub episodes: Vec<Episode>,
    /// Events by state.
    pub events: BTreeMap<String, u64>,
    /// Every remedy run.
    pub remediations: Vec<Remediation>,
    /// The memory verdict, when there were enough samples.
    pub leak: Option<LeakReport>,
    /// The exhaustion forecast of every level watched, by resource and
    /// subject.
    #[serde(default)]
    pub forecasts: Vec<ForecastReport>,
    /// The horizon of the predicted alerts, seconds.
    #[serde(default)]
    pub forecast_horizon_seconds: f64,
    /// The highest severity any alert reached (notified or not).
    pub worst: Severity,
}

/// The monitor. See the [module docs](self).
pub struct Monitor {
    config: MonitorConfig,
    detectors: BTreeMap<(Kind, String), SignalDetector>,
    book: alerts::AlertBook,
    leak: LeakTracker,
    leak_subject: Option<String>,
    actions: Vec<(Kind, String, Action)>,
    remediations: Vec<Remediation>,
    sinks: Vec<Box<dyn AlertSink>>,
    events: BTreeMap<String, u64>,
    forecasts: BTreeMap<(Resource, String), Watched>,
}

/// A level being forecast.
#[derive(Debug, Clone)]
struct Watched {
    forecaster: Forecaster,
    limit: f64,
    last_value: f64,
    latest: Option<Forecast>,
    /// (seconds to exhaustion, at) of the soonest forecast.
    soonest: Option<(f64, f64)>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").field("signals", &self.detectors.len()).finish_non_exhaustive()
    }
}

impl Monitor {
    /// A monitor with `config`; registers its metrics at zero for every
    /// (kind, severity), so dashboards see zeros rather than no data.
    pub fn new(config: MonitorConfig) -> Monitor {
        for kind in Kind::ALL {
            for severity in [Severity::Warning, Severity::Critical, Severity::Emergency] {
                let labels = [("kind", kind.as_str()), ("severity", severity.as_str())];
                metrics::gauge!(ALERTS_ACTIVE, &labels).set(0.0);
                metrics::counter!(ALERTS_TOTAL, &labels).increment(0);
            }
        }
        for resource in Resource::ALL {
            metrics::gauge!(FORECAST_EXHAUSTION_SECONDS, "resource" => resource.as_str()).set(f64::INFINITY);
        }
        Monitor {
            leak: LeakTracker::new(config.leak_budget_bytes_per_hour, config.leak_warmup_seconds),
            book: alerts::AlertBook::new(if config.suppression {
                config.cooldowns
            } else {
                Cooldowns { warning: 0.0, critical: 0.0 }
            }),
            config,
            detectors: BTreeMap::new(),
            leak_subject: None,
            actions: Vec::new(),
            remediations: Vec::new(),
            sinks: Vec::new(),
            events: BTreeMap::new(),
            forecasts: BTreeMap::new(),
        }
    }

    /// Registers a remedy for alerts of `kind`.
    ///
    /// ```
    /// use tidepool::monitor::{Kind, Monitor, MonitorConfig};
    /// let mut monitor = Monitor::new(MonitorConfig::default());
    /// monitor.on(Kind::Memory, "page someone", |alert| Ok(format!("paged about {}", alert.subject)));
    /// ```
    pub fn on(
        &mut self,
        kind: Kind,
        name: impl Into<String>,
        action: impl FnMut(&AlertEvent) -> Result<String, String> + Send + 'static,
    ) {
        self.actions.push((kind, name.into(), Box::new(action)));
    }

    /// Adds a sink for notified events.
    pub fn add_sink(&mut self, sink: impl AlertSink + 'static) {
        self.sinks.push(Box::new(sink));
    }

    /// The settings.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// The current severity of (kind, subject).
    pub fn severity(&self, kind: Kind, subject: &str) -> Severity {
        self.book.severity(kind, subject)
    }

    /// Feeds one sample's readings at `at` seconds; returns the alert events
    /// it caused (suppressed ones included). Memory readings are also
    /// forecast against [`MonitorConfig::memory_limit`].
    pub fn observe(&mut self, at: f64, readings: &[Reading]) -> Vec<AlertEvent> {
        self.observe_with_levels(at, readings, &[])
    }

    /// [`Monitor::observe`], and forecasts `levels` (a pool's size against
    /// its max, the queue against its bound; memory readings are forecast
    /// anyway): a predicted alert fires when the pessimistic time to
    /// exhaustion falls inside the horizon. Call it once per sample.
    ///
    /// ```
    /// use tidepool::monitor::{Kind, Level, Monitor, MonitorConfig, Resource, Severity};
    ///
    /// let mut monitor = Monitor::new(MonitorConfig::default());
    /// // A pool growing by one object every 2 minutes toward its max of 64.
    /// for i in 0..600 {
    ///     let t = f64::from(i) * 2.0;
    ///     let size = 4.0 + (t / 120.0).floor();
    ///     monitor.observe_with_levels(t, &[], &[Level::new(Resource::PoolSize, "db", size, 64.0)]);
    /// }
    /// // At 20 min, 14 objects; 50 to go at 30 an hour: 1.7 h, not yet.
    /// assert_eq!(monitor.severity(Kind::PoolSizeExhaustionPredicted, "db"), Severity::None);
    /// for i in 600..2000 {
    ///     let t = f64::from(i) * 2.0;
    ///     let size = 4.0 + (t / 120.0).floor();
    ///     monitor.observe_with_levels(t, &[], &[Level::new(Resource::PoolSize, "db", size, 64.0)]);
    /// }
    /// // At 66 min, 37 objects: 54 minutes to go.
    /// assert_eq!(monitor.severity(Kind::PoolSizeExhaustionPredicted, "db"), Severity::Warning);
    /// ```
    pub fn observe_with_levels(
        &mut self,
        at: f64,
        readings: &[Reading],
        levels: &[Level],
    ) -> Vec<AlertEvent> {
        let mut out = Vec::new();
        let mut watched: Vec<Level> = Vec::new();
        for r in readings {
            if r.kind == Kind::Memory {
                if self.leak_subject.get_or_insert_with(|| r.subject.clone()) == &r.subject {
                    self.leak.record(at, r.value);
                }
                watched.push(Level::new(
                    Resource::Memory,
                    r.subject.clone(),
                    r.value,
                    self.config.memory_limit(),
                ));
            }
            let key = (r.kind, r.subject.clone());
            let (floors, combine, stability) =
                (self.config.floors(r.kind), self.config.combine, self.config.stability);
            let baseline = self.config.baseline_samples;
            let detector = self.detectors.entry(key).or_insert_with(|| {
                SignalDetector::new(floors, combine, stability).with_baseline_samples(baseline)
            });
            let severity = detector.observe(at, r.value);
            let expected = detector.expected();
            if let Some(event) = self.book.transition(at, r.kind, &r.subject, severity, r.value, expected) {
                out.push(event);
            }
        }
        watched.extend(levels.iter().cloned());
        self.forecast(at, &watched, &mut out);
        // Remedies still waiting: did their alert clear?
        for rem in self.remediations.iter_mut().filter(|r| r.recovered.is_none()) {
            if self.book.severity(rem.kind, &rem.subject) == Severity::None {
                rem.recovered = Some(true);
                rem.recovered_at = Some(at);
            } else if rem.samples_left == 0 {
                rem.recovered = Some(false);
            } else {
                rem.samples_left -= 1;
            }
        }
        for event in &out {
            *self.events.entry(format!("{:?}", event.state).to_lowercase()).or_insert(0) += 1;
            if matches!(event.state, AlertState::Firing | AlertState::Escalated) {
                let labels = [("kind", event.kind.as_str()), ("severity", event.severity.as_str())];
                metrics::counter!(ALERTS_TOTAL, &labels).increment(1);
            }
            if matches!(event.state, AlertState::Firing | AlertState::Escalated | AlertState::Suppressed)
                && event.severity > event.previous
            {
                self.remedy(event);
            }
            if event.state.notifies() {
                for sink in &mut self.sinks {
                    sink.deliver(event);
                }
            }
        }
        if !out.is_empty() {
            let counts = self.book.active_counts();
            for kind in Kind::ALL {
                for severity in [Severity::Warning, Severity::Critical, Severity::Emergency] {
                    let n = counts.get(&(kind, severity)).copied().unwrap_or(0);
                    let labels = [("kind", kind.as_str()), ("severity", severity.as_str())];
                    metrics::gauge!(ALERTS_ACTIVE, &labels).set(n as f64);
                }
            }
        }
        out
    }

    /// Forecasts `levels`; predicted alerts' transitions go to `out`.
    fn forecast(&mut self, at: f64, levels: &[Level], out: &mut Vec<AlertEvent>) {
        let horizon = self.config.forecast_horizon_seconds;
        let window = self.config.forecast_window_seconds;
        for l in levels {
            if !(l.value.is_finite() && l.limit.is_finite()) {
                continue;
            }
            let w = self.forecasts.entry((l.resource, l.subject.clone())).or_insert_with(|| Watched {
                forecaster: Forecaster::new(window),
                limit: l.limit,
                last_value: l.value,
                latest: None,
                soonest: None,
            });
            w.forecaster.record(at, l.value);
            w.limit = l.limit;
            w.last_value = l.value;
            w.latest = w.forecaster.forecast(at, l.limit);
            if let Some(f) = w.latest {
                if w.soonest.is_none_or(|(s, _)| f.seconds < s) {
                    w.soonest = Some((f.seconds, at));
                }
            }
            let seconds = w.latest.map_or(f64::INFINITY, |f| f.seconds_pessimistic);
            // Finite, so the infinite critical floor is never reached.
            let urgency = if seconds > 0.0 { (horizon / seconds).min(1e9) } else { 1e9 };
            let kind = l.resource.predicted_kind();
            let (floors, stability) = (self.config.floors(kind), self.config.stability);
            let detector = self
                .detectors
                .entry((kind, l.subject.clone()))
                .or_insert_with(|| SignalDetector::new(floors, Combine::FloorOnly, stability));
            let severity = detector.observe(at, urgency);
            if let Some(event) = self.book.transition(at, kind, &l.subject, severity, seconds, horizon) {
                out.push(event);
            }
        }
        let mut updated: Vec<Resource> = levels.iter().map(|l| l.resource).collect();
        updated.dedup();
        for resource in updated {
            let soonest = self
                .forecasts
                .iter()
                .filter(|((r, _), _)| *r == resource)
                .filter_map(|(_, w)| w.latest.map(|f| f.seconds))
                .fold(f64::INFINITY, f64::min);
            metrics::gauge!(FORECAST_EXHAUSTION_SECONDS, "resource" => resource.as_str()).set(soonest);
        }
    }

    /// The latest exhaustion forecast of (resource, subject), if any.
    pub fn forecast_of(&self, resource: Resource, subject: &str) -> Option<Forecast> {
        self.forecasts.get(&(resource, subject.to_string())).and_then(|w| w.latest)
    }

    fn remedy(&mut self, event: &AlertEvent) {
        if !self.config.auto_resolution {
            return;
        }
        for (kind, name, action) in &mut self.actions {
            if *kind != event.kind {
                continue;
            }
            let (ok, result) = match action(event) {
                Ok(what) => (true, what),
                Err(why) => (false, why),
            };
            self.remediations.push(Remediation {
                at: event.at,
                kind: event.kind,
                subject: event.subject.clone(),
                action: name.clone(),
                result,
                ok,
                recovered: None,
                recovered_at: None,
                samples_left: self.config.recover_within_samples,
            });
        }
    }

    /// The leak verdict now.
    pub fn leak_verdict(&self) -> Option<LeakReport> {
        self.leak.verdict()
    }

    /// Everything so far, for a report.
    pub fn report(&self) -> MonitorReport {
        MonitorReport {
            episodes: self.book.episodes.clone(),
            events: self.events.clone(),
            remediations: self.remediations.clone(),
            leak: self.leak.verdict(),
            forecasts: self
                .forecasts
                .iter()
                .map(|((resource, subject), w)| ForecastReport {
                    resource: *resource,
                    subject: subject.clone(),
                    limit: w.limit,
                    last_value: w.last_value,
                    latest: w.latest,
                    soonest: w.soonest,
                    first_predicted_at: self
                        .book
                        .episodes
                        .iter()
                        .find(|e| e.kind == resource.predicted_kind() && &e.subject == subject)
                        .map(|e| e.started),
                })
                .collect(),
            forecast_horizon_seconds: self.config.forecast_horizon_seconds,
            worst: self.book.episodes.iter().map(|e| e.peak).max().unwrap_or(Severity::None),
        }
    }
}

/// A pool as the monitor sees it, whatever its object type or library: its
/// levels and waits for the [`sampler`], and the two standard remedies
/// ([`actions::standard`]). A [`Pool`](crate::pool::Pool) is one; so is a
/// pool tidepool does not own, through its adapter.
pub trait WatchedPool: Send + Sync {
    /// The pool's name: its readings' and alerts' subject.
    fn name(&self) -> &str;
    /// Its levels now.
    fn status(&self) -> crate::pool::Status;
    /// Its acquire waits since it was built, by bucket.
    fn waits(&self) -> crate::pool::WaitHistogram;
    /// The `grow_pool` remedy: raise its target to its max (default: it
    /// cannot be resized from outside).
    fn grow(&self, alert: &AlertEvent) -> Result<String, String> {
        let _ = alert;
        Err(format!("{} cannot be resized by tidepool", self.name()))
    }
    /// The `trim_idle` remedy: destroy idle objects above the minimum; how
    /// many (default: none).
    fn trim_idle(&self) -> usize {
        0
    }
}

impl<T: Send + 'static> WatchedPool for crate::pool::Pool<T> {
    fn name(&self) -> &str {
        crate::pool::Pool::name(self)
    }
    fn status(&self) -> crate::pool::Status {
        crate::pool::Pool::status(self)
    }
    fn waits(&self) -> crate::pool::WaitHistogram {
        self.wait_histogram()
    }
    fn grow(&self, alert: &AlertEvent) -> Result<String, String> {
        actions::grow(self, alert)
    }
    fn trim_idle(&self) -> usize {
        crate::pool::Pool::trim_idle(self)
    }
}

/// Built-in remedies.
pub mod actions {
    use std::sync::Arc;

    use super::{AlertEvent, Kind, Monitor, WatchedPool};
    use crate::pool::Pool;

    /// Grows a starving pool: raises its target to `max_size`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::monitor::{actions, Kind, Monitor, MonitorConfig};
    /// let pool = tidepool::pool::Pool::builder("p").max_size(8).factory(|| Ok(0u8)).build()?;
    /// let mut monitor = Monitor::new(MonitorConfig::default());
    /// monitor.on(Kind::Starvation, "grow_pool", actions::grow_pool(pool.clone()));
    /// # Ok(()) }
    /// ```
    pub fn grow_pool<T: Send + 'static>(
        pool: Pool<T>,
    ) -> impl FnMut(&AlertEvent) -> Result<String, String> + Send + 'static {
        move |alert| grow(&pool, alert)
    }

    pub(super) fn grow<T: Send + 'static>(pool: &Pool<T>, alert: &AlertEvent) -> Result<String, String> {
        if alert.subject != pool.name() {
            return Err(format!("not this pool ({})", pool.name()));
        }
        let before = pool.status().target;
        let after = pool.set_target(usize::MAX);
        if after > before {
            Ok(format!("target {before} -> {after}"))
        } else {
            Err(format!("already at max_size {after}"))
        }
    }

    /// Relieves memory pressure: destroys a pool's idle objects above
    /// `min_size`.
    pub fn trim_idle<T: Send + 'static>(
        pool: Pool<T>,
    ) -> impl FnMut(&AlertEvent) -> Result<String, String> + Send + 'static {
        move |_| {
            let n = pool.trim_idle();
            Ok(format!("trimmed {n} idle objects from {}", pool.name()))
        }
    }

    /// The pools the standard remedies act on, read when a remedy runs (a
    /// live agent's grow as pools are built).
    pub type Pools = Arc<dyn Fn() -> Vec<Arc<dyn WatchedPool>> + Send + Sync>;

    /// Registers the remedies a live agent runs — and a soak, so that it
    /// judges and acts as production would: `grow_pool` on a starvation
    /// alert (the starving pool, the alert's subject, grows to its
    /// `max_size`) and `trim_idle` on a memory alert (every pool drops its
    /// idle objects above `min_size`). They run only with
    /// `auto_resolution` on (the monitor checks).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use tidepool::monitor::{actions, Monitor, MonitorConfig};
    /// let pool = tidepool::pool::Pool::builder("p").factory(|| Ok(0u8)).build()?;
    /// let mut monitor = Monitor::new(MonitorConfig::default());
    /// let pools: Vec<Arc<dyn tidepool::monitor::WatchedPool>> = vec![Arc::new(pool)];
    /// actions::standard(&mut monitor, Arc::new(move || pools.clone()));
    /// # Ok(()) }
    /// ```
    pub fn standard(monitor: &mut Monitor, pools: Pools) {
        let all = Arc::clone(&pools);
        monitor.on(Kind::Starvation, "grow_pool", move |alert| {
            let pool = all().into_iter().find(|p| p.name() == alert.subject);
            let Some(pool) = pool else { return Err(format!("{} is not a watched pool", alert.subject)) };
            pool.grow(alert)
        });
        monitor.on(Kind::Memory, "trim_idle", move |_| {
            let (n, names) = trim_all(&pools());
            Ok(format!("trimmed {n} idle objects: {}", names.join(", ")))
        });
    }

    /// Trims every pool's idle objects above `min_size`: how many in all,
    /// and `name (n)` of each pool that had some.
    pub fn trim_all(pools: &[Arc<dyn WatchedPool>]) -> (usize, Vec<String>) {
        let mut total = 0;
        let mut names = Vec::new();
        for pool in pools {
            let n = pool.trim_idle();
            if n > 0 {
                names.push(format!("{} ({n})", pool.name()));
            }
            total += n;
        }
        (total, names)
    }
}
