//! Soak reports: the figures of a run ([`Report`], written as
//! `report.json`), its gate verdicts ([`Gate`]), and the page a person reads
//! (`report.md`).
//!
//! Every figure comes from the run's measurements: waits and holds from HDR
//! histograms (3 significant digits), utilization and size as time-weighted
//! means over virtual time, pool totals from the pool's own counters.

pub mod html;
mod recover;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::sim::{Outcome, Tally, Workload};

pub use recover::{recover, RecoverError};

/// Quantiles of a time histogram, in seconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Quantiles {
    /// Samples recorded.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
}

impl Quantiles {
    /// Reads a nanosecond histogram.
    pub fn of(h: &Histogram<u64>) -> Quantiles {
        let s = |ns: u64| ns as f64 / 1e9;
        if h.is_empty() {
            return Quantiles { count: 0, mean: 0.0, p50: 0.0, p90: 0.0, p99: 0.0, p999: 0.0, max: 0.0 };
        }
        Quantiles {
            count: h.len(),
            mean: h.mean() / 1e9,
            p50: s(h.value_at_quantile(0.50)),
            p90: s(h.value_at_quantile(0.90)),
            p99: s(h.value_at_quantile(0.99)),
            p999: s(h.value_at_quantile(0.999)),
            max: s(h.max()),
        }
    }
}

/// Operation counts. `arrived = completed + timed_out + failed + in_flight + waiting`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ops {
    /// Arrived (intended) operations.
    pub arrived: u64,
    /// Acquired, held and released.
    pub completed: u64,
    /// Acquire timed out.
    pub timed_out: u64,
    /// Factory failed.
    pub failed: u64,
    /// Holding an object when the run ended.
    pub in_flight: u64,
    /// Waiting in line when the run ended.
    pub waiting: u64,
    /// Of the completed, those whose own code returned an error (a user's
    /// operation under a harness; absent when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub errored: u64,
    /// Of the completed, those whose own code panicked: the object was
    /// destroyed (absent when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub panicked: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Waits measured two ways, over every acquire that ended: served ones and
/// timed-out ones (which count with the time they waited).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Waits {
    /// Served acquires that had to wait at all, over all served (the
    /// probability of waiting: Erlang C's figure for an M/M/c workload).
    pub waited_fraction: f64,
    /// From the intended arrival time (no coordinated omission).
    pub corrected: Quantiles,
    /// From the moment the acquire was issued. In virtual time every
    /// acquire is issued at its intended arrival, so this equals `corrected`
    /// by construction; the two differ where a generator can fall behind
    /// (wall-clock replay).
    pub uncorrected: Quantiles,
}

/// Pool figures of a slice of the run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct PoolFigures {
    /// Time-weighted mean of in_use / size.
    pub utilization_mean: f64,
    /// Time-weighted mean size.
    pub size_mean: f64,
    /// Served acquires that reused an object.
    pub reuse_ratio: f64,
}

/// One phase (all its instances across cycles together).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseReport {
    /// The phase's name.
    pub name: String,
    /// Virtual seconds spent in it.
    pub virtual_seconds: f64,
    /// Operations that arrived in it.
    pub ops: Ops,
    /// Their waits.
    pub wait_seconds: Waits,
    /// Their holds.
    pub hold_seconds: Quantiles,
    /// The pool while it ran.
    pub pool: PoolFigures,
}

/// The pool over the whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolReport {
    /// Time-weighted mean of in_use / size.
    pub utilization_mean: f64,
    /// Served acquires that reused an object (the rest created one).
    pub reuse_ratio: f64,
    /// Time-weighted mean size.
    pub size_mean: f64,
    /// Smallest size seen.
    pub size_min_seen: usize,
    /// Largest size seen.
    pub size_max_seen: usize,
    /// Target changes made by the sizing policy.
    pub resizes: u64,
    /// Objects created (prewarm, demand, replenish).
    pub created: u64,
    /// Objects destroyed for any reason.
    pub destroyed: u64,
    /// Holds that passed the leak threshold.
    pub leaks: u64,
    /// Every object accounted for at the end (the `conservation` gate).
    #[serde(default)]
    pub conservation: crate::sim::Conservation,
    /// The injected holder and factory faults that fired.
    #[serde(default)]
    pub injected: crate::sim::Injected,
}

/// Modeled memory: `size × object_bytes + leaked bytes`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Memory {
    /// At the start.
    pub start_bytes: u64,
    /// At the end.
    pub end_bytes: u64,
    /// Peak.
    pub peak_bytes: u64,
    /// Lowest in the start drift window, after the warm-up (the first
    /// `min(5 min, run / 20)`, while the pool grows from `min`).
    pub floor_start_bytes: u64,
    /// Lowest in the end drift window.
    pub floor_end_bytes: u64,
    /// Growth of the floor per virtual hour: (end floor − start floor) over
    /// the hours between the windows' midpoints. The floor, because a pool
    /// legitimately grows under load; what a leak moves is the level it
    /// returns to.
    pub growth_per_hour_bytes: f64,
}

/// The same figures at the run's start and at its end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Drift {
    /// What the windows are: the first and last full cycle, or the first and
    /// last tenth of a single-cycle run.
    pub windows: String,
    /// The window at the start.
    pub start: DriftWindow,
    /// The window at the end.
    pub end: DriftWindow,
}

/// One drift window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriftWindow {
    /// Virtual seconds where it begins.
    pub from_seconds: f64,
    /// Virtual seconds where it ends.
    pub to_seconds: f64,
    /// Operations that arrived in it.
    pub arrived: u64,
    /// Corrected wait p99, seconds.
    pub wait_p99: f64,
    /// Mean hold, seconds.
    pub hold_mean: f64,
    /// Errors (timed out + failed) over arrived.
    pub error_rate: f64,
    /// Time-weighted utilization.
    pub utilization_mean: f64,
    /// Time-weighted size.
    pub size_mean: f64,
}

/// One gate's verdict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Gate {
    /// The workload's `[slo]` key.
    pub name: String,
    /// Its limit.
    pub target: f64,
    /// The run's figure.
    pub observed: f64,
    /// `observed <= target`.
    pub passed: bool,
}

