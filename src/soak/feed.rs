//! What a soak does with each sample: the line in `samples.jsonl`, the
//! monitor (fed through a [`Sampler`] on the run's pool, as a live agent's
//! is), `alerts.jsonl`, checkpoints, the live Pushgateway push, tidepool's
//! own RSS trend, and the caller's [`Progress`].

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::live_push::LivePush;
use crate::clock::Clock;
use crate::export::{Exporters, Pushgateway};
use crate::monitor::sampler::Sampler;
use crate::monitor::{actions, AlertEvent, Kind, LeakTracker, Monitor, Reading, WatchedPool};
use crate::report::{self, Report, Wall};
use crate::sim::{Observer, Outcome, Sample, WallFigures, Workload};

/// Shows a soak's progress: the CLI draws a bar or prints a line every few
/// seconds; a test may print nothing. Every method does nothing unless
/// implemented.
pub trait Progress {
    /// Something worth saying: the run starting, where /metrics is served,
    /// a live push that failed.
    fn notice(&mut self, message: &str) {
        let _ = message;
    }

    /// A sample was taken.
    fn sample(&mut self, at: &Tick<'_>) {
        let _ = at;
    }

    /// The monitor raised, changed or resolved an alert.
    fn alert(&mut self, event: &AlertEvent) {
        let _ = event;
    }

    /// The run is over (before the reports are written).
    fn finish(&mut self) {}
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {}

/// Where a run is, for [`Progress::sample`].
#[derive(Debug, Clone, Copy)]
pub struct Tick<'a> {
    /// The sample just taken.
    pub sample: &'a Sample,
    /// Seconds of the run covered (virtual or wall).
    pub covered: f64,
    /// Seconds the run lasts.
    pub total: f64,
    /// Wall seconds since the run started.
    pub elapsed: f64,
    /// Operations arrived so far.
    pub arrived: u64,
    /// Whether time is the real clock's.
    pub wall: bool,
}

/// The soak's [`Observer`].
pub(super) struct Feed<'p> {
    /// `samples.jsonl`; `None` once a write to it failed.
    samples: Option<BufWriter<std::fs::File>>,
    /// The bytes of whole lines in `samples.jsonl`.
    samples_bytes: u64,
    alerts: BufWriter<std::fs::File>,
    /// The first write error (a full disk, say): it stops the run, whose
    /// end then says what could and could not be written.
    pub(super) error: Option<std::io::Error>,
    /// The run's stop flag, raised on the first write error.
    stop: Arc<AtomicBool>,
    wall: Clock,
    pub(super) started: u64,
    total_seconds: f64,
    arrived: u64,
    /// Wall-clock run: time is real.
    wall_mode: bool,
    pub(super) checkpoint: Checkpoint,
    /// The monitor, fed every sample; its events go to alerts.jsonl.
    pub(super) monitor: Monitor,
    /// The readings of the run's pool, as a live agent takes them (and of
    /// the process, when memory is real).
    sampler: Sampler,
    /// Memory is the process's (a caller's code runs), not the model's.
    real_memory: bool,
    /// Wall-clock runs with a Pushgateway: the group, the live series, and
    /// when they were last pushed.
    push: Option<(LivePush, Arc<Exporters>, u64)>,
    /// tidepool's own resident memory against the run's time, read every
    /// `rss_every` samples: a long run must not grow it.
    rss: LeakTracker,
    rss_every: u64,
    samples_seen: u64,
    pub(super) progress: &'p mut dyn Progress,
}

/// What a checkpoint report needs: `checkpoint.json` (a full report of
/// everything so far, marked interrupted) is written every sample in
/// wall-clock runs and at most once a wall second in virtual time (which a
/// rerun reproduces anyway), for `tidepool report` after a kill -9.
pub(super) struct Checkpoint {
    pub(super) workload: Workload,
    pub(super) file: String,
    pub(super) replay: String,
    pub(super) out: PathBuf,
    pub(super) compress: Option<f64>,
    pub(super) last: u64,
    /// Said in every report of the run.
    pub(super) caveats: Vec<String>,
}

