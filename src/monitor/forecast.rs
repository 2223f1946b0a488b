//! Predictive alerts: the time until a trend exhausts a budget.
//!
//! For budgets that a trend can exhaust — memory against its limit, a
//! pool's size against its max, the queue of waiting callers against its
//! bound — a [`Forecaster`] keeps a bounded window of recent `(t, value)`
//! points (the last [`MonitorConfig::forecast_window_seconds`], at most
//! [`MAX_POINTS`] of them: past that, points closer together than
//! window / [`MAX_POINTS`] are skipped), fits a least-squares line with a
//! 95 % confidence interval of its slope ([`linear_fit`], the same fit as
//! the leak verdict's), and forecasts when the line reaches the limit:
//! (limit − fitted value now) / slope, like Prometheus' `predict_linear`.
//!
//! It is conservative about *whether* to forecast and early about *when*:
//!
//! * a forecast needs at least [`MIN_POINTS`] points spanning at least half
//!   the window, and the slope's **whole** 95 % interval above 0 (its lower
//!   bound > 0): a plateau, noise, or a trend that might be flat predicts
//!   nothing. The interval allows for autocorrelated residuals (a level
//!   that wanders, like a pool's size under steady load, is not a trend):
//!   with the residuals' lag-1 autocorrelation ρ > 0 the standard error is
//!   widened by √((1 + ρ) / (1 − ρ)) and the degrees of freedom shrink to
//!   the effective sample size n (1 − ρ) / (1 + ρ), less 2 (the usual
//!   AR(1) correction for the significance of a trend); and the trend
//!   must be sustained: each quarter of the window, fitted alone, must
//!   rise at least half as fast as the whole. A level that wanders in
//!   steps — a pool resized now and then under steady load — can make a
//!   significant slope across the window (its residuals are correlated
//!   far longer than one point apart), but hardly ever rises in all four
//!   quarters; a leak does;
//! * [`Forecast::seconds`] is the point estimate (from the fitted slope:
//!   what the `tidepool_forecast_exhaustion_seconds` gauge and the report
//!   show), [`Forecast::seconds_pessimistic`] the earliest exhaustion the
//!   interval allows (from its upper bound). The predicted alert fires on
//!   the pessimistic one: a steady leak is announced at least the horizon
//!   before it crosses the limit, not half the time a little after.
//!
//! [`MonitorConfig::forecast_window_seconds`]: super::MonitorConfig::forecast_window_seconds
//!
//! ```
//! use tidepool::monitor::Forecaster;
//!
//! let mut f = Forecaster::new(1800.0);
//! // 100 MB growing by 1 MB a minute, sampled every 2 s for half an hour.
//! for i in 0..900 {
//!     let t = f64::from(i) * 2.0;
//!     f.record(t, 100e6 + t / 60.0 * 1e6);
//! }
//! let forecast = f.forecast(1798.0, 200e6).expect("a steady trend");
//! // 129.97 MB now; 70.03 MB to go at 1 MB a minute: 4202 s.
//! assert!((forecast.seconds - 4202.0).abs() < 1.0, "{forecast:?}");
//! ```

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::signal::Kind;

/// The most points a [`Forecaster`] keeps (its window is thinned to this).
pub const MAX_POINTS: usize = 256;

/// The window is cut into this many parts, each of which must rise.
const QUARTERS: usize = 4;

/// The fewest points a forecast needs.
pub const MIN_POINTS: usize = 10;

/// `tidepool_forecast_exhaustion_seconds{resource}`: the soonest forecast
/// time to exhaustion over the resource's subjects, seconds; `+Inf` when
/// nothing is forecast.
pub const FORECAST_EXHAUSTION_SECONDS: &str = "tidepool_forecast_exhaustion_seconds";

/// A least-squares line with the 95 % confidence interval of its slope.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearFit {
    /// Points fitted.
    pub points: usize,
    /// Slope, value units per second (per unit of `t`).
    pub slope: f64,
    /// Value at `t` = 0.
    pub intercept: f64,
    /// 95 % confidence interval of the slope (Student's t, n − 2 degrees of
    /// freedom), taking the residuals as independent.
    pub ci95: (f64, f64),
    /// The slope's standard error.
    pub se: f64,
    /// The lag-1 autocorrelation of the residuals (in `t` order): near 0 for
    /// noise around a line, near 1 for a level that wanders slowly.
    pub lag1: f64,
    /// The first and last `t` fitted.
    pub span: (f64, f64),
}

impl LinearFit {
    /// The fitted line's value at `t`.
    pub fn at(&self, t: f64) -> f64 {
        self.intercept + self.slope * t
    }
}

