//! `tidepool soak` and `tidepool validate`: replay a workload in virtual
//! time and write the soak report; check a workload without running it.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::CliError;
use crate::clock::Clock;
use crate::report::{self, Report, Wall};
use crate::sim::{self, Observer, Sample, Workload};

/// The built-in workload (`tidepool soak` with no file): 24 h of high,
/// medium and low load.
pub const DAILY_CYCLE: &str = include_str!("../../workloads/daily-cycle.toml");

/// Arguments of `tidepool soak`.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Workload file (TOML, see workloads/README.md). Default: the built-in
    /// daily cycle (workloads/daily-cycle.toml).
    pub workload: Option<PathBuf>,
    /// Directory for report.json, report.md and samples.jsonl. Every file
    /// the run writes goes here.
    #[arg(long, default_value = "tidepool-out")]
    pub out: PathBuf,
    /// Replace the results of an earlier run in --out (without it, a run
    /// refuses to start there).
    #[arg(long)]
    pub force: bool,
    /// Override the workload's seed.
    #[arg(long, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Override the workload's total duration (e.g. 1h, 90m).
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    pub duration: Option<Duration>,
    /// No progress bar or progress lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Record every Nth operation (see --record-every) through the pool into
    /// this trace file under --out, for `tidepool replay`.
    #[arg(long, value_name = "NAME")]
    pub record_trace: Option<PathBuf>,
    /// With --record-trace: keep one operation in N.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub record_every: u64,
    /// Virtual or wall-clock time.
    #[command(flatten)]
    pub time: TimeArgs,
    /// Where alerts go.
    #[command(flatten)]
    pub sinks: SinkArgs,
}

/// What `soak` and `replay` share.
#[derive(Clone, Copy)]
struct Common<'a> {
    out: &'a Path,
    force: bool,
    quiet: bool,
    time: &'a TimeArgs,
    sinks: &'a SinkArgs,
}

impl SoakArgs {
    fn common(&self) -> Common<'_> {
        Common { out: &self.out, force: self.force, quiet: self.quiet, time: &self.time, sinks: &self.sinks }
    }
}

impl ReplayArgs {
    fn common(&self) -> Common<'_> {
        Common { out: &self.out, force: self.force, quiet: self.quiet, time: &self.time, sinks: &self.sinks }
    }
}

/// Where a run's alerts and results go besides its files.
#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// Post alerts to this Alertmanager (http://HOST:PORT) as they fire and resolve.
    #[arg(long, value_name = "URL")]
    pub alertmanager: Option<String>,
    /// Push the run's results (tidepool_soak_*; in wall-clock time also
    /// every live series, every 10 s) to this Pushgateway (http://HOST:PORT)
    /// at the end, as the group of --job and --instance.
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,
    /// With --pushgateway: delete the pushed group at the end instead of
    /// keeping it (for gateways shared by many runs).
    #[arg(long, requires = "pushgateway")]
    pub pushgateway_delete: bool,
}

/// The `job` and `instance` labels of everything a run exports: /metrics,
/// the Pushgateway group, the OTLP resource, Alertmanager alerts.
#[derive(Debug, Clone, Default, Args)]
pub struct LabelArgs {
    /// The `job` label of everything the run exports (/metrics series,
    /// --pushgateway group, --otlp service.name, --alertmanager alerts):
    /// the same for every runner of one fleet [default: tidepool].
    #[arg(long, value_name = "NAME", value_parser = parse_label_value)]
    pub job: Option<String>,
    /// The `instance` label of everything the run exports: one per runner
    /// [default: HOSTNAME:PORT while serving /metrics on PORT, else
    /// HOSTNAME].
    #[arg(long, value_name = "NAME", value_parser = parse_label_value)]
    pub instance: Option<String>,
}

impl LabelArgs {
    /// The job: given, or [`crate::export::DEFAULT_JOB`].
    pub fn job(&self) -> String {
        self.job.clone().unwrap_or_else(|| crate::export::DEFAULT_JOB.into())
    }

    /// The instance: given, or [`crate::export::default_instance`] of a
    /// process serving /metrics on `port` (or nothing).
    pub fn instance(&self, port: Option<u16>) -> String {
        self.instance.clone().unwrap_or_else(|| crate::export::default_instance(port))
    }

    /// The first flag given, for refusals.
    fn given(&self) -> Option<&'static str> {
        if self.job.is_some() {
            Some("--job")
        } else if self.instance.is_some() {
            Some("--instance")
        } else {
            None
        }
    }
}

/// A `--job` / `--instance` value ([`crate::export::check_label_value`]).
fn parse_label_value(text: &str) -> Result<String, String> {
    crate::export::check_label_value(text)
        .map(|()| text.to_string())
        .map_err(|e| format!("{e} (a Prometheus label value: text such as ci-runner-7)"))
}

/// Virtual or wall-clock time, and the wall-clock settings.
#[derive(Debug, Clone, Args)]
pub struct TimeArgs {
    /// `virtual`: the discrete-event engine, deterministic, 24 h in seconds.
    /// `wall`: real threads against the real pool on the real clock, with
    /// /metrics served live.
    #[arg(long, value_enum, default_value_t = TimeMode::Virtual)]
    pub time: TimeMode,
    /// With --time wall: play durations K times faster, keeping rates (a
    /// 24 h cycle in 24/K hours).
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub compress: Option<f64>,
    /// With --time wall: where to serve /metrics [default: 127.0.0.1:9464].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// With --time wall: do not serve /metrics.
    #[arg(long)]
    pub no_metrics: bool,
    /// With --time wall: when /metrics cannot be served (the port is in
    /// use), warn and run without it instead of exiting with code 2.
    #[arg(long, conflicts_with = "no_metrics")]
    pub metrics_optional: bool,
    /// With --time wall: also push every metric over OTLP/HTTP (protobuf)
    /// every 10 s and at the end, e.g. to
    /// http://127.0.0.1:8428/opentelemetry/v1/metrics (VictoriaMetrics).
    #[cfg(feature = "otlp")]
    #[arg(long, value_name = "URL", conflicts_with = "no_metrics")]
    pub otlp: Option<String>,
    /// With --time wall: the most executor threads, so the most operations
    /// in progress at once; a run starts with what the workload needs and
    /// doubles them while they are all blocked [default: 1024].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096), allow_negative_numbers = true)]
    pub workers: Option<u64>,
    /// With --time wall: a start this much after its schedule counts as
    /// late [default: 1ms].
    #[arg(long, value_parser = parse_late_after, allow_hyphen_values = true)]
    pub late_after: Option<Duration>,
    /// The `job` and `instance` labels.
    #[command(flatten)]
    pub labels: LabelArgs,
}