/// Wall-clock figures: the only part of a report that differs between two
/// runs of one workload and seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Wall {
    /// Wall seconds the replay took.
    pub seconds: f64,
    /// Simulated operations per wall second.
    pub ops_per_second: f64,
    /// Peak resident memory of the process, bytes (Linux; 0 elsewhere).
    pub peak_rss_bytes: u64,
    /// The process's own resident memory against the run's time: its
    /// slope over the back half after warm-up, with a 95 % interval (a
    /// long run keeps it flat: the interval contains 0). Linux; `None` in
    /// runs too short for 10 readings.
    #[serde(default)]
    pub rss_trend: Option<crate::monitor::LeakReport>,
}

/// How well a wall-clock run kept its schedule (`--time wall`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Schedule {
    /// Executor threads.
    pub workers: usize,
    /// Open-loop starts the schedule asked for.
    pub scheduled: u64,
    /// Of those, never started (the executors were too far behind, or the
    /// start was still queued when the run ended): k6's dropped iterations.
    pub dropped: u64,
    /// `dropped / scheduled`.
    pub dropped_fraction: f64,
    /// Starts later than `late_after_seconds` after their intended time.
    pub late: u64,
    /// `late / started`.
    pub late_fraction: f64,
    /// The threshold for `late`, seconds.
    pub late_after_seconds: f64,
    /// How late starts were, seconds (schedule lag).
    pub lag_seconds: Quantiles,
}

/// The process running the soak (`--time wall`; Linux).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessFigures {
    /// Resident memory at the start, bytes.
    pub rss_start_bytes: u64,
    /// Resident memory at the end, bytes.
    pub rss_end_bytes: u64,
    /// Largest resident memory sampled, bytes.
    pub rss_peak_bytes: u64,
    /// CPU time used during the run, seconds.
    pub cpu_seconds: f64,
    /// `cpu_seconds` over wall seconds (2.0 = two cores busy).
    pub cpu_cores_mean: f64,
}

/// The whole soak report (`report.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// tidepool's version.
    pub tidepool_version: String,
    /// The workload's name.
    pub workload: String,
    /// The workload file.
    pub workload_file: String,
    /// The seed of the run.
    pub seed: u64,
    /// `virtual` (the discrete-event engine) or `wall` (real threads, the
    /// real clock).
    pub time: String,
    /// `--compress K` of a wall-clock run: durations were played K times
    /// faster with rates kept.
    pub compress: Option<f64>,
    /// Time covered, seconds: virtual seconds, or wall seconds of the
    /// schedule in a wall-clock run.
    pub virtual_seconds: f64,
    /// Operation counts.
    pub ops: Ops,
    /// Errors (timed out + failed) over arrived.
    pub error_rate: f64,
    /// Acquire waits.
    pub wait_seconds: Waits,
    /// Hold times.
    pub hold_seconds: Quantiles,
    /// How long the operation's own code ran (a user's operation under a
    /// harness; absent when the run models its holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_seconds: Option<Quantiles>,
    /// The pool.
    pub pool: PoolReport,
    /// Modeled memory.
    pub memory: Memory,
    /// Per phase, in workload order.
    pub phases: Vec<PhaseReport>,
    /// Start versus end.
    pub drift: Drift,
    /// Gate verdicts.
    pub slo: Vec<Gate>,
    /// All gates passed (and the run was not interrupted).
    pub passed: bool,
    /// The run was stopped early.
    pub interrupted: bool,
    /// The command that replays this run exactly.
    pub replay: String,
    /// Wall-clock figures (not deterministic).
    pub wall: Wall,
    /// Wall-clock runs: how well the schedule was kept.
    pub schedule: Option<Schedule>,
    /// Wall-clock runs: the process's memory and CPU.
    pub process: Option<ProcessFigures>,
    /// What this run does not prove (compression, a late generator).
    pub caveats: Vec<String>,
    /// Set on a report rebuilt by `tidepool report` after the run was
    /// killed: what the checkpoint covers.
    #[serde(default)]
    pub recovered: Option<Recovery>,
    /// What the monitor saw: alert episodes, remedies, the leak verdict.
    #[serde(default)]
    pub alerts: Option<crate::monitor::MonitorReport>,
    /// The workload's `[[lock]]`s, per lock and side (absent without locks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<crate::sim::LockReport>,
    /// The workload's `[cache]` (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<crate::sim::CacheReport>,
}

/// How a report was rebuilt after its run was killed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recovery {
    /// Seconds of the run the checkpoint (and so this report) covers.
    pub checkpoint_seconds: f64,
    /// Seconds the flushed samples reach.
    pub samples_seconds: f64,
    /// Samples after the checkpoint, not in this report's figures.
    pub samples_after_checkpoint: u64,
    /// Arrivals those samples counted.
    pub arrivals_after_checkpoint: u64,
}

impl Ops {
    /// The accounting identity with this run's numbers.
    ///
    /// ```
    /// let ops = tidepool::report::Ops {
    ///     arrived: 10, completed: 7, timed_out: 1, failed: 1, in_flight: 1, waiting: 0, errored: 0, panicked: 0,
    /// };
    /// assert_eq!(ops.equation(), "10 arrived = 7 completed + 1 timed out + 1 failed + 1 in flight + 0 waiting at the end");
    /// ```
    pub fn equation(&self) -> String {
        format!(
            "{} arrived = {} completed + {} timed out + {} failed + {} in flight + {} waiting at the end",
            self.arrived, self.completed, self.timed_out, self.failed, self.in_flight, self.waiting
        )
    }
}

fn ops_of(t: &Tally, in_flight: u64, waiting: u64) -> Ops {
    Ops {
        arrived: t.arrived,
        completed: t.completed,
        timed_out: t.timed_out,
        failed: t.failed,
        in_flight,
        waiting,
        errored: t.op_errors,
        panicked: t.op_panics,
    }
}

