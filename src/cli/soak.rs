//! `tidepool soak`, `tidepool replay` and `tidepool validate`: flags mapped
//! to the library's soak runner ([`tidepool::soak::Soak`]), its result to
//! an exit code, its progress to a bar or a line every 5 s.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tidepool::export::ExportConfig;
use tidepool::monitor::AlertEvent;
use tidepool::sim::series::SeriesUnit;
use tidepool::sim::{WallOptions, Workload};
use tidepool::soak::{self, shell_word, Progress, Replay, Soak, SoakEnd, SoakError, Tick, Time};
use tidepool::units::{fmt_duration, human_seconds};

use super::args::{ReplayArgs, SinkArgs, SoakArgs, TimeArgs, TimeMode, UnitArg, ValidateArgs};
use super::CliError;

impl From<SoakError> for CliError {
    fn from(e: SoakError) -> Self {
        match e {
            SoakError::Input(m) => CliError::Input(m),
            SoakError::Run(m) => CliError::Run(m),
            SoakError::Unwritten { message, summary } => CliError::Run(format!("{message}\n\n{summary}")),
            other => CliError::Run(other.to_string()),
        }
    }
}

/// `tidepool validate`: parse, check, and print what a run would do.
pub fn validate(args: &ValidateArgs) -> Result<String, CliError> {
    Ok(soak::validate(&args.workload)?)
}

/// `tidepool soak`: replays the workload and writes the reports.
pub fn run(args: &SoakArgs) -> Result<(String, SoakEnd), CliError> {
    let (mut workload, file) = match &args.workload {
        Some(path) => {
            (Workload::load(path).map_err(|e| CliError::Input(e.to_string()))?, path.display().to_string())
        }
        None => {
            let workload = Workload::parse(soak::DAILY_CYCLE, soak::DAILY_CYCLE_NAME)
                .map_err(|e| CliError::Input(e.to_string()))?;
            (workload, soak::DAILY_CYCLE_NAME.to_string())
        }
    };
    if let Some(seed) = args.seed {
        workload.seed = seed;
    }
    if let Some(d) = args.duration {
        workload = soak::with_duration(workload, d)?;
    }
    args.time.check(&args.sinks)?;
    let mut cmd = String::from("tidepool soak");
    if let Some(path) = &args.workload {
        cmd += &format!(" {}", shell_word(&path.display().to_string()));
    }
    cmd += &format!(" --seed {}", workload.seed);
    if let Some(d) = args.duration {
        cmd += &format!(" --duration {}", fmt_duration(d));
    }
    let mut soak = Soak::new(workload).file(file);
    if let Some(name) = &args.record_trace {
        soak = soak.record_trace(name, args.record_every);
    }
    execute(soak, cmd, &args.time, &args.sinks, &args.out, args.force, args.quiet)
}

/// `tidepool replay`: a captured rate series or a recorded trace through
/// the real pool, with the same report, gates and exit codes as `soak`.
pub fn replay(args: &ReplayArgs) -> Result<(String, SoakEnd), CliError> {
    args.time.check(&args.sinks)?;
    let replay = Replay {
        workload: args.workload.clone(),
        unit: match args.unit {
            UnitArg::Count => SeriesUnit::Count,
            UnitArg::PerSecond => SeriesUnit::PerSecond,
        },
        scale: args.scale,
        hold: args.hold,
        speed: args.speed,
        max_idle_gap: args.max_idle_gap,
        loops: args.loops,
        seed: args.seed,
        ..Replay::new(&args.series)
    };
    let (workload, file) = replay.workload()?;
    let soak = Soak::new(workload).file(file);
    execute(soak, replay.command(), &args.time, &args.sinks, &args.out, args.force, args.quiet)
}

