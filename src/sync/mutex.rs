//! [`ProfiledMutex`]: `parking_lot::Mutex` with wait, hold and contention
//! figures.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use super::{LockMode, LockOptions, LockShared, LockSnapshot, Taker, WaitHistogram};

const EXCLUSIVE: usize = 0;

/// A named mutual-exclusion lock that measures itself (see the
/// [module docs](super) for what is measured and what it costs).
///
/// Same shape as `parking_lot::Mutex`: no poisoning — a holder that panics
/// releases the lock and the counts stay consistent.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tidepool::sync::ProfiledMutex;
///
/// let hits = Arc::new(ProfiledMutex::new("hits", 0u64));
/// let threads: Vec<_> = (0..4)
///     .map(|_| {
///         let hits = Arc::clone(&hits);
///         std::thread::spawn(move || {
///             for _ in 0..1000 {
///                 *hits.lock() += 1;
///             }
///         })
///     })
///     .collect();
/// for t in threads {
///     t.join().unwrap();
/// }
/// assert_eq!(*hits.lock(), 4000);
/// assert_eq!(hits.snapshot().acquisitions, 4001);
/// ```
pub struct ProfiledMutex<T: ?Sized> {
    shared: Arc<LockShared>,
    inner: parking_lot::Mutex<T>,
}

/// The guard of a [`ProfiledMutex`]; releases the lock on drop.
#[must_use = "if unused the lock is released at once"]
pub struct ProfiledMutexGuard<'a, T: ?Sized> {
    inner: parking_lot::MutexGuard<'a, T>,
    shared: &'a LockShared,
    /// (When the acquire began, when the hold began), if this hold is sampled.
    hold_start: Option<(u64, u64)>,
}

impl<T> ProfiledMutex<T> {
    /// A mutex called `name` (the `lock` label) with default options:
    /// one hold in 64 sampled, 10 ms slow threshold, the system clock.
    pub fn new(name: impl Into<String>, value: T) -> Self {
        Self::with_options(name, value, LockOptions::default())
    }

    /// A mutex with explicit [`LockOptions`].
    pub fn with_options(name: impl Into<String>, value: T, options: LockOptions) -> Self {
        ProfiledMutex {
            shared: LockShared::new(name.into(), &[LockMode::Exclusive], options),
            inner: parking_lot::Mutex::new(value),
        }
    }

    /// Consumes the mutex, returning the value.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> ProfiledMutex<T> {
    /// Acquires the lock, blocking until it is free.
    #[inline]
    pub fn lock(&self) -> ProfiledMutexGuard<'_, T> {
        if let Some(inner) = self.inner.try_lock() {
            return self.acquired(inner, None);
        }
        match self.shared.contended(EXCLUSIVE, true, || Some(self.inner.lock())) {
            Some((inner, span)) => self.acquired(inner, Some(span)),
            None => unreachable!("a blocking acquire never gives up"),
        }
    }

    /// Acquires the lock if it is free now.
    #[inline]
    pub fn try_lock(&self) -> Option<ProfiledMutexGuard<'_, T>> {
        self.inner.try_lock().map(|inner| self.acquired(inner, None))
    }

    /// Acquires the lock, waiting at most `timeout`; a give-up is counted.
    pub fn try_lock_for(&self, timeout: Duration) -> Option<ProfiledMutexGuard<'_, T>> {
        if let Some(inner) = self.inner.try_lock() {
            return Some(self.acquired(inner, None));
        }
        self.shared
            .contended(EXCLUSIVE, true, || self.inner.try_lock_for(timeout))
            .map(|(inner, span)| self.acquired(inner, Some(span)))
    }

    /// Acquires the lock for `taker` if it is free now, without blocking:
    /// for callers that queue themselves (see [`Taker`]). A taker that has
    /// been waiting counts as a contended acquisition, its wait measured
    /// from [`Taker::waiting_since`].
    #[inline]
    pub fn try_lock_by(&self, taker: Taker) -> Option<ProfiledMutexGuard<'_, T>> {
        let inner = self.inner.try_lock()?;
        let span = self.shared.queued(EXCLUSIVE, taker.since, true);
        let sampled = self.shared.acquired_exclusive_by(EXCLUSIVE, taker.owner);
        let hold_start = if sampled { Some(span.unwrap_or_else(|| self.shared.now_span())) } else { None };
        Some(ProfiledMutexGuard { inner, shared: &self.shared, hold_start })
    }

    /// Waits (all acquisitions: the uncontended in the first bucket) and
    /// measured holds, in the buckets of `tidepool_lock_wait_seconds`.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = tidepool::sync::ProfiledMutex::new("hist", ());
    /// drop(m.lock());
    /// let (waits, _holds) = m.histograms();
    /// assert_eq!(waits.count(), 1);
    /// assert_eq!(waits.counts[0], 1); // waited 0: the first bucket (up to 10 us)
    /// ```
    pub fn histograms(&self) -> (WaitHistogram, WaitHistogram) {
        self.shared.histograms(EXCLUSIVE)
    }

    /// A mutable reference without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// This lock's figures now.
    pub fn snapshot(&self) -> LockSnapshot {
        self.shared.snapshots().swap_remove(EXCLUSIVE)
    }

    #[inline(always)]
    fn acquired<'a>(
        &'a self,
        inner: parking_lot::MutexGuard<'a, T>,
        now: Option<(u64, u64)>,
    ) -> ProfiledMutexGuard<'a, T> {
        let sampled = self.shared.acquired_exclusive(EXCLUSIVE);
        let hold_start = if sampled { Some(now.unwrap_or_else(|| self.shared.now_span())) } else { None };
        ProfiledMutexGuard { inner, shared: &self.shared, hold_start }
    }
}

impl<T: ?Sized> Drop for ProfiledMutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(start) = self.hold_start {
            // Still held here: the inner guard drops after this.
            self.shared.held(EXCLUSIVE, start, true);
        }
    }
}

impl<T: ?Sized> Deref for ProfiledMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for ProfiledMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ProfiledMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfiledMutex").field("name", &self.shared.name).finish_non_exhaustive()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ProfiledMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
