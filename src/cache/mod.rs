//! A bounded, concurrent, instrumented cache on [`quick_cache`], with
//! time read from tidepool's [`Clock`].
//!
//! [`Cache<K, V>`] keeps up to a number of entries, or of bytes as a weigher
//! counts them, with optional time to live and time to idle. Eviction is
//! quick_cache's S3-FIFO variant: new keys enter a small probationary queue
//! and only keys asked for again reach the main one, which keeps one-hit
//! wonders from flushing the hot set (on Zipf keys it sits between LRU and
//! the LFU optimum: `tests/cache.rs`). Hits, misses, inserts and evictions
//! by cause are counted in atomics ([`Cache::stats`]) and published to the
//! `metrics` facade ([`metrics`] lists the names) by [`Cache::publish`].
//!
//! # Time, and reproducible runs
//!
//! Ages are read from the [`Clock`] given to [`CacheBuilder::clock`] (the
//! system clock by default), so a cache driven by the simulator's manual
//! clock expires entries in virtual time. An expired entry is never
//! returned: a lookup that finds one removes it (an `expired` eviction);
//! [`Cache::maintain`] also sweeps the ones nobody asks for.
//!
//! Keys are hashed with foldhash under a seed, random per cache unless
//! [`CacheBuilder::hash_seed`] fixes it; with a fixed seed and shard count
//! the cache's decisions are a pure function of its operations, which is
//! what keeps a virtual-time soak reproducible byte for byte.
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

use std::sync::atomic::{AtomicU64, Ordering};

use ::metrics::SharedString;
use foldhash::fast::FixedState;
use parking_lot::Mutex;

pub use builder::CacheBuilder;
pub use error::BuildError;
pub use stats::{CacheStats, Evictions};

use crate::clock::Clock;
use builder::Weigher;
use metrics::CacheMetrics;
use stats::{Cause, Counters};

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

/// State shared by the cache handles and the eviction listener.
#[derive(Debug)]
struct Shared {
    name: String,
    capacity: Capacity,
    counters: Counters,
    metrics: CacheMetrics,
    /// The totals already handed to the facade; publishing adds the deltas
    /// under this lock, so concurrent publishes never count twice.
    published: Mutex<CacheStats>,
    /// Where ages are read from.
    clock: Clock,
    /// Tells an overwritten key from an evicted one (see [`Listener`]).
    key_hasher: FixedState,
    time_to_live: Option<u64>,
    time_to_idle: Option<u64>,
}

/// A cached value with what its age limits need: when it was stored, and
/// (with a time to idle) when it was last read.
struct Stamped<V> {
    value: V,
    born: u64,
    read: Option<Arc<AtomicU64>>,
}

impl<V: Clone> Clone for Stamped<V> {
    fn clone(&self) -> Self {
        Stamped { value: self.value.clone(), born: self.born, read: self.read.clone() }
    }
}

impl<V> Stamped<V> {
    #[inline]
    fn last_read(&self) -> u64 {
        self.read.as_ref().map_or(self.born, |r| r.load(Ordering::Relaxed))
    }

    #[inline]
    fn touch(&self, now: u64) {
        if let Some(read) = &self.read {
            read.fetch_max(now, Ordering::Relaxed);
        }
    }
}

/// The weigher quick_cache calls: the user's, or 1 an entry. Never 0:
/// quick_cache never evicts a weightless entry.
struct Weigh<K, V>(Option<Weigher<K, V>>);

impl<K, V> Clone for Weigh<K, V> {
    fn clone(&self) -> Self {
        Weigh(self.0.clone())
    }
}

impl<K, V> quick_cache::Weighter<K, Stamped<V>> for Weigh<K, V> {
    #[inline]
    fn weight(&self, key: &K, entry: &Stamped<V>) -> u64 {
        self.0.as_ref().map_or(1, |w| (w(key, &entry.value) as u64).max(1))
    }
}

/// Counts quick_cache's evictions (it only reports those made for room).
#[derive(Clone)]
struct Listener(Arc<Shared>);

impl<K: Hash, V> quick_cache::Lifecycle<K, Stamped<V>> for Listener {
    type RequestState = Request;

    #[inline]
    fn on_evict(&self, request: &mut Request, key: K, _entry: Stamped<V>) {
        // quick_cache hands the value an insert overwrites to this hook
        // too: that one has the inserted key (an insert of a new key only
        // ever evicts others, to make room).
        use std::hash::BuildHasher;
        let replaced = request.inserting.is_some_and(|h| h == self.0.key_hasher.hash_one(&key));
        self.0.counters.evicted(if replaced { Cause::Replaced } else { Cause::Size });
    }
}

/// What a request to quick_cache is doing, for [`Listener`].
#[derive(Default)]
struct Request {
    /// An insert: the hash of its key.
    inserting: Option<u64>,
}

/// The shard count: the one asked for (default 4 per core), as a power of
/// two that divides the bound (so the shards' bounds add up to it exactly)
/// and leaves each shard at least 32 entries.
fn shard_count(asked: Option<usize>, bound: u64, items: u64) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut shards = asked.unwrap_or(cores * 4).max(1).next_power_of_two() as u64;
    while shards > 1 && (bound % shards != 0 || items / shards < 32) {
        shards /= 2;
    }
    shards as usize
}

/// A hash seed that differs per cache and per process.
fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x7469_6465_706f_6f6c_u64)
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A bounded concurrent cache from `K` to `V` with metrics. Cloning is cheap
/// and shares the cache.
///
/// `V` is cloned out on every hit (as in moka and quick_cache): wrap large values in an
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
    inner: Arc<Inner<K, V>>,
    shared: Arc<Shared>,
}

