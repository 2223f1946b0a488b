//! The few plain-HTTP/1.1 requests tidepool makes itself — alerts to an
//! Alertmanager, a final push to a Pushgateway, OTLP exports — to servers on
//! the local network. Written on a `TcpStream`: an HTTP client and TLS stack
//! would buy nothing for a handful of small requests per run. `https://` is
//! refused.
//!
//! A peer cannot hold a run hostage: every exchange has an overall deadline
//! ([`DEADLINE`]: connecting, sending and reading the answer, however slowly
//! the peer trickles it), and an answer is read up to [`MAX_RESPONSE_BYTES`].
//! A URL with control characters (a CR/LF would inject headers) or with
//! credentials (`user:secret@`) is refused, and the secret is never printed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::clock::Clock;

/// The longest one exchange may take, all included.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

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
    shown.chars().flat_map(char::escape_debug).collect::<String>().chars().take(200).collect()
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
            let last: String = text.lines().last().unwrap_or("").trim().chars().take(200).collect();
            Err(format!("HTTP {code}: {}", last.escape_debug()))
        }
    }

    /// Sends `method path` with a binary `body`: the status, whatever it is,
    /// and the response body. Within [`DEADLINE`] overall, reading at most
    /// [`MAX_RESPONSE_BYTES`].
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
        let clock = Clock::system();
        let start = clock.now();
        let left = || DEADLINE.saturating_sub(clock.now().saturating_sub(start));
        let late = |what: &str| format!("{}: no answer within {:?} ({what})", self.addr, DEADLINE);
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))
            .map_err(|e| format!("{}: {e}", self.addr))?;
        let _ = stream.set_write_timeout(Some(left().max(Duration::from_millis(1))));
        let head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.base,
            self.host,
            body.len()
        );
        stream.write_all(head.as_bytes()).map_err(|e| format!("{}: {e}", self.addr))?;
        stream.write_all(body).map_err(|e| format!("{}: {e}", self.addr))?;
        let mut response = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let remaining = left();
            if remaining.is_zero() {
                return Err(late("the peer is too slow"));
            }
            // Each read waits at most what is left of the deadline.
            let _ = stream.set_read_timeout(Some(remaining));
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    response.extend_from_slice(&chunk[..n]);
                    if response.len() > MAX_RESPONSE_BYTES {
                        return Err(format!(
                            "{}: an answer longer than {MAX_RESPONSE_BYTES} bytes: not read further",
                            self.addr
                        ));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    return Err(late("the peer stopped sending"));
                }
                // A peer that closes abruptly after answering: keep what came.
                Err(_) if !response.is_empty() => break,
                Err(e) => return Err(format!("{}: {e}", self.addr)),
            }
        }
        let split = response.windows(4).position(|w| w == b"\r\n\r\n");
        let (head, rest) = match split {
            Some(i) => (&response[..i], response[i + 4..].to_vec()),
            None => (&response[..], Vec::new()),
        };
        let head = String::from_utf8_lossy(head);
        let code = head.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok()).ok_or_else(|| {
            let first: String = head.lines().next().unwrap_or("").chars().take(200).collect();
            format!("no HTTP status in `{}`", first.escape_debug())
        })?;
        Ok((code, rest))
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