/// `--time` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TimeMode {
    /// The discrete-event engine on a manual clock.
    Virtual,
    /// Real threads on the real clock.
    Wall,
}

impl TimeArgs {
    /// Refuses wall-clock flags in virtual time, and labels with nothing
    /// to label.
    fn check(&self, sinks: &SinkArgs) -> Result<(), CliError> {
        if self.time == TimeMode::Virtual {
            if let Some(flag) = self.labels.given() {
                if sinks.pushgateway.is_none() && sinks.alertmanager.is_none() {
                    return Err(CliError::Input(format!(
                        "{flag} labels what the run exports: it needs --time wall (/metrics, --otlp), \
                         --pushgateway or --alertmanager"
                    )));
                }
            }
            let given = [
                ("--compress", self.compress.is_some()),
                ("--listen", self.listen.is_some()),
                ("--no-metrics", self.no_metrics),
                ("--metrics-optional", self.metrics_optional),
                #[cfg(feature = "otlp")]
                ("--otlp", self.otlp.is_some()),
                ("--workers", self.workers.is_some()),
                ("--late-after", self.late_after.is_some()),
            ];
            if let Some((flag, _)) = given.iter().find(|(_, on)| *on) {
                return Err(CliError::Input(format!(
                    "{flag} needs --time wall (virtual time already runs a day in seconds)"
                )));
            }
        }
        Ok(())
    }

    /// The flags to repeat in a replay command.
    fn command_suffix(&self) -> String {
        let mut cmd = String::new();
        if self.time == TimeMode::Wall {
            cmd += " --time wall";
            if let Some(k) = self.compress {
                cmd += &format!(" --compress {k}");
            }
            if let Some(w) = self.workers {
                cmd += &format!(" --workers {w}");
            }
            if let Some(d) = self.late_after {
                cmd += &format!(" --late-after {}", crate::units::fmt_duration(d).replace(' ', ""));
            }
        }
        cmd
    }
}

fn parse_late_after(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("`{text}`: {e} (write e.g. 1ms, 500us)"))?;
    if d.is_zero() || d > sim::workload::MAX_DURATION {
        return Err(format!("`{text}`: need more than 0 and at most 30 days"));
    }
    Ok(d)
}

/// The fastest `replay --speed`: a 30-day trace in under 3 s.
pub const MAX_SPEED: f64 = 1e6;

/// Refuses a run that would draw more than [`sim::workload::MAX_EXPECTED_OPS`]
/// operations (`what` names the input at fault).
fn check_expected_ops(ops: f64, what: &str) -> Result<(), CliError> {
    let max = sim::workload::MAX_EXPECTED_OPS;
    if ops.is_nan() || ops > max {
        return Err(CliError::Input(format!(
            "{what}: about {ops:.3e} operations expected (at most {max:e}): lower the values or --scale, or shorten the run"
        )));
    }
    Ok(())
}

/// The checkpoint file beside samples.jsonl while a run goes.
pub const CHECKPOINT: &str = "checkpoint.json";

/// The files a run writes into `--out` (besides a `--record-trace` file).
pub const RUN_FILES: [&str; 6] =
    ["report.json", "report.md", "report.html", "samples.jsonl", "alerts.jsonl", CHECKPOINT];

/// Refuses to start in `out` when an earlier run's results (or one of
/// `extra`) are there, unless `force`: nothing is overwritten by accident.
fn claim_out(out: &Path, force: bool, extra: &[&Path]) -> Result<(), CliError> {
    if force {
        return Ok(());
    }
    let found: Vec<String> = RUN_FILES
        .iter()
        .map(|f| out.join(f))
        .chain(extra.iter().map(|p| p.to_path_buf()))
        .filter(|p| p.exists())
        .map(|p| p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned()))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(CliError::Input(format!(
        "--out {}: holds an earlier run's results ({}): pass --force to replace them, or choose another --out",
        out.display(),
        found.join(", ")
    )))
}

/// The exporter's handle, or `None` with a warning when `optional` and
/// /metrics could not be served; otherwise the error (exit code 2).
pub(crate) fn optional_metrics<H>(
    installed: Result<H, crate::export::ExportError>,
    listen: std::net::SocketAddr,
    optional: bool,
) -> Result<Option<H>, CliError> {
    match installed {
        Ok(handle) => Ok(Some(handle)),
        Err(e) if optional => {
            eprintln!("tidepool: --listen {listen}: {e}; going on without /metrics (--metrics-optional)");
            Ok(None)
        }
        Err(e) => Err(CliError::Input(format!(
            "--listen {listen}: {e} (choose another address, or pass --metrics-optional to run without /metrics)"
        ))),
    }
}

/// Where `--record-trace NAME` writes: under `out`, never elsewhere.
fn trace_path(out: &Path, name: &Path) -> Result<PathBuf, CliError> {
    use std::path::Component;
    let plain = !name.as_os_str().is_empty() && name.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(CliError::Input(format!(
            "--record-trace {}: give a file name (relative, no `..`): the trace is written under --out {}",
            name.display(),
            out.display()
        )));
    }
    Ok(out.join(name))
}

