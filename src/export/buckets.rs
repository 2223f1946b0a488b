//! `*_seconds` histograms as fixed atomic buckets: a recorder layer in
//! front of metrics-exporter-prometheus.
//!
//! The exporter keeps every histogram sample (value and timestamp) until its
//! upkeep folds them into buckets; at hundreds of thousands of operations a
//! second that is megabytes of buffers and a shared push per sample, also for
//! `record_many`. [`Bucketed`] hands out, for every histogram whose name ends
//! in `_seconds` (the ones tidepool gives [`SECONDS_BUCKETS`]), a
//! [`BucketHistogram`]: a record is a bucket search and two relaxed atomic
//! adds, `record_many` the same, memory fixed. [`Buckets::render`] writes
//! them in the exposition format the exporter uses for its own bucketed
//! histograms (`_bucket{le=...}` cumulative, `_sum`, `_count`; global labels
//! first, the key's labels after, a key's label replacing a global one of the
//! same name), so a scrape sees the same series as before. Every other
//! metric goes to the exporter unchanged.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::formatting::{
    sanitize_description, sanitize_label_key, sanitize_label_value, sanitize_metric_name,
};
use parking_lot::Mutex;

use crate::pool::metrics::{BucketHistogram, SECONDS_BUCKETS};

/// Whether a histogram of this name is bucketed here: tidepool's
/// convention, every `*_seconds` histogram gets [`SECONDS_BUCKETS`].
fn bucketed(name: &str) -> bool {
    name.ends_with("_seconds")
}

/// Every label set registered under one metric name, in order of
/// registration, with its histogram.
type Series = Vec<(Key, Arc<BucketHistogram>)>;

/// The histograms handed out by [`Bucketed`], by name, and their HELP texts.
#[derive(Debug, Default)]
pub(crate) struct Buckets {
    global_labels: Vec<(String, String)>,
    /// Per metric name: every label set registered under it, in order of
    /// registration. Registering a key again returns the same histogram.
    histograms: Mutex<BTreeMap<String, Series>>,
    descriptions: Mutex<BTreeMap<String, SharedString>>,
}

impl Buckets {
    /// A registry whose series carry `global_labels` (later duplicates win,
    /// at the place of the first, as the exporter does).
    pub(crate) fn new(global_labels: &[(String, String)]) -> Buckets {
        let mut labels: Vec<(String, String)> = Vec::new();
        for (key, value) in global_labels {
            upsert(&mut labels, key, value);
        }
        Buckets { global_labels: labels, ..Buckets::default() }
    }

    fn histogram(&self, key: &Key) -> Arc<BucketHistogram> {
        let mut histograms = self.histograms.lock();
        let series = histograms.entry(key.name().to_owned()).or_default();
        if let Some((_, histogram)) = series.iter().find(|(k, _)| k == key) {
            return Arc::clone(histogram);
        }
        let histogram = Arc::new(BucketHistogram::new());
        series.push((key.clone(), Arc::clone(&histogram)));
        histogram
    }

    /// Every bucketed histogram in the text exposition format, one family
    /// per name, each followed by a blank line as the exporter does.
    pub(crate) fn render(&self) -> String {
        let histograms = self.histograms.lock();
        let descriptions = self.descriptions.lock();
        let mut out = String::new();
        for (raw, series) in histograms.iter() {
            let name = sanitize_metric_name(raw);
            if let Some(help) = descriptions.get(raw) {
                let _ = writeln!(out, "# HELP {name} {}", sanitize_description(help));
            }
            let _ = writeln!(out, "# TYPE {name} histogram");
            for (key, histogram) in series {
                let mut labels = self.global_labels.clone();
                for label in key.labels() {
                    upsert(&mut labels, label.key(), label.value());
                }
                let labels = labels
                    .iter()
                    .map(|(k, v)| format!("{}=\"{}\"", sanitize_label_key(k), sanitize_label_value(v)))
                    .collect::<Vec<_>>()
                    .join(",");
                // Inside a bucket's braces before `le`, and the braces of
                // `_sum` and `_count`.
                let (prefix, braces) = if labels.is_empty() {
                    (String::new(), String::new())
                } else {
                    (format!("{labels},"), format!("{{{labels}}}"))
                };
                // Sum first: a record adds its sum before its count, so the
                // sum read here covers at least the samples counted below.
                let sum = histogram.sum_ns() as f64 / 1e9;
                let counts = histogram.counts();
                let mut cumulative = 0u64;
                for (bound, count) in SECONDS_BUCKETS.iter().zip(counts.iter()) {
                    cumulative += count;
                    let _ = writeln!(out, "{name}_bucket{{{prefix}le=\"{bound}\"}} {cumulative}");
                }
                cumulative += counts[SECONDS_BUCKETS.len()];
                let _ = writeln!(out, "{name}_bucket{{{prefix}le=\"+Inf\"}} {cumulative}");
                let _ = writeln!(out, "{name}_sum{braces} {sum}");
                let _ = writeln!(out, "{name}_count{braces} {cumulative}");
            }
            out.push('\n');
        }
        out
    }
}

