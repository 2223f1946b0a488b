//! [`PoolBuilder`]: every setting of a pool, validated once in `build`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::error::{BoxError, BuildError};
use super::settings::PoolSettings;
use super::sizing::SizingPolicy;
use super::{LeakEvent, Pool};
use crate::clock::Clock;

pub(crate) type SyncFactory<T> = Arc<dyn Fn() -> Result<T, BoxError> + Send + Sync>;
pub(crate) type AsyncFactory<T> = Arc<dyn Fn() -> BoxFuture<'static, Result<T, BoxError>> + Send + Sync>;
pub(crate) type RecycleFn<T> = Box<dyn Fn(&mut T) -> Result<(), BoxError> + Send + Sync>;
pub(crate) type LeakHook = Box<dyn Fn(&LeakEvent) + Send + Sync>;
/// Called with the pool once built (the agent registers its pools so).
pub(crate) type BuiltHook<T> = Box<dyn FnOnce(&Pool<T>) + Send>;

/// How the pool makes objects.
pub(crate) enum Factory<T> {
    Sync(SyncFactory<T>),
    Async(AsyncFactory<T>),
}

/// Every setting of a [`Pool`], checked once by [`PoolBuilder::build`].
///
/// The file-borne settings are a [`PoolSettings`] (set them all at once
/// with [`PoolBuilder::settings`]); the factory, recycle hook, clock, trace
/// and a custom sizing policy are code.
///
/// | setting | default | allowed |
/// |---|---|---|
/// | `min_size` / `max_size` | 4 / 16 | `1 ≤ min ≤ max ≤ 4096` |
/// | `acquire_timeout` | 30 s | 1 ms ..= 24 h |
/// | `max_idle_time`, `max_lifetime` | off | 1 ms ..= 365 days |
/// | `leak_threshold` | off | 1 ms ..= 365 days |
/// | `sizing_interval` | 15 s | 1 ms ..= 24 h |
/// | `maintenance_interval` | 1 s | 1 ms ..= 1 h |
/// | `sizing_policy` | [`UtilizationPolicy`](super::UtilizationPolicy) at 0.75 | any [`SizingPolicy`] |
/// | `clock` | [`Clock::system`] | any [`Clock`] |
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tidepool::pool::Pool;
///
/// let pool = Pool::builder("parsers")
///     .min_size(2)
///     .max_size(8)
///     .acquire_timeout(Duration::from_secs(1))
///     .factory(|| Ok(String::with_capacity(1024)))
///     .recycle(|s: &mut String| { s.clear(); Ok(()) })
///     .build()?;
/// assert_eq!(pool.status().size, 2);
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until build() is called"]
pub struct PoolBuilder<T> {
    pub(crate) name: String,
    pub(crate) settings: PoolSettings,
    /// Whether a system-clock pool starts its maintenance thread.
    pub(crate) maintenance_thread: bool,
    /// A policy set in code; `None`: the one `settings` name.
    pub(crate) policy: Option<Box<dyn SizingPolicy>>,
    pub(crate) factory: Option<Factory<T>>,
    pub(crate) recycle: Option<RecycleFn<T>>,
    pub(crate) on_leak: Option<LeakHook>,
    pub(crate) trace: Option<std::sync::Arc<super::trace::TraceRecorder>>,
    /// Time the hold of one checkout in this many (a power of two).
    pub(crate) hold_sample_every: u64,
    pub(crate) clock: Clock,
    pub(crate) on_built: Option<BuiltHook<T>>,
}