/// The 97.5 % quantile of Student's t with `df` degrees of freedom.
pub(crate) fn t975(df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df).map(|d| d.inverse_cdf(0.975)).unwrap_or(1.96)
}

/// Fits `points` by least squares; `None` with fewer than 3 points or all
/// at one `t`.
///
/// ```
/// use tidepool::monitor::linear_fit;
/// let line: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), 3.0 + 2.0 * f64::from(i))).collect();
/// let fit = linear_fit(&line).unwrap();
/// assert!((fit.slope - 2.0).abs() < 1e-12 && (fit.at(20.0) - 43.0).abs() < 1e-9);
/// ```
pub fn linear_fit(points: &[(f64, f64)]) -> Option<LinearFit> {
    fit_with(points.iter().copied(), |n| t975(n as f64 - 2.0))
}

/// [`linear_fit`] over an iterator, with the t quantile for n points from
/// `quantile` (callers refitting every sample cache it).
pub(crate) fn fit_with(
    points: impl Iterator<Item = (f64, f64)> + Clone,
    quantile: impl FnOnce(usize) -> f64,
) -> Option<LinearFit> {
    let (mut n, mut sum_t, mut sum_y) = (0usize, 0.0, 0.0);
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    for (t, y) in points.clone() {
        n += 1;
        sum_t += t;
        sum_y += y;
        first = first.min(t);
        last = last.max(t);
    }
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let (mean_t, mean_y) = (sum_t / nf, sum_y / nf);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (t, y) in points.clone() {
        sxx += (t - mean_t).powi(2);
        sxy += (t - mean_t) * (y - mean_y);
    }
    if sxx <= 0.0 || !sxx.is_finite() {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_t;
    let (mut sse, mut lagged, mut previous) = (0.0, 0.0, None);
    for (t, y) in points {
        let e = y - intercept - slope * t;
        sse += e * e;
        if let Some(p) = previous {
            lagged += e * p;
        }
        previous = Some(e);
    }
    let se = (sse / (nf - 2.0) / sxx).sqrt();
    let lag1 = if sse > 0.0 { lagged / sse } else { 0.0 };
    let q = quantile(n);
    Some(LinearFit {
        points: n,
        slope,
        intercept,
        ci95: (slope - q * se, slope + q * se),
        se,
        lag1,
        span: (first, last),
    })
}

/// A budget a trend can exhaust: the `resource` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// Memory against its limit (`memory_limit_bytes`, else the memory
    /// emergency floor), bytes.
    Memory,
    /// A pool's size against its max, objects.
    PoolSize,
    /// Callers waiting against the queue bound (`queue_limit`, else the
    /// pool's max), callers.
    Queue,
}

impl Resource {
    /// Every resource, in label order.
    pub const ALL: [Resource; 3] = [Resource::Memory, Resource::PoolSize, Resource::Queue];

    /// The label value: `memory`, `pool_size`, `queue`.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Memory => "memory",
            Resource::PoolSize => "pool_size",
            Resource::Queue => "queue",
        }
    }

    /// The kind of its predicted alert.
    ///
    /// ```
    /// use tidepool::monitor::{Kind, Resource};
    /// assert_eq!(Resource::Memory.predicted_kind(), Kind::MemoryExhaustionPredicted);
    /// assert_eq!(Kind::MemoryExhaustionPredicted.as_str(), "memory_exhaustion_predicted");
    /// ```
    pub fn predicted_kind(self) -> Kind {
        match self {
            Resource::Memory => Kind::MemoryExhaustionPredicted,
            Resource::PoolSize => Kind::PoolSizeExhaustionPredicted,
            Resource::Queue => Kind::QueueExhaustionPredicted,
        }
    }

    /// Formats a level of this resource for people.
    pub fn format(self, value: f64) -> String {
        match self {
            Resource::Memory => Kind::Memory.format(value),
            Resource::PoolSize => format!("{value:.1} objects"),
            Resource::Queue => format!("{value:.1} waiting"),
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One resource's level at a sample, and the limit it must stay under.
///
/// ```
/// use tidepool::monitor::{Level, Resource};
/// let l = Level::new(Resource::PoolSize, "db", 12.0, 32.0);
/// assert_eq!(l.limit, 32.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// Which budget.
    pub resource: Resource,
    /// Which pool or process.
    pub subject: String,
    /// The level now.
    pub value: f64,
    /// The level that exhausts it.
    pub limit: f64,
}

impl Level {
    /// A level.
    pub fn new(resource: Resource, subject: impl Into<String>, value: f64, limit: f64) -> Level {
        Level { resource, subject: subject.into(), value, limit }
    }
}

/// A forecast of exhaustion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// Seconds until the fitted line reaches the limit (0: it has).
    pub seconds: f64,
    /// Seconds until a line with the slope's upper 95 % bound reaches it:
    /// the earliest plausible exhaustion (what predicted alerts fire on).
    pub seconds_pessimistic: f64,
    /// The fitted slope, units per hour.
    pub slope_per_hour: f64,
    /// Its 95 % confidence interval, units per hour (corrected for
    /// autocorrelated residuals).
    pub ci95_per_hour: (f64, f64),
    /// The fitted level now.
    pub fitted: f64,
    /// The limit.
    pub limit: f64,
    /// Points in the fit.
    pub points: usize,
}

