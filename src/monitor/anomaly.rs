//! Streaming adaptive-baseline anomaly detector (draft).

use std::fmt;

/// Parameters of [`AnomalyDetector`].
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyConfig {
    /// Samples that establish the baseline before anything is scored.
    pub warmup: usize,
    /// Per-sample EWMA weight of the level.
    pub level_alpha: f64,
    /// Per-sample EWMA weight of each model's mean absolute residual (the scale).
    pub scale_alpha: f64,
    /// Residuals are clipped to this many scales before they update anything.
    pub winsor: f64,
    /// Samples averaged into the short-term raw score.
    pub short_window: usize,
    /// Per-sample EWMA weight of the long-term raw score distribution.
    pub history_alpha: f64,
    /// Tail probability of the short-term score that maps to score 0.5.
    pub alert_tail: f64,
    /// New-extreme margin, as a fraction of the range seen so far.
    pub extreme_margin: f64,
    /// Per-sample relaxation of the remembered extremes toward the level.
    pub extreme_decay: f64,
    /// Samples after an alert during which no further alert is raised.
    pub holdoff: usize,
    /// Samples a one-sided residual must persist before the level jumps to it.
    pub shift_confirm: usize,
    /// Whether time-of-day / time-of-week profiles may be used.
    pub seasonal: bool,
    /// Cap of the raw score.
    pub raw_cap: f64,
    /// Experimental knob.
    pub k1: f64,
    /// Experimental knob.
    pub k2: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            warmup: 30,
            level_alpha: 0.003,
            scale_alpha: 0.003,
            winsor: 4.0,
            short_window: 8,
            history_alpha: 0.001,
            alert_tail: 1e-5,
            extreme_margin: 0.1,
            extreme_decay: 1e-4,
            holdoff: 100,
            shift_confirm: 60,
            seasonal: true,
            raw_cap: 10.0,
            k1: 0.0,
            k2: 0.0,
        }
    }
}

/// How bad a row is, from its score by fixed bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Severity {
    /// Score below 0.5.
    #[default]
    None,
    /// Score in [0.5, 0.75).
    Warning,
    /// Score in [0.75, 0.9).
    Critical,
    /// Score at least 0.9.
    Emergency,
}

impl Severity {
    /// The band a score falls in.
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

    /// Lowercase name.
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

/// Which side of the baseline a value lies.
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
    /// Anomaly score in [0, 1]; at least 0.5 exactly when an alert is raised.
    pub score: f64,
    /// The score's band.
    pub severity: Severity,
    /// Whether the value is above or below `expected`.
    pub direction: Direction,
    /// The baseline's estimate for this row.
    pub expected: f64,
    /// Whether the detector is still establishing its baseline.
    pub warming_up: bool,
}

/// The highest score of a row without an alert: it never rounds up to 0.5.
const QUIET_MAX: f64 = 0.499;

const DAY: f64 = 86_400.0;
const WEEK: f64 = 7.0 * DAY;

/// A periodic profile: deviation from the level per phase bin.
#[derive(Debug, Clone)]
struct Profile {
    period: f64,
    bins: Vec<f64>,
    visits: Vec<u32>,
    /// EWMA of this model's absolute residual.
    err: f64,
    /// Samples this model has been scored on.
    scored: u64,
}

impl Profile {
    fn new(period: f64, n: usize) -> Profile {
        Profile { period, bins: vec![0.0; n], visits: vec![0; n], err: 0.0, scored: 0 }
    }

    /// (lower bin, upper bin, weight of upper).
    fn locate(&self, t: f64) -> (usize, usize, f64) {
        let n = self.bins.len();
        let pos = t.rem_euclid(self.period) / self.period * n as f64 - 0.5;
        let pos = pos.rem_euclid(n as f64);
        let lo = (pos.floor() as usize).min(n - 1);
        let hi = (lo + 1) % n;
        (lo, hi, pos - lo as f64)
    }

    fn predict(&self, t: f64) -> f64 {
        let (lo, hi, w) = self.locate(t);
        self.bins[lo] * (1.0 - w) + self.bins[hi] * w
    }

