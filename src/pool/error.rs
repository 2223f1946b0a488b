//! Errors of building a pool and of acquiring from it.

use std::time::Duration;

/// The error a factory returns: anything that can cross threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a pool could not be built. Each message says what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `min_size`/`max_size` break `1 ≤ min ≤ max ≤ 4096`.
    #[error("invalid pool size: min_size {min} and max_size {max} must satisfy 1 <= min_size <= max_size <= {cap}")]
    InvalidSize {
        /// The requested minimum.
        min: usize,
        /// The requested maximum.
        max: usize,
        /// The hard cap, [`super::MAX_POOL_SIZE`].
        cap: usize,
    },
    /// A duration setting is zero or beyond its allowed range.
    #[error("invalid {field}: {value:?} is outside {min:?}..={max:?}")]
    InvalidDuration {
        /// The builder setting, e.g. `acquire_timeout`.
        field: &'static str,
        /// The requested value.
        value: Duration,
        /// Smallest allowed value.
        min: Duration,
        /// Largest allowed value.
        max: Duration,
    },
    /// A ratio setting is not finite or outside `(0, 1]`.
    #[error("invalid {field}: {value} must be in (0, 1]")]
    InvalidRatio {
        /// The builder setting.
        field: &'static str,
        /// The requested value.
        value: f64,
    },
    /// No factory was given.
    #[error("no factory: call PoolBuilder::factory or PoolBuilder::async_factory")]
    MissingFactory,
    /// The pool name is empty.
    #[error("the pool name must not be empty")]
    EmptyName,
    /// Creating the `min_size` prewarm objects failed.
    #[error("prewarm of pool {pool:?} failed: {source}")]
    Prewarm {
        /// The pool's name.
        pool: String,
        /// The first factory failure.
        #[source]
        source: AcquireError,
    },
    /// The maintenance thread could not be started.
    #[error("could not start the maintenance thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl BuildError {
    /// The [`PoolSettings`](super::PoolSettings) key at fault, if one is:
    /// `min_size` when it is below 1, `max_size` when it is above the cap or
    /// below `min_size`, else the duration or ratio named.
    ///
    /// ```
    /// use tidepool::pool::BuildError;
    /// assert_eq!(BuildError::MissingFactory.setting(), None);
    /// ```
    pub fn setting(&self) -> Option<&'static str> {
        match self {
            BuildError::InvalidSize { min, .. } if *min < 1 => Some("min_size"),
            BuildError::InvalidSize { .. } => Some("max_size"),
            BuildError::InvalidDuration { field, .. } | BuildError::InvalidRatio { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Why an acquire failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcquireError {
    /// No object became available within the acquire timeout.
    #[error("pool {pool:?}: no object available within {timeout:?}")]
    Timeout {
        /// The pool's name.
        pool: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The pool was closed.
    #[error("pool {pool:?} is closed")]
    Closed {
        /// The pool's name.
        pool: String,
    },
    /// `try_acquire` found nothing idle and no room to create.
    #[error("pool {pool:?} is exhausted")]
    Exhausted {
        /// The pool's name.
        pool: String,
    },
    /// The factory returned an error.
    #[error("pool {pool:?}: factory failed: {source}")]
    Factory {
        /// The pool's name.
        pool: String,
        /// What the factory returned.
        #[source]
        source: BoxError,
    },
    /// The factory panicked; the panic was caught and the pool is unharmed.
    #[error("pool {pool:?}: factory panicked: {message}")]
    FactoryPanicked {
        /// The pool's name.
        pool: String,
        /// The panic payload, if it was a string.
        message: String,
    },
}

impl AcquireError {
    /// Whether the acquire timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, AcquireError::Timeout { .. })
    }

    /// Whether the factory failed or panicked.
    pub fn is_factory(&self) -> bool {
        matches!(self, AcquireError::Factory { .. } | AcquireError::FactoryPanicked { .. })
    }
}

/// Renders a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
