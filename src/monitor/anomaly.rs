//! A streaming adaptive-baseline anomaly detector for one signal.
//!
//! [`AnomalyDetector::observe`] takes one `(timestamp, value)` at a time and
//! returns an [`Observation`]: a score in [0, 1], a [`Severity`] band, the
//! direction and the baseline's expected value. It is causal (a row's score
//! depends only on that row and the rows before it), keeps a fixed amount of
//! state whatever the series' length, and costs O(1) per observation.
//!
//! # Method
//!
//! 1. **Warm-up.** The first [`warmup`](AnomalyConfig::warmup) samples (30)
//!    only establish the baseline: level = their median, scale = their mean
//!    absolute deviation from it, range = their min..max leaving out values
//!    beyond 6 robust σ of the median (one spike in the warm-up must not
//!    hide later spikes of its size). No alerts.
//! 2. **Slow robust baseline.** Afterwards the level is an EWMA with weight
//!    [`level_alpha`](AnomalyConfig::level_alpha) (≈ 1/330 samples). Every
//!    update uses the residual *winsorised* at [`winsor`](AnomalyConfig::winsor)
//!    scales, so one outlier moves the baseline by a bounded amount, and while
//!    an episode is alerting the level learns at
//!    [`episode_learning`](AnomalyConfig::episode_learning) of its rate, so
//!    the detector does not learn what it flags. The scale is an EWMA of the
//!    winsorised absolute residual ([`scale_alpha`](AnomalyConfig::scale_alpha)).
//! 3. **Level shifts are adopted.** A fast EWMA of the residual (weight 0.1)
//!    that stays beyond 3 scales on one side for
//!    [`shift_confirm`](AnomalyConfig::shift_confirm) samples moves the level
//!    onto it at once: a step is alerted when it happens and becomes the new
//!    normal within a bounded time instead of alerting forever.
//! 4. **Seasonality from timestamps.** Two profiles of the deviation from the
//!    level, keyed on the timestamp (not the row, so irregular sampling is
//!    fine): time of day (96 bins of 15 min) and time of week (168 bins of
//!    1 h), linearly interpolated between bins. Each model (flat, daily,
//!    weekly) keeps an EWMA of its own absolute error; a seasonal model is
//!    used only after two of its periods have passed and while its error is
//!    below 0.8 × the simpler model's, so aperiodic signals stay flat.
//!
//!    **4b. Load cycles** ([`cycles`](AnomalyConfig::cycles), on in
//!    [`AnomalyConfig::runtime`], the monitor's preset). Runtime metrics
//!    follow the day: quiet nights, a steep morning ramp, noise that grows
//!    with load. Each profile then keeps its own level (so the detector's
//!    level adopting a shift does not smear it), learns per period rather
//!    than per visit (a signal sampled every second does not absorb an
//!    afternoon's fault into its profile within minutes), and keeps a
//!    spread per bin: the usual residual at that time of day, first the
//!    scatter within the bin on day one (a wide guess, trend included), then
//!    the real prediction error. A profile is used from its second period,
//!    its error bootstrapped at the flat model's (no better until shown);
//!    the scale is the bin's spread, so a spike at night is judged against
//!    the night's noise, not the day's. Extremes are judged on the
//!    standardised residual instead of the value (a night spike below the
//!    day's peak is still extreme for its hour), starting at ±5, and an
//!    excursion that alerts on its own is not learned into them unless it
//!    lasts 5 samples (a change) or recurs (a habit: more than 3 such
//!    excursions, each counting 1 and halving a day later: a spike that
//!    returns every 14 hours or more often becomes one after a few), so the
//!    same spike alerts each time it comes back, unless it comes back
//!    that often.
//! 5. **Raw score.** |residual| / (1.2533 × mean absolute error), the
//!    Gaussian-equivalent |z|, capped at [`raw_cap`](AnomalyConfig::raw_cap)
//!    so one huge spike cannot blind the next stage for long.
//! 6. **Anomaly likelihood** (after Numenta's HTM detector): the mean raw
//!    score of the last [`short_window`](AnomalyConfig::short_window)
//!    samples against the long-run mean and standard deviation of raw
//!    scores (EWMAs with weight [`history_alpha`](AnomalyConfig::history_alpha)).
//!    Its Gaussian upper tail probability `p` is the evidence: the detector
//!    judges a signal against its own usual surprise, so a noisy signal needs
//!    a bigger deviation than a quiet one.
//! 7. **New extremes.** A value beyond the highest (lowest) value seen since
//!    warm-up by more than [`extreme_margin`](AnomalyConfig::extreme_margin)
//!    of the range seen is evidence on its own, proportional to the excess.
//!    (Right after warm-up the range is young: the margin is then at least
//!    10 scales × warmup / samples seen.) The remembered extremes relax toward the level with weight
//!    [`extreme_decay`](AnomalyConfig::extreme_decay) per sample, so an old
//!    record fades instead of ruling forever.
//! 8. **Score.** With `s = -log10 p` (or the extreme's equivalent, whichever
//!    is larger) and `s_alert = -log10(alert_tail)`, the score is
//!    `min(1, s / (2 s_alert))`: 0.5 exactly at the tail probability
//!    [`alert_tail`](AnomalyConfig::alert_tail) (1e-5).
//! 9. **One alert per episode.** After an alert, the next
//!    [`holdoff`](AnomalyConfig::holdoff) samples are not alerted (their
//!    score is capped at 0.499).
//!
//! Severity bands of the score: below 0.5 none, [0.5, 0.75) warning,
//! [0.75, 0.9) critical, from 0.9 emergency, i.e. `p` ≤ 1e-5, 1e-7.5, 1e-9.
//!
//! On the Numenta Anomaly Benchmark subset this repository is measured on,
//! the mechanisms are worth roughly (score points lost when each is removed,
//! standard profile, fixed threshold 0.5, 71.5 with all): new extremes 31,
//! hold-off 24, anomaly likelihood 14, seasonality 3, winsorising 3, level
//! shift adoption 0.2 (it exists to bound how long a step keeps alerting).
//! See BENCHMARKS.md.
//!
//! Non-finite timestamps or values (and values beyond ±1e150) are skipped:
//! they score 0 and leave the state untouched.
//!
//! # Memory
//!
//! O(`warmup` + `short_window`) plus 264 seasonal bins: 4 008 bytes with
//! the defaults, 6 120 with [`AnomalyConfig::runtime`] (a spread per bin),
//! fixed after construction ([`AnomalyDetector::footprint_bytes`]).
//!
//! # Example
//!
//! ```
//! use tidepool::monitor::anomaly::{AnomalyConfig, AnomalyDetector, Severity};
//!
//! let mut detector = AnomalyDetector::new(AnomalyConfig::default());
//! // A noisy plateau sampled every 2 s...
//! for i in 0..500 {
//!     let v = 10.0 + if i % 2 == 0 { 0.3 } else { -0.3 };
//!     let verdict = detector.observe(f64::from(i) * 2.0, v);
//!     assert_eq!(verdict.severity, Severity::None);
//! }
//! // ...then a spike.
//! let verdict = detector.observe(1000.0, 25.0);
//! assert!(verdict.score >= 0.5 && verdict.severity >= Severity::Warning);
//! ```

