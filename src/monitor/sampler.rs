//! Readings from live objects — pools, the profiled locks, the process —
//! and a thread that feeds them to a [`Monitor`] on the real clock.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tidepool::monitor::{sampler::Sampler, Kind, Monitor, MonitorConfig};
//!
//! let pool = tidepool::pool::Pool::builder("db").max_size(4).factory(|| Ok(0u8)).build()?;
//! let mut sampler = Sampler::new().pool(&pool).locks().process();
//! let readings = sampler.readings();
//! assert!(readings.iter().any(|r| r.kind == Kind::PoolWait && r.subject == "db"));
//!
//! // Or let a thread sample every interval:
//! let running = sampler.spawn(Monitor::new(MonitorConfig::default()), Duration::from_millis(10))?;
//! std::thread::sleep(Duration::from_millis(50));
//! let monitor = running.stop();
//! assert!(monitor.report().episodes.is_empty());
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{Kind, Level, Monitor, Reading, Resource, WatchedPool};
use crate::clock::Clock;
use crate::pool::{Pool, Status, WaitHistogram};

/// The quantile of an interval's waits the pool wait signal reads.
pub const POOL_WAIT_QUANTILE: f64 = 0.99;

/// Turns live objects into [`Reading`]s, one set per call. A soak feeds
/// its monitor through a `Sampler` on its pool too, so the agent and the
/// soak judge the same numbers.
///
/// * per pool: [`Kind::PoolWait`] — the p99 of the waits since the last
///   call, read off the pool's own bucket histogram
///   ([`Pool::wait_histogram`], timed-out acquires counted at the acquire
///   timeout) as Prometheus' `histogram_quantile` would — and
///   [`Kind::Starvation`] ([`starvation`]);
/// * per profiled lock and mode: [`Kind::LockContention`], the mean wait
///   per acquisition since the last call;
/// * per cache: [`Kind::CacheMissRatio`], misses over lookups since the
///   last call (no reading for an interval without lookups);
/// * the process: [`Kind::Memory`] (RSS), subject `process`.
#[derive(Default)]
pub struct Sampler {
    pools: Vec<Arc<dyn WatchedPool>>,
    locks: bool,
    process: bool,
    last_pool: HashMap<String, WaitHistogram>,
    last_lock: HashMap<String, (u64, Duration)>,
    allocations: bool,
    /// (when, bytes allocated) at the last call.
    last_alloc: Option<(Duration, u64)>,
    clock: Clock,
    /// Per cache: its name, its totals, and the totals at the last call.
    caches: Vec<(String, CacheTotals, crate::cache::CacheStats)>,
}

/// Reads a cache's running totals (whatever its key and value types).
type CacheTotals = Box<dyn Fn() -> crate::cache::CacheStats + Send>;

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler").field("pools", &self.pools.len()).field("locks", &self.locks).finish()
    }
}

impl Sampler {
    /// A sampler watching nothing yet.
    pub fn new() -> Sampler {
        Sampler::default()
    }

