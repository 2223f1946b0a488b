//! The cache's Prometheus metrics, through the `metrics` facade.
//!
//! Names carry the prefix `tidepool_cache_` and the label `cache`, unit
//! suffixes, and `_total` on counters, like the pool's
//! ([`crate::pool::metrics`]). Every series a cache will ever write is
//! registered at zero when it is built, so dashboards see zeros rather than
//! "No data".
//!
//! The hot path counts in the cache's own atomics; [`super::Cache::publish`]
//! copies them here and sets the gauges. Nothing in this module moves until
//! `publish` (or [`super::Cache::stats`] or [`super::Cache::maintain`], which
//! call it) runs.
//!
//! Handles are resolved once, at build, against the recorder installed at that
//! moment: install the exporter ([`crate::export`]) before building caches.

use metrics::{Counter, Gauge, SharedString, Unit};

use super::{CacheStats, Capacity};

/// Lookups that found a value.
pub const HITS: &str = "tidepool_cache_hits_total";
/// Lookups that found none.
pub const MISSES: &str = "tidepool_cache_misses_total";
/// Values stored (`insert`, and `get_or_insert_with` on a miss).
pub const INSERTS: &str = "tidepool_cache_inserts_total";
/// Entries that left the cache, by `cause` (see [`EVICTION_CAUSES`]).
pub const EVICTIONS: &str = "tidepool_cache_evictions_total";
/// Entries in the cache (approximate between maintenance runs).
pub const ENTRIES: &str = "tidepool_cache_entries";
/// The configured entry capacity. Registered by `max_entries` caches only.
pub const ENTRIES_MAX: &str = "tidepool_cache_entries_max";
/// The weigher's total over the cached entries, in bytes. Registered by
/// `max_bytes` caches only: an entry-count cache has no byte size to report.
pub const WEIGHTED_SIZE: &str = "tidepool_cache_weighted_size_bytes";
/// The configured byte capacity. Registered by `max_bytes` caches only.
pub const WEIGHTED_SIZE_MAX: &str = "tidepool_cache_weighted_size_max_bytes";
/// Hits over lookups since build.
pub const HIT_RATIO: &str = "tidepool_cache_hit_ratio";

/// Eviction causes, as the `cause` label, in [`super::Evictions`] field order.
pub const EVICTION_CAUSES: [&str; 4] = ["size", "expired", "explicit", "replaced"];

/// Writes HELP text and units for every cache metric into the current
/// recorder. Building a cache calls it.
///
/// # Examples
///
/// ```
/// // Harmless to call again; without a recorder installed it does nothing.
/// tidepool::cache::metrics::describe();
/// ```
pub fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(HITS, Unit::Count, "Cache lookups that found a value.");
    describe_counter!(MISSES, Unit::Count, "Cache lookups that found no value.");
    describe_counter!(INSERTS, Unit::Count, "Values stored by insert or by get_or_insert_with on a miss.");
    describe_counter!(
        EVICTIONS,
        Unit::Count,
        "Entries removed by cause: size (incl. new entries let go before they were asked for again), expired, explicit, replaced."
    );
    describe_gauge!(ENTRIES, Unit::Count, "Entries in the cache (approximate between maintenance runs).");
    describe_gauge!(ENTRIES_MAX, Unit::Count, "Configured maximum number of entries.");
    describe_gauge!(WEIGHTED_SIZE, Unit::Bytes, "Sum of the weigher over cached entries, in bytes.");
    describe_gauge!(WEIGHTED_SIZE_MAX, Unit::Bytes, "Configured maximum weighted size, in bytes.");
    describe_gauge!(HIT_RATIO, Unit::Count, "Cache hits over lookups since the cache was built.");
}

/// Every handle a cache records into, resolved once at build.
#[derive(Debug)]
pub(crate) struct CacheMetrics {
    hits: Counter,
    misses: Counter,
    inserts: Counter,
    /// Indexed like [`EVICTION_CAUSES`].
    evictions: [Counter; 4],
    entries: Gauge,
    /// Registered only for a byte-capacity cache.
    weighted_size: Option<Gauge>,
    hit_ratio: Gauge,
}

impl CacheMetrics {
    pub(crate) fn register(cache: &SharedString, capacity: Capacity) -> Self {
        describe();
        let c = cache.clone();
        let gauge = |name: &'static str| metrics::gauge!(name, "cache" => c.clone());
        let counter = |name: &'static str| metrics::counter!(name, "cache" => c.clone());
        let this = CacheMetrics {
            hits: counter(HITS),
            misses: counter(MISSES),
            inserts: counter(INSERTS),
            evictions: EVICTION_CAUSES
                .map(|cause| metrics::counter!(EVICTIONS, "cache" => c.clone(), "cause" => cause)),
            entries: gauge(ENTRIES),
            weighted_size: matches!(capacity, Capacity::Bytes(_)).then(|| gauge(WEIGHTED_SIZE)),
            hit_ratio: gauge(HIT_RATIO),
        };
        match capacity {
            Capacity::Entries(n) => gauge(ENTRIES_MAX).set(n as f64),
            Capacity::Bytes(n) => gauge(WEIGHTED_SIZE_MAX).set(n as f64),
        }
        // Resolving a counter does not make it concrete in every recorder;
        // an explicit zero does.
        for c in [&this.hits, &this.misses, &this.inserts].into_iter().chain(&this.evictions) {
            c.increment(0);
        }
        for g in [&this.entries, &this.hit_ratio].into_iter().chain(&this.weighted_size) {
            g.set(0.0);
        }
        this
    }

    /// Adds the counts in `delta` and sets the gauges.
    pub(crate) fn publish(&self, delta: &CacheStats, total: &CacheStats, entries: u64, weighted_size: u64) {
        self.hits.increment(delta.hits);
        self.misses.increment(delta.misses);
        self.inserts.increment(delta.inserts);
        for (counter, n) in self.evictions.iter().zip(delta.evictions.as_array()) {
            counter.increment(n);
        }
        self.entries.set(entries as f64);
        if let Some(g) = &self.weighted_size {
            g.set(weighted_size as f64);
        }
        self.hit_ratio.set(total.hit_ratio());
    }
}
