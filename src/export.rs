//! Exporters at the edge: everything tidepool records goes through the
//! `metrics` facade, and an exporter installed here serves it.
//!
//! [`PrometheusExporter`] installs metrics-exporter-prometheus as the global
//! recorder, with explicit histogram buckets for every `*_seconds` histogram
//! (never summaries), and serves the text exposition on `127.0.0.1:9464` unless
//! told otherwise.
//!
//! With the `otlp` feature, `OtlpExporter` installs the same Prometheus
//! recorder behind a fanout that also pushes every metric over OTLP/HTTP, under
//! names that a receiver's Prometheus translation turns into the same series.
//!
//! Install the exporter **before** building pools: metric handles are
//! resolved against the recorder present at build time.
//!
//! # `job` and `instance`
//!
//! A run of the CLI labels everything it exports with the same `job` and
//! `instance`: every series on /metrics (global labels), the Pushgateway
//! group, the OTLP resource (`service.name`, `service.instance.id`) and the
//! alerts posted to an Alertmanager. The job defaults to [`DEFAULT_JOB`],
//! the instance to [`default_instance`]; [`check_label_value`] is the rule
//! for values given. A scrape keeps them with `honor_labels: true` (without
//! it Prometheus renames them `exported_job` / `exported_instance`).
//!
//! # Examples
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let handle = tidepool::export::PrometheusExporter::new().install()?;
//! let pool = tidepool::pool::Pool::builder("p").factory(|| Ok(0u8)).build()?;
//! assert!(handle.render().contains("tidepool_pool_objects"));
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use serde::{Deserialize, Serialize};

use crate::de::{de_duration, ser_duration};

mod buckets;
mod listener;
pub use listener::{CONNECTION_DEADLINE, HEADER_TIMEOUT, MAX_CONNECTIONS};
#[cfg(feature = "otlp")]
mod otlp;
#[cfg(feature = "otlp")]
pub use otlp::{OtlpExporter, OtlpHandle};

/// The default scrape address: loopback only.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);

/// The `job` of everything a run exports unless told otherwise (`--job`).
pub const DEFAULT_JOB: &str = "tidepool";

/// The longest `job` or `instance` value accepted, in characters.
pub const MAX_LABEL_VALUE_CHARS: usize = 128;

/// Why a `job` or `instance` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelValueError {
    /// The empty string (Prometheus drops a label with an empty value).
    #[error("must not be empty")]
    Empty,
    /// More than [`MAX_LABEL_VALUE_CHARS`] characters.
    #[error("{chars} characters: at most {MAX_LABEL_VALUE_CHARS}")]
    TooLong {
        /// The value's length in characters.
        chars: usize,
    },
    /// A control character (newline, tab, …).
    #[error("contains a control character ({0:?})")]
    Control(char),
}

/// Checks a `job` or `instance` label value: any UTF-8 but the empty
/// string, control characters and more than [`MAX_LABEL_VALUE_CHARS`]
/// characters.
///
/// ```
/// use tidepool::export::check_label_value;
/// assert!(check_label_value("ci-runner-7").is_ok());
/// assert!(check_label_value("büro/7:9464").is_ok());
/// assert!(check_label_value("").is_err());
/// assert!(check_label_value("a\nb").is_err());
/// ```
///
/// # Errors
///
/// The [`LabelValueError`] that says what is wrong.
pub fn check_label_value(value: &str) -> Result<(), LabelValueError> {
    if value.is_empty() {
        return Err(LabelValueError::Empty);
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(LabelValueError::Control(c));
    }
    let chars = value.chars().count();
    if chars > MAX_LABEL_VALUE_CHARS {
        return Err(LabelValueError::TooLong { chars });
    }
    Ok(())
}

/// This machine's host name: `/proc/sys/kernel/hostname`, else `$HOSTNAME`,
/// else `localhost`.
pub fn hostname() -> String {
    let usable = |name: String| {
        let name = name.trim().to_string();
        (check_label_value(&name).is_ok()).then_some(name)
    };
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(usable)
        .or_else(|| std::env::var("HOSTNAME").ok().and_then(usable))
        .unwrap_or_else(|| "localhost".into())
}

