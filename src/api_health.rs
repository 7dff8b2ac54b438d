//! What the bridge learnt about its Snyk token and Snyk's API lifecycle, as
//! stored for every process to show (`status`, `/status`, `/readyz`,
//! `/metrics`): the token's expiry (read at start and daily by the leader's
//! worker, `sync::api_health`) and the call kinds Snyk is retiring
//! (`snyk::alerts`).
//!
//! Stored as JSON in two `sync_meta` values; the judgements (which token is
//! ours, how close the expiry is) are pure and table-tested. It never holds
//! or shows the token itself, and never calls Snyk: a page view only reads
//! what the worker stored.

use serde::{Deserialize, Serialize};

use crate::health::Level;
use crate::snyk::{AccessToken, BlockedKind};
use crate::store::{Store, StoreError};

/// `sync_meta` key of the last token check ([`TokenHealth`], JSON).
pub const META_TOKEN: &str = "api_health_token";
/// `sync_meta` key of the blocked call kinds (`[BlockedKind]`, JSON).
pub const META_BLOCKED: &str = "api_health_blocked";

/// Warn this long before the token expires.
pub const WARN_BEFORE_MS: i64 = 14 * DAY_MS;
/// Say "renew now" this long before.
pub const URGENT_BEFORE_MS: i64 = 3 * DAY_MS;
pub const DAY_MS: i64 = 86_400_000;

/// The last check of the token's expiry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenHealth {
    /// Unix ms of the check.
    pub checked_at: i64,
    /// Unix ms of the expiry, when known (kept from an earlier check when
    /// the last one failed).
    pub expires_at: Option<i64>,
    /// What was seen: how many tokens were listed, which expiry was taken.
    pub note: String,
    /// Snyk did not allow the call (401/403/404): said once, not daily.
    pub not_allowed: Option<u16>,
    /// The last check failed otherwise (unreachable, 5xx, blocked).
    pub error: Option<String>,
}

/// Which listed token is ours. The list holds up to 3 tokens and nothing
/// documented says which one made the call: with exactly one, that one; else
/// the earliest `expires_at` (the safe side), and the note says so. `None`
/// when no token carries a readable expiry.
pub fn choose_expiry(tokens: &[AccessToken]) -> (Option<i64>, String) {
    let parsed: Vec<i64> = tokens
        .iter()
        .filter_map(|t| t.expires_at.as_deref())
        .filter_map(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
        .map(|d| d.timestamp_millis())
        .collect();
    let earliest = parsed.iter().min().copied();
    let note = match (tokens.len(), parsed.len()) {
        (0, _) => "Snyk listed no personal access token".to_owned(),
        (_, 0) => format!("Snyk listed {} token(s), none with an expiry", tokens.len()),
        (1, _) => "Snyk listed 1 token (this one)".to_owned(),
        (n, k) => format!(
            "Snyk listed {n} tokens ({k} with an expiry); which one is the bridge's is not documented, so the earliest expiry is taken"
        ),
    };
    (earliest, note)
}

/// How close the expiry is: expired = failing; under 14 days = warning (the
/// page turns to warning; under 3 days the text says "renew now", readiness
/// never changes).
pub fn token_component(t: Option<&TokenHealth>, dry_run: bool, now_ms: i64) -> (Level, String) {
    if dry_run {
        return (Level::Info, "not used in dry run".into());
    }
    let Some(t) = t else {
        return (Level::Info, "not checked yet".into());
    };
    if t.not_allowed.is_some() {
        return (
            Level::Info,
            format!(
                "unknown: the token's expiry cannot be read ({}); the bridge cannot warn before it expires: note the date when the token was made",
                t.note
            ),
        );
    }
    let failed = t
        .error
        .as_deref()
        .map(|e| format!("; the last check failed: {e}"))
        .unwrap_or_default();
    let Some(exp) = t.expires_at else {
        return (Level::Info, format!("expiry unknown: {}{failed}", t.note));
    };
    let left = exp - now_ms;
    let at = chrono::DateTime::from_timestamp_millis(exp)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| exp.to_string());
    // Rounded: "2 days" for a token made to last 2 days, checked a moment later.
    let days = (left + DAY_MS / 2) / DAY_MS;
    let (level, text) = if left <= 0 {
        (
            Level::Bad,
            format!("expired at {at}: Snyk refuses every call; renew snyk.token / SNYK_TOKEN"),
        )
    } else if left < URGENT_BEFORE_MS {
        (
            Level::Warn,
            format!("expires in {days} days ({at}): renew snyk.token / SNYK_TOKEN now"),
        )
    } else if left < WARN_BEFORE_MS {
        (
            Level::Warn,
            format!("expires in {days} days ({at}): plan the renewal of snyk.token"),
        )
    } else {
        (Level::Ok, format!("expires in {days} days ({at})"))
    };
    (level, format!("{text}; {}{failed}", t.note))
}

