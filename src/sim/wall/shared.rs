//! What the threads (and tasks) of a wall-clock run share, and the life of
//! one operation: acquire, the work ([`Work`]), release, counted.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use futures_util::FutureExt;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::work::{AsyncOp, Memory, Work};
use crate::clock::Clock;
use crate::pool::{AcquireError, BoxError, Pool, PoolGuard};
use crate::sim::accounting::{Ledger, OpEnd, OpKey};
use crate::sim::faults::{panic_holding, FactoryModel, Window};
use crate::sim::schedule::Instance;
use crate::sim::system::{Placement, Sections, System};
use crate::sim::workload::{Sampler, Workload};

/// Shards of the set of held object ids.
pub(super) const HELD_SHARDS: usize = 64;

/// About 50 µs of yielding before an idle executor parks.
const SPINS_BEFORE_PARKING: u32 = 100;

/// One operation handed to an executor (or a task).
#[derive(Debug, Clone, Copy)]
pub(super) struct Job {
    /// Intended start, ns since the run's origin.
    pub(super) intended: u64,
    /// Hold time, ns (the workload's; a caller's operation takes its own).
    pub(super) hold: u64,
    pub(super) phase: u16,
}

impl Job {
    #[inline]
    fn key(&self) -> OpKey {
        OpKey { intended: self.intended, phase: self.phase }
    }
}

/// Counts kept by a group of executors; the watch merges the shards.
pub(super) struct Shard {
    pub(super) ledger: Ledger,
    pub(super) lag: Histogram<u64>,
    pub(super) interval_lag: Histogram<u64>,
    pub(super) late: u64,
    pub(super) interval_late: u64,
    /// Jobs still queued when the run ended.
    pub(super) unstarted: u64,
    /// Per phase, the operations under way now: `(holding, waiting)`,
    /// waiting from their start to their acquire's end. A checkpoint
    /// counts them open, as the run's end does.
    pub(super) live: Vec<(u64, u64)>,
}

pub(super) fn lag_histogram() -> Histogram<u64> {
    // 1 ns to 1 h at 2 significant digits: small enough to keep one per
    // shard and per interval.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 2).unwrap_or_else(|_| {
        Histogram::new(2).unwrap_or_else(|_| unreachable!("2 significant digits is valid"))
    })
}

impl Shard {
    pub(super) fn new(phases: usize, windows: [(u64, u64); 2]) -> Shard {
        Shard {
            ledger: Ledger::new(phases, windows),
            lag: lag_histogram(),
            interval_lag: lag_histogram(),
            late: 0,
            interval_late: 0,
            unstarted: 0,
            live: vec![(0, 0); phases],
        }
    }

    /// An operation of `phase` started: waiting until its acquire ends.
    fn started(&mut self, phase: u16) {
        self.live[usize::from(phase)].1 += 1;
    }

    /// Its acquire ended: holding an object if `served`.
    fn acquired(&mut self, phase: u16, served: bool) {
        let live = &mut self.live[usize::from(phase)];
        live.1 = live.1.saturating_sub(1);
        live.0 += u64::from(served);
    }

    /// It no longer holds the object (returned, or abandoned and counted open).
    fn let_go(&mut self, phase: u16) {
        let live = &mut self.live[usize::from(phase)];
        live.0 = live.0.saturating_sub(1);
    }
}