impl<T> fmt::Debug for PoolBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field("maintenance_thread", &self.maintenance_thread)
            .field("policy", &self.policy)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> PoolBuilder<T> {
    pub(crate) fn new(name: impl Into<String>) -> Self {
        PoolBuilder {
            name: name.into(),
            settings: PoolSettings::default(),
            maintenance_thread: true,
            policy: None,
            factory: None,
            recycle: None,
            on_leak: None,
            trace: None,
            hold_sample_every: u64::from(super::DEFAULT_HOLD_SAMPLE_EVERY),
            clock: Clock::system(),
            on_built: None,
        }
    }

    /// Every setting a file can hold at once (see [`PoolSettings`]; the
    /// sizing policy is the one they name unless
    /// [`PoolBuilder::sizing_policy`] comes after).
    ///
    /// ```
    /// use tidepool::pool::{Pool, PoolSettings};
    /// let settings = PoolSettings { min_size: 1, max_size: 2, ..PoolSettings::default() };
    /// let pool = Pool::builder("db").settings(&settings).factory(|| Ok(0u8)).build().unwrap();
    /// assert_eq!((pool.status().min, pool.status().max), (1, 2));
    /// ```
    pub fn settings(mut self, settings: &PoolSettings) -> Self {
        self.settings = settings.clone();
        self.policy = None;
        self
    }

    /// Objects created at build and kept alive (default 4).
    pub fn min_size(mut self, min_size: usize) -> Self {
        self.settings.min_size = min_size;
        self
    }

    /// The most objects the pool will ever hold (default 16, at most 4096).
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.settings.max_size = max_size;
        self
    }

    /// How long `acquire`/`acquire_blocking` wait in line (default 30 s).
    ///
    /// The timeout bounds the wait for an object or a creation slot; a
    /// factory call already started runs to completion.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.settings.acquire_timeout = timeout;
        self
    }

    /// Idle objects older than this are destroyed, down to `min_size`.
    pub fn max_idle_time(mut self, max_idle_time: Duration) -> Self {
        self.settings.max_idle_time = Some(max_idle_time);
        self
    }

    /// Objects older than this are destroyed when next idle (and replaced
    /// up to `min_size`).
    pub fn max_lifetime(mut self, max_lifetime: Duration) -> Self {
        self.settings.max_lifetime = Some(max_lifetime);
        self
    }

    /// A guard held longer than this raises a [`LeakEvent`] and the
    /// `tidepool_pool_leaks_total` counter (HikariCP's
    /// `leakDetectionThreshold`). Checked every maintenance tick.
    pub fn leak_threshold(mut self, threshold: Duration) -> Self {
        self.settings.leak_threshold = Some(threshold);
        self
    }

    /// How often the sizing policy runs (default 15 s).
    pub fn sizing_interval(mut self, interval: Duration) -> Self {
        self.settings.sizing_interval = interval;
        self
    }

    /// How often the background thread runs [`Pool::maintain`] (default 1 s).
    /// `None` starts no thread: call `maintain` yourself (the simulator does).
    /// Only a [`Clock::system`] pool starts the thread.
    pub fn maintenance_interval(mut self, interval: Option<Duration>) -> Self {
        self.maintenance_thread = interval.is_some();
        if let Some(interval) = interval {
            self.settings.maintenance_interval = interval;
        }
        self
    }

    /// A sizing policy of your own, instead of the one the settings name
    /// (default [`UtilizationPolicy`](super::UtilizationPolicy) at 0.75).
    pub fn sizing_policy(mut self, policy: impl SizingPolicy + 'static) -> Self {
        self.policy = Some(Box::new(policy));
        self
    }

    /// The clock every timestamp is read from (default [`Clock::system`]).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// A synchronous factory. It may fail; a panic inside it is caught and
    /// reported as [`super::AcquireError::FactoryPanicked`].
    pub fn factory<F>(mut self, factory: F) -> Self
    where
        F: Fn() -> Result<T, BoxError> + Send + Sync + 'static,
    {
        self.factory = Some(Factory::Sync(Arc::new(factory)));
        self
    }

    /// An asynchronous factory, awaited by `acquire().await` and
    /// `build_async`, and driven to completion on the calling thread by the
    /// blocking paths.
    pub fn async_factory<F, Fut>(mut self, factory: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, BoxError>> + Send + 'static,
    {
        self.factory = Some(Factory::Async(Arc::new(move || factory().boxed())));
        self
    }

    /// Runs on every returned object before it goes back to the idle queue;
    /// an error (or panic) destroys the object instead.
    pub fn recycle<F>(mut self, recycle: F) -> Self
    where
        F: Fn(&mut T) -> Result<(), BoxError> + Send + Sync + 'static,
    {
        self.recycle = Some(Box::new(recycle));
        self
    }

    /// Records one returned object in N into `recorder`, for replay (see
    /// [`super::trace`]).
    pub fn trace(mut self, recorder: std::sync::Arc<super::trace::TraceRecorder>) -> Self {
        self.trace = Some(recorder);
        self
    }

    /// Times the hold of one checkout in `n`, chosen at random (default
    /// [`DEFAULT_HOLD_SAMPLE_EVERY`](super::DEFAULT_HOLD_SAMPLE_EVERY); `n`
    /// is rounded up to a power of two). A timed hold counts `n` times in
    /// `tidepool_pool_use_seconds` and [`Stats::use_total`](super::Stats),
    /// so they estimate every hold; acquires, returns and waits stay exact
    /// counts. The other checkouts read no clock on the direct path.
    ///
    /// Every hold is timed (as if `n = 1`) when the pool's clock is not the
    /// system clock (reading a virtual clock is a load: the simulator stays
    /// exact and reproducible) and when a trace recorder is set.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = tidepool::pool::Pool::builder("db").hold_sample_every(1).factory(|| Ok(0u8)).build()?;
    /// drop(pool.acquire_blocking()?);
    /// assert!(pool.stats().use_total > std::time::Duration::ZERO); // every hold timed
    /// # Ok(()) }
    /// ```
    pub fn hold_sample_every(mut self, n: u32) -> Self {
        self.hold_sample_every = u64::from(n.max(1).checked_next_power_of_two().unwrap_or(1 << 31));
        self
    }

    /// Called once per leak, from the maintenance tick that finds it
    /// (default: a `tracing` warning).
    pub fn on_leak<F>(mut self, hook: F) -> Self
    where
        F: Fn(&LeakEvent) + Send + Sync + 'static,
    {
        self.on_leak = Some(Box::new(hook));
        self
    }

    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        if self.name.is_empty() {
            return Err(BuildError::EmptyName);
        }
        self.settings.validate()?;
        if self.factory.is_none() {
            return Err(BuildError::MissingFactory);
        }
        Ok(())
    }

    /// Validates the settings, prewarms `min_size` objects in parallel, and
    /// starts the maintenance thread.
    ///
    /// An async factory is driven on the calling thread; inside an async
    /// context prefer [`PoolBuilder::build_async`].
    ///
    /// # Errors
    ///
    /// [`BuildError`] for an invalid setting, or [`BuildError::Prewarm`] if
    /// the factory fails for a prewarm object (nothing is leaked: the objects
    /// already made are dropped).
    pub fn build(mut self) -> Result<Pool<T>, BuildError> {
        self.validate()?;
        let on_built = self.on_built.take();
        let pool = Pool::from_builder(self);
        pool.prewarm_blocking()?;
        pool.start_maintenance()?;
        if let Some(hook) = on_built {
            hook(&pool);
        }
        Ok(pool)
    }

    /// Like [`PoolBuilder::build`], awaiting the prewarm objects concurrently.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build`].
    pub async fn build_async(mut self) -> Result<Pool<T>, BuildError> {
        self.validate()?;
        let on_built = self.on_built.take();
        let pool = Pool::from_builder(self);
        pool.prewarm_async().await?;
        pool.start_maintenance()?;
        if let Some(hook) = on_built {
            hook(&pool);
        }
        Ok(pool)
    }
}