/// (timed out + failed + operations that errored or panicked) / arrived.
fn error_rate(t: &Tally) -> f64 {
    if t.arrived == 0 {
        0.0
    } else {
        (t.timed_out + t.failed + t.op_errors + t.op_panics) as f64 / t.arrived as f64
    }
}

fn waits_of(t: &Tally) -> Waits {
    Waits {
        waited_fraction: if t.served == 0 { 0.0 } else { t.waited as f64 / t.served as f64 },
        corrected: Quantiles::of(&t.wait_corrected),
        // Virtual time issues every acquire at its intended arrival: the
        // two measures are the same samples (see `Waits::uncorrected`).
        uncorrected: if t.wait_uncorrected.is_empty() {
            Quantiles::of(&t.wait_corrected)
        } else {
            Quantiles::of(&t.wait_uncorrected)
        },
    }
}

fn window(t: &Tally, (a, b): (u64, u64)) -> DriftWindow {
    DriftWindow {
        from_seconds: a as f64 / 1e9,
        to_seconds: b as f64 / 1e9,
        arrived: t.arrived,
        wait_p99: Quantiles::of(&t.wait_corrected).p99,
        hold_mean: if t.hold.is_empty() { 0.0 } else { t.hold.mean() / 1e9 },
        error_rate: error_rate(t),
        utilization_mean: t.utilization_mean(),
        size_mean: t.size_mean(),
    }
}

impl Report {
    /// Assembles the report of a run and checks its gates.
    pub fn new(workload: &Workload, file: &str, outcome: &Outcome, replay: String, wall: Wall) -> Report {
        let t = &outcome.total;
        let [(a0, a1), (b0, b1)] = outcome.drift_windows;
        let hours = ((b0 + b1) as f64 - (a0 + a1) as f64) / 2.0 / 3.6e12;
        let (start, end, peak) = outcome.memory;
        let [floor_start, floor_end] = outcome.memory_floor;
        let memory = Memory {
            start_bytes: start,
            end_bytes: end,
            peak_bytes: peak,
            floor_start_bytes: floor_start,
            floor_end_bytes: floor_end,
            growth_per_hour_bytes: if hours > 0.0 {
                (floor_end as f64 - floor_start as f64) / hours
            } else {
                0.0
            },
        };
        let phases = workload
            .phases
            .iter()
            .zip(&outcome.phases)
            .zip(&outcome.phase_open)
            .map(|((phase, tally), &(in_flight, waiting))| PhaseReport {
                name: phase.name.clone(),
                virtual_seconds: tally.span_ns as f64 / 1e9,
                ops: ops_of(tally, in_flight, waiting),
                wait_seconds: waits_of(tally),
                hold_seconds: Quantiles::of(&tally.hold),
                pool: PoolFigures {
                    utilization_mean: tally.utilization_mean(),
                    size_mean: tally.size_mean(),
                    reuse_ratio: tally.reuse_ratio(),
                },
            })
            .collect();
        let stats = &outcome.pool_stats;
        let wait_seconds = waits_of(t);
        let mut slo = gates(workload, t, &wait_seconds, &memory);
        slo.extend(shared_state_gates(workload, &outcome.system));
        // Every run, whatever its workload: no object lost or handed to
        // two holders at once.
        let c = &outcome.conservation;
        let broken = (c.lost() + c.handed_out_twice) as f64;
        slo.push(Gate { name: "conservation".into(), target: 0.0, observed: broken, passed: broken == 0.0 });
        let passed = !outcome.interrupted && slo.iter().all(|g| g.passed);
        let cycles = workload.duration.as_nanos() / workload.cycle().as_nanos().max(1);
        Report {
            tidepool_version: env!("CARGO_PKG_VERSION").into(),
            time: "virtual".into(),
            compress: None,
            workload: workload.name.clone(),
            workload_file: file.into(),
            seed: workload.seed,
            virtual_seconds: outcome.virtual_ns as f64 / 1e9,
            ops: ops_of(t, outcome.in_flight, outcome.waiting),
            error_rate: error_rate(t),
            wait_seconds,
            hold_seconds: Quantiles::of(&t.hold),
            operation_seconds: (!t.operation.is_empty()).then(|| Quantiles::of(&t.operation)),
            pool: PoolReport {
                utilization_mean: t.utilization_mean(),
                reuse_ratio: t.reuse_ratio(),
                size_mean: t.size_mean(),
                size_min_seen: outcome.size_seen.0,
                size_max_seen: outcome.size_seen.1,
                resizes: outcome.resizes,
                created: stats.created_total(),
                destroyed: stats.destroyed_total(),
                leaks: stats.leaks,
                conservation: outcome.conservation,
                injected: outcome.injected,
            },
            memory,
            phases,
            drift: Drift {
                windows: if cycles >= 2 {
                    "first and last full cycle".into()
                } else {
                    "first and last tenth of the run".into()
                },
                start: window(&outcome.drift[0], outcome.drift_windows[0]),
                end: window(&outcome.drift[1], outcome.drift_windows[1]),
            },
            slo,
            passed,
            interrupted: outcome.interrupted,
            replay,
            wall,
            schedule: None,
            process: None,
            caveats: Vec::new(),
            recovered: None,
            alerts: None,
            locks: outcome.system.locks.clone(),
            cache: outcome.system.cache.clone(),
        }
    }