    fn update(&mut self, t: f64, target: f64, clip: f64) {
        let (lo, hi, w) = self.locate(t);
        for (b, wt) in [(lo, 1.0 - w), (hi, w)] {
            if wt <= 0.0 {
                continue;
            }
            self.visits[b] = self.visits[b].saturating_add(1);
            let rate = (1.0 / f64::from(self.visits[b])).max(0.1) * wt;
            let d = (target - self.bins[b]).clamp(-clip, clip);
            self.bins[b] += rate * d;
        }
    }
}

/// The detector.
#[derive(Debug, Clone)]
pub struct AnomalyDetector {
    cfg: AnomalyConfig,
    n: u64,
    warm: Vec<f64>,
    first_t: f64,
    level: f64,
    /// EWMA of |residual| of the flat model.
    err0: f64,
    daily: Profile,
    weekly: Profile,
    short: Vec<f64>,
    short_pos: usize,
    short_sum: f64,
    hist_mean: f64,
    hist_var: f64,
    hi: f64,
    lo: f64,
    holdoff_left: usize,
    fast_resid: f64,
    shift_run: usize,
    last_expected: f64,
}

/// -log10 of the upper Gaussian tail Q(z).
fn neg_log10_q(z: f64) -> f64 {
    if z <= 0.0 {
        return 0.0;
    }
    let x = z / std::f64::consts::SQRT_2;
    // erfc(x) = t exp(-x^2 - 1.26551223 + t(...)) (Numerical Recipes erfcc, rel err < 1.2e-7)
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
    -(ln_erfc - std::f64::consts::LN_2) / std::f64::consts::LN_10
}

impl AnomalyDetector {
    /// A detector with `config`.
    pub fn new(config: AnomalyConfig) -> Self {
        let w = config.warmup.max(2);
        let s = config.short_window.max(1);
        AnomalyDetector {
            warm: Vec::with_capacity(w),
            short: vec![0.0; s],
            cfg: config,
            n: 0,
            first_t: f64::NAN,
            level: 0.0,
            err0: 0.0,
            daily: Profile::new(DAY, 96),
            weekly: Profile::new(WEEK, 168),
            short_pos: 0,
            short_sum: 0.0,
            hist_mean: 0.0,
            hist_var: 0.0,
            hi: 0.0,
            lo: 0.0,
            holdoff_left: 0,
            fast_resid: 0.0,
            shift_run: 0,
            last_expected: 0.0,
        }
    }

    fn quiet(&self, value: f64, warming: bool) -> Observation {
        Observation {
            score: 0.0,
            severity: Severity::None,
            direction: if value < self.last_expected { Direction::Down } else { Direction::Up },
            expected: self.last_expected,
            warming_up: warming,
        }
    }

