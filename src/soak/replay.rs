//! [`Replay`]: a captured rate series or a recorded trace made into the
//! only phase of a workload (`tidepool replay`), and [`with_duration`], a
//! workload's length changed with its limits checked again (`--duration`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::SoakError;
use crate::sim::series::{RateSeries, SeriesUnit};
use crate::sim::trace::Trace;
use crate::sim::workload::{RawUnit, MAX_EXPECTED_OPS, MAX_PHASE_INSTANCES};
use crate::sim::{Arrival, Phase, Workload};
use crate::units::{fmt_duration, MAX_DURATION};

/// The fastest [`Replay::speed`]: a 30-day trace in under 3 s.
pub const MAX_SPEED: f64 = 1e6;

/// A replay of a captured `timestamp,value` rate series (arrivals follow it
/// as a non-homogeneous Poisson process) or of a recorded trace (`.jsonl`:
/// its operations at their recorded times with their recorded holds),
/// through the pool of a workload file or of the defaults.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tidepool::soak::Replay;
/// let replay = Replay::new("workloads/captured-requests.csv");
/// let (workload, file) = replay.workload()?;
/// assert_eq!(workload.phases.len(), 1);
/// assert_eq!(file, "workloads/captured-requests.csv");
/// assert!(replay.command().starts_with("tidepool replay workloads/captured-requests.csv --seed 1"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Replay {
    /// The series (`.csv`) or trace (`.jsonl`).
    pub input: PathBuf,
    /// Take the pool, hold time, faults and gates from this workload file
    /// (its phases are replaced by the input).
    pub workload: Option<PathBuf>,
    /// A series' unit: arrivals in the row's interval, or per second.
    pub unit: SeriesUnit,
    /// Multiplies every value of a series.
    pub scale: f64,
    /// Mean hold (exponential) when no workload file gives one.
    pub hold: Duration,
    /// Plays a trace's gaps this many times faster (holds unchanged).
    pub speed: f64,
    /// Caps every idle gap of a trace.
    pub max_idle_gap: Option<Duration>,
    /// Plays a trace this many times back to back.
    pub loops: u32,
    /// The seed of the arrival and hold draws.
    pub seed: u64,
}

impl Replay {
    /// A replay of `input` with the defaults: counts per row, scale 1,
    /// 10 ms mean holds, speed 1, one loop, seed 1.
    pub fn new(input: impl Into<PathBuf>) -> Replay {
        Replay {
            input: input.into(),
            workload: None,
            unit: SeriesUnit::Count,
            scale: 1.0,
            hold: Duration::from_millis(10),
            speed: 1.0,
            max_idle_gap: None,
            loops: 1,
            seed: 1,
        }
    }

    fn is_trace(&self) -> bool {
        self.input.extension().is_some_and(|e| e == "jsonl")
    }

