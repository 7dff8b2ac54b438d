//! The sender's side of the pacing view: stores the pace whenever the
//! pacer's budget changes it (so `status`, `/status` and `/metrics` show the
//! learnt rate and why, on every replica), and takes a learnt rate up again
//! after a restart, so a bridge configured above its real limit does not
//! spend one more 429 episode finding it again.
//!
//! It never changes the pace itself, and a store error here never stops a
//! call (the view is only late).

use crate::pacing::{self, Pacing};

use super::engine::Engine;

impl Engine {
    /// Store the pace if the pacer changed it since the last look.
    pub(super) async fn note_pace(&self) {
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
        match stored {
            Some(p)
                if p.configured_per_minute == pace.configured
                    && p.window_secs == pace.window.as_secs()
                    && p.learnt() =>
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
