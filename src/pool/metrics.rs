//! The pool's Prometheus/OpenTelemetry metrics, through the `metrics` facade.
//!
//! Names follow OpenTelemetry's `db.client.connection.*` conventions translated
//! to Prometheus (`.` → `_`, unit suffixes, `_total` on counters), with the
//! prefix `tidepool_pool_` and the label `pool`. Every series whose labels are
//! known is registered when the pool is built, so dashboards see zeros rather
//! than "No data" on a healthy pool.
//!
//! Handles are resolved once, at build, against the recorder installed at that
//! moment: install the exporter ([`crate::export`]) before building pools.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Counter, Gauge, Histogram, SharedString, Unit};

/// Objects by state: `state="idle"` or `state="used"`.
pub const OBJECTS: &str = "tidepool_pool_objects";
/// The adaptive size target (creation ceiling).
pub const SIZE_TARGET: &str = "tidepool_pool_size_target";
/// The configured minimum size.
pub const SIZE_MIN: &str = "tidepool_pool_size_min";
/// The configured maximum size.
pub const SIZE_MAX: &str = "tidepool_pool_size_max";
/// Callers waiting for an object.
pub const PENDING: &str = "tidepool_pool_pending_requests";
/// Successful acquires by `path` (`direct`: no wait; `waited`: queued first).
pub const ACQUIRES: &str = "tidepool_pool_acquires_total";
/// Acquires that gave up after the acquire timeout.
pub const TIMEOUTS: &str = "tidepool_pool_timeouts_total";
/// Acquires that failed because the factory failed or panicked.
pub const FACTORY_ERRORS: &str = "tidepool_pool_factory_errors_total";
/// Objects created, by `reason` (`prewarm`, `demand`, `replenish`).
pub const CREATED: &str = "tidepool_pool_created_total";
/// Objects destroyed, by `reason`.
pub const DESTROYED: &str = "tidepool_pool_destroyed_total";
/// Guards held past the leak threshold.
pub const LEAKS: &str = "tidepool_pool_leaks_total";
/// Time from asking to holding an object.
pub const WAIT_SECONDS: &str = "tidepool_pool_wait_seconds";
/// Time an object was held by its user.
pub const USE_SECONDS: &str = "tidepool_pool_use_seconds";
/// Time the factory took to create an object.
pub const CREATE_SECONDS: &str = "tidepool_pool_create_seconds";
/// Objects in use over objects alive.
pub const UTILIZATION: &str = "tidepool_pool_utilization_ratio";
/// Acquires served by an existing object over all acquires, since start.
pub const REUSE: &str = "tidepool_pool_reuse_ratio";
/// Time the initial prewarm took.
pub const PREWARM_SECONDS: &str = "tidepool_pool_prewarm_seconds";

/// Reasons an object is created, as the `reason` label.
pub const CREATE_REASONS: [&str; 3] = ["prewarm", "demand", "replenish"];

/// Histogram bucket bounds, in seconds, for every `*_seconds` histogram:
/// 10 µs to 60 s, roughly ×2.5 per step.
pub const SECONDS_BUCKETS: [f64; 20] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// Writes HELP text and units for every pool metric into the current recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(OBJECTS, Unit::Count, "Objects in the pool by state (idle or used).");
    describe_gauge!(SIZE_TARGET, Unit::Count, "Adaptive size target: the pool creates on demand up to it.");
    describe_gauge!(SIZE_MIN, Unit::Count, "Configured minimum number of objects.");
    describe_gauge!(SIZE_MAX, Unit::Count, "Configured maximum number of objects.");
    describe_gauge!(PENDING, Unit::Count, "Callers waiting for an object.");
    describe_counter!(ACQUIRES, Unit::Count, "Successful acquires by path: direct (no wait) or waited.");
    describe_counter!(TIMEOUTS, Unit::Count, "Acquires that gave up after the acquire timeout.");
    describe_counter!(FACTORY_ERRORS, Unit::Count, "Acquires failed by a factory error or panic.");
    describe_counter!(CREATED, Unit::Count, "Objects created, by reason.");
    describe_counter!(DESTROYED, Unit::Count, "Objects destroyed, by reason.");
    describe_counter!(LEAKS, Unit::Count, "Objects held longer than the leak threshold.");
    describe_histogram!(WAIT_SECONDS, Unit::Seconds, "Time from asking for an object to holding it.");
    describe_histogram!(USE_SECONDS, Unit::Seconds, "Time an object was held before its return.");
    describe_histogram!(CREATE_SECONDS, Unit::Seconds, "Time the factory took to create an object.");
    describe_gauge!(UTILIZATION, Unit::Count, "Objects in use over objects alive.");
    describe_gauge!(REUSE, Unit::Count, "Acquires served by an existing object over all acquires.");
    describe_gauge!(PREWARM_SECONDS, Unit::Seconds, "Time the initial prewarm of min_size objects took.");
}

