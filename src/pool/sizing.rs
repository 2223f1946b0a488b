//! Adaptive sizing: a policy consulted every sizing interval.
//!
//! The pool creates objects on demand only up to its *target*; a
//! [`SizingPolicy`] moves the target between `min_size` and `max_size` from
//! what happened during the last interval. [`UtilizationPolicy`] is the
//! default; [`FixedPolicy`] pins the target at `max_size` (classic on-demand
//! pools such as deadpool). Implement the trait for AIMD- or gradient-style
//! controllers.

use std::fmt::Debug;
use std::time::Duration;

/// What the pool observed during one sizing interval.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct SizingInput {
    /// Length of the interval.
    pub interval: Duration,
    /// Objects alive now (idle + in use + being created).
    pub size: usize,
    /// The current target.
    pub target: usize,
    /// Configured minimum.
    pub min: usize,
    /// Configured maximum.
    pub max: usize,
    /// Objects in use now.
    pub in_use: usize,
    /// Callers waiting now.
    pub pending: usize,
    /// Mean of `in_use` over the maintenance ticks of the interval.
    pub mean_in_use: f64,
    /// Highest `in_use` seen at a maintenance tick of the interval.
    pub peak_in_use: usize,
    /// Acquires served during the interval (direct and waited).
    pub acquires: u64,
    /// Acquires that had to wait during the interval.
    pub waited: u64,
    /// Acquires that timed out during the interval.
    pub timeouts: u64,
    /// Time the interval's served acquires spent waiting, in all.
    pub wait_total: Duration,
}

/// Decides the pool's next size target.
///
/// The pool clamps the answer to `[max(min, in_use), max]`; a policy need not.
///
/// # Examples
///
/// ```
/// use tidepool::pool::{SizingInput, SizingPolicy};
///
/// /// Grow by one on any wait, never shrink.
/// #[derive(Debug)]
/// struct Ratchet;
///
/// impl SizingPolicy for Ratchet {
///     fn next_target(&mut self, input: &SizingInput) -> usize {
///         if input.waited > 0 { input.target + 1 } else { input.target }
///     }
/// }
/// ```
pub trait SizingPolicy: Send + Debug {
    /// The target for the next interval.
    fn next_target(&mut self, input: &SizingInput) -> usize;
}

/// Keeps utilization (in use / size) near a target ratio.
///
/// * Grows when the interval's waits count as contention, any acquire timed
///   out, callers are waiting now, or mean utilization exceeded the target:
///   to `mean_in_use / target_utilization`, and by at least the number of
///   callers still waiting (at least one).
/// * Shrinks when mean utilization fell below half the target and the
///   waits did not count: to what the peak of the interval needed at the
///   target ratio, if that is more than one object (and an eighth of the
///   target) below it.
/// * Otherwise holds (the band between is the hysteresis).
///
/// Waits count as contention, with no `contention_threshold`, when more
/// than 1 % of the interval's acquires waited at all (a Poisson burst makes
/// a caller wait now and then at any size); with one, when the interval's
/// mean wait over every acquire served (waiting or not) is above it.
///
/// ```
/// use std::time::Duration;
/// use tidepool::pool::{Pool, UtilizationPolicy};
/// let policy = UtilizationPolicy {
///     target_utilization: 0.75,
///     contention_threshold: Some(Duration::from_millis(3)),
/// };
/// let pool = Pool::builder("p").sizing_policy(policy).factory(|| Ok(0u8)).build().unwrap();
/// assert_eq!(pool.status().min, 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UtilizationPolicy {
    /// The utilization to steer toward, in `(0, 1]`. Default 0.75.
    pub target_utilization: f64,
    /// The mean wait per acquire above which the pool is contended;
    /// `None` (the default): more than 1 % of acquires waited.
    pub contention_threshold: Option<Duration>,
}

impl Default for UtilizationPolicy {
    fn default() -> Self {
        UtilizationPolicy { target_utilization: 0.75, contention_threshold: None }
    }
}

impl UtilizationPolicy {
    /// Whether the interval's waits count as contention.
    fn contended(&self, input: &SizingInput) -> bool {
        match self.contention_threshold {
            None => input.waited > 0 && input.waited * 100 > input.acquires,
            Some(threshold) => {
                input.acquires > 0 && input.wait_total.div_f64(input.acquires as f64) > threshold
            }
        }
    }
}

impl SizingPolicy for UtilizationPolicy {
    fn next_target(&mut self, input: &SizingInput) -> usize {
        let ratio = self.target_utilization;
        let size = input.size.max(1) as f64;
        let utilization = input.mean_in_use / size;
        let needed = |in_use: f64| (in_use / ratio).ceil() as usize;
        if self.contended(input) || input.timeouts > 0 || input.pending > 0 || utilization > ratio {
            let by_load = needed(input.mean_in_use.max(input.peak_in_use as f64));
            by_load.max(input.target + input.pending.max(1))
        } else if utilization < ratio / 2.0 {
            let wanted = needed(input.peak_in_use as f64).max(input.in_use);
            // A deadband: shrinking by one object at a time, interval after
            // interval, is churn (create, retire, create) for nothing.
            if wanted + (input.target / 8).max(1) < input.target {
                wanted
            } else {
                input.target
            }
        } else {
            input.target
        }
    }
}

/// Pins the target at `max_size`: objects are created on demand up to max and
/// only expire by idle time or lifetime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FixedPolicy;

impl SizingPolicy for FixedPolicy {
    fn next_target(&mut self, input: &SizingInput) -> usize {
        input.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(size: usize, mean: f64, peak: usize, waited: u64) -> SizingInput {
        SizingInput {
            interval: Duration::from_secs(15),
            size,
            target: size,
            min: 4,
            max: 16,
            in_use: peak,
            pending: 0,
            mean_in_use: mean,
            peak_in_use: peak,
            acquires: 100,
            waited,
            timeouts: 0,
            wait_total: Duration::ZERO,
        }
    }

    #[test]
    fn contention_counts_waits_above_the_threshold_only() {
        let mut p = UtilizationPolicy {
            target_utilization: 0.75,
            contention_threshold: Some(Duration::from_millis(3)),
        };
        // 10 of 100 acquires waited 10 ms: a mean of 1 ms, under 3 ms: hold.
        let mut calm = input(8, 4.0, 5, 10);
        calm.wait_total = Duration::from_millis(100);
        assert_eq!(p.next_target(&calm), 8);
        // 10 waited 50 ms: a mean of 5 ms: grow.
        let mut busy = calm;
        busy.wait_total = Duration::from_millis(500);
        assert_eq!(p.next_target(&busy), 9);
    }

    #[test]
    fn grows_on_waits_and_high_utilization() {
        let mut p = UtilizationPolicy::default();
        assert_eq!(p.next_target(&input(4, 3.9, 4, 0)), 6); // 3.9/0.75 = 5.2 -> 6
        assert_eq!(p.next_target(&input(4, 1.0, 2, 3)), 5); // waited: at least +1
    }

    #[test]
    fn shrinks_only_below_half_the_target_ratio() {
        let mut p = UtilizationPolicy::default();
        assert_eq!(p.next_target(&input(12, 2.0, 3, 0)), 4); // 2/12 < 0.375 -> 3/0.75
        assert_eq!(p.next_target(&input(8, 4.0, 5, 0)), 8); // 0.5: inside the band
    }
}
