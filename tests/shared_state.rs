//! Workload locks and caches (`[[lock]]`, `[cache]`): the queueing and
//! caching they replay checked against theory in virtual time, a run's
//! reproducibility, the reports and gates, the refusals, and the series a
//! wall-clock soak of the built-in daily cycle exports for the dashboards.

mod common;
#[path = "common/zipf.rs"]
mod zipf;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tidepool::report::Report;
use tidepool::sim::{run, NoObserver, Outcome, Workload};

/// Wall-clock figures fixed at zero (they are the one part that varies).
fn no_wall() -> tidepool::report::Wall {
    tidepool::report::Wall { seconds: 0.0, ops_per_second: 0.0, peak_rss_bytes: 0, rss_trend: None }
}

fn replay(text: &str) -> (Workload, Outcome) {
    let workload = Workload::parse(text, "test.toml").expect("valid workload");
    let outcome = run(&workload, &mut NoObserver, &AtomicBool::new(false)).expect("runs");
    (workload, outcome)
}

/// A pool that never makes anyone wait, and one lock taken before it.
fn one_lock(rate: f64, section_ms: f64, hours: u32, extra: &str) -> String {
    format!(
        r#"
seed = 11
duration = "{hours}h"
[pool]
min = 64
max = 64
[[phase]]
name = "steady"
duration = "{hours}h"
arrival = {{ process = "poisson", rate = {rate} }}
hold = {{ dist = "constant", value = "0s" }}
[[lock]]
name = "mm1-{rate}-{section_ms}"
hold = {{ dist = "exponential", mean = "{section_ms}ms" }}
at = "before"
{extra}
"#
    )
}

/// One lock, Poisson takers, exponential sections: an M/M/1 queue. Its
/// mean wait over all acquisitions is ρ/(μ − λ) and the share that waits
/// is ρ (PASTA).
#[test]
fn a_single_lock_replays_mm1_wait_within_three_percent() {
    for (rate, section_ms, hours) in [(100.0, 3.0, 6), (100.0, 6.0, 12), (50.0, 16.0, 24)] {
        let (_, outcome) = replay(&one_lock(rate, section_ms, hours, ""));
        let lock = &outcome.system.locks[0];
        let mu = 1000.0 / section_ms;
        let rho = rate / mu;
        let theory = rho / (mu - rate);
        let error = lock.wait_mean / theory - 1.0;
        eprintln!(
            "rho {rho:.2}: wait mean {:.3} ms vs M/M/1 {:.3} ms ({:+.2} %); waited {:.4} vs rho; {} acquisitions",
            lock.wait_mean * 1e3,
            theory * 1e3,
            error * 100.0,
            lock.contention_rate,
            lock.acquisitions
        );
        assert!(error.abs() < 0.03, "rho {rho}: mean wait {} vs {theory} ({error:+.4})", lock.wait_mean);
        assert!((lock.contention_rate - rho).abs() < 0.01, "rho {rho}: {} waited", lock.contention_rate);
        assert!((lock.hold_mean * 1e3 / section_ms - 1.0).abs() < 0.01, "hold mean {}", lock.hold_mean);
        assert_eq!(lock.acquisitions, outcome.total.arrived, "every operation took the lock once");
        assert!(lock.wait_p99 > lock.wait_p50 && lock.wait_max >= lock.wait_p99, "{lock:?}");
    }
}

/// Readers share an `RwLock`: with only readers nobody waits however busy
/// the lock; with only writers it is a mutex.
#[test]
fn readers_share_an_rwlock_and_writers_queue() {
    let rw = |reads: f64| {
        let extra = format!("kind = \"rwlock\"\nread_fraction = {reads}");
        let text = one_lock(100.0, 6.0, 2, &extra).replace("mm1-100-6", &format!("rw-{reads}"));
        replay(&text).1.system.locks
    };
    let readers = rw(1.0);
    assert_eq!(readers.len(), 1, "only the shared side was taken: {readers:?}");
    assert_eq!((readers[0].mode.as_str(), readers[0].contentions), ("shared", 0), "{readers:?}");
    let writers = rw(0.0);
    assert_eq!(writers.len(), 1, "{writers:?}");
    assert_eq!(writers[0].mode, "exclusive");
    assert!((writers[0].contention_rate - 0.6).abs() < 0.02, "{writers:?}");
    // A mix: readers wait only behind writers.
    let mixed = rw(0.5);
    let (w, r) = (&mixed[0], &mixed[1]);
    assert_eq!((w.mode.as_str(), r.mode.as_str()), ("exclusive", "shared"));
    assert!(r.contention_rate > 0.0 && r.contention_rate < w.contention_rate, "{mixed:?}");
}

