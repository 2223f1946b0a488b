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

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::lines::{cache_limit, LineReader, Source};
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

/// A piecewise-constant arrival rate, read once to check it and sum it
/// up (rows, duration, expected arrivals, peak rate). Its rows are read
/// again, in order, as a replay goes ([`RateSeries::segments`]): from
/// memory when it has at most [`super::lines::DEFAULT_CACHE_LIMIT`] rows
/// (16 bytes each), from its file otherwise, so a series of any size
/// replays in bounded memory.
#[derive(Debug, Clone, PartialEq)]
pub struct RateSeries {
    /// Where to read the rows again.
    source: Source,
    /// How the input is named in errors.
    name: Arc<str>,
    unit: SeriesUnit,
    scale: f64,
    /// (segment start, ns from the first row; rate, per second, scaled):
    /// every row, when they fit the cache.
    cached: Option<Arc<[(u64, f64)]>>,
    /// Rows (segments).
    rows: u64,
    /// The first row's time, Unix seconds.
    t0: f64,
    /// The last row's interval: the median spacing of the rows.
    last_gap: f64,
    /// Start of the last segment, ns (as read, not compressed).
    last_start_ns: u64,
    /// End of the last segment, ns (as read, not compressed).
    end_ns: u64,
    /// The highest rate, per second.
    peak: f64,
    /// ∫ rate dt over the series as read.
    expected: f64,
    /// The time axis is divided by this ([`RateSeries::compressed`]).
    compress: f64,
}

fn invalid(file: &str, line: usize, column: usize, field: &str, message: String) -> WorkloadError {
    WorkloadError::Invalid { file: file.into(), line, column, field: field.into(), message }
}

fn changed(name: &str, what: String) -> WorkloadError {
    WorkloadError::Invalid {
        file: name.into(),
        line: 0,
        column: 0,
        field: "file".into(),
        message: format!("changed during the replay: {what}"),
    }
}

/// A series' lines as checked rows: (Unix seconds, value).
/// The closest two rows may be, in seconds.
const MIN_ROW_SPACING_SECONDS: f64 = 1e-6;

struct Rows<'a> {
    lines: LineReader<'a>,
    prev: Option<f64>,
}

impl<'a> Rows<'a> {
    fn new(lines: LineReader<'a>) -> Self {
        Rows { lines, prev: None }
    }

    fn next_row(&mut self) -> Result<Option<(f64, f64)>, WorkloadError> {
        loop {
            let Some((n, line, file)) = self.lines.next_line()? else { return Ok(None) };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((ts, value)) = line.split_once(',') else {
                return Err(invalid(file, n, 1, "timestamp", "expected `timestamp,value`".into()));
            };
            let (ts, value) = (ts.trim(), value.trim());
            if self.prev.is_none() && ts.eq_ignore_ascii_case("timestamp") {
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
            if let Some(prev) = self.prev {
                if t <= prev {
                    return Err(invalid(
                        file,
                        n,
                        1,
                        "timestamp",
                        format!("`{ts}` is not after the previous row's (rows must be in time order)"),
                    ));
                }
                // Closer rows would make intervals of 0 ns on the
                // simulator's clock: their arrivals would vanish.
                if t - prev < MIN_ROW_SPACING_SECONDS {
                    return Err(invalid(
                        file,
                        n,
                        1,
                        "timestamp",
                        format!("`{ts}` is less than 1 µs after the previous row's (rows must be at least 1 µs apart)"),
                    ));
                }
            }
            self.prev = Some(t);
            return Ok(Some((t, v)));
        }
    }
}

/// Distinct gaps between rows counted exactly, up to this many distinct
/// values (a regular series has one or a few); beyond, the median is
/// found by extra passes over the input.
const MAX_DISTINCT_GAPS: usize = 1 << 14;

/// The median gap between rows, `sorted[n / 2]`, in bounded memory.
#[derive(Default)]
struct Gaps {
    counts: BTreeMap<u64, u64>,
    n: u64,
    overflow: bool,
}

impl Gaps {
    fn add(&mut self, gap: f64) {
        self.n += 1;
        if !self.overflow {
            *self.counts.entry(gap.to_bits()).or_default() += 1;
            if self.counts.len() > MAX_DISTINCT_GAPS {
                self.overflow = true;
                self.counts = BTreeMap::new();
            }
        }
    }

