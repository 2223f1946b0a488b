//! One truth for soak and production: the same load, once through the soak
//! runner and once through a live pool built from an agent configuration
//! with the agent's own sampler and monitor, must raise the same alerts at
//! the same moments and size the pool the same way. And the `[pool]` and
//! `[monitoring]` tables of either file mean the same in the other.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tidepool::clock::Clock;

use tidepool::config::AgentConfig;
use tidepool::monitor::{Episode, Kind, Severity};
use tidepool::pool::{Pool, PoolSettings};
use tidepool::sim::{run_wall_on, Observer, Sample, WallOptions, Workload};
use tidepool::soak::{Soak, Time};
use tidepool::Agent;

/// The pool, as both files write it.
const POOL: &str = r#"[pool]
min_size = 4
max_size = 12
acquire_timeout = "500ms"
sizing = "utilization"
target_utilization = 0.75
sizing_interval = "1s"
maintenance_interval = "100ms"
"#;

/// The monitor, as both files write it.
const MONITORING: &str = r#"[monitoring]
sample_interval = "250ms"
baseline_samples = 16
"#;

/// 20 minutes of calm, busy and calm load with holders stalled for 4
/// minutes in the busy part; played 60x compressed (20 s). Arrivals are
/// evenly spaced and holds constant, so the load itself is the same in
/// both runs: what differs is only how each path reads and judges it.
/// The calm phases hold one object against a `min_size` of 4: a start the
/// machine delays bunches with the next ones without making anyone wait,
/// so the sizing moves with the load (4, up to 12 in the busy phase, back
/// to 4), not with the scheduler's hiccups in one run but not the other.
fn workload_text() -> String {
    format!(
        r#"name = "parity"
seed = 11
duration = "20m"
hold = {{ dist = "constant", value = "20ms" }}
{POOL}
[[phase]]
name = "calm"
duration = "5m"
arrival = {{ process = "constant", rate = 50 }}
[[phase]]
name = "busy"
duration = "10m"
arrival = {{ process = "constant", rate = 300 }}
[[phase]]
name = "calm-again"
duration = "5m"
arrival = {{ process = "constant", rate = 50 }}
[[fault]]
kind = "stall"
at = "8m"
duration = "4m"
{MONITORING}"#
    )
}

fn agent_text() -> String {
    format!("{POOL}{MONITORING}[export]\nserve = false\n")
}

const COMPRESS: f64 = 60.0;
/// `[monitoring] sample_interval`, seconds.
const SAMPLE: f64 = 0.25;
/// `[pool] sizing_interval`, seconds.
const SIZING: f64 = 1.0;
/// What a wake-up may be late on a shared runner, seconds.
const JITTER: f64 = 0.1;

