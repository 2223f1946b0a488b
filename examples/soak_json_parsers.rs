//! Your sync code under a production day: a pool of JSON parsers (each with
//! its own reusable buffer) doing real serde_json work, replayed through
//! the daily cycle of `workloads/daily-cycle.toml` compressed into 40 s.
//!
//! ```text
//! cargo run --release --example soak_json_parsers
//! ```
//!
//! Writes report.json/md/html, samples.jsonl and alerts.jsonl to
//! target/soak-json-parsers, prints the summary, and exits 1 if a gate
//! failed (as `tidepool soak` does).

use std::time::Duration;

use tidepool::pool::Pool;
use tidepool::sim::Workload;
use tidepool::soak::{Harness, Soak, SoakEnd};

/// A parser: the buffer it renders into and reads from, kept across uses.
struct Parser {
    buffer: String,
    documents: u64,
}

impl Parser {
    /// Renders an order, parses it back and checks what came back.
    fn roundtrip(&mut self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        use std::fmt::Write;
        self.documents += 1;
        let n = self.documents;
        self.buffer.clear();
        write!(
            self.buffer,
            r#"{{"order":{n},"lines":[{{"sku":"A-{n}","qty":3,"price":9.5}},{{"sku":"B","qty":1,"price":120.0}}],"note":"deliver after 5pm"}}"#
        )?;
        let order: serde_json::Value = serde_json::from_str(&self.buffer)?;
        let total: f64 = order["lines"]
            .as_array()
            .ok_or("no lines")?
            .iter()
            .map(|l| l["qty"].as_f64().unwrap_or(0.0) * l["price"].as_f64().unwrap_or(0.0))
            .sum();
        if order["order"].as_u64() != Some(n) || (total - 148.5).abs() > 1e-9 {
            return Err(format!("order {n} came back wrong: total {total}").into());
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/daily-cycle.toml");
    let mut workload = Workload::load(path.as_ref())?.compressed(2160.0)?;
    workload.sample_interval = Duration::from_millis(250);
    // The file budgets 1 MiB/h of growth over a day; a run of seconds
    // cannot tell that from the process warming up (RSS, the runtime's
    // threads): it judges a budget it can resolve.
    workload.slo.max_memory_growth_per_hour = Some(256 << 20);

    // Your pool: your factory and settings (here the workload's [pool]).
    let pool = workload
        .pool
        .settings
        .configure(Pool::builder("json-parsers"))
        .factory(|| Ok(Parser { buffer: String::with_capacity(512), documents: 0 }))
        .build()?;
    let harness = Harness::new(pool, Parser::roundtrip);

    let result = Soak::new(workload).out("target/soak-json-parsers").force(true).run_with(harness)?;
    println!("{}", result.summary());
    if result.end != SoakEnd::Passed {
        std::process::exit(1);
    }
    Ok(())
}
