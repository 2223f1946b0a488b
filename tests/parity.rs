//! One truth for soak and production: the same load, once through the soak
//! runner and once through a live pool built from an agent configuration
//! with the agent's own sampler and monitor, must raise the same alerts at
//! the same moments and size the pool the same way. And the `[pool]` and
//! `[monitoring]` tables of either file mean the same in the other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tidepool::clock::Clock;

use tidepool::config::AgentConfig;
use tidepool::monitor::{Episode, Kind, Severity};
use tidepool::pool::{Pool, PoolSettings};
use tidepool::sim::{WallOptions, Workload};
use tidepool::soak::{Harness, Progress, Soak, Tick, Time};
use tidepool::Agent;

/// The pool, as both files write it.
const POOL: &str = r#"[pool]
min_size = 16
max_size = 24
acquire_timeout = "200ms"
sizing = "utilization"
target_utilization = 0.75
sizing_interval = "1s"
maintenance_interval = "100ms"
"#;

/// The monitor, as both files write it.
const MONITORING: &str = r#"[monitoring]
sample_interval = "250ms"
baseline_samples = 16
combine = "floor_only"
"#;

/// 20 minutes of calm, busy and calm load with holders stalled for 4
/// minutes in the busy part; played 60x compressed (20 s). Arrivals are
/// evenly spaced and holds constant, so the load itself is the same in
/// both runs: what differs is only how each path reads and judges it.
/// The phases hold 1.4 and 7 objects against a `min_size` of 16, at rates
/// low enough that a start the machine delays by tens of milliseconds
/// bunches with a few others without anyone waiting: neither the alerts
/// nor the sizing move with a scheduler hiccup in one run but not the
/// other. The monitor judges by its floors alone (`floor_only`): the
/// adaptive band learns from each run's own noise, which is not the load. The stall makes everyone wait: the waiters raise the target to the
/// max (24), the alerts fire, and once the holders return the target falls
/// back to 16.
fn workload_text() -> String {
    format!(
        r#"name = "parity"
seed = 11
duration = "20m"
hold = {{ dist = "constant", value = "70ms" }}
{POOL}
[[phase]]
name = "calm"
duration = "5m"
arrival = {{ process = "constant", rate = 20 }}
[[phase]]
name = "busy"
duration = "10m"
arrival = {{ process = "constant", rate = 100 }}
[[phase]]
name = "calm-again"
duration = "5m"
arrival = {{ process = "constant", rate = 20 }}
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

/// When the soak's run clock started on `clock`, read off its first sample
/// (taken at its due time).
struct Origin {
    clock: Clock,
    at: Option<u64>,
    samples: usize,
}

impl Progress for Origin {
    fn sample(&mut self, tick: &Tick<'_>) {
        if self.at.is_none() {
            self.at = Some(self.clock.now_nanos().saturating_sub((tick.sample.t * 1e9) as u64));
        }
        self.samples += 1;
    }
}

/// The first episode of each kind on the pool: `kind -> (start, peak)`.
fn first_episodes(episodes: &[Episode]) -> Vec<(Kind, f64, Severity)> {
    let mut out: Vec<(Kind, f64, Severity)> = Vec::new();
    for e in episodes.iter().filter(|e| e.subject == "parity") {
        match out.iter_mut().find(|(k, ..)| *k == e.kind) {
            Some(entry) => entry.2 = entry.2.max(e.peak),
            None => out.push((e.kind, e.started, e.peak)),
        }
    }
    out.sort_by_key(|(k, ..)| *k);
    out
}

/// One pool, two judges: a live pool built from the agent configuration,
/// watched by the agent's own thread (its `Sampler`, `Monitor` and
/// remedies), is the pool the soak runner drives with the workload's
/// schedule (through a [`Harness`]) and judges with its own monitor. Both
/// read the same pool at the same time, so any difference between their
/// verdicts is a difference in how they read and judge, which is what must
/// not exist. (Two separate runs of the same load on a shared runner differ
/// by what the scheduler does to each; that is not what is tested here.)
#[test]
fn the_soak_and_a_live_agent_judge_the_same_load_alike() {
    let workload = Workload::parse(&workload_text(), "parity.toml").expect("workload");
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

    // The workload's holds, as the operation run on each object.
    let hold = Duration::from_millis(70);
    let harness = Harness::new(pool, move |_: &mut u64| {
        std::thread::sleep(hold);
        Ok::<(), std::io::Error>(())
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut origin = Origin { clock, at: None, samples: 0 };
    let soak = Soak::new(workload)
        .out(dir.path())
        .time(Time::Wall { options: WallOptions::default(), compress: Some(COMPRESS) })
        .progress(&mut origin)
        .run_with(harness)
        .expect("the soak runs");
    let report = agent.shutdown().expect("the agent stops");
    assert!(origin.samples >= 70, "{} samples", origin.samples);
    let ops = &soak.report.ops;
    assert_eq!(
        ops.arrived,
        ops.completed + ops.timed_out + ops.failed + ops.in_flight + ops.waiting,
        "{ops:?}"
    );

    let soaked = first_episodes(&soak.report.alerts.as_ref().expect("the monitor's report").episodes);
    // Agent time counts from its start; the soak's from its first start.
    let offset = origin.at.expect("sampled").saturating_sub(agent_started) as f64 / 1e9;
    let lived: Vec<(Kind, f64, Severity)> =
        first_episodes(&report.episodes).into_iter().map(|(k, at, peak)| (k, at - offset, peak)).collect();
    eprintln!("parity: soak episodes {soaked:?}; agent episodes {lived:?} (run time, offset {offset:.4} s)");

    // The stall must have fired something, or the comparison proves nothing.
    for kind in [Kind::Starvation, Kind::PoolWait] {
        assert!(soaked.iter().any(|(k, _, s)| *k == kind && *s >= Severity::Critical), "soak: {soaked:?}");
    }
    let kinds = |e: &[(Kind, f64, Severity)]| e.iter().map(|(k, _, s)| (*k, *s)).collect::<Vec<_>>();
    assert_eq!(kinds(&soaked), kinds(&lived), "soak {soaked:?} vs agent {lived:?}");
    // Each samples every 250 ms on its own thread, the two grids apart by
    // up to one interval: one sample, plus a late wake-up on a shared runner.
    for ((kind, a, _), (_, b, _)) in soaked.iter().zip(&lived) {
        assert!(
            (a - b).abs() <= SAMPLE + JITTER,
            "{kind}: the soak fired at {a:.3} s, the agent at {b:.3} s (run time): more than one sample apart"
        );
    }
    // And the pool was sized by the agent's own settings: the minimum when
    // calm, the max while the stall keeps everyone waiting.
    let samples = std::fs::read_to_string(dir.path().join("samples.jsonl")).expect("samples");
    let targets: Vec<(f64, usize)> = samples
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a sample");
            (v["t"].as_f64().expect("t"), v["target"].as_u64().expect("target") as usize)
        })
        .collect();
    let at = |t: f64| -> usize {
        targets.iter().min_by(|a, b| (a.0 - t).abs().total_cmp(&(b.0 - t).abs())).map_or(0, |s| s.1)
    };
    assert_eq!((at(4.75), at(11.75)), (16, 24), "{targets:?}");
}
