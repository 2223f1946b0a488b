//! Rate series: a captured `timestamp,value` CSV (a Prometheus range export,
//! a CloudWatch request count, the NAB corpus) turned into the arrival rate
//! of a replay.
//!
//! Each row's value is, by default, the number of arrivals in the interval
//! up to the next row ([`SeriesUnit::Count`]); with [`SeriesUnit::PerSecond`]
//! it is a rate. The last row's interval is the median spacing of the rows.
//! The replay draws a non-homogeneous Poisson process whose rate is constant
//! within each interval, so the arrivals in an interval are Poisson with the
//! row's count as their mean.
//!
//! Timestamps are Unix seconds (`1700000000`, `1700000000.5`) or
//! `YYYY-MM-DD HH:MM:SS` (UTC; a `T` between date and time is accepted).
//!
//! # Examples
//!
//! ```
//! use tidepool::sim::series::{RateSeries, SeriesUnit};
//!
//! let csv = "timestamp,value\n2024-01-01 00:00:00,600\n2024-01-01 00:01:00,1200\n";
//! let s = RateSeries::parse(csv, "reqs.csv", SeriesUnit::Count, 1.0).unwrap();
//! assert_eq!(s.duration().as_secs(), 120);
//! assert!((s.expected_arrivals() - 1800.0).abs() < 1e-9);
//! ```

use std::path::Path;
use std::time::Duration;

use super::workload::WorkloadError;

/// What a series' values mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeriesUnit {
    /// Arrivals in the interval up to the next row (Prometheus `increase`,
    /// CloudWatch `Sum`).
    #[default]
    Count,
    /// Arrivals per second during the interval.
    PerSecond,
}

/// A piecewise-constant arrival rate.
#[derive(Debug, Clone, PartialEq)]
pub struct RateSeries {
    /// Segment starts, ns from the first row, increasing.
    starts_ns: Vec<u64>,
    /// Rate of each segment, arrivals per second (scaled).
    rates: Vec<f64>,
    /// End of the last segment, ns.
    end_ns: u64,
}

fn invalid(file: &str, line: usize, column: usize, field: &str, message: String) -> WorkloadError {
    WorkloadError::Invalid { file: file.into(), line, column, field: field.into(), message }
}

impl RateSeries {
    /// Reads a series file.
    ///
    /// # Errors
    ///
    /// [`WorkloadError`] naming the file, line and field.
    pub fn load(path: &Path, unit: SeriesUnit, scale: f64) -> Result<RateSeries, WorkloadError> {
        let (text, file) = super::workload::read_text(path)?;
        RateSeries::parse(&text, &file, unit, scale)
    }

