//! [`CacheBuilder`]: every setting of a cache, validated once in `build`.

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::{BuildError, Cache, Capacity};
use crate::clock::Clock;

pub(crate) type Weigher<K, V> = Arc<dyn Fn(&K, &V) -> usize + Send + Sync>;

const MS: Duration = Duration::from_millis(1);
const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// Every setting of a [`Cache`], checked once by [`CacheBuilder::build`].
///
/// | setting | default | allowed |
/// |---|---|---|
/// | `max_entries` or `max_bytes` | required (the last call wins) | ≥ 1 |
/// | `time_to_live`, `time_to_idle` | off | 1 ms ..= 365 days |
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tidepool::cache::Cache;
///
/// let cache = Cache::builder("sessions")
///     .max_entries(10_000)
///     .time_to_idle(Duration::from_secs(15 * 60))
///     .build()?;
/// cache.insert("alice".to_string(), 42u64);
/// assert_eq!(cache.get("alice"), Some(42));
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until build() is called"]
pub struct CacheBuilder<K, V> {
    pub(crate) name: String,
    pub(crate) capacity: Option<Capacity>,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) time_to_live: Option<Duration>,
    pub(crate) time_to_idle: Option<Duration>,
    pub(crate) clock: Clock,
    pub(crate) hash_seed: Option<u64>,
    pub(crate) shards: Option<usize>,
    pub(crate) estimated_entries: Option<u64>,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V> fmt::Debug for CacheBuilder<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("name", &self.name)
            .field("capacity", &self.capacity)
            .field("time_to_live", &self.time_to_live)
            .field("time_to_idle", &self.time_to_idle)
            .finish_non_exhaustive()
    }
}

