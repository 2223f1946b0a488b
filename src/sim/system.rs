//! The shared state around the pool: the workload's `[[lock]]`s and its
//! `[cache]`, as specified in the file and as run — through a real
//! [`ProfiledMutex`]/[`ProfiledRwLock`] and a real [`Cache`], by the
//! virtual engine and the wall-clock runner alike.
//!
//! An operation draws, when it arrives, which locks it takes (each lock's
//! `fraction` for its phase) and on which side (`read_fraction`); it takes
//! each at the lock's place in the operation (`at`: before acquiring its
//! object, inside the hold, or after returning it), holds it for a drawn
//! critical section, and lets it go. With a cache, the hold begins with a
//! lookup of a drawn key (Zipf or uniform popularity); a miss stores the
//! key and adds the drawn `miss_cost` to the hold.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use rand_distr::Distribution;
use serde::{Deserialize, Deserializer, Serialize};

use super::workload::{Dist, Sampler};
use crate::cache::Cache;
use crate::clock::Clock;
use crate::de::{check_f64, de_nonneg, de_number, de_opt_duration, de_probability, ser_opt_duration};
use crate::sync::{LockOptions, ProfiledMutex, ProfiledRwLock};

/// Locks in one workload: an operation's draw is a bit mask.
pub const MAX_LOCKS: usize = 16;

/// The most keys a cache's key space may have (the Zipf sampler is O(1)
/// in it, the report is not).
pub const MAX_CACHE_KEYS: u64 = 1 << 40;

/// The most entries a workload's cache may hold: 100 M.
pub const MAX_CACHE_CAPACITY: u64 = 100_000_000;

/// The kind of a workload lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LockKind {
    /// A [`ProfiledMutex`].
    #[default]
    Mutex,
    /// A [`ProfiledRwLock`]: takers read or write (`read_fraction`).
    Rwlock,
}

/// Where in an operation a lock's critical section runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Before the operation asks the pool for an object.
    Before,
    /// At the start of the hold: the object is held while the operation
    /// waits for the lock and runs its critical section.
    #[default]
    Inside,
    /// After the operation returned its object.
    After,
}

/// A `[[lock]]` of a workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockSpec {
    /// The lock's name (its `lock` label).
    pub name: String,
    /// `mutex` (default) or `rwlock`.
    #[serde(default)]
    pub kind: LockKind,
    /// The critical section's duration.
    pub hold: Dist,
    /// The share of operations that take the lock (default 1).
    #[serde(default = "one", deserialize_with = "de_probability")]
    pub fraction: f64,
    /// Per-phase shares, by phase name, overriding `fraction`.
    #[serde(default, deserialize_with = "de_phase_fractions")]
    pub phases: BTreeMap<String, f64>,
    /// Where the section runs: `before`, `inside` (default) or `after`.
    #[serde(default)]
    pub at: Placement,
    /// `rwlock` only: the share of takers that read (default 0.9).
    #[serde(default, deserialize_with = "de_opt_probability_here")]
    pub read_fraction: Option<f64>,
}

/// A workload's `[cache]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// The cache's name (its `cache` label; default `results`).
    #[serde(default = "default_cache_name")]
    pub name: String,
    /// Entries it holds at most (1 to 100 M).
    #[serde(deserialize_with = "de_capacity")]
    pub capacity: u64,
    /// Distinct keys operations ask for (1 to 2^40).
    #[serde(deserialize_with = "de_keys")]
    pub keys: u64,
    /// Key popularity: the Zipf exponent `s` (key of rank k asked with
    /// probability ∝ 1/k^s); absent or 0: uniform.
    #[serde(default, deserialize_with = "de_zipf")]
    pub zipf: f64,
    /// Entries expire this long after they were stored.
    #[serde(default, deserialize_with = "de_opt_duration", serialize_with = "ser_opt_duration")]
    pub ttl: Option<Duration>,
    /// The work a miss costs, added to the operation's hold.
    pub miss_cost: Dist,
    /// The size of one entry: the cache is then bounded in bytes
    /// (`capacity` × `entry_bytes`, the same number of entries) and
    /// exports its weighted size, as a byte-bounded cache of a service does.
    #[serde(default, deserialize_with = "crate::de::de_opt_bytes")]
    pub entry_bytes: Option<u64>,
}

