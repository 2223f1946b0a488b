//! The dry run: what a workload, trace or series would do, checked as a run
//! would check it, without running it (`tidepool validate`).

use std::path::Path;

use super::replay::check_expected_ops;
use super::SoakError;
use crate::sim::{self, Workload};
use crate::units::{fmt_duration, human_seconds, ms};

/// The dry run of `tidepool validate`: parses and checks a workload file
/// (`.toml`), a recorded trace (`.jsonl`) or a rate series (`.csv`) as a
/// run would, and says what the run would do.
///
/// ```
/// let text = tidepool::soak::validate("workloads/steady.toml".as_ref()).unwrap();
/// assert!(text.starts_with("workloads/steady.toml: ok"));
/// ```
///
/// # Errors
///
/// [`SoakError::Input`] naming the file, line and field of what a run would
/// refuse.
pub fn validate(path: &Path) -> Result<String, SoakError> {
    let input = |e: sim::WorkloadError| SoakError::Input(e.to_string());
    match path.extension().and_then(|e| e.to_str()) {
        // The dry run of `tidepool replay TRACE.jsonl`.
        Some("jsonl") => {
            let trace = sim::trace::Trace::load(path).map_err(input)?;
            let span = trace.span().as_secs_f64();
            let mean_hold = trace.mean_hold();
            return Ok(format!(
                "{}: ok\n  recorded trace: {} operations over {} ({:.1} ops/s), mean hold {}\n  \
                 `tidepool replay` plays it in {} (÷ --speed, × --loop, idle gaps capped by --max-idle-gap)\n",
                path.display(),
                trace.len(),
                human_seconds(span),
                if span > 0.0 { trace.len() as f64 / span } else { 0.0 },
                ms(mean_hold),
                human_seconds(span + 1e-3),
            ));
        }
        // The dry run of `tidepool replay SERIES.csv` with its defaults.
        Some("csv") => {
            let series =
                sim::series::RateSeries::load(path, sim::series::SeriesUnit::Count, 1.0).map_err(input)?;
            check_expected_ops(series.expected_arrivals(), &format!("{}:0:0: value", path.display()))?;
            let secs = series.duration().as_secs_f64();
            return Ok(format!(
                "{}: ok\n  rate series: {} rows over {}, {:.0} expected arrivals (mean {:.2}/s, peak {:.2}/s) \
                 reading each value as a count per row (`--unit per-second` and `--scale` change that)\n",
                path.display(),
                series.len(),
                human_seconds(secs),
                series.expected_arrivals(),
                if secs > 0.0 { series.expected_arrivals() / secs } else { 0.0 },
                series.peak_rate()
            ));
        }
        _ => {}
    }
    let w = Workload::load(path).map_err(input)?;
    let file = path.display().to_string();
    let mut out = format!(
        "{file}: ok\n  workload {} (seed {}), {} of virtual time: {:.3} cycle(s) of {}\n",
        w.name,
        w.seed,
        fmt_duration(w.duration),
        w.duration.as_secs_f64() / w.cycle().as_secs_f64(),
        fmt_duration(w.cycle())
    );
    out += &format!(
        "  pool {}..{} ({} sizing), acquire timeout {}\n",
        w.pool.settings.min_size,
        w.pool.settings.max_size,
        w.pool.settings.sizing.name(),
        fmt_duration(w.pool.settings.acquire_timeout)
    );
    for p in &w.phases {
        let hold = w
            .hold_of(w.phases.iter().position(|q| q.name == p.name).unwrap_or(0))
            .map_or(0.0, |d| d.mean_seconds());
        out += &format!(
            "  phase {:<10} {:>8}  {}  mean hold {}\n",
            p.name,
            fmt_duration(p.duration),
            describe_arrival(&p.arrival),
            ms(hold)
        );
    }
    for f in &w.faults {
        out += &format!(
            "  fault {} at {} for {}\n",
            f.kind.name(),
            fmt_duration(f.at),
            f.duration.map_or("the rest of the run".into(), fmt_duration)
        );
    }
    let ops = w.expected_ops();
    out += &format!("  expected operations: {ops:.0}\n");
    Ok(out)
}

fn describe_arrival(a: &sim::Arrival) -> String {
    match a {
        sim::Arrival::Poisson { rate } => format!("poisson {rate}/s"),
        sim::Arrival::Constant { rate } => format!("constant {rate}/s"),
        sim::Arrival::Ramp { from, to } => format!("ramp {from}/s -> {to}/s"),
        sim::Arrival::Series { file, loaded, .. } => {
            format!("series {} ({} rows)", file.display(), loaded.as_ref().map_or(0, |s| s.len()))
        }
        sim::Arrival::Trace { trace, speed, loops } => {
            format!("recorded trace, {} operations at {speed}x, {loops} loop(s)", trace.len())
        }
        sim::Arrival::Closed { workers, think } => format!(
            "closed loop, {workers} workers, mean think {}",
            ms(think.as_ref().map_or(0.0, |d| d.mean_seconds()))
        ),
    }
}