/// What the threads and tasks of a run share.
pub(super) struct Shared<T: Send + 'static> {
    pub(super) workload: Workload,
    pub(super) pool: Pool<T>,
    pub(super) work: Work<T>,
    /// An object's id for the handed-out-twice check (`None`: untracked).
    pub(super) id: fn(&T) -> Option<u64>,
    pub(super) memory: Memory,
    pub(super) clock: Clock,
    pub(super) origin: u64,
    /// Set when the run ends (schedule done or stopped): holds cut short,
    /// queued jobs left unstarted.
    pub(super) ending: AtomicBool,
    pub(super) faults: Window,
    /// The modeled factory (`None`: a pool the caller built).
    pub(super) factory: Option<Arc<FactoryModel>>,
    /// Guards of holders that never return (the `abandon` fault).
    pub(super) abandoned: Mutex<Vec<PoolGuard<T>>>,
    pub(super) holder_panics: AtomicU64,
    /// Objects held now, by id, in shards (a second holder of one id is an
    /// object handed out twice).
    pub(super) held_ids: Vec<Mutex<std::collections::HashSet<u64>>>,
    pub(super) handed_out_twice: AtomicU64,
    pub(super) leaked: AtomicU64,
    pub(super) late_after: u64,
    pub(super) shards: Vec<Mutex<Shard>>,
    /// Threads inside an acquire, an operation or a hold: waiting on the
    /// pool, the caller's code or the workload, not for the CPU.
    pub(super) blocked: AtomicUsize,
    /// Open-loop starts the schedule asked for so far.
    pub(super) scheduled: AtomicU64,
    /// Of those, not taken by an executor (the queue was full, or too many
    /// tasks were in progress).
    pub(super) dropped: AtomicU64,
    /// Executors started.
    pub(super) workers: AtomicUsize,
    /// Operations in progress as tasks (async work).
    pub(super) tasks: AtomicUsize,
    /// The dispatcher returned (schedule done, or an error).
    pub(super) dispatch_done: AtomicBool,
    /// When `ending` was set (ns since the origin): starts due before it
    /// that the dispatcher had not reached count as dropped.
    pub(super) ended_at: AtomicU64,
    /// The workload's locks and cache (modeled holds only).
    pub(super) system: System,
}

thread_local! {
    /// This executor's draws of lock sections, keys and miss costs (a
    /// wall-clock run is not reproducible draw for draw anyway).
    static SYSTEM_RNG: std::cell::RefCell<Option<SmallRng>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's generator, seeded from `seed` and the thread.
fn with_rng<R>(seed: u64, f: impl FnOnce(&mut SmallRng) -> R) -> R {
    SYSTEM_RNG.with(|cell| {
        let mut rng = cell.borrow_mut();
        let rng = rng.get_or_insert_with(|| {
            use std::hash::BuildHasher;
            let thread = std::collections::hash_map::RandomState::new().hash_one(std::thread::current().id());
            SmallRng::seed_from_u64(seed ^ thread)
        });
        f(rng)
    })
}

/// How the caller's code ended.
fn op_end(result: Result<Result<(), BoxError>, Box<dyn std::any::Any + Send>>) -> OpEnd {
    match result {
        Ok(Ok(())) => OpEnd::Ok,
        Ok(Err(_)) => OpEnd::Error,
        Err(_) => OpEnd::Panicked,
    }
}

/// Counts a task out when it ends, whatever way.
struct TaskDone<'a>(&'a AtomicUsize);

