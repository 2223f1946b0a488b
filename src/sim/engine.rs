//! The discrete-event engine: replays a [`Workload`] through a real
//! [`Pool`] on a manual clock.
//!
//! One thread, one event heap ordered by `(virtual time, sequence)`; the
//! sequence number breaks ties in scheduling order, so a run is a pure
//! function of its workload and seed. Each operation arrives at its intended
//! time, acquires through [`Pool::acquire_or_queue`] (waiting in the pool's
//! own FIFO line via a [`Ticket`]), holds for its sampled time, and returns
//! the object by dropping the guard — the same code paths a production
//! caller runs, read against virtual time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::accounting::{self, drift_windows, Ending, Ledger, Levels, OpKey};
use super::faults::{panic_holding, quiet_injected_panics, FactoryModel, Window};
use super::observer::Observer;
use super::outcome::{Injected, Outcome};
use super::schedule::{self, ns, ArrivalCursor, Instance, NO_HOLD};
use super::system::{Sections, SimGuard, System, SystemFigures};
use super::workload::{Arrival, Sampler, Workload};
use super::SimError;
use crate::clock::{Clock, ManualClock};
use crate::pool::{Admission, Pool, PoolGuard, Ticket};
use crate::sync::Taker;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A phase instance begins.
    PhaseStart(u32),
    /// An operation arrives: (phase instance, worker or `u32::MAX` when open loop).
    Arrival(u32, u32),
    /// A holder returns its object (slab index).
    Release(u32),
    /// A critical section ends: its lock is let go (slab index).
    Unlock(u32),
    /// The deadline of the front of the line (at most one armed at a time).
    Deadline,
    /// A maintenance pass.
    Maintain,
    /// A sample.
    Sample,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    at: u64,
    seq: u64,
    kind: Kind,
}

/// One operation. In virtual time every acquire is issued exactly at its
/// intended arrival (nothing can delay the generator), so one timestamp
/// serves: corrected and uncorrected waits coincide by construction.
#[derive(Debug, Clone, Copy)]
struct Op {
    intended: u64,
    /// When it asked the pool: its arrival, or after its `before` sections.
    asked: u64,
    /// The locks it still takes.
    sections: Sections,
    /// Its id as a lock taker.
    owner: u32,
    /// A recorded hold to replay, or `NO_HOLD`.
    hold: u64,
    phase: u16,
    instance: u32,
    worker: u32,
}

const OPEN_LOOP: u32 = u32::MAX;

impl Op {
    #[inline]
    fn key(&self) -> OpKey {
        OpKey { intended: self.intended, phase: self.phase }
    }
}

struct Held {
    guard: PoolGuard<u64>,
    op: Op,
    since: u64,
    /// When the object was ready (after a modeled creation).
    ready: u64,
    /// The hold left after the `inside` sections.
    hold: u64,
}

/// Where an operation goes on once a critical section ends.
#[derive(Debug, Clone, Copy)]
enum Resume {
    /// On to its next `before` section, or the pool.
    Before,
    /// On with its hold (the slot of its object).
    Inside(u32),
    /// On to its next `after` section, or its end.
    After,
}

/// An operation in a critical section.
struct InSection<'s> {
    _guard: SimGuard<'s>,
    lock: usize,
    op: Op,
    resume: Resume,
}

/// An operation waiting for a lock.
struct LockWaiter {
    op: Op,
    resume: Resume,
    since: u64,
}

struct Waiting {
    ticket: Option<Ticket<u64>>,
    op: Op,
    deadline: u64,
}

