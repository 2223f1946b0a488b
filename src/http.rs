//! The few plain-HTTP/1.1 requests tidepool makes itself — alerts to an
//! Alertmanager, a final push to a Pushgateway — to servers on the local
//! network. Written on a `TcpStream`: an HTTP client and TLS stack would buy
//! nothing for a handful of small requests per run. `https://` is refused.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A parsed `http://host:port[/base]` URL.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    addr: SocketAddr,
    host: String,
    base: String,
}

impl Endpoint {
    /// Parses and resolves `url`; the error is a sentence naming it.
    pub(crate) fn parse(url: &str) -> Result<Endpoint, String> {
        let bad = || format!("`{url}`: expected http://HOST:PORT (https is not supported)");
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad());
        }
        let addr =
            authority.to_socket_addrs().map_err(|e| format!("`{url}`: {e}"))?.next().ok_or_else(bad)?;
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
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))
            .map_err(|e| format!("{}: {e}", self.addr))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
        let request = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.base,
            self.host,
            body.len()
        );
        stream.write_all(request.as_bytes()).map_err(|e| format!("{}: {e}", self.addr))?;
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
            Err(format!("HTTP {code}: {}", response.lines().last().unwrap_or("").trim()))
        }
    }
}