use std::fmt;

/// The detector's parameters. [`Default`] is the one fixed parameter set the
/// project uses everywhere (and scores NAB with); the other values exist for
/// experiments.
///
/// ```
/// use tidepool::monitor::anomaly::AnomalyConfig;
///
/// let config = AnomalyConfig { holdoff: 50, ..AnomalyConfig::default() };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyConfig {
    /// Samples that establish the baseline before anything is scored (30).
    pub warmup: usize,
    /// EWMA weight per sample of the level (0.003, a memory of ≈ 330 samples).
    pub level_alpha: f64,
    /// EWMA weight per sample of each model's mean absolute residual (0.003).
    pub scale_alpha: f64,
    /// Residuals are clipped at this many scales before they update anything (4).
    pub winsor: f64,
    /// Fraction of `level_alpha` the level learns at while an episode is alerting (0.1).
    pub episode_learning: f64,
    /// Samples a one-sided residual must persist before the level jumps onto it (60).
    pub shift_confirm: usize,
    /// Whether time-of-day and time-of-week profiles may be used (true).
    pub seasonal: bool,
    /// Cap of the raw score |z| (10).
    pub raw_cap: f64,
    /// Samples averaged into the short-term raw score (8).
    pub short_window: usize,
    /// EWMA weight per sample of the long-run raw score mean and variance (0.001).
    pub history_alpha: f64,
    /// Tail probability of the short-term score that maps to score 0.5 (1e-5).
    pub alert_tail: f64,
    /// A new extreme must pass the old one by this fraction of the range seen (0.08).
    pub extreme_margin: f64,
    /// Weight per sample with which the remembered extremes relax toward the level (1e-4).
    pub extreme_decay: f64,
    /// Samples after an alert during which no further alert is raised (100).
    pub holdoff: usize,
    /// Models seasonality as the load cycles of runtime metrics (false;
    /// true in [`AnomalyConfig::runtime`]): a profile is used from its
    /// second period on, keeps its own level and a spread per bin, learns
    /// per period rather than per visit, and judges extremes by the
    /// standardised residual, forgetting transient spikes (module docs,
    /// step 4b).
    pub cycles: bool,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            warmup: 30,
            level_alpha: 0.003,
            scale_alpha: 0.003,
            winsor: 4.0,
            episode_learning: 0.1,
            shift_confirm: 60,
            seasonal: true,
            raw_cap: 10.0,
            short_window: 8,
            history_alpha: 0.001,
            alert_tail: 1e-5,
            extreme_margin: 0.08,
            extreme_decay: 1e-4,
            holdoff: 100,
            cycles: false,
        }
    }
}

impl AnomalyConfig {
    /// The parameters for runtime metrics with daily load cycles (what the
    /// monitor watches): [`Default`] with [`cycles`](Self::cycles) on.
    /// Measured on tidepool's domain corpus (tests/corpus) and on NAB in
    /// BENCHMARKS.md.
    ///
    /// ```
    /// use tidepool::monitor::anomaly::AnomalyConfig;
    ///
    /// assert!(AnomalyConfig::runtime().cycles);
    /// assert!(!AnomalyConfig::default().cycles);
    /// ```
    pub fn runtime() -> AnomalyConfig {
        AnomalyConfig { cycles: true, ..AnomalyConfig::default() }
    }
}

/// A parameter of [`AnomalyConfig`] out of its range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AnomalyConfigError {
    /// A parameter is outside its accepted range.
    #[error("anomaly detector: {field} = {value} is out of range (need {want})")]
    OutOfRange {
        /// The field's name.
        field: &'static str,
        /// Its value.
        value: f64,
        /// The accepted range.
        want: &'static str,
    },
    /// [`AnomalyConfig::set`] was given a name that is no parameter.
    #[error("anomaly detector: no parameter named {0:?} (known: {known})", known = AnomalyConfig::NAMES.join(", "))]
    Unknown(String),
    /// [`AnomalyConfig::set`] was given a value its parameter cannot take.
    #[error("anomaly detector: {field} = {value:?} is not {want}")]
    NotAValue {
        /// The field's name.
        field: &'static str,
        /// The text given.
        value: String,
        /// What it should be.
        want: &'static str,
    },
}

impl AnomalyConfig {
    /// The parameters' names, as [`set`](Self::set) takes them.
    pub const NAMES: [&'static str; 15] = [
        "warmup",
        "level_alpha",
        "scale_alpha",
        "winsor",
        "episode_learning",
        "shift_confirm",
        "seasonal",
        "raw_cap",
        "short_window",
        "history_alpha",
        "alert_tail",
        "extreme_margin",
        "extreme_decay",
        "holdoff",
        "cycles",
    ];