/// Arguments of `tidepool validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Workload file (.toml) to check, or the dry run of a replay: a
    /// recorded trace (.jsonl) or a rate series (.csv).
    pub workload: PathBuf,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let d =
        humantime::parse_duration(text).map_err(|e| format!("`{text}`: {e} (write e.g. 90m, 1h, 24h)"))?;
    if d.is_zero() || d > sim::workload::MAX_DURATION {
        return Err(format!("`{text}`: need more than 0 and at most 30 days"));
    }
    Ok(d)
}

/// Loads the workload of `path`, or the built-in one.
fn load(path: Option<&Path>) -> Result<(Workload, String), CliError> {
    match path {
        Some(path) => {
            let w = Workload::load(path).map_err(|e| CliError::Input(e.to_string()))?;
            Ok((w, path.display().to_string()))
        }
        None => {
            let name = "workloads/daily-cycle.toml (built in)";
            let w = Workload::parse(DAILY_CYCLE, name).map_err(|e| CliError::Input(e.to_string()))?;
            Ok((w, name.into()))
        }
    }
}

/// `tidepool validate`: parse, check, and print what a run would do.
pub fn validate(args: &ValidateArgs) -> Result<String, CliError> {
    let path = &args.workload;
    let input = |e: sim::WorkloadError| CliError::Input(e.to_string());
    match path.extension().and_then(|e| e.to_str()) {
        // The dry run of `tidepool replay TRACE.jsonl`.
        Some("jsonl") => {
            let trace = sim::trace::Trace::load(path).map_err(input)?;
            let span = trace.span().as_secs_f64();
            let mean_hold = trace.mean_hold();
            return Ok(format!(
                "{}: ok\n  recorded trace: {} operations over {} ({:.1} ops/s), mean hold {}\n  \
                 `tidepool replay` plays it in {} (÷ --speed, × --loop, idle gaps capped by --max-idle-gap)\n",
                path.display(),
                trace.len(),
                report::human_seconds(span),
                if span > 0.0 { trace.len() as f64 / span } else { 0.0 },
                report::ms(mean_hold),
                report::human_seconds(span + 1e-3),
            ));
        }
        // The dry run of `tidepool replay SERIES.csv` with its defaults.
        Some("csv") => {
            let series =
                sim::series::RateSeries::load(path, sim::series::SeriesUnit::Count, 1.0).map_err(input)?;
            check_expected_ops(series.expected_arrivals(), &format!("{}:0:0: value", path.display()))?;
            let secs = series.duration().as_secs_f64();
            return Ok(format!(
                "{}: ok\n  rate series: {} rows over {}, {:.0} expected arrivals (mean {:.2}/s, peak {:.2}/s) \
                 reading each value as a count per row (`--unit per-second` and `--scale` change that)\n",
                path.display(),
                series.len(),
                report::human_seconds(secs),
                series.expected_arrivals(),
                if secs > 0.0 { series.expected_arrivals() / secs } else { 0.0 },
                series.peak_rate()
            ));
        }
        _ => {}
    }
    let (w, file) = load(Some(&args.workload))?;
    let mut out = format!(
        "{file}: ok\n  workload {} (seed {}), {} of virtual time: {:.3} cycle(s) of {}\n",
        w.name,
        w.seed,
        crate::units::fmt_duration(w.duration),
        w.duration.as_secs_f64() / w.cycle().as_secs_f64(),
        crate::units::fmt_duration(w.cycle())
    );
    out += &format!(
        "  pool {}..{} ({} sizing), acquire timeout {}\n",
        w.pool.settings.min_size,
        w.pool.settings.max_size,
        w.pool.settings.sizing.name(),
        crate::units::fmt_duration(w.pool.settings.acquire_timeout)
    );
    for p in &w.phases {
        let hold = w
            .hold_of(w.phases.iter().position(|q| q.name == p.name).unwrap_or(0))
            .map_or(0.0, |d| d.mean_seconds());
        out += &format!(
            "  phase {:<10} {:>8}  {}  mean hold {}\n",
            p.name,
            crate::units::fmt_duration(p.duration),
            describe_arrival(&p.arrival),
            report::ms(hold)
        );
    }
    for f in &w.faults {
        out += &format!(
            "  fault {} at {} for {}\n",
            f.kind.name(),
            crate::units::fmt_duration(f.at),
            f.duration.map_or("the rest of the run".into(), crate::units::fmt_duration)
        );
    }
    let ops = w.expected_ops();
    out += &format!("  expected operations: {ops:.0}\n");
    Ok(out)
}

fn describe_arrival(a: &sim::Arrival) -> String {
    match a {
        sim::Arrival::Poisson { rate } => format!("poisson {rate}/s"),
        sim::Arrival::Constant { rate } => format!("constant {rate}/s"),
        sim::Arrival::Ramp { from, to } => format!("ramp {from}/s -> {to}/s"),
        sim::Arrival::Series { file, loaded, .. } => {
            format!("series {} ({} rows)", file.display(), loaded.as_ref().map_or(0, |s| s.len()))
        }
        sim::Arrival::Trace { trace, speed, loops } => {
            format!("recorded trace, {} operations at {speed}x, {loops} loop(s)", trace.len())
        }
        sim::Arrival::Closed { workers, think } => format!(
            "closed loop, {workers} workers, mean think {}",
            report::ms(think.as_ref().map_or(0.0, |d| d.mean_seconds()))
        ),
    }
}

/// How a soak ended, for the exit code.
#[derive(Debug)]
pub enum SoakEnd {
    /// Every gate passed (exit 0).
    Passed,
    /// A gate failed (exit 1).
    Failed,
    /// Interrupted (exit 130).
    Interrupted,
}

