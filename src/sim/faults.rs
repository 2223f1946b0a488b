//! The workload's faults as the runs inject them: the modeled factory
//! (failures, outages, panics, creation time) and the holders' faults
//! (slow, stall, leak, panic, abandon, clock jumps) as windows of time.
//! The engine and the wall runner draw them the same way.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::schedule::ns;
use super::workload::{FaultKind, Sampler, Workload};
use crate::clock::Clock;

/// What the factory does, set by the workload's failure probability and
/// outage windows. Shared with the pool's factory closure.
#[derive(Debug)]
pub(crate) struct FactoryModel {
    failure: f64,
    outages: Vec<(u64, u64)>,
    panics: Vec<(u64, u64, f64)>,
    /// Panics injected so far.
    panicked: std::sync::atomic::AtomicU64,
    rng: Mutex<SmallRng>,
    clock: Clock,
    /// The run's start on `clock` (outage windows count from it).
    origin: std::sync::atomic::AtomicU64,
    /// Creation takes this long, for real (wall-clock runs; the engine
    /// charges creation time in virtual time instead).
    create_time: Option<Sampler>,
    armed: AtomicBool,
    next_id: std::sync::atomic::AtomicU64,
}

impl FactoryModel {
    /// The factory `workload` describes, reading `clock`.
    pub(crate) fn new(workload: &Workload, clock: Clock, sleep_create_time: bool) -> FactoryModel {
        let outages = workload
            .faults
            .iter()
            .filter(|f| matches!(f.kind, FaultKind::FactoryOutage))
            .map(|f| (ns(f.at), f.end().map_or(u64::MAX, ns)))
            .collect();
        let panics = workload
            .faults
            .iter()
            .filter_map(|f| match f.kind {
                FaultKind::FactoryPanic { probability } => {
                    Some((ns(f.at), f.end().map_or(u64::MAX, ns), probability))
                }
                _ => None,
            })
            .collect();
        let create_time =
            workload.pool.model.create_time.as_ref().filter(|_| sleep_create_time).map(|d| d.sampler());
        FactoryModel {
            failure: workload.pool.model.factory_failure,
            outages,
            panics,
            panicked: std::sync::atomic::AtomicU64::new(0),
            // A stream of its own, so factory draws never shift the others.
            rng: Mutex::new(SmallRng::seed_from_u64(workload.seed ^ 0x9E37_79B9_7F4A_7C15)),
            clock,
            origin: std::sync::atomic::AtomicU64::new(0),
            create_time,
            armed: AtomicBool::new(false),
            next_id: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Starts counting outage windows from `origin` and arms the faults.
    pub(crate) fn arm(&self, origin: u64) {
        self.origin.store(origin, Ordering::Relaxed);
        self.armed.store(true, Ordering::Relaxed);
    }

    /// Factory panics injected so far.
    pub(crate) fn panics(&self) -> u64 {
        self.panicked.load(Ordering::Relaxed)
    }

    /// One modeled factory call: the creation time (when slept), the
    /// faults, and the new object's id.
    pub(crate) fn create(&self) -> Result<u64, crate::pool::BoxError> {
        if let Some(create) = &self.create_time {
            let d = create.sample_ns(&mut *self.rng.lock());
            std::thread::sleep(std::time::Duration::from_nanos(d));
        }
        self.inject()?;
        Ok(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// The factory faults of a call now, before a real factory runs: an
    /// outage or a failure is an error, a `factory_panic` panics. Also a
    /// fresh object id.
    pub(crate) fn inject_for(&self) -> Result<u64, crate::pool::BoxError> {
        self.inject()?;
        Ok(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    fn inject(&self) -> Result<(), crate::pool::BoxError> {
        if self.armed.load(Ordering::Relaxed) {
            let now = self.clock.now_nanos().saturating_sub(self.origin.load(Ordering::Relaxed));
            if self.outages.iter().any(|&(a, b)| now >= a && now < b) {
                return Err("factory outage (injected fault)".into());
            }
            if !self.panics.is_empty() && fires(&self.panics, now, &mut self.rng.lock()) {
                self.panicked.fetch_add(1, Ordering::Relaxed);
                std::panic::panic_any(InjectedPanic("factory_panic"));
            }
            if self.failure > 0.0 && self.rng.lock().random::<f64>() < self.failure {
                return Err("factory failure (injected, factory_failure)".into());
            }
        }
        Ok(())
    }
}

/// The payload of every panic tidepool injects (`factory_panic`,
/// `holder_panic`): the simulator's panic hook keeps them off stderr, and
/// nothing else may be caught silently.
#[derive(Debug, Clone, Copy)]
pub struct InjectedPanic(pub &'static str);

/// Installs, once per process, a panic hook that stays silent for an
/// [`InjectedPanic`] and hands every other panic to the hook before it.
pub(crate) fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<InjectedPanic>() {
                previous(info);
            }
        }));
    });
}

/// A holder panics with `guard` in hand: the guard drops during unwinding,
/// and the pool must destroy, not reuse, the object.
pub(crate) fn panic_holding<G: Send>(guard: G) {
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _guard = guard;
        std::panic::panic_any(InjectedPanic("holder_panic"));
    }));
    debug_assert!(unwound.is_err());
}

