//! [`Harness`]: your own objects and your own code under a soak. Each
//! arrival of the workload's schedule acquires one of your objects and runs
//! your operation on it, on the real clock, measured and judged as
//! `tidepool soak` measures and judges its modeled holds.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::pool::{BoxError, Pool};
use crate::sim::wall::{AsyncOp, AsyncOperation, SyncOp};

/// Your objects and an operation on one of them, for
/// [`Soak::run_with`](super::Soak::run_with).
///
/// The pool is yours ([`Harness::new`]: your factory, recycle hook and
/// settings) or built from the workload's `[pool]` around your factory
/// ([`Harness::with_factory`]: the workload's factory faults then wrap your
/// factory). The operation is synchronous (run on an executor thread) or
/// asynchronous (each arrival a task on a Tokio runtime: yours,
/// [`Harness::runtime`], or one the run starts).
///
/// What the run measures of each operation: the acquire's wait (corrected
/// from the intended start, and uncorrected), how long your operation ran,
/// how it ended (returned `Ok`, an error, or panicked: the object is then
/// destroyed, not returned), and the hold. The workload's faults apply where
/// they mean something for real code: `stall` holds the object after your
/// operation until the window ends, `slow` stretches the hold after it,
/// `abandon` keeps the object forever, `holder_panic` destroys it;
/// `factory_outage`, `factory_failure` and `factory_panic` wrap your factory
/// when the run builds the pool. A `leak` fault models memory and is refused:
/// memory is your process's for real (RSS, and the heap with
/// [`CountingAllocator`](crate::monitor::alloc::CountingAllocator)).
///
/// ```
/// use tidepool::soak::Harness;
/// let pool = tidepool::pool::Pool::builder("buffers").factory(|| Ok(Vec::<u8>::new())).build().unwrap();
/// let harness = Harness::new(pool, |buffer: &mut Vec<u8>| {
///     buffer.clear();
///     buffer.extend_from_slice(b"some real work");
///     Ok::<(), std::io::Error>(())
/// });
/// # let _ = harness;
/// ```
pub struct Harness<T: Send + 'static> {
    pub(super) pool: Source<T>,
    pub(super) op: Operation<T>,
    pub(super) runtime: Option<tokio::runtime::Handle>,
}

impl<T: Send + 'static> std::fmt::Debug for Harness<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pool = match &self.pool {
            Source::Pool(p) => format!("pool {:?}", p.name()),
            Source::Factory(_) => "a factory".into(),
        };
        let op = match &self.op {
            Operation::Sync(_) => "sync",
            Operation::Async(_) => "async",
        };
        f.debug_struct("Harness").field("pool", &pool).field("op", &op).finish_non_exhaustive()
    }
}

/// A factory of your objects.
pub(super) type Factory<T> = Arc<dyn Fn() -> Result<T, BoxError> + Send + Sync>;

/// Where the objects come from.
pub(super) enum Source<T> {
    /// A pool you built.
    Pool(Pool<T>),
    /// Your factory, in a pool the run builds from the workload's `[pool]`.
    Factory(Factory<T>),
}

/// What runs on each object.
pub(super) enum Operation<T> {
    Sync(SyncOp<T>),
    Async(AsyncOp<T>),
}

/// Your async operation with its error made a [`BoxError`].
struct Boxed<F>(F);

impl<T, E, F> AsyncOperation<T> for Boxed<F>
where
    T: Send,
    E: Into<BoxError> + Send + 'static,
    F: for<'a> Fn(&'a mut T) -> BoxFuture<'a, Result<(), E>> + Send + Sync,
{
    fn call<'a>(&'a self, object: &'a mut T) -> BoxFuture<'a, Result<(), BoxError>> {
        let running = (self.0)(object);
        Box::pin(async move { running.await.map_err(Into::into) })
    }
}

fn sync_op<T, E, F>(op: F) -> SyncOp<T>
where
    T: Send + 'static,
    E: Into<BoxError>,
    F: Fn(&mut T) -> Result<(), E> + Send + Sync + 'static,
{
    Arc::new(move |object: &mut T| op(object).map_err(Into::into))
}

fn factory<T, E, F>(factory: F) -> Factory<T>
where
    E: Into<BoxError>,
    F: Fn() -> Result<T, E> + Send + Sync + 'static,
{
    Arc::new(move || factory().map_err(Into::into))
}