/// Writes samples and shows progress.
struct Progress {
    samples: BufWriter<std::fs::File>,
    error: Option<std::io::Error>,
    wall: Clock,
    started: u64,
    last_line: u64,
    total_seconds: f64,
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
    arrived: u64,
    /// Wall-clock run: time is real, rates are plain ops/s.
    wall_mode: bool,
    /// What a checkpoint report needs.
    checkpoint: Checkpoint,
    /// The monitor, fed every sample; its events go to alerts.jsonl.
    monitor: crate::monitor::Monitor,
    alerts: BufWriter<std::fs::File>,
    /// The pool's max (starvation is `in_use / max` while callers wait).
    pool_max: usize,
    /// The queue forecast's limit, callers.
    queue_limit: f64,
    /// Wall-clock runs with --pushgateway: the group, the live series, and
    /// when they were last pushed.
    push: Option<(crate::export::Pushgateway, Option<metrics_exporter_prometheus::PrometheusHandle>, u64)>,
    /// tidepool's own resident memory against the run's time, read every
    /// `rss_every` samples: a long run must not grow it.
    rss: crate::monitor::LeakTracker,
    rss_every: u64,
    samples_seen: u64,
}

/// Writes `checkpoint.json` (a report of everything so far, marked
/// interrupted) as the run goes, for `tidepool report` after a kill -9:
/// every sample in wall-clock runs, at most once a wall second in virtual
/// time (which a rerun reproduces anyway).
struct Checkpoint {
    workload: Workload,
    file: String,
    replay: String,
    out: PathBuf,
    compress: Option<f64>,
    last: u64,
}

impl Progress {
    fn wall_figures(&self, ops: u64) -> Wall {
        let seconds = self.wall.now_nanos().saturating_sub(self.started) as f64 / 1e9;
        Wall {
            seconds,
            ops_per_second: if seconds > 0.0 { ops as f64 / seconds } else { 0.0 },
            peak_rss_bytes: report::peak_rss_bytes(),
            rss_trend: self.rss.verdict(),
        }
    }

    fn rate_text(&self, ops_per_second: f64) -> String {
        if self.wall_mode {
            format!("{ops_per_second:.0} ops/s")
        } else {
            format!("{:.2} M ops/s", ops_per_second / 1e6)
        }
    }
}

impl Progress {
    /// Runs the sample's readings through the monitor; writes and shows
    /// the events.
    fn monitor(&mut self, sample: &Sample) {
        use crate::monitor::{Kind, Level, Reading, Resource};
        let subject = self.checkpoint.workload.name.as_str();
        let starvation = if sample.waiting > 0 && self.pool_max > 0 {
            sample.in_use as f64 / self.pool_max as f64
        } else {
            0.0
        };
        let readings = [
            Reading::new(Kind::PoolWait, subject, sample.wait_p99),
            Reading::new(Kind::Starvation, subject, starvation),
            Reading::new(Kind::Memory, subject, sample.memory_bytes as f64),
        ];
        // The budgets a trend can exhaust besides memory: the pool's size
        // against its max, the queue against its bound.
        let levels = [
            Level::new(Resource::PoolSize, subject, sample.size as f64, self.pool_max as f64),
            Level::new(Resource::Queue, subject, sample.waiting as f64, self.queue_limit),
        ];
        for event in self.monitor.observe_with_levels(sample.t, &readings, &levels) {
            if self.error.is_none() {
                let line = serde_json::to_string(&event).unwrap_or_default();
                if let Err(e) = writeln!(self.alerts, "{line}").and_then(|()| self.alerts.flush()) {
                    self.error = Some(e);
                }
            }
            if !self.quiet {
                let line = format!(
                    "tidepool: alert at {}: {} ({:?})",
                    report::human_seconds(event.at),
                    event.summary,
                    event.state
                );
                match &self.bar {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
            }
        }
    }
}

impl Observer for Progress {
    fn wants_checkpoint(&mut self) -> bool {
        let now = self.wall.now_nanos();
        if self.wall_mode || now.saturating_sub(self.checkpoint.last) >= 1_000_000_000 {
            self.checkpoint.last = now;
            true
        } else {
            false
        }
    }

    fn on_checkpoint(&mut self, outcome: &sim::Outcome, figures: Option<&sim::WallFigures>) {
        let c = &self.checkpoint;
        let wall = self.wall_figures(outcome.total.arrived);
        let mut report = Report::new(&c.workload, &c.file, outcome, c.replay.clone(), wall);
        if let Some(f) = figures {
            report = report.with_wall_figures(f, c.compress);
        }
        report = report.with_monitor(&c.workload, self.monitor.report());
        if let Err(e) = report::write_atomic(&c.out, CHECKPOINT, &report.to_json()) {
            self.error.get_or_insert(e);
        }
    }

