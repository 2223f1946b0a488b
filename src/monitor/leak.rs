//! Leak and drift: the slope of a memory series by least squares over the
//! back half of the run after its warm-up, with a 95 % confidence interval,
//! judged against a budget in bytes per hour. The regression is
//! [`super::linear_fit`], shared with the exhaustion forecasts.

use serde::{Deserialize, Serialize};

/// The most points kept; past it the series is thinned to every other
/// point (so a week-long run costs the same memory as a day).
pub const MAX_POINTS: usize = 16_384;

/// A memory series being watched for growth.
///
/// ```
/// use tidepool::monitor::{LeakTracker, LeakVerdict};
///
/// let mut leak = LeakTracker::new(1e6, 60.0); // budget 1 MB/h, 1 min warm-up
/// for i in 0..3600 {
///     let t = f64::from(i) * 2.0; // two hours, a sample every 2 s
///     leak.record(t, 100e6 + t / 3600.0 * 5e6 + (i % 7) as f64 * 1e4); // 5 MB/h
/// }
/// let v = leak.verdict().unwrap();
/// assert_eq!(v.verdict, LeakVerdict::Growing);
/// assert!((v.slope_bytes_per_hour - 5e6).abs() < 0.2e6);
/// ```
#[derive(Debug, Clone)]
pub struct LeakTracker {
    points: Vec<(f64, f64)>,
    /// Keep one point in `stride` (doubles each time the buffer fills).
    stride: u64,
    seen: u64,
    budget_per_hour: f64,
    warmup_seconds: f64,
}

/// The verdict on a memory series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakVerdict {
    /// The slope's whole 95 % interval is within the budget.
    Plateau,
    /// The slope's whole 95 % interval is above the budget.
    Growing,
    /// The interval straddles the budget: run longer.
    Inconclusive,
}

/// The slope, its interval and the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LeakReport {
    /// Plateau, growing or inconclusive.
    pub verdict: LeakVerdict,
    /// Least-squares slope, bytes per hour.
    pub slope_bytes_per_hour: f64,
    /// 95 % confidence interval of the slope, bytes per hour.
    pub ci95_bytes_per_hour: (f64, f64),
    /// The budget it was judged against, bytes per hour.
    pub budget_bytes_per_hour: f64,
    /// Points in the regression.
    pub points: usize,
    /// The window regressed over, seconds: (from, to).
    pub window_seconds: (f64, f64),
    /// The fitted line at the window's ends, bytes (for charts).
    #[serde(default)]
    pub fitted_bytes: (f64, f64),
}

impl LeakTracker {
    /// A tracker judging against `budget_bytes_per_hour`, ignoring the
    /// first `warmup_seconds` (the pool growing to its working size is not
    /// a leak).
    pub fn new(budget_bytes_per_hour: f64, warmup_seconds: f64) -> LeakTracker {
        LeakTracker {
            points: Vec::new(),
            stride: 1,
            seen: 0,
            budget_per_hour: budget_bytes_per_hour,
            warmup_seconds,
        }
    }

    /// Records memory `bytes` at `t` seconds.
    pub fn record(&mut self, t: f64, bytes: f64) {
        if !t.is_finite() || !bytes.is_finite() {
            return;
        }
        self.seen += 1;
        if (self.seen - 1) % self.stride != 0 {
            return;
        }
        if self.points.len() >= MAX_POINTS {
            let mut keep = false;
            self.points.retain(|_| {
                keep = !keep;
                keep
            });
            self.stride *= 2;
        }
        self.points.push((t, bytes));
    }

    /// The verdict over the back half of the run after warm-up; `None`
    /// with fewer than 10 points there.
    pub fn verdict(&self) -> Option<LeakReport> {
        let last = self.points.last()?.0;
        let start = self.warmup_seconds.min(last);
        let from = start + (last - start) / 2.0;
        let window = self.points.iter().copied().filter(|&(t, _)| t >= from);
        let n = window.clone().count();
        if n < 10 {
            return None;
        }
        // The forecaster's fit: one regression for both.
        let fit = super::forecast::fit_with(window, |n| super::forecast::t975(n as f64 - 2.0))?;
        let (slope, intercept) = (fit.slope, fit.intercept);
        let (lo, hi) = (fit.ci95.0 * 3600.0, fit.ci95.1 * 3600.0);
        let verdict = if lo > self.budget_per_hour {
            LeakVerdict::Growing
        } else if hi <= self.budget_per_hour {
            LeakVerdict::Plateau
        } else {
            LeakVerdict::Inconclusive
        };
        Some(LeakReport {
            verdict,
            slope_bytes_per_hour: slope * 3600.0,
            ci95_bytes_per_hour: (lo, hi),
            budget_bytes_per_hour: self.budget_per_hour,
            points: n,
            window_seconds: (from, last),
            fitted_bytes: (intercept + slope * from, intercept + slope * last),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_noisy_series_is_a_plateau() {
        let mut leak = LeakTracker::new(1e6, 60.0);
        for i in 0..3600u32 {
            leak.record(f64::from(i) * 2.0, 200e6 + f64::from(i % 11) * 1e5);
        }
        let v = leak.verdict().expect("enough points");
        assert_eq!(v.verdict, LeakVerdict::Plateau, "{v:?}");
        assert!(v.ci95_bytes_per_hour.0 <= 0.0 && v.ci95_bytes_per_hour.1 >= 0.0, "{v:?}");
    }

    #[test]
    fn thinning_keeps_the_slope() {
        let mut leak = LeakTracker::new(1e3, 0.0);
        for i in 0..100_000u32 {
            leak.record(f64::from(i), f64::from(i) * 10.0);
        }
        assert!(leak.points.len() <= MAX_POINTS);
        let v = leak.verdict().expect("points");
        assert!((v.slope_bytes_per_hour - 36_000.0).abs() < 1.0, "{v:?}");
        assert_eq!(v.verdict, LeakVerdict::Growing);
    }

    #[test]
    fn too_few_points_say_nothing() {
        let mut leak = LeakTracker::new(1e6, 0.0);
        for i in 0..5u32 {
            leak.record(f64::from(i), 1.0);
        }
        assert!(leak.verdict().is_none());
    }
}