/// Whether a window `(from, to, probability)` around `now` fires, drawing
/// from `rng` only inside a window (runs without the fault draw nothing).
#[inline]
fn fires(windows: &[(u64, u64, f64)], now: u64, rng: &mut SmallRng) -> bool {
    windows.iter().any(|&(a, b, p)| now >= a && now < b && rng.random::<f64>() < p)
}

/// The workload's hold-time, holder and memory faults, as windows in ns.
pub(crate) struct Window {
    slow: Vec<(u64, u64, f64)>,
    stall: Vec<(u64, u64)>,
    leak: Vec<(u64, u64, u64)>,
    holder_panic: Vec<(u64, u64, f64)>,
    abandon: Vec<(u64, u64, f64)>,
    /// Clock jumps: `[from, to)` skipped.
    pub(crate) pauses: Vec<(u64, u64)>,
    /// Draws of the holder faults, a stream of their own (locked only
    /// inside a fault's window).
    rng: Mutex<SmallRng>,
}

impl Window {
    pub(crate) fn of(workload: &Workload) -> Window {
        let mut faults = Window {
            slow: Vec::new(),
            stall: Vec::new(),
            leak: Vec::new(),
            holder_panic: Vec::new(),
            abandon: Vec::new(),
            pauses: Vec::new(),
            rng: Mutex::new(SmallRng::seed_from_u64(workload.seed ^ 0xD1B5_4A32_D192_ED03)),
        };
        for f in &workload.faults {
            let (a, b) = (ns(f.at), f.end().map_or(u64::MAX, ns));
            match f.kind {
                FaultKind::Slow { factor } => faults.slow.push((a, b, factor)),
                FaultKind::Stall => faults.stall.push((a, b)),
                FaultKind::Leak { bytes_per_op } => faults.leak.push((a, b, bytes_per_op)),
                FaultKind::HolderPanic { probability } => faults.holder_panic.push((a, b, probability)),
                FaultKind::Abandon { probability } => faults.abandon.push((a, b, probability)),
                FaultKind::ClockJump { .. } => faults.pauses.push((a, b)),
                FaultKind::FactoryOutage | FaultKind::FactoryPanic { .. } => {}
            }
        }
        faults
    }

    /// Whether the holder whose hold ends at `now` panics while holding.
    #[inline]
    pub(crate) fn holder_panics(&self, now: u64) -> bool {
        !self.holder_panic.is_empty() && fires(&self.holder_panic, now, &mut self.rng.lock())
    }

    /// Whether the holder served at `now` never returns its object.
    #[inline]
    pub(crate) fn abandons(&self, now: u64) -> bool {
        !self.abandon.is_empty() && fires(&self.abandon, now, &mut self.rng.lock())
    }

    /// Whether the workload jumps the clock (virtual time only).
    pub(crate) fn jumps_clock(&self) -> bool {
        !self.pauses.is_empty()
    }

    /// When an event due at `at` happens: at the end of a clock jump that
    /// skips it, else at `at`.
    #[inline]
    pub(crate) fn resume_at(&self, at: u64) -> u64 {
        self.pauses.iter().fold(at, |t, &(a, b)| if t >= a && t < b { b } else { t })
    }

    /// Whether any leak window exists.
    #[inline]
    pub(crate) fn leaks(&self) -> bool {
        !self.leak.is_empty()
    }

    /// Bytes an operation arriving at `now` leaks.
    #[inline]
    pub(crate) fn leak_at(&self, now: u64) -> u64 {
        self.leak
            .iter()
            .filter(|&&(a, b, _)| now >= a && now < b)
            .fold(0u64, |s, &(_, _, x)| s.saturating_add(x))
    }

    /// When an object ready at `ready` for `hold` ns is returned: a slow
    /// window multiplies the hold, a stall window holds every release due
    /// inside it until its end.
    #[inline]
    pub(crate) fn release_at(&self, ready: u64, hold: u64) -> u64 {
        let mut hold = hold;
        for &(a, b, factor) in &self.slow {
            if ready >= a && ready < b {
                hold = (hold as f64 * factor).min(u64::MAX as f64 / 2.0) as u64;
            }
        }
        let mut release = ready.saturating_add(hold);
        for &(a, b) in &self.stall {
            if release >= a && release < b {
                release = b;
            }
        }
        release
    }
}