fn one() -> f64 {
    1.0
}

fn default_cache_name() -> String {
    "results".into()
}

fn de_opt_probability_here<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    de_probability(d).map(Some)
}

fn de_phase_fractions<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
    let raw = BTreeMap::<String, f64>::deserialize(d)?;
    for (phase, &x) in &raw {
        if !(0.0..=1.0).contains(&x) || !x.is_finite() {
            return Err(serde::de::Error::custom(format!(
                "phase {phase:?}: {x} is not a probability, 0 <= p <= 1"
            )));
        }
    }
    Ok(raw)
}

fn de_integer_in<'de, D: Deserializer<'de>>(d: D, max: u64, what: &str) -> Result<u64, D::Error> {
    let x = de_number(d)?;
    let x = check_f64(x, x >= 1.0 && x <= max as f64 && x.fract() == 0.0, what)?;
    Ok(x as u64)
}

fn de_capacity<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    de_integer_in(d, MAX_CACHE_CAPACITY, "a whole number of entries, 1 to 100000000")
}

fn de_keys<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    de_integer_in(d, MAX_CACHE_KEYS, "a whole number of keys, 1 to 2^40")
}

fn de_zipf<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let x = de_nonneg(d)?;
    check_f64(x, x <= 10.0, "a Zipf exponent, 0 (uniform) to 10")
}

impl LockSpec {
    /// The share of operations in phase `phase` that take the lock.
    pub fn fraction_in(&self, phase: &str) -> f64 {
        self.phases.get(phase).copied().unwrap_or(self.fraction)
    }

    /// The share of takers that read (0 for a mutex).
    pub fn reads(&self) -> f64 {
        match self.kind {
            LockKind::Mutex => 0.0,
            LockKind::Rwlock => self.read_fraction.unwrap_or(0.9),
        }
    }
}

/// The lock a workload's `[[lock]]` runs through.
pub(crate) enum SimLock {
    Mutex(ProfiledMutex<()>),
    RwLock(ProfiledRwLock<()>),
}

/// A guard of a [`SimLock`], whichever side.
pub(crate) enum SimGuard<'l> {
    Mutex(#[allow(dead_code)] crate::sync::ProfiledMutexGuard<'l, ()>),
    Read(#[allow(dead_code)] crate::sync::ProfiledRwLockReadGuard<'l, ()>),
    Write(#[allow(dead_code)] crate::sync::ProfiledRwLockWriteGuard<'l, ()>),
}

impl SimLock {
    /// Takes the lock for `taker` if free (see [`crate::sync::Taker`]).
    #[inline]
    pub(crate) fn try_take(&self, write: bool, taker: crate::sync::Taker) -> Option<SimGuard<'_>> {
        match self {
            SimLock::Mutex(m) => m.try_lock_by(taker).map(SimGuard::Mutex),
            SimLock::RwLock(l) if write => l.try_write_by(taker).map(SimGuard::Write),
            SimLock::RwLock(l) => l.try_read_by(taker).map(SimGuard::Read),
        }
    }

    /// Takes the lock, blocking (wall-clock runs: real threads).
    pub(crate) fn take(&self, write: bool) -> SimGuard<'_> {
        match self {
            SimLock::Mutex(m) => SimGuard::Mutex(m.lock()),
            SimLock::RwLock(l) if write => SimGuard::Write(l.write()),
            SimLock::RwLock(l) => SimGuard::Read(l.read()),
        }
    }
}

/// The locks and cache of one run, with their samplers.
pub(crate) struct System {
    pub(crate) locks: Vec<(LockSpec, SimLock)>,
    /// Per lock: its critical section's sampler.
    holds: Vec<Sampler>,
    /// Per lock and phase: the share of operations that take it.
    fractions: Vec<Vec<f64>>,
    /// Locks taken at each place, as masks.
    pub(crate) placed: [u16; 3],
    pub(crate) cache: Option<SimCache>,
}