    fn on_sample(&mut self, sample: &Sample) {
        self.monitor(sample);
        if self.samples_seen % self.rss_every == 0 {
            if let Some(p) = crate::process::sample() {
                self.rss.record(sample.t, p.rss_bytes as f64);
            }
        }
        self.samples_seen += 1;
        // Live series to the Pushgateway every 10 s of a wall-clock run.
        if let Some((group, Some(handle), last)) = &mut self.push {
            let now = self.wall.now_nanos();
            if now.saturating_sub(*last) >= 10_000_000_000 {
                *last = now;
                if let Err(e) = group.push(&pushable(handle.render())) {
                    if !self.quiet {
                        eprintln!("tidepool: {e}");
                    }
                }
            }
        }
        self.arrived += sample.arrived;
        if self.error.is_none() {
            let line = serde_json::to_string(sample).unwrap_or_default();
            if let Err(e) = writeln!(self.samples, "{line}") {
                self.error = Some(e);
            }
        }
        // Every line reaches the file as it is taken: a run killed with
        // -9 loses at most the interval in progress.
        if let Err(e) = self.samples.flush() {
            self.error.get_or_insert(e);
        }
        let now = self.wall.now_nanos();
        if self.quiet {
            return;
        }
        let elapsed = now.saturating_sub(self.started) as f64 / 1e9;
        let rate = if elapsed > 0.0 { self.arrived as f64 / elapsed } else { 0.0 };
        if let Some(bar) = &self.bar {
            bar.set_position(sample.t as u64);
            bar.set_message(format!("{}, phase {}", self.rate_text(rate), sample.phase));
        } else if now.saturating_sub(self.last_line) >= 5_000_000_000 {
            self.last_line = now;
            let done = sample.t / self.total_seconds;
            let eta = if done > 0.0 { elapsed / done - elapsed } else { 0.0 };
            eprintln!(
                "tidepool: {} of {}{} ({:.0} %), {}, phase {}, ETA {:.0} s",
                report::human_seconds(sample.t),
                report::human_seconds(self.total_seconds),
                if self.wall_mode { "" } else { " virtual" },
                done * 100.0,
                self.rate_text(rate),
                sample.phase,
                eta
            );
        }
    }
}

/// `tidepool soak`: replays the workload and writes the reports.
pub fn run(args: &SoakArgs) -> Result<(String, SoakEnd), CliError> {
    let (mut workload, file) = load(args.workload.as_deref())?;
    if let Some(seed) = args.seed {
        workload.seed = seed;
    }
    if let Some(d) = args.duration {
        workload.duration = d;
        // The file's checks of the run's size, again for the new length.
        let instances = d.as_nanos() / workload.cycle().as_nanos().max(1) * workload.phases.len() as u128;
        if instances > sim::workload::MAX_PHASE_INSTANCES as u128 {
            return Err(CliError::Input(format!(
                "--duration {}: the cycle would repeat into {instances} phase instances (at most {})",
                crate::units::fmt_duration(d),
                sim::workload::MAX_PHASE_INSTANCES
            )));
        }
        check_expected_ops(
            workload.expected_ops(),
            &format!("--duration {}", crate::units::fmt_duration(d)),
        )?;
    }
    args.time.check(&args.sinks)?;
    let replay = replay_command(args, &workload);
    let Some(name) = &args.record_trace else {
        return execute(&workload, &file, replay, None, args.common());
    };
    let path = &trace_path(&args.out, name)?;
    claim_out(&args.out, args.force, &[path])?;
    // Bounded: at most 50 M events (about 1.2 GB) are kept for the file.
    let recorder = Arc::new(crate::pool::trace::TraceRecorder::new(args.record_every, 50_000_000));
    let result = execute(&workload, &file, replay, Some(Arc::clone(&recorder)), args.common())?;
    // Through a temporary file and a rename: never half a trace.
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().map_or_else(|| "trace".into(), |n| n.to_string_lossy())
    ));
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::File::create(&tmp))
        .and_then(|file| {
            let mut out = std::io::BufWriter::new(file);
            recorder.write_jsonl(&mut out)?;
            std::io::Write::flush(&mut out)
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(CliError::Run(format!("--record-trace {}: {e}", path.display())));
    }
    if recorder.dropped() > 0 {
        eprintln!("tidepool: the trace buffer filled: {} operations not recorded", recorder.dropped());
    }
    Ok(result)
}

/// Arguments of `tidepool replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A `timestamp,value` CSV (Prometheus range export, CloudWatch, NAB):
    /// arrivals follow it as a non-homogeneous Poisson process. Or a trace
    /// recorded by `soak --record-trace` (`.jsonl`): its operations at
    /// their recorded times, with their recorded holds.
    pub series: PathBuf,
    /// Take the pool, hold time and gates from this workload file (its
    /// phases are replaced by the series).
    #[arg(long)]
    pub workload: Option<PathBuf>,
    /// What a value means: arrivals in the interval up to the next row, or per second.
    #[arg(long, value_enum, default_value_t = UnitArg::Count)]
    pub unit: UnitArg,
    /// Multiply every value (e.g. 100 to replay a day's traffic at 100×).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub scale: f64,
    /// Mean hold time (exponential) when no --workload gives one.
    #[arg(long, default_value = "10ms", value_parser = parse_duration, allow_hyphen_values = true)]
    pub hold: Duration,
    /// Play a recorded trace's gaps this many times faster (holds unchanged).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub speed: f64,
    /// Cap every idle gap of a recorded trace at this (e.g. 5s).
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    pub max_idle_gap: Option<Duration>,
    /// Play a recorded trace this many times back to back.
    #[arg(long = "loop", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000), allow_negative_numbers = true)]
    pub loops: u32,
    /// Seed of the arrival and hold draws.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
    /// Directory for report.json, report.md and samples.jsonl. Every file
    /// the run writes goes here.
    #[arg(long, default_value = "tidepool-out")]
    pub out: PathBuf,
    /// Replace the results of an earlier run in --out (without it, a run
    /// refuses to start there).
    #[arg(long)]
    pub force: bool,
    /// No progress bar or progress lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Virtual or wall-clock time.
    #[command(flatten)]
    pub time: TimeArgs,
    /// Where alerts go.
    #[command(flatten)]
    pub sinks: SinkArgs,
}

/// `--unit` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnitArg {
    /// Arrivals in the interval up to the next row.
    Count,
    /// Arrivals per second.
    PerSecond,
}