    /// Sets the parameter `name` from its text `value`, then checks every
    /// range: the one way experiments (`tidepool detect --set`, the
    /// cross-validation in `make nab-cv`) change a parameter.
    ///
    /// # Errors
    ///
    /// [`AnomalyConfigError::Unknown`] for a name that is no parameter,
    /// [`AnomalyConfigError::NotAValue`] for text that does not parse, and
    /// [`AnomalyConfigError::OutOfRange`] as [`validate`](Self::validate);
    /// `self` is unchanged on error.
    ///
    /// ```
    /// use tidepool::monitor::anomaly::AnomalyConfig;
    ///
    /// let mut c = AnomalyConfig::default();
    /// c.set("holdoff", "50").unwrap();
    /// assert_eq!(c.holdoff, 50);
    /// assert!(c.set("holdof", "50").is_err());
    /// assert!(c.set("level_alpha", "2").is_err());
    /// assert_eq!(c.level_alpha, AnomalyConfig::default().level_alpha);
    /// ```
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), AnomalyConfigError> {
        let field = Self::NAMES
            .into_iter()
            .find(|n| *n == name)
            .ok_or_else(|| AnomalyConfigError::Unknown(name.to_string()))?;
        let bad = |want| AnomalyConfigError::NotAValue { field, value: value.to_string(), want };
        let count = || value.trim().parse::<usize>().map_err(|_| bad("a whole number"));
        let number = || value.trim().parse::<f64>().map_err(|_| bad("a number"));
        let flag = || value.trim().parse::<bool>().map_err(|_| bad("true or false"));
        let mut c = self.clone();
        match field {
            "warmup" => c.warmup = count()?,
            "level_alpha" => c.level_alpha = number()?,
            "scale_alpha" => c.scale_alpha = number()?,
            "winsor" => c.winsor = number()?,
            "episode_learning" => c.episode_learning = number()?,
            "shift_confirm" => c.shift_confirm = count()?,
            "seasonal" => c.seasonal = flag()?,
            "raw_cap" => c.raw_cap = number()?,
            "short_window" => c.short_window = count()?,
            "history_alpha" => c.history_alpha = number()?,
            "alert_tail" => c.alert_tail = number()?,
            "extreme_margin" => c.extreme_margin = number()?,
            "extreme_decay" => c.extreme_decay = number()?,
            "holdoff" => c.holdoff = count()?,
            "cycles" => c.cycles = flag()?,
            _ => return Err(AnomalyConfigError::Unknown(name.to_string())),
        }
        c.validate()?;
        *self = c;
        Ok(())
    }

    /// Checks every parameter's range.
    ///
    /// # Errors
    ///
    /// [`AnomalyConfigError::OutOfRange`] naming the first bad field.
    ///
    /// ```
    /// use tidepool::monitor::anomaly::AnomalyConfig;
    ///
    /// let bad = AnomalyConfig { level_alpha: 2.0, ..AnomalyConfig::default() };
    /// assert!(bad.validate().unwrap_err().to_string().contains("level_alpha"));
    /// ```
    pub fn validate(&self) -> Result<(), AnomalyConfigError> {
        let weight = |x: f64| x > 0.0 && x <= 1.0;
        let checks: [(&'static str, f64, bool, &'static str); 13] = [
            ("warmup", self.warmup as f64, (2..=100_000).contains(&self.warmup), "2..=100000"),
            ("level_alpha", self.level_alpha, weight(self.level_alpha), "(0, 1]"),
            ("scale_alpha", self.scale_alpha, weight(self.scale_alpha), "(0, 1]"),
            ("winsor", self.winsor, self.winsor > 0.0 && !self.winsor.is_nan(), "> 0"),
            (
                "episode_learning",
                self.episode_learning,
                (0.0..=1.0).contains(&self.episode_learning),
                "[0, 1]",
            ),
            ("shift_confirm", self.shift_confirm as f64, self.shift_confirm >= 1, ">= 1"),
            ("raw_cap", self.raw_cap, self.raw_cap > 0.0 && !self.raw_cap.is_nan(), "> 0"),
            (
                "short_window",
                self.short_window as f64,
                (1..=100_000).contains(&self.short_window),
                "1..=100000",
            ),
            ("history_alpha", self.history_alpha, weight(self.history_alpha), "(0, 1]"),
            ("alert_tail", self.alert_tail, self.alert_tail > 0.0 && self.alert_tail < 0.5, "(0, 0.5)"),
            (
                "extreme_margin",
                self.extreme_margin,
                self.extreme_margin > 0.0 && !self.extreme_margin.is_nan(),
                "> 0",
            ),
            ("extreme_decay", self.extreme_decay, (0.0..=1.0).contains(&self.extreme_decay), "[0, 1]"),
            ("holdoff", self.holdoff as f64, true, ">= 0"),
        ];
        match checks.into_iter().find(|c| !c.2) {
            Some((field, value, _, want)) => Err(AnomalyConfigError::OutOfRange { field, value, want }),
            None => Ok(()),
        }
    }
}

/// How bad a row is: fixed bands of its score.
///
/// ```
/// use tidepool::monitor::anomaly::Severity;
///
/// assert_eq!(Severity::from_score(0.49), Severity::None);
/// assert_eq!(Severity::from_score(0.8), Severity::Critical);
/// assert!(Severity::Emergency > Severity::Warning);
/// assert_eq!(Severity::Warning.to_string(), "warning");
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Score below 0.5: no alert.
    #[default]
    None,
    /// Score in [0.5, 0.75).
    Warning,
    /// Score in [0.75, 0.9).
    Critical,
    /// Score of 0.9 or more.
    Emergency,
}

impl Severity {
    /// The band a score falls in (NaN is [`Severity::None`]).
    pub fn from_score(score: f64) -> Severity {
        if score >= 0.9 {
            Severity::Emergency
        } else if score >= 0.75 {
            Severity::Critical
        } else if score >= 0.5 {
            Severity::Warning
        } else {
            Severity::None
        }
    }

    /// The lowercase name, as [`Display`](fmt::Display) writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "none",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
            Severity::Emergency => "emergency",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side of the expected value an observation lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// At or above the expected value.
    #[default]
    Up,
    /// Below the expected value.
    Down,
}

/// The verdict for one observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Anomaly score in [0, 1]; at least 0.5 exactly when this row raises an
    /// alert, at most 0.499 otherwise.
    pub score: f64,
    /// The score's band.
    pub severity: Severity,
    /// Whether the value is above or below `expected`.
    pub direction: Direction,
    /// The baseline's estimate for this row (level plus the seasonal profile
    /// in use).
    pub expected: f64,
    /// Whether the detector is still establishing its baseline (no alerts).
    pub warming_up: bool,
}

/// The highest score of a row without an alert: it never prints as 0.5.
const QUIET_MAX: f64 = 0.499;
/// Values beyond ± this are skipped like non-finite ones: their squares
/// and differences would overflow the statistics.
const MAX_MAGNITUDE: f64 = 1e150;

/// A warm-up value farther than this many robust σ from the warm-up's
/// median is an outlier: it sets neither the scale nor the range.
const WARMUP_OUTLIER_SIGMAS: f64 = 6.0;
const DAY: f64 = 86_400.0;
const WEEK: f64 = 7.0 * DAY;
/// Time-of-day bins (15 min each).
const DAY_BINS: usize = 96;
/// Time-of-week bins (1 h each).
const WEEK_BINS: usize = 168;
/// A seasonal model must beat the simpler one's error by this factor.
const SEASONAL_GAIN: f64 = 0.8;
/// Mean absolute deviation to standard deviation, for Gaussian noise.
const MAD_TO_SD: f64 = 1.2533;
/// Floor of the raw scores' standard deviation in the likelihood.
const HISTORY_SD_FLOOR: f64 = 0.05;
/// While the range seen is young it says little: a new extreme must also
/// pass the old one by this many scales × warmup / samples seen.
const YOUNG_RANGE_SCALES: f64 = 10.0;
/// Weight of the fast residual EWMA that detects level shifts.
const SHIFT_ALPHA: f64 = 0.1;
/// Scales the fast residual must exceed to count toward a level shift.
const SHIFT_SCALES: f64 = 3.0;
/// Slowest per-visit learning rate of a seasonal bin.
const BIN_RATE_FLOOR: f64 = 0.1;
/// With [`AnomalyConfig::cycles`], the learning rate of a seasonal bin per
/// period, whatever the number of visits a period brings it (after a
/// running mean over the first periods): a memory of about three periods.
const BIN_RATE_PER_PERIOD: f64 = 0.3;
/// A seasonal bin's spread is at least this fraction of its model's mean error.
const SPREAD_FLOOR: f64 = 0.2;
/// Visits a seasonal bin needs before its own spread is trusted.
const SPREAD_VISITS: u32 = 4;
/// The standardised residual's extremes start at ± this (Gaussian noise
/// passes 5 once in 3.5 million samples; skewed runtime noise far more
/// often).
const Z_EXTREME_START: f64 = 5.0;
/// A new extreme of the standardised residual must pass the old one by at
/// least this many scales.
const Z_MARGIN_MIN: f64 = 1.0;
/// An exceptional excursion lasting this many samples is a change, not a
/// transient: it is learned into the extremes.
const PERSISTENT_RUN: usize = 5;
/// Transients (decaying with a half-life of a day) beyond which they are
/// the signal's habit and are learned into the extremes too.
const RECURRING_TRANSIENTS: f64 = 3.0;