    /// The locks and the cache as tables: (title, header, rows), for
    /// report.md and report.html alike.
    pub(crate) fn shared_state_tables(&self) -> Vec<Table> {
        let mut tables = Vec::new();
        if !self.locks.is_empty() {
            let header = vec![
                "lock",
                "mode",
                "acquired",
                "contended",
                "rate",
                "owner changes",
                "wait mean",
                "wait p50",
                "wait p99",
                "wait max",
                "hold p50",
                "hold p99",
                "timeouts",
            ];
            let rows = self
                .locks
                .iter()
                .map(|l| {
                    vec![
                        l.name.clone(),
                        l.mode.clone(),
                        l.acquisitions.to_string(),
                        l.contentions.to_string(),
                        format!("{:.2} %", l.contention_rate * 100.0),
                        l.owner_changes.to_string(),
                        ms(l.wait_mean),
                        ms(l.wait_p50),
                        ms(l.wait_p99),
                        ms(l.wait_max),
                        ms(l.hold_p50),
                        ms(l.hold_p99),
                        l.timeouts.to_string(),
                    ]
                })
                .collect();
            tables.push(("Locks".to_string(), header, rows));
        }
        if let Some(c) = &self.cache {
            let header = vec![
                "cache",
                "capacity",
                "hits",
                "misses",
                "hit ratio",
                "inserts",
                "evicted (size)",
                "expired",
                "entries at end",
            ];
            let row = vec![
                c.name.clone(),
                c.capacity.to_string(),
                c.hits.to_string(),
                c.misses.to_string(),
                format!("{:.2} %", c.hit_ratio * 100.0),
                c.inserts.to_string(),
                c.evictions.size.to_string(),
                c.evictions.expired.to_string(),
                c.entries.to_string(),
            ];
            tables.push(("Cache".to_string(), header, vec![row]));
        }
        tables
    }

    /// Adds what the monitor saw, and the `max_alert_severity` gate when
    /// the workload sets one.
    pub fn with_monitor(mut self, workload: &Workload, monitor: crate::monitor::MonitorReport) -> Report {
        if let Some(max) = workload.slo.max_alert_severity {
            let rank = |s: crate::monitor::Severity| s as u8 as f64;
            let gate = Gate {
                name: "max_alert_severity".into(),
                target: rank(max),
                observed: rank(monitor.worst),
                passed: monitor.worst <= max,
            };
            self.passed &= gate.passed;
            self.slo.push(gate);
        }
        self.alerts = Some(monitor);
        self
    }

    /// Adds what a wall-clock run measured: the schedule's lag, late and
    /// dropped starts, the process, and the caveats of `compress`. A run
    /// that dropped more than 1 % of its starts did not deliver its
    /// workload: the gate `max_dropped_fraction` fails it.
    pub fn with_wall_figures(mut self, f: &crate::sim::WallFigures, compress: Option<f64>) -> Report {
        self.time = "wall".into();
        self.compress = compress;
        let started = f.scheduled.saturating_sub(f.dropped).max(1);
        let schedule = Schedule {
            workers: f.workers,
            scheduled: f.scheduled,
            dropped: f.dropped,
            dropped_fraction: if f.scheduled == 0 { 0.0 } else { f.dropped as f64 / f.scheduled as f64 },
            late: f.late,
            late_fraction: f.late as f64 / started as f64,
            late_after_seconds: f.late_after.as_secs_f64(),
            lag_seconds: Quantiles::of(&f.lag),
        };
        let gate = Gate {
            name: "max_dropped_fraction".into(),
            target: MAX_DROPPED_FRACTION,
            observed: schedule.dropped_fraction,
            passed: schedule.dropped_fraction <= MAX_DROPPED_FRACTION,
        };
        self.passed &= gate.passed;
        self.slo.push(gate);
        if schedule.late_fraction > 0.01 {
            self.caveats.push(format!(
                "{:.1} % of starts were more than {} late: the load generator, not only the pool, shaped the \
                 corrected waits. Raise --workers, or run on a quieter machine.",
                schedule.late_fraction * 100.0,
                ms(schedule.late_after_seconds)
            ));
        }
        if let Some(k) = compress {
            // Growth per hour of a compressed run is growth per compressed
            // hour, with the pool's idle timeouts on the real clock: not the
            // figure the gate's limit was written for.
            if let Some(i) = self.slo.iter().position(|g| g.name == "max_memory_growth_per_hour") {
                self.slo.remove(i);
                self.caveats.push(format!(
                    "The max_memory_growth_per_hour gate was not evaluated: compressed {k}×, an hour of this \
                     run is not an hour of the workload, and the pool's idle timeouts still run on the real \
                     clock."
                ));
            }
            self.caveats.push(format!(
                "Compressed {k}×: phases and faults lasted 1/{k} of their length at their full rates. Not proven \
                 at real length: anything that needs wall time to show — growth per real hour (leaks, \
                 fragmentation), max_idle_time and max_lifetime expiry and the sizing interval against the \
                 phase lengths, the slow climb of a daily ramp, and events that come on their own clock \
                 (GC, log rotation, certificate renewal, cron jobs)."
            ));
        }
        if let Some((start, end)) = f.process {
            let cpu = (end.cpu_seconds - start.cpu_seconds).max(0.0);
            self.process = Some(ProcessFigures {
                rss_start_bytes: start.rss_bytes,
                rss_end_bytes: end.rss_bytes,
                rss_peak_bytes: f.rss_peak,
                cpu_seconds: cpu,
                cpu_cores_mean: if f.process_seconds > 0.0 { cpu / f.process_seconds } else { 0.0 },
            });
        }
        self.schedule = Some(schedule);
        self.passed = !self.interrupted && self.slo.iter().all(|g| g.passed);
        self
    }

