//! OTLP/HTTP push beside the Prometheus endpoint (feature `otlp`).
//!
//! [`OtlpExporter::install`] installs a fanout of two recorders as the global
//! `metrics` recorder: the Prometheus one of [`PrometheusExporter`], unchanged,
//! and an OpenTelemetry bridge (metrics-opentelemetry) whose SDK meter provider
//! pushes OTLP/HTTP protobuf every interval. One handle per series and per
//! recorder, so no series is duplicated.
//!
//! # Names
//!
//! Instruments keep the Prometheus names (`tidepool_pool_acquires_total`,
//! `tidepool_pool_wait_seconds`, …), so a receiver that stores OTLP names
//! as-is shows the series the scrape shows. Receivers that translate OTLP
//! names to Prometheus conventions (Prometheus' OTLP receiver,
//! VictoriaMetrics' `-opentelemetry.usePrometheusNaming`) add a unit suffix
//! and `_total` only when the name does not end with them already; the bridge
//! therefore sends the unit `s` for seconds and **no** unit for counts (the
//! OTel unit `1` would add `_ratio` to every count gauge). Either way the
//! receiver yields the Prometheus path's names: one dashboard serves both.
//!
//! Every `*_seconds` histogram is aggregated into explicit buckets equal to
//! [`SECONDS_BUCKETS`](crate::pool::metrics::SECONDS_BUCKETS) (the SDK's default
//! bounds, 0 to 10 000, are meant for milliseconds), so the receiver has the
//! same `_bucket{le=…}` series as the scrape.
//!
//! # Resource
//!
//! `service.name` is the job (Prometheus' OTLP receiver makes it `job`) and
//! `service.instance.id` the instance (`instance`): by default the
//! Prometheus exporter's `job` and `instance` global labels, else
//! [`DEFAULT_JOB`](super::DEFAULT_JOB) and no instance. Each global label
//! of the Prometheus exporter becomes a resource attribute too, so a
//! receiver that turns resource attributes into labels (VictoriaMetrics)
//! also shows `job` and `instance`: the same run has the same `job` and
//! `instance` on every path.
//!
//! The transport is tidepool's own small HTTP/1.1 client: plain `http://` only.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_opentelemetry::{OpenTelemetryMetrics, OpenTelemetryRecorder};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::metrics::{
    Aggregation, Instrument, InstrumentKind, PeriodicReader, SdkMeterProvider, Stream,
};
use opentelemetry_sdk::Resource;

use super::{ExportError, PrometheusExporter, PrometheusHandle};

/// Builder for the Prometheus + OTLP fanout.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tidepool::export::{OtlpExporter, PrometheusExporter};
/// let otlp = OtlpExporter::new("http://127.0.0.1:8428/opentelemetry/v1/metrics")?
///     .instance("nightly")
///     .install(PrometheusExporter::new().without_listener())?;
/// // ... build pools, run ...
/// otlp.shutdown()?; // the last push
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "call install() to start the exporter"]
pub struct OtlpExporter {
    url: String,
    endpoint: crate::http::Endpoint,
    interval: Duration,
    service: Option<String>,
    instance: Option<String>,
}

impl OtlpExporter {
    /// Pushes to `url`, the full OTLP/HTTP metrics URL (for VictoriaMetrics
    /// `http://HOST:8428/opentelemetry/v1/metrics`, for a collector
    /// `http://HOST:4318/v1/metrics`), every 10 s.
    ///
    /// # Errors
    ///
    /// [`ExportError::Exporter`] for a URL that is not plain `http://` or does
    /// not resolve.
    pub fn new(url: &str) -> Result<OtlpExporter, ExportError> {
        let endpoint =
            crate::http::Endpoint::parse(url).map_err(|e| ExportError::Exporter(format!("otlp URL {e}")))?;
        Ok(OtlpExporter {
            url: url.to_string(),
            endpoint,
            interval: Duration::from_secs(10),
            service: None,
            instance: None,
        })
    }

    /// Pushes every `every` instead of every 10 s.
    pub fn interval(mut self, every: Duration) -> Self {
        self.interval = every;
        self
    }

