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

use std::time::SystemTime;

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
    /// Events that could not be delivered.
    pub failures: u64,
    /// The last delivery error.
    pub last_error: Option<String>,
}

impl Alertmanager {
    /// A sink posting to the Alertmanager at `url` (`http://host:port`).
    ///
    /// # Errors
    ///
    /// [`AlertmanagerError`] for a URL that is not plain HTTP or does not resolve.
    pub fn new(url: &str) -> Result<Alertmanager, AlertmanagerError> {
        let endpoint = crate::http::Endpoint::parse(url).map_err(AlertmanagerError::Url)?;
        Ok(Alertmanager { endpoint, labels: Vec::new(), failures: 0, last_error: None })
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

    /// Posts `alerts` (a JSON array).
    fn post(&self, alerts: &serde_json::Value) -> Result<u16, String> {
        self.endpoint.request("POST", "/api/v2/alerts", "application/json", &alerts.to_string())
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
        if let Err(e) = self.post(&serde_json::Value::Array(alerts)) {
            self.failures += 1;
            if self.failures == 1 {
                tracing::warn!(error = %e, "delivering an alert to Alertmanager failed");
            }
            self.last_error = Some(e);
        }
    }
}