    /// `PASSED`, `FAILED` or `INTERRUPTED`.
    pub fn verdict(&self) -> &'static str {
        if self.interrupted {
            "INTERRUPTED"
        } else if self.passed {
            "PASSED"
        } else {
            "FAILED"
        }
    }

    /// The run's outcome as Prometheus text exposition, `tidepool_soak_*`
    /// gauges labelled `workload`: what a CI job pushes to a Pushgateway.
    ///
    /// Series: `tidepool_soak_passed`, `_interrupted`, `_virtual_seconds`,
    /// `_wall_seconds`, `_operations{result}`, `_error_ratio`,
    /// `_wait_seconds{quantile}` (corrected), `_gate_passed{gate}`,
    /// `_alert_episodes{severity}` (by peak),
    /// `_forecast_exhaustion_seconds{resource,subject}` (`+Inf`: none), and
    /// `_memory_slope_bytes_per_hour` when there is a leak verdict.
    pub fn to_exposition(&self) -> String {
        let w = self.workload.replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, rows: &[(String, f64)]| {
            let _ = writeln!(out, "# HELP tidepool_soak_{name} {help}\n# TYPE tidepool_soak_{name} gauge");
            for (labels, v) in rows {
                let sep = if labels.is_empty() { "" } else { "," };
                let _ = writeln!(out, "tidepool_soak_{name}{{workload=\"{w}\"{sep}{labels}}} {v}");
            }
        };
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        gauge(
            "passed",
            "1 if every gate passed and the run was not interrupted.",
            &[(String::new(), flag(self.passed))],
        );
        gauge("interrupted", "1 if the run was stopped early.", &[(String::new(), flag(self.interrupted))]);
        gauge("virtual_seconds", "Time the run covered.", &[(String::new(), self.virtual_seconds)]);
        gauge("wall_seconds", "Wall-clock time the run took.", &[(String::new(), self.wall.seconds)]);
        let o = &self.ops;
        gauge(
            "operations",
            "Operations by how they ended.",
            &[
                ("result=\"arrived\"".into(), o.arrived as f64),
                ("result=\"completed\"".into(), o.completed as f64),
                ("result=\"timed_out\"".into(), o.timed_out as f64),
                ("result=\"failed\"".into(), o.failed as f64),
            ],
        );
        gauge("error_ratio", "(timed out + failed) / arrived.", &[(String::new(), self.error_rate)]);
        let q = &self.wait_seconds.corrected;
        gauge(
            "wait_seconds",
            "Corrected acquire wait quantiles over the run.",
            &[
                ("quantile=\"0.5\"".into(), q.p50),
                ("quantile=\"0.99\"".into(), q.p99),
                ("quantile=\"0.999\"".into(), q.p999),
            ],
        );
        let gates: Vec<(String, f64)> =
            self.slo.iter().map(|g| (format!("gate=\"{}\"", g.name), flag(g.passed))).collect();
        if !gates.is_empty() {
            gauge("gate_passed", "1 if the gate passed.", &gates);
        }
        if let Some(a) = &self.alerts {
            let rows: Vec<(String, f64)> = ["warning", "critical", "emergency"]
                .iter()
                .map(|s| {
                    let n = a.episodes.iter().filter(|e| e.peak.as_str() == *s).count();
                    (format!("severity=\"{s}\""), n as f64)
                })
                .collect();
            gauge("alert_episodes", "Alert episodes by the severity they peaked at.", &rows);
            if !a.forecasts.is_empty() {
                let rows: Vec<(String, f64)> = a
                    .forecasts
                    .iter()
                    .map(|f| {
                        (
                            format!(
                                "resource=\"{}\",subject=\"{}\"",
                                f.resource,
                                f.subject.replace('\\', "\\\\").replace('"', "\\\"")
                            ),
                            f.latest.map_or(f64::INFINITY, |l| l.seconds),
                        )
                    })
                    .collect();
                gauge(
                    "forecast_exhaustion_seconds",
                    "Forecast seconds until the trend reaches the limit at the end of the run (+Inf: none).",
                    &rows,
                );
            }
            if let Some(l) = &a.leak {
                gauge(
                    "memory_slope_bytes_per_hour",
                    "The leak verdict's fitted memory slope.",
                    &[(String::new(), l.slope_bytes_per_hour)],
                );
            }
        }
        out
    }

    /// The report as pretty JSON (deterministic apart from `wall`).
    pub fn to_json(&self) -> String {
        // Serializing plain structs of numbers and strings cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The report a person reads.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let verdict = self.verdict();
        let _ = writeln!(md, "# Soak report: {} — {verdict}\n", self.workload);
        if self.time == "wall" {
            let _ = writeln!(
                md,
                "Workload `{}`, seed {}, played for {} on the real clock{} ({:.0} ops/s).\n",
                self.workload_file,
                self.seed,
                human_seconds(self.virtual_seconds),
                self.compress.map_or(String::new(), |k| format!(", compressed {k}×")),
                self.wall.ops_per_second
            );
        } else {
            let _ = writeln!(
                md,
                "Workload `{}`, seed {}, {} of virtual time replayed in {:.1} s of wall time ({:.2} M ops/s).\n",
                self.workload_file,
                self.seed,
                human_seconds(self.virtual_seconds),
                self.wall.seconds,
                self.wall.ops_per_second / 1e6
            );
        }
        if let Some(r) = &self.wall.rss_trend {
            let (lo, hi) = r.ci95_bytes_per_hour;
            let _ = writeln!(
                md,
                "tidepool's own resident memory (peak {}): {}/h over the run's back half ({} readings, 95 % interval {}/h to {}/h, budget {}/h): {}.\n",
                bytes(self.wall.peak_rss_bytes as f64),
                signed_bytes(r.slope_bytes_per_hour),
                r.points,
                signed_bytes(lo),
                signed_bytes(hi),
                bytes(r.budget_bytes_per_hour),
                match r.verdict {
                    crate::monitor::LeakVerdict::Plateau => "flat",
                    crate::monitor::LeakVerdict::Growing => "GROWING",
                    crate::monitor::LeakVerdict::Inconclusive => "inconclusive",
                }
            );
        }
        if let Some(r) = &self.recovered {
            let _ = writeln!(
                md,
                "> **Recovered** by `tidepool report` after the run was killed: these figures cover the first {} (the last checkpoint); the samples reach {}, {} samples and {} arrivals later.\n",
                human_seconds(r.checkpoint_seconds),
                human_seconds(r.samples_seconds),
                r.samples_after_checkpoint,
                r.arrivals_after_checkpoint
            );
        }
        for caveat in &self.caveats {
            let _ = writeln!(md, "> **Caveat.** {caveat}\n");
        }
        let _ = writeln!(md, "Replay exactly: `{}`\n", self.replay);
        let _ = writeln!(md, "## Gates\n");
        if self.slo.is_empty() {
            let _ = writeln!(md, "No gates set (add an `[slo]` table to the workload).\n");
        } else {
            let _ = writeln!(md, "| gate | target | observed | verdict |\n|---|---:|---:|---|");
            for g in &self.slo {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} |",
                    g.name,
                    gate_value(&g.name, g.target),
                    gate_value(&g.name, g.observed),
                    if g.passed { "pass" } else { "**FAIL**" }
                );
            }
            let _ = writeln!(md);
        }
        let o = &self.ops;
        let _ = writeln!(md, "## Operations\n");
        let _ = writeln!(md, "{}. Error rate {:.4} %.\n", o.equation(), self.error_rate * 100.0);
        if o.errored + o.panicked > 0 || self.operation_seconds.is_some() {
            let _ = writeln!(
                md,
                "Of the completed, {} operations returned an error and {} panicked (their objects were destroyed).\n",
                o.errored, o.panicked
            );
        }
        let _ = writeln!(
            md,
            "| | count | mean | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        let rows = [
            ("wait (corrected)", Some(&self.wait_seconds.corrected)),
            ("wait (uncorrected)", Some(&self.wait_seconds.uncorrected)),
            ("hold", Some(&self.hold_seconds)),
            ("operation", self.operation_seconds.as_ref()),
        ];
        for (name, q) in rows.iter().filter_map(|(n, q)| q.map(|q| (n, q))) {
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                q.count,
                ms(q.mean),
                ms(q.p50),
                ms(q.p90),
                ms(q.p99),
                ms(q.p999),
                ms(q.max)
            );
        }
        if let Some(s) = &self.schedule {
            let _ = writeln!(md, "\n## Schedule (wall clock)\n");
            let _ = writeln!(
                md,
                "{} starts scheduled, {} dropped ({:.3} %), {} late by more than {} ({:.3} %), on {} executor threads. Lag p50 {}, p99 {}, p99.9 {}, max {}.",
                s.scheduled,
                s.dropped,
                s.dropped_fraction * 100.0,
                s.late,
                ms(s.late_after_seconds),
                s.late_fraction * 100.0,
                s.workers,
                ms(s.lag_seconds.p50),
                ms(s.lag_seconds.p99),
                ms(s.lag_seconds.p999),
                ms(s.lag_seconds.max)
            );
        }
        if let Some(p) = &self.process {
            let _ = writeln!(
                md,
                "\nProcess: RSS {} at start, {} at end, peak {}; {:.1} CPU seconds ({:.2} cores on average).",
                bytes(p.rss_start_bytes as f64),
                bytes(p.rss_end_bytes as f64),
                bytes(p.rss_peak_bytes as f64),
                p.cpu_seconds,
                p.cpu_cores_mean
            );
        }
        let p = &self.pool;
        let _ = writeln!(md, "\n## Pool\n");
        let _ = writeln!(
            md,
            "Utilization {:.1} % (time-weighted), mean size {:.2}, size seen {}–{}, {} resizes, reuse ratio {:.4}; {} created, {} destroyed, {} leaks flagged.\n",
            p.utilization_mean * 100.0,
            p.size_mean,
            p.size_min_seen,
            p.size_max_seen,
            p.resizes,
            p.reuse_ratio,
            p.created,
            p.destroyed,
            p.leaks
        );
        let c = &p.conservation;
        let _ = writeln!(
            md,
            "Objects accounted for at the end: {} created − {} destroyed = {} in the pool = {} idle + {} in use ({} held by holders); {} lost, {} handed out twice.\n",
            c.created,
            c.destroyed,
            c.size,
            c.idle,
            c.in_use,
            c.held,
            c.lost(),
            c.handed_out_twice
        );
        let i = &p.injected;
        if *i != crate::sim::Injected::default() {
            let _ = writeln!(
                md,
                "Injected faults that fired: {} factory panics, {} holders panicked while holding, {} holders never returned, {} clock jumps.\n",
                i.factory_panics, i.holder_panics, i.abandoned, i.clock_jumps
            );
        }
        let m = &self.memory;
        let _ = writeln!(
            md,
            "Modeled memory (objects × object_bytes + leaked bytes): {} at start, {} at end, peak {}. Its floor (the lowest level in each drift window) went from {} to {}: {} per hour.\n",
            bytes(m.start_bytes as f64),
            bytes(m.end_bytes as f64),
            bytes(m.peak_bytes as f64),
            bytes(m.floor_start_bytes as f64),
            bytes(m.floor_end_bytes as f64),
            bytes(m.growth_per_hour_bytes)
        );
        for (title, header, rows) in self.shared_state_tables() {
            let _ = writeln!(md, "## {title}\n");
            let _ = writeln!(md, "| {} |", header.join(" | "));
            let _ = writeln!(md, "|---|{}", "---:|".repeat(header.len() - 1));
            for row in rows {
                let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
                let _ = writeln!(md, "| {} |", cells.join(" | "));
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md, "## Phases\n");
        let _ = writeln!(
            md,
            "| phase | time | arrived | errors | wait p50 | wait p99 | wait max | hold p50 | utilization | mean size |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for ph in &self.phases {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1} % | {:.2} |",
                ph.name,
                human_seconds(ph.virtual_seconds),
                ph.ops.arrived,
                ph.ops.timed_out + ph.ops.failed,
                ms(ph.wait_seconds.corrected.p50),
                ms(ph.wait_seconds.corrected.p99),
                ms(ph.wait_seconds.corrected.max),
                ms(ph.hold_seconds.p50),
                ph.pool.utilization_mean * 100.0,
                ph.pool.size_mean
            );
        }
        if let Some(a) = &self.alerts {
            alerts_markdown(&mut md, a);
        }
        let d = &self.drift;
        let _ = writeln!(md, "\n## Drift: start versus end ({})\n", d.windows);
        let _ = writeln!(md, "| | start | end | change |\n|---|---:|---:|---:|");
        type Row<'a> = (&'a str, f64, f64, fn(f64) -> String);
        let rows: [Row; 6] = [
            ("arrived", d.start.arrived as f64, d.end.arrived as f64, |x| format!("{x:.0}")),
            ("wait p99", d.start.wait_p99, d.end.wait_p99, ms),
            ("hold mean", d.start.hold_mean, d.end.hold_mean, ms),
            ("error rate", d.start.error_rate, d.end.error_rate, |x| format!("{:.4} %", x * 100.0)),
            ("utilization", d.start.utilization_mean, d.end.utilization_mean, |x| {
                format!("{:.1} %", x * 100.0)
            }),
            ("mean size", d.start.size_mean, d.end.size_mean, |x| format!("{x:.2}")),
        ];
        for (name, a, b, f) in rows {
            let change = if a != 0.0 { format!("{:+.1} %", (b - a) / a * 100.0) } else { "—".into() };
            let _ = writeln!(md, "| {name} | {} | {} | {change} |", f(a), f(b));
        }
        md
    }
}