    /// Feeds one observation and returns its verdict.
    pub fn observe(&mut self, timestamp_secs: f64, value: f64) -> Observation {
        let warmup = self.cfg.warmup.max(2);
        if !timestamp_secs.is_finite() || !value.is_finite() {
            return self.quiet(value, self.warm.len() < warmup && self.n < warmup as u64);
        }
        if self.n == 0 {
            self.first_t = timestamp_secs;
        }
        self.n += 1;
        if (self.n as usize) <= warmup {
            self.warm.push(value);
            self.last_expected = value;
            if self.n as usize == warmup {
                self.finish_warmup(timestamp_secs);
            }
            return self.quiet(value, true);
        }
        let t = timestamp_secs;
        let c = &self.cfg;
        let elapsed = t - self.first_t;
        // Model predictions.
        let p0 = self.level;
        let pd = self.level + self.daily.predict(t);
        let pw = self.level + self.weekly.predict(t);
        let d_ready = c.seasonal && elapsed >= DAY;
        let w_ready = c.seasonal && elapsed >= WEEK;
        // Choose the model with the smallest error, seasonal ones only once they have been scored for a full period.
        let mut pred = p0;
        let mut err = self.err0;
        if d_ready && elapsed >= 2.0 * DAY && self.daily.err < 0.8 * err {
            pred = pd;
            err = self.daily.err;
        }
        if w_ready && elapsed >= 2.0 * WEEK && self.weekly.err < 0.8 * err {
            pred = pw;
            err = self.weekly.err;
        }
        let scale = (err * 1.2533).max(1e-9 * (1.0 + self.level.abs()));
        let resid = value - pred;
        let z = resid / scale;
        self.last_expected = pred;
        // Raw score and its likelihood.
        let raw = if c.k1 > 0.0 { z.clamp(-c.raw_cap, c.raw_cap) } else { z.abs().min(c.raw_cap) };
        self.short_sum += raw - self.short[self.short_pos];
        self.short[self.short_pos] = raw;
        self.short_pos = (self.short_pos + 1) % self.short.len();
        let short_mean = self.short_sum / self.short.len() as f64;
        let sd = self.hist_var.sqrt().max(0.05);
        let lz = if c.k1 > 0.0 { short_mean.abs() / sd } else { (short_mean - self.hist_mean) / sd };
        let s_lik = neg_log10_q(lz);
        // New extreme.
        let range = (self.hi - self.lo).max(scale);
        let mut s_ext = 0.0;
        let alert_s = -c.alert_tail.log10();
        if value > self.hi {
            s_ext = alert_s * (value - self.hi) / (c.extreme_margin * range);
        } else if value < self.lo {
            s_ext = alert_s * (self.lo - value) / (c.extreme_margin * range);
        }
        let s = s_lik.max(s_ext);
        let mut score = (s / (2.0 * alert_s)).clamp(0.0, 1.0);
        let alerting = self.holdoff_left > 0;
        if self.holdoff_left > 0 {
            self.holdoff_left -= 1;
            score = score.min(QUIET_MAX);
        } else if score >= 0.5 {
            self.holdoff_left = c.holdoff;
        } else {
            score = score.min(QUIET_MAX);
        }
        // Learn.
        let clip = c.winsor * scale;
        let cr = resid.clamp(-clip, clip);
        let la = if alerting { c.level_alpha * 0.1 } else { c.level_alpha };
        self.level += la * cr;
        let sa = c.scale_alpha;
        self.err0 += sa * ((value - p0).abs().min(clip) - self.err0);
        if d_ready {
            self.daily.err += sa * ((value - pd).abs().min(clip) - self.daily.err);
            self.daily.scored += 1;
        }
        if w_ready {
            self.weekly.err += sa * ((value - pw).abs().min(clip) - self.weekly.err);
            self.weekly.scored += 1;
        }
        if c.seasonal {
            let dev = value - self.level;
            self.daily.update(t, dev, clip);
            self.weekly.update(t, dev, clip);
        }
        let ha = c.history_alpha;
        let hraw = raw.min(self.hist_mean + 6.0 * sd);
        let dm = hraw - self.hist_mean;
        self.hist_mean += ha * dm;
        self.hist_var = (1.0 - ha) * (self.hist_var + ha * dm * dm);
        // Level shift: a persistent one-sided residual is adopted.
        self.fast_resid += 0.1 * (resid - self.fast_resid);
        if self.fast_resid.abs() > 3.0 * scale {
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
        Observation {
            score,
            severity: Severity::from_score(score),
            direction: if resid < 0.0 { Direction::Down } else { Direction::Up },
            expected: pred,
            warming_up: false,
        }
    }

    fn finish_warmup(&mut self, _t: f64) {
        let mut v = self.warm.clone();
        v.sort_by(f64::total_cmp);
        let med = v[v.len() / 2];
        let mad = v.iter().map(|x| (x - med).abs()).sum::<f64>() / v.len() as f64;
        self.level = med;
        self.err0 = mad;
        self.daily.err = mad;
        self.weekly.err = mad;
        self.hi = v[v.len() - 1];
        self.lo = v[0];
        self.hist_mean = 0.8;
        self.hist_var = 0.36;
        self.last_expected = med;
    }
}
impl AnomalyDetector {
    #[doc(hidden)]
    pub fn debug_state(&self) -> String {
        format!(
            "lvl={:.2} e0={:.3} ed={:.3} ew={:.3} hm={:.3} hv={:.3} hi={:.2} lo={:.2}",
            self.level,
            self.err0,
            self.daily.err,
            self.weekly.err,
            self.hist_mean,
            self.hist_var,
            self.hi,
            self.lo
        )
    }
}