/// A workload's cache as run.
pub(crate) struct SimCache {
    pub(crate) spec: CacheSpec,
    pub(crate) cache: Cache<u64, ()>,
    keys: Keys,
    miss_cost: Sampler,
}

/// How keys are drawn.
enum Keys {
    Uniform(u64),
    Zipf(rand_distr::Zipf<f64>),
}

/// What an operation drew: the locks it takes, and on which side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sections {
    /// Locks still to take (bit i: lock i).
    pub(crate) take: u16,
    /// Of those, the ones taken for writing (mutexes always).
    pub(crate) write: u16,
}

impl Sections {
    /// The next lock to take at `place` (lowest index first), if any.
    #[inline]
    pub(crate) fn next_at(&self, placed: u16) -> Option<usize> {
        let left = self.take & placed;
        (left != 0).then(|| left.trailing_zeros() as usize)
    }

    #[inline]
    pub(crate) fn done(&mut self, lock: usize) {
        self.take &= !(1 << lock);
    }

    #[inline]
    pub(crate) fn writes(&self, lock: usize) -> bool {
        self.write & (1 << lock) != 0
    }
}

impl Placement {
    pub(crate) fn index(self) -> usize {
        match self {
            Placement::Before => 0,
            Placement::Inside => 1,
            Placement::After => 2,
        }
    }
}

impl System {
    /// Builds the locks and the cache of `workload`, their time read from
    /// `clock`. `exact`: time every hold (virtual runs: reading the manual
    /// clock costs nothing) and hash the cache under the workload's seed
    /// with a fixed shard count, so the run is a function of its seed.
    pub(crate) fn build(workload: &super::Workload, clock: &Clock, exact: bool) -> System {
        let options = || {
            let o = LockOptions::default().clock(clock.clone());
            if exact {
                o.hold_sample_every(1)
            } else {
                o
            }
        };
        let mut placed = [0u16; 3];
        let locks: Vec<_> = workload
            .locks
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                placed[spec.at.index()] |= 1 << i;
                let lock = match spec.kind {
                    LockKind::Mutex => SimLock::Mutex(ProfiledMutex::with_options(&spec.name, (), options())),
                    LockKind::Rwlock => {
                        SimLock::RwLock(ProfiledRwLock::with_options(&spec.name, (), options()))
                    }
                };
                (spec.clone(), lock)
            })
            .collect();
        let holds = workload.locks.iter().map(|l| l.hold.sampler()).collect();
        let fractions = workload
            .locks
            .iter()
            .map(|l| workload.phases.iter().map(|p| l.fraction_in(&p.name)).collect())
            .collect();
        let cache = workload.cache.as_ref().map(|spec| {
            let mut builder = Cache::builder(spec.name.clone()).clock(clock.clone());
            builder = match spec.entry_bytes {
                Some(size) => {
                    let weight = usize::try_from(size).unwrap_or(usize::MAX);
                    builder
                        .max_bytes(spec.capacity.saturating_mul(size), move |_, _| weight)
                        .estimated_entries(spec.capacity)
                }
                None => builder.max_entries(spec.capacity),
            };
            if let Some(ttl) = spec.ttl {
                builder = builder.time_to_live(ttl);
            }
            if exact {
                builder = builder.hash_seed(workload.seed).shards(1);
            }
            let cache = match builder.build() {
                Ok(cache) => cache,
                // Name, capacity and TTL were validated with the workload.
                Err(e) => unreachable!("workload cache: {e}"),
            };
            let keys = match rand_distr::Zipf::new(spec.keys as f64, spec.zipf) {
                Ok(zipf) if spec.zipf > 0.0 => Keys::Zipf(zipf),
                _ => Keys::Uniform(spec.keys),
            };
            SimCache { miss_cost: spec.miss_cost.sampler(), spec: spec.clone(), cache, keys }
        });
        System { locks, holds, fractions, placed, cache }
    }

    /// What an [`super::Observer`] is shown of it.
    pub(crate) fn shared_state(&self) -> super::SharedState {
        super::SharedState {
            locks: self.locks.iter().map(|(spec, _)| spec.name.clone()).collect(),
            cache: self.cache.as_ref().map(|c| c.cache.clone()),
        }
    }

    /// Whether the run has any lock or cache at all.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.locks.is_empty() && self.cache.is_none()
    }

    /// The locks an operation of phase `phase` takes, and how.
    #[inline]
    pub(crate) fn draw<R: Rng + ?Sized>(&self, phase: usize, rng: &mut R) -> Sections {
        let mut sections = Sections::default();
        for (i, (spec, _)) in self.locks.iter().enumerate() {
            let f = self.fractions[i].get(phase).copied().unwrap_or(spec.fraction);
            if f >= 1.0 || (f > 0.0 && rng.random::<f64>() < f) {
                sections.take |= 1 << i;
                let reads = spec.reads();
                let write = reads <= 0.0 || (reads < 1.0 && rng.random::<f64>() >= reads);
                if write {
                    sections.write |= 1 << i;
                }
            }
        }
        sections
    }

    /// A critical section of lock `lock`, in ns.
    #[inline]
    pub(crate) fn section_ns<R: Rng + ?Sized>(&self, lock: usize, rng: &mut R) -> u64 {
        self.holds[lock].sample_ns(rng)
    }

    /// Looks a drawn key up in the cache (a miss stores it): the extra
    /// hold in ns (0 on a hit, or without a cache).
    #[inline]
    pub(crate) fn lookup<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let Some(c) = &self.cache else { return 0 };
        let key = match &c.keys {
            Keys::Uniform(n) => rng.random_range(0..*n),
            Keys::Zipf(z) => z.sample(rng) as u64,
        };
        // Cache-aside, as a service on one key at a time does it: one
        // lookup, and an insert on a miss.
        if c.cache.get(&key).is_some() {
            return 0;
        }
        c.cache.insert(key, ());
        c.miss_cost.sample_ns(rng)
    }
}

