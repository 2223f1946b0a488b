//! [`Agent`]: a service's tidepool, started from one [`AgentConfig`].
//!
//! Starting an agent installs the exporters of `[export]` (the Prometheus
//! endpoint with its global labels, OTLP push with the `otlp` feature, the
//! Pushgateway kept for a final push) and starts one thread, `tidepool-agent`,
//! that every `[monitoring] sample_interval` feeds the readings of the
//! agent's pools, the profiled locks, the process's RSS and (when installed)
//! the counting allocator to a [`Monitor`] and publishes the process's
//! `process_*` series ([`process::Publisher`]: resident memory, CPU seconds,
//! threads, open file descriptors), and every `[memory]
//! cleanup_interval` trims idle objects when the process is above the memory
//! pressure threshold. Pools built with [`Agent::pool_builder`] start from
//! `[pool]` and are watched from the moment they are built.
//!
//! With `[monitoring] auto_resolution` on, two remedies are registered:
//! `grow_pool` on a starvation alert (the starving pool's target goes to its
//! `max_size`) and `trim_idle` on a memory alert (every agent pool drops its
//! idle objects above `min_size`). Notified alerts are logged (`tracing`,
//! warn) and counted in `tidepool_alerts_*`.
//!
//! Only one agent (one metrics recorder) can be installed per process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock::Clock;
use crate::config::{AgentConfig, ConfigError};
use crate::export::{ExportError, Exporters, PrometheusHandle, PushError};
use crate::monitor::sampler::Sampler;
use crate::monitor::{actions, WatchedPool};
use crate::monitor::{AlertEvent, AlertSink, Monitor, MonitorReport};
use crate::pool::{Pool, PoolBuilder};
use crate::process;

/// `tidepool_agent_memory_cleanups_total`: cleanups run because the
/// process was above `[memory] memory_pressure_threshold`.
pub const MEMORY_CLEANUPS: &str = "tidepool_agent_memory_cleanups_total";

/// Why an agent could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An exporter could not be installed (address in use, a recorder
    /// already installed, a Pushgateway URL that is not plain HTTP, an OTLP
    /// endpoint without the `otlp` feature) or its last OTLP push failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The final Pushgateway push failed.
    #[error(transparent)]
    Push(#[from] PushError),
    /// The agent's thread could not be started.
    #[error("could not start the agent thread: {0}")]
    Thread(#[source] std::io::Error),
}

type AddToSampler = Box<dyn FnOnce(Sampler) -> Sampler + Send>;

/// What the agent's handle and its thread share.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Pools built since the thread's last sample, for its sampler.
    arriving: Mutex<Vec<AddToSampler>>,
    pools: Mutex<Vec<Arc<dyn WatchedPool>>>,
}

impl Shared {
    fn watch(&self, pool: Arc<dyn WatchedPool>) {
        let for_sampler = Arc::clone(&pool);
        self.arriving.lock().push(Box::new(move |sampler: Sampler| sampler.watch(for_sampler)));
        self.pools.lock().push(pool);
    }

    fn trim_all(&self) -> (usize, Vec<String>) {
        let pools: Vec<Arc<dyn WatchedPool>> = self.pools.lock().clone();
        actions::trim_all(&pools)
    }
}

/// Logs notified alerts (warn).
struct LogSink;

impl AlertSink for LogSink {
    fn deliver(&mut self, event: &AlertEvent) {
        tracing::warn!(kind = %event.kind, subject = %event.subject, severity = %event.severity,
            state = ?event.state, "{}", event.summary);
    }
}

/// A running agent: exporters installed, the monitor sampling.
/// [`Agent::shutdown`] (or dropping it) stops the thread and pushes a last
/// time. The module docs say what it starts.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tidepool::Agent;
///
/// let agent = Agent::from_config("config/tidepool.toml")?; // TIDEPOOL_* overrides applied
/// let parsers = agent.pool_builder("parsers").factory(|| Ok(String::new())).build()?;
/// let _parser = parsers.acquire_blocking()?;
/// // ... serve requests; http://127.0.0.1:9464/metrics shows the pool ...
/// let report = agent.shutdown()?; // final Pushgateway / OTLP push
/// println!("{} alert episodes", report.episodes.len());
/// # Ok(()) }
/// ```
pub struct Agent {
    config: AgentConfig,
    exporters: Option<Exporters>,
    prometheus: PrometheusHandle,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<Monitor>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("listen", &self.config.export.serve.then_some(self.config.export.listen))
            .field("pools", &self.shared.pools.lock().len())
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Loads `path`, applies the process's `TIDEPOOL_<SECTION>__<KEY>`
    /// overrides ([`AgentConfig::with_env`]) and starts the agent.
    ///
    /// ```no_run
    /// let agent = tidepool::Agent::from_config("config/tidepool.toml")?;
    /// # Ok::<(), tidepool::AgentError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`AgentError::Config`] naming the file, line and key or the variable;
    /// otherwise as [`Agent::start`].
    pub fn from_config(path: impl AsRef<std::path::Path>) -> Result<Agent, AgentError> {
        let config = AgentConfig::load(path.as_ref())?.with_env(std::env::vars())?;
        Agent::start(config)
    }