/// quick_cache with tidepool's weigher, hasher and eviction counter.
type Inner<K, V> = quick_cache::sync::Cache<K, Stamped<V>, Weigh<K, V>, FixedState, Listener>;

impl<K, V> Clone for Cache<K, V> {
    fn clone(&self) -> Self {
        Cache { inner: Arc::clone(&self.inner), shared: Arc::clone(&self.shared) }
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
            .field("entry_count", &self.entry_count())
            .field("weighted_size", &self.weighted_size())
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
        let seed = builder.hash_seed.unwrap_or_else(random_seed);
        let shared = Arc::new(Shared {
            key_hasher: FixedState::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15),
            metrics: CacheMetrics::register(&label, capacity),
            name: builder.name,
            capacity,
            counters: Counters::default(),
            published: Mutex::new(CacheStats::default()),
            clock: builder.clock,
            time_to_live: builder.time_to_live.map(nanos),
            time_to_idle: builder.time_to_idle.map(nanos),
        });
        let (bound, items) = match capacity {
            Capacity::Entries(n) => (n, n),
            // A guess at the entry count (it sizes the shards and the ghost
            // queue, not the bound): 64 bytes an entry.
            Capacity::Bytes(n) => (n, builder.estimated_entries.unwrap_or(n / 64).max(1)),
        };
        let shards = shard_count(builder.shards, bound, items);
        let mut options = quick_cache::OptionsBuilder::new();
        options
            .shards(shards)
            .estimated_items_capacity(usize::try_from(items).unwrap_or(usize::MAX))
            .weight_capacity(bound);
        let inner = match options.build() {
            Ok(options) => quick_cache::sync::Cache::with_options(
                options,
                Weigh(builder.weigher),
                FixedState::with_seed(seed),
                Listener(Arc::clone(&shared)),
            ),
            // Both required options are set just above.
            Err(e) => unreachable!("quick_cache options: {e}"),
        };
        Cache { inner: Arc::new(inner), shared }
    }

    /// Whether `entry` is still alive at `now`.
    #[inline]
    fn alive(&self, entry: &Stamped<V>, now: u64) -> bool {
        let s = &self.shared;
        s.time_to_live.is_none_or(|ttl| now.saturating_sub(entry.born) < ttl)
            && s.time_to_idle.is_none_or(|tti| now.saturating_sub(entry.last_read()) < tti)
    }

    /// Now on the cache's clock, read only when an age limit needs it.
    #[inline]
    fn now(&self) -> u64 {
        if self.shared.time_to_live.is_some() || self.shared.time_to_idle.is_some() {
            self.shared.clock.now_nanos()
        } else {
            0
        }
    }

    fn stamp(&self, value: V, now: u64) -> Stamped<V> {
        let read = self.shared.time_to_idle.map(|_| Arc::new(AtomicU64::new(now)));
        Stamped { value, born: now, read }
    }

    /// Removes `key`'s entry if it is still the expired one found
    /// (`born` identifies it), counting an `expired` eviction.
    fn expire<Q>(&self, key: &Q, born: u64)
    where
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
    {
        if self.inner.remove_if(key, |e| e.born == born).is_some() {
            self.shared.counters.evicted(Cause::Expired);
        }
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
        let now = self.now();
        match self.inner.get(key) {
            Some(entry) if self.alive(&entry, now) => {
                entry.touch(now);
                self.shared.counters.hit();
                Some(entry.value)
            }
            Some(expired) => {
                self.expire(key, expired.born);
                self.shared.counters.miss();
                None
            }
            None => {
                self.shared.counters.miss();
                None
            }
        }
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
        use std::hash::BuildHasher;
        let entry = self.stamp(value, self.now());
        // The listener tells an overwritten value (same key) from one
        // evicted for room.
        let mut request = Request { inserting: Some(self.shared.key_hasher.hash_one(&key)) };
        self.inner.insert_with_lifecycle(key, entry, &mut request);
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
    pub fn get_or_insert_with(&self, key: K, init: impl FnOnce() -> V) -> V
    where
        K: Clone,
    {
        use quick_cache::sync::GuardResult;
        let now = self.now();
        let mut init = Some(init);
        loop {
            match self.inner.get_value_or_guard(&key, None) {
                GuardResult::Value(entry) if self.alive(&entry, now) => {
                    entry.touch(now);
                    self.shared.counters.hit();
                    return entry.value;
                }
                // Gone past its age: remove it and ask again (one retry, or
                // a value another caller just stored).
                GuardResult::Value(expired) => self.expire(&key, expired.born),
                GuardResult::Guard(guard) => {
                    let value = match init.take() {
                        Some(init) => init(),
                        // The closure runs once: a second guard can only
                        // follow an expiry found after it ran, never here.
                        None => unreachable!("get_or_insert_with: a second guard"),
                    };
                    let _ = guard.insert(self.stamp(value.clone(), now));
                    self.shared.counters.miss();
                    self.shared.counters.insert();
                    return value;
                }
                GuardResult::Timeout => unreachable!("no timeout was given"),
            }
        }
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
        if self.inner.remove(key).is_some() {
            self.shared.counters.evicted(Cause::Explicit);
        }
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
        self.inner.len() as u64
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
        self.inner.weight()
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
        self.shared.metrics.publish(&delta, &now, self.entry_count(), self.weighted_size());
        *published = now;
        now
    }

    /// Sweeps out entries past their time to live or idle (when one is
    /// set), then [publishes](Cache::publish) the metrics.
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
        if self.shared.time_to_live.is_some() || self.shared.time_to_idle.is_some() {
            let now = self.now();
            let counters = &self.shared.counters;
            self.inner.retain(|_, entry| {
                let keep = self.alive(entry, now);
                if !keep {
                    counters.evicted(Cause::Expired);
                }
                keep
            });
        }
        self.publish()
    }
}