/// The engine's state while running.
struct Engine<'w, 'o, 's> {
    workload: &'w Workload,
    /// The locks and the cache (built before the engine: the guards of its
    /// locks live in the engine).
    system: &'s System,
    sections: Vec<Option<InSection<'s>>>,
    free_sections: Vec<u32>,
    /// FIFO lines of the locks, one per lock.
    lock_lines: Vec<VecDeque<LockWaiter>>,
    next_owner: u32,
    pool: Pool<u64>,
    time: ManualClock,
    heap: BinaryHeap<Reverse<Event>>,
    /// The next open-loop arrival, kept beside the heap: at most one is
    /// pending per phase instance, and arrivals are half of all events.
    /// Ordered against the heap by `(at, seq)`, so the order is the same.
    next_arrival: Option<Event>,
    seq: u64,
    rng: SmallRng,
    now: u64,
    end: u64,
    instances: Vec<Instance>,
    current: usize,
    holds: Vec<Sampler>,
    thinks: Vec<Option<Sampler>>,
    create: Option<Sampler>,
    held: Vec<Option<Held>>,
    free_slots: Vec<u32>,
    line: VecDeque<Waiting>,
    /// Where the open-loop arrivals of the current phase instance are.
    arrivals: ArrivalCursor,
    /// When the last sample was taken.
    last_sample_at: u64,
    /// The recorded hold of the pending trace arrival (`NO_HOLD`: draw one).
    pending_hold: u64,
    /// Whether a `Deadline` event is pending. Waiters share one timeout and
    /// queue FIFO, so the front's deadline is always the earliest: one
    /// event at a time suffices, and the heap never fills with stale ones.
    deadline_armed: bool,
    faults: Window,
    ledger: Ledger,
    /// The pool's levels; `levels.in_use` is the holders' count.
    levels: Levels,
    leaked_bytes: u64,
    /// Holders that will never return (the `abandon` fault).
    abandoned: Vec<Held>,
    factory: Arc<FactoryModel>,
    /// The due time of the event being handled (before a clock jump
    /// moved it): an arrival's intended start.
    event_at: u64,
    /// Which objects (by factory id) a holder has now.
    held_ids: Vec<bool>,
    injected: Injected,
    handed_out_twice: u64,
    observer: &'o mut dyn Observer,
    stop: &'o AtomicBool,
}

/// Replays `workload` through a real pool in virtual time.
///
/// `observer` sees every sample as it is taken; setting `stop` ends the run
/// early (its outcome says `interrupted`).
///
/// # Errors
///
/// [`SimError::Pool`] if the pool refuses the workload's settings.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use tidepool::sim::{run, NoObserver, Workload};
///
/// let w = Workload::parse(r#"
///     seed = 3
///     [pool]
///     min = 2
///     max = 2
///     [[phase]]
///     name = "only"
///     duration = "10s"
///     arrival = { process = "poisson", rate = 20 }
///     hold = { dist = "exponential", mean = "10ms" }
/// "#, "doc.toml").unwrap();
/// let outcome = run(&w, &mut NoObserver, &AtomicBool::new(false)).unwrap();
/// let t = &outcome.total;
/// assert_eq!(t.arrived, t.completed + t.timed_out + t.failed + outcome.in_flight + outcome.waiting);
/// ```
pub fn run(workload: &Workload, observer: &mut dyn Observer, stop: &AtomicBool) -> Result<Outcome, SimError> {
    run_traced(workload, observer, stop, None)
}

/// As [`run`], recording the pool's operations into `trace` (see
/// [`crate::pool::trace`]) for a later `tidepool replay`.
///
/// # Errors
///
/// [`SimError::Pool`] if the pool refuses the workload's settings;
/// [`SimError::Input`] if a series or trace cannot be read again as the
/// run goes.
pub fn run_traced(
    workload: &Workload,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
    trace: Option<Arc<crate::pool::trace::TraceRecorder>>,
) -> Result<Outcome, SimError> {
    let (clock, time) = Clock::manual();
    let system = System::build(workload, &clock, true);
    let mut engine = Engine::new(workload, observer, stop, trace, (clock, time), &system)?;
    engine.observer.on_start(Arc::new(engine.pool.clone()));
    engine.observer.on_shared_state(system.shared_state());
    engine.run();
    if let Some(e) = engine.arrivals.take_error() {
        return Err(SimError::Input(e));
    }
    Ok(engine.finish())
}