/// `tidepool replay`: a captured rate series through the real pool, in
/// virtual time, with the same report, gates and exit codes as `soak`.
pub fn replay(args: &ReplayArgs) -> Result<(String, SoakEnd), CliError> {
    let unit = match args.unit {
        UnitArg::Count => sim::series::SeriesUnit::Count,
        UnitArg::PerSecond => sim::series::SeriesUnit::PerSecond,
    };
    args.time.check(&args.sinks)?;
    if !args.speed.is_finite() || args.speed <= 0.0 || args.speed > MAX_SPEED {
        return Err(CliError::Input(format!(
            "--speed {}: must be a finite number > 0 and at most {MAX_SPEED:e}",
            args.speed
        )));
    }
    let is_trace = args.series.extension().is_some_and(|e| e == "jsonl");
    let (arrival, duration) = if is_trace {
        // Read once to check and sum it up; the replay reads it again.
        let trace = sim::trace::Trace::load_with_max_gap(&args.series, args.max_idle_gap)
            .map_err(|e| CliError::Input(e.to_string()))?;
        // One loop lasts the span (÷ speed) plus a millisecond, so the last
        // operation of each loop starts inside it.
        let period = trace.span().as_secs_f64() / args.speed + 1e-3;
        let total = period * f64::from(args.loops);
        if total > sim::workload::MAX_DURATION.as_secs_f64() {
            return Err(CliError::Input(format!(
                "--loop {}: {total:.0} s of replay is more than 30 days",
                args.loops
            )));
        }
        let duration = Duration::from_secs_f64(total);
        (sim::Arrival::Trace { trace: Arc::new(trace), speed: args.speed, loops: args.loops }, duration)
    } else {
        let series = sim::series::RateSeries::load(&args.series, unit, args.scale)
            .map_err(|e| CliError::Input(e.to_string()))?;
        let duration = series.duration();
        check_expected_ops(series.expected_arrivals(), &format!("{}:0:0: value", args.series.display()))?;
        let unit = match args.unit {
            UnitArg::Count => sim::workload::RawUnit::Count,
            UnitArg::PerSecond => sim::workload::RawUnit::PerSecond,
        };
        let arrival = sim::Arrival::Series {
            file: args.series.clone(),
            unit,
            scale: args.scale,
            loaded: Some(Arc::new(series)),
        };
        (arrival, duration)
    };
    let (mut workload, file) = match &args.workload {
        Some(path) => {
            let w = Workload::load(path).map_err(|e| CliError::Input(e.to_string()))?;
            (w, format!("{} following {}", path.display(), args.series.display()))
        }
        None => {
            let text = format!(
                "name = \"replay\"\nhold = {{ dist = \"exponential\", mean = \"{}\" }}\n[pool]\n\
                 [[phase]]\nname = \"x\"\nduration = \"1s\"\narrival = {{ process = \"poisson\", rate = 1 }}\n",
                crate::units::fmt_duration(args.hold)
            );
            let w = Workload::parse(&text, "replay defaults").map_err(|e| CliError::Input(e.to_string()))?;
            (w, args.series.display().to_string())
        }
    };
    if workload.hold.is_none() {
        return Err(CliError::Input(format!(
            "{}: a replay needs the workload's top-level `hold`",
            args.workload.as_ref().map_or(String::new(), |p| p.display().to_string())
        )));
    }
    let name = args.series.file_stem().map_or_else(|| "series".into(), |s| s.to_string_lossy().into_owned());
    workload.name = name.clone();
    workload.seed = args.seed;
    workload.duration = duration;
    workload.phases = vec![sim::Phase { name, duration, arrival, hold: None }];
    // Faults and drift windows keep their meaning on the series' own time.
    let mut cmd =
        format!("tidepool replay {} --seed {}", shell_word(&args.series.display().to_string()), args.seed);
    if let Some(w) = &args.workload {
        cmd += &format!(" --workload {}", shell_word(&w.display().to_string()));
    }
    if args.unit == UnitArg::PerSecond {
        cmd += " --unit per-second";
    }
    if args.scale != 1.0 {
        cmd += &format!(" --scale {}", args.scale);
    }
    if args.speed != 1.0 {
        cmd += &format!(" --speed {}", args.speed);
    }
    if let Some(gap) = args.max_idle_gap {
        cmd += &format!(" --max-idle-gap {}", crate::units::fmt_duration(gap));
    }
    if args.loops != 1 {
        cmd += &format!(" --loop {}", args.loops);
    }
    if args.workload.is_none() {
        cmd += &format!(" --hold {}", crate::units::fmt_duration(args.hold));
    }
    cmd += &args.time.command_suffix();
    cmd += &format!(" --out {}", shell_word(&args.out.display().to_string()));
    execute(&workload, &file, cmd, None, args.common())
}

