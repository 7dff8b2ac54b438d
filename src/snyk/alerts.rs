//! Snyk's lifecycle alerts: an answer `410 Gone`, or a `Sunset` or
//! `Deprecation` header, on any call. Snyk retires v1 endpoints with a month's
//! notice and then monthly brownouts answering 410; REST answers carry
//! `deprecation` / `sunset` headers. Either means a call kind (`METHOD
//! template`, [`super::Request::kind`]) is going away, so the client stops
//! sending that kind: the next request of it returns
//! [`super::SnykError::Blocked`] without going out, and the engine keeps the
//! work queued.
//!
//! The blocked kinds live in memory, shared by every clone of the client; a
//! new process starts with none (its first call of a kind is the probe). The
//! engine persists them for `status`. This module never sees the token and
//! never reads the database.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::header::HeaderMap;

/// One blocked call kind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockedKind {
    /// `METHOD template`, e.g. `POST /org/{orgId}/provision`.
    pub kind: String,
    /// What Snyk said: `410 Gone`, `Sunset: <date>`, `Deprecation: <value>`.
    pub reason: String,
    /// Unix ms when it was first seen.
    pub at: i64,
}

/// The call kinds this process no longer sends.
#[derive(Debug, Default)]
pub struct ApiAlerts {
    blocked: Mutex<BTreeMap<String, BlockedKind>>,
    /// Bumped on every change, so a persister knows when to write.
    generation: AtomicU64,
}

impl ApiAlerts {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BlockedKind>> {
        self.blocked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why this kind is blocked, if it is.
    pub fn blocked(&self, kind: &str) -> Option<BlockedKind> {
        self.lock().get(kind).cloned()
    }

    /// Block a kind; `true` when it was not blocked before (the caller logs
    /// and counts it once).
    pub fn block(&self, kind: &str, reason: &str, at: i64) -> bool {
        let mut map = self.lock();
        if map.contains_key(kind) {
            return false;
        }
        map.insert(
            kind.to_owned(),
            BlockedKind {
                kind: kind.to_owned(),
                reason: reason.to_owned(),
                at,
            },
        );
        self.generation.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Every blocked kind, sorted by kind.
    pub fn snapshot(&self) -> Vec<BlockedKind> {
        self.lock().values().cloned().collect()
    }

    /// Changes so far (0: none).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

/// The longest header value kept in a reason.
const MAX_REASON_VALUE: usize = 100;

/// Whether an answer is a lifecycle alert, and what it said: `410 Gone`
/// first, then `Sunset`, then `Deprecation` (header names without case).
pub fn lifecycle_alert(status: u16, headers: &HeaderMap) -> Option<String> {
    if status == 410 {
        return Some("410 Gone".to_owned());
    }
    for (name, shown) in [("sunset", "Sunset"), ("deprecation", "Deprecation")] {
        if let Some(v) = headers.get(name) {
            let value: String = v
                .to_str()
                .unwrap_or("(not text)")
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_REASON_VALUE)
                .collect();
            return Some(format!("{shown}: {}", value.trim()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        m
    }

    #[test]
    fn gone_and_lifecycle_headers_are_alerts() {
        assert_eq!(
            lifecycle_alert(410, &headers(&[])).as_deref(),
            Some("410 Gone")
        );
        assert_eq!(
            lifecycle_alert(
                200,
                &headers(&[("Sunset", "Sat, 01 May 2027 00:00:00 GMT")])
            )
            .as_deref(),
            Some("Sunset: Sat, 01 May 2027 00:00:00 GMT")
        );
        assert_eq!(
            lifecycle_alert(200, &headers(&[("deprecation", "2026-11-01")])).as_deref(),
            Some("Deprecation: 2026-11-01")
        );
        assert_eq!(lifecycle_alert(200, &headers(&[])), None);
        assert_eq!(lifecycle_alert(404, &headers(&[("x-other", "1")])), None);
        let long = "x".repeat(500);
        let r = lifecycle_alert(200, &headers(&[("deprecation", &long)])).expect("alert");
        assert!(r.len() < 150, "{r}");
    }

    #[test]
    fn a_kind_is_blocked_once() {
        let a = ApiAlerts::default();
        assert_eq!(a.generation(), 0);
        assert!(a.block("POST /org/{orgId}/provision", "410 Gone", 5));
        assert!(!a.block("POST /org/{orgId}/provision", "Sunset: x", 6));
        assert_eq!(a.generation(), 1);
        let b = a.blocked("POST /org/{orgId}/provision").expect("blocked");
        assert_eq!((b.reason.as_str(), b.at), ("410 Gone", 5));
        assert!(a.blocked("GET /org/{orgId}/provision").is_none());
        assert_eq!(a.snapshot().len(), 1);
    }
}
