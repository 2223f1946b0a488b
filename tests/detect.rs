//! `tidepool detect` end to end on synthetic series: the output format, one
//! row per input row, alerts on injected anomalies and none on a clean daily
//! cycle, and bad input rejected with exit code 2 and no output.

use std::path::Path;
use std::process::{Command, Output};

fn tidepool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidepool")).args(args).output().expect("tidepool runs")
}

/// Deterministic noise in [-1, 1].
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// NAB-style calendar time of `2014-04-01 00:00:00` plus `k` steps of 5 min.
fn nab_time(k: usize) -> String {
    let minutes = k * 5;
    let (day, hour, minute) = (1 + minutes / 1440, minutes / 60 % 24, minutes % 60);
    format!("2014-04-{day:02} {hour:02}:{minute:02}:00")
}

/// 14 days every 5 min of a daily cycle with noise: `(csv, timestamps)`.
fn daily_csv(mut value: impl FnMut(usize, f64) -> f64, header: bool) -> (String, Vec<String>) {
    let mut noise = Noise(11);
    let mut csv = String::from(if header { "timestamp,value\n" } else { "" });
    let mut stamps = Vec::new();
    for k in 0..14 * 288 {
        let base = 50.0 + 30.0 * (k as f64 / 288.0 * std::f64::consts::TAU).sin() + 2.0 * noise.next();
        let ts = nab_time(k);
        csv += &format!("{ts},{:.3}\n", value(k, base));
        stamps.push(ts);
    }
    (csv, stamps)
}

struct Scored {
    rows: Vec<(String, String, f64, String)>,
}

impl Scored {
    fn alerts(&self) -> Vec<usize> {
        self.rows.iter().enumerate().filter(|(_, r)| r.2 >= 0.5).map(|(i, _)| i).collect()
    }
}

/// Runs `tidepool detect` on `csv` and parses and checks the output.
fn detect(dir: &Path, name: &str, csv: &str) -> Scored {
    let input = dir.join(name);
    std::fs::write(&input, csv).expect("write input");
    let out = dir.join(format!("scores-{name}"));
    let run = tidepool(&["detect", input.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let text = std::fs::read_to_string(&out).expect("scores written");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,value,anomaly_score,severity"));
    let rows: Vec<_> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 4, "{l}");
            let score: f64 = f[2].parse().expect("score is a number");
            assert!((0.0..=1.0).contains(&score), "{l}");
            assert!(["none", "warning", "critical", "emergency"].contains(&f[3]), "{l}");
            assert_eq!(score >= 0.5, f[3] != "none", "{l}");
            (f[0].to_string(), f[1].to_string(), score, f[3].to_string())
        })
        .collect();
    let data_rows = csv.lines().filter(|l| !l.is_empty() && !l.starts_with("timestamp")).count();
    assert_eq!(rows.len(), data_rows, "one output row per input row");
    Scored { rows }
}