/// Maps the flags `soak` and `replay` share onto `soak` and runs it; `cmd`
/// is the command so far (the replay line gets the time and output flags).
fn execute(
    soak: Soak<'_>,
    mut cmd: String,
    time: &TimeArgs,
    sinks: &SinkArgs,
    out: &Path,
    force: bool,
    quiet: bool,
) -> Result<(String, SoakEnd), CliError> {
    cmd += &time.command_suffix();
    // The directory then holds this run's results: rerunning replaces them.
    cmd += &format!(" --out {} --force", shell_word(&out.display().to_string()));
    let wall = time.time == TimeMode::Wall;
    let mut export = ExportConfig {
        serve: wall && !time.no_metrics,
        listen: time.listen.unwrap_or(tidepool::export::DEFAULT_LISTEN),
        pushgateway: sinks.pushgateway.clone(),
        ..ExportConfig::default()
    };
    #[cfg(feature = "otlp")]
    {
        export.otlp_endpoint = time.otlp.clone();
    }
    if let Some(job) = &time.labels.job {
        export.labels.insert("job".into(), job.clone());
    }
    if let Some(instance) = &time.labels.instance {
        export.labels.insert("instance".into(), instance.clone());
    }
    let time_mode = if wall {
        let options = WallOptions {
            workers: time.workers.map(|w| w as usize),
            late_after: time.late_after.unwrap_or(Duration::from_millis(1)),
            trace: None,
        };
        Time::Wall { options, compress: time.compress }
    } else {
        Time::Virtual
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The first signal ends the run (reports written, exit 130); a
        // second, while the results are still being delivered to a slow
        // sink, exits at once with 130. Conditional first: it must see the
        // flag before the first signal's handler sets it. Registration only
        // fails for forbidden signals; these two are not.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop));
        let _ = signal_hook::flag::register(signal, Arc::clone(&stop));
    }
    let total = soak.workload().duration.as_secs_f64() / time.compress.filter(|_| wall).unwrap_or(1.0);
    let mut progress = Shown::new(quiet, wall, total);
    let mut soak = soak
        .out(out)
        .force(force)
        .time(time_mode)
        .export(export)
        .metrics_optional(time.metrics_optional)
        .pushgateway_delete(sinks.pushgateway_delete)
        .replay_command(cmd)
        .stop_flag(stop)
        .progress(&mut progress);
    if let Some(url) = &sinks.alertmanager {
        soak = soak.alertmanager(url);
    }
    let result = soak.run()?;
    Ok((result.summary(), result.end))
}

/// The progress of a run on stderr: a bar on a terminal, else a line every
/// 5 s; alerts as they come; nothing but notices with `--quiet`.
struct Shown {
    quiet: bool,
    wall: bool,
    bar: Option<indicatif::ProgressBar>,
    /// Wall seconds of the last progress line.
    last_line: f64,
}

impl Shown {
    fn new(quiet: bool, wall: bool, total_seconds: f64) -> Shown {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total_seconds as u64);
            let style = indicatif::ProgressStyle::with_template(if wall {
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} s  {msg}  ETA {eta}"
            } else {
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} virtual s  {msg}  ETA {eta}"
            })
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Shown { quiet, wall, bar, last_line: 0.0 }
    }

    fn line(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => say!("{line}"),
        }
    }

    fn rate(&self, ops_per_second: f64) -> String {
        if self.wall {
            format!("{ops_per_second:.0} ops/s")
        } else {
            format!("{:.2} M ops/s", ops_per_second / 1e6)
        }
    }
}

impl Progress for Shown {
    fn notice(&mut self, message: &str) {
        self.line(&format!("tidepool: {message}"));
    }

    fn sample(&mut self, at: &Tick<'_>) {
        if self.quiet {
            return;
        }
        let rate = if at.elapsed > 0.0 { at.arrived as f64 / at.elapsed } else { 0.0 };
        if let Some(bar) = &self.bar {
            bar.set_position(at.covered as u64);
            bar.set_message(format!("{}, phase {}", self.rate(rate), at.sample.phase));
        } else if at.elapsed - self.last_line >= 5.0 {
            self.last_line = at.elapsed;
            let done = at.covered / at.total;
            let eta = if done > 0.0 { at.elapsed / done - at.elapsed } else { 0.0 };
            say!(
                "tidepool: {} of {}{} ({:.0} %), {}, phase {}, ETA {:.0} s",
                human_seconds(at.covered),
                human_seconds(at.total),
                if at.wall { "" } else { " virtual" },
                done * 100.0,
                self.rate(rate),
                at.sample.phase,
                eta
            );
        }
    }

    fn alert(&mut self, event: &AlertEvent) {
        if !self.quiet {
            self.line(&format!(
                "tidepool: alert at {}: {} ({:?})",
                human_seconds(event.at),
                event.summary,
                event.state
            ));
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
