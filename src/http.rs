//! The few plain-HTTP/1.1 requests tidepool makes — alerts to an
//! Alertmanager, pushes to a Pushgateway, OTLP exports — to servers on the
//! local network, through `ureq` (blocking, no TLS: `https://` is refused).
//!
//! A peer cannot hold a run hostage: every exchange has an overall deadline
//! ([`DEADLINE`]: connecting, sending and reading the answer, however slowly
//! the peer trickles it), and an answer is read up to [`MAX_RESPONSE_BYTES`].
//! A URL with control characters (a CR/LF would inject headers) or with
//! credentials (`user:secret@`) is refused, and the secret is never printed.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// The longest one exchange may take, all included.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// The longest connecting may take.
const CONNECT_DEADLINE: Duration = Duration::from_secs(2);

/// The most of an answer read (an Alertmanager or Pushgateway answers a few
/// hundred bytes).
pub(crate) const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// A parsed `http://host:port[/base]` URL.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    addr: SocketAddr,
    host: String,
    base: String,
}

/// `url` with any `user:password@` replaced by `***@`, and control
/// characters escaped: what errors may print.
pub(crate) fn redact(url: &str) -> String {
    let shown = match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    printable(&shown, 200)
}

/// `text` with control characters escaped, at most `max` characters: what
/// a message may quote of a URL or of a peer's answer.
fn printable(text: &str, max: usize) -> String {
    text.chars().flat_map(char::escape_debug).take(max).collect()
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

impl Endpoint {
    /// Parses and resolves `url`; the error is a sentence naming it (its
    /// credentials, if any, redacted).
    pub(crate) fn parse(url: &str) -> Result<Endpoint, String> {
        let shown = redact(url);
        if has_control(url) {
            return Err(format!("`{shown}`: control characters (CR, LF, ...) are not allowed in a URL"));
        }
        let bad = || format!("`{shown}`: expected http://HOST:PORT (https is not supported)");
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(format!("`{shown}`: credentials in the URL are not supported (nor printed)"));
        }
        if authority.is_empty() {
            return Err(bad());
        }
        let addr =
            authority.to_socket_addrs().map_err(|e| format!("`{shown}`: {e}"))?.next().ok_or_else(bad)?;
        Ok(Endpoint { addr, host: authority.into(), base: base.into() })
    }

    /// Sends `method path` with `body`; Ok(status) for a 2xx answer.
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Result<u16, String> {
        let (code, response) = self.exchange(method, path, content_type, body.as_bytes())?;
        if (200..300).contains(&code) {
            Ok(code)
        } else {
            let text = String::from_utf8_lossy(&response);
            Err(format!("HTTP {code}: {}", printable(text.lines().last().unwrap_or("").trim(), 200)))
        }
    }

    /// Sends `method path` with a binary `body`: the status, whatever it is,
    /// and the response body. Within [`DEADLINE`] overall (connecting,
    /// sending, and reading the answer however slowly it comes), reading at
    /// most [`MAX_RESPONSE_BYTES`].
    pub(crate) fn exchange(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), String> {
        if has_control(method) || has_control(path) || has_control(content_type) {
            return Err(format!("{}: control characters in the request line or headers", self.addr));
        }
        let url = format!("http://{}{}{path}", self.host, self.base);
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header(ureq::http::header::CONTENT_TYPE, content_type)
            .body(body.to_vec())
            .map_err(|e| format!("{}: {e}", self.addr))?;
        let mut response = agent().run(request).map_err(|e| self.failure(e))?;
        let code = response.status().as_u16();
        let answer = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES as u64)
            .read_to_vec()
            .map_err(|e| self.failure(e))?;
        Ok((code, answer))
    }

    /// What went wrong, in words naming the peer (never its credentials:
    /// the URL has none).
    fn failure(&self, e: ureq::Error) -> String {
        match e {
            ureq::Error::Timeout(_) => {
                format!("{}: no answer within {DEADLINE:?} (the peer is too slow)", self.addr)
            }
            ureq::Error::BodyExceedsLimit(_) => {
                format!("{}: an answer longer than {MAX_RESPONSE_BYTES} bytes: not read further", self.addr)
            }
            other => format!("{}: {}", self.addr, printable(&other.to_string(), 300)),
        }
    }
}