/// Runs detect on bad input: exit code 2, a `file:line` message, no output.
fn rejected(bytes: &[u8], want: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("bad.csv");
    std::fs::write(&input, bytes).expect("write");
    let out = dir.path().join("scores.csv");
    let run = tidepool(&["detect", input.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}{want}", input.display())), "want {want}: {stderr}");
    assert!(!out.exists(), "nothing written on bad input");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(leftovers.len(), 1, "no temporary files either");
}

/// The tests, under `monitor::` so that `cargo test --test detect --lib monitor`
/// runs them with the detector's unit tests.
mod monitor {
    use super::*;

    #[test]
    fn a_clean_daily_cycle_raises_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (csv, stamps) = daily_csv(|_, v| v, true);
        let scored = detect(dir.path(), "clean.csv", &csv);
        // Timestamps and values are echoed verbatim.
        let echoed: Vec<&String> = scored.rows.iter().map(|r| &r.0).collect();
        assert_eq!(echoed, stamps.iter().collect::<Vec<_>>());
        assert_eq!(
            scored.rows[0].1,
            csv.lines().nth(1).and_then(|l| l.split(',').nth(1)).unwrap_or_default()
        );
        // At most one alert, during the first cycle (before the baseline has
        // seen the whole range), and none once the daily profile is learnt.
        let alerts = scored.alerts();
        assert!(alerts.len() <= 1 && alerts.iter().all(|&i| i < 288), "{alerts:?}");
        // The warm-up is quiet.
        assert!(scored.rows[..30].iter().all(|r| r.2 == 0.0));
    }

    #[test]
    fn a_spike_a_step_and_a_stall_are_alerted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spike = 5 * 288 + 100;
        let step = 8 * 288 + 10;
        let stall = 11 * 288 + 60;
        let (csv, _) = daily_csv(
            |k, v| {
                if k == spike {
                    200.0
                } else if (stall..stall + 36).contains(&k) {
                    50.0
                } else if k >= step {
                    v + 60.0
                } else {
                    v
                }
            },
            false,
        );
        let scored = detect(dir.path(), "anomalies.csv", &csv);
        let alerts = scored.alerts();
        let near = |at: usize, within: usize| alerts.iter().any(|&i| (at..at + within).contains(&i));
        assert!(near(spike, 1), "spike: {alerts:?}");
        assert!(near(step, 10), "step: {alerts:?}");
        assert!(near(stall, 36), "stall: {alerts:?}");
        assert!(alerts.len() <= 6, "one alert per episode: {alerts:?}");
        assert_ne!(scored.rows[spike].3, "none");
    }

    #[test]
    fn unix_and_rfc3339_timestamps_are_accepted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut csv = String::new();
        for k in 0..200u32 {
            let v = if k == 150 { 90.0 } else { 10.0 + f64::from(k % 3) };
            if k % 2 == 0 {
                csv += &format!("{},{v}\n", 1_700_000_000 + k * 2);
            } else {
                // 1 700 000 000 is 2023-11-14 22:13:20 UTC = 23:13:20+01:00.
                let s = 20 + k * 2;
                csv += &format!("2023-11-14T23:{:02}:{:02}+01:00,{v}\n", 13 + s / 60, s % 60);
            }
        }
        let scored = detect(dir.path(), "mixed.csv", &csv);
        assert_eq!(scored.alerts(), vec![150]);
    }

    #[test]
    fn bad_input_is_rejected_with_file_and_line() {
        rejected(b"timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,lots\n", ":3:21: value");
        rejected(b"timestamp,value\n2014-04-01 00:00:00,1\nnot a time,2\n", ":3:1: timestamp");
        rejected(b"timestamp,value\n", ": no rows");
        rejected(b"", ": no rows");
        rejected(b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe", ":1:11: timestamp: not text");
        rejected(b"timestamp,value\n10,1\n20,\xff\xfe\n", ":3:4: value: not text");
    }

    /// Real data as published: NAB's machine_temperature_system_failure.csv
    /// steps back 55 minutes for 11 rows (it was refused with exit 2),
    /// exports carry millisecond epochs, and sensors emit NaN and absurd
    /// values. All are scored, one row per input row, with a warning.
    #[test]
    fn real_data_is_scored_with_a_warning_not_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 14 days of a daily cycle; rows 2000..2011 step back 55 minutes.
        let (csv, _) = daily_csv(|_, v| v, true);
        let mut lines: Vec<String> = csv.lines().map(String::from).collect();
        for (i, line) in lines.iter_mut().enumerate().skip(2001).take(11) {
            let k = i - 1 - 11;
            let value = line.split_once(',').map(|(_, v)| v.to_string()).unwrap_or_default();
            *line = format!("{},{value}", nab_time(k));
        }
        lines[3000] = format!("{},NaN", nab_time(2999));
        lines[3001] = format!("{},1e300", nab_time(3000));
        let csv = lines.join("\n") + "\n";
        let input = dir.path().join("machine.csv");
        std::fs::write(&input, &csv).expect("write");
        let out = dir.path().join("scores.csv");
        let run =
            tidepool(&["detect", input.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{stderr}");
        assert!(stderr.contains("11 row(s) out of time order") && stderr.contains("line 2002"), "{stderr}");
        assert!(
            stderr.contains("2 value(s) NaN, infinite or beyond") && stderr.contains("line 3001"),
            "{stderr}"
        );
        let scored = detect(dir.path(), "machine.csv", &csv);
        assert_eq!(scored.rows[2999].2, 0.0, "NaN scores 0");
        assert_eq!(scored.rows[3000].2, 0.0, "1e300 scores 0");
        // The clean cycle around them raises nothing.
        assert!(scored.alerts().is_empty(), "alerts at {:?}", scored.alerts());

        // Millisecond epochs: the same series, read as seconds would be
        // 1000 times slower (a 14-day series over 38 years).
        let ms: String = (0..14 * 288)
            .map(|k| {
                let v = 50.0 + 30.0 * (k as f64 / 288.0 * std::f64::consts::TAU).sin();
                format!("{},{v:.3}\n", 1_396_310_400_000u64 + k as u64 * 300_000)
            })
            .collect();
        let input = dir.path().join("ms.csv");
        std::fs::write(&input, &ms).expect("write");
        let out = dir.path().join("ms-scores.csv");
        let run =
            tidepool(&["detect", input.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success() && stderr.contains("read as milliseconds since the epoch"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&out).expect("scores").lines().count(), 14 * 288 + 1);
    }

    #[test]
    fn a_missing_file_is_bad_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("scores.csv");
        let run = tidepool(&["detect", "/nonexistent/series.csv", "--out", out.to_str().expect("utf-8")]);
        assert_eq!(run.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&run.stderr).contains("/nonexistent/series.csv"));
        assert!(!out.exists());
    }
}