/// Where a time falls in a [`Profile`]: the two bins around it and the
/// weight of the second.
#[derive(Debug, Clone, Copy)]
struct Phase {
    lo: usize,
    hi: usize,
    w: f64,
}

/// A periodic profile: the deviation from the level per phase bin, and how
/// far values usually fall from it there.
#[derive(Debug, Clone)]
struct Profile {
    period: f64,
    bins: Vec<f64>,
    /// Mean absolute residual per bin: the profile's own uncertainty there
    /// (negative until the bin's first residual).
    spread: Vec<f64>,
    visits: Vec<u32>,
    /// EWMA of this model's absolute residual.
    err: f64,
    /// The model's own level: its prediction is `offset` plus the bins
    /// (with [`AnomalyConfig::cycles`]; otherwise the bins are deviations
    /// from the detector's level and this stays 0).
    offset: f64,
    /// [`AnomalyConfig::cycles`].
    cycles: bool,
    /// Whether the model has been scored yet (with `cycles`, its error is
    /// bootstrapped when it first is).
    scored: bool,
}

impl Profile {
    fn new(period: f64, n: usize, cycles: bool) -> Profile {
        let spread = if cycles { vec![-1.0; n] } else { Vec::new() };
        Profile {
            period,
            bins: vec![0.0; n],
            spread,
            visits: vec![0; n],
            err: 0.0,
            offset: 0.0,
            cycles,
            scored: false,
        }
    }

    /// The two bins around `t` and the weight of the second. With
    /// `cycles`, a bin never visited gives its weight to the other one.
    fn locate(&self, t: f64) -> Phase {
        let n = self.bins.len();
        let pos = (t.rem_euclid(self.period) / self.period * n as f64 - 0.5).rem_euclid(n as f64);
        let lo = (pos.floor() as usize).min(n - 1);
        let hi = (lo + 1) % n;
        let w = match (self.visits[lo], self.visits[hi]) {
            (0, v) if self.cycles && v > 0 => 1.0,
            (v, 0) if self.cycles && v > 0 => 0.0,
            _ => (pos - lo as f64).clamp(0.0, 1.0),
        };
        Phase { lo, hi, w }
    }

    fn predict(&self, p: Phase) -> f64 {
        self.bins[p.lo] * (1.0 - p.w) + self.bins[p.hi] * p.w
    }

    /// The mean absolute residual usual at phase `p`, given the model's mean
    /// error `err`: that error where a bin has seen too few visits to know
    /// its own, and never below [`SPREAD_FLOOR`] of it.
    fn spread_at(&self, p: Phase, err: f64) -> f64 {
        let known = |b: usize| {
            if self.visits[b] >= SPREAD_VISITS && self.spread[b] >= 0.0 {
                self.spread[b]
            } else {
                err
            }
        };
        (known(p.lo) * (1.0 - p.w) + known(p.hi) * p.w).max(SPREAD_FLOOR * err)
    }

    /// The model's expected value at phase `p`, given the detector's `level`.
    fn expect(&self, p: Phase, level: f64) -> f64 {
        if self.cycles {
            self.offset + self.predict(p)
        } else {
            level + self.predict(p)
        }
    }

    /// Learns `value` at phase `p`, `periods` after the first observation, each
    /// step clipped at `clip`.
    ///
    /// Without `cycles` the two bins around `p` move toward the deviation
    /// from the detector's `level`: a running mean at first, then an EWMA
    /// with at least [`BIN_RATE_FLOOR`] per visit. With `cycles` the
    /// model's own offset learns the residual at `rate` (the level's rate),
    /// the bins move toward the value less the offset at a rate of
    /// [`BIN_RATE_PER_PERIOD`] per period however often they are visited,
    /// and each bin's spread toward the residual of the prediction made
    /// before: in the first period that is the scatter around the bin's own
    /// running mean, trend within the bin included, a wide first guess that
    /// later periods narrow.
    fn learn(&mut self, p: Phase, value: f64, level: f64, clip: f64, periods: f64, rate: f64) {
        let Phase { lo, hi, w } = p;
        let seen = self.visits[lo] > 0 || self.visits[hi] > 0;
        let target = if self.cycles {
            if seen {
                self.offset += rate * (value - self.expect(p, level)).clamp(-clip, clip);
            }
            value - self.offset
        } else {
            value - level
        };
        let miss = if self.cycles { (target - self.predict(p)).abs().min(clip) } else { 0.0 };
        for (b, weight) in [(lo, 1.0 - w), (hi, w)] {
            if weight <= 0.0 {
                continue;
            }
            let first = self.visits[b] == 0;
            self.visits[b] = self.visits[b].saturating_add(1);
            let visits = f64::from(self.visits[b]);
            if self.cycles && first {
                self.bins[b] = target;
                continue;
            }
            let rate = if self.cycles {
                // At most 1: a bin first visited periods after the start
                // (a gap in the data) takes its visits as they come.
                ((BIN_RATE_PER_PERIOD * periods).max(1.0) / visits).min(1.0)
            } else {
                (1.0 / visits).max(BIN_RATE_FLOOR)
            } * weight;
            self.bins[b] += rate * (target - self.bins[b]).clamp(-clip, clip);
            if self.cycles && seen {
                let spread = &mut self.spread[b];
                *spread = if *spread < 0.0 { miss } else { *spread + rate * (miss - *spread) };
            }
        }
    }

    fn footprint(&self) -> usize {
        (self.bins.capacity() + self.spread.capacity()) * std::mem::size_of::<f64>()
            + self.visits.capacity() * std::mem::size_of::<u32>()
    }
}

/// The streaming detector for one signal: see the [module docs](self) for
/// the method. State is fixed after [`new`](Self::new) (about 4 KiB with
/// the default config, 6 KiB with the runtime one); each [`observe`](Self::observe) is O(1).
#[derive(Debug, Clone)]
pub struct AnomalyDetector {
    cfg: AnomalyConfig,
    /// Finite observations seen.
    n: u64,
    /// Warm-up values (emptied, not freed, after warm-up).
    warm: Vec<f64>,
    first_t: f64,
    level: f64,
    /// EWMA of the flat model's absolute residual.
    err_flat: f64,
    daily: Profile,
    weekly: Profile,
    /// Ring buffer of the last raw scores.
    short: Vec<f64>,
    short_pos: usize,
    short_sum: f64,
    hist_mean: f64,
    hist_var: f64,
    hi: f64,
    lo: f64,
    /// Extremes of the standardised residual while a seasonal model is in use.
    hi_z: f64,
    lo_z: f64,
    /// An exceptional excursion beyond `hi_z`/`lo_z` not learned yet: its
    /// farthest z on each side and its length in samples.
    pending_hi_z: f64,
    pending_lo_z: f64,
    pending_run: usize,
    /// Transient excursions left out of the extremes, decaying with a
    /// half-life of a day, and the time it was last decayed at.
    transients: f64,
    transients_t: f64,
    holdoff_left: usize,
    fast_resid: f64,
    shift_run: usize,
    last_expected: f64,
}