fn cache_workload(s: f64, capacity: usize, keys: usize, seed: u64) -> String {
    format!(
        r#"
seed = {seed}
duration = "1h"
[pool]
min = 8
max = 8
[[phase]]
name = "steady"
duration = "1h"
arrival = {{ process = "poisson", rate = 300 }}
hold = {{ dist = "constant", value = "0s" }}
[cache]
name = "zipf-{s}-{capacity}-{seed}"
capacity = {capacity}
keys = {keys}
zipf = {s}
miss_cost = {{ dist = "constant", value = "1us" }}
"#
    )
}

/// Under Zipf keys the replayed cache's hit ratio lies between LRU (Che's
/// approximation) and the LFU optimum, for several popularities and sizes.
/// About a million lookups each: the sampling error is under 0.1 point.
#[test]
fn the_cache_hit_ratio_lies_between_che_lru_and_the_lfu_optimum() {
    const KEYS: usize = 10_000;
    for (s, capacity) in [(0.8, 100), (1.0, 100), (1.0, 1000), (1.2, 1000), (0.6, 2000)] {
        let (_, outcome) = replay(&cache_workload(s, capacity, KEYS, 3));
        let cache = outcome.system.cache.expect("a cache");
        let p = zipf::probabilities(KEYS, s);
        let (lru, lfu) = (zipf::che_lru(&p, capacity), zipf::lfu_bound(&p, capacity));
        eprintln!("s={s} C={capacity}: hit {:.4}  Che-LRU {lru:.4}  LFU {lfu:.4}", cache.hit_ratio);
        // The cold start (the first misses that fill the cache) counts:
        // at most `capacity` lookups of about a million.
        let cold = capacity as f64 / (cache.hits + cache.misses) as f64;
        assert!(cache.hit_ratio >= lru - 0.005, "s={s} C={capacity}: {} below LRU {lru}", cache.hit_ratio);
        assert!(cache.hit_ratio <= lfu + 0.005, "s={s} C={capacity}: {} above LFU {lfu}", cache.hit_ratio);
        assert!(cache.hit_ratio + cold > lru + 0.25 * (lfu - lru), "closes a quarter of the gap at least");
        assert_eq!(cache.entries, capacity as u64);
        assert_eq!(cache.inserts, cache.misses);
        assert_eq!(cache.evictions.size, cache.misses - capacity as u64);
    }
}

/// A virtual run is a function of workload and seed, the cache included
/// (hashed under the seed, one shard): report.json byte for byte.
#[test]
fn the_same_seed_makes_the_same_report_and_another_seed_another() {
    let text = format!(
        "{}\n[[lock]]\nname = \"det\"\nkind = \"rwlock\"\nhold = {{ dist = \"exponential\", mean = \"2ms\" }}\n",
        cache_workload(1.0, 500, 100_000, 7).replace("duration = \"1h\"", "duration = \"20m\"")
    );
    let json = |text: &str| {
        let (workload, outcome) = replay(text);
        Report::new(&workload, "t.toml", &outcome, "replay".into(), no_wall()).to_json()
    };
    let (a, b) = (json(&text), json(&text));
    assert!(a.contains("\"locks\"") && a.contains("\"cache\""), "{a}");
    assert_eq!(a, b, "two runs of one seed differ");
    let other = json(&text.replace("seed = 7", "seed = 8"));
    assert_ne!(a, other, "another seed made the same run");
}