/// The `instance` of a process unless told otherwise: `<hostname>:<port>`
/// while it serves /metrics on `port` (one per process, like the target
/// address Prometheus would name it by, but meaningful off the machine),
/// `<hostname>` when it serves nothing.
pub fn default_instance(port: Option<u16>) -> String {
    match port {
        Some(port) => format!("{}:{port}", hostname()),
        None => hostname(),
    }
}

/// `[export]`: the Prometheus endpoint, global labels, and pushes.
///
/// ```
/// let export = tidepool::export::ExportConfig::default();
/// assert!(export.serve && export.labels.is_empty() && export.pushgateway.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// Serve `/metrics` (true).
    pub serve: bool,
    /// Where (`127.0.0.1:9464`, [`DEFAULT_LISTEN`]).
    pub listen: SocketAddr,
    /// Labels on every series (`job`, `instance`, ...); `job` and
    /// `instance` also name the Pushgateway group and the OTLP resource.
    pub labels: BTreeMap<String, String>,
    /// A Pushgateway (`http://HOST:PORT`) that gets every series once more
    /// when the agent stops (none). Also written `push`.
    #[serde(alias = "push", skip_serializing_if = "Option::is_none")]
    pub pushgateway: Option<String>,
    /// The full OTLP/HTTP metrics URL to push to (none; needs the `otlp`
    /// feature).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// How often the OTLP push runs (10 s; 100 ms to 24 h).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub otlp_interval: Duration,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            serve: true,
            listen: DEFAULT_LISTEN,
            labels: BTreeMap::new(),
            pushgateway: None,
            otlp_endpoint: None,
            otlp_interval: Duration::from_secs(10),
        }
    }
}

/// Label names a global label may not take: `le` and `quantile` belong to
/// histograms and summaries in the exposition format, the others are labels
/// of tidepool's own series (a second `pool` label would make both invalid).
pub const RESERVED_LABELS: [&str; 15] = [
    "le", "quantile", "pool", "lock", "mode", "cache", "cause", "kind", "severity", "phase", "result",
    "resource", "path", "reason", "state",
];

impl ExportConfig {
    /// The `job` label, else `tidepool`.
    ///
    /// ```
    /// assert_eq!(tidepool::export::ExportConfig::default().job(), "tidepool");
    /// ```
    pub fn job(&self) -> &str {
        self.labels.get("job").map_or(DEFAULT_JOB, String::as_str)
    }

    /// The `instance` label, if any.
    ///
    /// ```
    /// assert_eq!(tidepool::export::ExportConfig::default().instance(), None);
    /// ```
    pub fn instance(&self) -> Option<&str> {
        self.labels.get("instance").map(String::as_str)
    }

    /// Every range and form check: `(key, message)`.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        for (name, value) in &self.labels {
            let mut chars = name.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with("__");
            if !valid {
                return Err((
                    format!("labels.{name}"),
                    "not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)".into(),
                ));
            }
            if RESERVED_LABELS.contains(&name.as_str()) {
                return Err((
                    format!("labels.{name}"),
                    format!(
                        "reserved: the exposition format or tidepool's own series use it (reserved: {})",
                        RESERVED_LABELS.join(", ")
                    ),
                ));
            }
            if let Err(e) = check_label_value(value) {
                return Err((format!("labels.{name}"), format!("the value {e}")));
            }
        }
        for (key, url) in [("pushgateway", &self.pushgateway), ("otlp_endpoint", &self.otlp_endpoint)] {
            if let Some(url) = url {
                let host = url.strip_prefix("http://").unwrap_or("");
                if host.is_empty() || host.starts_with('/') {
                    return Err((key.into(), format!("`{url}`: need a plain http://HOST:PORT URL")));
                }
            }
        }
        if self.otlp_interval < Duration::from_millis(100) || self.otlp_interval > Duration::from_secs(86_400)
        {
            return Err(("otlp_interval".into(), "must be between 100ms and 24h".into()));
        }
        Ok(())
    }
}

