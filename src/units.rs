//! Durations and sizes as people write and read them: parsing (`"250ms"`,
//! `"1h30m"`, `"64KiB"`) and formatting (`12.34 ms`, `2.50 h`, `1.5 MiB`).
//!
//! A neutral module: the agent's configuration, workload files, the
//! monitor's messages and the soak reports all use these, so they read and
//! print units the same way.
//!
//! ```
//! use std::time::Duration;
//! use tidepool::units;
//!
//! assert_eq!(units::fmt_duration(Duration::from_millis(5400_000)), "1h30m");
//! assert_eq!(units::parse_bytes("64KiB"), Ok(65_536));
//! assert_eq!(units::ms(0.0125), "12.50 ms");
//! ```

use std::time::Duration;

/// The longest duration any setting or run accepts: 30 days.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// `24h`, `1h30m`, `2.5s`, `250ms`: compact, and parseable back by
/// [`parse_duration`].
///
/// ```
/// use std::time::Duration;
/// assert_eq!(tidepool::units::fmt_duration(Duration::from_micros(1500)), "1500us");
/// assert_eq!(tidepool::units::fmt_duration(Duration::from_secs(90)), "1m30s");
/// ```
pub fn fmt_duration(d: Duration) -> String {
    let total = d.as_secs();
    let nanos = d.subsec_nanos();
    if total == 0 {
        return match nanos {
            0 => "0s".into(),
            n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
            n if n % 1_000 == 0 => format!("{}us", n / 1_000),
            n => format!("{n}ns"),
        };
    }
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if s > 0 || nanos > 0 {
        if nanos > 0 {
            out += &format!("{}s", (s as f64 + nanos as f64 / 1e9));
        } else {
            out += &format!("{s}s");
        }
    }
    out
}

/// A duration written as text (`"1h30m"`, `"250ms"`, humantime's syntax),
/// at most [`MAX_DURATION`].
///
/// ```
/// assert_eq!(tidepool::units::parse_duration("1m30s").unwrap().as_secs(), 90);
/// assert!(tidepool::units::parse_duration("ten").unwrap_err().contains("not a duration"));
/// ```
///
/// # Errors
///
/// A message naming the text and what is accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. \"250ms\", \"30s\", \"1h30m\""))?;
    if d > MAX_DURATION {
        return Err(format!("`{text}` is more than 30 days"));
    }
    Ok(d)
}

/// A duration given as a number of seconds, `0 <= s <= 30 days`.
///
/// # Errors
///
/// A message for a negative, non-finite or too large number.
pub fn duration_from_seconds(secs: f64) -> Result<Duration, String> {
    if secs.is_finite() && secs >= 0.0 && secs <= MAX_DURATION.as_secs_f64() {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(format!("{secs} is not a duration in seconds (need 0 <= s <= 30 days)"))
    }
}

/// Parses `"16MiB"`, `"512 KB"`, `"100"` (bytes; units B, KiB, MiB, GiB,
/// KB, MB, GB).
///
/// ```
/// assert_eq!(tidepool::units::parse_bytes("16MiB"), Ok(16 << 20));
/// assert_eq!(tidepool::units::parse_bytes("1.5 KB"), Ok(1500));
/// assert!(tidepool::units::parse_bytes("12 parsecs").is_err());
/// ```
///
/// # Errors
///
/// A message naming the text and what is accepted.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. 4096, \"64KiB\", \"16MiB\""))?;
    let scale = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => return Err(format!("`{other}` is not a size unit (B, KiB, MiB, GiB, KB, MB, GB)")),
    };
    let bytes = number * scale;
    if bytes.is_finite() && (0.0..1.8e19).contains(&bytes) {
        Ok(bytes as u64)
    } else {
        Err(format!("`{text}` is out of range"))
    }
}

/// Seconds as milliseconds with sensible precision: `0 ms`, `0.250 ms`,
/// `12.50 ms`, `2000 ms`.
pub fn ms(seconds: f64) -> String {
    let m = seconds * 1e3;
    if m == 0.0 {
        "0 ms".into()
    } else if m < 1.0 {
        format!("{m:.3} ms")
    } else if m < 100.0 {
        format!("{m:.2} ms")
    } else {
        format!("{m:.0} ms")
    }
}

/// Seconds for people: `42.0 s`, `1.5 min`, `2.50 h`.
pub fn human_seconds(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.2} h", s / 3600.0)
    } else if s >= 60.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

/// Bytes for people, binary units: `512 B`, `1.5 KiB`, `2.00 MiB`.
pub fn bytes(b: f64) -> String {
    let a = b.abs();
    if a >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if a >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", b / (1024.0 * 1024.0))
    } else if a >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_durations_parse_back() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(7),
            Duration::from_micros(250),
            Duration::from_millis(1500),
            Duration::from_secs(86_400),
            Duration::from_secs(5400),
        ] {
            assert_eq!(parse_duration(&fmt_duration(d)), Ok(d), "{}", fmt_duration(d));
        }
    }

    #[test]
    fn limits_hold() {
        assert!(parse_duration("31 days").is_err());
        assert!(duration_from_seconds(-1.0).is_err());
        assert!(duration_from_seconds(f64::NAN).is_err());
        assert_eq!(duration_from_seconds(2.5), Ok(Duration::from_millis(2500)));
        assert!(parse_bytes("1e30").is_err());
    }
}