/// Gates: `max_lock_wait_p99` and `min_cache_hit_ratio` pass and fail on
/// the run's figures, in report.json and report.md.
#[test]
fn lock_and_cache_gates_judge_the_run() {
    let text = one_lock(100.0, 6.0, 1, "")
        + "[cache]\ncapacity = 10\nkeys = 1000\nmiss_cost = { dist = \"constant\", value = \"1ms\" }\n"
        + "[slo]\nmax_lock_wait_p99 = \"1ms\"\nmin_cache_hit_ratio = 0.001\n";
    let (workload, outcome) = replay(&text);
    let report = Report::new(&workload, "t.toml", &outcome, "replay".into(), no_wall());
    let gate = |name: &str| report.slo.iter().find(|g| g.name == name).expect(name).clone();
    let lock = gate("max_lock_wait_p99");
    assert!(!lock.passed && lock.observed > 0.001, "{lock:?}");
    assert_eq!(lock.observed, report.locks[0].wait_p99);
    let cache = gate("min_cache_hit_ratio");
    assert!(cache.passed && cache.observed >= 0.001, "{cache:?}");
    assert!(!report.passed);
    let md = report.to_markdown();
    assert!(md.contains("## Locks") && md.contains("## Cache") && md.contains("max_lock_wait_p99"), "{md}");

    // A cache far too small for its keys misses the hit-ratio floor.
    let strict = text.replace("min_cache_hit_ratio = 0.001", "min_cache_hit_ratio = 0.5");
    let (workload, outcome) = replay(&strict);
    let report = Report::new(&workload, "t.toml", &outcome, "replay".into(), no_wall());
    assert!(!report.slo.iter().find(|g| g.name == "min_cache_hit_ratio").expect("gate").passed);
}

/// A TTL ages entries on the run's clock: in virtual time, hours pass in
/// a second of wall time and entries expire.
#[test]
fn a_ttl_expires_entries_in_virtual_time() {
    let text = cache_workload(1.0, 1000, 1000, 5).replace("zipf = 1", "ttl = \"30s\"\nzipf = 1");
    let (_, outcome) = replay(&text);
    let cache = outcome.system.cache.expect("a cache");
    assert!(cache.evictions.expired > 1000, "{cache:?}");
    // Every key fits: without the TTL nothing would be evicted at all.
    assert_eq!(cache.evictions.size, 0, "{cache:?}");
    let (_, forever) = replay(&cache_workload(1.0, 1000, 1000, 5));
    assert_eq!(forever.system.cache.expect("a cache").misses, 1000, "each key missed once");
}

/// Absurd values are refused naming the file, line and field.
#[test]
fn absurd_lock_and_cache_values_are_refused_at_their_line() {
    let base = "[pool]\nmin = 1\nmax = 2\n[[phase]]\nname = \"p\"\nduration = \"1s\"\narrival = { process = \"poisson\", rate = 1 }\nhold = { dist = \"constant\", value = \"1ms\" }\n";
    let lock = "[[lock]]\nname = \"l\"\nhold = { dist = \"constant\", value = \"1ms\" }\n";
    let cache = "[cache]\ncapacity = 10\nkeys = 100\nmiss_cost = { dist = \"constant\", value = \"1ms\" }\n";
    let cases: Vec<(String, &str, usize)> = vec![
        (format!("{base}{}", cache.replace("capacity = 10", "capacity = 0")), "capacity", 10),
        (format!("{base}{}", cache.replace("keys = 100", "keys = 0")), "keys", 11),
        (format!("{base}{cache}zipf = -1\n"), "zipf", 13),
        (format!("{base}{cache}ttl = \"0s\"\n"), "ttl", 13),
        (format!("{base}{lock}fraction = 1.5\n"), "fraction", 12),
        (format!("{base}{lock}read_fraction = 0.5\n"), "read_fraction", 12),
        (format!("{base}{lock}phases = {{ nope = 0.5 }}\n"), "phases", 12),
        (format!("{base}{lock}phases = {{ p = -0.1 }}\n"), "phases", 12),
        (format!("{base}{lock}{lock}"), "name", 13),
        (format!("{base}{lock}at = \"during\"\n"), "at", 12),
    ];
    for (text, field, line) in cases {
        let e = Workload::parse(&text, "absurd.toml").expect_err(&text).to_string();
        assert!(e.starts_with(&format!("absurd.toml:{line}:")), "{field}: {e}\n{text}");
        assert!(e.contains(field), "{field}: {e}");
    }
    // And through the CLI: exit 2, the file named.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = common::write(dir.path(), "absurd.toml", &format!("{base}{lock}fraction = 2\n"));
    let out = common::tidepool(&["soak", &file, "--out", &dir.path().join("o").display().to_string()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("absurd.toml:12:"), "{out:?}");
    assert!(!dir.path().join("o").join("report.json").exists());
}

/// A wall-clock soak of the built-in daily cycle (no file) serves the
/// lock and cache series of its `schema-registry` and `parsed-documents`
/// on /metrics, moving: what the locks and memory dashboards chart.
#[test]
fn a_wall_clock_soak_of_the_daily_cycle_serves_lock_and_cache_series() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = common::free_port();
    let mut soak = std::process::Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["soak", "--time", "wall", "--compress", "2880", "--quiet", "--force"])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--out"])
        .arg(dir.path().join("out"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("tidepool soak starts");
    let read = |(name, label): &(&str, &str)| -> Option<f64> {
        let (_, body) = common::get(port, "/metrics").ok()?;
        body.lines()
            .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    let wanted = [
        ("tidepool_lock_acquisitions_total", "lock=\"schema-registry\""),
        ("tidepool_lock_contentions_total", "lock=\"schema-registry\""),
        ("tidepool_cache_hits_total", "cache=\"parsed-documents\""),
        ("tidepool_cache_misses_total", "cache=\"parsed-documents\""),
    ];
    let mut seen = [0.0; 4];
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(200));
        for (i, series) in wanted.iter().enumerate() {
            seen[i] = read(series).unwrap_or(0.0);
        }
        if seen.iter().all(|&v| v > 0.0) {
            break;
        }
    }
    let _ = soak.kill();
    let _ = soak.wait();
    for (series, value) in wanted.iter().zip(seen) {
        assert!(value > 0.0, "{series:?} is {value} after 20 s of the soak");
    }
}