impl<'w, 'o, 's> Engine<'w, 'o, 's> {
    fn new(
        workload: &'w Workload,
        observer: &'o mut dyn Observer,
        stop: &'o AtomicBool,
        trace: Option<Arc<crate::pool::trace::TraceRecorder>>,
        (clock, time): (Clock, ManualClock),
        system: &'s System,
    ) -> Result<Self, SimError> {
        let spec = &workload.pool;
        let factory = Arc::new(FactoryModel::new(workload, clock.clone(), false));
        let model = Arc::clone(&factory);
        let mut builder = spec
            .settings
            .configure(Pool::builder(workload.name.clone()))
            // Maintenance runs as events of the engine, not on a thread.
            .maintenance_interval(None)
            .clock(clock)
            .factory(move || model.create())
            // Counted by the pool (stats().leaks); no log line per leak.
            .on_leak(|_| {});
        if let Some(recorder) = trace {
            builder = builder.trace(recorder);
        }
        let pool = builder.build()?;
        factory.arm(0);
        quiet_injected_panics();

        let end = ns(workload.duration);
        let instances = schedule::instances(workload);
        let holds = (0..workload.phases.len())
            .map(|i| workload.hold_of(i).map_or(super::workload::Sampler::Constant(0.0), |d| d.sampler()))
            .collect();
        let thinks = workload
            .phases
            .iter()
            .map(|p| match &p.arrival {
                Arrival::Closed { think, .. } => think.as_ref().map(|d| d.sampler()),
                _ => None,
            })
            .collect();
        let faults = Window::of(workload);
        let windows = drift_windows(workload);
        let status = pool.status();
        let memory_start = (status.size as u64).saturating_mul(spec.model.object_bytes);
        Ok(Engine {
            workload,
            system,
            sections: Vec::new(),
            free_sections: Vec::new(),
            lock_lines: (0..system.locks.len()).map(|_| VecDeque::new()).collect(),
            next_owner: 0,
            time,
            heap: BinaryHeap::with_capacity(1024),
            next_arrival: None,
            seq: 0,
            rng: SmallRng::seed_from_u64(workload.seed),
            now: 0,
            end,
            instances,
            current: 0,
            holds,
            thinks,
            create: spec.model.create_time.as_ref().map(|d| d.sampler()),
            held: Vec::new(),
            free_slots: Vec::new(),
            line: VecDeque::new(),
            deadline_armed: false,
            arrivals: ArrivalCursor::default(),
            last_sample_at: 0,
            pending_hold: NO_HOLD,
            faults,
            ledger: Ledger::new(workload.phases.len(), windows),
            levels: Levels::new(&status, memory_start, end, windows),
            leaked_bytes: 0,
            abandoned: Vec::new(),
            factory,
            event_at: 0,
            held_ids: Vec::new(),
            injected: Injected::default(),
            handed_out_twice: 0,
            observer,
            stop,
            pool,
        })
    }

    fn schedule(&mut self, at: u64, kind: Kind) {
        self.seq += 1;
        let event = Event { at, seq: self.seq, kind };
        if matches!(kind, Kind::Arrival(_, OPEN_LOOP)) && self.next_arrival.is_none() {
            self.next_arrival = Some(event);
        } else {
            self.heap.push(Reverse(event));
        }
    }

    /// The earliest event: the heap's top or the pending arrival.
    #[inline]
    fn pop_event(&mut self) -> Option<Event> {
        match (self.next_arrival, self.heap.peek()) {
            (Some(arrival), Some(Reverse(top))) if (top.at, top.seq) < (arrival.at, arrival.seq) => {
                self.heap.pop().map(|Reverse(e)| e)
            }
            (Some(arrival), _) => {
                self.next_arrival = None;
                Some(arrival)
            }
            (None, _) => self.heap.pop().map(|Reverse(e)| e),
        }
    }