/// Checks a workload's locks and cache against its phases: unique lock
/// names, per-phase fractions naming phases that exist, `read_fraction`
/// only on a `rwlock`. `Err((field, message))`.
pub(crate) fn check(locks: &[LockSpec], phases: &[super::Phase]) -> Result<(), (String, String)> {
    if locks.len() > MAX_LOCKS {
        return Err(("lock".into(), format!("{} locks: at most {MAX_LOCKS}", locks.len())));
    }
    for (i, lock) in locks.iter().enumerate() {
        if lock.name.trim().is_empty() {
            return Err(("lock.name".into(), "a lock needs a name".into()));
        }
        if locks[..i].iter().any(|l| l.name == lock.name) {
            return Err(("lock.name".into(), format!("two locks are called {:?}", lock.name)));
        }
        if let Some(phase) = lock.phases.keys().find(|p| !phases.iter().any(|ph| &ph.name == *p)) {
            return Err(("lock.phases".into(), format!("no phase is called {phase:?}")));
        }
        if lock.kind == LockKind::Mutex && lock.read_fraction.is_some() {
            return Err(("lock.read_fraction".into(), "only a kind = \"rwlock\" lock has readers".into()));
        }
    }
    Ok(())
}

/// One side of one workload lock over the run (a row of report.json's
/// `locks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockReport {
    /// The lock's name.
    pub name: String,
    /// `mutex` or `rwlock`.
    pub kind: LockKind,
    /// `exclusive` (a mutex, or an `RwLock`'s writers) or `shared` (readers).
    pub mode: String,
    /// Acquisitions.
    pub acquisitions: u64,
    /// Acquisitions that had to wait.
    pub contentions: u64,
    /// contentions / acquisitions.
    pub contention_rate: f64,
    /// Times a different taker took the lock than the last one.
    pub owner_changes: u64,
    /// Takers that gave up.
    pub timeouts: u64,
    /// Mean wait over all acquisitions, seconds (the uncontended waited 0).
    pub wait_mean: f64,
    /// Wait quantiles over all acquisitions, seconds (from the lock's
    /// buckets, as Prometheus' histogram_quantile reads them).
    pub wait_p50: f64,
    /// See `wait_p50`.
    pub wait_p99: f64,
    /// The longest wait, seconds (exact).
    pub wait_max: f64,
    /// Mean measured hold, seconds.
    pub hold_mean: f64,
    /// Hold quantiles of the measured holds, seconds (every hold in virtual
    /// time; one in 64 in wall time).
    pub hold_p50: f64,
    /// See `hold_p50`.
    pub hold_p99: f64,
    /// The longest measured hold, seconds.
    pub hold_max: f64,
}

