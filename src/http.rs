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
        let (code, response) = self.exchange(method, path, content_type, body.as_bytes())?;
        if (200..300).contains(&code) {
            Ok(code)
        } else {
            let text = String::from_utf8_lossy(&response);
            Err(format!("HTTP {code}: {}", text.lines().last().unwrap_or("").trim()))
        }
    }

    /// Sends `method path` with a binary `body`: the status, whatever it is,
    /// and the response body.
    pub(crate) fn exchange(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), String> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))
            .map_err(|e| format!("{}: {e}", self.addr))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
        let head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.base,
            self.host,
            body.len()
        );
        stream.write_all(head.as_bytes()).map_err(|e| format!("{}: {e}", self.addr))?;
        stream.write_all(body).map_err(|e| format!("{}: {e}", self.addr))?;
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let split = response.windows(4).position(|w| w == b"\r\n\r\n");
        let (head, rest) = match split {
            Some(i) => (&response[..i], response[i + 4..].to_vec()),
            None => (&response[..], Vec::new()),
        };
        let head = String::from_utf8_lossy(head);
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("no HTTP status in `{}`", head.lines().next().unwrap_or("")))?;
        Ok((code, rest))
    }
}
