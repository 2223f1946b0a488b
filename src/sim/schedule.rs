//! The open-loop arrival schedule of a workload, shared by the virtual-time
//! engine and the wall-clock runner: one generator, so both modes draw
//! their intended start times the same way. (Not the same draws: the
//! engine interleaves hold draws with arrival draws on one stream as
//! events happen, the wall-clock dispatcher draws each hold at dispatch.)

use rand::rngs::SmallRng;
use rand::Rng;

use super::workload::{Arrival, Workload, WorkloadError};

/// `hold` of an arrival whose hold the phase's distribution draws (not a
/// recorded trace's).
pub(crate) const NO_HOLD: u64 = u64::MAX;

/// One run of one phase: `[start, end)` in nanoseconds from the run's start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Instance {
    pub start: u64,
    pub end: u64,
    pub phase: usize,
}

/// The workload's phase instances, in time order.
pub(crate) fn instances(workload: &Workload) -> Vec<Instance> {
    workload
        .schedule()
        .into_iter()
        .map(|(start, stop, phase)| Instance { start: ns(start), end: ns(stop), phase })
        .collect()
}

pub(crate) fn ns(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Where an open-loop phase instance's arrivals have reached. Reset at each
/// phase start.
///
/// A `series` or `trace` phase reads its input as it goes (from memory or
/// from its file, see [`super::lines`]): a reader per phase instance, and
/// per loop of a trace. A read error (the file changed since it was first
/// read) ends the instance's arrivals and is kept in [`ArrivalCursor::error`]
/// for the run to report.
#[derive(Default)]
pub(crate) struct ArrivalCursor {
    /// Where a `series` phase's arrivals are in its series.
    series: Option<super::series::Cursor>,
    /// A `trace` phase's operations, the current loop.
    trace: Option<super::trace::Events>,
    /// Arrivals drawn so far in a `constant` or `trace` phase instance.
    k: u64,
    /// The first read error.
    error: Option<WorkloadError>,
}

impl ArrivalCursor {
    /// Starts a new phase instance.
    pub fn reset(&mut self) {
        self.series = None;
        self.trace = None;
        self.k = 0;
    }

    /// The first error reading a series or trace again, if any.
    pub fn take_error(&mut self) -> Option<WorkloadError> {
        self.error.take()
    }

    /// Records `e` (the first one wins) and ends the arrivals.
    #[cold]
    fn fail<T>(&mut self, e: WorkloadError) -> Option<T> {
        self.error.get_or_insert(e);
        None
    }

    /// The next open-loop arrival after `from` in `instance`, if before its
    /// end: `(at, hold)`, `hold` being a recorded trace's or [`NO_HOLD`].
    /// A ramp is a Poisson process thinned from its peak rate.
    #[inline]
    pub fn next(
        &mut self,
        workload: &Workload,
        instance: &Instance,
        from: u64,
        rng: &mut SmallRng,
    ) -> Option<(u64, u64)> {
        let (start, end) = (instance.start, instance.end);
        let phase = &workload.phases[instance.phase];
        let exp = |rng: &mut SmallRng, rate: f64| -> f64 {
            let e: f64 = rng.sample(rand_distr::Exp1);
            e / rate * 1e9
        };
        let next = match phase.arrival {
            Arrival::Poisson { rate } => from as f64 + exp(rng, rate),
            Arrival::Constant { rate } => {
                // The k-th arrival at start + k/rate, from a per-instance
                // count: no drift from rounding each gap, and the first
                // (k = 0) at the phase's start.
                let k = self.k;
                self.k += 1;
                start as f64 + k as f64 * 1e9 / rate
            }
            Arrival::Ramp { from: r0, to: r1 } => {
                let peak = r0.max(r1);
                if peak <= 0.0 {
                    return None;
                }
                let full = ns(phase.duration) as f64;
                let mut t = from as f64;
                loop {
                    t += exp(rng, peak);
                    if t >= end as f64 {
                        return None;
                    }
                    let rate = r0 + (r1 - r0) * ((t - start as f64) / full);
                    if rng.random::<f64>() * peak < rate {
                        break t;
                    }
                }
            }
            Arrival::Series { ref loaded, .. } => {
                let series = loaded.as_ref()?;
                if self.error.is_some() {
                    return None;
                }
                if self.series.is_none() {
                    match super::series::Cursor::new(series) {
                        Ok(cursor) => self.series = Some(cursor),
                        Err(e) => return self.fail(e),
                    }
                }
                let e: f64 = rng.sample(rand_distr::Exp1);
                let cursor = self.series.as_mut()?;
                let offset = match cursor.next_after(from - start, e) {
                    Ok(offset) => offset?,
                    Err(e) => return self.fail(e),
                };
                return Some((start + offset, NO_HOLD)).filter(|&(t, _)| t < end);
            }
            Arrival::Trace { ref trace, speed, loops } => {
                // `k` counts this instance's operations; loop `l` starts one
                // trace period (span + 1 ms) after loop l - 1, reading the
                // trace again from its start.
                let len = trace.len() as u64;
                let k = self.k;
                if len == 0 || k >= len * u64::from(loops) || self.error.is_some() {
                    return None;
                }
                if k % len == 0 || self.trace.is_none() {
                    match trace.events() {
                        Ok(events) => self.trace = Some(events),
                        Err(e) => return self.fail(e),
                    }
                }
                let events = self.trace.as_mut()?;
                let (t, hold) = match events.next_event() {
                    Ok(event) => event?,
                    Err(e) => return self.fail(e),
                };
                let period = trace.span().as_nanos() as f64 / speed + 1e6;
                let at = start + ((k / len) as f64 * period + t as f64 / speed + 0.5) as u64;
                if at >= end {
                    return None;
                }
                self.k += 1;
                return Some((at, hold));
            }
            Arrival::Closed { .. } => return None,
        };
        // Round half up without libm's `round` (0 <= next < 2^53 here, where
        // adding 0.5 is exact enough; measured 2 % of the engine's time).
        let next = (next + 0.5) as u64;
        (next < end).then_some((next, NO_HOLD))
    }
}
