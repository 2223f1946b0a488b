//! The soak runner: a [`Workload`] through the real pool, in virtual or
//! wall-clock time, judged by the monitor a live agent runs, written as
//! `report.json`, `report.md`, `report.html`, `samples.jsonl` and
//! `alerts.jsonl`, with gates, checkpoints and the sinks (Prometheus,
//! Pushgateway, Alertmanager, OTLP). `tidepool soak` and `tidepool replay`
//! are this runner behind flags; a test can call it directly.
//!
//! The run judges as production does: its monitor reads the run's pool
//! through the same [`Sampler`](crate::monitor::sampler::Sampler) as the
//! agent (pool wait p99 and starvation off the pool itself), with the same
//! floors, and the same remedies act on the pool when alerts fire
//! ([`actions::standard`](crate::monitor::actions::standard)).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tidepool::sim::Workload;
//! use tidepool::soak::{Soak, SoakEnd};
//!
//! let workload = Workload::parse(r#"
//!     duration = "1m"
//!     hold = { dist = "exponential", mean = "10ms" }
//!     [pool]
//!     max = 8
//!     [[phase]]
//!     name = "steady"
//!     duration = "1m"
//!     arrival = { process = "poisson", rate = 200 }
//!     [slo]
//!     max_wait_p99 = "50ms"
//! "#, "steady.toml")?;
//! let out = std::env::temp_dir().join(format!("tidepool-doc-{}", std::process::id()));
//! let result = Soak::new(workload).out(&out).force(true).run()?;
//! assert_eq!(result.end, SoakEnd::Passed, "{}", result.gate_table());
//! assert!(result.report.ops.arrived > 10_000);
//! # std::fs::remove_dir_all(&out)?;
//! # Ok(()) }
//! ```

mod feed;
mod harness;
mod live_push;
mod replay;
mod validate;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use feed::{Progress, Quiet, Tick};
pub use harness::Harness;
pub use replay::{shell_word, with_duration, Replay, MAX_SPEED};
pub use validate::validate;

use crate::export::{ExportConfig, ExportError, Exporters, Pushgateway};
use crate::monitor::Monitor;
use crate::pool::trace::TraceRecorder;
use crate::report::{self, Report};
use crate::sim::{self, WallOptions, Workload};
use crate::units::{fmt_duration, human_seconds, ms};
use feed::{Checkpoint, Feed, FeedParts};

/// The built-in workload (`tidepool soak` with no file): 24 h of low,
/// ramping, high and medium load at a mean of 1000 operations a second.
pub const DAILY_CYCLE: &str = include_str!("../../workloads/daily-cycle.toml");

/// How [`DAILY_CYCLE`] is named in reports.
pub const DAILY_CYCLE_NAME: &str = "workloads/daily-cycle.toml (built in)";

/// Virtual or wall-clock time.
#[derive(Debug, Clone, Default)]
pub enum Time {
    /// The discrete-event engine on a manual clock: deterministic, a day
    /// in seconds.
    #[default]
    Virtual,
    /// Real threads against the real pool on the real clock.
    Wall {
        /// Executors and the late threshold ([`WallOptions`]; its `trace`
        /// is set by [`Soak::record_trace`]).
        options: WallOptions,
        /// Play durations K times faster, keeping rates
        /// ([`Workload::compressed`]).
        compress: Option<f64>,
    },
}

impl Time {
    /// Wall-clock time with the default [`WallOptions`].
    pub fn wall() -> Time {
        Time::Wall { options: WallOptions::default(), compress: None }
    }

    fn is_wall(&self) -> bool {
        matches!(self, Time::Wall { .. })
    }

    fn compress(&self) -> Option<f64> {
        match self {
            Time::Wall { compress, .. } => *compress,
            Time::Virtual => None,
        }
    }
}

/// How a soak ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoakEnd {
    /// Every gate passed (`tidepool soak` exits 0).
    Passed,
    /// A gate failed (exit 1).
    Failed,
    /// Stopped early (exit 130); the reports cover what ran.
    Interrupted,
}

/// Why a soak could not run or deliver its results. The CLI exits 2 for
/// [`SoakError::Input`] and 1 for [`SoakError::Run`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SoakError {
    /// Bad input: the workload, the options, the output directory, an
    /// address in use. Nothing was run (or the run stopped on an input that
    /// changed under it); the message names the file, line and field, or
    /// the option.
    #[error("{0}")]
    Input(String),
    /// The run could not finish or its results could not be written or
    /// delivered (reports written before a failed push say so).
    #[error("{0}")]
    Run(String),
    /// A write failed during or at the end of the run (a full disk, say):
    /// the run stopped at once. `message` says what failed, how far the run
    /// got and what was kept (the reports, or the last good checkpoint for
    /// `tidepool report`); `summary` is what a finished run prints.
    #[error("{message}")]
    Unwritten {
        /// What failed and what was kept.
        message: String,
        /// The end-of-run summary of what ran.
        summary: String,
    },
}

