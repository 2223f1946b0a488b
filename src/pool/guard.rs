//! [`PoolGuard`]: the RAII handle that returns an object to its pool.

use std::fmt;
use std::ops::{Deref, DerefMut};

use super::custody::StateRef;
use super::{Entry, Inner};

/// An object checked out of a [`super::Pool`]; returned to the pool on drop.
///
/// On return the recycle hook runs (a failure destroys the object), and an
/// object whose holder is panicking is destroyed rather than reused — its
/// state may be half-updated. The pool itself is never poisoned.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = tidepool::pool::Pool::builder("p").min_size(1).max_size(1).factory(|| Ok(vec![1, 2])).build()?;
/// let guard = pool.acquire_blocking()?;
/// assert_eq!(guard.len(), 2);
/// let owned: Vec<i32> = guard.detach(); // leaves the pool for good
/// assert_eq!(pool.status().size, 0);
/// # let _ = owned; Ok(()) }
/// ```
pub struct PoolGuard<T: Send + 'static> {
    /// Always `Some` until `drop` or `detach` takes it; both consume the guard.
    entry: Option<Entry<T>>,
    /// The pool's state, kept alive for this guard by the guard count
    /// ([`super::custody`]), not by a reference count of its own. Dropped
    /// after `drop` below has returned the object.
    pool: StateRef<T>,
    /// When the object was handed out, if its hold is timed.
    checkout_ns: Option<u64>,
    /// When the acquire started (for the trace recorder).
    start_ns: u64,
    fresh: bool,
}

impl<T: Send + 'static> PoolGuard<T> {
    pub(crate) fn new(
        pool: StateRef<T>,
        entry: Entry<T>,
        start_ns: u64,
        checkout_ns: Option<u64>,
        fresh: bool,
    ) -> Self {
        PoolGuard { entry: Some(entry), pool, checkout_ns, start_ns, fresh }
    }

    /// Whether this acquire created the object (rather than reusing an idle
    /// one). The simulator charges creation time to such acquires.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = tidepool::pool::Pool::builder("p").min_size(1).max_size(2).factory(|| Ok(0)).build()?;
    /// let first = pool.acquire_blocking()?; // the prewarmed object
    /// let second = pool.acquire_blocking()?; // created on demand
    /// assert!(!first.is_fresh() && second.is_fresh());
    /// # Ok(()) }
    /// ```
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    fn pool(&self) -> &Inner<T> {
        self.pool.get()
    }

    fn entry(&self) -> &Entry<T> {
        match &self.entry {
            Some(entry) => entry,
            None => unreachable!("a live guard always holds its entry"),
        }
    }

    /// Takes the object out of the pool for good. The pool counts it as
    /// destroyed (`reason="detached"`) and may create a replacement.
    pub fn detach(mut self) -> T {
        // `drop` then finds no entry; the guard leaves the count as it goes.
        match self.entry.take() {
            Some(entry) => self.pool().detach(entry, self.checkout_ns),
            None => unreachable!("a live guard always holds its entry"),
        }
    }
}

impl<T: Send + 'static> Deref for PoolGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.entry().value
    }
}

impl<T: Send + 'static> DerefMut for PoolGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.entry {
            Some(entry) => &mut entry.value,
            None => unreachable!("a live guard always holds its entry"),
        }
    }
}

impl<T: Send + 'static> Drop for PoolGuard<T> {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.pool().check_in(entry, self.start_ns, self.checkout_ns);
        }
    }
}

impl<T: Send + fmt::Debug + 'static> fmt::Debug for PoolGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolGuard")
            .field("pool", &self.pool().name)
            .field("value", &self.entry().value)
            .finish()
    }
}