    /// Starts an agent from a validated configuration.
    ///
    /// ```no_run
    /// use tidepool::config::AgentConfig;
    /// let mut config = AgentConfig::default();
    /// config.export.labels.insert("job".into(), "checkout".into());
    /// let agent = tidepool::Agent::start(config)?;
    /// # Ok::<(), tidepool::AgentError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`AgentError::Export`] if the listen address is taken, a recorder is
    /// already installed, the Pushgateway URL is not plain HTTP or OTLP is
    /// configured without the `otlp` feature ([`Exporters::install`]);
    /// [`AgentError::Thread`].
    pub fn start(config: AgentConfig) -> Result<Agent, AgentError> {
        let exporters = Exporters::install(&config.export)?;
        let prometheus = exporters.prometheus().clone();
        metrics::describe_counter!(
            MEMORY_CLEANUPS,
            "Memory cleanups the agent ran because the process was above its memory pressure threshold"
        );
        let cleanups = metrics::counter!(MEMORY_CLEANUPS);
        cleanups.increment(0);
        // The process's series from the start, then at every sample.
        let publisher = process::Publisher::new();
        publisher.publish();

        let shared = Arc::new(Shared::default());
        let mut monitor = Monitor::new(config.monitoring.clone());
        monitor.add_sink(LogSink);
        // The standard remedies, as a soak registers them.
        let pools = Arc::clone(&shared);
        actions::standard(&mut monitor, Arc::new(move || pools.pools.lock().clone()));

        let thread = {
            let shared = Arc::clone(&shared);
            let sample_every = config.monitoring.sample_interval;
            let cleanup_every = config.memory.cleanup_interval;
            let threshold = config.memory.memory_pressure_threshold;
            std::thread::Builder::new()
                .name("tidepool-agent".into())
                .spawn(move || {
                    run(&shared, monitor, &publisher, sample_every, cleanup_every, threshold, &cleanups)
                })
                .map_err(AgentError::Thread)?
        };
        Ok(Agent { config, exporters: Some(exporters), prometheus, shared, thread: Some(thread) })
    }