/// The exporters of a process, installed once from an [`ExportConfig`]:
/// the Prometheus recorder with the global labels (serving `/metrics`
/// unless `serve` is off), the OTLP push (feature `otlp`), and the
/// Pushgateway group of `job` and `instance`. The agent, `tidepool demo`
/// and a wall-clock soak all start theirs here.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tidepool::export::{ExportConfig, Exporters};
/// let exporters = Exporters::install(&ExportConfig::default())?; // http://127.0.0.1:9464/metrics
/// let pool = tidepool::pool::Pool::builder("p").factory(|| Ok(0u8)).build()?;
/// assert!(exporters.prometheus().render().contains("tidepool_pool_objects"));
/// exporters.shutdown()?; // the last OTLP push, when there is one
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Exporters {
    prometheus: PrometheusHandle,
    #[cfg(feature = "otlp")]
    otlp: Option<OtlpHandle>,
    pushgateway: Option<Pushgateway>,
}

impl Exporters {
    /// Installs the recorder (and starts serving, and pushing over OTLP)
    /// as `config` says. Install before building pools: their metric
    /// handles bind to the recorder present when they are built.
    ///
    /// # Errors
    ///
    /// [`ExportError::Bind`] when the listen address is taken,
    /// [`ExportError::AlreadyInstalled`] when this process has a recorder,
    /// [`ExportError::Push`] for a Pushgateway URL that is not plain
    /// `http://HOST:PORT`, [`ExportError::OtlpUnavailable`] for an OTLP
    /// endpoint in a build without the `otlp` feature.
    pub fn install(config: &ExportConfig) -> Result<Exporters, ExportError> {
        let mut exporter = PrometheusExporter::new();
        exporter = if config.serve { exporter.listen(config.listen) } else { exporter.without_listener() };
        for (key, value) in &config.labels {
            exporter = exporter.global_label(key, value);
        }
        let pushgateway = match &config.pushgateway {
            Some(url) => Some(Pushgateway::new(url, config.job(), config.instance())?),
            None => None,
        };
        #[cfg(feature = "otlp")]
        let (prometheus, otlp) = match &config.otlp_endpoint {
            Some(url) => {
                let handle = OtlpExporter::new(url)?.interval(config.otlp_interval).install(exporter)?;
                (handle.prometheus().clone(), Some(handle))
            }
            None => (exporter.install()?, None),
        };
        #[cfg(not(feature = "otlp"))]
        let prometheus = match &config.otlp_endpoint {
            Some(_) => return Err(ExportError::OtlpUnavailable),
            None => exporter.install()?,
        };
        Ok(Exporters {
            prometheus,
            #[cfg(feature = "otlp")]
            otlp,
            pushgateway,
        })
    }

    /// The Prometheus handle: [`PrometheusHandle::render`] is what
    /// `/metrics` serves.
    pub fn prometheus(&self) -> &PrometheusHandle {
        &self.prometheus
    }

    /// The Pushgateway group, when the configuration names a gateway.
    pub fn pushgateway(&self) -> Option<&Pushgateway> {
        self.pushgateway.as_ref()
    }

    /// Every live series as a Pushgateway takes them ([`pushable`]).
    pub fn exposition(&self) -> String {
        pushable(self.prometheus.render())
    }

    /// Pushes every live series (and `extra`, exposition text) to the
    /// Pushgateway; nothing without one.
    ///
    /// # Errors
    ///
    /// [`PushError`] when the gateway refused or could not be reached.
    pub fn push(&self, extra: &str) -> Result<(), PushError> {
        match &self.pushgateway {
            Some(group) => group.push(&(self.exposition() + extra)),
            None => Ok(()),
        }
    }

    /// Pushes over OTLP a last time and stops that push (nothing without
    /// one). The Prometheus recorder stays: a process has one for good.
    ///
    /// # Errors
    ///
    /// [`ExportError::Exporter`] when the last OTLP push failed.
    pub fn shutdown(self) -> Result<(), ExportError> {
        #[cfg(feature = "otlp")]
        if let Some(otlp) = self.otlp {
            return otlp.shutdown();
        }
        Ok(())
    }
}