/// A bounded window of one resource's recent levels and its forecast.
/// See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Forecaster {
    window: f64,
    spacing: f64,
    points: VecDeque<(f64, f64)>,
    last_value: f64,
    fit: Option<LinearFit>,
    /// The lowest slope of the window's quarters, each fitted alone.
    slowest_quarter: f64,
    /// The t quantile by degrees of freedom, as computed.
    quantiles: std::collections::BTreeMap<u32, f64>,
}

impl Forecaster {
    /// A forecaster over the last `window_seconds`.
    pub fn new(window_seconds: f64) -> Forecaster {
        let window = if window_seconds.is_finite() && window_seconds > 0.0 { window_seconds } else { 1800.0 };
        Forecaster {
            window,
            spacing: window / MAX_POINTS as f64,
            points: VecDeque::with_capacity(MAX_POINTS + 1),
            last_value: f64::NAN,
            fit: None,
            slowest_quarter: f64::NAN,
            quantiles: std::collections::BTreeMap::new(),
        }
    }

    /// Points in the window now.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Records `value` at `t` seconds; refits when the point is kept
    /// (non-finite values are ignored; time going backwards starts over).
    pub fn record(&mut self, t: f64, value: f64) {
        if !t.is_finite() || !value.is_finite() {
            return;
        }
        self.last_value = value;
        if let Some(&(last, _)) = self.points.back() {
            if t < last {
                self.points.clear();
            } else if t - last < self.spacing {
                return;
            }
        }
        self.points.push_back((t, value));
        while self.points.front().is_some_and(|&(first, _)| first < t - self.window)
            || self.points.len() > MAX_POINTS
        {
            self.points.pop_front();
        }
        let n = self.points.len();
        if n < 3 {
            self.fit = None;
            return;
        }
        let q = self.t975(n - 2);
        let fit = fit_with(self.points.iter().copied(), |_| q);
        self.fit = fit.map(|mut fit| {
            // The AR(1) correction (module docs).
            let rho = fit.lag1.clamp(0.0, 0.99);
            let n_eff = (n as f64 * (1.0 - rho) / (1.0 + rho)).max(3.0);
            let se = fit.se * ((1.0 + rho) / (1.0 - rho)).sqrt();
            let q = self.t975(n_eff as usize - 2);
            fit.ci95 = (fit.slope - q * se, fit.slope + q * se);
            fit
        });
        // Each quarter of the window on its own: the slowest rise.
        self.slowest_quarter = self.fit.map_or(f64::NAN, |f| {
            let (a, b) = f.span;
            (0..QUARTERS)
                .map(|k| {
                    let from = a + (b - a) * k as f64 / QUARTERS as f64;
                    let to = a + (b - a) * (k + 1) as f64 / QUARTERS as f64;
                    let points = self.points.iter().copied().filter(move |p| p.0 >= from && p.0 <= to);
                    fit_with(points, |_| 0.0).map_or(f64::NAN, |f| f.slope)
                })
                .fold(f64::INFINITY, f64::min)
        });
    }

    fn t975(&mut self, df: usize) -> f64 {
        let df = df.clamp(1, MAX_POINTS) as u32;
        *self.quantiles.entry(df).or_insert_with(|| t975(f64::from(df)))
    }

    /// The forecast at `at` against `limit`, or `None`: too few points or
    /// too short a span, or a slope whose 95 % interval reaches 0.
    pub fn forecast(&self, at: f64, limit: f64) -> Option<Forecast> {
        let fit = self.fit?;
        // (NaN, a quarter too thin to fit, is not sustained either.)
        let sustained = self.slowest_quarter >= fit.slope / 2.0;
        if fit.points < MIN_POINTS
            || fit.span.1 - fit.span.0 < self.window / 2.0
            || fit.ci95.0 <= 0.0
            || !sustained
        {
            return None;
        }
        let fitted = fit.at(at);
        let left = (limit - fitted).max(0.0);
        let (seconds, seconds_pessimistic) =
            if self.last_value >= limit { (0.0, 0.0) } else { (left / fit.slope, left / fit.ci95.1) };
        Some(Forecast {
            seconds,
            seconds_pessimistic,
            slope_per_hour: fit.slope * 3600.0,
            ci95_per_hour: (fit.ci95.0 * 3600.0, fit.ci95.1 * 3600.0),
            fitted,
            limit,
            points: fit.points,
        })
    }
}

