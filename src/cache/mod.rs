//! A bounded, concurrent, instrumented cache on [`moka`]'s sync cache.
//!
//! [`Cache<K, V>`] keeps up to a number of entries, or of bytes as a weigher
//! counts them, with optional time to live and time to idle. Admission and
//! eviction are moka's TinyLFU: a new key only displaces a cached one if it
//! has been asked for more often, which keeps one-hit wonders from flushing
//! the hot set. Hits, misses, inserts and evictions by cause are counted in
//! atomics ([`Cache::stats`]) and published to the `metrics` facade
//! ([`metrics`] lists the names) by [`Cache::publish`].
//!
//! # Maintenance, and what is approximate
//!
//! moka applies inserts, evictions and expiry in batches: on the lookup or
//! insert that fills a buffer (64 operations), on the first operation 300 ms
//! after the last batch, or when [`Cache::maintain`] runs. Until then [`Cache::entry_count`] and
//! [`Cache::weighted_size`] lag, and a cache can briefly hold up to a batch
//! more entries than its capacity. Lookups are always exact: an expired entry
//! is never returned. Call `maintain` from a periodic task; it also publishes
//! the metrics.
//!
//! Expiry runs on moka's own monotonic clock, not on [`crate::clock::Clock`]:
//! a virtual clock does not age cache entries.
//!
//! # Examples
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tidepool::cache::Cache;
//!
//! let users = Cache::builder("users")
//!     .max_entries(10_000)
//!     .time_to_live(Duration::from_secs(300))
//!     .build()?;
//!
//! let name = users.get_or_insert_with(7u64, || "ada".to_string()); // miss: runs the closure
//! assert_eq!(name, "ada");
//! assert_eq!(users.get(&7), Some("ada".to_string())); // hit
//!
//! let stats = users.stats();
//! assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 1, 1));
//! # Ok(()) }
//! ```

mod builder;
mod error;
pub mod metrics;
mod stats;

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use ::metrics::SharedString;
use parking_lot::Mutex;

pub use builder::CacheBuilder;
pub use error::BuildError;
pub use stats::{CacheStats, Evictions};

use metrics::CacheMetrics;
use stats::Counters;

/// What bounds a cache, as set by [`CacheBuilder::max_entries`] or
/// [`CacheBuilder::max_bytes`].
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tidepool::cache::{Cache, Capacity};
///
/// let cache = Cache::builder("b").max_bytes(1 << 20, |_: &u64, v: &String| v.len()).build()?;
/// assert_eq!(cache.capacity(), Capacity::Bytes(1 << 20));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// At most this many entries.
    Entries(u64),
    /// At most this many bytes, summed by the weigher.
    Bytes(u64),
}

/// State shared by the cache handles and moka's eviction listener.
#[derive(Debug)]
struct Shared {
    name: String,
    capacity: Capacity,
    counters: Counters,
    metrics: CacheMetrics,
    /// The totals already handed to the facade; publishing adds the deltas
    /// under this lock, so concurrent publishes never count twice.
    published: Mutex<CacheStats>,
}

/// A bounded concurrent cache from `K` to `V` with metrics. Cloning is cheap
/// and shares the cache.
///
/// `V` is cloned out on every hit (as in moka): wrap large values in an
/// [`Arc`]. See the [module docs](self) for maintenance and
/// [`CacheBuilder`] for the settings.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use tidepool::cache::Cache;
///
/// let cache: Cache<u64, Arc<str>> = Cache::builder("names").max_entries(2).build()?;
/// let shared = cache.clone();
/// std::thread::spawn(move || shared.insert(1, Arc::from("one"))).join().unwrap();
/// assert_eq!(cache.get(&1).as_deref(), Some("one"));
/// # Ok(()) }
/// ```
pub struct Cache<K, V> {
    inner: moka::sync::Cache<K, V>,
    shared: Arc<Shared>,
}

impl<K, V> Clone for Cache<K, V> {
    fn clone(&self) -> Self {
        Cache { inner: self.inner.clone(), shared: Arc::clone(&self.shared) }
    }
}