/// A finished soak: the report, how it ended, and where the files are.
#[derive(Debug, Clone)]
pub struct SoakResult {
    /// The report (`report.json`).
    pub report: Report,
    /// Passed, failed or interrupted.
    pub end: SoakEnd,
    /// The output directory.
    pub out: PathBuf,
    /// The recorded trace, with [`Soak::record_trace`].
    pub trace: Option<PathBuf>,
}

/// A soak of one workload. See the [module docs](self).
#[must_use = "a soak does nothing until run() is called"]
pub struct Soak<'p> {
    workload: Workload,
    file: String,
    out: PathBuf,
    force: bool,
    time: Time,
    export: ExportConfig,
    metrics_optional: bool,
    pushgateway_delete: bool,
    alertmanager: Option<String>,
    record_trace: Option<(PathBuf, u64)>,
    replay: Option<String>,
    /// What the report must say this run did not do.
    caveats: Vec<String>,
    stop: Arc<AtomicBool>,
    progress: Option<&'p mut dyn Progress>,
}

impl std::fmt::Debug for Soak<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Soak")
            .field("workload", &self.workload.name)
            .field("out", &self.out)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// The most operations a trace keeps for its file (about 1.2 GB).
const MAX_TRACE_EVENTS: usize = 50_000_000;

