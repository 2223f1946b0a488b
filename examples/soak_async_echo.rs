//! Your async code under a production day: a Tokio pool of loopback TCP
//! connections (opened lazily by the operation, as many clients do), each
//! arrival a request/response round trip to an echo server on 127.0.0.1,
//! replayed through the daily cycle of `workloads/daily-cycle.toml`
//! compressed into 30 s.
//!
//! ```text
//! cargo run --release --example soak_async_echo
//! ```
//!
//! Writes its reports to target/soak-async-echo and exits 1 if a gate failed.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::FutureExt;
use tidepool::pool::Pool;
use tidepool::sim::Workload;
use tidepool::soak::{Harness, Soak, SoakEnd};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A client connection, opened on first use.
struct Client {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    requests: u64,
}

impl Client {
    async fn request(&mut self) -> std::io::Result<()> {
        let stream = match &mut self.stream {
            Some(s) => s,
            None => self.stream.insert(TcpStream::connect(self.addr).await?),
        };
        self.requests += 1;
        let message = format!("request {:>12}\n", self.requests);
        stream.write_all(message.as_bytes()).await?;
        let mut reply = vec![0u8; message.len()];
        stream.read_exact(&mut reply).await?;
        if reply != message.as_bytes() {
            self.stream = None;
            return Err(std::io::Error::other("the echo came back different"));
        }
        Ok(())
    }
}

/// An echo server on a loopback port, on `runtime`.
fn echo_server(runtime: &tokio::runtime::Runtime) -> std::io::Result<SocketAddr> {
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    runtime.spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = socket.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    Ok(addr)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let addr = echo_server(&runtime)?;

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/daily-cycle.toml");
    let mut workload = Workload::load(path.as_ref())?.compressed(2880.0)?;
    workload.sample_interval = Duration::from_millis(250);
    // The file budgets 1 MiB/h of growth over a day; a run of seconds
    // cannot tell that from the process warming up (RSS, the runtime's
    // threads): it judges a budget it can resolve.
    workload.slo.max_memory_growth_per_hour = Some(256 << 20);

    let pool = workload
        .pool
        .settings
        .configure(Pool::builder("echo-clients"))
        .factory(move || Ok(Client { addr, stream: None, requests: 0 }))
        .build()?;
    let harness = Harness::new_async(pool, |client: &mut Client| client.request().boxed())
        .runtime(runtime.handle().clone());

    let result = Soak::new(workload).out("target/soak-async-echo").force(true).run_with(harness)?;
    println!("{}", result.summary());
    if result.end != SoakEnd::Passed {
        std::process::exit(1);
    }
    Ok(())
}