/// Every handle a pool records into, resolved once at build.
#[derive(Debug)]
pub(crate) struct PoolMetrics {
    pub(crate) idle: Gauge,
    pub(crate) used: Gauge,
    pub(crate) target: Gauge,
    pub(crate) pending: Gauge,
    pub(crate) utilization: Gauge,
    pub(crate) reuse: Gauge,
    pub(crate) acquires_direct: Counter,
    pub(crate) acquires_waited: Counter,
    pub(crate) timeouts: Counter,
    pub(crate) factory_errors: Counter,
    pub(crate) created: [Counter; 3],
    pub(crate) destroyed: [Counter; super::DestroyReason::COUNT],
    pub(crate) leaks: Counter,
    pub(crate) wait: Histogram,
    /// Hot-path recording of the waits that are not zero (or that created
    /// an object), drained into `wait` by `publish`; the monitor reads its
    /// counts ([`super::Pool::wait_histogram`]).
    pub(crate) wait_buckets: BucketHistogram,
    pub(crate) use_time: Histogram,
    /// Hot-path recording of hold times, drained into `use_time` by `publish`.
    pub(crate) use_buckets: BucketHistogram,
    pub(crate) create: Histogram,
    pub(crate) prewarm: Gauge,
}

impl PoolMetrics {
    pub(crate) fn register(pool: &SharedString, min: usize, max: usize) -> Self {
        describe();
        let p = pool.clone();
        let gauge = |name: &'static str| metrics::gauge!(name, "pool" => p.clone());
        let counter = |name: &'static str| metrics::counter!(name, "pool" => p.clone());
        let histogram = |name: &'static str| metrics::histogram!(name, "pool" => p.clone());
        let by = |name: &'static str, key: &'static str, value: &'static str| metrics::counter!(name, "pool" => p.clone(), key => value);
        let this = PoolMetrics {
            idle: metrics::gauge!(OBJECTS, "pool" => p.clone(), "state" => "idle"),
            used: metrics::gauge!(OBJECTS, "pool" => p.clone(), "state" => "used"),
            target: gauge(SIZE_TARGET),
            pending: gauge(PENDING),
            utilization: gauge(UTILIZATION),
            reuse: gauge(REUSE),
            acquires_direct: by(ACQUIRES, "path", "direct"),
            acquires_waited: by(ACQUIRES, "path", "waited"),
            timeouts: counter(TIMEOUTS),
            factory_errors: counter(FACTORY_ERRORS),
            created: CREATE_REASONS.map(|reason| by(CREATED, "reason", reason)),
            destroyed: super::DestroyReason::ALL.map(|reason| by(DESTROYED, "reason", reason.as_str())),
            leaks: counter(LEAKS),
            wait: histogram(WAIT_SECONDS),
            wait_buckets: BucketHistogram::new(),
            use_time: histogram(USE_SECONDS),
            use_buckets: BucketHistogram::new(),
            create: histogram(CREATE_SECONDS),
            prewarm: gauge(PREWARM_SECONDS),
        };
        // Counters are registered at zero by resolving them above; make the
        // gauges concrete too.
        gauge(SIZE_MIN).set(min as f64);
        gauge(SIZE_MAX).set(max as f64);
        for g in [&this.idle, &this.used, &this.target, &this.pending, &this.utilization, &this.reuse] {
            g.set(0.0);
        }
        for c in this.created.iter().chain(this.destroyed.iter()) {
            c.increment(0);
        }
        for c in
            [&this.acquires_direct, &this.acquires_waited, &this.timeouts, &this.factory_errors, &this.leaks]
        {
            c.increment(0);
        }
        this
    }
}

/// A lock-free histogram of nanosecond samples over [`SECONDS_BUCKETS`],
/// recorded on the hot path and drained into a facade histogram by the
/// maintenance tick.
///
/// A record is a bucket search and two relaxed `fetch_add`s, against the
/// Prometheus exporter's timestamped, buffered sample per record; memory is
/// fixed. [`BucketHistogram::drain_into`] hands the exporter, per bucket, the
/// new samples' count at their mean: that mean lies inside the bucket, so the
/// exported bucket counts are exact, and `_sum` is exact up to rounding.
#[derive(Debug)]
pub(crate) struct BucketHistogram {
    bounds_ns: [u64; SECONDS_BUCKETS.len()],
    counts: [AtomicU64; SECONDS_BUCKETS.len() + 1],
    sums_ns: [AtomicU64; SECONDS_BUCKETS.len() + 1],
    /// Per bucket: samples already handed over, and the nanoseconds handed over.
    drained: parking_lot::Mutex<[(u64, f64); SECONDS_BUCKETS.len() + 1]>,
}

impl BucketHistogram {
    pub(crate) fn new() -> Self {
        BucketHistogram {
            bounds_ns: SECONDS_BUCKETS.map(|s| (s * 1e9).round() as u64),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sums_ns: std::array::from_fn(|_| AtomicU64::new(0)),
            drained: parking_lot::Mutex::new([(0, 0.0); SECONDS_BUCKETS.len() + 1]),
        }
    }

    /// Records one sample (Prometheus buckets are `le`: upper bound inclusive).
    #[inline]
    pub(crate) fn record(&self, nanos: u64) {
        self.record_many(nanos, 1);
    }

