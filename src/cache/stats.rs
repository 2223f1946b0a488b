//! Running totals of a cache: [`CacheStats`] and its [`Evictions`].

use std::sync::atomic::{AtomicU64, Ordering};

/// Why an entry left the cache.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cause {
    Size,
    Expired,
    Explicit,
    Replaced,
}

/// Entries that left the cache, by cause (the `cause` label of
/// `tidepool_cache_evictions_total`).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tidepool::cache::Cache;
///
/// let cache = Cache::builder("ex").max_entries(10).build()?;
/// cache.insert(1, "a");
/// cache.insert(1, "b"); // replaces "a"
/// cache.invalidate(&1);
/// let evictions = cache.stats().evictions;
/// assert_eq!((evictions.replaced, evictions.explicit), (1, 1));
/// assert_eq!(evictions.total(), 2);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Evictions {
    /// Evicted to stay within capacity, including new entries the
    /// probationary queue let go before they were asked for again
    /// (`cause="size"`).
    pub size: u64,
    /// Removed because their time to live or time to idle passed
    /// (`cause="expired"`).
    pub expired: u64,
    /// Removed by [`super::Cache::invalidate`] (`cause="explicit"`).
    pub explicit: u64,
    /// Values overwritten by an `insert` of a key already cached
    /// (`cause="replaced"`).
    pub replaced: u64,
}

impl Evictions {
    /// Every cause, for any reason.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tidepool::cache::Evictions::default().total(), 0);
    /// ```
    pub fn total(&self) -> u64 {
        self.size + self.expired + self.explicit + self.replaced
    }

    /// The deltas from `earlier` to `self`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    ///
    /// let cache = Cache::builder("ex").max_entries(10).build()?;
    /// cache.insert(1, 1);
    /// let before = cache.stats().evictions;
    /// cache.invalidate(&1);
    /// assert_eq!(cache.stats().evictions.since(&before).explicit, 1);
    /// # Ok(()) }
    /// ```
    pub fn since(&self, earlier: &Evictions) -> Evictions {
        Evictions {
            size: self.size.saturating_sub(earlier.size),
            expired: self.expired.saturating_sub(earlier.expired),
            explicit: self.explicit.saturating_sub(earlier.explicit),
            replaced: self.replaced.saturating_sub(earlier.replaced),
        }
    }

    /// The counts in [`super::metrics::EVICTION_CAUSES`] order.
    pub(crate) fn as_array(&self) -> [u64; 4] {
        [self.size, self.expired, self.explicit, self.replaced]
    }
}

/// Running totals since the cache was built, read from atomics (never a
/// lock), so it is cheap to call often.
///
/// Fields are read one after another while the cache runs, so a snapshot may
/// be momentarily inconsistent. Take two and subtract ([`CacheStats::since`])
/// for an interval's deltas.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tidepool::cache::Cache;
///
/// let cache = Cache::builder("ex").max_entries(10).build()?;
/// cache.insert(1, "one");
/// assert_eq!(cache.get(&1), Some("one"));
/// assert_eq!(cache.get(&2), None);
/// let stats = cache.stats();
/// assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 1, 1));
/// assert_eq!(stats.hit_ratio(), 0.5);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups that found a value.
    pub hits: u64,
    /// Lookups that found none.
    pub misses: u64,
    /// Values stored: every `insert`, and every `get_or_insert_with` whose
    /// closure ran. An insert the admission policy rejects still counts here
    /// (and as a `size` eviction).
    pub inserts: u64,
    /// Entries that left the cache, by cause.
    pub evictions: Evictions,
}

impl CacheStats {
    /// All lookups: hits plus misses.
    ///
    /// # Examples
    ///
    /// ```
    /// let stats = tidepool::cache::CacheStats::default();
    /// assert_eq!(stats.requests(), 0);
    /// ```
    pub fn requests(&self) -> u64 {
        self.hits + self.misses
    }

    /// Hits over lookups, in `[0, 1]`; 0 before the first lookup (nothing has
    /// been served from the cache yet).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    ///
    /// let cache = Cache::builder("ex").max_entries(10).build()?;
    /// assert_eq!(cache.stats().hit_ratio(), 0.0);
    /// cache.insert(1, 1);
    /// for key in [1, 1, 1, 2] {
    ///     cache.get(&key);
    /// }
    /// assert_eq!(cache.stats().hit_ratio(), 0.75);
    /// # Ok(()) }
    /// ```
    pub fn hit_ratio(&self) -> f64 {
        match self.requests() {
            0 => 0.0,
            all => self.hits as f64 / all as f64,
        }
    }

    /// The deltas from `earlier` to `self` (an interval's totals).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    ///
    /// let cache = Cache::builder("ex").max_entries(10).build()?;
    /// cache.get(&1); // a miss before the interval
    /// let start = cache.stats();
    /// cache.insert(1, 1);
    /// cache.get(&1);
    /// let interval = cache.stats().since(&start);
    /// assert_eq!((interval.hits, interval.misses), (1, 0));
    /// assert_eq!(interval.hit_ratio(), 1.0);
    /// # Ok(()) }
    /// ```
    pub fn since(&self, earlier: &CacheStats) -> CacheStats {
        CacheStats {
            hits: self.hits.saturating_sub(earlier.hits),
            misses: self.misses.saturating_sub(earlier.misses),
            inserts: self.inserts.saturating_sub(earlier.inserts),
            evictions: self.evictions.since(&earlier.evictions),
        }
    }
}

/// The atomics behind [`CacheStats`].
///
/// Not cache-padded: padding measured no gain (with moka, the backend
/// before quick_cache: the relaxed increment added a few percent, padded or
/// not, 1 to 4 threads on 2 cores). Hits dominate, so the contended line is
/// the hit counter itself, which padding cannot help.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
    /// Indexed like [`super::metrics::EVICTION_CAUSES`].
    evictions: [AtomicU64; 4],
}

impl Counters {
    #[inline]
    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn insert(&self) {
        self.inserts.fetch_add(1, Ordering::Relaxed);
    }

    /// Also called from quick_cache's eviction hook, which must not panic.
    #[inline]
    pub(crate) fn evicted(&self, cause: Cause) {
        let index = cause as usize;
        self.evictions[index].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let [size, expired, explicit, replaced] = self.evictions.each_ref().map(load);
        CacheStats {
            hits: load(&self.hits),
            misses: load(&self.misses),
            inserts: load(&self.inserts),
            evictions: Evictions { size, expired, explicit, replaced },
        }
    }
}
