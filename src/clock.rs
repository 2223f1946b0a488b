//! One clock for the whole crate: real by default, virtual inside the simulator.
//!
//! Every timestamp tidepool takes — acquire waits, hold times, idle and lifetime
//! expiry, the sizing interval, leak detection — is read from a [`Clock`].
//! A pool built on [`Clock::system`] runs on the machine's monotonic clock; the
//! simulator builds the very same pool on a [`Clock::manual`] and moves time
//! itself, so virtual-time runs exercise the production code path.
//!
//! Timestamps are plain nanoseconds since the clock's epoch (`u64`), which keeps
//! them storable in atomics.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use tidepool::clock::Clock;
//!
//! let (clock, handle) = Clock::manual();
//! assert_eq!(clock.now_nanos(), 0);
//! handle.advance(Duration::from_secs(2));
//! assert_eq!(clock.now(), Duration::from_secs(2));
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A source of monotonic time, in nanoseconds since an arbitrary epoch.
///
/// Implement it to drive tidepool from a clock of your own (a simulation
/// framework's, say); [`Clock::system`] and [`Clock::manual`] cover the usual
/// cases.
pub trait TimeSource: Send + Sync + fmt::Debug {
    /// Nanoseconds since this source's epoch. Should never go backwards; one
    /// that steps back (an NTP step, a restored VM) is tolerated: durations
    /// measured across the step saturate at zero (tests/pool_faults.rs).
    fn now_nanos(&self) -> u64;
}

/// A cheaply cloneable handle to a time source.
///
/// The system variant reads the CPU's time-stamp counter through `quanta`
/// (a few nanoseconds, against tens for `Instant::now` on many machines), so
/// reading it on the pool's fast path is affordable.
#[derive(Clone)]
pub struct Clock {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    System { clock: quanta::Clock, epoch: quanta::Instant },
    Manual(Arc<AtomicU64>),
    Custom(Arc<dyn TimeSource>),
}

impl Clock {
    /// The machine's monotonic clock; its epoch is the moment of this call.
    ///
    /// # Examples
    ///
    /// ```
    /// let clock = tidepool::clock::Clock::system();
    /// let a = clock.now_nanos();
    /// assert!(clock.now_nanos() >= a);
    /// ```
    pub fn system() -> Self {
        // Miri cannot run `cpuid` (quanta's calibration): a frozen clock
        // there, for the tests that check the pool's unsafe code.
        #[cfg(miri)]
        let clock = quanta::Clock::mock().0;
        #[cfg(not(miri))]
        let clock = quanta::Clock::new();
        let epoch = clock.now();
        Clock { kind: Kind::System { clock, epoch } }
    }

    /// A clock that only moves when told to, and the handle that moves it.
    ///
    /// Starts at zero. The simulator owns the handle; everything reading the
    /// clock sees the jumps.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let (clock, handle) = tidepool::clock::Clock::manual();
    /// handle.set(Duration::from_millis(1500));
    /// assert_eq!(clock.now_nanos(), 1_500_000_000);
    /// ```
    pub fn manual() -> (Self, ManualClock) {
        let nanos = Arc::new(AtomicU64::new(0));
        (Clock { kind: Kind::Manual(Arc::clone(&nanos)) }, ManualClock { nanos })
    }

    /// A clock reading a [`TimeSource`] of your own.
    ///
    /// # Examples
    ///
    /// ```
    /// use tidepool::clock::{Clock, TimeSource};
    /// #[derive(Debug)]
    /// struct Frozen;
    /// impl TimeSource for Frozen {
    ///     fn now_nanos(&self) -> u64 { 42 }
    /// }
    /// assert_eq!(Clock::custom(Frozen).now_nanos(), 42);
    /// ```
    pub fn custom(source: impl TimeSource + 'static) -> Self {
        Clock { kind: Kind::Custom(Arc::new(source)) }
    }

    /// Nanoseconds since this clock's epoch.
    #[inline]
    pub fn now_nanos(&self) -> u64 {
        match &self.kind {
            Kind::System { clock, epoch } => {
                let nanos = clock.now().saturating_duration_since(*epoch).as_nanos();
                u64::try_from(nanos).unwrap_or(u64::MAX)
            }
            Kind::Manual(nanos) => nanos.load(Ordering::Acquire),
            Kind::Custom(source) => source.now_nanos(),
        }
    }

    /// Time since this clock's epoch.
    #[inline]
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.now_nanos())
    }

    /// Whether this is the real clock (blocking and async waits can sleep on it).
    pub fn is_system(&self) -> bool {
        matches!(self.kind, Kind::System { .. })
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::System { .. } => "system",
            Kind::Manual(_) => "manual",
            Kind::Custom(_) => "custom",
        };
        f.debug_struct("Clock").field("kind", &kind).field("now_nanos", &self.now_nanos()).finish()
    }
}

/// The handle that moves a [`Clock::manual`] clock.
///
/// Time never goes backwards: [`ManualClock::set`] to an earlier instant is
/// ignored, which keeps every reader's durations non-negative.
#[derive(Debug, Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self.nanos.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some(n.saturating_add(by)));
    }

    /// Moves time to `to` since the epoch, if that is not in the past.
    pub fn set(&self, to: Duration) {
        let to = u64::try_from(to.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_max(to, Ordering::AcqRel);
    }

    /// As [`ManualClock::set`], in nanoseconds (the simulator's hot path).
    ///
    /// ```
    /// let (clock, handle) = tidepool::clock::Clock::manual();
    /// handle.set_nanos(1_500);
    /// assert_eq!(clock.now_nanos(), 1_500);
    /// ```
    #[inline]
    pub fn set_nanos(&self, to: u64) {
        // One writer (the simulator) moves time forward: a plain store when
        // `to` is ahead keeps the hot path free of read-modify-write.
        if to > self.nanos.load(Ordering::Acquire) {
            self.nanos.store(to, Ordering::Release);
        }
    }

    /// The current reading, as [`Clock::now`] would give it.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_never_goes_backwards() {
        let (clock, handle) = Clock::manual();
        handle.set(Duration::from_secs(10));
        handle.set(Duration::from_secs(5));
        assert_eq!(clock.now(), Duration::from_secs(10));
        handle.advance(Duration::from_millis(1));
        assert_eq!(clock.now_nanos(), 10_001_000_000);
    }

    #[test]
    fn system_clock_moves_forward() {
        let clock = Clock::system();
        let a = clock.now_nanos();
        std::thread::sleep(Duration::from_millis(2));
        let b = clock.now_nanos();
        assert!(b >= a + 1_000_000, "{a} -> {b}");
    }
}
