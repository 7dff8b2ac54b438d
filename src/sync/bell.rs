//! The sync engine's bell: how a write that queued outbox work wakes the
//! worker, and when that work falls due.
//!
//! A SCIM write queues its targets due after the settle time (so that a
//! burst about one user is planned once). Ringing a bare bell made the
//! worker claim at once, find nothing due, and go back to sleep: a claim
//! transaction per SCIM write for nothing. The bell keeps the earliest due
//! time rung since the worker last listened, so the worker sleeps on until
//! then without touching the database.
//!
//! It must never lose a ring: a due time it cannot vouch for (two rings
//! between two looks, one of them "now") wakes the worker at once; waking
//! too early costs a claim, waking too late would delay a grant.

use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::Notify;

/// No due time noted since the worker last listened.
const NONE: i64 = i64::MAX;

#[derive(Debug)]
pub struct Bell {
    notify: Notify,
    /// The earliest due time (ms since the epoch, the engine's clock) rung
    /// since the last [`Bell::rung`]; [`NONE`] if none.
    earliest: AtomicI64,
}

impl Default for Bell {
    fn default() -> Self {
        Self {
            notify: Notify::new(),
            earliest: AtomicI64::new(NONE),
        }
    }
}

impl Bell {
    /// Work was queued that falls due at `due_ms` (ms since the epoch).
    pub fn ring_at(&self, due_ms: i64) {
        // Noted before the wake-up, so the worker that wakes sees it.
        self.earliest.fetch_min(due_ms, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Work was queued that is due now.
    pub fn ring(&self) {
        self.ring_at(i64::MIN);
    }

    /// Wait for a ring. The answer is the earliest due time rung since the
    /// last call, or `None`: due now, or not known (then wake at once).
    /// Cancel safe: a ring not yet taken stays for the next call.
    pub async fn rung(&self) -> Option<i64> {
        self.notify.notified().await;
        match self.earliest.swap(NONE, Ordering::SeqCst) {
            NONE | i64::MIN => None,
            due => Some(due),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn the_earliest_due_time_wins_and_now_beats_any_time() {
        let bell = Bell::default();
        assert_eq!(bell.rung().now_or_never(), None, "not rung: still waiting");

        bell.ring_at(2_000);
        bell.ring_at(1_000);
        bell.ring_at(3_000);
        assert_eq!(bell.rung().now_or_never(), Some(Some(1_000)));
        assert_eq!(bell.rung().now_or_never(), None, "one ring, one wake-up");

        bell.ring_at(1_000);
        bell.ring();
        assert_eq!(bell.rung().now_or_never(), Some(None), "due now");
    }

    #[test]
    fn a_ring_between_two_looks_is_never_lost() {
        let bell = Bell::default();
        bell.ring_at(5_000);
        assert_eq!(bell.rung().now_or_never(), Some(Some(5_000)));
        // A wake-up whose due time was already taken by an earlier look
        // wakes the worker at once (`None`), never not at all.
        bell.ring_at(7_000);
        bell.earliest.swap(NONE, Ordering::SeqCst);
        assert_eq!(bell.rung().now_or_never(), Some(None));
    }
}
