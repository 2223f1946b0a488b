//! `report.html`: the soak report for people without a Grafana — one
//! self-contained file (inline SVG and CSS, no script, nothing fetched)
//! with charts over time of throughput, wait p99, utilization and pool
//! size, memory with the leak verdict's fitted slope, alerts shaded on
//! every time axis, and the gate and phase tables.
//!
//! The charts read `samples.jsonl`, thinned to at most [`MAX_POINTS`]
//! buckets per chart: the mean of each bucket, except for wait p99 whose
//! bucket keeps its maximum (a spike must not average away).

use std::fmt::Write as _;
use std::path::Path;

use super::{bytes, human_seconds, ms, Report};

/// Buckets per chart at most.
pub const MAX_POINTS: usize = 800;

/// One sample line, the fields the charts use.
#[derive(Debug, Clone, Copy, Default)]
struct Point {
    t: f64,
    arrived: f64,
    wait_p99: f64,
    in_use: f64,
    size: f64,
    target: f64,
    memory: f64,
    rss: Option<f64>,
}

/// One chart bucket: the sums (and the max wait p99) of its samples.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// The last sample's time.
    t: f64,
    n: f64,
    arrived: f64,
    wait_max: f64,
    utilization: f64,
    size: f64,
    target: f64,
    memory: f64,
    /// Process RSS (0 where a sample has none).
    rss: f64,
}

impl Bucket {
    fn add(&mut self, p: &Point) {
        self.t = p.t;
        self.n += 1.0;
        self.arrived += p.arrived;
        self.wait_max = if self.n == 1.0 { p.wait_p99 } else { self.wait_max.max(p.wait_p99) };
        self.utilization += if p.size > 0.0 { p.in_use / p.size } else { 0.0 };
        self.size += p.size;
        self.target += p.target;
        self.memory += p.memory;
        self.rss += p.rss.unwrap_or(0.0);
    }

    fn merge(&mut self, later: &Bucket) {
        self.t = later.t;
        self.n += later.n;
        self.arrived += later.arrived;
        self.wait_max = self.wait_max.max(later.wait_max);
        self.utilization += later.utilization;
        self.size += later.size;
        self.target += later.target;
        self.memory += later.memory;
        self.rss += later.rss;
    }
}

/// The samples thinned as they are read, in bounded memory: buckets of
/// `per` samples, at most [`MAX_POINTS`]; when they fill, neighbours merge
/// and `per` doubles. The mean of each bucket, the maximum for wait p99.
#[derive(Debug)]
pub(crate) struct Thinned {
    buckets: Vec<Bucket>,
    open: Bucket,
    per: f64,
    /// The first two sample times (the interval), the last, any RSS.
    first: [Option<f64>; 2],
    last: Option<f64>,
    any_rss: bool,
}

impl Thinned {
    fn new() -> Thinned {
        Thinned {
            buckets: Vec::with_capacity(MAX_POINTS),
            open: Bucket::default(),
            per: 1.0,
            first: [None; 2],
            last: None,
            any_rss: false,
        }
    }

    fn push(&mut self, p: &Point) {
        match self.first {
            [None, _] => self.first[0] = Some(p.t),
            [Some(_), None] => self.first[1] = Some(p.t),
            _ => {}
        }
        self.last = Some(p.t);
        self.any_rss |= p.rss.is_some();
        self.open.add(p);
        if self.open.n >= self.per {
            self.buckets.push(std::mem::take(&mut self.open));
            if self.buckets.len() == MAX_POINTS {
                let pairs: Vec<Bucket> = self
                    .buckets
                    .chunks(2)
                    .map(|pair| {
                        let mut b = pair[0];
                        if let Some(later) = pair.get(1) {
                            b.merge(later);
                        }
                        b
                    })
                    .collect();
                self.buckets = pairs;
                self.per *= 2.0;
            }
        }
    }

    /// Every bucket, the partial last one included.
    fn finish(mut self) -> Thinned {
        if self.open.n > 0.0 {
            self.buckets.push(std::mem::take(&mut self.open));
        }
        self
    }

    /// One (t, value) per bucket.
    fn series(&self, value: impl Fn(&Bucket) -> f64) -> Vec<(f64, f64)> {
        self.buckets.iter().map(|b| (b.t, value(b))).collect()
    }
}