/// An exposition as a Pushgateway takes it: `process_cpu_seconds_total`
/// declared a counter. It is one (it only grows), but the `metrics` facade
/// has only integer counters, so the scrape serves it as a gauge; a
/// Pushgateway refuses a push whose type of a name differs from its own
/// registry's, and its own process_cpu_seconds_total is a counter.
///
/// ```
/// let text = "# TYPE process_cpu_seconds_total gauge\nprocess_cpu_seconds_total 1.5\n";
/// assert!(tidepool::export::pushable(text.into()).starts_with("# TYPE process_cpu_seconds_total counter\n"));
/// ```
pub fn pushable(exposition: String) -> String {
    const GAUGE: &str = "# TYPE process_cpu_seconds_total gauge\n";
    if exposition.contains(GAUGE) {
        exposition.replacen(GAUGE, "# TYPE process_cpu_seconds_total counter\n", 1)
    } else {
        exposition
    }
}

/// Why an exporter could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The listen address could not be bound (in use, or not permitted).
    #[error("cannot serve /metrics on {addr}: {message} (pick another address with --listen)")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The exporter's explanation.
        message: String,
    },
    /// A global recorder is already installed in this process.
    #[error("a metrics recorder is already installed in this process")]
    AlreadyInstalled,
    /// Anything else the exporter reported.
    #[error("prometheus exporter: {0}")]
    Exporter(String),
    /// The Pushgateway URL is not plain `http://HOST:PORT`.
    #[error(transparent)]
    Push(#[from] PushError),
    /// An OTLP endpoint is configured in a build without the `otlp` feature.
    #[error("an OTLP endpoint is set, but this tidepool was built without the `otlp` feature")]
    OtlpUnavailable,
}

/// Builder for the Prometheus pull exporter.
#[derive(Debug, Clone)]
#[must_use = "call install() to start the exporter"]
pub struct PrometheusExporter {
    listen: Option<SocketAddr>,
    global_labels: Vec<(String, String)>,
    /// How often the recorder folds the samples of its own histograms (not
    /// the `*_seconds` ones: those are buckets, see `buckets`) into their
    /// summaries: metrics-exporter-prometheus stores every sample until then.
    upkeep: Duration,
}

impl Default for PrometheusExporter {
    fn default() -> Self {
        Self::new()
    }
}

impl PrometheusExporter {
    /// Serves on [`DEFAULT_LISTEN`].
    pub fn new() -> Self {
        PrometheusExporter {
            listen: Some(DEFAULT_LISTEN),
            global_labels: Vec::new(),
            upkeep: Duration::from_millis(250),
        }
    }

    /// Serves on `addr` instead (only when the user asks for it).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Serves nothing: the recorder is installed and [`PrometheusHandle::render`]
    /// produces the exposition (tests, benchmarks, custom servers).
    pub fn without_listener(mut self) -> Self {
        self.listen = None;
        self
    }