/// The report's alert section.
fn alerts_markdown(md: &mut String, a: &crate::monitor::MonitorReport) {
    let _ = writeln!(md, "\n## Alerts\n");
    if a.episodes.is_empty() {
        let _ = writeln!(md, "No alert fired.");
    } else {
        let _ = writeln!(md, "| kind | subject | peak | from | to | worst value | notified |\n|---|---|---|---:|---:|---:|---|");
        for e in &a.episodes {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                e.kind,
                e.subject,
                e.peak,
                human_seconds(e.started),
                e.resolved.map_or_else(|| "(active)".into(), human_seconds),
                e.kind.format(e.worst_value),
                if e.notified { "yes" } else { "suppressed" }
            );
        }
    }
    for r in &a.remediations {
        let _ = writeln!(
            md,
            "\nRemedy `{}` for {} on {} at {}: {}{}.",
            r.action,
            r.kind,
            r.subject,
            human_seconds(r.at),
            r.result,
            match (r.recovered, r.recovered_at) {
                (Some(true), Some(at)) => format!("; recovered at {}", human_seconds(at)),
                (Some(false), _) => "; did not recover in time".into(),
                _ => "; still watching".into(),
            }
        );
    }
    if let Some(l) = &a.leak {
        let _ = writeln!(
            md,
            "\nLeak verdict: **{:?}** — memory slope {} per hour (95 % CI {} to {}) over {}–{}, budget {} per hour.",
            l.verdict,
            bytes(l.slope_bytes_per_hour),
            bytes(l.ci95_bytes_per_hour.0),
            bytes(l.ci95_bytes_per_hour.1),
            human_seconds(l.window_seconds.0),
            human_seconds(l.window_seconds.1),
            bytes(l.budget_bytes_per_hour)
        );
    }
    forecast_markdown(md, a);
}