    /// Parses series text; `file` names it in errors.
    ///
    /// # Errors
    ///
    /// [`WorkloadError`] naming the file, line and field: timestamps that do
    /// not parse or do not increase, values that are not finite and ≥ 0, a
    /// file without rows.
    pub fn parse(text: &str, file: &str, unit: SeriesUnit, scale: f64) -> Result<RateSeries, WorkloadError> {
        if !scale.is_finite() || scale <= 0.0 {
            return Err(invalid(file, 0, 0, "--scale", format!("{scale} must be a finite number > 0")));
        }
        let mut rows: Vec<(f64, f64)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((ts, value)) = line.split_once(',') else {
                return Err(invalid(file, n, 1, "timestamp", "expected `timestamp,value`".into()));
            };
            let (ts, value) = (ts.trim(), value.trim());
            if rows.is_empty() && ts.eq_ignore_ascii_case("timestamp") {
                continue; // the header
            }
            let t = parse_timestamp(ts).ok_or_else(|| {
                invalid(file, n, 1, "timestamp", format!("`{ts}` is not Unix seconds or YYYY-MM-DD HH:MM:SS"))
            })?;
            let column = ts.len() + 2;
            let v: f64 = value
                .parse()
                .map_err(|_| invalid(file, n, column, "value", format!("`{value}` is not a number")))?;
            if !v.is_finite() || v < 0.0 {
                return Err(invalid(
                    file,
                    n,
                    column,
                    "value",
                    format!("{v} is not a count (need a finite value >= 0)"),
                ));
            }
            if let Some(&(prev, _)) = rows.last() {
                if t <= prev {
                    return Err(invalid(
                        file,
                        n,
                        1,
                        "timestamp",
                        format!("`{ts}` is not after the previous row's (rows must be in time order)"),
                    ));
                }
            }
            rows.push((t, v));
        }
        if rows.is_empty() {
            return Err(WorkloadError::Empty { file: file.into(), needs: "`timestamp,value` rows" });
        }
        let t0 = rows[0].0;
        let mut gaps: Vec<f64> = rows.windows(2).map(|w| w[1].0 - w[0].0).collect();
        gaps.sort_by(f64::total_cmp);
        let last_gap = gaps.get(gaps.len() / 2).copied().unwrap_or(1.0);
        let span = rows[rows.len() - 1].0 - t0 + last_gap;
        if span > super::workload::MAX_DURATION.as_secs_f64() {
            return Err(invalid(file, 0, 0, "timestamp", "the series spans more than 30 days".into()));
        }
        let mut starts_ns = Vec::with_capacity(rows.len());
        let mut rates = Vec::with_capacity(rows.len());
        for (k, &(t, v)) in rows.iter().enumerate() {
            let next = rows.get(k + 1).map_or(t + last_gap, |r| r.0);
            let rate = match unit {
                SeriesUnit::Count => v / (next - t),
                SeriesUnit::PerSecond => v,
            } * scale;
            starts_ns.push(((t - t0) * 1e9).round() as u64);
            rates.push(rate);
        }
        let end_ns = (span * 1e9).round() as u64;
        Ok(RateSeries { starts_ns, rates, end_ns })
    }

    /// The highest rate of any interval, arrivals per second.
    pub fn peak_rate(&self) -> f64 {
        self.rates.iter().copied().fold(0.0, f64::max)
    }

    /// The series with its time axis `k` times shorter and its rates kept
    /// (each interval then holds `1/k` of its arrivals).
    pub fn compressed(&self, k: f64) -> RateSeries {
        let squeeze = |t: u64| (t as f64 / k).round() as u64;
        RateSeries {
            starts_ns: self.starts_ns.iter().map(|&t| squeeze(t)).collect(),
            rates: self.rates.clone(),
            end_ns: squeeze(self.end_ns),
        }
    }

    /// How long the series lasts (to the end of its last interval).
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_ns)
    }

    /// The mean number of arrivals a replay draws: ∫ rate dt.
    pub fn expected_arrivals(&self) -> f64 {
        (0..self.rates.len())
            .map(|k| self.rates[k] * (self.segment_end(k) - self.starts_ns[k]) as f64 / 1e9)
            .sum()
    }

    /// Rows (segments).
    pub fn len(&self) -> usize {
        self.rates.len()
    }

    /// Whether there are no rows (never true for a parsed series).
    pub fn is_empty(&self) -> bool {
        self.rates.is_empty()
    }

    /// Expected arrivals in each row's interval.
    pub fn expected_per_row(&self) -> Vec<f64> {
        (0..self.rates.len())
            .map(|k| self.rates[k] * (self.segment_end(k) - self.starts_ns[k]) as f64 / 1e9)
            .collect()
    }

    fn segment_end(&self, k: usize) -> u64 {
        self.starts_ns.get(k + 1).copied().unwrap_or(self.end_ns)
    }

    /// The next arrival after `from` (ns from the series' start) given a
    /// unit-rate exponential draw `e`: inverts the integrated rate across
    /// segments. `cursor` remembers the segment (arrivals only move
    /// forward). `None` past the end.
    pub(crate) fn next_after(&self, from: u64, mut e: f64, cursor: &mut usize) -> Option<u64> {
        let mut t = from;
        while *cursor < self.rates.len() && self.segment_end(*cursor) <= t {
            *cursor += 1;
        }
        while *cursor < self.rates.len() {
            let k = *cursor;
            let end = self.segment_end(k);
            let rate = self.rates[k];
            let room = (end - t) as f64 / 1e9 * rate;
            if rate > 0.0 && room >= e {
                let dt = (e / rate * 1e9 + 0.5) as u64;
                return Some((t + dt).min(end.saturating_sub(1)).max(t));
            }
            e -= room;
            t = end;
            *cursor += 1;
        }
        None
    }
}