    fn run(&mut self) {
        for i in 0..self.instances.len() {
            self.schedule(self.instances[i].start, Kind::PhaseStart(i as u32));
        }
        let maintenance = ns(self.workload.pool.settings.maintenance_interval);
        self.schedule(maintenance, Kind::Maintain);
        self.schedule(ns(self.workload.sample_interval), Kind::Sample);
        self.note_memory();
        let mut handled: u32 = 0;
        while let Some(event) = self.pop_event() {
            if event.at > self.end {
                break;
            }
            handled = handled.wrapping_add(1);
            if handled % 4096 == 0 && self.stop.load(Ordering::Relaxed) {
                break;
            }
            self.event_at = event.at;
            let at = if self.faults.pauses.is_empty() { event.at } else { self.resume_at(event.at) };
            self.advance(at);
            match event.kind {
                Kind::PhaseStart(i) => self.phase_start(i as usize),
                Kind::Arrival(instance, worker) => self.arrival(instance, worker),
                Kind::Release(slot) => self.release(slot),
                Kind::Unlock(slot) => self.unlock(slot),
                Kind::Deadline => self.deadline(),
                Kind::Maintain => {
                    self.maintain();
                    self.schedule(self.now + maintenance, Kind::Maintain);
                }
                Kind::Sample => {
                    self.sample();
                    self.schedule(self.now + ns(self.workload.sample_interval), Kind::Sample);
                }
            }
        }
        if !self.stop.load(Ordering::Relaxed) {
            self.advance(self.end);
            // The last, partial interval (or the only one, when the sample
            // interval outlasts the run) still gets its line.
            if self.last_sample_at < self.end {
                self.sample();
            }
        }
    }

    /// When an event due at `at` happens, counting each clock jump the
    /// first time it moves one.
    fn resume_at(&mut self, at: u64) -> u64 {
        let resumed = self.faults.resume_at(at);
        if resumed != at && self.now < resumed {
            self.injected.clock_jumps += 1;
        }
        resumed.min(self.end)
    }

    /// Moves virtual time to `at`, integrating in_use and size over the gap.
    #[inline]
    fn advance(&mut self, at: u64) {
        if at > self.now {
            let phase = self.instances.get(self.current).map_or(0, |i| i.phase);
            self.levels.advance(&mut self.ledger, phase, at);
            self.now = at;
            self.time.set_nanos(at);
        }
    }

    /// Reads the pool's size and target after anything that may have
    /// changed them.
    #[inline]
    fn observe_size(&mut self) {
        let status = self.pool.status();
        let (object_bytes, leaked) = (self.workload.pool.model.object_bytes, self.leaked_bytes);
        let memory = move || (status.size as u64).saturating_mul(object_bytes).saturating_add(leaked);
        self.levels.observe(self.now, status.size, status.target, memory);
    }

    /// Updates the memory peak and the floors of the drift windows.
    fn note_memory(&mut self) {
        let memory = self.memory();
        self.levels.memory.note(self.now, memory);
    }

    fn memory(&self) -> u64 {
        (self.levels.size() as u64)
            .saturating_mul(self.workload.pool.model.object_bytes)
            .saturating_add(self.leaked_bytes)
    }

    fn phase_start(&mut self, i: usize) {
        self.current = i;
        let instance = &self.instances[i];
        let phase = &self.workload.phases[instance.phase];
        let start = instance.start;
        match &phase.arrival {
            Arrival::Poisson { .. }
            | Arrival::Constant { .. }
            | Arrival::Ramp { .. }
            | Arrival::Series { .. }
            | Arrival::Trace { .. } => {
                self.arrivals.reset();
                if let Some(first) = self.next_open_arrival(i, start) {
                    self.schedule(first, Kind::Arrival(i as u32, OPEN_LOOP));
                }
            }
            Arrival::Closed { workers, .. } => {
                for w in 0..*workers {
                    self.schedule(start, Kind::Arrival(i as u32, w as u32));
                }
            }
        }
    }

    /// The next open-loop arrival after `from` in phase instance `i`, if
    /// before its end; a recorded hold goes to `pending_hold`.
    #[inline]
    fn next_open_arrival(&mut self, i: usize, from: u64) -> Option<u64> {
        let (at, hold) = self.arrivals.next(self.workload, &self.instances[i], from, &mut self.rng)?;
        self.pending_hold = hold;
        Some(at)
    }