/// The pieces a [`Feed`] is made of.
pub(super) struct FeedParts<'p> {
    pub(super) samples: std::fs::File,
    pub(super) alerts: std::fs::File,
    pub(super) monitor: Monitor,
    pub(super) wall_mode: bool,
    pub(super) push: Option<(Pushgateway, Arc<Exporters>)>,
    pub(super) checkpoint: Checkpoint,
    pub(super) rss_warmup: f64,
    /// Judge the process's memory (RSS, and the heap with the counting
    /// allocator), not the workload's model.
    pub(super) real_memory: bool,
    pub(super) progress: &'p mut dyn Progress,
    /// The run's stop flag: a write error raises it.
    pub(super) stop: Arc<AtomicBool>,
}

impl<'p> Feed<'p> {
    pub(super) fn new(parts: FeedParts<'p>) -> Feed<'p> {
        let wall = Clock::system();
        let started = wall.now_nanos();
        let workload = &parts.checkpoint.workload;
        Feed {
            samples: Some(BufWriter::new(parts.samples)),
            samples_bytes: 0,
            alerts: BufWriter::new(parts.alerts),
            error: None,
            stop: parts.stop,
            started,
            total_seconds: workload.duration.as_secs_f64(),
            arrived: 0,
            wall_mode: parts.wall_mode,
            monitor: parts.monitor,
            sampler: if parts.real_memory { Sampler::new().allocations().process() } else { Sampler::new() },
            real_memory: parts.real_memory,
            push: parts.push.and_then(|(group, exporters)| match LivePush::start(group) {
                Ok(live) => Some((live, exporters, started)),
                Err(e) => {
                    parts
                        .progress
                        .notice(&format!("no live Pushgateway pushes (the final one is made): {e}"));
                    None
                }
            }),
            // About 2 000 readings a run (a /proc read each), after the
            // same warm-up as the leak verdict.
            rss: LeakTracker::new(report::RSS_BUDGET_BYTES_PER_HOUR, parts.rss_warmup),
            rss_every: (workload.duration.as_nanos() / workload.sample_interval.as_nanos().max(1) / 2000)
                .max(1) as u64,
            samples_seen: 0,
            checkpoint: parts.checkpoint,
            progress: parts.progress,
            wall,
        }
    }

    /// Wall-clock figures of the run so far.
    pub(super) fn wall_figures(&self, ops: u64) -> Wall {
        let seconds = self.wall.now_nanos().saturating_sub(self.started) as f64 / 1e9;
        Wall {
            seconds,
            ops_per_second: if seconds > 0.0 { ops as f64 / seconds } else { 0.0 },
            peak_rss_bytes: report::peak_rss_bytes(),
            rss_trend: self.rss.verdict(),
        }
    }

    /// The caller's progress, the rest dropped.
    pub(super) fn into_progress(self) -> &'p mut dyn Progress {
        self.progress
    }

    /// Keeps the run's first write error and stops the run: going on
    /// without writing would only lose more.
    fn failed(&mut self, e: std::io::Error) {
        if self.error.is_none() {
            self.progress.notice(&format!("{e}: stopping the run"));
            self.error = Some(e);
        }
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Flushes `samples.jsonl`; the first error of the run, if any.
    pub(super) fn close(&mut self) -> Result<(), std::io::Error> {
        let out = &self.checkpoint.out;
        let samples = self.samples.as_mut().map_or(Ok(()), |s| s.flush());
        let flushed = (samples.map_err(|e| named(e, out, "samples.jsonl")))
            .and_then(|()| self.alerts.flush().map_err(|e| named(e, out, "alerts.jsonl")));
        match self.error.take() {
            Some(e) => Err(e),
            None => flushed,
        }
    }

    /// Runs the sample's readings through the monitor, as a live agent
    /// would: the pool's wait p99 and starvation from the pool itself
    /// ([`Sampler`]), memory as the workload models it, the pool's size and
    /// queue as forecast levels.
    fn observe(&mut self, sample: &Sample) {
        let subject = self.checkpoint.workload.name.clone();
        let mut readings = self.sampler.readings();
        if !self.real_memory {
            readings.push(Reading::new(Kind::Memory, subject, sample.memory_bytes as f64));
        }
        let levels = self.sampler.levels(self.monitor.config().queue_limit);
        for event in self.monitor.observe_with_levels(sample.t, &readings, &levels) {
            if self.error.is_none() {
                let line = serde_json::to_string(&event).unwrap_or_default();
                if let Err(e) = writeln!(self.alerts, "{line}").and_then(|()| self.alerts.flush()) {
                    self.failed(named(e, &self.checkpoint.out, "alerts.jsonl"));
                }
            }
            self.progress.alert(&event);
        }
    }

    /// The report of everything so far.
    pub(super) fn report(&self, outcome: &Outcome, figures: Option<&WallFigures>) -> Report {
        let c = &self.checkpoint;
        let wall = self.wall_figures(outcome.total.arrived);
        let mut report = Report::new(&c.workload, &c.file, outcome, c.replay.clone(), wall);
        if let Some(f) = figures {
            report = report.with_wall_figures(f, c.compress);
        }
        report.caveats.extend(c.caveats.iter().cloned());
        report.with_monitor(&c.workload, self.monitor.report())
    }
}

/// `e` with the path it concerns.
fn named(e: std::io::Error, dir: &std::path::Path, name: &str) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", dir.join(name).display()))
}

