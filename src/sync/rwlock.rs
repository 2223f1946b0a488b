//! [`ProfiledRwLock`]: `parking_lot::RwLock` with per-side figures.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use super::{LockMode, LockOptions, LockShared, LockSnapshot, Taker, WaitHistogram};

const WRITE: usize = 0;
const READ: usize = 1;

/// A named reader-writer lock that measures its write side (`exclusive`)
/// and read side (`shared`) separately.
///
/// # Examples
///
/// ```
/// use tidepool::sync::{LockMode, ProfiledRwLock};
///
/// let config = ProfiledRwLock::new("config", String::from("v1"));
/// assert_eq!(config.read().as_str(), "v1");
/// config.write().push('!');
/// let [write, read] = config.snapshots();
/// assert_eq!((write.mode, write.acquisitions), (LockMode::Exclusive, 1));
/// assert_eq!((read.mode, read.acquisitions), (LockMode::Shared, 1));
/// ```
pub struct ProfiledRwLock<T: ?Sized> {
    shared: Arc<LockShared>,
    inner: parking_lot::RwLock<T>,
}

/// Shared access to a [`ProfiledRwLock`]'s value; released on drop.
#[must_use = "if unused the lock is released at once"]
pub struct ProfiledRwLockReadGuard<'a, T: ?Sized> {
    inner: parking_lot::RwLockReadGuard<'a, T>,
    shared: &'a LockShared,
    hold_start: Option<(u64, u64)>,
}

/// Exclusive access to a [`ProfiledRwLock`]'s value; released on drop.
#[must_use = "if unused the lock is released at once"]
pub struct ProfiledRwLockWriteGuard<'a, T: ?Sized> {
    inner: parking_lot::RwLockWriteGuard<'a, T>,
    shared: &'a LockShared,
    hold_start: Option<(u64, u64)>,
}

impl<T> ProfiledRwLock<T> {
    /// A reader-writer lock called `name` with default [`LockOptions`].
    pub fn new(name: impl Into<String>, value: T) -> Self {
        Self::with_options(name, value, LockOptions::default())
    }

    /// A reader-writer lock with explicit [`LockOptions`].
    pub fn with_options(name: impl Into<String>, value: T, options: LockOptions) -> Self {
        ProfiledRwLock {
            shared: LockShared::new(name.into(), &[LockMode::Exclusive, LockMode::Shared], options),
            inner: parking_lot::RwLock::new(value),
        }
    }