/// The monitor's `cache_miss_ratio`: a sampler reads a watched cache's
/// misses over its lookups per interval (nothing for an idle interval),
/// and a cache whose misses jump (flushed and too small for its keys)
/// alerts, where its usual share of misses did not.
#[test]
fn a_cache_whose_misses_jump_fires_cache_miss_ratio() {
    use tidepool::cache::Cache;
    use tidepool::monitor::{sampler::Sampler, Kind, Monitor, MonitorConfig, Severity};

    let cache: Cache<u64, u64> = Cache::builder("jumpy").max_entries(1000).build().expect("cache");
    let mut sampler = Sampler::new().cache(&cache);
    assert!(sampler.readings().is_empty(), "no lookups, no reading");
    for k in 0..10 {
        let _ = cache.get(&(k % 3));
        cache.insert(k % 3, k);
    }
    let readings = sampler.readings();
    assert_eq!(readings.len(), 1, "{readings:?}");
    assert_eq!((readings[0].kind, readings[0].subject.as_str()), (Kind::CacheMissRatio, "jumpy"));
    assert!((readings[0].value - 0.3).abs() < 1e-12, "3 misses in 10 lookups: {readings:?}");

    // A healthy cache: 100 hot keys, a lookup in ten a cold one.
    let mut monitor = Monitor::new(MonitorConfig::default());
    let mut t = 0.0;
    let mut interval = |monitor: &mut Monitor, sampler: &mut Sampler, key_space: u64, offset: u64| {
        for i in 0..1000u64 {
            let key = if i % 10 == 0 { offset + 1000 + i } else { offset + i % key_space };
            if cache.get(&key).is_none() {
                cache.insert(key, i);
            }
        }
        t += 2.0;
        monitor.observe(t, &sampler.readings())
    };
    for _ in 0..60 {
        interval(&mut monitor, &mut sampler, 100, 0);
    }
    assert_eq!(monitor.severity(Kind::CacheMissRatio, "jumpy"), Severity::None);
    // Then every lookup asks for a key it has never seen.
    let mut fired = Severity::None;
    for round in 0..20 {
        interval(&mut monitor, &mut sampler, 1000, 1_000_000 * (round + 1));
        fired = fired.max(monitor.severity(Kind::CacheMissRatio, "jumpy"));
    }
    assert!(fired >= Severity::Critical, "misses near 100 % for 40 s: {fired:?}");
}