impl Observer for Feed<'_> {
    fn on_start(&mut self, pool: Arc<dyn WatchedPool>) {
        self.sampler = std::mem::take(&mut self.sampler).watch(Arc::clone(&pool));
        // The remedies a live agent runs, on this run's pool.
        let pools = vec![pool];
        actions::standard(&mut self.monitor, Arc::new(move || pools.clone()));
    }

    fn on_shared_state(&mut self, state: crate::sim::SharedState) {
        // The workload's locks are in the process-wide registry; the
        // sampler reads every registered lock (in a soak, those).
        let mut sampler = std::mem::take(&mut self.sampler);
        if !state.locks.is_empty() {
            sampler = sampler.locks();
        }
        if let Some(cache) = &state.cache {
            sampler = sampler.cache(cache);
        }
        self.sampler = sampler;
    }

    fn wants_checkpoint(&mut self) -> bool {
        let now = self.wall.now_nanos();
        if self.wall_mode || now.saturating_sub(self.checkpoint.last) >= 1_000_000_000 {
            self.checkpoint.last = now;
            true
        } else {
            false
        }
    }

    fn on_checkpoint(&mut self, outcome: &Outcome, figures: Option<&WallFigures>) {
        // After a failed write the last good checkpoint stays as it is.
        if self.error.is_some() {
            return;
        }
        let report = self.report(outcome, figures);
        if let Err(e) = report::write_atomic(&self.checkpoint.out, report::CHECKPOINT, &report.to_json()) {
            self.failed(e);
        }
    }

    fn on_sample(&mut self, sample: &Sample) {
        self.observe(sample);
        if self.samples_seen % self.rss_every == 0 {
            if let Some(p) = crate::process::sample() {
                self.rss.record(sample.t, p.rss_bytes as f64);
            }
        }
        self.samples_seen += 1;
        // Live series to the Pushgateway every 10 s of a wall-clock run.
        // Pushed by a thread of its own: a slow Pushgateway never delays
        // a sample.
        if let Some((live, exporters, last)) = &mut self.push {
            let now = self.wall.now_nanos();
            if now.saturating_sub(*last) >= 10_000_000_000 {
                *last = now;
                live.offer(exporters.exposition());
            }
            if let Some(e) = live.take_error() {
                let skipped = live.skipped();
                self.progress.notice(&if skipped > 0 {
                    format!("{e} ({skipped} live pushes skipped while one was under way)")
                } else {
                    e
                });
            }
        }
        self.arrived += sample.arrived;
        if let (None, Some(samples)) = (&self.error, &mut self.samples) {
            let line = serde_json::to_string(sample).unwrap_or_default();
            // Every line reaches the file as it is taken: a run killed
            // with -9 loses at most the interval in progress.
            match writeln!(samples, "{line}").and_then(|()| samples.flush()) {
                Ok(()) => self.samples_bytes += line.len() as u64 + 1,
                Err(e) => {
                    // Cut the half-written line (and drop what is still
                    // buffered): the file stays whole lines.
                    if let Some(samples) = self.samples.take() {
                        let (file, _unwritten) = samples.into_parts();
                        let _ = file.set_len(self.samples_bytes);
                    }
                    self.failed(named(e, &self.checkpoint.out, "samples.jsonl"));
                }
            }
        }
        let elapsed = self.wall.now_nanos().saturating_sub(self.started) as f64 / 1e9;
        self.progress.sample(&Tick {
            sample,
            covered: sample.t,
            total: self.total_seconds,
            elapsed,
            arrived: self.arrived,
            wall: self.wall_mode,
        });
    }
}