impl Default for AnomalyDetector {
    fn default() -> Self {
        AnomalyDetector::new(AnomalyConfig::default())
    }
}

/// `-log10 Q(z)`, Q the upper tail of the standard normal; 0 for z ≤ 0.
/// Computed in log space (Numerical Recipes' erfc, relative error < 1.2e-7),
/// so it neither underflows nor saturates for large z.
fn neg_log10_tail(z: f64) -> f64 {
    if z.is_nan() || z <= 0.0 {
        return 0.0;
    }
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ln_erfc = t.ln() - x * x + poly;
    ((std::f64::consts::LN_2 - ln_erfc) / std::f64::consts::LN_10).max(0.0)
}

impl AnomalyDetector {
    /// A detector with `config`. Fields out of range (see
    /// [`AnomalyConfig::validate`]) are replaced by their defaults.
    pub fn new(config: AnomalyConfig) -> Self {
        let cfg = sanitize(config);
        AnomalyDetector {
            warm: Vec::with_capacity(cfg.warmup),
            short: vec![0.0; cfg.short_window],
            n: 0,
            first_t: 0.0,
            level: 0.0,
            err_flat: 0.0,
            daily: Profile::new(DAY, DAY_BINS, cfg.cycles),
            weekly: Profile::new(WEEK, WEEK_BINS, cfg.cycles),
            short_pos: 0,
            short_sum: 0.0,
            hist_mean: 0.0,
            hist_var: 0.0,
            hi: 0.0,
            lo: 0.0,
            hi_z: Z_EXTREME_START,
            lo_z: -Z_EXTREME_START,
            pending_hi_z: 0.0,
            pending_lo_z: 0.0,
            pending_run: 0,
            transients: 0.0,
            transients_t: 0.0,
            holdoff_left: 0,
            fast_resid: 0.0,
            shift_run: 0,
            last_expected: 0.0,
            cfg,
        }
    }

    /// The parameters in use.
    pub fn config(&self) -> &AnomalyConfig {
        &self.cfg
    }

    /// Finite observations fed so far.
    pub fn observations(&self) -> u64 {
        self.n
    }

    /// Bytes of state: the struct and its buffers. Fixed at construction; it
    /// does not grow with the number of observations.
    ///
    /// ```
    /// use tidepool::monitor::anomaly::AnomalyDetector;
    ///
    /// let mut d = AnomalyDetector::default();
    /// let before = d.footprint_bytes();
    /// for i in 0..10_000 {
    ///     d.observe(f64::from(i), f64::from(i % 7));
    /// }
    /// assert_eq!(d.footprint_bytes(), before);
    /// assert!(before < 8 * 1024);
    /// ```
    pub fn footprint_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + (self.warm.capacity() + self.short.capacity()) * std::mem::size_of::<f64>()
            + self.daily.footprint()
            + self.weekly.footprint()
    }

    fn quiet(&self, value: f64, warming_up: bool) -> Observation {
        Observation {
            score: 0.0,
            severity: Severity::None,
            direction: if value < self.last_expected { Direction::Down } else { Direction::Up },
            expected: self.last_expected,
            warming_up,
        }
    }

    /// Feeds one observation (`timestamp_secs` in seconds since any epoch,
    /// not decreasing; `value` any finite number) and returns its verdict.
    /// A non-finite timestamp or value (or one beyond ±1e150) scores 0 and
    /// changes nothing.
    pub fn observe(&mut self, timestamp_secs: f64, value: f64) -> Observation {
        let warmup = self.cfg.warmup;
        if !timestamp_secs.is_finite() || !value.is_finite() || value.abs() > MAX_MAGNITUDE {
            return self.quiet(value, (self.n as usize) < warmup);
        }
        if self.n == 0 {
            self.first_t = timestamp_secs;
        }
        self.n += 1;
        if (self.n as usize) <= warmup {
            self.warm.push(value);
            self.last_expected = self.warm.iter().sum::<f64>() / self.warm.len() as f64;
            if self.n as usize == warmup {
                self.finish_warmup();
            }
            return self.quiet(value, true);
        }
        self.step(timestamp_secs, value)
    }

    fn finish_warmup(&mut self) {
        self.warm.sort_by(f64::total_cmp);
        let k = self.warm.len();
        let median = self.warm[k / 2];
        // The warm-up's range, robust to an outlier in it: values beyond
        // WARMUP_OUTLIER_SIGMAS robust σ (1.4826 × the median absolute
        // deviation) of the median set no extreme, so that a later spike of
        // the same size is still a new one. The scale stays the mean
        // absolute deviation (a robust one scored NAB 2.2 points lower).
        let mut deviations: Vec<f64> = self.warm.iter().map(|x| (x - median).abs()).collect();
        deviations.sort_by(f64::total_cmp);
        let sigma = 1.4826 * deviations[k / 2];
        let mad = deviations.iter().sum::<f64>() / k as f64;
        let inlier = |x: &&f64| sigma <= 0.0 || (*x - median).abs() <= WARMUP_OUTLIER_SIGMAS * sigma;
        self.level = median;
        self.err_flat = mad;
        self.daily.err = mad;
        self.weekly.err = mad;
        self.lo = self.warm.iter().find(inlier).copied().unwrap_or(self.warm[0]);
        self.hi = self.warm.iter().rev().find(inlier).copied().unwrap_or(self.warm[k - 1]);
        // |z| of Gaussian noise: mean sqrt(2/pi), variance 1 - 2/pi.
        self.hist_mean = 0.798;
        self.hist_var = 0.363;
        self.last_expected = median;
        self.warm.clear();
    }

    fn step(&mut self, t: f64, value: f64) -> Observation {
        let c = &self.cfg;
        let elapsed = t - self.first_t;

        // The baseline: flat, or a seasonal profile once it has earned it.
        let flat = self.level;
        let (day_phase, week_phase) = (self.daily.locate(t), self.weekly.locate(t));
        let with_day = self.daily.expect(day_phase, self.level);
        let with_week = self.weekly.expect(week_phase, self.level);
        let day_scored = c.seasonal && elapsed >= DAY;
        let week_scored = c.seasonal && elapsed >= WEEK;
        if c.cycles && day_scored && !self.daily.scored {
            // Bootstrapped from the first cycle with wide uncertainty: no
            // better than flat until the residuals it scores say otherwise.
            self.daily.scored = true;
            self.daily.err = self.err_flat;
        }
        // A profile earns its use after two periods, with `cycles` after one.
        let earned = |period: f64| elapsed >= if c.cycles { period } else { 2.0 * period };
        let (mut expected, mut err, mut local, mut seasonal) = (flat, self.err_flat, self.err_flat, false);
        if day_scored && earned(DAY) && self.daily.err < SEASONAL_GAIN * err {
            (expected, err, seasonal) = (with_day, self.daily.err, true);
            local = if c.cycles { self.daily.spread_at(day_phase, err) } else { err };
        }
        if c.cycles && week_scored && !self.weekly.scored {
            // Likewise: no better than the model in use until shown.
            self.weekly.scored = true;
            self.weekly.err = err;
        }
        if week_scored && earned(WEEK) && self.weekly.err < SEASONAL_GAIN * err {
            (expected, err, seasonal) = (with_week, self.weekly.err, true);
            local = if c.cycles { self.weekly.spread_at(week_phase, err) } else { err };
        }
        let z_extremes = seasonal && c.cycles;
        let scale = (local * MAD_TO_SD).max(1e-9 * (1.0 + self.level.abs()));
        let resid = value - expected;
        let z = resid / scale;

        // Anomaly likelihood of the recent raw scores.
        let raw = z.abs().min(c.raw_cap);
        self.short_sum += raw - self.short[self.short_pos];
        self.short[self.short_pos] = raw;
        self.short_pos = (self.short_pos + 1) % self.short.len();
        let short_mean = self.short_sum / self.short.len() as f64;
        let sd = self.hist_var.sqrt().max(HISTORY_SD_FLOOR);
        let s_likelihood = neg_log10_tail((short_mean - self.hist_mean) / sd);

        // New extremes, in the same units: the margin is worth s_alert.
        let s_alert = -c.alert_tail.log10();
        let young = YOUNG_RANGE_SCALES * scale * c.warmup as f64 / self.n as f64;
        let margin = (c.extreme_margin * (self.hi - self.lo)).max(young).max(f64::MIN_POSITIVE);
        let s_extreme = if z_extremes {
            // Under a seasonal model a value is extreme for its hour, not for
            // the day: judge the standardised residual.
            let margin = (c.extreme_margin * (self.hi_z - self.lo_z)).max(Z_MARGIN_MIN);
            if z > self.hi_z {
                s_alert * (z - self.hi_z) / margin
            } else if z < self.lo_z {
                s_alert * (self.lo_z - z) / margin
            } else {
                0.0
            }
        } else if value > self.hi {
            s_alert * (value - self.hi) / margin
        } else if value < self.lo {
            s_alert * (self.lo - value) / margin
        } else {
            0.0
        };

        let evidence = s_likelihood.max(s_extreme) / (2.0 * s_alert);
        let mut score = if evidence.is_nan() { 0.0 } else { evidence.clamp(0.0, 1.0) };
        let in_episode = self.holdoff_left > 0;
        if in_episode {
            self.holdoff_left -= 1;
            score = score.min(QUIET_MAX);
        } else if score >= 0.5 {
            self.holdoff_left = c.holdoff;
        } else {
            score = score.min(QUIET_MAX);
        }

        // Learn, winsorised, and slower during an episode.
        let clip = c.winsor * scale;
        let rate = if in_episode { c.level_alpha * c.episode_learning } else { c.level_alpha };
        self.level += rate * resid.clamp(-clip, clip);
        let a = c.scale_alpha;
        self.err_flat += a * ((value - flat).abs().min(clip) - self.err_flat);
        if day_scored {
            self.daily.err += a * ((value - with_day).abs().min(clip) - self.daily.err);
        }
        if week_scored {
            self.weekly.err += a * ((value - with_week).abs().min(clip) - self.weekly.err);
        }
        if c.seasonal {
            let level = self.level;
            self.daily.learn(day_phase, value, level, clip, elapsed / DAY, rate);
            self.weekly.learn(week_phase, value, level, clip, elapsed / WEEK, rate);
        }
        let h = c.history_alpha;
        let d = raw.min(self.hist_mean + 6.0 * sd) - self.hist_mean;
        self.hist_mean += h * d;
        self.hist_var = (1.0 - h) * (self.hist_var + h * d * d);

        // A persistent one-sided residual is a level shift: adopt it.
        self.fast_resid += SHIFT_ALPHA * (resid - self.fast_resid);
        if self.fast_resid.abs() > SHIFT_SCALES * scale {
            self.shift_run += 1;
            if self.shift_run >= c.shift_confirm {
                self.level += self.fast_resid;
                self.fast_resid = 0.0;
                self.shift_run = 0;
            }
        } else {
            self.shift_run = 0;
        }

        self.hi = self.hi.max(value);
        self.lo = self.lo.min(value);
        self.hi -= c.extreme_decay * (self.hi - self.level);
        self.lo -= c.extreme_decay * (self.lo - self.level);
        self.last_expected = expected;
        if z_extremes {
            self.learn_z_extremes(t, z, s_extreme >= s_alert);
        }

        Observation {
            score,
            severity: Severity::from_score(score),
            direction: if resid < 0.0 { Direction::Down } else { Direction::Up },
            expected,
            warming_up: false,
        }
    }
}