/// One forecast row's cells: level, limit, forecast, pessimistic, slope,
/// soonest, first predicted alert (shared by report.md and report.html).
pub(crate) fn forecast_cells(f: &crate::monitor::ForecastReport) -> [String; 7] {
    let r = f.resource;
    let secs = |s: f64| if s <= 0.0 { "reached".to_string() } else { human_seconds(s) };
    let (estimate, pessimistic, slope) = match &f.latest {
        Some(l) => (
            secs(l.seconds),
            secs(l.seconds_pessimistic),
            format!(
                "{} per hour (95 % CI {} to {})",
                r.format(l.slope_per_hour),
                r.format(l.ci95_per_hour.0),
                r.format(l.ci95_per_hour.1)
            ),
        ),
        None => ("none".into(), "none".into(), "no sustained rise".into()),
    };
    [
        r.format(f.last_value),
        r.format(f.limit),
        estimate,
        pessimistic,
        slope,
        f.soonest.map_or_else(|| "none".into(), |(s, at)| format!("{} (at {})", secs(s), human_seconds(at))),
        f.first_predicted_at.map_or_else(|| "none".into(), human_seconds),
    ]
}

/// The report's forecast section.
fn forecast_markdown(md: &mut String, a: &crate::monitor::MonitorReport) {
    if a.forecasts.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Exhaustion forecast\n\nTime until each budget's trend reaches its limit, from a linear fit over the \
         recent window (`[monitor] forecast_window_seconds`); a predicted alert fires when the pessimistic forecast \
         is within {}.\n",
        human_seconds(a.forecast_horizon_seconds)
    );
    let _ = writeln!(
        md,
        "| resource | subject | last level | limit | forecast at the end | pessimistic | trend | soonest forecast | first predicted alert |\n|---|---|---:|---:|---:|---:|---|---:|---:|"
    );
    for f in &a.forecasts {
        let c = forecast_cells(f);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f.resource, f.subject, c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        );
    }
}

/// The most starts a wall-clock run may drop and still pass.
pub const MAX_DROPPED_FRACTION: f64 = 0.01;