/// One resource's forecast at the end of a run: the report's *Forecast*
/// section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastReport {
    /// Which budget.
    pub resource: Resource,
    /// Which pool or process.
    pub subject: String,
    /// The limit it was forecast against (the last one given).
    pub limit: f64,
    /// The last level seen.
    pub last_value: f64,
    /// The forecast at the last sample (`None`: nothing forecast).
    pub latest: Option<Forecast>,
    /// The shortest point-estimate time to exhaustion forecast over the
    /// run, seconds, and when.
    pub soonest: Option<(f64, f64)>,
    /// When the first predicted alert for it started, seconds.
    pub first_predicted_at: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_line_gives_the_known_time() {
        let mut f = Forecaster::new(600.0);
        // 2 units a second from 0; the limit 2000 is reached at t = 1000.
        for i in 0..=300 {
            let t = f64::from(i) * 2.0;
            // A little alternating noise so the interval is not zero-width.
            f.record(t, 2.0 * t + if i % 2 == 0 { 1.0 } else { -1.0 });
        }
        let fc = f.forecast(600.0, 2000.0).expect("forecast");
        assert!((fc.seconds - 400.0).abs() < 1.0, "{fc:?}");
        assert!(fc.seconds_pessimistic <= fc.seconds && fc.seconds_pessimistic > 390.0, "{fc:?}");
        assert!((fc.slope_per_hour - 7200.0).abs() < 10.0, "{fc:?}");
        // Past the limit: 0.
        f.record(602.0, 2500.0);
        assert_eq!(f.forecast(602.0, 2000.0).map(|f| f.seconds), Some(0.0));
    }

    #[test]
    fn noise_around_a_flat_line_gives_none() {
        let mut f = Forecaster::new(1800.0);
        let mut x: u64 = 42;
        for i in 0..5000 {
            // xorshift noise of ±5 % around 100.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let noise = (x % 1000) as f64 / 1000.0 - 0.5;
            f.record(f64::from(i) * 2.0, 100.0 + 10.0 * noise);
            assert!(f.forecast(f64::from(i) * 2.0, 110.0).is_none(), "sample {i}");
        }
        // A falling line predicts nothing either.
        let mut down = Forecaster::new(600.0);
        for i in 0..600 {
            down.record(f64::from(i), 1000.0 - f64::from(i));
        }
        assert!(down.forecast(600.0, 2000.0).is_none());
    }

    #[test]
    fn the_window_is_bounded_and_slides() {
        let mut f = Forecaster::new(100.0);
        // 10 points a second for 1000 s: the window keeps the last 100 s,
        // thinned to MAX_POINTS.
        for i in 0..10_000 {
            f.record(f64::from(i) / 10.0, f64::from(i));
            assert!(f.len() <= MAX_POINTS);
        }
        let span = f.points.back().map(|p| p.0).unwrap_or(0.0) - f.points.front().map(|p| p.0).unwrap_or(0.0);
        assert!(span <= 100.0 && span > 95.0, "span {span}");
        // The trend changed long ago: only the recent slope counts.
        let mut g = Forecaster::new(100.0);
        for i in 0..1000 {
            let t = f64::from(i);
            let v = if t < 500.0 { 10.0 * t } else { 5000.0 + 1e-3 * (t - 500.0) * f64::from(i % 3) };
            g.record(t, v);
        }
        let late = g.forecast(999.0, 10_000.0);
        assert!(late.is_none_or(|f| f.seconds > 1e5), "{late:?}");
    }

    #[test]
    fn too_short_a_span_forecasts_nothing() {
        let mut f = Forecaster::new(1800.0);
        for i in 0..400 {
            f.record(f64::from(i) * 2.0, f64::from(i) * 1e6);
        }
        // 798 s < half the window: warm-up growth is not a forecast.
        assert!(f.forecast(798.0, 1e12).is_none());
        for i in 400..460 {
            f.record(f64::from(i) * 2.0, f64::from(i) * 1e6);
        }
        assert!(f.forecast(918.0, 1e12).is_some());
    }
}
