//! [`PoolBuilder`]: every setting of a pool, validated once in `build`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::error::{BoxError, BuildError};
use super::sizing::{SizingPolicy, UtilizationPolicy};
use super::{LeakEvent, Pool, MAX_POOL_SIZE};
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
/// | setting | default | allowed |
/// |---|---|---|
/// | `min_size` / `max_size` | 4 / 16 | `1 ≤ min ≤ max ≤ 4096` |
/// | `acquire_timeout` | 30 s | 1 ms ..= 24 h |
/// | `max_idle_time`, `max_lifetime` | off | 1 ms ..= 365 days |
/// | `leak_threshold` | off | 1 ms ..= 365 days |
/// | `sizing_interval` | 15 s | 1 ms ..= 24 h |
/// | `maintenance_interval` | 1 s | 1 ms ..= 1 h |
/// | `sizing_policy` | [`UtilizationPolicy`] at 0.75 | any [`SizingPolicy`] |
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
    pub(crate) min_size: usize,
    pub(crate) max_size: usize,
    pub(crate) acquire_timeout: Duration,
    pub(crate) max_idle_time: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) leak_threshold: Option<Duration>,
    pub(crate) sizing_interval: Duration,
    pub(crate) maintenance_interval: Option<Duration>,
    pub(crate) policy: Box<dyn SizingPolicy>,
    pub(crate) factory: Option<Factory<T>>,
    pub(crate) recycle: Option<RecycleFn<T>>,
    pub(crate) on_leak: Option<LeakHook>,
    pub(crate) trace: Option<std::sync::Arc<super::trace::TraceRecorder>>,
    pub(crate) clock: Clock,
    pub(crate) on_built: Option<BuiltHook<T>>,
}

impl<T> fmt::Debug for PoolBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("name", &self.name)
            .field("min_size", &self.min_size)
            .field("max_size", &self.max_size)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("max_idle_time", &self.max_idle_time)
            .field("max_lifetime", &self.max_lifetime)
            .field("leak_threshold", &self.leak_threshold)
            .field("sizing_interval", &self.sizing_interval)
            .field("maintenance_interval", &self.maintenance_interval)
            .field("policy", &self.policy)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

const MS: Duration = Duration::from_millis(1);
const DAY: Duration = Duration::from_secs(86_400);
const YEAR: Duration = Duration::from_secs(365 * 86_400);

impl<T: Send + 'static> PoolBuilder<T> {
    pub(crate) fn new(name: impl Into<String>) -> Self {
        PoolBuilder {
            name: name.into(),
            min_size: 4,
            max_size: 16,
            acquire_timeout: Duration::from_secs(30),
            max_idle_time: None,
            max_lifetime: None,
            leak_threshold: None,
            sizing_interval: Duration::from_secs(15),
            maintenance_interval: Some(Duration::from_secs(1)),
            policy: Box::new(UtilizationPolicy::default()),
            factory: None,
            recycle: None,
            on_leak: None,
            trace: None,
            clock: Clock::system(),
            on_built: None,
        }
    }

    /// Objects created at build and kept alive (default 4).
    pub fn min_size(mut self, min_size: usize) -> Self {
        self.min_size = min_size;
        self
    }

    /// The most objects the pool will ever hold (default 16, at most 4096).
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// How long `acquire`/`acquire_blocking` wait in line (default 30 s).
    ///
    /// The timeout bounds the wait for an object or a creation slot; a
    /// factory call already started runs to completion.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Idle objects older than this are destroyed, down to `min_size`.
    pub fn max_idle_time(mut self, max_idle_time: Duration) -> Self {
        self.max_idle_time = Some(max_idle_time);
        self
    }

    /// Objects older than this are destroyed when next idle (and replaced
    /// up to `min_size`).
    pub fn max_lifetime(mut self, max_lifetime: Duration) -> Self {
        self.max_lifetime = Some(max_lifetime);
        self
    }

    /// A guard held longer than this raises a [`LeakEvent`] and the
    /// `tidepool_pool_leaks_total` counter (HikariCP's
    /// `leakDetectionThreshold`). Checked every maintenance tick.
    pub fn leak_threshold(mut self, threshold: Duration) -> Self {
        self.leak_threshold = Some(threshold);
        self
    }

    /// How often the sizing policy runs (default 15 s).
    pub fn sizing_interval(mut self, interval: Duration) -> Self {
        self.sizing_interval = interval;
        self
    }

    /// How often the background thread runs [`Pool::maintain`] (default 1 s).
    /// `None` starts no thread: call `maintain` yourself (the simulator does).
    /// Only a [`Clock::system`] pool starts the thread.
    pub fn maintenance_interval(mut self, interval: Option<Duration>) -> Self {
        self.maintenance_interval = interval;
        self
    }

    /// The sizing policy (default [`UtilizationPolicy`] at 0.75).
    pub fn sizing_policy(mut self, policy: impl SizingPolicy + 'static) -> Self {
        self.policy = Box::new(policy);
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
        if self.min_size < 1 || self.min_size > self.max_size || self.max_size > MAX_POOL_SIZE {
            return Err(BuildError::InvalidSize {
                min: self.min_size,
                max: self.max_size,
                cap: MAX_POOL_SIZE,
            });
        }
        let check = |field: &'static str, value: Duration, min: Duration, max: Duration| {
            if value < min || value > max {
                Err(BuildError::InvalidDuration { field, value, min, max })
            } else {
                Ok(())
            }
        };
        check("acquire_timeout", self.acquire_timeout, MS, DAY)?;
        check("sizing_interval", self.sizing_interval, MS, DAY)?;
        if let Some(v) = self.max_idle_time {
            check("max_idle_time", v, MS, YEAR)?;
        }
        if let Some(v) = self.max_lifetime {
            check("max_lifetime", v, MS, YEAR)?;
        }
        if let Some(v) = self.leak_threshold {
            check("leak_threshold", v, MS, YEAR)?;
        }
        if let Some(v) = self.maintenance_interval {
            check("maintenance_interval", v, MS, Duration::from_secs(3600))?;
        }
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
