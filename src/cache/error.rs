//! Errors of building a cache.

use std::time::Duration;

/// Why a cache could not be built. Each message says what to change.
///
/// # Examples
///
/// ```
/// use tidepool::cache::{BuildError, Cache};
///
/// let err = Cache::<u64, u64>::builder("c").build().unwrap_err();
/// assert!(matches!(err, BuildError::MissingCapacity));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The cache name is empty.
    #[error("the cache name must not be empty")]
    EmptyName,
    /// Neither `max_entries` nor `max_bytes` was called.
    #[error("no capacity: call CacheBuilder::max_entries or CacheBuilder::max_bytes (unbounded caches are not offered)")]
    MissingCapacity,
    /// The capacity is zero: such a cache would store nothing.
    #[error("invalid capacity: {setting}(0) would store nothing; give it at least 1")]
    ZeroCapacity {
        /// The builder setting: `max_entries` or `max_bytes`.
        setting: &'static str,
    },
    /// A duration setting is beyond its allowed range.
    #[error("invalid {field}: {value:?} is outside {min:?}..={max:?}")]
    InvalidDuration {
        /// The builder setting, e.g. `time_to_live`.
        field: &'static str,
        /// The requested value.
        value: Duration,
        /// Smallest allowed value.
        min: Duration,
        /// Largest allowed value.
        max: Duration,
    },
}