/// Unix seconds, or `YYYY-MM-DD HH:MM:SS` (UTC), or RFC 3339
/// (`2014-04-10T00:04:00.5+02:00`, `...Z`), as Unix seconds.
pub(crate) fn parse_timestamp(s: &str) -> Option<f64> {
    if let Ok(x) = s.parse::<f64>() {
        return x.is_finite().then_some(x);
    }
    let s = s.trim_end_matches(['Z', 'z']);
    let (date, time) = s.split_once([' ', 'T'])?;
    // An RFC 3339 offset (`+02:00`, `-05:30`) after the time.
    let (time, offset) = match time.rfind(['+', '-']) {
        Some(k) => {
            let (hh, mm) = time[k + 1..].split_once(':')?;
            let (hh, mm): (u32, u32) = (hh.parse().ok()?, mm.parse().ok()?);
            if hh > 23 || mm > 59 {
                return None;
            }
            let sign = if time[k..].starts_with('-') { -1.0 } else { 1.0 };
            (&time[..k], sign * f64::from(hh * 3600 + mm * 60))
        }
        None => (time, 0.0),
    };
    let mut d = date.split('-');
    let (y, m, day): (i64, u32, u32) =
        (d.next()?.parse().ok()?, d.next()?.parse().ok()?, d.next()?.parse().ok()?);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut t = time.split(':');
    let (hh, mm): (u32, u32) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let ss: f64 = t.next().map_or(Some(0.0), |x| x.parse().ok())?;
    if t.next().is_some() || hh > 23 || mm > 59 || !(0.0..61.0).contains(&ss) {
        return None;
    }
    Some(days_from_civil(y, m, day) as f64 * 86_400.0 + f64::from(hh * 3600 + mm * 60) + ss - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_both_ways() {
        assert_eq!(parse_timestamp("1970-01-02 00:00:00"), Some(86_400.0));
        assert_eq!(parse_timestamp("2014-04-10 00:04:00"), Some(1_397_088_240.0));
        assert_eq!(parse_timestamp("2014-04-10T00:04:00Z"), Some(1_397_088_240.0));
        assert_eq!(parse_timestamp("1397088240.5"), Some(1_397_088_240.5));
        assert_eq!(parse_timestamp("2014-04-10T02:04:00.5+02:00"), Some(1_397_088_240.5));
        assert_eq!(parse_timestamp("2014-04-09T19:04:00-05:00"), Some(1_397_088_240.0));
        assert_eq!(parse_timestamp("2014-13-10 00:04:00"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn bad_rows_are_named() {
        let cases = [
            ("timestamp,value\n10,1\n5,1\n", "s.csv:3:1: timestamp", "time order"),
            ("timestamp,value\n10,1\n20,-4\n", "s.csv:3:4: value", "not a count"),
            ("timestamp,value\n10,1\nnoon,4\n", "s.csv:3:1: timestamp", "not Unix seconds"),
            ("timestamp,value\n10,1\n20,many\n", "s.csv:3:4: value", "not a number"),
            ("timestamp,value\n10\n", "s.csv:2:1: timestamp", "timestamp,value"),
        ];
        for (text, at, what) in cases {
            let err = RateSeries::parse(text, "s.csv", SeriesUnit::Count, 1.0).expect_err(what).to_string();
            assert!(err.starts_with(at) && err.contains(what), "{err}");
        }
        assert!(matches!(
            RateSeries::parse("timestamp,value\n", "e.csv", SeriesUnit::Count, 1.0),
            Err(WorkloadError::Empty { .. })
        ));
    }

    #[test]
    fn inversion_walks_across_segments() {
        // 1/s for 10 s, then 0 for 10 s, then 2/s for 10 s.
        let s = RateSeries::parse("0,10\n10,0\n20,20\n", "x", SeriesUnit::Count, 1.0).expect("parses");
        let mut cursor = 0;
        // e = 5 from 0: 5 s in.
        assert_eq!(s.next_after(0, 5.0, &mut cursor), Some(5_000_000_000));
        // e = 6 from 5 s: 5 units left in segment 0, none in 1, 1 unit at 2/s = 0.5 s into segment 2.
        assert_eq!(s.next_after(5_000_000_000, 6.0, &mut cursor), Some(20_500_000_000));
        assert_eq!(s.next_after(20_500_000_000, 100.0, &mut cursor), None);
        assert!((s.expected_arrivals() - 30.0).abs() < 1e-9);
    }
}