    /// Adds a label to every series (e.g. `job`, `instance`: see the
    /// [module docs](self#job-and-instance)). With the `otlp` feature,
    /// `job` and `instance` also become the OTLP resource's `service.name`
    /// and `service.instance.id`.
    pub fn global_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.global_labels.push((key.into(), value.into()));
        self
    }

    /// The exporter's recorder behind the bucketing layer, and its handle.
    /// `*_seconds` histograms never reach the exporter: the layer keeps them.
    fn recorder(
        &self,
    ) -> (buckets::Bucketed<metrics_exporter_prometheus::PrometheusRecorder>, PrometheusHandle) {
        let mut builder = PrometheusBuilder::new().upkeep_timeout(self.upkeep);
        for (key, value) in &self.global_labels {
            builder = builder.add_global_label(key, value);
        }
        let exporter = builder.build_recorder();
        let buckets = std::sync::Arc::new(buckets::Buckets::new(&self.global_labels));
        let handle =
            PrometheusHandle { exporter: exporter.handle(), buckets: std::sync::Arc::clone(&buckets) };
        (buckets::Bucketed::new(exporter, buckets), handle)
    }

    /// Installs the recorder globally and starts serving.
    ///
    /// The listener runs on its own thread with a single-threaded Tokio
    /// runtime, so the caller needs no runtime.
    ///
    /// # Errors
    ///
    /// [`ExportError::Bind`] if the address is taken, [`ExportError::AlreadyInstalled`]
    /// if another recorder is installed.
    pub fn install(self) -> Result<PrometheusHandle, ExportError> {
        self.install_with(|recorder| recorder)
    }

    /// [`Self::install`], with the global recorder made from the Prometheus
    /// one by `wrap` (a fanout to more recorders).
    pub(crate) fn install_with<R, F>(self, wrap: F) -> Result<PrometheusHandle, ExportError>
    where
        R: metrics::Recorder + Sync + 'static,
        F: FnOnce(buckets::Bucketed<metrics_exporter_prometheus::PrometheusRecorder>) -> R,
    {
        let Some(addr) = self.listen else {
            let (recorder, handle) = self.recorder();
            metrics::set_global_recorder(wrap(recorder)).map_err(|_| ExportError::AlreadyInstalled)?;
            crate::pool::metrics::describe();
            crate::sync::metrics::describe();
            spawn_upkeep(handle.clone(), self.upkeep)?;
            return Ok(handle);
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ExportError::Exporter(e.to_string()))?;
        let listener =
            listener::bind(&runtime, addr).map_err(|e| ExportError::Bind { addr, message: e.to_string() })?;
        let (recorder, handle) = self.recorder();
        metrics::set_global_recorder(wrap(recorder)).map_err(|_| ExportError::AlreadyInstalled)?;
        crate::pool::metrics::describe();
        crate::sync::metrics::describe();
        spawn_upkeep(handle.clone(), self.upkeep)?;
        let served = handle.clone();
        std::thread::Builder::new()
            .name("tidepool-exporter".into())
            .spawn(move || runtime.block_on(listener::serve(listener, served)))
            .map_err(|e| ExportError::Exporter(e.to_string()))?;
        Ok(handle)
    }
}

/// What `/metrics` serves: the exporter's series, and tidepool's bucketed
/// `*_seconds` histograms beside them (recorded into fixed atomic buckets by
/// a recorder layer, never stored sample by sample). Cloning is cheap.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let handle = tidepool::export::PrometheusExporter::new().without_listener().install()?;
/// metrics::histogram!("app_request_seconds").record_many(0.002, 1_000_000);
/// let text = handle.render();
/// assert!(text.contains("app_request_seconds_bucket{le=\"0.0025\"} 1000000"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PrometheusHandle {
    exporter: metrics_exporter_prometheus::PrometheusHandle,
    buckets: std::sync::Arc<buckets::Buckets>,
}

impl std::fmt::Debug for PrometheusHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusHandle").finish_non_exhaustive()
    }
}

impl PrometheusHandle {
    /// Every series in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut text = self.exporter.render();
        text.push_str(&self.buckets.render());
        text
    }

    /// Folds the samples of the exporter's own histograms (those not named
    /// `*_seconds`) into their summaries; an upkeep thread does it every
    /// 250 ms anyway.
    pub fn run_upkeep(&self) {
        self.exporter.run_upkeep();
    }
}

fn spawn_upkeep(handle: PrometheusHandle, every: Duration) -> Result<(), ExportError> {
    std::thread::Builder::new()
        .name("tidepool-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            handle.run_upkeep();
        })
        .map(|_| ())
        .map_err(|e| ExportError::Exporter(e.to_string()))
}

/// Why a push to a Pushgateway failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The URL is not `http://host:port` or does not resolve.
    #[error("pushgateway URL {0}")]
    Url(String),
    /// The Pushgateway refused the request or could not be reached.
    #[error("pushgateway {url}: {message}")]
    Request {
        /// The group's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// One group on a Prometheus Pushgateway, `URL/metrics/job/<job>[/instance/<instance>]`:
/// the way a short-lived CI job hands its metrics to Prometheus.
///
/// ```
/// use tidepool::export::Pushgateway;
/// let group = Pushgateway::new("http://127.0.0.1:9091", "tidepool", Some("runner-7")).unwrap();
/// assert_eq!(group.path(), "/metrics/job/tidepool/instance/runner-7");
/// let group = Pushgateway::new("http://127.0.0.1:9091", "tidepool", Some("ci/7")).unwrap();
/// assert_eq!(group.path(), "/metrics/job/tidepool/instance@base64/Y2kvNw==");
/// assert!(Pushgateway::new("https://example.com", "tidepool", None).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Pushgateway {
    endpoint: crate::http::Endpoint,
    url: String,
    path: String,
}