    fn arrival(&mut self, instance: u32, worker: u32) {
        let i = instance as usize;
        // The intended start: a clock jump delays the arrival, not its
        // schedule (arrivals due in the gap pile up at its end).
        let now = self.event_at;
        let phase = self.instances[i].phase as u16;
        // Taken before the next arrival is scheduled (which sets the next one's).
        let hold = std::mem::replace(&mut self.pending_hold, NO_HOLD);
        if worker == OPEN_LOOP {
            if let Some(next) = self.next_open_arrival(i, now) {
                self.schedule(next, Kind::Arrival(instance, OPEN_LOOP));
            }
        } else if now >= self.instances[i].end {
            return;
        }
        let sections = if self.system.locks.is_empty() {
            Sections::default()
        } else {
            self.system.draw(phase as usize, &mut self.rng)
        };
        self.next_owner = self.next_owner.wrapping_add(1);
        let op =
            Op { intended: now, asked: now, sections, owner: self.next_owner, hold, phase, instance, worker };
        self.ledger.arrived(op.key());
        if self.faults.leaks() {
            self.leaked_bytes = self.leaked_bytes.saturating_add(self.faults.leak_at(now));
        }
        self.before(op);
    }

    /// An operation's next `before` section, or its acquire.
    fn before(&mut self, op: Op) {
        match op.sections.next_at(self.system.placed[0]) {
            Some(lock) => self.request_lock(lock, op, Resume::Before),
            None => self.acquire(op),
        }
    }

    /// Asks the pool for an object.
    fn acquire(&mut self, op: Op) {
        let admission = self.pool.acquire_or_queue();
        match admission {
            Ok(Admission::Ready(guard)) => self.start_hold(guard, op),
            Ok(Admission::Queued(ticket)) => {
                // The timeout runs from the acquire call (after a clock
                // jump, its end), the corrected wait from the intended start.
                let deadline = self.now.saturating_add(ns(self.workload.pool.settings.acquire_timeout));
                self.line.push_back(Waiting { ticket: Some(ticket), op, deadline });
                self.arm_deadline();
            }
            Err(_) => self.failed(op),
        }
        self.observe_size();
    }