/// Runs a prepared workload and writes the reports into `out`.
fn execute(
    workload: &Workload,
    file: &str,
    replay: String,
    trace: Option<Arc<crate::pool::trace::TraceRecorder>>,
    run: Common<'_>,
) -> Result<(String, SoakEnd), CliError> {
    let Common { out, force, quiet, time, sinks } = run;
    claim_out(out, force, &[])?;
    let wall_mode = time.time == TimeMode::Wall;
    if wall_mode && workload.faults.iter().any(|f| matches!(f.kind, sim::FaultKind::ClockJump { .. })) {
        return Err(CliError::Input(format!(
            "{file}: a `clock_jump` fault needs virtual time (the real clock cannot be made to jump)"
        )));
    }
    let workload = match time.compress {
        Some(k) => workload.compressed(k).map_err(CliError::Input)?,
        None => workload.clone(),
    };
    // Where /metrics is served, if it is: the default instance names its port.
    let listen =
        (wall_mode && !time.no_metrics).then(|| time.listen.unwrap_or(crate::export::DEFAULT_LISTEN));
    let job = time.labels.job();
    let instance = time.labels.instance(listen.map(|a| a.port()));
    let pushgateway = match &sinks.pushgateway {
        Some(url) => Some(
            crate::export::Pushgateway::new(url, &job, Some(&instance))
                .map_err(|e| CliError::Input(format!("--pushgateway: {e}")))?,
        ),
        None => None,
    };
    let mut metrics = None;
    #[cfg(feature = "otlp")]
    let mut otlp_push: Option<crate::export::OtlpHandle> = None;
    if let Some(listen) = listen {
        // Before the pool is built: its metric handles bind to the recorder
        // installed at that moment.
        let exporter = crate::export::PrometheusExporter::new()
            .listen(listen)
            .global_label("job", job.clone())
            .global_label("instance", instance.clone())
            .global_label("workload", workload.name.clone());
        #[cfg(feature = "otlp")]
        let handle = match &time.otlp {
            Some(url) => {
                let otlp = crate::export::OtlpExporter::new(url)
                    .and_then(|o| o.install(exporter))
                    .map_err(|e| CliError::Input(format!("--otlp {url} / --listen {listen}: {e}")))?;
                eprintln!("tidepool: pushing OTLP to {url} every 10 s");
                let handle = otlp.prometheus().clone();
                otlp_push = Some(otlp);
                Some(handle)
            }
            None => optional_metrics(exporter.install(), listen, time.metrics_optional)?,
        };
        #[cfg(not(feature = "otlp"))]
        let handle = optional_metrics(exporter.install(), listen, time.metrics_optional)?;
        if handle.is_some() {
            eprintln!(
                "tidepool: serving /metrics at http://{listen}/metrics (job {job:?}, instance {instance:?})"
            );
        }
        metrics = handle;
    }
    std::fs::create_dir_all(out)
        .map_err(|e| CliError::Input(format!("--out {}: cannot create the directory: {e}", out.display())))?;
    // With --force, a report left by an earlier run must not sit beside
    // this run's samples (claim_out refused to start otherwise).
    for stale in RUN_FILES {
        let path = out.join(stale);
        if path.exists() {
            std::fs::remove_file(&path)
                .map_err(|e| CliError::Input(format!("{}: cannot replace: {e}", path.display())))?;
        }
    }
    let samples_path = out.join("samples.jsonl");
    let samples = std::fs::File::create(&samples_path)
        .map_err(|e| CliError::Input(format!("{}: cannot create: {e}", samples_path.display())))?;
    let alerts_path = out.join("alerts.jsonl");
    let alerts = std::fs::File::create(&alerts_path)
        .map_err(|e| CliError::Input(format!("{}: cannot create: {e}", alerts_path.display())))?;
    let mut monitor_config = workload.monitor.clone();
    if let Some(budget) = workload.slo.max_memory_growth_per_hour {
        monitor_config.leak_budget_bytes_per_hour = budget as f64;
    }
    // The pool grows to its working size first: as for the memory floors.
    monitor_config.leak_warmup_seconds =
        monitor_config.leak_warmup_seconds.min(workload.duration.as_secs_f64() / 20.0);
    let monitor_warmup = monitor_config.leak_warmup_seconds;
    let mut monitor = crate::monitor::Monitor::new(monitor_config);
    if let Some(url) = &sinks.alertmanager {
        let sink = crate::monitor::alertmanager::Alertmanager::new(url)
            .map_err(|e| CliError::Input(format!("--alertmanager: {e}")))?
            .label("job", job.clone())
            .label("instance", instance.clone())
            .label("workload", workload.name.clone());
        monitor.add_sink(sink);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registration only fails for forbidden signals; these two are not.
        let _ = signal_hook::flag::register(signal, Arc::clone(&stop));
    }
    let wall = Clock::system();
    let started = wall.now_nanos();
    let total_seconds = workload.duration.as_secs_f64();
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total_seconds as u64);
        let style = indicatif::ProgressStyle::with_template(if wall_mode {
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} s  {msg}  ETA {eta}"
        } else {
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} virtual s  {msg}  ETA {eta}"
        })
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    });
    let mut progress = Progress {
        samples: BufWriter::new(samples),
        error: None,
        wall: wall.clone(),
        started,
        last_line: started,
        total_seconds,
        bar,
        quiet,
        arrived: 0,
        wall_mode,
        monitor,
        push: pushgateway.clone().map(|group| (group, metrics.clone(), started)),
        alerts: BufWriter::new(alerts),
        pool_max: workload.pool.settings.max_size,
        queue_limit: workload.monitor.queue_limit_for(workload.pool.settings.max_size),
        // About 2 000 readings a run (a /proc read each), after the same
        // warm-up as the leak verdict.
        rss: crate::monitor::LeakTracker::new(report::RSS_BUDGET_BYTES_PER_HOUR, monitor_warmup),
        rss_every: (workload.duration.as_nanos() / workload.sample_interval.as_nanos().max(1) / 2000).max(1)
            as u64,
        samples_seen: 0,
        checkpoint: Checkpoint {
            workload: workload.clone(),
            file: file.to_string(),
            replay: replay.clone(),
            out: out.to_path_buf(),
            compress: time.compress,
            last: started,
        },
    };
    // `soak` or `replay`, as the command that replays this run says.
    let verb = if replay.starts_with("tidepool replay") { "replay" } else { "soak" };
    eprintln!(
        "tidepool: {verb} {} (seed {}), {} of {} time",
        file,
        workload.seed,
        crate::units::fmt_duration(workload.duration),
        if wall_mode { "wall-clock" } else { "virtual" }
    );
    let (outcome, figures) = if wall_mode {
        let options = sim::WallOptions {
            workers: time.workers.map(|w| w as usize),
            late_after: time.late_after.unwrap_or(Duration::from_millis(1)),
            trace,
        };
        let (outcome, figures) =
            sim::run_wall(&workload, &mut progress, &stop, &options).map_err(|e| run_error(file, e))?;
        (outcome, Some(figures))
    } else {
        let outcome = sim::engine::run_traced(&workload, &mut progress, &stop, trace)
            .map_err(|e| run_error(file, e))?;
        (outcome, None)
    };
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    progress.samples.flush().map_err(|e| CliError::Run(format!("{}: {e}", samples_path.display())))?;
    if let Some(e) = progress.error {
        return Err(CliError::Run(format!("{}: {e}", samples_path.display())));
    }
    let wall = progress.wall_figures(outcome.total.arrived);
    let mut report = Report::new(&workload, file, &outcome, replay, wall);
    if let Some(figures) = &figures {
        report = report.with_wall_figures(figures, time.compress);
    }
    report = report.with_monitor(&workload, progress.monitor.report());
    let json = report::write_atomic(out, "report.json", &report.to_json())
        .map_err(|e| CliError::Run(format!("writing the report: {e}")))?;
    let md = report::write_atomic(out, "report.md", &report.to_markdown())
        .map_err(|e| CliError::Run(format!("writing the report: {e}")))?;
    report::write_atomic(out, "report.html", &report::html::render(&report, &samples_path))
        .map_err(|e| CliError::Run(format!("writing the report: {e}")))?;
    // The report supersedes the checkpoint.
    let _ = std::fs::remove_file(out.join(CHECKPOINT));
    if let Some(group) = &pushgateway {
        let mut body = report.to_exposition();
        if let Some(handle) = &metrics {
            body = pushable(handle.render()) + &body;
        }
        let pushed = if sinks.pushgateway_delete { group.delete() } else { group.push(&body) };
        pushed.map_err(|e| CliError::Run(format!("the reports are written, but: {e}")))?;
    }
    let end = if report.interrupted {
        SoakEnd::Interrupted
    } else if report.passed {
        SoakEnd::Passed
    } else {
        SoakEnd::Failed
    };
    #[cfg(feature = "otlp")]
    if let Some(Err(e)) = otlp_push.map(crate::export::OtlpHandle::shutdown) {
        eprintln!("tidepool: the last OTLP push failed: {e}");
    }
    Ok((summary(&report, &json, &md, &samples_path), end))
}

