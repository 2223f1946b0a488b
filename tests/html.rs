//! `report.html`: written beside report.json, self-contained (no script, no
//! network), with its charts and alert shading; rendered in headless
//! Chromium (Debian's `chromium`, installed by `make deps`) to check that
//! the charts draw. Under `CI=true` a missing Chromium is a failure.

mod common;
#[allow(unused_imports)]
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

const STALL: &str = r#"
name = "html-stall"
seed = 4
duration = "30m"
hold = { dist = "exponential", mean = "5ms" }
[pool]
min = 4
max = 8
acquire_timeout = "5s"
object_bytes = "4MiB"
[[phase]]
name = "steady"
duration = "30m"
arrival = { process = "poisson", rate = 200 }
[[fault]]
kind = "stall"
at = "15m"
duration = "30s"
[slo]
max_alert_severity = "critical"
"#;

fn soak(dir: &Path) -> PathBuf {
    let w = dir.join("w.toml");
    std::fs::write(&w, STALL).expect("write");
    let out = dir.join("out");
    let o = tidepool(&["soak", w.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8"), "-q"]);
    assert_eq!(o.status.code(), Some(1), "the emergency alert fails the gate: {o:?}");
    out
}

#[test]
fn the_html_report_is_self_contained_with_charts_and_alerts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = soak(dir.path());
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html beside report.json");
    assert!(html.starts_with("<!doctype html>"));
    assert!(
        !html.contains("<script") && !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
    assert!(html.matches("<svg").count() >= 5, "five charts");
    assert!(html.contains("fill=\"#d62728\""), "the emergency alert is shaded on the time axis");
    assert!(html.contains("max_alert_severity") && html.contains("FAIL"), "the gate table");
    assert!(html.contains("Leak verdict"), "the leak verdict");
    assert!(html.contains("<td>steady</td>"), "the phase table");
    // Each chart has a line with as many points as buckets (900 samples of
    // 2 s: one per sample, under the 800-bucket cap: 450 buckets of 2).
    let first_path = html.split("<path d=\"").nth(1).expect("a line");
    let points = first_path.split('"').next().expect("d").matches(" L").count() + 1;
    assert_eq!(points, 450, "bucketed points");
}

#[test]
fn chromium_draws_the_charts() {
    let Some(chromium) = require(&["chromium", "chromium-browser"]) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = soak(dir.path());
    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!doctype html><html><body></body></html>").expect("write");
    let shot = |page: &Path, png: &Path| -> String {
        let o = Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--enable-logging=stderr",
                "--window-size=1100,2400",
                &format!("--screenshot={}", png.display()),
                &format!("file://{}", page.display()),
            ])
            .env("HOME", dir.path())
            .output()
            .expect("run chromium");
        assert!(png.is_file(), "no screenshot: {o:?}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let (report_png, blank_png) = (dir.path().join("report.png"), dir.path().join("blank.png"));
    let log = shot(&out.join("report.html"), &report_png);
    shot(&blank, &blank_png);
    assert!(!log.contains("Uncaught") && !log.contains("CONSOLE"), "console errors: {log}");
    let (report_size, blank_size) = (
        std::fs::metadata(&report_png).expect("png").len(),
        std::fs::metadata(&blank_png).expect("png").len(),
    );
    // A blank page compresses to almost nothing; lines, text and shading do not.
    assert!(report_size > 10 * blank_size && report_size > 50_000, "{report_size} vs blank {blank_size}");
}