    /// A pool builder preset with `[pool]`; the pool it builds is watched
    /// by the agent (sampled by the monitor, trimmed on memory pressure, a
    /// target for the remedies). Any setting can still be changed.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let agent = tidepool::Agent::start(tidepool::config::AgentConfig::default())?;
    /// let pool = agent.pool_builder("db").factory(|| Ok(0u32)).build()?;
    /// assert_eq!(pool.status().max, 16);
    /// # Ok(()) }
    /// ```
    pub fn pool_builder<T: Send + 'static>(&self, name: impl Into<String>) -> PoolBuilder<T> {
        let mut builder = self.config.pool.configure(Pool::builder(name));
        let shared = Arc::clone(&self.shared);
        builder.on_built = Some(Box::new(move |pool: &Pool<T>| shared.watch(Arc::new(pool.clone()))));
        builder
    }

    /// Watches a pool built some other way (the agent keeps a handle to it
    /// until it stops).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let agent = tidepool::Agent::start(tidepool::config::AgentConfig::default())?;
    /// let pool = tidepool::pool::Pool::builder("cache").factory(|| Ok(0u8)).build()?;
    /// agent.watch(&pool);
    /// # Ok(()) }
    /// ```
    pub fn watch<T: Send + 'static>(&self, pool: &Pool<T>) {
        self.shared.watch(Arc::new(pool.clone()));
    }

    /// Watches any [`WatchedPool`]: a pool of another library through its
    /// adapter (`tidepool::adapters`, features `r2d2`, `bb8`, `deadpool`).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let agent = tidepool::Agent::start(tidepool::config::AgentConfig::default())?;
    /// let pool = tidepool::pool::Pool::builder("cache").factory(|| Ok(0u8)).build()?;
    /// agent.watch_pool(std::sync::Arc::new(pool));
    /// # Ok(()) }
    /// ```
    pub fn watch_pool(&self, pool: Arc<dyn WatchedPool>) {
        self.shared.watch(pool);
    }

    /// Watches `cache`: its miss ratio becomes a
    /// [`Kind::CacheMissRatio`](crate::monitor::Kind::CacheMissRatio)
    /// reading of the agent's monitor, from the next sample on.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let agent = tidepool::Agent::start(tidepool::config::AgentConfig::default())?;
    /// let cache = tidepool::cache::Cache::<u64, String>::builder("users").max_entries(1000).build()?;
    /// agent.watch_cache(&cache);
    /// # Ok(()) }
    /// ```
    pub fn watch_cache<K, V>(&self, cache: &crate::cache::Cache<K, V>)
    where
        K: std::hash::Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let cache = cache.clone();
        self.shared.arriving.lock().push(Box::new(move |sampler: Sampler| sampler.cache(&cache)));
    }

    /// The configuration the agent runs with.
    ///
    /// ```no_run
    /// let agent = tidepool::Agent::start(Default::default())?;
    /// assert_eq!(agent.config().pool.max_size, 16);
    /// # Ok::<(), tidepool::AgentError>(())
    /// ```
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The Prometheus handle: [`PrometheusHandle::render`] is what `/metrics`
    /// serves.
    ///
    /// ```no_run
    /// let agent = tidepool::Agent::start(Default::default())?;
    /// assert!(agent.prometheus().render().contains("tidepool_alerts_total"));
    /// # Ok::<(), tidepool::AgentError>(())
    /// ```
    pub fn prometheus(&self) -> &PrometheusHandle {
        &self.prometheus
    }

    /// Runs a memory cleanup now, whatever the memory: trims every watched
    /// pool's idle objects above `min_size`; returns how many.
    ///
    /// ```no_run
    /// let agent = tidepool::Agent::start(Default::default())?;
    /// assert_eq!(agent.trim_idle(), 0);
    /// # Ok::<(), tidepool::AgentError>(())
    /// ```
    pub fn trim_idle(&self) -> usize {
        self.shared.trim_all().0
    }

    /// Stops the thread, pushes a last time (Pushgateway, OTLP) and returns
    /// what the monitor saw. The Prometheus endpoint keeps serving (a
    /// process has one recorder for good).
    ///
    /// ```no_run
    /// let agent = tidepool::Agent::start(Default::default())?;
    /// let report = agent.shutdown()?;
    /// assert!(report.episodes.is_empty());
    /// # Ok::<(), tidepool::AgentError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`AgentError::Push`] or [`AgentError::Export`] when a final push
    /// failed (the thread is stopped either way).
    pub fn shutdown(mut self) -> Result<MonitorReport, AgentError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<MonitorReport, AgentError> {
        self.shared.stop.store(true, Ordering::Relaxed);
        let report = match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(monitor)) => monitor.report(),
            Some(Err(_)) => {
                tracing::error!("the tidepool-agent thread panicked");
                MonitorReport::default()
            }
            None => MonitorReport::default(),
        };
        let Some(exporters) = self.exporters.take() else { return Ok(report) };
        let pushed = exporters.push("").map_err(AgentError::from);
        let flushed = exporters.shutdown().map_err(AgentError::from);
        pushed.and(flushed).map(|()| report)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.thread.is_some() {
            if let Err(e) = self.stop() {
                tracing::warn!(error = %e, "tidepool agent: final push failed");
            }
        }
    }
}

/// The agent thread: sample, observe, publish the process, clean up, until
/// told to stop.
fn run(
    shared: &Shared,
    mut monitor: Monitor,
    publisher: &process::Publisher,
    sample_every: Duration,
    cleanup_every: Duration,
    threshold: u64,
    cleanups: &metrics::Counter,
) -> Monitor {
    let clock = Clock::system();
    let mut sampler = Sampler::new().locks().process().allocations();
    let start = clock.now();
    let (mut next_sample, mut next_cleanup) = (start + sample_every, start + cleanup_every);
    while !shared.stop.load(Ordering::Relaxed) {
        let now = clock.now();
        let due = next_sample.min(next_cleanup);
        if now < due {
            std::thread::sleep((due - now).min(Duration::from_millis(50)));
            continue;
        }
        if now >= next_sample {
            // A late tick (a stopped process) does not replay the missed ones.
            next_sample += sample_every;
            if next_sample <= now {
                next_sample = now + sample_every;
            }
            let arriving: Vec<AddToSampler> = std::mem::take(&mut *shared.arriving.lock());
            for add in arriving {
                sampler = add(sampler);
            }
            publisher.publish();
            let readings = sampler.readings();
            let levels = sampler.levels(monitor.config().queue_limit);
            monitor.observe_with_levels(now.saturating_sub(start).as_secs_f64(), &readings, &levels);
        }
        if now >= next_cleanup {
            next_cleanup += cleanup_every;
            if next_cleanup <= now {
                next_cleanup = now + cleanup_every;
            }
            if let Some(p) = process::sample() {
                if p.rss_bytes > threshold {
                    let (n, names) = shared.trim_all();
                    cleanups.increment(1);
                    tracing::info!(rss = p.rss_bytes, threshold, trimmed = n, pools = ?names,
                        "memory above the pressure threshold: trimmed idle objects");
                }
            }
        }
    }
    monitor
}