    /// Consumes the lock, returning the value.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> ProfiledRwLock<T> {
    /// Shared access, blocking while a writer holds the lock.
    #[inline]
    pub fn read(&self) -> ProfiledRwLockReadGuard<'_, T> {
        if let Some(inner) = self.inner.try_read() {
            return self.read_acquired(inner, None);
        }
        match self.shared.contended(READ, false, || Some(self.inner.read())) {
            Some((inner, span)) => self.read_acquired(inner, Some(span)),
            None => unreachable!("a blocking acquire never gives up"),
        }
    }

    /// Shared access if available now.
    #[inline]
    pub fn try_read(&self) -> Option<ProfiledRwLockReadGuard<'_, T>> {
        self.inner.try_read().map(|inner| self.read_acquired(inner, None))
    }

    /// Shared access, waiting at most `timeout`; a give-up is counted.
    pub fn try_read_for(&self, timeout: Duration) -> Option<ProfiledRwLockReadGuard<'_, T>> {
        if let Some(inner) = self.inner.try_read() {
            return Some(self.read_acquired(inner, None));
        }
        self.shared
            .contended(READ, false, || self.inner.try_read_for(timeout))
            .map(|(inner, span)| self.read_acquired(inner, Some(span)))
    }

    /// Exclusive access, blocking while anyone holds the lock.
    #[inline]
    pub fn write(&self) -> ProfiledRwLockWriteGuard<'_, T> {
        if let Some(inner) = self.inner.try_write() {
            return self.write_acquired(inner, None);
        }
        match self.shared.contended(WRITE, true, || Some(self.inner.write())) {
            Some((inner, span)) => self.write_acquired(inner, Some(span)),
            None => unreachable!("a blocking acquire never gives up"),
        }
    }

    /// Exclusive access if available now.
    #[inline]
    pub fn try_write(&self) -> Option<ProfiledRwLockWriteGuard<'_, T>> {
        self.inner.try_write().map(|inner| self.write_acquired(inner, None))
    }

    /// Exclusive access, waiting at most `timeout`; a give-up is counted.
    pub fn try_write_for(&self, timeout: Duration) -> Option<ProfiledRwLockWriteGuard<'_, T>> {
        if let Some(inner) = self.inner.try_write() {
            return Some(self.write_acquired(inner, None));
        }
        self.shared
            .contended(WRITE, true, || self.inner.try_write_for(timeout))
            .map(|(inner, span)| self.write_acquired(inner, Some(span)))
    }

    /// Takes the read side for `taker` if it is free now, without
    /// blocking (see [`Taker`]); a taker that has waited counts as contended.
    #[inline]
    pub fn try_read_by(&self, taker: Taker) -> Option<ProfiledRwLockReadGuard<'_, T>> {
        let inner = self.inner.try_read()?;
        let span = self.shared.queued(READ, taker.since, false);
        let sampled = self.shared.acquired_shared(READ);
        let hold_start = if sampled { Some(span.unwrap_or_else(|| self.shared.now_span())) } else { None };
        Some(ProfiledRwLockReadGuard { inner, shared: &self.shared, hold_start })
    }

    /// Takes the write side for `taker` if it is free now, without
    /// blocking (see [`Taker`]); a taker that has waited counts as contended.
    #[inline]
    pub fn try_write_by(&self, taker: Taker) -> Option<ProfiledRwLockWriteGuard<'_, T>> {
        let inner = self.inner.try_write()?;
        let span = self.shared.queued(WRITE, taker.since, true);
        let sampled = self.shared.acquired_exclusive_by(WRITE, taker.owner);
        let hold_start = if sampled { Some(span.unwrap_or_else(|| self.shared.now_span())) } else { None };
        Some(ProfiledRwLockWriteGuard { inner, shared: &self.shared, hold_start })
    }

    /// Waits (all acquisitions) and measured holds of the write side
    /// (`[0]`) and the read side (`[1]`), as [`ProfiledMutex::histograms`](super::ProfiledMutex::histograms).
    pub fn histograms(&self) -> [(WaitHistogram, WaitHistogram); 2] {
        [self.shared.histograms(WRITE), self.shared.histograms(READ)]
    }

    /// A mutable reference without locking.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// This lock's figures now: `[write side, read side]`.
    pub fn snapshots(&self) -> [LockSnapshot; 2] {
        let mut rows = self.shared.snapshots().into_iter();
        match (rows.next(), rows.next()) {
            (Some(write), Some(read)) => [write, read],
            _ => unreachable!("an RwLock registers two modes"),
        }
    }

    #[inline(always)]
    fn read_acquired<'a>(
        &'a self,
        inner: parking_lot::RwLockReadGuard<'a, T>,
        now: Option<(u64, u64)>,
    ) -> ProfiledRwLockReadGuard<'a, T> {
        let sampled = self.shared.acquired_shared(READ);
        let hold_start = if sampled { Some(now.unwrap_or_else(|| self.shared.now_span())) } else { None };
        ProfiledRwLockReadGuard { inner, shared: &self.shared, hold_start }
    }

    #[inline(always)]
    fn write_acquired<'a>(
        &'a self,
        inner: parking_lot::RwLockWriteGuard<'a, T>,
        now: Option<(u64, u64)>,
    ) -> ProfiledRwLockWriteGuard<'a, T> {
        let sampled = self.shared.acquired_exclusive(WRITE);
        let hold_start = if sampled { Some(now.unwrap_or_else(|| self.shared.now_span())) } else { None };
        ProfiledRwLockWriteGuard { inner, shared: &self.shared, hold_start }
    }
}

impl<T: ?Sized> Drop for ProfiledRwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(start) = self.hold_start {
            self.shared.held(READ, start, false);
        }
    }
}

impl<T: ?Sized> Drop for ProfiledRwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(start) = self.hold_start {
            self.shared.held(WRITE, start, true);
        }
    }
}

impl<T: ?Sized> Deref for ProfiledRwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> Deref for ProfiledRwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for ProfiledRwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ProfiledRwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfiledRwLock").field("name", &self.shared.name).finish_non_exhaustive()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ProfiledRwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ProfiledRwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