/// `--preset` and `--set` change the detector; bad parameters are exit 2
/// naming them, with nothing written.
#[test]
fn presets_and_parameters_are_chosen_on_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The clean cycle with one night-time spike a little above the day's
    // mean on day 10: the runtime preset judges it for its hour.
    let (csv, _) = daily_csv(|k, v| if k == 10 * 288 + 216 { 55.0 } else { v }, true);
    let input = dir.path().join("s.csv");
    std::fs::write(&input, &csv).expect("write");
    let scores = |extra: &[&str]| {
        let out = dir.path().join("o.csv");
        let mut args =
            vec!["detect", input.to_str().expect("utf-8"), "--force", "--out", out.to_str().expect("utf-8")];
        args.extend_from_slice(extra);
        let run = tidepool(&args);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        std::fs::read_to_string(&out).expect("scores")
    };
    let alert_at = |text: &str, k: usize| {
        text.lines()
            .nth(1 + k)
            .and_then(|l| l.split(',').nth(2))
            .and_then(|s| s.parse::<f64>().ok())
            .expect("a score")
            >= 0.5
    };
    let general = scores(&[]);
    let runtime = scores(&["--preset", "runtime"]);
    assert!(!alert_at(&general, 10 * 288 + 216), "the general preset alerts on the night spike");
    assert!(alert_at(&runtime, 10 * 288 + 216), "the runtime preset misses the night spike");
    assert_eq!(
        runtime,
        scores(&["--preset", "general", "--set", "cycles=true"]),
        "runtime is general with cycles"
    );
    assert_eq!(
        general,
        scores(&["--preset", "runtime", "--set", "cycles=false"]),
        "general is runtime without"
    );
    assert_ne!(general, scores(&["--set", "alert_tail=1e-2"]), "--set changes the scores");

    let out = dir.path().join("never.csv");
    for (set, want) in [
        ("holdof=5", "no parameter named \"holdof\""),
        ("level_alpha=2", "level_alpha = 2 is out of range"),
        ("holdoff=-1", "holdoff = \"-1\" is not a whole number"),
        ("holdoff", "want NAME=VALUE"),
    ] {
        let run = tidepool(&[
            "detect",
            input.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--set",
            set,
        ]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{set}: {stderr}");
        assert!(stderr.contains(want), "{set}: want {want}: {stderr}");
        assert!(!out.exists(), "{set}: nothing written");
    }
}