    /// `service.name` (default: the Prometheus exporter's `job` global
    /// label, else `tidepool`).
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }

    /// `service.instance.id` (default: the Prometheus exporter's `instance`
    /// global label, else none).
    pub fn instance(mut self, id: impl Into<String>) -> Self {
        self.instance = Some(id.into());
        self
    }

    /// Installs the fanout globally: `prometheus` as it would install alone,
    /// plus the OTLP push. Its global labels become resource attributes.
    ///
    /// # Errors
    ///
    /// As [`PrometheusExporter::install`], and [`ExportError::Exporter`] if the
    /// OTLP exporter cannot be built.
    pub fn install(self, prometheus: PrometheusExporter) -> Result<OtlpHandle, ExportError> {
        let global = |name: &str| {
            prometheus.global_labels.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.clone())
        };
        let service =
            self.service.clone().or_else(|| global("job")).unwrap_or_else(|| super::DEFAULT_JOB.into());
        let mut attributes = vec![KeyValue::new("service.name", service)];
        if let Some(instance) = self.instance.clone().or_else(|| global("instance")) {
            attributes.push(KeyValue::new("service.instance.id", instance));
        }
        for (key, value) in &prometheus.global_labels {
            attributes.push(KeyValue::new(key.clone(), value.clone()));
        }
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_http_client(Transport { endpoint: self.endpoint.clone() })
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(self.url.clone())
            .with_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ExportError::Exporter(format!("otlp {}: {e}", self.url)))?;
        let reader = PeriodicReader::builder(exporter).with_interval(self.interval).build();
        let provider = SdkMeterProvider::builder()
            .with_resource(Resource::builder_empty().with_attributes(attributes).build())
            .with_view(seconds_buckets)
            .with_reader(reader)
            .build();
        let bridge = OpenTelemetryRecorder::new(OpenTelemetryMetrics::new(provider.meter("tidepool")));
        let bridge = PrometheusUnits(bridge);
        let prometheus = prometheus.install_with(move |recorder| {
            metrics_util::layers::FanoutBuilder::default().add_recorder(recorder).add_recorder(bridge).build()
        })?;
        Ok(OtlpHandle { prometheus, provider: Arc::new(provider), url: self.url })
    }
}

/// The running fanout: the Prometheus handle and the OTLP meter provider.
/// Dropping it pushes once more and stops the push.
#[derive(Debug)]
pub struct OtlpHandle {
    prometheus: PrometheusHandle,
    provider: Arc<SdkMeterProvider>,
    url: String,
}

impl OtlpHandle {
    /// The Prometheus side, as [`PrometheusExporter::install`] returns it.
    pub fn prometheus(&self) -> &PrometheusHandle {
        &self.prometheus
    }

    /// Pushes every series now (blocks until the receiver answered).
    ///
    /// # Errors
    ///
    /// [`ExportError::Exporter`] when the push failed.
    pub fn flush(&self) -> Result<(), ExportError> {
        self.provider.force_flush().map_err(|e| ExportError::Exporter(format!("otlp {}: {e}", self.url)))
    }

    /// Pushes a last time and stops the periodic push (the end of a run).
    ///
    /// # Errors
    ///
    /// [`ExportError::Exporter`] when the last push failed.
    pub fn shutdown(self) -> Result<(), ExportError> {
        self.provider.shutdown().map_err(|e| ExportError::Exporter(format!("otlp {}: {e}", self.url)))
    }
}

impl Drop for OtlpHandle {
    fn drop(&mut self) {
        // Already shut down by `shutdown` in the usual case: that error is
        // expected and not worth a word.
        let _ = self.provider.shutdown();
    }
}

/// Explicit `SECONDS_BUCKETS` for every `*_seconds` histogram.
fn seconds_buckets(instrument: &Instrument) -> Option<Stream> {
    if instrument.kind() != InstrumentKind::Histogram || !instrument.name().ends_with("_seconds") {
        return None;
    }
    Stream::builder()
        .with_aggregation(Aggregation::ExplicitBucketHistogram {
            boundaries: crate::pool::metrics::SECONDS_BUCKETS.to_vec(),
            record_min_max: false,
        })
        .build()
        .ok()
}

/// The bridge, with units that do not rename series in a receiver's
/// Prometheus translation: `Unit::Count` (OTel `1`, which would add `_ratio`)
/// is sent as no unit.
struct PrometheusUnits(OpenTelemetryRecorder);

impl PrometheusUnits {
    fn unit(unit: Option<Unit>) -> Option<Unit> {
        unit.filter(|u| *u != Unit::Count)
    }
}

impl Recorder for PrometheusUnits {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(key, Self::unit(unit), description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(key, Self::unit(unit), description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(key, Self::unit(unit), description);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.register_gauge(key, metadata)
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.register_histogram(key, metadata)
    }
}

/// OTLP over tidepool's HTTP/1.1 client. The SDK's periodic reader runs the
/// export on its own thread, so a blocking send is fine there.
struct Transport {
    endpoint: crate::http::Endpoint,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Transport {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/x-protobuf")
            .to_string();
        let (status, body) = self.endpoint.exchange("POST", "", &content_type, request.body())?;
        let response = http::Response::builder().status(status).body(bytes::Bytes::from(body))?;
        Ok(response)
    }
}