/// Reads the samples a report's charts are drawn from, line by line, into
/// [`Thinned`] buckets: memory does not grow with the run. Lines that do
/// not parse (a torn last line after a kill) are skipped.
pub(crate) fn read_points(samples: &Path) -> Thinned {
    let mut thinned = Thinned::new();
    // An unreadable file draws empty charts; its lines that are not
    // samples are skipped.
    let _ = super::each_sample_line(samples, |_, line| {
        let Ok(v) = line else { return };
        let f = |k: &str| v.get(k).and_then(serde_json::Value::as_f64);
        let (Some(t), Some(arrived)) = (f("t"), f("arrived")) else { return };
        thinned.push(&Point {
            t,
            arrived,
            wait_p99: f("wait_p99").unwrap_or(0.0),
            in_use: f("in_use").unwrap_or(0.0),
            size: f("size").unwrap_or(0.0),
            target: f("target").unwrap_or(0.0),
            memory: f("memory_bytes").unwrap_or(0.0),
            rss: f("rss_bytes"),
        });
    });
    thinned.finish()
}

/// A series to draw: its name, colour, and one value per bucket.
struct Series {
    name: &'static str,
    colour: &'static str,
    values: Vec<(f64, f64)>,
    dashed: bool,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Writes one chart as inline SVG.
fn chart(
    out: &mut String,
    title: &str,
    series: &[Series],
    span: f64,
    shades: &[(f64, f64, &'static str)],
    format: &dyn Fn(f64) -> String,
) {
    const W: f64 = 960.0;
    const H: f64 = 220.0;
    const L: f64 = 80.0;
    const R: f64 = 20.0;
    const T: f64 = 28.0;
    const B: f64 = 30.0;
    let max = series.iter().flat_map(|s| s.values.iter().map(|v| v.1)).fold(0.0f64, f64::max);
    let max = if max > 0.0 { max * 1.1 } else { 1.0 };
    let span = span.max(1e-9);
    let x = |t: f64| L + (t / span).clamp(0.0, 1.0) * (W - L - R);
    let y = |v: f64| T + (1.0 - (v / max).clamp(0.0, 1.0)) * (H - T - B);
    let _ = write!(
        out,
        r#"<figure><svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}">
<text x="{L}" y="18" class="title">{t}</text>
"#,
        t = escape(title)
    );
    for &(a, b, colour) in shades {
        let (xa, xb) = (x(a), x(b));
        let _ = writeln!(
            out,
            r#"<rect x="{xa:.1}" y="{T}" width="{:.1}" height="{:.1}" fill="{colour}" fill-opacity="0.18"/>"#,
            (xb - xa).max(1.5),
            H - T - B
        );
    }
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        let _ = writeln!(
            out,
            r#"<line x1="{L}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            W - R,
            L - 6.0,
            y(v) + 4.0,
            escape(&format(v)),
            yy = y(v)
        );
    }
    for k in 0..=6 {
        let t = span * f64::from(k) / 6.0;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"#,
            x(t),
            H - 10.0,
            escape(&human_seconds(t))
        );
    }
    let mut legend_x = W - R;
    for s in series.iter().rev() {
        legend_x -= 8.0 * s.name.len() as f64 + 30.0;
        let _ = writeln!(
            out,
            r#"<rect x="{legend_x:.1}" y="9" width="12" height="4" fill="{c}"/><text x="{:.1}" y="16" class="tick">{}</text>"#,
            legend_x + 16.0,
            escape(s.name),
            c = s.colour
        );
        if s.values.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (i, &(t, v)) in s.values.iter().enumerate() {
            let _ = write!(d, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, x(t), y(v));
        }
        let _ = writeln!(
            out,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.5"{}/>"#,
            s.colour,
            if s.dashed { r#" stroke-dasharray="6 4""# } else { "" }
        );
    }
    out.push_str("</svg></figure>\n");
}

/// Renders the report and the samples at `samples` as one HTML page.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let text = std::fs::read_to_string("tidepool-out/report.json")?;
/// let report: tidepool::report::Report = serde_json::from_str(&text)?;
/// let html = tidepool::report::html::render(&report, "tidepool-out/samples.jsonl".as_ref());
/// assert!(html.contains("<svg"));
/// # Ok(()) }
/// ```
pub fn render(report: &Report, samples: &Path) -> String {
    render_points(report, &read_points(samples))
}

/// [`render`] from samples already read ([`read_points`]).
pub(crate) fn render_points(report: &Report, points: &Thinned) -> String {
    let span = points.last.unwrap_or(report.virtual_seconds).max(report.virtual_seconds);
    let interval = match points.first {
        [Some(a), Some(b)] => (b - a).max(1e-9),
        _ => 1.0,
    };
    let mut shades: Vec<(f64, f64, &'static str)> = Vec::new();
    if let Some(a) = &report.alerts {
        for e in &a.episodes {
            let colour = match e.peak {
                crate::monitor::Severity::Emergency | crate::monitor::Severity::Critical => "#d62728",
                _ => "#ff9f1c",
            };
            shades.push((e.started, e.resolved.unwrap_or(span), colour));
        }
    }
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Soak report: {name} — {verdict}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #1d1d1f; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 17px; margin-top: 28px; }}
.verdict-PASSED {{ color: #2a7d2e; }} .verdict-FAILED, .verdict-INTERRUPTED {{ color: #c62828; }}
table {{ border-collapse: collapse; margin: 8px 0; }} td, th {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
figure {{ margin: 10px 0; }} svg {{ background: #fafafa; border: 1px solid #e5e5e5; }}
.title {{ font-weight: 600; font-size: 13px; }} .tick {{ font-size: 11px; fill: #555; }}
.grid {{ stroke: #e3e3e3; }} .fail {{ color: #c62828; font-weight: 600; }} .note {{ color: #555; }}
</style></head><body>
<h1>Soak report: {name} — <span class="verdict-{verdict}">{verdict}</span></h1>
<p>Workload <code>{file}</code>, seed {seed}, {time} time, {span} covered in {wall:.1} s of wall time. Replay exactly: <code>{replay}</code></p>
"#,
        name = escape(&report.workload),
        verdict = report.verdict(),
        file = escape(&report.workload_file),
        seed = report.seed,
        time = escape(&report.time),
        span = human_seconds(report.virtual_seconds),
        wall = report.wall.seconds,
        replay = escape(&report.replay),
    );
    for caveat in &report.caveats {
        let _ = writeln!(out, "<p class=\"note\"><b>Caveat.</b> {}</p>", escape(caveat));
    }
    out.push_str(
        "<h2>Gates</h2>\n<table><tr><th>gate</th><th>target</th><th>observed</th><th>verdict</th></tr>\n",
    );
    for g in &report.slo {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&g.name),
            escape(&super::gate_value(&g.name, g.target)),
            escape(&super::gate_value(&g.name, g.observed)),
            if g.passed { "pass".to_string() } else { "<span class=\"fail\">FAIL</span>".into() }
        );
    }
    if report.slo.is_empty() {
        out.push_str("<tr><td colspan=\"4\">no gates set</td></tr>\n");
    }
    out.push_str("</table>\n<h2>Over time</h2>\n");
    if !shades.is_empty() {
        out.push_str("<p class=\"note\">Shaded: alerts (orange warning, red critical or emergency).</p>\n");
    }
    chart(
        &mut out,
        "Throughput (arrivals per second)",
        &[Series {
            name: "arrived/s",
            colour: "#1f77b4",
            values: points.series(|b| b.arrived / b.n / interval),
            dashed: false,
        }],
        span,
        &shades,
        &|v| format!("{v:.0}"),
    );
    chart(
        &mut out,
        "Wait p99 per sample interval (corrected)",
        &[Series {
            name: "wait p99",
            colour: "#d62728",
            values: points.series(|b| b.wait_max),
            dashed: false,
        }],
        span,
        &shades,
        &|v| ms(v),
    );
    chart(
        &mut out,
        "Utilization (in use / size)",
        &[Series {
            name: "utilization",
            colour: "#2ca02c",
            values: points.series(|b| b.utilization / b.n),
            dashed: false,
        }],
        span,
        &shades,
        &|v| format!("{:.0} %", v * 100.0),
    );
    chart(
        &mut out,
        "Pool size and target",
        &[
            Series {
                name: "size",
                colour: "#9467bd",
                values: points.series(|b| b.size / b.n),
                dashed: false,
            },
            Series {
                name: "target",
                colour: "#8c564b",
                values: points.series(|b| b.target / b.n),
                dashed: true,
            },
        ],
        span,
        &shades,
        &|v| format!("{v:.0}"),
    );
    let mut memory = vec![Series {
        name: "modeled memory",
        colour: "#ff7f0e",
        values: points.series(|b| b.memory / b.n),
        dashed: false,
    }];
    if points.any_rss {
        memory.push(Series {
            name: "process RSS",
            colour: "#17becf",
            values: points.series(|b| b.rss / b.n),
            dashed: false,
        });
    }
    let leak = report.alerts.as_ref().and_then(|a| a.leak);
    if let Some(l) = leak {
        memory.push(Series {
            name: "leak fit",
            colour: "#000000",
            values: vec![(l.window_seconds.0, l.fitted_bytes.0), (l.window_seconds.1, l.fitted_bytes.1)],
            dashed: true,
        });
    }
    chart(&mut out, "Memory", &memory, span, &shades, &|v| bytes(v));
    if let Some(l) = leak {
        let _ = writeln!(
            out,
            "<p>Leak verdict: <b>{:?}</b> — slope {} per hour (95 % CI {} to {}), budget {} per hour.</p>",
            l.verdict,
            escape(&bytes(l.slope_bytes_per_hour)),
            escape(&bytes(l.ci95_bytes_per_hour.0)),
            escape(&bytes(l.ci95_bytes_per_hour.1)),
            escape(&bytes(l.budget_bytes_per_hour))
        );
    }
    if let Some(a) = &report.alerts {
        out.push_str("<h2>Alerts</h2>\n");
        if a.episodes.is_empty() {
            out.push_str("<p>No alert fired.</p>\n");
        } else {
            out.push_str("<table><tr><th>kind</th><th>subject</th><th>peak</th><th>from</th><th>to</th><th>worst</th><th>notified</th></tr>\n");
            for e in &a.episodes {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    e.kind,
                    escape(&e.subject),
                    e.peak,
                    human_seconds(e.started),
                    e.resolved.map_or_else(|| "(active)".into(), human_seconds),
                    escape(&e.kind.format(e.worst_value)),
                    if e.notified { "yes" } else { "suppressed" }
                );
            }
            out.push_str("</table>\n");
        }
        if !a.forecasts.is_empty() {
            let _ = writeln!(
                out,
                "<h2>Exhaustion forecast</h2>\n<p class=\"note\">Time until each budget's trend reaches its limit; a predicted alert fires when the pessimistic forecast is within {}.</p>",
                escape(&human_seconds(a.forecast_horizon_seconds))
            );
            out.push_str("<table><tr><th>resource</th><th>subject</th><th>last level</th><th>limit</th><th>forecast at the end</th><th>pessimistic</th><th>trend</th><th>soonest forecast</th><th>first predicted alert</th></tr>\n");
            for f in &a.forecasts {
                let _ = write!(out, "<tr><td>{}</td><td>{}</td>", f.resource, escape(&f.subject));
                for cell in super::forecast_cells(f) {
                    let _ = write!(out, "<td>{}</td>", escape(&cell));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</table>\n");
        }
    }
    for (title, header, rows) in report.shared_state_tables() {
        let _ = write!(out, "<h2>{}</h2>\n<table><tr>", escape(&title));
        for h in header {
            let _ = write!(out, "<th>{}</th>", escape(h));
        }
        out.push_str("</tr>\n");
        for row in rows {
            out.push_str("<tr>");
            for cell in row {
                let _ = write!(out, "<td>{}</td>", escape(&cell));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Phases</h2>\n<table><tr><th>phase</th><th>time</th><th>arrived</th><th>errors</th><th>wait p50</th><th>wait p99</th><th>hold p50</th><th>utilization</th><th>mean size</th></tr>\n");
    for p in &report.phases {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} %</td><td>{:.2}</td></tr>",
            escape(&p.name),
            human_seconds(p.virtual_seconds),
            p.ops.arrived,
            p.ops.timed_out + p.ops.failed,
            ms(p.wait_seconds.corrected.p50),
            ms(p.wait_seconds.corrected.p99),
            ms(p.hold_seconds.p50),
            p.pool.utilization_mean * 100.0,
            p.pool.size_mean
        );
    }
    let _ = write!(
        out,
        "</table>\n<h2>Operations</h2>\n<p>{}. Wait p99 (corrected) {}, hold p50 {}.</p>\n</body></html>\n",
        report.ops.equation(),
        ms(report.wait_seconds.corrected.p99),
        ms(report.hold_seconds.p50)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_is_bounded_and_keeps_every_sample_and_the_peak() {
        let mut thinned = Thinned::new();
        let n = 100_000;
        for k in 0..n {
            let wait_p99 = if k == 77_777 { 9.0 } else { 0.001 };
            thinned.push(&Point {
                t: k as f64,
                arrived: 1.0,
                wait_p99,
                size: 4.0,
                in_use: 2.0,
                ..Point::default()
            });
        }
        let thinned = thinned.finish();
        assert!(thinned.buckets.len() <= MAX_POINTS && thinned.buckets.len() > MAX_POINTS / 2);
        let samples: f64 = thinned.buckets.iter().map(|b| b.n).sum();
        assert_eq!(samples, n as f64, "every sample in exactly one bucket");
        assert_eq!(thinned.buckets.iter().map(|b| b.wait_max).fold(0.0, f64::max), 9.0, "the spike survives");
        assert!(thinned.series(|b| b.utilization / b.n).iter().all(|&(_, u)| (u - 0.5).abs() < 1e-12));
        assert_eq!(thinned.last, Some((n - 1) as f64));
        assert_eq!(thinned.first, [Some(0.0), Some(1.0)]);
    }
}