/// The live exposition as a Pushgateway takes it: `process_cpu_seconds_total`
/// declared a counter. It is one (it only grows), but the `metrics` facade
/// has only integer counters, so the scrape serves it as a gauge; a
/// Pushgateway refuses a push whose type of a name differs from its own
/// registry's, and its own process_cpu_seconds_total is a counter.
fn pushable(exposition: String) -> String {
    const GAUGE: &str = "# TYPE process_cpu_seconds_total gauge\n";
    if exposition.contains(GAUGE) {
        exposition.replacen(GAUGE, "# TYPE process_cpu_seconds_total counter\n", 1)
    } else {
        exposition
    }
}

/// A run that could not start or go on: bad input (exit 2), naming the
/// workload, or the series or trace that could not be read again (whose
/// error names its own file and line).
fn run_error(file: &str, e: sim::SimError) -> CliError {
    match e {
        sim::SimError::Input(e) => CliError::Input(format!("{e} (the run stopped; no report written)")),
        e => CliError::Input(format!("{file}: {e}")),
    }
}

fn replay_command(args: &SoakArgs, w: &Workload) -> String {
    let mut cmd = String::from("tidepool soak");
    if let Some(path) = &args.workload {
        cmd += &format!(" {}", shell_word(&path.display().to_string()));
    }
    cmd += &format!(" --seed {}", w.seed);
    if let Some(d) = args.duration {
        cmd += &format!(" --duration {}", crate::units::fmt_duration(d).replace(' ', ""));
    }
    cmd += &args.time.command_suffix();
    cmd += &format!(" --out {}", shell_word(&args.out.display().to_string()));
    cmd
}

fn shell_word(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=".contains(c)) {
        s.into()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn summary(r: &Report, json: &Path, md: &Path, samples: &Path) -> String {
    let verb = if r.replay.starts_with("tidepool replay") { "replay" } else { "soak" };
    let mut s = String::new();
    let verdict = r.verdict();
    if let Some(sch) = &r.schedule {
        s += &format!(
            "{verb} {}: {verdict} — {} on the real clock{} ({:.0} ops/s), seed {}\n",
            r.workload,
            report::human_seconds(r.virtual_seconds),
            r.compress.map_or(String::new(), |k| format!(", compressed {k}x")),
            r.wall.ops_per_second,
            r.seed
        );
        s += &format!(
            "  schedule: {} starts, {} dropped, {} late (> {}), lag p99 {}, {} executor threads\n",
            sch.scheduled,
            sch.dropped,
            sch.late,
            report::ms(sch.late_after_seconds),
            report::ms(sch.lag_seconds.p99),
            sch.workers
        );
        if let Some(p) = &r.process {
            s += &format!(
                "  process: RSS peak {}, {:.1} CPU s ({:.2} cores)\n",
                report::bytes(p.rss_peak_bytes as f64),
                p.cpu_seconds,
                p.cpu_cores_mean
            );
        }
    } else {
        s += &format!(
            "{verb} {}: {verdict} — {} virtual in {:.1} s wall ({:.2} M ops/s), seed {}\n",
            r.workload,
            report::human_seconds(r.virtual_seconds),
            r.wall.seconds,
            r.wall.ops_per_second / 1e6,
            r.seed
        );
    }
    s += &format!("  ops: {} (error rate {:.4} %)\n", r.ops.equation(), r.error_rate * 100.0);
    let w = &r.wait_seconds.corrected;
    s += &format!(
        "  wait (corrected): p50 {}  p99 {}  p99.9 {}  max {}\n",
        report::ms(w.p50),
        report::ms(w.p99),
        report::ms(w.p999),
        report::ms(w.max)
    );
    s += &format!(
        "  pool: utilization {:.1} %, size {}..{} (mean {:.2}), {} resizes, reuse {:.4}\n",
        r.pool.utilization_mean * 100.0,
        r.pool.size_min_seen,
        r.pool.size_max_seen,
        r.pool.size_mean,
        r.pool.resizes,
        r.pool.reuse_ratio
    );
    for ph in &r.phases {
        s += &format!(
            "  phase {:<10} {:>9} arrived, wait p99 {:>10}, utilization {:>5.1} %, mean size {:.2}\n",
            ph.name,
            ph.ops.arrived,
            report::ms(ph.wait_seconds.corrected.p99),
            ph.pool.utilization_mean * 100.0,
            ph.pool.size_mean
        );
    }
    for g in &r.slo {
        s += &format!(
            "  gate {:<28} {} (observed {}, limit {})\n",
            g.name,
            if g.passed { "pass" } else { "FAIL" },
            report::gate_value(&g.name, g.observed),
            report::gate_value(&g.name, g.target)
        );
    }
    if !r.passed {
        s += &format!("  replay: {}\n", r.replay);
    }
    let dir = samples.parent().unwrap_or_else(|| Path::new("."));
    s += &format!(
        "  reports: {}, {}, {}; {}, {}\n",
        json.display(),
        md.display(),
        dir.join("report.html").display(),
        samples.display(),
        dir.join("alerts.jsonl").display()
    );
    s
}