impl<K, V> CacheBuilder<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(name: impl Into<String>) -> Self {
        CacheBuilder {
            name: name.into(),
            capacity: None,
            weigher: None,
            time_to_live: None,
            time_to_idle: None,
            clock: Clock::system(),
            hash_seed: None,
            shards: None,
            estimated_entries: None,
            _types: PhantomData,
        }
    }

    /// Holds at most `entries` entries, whatever their size.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::{Cache, Capacity};
    ///
    /// let cache = Cache::<u64, u64>::builder("ids").max_entries(1_000).build()?;
    /// assert_eq!(cache.capacity(), Capacity::Entries(1_000));
    /// # Ok(()) }
    /// ```
    pub fn max_entries(mut self, entries: u64) -> Self {
        self.capacity = Some(Capacity::Entries(entries));
        self.weigher = None;
        self
    }

    /// Holds entries whose weights sum to at most `bytes`; `weigher` gives
    /// an entry's size in bytes (it runs once per insert).
    ///
    /// An entry weighs at least 1. An entry heavier than its shard's part
    /// of the capacity is never kept (it counts as a `size` eviction).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    ///
    /// let blobs = Cache::builder("blobs")
    ///     .max_bytes(64 << 20, |key: &String, value: &Vec<u8>| key.len() + value.len())
    ///     .build()?;
    /// blobs.insert("a".to_string(), vec![0u8; 1023]);
    /// assert_eq!(blobs.weighted_size(), 1024);
    /// # Ok(()) }
    /// ```
    pub fn max_bytes<F>(mut self, bytes: u64, weigher: F) -> Self
    where
        F: Fn(&K, &V) -> usize + Send + Sync + 'static,
    {
        self.capacity = Some(Capacity::Bytes(bytes));
        self.weigher = Some(Arc::new(weigher));
        self
    }

    /// Entries expire this long after they were inserted (or replaced).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidepool::cache::Cache;
    ///
    /// let cache = Cache::<u64, u64>::builder("quotes")
    ///     .max_entries(100)
    ///     .time_to_live(Duration::from_secs(30))
    ///     .build();
    /// assert!(cache.is_ok());
    /// ```
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.time_to_live = Some(ttl);
        self
    }

    /// Entries expire this long after they were last read or written.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidepool::cache::Cache;
    ///
    /// let cache = Cache::<u64, u64>::builder("sessions")
    ///     .max_entries(100)
    ///     .time_to_idle(Duration::from_secs(600))
    ///     .build();
    /// assert!(cache.is_ok());
    /// ```
    pub fn time_to_idle(mut self, tti: Duration) -> Self {
        self.time_to_idle = Some(tti);
        self
    }

    /// The clock ages are read from (default: the system clock). The
    /// simulator passes its manual clock, so entries expire in virtual time.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tidepool::cache::Cache;
    /// use tidepool::clock::Clock;
    ///
    /// let (clock, time) = Clock::manual();
    /// let cache = Cache::builder("quotes")
    ///     .max_entries(10)
    ///     .time_to_live(Duration::from_secs(60))
    ///     .clock(clock)
    ///     .build()?;
    /// cache.insert(1u8, 1u8);
    /// time.advance(Duration::from_secs(61));
    /// assert_eq!(cache.get(&1), None); // expired in virtual time
    /// # Ok(()) }
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Hashes keys under this seed instead of a random one. With a fixed
    /// seed (and [`shards`](Self::shards)) the same operations make the same
    /// hits, misses and evictions on every run and every machine.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::cache::Cache;
    /// let run = || -> Result<u64, tidepool::cache::BuildError> {
    ///     let cache = Cache::builder("r").max_entries(64).hash_seed(7).shards(1).build()?;
    ///     for k in 0..10_000u64 {
    ///         if cache.get(&(k * k % 997)).is_none() {
    ///             cache.insert(k * k % 997, k);
    ///         }
    ///     }
    ///     Ok(cache.stats().hits)
    /// };
    /// assert_eq!(run()?, run()?);
    /// # Ok(()) }
    /// ```
    pub fn hash_seed(mut self, seed: u64) -> Self {
        self.hash_seed = Some(seed);
        self
    }

    /// Splits the cache into about this many independently locked shards
    /// (default: 4 per core), rounded down to a power of two that divides
    /// the capacity and leaves each shard at least 32 entries. Each shard
    /// evicts within its own part of the capacity.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// How many entries a byte-bounded cache is expected to hold (default:
    /// one per 64 bytes of capacity). It sizes the shards' tables and the
    /// memory of recently evicted keys, not the bound.
    pub fn estimated_entries(mut self, entries: u64) -> Self {
        self.estimated_entries = Some(entries.max(1));
        self
    }

    fn validate(&self) -> Result<Capacity, BuildError> {
        if self.name.is_empty() {
            return Err(BuildError::EmptyName);
        }
        let capacity = self.capacity.ok_or(BuildError::MissingCapacity)?;
        match capacity {
            Capacity::Entries(0) => return Err(BuildError::ZeroCapacity { setting: "max_entries" }),
            Capacity::Bytes(0) => return Err(BuildError::ZeroCapacity { setting: "max_bytes" }),
            _ => {}
        }
        for (field, value) in [("time_to_live", self.time_to_live), ("time_to_idle", self.time_to_idle)] {
            if let Some(value) = value.filter(|v| *v < MS || *v > YEAR) {
                return Err(BuildError::InvalidDuration { field, value, min: MS, max: YEAR });
            }
        }
        Ok(capacity)
    }

    /// Validates the settings and builds the cache, registering its metric
    /// series (at zero) with the recorder installed now.
    ///
    /// # Errors
    ///
    /// [`BuildError`] for an empty name, a missing or zero capacity, or an
    /// expiry outside 1 ms ..= 365 days.
    ///
    /// # Examples
    ///
    /// ```
    /// use tidepool::cache::{BuildError, Cache};
    ///
    /// let err = Cache::<u64, u64>::builder("c").max_entries(0).build().unwrap_err();
    /// assert_eq!(err, BuildError::ZeroCapacity { setting: "max_entries" });
    /// ```
    pub fn build(self) -> Result<Cache<K, V>, BuildError> {
        let capacity = self.validate()?;
        Ok(Cache::from_builder(self, capacity))
    }
}