    /// The workload that replays the input, and how reports name it.
    ///
    /// # Errors
    ///
    /// [`SoakError::Input`] naming the file, line and field of what is
    /// wrong, or the option out of range.
    pub fn workload(&self) -> Result<(Workload, String), SoakError> {
        let input = |e: crate::sim::WorkloadError| SoakError::Input(e.to_string());
        if !self.speed.is_finite() || self.speed <= 0.0 || self.speed > MAX_SPEED {
            return Err(SoakError::Input(format!(
                "--speed {}: must be a finite number > 0 and at most {MAX_SPEED:e}",
                self.speed
            )));
        }
        let (arrival, duration) = if self.is_trace() {
            // Read once to check and sum it up; the replay reads it again.
            let trace = Trace::load_with_max_gap(&self.input, self.max_idle_gap).map_err(input)?;
            // One loop lasts the span (÷ speed) plus a millisecond, so the
            // last operation of each loop starts inside it.
            let period = trace.span().as_secs_f64() / self.speed + 1e-3;
            let total = period * f64::from(self.loops);
            if total > MAX_DURATION.as_secs_f64() {
                return Err(SoakError::Input(format!(
                    "--loop {}: {total:.0} s of replay is more than 30 days",
                    self.loops
                )));
            }
            let arrival = Arrival::Trace { trace: Arc::new(trace), speed: self.speed, loops: self.loops };
            (arrival, Duration::from_secs_f64(total))
        } else {
            let series = RateSeries::load(&self.input, self.unit, self.scale).map_err(input)?;
            check_expected_ops(series.expected_arrivals(), &format!("{}:0:0: value", self.input.display()))?;
            let duration = series.duration();
            let unit = match self.unit {
                SeriesUnit::Count => RawUnit::Count,
                SeriesUnit::PerSecond => RawUnit::PerSecond,
            };
            let arrival = Arrival::Series {
                file: self.input.clone(),
                unit,
                scale: self.scale,
                loaded: Some(Arc::new(series)),
            };
            (arrival, duration)
        };
        let (mut workload, file) = match &self.workload {
            Some(path) => {
                let w = Workload::load(path).map_err(input)?;
                (w, format!("{} following {}", path.display(), self.input.display()))
            }
            None => {
                let text = format!(
                    "name = \"replay\"\nhold = {{ dist = \"exponential\", mean = \"{}\" }}\n[pool]\n\
                     [[phase]]\nname = \"x\"\nduration = \"1s\"\narrival = {{ process = \"poisson\", rate = 1 }}\n",
                    fmt_duration(self.hold)
                );
                (Workload::parse(&text, "replay defaults").map_err(input)?, self.input.display().to_string())
            }
        };
        if workload.hold.is_none() {
            return Err(SoakError::Input(format!(
                "{}: a replay needs the workload's top-level `hold`",
                self.workload.as_ref().map_or(String::new(), |p| p.display().to_string())
            )));
        }
        let name =
            self.input.file_stem().map_or_else(|| "series".into(), |s| s.to_string_lossy().into_owned());
        workload.name = name.clone();
        workload.seed = self.seed;
        workload.duration = duration;
        // Faults and drift windows keep their meaning on the input's own time.
        workload.phases = vec![Phase { name, duration, arrival, hold: None }];
        Ok((workload, file))
    }

    /// The `tidepool replay` command of this replay (without the time and
    /// output flags).
    pub fn command(&self) -> String {
        let mut cmd =
            format!("tidepool replay {} --seed {}", shell_word(&self.input.display().to_string()), self.seed);
        if let Some(w) = &self.workload {
            cmd += &format!(" --workload {}", shell_word(&w.display().to_string()));
        }
        if self.unit == SeriesUnit::PerSecond {
            cmd += " --unit per-second";
        }
        if self.scale != 1.0 {
            cmd += &format!(" --scale {}", self.scale);
        }
        if self.speed != 1.0 {
            cmd += &format!(" --speed {}", self.speed);
        }
        if let Some(gap) = self.max_idle_gap {
            cmd += &format!(" --max-idle-gap {}", fmt_duration(gap));
        }
        if self.loops != 1 {
            cmd += &format!(" --loop {}", self.loops);
        }
        if self.workload.is_none() {
            cmd += &format!(" --hold {}", fmt_duration(self.hold));
        }
        cmd
    }
}

/// Sets a loaded workload's total duration, with the file's checks of the
/// run's size again for the new length.
///
/// # Errors
///
/// [`SoakError::Input`] naming `--duration` when the cycle would repeat into
/// too many phase instances or too many operations.
pub fn with_duration(mut workload: Workload, d: Duration) -> Result<Workload, SoakError> {
    workload.duration = d;
    let instances = d.as_nanos() / workload.cycle().as_nanos().max(1) * workload.phases.len() as u128;
    if instances > MAX_PHASE_INSTANCES as u128 {
        return Err(SoakError::Input(format!(
            "--duration {}: the cycle would repeat into {instances} phase instances (at most {MAX_PHASE_INSTANCES})",
            fmt_duration(d)
        )));
    }
    check_expected_ops(workload.expected_ops(), &format!("--duration {}", fmt_duration(d)))?;
    Ok(workload)
}

/// Refuses a run that would draw more than [`MAX_EXPECTED_OPS`] operations
/// (`what` names the input at fault).
pub(super) fn check_expected_ops(ops: f64, what: &str) -> Result<(), SoakError> {
    if ops.is_nan() || ops > MAX_EXPECTED_OPS {
        return Err(SoakError::Input(format!(
            "{what}: about {ops:.3e} operations expected (at most {MAX_EXPECTED_OPS:e}): lower the values or --scale, or shorten the run"
        )));
    }
    Ok(())
}

/// `s` as one shell word: as is when plain, else single-quoted.
pub fn shell_word(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=".contains(c)) {
        s.into()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
