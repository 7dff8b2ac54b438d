//! The Snyk pacing the sender runs at, as operators see it: the rate (calls
//! a minute) the pacer lets out now, the configured one, and why they differ
//! (learnt from a 429, or trying upward again). The sender stores it in
//! `sync_meta` whenever it changes (see `sync::pacing`); `status`, `/status`
//! and `/metrics` read it there, so every replica shows the leader's.
//!
//! It only describes; it never changes the pace (that is `sync::budget`).

use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};
use crate::sync::budget::{Pace, Reason};

/// `sync_meta` key of the pacing ([`Pacing`], JSON).
pub const META_PACING: &str = "snyk_pacing";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pacing {
    /// The rate in force, calls a minute.
    pub requests_per_minute: u32,
    /// `snyk.requests_per_minute`.
    pub configured_per_minute: u32,
    /// `configured`, `learnt` or `raising`.
    pub reason: String,
    /// The calls Snyk answered in the window before the last learnt 429.
    pub answered_in_window: Option<u32>,
    /// `snyk.rate_window_secs`.
    pub window_secs: u64,
    /// When the rate last changed (Unix ms); `None`: configured from the start.
    pub since: Option<i64>,
}

impl Pacing {
    pub fn of(pace: Pace, since: Option<i64>) -> Self {
        Self {
            requests_per_minute: pace.rate,
            configured_per_minute: pace.configured,
            reason: pace.reason.as_str().to_owned(),
            answered_in_window: pace.reason.answered(),
            window_secs: pace.window.as_secs(),
            since,
        }
    }

    pub fn configured(requests_per_minute: u32, window_secs: u64) -> Self {
        Self {
            requests_per_minute,
            configured_per_minute: requests_per_minute,
            reason: Reason::Configured.as_str().to_owned(),
            answered_in_window: None,
            window_secs,
            since: None,
        }
    }

    /// Below the configured rate because Snyk refused calls.
    pub fn learnt(&self) -> bool {
        self.requests_per_minute < self.configured_per_minute
    }

    /// One line for `status` and `/status`.
    pub fn text(&self) -> String {
        let at = self
            .since
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|d| {
                format!(
                    " since {}",
                    d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                )
            })
            .unwrap_or_default();
        let answered = self
            .answered_in_window
            .map(|n| {
                format!(
                    "Snyk answered {n} calls in the {} s before the last 429",
                    self.window_secs
                )
            })
            .unwrap_or_default();
        match self.reason.as_str() {
            "learnt" => format!(
                "{}/min, learnt{at}: {answered}; runs at 0.97 of that (snyk.requests_per_minute is {})",
                self.requests_per_minute, self.configured_per_minute
            ),
            "raising" => format!(
                "{}/min, trying upward{at} toward snyk.requests_per_minute {} ({answered})",
                self.requests_per_minute, self.configured_per_minute
            ),
            _ => format!(
                "{}/min (snyk.requests_per_minute; no 429 has lowered it)",
                self.requests_per_minute
            ),
        }
    }
}

/// The stored pacing, if it was stored under the same configured rate and
/// window; else the configured rate (a changed configuration starts afresh).
pub async fn shown(store: &Store, configured: u32, window_secs: u64) -> Result<Pacing, StoreError> {
    Ok(load(store)
        .await?
        .filter(|p| p.configured_per_minute == configured && p.window_secs == window_secs)
        .unwrap_or_else(|| Pacing::configured(configured, window_secs)))
}

/// What is stored; a value that does not parse is reported as missing.
pub async fn load(store: &Store) -> Result<Option<Pacing>, StoreError> {
    let mut tx = store.read().await?;
    let v = tx.meta(META_PACING).await?;
    tx.commit().await?;
    Ok(v.and_then(|v| serde_json::from_str(&v).ok()))
}

pub async fn save(store: &Store, p: &Pacing) -> Result<(), StoreError> {
    let v = serde_json::to_string(p).unwrap_or_default();
    let mut tx = store.write().await?;
    tx.set_meta(META_PACING, &v).await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_line_says_why() {
        let c = Pacing::configured(1800, 60);
        assert!(!c.learnt());
        assert!(
            c.text().starts_with("1800/min (snyk.requests_per_minute"),
            "{}",
            c.text()
        );
        let l = Pacing::of(
            Pace {
                configured: 3000,
                rate: 1940,
                reason: Reason::Learnt { answered: 2000 },
                window: Duration::from_secs(60),
            },
            Some(1_798_848_000_000),
        );
        assert!(l.learnt());
        let t = l.text();
        assert!(
            t.starts_with("1940/min, learnt since 2027-01-02T00:00:00.000Z"),
            "{t}"
        );
        assert!(
            t.contains("Snyk answered 2000 calls in the 60 s before the last 429"),
            "{t}"
        );
        assert!(t.contains("snyk.requests_per_minute is 3000"), "{t}");
        let r = Pacing::of(
            Pace {
                configured: 3000,
                rate: 1995,
                reason: Reason::Raising { answered: 2000 },
                window: Duration::from_secs(60),
            },
            Some(1_798_848_000_000),
        );
        assert!(r.text().contains("trying upward"), "{}", r.text());
    }
}