    /// The median (1 s without gaps), reading the input again with `open`
    /// when there were too many distinct gaps to count.
    fn median<'a>(
        &self,
        open: &dyn Fn() -> Result<LineReader<'a>, WorkloadError>,
    ) -> Result<f64, WorkloadError> {
        if self.n == 0 {
            return Ok(1.0);
        }
        let rank = self.n / 2;
        if !self.overflow {
            // Gaps are > 0, so their bit patterns sort as the numbers do.
            let mut seen = 0;
            for (&bits, &count) in &self.counts {
                seen += count;
                if seen > rank {
                    return Ok(f64::from_bits(bits));
                }
            }
            return Ok(1.0);
        }
        // Radix selection, 16 bits of the gap per pass.
        let (mut prefix, mut known, mut rank) = (0u64, 0u32, rank);
        while known < 64 {
            let shift = 64 - known - 16;
            let mut histogram = vec![0u64; 1 << 16];
            let mut rows = Rows::new(open()?);
            let (mut prev, mut n) = (None::<f64>, 0u64);
            while let Some((t, _)) = rows.next_row()? {
                if let Some(p) = prev {
                    let bits = (t - p).to_bits();
                    n += 1;
                    if known == 0 || bits >> (64 - known) == prefix {
                        histogram[((bits >> shift) & 0xffff) as usize] += 1;
                    }
                }
                prev = Some(t);
            }
            if n != self.n {
                return Err(changed(rows.lines.name(), format!("it has {} rows, not {}", n + 1, self.n + 1)));
            }
            let mut below = 0;
            let mut digit = None;
            for (d, &count) in histogram.iter().enumerate() {
                if below + count > rank {
                    digit = Some(d as u64);
                    break;
                }
                below += count;
            }
            let Some(digit) = digit else {
                return Err(changed(rows.lines.name(), "its rows moved".into()));
            };
            rank -= below;
            prefix = (prefix << 16) | digit;
            known += 16;
        }
        Ok(f64::from_bits(prefix))
    }
}

/// One row's interval: `[start_ns, end_ns)` from the series' start, at
/// `rate` arrivals per second (scaled).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Start, ns from the series' start.
    pub start_ns: u64,
    /// End (the next row's start), ns.
    pub end_ns: u64,
    /// Arrivals per second in it.
    pub rate: f64,
}

impl Segment {
    /// The mean number of arrivals in it.
    pub fn expected(&self) -> f64 {
        self.rate * (self.end_ns - self.start_ns) as f64 / 1e9
    }
}

impl RateSeries {
    /// Reads a series file.
    ///
    /// # Errors
    ///
    /// [`WorkloadError`] naming the file, line and field.
    pub fn load(path: &Path, unit: SeriesUnit, scale: f64) -> Result<RateSeries, WorkloadError> {
        let name: Arc<str> = path.display().to_string().into();
        check_scale(&name, scale)?;
        let open = || LineReader::open(path, Arc::clone(&name));
        RateSeries::read(&open, Source::File(path.to_path_buf()), Arc::clone(&name), unit, scale)
    }

    /// Parses series text; `file` names it in errors.
    ///
    /// # Errors
    ///
    /// [`WorkloadError`] naming the file, line and field: timestamps that do
    /// not parse or do not increase, values that are not finite and ≥ 0, a
    /// file without rows.
    pub fn parse(text: &str, file: &str, unit: SeriesUnit, scale: f64) -> Result<RateSeries, WorkloadError> {
        let name: Arc<str> = file.into();
        check_scale(&name, scale)?;
        let open = || Ok(LineReader::text(text, Arc::clone(&name)));
        let mut series = RateSeries::read(&open, Source::Cached, Arc::clone(&name), unit, scale)?;
        if series.cached.is_none() {
            series.source = Source::Text(text.into());
        }
        Ok(series)
    }