impl AnomalyDetector {
    /// Learns `z` into the standardised residual's extremes, except an
    /// `exceptional` excursion (one that alerts on its own): it is held
    /// back, learned once it persists ([`PERSISTENT_RUN`] samples: a
    /// change) or recurs ([`RECURRING_TRANSIENTS`] a day: a habit), and
    /// otherwise forgotten, so the same spike alerts again next time.
    fn learn_z_extremes(&mut self, t: f64, z: f64, exceptional: bool) {
        if exceptional {
            if self.pending_run == 0 {
                (self.pending_hi_z, self.pending_lo_z) = (self.hi_z, self.lo_z);
            }
            self.pending_hi_z = self.pending_hi_z.max(z);
            self.pending_lo_z = self.pending_lo_z.min(z);
            self.pending_run += 1;
            if self.pending_run >= PERSISTENT_RUN {
                self.commit_pending();
            }
        } else {
            if self.pending_run > 0 {
                self.transients *= 0.5f64.powf(((t - self.transients_t) / DAY).max(0.0));
                self.transients_t = t;
                self.transients += 1.0;
                if self.transients > RECURRING_TRANSIENTS {
                    self.commit_pending();
                }
                self.pending_run = 0;
            }
            self.hi_z = self.hi_z.max(z);
            self.lo_z = self.lo_z.min(z);
        }
        let d = self.cfg.extreme_decay;
        self.hi_z -= d * (self.hi_z - Z_EXTREME_START);
        self.lo_z -= d * (self.lo_z + Z_EXTREME_START);
    }

    fn commit_pending(&mut self) {
        self.hi_z = self.hi_z.max(self.pending_hi_z);
        self.lo_z = self.lo_z.min(self.pending_lo_z);
        self.pending_run = 0;
    }
}

