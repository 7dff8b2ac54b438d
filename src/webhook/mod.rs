//! Webhook intake, the pure part: Okta Event Hook bodies and the generic
//! signed format are parsed into one event model, the generic signature and
//! Okta's shared secret are checked, and events are put in publication
//! order. No I/O here; the use case that stores the events is
//! `service::webhook`, the routes are in `http::webhooks`.
//!
//! The model: every event names one user ([`UserRef`]) and one [`Action`].
//! Its `subject` is the source's own identity of the user (the Okta user id,
//! or the generic event's externalId / userName); the store keeps, per
//! subject and aspect (lifecycle, profile, one membership per group), the
//! publication time of the last event applied, and [`is_stale`] decides
//! whether a later-delivered event is older than that.

pub mod generic;
pub mod okta;

/// Where events come from (the dedupe namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Okta,
    Generic,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Okta => "okta",
            Self::Generic => "generic",
        }
    }
}

/// The user an event is about, as the source names it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserRef {
    /// Ordering subject: `okta:<id>`, `generic:ext:<externalId>` or
    /// `generic:user:<lower-cased userName>`.
    pub subject: String,
    /// Matched first (the Okta user id is stored as the SCIM externalId).
    pub external_id: Option<String>,
    /// The login; matched against userName, then against emails.
    pub user_name: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// A group an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub display_name: String,
    /// The source's id of the group (Okta's `00g...`), kept as externalId.
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Update the profile fields the event carries; create the user when
    /// missing and `create` is set. `active: None` keeps the flag (a new user
    /// is active).
    Upsert {
        active: Option<bool>,
        create: bool,
    },
    /// Set `active`. A missing user is created when activated, not when
    /// deactivated.
    SetActive(bool),
    /// Delete the user (memberships go with it).
    Delete,
    /// Add to the group (the user is created, active, when missing).
    AddToGroup(GroupRef),
    RemoveFromGroup(GroupRef),
}

/// One event, in the common model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Okta's `uuid`, or the generic event's `id` (dedupe key).
    pub id: String,
    /// Publication time, Unix milliseconds.
    pub published_ms: i64,
    /// The source's event type, for logs.
    pub kind: String,
    pub user: UserRef,
    pub action: Action,
}

/// An event that was understood but deliberately not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub id: String,
    pub kind: String,
    pub reason: &'static str,
}

/// A body that does not have the expected shape; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ParseError {
    pub field: String,
    pub message: String,
}

impl ParseError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Aspect names of the ordering guard.
pub const LIFECYCLE: &str = "lifecycle";
pub const PROFILE: &str = "profile";

pub fn member_aspect(group_display_name: &str) -> String {
    format!("member:{}", group_display_name.to_lowercase())
}

/// The events of one delivery in publication order; events published at
/// the same instant keep their delivery order.
pub fn in_order(mut events: Vec<Event>) -> Vec<Event> {
    events.sort_by_key(|e| e.published_ms);
    events
}

/// Whether an event published at `event_ms` is older than the last one
/// applied to the same (subject, aspect). Equal times are not stale.
pub fn is_stale(event_ms: i64, last_applied_ms: Option<i64>) -> bool {
    last_applied_ms.is_some_and(|last| event_ms < last)
}

/// Compare a presented shared secret with the configured one in constant
/// time (digests of equal length, so the length leaks nothing either).
pub fn secret_matches(given: Option<&str>, expected: &str) -> bool {
    crate::secret::secrets_match(given, expected)
}

/// RFC 3339 to Unix milliseconds.
pub(crate) fn parse_time(field: &str, v: Option<&serde_json::Value>) -> Result<i64, ParseError> {
    let s = v
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| ParseError::new(field, "is required (an RFC 3339 timestamp)"))?;
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| ParseError::new(field, "is not an RFC 3339 timestamp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, ms: i64) -> Event {
        Event {
            id: id.into(),
            published_ms: ms,
            kind: "t".into(),
            user: UserRef::default(),
            action: Action::Delete,
        }
    }

    #[test]
    fn events_are_ordered_by_publication_time_and_stable() {
        let ordered = in_order(vec![ev("c", 30), ev("a", 10), ev("b1", 20), ev("b2", 20)]);
        let ids: Vec<&str> = ordered.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "b1", "b2", "c"]);
    }

    #[test]
    fn staleness_table() {
        let cases = [
            (10, None, false),
            (10, Some(5), false),
            (10, Some(10), false),
            (10, Some(11), true),
        ];
        for (event, last, stale) in cases {
            assert_eq!(is_stale(event, last), stale, "{event} vs {last:?}");
        }
    }

    #[test]
    fn secrets_are_compared_exactly() {
        let cases = [
            (Some("s3cret-value"), true),
            (Some("s3cret-valuE"), false),
            (Some("s3cret-value "), false),
            (Some(""), false),
            (None, false),
        ];
        for (given, ok) in cases {
            assert_eq!(secret_matches(given, "s3cret-value"), ok, "{given:?}");
        }
    }

    #[test]
    fn member_aspects_ignore_case() {
        assert_eq!(member_aspect("Snyk Admins"), member_aspect("snyk admins"));
    }
}