    /// Watches `pool` (a shared handle is kept).
    pub fn pool<T: Send + 'static>(self, pool: &Pool<T>) -> Sampler {
        self.watch(Arc::new(pool.clone()))
    }

    /// Watches any [`WatchedPool`] (a pool of another library, through its
    /// adapter).
    pub fn watch(mut self, pool: Arc<dyn WatchedPool>) -> Sampler {
        self.pools.push(pool);
        self
    }

    /// Watches `cache`: [`Kind::CacheMissRatio`] each interval with lookups.
    pub fn cache<K, V>(mut self, cache: &crate::cache::Cache<K, V>) -> Sampler
    where
        K: std::hash::Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let cache = cache.clone();
        self.caches.push((cache.name().to_string(), Box::new(move || cache.publish()), Default::default()));
        self
    }

    /// Watches every profiled lock ([`crate::sync::registry`]).
    pub fn locks(mut self) -> Sampler {
        self.locks = true;
        self
    }

    /// Watches the process's RSS.
    pub fn process(mut self) -> Sampler {
        self.process = true;
        self
    }

    /// Watches the heap through [`super::alloc::CountingAllocator`], when
    /// the binary installed it: [`Kind::AllocationRate`] (bytes allocated
    /// per second since the last call) and [`Kind::Memory`] of subject
    /// `heap` (live bytes). Without the allocator: no readings.
    pub fn allocations(mut self) -> Sampler {
        self.allocations = true;
        self
    }

    /// The readings since the last call (the first call measures from the
    /// objects' creation).
    pub fn readings(&mut self) -> Vec<Reading> {
        let mut out = Vec::new();
        for pool in &self.pools {
            let (status, waits) = (pool.status(), pool.waits());
            let interval = match self.last_pool.insert(pool.name().to_string(), waits) {
                Some(before) => waits.since(&before),
                None => waits,
            };
            out.push(Reading::new(Kind::PoolWait, pool.name(), interval.quantile(POOL_WAIT_QUANTILE)));
            out.push(Reading::new(Kind::Starvation, pool.name(), starvation(&status)));
        }
        for (name, stats, last) in &mut self.caches {
            let now = stats();
            let interval = now.since(last);
            *last = now;
            if interval.requests() > 0 {
                let misses = interval.misses as f64 / interval.requests() as f64;
                out.push(Reading::new(Kind::CacheMissRatio, name.as_str(), misses));
            }
        }
        if self.locks {
            for lock in crate::sync::registry().snapshot() {
                let key = format!("{}:{}", lock.name, lock.mode.as_str());
                let now = (lock.acquisitions, lock.wait_total);
                let (a0, w0) = self.last_lock.insert(key, now).unwrap_or((0, Duration::ZERO));
                let acquisitions = now.0.saturating_sub(a0);
                let waited = now.1.saturating_sub(w0);
                let mean = if acquisitions == 0 { 0.0 } else { waited.as_secs_f64() / acquisitions as f64 };
                out.push(Reading::new(Kind::LockContention, lock.name.to_string(), mean));
            }
        }
        // The heap before the RSS: the leak verdict follows the first memory
        // subject it sees, and live heap bytes move with a leak alone.
        if self.allocations {
            if let Some(c) = super::alloc::counters() {
                let now = self.clock.now();
                if let Some((then, before)) = self.last_alloc.replace((now, c.allocated_bytes)) {
                    let secs = now.saturating_sub(then).as_secs_f64();
                    if secs > 0.0 {
                        let rate = c.allocated_bytes.saturating_sub(before) as f64 / secs;
                        out.push(Reading::new(Kind::AllocationRate, "heap", rate));
                    }
                }
                out.push(Reading::new(Kind::Memory, "heap", c.live_bytes() as f64));
            }
        }
        if self.process {
            if let Some(p) = crate::process::sample() {
                out.push(Reading::new(Kind::Memory, "process", p.rss_bytes as f64));
            }
        }
        out
    }

    /// The budgets of every watched pool, for the exhaustion forecasts: its
    /// size against its max ([`Resource::PoolSize`]) and its waiting callers
    /// against `queue_limit`, else its max ([`Resource::Queue`]).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::monitor::{sampler::Sampler, Resource};
    /// let pool = tidepool::pool::Pool::builder("db").max_size(4).factory(|| Ok(0u8)).build()?;
    /// let levels = Sampler::new().pool(&pool).levels(None);
    /// assert!(levels.iter().any(|l| l.resource == Resource::Queue && l.limit == 4.0));
    /// # Ok(()) }
    /// ```
    pub fn levels(&self, queue_limit: Option<f64>) -> Vec<Level> {
        let mut out = Vec::new();
        for pool in &self.pools {
            let status = pool.status();
            let max = status.max as f64;
            out.push(Level::new(Resource::PoolSize, pool.name(), status.size as f64, max));
            out.push(Level::new(
                Resource::Queue,
                pool.name(),
                status.pending as f64,
                queue_limit.unwrap_or(max),
            ));
        }
        out
    }

    /// Samples every `interval` on a thread of its own, feeding `monitor`
    /// the readings and the [levels](Sampler::levels),
    /// until [`RunningMonitor::stop`].
    ///
    /// # Errors
    ///
    /// The OS refused the thread.
    pub fn spawn(mut self, mut monitor: Monitor, interval: Duration) -> std::io::Result<RunningMonitor> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let clock = Clock::system();
        let handle = std::thread::Builder::new().name("tidepool-monitor".into()).spawn(move || {
            let mut next = interval;
            while !flag.load(Ordering::Relaxed) {
                let now = clock.now();
                if now < next {
                    std::thread::sleep((next - now).min(Duration::from_millis(50)));
                    continue;
                }
                next += interval;
                let readings = self.readings();
                let levels = self.levels(monitor.config().queue_limit);
                monitor.observe_with_levels(now.as_secs_f64(), &readings, &levels);
            }
            monitor
        })?;
        Ok(RunningMonitor { stop, handle })
    }
}

/// `in_use / max` while callers wait, else 0.
pub fn starvation(status: &Status) -> f64 {
    if status.pending == 0 || status.max == 0 {
        0.0
    } else {
        status.in_use as f64 / status.max as f64
    }
}

/// A monitor sampling on its own thread.
#[derive(Debug)]
pub struct RunningMonitor {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Monitor>,
}

impl RunningMonitor {
    /// Stops sampling and returns the monitor (for its report).
    ///
    /// # Panics
    ///
    /// If the sampling thread panicked (a bug), the panic is resumed here.
    pub fn stop(self) -> Monitor {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.join() {
            Ok(monitor) => monitor,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}