impl<T: Send + 'static> Harness<T> {
    /// `op` on the objects of `pool`, a pool you built: its factory,
    /// recycle hook and settings are the ones measured (the workload's
    /// `[pool]` and its factory faults do not apply).
    pub fn new<E, F>(pool: Pool<T>, op: F) -> Harness<T>
    where
        E: Into<BoxError>,
        F: Fn(&mut T) -> Result<(), E> + Send + Sync + 'static,
    {
        Harness { pool: Source::Pool(pool), op: Operation::Sync(sync_op(op)), runtime: None }
    }

    /// `op` on objects your `make` creates, in a pool the run builds from
    /// the workload's `[pool]` settings; the workload's factory faults wrap
    /// `make`, and no object is handed to two holders at once unnoticed
    /// (the run tracks them).
    ///
    /// ```
    /// use tidepool::soak::Harness;
    /// let harness = Harness::with_factory(
    ///     || Ok::<_, std::io::Error>(String::with_capacity(4096)),
    ///     |s: &mut String| { s.clear(); s.push_str("work"); Ok::<(), std::io::Error>(()) },
    /// );
    /// # let _ = harness;
    /// ```
    pub fn with_factory<E1, E2, M, F>(make: M, op: F) -> Harness<T>
    where
        E1: Into<BoxError>,
        E2: Into<BoxError>,
        M: Fn() -> Result<T, E1> + Send + Sync + 'static,
        F: Fn(&mut T) -> Result<(), E2> + Send + Sync + 'static,
    {
        Harness { pool: Source::Factory(factory(make)), op: Operation::Sync(sync_op(op)), runtime: None }
    }

    /// An async `op` on the objects of `pool`: each arrival is a task that
    /// acquires (`pool.acquire().await`) and awaits `op`. Write it as
    /// `|conn| async move { conn.query().await }.boxed()` (with
    /// `futures_util::FutureExt`), or `Box::pin(async move { ... })`.
    ///
    /// ```
    /// use futures_util::FutureExt;
    /// use tidepool::soak::Harness;
    /// let pool = tidepool::pool::Pool::builder("clients").factory(|| Ok(0u64)).build().unwrap();
    /// let harness = Harness::new_async(pool, |calls: &mut u64| {
    ///     async move {
    ///         *calls += 1;
    ///         tokio::task::yield_now().await;
    ///         Ok::<(), std::io::Error>(())
    ///     }
    ///     .boxed()
    /// });
    /// # let _ = harness;
    /// ```
    pub fn new_async<E, F>(pool: Pool<T>, op: F) -> Harness<T>
    where
        E: Into<BoxError> + Send + 'static,
        F: for<'a> Fn(&'a mut T) -> BoxFuture<'a, Result<(), E>> + Send + Sync + 'static,
    {
        Harness { pool: Source::Pool(pool), op: Operation::Async(Arc::new(Boxed(op))), runtime: None }
    }

    /// [`Harness::with_factory`] with an async operation (see
    /// [`Harness::new_async`]).
    pub fn with_factory_async<E1, E2, M, F>(make: M, op: F) -> Harness<T>
    where
        E1: Into<BoxError>,
        E2: Into<BoxError> + Send + 'static,
        M: Fn() -> Result<T, E1> + Send + Sync + 'static,
        F: for<'a> Fn(&'a mut T) -> BoxFuture<'a, Result<(), E2>> + Send + Sync + 'static,
    {
        Harness {
            pool: Source::Factory(factory(make)),
            op: Operation::Async(Arc::new(Boxed(op))),
            runtime: None,
        }
    }

    /// Runs async operations on this runtime (default: a multi-threaded
    /// runtime the run starts, one worker per CPU, and stops at its end).
    pub fn runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.runtime = Some(runtime);
        self
    }
}

/// An object of a pool the run built from a factory: the object, and an id
/// to tell it from the others.
pub(super) struct Tracked<T> {
    pub(super) id: u64,
    pub(super) value: T,
}

/// The sync operation of `T` on a tracked `T`.
pub(super) fn on_tracked<T: Send + 'static>(op: SyncOp<T>) -> SyncOp<Tracked<T>> {
    Arc::new(move |t: &mut Tracked<T>| op(&mut t.value))
}

/// The async operation of `T` on a tracked `T`.
struct OnTracked<T>(AsyncOp<T>);

impl<T: Send + 'static> AsyncOperation<Tracked<T>> for OnTracked<T> {
    fn call<'a>(&'a self, object: &'a mut Tracked<T>) -> BoxFuture<'a, Result<(), BoxError>> {
        self.0.call(&mut object.value)
    }
}

pub(super) fn on_tracked_async<T: Send + 'static>(op: AsyncOp<T>) -> AsyncOp<Tracked<T>> {
    Arc::new(OnTracked(op))
}