    /// The first read: checks every row and sums the series up, keeping
    /// its segments when they fit the cache.
    fn read<'a>(
        open: &dyn Fn() -> Result<LineReader<'a>, WorkloadError>,
        source: Source,
        name: Arc<str>,
        unit: SeriesUnit,
        scale: f64,
    ) -> Result<RateSeries, WorkloadError> {
        let limit = cache_limit();
        let mut rows = Rows::new(open()?);
        let mut cache = Some(Vec::new());
        let mut gaps = Gaps::default();
        let (mut count, mut peak, mut expected) = (0u64, 0.0f64, 0.0f64);
        let mut first: Option<f64> = None;
        let mut last: Option<(f64, f64)> = None;
        let ns_of = |t: f64, t0: f64| ((t - t0) * 1e9).round() as u64;
        loop {
            let row = match rows.next_row() {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(e @ WorkloadError::Invalid { .. }) => {
                    let at = rows.lines.offset();
                    return Err(rows.lines.finish(e, None, Vec::new(), at));
                }
                Err(e) => return Err(e),
            };
            let t0 = *first.get_or_insert(row.0);
            if let Some((t, v)) = last {
                gaps.add(row.0 - t);
                let rate = match unit {
                    SeriesUnit::Count => v / (row.0 - t),
                    SeriesUnit::PerSecond => v,
                } * scale;
                let segment = Segment { start_ns: ns_of(t, t0), end_ns: ns_of(row.0, t0), rate };
                peak = peak.max(rate);
                expected += segment.expected();
                match &mut cache {
                    Some(c) if c.len() < limit => c.push((segment.start_ns, rate)),
                    _ => cache = None,
                }
            }
            last = Some(row);
            count += 1;
        }
        let (Some(t0), Some((t, v))) = (first, last) else {
            return Err(WorkloadError::Empty { file: name.to_string(), needs: "`timestamp,value` rows" });
        };
        let last_gap = gaps.median(open)?;
        let span = t - t0 + last_gap;
        if span > super::workload::MAX_DURATION.as_secs_f64() {
            return Err(invalid(&name, 0, 0, "timestamp", "the series spans more than 30 days".into()));
        }
        let next = t + last_gap;
        let rate = match unit {
            SeriesUnit::Count => v / (next - t),
            SeriesUnit::PerSecond => v,
        } * scale;
        let end_ns = (span * 1e9).round() as u64;
        let segment = Segment { start_ns: ns_of(t, t0), end_ns, rate };
        peak = peak.max(rate);
        expected += segment.expected();
        match &mut cache {
            Some(c) if c.len() < limit => c.push((segment.start_ns, rate)),
            _ => cache = None,
        }
        let (source, cached) = match cache {
            Some(c) => (Source::Cached, Some(Arc::from(c))),
            None => (source, None),
        };
        Ok(RateSeries {
            source,
            name,
            unit,
            scale,
            cached,
            rows: count,
            t0,
            last_gap,
            last_start_ns: segment.start_ns,
            end_ns,
            peak,
            expected,
            compress: 1.0,
        })
    }

    /// The highest rate of any interval, arrivals per second.
    pub fn peak_rate(&self) -> f64 {
        self.peak
    }

    /// The series with its time axis `k` times shorter and its rates kept
    /// (each interval then holds `1/k` of its arrivals). Its segments'
    /// bounds are divided by `k` (and rounded to the ns) as they are read.
    pub fn compressed(&self, k: f64) -> RateSeries {
        RateSeries { compress: self.compress * k, ..self.clone() }
    }

    fn squeeze(&self, t: u64) -> u64 {
        if self.compress == 1.0 {
            t
        } else {
            (t as f64 / self.compress).round() as u64
        }
    }

    /// How long the series lasts (to the end of its last interval).
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.squeeze(self.end_ns))
    }

    /// The mean number of arrivals a replay draws: ∫ rate dt (of a
    /// compressed series: the series' own over `k`, up to the rounding of
    /// its squeezed bounds).
    pub fn expected_arrivals(&self) -> f64 {
        self.expected / self.compress
    }

    /// Rows (segments).
    pub fn len(&self) -> usize {
        usize::try_from(self.rows).unwrap_or(usize::MAX)
    }

    /// Whether there are no rows (never true for a parsed series).
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether the segments replay from memory (at most
    /// [`super::lines::DEFAULT_CACHE_LIMIT`] rows, or the limit set by
    /// `TIDEPOOL_REPLAY_CACHE`) rather than from the file.
    pub fn is_cached(&self) -> bool {
        self.cached.is_some()
    }

    /// Every row's interval in order, from memory or read again from the
    /// file one line at a time ([`Segment::expected`] is the mean count in
    /// it).
    ///
    /// # Errors
    ///
    /// [`WorkloadError`] when the file cannot be opened again; the
    /// iterator yields one when a line cannot be read or the file no
    /// longer holds the series first read.
    pub fn segments(&self) -> Result<Segments, WorkloadError> {
        let rows = LineReader::reopen(&self.source, &self.name)?.map(Rows::new);
        Ok(Segments {
            series: self.summary(),
            cached: self.cached.clone(),
            rows,
            pending: None,
            k: 0,
            done: false,
        })
    }

    fn summary(&self) -> Summary {
        Summary {
            unit: self.unit,
            scale: self.scale,
            rows: self.rows,
            t0: self.t0,
            last_gap: self.last_gap,
            last_start_ns: self.last_start_ns,
            end_ns: self.end_ns,
            compress: self.compress,
        }
    }
}

