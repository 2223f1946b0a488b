//! The live Pushgateway push of a wall-clock run, off the monitor's
//! thread: a push to a slow or dead Pushgateway (up to its 10 s deadline)
//! must never delay a sample, a checkpoint or the run's end.

use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::Mutex;

use crate::export::Pushgateway;

/// A thread that pushes the expositions it is offered, one at a time.
pub(super) struct LivePush {
    tx: Sender<String>,
    /// The last push's error, until the feed reports it.
    failed: Arc<Mutex<Option<String>>>,
    /// Expositions not pushed because one was still under way.
    skipped: u64,
}

impl LivePush {
    /// Starts the pushing thread for `group`.
    pub(super) fn start(group: Pushgateway) -> std::io::Result<LivePush> {
        // One exposition under way and one waiting: an offer beyond is
        // skipped (the next one carries newer values anyway).
        let (tx, rx) = crossbeam_channel::bounded::<String>(1);
        let failed = Arc::new(Mutex::new(None));
        let report = Arc::clone(&failed);
        std::thread::Builder::new().name("tidepool-push".into()).spawn(move || {
            for body in rx {
                if let Err(e) = group.push(&body) {
                    *report.lock() = Some(e.to_string());
                }
            }
        })?;
        Ok(LivePush { tx, failed, skipped: 0 })
    }

    /// Queues `body` for the pushing thread; skipped while a push is
    /// still under way and another waits.
    pub(super) fn offer(&mut self, body: String) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(body) {
            self.skipped += 1;
        }
    }

    /// The last failed push's error, once.
    pub(super) fn take_error(&self) -> Option<String> {
        self.failed.lock().take()
    }

    /// Expositions skipped so far.
    pub(super) fn skipped(&self) -> u64 {
        self.skipped
    }
}
