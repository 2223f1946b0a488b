//! Exporters at the edge: everything tidepool records goes through the
//! `metrics` facade, and an exporter installed here serves it.
//!
//! [`PrometheusExporter`] installs metrics-exporter-prometheus as the global
//! recorder, with explicit histogram buckets for every `*_seconds` histogram
//! (never summaries), and serves the text exposition on `127.0.0.1:9464` unless
//! told otherwise.
//!
//! With the `otlp` feature, [`OtlpExporter`] installs the same Prometheus
//! recorder behind a fanout that also pushes every metric over OTLP/HTTP, under
//! names that a receiver's Prometheus translation turns into the same series.
//!
//! Install the exporter **before** building pools: metric handles are
//! resolved against the recorder present at build time.
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

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

pub use metrics_exporter_prometheus::PrometheusHandle;

#[cfg(feature = "otlp")]
mod otlp;
#[cfg(feature = "otlp")]
pub use otlp::{OtlpExporter, OtlpHandle};

/// The default scrape address: loopback only.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);

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
}

/// Builder for the Prometheus pull exporter.
#[derive(Debug, Clone)]
#[must_use = "call install() to start the exporter"]
pub struct PrometheusExporter {
    listen: Option<SocketAddr>,
    global_labels: Vec<(String, String)>,
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
            upkeep: Duration::from_secs(5),
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

    /// Adds a label to every series (e.g. `job`, `instance`).
    pub fn global_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.global_labels.push((key.into(), value.into()));
        self
    }

    fn builder(&self) -> Result<PrometheusBuilder, ExportError> {
        let mut builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &crate::pool::metrics::SECONDS_BUCKETS,
            )
            .map_err(|e| ExportError::Exporter(e.to_string()))?
            .upkeep_timeout(self.upkeep);
        for (key, value) in &self.global_labels {
            builder = builder.add_global_label(key, value);
        }
        Ok(builder)
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
        F: FnOnce(metrics_exporter_prometheus::PrometheusRecorder) -> R,
    {
        let Some(addr) = self.listen else {
            let recorder = self.builder()?.build_recorder();
            let handle = recorder.handle();
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
        let built = {
            let _entered = runtime.enter();
            self.builder()?.with_http_listener(addr).build()
        };
        let (recorder, exporter) = built.map_err(|e| match e {
            metrics_exporter_prometheus::BuildError::FailedToCreateHTTPListener(message) => {
                ExportError::Bind { addr, message }
            }
            other => ExportError::Exporter(other.to_string()),
        })?;
        let handle = recorder.handle();
        metrics::set_global_recorder(wrap(recorder)).map_err(|_| ExportError::AlreadyInstalled)?;
        crate::pool::metrics::describe();
        crate::sync::metrics::describe();
        std::thread::Builder::new()
            .name("tidepool-exporter".into())
            .spawn(move || {
                if let Err(e) = runtime.block_on(exporter) {
                    tracing::error!(error = ?e, "prometheus exporter stopped");
                }
            })
            .map_err(|e| ExportError::Exporter(e.to_string()))?;
        Ok(handle)
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
/// assert!(Pushgateway::new("https://example.com", "tidepool", None).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Pushgateway {
    endpoint: crate::http::Endpoint,
    url: String,
    path: String,
}

/// A label value as a Pushgateway path segment (percent-encoded).
fn segment(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Pushgateway {
    /// The group `job` (and `instance`) on the Pushgateway at `url`.
    ///
    /// # Errors
    ///
    /// [`PushError::Url`] for a URL that is not plain HTTP or does not resolve.
    pub fn new(url: &str, job: &str, instance: Option<&str>) -> Result<Pushgateway, PushError> {
        let endpoint = crate::http::Endpoint::parse(url).map_err(PushError::Url)?;
        let mut path = format!("/metrics/job/{}", segment(job));
        if let Some(instance) = instance {
            path += &format!("/instance/{}", segment(instance));
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