/// A table of report.md and report.html: title, header, rows of cells.
pub(crate) type Table = (String, Vec<&'static str>, Vec<Vec<String>>);

/// The `[[lock]]` and `[cache]` gates: the worst p99 wait of any lock and
/// side, and the cache's hit ratio (a `min_` gate passes at or above).
fn shared_state_gates(workload: &Workload, system: &crate::sim::SystemFigures) -> Vec<Gate> {
    let mut out = Vec::new();
    if let Some(max) = workload.slo.max_lock_wait_p99 {
        let worst = system.locks.iter().map(|l| l.wait_p99).fold(0.0, f64::max);
        let target = max.as_secs_f64();
        out.push(Gate { name: "max_lock_wait_p99".into(), target, observed: worst, passed: worst <= target });
    }
    if let Some(min) = workload.slo.min_cache_hit_ratio {
        let observed = system.cache.as_ref().map_or(0.0, |c| c.hit_ratio);
        out.push(Gate { name: "min_cache_hit_ratio".into(), target: min, observed, passed: observed >= min });
    }
    out
}

/// Checks the workload's gates against the run.
fn gates(workload: &Workload, t: &Tally, waits: &Waits, memory: &Memory) -> Vec<Gate> {
    let slo = &workload.slo;
    let mut out = Vec::new();
    let mut gate = |name: &str, target: f64, observed: f64| {
        out.push(Gate { name: name.into(), target, observed, passed: observed <= target });
    };
    if let Some(max) = slo.max_error_rate {
        gate("max_error_rate", max, error_rate(t));
    }
    if let Some(max) = slo.max_wait_p99 {
        gate("max_wait_p99", max.as_secs_f64(), waits.corrected.p99);
    }
    if let Some(max) = slo.max_timeouts {
        gate("max_timeouts", max as f64, t.timed_out as f64);
    }
    if let Some(max) = slo.max_memory_growth_per_hour {
        gate("max_memory_growth_per_hour", max as f64, memory.growth_per_hour_bytes);
    }
    out
}

pub(crate) fn gate_value(name: &str, x: f64) -> String {
    match name {
        "max_wait_p99" | "max_lock_wait_p99" => ms(x),
        "min_cache_hit_ratio" => format!("{:.2} %", x * 100.0),
        "max_dropped_fraction" => format!("{:.3} %", x * 100.0),
        "max_alert_severity" => ["none", "warning", "critical", "emergency"][(x as usize).min(3)].to_string(),
        "max_error_rate" => format!("{:.4} %", x * 100.0),
        "max_memory_growth_per_hour" => format!("{}/h", bytes(x)),
        "conservation" => format!("{x:.0} objects lost or handed out twice"),
        _ => format!("{x:.0}"),
    }
}

/// How fast tidepool's own resident memory may grow over a run's back
/// half and still count as flat: 64 KiB per hour of the run's time. (Not
/// "the interval contains 0": RSS moves in whole 4 KiB pages with no noise
/// between them, so one page touched late in a day excludes 0. A leak of
/// one byte per operation at 20 operations a second exceeds this budget.)
pub const RSS_BUDGET_BYTES_PER_HOUR: f64 = 64.0 * 1024.0;

/// Bytes with a sign (`-1.2 MiB`).
fn signed_bytes(x: f64) -> String {
    if x < 0.0 {
        format!("-{}", bytes(-x))
    } else {
        bytes(x)
    }
}

pub(crate) use crate::units::{bytes, human_seconds, ms};

/// The checkpoint a run keeps beside `samples.jsonl` as it goes (a report of
/// everything so far, marked interrupted), for [`recover()`] after a kill.
pub const CHECKPOINT: &str = "checkpoint.json";

/// The files a run writes into its output directory (besides a recorded
/// trace).
pub const RUN_FILES: [&str; 6] =
    ["report.json", "report.md", "report.html", "samples.jsonl", "alerts.jsonl", CHECKPOINT];

/// Writes `contents` to `dir/name` through a temporary file and a rename, so
/// a reader never sees half a file. See [`write_atomic_with`].
///
/// # Errors
///
/// As [`write_atomic_with`].
pub fn write_atomic(dir: &Path, name: &str, contents: &str) -> Result<PathBuf, std::io::Error> {
    write_atomic_with(dir, name, |out| out.write_all(contents.as_bytes()))
}

/// Writes `dir/name` with `write` through a temporary file, then renames it
/// into place: a reader never sees half a file, and a hostile directory
/// cannot redirect the write.
///
/// * The temporary file is created exclusively (`O_CREAT | O_EXCL`, a
///   name unique to the process and the call): a link planted in `dir`
///   under any name is never followed, a file there never truncated.
/// * `dir/name` is only ever replaced when it is absent or a regular file
///   (the rename replaces the directory entry, never what a link points
///   at); a link, a directory, a device or a FIFO there is refused with
///   [`std::io::ErrorKind::InvalidInput`], and nothing is written.
/// * The data is synced before the rename; on any error the temporary
///   file is removed.
///
/// # Errors
///
/// Any I/O error, the path in its message.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::Write;
/// let dir = tempfile::tempdir()?;
/// let path = tidepool::report::write_atomic_with(dir.path(), "out.txt", |w| writeln!(w, "hello"))?;
/// assert_eq!(std::fs::read_to_string(path)?, "hello\n");
/// # Ok(()) }
/// ```
pub fn write_atomic_with(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<PathBuf, std::io::Error> {
    let path = dir.join(name);
    let at = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    replaceable(&path).map_err(at)?;
    let (tmp, file) = create_exclusive(dir, name).map_err(at)?;
    let written = (|| {
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(at(e));
    }
    Ok(path)
}

/// Ok when `path` is absent or a regular file (a link is not followed):
/// what [`write_atomic_with`] may replace.
///
/// # Errors
///
/// [`std::io::ErrorKind::InvalidInput`] naming what is there instead (a
/// symbolic link, a directory, a device, a FIFO, a socket); any error of
/// reading its metadata.
///
/// # Examples
///
/// ```
/// assert!(tidepool::report::replaceable(std::path::Path::new("/dev/null")).is_err());
/// assert!(tidepool::report::replaceable(std::path::Path::new("/nonexistent/x")).is_ok());
/// ```
pub fn replaceable(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(m) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "not a regular file ({}): refusing to replace it",
                crate::text::file_kind(&m.file_type())
            ),
        )),
    }
}

/// Creates a new file in `dir` named after `name`, exclusively: never an
/// existing file, never through a link.
pub(crate) fn create_exclusive(dir: &Path, name: &str) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    for _ in 0..64 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{pid}.{n}.tmp"));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "no free temporary name"))
}

/// Calls `each` with every non-blank line of the samples.jsonl at `path`,
/// read one at a time: its 1-based number and the line parsed as JSON (or
/// why it is not JSON: a torn last line after a kill, a garbled block).
///
/// # Errors
///
/// Opening `path` (only a regular file is read) or reading it.
pub(crate) fn each_sample_line(
    path: &Path,
    mut each: impl FnMut(u64, Result<serde_json::Value, serde_json::Error>),
) -> std::io::Result<()> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, crate::text::open_regular(path)?);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        if !line.iter().all(u8::is_ascii_whitespace) {
            each(number, serde_json::from_slice(&line));
        }
    }
}

/// Peak resident set size of this process, from `/proc/self/status` (0 if unknown).
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).map(|kb| kb * 1024)
            })
        })
        .unwrap_or(0)
}

/// A table cell for report.md: pipes escaped, control characters shown
/// as `\u{..}` (names come from workload files).
fn md_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}