fn check_scale(name: &str, scale: f64) -> Result<(), WorkloadError> {
    if !scale.is_finite() || scale <= 0.0 {
        return Err(invalid(name, 0, 0, "--scale", format!("{scale} must be a finite number > 0")));
    }
    Ok(())
}

/// What reading the rows again needs to know of the first read.
#[derive(Debug, Clone, Copy)]
struct Summary {
    unit: SeriesUnit,
    scale: f64,
    rows: u64,
    t0: f64,
    last_gap: f64,
    last_start_ns: u64,
    end_ns: u64,
    compress: f64,
}

impl Summary {
    fn squeeze(&self, t: u64) -> u64 {
        if self.compress == 1.0 {
            t
        } else {
            (t as f64 / self.compress).round() as u64
        }
    }
}

/// A series' segments in order, from memory or from its file. After the
/// last one it checks the file still holds the series first read.
pub struct Segments {
    series: Summary,
    cached: Option<Arc<[(u64, f64)]>>,
    rows: Option<Rows<'static>>,
    /// The row read ahead (a segment ends where the next row starts).
    pending: Option<(f64, f64)>,
    k: u64,
    done: bool,
}

impl std::fmt::Debug for Segments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segments").field("k", &self.k).field("rows", &self.series.rows).finish()
    }
}

impl Segments {
    /// The next segment, `Ok(None)` after the last.
    #[inline]
    pub(crate) fn next_segment(&mut self) -> Result<Option<Segment>, WorkloadError> {
        let s = self.series;
        if let Some(cached) = &self.cached {
            let k = self.k as usize;
            let Some(&(start, rate)) = cached.get(k) else { return Ok(None) };
            let end = cached.get(k + 1).map_or(s.end_ns, |&(next, _)| next);
            self.k += 1;
            return Ok(Some(Segment { start_ns: s.squeeze(start), end_ns: s.squeeze(end), rate }));
        }
        if self.done {
            return Ok(None);
        }
        let Some(rows) = &mut self.rows else { return Ok(None) };
        if self.k == 0 && self.pending.is_none() {
            self.pending = rows.next_row()?;
        }
        let Some((t, v)) = self.pending.take() else {
            self.done = true;
            return Err(changed(rows.lines.name(), format!("it has no rows, not {}", s.rows)));
        };
        self.k += 1;
        let ns_of = |t: f64| ((t - s.t0) * 1e9).round() as u64;
        let after = if self.k < s.rows { rows.next_row()? } else { None };
        let (next, end) = match after {
            Some((next, _)) => (next, ns_of(next)),
            None => (t + s.last_gap, s.end_ns),
        };
        let rate = match s.unit {
            SeriesUnit::Count => v / (next - t),
            SeriesUnit::PerSecond => v,
        } * s.scale;
        let start = ns_of(t);
        if self.k >= s.rows {
            // The last row: the file must end here, as first read.
            self.done = true;
            if start != s.last_start_ns {
                return Err(changed(rows.lines.name(), "its last row is not where it was".into()));
            }
            if rows.next_row()?.is_some() {
                return Err(changed(
                    rows.lines.name(),
                    format!("it has more than the {} rows first read", s.rows),
                ));
            }
        } else if after.is_none() {
            self.done = true;
            return Err(changed(rows.lines.name(), format!("it ended after {} of {} rows", self.k, s.rows)));
        }
        self.pending = after;
        Ok(Some(Segment { start_ns: s.squeeze(start), end_ns: s.squeeze(end), rate }))
    }
}

impl Iterator for Segments {
    type Item = Result<Segment, WorkloadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_segment().transpose()
    }
}

/// Where a replay's arrivals are in a series: the segment they reached.
pub(crate) struct Cursor {
    segments: Segments,
    current: Option<Segment>,
}