#[test]
fn a_pool_table_means_the_same_in_either_file() {
    let agent = AgentConfig::parse(&agent_text(), "agent.toml").expect("agent config");
    let workload = Workload::parse(&workload_text(), "parity.toml").expect("workload");
    assert_eq!(workload.pool.settings, agent.pool);
    assert_eq!(workload.monitor, agent.monitoring);

    // The documented agent file's [pool], pasted into a workload.
    let section = |text: &str, name: &str| -> String {
        let start = text.find(&format!("\n[{name}]\n")).expect("section") + 1;
        let rest = &text[start..];
        let end = rest[1..].find("\n[").map_or(rest.len(), |i| i + 2);
        rest[..end].to_string()
    };
    let default_pool = section(AgentConfig::DEFAULT_FILE, "pool");
    let pasted = workload_text().replace(POOL, &default_pool);
    let w = Workload::parse(&pasted, "pasted.toml").expect("the agent's [pool] in a workload");
    assert_eq!(w.pool.settings, AgentConfig::default().pool);
    assert_eq!(w.pool.settings, PoolSettings::default());

    // And back: a workload's [pool] (aliases and all) in an agent file.
    let workload_pool = "[pool]\nmin = 3\nmax = 12\nacquire_timeout = 2\ncontention_threshold = \"3ms\"\n\
                         max_idle_time = \"5m\"\nsizing = \"fixed\"\n";
    let w = Workload::parse(&workload_text().replace(POOL, workload_pool), "w.toml").expect("workload");
    let c = AgentConfig::parse(workload_pool, "agent.toml").expect("a workload's [pool] in the agent");
    assert_eq!(c.pool, w.pool.settings);
    assert_eq!((c.pool.min_size, c.pool.max_size), (3, 12));
    assert_eq!(c.pool.contention_threshold, Some(Duration::from_millis(3)));

    // The same settings build the same pool (and sizing policy) either way.
    let from_workload =
        w.pool.settings.configure(Pool::builder("a")).factory(|| Ok(0u8)).build().expect("pool");
    let from_agent = c.pool.configure(Pool::builder("b")).factory(|| Ok(0u8)).build().expect("pool");
    assert_eq!(from_workload.settings(), from_agent.settings());
    assert_eq!(format!("{:?}", c.pool.sizing_policy()), format!("{:?}", w.pool.settings.sizing_policy()));

    // What only a workload models is refused by the agent, by name.
    let err = AgentConfig::parse("[pool]\nobject_bytes = \"1MiB\"\n", "agent.toml").expect_err("a model key");
    assert!(err.to_string().starts_with("agent.toml:2:1: pool.object_bytes: unknown field"), "{err}");
    // And a typo is refused by both, with the same list of keys.
    let typo = "[pool]\nmax_sise = 3\n";
    let agent_err = AgentConfig::parse(typo, "agent.toml").expect_err("typo").to_string();
    let workload_err =
        Workload::parse(&workload_text().replace(POOL, typo), "w.toml").expect_err("typo").to_string();
    assert!(agent_err.contains("unknown field `max_sise`"), "{agent_err}");
    assert!(
        workload_err.contains("w.toml:6:") && workload_err.contains("unknown field `max_sise`"),
        "{workload_err}"
    );
}

/// The samples of a run, `(seconds, target)`, and when it started on `clock`.
struct Targets {
    samples: Vec<(f64, usize)>,
    clock: Clock,
    started: Option<u64>,
}

impl Observer for Targets {
    fn on_start(&mut self, _pool: &Pool<u64>) {
        self.started = Some(self.clock.now_nanos());
    }
    fn on_sample(&mut self, sample: &Sample) {
        self.samples.push((sample.t, sample.target));
    }
}

/// The first episode of each kind: `kind -> (start, peak)`.
fn first_episodes(episodes: &[Episode]) -> Vec<(Kind, f64, Severity)> {
    let mut out: Vec<(Kind, f64, Severity)> = Vec::new();
    for e in episodes {
        match out.iter_mut().find(|(k, ..)| *k == e.kind) {
            Some(entry) => entry.2 = entry.2.max(e.peak),
            None => out.push((e.kind, e.started, e.peak)),
        }
    }
    out.sort_by_key(|(k, ..)| *k);
    out
}

