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

/// Reads the samples a report's charts are drawn from. Lines that do not
/// parse (a torn last line after a kill) are skipped.
fn read_points(samples: &Path) -> Vec<Point> {
    let Ok(text) = std::fs::read_to_string(samples) else { return Vec::new() };
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| {
            let f = |k: &str| v.get(k).and_then(serde_json::Value::as_f64);
            Some(Point {
                t: f("t")?,
                arrived: f("arrived")?,
                wait_p99: f("wait_p99").unwrap_or(0.0),
                in_use: f("in_use").unwrap_or(0.0),
                size: f("size").unwrap_or(0.0),
                target: f("target").unwrap_or(0.0),
                memory: f("memory_bytes").unwrap_or(0.0),
                rss: f("rss_bytes"),
            })
        })
        .collect()
}

/// A series to draw: its name, colour, and one value per bucket.
struct Series {
    name: &'static str,
    colour: &'static str,
    values: Vec<(f64, f64)>,
    dashed: bool,
}

/// Buckets `points` into at most `MAX_POINTS` (t, value) pairs.
fn bucket(points: &[Point], value: impl Fn(&Point) -> f64, keep_max: bool) -> Vec<(f64, f64)> {
    if points.is_empty() {
        return Vec::new();
    }
    let per = points.len().div_ceil(MAX_POINTS).max(1);
    points
        .chunks(per)
        .map(|chunk| {
            let t = chunk[chunk.len() - 1].t;
            let vals = chunk.iter().map(&value);
            let v =
                if keep_max { vals.fold(f64::MIN, f64::max) } else { vals.sum::<f64>() / chunk.len() as f64 };
            (t, v)
        })
        .collect()
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
    let points = read_points(samples);
    let span = points.last().map_or(report.virtual_seconds, |p| p.t).max(report.virtual_seconds);
    let interval = if points.len() >= 2 { (points[1].t - points[0].t).max(1e-9) } else { 1.0 };
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
            values: bucket(&points, |p| p.arrived / interval, false),
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
            values: bucket(&points, |p| p.wait_p99, true),
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
            values: bucket(&points, |p| if p.size > 0.0 { p.in_use / p.size } else { 0.0 }, false),
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
                values: bucket(&points, |p| p.size, false),
                dashed: false,
            },
            Series {
                name: "target",
                colour: "#8c564b",
                values: bucket(&points, |p| p.target, false),
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
        values: bucket(&points, |p| p.memory, false),
        dashed: false,
    }];
    if points.iter().any(|p| p.rss.is_some()) {
        memory.push(Series {
            name: "process RSS",
            colour: "#17becf",
            values: bucket(&points, |p| p.rss.unwrap_or(0.0), false),
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
