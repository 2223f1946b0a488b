//! What a wall-clock run does with each object it acquires: hold it for the
//! workload's modeled time, or run the caller's own operation on it, on an
//! executor thread or as a task on a Tokio runtime.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::pool::BoxError;

/// A caller's operation on one object, run on an executor thread.
pub(crate) type SyncOp<T> = Arc<dyn Fn(&mut T) -> Result<(), BoxError> + Send + Sync>;

/// A caller's async operation on one object.
pub(crate) trait AsyncOperation<T>: Send + Sync {
    /// The operation on `object`, to await.
    fn call<'a>(&'a self, object: &'a mut T) -> BoxFuture<'a, Result<(), BoxError>>;
}

/// A caller's operation on one object, awaited in a task of its own.
pub(crate) type AsyncOp<T> = Arc<dyn AsyncOperation<T>>;

/// The work of each operation once its object is in hand.
pub(crate) enum Work<T> {
    /// Hold the object for the workload's drawn (or recorded) hold time.
    Hold,
    /// Run the caller's operation on it, on the executor thread.
    Sync(SyncOp<T>),
    /// Run the caller's operation on it, each operation a task on `runtime`.
    Async(AsyncOp<T>, tokio::runtime::Handle),
}

impl<T> Work<T> {
    /// Whether operations are tasks on a runtime rather than executor threads.
    pub(crate) fn is_async(&self) -> bool {
        matches!(self, Work::Async(..))
    }
}

/// How a run reads the memory its monitor and report judge.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Memory {
    /// The workload's model: objects × `object_bytes` + leaked bytes.
    Modeled {
        /// Bytes per object.
        object_bytes: u64,
    },
    /// The process for real: live heap bytes when the counting allocator is
    /// installed, else the resident set read at each sample.
    Process,
}