#[test]
fn the_soak_and_a_live_agent_judge_the_same_load_alike() {
    let workload = Workload::parse(&workload_text(), "parity.toml").expect("workload");

    // (a) The soak runner, in wall-clock time.
    let dir = tempfile::tempdir().expect("tempdir");
    let soak = Soak::new(workload.clone())
        .out(dir.path())
        .time(Time::Wall { options: WallOptions::default(), compress: Some(COMPRESS) })
        .run()
        .expect("the soak runs");
    let soaked = first_episodes(&soak.report.alerts.as_ref().expect("the monitor's report").episodes);
    let samples = std::fs::read_to_string(dir.path().join("samples.jsonl")).expect("samples");
    let soak_targets: Vec<(f64, usize)> = samples
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a sample");
            (v["t"].as_f64().expect("t"), v["target"].as_u64().expect("target") as usize)
        })
        .collect();

    // (b) A live pool from the agent configuration, watched by the agent's
    // own thread, under the same schedule.
    let config = AgentConfig::parse(&agent_text(), "agent.toml").expect("agent config");
    let clock = Clock::system();
    let agent_started = clock.now_nanos();
    let agent = Agent::start(config).expect("the agent starts");
    let ids = AtomicU64::new(0);
    let pool = agent
        .pool_builder("parity")
        .factory(move || Ok(ids.fetch_add(1, Ordering::Relaxed)))
        .build()
        .expect("the agent's pool");
    assert_eq!(pool.settings(), &workload.pool.settings);
    let compressed = workload.compressed(COMPRESS).expect("compresses");
    let mut targets = Targets { samples: Vec::new(), clock, started: None };
    let stop = AtomicBool::new(false);
    run_wall_on(&compressed, pool, &mut targets, &stop, &WallOptions::default()).expect("the load runs");
    let report = agent.shutdown().expect("the agent stops");
    // Agent time counts from its start; the run's from its first start.
    let offset = targets.started.expect("started").saturating_sub(agent_started) as f64 / 1e9;
    let lived: Vec<(Kind, f64, Severity)> =
        first_episodes(&report.episodes).into_iter().map(|(k, at, peak)| (k, at - offset, peak)).collect();

    // The stall must have fired something, or the comparison proves nothing.
    for kind in [Kind::Starvation, Kind::PoolWait] {
        assert!(soaked.iter().any(|(k, _, s)| *k == kind && *s >= Severity::Critical), "soak: {soaked:?}");
    }
    let kinds = |e: &[(Kind, f64, Severity)]| e.iter().map(|(k, _, s)| (*k, *s)).collect::<Vec<_>>();
    assert_eq!(kinds(&soaked), kinds(&lived), "soak {soaked:?} vs agent {lived:?}");
    // Each samples every 250 ms on its own thread, the two grids a few ms
    // apart: one sample, plus what a shared 2-core runner adds to a wake-up.
    for ((kind, a, _), (_, b, _)) in soaked.iter().zip(&lived) {
        assert!(
            (a - b).abs() <= SAMPLE + JITTER,
            "{kind}: the soak fired at {a:.3} s, the agent at {b:.3} s (run time): more than one sample apart"
        );
    }

    // The same sizing decisions: at every sample, the soak's target is
    // within one object of a target the agent's pool had within one sizing
    // interval (and a sample) of it. Each pool's sizing ticks count from its
    // own build, and a burst of waiters raises a target by however many wait
    // at a tick: real threads put the same decision up to an interval apart.
    assert!(
        soak_targets.len() >= 70 && targets.samples.len() >= 70,
        "{} / {} samples",
        soak_targets.len(),
        targets.samples.len()
    );
    let window = SIZING + SAMPLE + JITTER;
    let near = |series: &[(f64, usize)], t: f64| -> Vec<usize> {
        series.iter().filter(|(s, _)| (s - t).abs() <= window).map(|(_, x)| *x).collect()
    };
    let mut worst = 0usize;
    for (mine, theirs, who) in
        [(&soak_targets, &targets.samples, "soak"), (&targets.samples, &soak_targets, "agent")]
    {
        for &(t, a) in mine.iter() {
            let b = near(theirs, t);
            let gap = b.iter().map(|&b| a.abs_diff(b)).min().unwrap_or(usize::MAX);
            worst = worst.max(gap);
            assert!(gap <= 1, "at {t:.2} s the {who}'s target is {a}, the other's within {window} s: {b:?}");
        }
    }
    let (last_a, last_b) =
        (soak_targets.last().expect("samples").1, targets.samples.last().expect("samples").1);
    assert!(last_a.abs_diff(last_b) <= 1, "final targets {last_a} vs {last_b}");
    // The load moved the target: the trajectories are not flat lines.
    let (lo, hi) = soak_targets.iter().fold((usize::MAX, 0), |(lo, hi), &(_, x)| (lo.min(x), hi.max(x)));
    assert!(hi >= lo + 3, "the target only moved between {lo} and {hi}");
    eprintln!("parity: soak {soaked:?}, agent {lived:?}; targets {lo}..{hi}, worst gap {worst}");
}