impl<K, V> fmt::Debug for Cache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("name", &self.shared.name)
            .field("capacity", &self.shared.capacity)
            .field("entry_count", &self.inner.entry_count())
            .field("weighted_size", &self.inner.weighted_size())
            .field("stats", &self.shared.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Starts a builder for a cache called `name` (the `cache` label).
    ///
    /// # Examples
    ///
    /// ```
    /// let cache = tidepool::cache::Cache::<u64, u64>::builder("ids").max_entries(10).build();
    /// assert!(cache.is_ok());
    /// ```
    pub fn builder(name: impl Into<String>) -> CacheBuilder<K, V> {
        CacheBuilder::new(name)
    }

    fn from_builder(builder: CacheBuilder<K, V>, capacity: Capacity) -> Self {
        let label = SharedString::from(builder.name.clone());
        let shared = Arc::new(Shared {
            metrics: CacheMetrics::register(&label, capacity),
            name: builder.name,
            capacity,
            counters: Counters::default(),
            published: Mutex::new(CacheStats::default()),
        });
        let listener = Arc::clone(&shared);
        let mut moka = moka::sync::Cache::builder()
            .name(&shared.name)
            .eviction_listener(move |_key, _value, cause| listener.counters.evicted(cause));
        moka = match capacity {
            Capacity::Entries(n) | Capacity::Bytes(n) => moka.max_capacity(n),
        };
        if let Some(weigher) = builder.weigher {
            moka = moka.weigher(move |k, v| u32::try_from(weigher(k, v)).unwrap_or(u32::MAX));
        }
        if let Some(ttl) = builder.time_to_live {
            moka = moka.time_to_live(ttl);
        }
        if let Some(tti) = builder.time_to_idle {
            moka = moka.time_to_idle(tti);
        }
        Cache { inner: moka.build(), shared }
    }

    /// The cache's name (its `cache` label).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let cache = tidepool::cache::Cache::<u8, u8>::builder("dns").max_entries(8).build()?;
    /// assert_eq!(cache.name(), "dns");
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The bound set at build.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::{Cache, Capacity};
    /// let cache = Cache::<u8, u8>::builder("c").max_entries(8).build()?;
    /// assert_eq!(cache.capacity(), Capacity::Entries(8));
    /// # Ok(()) }
    /// ```
    pub fn capacity(&self) -> Capacity {
        self.shared.capacity
    }

    /// A clone of the value cached for `key`, counting a hit or a miss.
    ///
    /// `key` may be any borrowed form of `K` (`&str` for `String` keys).
    /// Reading an entry restarts its time to idle.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    /// let cache = Cache::builder("c").max_entries(8).build()?;
    /// cache.insert("k".to_string(), 1);
    /// assert_eq!(cache.get("k"), Some(1));
    /// assert_eq!(cache.get("other"), None);
    /// # Ok(()) }
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let value = self.inner.get(key);
        match value {
            Some(_) => self.shared.counters.hit(),
            None => self.shared.counters.miss(),
        }
        value
    }

    /// Stores `value` under `key`, replacing (and counting as a `replaced`
    /// eviction) any value already there.
    ///
    /// The entry is visible to lookups at once; the admission policy decides
    /// at the next maintenance whether it stays.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    /// let cache = Cache::builder("c").max_entries(8).build()?;
    /// cache.insert(1, "a");
    /// cache.insert(1, "b");
    /// assert_eq!(cache.get(&1), Some("b"));
    /// assert_eq!(cache.stats().evictions.replaced, 1);
    /// # Ok(()) }
    /// ```
    pub fn insert(&self, key: K, value: V) {
        self.inner.insert(key, value);
        self.shared.counters.insert();
    }

    /// The cached value for `key`, or `init()` stored and returned.
    ///
    /// A call whose closure runs counts a miss and an insert; one that finds
    /// the value counts a hit. Concurrent calls for one missing key run one
    /// closure between them: the others wait for its value and count hits.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    /// let cache = Cache::builder("c").max_entries(8).build()?;
    /// assert_eq!(cache.get_or_insert_with(1, || 10), 10); // miss + insert
    /// assert_eq!(cache.get_or_insert_with(1, || 99), 10); // hit
    /// let stats = cache.stats();
    /// assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 1, 1));
    /// # Ok(()) }
    /// ```
    pub fn get_or_insert_with(&self, key: K, init: impl FnOnce() -> V) -> V {
        let entry = self.inner.entry(key).or_insert_with(init);
        if entry.is_fresh() {
            self.shared.counters.miss();
            self.shared.counters.insert();
        } else {
            self.shared.counters.hit();
        }
        entry.into_value()
    }

    /// Removes `key`'s entry, if any (counted as an `explicit` eviction).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    /// let cache = Cache::builder("c").max_entries(8).build()?;
    /// cache.insert(1, 1);
    /// cache.invalidate(&1);
    /// assert_eq!(cache.get(&1), None);
    /// assert_eq!(cache.stats().evictions.explicit, 1);
    /// # Ok(()) }
    /// ```
    pub fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.invalidate(key);
    }

    /// Entries in the cache, as of the last maintenance (see the
    /// [module docs](self)): it lags inserts and evictions until then.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    /// let cache = Cache::builder("c").max_entries(8).build()?;
    /// cache.insert(1, 1);
    /// cache.maintain();
    /// assert_eq!(cache.entry_count(), 1);
    /// # Ok(()) }
    /// ```
    pub fn entry_count(&self) -> u64 {
        self.inner.entry_count()
    }

    /// The weigher's sum over cached entries, in bytes, as of the last
    /// maintenance; for a [`Capacity::Entries`] cache, the entry count.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    /// let cache = Cache::builder("c").max_bytes(100, |_: &u8, v: &String| v.len()).build()?;
    /// cache.insert(1, "abc".to_string());
    /// cache.maintain();
    /// assert_eq!(cache.weighted_size(), 3);
    /// # Ok(()) }
    /// ```
    pub fn weighted_size(&self) -> u64 {
        self.inner.weighted_size()
    }

    /// Running totals since build, read from atomics; also [publishes](Cache::publish)
    /// them, so the facade never lags what a caller has seen.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    /// let cache = Cache::<u8, u8>::builder("c").max_entries(8).build()?;
    /// assert_eq!(cache.get(&1), None);
    /// assert_eq!(cache.stats().misses, 1);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> CacheStats {
        self.publish()
    }

    /// Copies the counts gathered since the last publish into the `metrics`
    /// facade and sets the gauges (entries, weighted size, hit ratio).
    ///
    /// This is what moves the [`metrics`] series: the hot path only touches
    /// the cache's own atomics. [`Cache::stats`] and [`Cache::maintain`] call
    /// it; it takes a short lock, so concurrent publishes never count twice.
    /// Returns the totals it published.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    /// let cache = Cache::<u8, u8>::builder("c").max_entries(8).build()?;
    /// cache.insert(1, 1);
    /// let published = cache.publish();
    /// assert_eq!(published.inserts, 1);
    /// # Ok(()) }
    /// ```
    pub fn publish(&self) -> CacheStats {
        let mut published = self.shared.published.lock();
        let now = self.shared.counters.snapshot();
        let delta = now.since(&published);
        self.shared.metrics.publish(&delta, &now, self.inner.entry_count(), self.inner.weighted_size());
        *published = now;
        now
    }

    /// Runs moka's pending work (admission, eviction, expiry: its
    /// `run_pending_tasks`), then [publishes](Cache::publish) the metrics.
    ///
    /// Call it periodically (every few seconds) so the gauges are fresh and
    /// expired entries are dropped even when the cache is idle.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    /// let cache = Cache::builder("c").max_entries(2).build()?;
    /// for k in 0..10u32 {
    ///     cache.insert(k, k);
    /// }
    /// cache.maintain();
    /// assert_eq!(cache.entry_count(), 2);
    /// assert_eq!(cache.stats().evictions.size, 8);
    /// # Ok(()) }
    /// ```
    pub fn maintain(&self) -> CacheStats {
        self.inner.run_pending_tasks();
        self.publish()
    }
}