    /// As [`Self::record`], for a caller that excludes every other recorder
    /// of this histogram (a profiled lock's holder): plain stores, no
    /// read-modify-write.
    #[inline]
    pub(crate) fn record_exclusive(&self, nanos: u64) {
        let bucket = self.bounds_ns.partition_point(|&bound| bound < nanos);
        let sum = &self.sums_ns[bucket];
        sum.store(sum.load(Ordering::Relaxed).wrapping_add(nanos), Ordering::Relaxed);
        let count = &self.counts[bucket];
        count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Records `count` samples of `nanos` each: still two `fetch_add`s.
    #[inline]
    pub(crate) fn record_many(&self, nanos: u64, count: u64) {
        let bucket = self.bounds_ns.partition_point(|&bound| bound < nanos);
        // Sum before count: a drain that sees the count also sees the sum.
        self.sums_ns[bucket].fetch_add(nanos.saturating_mul(count), Ordering::Relaxed);
        self.counts[bucket].fetch_add(count, Ordering::Relaxed);
    }

    /// The samples recorded so far, by bucket (not cumulative).
    pub(crate) fn counts(&self) -> [u64; SECONDS_BUCKETS.len() + 1] {
        std::array::from_fn(|bucket| self.counts[bucket].load(Ordering::Relaxed))
    }

    /// The sum of every sample recorded so far, in nanoseconds.
    pub(crate) fn sum_ns(&self) -> u64 {
        self.sums_ns.iter().fold(0u64, |sum, s| sum.wrapping_add(s.load(Ordering::Relaxed)))
    }

    /// Hands the samples recorded since the last drain to `into`, in seconds.
    pub(crate) fn drain_into(&self, into: &Histogram) {
        let mut drained = self.drained.lock();
        for (bucket, (count_done, sum_done)) in drained.iter_mut().enumerate() {
            let count = self.counts[bucket].load(Ordering::Relaxed);
            let new = count.saturating_sub(*count_done);
            if new == 0 {
                continue;
            }
            let sum = self.sums_ns[bucket].load(Ordering::Relaxed) as f64;
            let lower = if bucket == 0 { 0.0 } else { self.bounds_ns[bucket - 1] as f64 + 1.0 };
            let upper = self.bounds_ns.get(bucket).map_or(f64::MAX, |&b| b as f64);
            // Clamped into the bucket: a racing record may have added its sum
            // but not yet its count; what is not handed over now is next time.
            let mean = ((sum - *sum_done) / new as f64).clamp(lower, upper);
            into.record_many(mean / 1e9, usize::try_from(new).unwrap_or(usize::MAX));
            *count_done = count;
            *sum_done += mean * new as f64;
        }
    }
}

/// Seconds to whole nanoseconds: negative and NaN are 0, beyond `u64` saturates.
fn seconds_to_nanos(seconds: f64) -> u64 {
    // `as` saturates and maps NaN to 0.
    (seconds * 1e9).round() as u64
}

/// A `BucketHistogram` is also a facade histogram: the bucketing layer of
/// [`crate::export`] hands one out for every `*_seconds` histogram, so a
/// record is two atomic adds, never a stored sample.
impl metrics::HistogramFn for BucketHistogram {
    fn record(&self, value: f64) {
        BucketHistogram::record(self, seconds_to_nanos(value));
    }

    fn record_many(&self, value: f64, count: usize) {
        BucketHistogram::record_many(self, seconds_to_nanos(value), u64::try_from(count).unwrap_or(u64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    #[test]
    fn drained_samples_land_in_their_buckets_with_the_exact_sum() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let h = BucketHistogram::new();
        metrics::with_local_recorder(&recorder, || {
            let out = metrics::histogram!("x_seconds");
            for nanos in [3_000, 7_000, 10_000, 400_000, 400_000, 2_000_000_000_000] {
                h.record(nanos);
            }
            h.drain_into(&out);
            h.drain_into(&out); // nothing new: nothing added
        });
        let values = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .find_map(|(.., v)| match v {
                DebugValue::Histogram(v) => Some(v.into_iter().map(|f| f.into_inner()).collect::<Vec<f64>>()),
                _ => None,
            })
            .expect("histogram");
        assert_eq!(values.len(), 6);
        // 3, 7 and 10 µs share the first bucket (le 10 µs): their mean stays in it.
        let first: Vec<_> = values.iter().filter(|&&v| v <= 0.000_01).collect();
        assert_eq!(first.len(), 3);
        let in_500us: Vec<_> = values.iter().filter(|&&v| v > 0.000_25 && v <= 0.000_5).collect();
        assert_eq!(in_500us.len(), 2);
        assert!(values.iter().any(|&v| v > 60.0), "beyond the last bound goes to +Inf");
        let sum: f64 = values.iter().sum();
        let exact = (3_000 + 7_000 + 10_000 + 800_000 + 2_000_000_000_000u64) as f64 / 1e9;
        assert!((sum - exact).abs() < 1e-9, "{sum} vs {exact}");
    }
}