    fn start_hold(&mut self, guard: PoolGuard<u64>, op: Op) {
        let now = self.now;
        let mut ready = now;
        let fresh = guard.is_fresh();
        if fresh {
            if let Some(create) = &self.create {
                ready = ready.saturating_add(create.sample_ns(&mut self.rng));
            }
        }
        let mut hold =
            if op.hold == NO_HOLD { self.holds[op.phase as usize].sample_ns(&mut self.rng) } else { op.hold };
        if self.system.cache.is_some() {
            hold = hold.saturating_add(self.system.lookup(&mut self.rng));
        }
        self.ledger.served(op.key(), ready - op.asked, None, fresh);
        self.note_handed_out(*guard);
        self.levels.in_use += 1;
        if self.faults.abandons(now) {
            // Never returned: held to the end of the run.
            self.injected.abandoned += 1;
            self.abandoned.push(Held { guard, op, since: now, ready, hold });
            return;
        }
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.held.push(None);
                (self.held.len() - 1) as u32
            }
        };
        self.held[slot as usize] = Some(Held { guard, op, since: now, ready, hold });
        self.inside(slot);
    }

    /// A holder's next `inside` section, or the rest of its hold.
    fn inside(&mut self, slot: u32) {
        let Some(held) = &self.held[slot as usize] else { return };
        let op = held.op;
        if let Some(lock) = op.sections.next_at(self.system.placed[1]) {
            return self.request_lock(lock, op, Resume::Inside(slot));
        }
        // Sections (if any) ran from the hold's start; the hold goes on
        // from the later of their end and the object's readiness.
        let release = self.faults.release_at(held.ready.max(self.now), held.hold);
        self.schedule(release, Kind::Release(slot));
    }

    /// An operation's next `after` section, or its end.
    fn after(&mut self, op: Op) {
        match op.sections.next_at(self.system.placed[2]) {
            Some(lock) => self.request_lock(lock, op, Resume::After),
            None => self.next_for_worker(op),
        }
    }

    /// Takes lock `lock` for `op` if it is free and nobody is in line,
    /// else puts `op` in its line.
    fn request_lock(&mut self, lock: usize, op: Op, resume: Resume) {
        let system = self.system;
        if self.lock_lines[lock].is_empty() {
            let taker = Taker::new(u64::from(op.owner));
            if let Some(guard) = system.locks[lock].1.try_take(op.sections.writes(lock), taker) {
                return self.hold_lock(lock, guard, op, resume);
            }
        }
        self.lock_lines[lock].push_back(LockWaiter { op, resume, since: self.now });
    }

    fn hold_lock(&mut self, lock: usize, guard: SimGuard<'s>, op: Op, resume: Resume) {
        let section = self.system.section_ns(lock, &mut self.rng);
        let slot = match self.free_sections.pop() {
            Some(slot) => slot,
            None => {
                self.sections.push(None);
                (self.sections.len() - 1) as u32
            }
        };
        self.sections[slot as usize] = Some(InSection { _guard: guard, lock, op, resume });
        self.schedule(self.now.saturating_add(section), Kind::Unlock(slot));
    }

    /// A critical section ends: the lock goes to its line, the operation on.
    fn unlock(&mut self, slot: u32) {
        let Some(section) = self.sections[slot as usize].take() else { return };
        self.free_sections.push(slot);
        let InSection { _guard, lock, mut op, resume } = section;
        drop(_guard);
        self.serve_lock_line(lock);
        op.sections.done(lock);
        match resume {
            // The pool's wait runs from when it is asked.
            Resume::Before => self.before(Op { asked: self.now, ..op }),
            Resume::Inside(slot) => {
                if let Some(held) = self.held[slot as usize].as_mut() {
                    held.op.sections = op.sections;
                }
                self.inside(slot)
            }
            Resume::After => self.after(op),
        }
    }

    /// Hands lock `lock` down its line, front first, while the front can
    /// take it (readers after readers).
    fn serve_lock_line(&mut self, lock: usize) {
        let system = self.system;
        while let Some(front) = self.lock_lines[lock].front() {
            let since = std::time::Duration::from_nanos(front.since);
            let taker = Taker::new(u64::from(front.op.owner)).waiting_since(since);
            let Some(guard) = system.locks[lock].1.try_take(front.op.sections.writes(lock), taker) else {
                break;
            };
            if let Some(waiter) = self.lock_lines[lock].pop_front() {
                self.hold_lock(lock, guard, waiter.op, waiter.resume);
            }
        }
    }

    /// Marks object `id` as held; one already held is handed out twice.
    #[inline]
    fn note_handed_out(&mut self, id: u64) {
        let i = usize::try_from(id).unwrap_or(usize::MAX);
        if i >= self.held_ids.len() {
            self.held_ids.resize(i.saturating_add(1).max(self.held_ids.len() * 2), false);
        }
        if std::mem::replace(&mut self.held_ids[i], true) {
            self.handed_out_twice += 1;
        }
    }

    fn failed(&mut self, op: Op) {
        self.ledger.failed(op.key());
        self.next_for_worker(op);
    }

    /// A closed-loop worker thinks, then arrives again (within its phase).
    fn next_for_worker(&mut self, op: Op) {
        if op.worker == OPEN_LOOP {
            return;
        }
        let think = match &self.thinks[op.phase as usize] {
            Some(s) => s.sample_ns(&mut self.rng),
            None => 0,
        };
        let at = self.now.saturating_add(think);
        if at < self.instances[op.instance as usize].end {
            self.schedule(at, Kind::Arrival(op.instance, op.worker));
        }
    }

    fn release(&mut self, slot: u32) {
        let Some(held) = &self.held[slot as usize] else { return };
        let (op, held_ns, id) = (held.op, self.now - held.since, *held.guard);
        if let Some(seen) = self.held_ids.get_mut(id as usize) {
            *seen = false;
        }
        if self.faults.holder_panics(self.now) {
            if let Some(held) = self.held[slot as usize].take() {
                panic_holding(held.guard);
            }
            self.injected.holder_panics += 1;
        } else {
            // Returned where it lies: a `Held` is a guard and an operation,
            // and copying it out first cost more than the return itself.
            self.held[slot as usize] = None;
        }
        self.free_slots.push(slot);
        self.levels.in_use -= 1;
        self.ledger.completed(op.key(), held_ns);
        self.after(op);
        self.serve_line();
        self.observe_size();
    }

    /// Polls the line front first: the pool serves FIFO, so the served
    /// tickets are a prefix of the live ones.
    fn serve_line(&mut self) {
        while let Some(front) = self.line.front_mut() {
            let outcome = match front.ticket.as_mut() {
                None => None,
                Some(ticket) => match ticket.poll() {
                    None => return,
                    Some(outcome) => Some(outcome),
                },
            };
            let op = front.op;
            self.line.pop_front();
            match outcome {
                None => {}
                Some(Ok(guard)) => self.start_hold(guard, op),
                Some(Err(_)) => self.failed(op),
            }
        }
    }

    /// Schedules the front's deadline if none is pending.
    fn arm_deadline(&mut self) {
        if !self.deadline_armed {
            if let Some(front) = self.line.front() {
                self.deadline_armed = true;
                self.schedule(front.deadline, Kind::Deadline);
            }
        }
    }

    /// Expires every waiter whose deadline has passed, front first.
    fn deadline(&mut self) {
        self.deadline_armed = false;
        while let Some(front) = self.line.front_mut() {
            if front.ticket.is_some() && front.deadline > self.now {
                break;
            }
            let op = front.op;
            let ticket = front.ticket.take();
            self.line.pop_front();
            let Some(ticket) = ticket else { continue };
            match ticket.expire() {
                Ok(guard) => self.start_hold(guard, op),
                Err(e) if e.is_timeout() => {
                    // The caller waited its whole timeout: that belongs in
                    // the wait distribution (a p99 gate must see it).
                    self.ledger.timed_out(op.key(), self.now - op.asked, None);
                    self.next_for_worker(op);
                }
                Err(_) => self.failed(op),
            }
        }
        self.serve_line();
        self.arm_deadline();
        self.observe_size();
    }

    fn maintain(&mut self) {
        self.pool.maintain();
        self.serve_line();
        self.observe_size();
    }

    fn sample(&mut self) {
        self.last_sample_at = self.now;
        self.note_memory();
        let status = self.pool.status();
        // The interval just ended belongs to the phase running before `now`
        // (a phase starting exactly now has not contributed to it).
        let mut current = self.current;
        while current > 0 && self.instances.get(current).is_some_and(|i| i.start >= self.now) {
            current -= 1;
        }
        let phase = self.instances.get(current).map_or("", |i| self.workload.phases[i.phase].name.as_str());
        let memory = self.memory();
        let sample = accounting::sample(self.now, phase, &status, &mut self.ledger.interval, memory, None);
        self.observer.on_sample(&sample);
        if self.observer.wants_checkpoint() {
            let mut snapshot = self.outcome();
            snapshot.interrupted = true;
            self.observer.on_checkpoint(&snapshot, None);
        }
    }

    /// Everything measured so far (the tallies copied and settled).
    fn outcome(&self) -> Outcome {
        let mut ledger = self.ledger.clone();
        for held in self.held.iter().flatten().chain(&self.abandoned) {
            ledger.still_open(held.op.phase, true);
        }
        for w in self.line.iter().filter(|w| w.ticket.is_some()) {
            ledger.still_open(w.op.phase, false);
        }
        // Operations in a `before` section, or in line for one, have not
        // asked the pool yet: they count as waiting.
        let before = self.lock_lines.iter().flatten().map(|w| (w.op, w.resume));
        let in_sections = self.sections.iter().flatten().map(|s| (s.op, s.resume));
        for (op, _) in before.chain(in_sections).filter(|(_, r)| matches!(r, Resume::Before)) {
            ledger.still_open(op.phase, false);
        }
        let held = ledger.open.iter().map(|p| p.0).sum();
        let end = Ending {
            at: self.now,
            interrupted: self.stop.load(Ordering::Relaxed),
            memory: self.memory(),
            held,
            handed_out_twice: self.handed_out_twice,
            injected: Injected { factory_panics: self.factory.panics(), ..self.injected },
        };
        let mut outcome = accounting::outcome(ledger, &self.levels, &self.pool, end);
        if !self.system.is_empty() {
            outcome.system = SystemFigures::of(self.system);
        }
        outcome
    }

    fn finish(mut self) -> Outcome {
        let outcome = self.outcome();
        // The line first, front first: each ticket leaves from the front of
        // the pool's line in O(1). Returning the held objects first would
        // grant them down a long line, one cancelled grant at a time.
        drop(std::mem::take(&mut self.line));
        self.held.clear();
        self.abandoned.clear();
        self.sections.clear();
        outcome
    }
}
