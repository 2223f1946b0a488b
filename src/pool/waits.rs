//! [`WaitHistogram`]: a pool's acquire waits by bucket, read from atomics,
//! and the quantile the monitor judges (Prometheus' `histogram_quantile`).

use std::time::Duration;

use super::metrics::SECONDS_BUCKETS;

/// Buckets of a [`WaitHistogram`]: one per bound of [`SECONDS_BUCKETS`]
/// and `+Inf`.
pub const WAIT_BUCKETS: usize = SECONDS_BUCKETS.len() + 1;

/// The acquire waits of a pool since it was built, by bucket (the
/// `le` bounds of [`SECONDS_BUCKETS`], then `+Inf`), and the acquires that
/// timed out. Take two and subtract ([`WaitHistogram::since`]) for an
/// interval's; [`WaitHistogram::quantile`] reads a quantile off them the way
/// Prometheus' `histogram_quantile` reads `tidepool_pool_wait_seconds`.
///
/// Read from atomics ([`Pool::wait_histogram`](super::Pool::wait_histogram)),
/// so it may be momentarily inconsistent with [`Stats`](super::Stats).
///
/// ```
/// use std::time::Duration;
/// use tidepool::pool::{WaitHistogram, WAIT_BUCKETS};
///
/// // 98 acquires without a wait, 2 that waited between 10 and 25 ms.
/// let mut counts = [0; WAIT_BUCKETS];
/// counts[0] = 98;
/// counts[10] = 2;
/// let waits = WaitHistogram::new(counts, 0, Duration::from_secs(30));
/// let p99 = waits.quantile(0.99);
/// assert!((p99 - 0.0175).abs() < 1e-12, "{p99}"); // half way into (10 ms, 25 ms]
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitHistogram {
    /// Served acquires by wait bucket (not cumulative).
    pub counts: [u64; WAIT_BUCKETS],
    /// Acquires that gave up after `timeout`.
    pub timeouts: u64,
    /// The pool's acquire timeout: how long a timed-out acquire waited.
    pub timeout: Duration,
}

impl WaitHistogram {
    /// A histogram of `counts` served acquires and `timeouts` acquires that
    /// waited `timeout` in vain.
    pub fn new(counts: [u64; WAIT_BUCKETS], timeouts: u64, timeout: Duration) -> WaitHistogram {
        WaitHistogram { counts, timeouts, timeout }
    }

    /// The acquires counted: served and timed out.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.timeouts
    }

    /// The interval from `earlier` to `self`.
    pub fn since(&self, earlier: &WaitHistogram) -> WaitHistogram {
        WaitHistogram {
            counts: std::array::from_fn(|i| self.counts[i].saturating_sub(earlier.counts[i])),
            timeouts: self.timeouts.saturating_sub(earlier.timeouts),
            timeout: self.timeout,
        }
    }

    /// The `q` quantile of the waits, in seconds, as Prometheus'
    /// `histogram_quantile(q, ...)` computes it from the buckets: linear
    /// inside the bucket the rank falls in, from 0 for the first, and the
    /// highest finite bound when it falls in `+Inf`. Timed-out acquires
    /// count as waits of the acquire timeout (a starving pool must not look
    /// calm because its callers gave up). 0 when nothing was counted.
    pub fn quantile(&self, q: f64) -> f64 {
        let mut counts = self.counts;
        if self.timeouts > 0 {
            let timeout = self.timeout.as_secs_f64();
            let bucket = SECONDS_BUCKETS.partition_point(|&bound| bound < timeout);
            counts[bucket] += self.timeouts;
        }
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (bucket, &count) in counts.iter().enumerate() {
            let cumulative = below + count;
            if cumulative as f64 >= rank && count > 0 {
                let Some(&end) = SECONDS_BUCKETS.get(bucket) else {
                    return SECONDS_BUCKETS[SECONDS_BUCKETS.len() - 1];
                };
                let start = if bucket == 0 { 0.0 } else { SECONDS_BUCKETS[bucket - 1] };
                return start + (end - start) * ((rank - below as f64) / count as f64);
            }
            below = cumulative;
        }
        SECONDS_BUCKETS[SECONDS_BUCKETS.len() - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(entries: &[(usize, u64)], timeouts: u64) -> WaitHistogram {
        let mut counts = [0; WAIT_BUCKETS];
        for &(bucket, n) in entries {
            counts[bucket] = n;
        }
        WaitHistogram::new(counts, timeouts, Duration::from_secs(2))
    }

    /// Prometheus' histogram_quantile on cumulative buckets, written the way
    /// its Go source reads (promql/quantile.go, bucketQuantile).
    fn reference(q: f64, h: &WaitHistogram) -> f64 {
        let mut bounds: Vec<f64> = SECONDS_BUCKETS.to_vec();
        bounds.push(f64::INFINITY);
        let mut counts = h.counts;
        counts[SECONDS_BUCKETS.partition_point(|&b| b < h.timeout.as_secs_f64())] += h.timeouts;
        let mut cumulative = Vec::new();
        let mut sum = 0.0;
        for c in counts {
            sum += c as f64;
            cumulative.push(sum);
        }
        let mut rank = q * sum;
        let b = cumulative[..cumulative.len() - 1].partition_point(|&c| c < rank);
        if b == bounds.len() - 1 {
            return bounds[bounds.len() - 2];
        }
        let (mut start, end, mut count) = (0.0, bounds[b], cumulative[b]);
        if b > 0 {
            start = bounds[b - 1];
            count -= cumulative[b - 1];
            rank -= cumulative[b - 1];
        }
        start + (end - start) * (rank / count)
    }

    #[test]
    fn quantiles_match_prometheus() {
        let cases = [
            histogram(&[(0, 990), (3, 10)], 0),
            histogram(&[(0, 5), (7, 5), (12, 90)], 0),
            histogram(&[(2, 1)], 0),
            histogram(&[(0, 50), (20, 50)], 0),
            histogram(&[(0, 95)], 5),
            histogram(&[(4, 3), (9, 4), (15, 3)], 1),
        ];
        for h in &cases {
            for q in [0.5, 0.9, 0.99, 0.999] {
                let (ours, theirs) = (h.quantile(q), reference(q, h));
                assert!((ours - theirs).abs() < 1e-12, "q {q} of {h:?}: {ours} vs {theirs}");
            }
        }
        assert_eq!(histogram(&[], 0).quantile(0.99), 0.0);
        // Five timeouts in a hundred: the p99 is in the timeout's bucket (2.5 s).
        let p99 = histogram(&[(0, 95)], 5).quantile(0.99);
        assert!(p99 > 1.0 && p99 <= 2.5, "{p99}");
    }

    #[test]
    fn intervals_subtract() {
        let a = histogram(&[(0, 10), (5, 2)], 1);
        let b = histogram(&[(0, 15), (5, 2), (6, 1)], 3);
        let d = b.since(&a);
        assert_eq!((d.counts[0], d.counts[5], d.counts[6], d.timeouts, d.count()), (5, 0, 1, 2, 8));
    }
}