/// `config` with every out-of-range field replaced by its default.
fn sanitize(config: AnomalyConfig) -> AnomalyConfig {
    let mut c = config;
    let d = AnomalyConfig::default();
    while let Err(AnomalyConfigError::OutOfRange { field, .. }) = c.validate() {
        match field {
            "warmup" => c.warmup = d.warmup,
            "level_alpha" => c.level_alpha = d.level_alpha,
            "scale_alpha" => c.scale_alpha = d.scale_alpha,
            "winsor" => c.winsor = d.winsor,
            "episode_learning" => c.episode_learning = d.episode_learning,
            "shift_confirm" => c.shift_confirm = d.shift_confirm,
            "raw_cap" => c.raw_cap = d.raw_cap,
            "short_window" => c.short_window = d.short_window,
            "history_alpha" => c.history_alpha = d.history_alpha,
            "alert_tail" => c.alert_tail = d.alert_tail,
            "extreme_margin" => c.extreme_margin = d.extreme_margin,
            "extreme_decay" => c.extreme_decay = d.extreme_decay,
            _ => return d,
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise in [-1, 1] (a 64-bit LCG).
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        }
    }

    fn run(series: &[(f64, f64)]) -> Vec<Observation> {
        run_with(&AnomalyConfig::default(), series)
    }

    fn run_with(config: &AnomalyConfig, series: &[(f64, f64)]) -> Vec<Observation> {
        let mut d = AnomalyDetector::new(config.clone());
        series.iter().map(|&(t, v)| d.observe(t, v)).collect()
    }

    fn alerts(obs: &[Observation]) -> Vec<usize> {
        obs.iter().enumerate().filter(|(_, o)| o.score >= 0.5).map(|(i, _)| i).collect()
    }

    /// A non-negative metric sampled every 2 s: flat with noise, then a step.
    fn step_series(n: usize, at: usize, before: f64, after: f64) -> Vec<(f64, f64)> {
        let mut noise = Noise(7);
        (0..n)
            .map(|i| {
                let base = if i < at { before } else { after };
                (i as f64 * 2.0, (base * (1.0 + 0.05 * noise.next())).max(0.0))
            })
            .collect()
    }

    /// A daily cycle with noise, every `every` seconds for `days` days.
    fn daily_sine(days: f64, every: f64, seed: u64) -> Vec<(f64, f64)> {
        let mut noise = Noise(seed);
        let n = (days * DAY / every) as usize;
        (0..n)
            .map(|i| {
                let t = 1_700_000_000.0 + i as f64 * every;
                let v = 50.0 + 30.0 * (t / DAY * std::f64::consts::TAU).sin() + 2.0 * noise.next();
                (t, v)
            })
            .collect()
    }

    /// One spike during the warm-up sets neither the range nor the scale a
    /// later spike of its size is judged by.
    #[test]
    fn an_outlier_in_the_warm_up_does_not_blind_the_detector() {
        let mut series = step_series(600, 600, 10.0, 10.0);
        series[10].1 = 16.0; // +60 %: 12 noise amplitudes
        series[400].1 = 16.0;
        let a = alerts(&run(&series));
        assert_eq!(a, vec![400], "{a:?}");
    }

    #[test]
    fn score_bands_and_alerts_agree() {
        let obs = run(&step_series(2000, 1000, 10.0, 30.0));
        for o in &obs {
            assert!((0.0..=1.0).contains(&o.score));
            assert_eq!(o.score >= 0.5, o.severity != Severity::None, "{o:?}");
            assert_eq!(o.severity, Severity::from_score(o.score));
        }
        assert!(obs[..30].iter().all(|o| o.warming_up && o.score == 0.0));
        assert!(obs[30..].iter().all(|o| !o.warming_up));
    }

    #[test]
    fn a_step_alerts_and_is_absorbed() {
        let obs = run(&step_series(3000, 1000, 10.0, 30.0));
        let a = alerts(&obs);
        assert!(a.first().is_some_and(|&i| (1000..1005).contains(&i)), "{a:?}");
        assert!(a.iter().all(|&i| i >= 1000), "false alerts before the step: {a:?}");
        // Absorbed: no alerts after a bounded time, and the baseline follows.
        assert!(a.iter().all(|&i| i < 1400), "{a:?}");
        assert!((obs[2999].expected - 30.0).abs() < 3.0, "{:?}", obs[2999]);
        assert_eq!(obs[1001].direction, Direction::Up);
    }

    #[test]
    fn a_step_from_exactly_zero_alerts_and_is_absorbed() {
        // Pool wait p99: exactly 0 while nobody waits, then waits appear.
        let series: Vec<(f64, f64)> =
            (0..2000).map(|i| (f64::from(i) * 2.0, if i < 500 { 0.0 } else { 0.25 })).collect();
        let a = alerts(&run(&series));
        assert_eq!(a.first(), Some(&500), "{a:?}");
        assert!(a.iter().all(|&i| i < 800), "{a:?}");
    }

    #[test]
    fn a_drop_alerts_down() {
        let obs = run(&step_series(2000, 1000, 30.0, 5.0));
        let a = alerts(&obs);
        assert!(a.first().is_some_and(|&i| (1000..1005).contains(&i)), "{a:?}");
        assert_eq!(obs[a[0]].direction, Direction::Down);
    }

    #[test]
    fn a_spike_alerts_once() {
        let mut series = step_series(3000, 3000, 10.0, 10.0);
        series[1500].1 = 40.0;
        let a = alerts(&run(&series));
        assert_eq!(a, vec![1500]);
    }

    #[test]
    fn a_clean_daily_cycle_raises_nothing() {
        // Every 5 min for two weeks, and every minute for four days.
        for (every, days) in [(300.0, 14.0), (60.0, 4.0)] {
            for seed in [1, 2, 3] {
                let a = alerts(&run(&daily_sine(days, every, seed)));
                // At most one, in the first cycle (the range is still young).
                let first_day = (DAY / every) as usize;
                assert!(
                    a.len() <= 1 && a.iter().all(|&i| i < first_day),
                    "every {every} s, seed {seed}: {a:?}"
                );
            }
        }
    }

    #[test]
    fn a_daily_cycle_learns_its_profile_and_flags_a_break() {
        let mut series = daily_sine(10.0, 300.0, 4);
        // On day 8 the cycle stalls at its mean for 3 hours.
        let from = (8.0 * DAY / 300.0) as usize + 60;
        for p in &mut series[from..from + 36] {
            p.1 = 50.0;
        }
        let obs = run(&series);
        let a = alerts(&obs);
        assert!(a.iter().any(|&i| (from..from + 36).contains(&i)), "{a:?}");
        // The profile is in use: the expected value follows the cycle.
        let i = (9.0 * DAY / 300.0) as usize + 72; // 06:00 + phase offset
        let truth = 50.0 + 30.0 * (series[i].0 / DAY * std::f64::consts::TAU).sin();
        assert!((obs[i].expected - truth).abs() < 5.0, "{} vs {truth}", obs[i].expected);
    }

    #[test]
    fn scores_are_causal() {
        let mut series = daily_sine(3.0, 300.0, 5);
        series[500].1 = 200.0;
        for p in &mut series[700..760] {
            p.1 += 40.0;
        }
        for config in [AnomalyConfig::default(), AnomalyConfig::runtime()] {
            let full = run_with(&config, &series);
            for cut in [31, 299, 301, 499, 501, 730, series.len() - 1] {
                let prefix = run_with(&config, &series[..cut]);
                assert_eq!(prefix[..], full[..cut], "prefix of {cut}, cycles {}", config.cycles);
            }
        }
    }

    #[test]
    fn non_finite_input_is_skipped_without_poisoning() {
        let clean = step_series(1500, 1000, 10.0, 30.0);
        let mut dirty = Vec::new();
        for (i, &p) in clean.iter().enumerate() {
            if i % 97 == 3 {
                dirty.push((p.0, f64::NAN));
                dirty.push((p.0, f64::INFINITY));
                dirty.push((f64::NAN, 1.0));
                dirty.push((p.0, f64::NEG_INFINITY));
            }
            dirty.push(p);
        }
        let mut d = AnomalyDetector::default();
        let mut kept = Vec::new();
        for &(t, v) in &dirty {
            let o = d.observe(t, v);
            assert!((0.0..=1.0).contains(&o.score));
            if t.is_finite() && v.is_finite() {
                kept.push(o);
            } else {
                assert_eq!((o.score, o.severity), (0.0, Severity::None));
            }
        }
        assert_eq!(kept, run(&clean));
        assert_eq!(d.observations(), clean.len() as u64);
    }

    #[test]
    fn state_is_bounded() {
        let mut d = AnomalyDetector::default();
        d.observe(0.0, 1.0);
        let start = d.footprint_bytes();
        let mut noise = Noise(9);
        for i in 0..300_000 {
            let v = if i % 10_007 == 0 { 1e6 } else { 100.0 + noise.next() };
            d.observe(f64::from(i) * 13.0, v);
        }
        assert_eq!(d.footprint_bytes(), start);
        assert!(start < 8 * 1024, "{start}");
    }

    #[test]
    fn extreme_inputs_do_not_break_it() {
        // Every 30 s for a week: the runtime preset's profiles come into use.
        for config in [AnomalyConfig::default(), AnomalyConfig::runtime()] {
            let mut d = AnomalyDetector::new(config);
            for i in 0..20_000 {
                let v = [1e149, -1e149, 0.0, f64::MIN_POSITIVE, 1e-300][i % 5];
                let o = d.observe(i as f64 * 30.0, v);
                assert!((0.0..=1.0).contains(&o.score) && o.expected.is_finite(), "{o:?}");
            }
        }
    }

    #[test]
    fn with_cycles_a_clean_day_after_the_first_raises_nothing() {
        for (every, days) in [(300.0, 14.0), (60.0, 4.0), (2.0, 3.0)] {
            for seed in [1, 2, 3] {
                let a = alerts(&run_with(&AnomalyConfig::runtime(), &daily_sine(days, every, seed)));
                let first_day = (DAY / every) as usize;
                assert!(a.iter().all(|&i| i < first_day), "every {every} s, seed {seed}: {a:?}");
            }
        }
    }

    #[test]
    fn with_cycles_the_same_spike_at_night_alerts_each_time() {
        // Every minute for 4 days; at the trough of days 2, 3 and 4 one
        // sample at the cycle's mean: far below the day's peak, far above
        // the trough's usual values.
        let mut series = daily_sine(4.0, 60.0, 6);
        let trough = |day: usize| {
            // The sine's minimum is at 18:00 of the epoch's day phase.
            let base = (day as f64 * DAY / 60.0) as usize;
            (base..base + 1440).min_by(|&a, &b| series[a].1.total_cmp(&series[b].1)).unwrap_or(base)
        };
        let spikes: Vec<usize> = (1..4).map(trough).collect();
        for &i in &spikes {
            series[i].1 = 50.0;
        }
        let general = alerts(&run(&series));
        let runtime = alerts(&run_with(&AnomalyConfig::runtime(), &series));
        for &i in &spikes {
            assert!(runtime.contains(&i), "spike at {i} missed: {runtime:?}");
        }
        assert!(runtime.iter().all(|&i| i < 1440 || spikes.contains(&i)), "{runtime:?}");
        assert!(
            !spikes.iter().all(|i| general.contains(i)),
            "the general preset caught them too: {general:?}"
        );
    }

    /// A spike every `every_hours` at a quiet hour of a 6-day cycle
    /// sampled every minute: the alerted rows among the spikes.
    fn spikes_alerted(every_hours: usize, width: usize) -> (Vec<usize>, Vec<usize>) {
        let mut series = daily_sine(6.0, 60.0, 12);
        let spikes: Vec<usize> = (1440 + 60..series.len() - width).step_by(every_hours * 60).collect();
        for &i in &spikes {
            for p in &mut series[i..i + width] {
                p.1 += 60.0;
            }
        }
        let a = alerts(&run_with(&AnomalyConfig::runtime(), &series));
        (spikes.iter().copied().filter(|i| a.contains(i)).collect(), spikes)
    }

    #[test]
    fn with_cycles_a_rare_spike_keeps_alerting_and_a_habit_stops() {
        // Every 20 hours the transients never pass 3 (they tend to
        // 1 / (1 - 0.5^(20/24)) = 2.3): each spike alerts.
        let (alerted, spikes) = spikes_alerted(20, 1);
        assert_eq!(alerted, spikes);
        assert!(spikes.len() >= 5);
        // Every 2 hours: the fifth in a row is a habit, learned into the
        // extremes; later ones no longer alert on their own.
        let (alerted, spikes) = spikes_alerted(2, 1);
        assert!(alerted.len() >= 4 && alerted.len() < spikes.len() / 2, "{alerted:?} of {spikes:?}");
        assert_eq!(alerted[..4], spikes[..4]);
    }

    #[test]
    fn with_cycles_a_lasting_excursion_is_learned() {
        // Excursions of 10 samples (a change, not a transient) every 12 h:
        // the first is learned into the extremes, so the same one later is
        // not extreme any more (the likelihood may still alert on it, but
        // not at its first sample).
        let (alerted, spikes) = spikes_alerted(12, 10);
        assert_eq!(alerted.first(), spikes.first());
        assert!(alerted.len() < spikes.len(), "{alerted:?} of {spikes:?}");
    }

    #[test]
    fn with_cycles_state_is_bounded_too() {
        let mut d = AnomalyDetector::new(AnomalyConfig::runtime());
        let start = d.footprint_bytes();
        for (t, v) in daily_sine(3.0, 10.0, 8) {
            d.observe(t, v);
        }
        assert_eq!(d.footprint_bytes(), start);
        assert!(start < 8 * 1024, "{start}");
        eprintln!("footprint: runtime {start} B, general {} B", AnomalyDetector::default().footprint_bytes());
    }

    #[test]
    fn bad_config_falls_back_to_defaults() {
        let bad = AnomalyConfig { level_alpha: f64::NAN, short_window: 0, ..AnomalyConfig::default() };
        assert!(bad.validate().is_err());
        let d = AnomalyDetector::new(bad);
        assert_eq!(d.config(), &AnomalyConfig::default());
        assert!(AnomalyConfig::default().validate().is_ok());
    }

    #[test]
    fn tail_is_accurate() {
        // Q(4.2649) = 1e-5, Q(1.6449) = 0.05.
        assert!((neg_log10_tail(4.2649) - 5.0).abs() < 1e-3);
        assert!((neg_log10_tail(1.6449) - 1.3010).abs() < 1e-3);
        assert!(neg_log10_tail(40.0) > 300.0 && neg_log10_tail(40.0).is_finite());
        assert_eq!(neg_log10_tail(-1.0), 0.0);
    }
}