/// The client every exchange goes through: no redirects, no proxy from the
/// environment, a status is an answer (not an error), and the deadlines.
fn agent() -> ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT
        .get_or_init(|| {
            ureq::Agent::config_builder()
                .timeout_global(Some(DEADLINE))
                .timeout_connect(Some(CONNECT_DEADLINE))
                .http_status_as_error(false)
                .max_redirects(0)
                .proxy(None)
                .allow_non_standard_methods(true)
                .max_response_header_size(64 << 10)
                .build()
                .into()
        })
        .clone()
}

/// What a [`Courier`] counts, shared with its owner (who may count drops
/// before a courier runs).
#[derive(Debug, Default)]
pub(crate) struct DeliveryStats {
    failures: AtomicU64,
    dropped: AtomicU64,
    last_error: parking_lot::Mutex<Option<String>>,
}

impl DeliveryStats {
    /// Deliveries that failed.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Items dropped (the queue was full, or no courier ran); returns the
    /// count before this one.
    pub(crate) fn drop_one(&self) -> u64 {
        self.dropped.fetch_add(1, Ordering::Relaxed)
    }

    /// Items dropped.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The last delivery's error.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }
}

/// A thread that delivers what it is offered, one item at a time, behind a
/// bounded queue: whoever offers never waits on a slow or dead peer, and
/// what finds the queue full is dropped and counted. Alerts to an
/// Alertmanager and a wall-clock run's live Pushgateway pushes go through
/// one.
#[derive(Debug)]
pub(crate) struct Courier<T> {
    queue: SyncSender<T>,
    /// Closed by the thread once the queue is closed and drained.
    done: Receiver<()>,
    stats: Arc<DeliveryStats>,
}

impl<T: Send + 'static> Courier<T> {
    /// Starts thread `name` delivering with `deliver`, `capacity` items
    /// waiting at most (besides the one under way), counting into `stats`.
    pub(crate) fn start(
        name: &str,
        capacity: usize,
        stats: Arc<DeliveryStats>,
        mut deliver: impl FnMut(T, &DeliveryStats) -> Result<(), String> + Send + 'static,
    ) -> std::io::Result<Courier<T>> {
        let (queue, inbox) = sync_channel::<T>(capacity);
        let (done_tx, done) = sync_channel::<()>(1);
        let counted = Arc::clone(&stats);
        std::thread::Builder::new().name(name.into()).spawn(move || {
            for item in inbox {
                if let Err(e) = deliver(item, &counted) {
                    counted.failures.fetch_add(1, Ordering::Relaxed);
                    *counted.last_error.lock() = Some(e);
                }
            }
            drop(done_tx);
        })?;
        Ok(Courier { queue, done, stats })
    }

    /// Queues `item`; false (and counted dropped) when the queue is full.
    pub(crate) fn offer(&self, item: T) -> bool {
        match self.queue.try_send(item) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.drop_one();
                false
            }
        }
    }

    /// Closes the queue and waits up to `wait` for what is in it to be
    /// delivered.
    pub(crate) fn close(self, wait: Duration) {
        let Courier { queue, done, .. } = self;
        drop(queue);
        let _ = done.recv_timeout(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_control_characters_are_refused_and_never_printed() {
        let e = Endpoint::parse("http://admin:hunter2@127.0.0.1:9091").expect_err("credentials");
        assert!(!e.contains("hunter2") && e.contains("***@127.0.0.1:9091"), "{e}");
        let e = Endpoint::parse("http://127.0.0.1:9091/x\r\nX-Evil: 1").expect_err("CR/LF");
        assert!(e.contains("control characters") && !e.contains('\n'), "{e}");
        assert!(Endpoint::parse("http://127.0.0.1:9091/metrics/job/a").is_ok());
    }
}