/// The blocked call kinds as one health row.
pub fn blocked_component(blocked: &[BlockedKind]) -> (Level, String) {
    if blocked.is_empty() {
        return (
            Level::Ok,
            "no call answered 410 Gone or carried Sunset / Deprecation".into(),
        );
    }
    let list: Vec<String> = blocked
        .iter()
        .map(|b| format!("{} ({})", b.kind, b.reason))
        .collect();
    (
        Level::Bad,
        format!(
            "not sent any more, work kept queued: {}; upgrade the bridge or restart it to probe again",
            list.join(", ")
        ),
    )
}

/// What is stored: the last token check and the blocked kinds. A value that
/// does not parse is reported as missing (the next check rewrites it).
pub async fn load(store: &Store) -> Result<(Option<TokenHealth>, Vec<BlockedKind>), StoreError> {
    let mut tx = store.read().await?;
    let token = tx.meta(META_TOKEN).await?;
    let blocked = tx.meta(META_BLOCKED).await?;
    tx.commit().await?;
    Ok((
        token.and_then(|v| serde_json::from_str(&v).ok()),
        blocked
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default(),
    ))
}

/// The lines `/readyz` adds under `ready` (warnings only; readiness stays).
pub fn readiness_notes(
    token: Option<&TokenHealth>,
    blocked: &[BlockedKind],
    now_ms: i64,
) -> Vec<String> {
    let mut out = Vec::new();
    let (level, text) = token_component(token, false, now_ms);
    if matches!(level, Level::Warn | Level::Bad) {
        out.push(format!("warning: Snyk token {text}"));
    }
    for b in blocked {
        out.push(format!(
            "warning: Snyk call {} blocked ({})",
            b.kind, b.reason
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(e: Option<&str>) -> AccessToken {
        AccessToken {
            id: "t".into(),
            name: None,
            expires_at: e.map(str::to_owned),
        }
    }

    #[test]
    fn the_earliest_expiry_is_taken_and_said() {
        let (e, note) = choose_expiry(&[tok(Some("2027-01-02T00:00:00Z"))]);
        assert_eq!(e, Some(1_798_848_000_000));
        assert!(note.contains("1 token"), "{note}");
        let (e, note) = choose_expiry(&[
            tok(Some("2027-03-01T00:00:00Z")),
            tok(None),
            tok(Some("2027-01-02T00:00:00+00:00")),
        ]);
        assert_eq!(e, Some(1_798_848_000_000));
        assert!(note.contains("earliest"), "{note}");
        assert_eq!(choose_expiry(&[]).0, None);
        let (e, note) = choose_expiry(&[tok(Some("soon"))]);
        assert_eq!(e, None);
        assert!(note.contains("none with an expiry"), "{note}");
    }

    #[test]
    fn expiry_thresholds() {
        let now = 1_000 * DAY_MS;
        let at = |days_left: i64| TokenHealth {
            checked_at: now,
            expires_at: Some(now + days_left * DAY_MS),
            note: "n".into(),
            ..TokenHealth::default()
        };
        let level = |t: &TokenHealth| token_component(Some(t), false, now).0;
        assert_eq!(level(&at(30)), Level::Ok);
        assert_eq!(level(&at(15)), Level::Ok);
        assert_eq!(level(&at(13)), Level::Warn);
        let (l, text) = token_component(Some(&at(2)), false, now);
        assert_eq!(l, Level::Warn);
        assert!(
            text.contains("expires in 2 days") && text.contains("now"),
            "{text}"
        );
        assert_eq!(level(&at(0)), Level::Bad);
        assert_eq!(level(&at(-1)), Level::Bad);
        let denied = TokenHealth {
            not_allowed: Some(403),
            ..TokenHealth::default()
        };
        assert_eq!(level(&denied), Level::Info);
        assert_eq!(token_component(None, false, now).0, Level::Info);
        assert_eq!(token_component(Some(&at(1)), true, now).0, Level::Info);
        assert_eq!(
            readiness_notes(Some(&at(30)), &[], now),
            Vec::<String>::new()
        );
        assert_eq!(readiness_notes(Some(&at(2)), &[], now).len(), 1);
    }
}
