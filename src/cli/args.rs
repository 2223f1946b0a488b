//! The flags of `tidepool soak`, `replay` and `validate`, and their checks.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::CliError;

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
    /// The job: given, or [`tidepool::export::DEFAULT_JOB`].
    pub fn job(&self) -> String {
        self.job.clone().unwrap_or_else(|| tidepool::export::DEFAULT_JOB.into())
    }

    /// The instance: given, or [`tidepool::export::default_instance`] of a
    /// process serving /metrics on `port` (or nothing).
    pub fn instance(&self, port: Option<u16>) -> String {
        self.instance.clone().unwrap_or_else(|| tidepool::export::default_instance(port))
    }

    /// The first flag given, for refusals.
    pub(super) fn given(&self) -> Option<&'static str> {
        if self.job.is_some() {
            Some("--job")
        } else if self.instance.is_some() {
            Some("--instance")
        } else {
            None
        }
    }
}

/// A `--job` / `--instance` value ([`tidepool::export::check_label_value`]).
fn parse_label_value(text: &str) -> Result<String, String> {
    tidepool::export::check_label_value(text)
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
    /// doubles them while they are all blocked [default: 128 per CPU, at
    /// most 1024].
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
    pub(super) fn check(&self, sinks: &SinkArgs) -> Result<(), CliError> {
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
    pub(super) fn command_suffix(&self) -> String {
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
                cmd += &format!(" --late-after {}", tidepool::units::fmt_duration(d).replace(' ', ""));
            }
        }
        cmd
    }
}

fn parse_late_after(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("`{text}`: {e} (write e.g. 1ms, 500us)"))?;
    if d.is_zero() || d > tidepool::units::MAX_DURATION {
        return Err(format!("`{text}`: need more than 0 and at most 30 days"));
    }
    Ok(d)
}

/// Arguments of `tidepool validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Workload file (.toml) to check, or the dry run of a replay: a
    /// recorded trace (.jsonl) or a rate series (.csv).
    pub workload: PathBuf,
}

pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let d =
        humantime::parse_duration(text).map_err(|e| format!("`{text}`: {e} (write e.g. 90m, 1h, 24h)"))?;
    if d.is_zero() || d > tidepool::units::MAX_DURATION {
        return Err(format!("`{text}`: need more than 0 and at most 30 days"));
    }
    Ok(d)
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