/// The workload cache over the run (report.json's `cache`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheReport {
    /// The cache's name.
    pub name: String,
    /// Its capacity, entries.
    pub capacity: u64,
    /// Lookups that found their key.
    pub hits: u64,
    /// Lookups that did not (each stored its key and paid `miss_cost`).
    pub misses: u64,
    /// hits / (hits + misses).
    pub hit_ratio: f64,
    /// Entries stored.
    pub inserts: u64,
    /// Entries that left, by cause.
    pub evictions: EvictionsReport,
    /// Entries held at the end.
    pub entries: u64,
}

/// Evictions by cause, as `tidepool_cache_evictions_total{cause}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EvictionsReport {
    /// To make room.
    pub size: u64,
    /// Past their time to live.
    pub expired: u64,
    /// Removed on purpose.
    pub explicit: u64,
    /// Overwritten.
    pub replaced: u64,
}

/// The locks' and the cache's figures of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SystemFigures {
    /// Per lock and side.
    pub locks: Vec<LockReport>,
    /// The cache, if the workload has one.
    pub cache: Option<CacheReport>,
}

impl SystemFigures {
    /// Reads the figures of `system`'s real locks and cache now.
    pub(crate) fn of(system: &System) -> SystemFigures {
        let mut locks = Vec::new();
        for (spec, lock) in &system.locks {
            let rows: Vec<_> = match lock {
                SimLock::Mutex(m) => vec![(m.snapshot(), m.histograms())],
                SimLock::RwLock(l) => {
                    let [w, r] = l.snapshots();
                    let [hw, hr] = l.histograms();
                    vec![(w, hw), (r, hr)]
                }
            };
            for (snap, (waits, holds)) in rows {
                if spec.kind == LockKind::Rwlock && snap.acquisitions == 0 {
                    continue;
                }
                let secs = |d: Duration| d.as_secs_f64();
                let per = |total: Duration, n: u64| if n == 0 { 0.0 } else { total.as_secs_f64() / n as f64 };
                locks.push(LockReport {
                    name: spec.name.clone(),
                    kind: spec.kind,
                    mode: snap.mode.as_str().into(),
                    acquisitions: snap.acquisitions,
                    contentions: snap.contentions,
                    contention_rate: if snap.acquisitions == 0 {
                        0.0
                    } else {
                        snap.contentions as f64 / snap.acquisitions as f64
                    },
                    owner_changes: snap.owner_changes,
                    timeouts: snap.timeouts,
                    wait_mean: per(snap.wait_total, snap.acquisitions),
                    // Bucket quantiles interpolate: never past the exact max.
                    wait_p50: waits.quantile(0.5).min(secs(snap.wait_max)),
                    wait_p99: waits.quantile(0.99).min(secs(snap.wait_max)),
                    wait_max: secs(snap.wait_max),
                    hold_mean: per(snap.hold_total, snap.acquisitions),
                    hold_p50: holds.quantile(0.5).min(secs(snap.hold_max)),
                    hold_p99: holds.quantile(0.99).min(secs(snap.hold_max)),
                    hold_max: secs(snap.hold_max),
                });
            }
        }
        let cache = system.cache.as_ref().map(|c| {
            let stats = c.cache.publish();
            let e = stats.evictions;
            CacheReport {
                name: c.spec.name.clone(),
                capacity: c.spec.capacity,
                hits: stats.hits,
                misses: stats.misses,
                hit_ratio: stats.hit_ratio(),
                inserts: stats.inserts,
                evictions: EvictionsReport {
                    size: e.size,
                    expired: e.expired,
                    explicit: e.explicit,
                    replaced: e.replaced,
                },
                entries: c.cache.entry_count(),
            }
        });
        SystemFigures { locks, cache }
    }
}