impl<'p> Soak<'p> {
    /// A soak of `workload` in virtual time, writing into `tidepool-out`,
    /// exporting nothing.
    pub fn new(workload: Workload) -> Soak<'p> {
        Soak {
            file: workload.name.clone(),
            workload,
            out: PathBuf::from("tidepool-out"),
            force: false,
            time: Time::Virtual,
            export: ExportConfig { serve: false, ..ExportConfig::default() },
            metrics_optional: false,
            pushgateway_delete: false,
            alertmanager: None,
            record_trace: None,
            replay: None,
            caveats: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            progress: None,
        }
    }

    /// The built-in daily cycle ([`DAILY_CYCLE`]).
    ///
    /// # Errors
    ///
    /// None in practice: the file is checked by the tests.
    pub fn daily_cycle() -> Result<Soak<'p>, SoakError> {
        let workload =
            Workload::parse(DAILY_CYCLE, DAILY_CYCLE_NAME).map_err(|e| SoakError::Input(e.to_string()))?;
        Ok(Soak::new(workload).file(DAILY_CYCLE_NAME))
    }

    /// How reports name the workload's file (default: its name).
    pub fn file(mut self, file: impl Into<String>) -> Self {
        self.file = file.into();
        self
    }

    /// The directory every file of the run goes to (default `tidepool-out`).
    pub fn out(mut self, out: impl Into<PathBuf>) -> Self {
        self.out = out.into();
        self
    }

    /// Replace an earlier run's results in the output directory (without
    /// it, a run refuses to start there).
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Virtual (the default) or wall-clock time.
    pub fn time(mut self, time: Time) -> Self {
        self.time = time;
        self
    }

    /// Where the run's metrics go: in wall-clock time, `/metrics` when
    /// `serve` is on and OTLP when an endpoint is set (a process has one
    /// recorder: at most one such run per process); in either time the
    /// Pushgateway gets the results at the end, and `labels` (`job`,
    /// `instance`) label everything exported, alerts included. Default:
    /// nothing served, no labels.
    pub fn export(mut self, export: ExportConfig) -> Self {
        self.export = export;
        self
    }

    /// When `/metrics` cannot be served (the port is in use), go on
    /// without it (a notice says so) instead of refusing to run.
    pub fn metrics_optional(mut self, optional: bool) -> Self {
        self.metrics_optional = optional;
        self
    }

    /// Delete the Pushgateway group at the end instead of pushing to it.
    pub fn pushgateway_delete(mut self, delete: bool) -> Self {
        self.pushgateway_delete = delete;
        self
    }

    /// Post alerts to this Alertmanager (`http://HOST:PORT`) as they fire
    /// and resolve.
    pub fn alertmanager(mut self, url: impl Into<String>) -> Self {
        self.alertmanager = Some(url.into());
        self
    }

    /// Record one operation in `every` into `name` (a file name under the
    /// output directory), for `tidepool replay`.
    pub fn record_trace(mut self, name: impl Into<PathBuf>, every: u64) -> Self {
        self.record_trace = Some((name.into(), every.max(1)));
        self
    }

    /// The command that replays this run, as the report gives it (default:
    /// the `tidepool soak` command of the workload's file and seed).
    pub fn replay_command(mut self, command: impl Into<String>) -> Self {
        self.replay = Some(command.into());
        self
    }

    /// Setting this flag ends the run early: the reports cover what ran and
    /// the result says [`SoakEnd::Interrupted`] (the CLI sets it on
    /// SIGINT/SIGTERM).
    pub fn stop_flag(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = stop;
        self
    }

    /// Shows progress (default: nothing).
    pub fn progress<'q>(self, progress: &'q mut dyn Progress) -> Soak<'q> {
        Soak {
            workload: self.workload,
            file: self.file,
            out: self.out,
            force: self.force,
            time: self.time,
            export: self.export,
            metrics_optional: self.metrics_optional,
            pushgateway_delete: self.pushgateway_delete,
            alertmanager: self.alertmanager,
            record_trace: self.record_trace,
            replay: self.replay,
            caveats: self.caveats,
            stop: self.stop,
            progress: Some(progress),
        }
    }

    /// The workload as it will run.
    pub fn workload(&self) -> &Workload {
        &self.workload
    }

    /// Runs the soak and writes its reports.
    ///
    /// # Errors
    ///
    /// [`SoakError::Input`] when the options or the output directory are
    /// refused (nothing runs) or an input changed under the run;
    /// [`SoakError::Run`] when the reports cannot be written or a sink
    /// failed at the end (the reports are written first).
    pub fn run(self) -> Result<SoakResult, SoakError> {
        self.run_inner(None)
    }

    /// Runs your objects and your code ([`Harness`]) under the workload's
    /// schedule, on the real clock (the time options of [`Soak::time`] if
    /// wall-clock, else the defaults), and writes the same reports, gates
    /// and alerts as [`Soak::run`]. Memory is the process's (RSS, and the
    /// heap with the counting allocator), not the workload's model.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tidepool::sim::Workload;
    /// use tidepool::soak::{Harness, Soak};
    ///
    /// let workload = Workload::load("workloads/daily-cycle.toml".as_ref())?.compressed(1440.0)?;
    /// let harness = Harness::with_factory(
    ///     || Ok::<_, std::io::Error>(Vec::<u8>::with_capacity(1 << 16)),
    ///     |buffer: &mut Vec<u8>| { buffer.clear(); buffer.resize(4096, 7); Ok::<(), std::io::Error>(()) },
    /// );
    /// Soak::new(workload).out("target/soak-buffers").force(true).run_with(harness)?.assert_passed();
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Soak::run`]; [`SoakError::Input`] for a workload with a `leak`
    /// fault (memory is real here) or a `clock_jump`; [`SoakError::Run`]
    /// when your factory fails while the pool prewarms.
    pub fn run_with<T: Send + 'static>(mut self, harness: Harness<T>) -> Result<SoakResult, SoakError> {
        if let Some(f) = self.workload.faults.iter().find(|f| matches!(f.kind, sim::FaultKind::Leak { .. })) {
            return Err(SoakError::Input(format!(
                "{}: a `{}` fault models memory; under a harness memory is your process's: leak for real, or drop the fault",
                self.file,
                f.kind.name()
            )));
        }
        if !self.workload.locks.is_empty() || self.workload.cache.is_some() {
            // They model the shared state around modeled holds: your
            // operation is the work (take your own ProfiledMutex and Cache
            // in it: the registry and /metrics see them).
            self.workload.locks.clear();
            self.workload.cache = None;
            self.caveats.push(format!(
                "{}'s [[lock]] and [cache] tables were not run: under a harness your operation is the work (its own locks and caches are measured if they are tidepool's)",
                self.file
            ));
        }
        if !self.time.is_wall() {
            self.time = Time::wall();
        }
        // The CLI cannot run your code: the report says how to rerun it.
        if self.replay.is_none() {
            self.replay = Some(format!(
                "the same Soak::run_with(harness) over {} with seed {}",
                self.file, self.workload.seed
            ));
        }
        let runner: Runner = Box::new(move |workload, observer, stop, options| {
            harness_run(workload, harness, observer, stop, options)
        });
        self.run_inner(Some(runner))
    }

    /// The files this run reads: the workload (or replayed input) and the
    /// rate series its phases follow.
    fn inputs(&self) -> Vec<PathBuf> {
        let file = PathBuf::from(&self.file);
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut inputs = vec![file];
        for phase in &self.workload.phases {
            if let sim::Arrival::Series { file, .. } = &phase.arrival {
                inputs.push(base.join(file));
            }
        }
        inputs
    }

    fn run_inner(mut self, runner: Option<Runner>) -> Result<SoakResult, SoakError> {
        let mut quiet = Quiet;
        let progress: &mut dyn Progress = match self.progress.take() {
            Some(p) => p,
            None => &mut quiet,
        };
        let trace = match &self.record_trace {
            Some((name, every)) => {
                let path = trace_path(&self.out, name)?;
                if let Some(input) =
                    self.inputs().into_iter().find(|input| crate::text::same_file(input, &path))
                {
                    return Err(SoakError::Input(format!(
                        "--record-trace {}: that is this run's input {}: choose another name",
                        name.display(),
                        input.display()
                    )));
                }
                claim_out(&self.out, self.force, &[&path])?;
                Some((path, Arc::new(TraceRecorder::new(*every, MAX_TRACE_EVENTS))))
            }
            None => None,
        };
        let report = self.execute(trace.as_ref().map(|(_, r)| Arc::clone(r)), progress, runner)?;
        let trace = match trace {
            Some((path, recorder)) => {
                write_trace(&path, &recorder)?;
                if recorder.dropped() > 0 {
                    progress.notice(&format!(
                        "the trace buffer filled: {} operations not recorded",
                        recorder.dropped()
                    ));
                }
                Some(path)
            }
            None => None,
        };
        let end = if report.interrupted {
            SoakEnd::Interrupted
        } else if report.passed {
            SoakEnd::Passed
        } else {
            SoakEnd::Failed
        };
        Ok(SoakResult { report, end, out: self.out.clone(), trace })
    }

    fn execute(
        &self,
        trace: Option<Arc<TraceRecorder>>,
        progress: &mut dyn Progress,
        runner: Option<Runner>,
    ) -> Result<Report, SoakError> {
        let input = SoakError::Input;
        let out = self.out.as_path();
        claim_out(out, self.force, &[])?;
        let wall_mode = self.time.is_wall();
        if wall_mode
            && self.workload.faults.iter().any(|f| matches!(f.kind, sim::FaultKind::ClockJump { .. }))
        {
            return Err(input(format!(
                "{}: a `clock_jump` fault needs virtual time (the real clock cannot be made to jump)",
                self.file
            )));
        }
        let workload = match self.time.compress() {
            Some(k) => self.workload.compressed(k).map_err(input)?,
            None => self.workload.clone(),
        };
        if self.time.is_wall() {
            sim::wall::check_start_rate(&workload).map_err(|e| input(format!("{}: {e}", self.file)))?;
        }
        let replay = self.replay.clone().unwrap_or_else(|| {
            format!("tidepool soak {} --seed {} --out {}", self.file, workload.seed, out.display())
        });
        let export = self.labelled_export(&workload);
        let pushgateway = match &export.pushgateway {
            Some(url) => Some(
                Pushgateway::new(url, export.job(), export.instance())
                    .map_err(|e| input(format!("--pushgateway: {e}")))?,
            ),
            None => None,
        };
        // Before the pool is built: its metric handles bind to the recorder
        // installed at that moment.
        let exporters = if wall_mode && (export.serve || export.otlp_endpoint.is_some()) {
            self.install(&export, progress)?
        } else {
            None
        };
        std::fs::create_dir_all(out)
            .map_err(|e| input(format!("--out {}: cannot create the directory: {e}", out.display())))?;
        // With `force`, a report left by an earlier run must not sit beside
        // this run's samples (claim_out refused to start otherwise).
        // Only regular files are replaced: a link, a directory or a device
        // planted under a run file's name is refused, never followed.
        for stale in report::RUN_FILES {
            let path = out.join(stale);
            report::replaceable(&path).map_err(|e| input(format!("{}: {e}", path.display())))?;
            if path.exists() {
                std::fs::remove_file(&path)
                    .map_err(|e| input(format!("{}: cannot replace: {e}", path.display())))?;
            }
        }
        // Created exclusively: never an existing file, never through a link.
        let create = |name: &str| {
            let path = out.join(name);
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| input(format!("{}: cannot create: {e}", path.display())))
        };
        let (samples, alerts) = (create("samples.jsonl")?, create("alerts.jsonl")?);
        let mut monitor_config = workload.monitor.clone();
        if let Some(budget) = workload.slo.max_memory_growth_per_hour {
            monitor_config.leak_budget_bytes_per_hour = budget as f64;
        }
        // The pool grows to its working size first: as for the memory floors.
        monitor_config.leak_warmup_seconds =
            monitor_config.leak_warmup_seconds.min(workload.duration.as_secs_f64() / 20.0);
        let rss_warmup = monitor_config.leak_warmup_seconds;
        let mut monitor = Monitor::new(monitor_config);
        if let Some(url) = &self.alertmanager {
            let sink = crate::monitor::alertmanager::Alertmanager::new(url)
                .map_err(|e| input(format!("--alertmanager: {e}")))?
                .label("job", export.job().to_string())
                .label("instance", export.instance().unwrap_or_default().to_string())
                .label("workload", workload.name.clone());
            monitor.add_sink(sink);
        }
        let exporters = exporters.map(Arc::new);
        let mut feed = Feed::new(FeedParts {
            samples,
            alerts,
            monitor,
            wall_mode,
            push: pushgateway.clone().zip(exporters.clone()),
            checkpoint: Checkpoint {
                workload: workload.clone(),
                file: self.file.clone(),
                replay,
                out: out.to_path_buf(),
                compress: self.time.compress(),
                last: 0,
                caveats: self.caveats.clone(),
            },
            rss_warmup,
            real_memory: runner.is_some(),
            progress,
            stop: self.stop.clone(),
        });
        // `soak` or `replay`, as the command that replays this run says.
        let verb = if feed.checkpoint.replay.starts_with("tidepool replay") { "replay" } else { "soak" };
        feed.progress.notice(&format!(
            "{verb} {} (seed {}), {} of {} time",
            self.file,
            workload.seed,
            fmt_duration(workload.duration),
            if wall_mode { "wall-clock" } else { "virtual" }
        ));
        let (outcome, figures) = match (&self.time, runner) {
            (Time::Wall { options, .. }, Some(runner)) => {
                let options = WallOptions { trace, ..options.clone() };
                let (outcome, figures) =
                    runner(&workload, &mut feed, &self.stop, &options).map_err(|e| self.run_error(e))?;
                (outcome, Some(figures))
            }
            (Time::Virtual, Some(_)) => {
                return Err(SoakError::Input("your code runs on the real clock: use wall-clock time".into()))
            }
            (Time::Wall { options, .. }, None) => {
                let options = WallOptions { trace, ..options.clone() };
                let (outcome, figures) = sim::run_wall(&workload, &mut feed, &self.stop, &options)
                    .map_err(|e| self.run_error(e))?;
                (outcome, Some(figures))
            }
            (Time::Virtual, None) => {
                let outcome = sim::engine::run_traced(&workload, &mut feed, &self.stop, trace)
                    .map_err(|e| self.run_error(e))?;
                (outcome, None)
            }
        };
        feed.progress.finish();
        let samples_path = out.join("samples.jsonl");
        let closed = feed.close();
        let mut report = feed.report(&outcome, figures.as_ref());
        // The samples are read for the HTML page before the peak RSS is
        // taken, so that the peak the reports give covers the whole run.
        let points = report::html::read_points(&samples_path);
        report.wall.peak_rss_bytes = report.wall.peak_rss_bytes.max(report::peak_rss_bytes());
        let html = report::html::render_points(&report, &points);
        let written = report::write_atomic(out, "report.json", &report.to_json())
            .and_then(|_| report::write_atomic(out, "report.md", &report.to_markdown()))
            .and_then(|_| report::write_atomic(out, "report.html", &html));
        if closed.is_err() || written.is_err() {
            return Err(self.unwritten(out, report, closed.err(), written.err()));
        }
        // The report supersedes the checkpoint.
        let _ = std::fs::remove_file(out.join(report::CHECKPOINT));
        if let Some(group) = &pushgateway {
            let mut body = report.to_exposition();
            if let Some(exporters) = &exporters {
                body = exporters.exposition() + &body;
            }
            let pushed = if self.pushgateway_delete { group.delete() } else { group.push(&body) };
            pushed.map_err(|e| SoakError::Run(format!("the reports are written, but: {e}")))?;
        }
        let progress = feed.into_progress();
        if let Some(exporters) = exporters.and_then(|e| Arc::try_unwrap(e).ok()) {
            if let Err(e) = exporters.shutdown() {
                progress.notice(&format!("the last OTLP push failed: {e}"));
            }
        }
        Ok(report)
    }

    /// The error of a run whose files could not all be written (a full
    /// disk, say): what failed, what the run covered, what was kept, and the
    /// summary a finished run prints.
    fn unwritten(
        &self,
        out: &Path,
        report: Report,
        during: Option<std::io::Error>,
        reports: Option<std::io::Error>,
    ) -> SoakError {
        let mut message = String::new();
        if let Some(e) = &during {
            message += &format!(
                "writing {e}: the run stopped early, after {} of {}",
                human_seconds(report.virtual_seconds),
                fmt_duration(self.workload.duration)
            );
        }
        let checkpoint = out.join(report::CHECKPOINT);
        match &reports {
            None => message += "; the reports cover what ran (samples.jsonl ends where the write failed)",
            Some(e) => {
                if !message.is_empty() {
                    message += "; ";
                }
                message += &format!("the reports could not be written ({e})");
                message += &if checkpoint.is_file() {
                    format!(
                        "; the last good checkpoint is kept: `tidepool report {}` writes the reports once there is room",
                        shell_word(&out.display().to_string())
                    )
                } else {
                    "; no checkpoint could be kept either".to_string()
                };
            }
        }
        if reports.is_none() {
            // The reports supersede the checkpoint.
            let _ = std::fs::remove_file(&checkpoint);
        }
        let end = SoakEnd::Interrupted;
        // Pointing at the reports only if they were written.
        let summary =
            SoakResult { report, end, out: out.to_path_buf(), trace: None }.summary_with(reports.is_none());
        SoakError::Unwritten { message, summary }
    }

    /// The export settings with the run's labels: `job` (default
    /// `tidepool`), `instance` (default `HOSTNAME:PORT` while serving
    /// /metrics, else `HOSTNAME`) and, in wall-clock time, `workload`.
    fn labelled_export(&self, workload: &Workload) -> ExportConfig {
        let mut export = self.export.clone();
        let serving = self.time.is_wall() && export.serve;
        let job = export.job().to_string();
        export.labels.insert("job".into(), job);
        if export.instance().is_none() {
            let instance = crate::export::default_instance(serving.then_some(export.listen.port()));
            export.labels.insert("instance".into(), instance);
        }
        if self.time.is_wall() {
            export.labels.insert("workload".into(), workload.name.clone());
        }
        export.serve = serving;
        // The soak pushes its own results; the exporters push nothing.
        export
    }

    /// The exporters of a wall-clock run, or `None` (after a notice) when
    /// /metrics is optional and cannot be served.
    fn install(
        &self,
        export: &ExportConfig,
        progress: &mut dyn Progress,
    ) -> Result<Option<Exporters>, SoakError> {
        let config = ExportConfig { pushgateway: None, ..export.clone() };
        let listen = export.listen;
        if export.serve && listen.port() == 0 {
            return Err(SoakError::Input(format!(
                "--listen {listen}: port 0 would serve /metrics on a port nobody is told: name a port"
            )));
        }
        if export.serve && !listen.ip().is_loopback() {
            progress.notice(&format!(
                "--listen {listen}: /metrics is reachable from other machines (not a loopback address)"
            ));
        }
        match Exporters::install(&config) {
            Ok(exporters) => {
                if let Some(url) = &export.otlp_endpoint {
                    progress.notice(&format!("pushing OTLP to {url} every {}", fmt_duration(export.otlp_interval)));
                }
                if export.serve {
                    progress.notice(&format!(
                        "serving /metrics at http://{listen}/metrics (job {:?}, instance {:?})",
                        export.job(),
                        export.instance().unwrap_or_default()
                    ));
                }
                Ok(Some(exporters))
            }
            Err(e @ ExportError::Bind { .. }) if self.metrics_optional && export.otlp_endpoint.is_none() => {
                progress.notice(&format!("--listen {listen}: {e}; going on without /metrics (--metrics-optional)"));
                Ok(None)
            }
            Err(e @ ExportError::Bind { .. }) => Err(SoakError::Input(format!(
                "--listen {listen}: {e} (choose another address, or pass --metrics-optional to run without /metrics)"
            ))),
            Err(e) => Err(SoakError::Input(match &export.otlp_endpoint {
                Some(url) => format!("--otlp {url} / --listen {listen}: {e}"),
                None => format!("--listen {listen}: {e}"),
            })),
        }
    }

    /// A run that could not start or go on: bad input, naming the workload,
    /// or the series or trace that could not be read again (whose error
    /// names its own file and line).
    fn run_error(&self, e: sim::SimError) -> SoakError {
        match e {
            sim::SimError::Pool(e @ crate::pool::BuildError::Prewarm { .. }) => {
                SoakError::Run(format!("{}: the factory failed while the pool was prewarmed: {e}", self.file))
            }
            sim::SimError::Input(e) => SoakError::Input(format!("{e} (the run stopped; no report written)")),
            e => SoakError::Input(format!("{}: {e}", self.file)),
        }
    }
}

/// Refuses to start in `out` when an earlier run's results (or one of
/// `extra`) are there, unless `force`: nothing is overwritten by accident.
fn claim_out(out: &Path, force: bool, extra: &[&Path]) -> Result<(), SoakError> {
    if force {
        return Ok(());
    }
    let found: Vec<String> = report::RUN_FILES
        .iter()
        .map(|f| out.join(f))
        .chain(extra.iter().map(|p| p.to_path_buf()))
        .filter(|p| p.exists())
        .map(|p| p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned()))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(SoakError::Input(format!(
        "--out {}: holds an earlier run's results ({}): pass --force to replace them, or choose another --out",
        out.display(),
        found.join(", ")
    )))
}

/// Where a recorded trace called `name` is written: under `out`, never
/// elsewhere.
fn trace_path(out: &Path, name: &Path) -> Result<PathBuf, SoakError> {
    use std::path::Component;
    let plain = !name.as_os_str().is_empty() && name.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(SoakError::Input(format!(
            "--record-trace {}: give a file name (relative, no `..`): the trace is written under --out {}",
            name.display(),
            out.display()
        )));
    }
    if report::RUN_FILES.iter().any(|f| name == Path::new(f)) {
        return Err(SoakError::Input(format!(
            "--record-trace {}: that is one of the run's own files ({}): choose another name",
            name.display(),
            report::RUN_FILES.join(", ")
        )));
    }
    Ok(out.join(name))
}

/// Writes the recorded trace through an exclusive temporary file and a
/// rename ([`report::write_atomic_with`]): never half a trace, never
/// through a planted link.
fn write_trace(path: &Path, recorder: &TraceRecorder) -> Result<(), SoakError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map_or_else(|| "trace".into(), |n| n.to_string_lossy().into_owned());
    std::fs::create_dir_all(dir)
        .and_then(|()| report::write_atomic_with(dir, &name, |out| recorder.write_jsonl(out)))
        .map(drop)
        .map_err(|e| SoakError::Run(format!("--record-trace {}: {e}", path.display())))
}

impl SoakResult {
    /// Every gate: `name  pass|FAIL  (observed X, limit Y)`, one per line.
    pub fn gate_table(&self) -> String {
        let mut s = String::new();
        for g in &self.report.slo {
            s += &format!(
                "gate {:<28} {} (observed {}, limit {})\n",
                g.name,
                if g.passed { "pass" } else { "FAIL" },
                report::gate_value(&g.name, g.observed),
                report::gate_value(&g.name, g.target)
            );
        }
        s
    }

    /// Panics with the gate table and where the reports are unless every
    /// gate passed: `soak.run()?.assert_passed()` in a `cargo test`.
    ///
    /// # Panics
    ///
    /// When a gate failed or the run was interrupted.
    #[track_caller]
    pub fn assert_passed(&self) {
        if self.end != SoakEnd::Passed {
            panic!(
                "soak {} {}:\n{}reports in {}",
                self.report.workload,
                self.report.verdict(),
                self.gate_table(),
                self.out.display()
            );
        }
    }

    /// The lines `tidepool soak` prints at the end.
    pub fn summary(&self) -> String {
        self.summary_with(true)
    }

    /// [`Self::summary`], with the line naming the report files or not.
    fn summary_with(&self, files: bool) -> String {
        let r = &self.report;
        let verb = if r.replay.starts_with("tidepool replay") { "replay" } else { "soak" };
        let mut s = String::new();
        let verdict = r.verdict();
        if let Some(sch) = &r.schedule {
            s += &format!(
                "{verb} {}: {verdict} — {} on the real clock{} ({:.0} ops/s), seed {}\n",
                r.workload,
                human_seconds(r.virtual_seconds),
                r.compress.map_or(String::new(), |k| format!(", compressed {k}x")),
                r.wall.ops_per_second,
                r.seed
            );
            s += &format!(
                "  schedule: {} starts, {} dropped, {} late (> {}), lag p99 {}, {} executor threads\n",
                sch.scheduled,
                sch.dropped,
                sch.late,
                ms(sch.late_after_seconds),
                ms(sch.lag_seconds.p99),
                sch.workers
            );
            if let Some(p) = &r.process {
                s += &format!(
                    "  process: RSS peak {}, {:.1} CPU s ({:.2} cores)\n",
                    crate::units::bytes(p.rss_peak_bytes as f64),
                    p.cpu_seconds,
                    p.cpu_cores_mean
                );
            }
        } else {
            s += &format!(
                "{verb} {}: {verdict} — {} virtual in {:.1} s wall ({:.2} M ops/s), seed {}\n",
                r.workload,
                human_seconds(r.virtual_seconds),
                r.wall.seconds,
                r.wall.ops_per_second / 1e6,
                r.seed
            );
        }
        s += &format!("  ops: {} (error rate {:.4} %)\n", r.ops.equation(), r.error_rate * 100.0);
        let w = &r.wait_seconds.corrected;
        s += &format!(
            "  wait (corrected): p50 {}  p99 {}  p99.9 {}  max {}\n",
            ms(w.p50),
            ms(w.p99),
            ms(w.p999),
            ms(w.max)
        );
        if let Some(op) = &r.operation_seconds {
            s += &format!(
                "  your operation: p50 {}  p99 {}  p99.9 {}  max {}; {} errors, {} panics\n",
                ms(op.p50),
                ms(op.p99),
                ms(op.p999),
                ms(op.max),
                r.ops.errored,
                r.ops.panicked
            );
        }
        s += &format!(
            "  pool: utilization {:.1} %, size {}..{} (mean {:.2}), {} resizes, reuse {:.4}\n",
            r.pool.utilization_mean * 100.0,
            r.pool.size_min_seen,
            r.pool.size_max_seen,
            r.pool.size_mean,
            r.pool.resizes,
            r.pool.reuse_ratio
        );
        for l in &r.locks {
            s += &format!(
                "  lock {} ({}): {} acquisitions, {:.2} % waited, wait p99 {}, max {}\n",
                l.name,
                l.mode,
                l.acquisitions,
                l.contention_rate * 100.0,
                ms(l.wait_p99),
                ms(l.wait_max)
            );
        }
        if let Some(c) = &r.cache {
            s += &format!(
                "  cache {}: hit ratio {:.2} % ({} hits, {} misses), {} evicted, {} expired\n",
                c.name,
                c.hit_ratio * 100.0,
                c.hits,
                c.misses,
                c.evictions.size,
                c.evictions.expired
            );
        }
        for ph in &r.phases {
            s += &format!(
                "  phase {:<10} {:>9} arrived, wait p99 {:>10}, utilization {:>5.1} %, mean size {:.2}\n",
                ph.name,
                ph.ops.arrived,
                ms(ph.wait_seconds.corrected.p99),
                ph.pool.utilization_mean * 100.0,
                ph.pool.size_mean
            );
        }
        for line in self.gate_table().lines() {
            s += &format!("  {line}\n");
        }
        if !r.passed {
            s += &format!("  replay: {}\n", r.replay);
        }
        if !files {
            return s;
        }
        let dir = &self.out;
        s += &format!(
            "  reports: {}, {}, {}; {}, {}\n",
            dir.join("report.json").display(),
            dir.join("report.md").display(),
            dir.join("report.html").display(),
            dir.join("samples.jsonl").display(),
            dir.join("alerts.jsonl").display()
        );
        s
    }
}

/// A wall-clock run of the caller's code: the harness, bound, run by
/// [`Soak::execute`] with the (compressed) workload and the run's observer.
type Runner = Box<
    dyn FnOnce(
        &Workload,
        &mut dyn sim::Observer,
        &AtomicBool,
        &WallOptions,
    ) -> Result<(sim::Outcome, sim::WallFigures), sim::SimError>,
>;

/// Builds the pool and the work of `harness` and plays `workload` through
/// them.
fn harness_run<T: Send + 'static>(
    workload: &Workload,
    harness: Harness<T>,
    observer: &mut dyn sim::Observer,
    stop: &AtomicBool,
    options: &WallOptions,
) -> Result<(sim::Outcome, sim::WallFigures), sim::SimError> {
    use crate::sim::wall::{play, Memory, Play, Work};
    use harness::{on_tracked, on_tracked_async, Operation, Source, Tracked};

    let is_async = matches!(harness.op, Operation::Async(_));
    // Async operations run on the caller's runtime, or one started here
    // (and stopped at the end, not waiting for tasks that never return).
    let (runtime, owned) = match (harness.runtime, is_async) {
        (Some(handle), _) => (Some(handle), None),
        (None, true) => {
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .thread_name("tidepool-harness")
                .enable_all()
                .build()
                .map_err(|e| {
                    sim::SimError::Threads(format!("starting a Tokio runtime for the operations: {e}"))
                })?;
            (Some(runtime.handle().clone()), Some(runtime))
        }
        (None, false) => (None, None),
    };
    let handle =
        || runtime.clone().ok_or_else(|| sim::SimError::Threads("no runtime for the async operation".into()));
    let played = match harness.pool {
        Source::Pool(pool) => {
            // The pool is the caller's: its settings are the ones that run.
            let mut workload = workload.clone();
            workload.pool.settings = pool.settings().clone();
            let work = match harness.op {
                Operation::Sync(op) => Work::Sync(op),
                Operation::Async(op) => Work::Async(op, handle()?),
            };
            let untracked: fn(&T) -> Option<u64> = |_| None;
            play(
                &workload,
                Play { pool, work, id: untracked, factory: None, memory: Memory::Process },
                observer,
                stop,
                options,
            )
        }
        Source::Factory(make) => {
            let clock = crate::clock::Clock::system();
            let model = Arc::new(sim::faults::FactoryModel::new(workload, clock.clone(), false));
            let faults = Arc::clone(&model);
            let mut builder = workload
                .pool
                .settings
                .configure(crate::pool::Pool::builder(workload.name.clone()))
                .clock(clock)
                .factory(move || {
                    let id = faults.inject_for()?;
                    Ok(Tracked { id, value: make()? })
                })
                .on_leak(|_| {});
            if let Some(recorder) = &options.trace {
                builder = builder.trace(Arc::clone(recorder));
            }
            let pool = builder.build()?;
            let work = match harness.op {
                Operation::Sync(op) => Work::Sync(on_tracked(op)),
                Operation::Async(op) => Work::Async(on_tracked_async(op), handle()?),
            };
            let tracked: fn(&Tracked<T>) -> Option<u64> = |t| Some(t.id);
            play(
                workload,
                Play { pool, work, id: tracked, factory: Some(model), memory: Memory::Process },
                observer,
                stop,
                options,
            )
        }
    };
    if let Some(runtime) = owned {
        runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    }
    played
}
