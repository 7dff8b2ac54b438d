//! The sender's side of the pacing view: stores the pace whenever the
//! pacer's budget changes it (so `status`, `/status` and `/metrics` show the
//! learnt rate and why, on every replica), and takes a learnt rate up again
//! after a restart, so a bridge configured above its real limit does not
//! spend one more 429 episode finding it again.
//!
//! It never changes the pace beyond taking a stored one up again at start,
//! and a store error here never stops a call (the view is only late).

use crate::pacing::{self, Pacing};

use super::engine::Engine;

/// How long a stored learnt rate is taken up again after a restart.
const RESUME_WITHIN_MS: i64 = 24 * 3600 * 1000;

impl Engine {
    /// Store the pace if the pacer changed it since the last look.
    pub(super) async fn note_pace(&self) {
        if !self.pacer.has_change() {
            return;
        }
        // One writer at a time, each storing the pace as it is when it
        // writes: a slower writer never puts an older pace back.
        let _order = self.pacer.store_order().await;
        let Some(pace) = self.pacer.take_change() else {
            return;
        };
        let p = Pacing::of(pace, Some(self.now()));
        if let Err(e) = pacing::save(&self.store, &p).await {
            tracing::warn!(error = %e, "could not store the Snyk pacing for the views");
        }
    }

    /// A new sender: take up the rate learnt before (same configured rate
    /// and window only), or show the configured one.
    pub async fn resume_pace(&self) {
        let pace = self.pacer.pace();
        let stored = match pacing::load(&self.store).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the stored Snyk pacing");
                None
            }
        };
        // A learnt rate is taken up for a day; older, the budget may have
        // changed and a new 429 teaches it again.
        let fresh = |p: &Pacing| p.since.is_some_and(|s| self.now() - s < RESUME_WITHIN_MS);
        match stored {
            Some(p)
                if p.configured_per_minute == pace.configured
                    && p.window_secs == pace.window.as_secs()
                    && p.learnt()
                    && fresh(&p) =>
            {
                self.pacer
                    .resume(p.requests_per_minute, p.answered_in_window.unwrap_or(0));
                // Shown as stored (its `since` stays); the next change rewrites it.
                let _ = self.pacer.take_change();
                tracing::info!(
                    requests_per_minute = p.requests_per_minute,
                    configured = p.configured_per_minute,
                    "resumed the Snyk pacing learnt before the restart"
                );
            }
            _ => {
                let p = Pacing::configured(pace.configured, pace.window.as_secs());
                if let Err(e) = pacing::save(&self.store, &p).await {
                    tracing::warn!(error = %e, "could not store the Snyk pacing for the views");
                }
            }
        }
    }
}