impl Drop for TaskDone<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T: Send + 'static> Shared<T> {
    /// ns since the run's origin.
    #[inline]
    pub(super) fn now(&self) -> u64 {
        self.clock.now_nanos().saturating_sub(self.origin)
    }

    /// Sleeps until `at` (ns since the origin); false if the run ended first.
    pub(super) fn sleep_until(&self, at: u64) -> bool {
        loop {
            if self.ending.load(Ordering::Relaxed) {
                return false;
            }
            let now = self.now();
            if now >= at {
                return true;
            }
            let left = at - now;
            if left > 50_000 {
                // Wake at least every 20 ms to notice the end.
                std::thread::sleep(Duration::from_nanos(left.min(20_000_000)));
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// [`Shared::sleep_until`] on the runtime's timer.
    async fn sleep_until_async(&self, at: u64) -> bool {
        loop {
            if self.ending.load(Ordering::Relaxed) {
                return false;
            }
            let now = self.now();
            if now >= at {
                return true;
            }
            tokio::time::sleep(Duration::from_nanos((at - now).min(20_000_000))).await;
        }
    }

    /// Counts an acquire that started `lag` late at `start` and ended at
    /// `ready` with `result`.
    fn count_acquire(
        &self,
        shard: &Mutex<Shard>,
        job: &Job,
        (lag, start, ready): (u64, u64, u64),
        result: &Result<PoolGuard<T>, AcquireError>,
    ) {
        let corrected = ready.saturating_sub(job.intended);
        let uncorrected = ready.saturating_sub(start);
        let mut s = shard.lock();
        s.lag.saturating_record(lag);
        s.interval_lag.saturating_record(lag);
        if lag > self.late_after {
            s.late += 1;
            s.interval_late += 1;
        }
        s.acquired(job.phase, result.is_ok());
        let ledger = &mut s.ledger;
        ledger.arrived(job.key());
        match result {
            Ok(guard) => ledger.served(job.key(), corrected, Some(uncorrected), guard.is_fresh()),
            Err(e) if e.is_timeout() => ledger.timed_out(job.key(), corrected, Some(uncorrected)),
            Err(AcquireError::Closed { .. }) if self.ending.load(Ordering::Relaxed) => {
                ledger.still_open(job.phase, false);
            }
            Err(_) => ledger.failed(job.key()),
        }
    }

    /// Notes the object held; a second holder of one id is an object
    /// handed out twice. Returns its id.
    fn hand_out(&self, guard: &PoolGuard<T>) -> Option<u64> {
        let id = (self.id)(guard);
        if let Some(id) = id {
            if !self.held_ids[id as usize % HELD_SHARDS].lock().insert(id) {
                self.handed_out_twice.fetch_add(1, Ordering::Relaxed);
            }
        }
        id
    }

    /// The `abandon` fault: the holder never returns the object.
    fn abandon(&self, shard: &Mutex<Shard>, job: &Job, guard: PoolGuard<T>) {
        self.abandoned.lock().push(guard);
        let mut s = shard.lock();
        s.let_go(job.phase);
        s.ledger.still_open(job.phase, true);
    }

    /// Returns the object (or lets a holder panic with it: the fault),
    /// and counts the operation: done, or still open when the run ended.
    fn finish(
        &self,
        shard: &Mutex<Shard>,
        job: &Job,
        (id, guard): (Option<u64>, PoolGuard<T>),
        ready: u64,
        finished: bool,
        operated: Option<(u64, OpEnd)>,
    ) {
        if let Some(id) = id {
            self.held_ids[id as usize % HELD_SHARDS].lock().remove(&id);
        }
        let panicked = operated.is_some_and(|(_, end)| end == OpEnd::Panicked);
        if panicked {
            // The caller's code panicked holding it: the pool destroys it.
            panic_holding(guard);
        } else if self.faults.holder_panics(self.now()) {
            panic_holding(guard);
            self.holder_panics.fetch_add(1, Ordering::Relaxed);
        } else {
            drop(guard);
        }
        let held = self.now().saturating_sub(ready);
        let mut s = shard.lock();
        s.let_go(job.phase);
        if finished || panicked {
            if let Some((took, end)) = operated {
                s.ledger.operated(job.key(), took, end);
            }
            s.ledger.completed(job.key(), held);
        } else {
            s.ledger.still_open(job.phase, true);
        }
    }

    /// Runs one operation on this thread: acquire, the work, release;
    /// counts it in `shard`. `executor`: the thread is an executor (the
    /// dispatcher grows those while they are all blocked).
    pub(super) fn perform(&self, shard: &Mutex<Shard>, job: Job, executor: bool) {
        let blocked = usize::from(executor);
        shard.lock().started(job.phase);
        let arrived = self.now();
        let lag = arrived.saturating_sub(job.intended);
        if self.faults.leaks() {
            self.leaked.fetch_add(self.faults.leak_at(job.intended), Ordering::Relaxed);
        }
        let modeled = matches!(self.work, Work::Hold);
        let mut sections = if modeled && !self.system.locks.is_empty() {
            with_rng(self.workload.seed, |rng| self.system.draw(usize::from(job.phase), rng))
        } else {
            Sections::default()
        };
        self.blocked.fetch_add(blocked, Ordering::Relaxed);
        self.sections(&mut sections, Placement::Before);
        let start = self.now();
        let result = self.pool.acquire_blocking();
        self.blocked.fetch_sub(blocked, Ordering::Relaxed);
        let ready = self.now();
        // The pool's wait runs from when the operation asked it (after its
        // `before` sections), as in virtual time.
        let asked = Job { intended: job.intended.saturating_add(start - arrived), ..job };
        self.count_acquire(shard, &asked, (lag, start, ready), &result);
        let Ok(mut guard) = result else { return };
        let id = self.hand_out(&guard);
        if self.faults.abandons(ready) {
            return self.abandon(shard, &job, guard);
        }
        let had_inside = sections.take & self.system.placed[Placement::Inside.index()] != 0;
        let (hold, operated) = match &self.work {
            Work::Sync(op) => {
                self.blocked.fetch_add(blocked, Ordering::Relaxed);
                let ran = catch_unwind(AssertUnwindSafe(|| op(&mut guard)));
                let took = self.now().saturating_sub(ready);
                self.blocked.fetch_sub(blocked, Ordering::Relaxed);
                (took, Some((took, op_end(ran))))
            }
            Work::Hold => {
                self.blocked.fetch_add(blocked, Ordering::Relaxed);
                self.sections(&mut sections, Placement::Inside);
                self.blocked.fetch_sub(blocked, Ordering::Relaxed);
                let missed = if self.system.cache.is_some() {
                    with_rng(self.workload.seed, |rng| self.system.lookup(rng))
                } else {
                    0
                };
                (job.hold.saturating_add(missed), None)
            }
            Work::Async(..) => (job.hold, None),
        };
        // A `slow` fault stretches the hold, a `stall` holds it to the
        // window's end; the caller's code already took its own time. The
        // hold goes on after any `inside` sections.
        let from = if had_inside { self.now() } else { ready };
        let release = self.faults.release_at(from, hold);
        let finished = release <= self.now() || {
            self.blocked.fetch_add(blocked, Ordering::Relaxed);
            let finished = self.sleep_until(release);
            self.blocked.fetch_sub(blocked, Ordering::Relaxed);
            finished
        };
        self.finish(shard, &job, (id, guard), ready, finished, operated);
        if sections.take != 0 {
            self.blocked.fetch_add(blocked, Ordering::Relaxed);
            self.sections(&mut sections, Placement::After);
            self.blocked.fetch_sub(blocked, Ordering::Relaxed);
        }
    }

    /// Runs the operation's sections at `place`: each lock taken (blocking,
    /// a real contended acquire), held for a drawn critical section, let go.
    fn sections(&self, sections: &mut Sections, place: Placement) {
        while let Some(lock) = sections.next_at(self.system.placed[place.index()]) {
            let section = with_rng(self.workload.seed, |rng| self.system.section_ns(lock, rng));
            let guard = self.system.locks[lock].1.take(sections.writes(lock));
            self.sleep_until(self.now().saturating_add(section));
            drop(guard);
            sections.done(lock);
        }
    }

    /// [`Shared::perform`] as a task: the acquire and the caller's
    /// operation awaited on the runtime. The dispatcher counted the task
    /// in; it counts itself out.
    pub(super) async fn perform_async(self: Arc<Self>, shard: usize, job: Job, op: AsyncOp<T>) {
        let _done = TaskDone(&self.tasks);
        let shard = &self.shards[shard % self.shards.len()];
        shard.lock().started(job.phase);
        let start = self.now();
        let lag = start.saturating_sub(job.intended);
        let result = self.pool.acquire().await;
        let ready = self.now();
        self.count_acquire(shard, &job, (lag, start, ready), &result);
        let Ok(mut guard) = result else { return };
        let id = self.hand_out(&guard);
        if self.faults.abandons(ready) {
            return self.abandon(shard, &job, guard);
        }
        let ran = AssertUnwindSafe(op.call(&mut guard)).catch_unwind().await;
        let took = self.now().saturating_sub(ready);
        let release = self.faults.release_at(ready, took);
        let finished = release <= self.now() || self.sleep_until_async(release).await;
        self.finish(shard, &job, (id, guard), ready, finished, Some((took, op_end(ran))));
    }

    /// An executor: takes jobs until the queue closes.
    pub(super) fn executor(&self, shard: &Mutex<Shard>, jobs: &Receiver<Job>) {
        while let Some(job) = next_job(jobs) {
            if self.ending.load(Ordering::Relaxed) {
                shard.lock().unstarted += 1;
                continue;
            }
            self.perform(shard, job, true);
        }
    }

    /// A closed-loop worker of phase instance `instance`: acquire, hold
    /// (or the caller's operation), think, until the instance ends.
    pub(super) fn closed_worker(
        &self,
        shard: &Mutex<Shard>,
        instance: Instance,
        hold: Sampler,
        think: Option<Sampler>,
        seed: u64,
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        loop {
            let now = self.now();
            if now >= instance.end || self.ending.load(Ordering::Relaxed) {
                return;
            }
            let job = Job { intended: now, hold: hold.sample_ns(&mut rng), phase: instance.phase as u16 };
            self.perform(shard, job, false);
            if let Some(think) = &think {
                let until = self.now().saturating_add(think.sample_ns(&mut rng));
                if !self.sleep_until(until.min(instance.end)) {
                    return;
                }
            }
        }
    }

    /// [`Shared::closed_worker`] as a task, for the caller's async
    /// operation.
    pub(super) async fn closed_worker_async(
        self: Arc<Self>,
        shard: usize,
        instance: Instance,
        think: Option<Sampler>,
        seed: u64,
        op: AsyncOp<T>,
    ) {
        let _done = TaskDone(&self.tasks);
        let mut rng = SmallRng::seed_from_u64(seed);
        loop {
            let now = self.now();
            if now >= instance.end || self.ending.load(Ordering::Relaxed) {
                return;
            }
            let job = Job { intended: now, hold: 0, phase: instance.phase as u16 };
            self.tasks.fetch_add(1, Ordering::Relaxed);
            Arc::clone(&self).perform_async(shard, job, Arc::clone(&op)).await;
            if let Some(think) = &think {
                let until = self.now().saturating_add(think.sample_ns(&mut rng));
                if !self.sleep_until_async(until.min(instance.end)).await {
                    return;
                }
            }
        }
    }

    /// Modeled memory now: objects × bytes per object + what leaked.
    pub(super) fn modeled_memory(&self, size: usize) -> u64 {
        match self.memory {
            Memory::Modeled { object_bytes } => {
                (size as u64).saturating_mul(object_bytes).saturating_add(self.leaked.load(Ordering::Relaxed))
            }
            Memory::Process => 0,
        }
    }
}

/// The next job, `None` once the queue is closed and empty. Under load
/// the queue is rarely empty for long: spin (yielding) a little before
/// parking, so the scheduler does not pay a futex wake per start.
#[inline]
fn next_job(jobs: &Receiver<Job>) -> Option<Job> {
    for _ in 0..SPINS_BEFORE_PARKING {
        match jobs.try_recv() {
            Ok(job) => return Some(job),
            Err(crossbeam_channel::TryRecvError::Disconnected) => return None,
            Err(crossbeam_channel::TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    jobs.recv().ok()
}
