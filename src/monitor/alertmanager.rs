//! Delivery of alert events to a Prometheus Alertmanager
//! (`POST /api/v2/alerts`).
//!
//! Each alert is the label set `{alertname="Tidepool<Kind>", kind, subject,
//! severity}` plus any extra labels (`job`, `instance`), with the event's
//! summary as an annotation. A firing alert is posted with `startsAt`; when
//! its severity changes, the old label set is posted again with `endsAt`
//! (resolved) and the new one fired; a resolved alert gets `endsAt`. The
//! times are the wall clock's, whatever the monitor's time axis (a virtual
//! soak's alerts reach Alertmanager as they are decided).
//!
//! The request is plain HTTP/1.1 (`crate::http`): one small POST per event
//! to an Alertmanager on the local network. `https://` URLs are refused.
//!
//! Delivery runs on a thread of its own behind a bounded queue
//! ([`QUEUE`] events): the monitor only queues, so a slow or dead
//! Alertmanager never stalls it or the run; events that find the queue full
//! are dropped and counted ([`Alertmanager::dropped`]). Dropping the sink
//! waits up to [`FLUSH`] for the queue to drain, so the last events of a run
//! (its resolutions) are sent.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::http::{Courier, DeliveryStats};

/// Events queued for delivery at most.
pub const QUEUE: usize = 1024;

/// How long dropping an [`Alertmanager`] waits for its queue to drain.
pub const FLUSH: Duration = Duration::from_secs(15);

use super::{AlertEvent, AlertSink, AlertState, Severity};

/// Why an Alertmanager URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertmanagerError {
    /// Not `http://host:port[/path]`, or the host does not resolve.
    #[error("alertmanager URL {0}")]
    Url(String),
}

/// Posts notified alert events to an Alertmanager.
///
/// ```
/// use tidepool::monitor::alertmanager::Alertmanager;
/// assert!(Alertmanager::new("http://127.0.0.1:9093").is_ok());
/// assert!(Alertmanager::new("https://example.com").is_err());
/// ```
#[derive(Debug)]
pub struct Alertmanager {
    endpoint: crate::http::Endpoint,
    labels: Vec<(String, String)>,
    stats: Arc<DeliveryStats>,
    /// The delivery thread, started with the first event.
    courier: Option<Courier<serde_json::Value>>,
}

impl Alertmanager {
    /// A sink posting to the Alertmanager at `url` (`http://host:port`).
    ///
    /// # Errors
    ///
    /// [`AlertmanagerError`] for a URL that is not plain HTTP or does not resolve.
    pub fn new(url: &str) -> Result<Alertmanager, AlertmanagerError> {
        let endpoint = crate::http::Endpoint::parse(url).map_err(AlertmanagerError::Url)?;
        Ok(Alertmanager { endpoint, labels: Vec::new(), stats: Arc::default(), courier: None })
    }

    /// Posts that failed (the Alertmanager refused or could not be reached).
    pub fn failures(&self) -> u64 {
        self.stats.failures()
    }

    /// Events dropped because the delivery queue was full.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped()
    }

    /// The last delivery error.
    pub fn last_error(&self) -> Option<String> {
        self.stats.last_error()
    }

    /// Queues `alerts` for the delivery thread (started on first use).
    fn send(&mut self, alerts: serde_json::Value) {
        if self.courier.is_none() {
            self.courier = self.start();
        }
        let queued = match &self.courier {
            Some(courier) => courier.offer(alerts),
            None => {
                self.stats.drop_one();
                false
            }
        };
        if !queued && self.stats.dropped() == 1 {
            tracing::warn!("the Alertmanager delivery queue is full: alerts dropped (counted)");
        }
    }

    fn start(&self) -> Option<Courier<serde_json::Value>> {
        let endpoint = self.endpoint.clone();
        let started = Courier::start(
            "tidepool-alertmanager",
            QUEUE,
            Arc::clone(&self.stats),
            move |alerts: serde_json::Value, stats| {
                let posted =
                    endpoint.request("POST", "/api/v2/alerts", "application/json", &alerts.to_string());
                if let Err(e) = &posted {
                    if stats.failures() == 0 {
                        tracing::warn!(error = %e, "delivering an alert to Alertmanager failed");
                    }
                }
                posted.map(drop)
            },
        );
        match started {
            Ok(courier) => Some(courier),
            Err(e) => {
                tracing::warn!(error = %e, "no Alertmanager delivery thread: alerts are dropped");
                None
            }
        }
    }

    /// Adds a label to every alert (e.g. `job`, `instance`).
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Alertmanager {
        self.labels.push((key.into(), value.into()));
        self
    }

    fn alert_json(
        &self,
        event: &AlertEvent,
        severity: Severity,
        ends: Option<SystemTime>,
    ) -> serde_json::Value {
        let name = format!("Tidepool{}", event.kind.as_str().split('_').map(capitalize).collect::<String>());
        let mut labels = serde_json::Map::new();
        labels.insert("alertname".into(), name.into());
        labels.insert("kind".into(), event.kind.as_str().into());
        labels.insert("subject".into(), event.subject.clone().into());
        labels.insert("severity".into(), severity.as_str().into());
        for (k, v) in &self.labels {
            labels.insert(k.clone(), v.clone().into());
        }
        let mut alert = serde_json::json!({
            "labels": labels,
            "annotations": { "summary": event.summary },
        });
        // Alertmanager needs wall-clock times, whatever the monitor's axis.
        #[allow(clippy::disallowed_methods)]
        let now = SystemTime::now();
        if ends.is_none() {
            alert["startsAt"] = humantime::format_rfc3339_millis(now).to_string().into();
        }
        if let Some(end) = ends {
            alert["endsAt"] = humantime::format_rfc3339_millis(end).to_string().into();
        }
        alert
    }
}

fn capitalize(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl AlertSink for Alertmanager {
    fn deliver(&mut self, event: &AlertEvent) {
        #[allow(clippy::disallowed_methods)]
        let now = SystemTime::now();
        let mut alerts = Vec::new();
        match event.state {
            AlertState::Firing => alerts.push(self.alert_json(event, event.severity, None)),
            AlertState::Escalated | AlertState::DeEscalated => {
                alerts.push(self.alert_json(event, event.previous, Some(now)));
                alerts.push(self.alert_json(event, event.severity, None));
            }
            AlertState::Resolved => alerts.push(self.alert_json(event, event.previous, Some(now))),
            AlertState::Suppressed => return,
        }
        self.send(serde_json::Value::Array(alerts));
    }
}

impl Drop for Alertmanager {
    /// Closes the queue and waits up to [`FLUSH`] for what is in it to be
    /// posted (a run's last events are its resolutions).
    fn drop(&mut self) {
        if let Some(courier) = self.courier.take() {
            courier.close(FLUSH);
        }
    }
}