fn upsert(labels: &mut Vec<(String, String)>, key: &str, value: &str) {
    match labels.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = value.to_owned(),
        None => labels.push((key.to_owned(), value.to_owned())),
    }
}

/// The recorder layer: bucketed `*_seconds` histograms here, everything else
/// to `inner`.
#[derive(Debug)]
pub(crate) struct Bucketed<R> {
    inner: R,
    buckets: Arc<Buckets>,
}

impl<R> Bucketed<R> {
    pub(crate) fn new(inner: R, buckets: Arc<Buckets>) -> Bucketed<R> {
        Bucketed { inner, buckets }
    }
}

impl<R: Recorder> Recorder for Bucketed<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if bucketed(key.as_str()) {
            self.buckets.descriptions.lock().insert(key.as_str().to_owned(), description);
        } else {
            self.inner.describe_histogram(key, unit, description);
        }
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.inner.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        if bucketed(key.name()) {
            Histogram::from_arc(self.buckets.histogram(key))
        } else {
            self.inner.register_histogram(key, metadata)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;

    /// The bucketed rendering is the exporter's own, line for line: the same
    /// samples through the exporter (buckets set for `*_seconds`) and through
    /// the layer give the same text.
    #[test]
    fn renders_what_the_exporter_would() {
        let labels = [("job".to_owned(), "j".to_owned()), ("pool".to_owned(), "global".to_owned())];
        let exporter = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                &SECONDS_BUCKETS,
            )
            .expect("buckets")
            .add_global_label("job", "j")
            .add_global_label("pool", "global")
            .build_recorder();
        let expected_handle = exporter.handle();
        let buckets = Arc::new(Buckets::new(&labels));
        let layered = Bucketed::new(PrometheusBuilder::new().build_recorder(), Arc::clone(&buckets));
        let samples = [0.0, 3e-6, 1e-5, 0.003, 0.003, 2.5, 75.0];
        for recorder in [&exporter as &dyn Recorder, &layered as &dyn Recorder] {
            metrics::with_local_recorder(recorder, || {
                metrics::describe_histogram!("t_wait_seconds", "Wait \"quoted\"\nnext line.");
                let h = metrics::histogram!("t_wait_seconds", "pool" => "a\"b");
                for s in samples {
                    h.record(s);
                }
                metrics::histogram!("t_wait_seconds", "pool" => "c").record_many(0.5, 3);
            });
        }
        expected_handle.run_upkeep();
        let expected = expected_handle.render();
        let ours = buckets.render();
        // The exporter renders label sets in hash order: compare line sets,
        // and the sums as numbers (ours add whole nanoseconds).
        let split = |text: &str| {
            let mut lines: Vec<String> = Vec::new();
            let mut sums: Vec<(String, f64)> = Vec::new();
            for line in text.lines() {
                match line.split_once("_sum") {
                    Some((_, rest)) if !line.starts_with('#') => {
                        let (labels, value) = rest.rsplit_once(' ').expect("a value");
                        sums.push((labels.to_owned(), value.parse().expect("a number")));
                    }
                    _ => lines.push(line.to_owned()),
                }
            }
            lines.sort_unstable();
            sums.sort_by(|a, b| a.0.cmp(&b.0));
            (lines, sums)
        };
        let (expected_lines, expected_sums) = split(&expected);
        let (our_lines, our_sums) = split(&ours);
        assert_eq!(our_lines, expected_lines, "ours:\n{ours}\nexporter:\n{expected}");
        assert_eq!(our_sums.len(), 2);
        for ((ours, a), (theirs, b)) in our_sums.iter().zip(&expected_sums) {
            assert_eq!(ours, theirs);
            assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn other_histograms_and_metrics_go_to_the_exporter() {
        let inner = PrometheusBuilder::new().build_recorder();
        let handle = inner.handle();
        let buckets = Arc::new(Buckets::new(&[]));
        let layered = Bucketed::new(inner, Arc::clone(&buckets));
        metrics::with_local_recorder(&layered, || {
            metrics::histogram!("t_size_bytes").record(10.0);
            metrics::counter!("t_total").increment(2);
            metrics::histogram!("t_seconds").record(1.0);
            // The same key twice is the same histogram.
            metrics::histogram!("t_seconds").record(1.0);
        });
        let exporter = handle.render();
        assert!(exporter.contains("t_size_bytes") && exporter.contains("t_total 2"), "{exporter}");
        assert!(!exporter.contains("t_seconds"), "{exporter}");
        let ours = buckets.render();
        assert!(ours.contains("t_seconds_count 2\n") && !ours.contains("t_size_bytes"), "{ours}");
    }
}
