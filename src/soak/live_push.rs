//! The live Pushgateway push of a wall-clock run, off the monitor's
//! thread ([`Courier`]): a push to a slow or dead Pushgateway (up to its
//! 10 s deadline) must never delay a sample, a checkpoint or the run's end.

use std::sync::Arc;

use crate::export::Pushgateway;
use crate::http::{Courier, DeliveryStats};

/// A thread that pushes the expositions it is offered, one at a time.
pub(super) struct LivePush {
    courier: Courier<String>,
    stats: Arc<DeliveryStats>,
    /// Failures already reported.
    reported: u64,
}

impl LivePush {
    /// Starts the pushing thread for `group`.
    pub(super) fn start(group: Pushgateway) -> std::io::Result<LivePush> {
        let stats = Arc::new(DeliveryStats::default());
        // One exposition under way and one waiting: an offer beyond is
        // skipped (the next one carries newer values anyway).
        let courier = Courier::start("tidepool-push", 1, Arc::clone(&stats), move |body: String, _| {
            group.push(&body).map_err(|e| e.to_string())
        })?;
        Ok(LivePush { courier, stats, reported: 0 })
    }

    /// Queues `body` for the pushing thread; skipped while a push is
    /// still under way and another waits.
    pub(super) fn offer(&mut self, body: String) {
        self.courier.offer(body);
    }

    /// The last push's error, if one failed since the last call.
    pub(super) fn take_error(&mut self) -> Option<String> {
        let failures = self.stats.failures();
        if failures == self.reported {
            return None;
        }
        self.reported = failures;
        self.stats.last_error()
    }

    /// Expositions skipped so far.
    pub(super) fn skipped(&self) -> u64 {
        self.stats.dropped()
    }
}
