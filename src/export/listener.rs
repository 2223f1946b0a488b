//! The `/metrics` endpoint: hyper's HTTP/1 server over the Prometheus
//! recorder's [`PrometheusHandle::render`], bounded so that scrapers — slow,
//! idle or many — can never starve the process that serves them.
//!
//! - at most [`MAX_CONNECTIONS`] connections are served at once; one beyond
//!   is closed as soon as it is accepted, so the listener never holds more
//!   than that many descriptors (a run's checkpoint and reports always find one);
//! - a client has [`HEADER_TIMEOUT`] to send its request and the whole
//!   exchange must end within [`CONNECTION_DEADLINE`]: an idle or trickling
//!   connection is closed;
//! - one request per connection (`Connection: close`), so no connection
//!   outlives its scrape;
//! - accept errors (out of descriptors, say) are logged at most once per
//!   [`LOG_EVERY`] with the count since, never in a loop.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::PrometheusHandle;

/// Connections served at once; one more is closed on accept.
pub const MAX_CONNECTIONS: usize = 64;

/// How long a client may take to send its request line and headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection may live, request and answer included.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);

/// The least time between two log lines about failed accepts.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The content type of the text exposition format.
const EXPOSITION: &str = "text/plain; version=0.0.4";

/// Binds `addr` on `runtime` (so a taken port is an error here, not later).
pub(crate) fn bind(runtime: &tokio::runtime::Runtime, addr: SocketAddr) -> std::io::Result<TcpListener> {
    runtime.block_on(TcpListener::bind(addr))
}

/// Serves `/metrics` from `handle` on `listener` until the runtime stops.
pub(crate) async fn serve(listener: TcpListener, handle: PrometheusHandle) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut failed_accepts = 0u64;
    let mut last_log: Option<tokio::time::Instant> = None;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                failed_accepts += 1;
                let now = tokio::time::Instant::now();
                if last_log.is_none_or(|at| now.duration_since(at) >= LOG_EVERY) {
                    tracing::warn!(error = %e, failed_accepts, "/metrics cannot accept connections");
                    last_log = Some(now);
                }
                // Out of descriptors stays so for a while: do not spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Over the cap: close at once, holding nothing.
            drop(stream);
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |request| answer(request, handle.clone()));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            // Slow readers of the answer, too, are cut off at the deadline.
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, connection).await;
        });
    }
}

async fn answer(
    request: Request<Incoming>,
    handle: PrometheusHandle,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // Any path answers, as metrics-exporter-prometheus' own listener did.
    let (status, body) = match *request.method() {
        Method::GET | Method::HEAD => (StatusCode::OK, handle.render()),
        _ => (StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n".to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(EXPOSITION));
    Ok(response)
}
