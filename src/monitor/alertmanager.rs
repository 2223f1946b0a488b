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
//! The request is plain HTTP/1.1 written on a `TcpStream`: one small POST
//! per event to an Alertmanager on the local network, where pulling in an
//! HTTP client and TLS stack buys nothing. `https://` URLs are refused.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime};

use super::{AlertEvent, AlertSink, AlertState, Severity};

/// Why an Alertmanager URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertmanagerError {
    /// Not `http://host:port[/path]`.
    #[error("alertmanager URL `{0}`: expected http://HOST:PORT (https is not supported)")]
    Url(String),
    /// The host does not resolve.
    #[error("alertmanager URL `{url}`: {source}")]
    Resolve {
        /// The URL.
        url: String,
        /// Why.
        source: std::io::Error,
    },
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
    addr: SocketAddr,
    host: String,
    path: String,
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
        let rest = url.strip_prefix("http://").ok_or_else(|| AlertmanagerError::Url(url.into()))?;
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(AlertmanagerError::Url(url.into()));
        }
        let addr = authority
            .to_socket_addrs()
            .map_err(|source| AlertmanagerError::Resolve { url: url.into(), source })?
            .next()
            .ok_or_else(|| AlertmanagerError::Url(url.into()))?;
        Ok(Alertmanager {
            addr,
            host: authority.into(),
            path: format!("{base}/api/v2/alerts"),
            labels: Vec::new(),
            failures: 0,
            last_error: None,
        })
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
            "generatorURL": "https://github.com/tidepool/tidepool",
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

    /// Posts `alerts` (a JSON array); the status line's code.
    fn post(&self, alerts: &serde_json::Value) -> Result<u16, String> {
        let body = alerts.to_string();
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))
            .map_err(|e| format!("{}: {e}", self.addr))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.path,
            self.host,
            body.len()
        );
        stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        let code = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("no HTTP status in `{}`", response.lines().next().unwrap_or("")))?;
        if (200..300).contains(&code) {
            Ok(code)
        } else {
            Err(format!("HTTP {code}: {}", response.lines().last().unwrap_or("")))
        }
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