impl Cursor {
    /// From the series' start.
    pub fn new(series: &RateSeries) -> Result<Cursor, WorkloadError> {
        Ok(Cursor { segments: series.segments()?, current: None })
    }

    #[inline]
    fn current(&mut self) -> Result<Option<Segment>, WorkloadError> {
        if self.current.is_none() {
            self.current = self.segments.next_segment()?;
        }
        Ok(self.current)
    }

    /// The next arrival after `from` (ns from the series' start) given a
    /// unit-rate exponential draw `e`: inverts the integrated rate across
    /// segments (arrivals only move forward). `None` past the end.
    #[inline]
    pub fn next_after(&mut self, from: u64, mut e: f64) -> Result<Option<u64>, WorkloadError> {
        let mut t = from;
        while let Some(segment) = self.current()? {
            if segment.end_ns > t {
                break;
            }
            self.current = None;
        }
        while let Some(Segment { end_ns: end, rate, .. }) = self.current()? {
            let room = end.saturating_sub(t) as f64 / 1e9 * rate;
            if rate > 0.0 && room >= e {
                let dt = (e / rate * 1e9 + 0.5) as u64;
                return Ok(Some((t + dt).min(end.saturating_sub(1)).max(t)));
            }
            e -= room;
            t = end;
            self.current = None;
        }
        Ok(None)
    }
}

/// Unix seconds, or `YYYY-MM-DD HH:MM:SS` (UTC), or RFC 3339
/// (`2014-04-10T00:04:00.5+02:00`, `...Z`), as Unix seconds.
///
/// ```
/// use tidepool::sim::series::parse_timestamp;
/// assert_eq!(parse_timestamp("1970-01-01 00:01:00"), Some(60.0));
/// assert_eq!(parse_timestamp("not a time"), None);
/// ```
pub fn parse_timestamp(s: &str) -> Option<f64> {
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
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=days_in_month(y, m)).contains(&day) {
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

/// Days in month `m` of year `y` (proleptic Gregorian): `2024-02-30` is no date.
fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
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
        assert_eq!(parse_timestamp("2024-02-30 00:00:00"), None);
        assert_eq!(parse_timestamp("2023-02-29 00:00:00"), None);
        assert_eq!(parse_timestamp("2024-04-31T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2024-02-29 00:00:00"), Some(1_709_164_800.0));
        assert_eq!(parse_timestamp("2000-02-29 00:00:00"), Some(951_782_400.0));
        assert_eq!(parse_timestamp("1900-02-29 00:00:00"), None);
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
        let mut cursor = Cursor::new(&s).expect("opens");
        // e = 5 from 0: 5 s in.
        assert_eq!(cursor.next_after(0, 5.0).expect("reads"), Some(5_000_000_000));
        // e = 6 from 5 s: 5 units left in segment 0, none in 1, 1 unit at 2/s = 0.5 s into segment 2.
        assert_eq!(cursor.next_after(5_000_000_000, 6.0).expect("reads"), Some(20_500_000_000));
        assert_eq!(cursor.next_after(20_500_000_000, 100.0).expect("reads"), None);
        assert!((s.expected_arrivals() - 30.0).abs() < 1e-9);
    }

    #[test]
    fn the_last_gap_is_the_exact_median_however_many_distinct_gaps() {
        // More distinct gaps than are counted: the median comes from the
        // radix passes, and must be the sorted one's.
        for rows in [3usize, 50, MAX_DISTINCT_GAPS * 2 + 7] {
            let mut x: u64 = 7;
            let mut t = 1_700_000_000.0f64;
            let mut times = Vec::new();
            let mut text = String::from("timestamp,value\n");
            for _ in 0..rows {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                t += 0.001 + (x >> 40) as f64 / 1e9;
                times.push(t);
                text += &format!("{t},1\n");
            }
            let parsed: Vec<f64> = times.iter().map(|t| format!("{t}").parse().expect("f64")).collect();
            let mut gaps: Vec<f64> = parsed.windows(2).map(|w| w[1] - w[0]).collect();
            gaps.sort_by(f64::total_cmp);
            let median = gaps[gaps.len() / 2];
            let s = RateSeries::parse(&text, "r.csv", SeriesUnit::Count, 1.0).expect("parses");
            assert_eq!(s.last_gap.to_bits(), median.to_bits(), "{rows} rows");
        }
    }
}