/// `name/value` as Pushgateway path segments: the value percent-encoded, or,
/// when it holds a `/` (which the gateway would take for a separator even
/// encoded), `name@base64/` and its URL-safe base64.
fn segment(name: &str, value: &str) -> String {
    if value.contains('/') {
        return format!("{name}@base64/{}", base64url(value.as_bytes()));
    }
    let encoded: String = value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{name}/{encoded}")
}

/// RFC 4648 base64 with the URL-safe alphabet, padded.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Pushgateway {
    /// The group `job` (and `instance`) on the Pushgateway at `url`.
    ///
    /// # Errors
    ///
    /// [`PushError::Url`] for a URL that is not plain HTTP or does not resolve.
    pub fn new(url: &str, job: &str, instance: Option<&str>) -> Result<Pushgateway, PushError> {
        let endpoint = crate::http::Endpoint::parse(url).map_err(PushError::Url)?;
        let mut path = format!("/metrics/{}", segment("job", job));
        if let Some(instance) = instance {
            path += &format!("/{}", segment("instance", instance));
        }
        Ok(Pushgateway { endpoint, url: url.trim_end_matches('/').to_string(), path })
    }

    /// The group's path on the gateway.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Replaces the group's metrics with `exposition` (Prometheus text
    /// format; `PUT`).
    ///
    /// # Errors
    ///
    /// [`PushError::Request`] when the gateway cannot be reached or refuses.
    pub fn push(&self, exposition: &str) -> Result<(), PushError> {
        self.endpoint
            .request("PUT", &self.path, "text/plain; version=0.0.4", exposition)
            .map(|_| ())
            .map_err(|message| PushError::Request { url: format!("{}{}", self.url, self.path), message })
    }

    /// Deletes the group (`DELETE`).
    ///
    /// # Errors
    ///
    /// [`PushError::Request`] when the gateway cannot be reached or refuses.
    pub fn delete(&self) -> Result<(), PushError> {
        self.endpoint
            .request("DELETE", &self.path, "text/plain", "")
            .map(|_| ())
            .map_err(|message| PushError::Request { url: format!("{}{}", self.url, self.path), message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc_4648() {
        // RFC 4648, section 10, with the URL-safe alphabet.
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64url(plain.as_bytes()), encoded);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8=");
    }

    #[test]
    fn label_values_follow_the_rule() {
        assert_eq!(check_label_value(""), Err(LabelValueError::Empty));
        assert_eq!(check_label_value("a\tb"), Err(LabelValueError::Control('\t')));
        let long = "é".repeat(MAX_LABEL_VALUE_CHARS + 1);
        assert_eq!(
            check_label_value(&long),
            Err(LabelValueError::TooLong { chars: MAX_LABEL_VALUE_CHARS + 1 })
        );
        assert!(check_label_value(&"é".repeat(MAX_LABEL_VALUE_CHARS)).is_ok());
        assert!(check_label_value("runner 7 / eu-west").is_ok());
    }

    #[test]
    fn the_default_instance_is_the_host_and_the_port() {
        let host = hostname();
        assert!(check_label_value(&host).is_ok(), "{host:?}");
        assert_eq!(default_instance(Some(9464)), format!("{host}:9464"));
        assert_eq!(default_instance(None), host);
    }

    #[test]
    fn pushgateway_groups_encode_their_labels() {
        let group = Pushgateway::new("http://127.0.0.1:9091", "fleet", Some("host:9464")).expect("group");
        assert_eq!(group.path(), "/metrics/job/fleet/instance/host%3A9464");
        let group = Pushgateway::new("http://127.0.0.1:9091", "a/b", None).expect("group");
        assert_eq!(group.path(), "/metrics/job@base64/YS9i");
    }
}
