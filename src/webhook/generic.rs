//! The generic signed webhook (`/webhooks/events`): its JSON format and its
//! `X-Bridge-Signature` header. docs/webhooks.md documents both.
//!
//! An event:
//!
//! ```json
//! {"id": "evt-1", "type": "user.upsert", "occurred_at": "2026-06-01T12:00:00Z",
//!  "user": {"userName": "jane@example.com", "email": "jane@example.com",
//!           "externalId": "E1001", "active": true, "givenName": "Jane",
//!           "familyName": "Doe", "displayName": "Jane Doe"},
//!  "group": "Snyk Admins"}
//! ```
//!
//! A delivery is one event, or `{"events": [event, ...]}`.
//!
//! Signature: `X-Bridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<raw body>">`; several `v1=` are allowed (any one may match).

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use super::{Action, Event, GroupRef, ParseError, UserRef, parse_time};

pub const SIGNATURE_HEADER: &str = "X-Bridge-Signature";

/// The event types of the format.
pub const EVENT_TYPES: [&str; 5] = [
    "user.upsert",
    "user.deactivate",
    "user.delete",
    "group.member_add",
    "group.member_remove",
];

/// Longest event id accepted.
const MAX_ID_LEN: usize = 200;

/// Why a signature was refused (all answered 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Bridge-Signature header is missing")]
    Missing,
    #[error("the X-Bridge-Signature header is not of the form t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signature timestamp is outside the replay window")]
    Stale,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], t: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The header value a sender puts on `body` at time `t` (tests, docs).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

/// Check the header against the raw body: the HMAC first (in constant
/// time), then the timestamp against `now_unix` within `window_secs` either
/// way. Returns the signed timestamp.
/// The checks that need no body: the header is present, well formed, and
/// its timestamp within `window_secs` of `now_unix`. Run before the body is
/// read; [`verify`] then checks the MAC against it.
pub fn precheck(
    header: Option<&str>,
    now_unix: i64,
    window_secs: u64,
) -> Result<(), SignatureError> {
    let (t, _) = parse_header(header)?;
    let window = i64::try_from(window_secs).unwrap_or(i64::MAX);
    if now_unix.abs_diff(t) > window.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`: the timestamp and the tags.
fn parse_header(header: Option<&str>) -> Result<(i64, Vec<Vec<u8>>), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t: Option<i64> = None;
    let mut tags: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match k.trim() {
            "t" => t = Some(v.trim().parse().map_err(|_| SignatureError::Malformed)?),
            "v1" => tags.push(hex::decode(v.trim()).map_err(|_| SignatureError::Malformed)?),
            _ => {} // other schemes are skipped, as senders may add them
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    Ok((t, tags))
}

pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &[u8],
    now_unix: i64,
    window_secs: u64,
) -> Result<i64, SignatureError> {
    let (t, tags) = parse_header(header)?;
    let expected = mac(secret, t, body);
    if !tags
        .iter()
        .any(|tag| expected.clone().verify_slice(tag).is_ok())
    {
        return Err(SignatureError::Mismatch);
    }
    let window = i64::try_from(window_secs).unwrap_or(i64::MAX);
    if now_unix.abs_diff(t) > window.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(t)
}

/// Parse a delivery: one event object, or `{"events": [...]}`. Every field
/// is checked; the first problem is reported with its path.
pub fn parse(body: &Value) -> Result<Vec<Event>, ParseError> {
    let obj = body.as_object().ok_or_else(|| {
        ParseError::new(
            "body",
            "must be a JSON object (an event or {\"events\": [...]})",
        )
    })?;
    if let Some(events) = obj.get("events") {
        if let Some(k) = obj.keys().find(|k| *k != "events") {
            return Err(ParseError::new(k.clone(), "unknown field next to events"));
        }
        let events = events
            .as_array()
            .ok_or_else(|| ParseError::new("events", "must be an array of events"))?;
        if events.is_empty() {
            return Err(ParseError::new("events", "must not be empty"));
        }
        events
            .iter()
            .enumerate()
            .map(|(i, e)| parse_event(e, &format!("events[{i}].")))
            .collect()
    } else {
        Ok(vec![parse_event(body, "")?])
    }
}

fn parse_event(v: &Value, at: &str) -> Result<Event, ParseError> {
    let field = |k: &str| format!("{at}{k}");
    let e = v.as_object().ok_or_else(|| {
        ParseError::new(
            if at.is_empty() {
                "body".to_owned()
            } else {
                at.trim_end_matches('.').to_owned()
            },
            "must be an event object",
        )
    })?;
    if let Some(k) = e
        .keys()
        .find(|k| !["id", "type", "occurred_at", "user", "group"].contains(&k.as_str()))
    {
        return Err(ParseError::new(field(k), "unknown field"));
    }
    let id = string(e, "id", at)?.ok_or_else(|| ParseError::new(field("id"), "is required"))?;
    if id.len() > MAX_ID_LEN {
        return Err(ParseError::new(
            field("id"),
            format!("is longer than {MAX_ID_LEN} characters"),
        ));
    }
    let kind = string(e, "type", at)?.ok_or_else(|| {
        ParseError::new(
            field("type"),
            format!("is required (one of {})", EVENT_TYPES.join(", ")),
        )
    })?;
    let published_ms = parse_time(&field("occurred_at"), e.get("occurred_at"))?;
    let user = parse_user(e.get("user"), &field("user"))?;
    let group = string(e, "group", at)?;
    let is_group_event = kind.starts_with("group.");
    let group = match (group, is_group_event) {
        (Some(g), true) => Some(GroupRef {
            display_name: g,
            external_id: None,
        }),
        (None, true) => {
            return Err(ParseError::new(
                field("group"),
                format!("is required for {kind} (the group's display name)"),
            ));
        }
        (Some(_), false) => {
            return Err(ParseError::new(
                field("group"),
                format!("is only allowed on group events, not on {kind}"),
            ));
        }
        (None, false) => None,
    };
    let action = match (kind.as_str(), group) {
        ("user.upsert", _) => Action::Upsert {
            active: user.1,
            create: true,
        },
        ("user.deactivate", _) => Action::SetActive(false),
        ("user.delete", _) => Action::Delete,
        ("group.member_add", Some(g)) => Action::AddToGroup(g),
        ("group.member_remove", Some(g)) => Action::RemoveFromGroup(g),
        _ => {
            return Err(ParseError::new(
                field("type"),
                format!(
                    "unknown event type {kind:?} (one of {})",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
    };
    if user.1.is_some() && !matches!(action, Action::Upsert { .. }) {
        return Err(ParseError::new(
            field("user.active"),
            format!("is only allowed on user.upsert, not on {kind}"),
        ));
    }
    Ok(Event {
        id,
        published_ms,
        kind,
        user: user.0,
        action,
    })
}

/// A non-empty string field, if present.
fn string(o: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, ParseError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(ParseError::new(
            format!("{at}{key}"),
            "must be a non-empty string",
        )),
    }
}

fn parse_user(v: Option<&Value>, at: &str) -> Result<(UserRef, Option<bool>), ParseError> {
    let u = v
        .and_then(Value::as_object)
        .ok_or_else(|| ParseError::new(at, "is required (an object with at least userName)"))?;
    let prefix = format!("{at}.");
    const KEYS: [&str; 7] = [
        "userName",
        "email",
        "externalId",
        "active",
        "givenName",
        "familyName",
        "displayName",
    ];
    if let Some(k) = u.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(ParseError::new(format!("{prefix}{k}"), "unknown field"));
    }
    let user_name = string(u, "userName", &prefix)?
        .ok_or_else(|| ParseError::new(format!("{prefix}userName"), "is required"))?;
    let email = string(u, "email", &prefix)?;
    if let Some(e) = &email
        && crate::domain::Email::parse(e).is_err()
    {
        return Err(ParseError::new(
            format!("{prefix}email"),
            "is not an email address",
        ));
    }
    let active = match u.get("active") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(ParseError::new(
                format!("{prefix}active"),
                "must be true or false",
            ));
        }
    };
    let external_id = string(u, "externalId", &prefix)?;
    let subject = match &external_id {
        Some(x) => format!("generic:ext:{x}"),
        None => format!("generic:user:{}", user_name.to_lowercase()),
    };
    Ok((
        UserRef {
            subject,
            external_id,
            user_name: Some(user_name),
            email,
            display_name: string(u, "displayName", &prefix)?,
            given_name: string(u, "givenName", &prefix)?,
            family_name: string(u, "familyName", &prefix)?,
        },
        active,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"generic-webhook-secret-0123456789abcdef";
    const NOW: i64 = 1_780_315_200;

    #[test]
    fn signature_table() {
        let body = br#"{"id":"e1"}"#;
        let good = sign(SECRET, NOW, body);
        let other = sign(b"another-secret-another-secret-000", NOW, body);
        type Case<'a> = (Option<String>, &'a [u8], i64, Result<i64, SignatureError>);
        let cases: Vec<Case> = vec![
            (Some(good.clone()), body, NOW, Ok(NOW)),
            (Some(good.clone()), body, NOW + 300, Ok(NOW)),
            (Some(good.clone()), body, NOW - 300, Ok(NOW)),
            (
                Some(good.clone()),
                body,
                NOW + 301,
                Err(SignatureError::Stale),
            ),
            (
                Some(good.clone()),
                body,
                NOW - 301,
                Err(SignatureError::Stale),
            ),
            (
                Some(good.clone()),
                br#"{"id":"e2"}"#,
                NOW,
                Err(SignatureError::Mismatch),
            ),
            (
                Some(other.clone()),
                body,
                NOW,
                Err(SignatureError::Mismatch),
            ),
            // A second v1 (e.g. during secret rotation): any one may match.
            (
                Some(format!("{other},{}", good.split_once(',').unwrap().1)),
                body,
                NOW,
                Ok(NOW),
            ),
            // The timestamp is signed: moving it breaks the signature.
            (
                Some(good.replacen(&format!("t={NOW}"), &format!("t={}", NOW + 1), 1)),
                body,
                NOW,
                Err(SignatureError::Mismatch),
            ),
            (None, body, NOW, Err(SignatureError::Missing)),
            (
                Some("garbage".into()),
                body,
                NOW,
                Err(SignatureError::Malformed),
            ),
            (
                Some(format!("t={NOW}")),
                body,
                NOW,
                Err(SignatureError::Malformed),
            ),
            (
                Some("t=x,v1=00".into()),
                body,
                NOW,
                Err(SignatureError::Malformed),
            ),
            (
                Some(format!("t={NOW},v1=zz")),
                body,
                NOW,
                Err(SignatureError::Malformed),
            ),
        ];
        for (header, body, now, want) in cases {
            assert_eq!(
                verify(header.as_deref(), body, SECRET, now, 300),
                want,
                "{header:?}"
            );
        }
    }

    #[test]
    fn signature_matches_the_documented_openssl_recipe() {
        // printf '%s.%s' 1700000000 '{"a":1}' | openssl dgst -sha256 -hmac 'k' | sed 's/^.*= //'
        assert_eq!(
            sign(b"k", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=1b6ad1bc9bf48c52ce01939866d5877c6cc4e87ddad27e16673cb8c4964394a3"
        );
    }

    fn upsert() -> Value {
        json!({
            "id": "evt-1",
            "type": "user.upsert",
            "occurred_at": "2026-06-01T12:00:00Z",
            "user": {"userName": "Jane@Example.com", "email": "jane@example.com", "givenName": "Jane", "familyName": "Doe", "active": true}
        })
    }

    #[test]
    fn each_event_type_parses() {
        let user = json!({"userName": "jane@example.com", "externalId": "E1"});
        let cases = [
            (
                json!({"id": "1", "type": "user.upsert", "occurred_at": "2026-06-01T12:00:00Z", "user": user}),
                Action::Upsert {
                    active: None,
                    create: true,
                },
            ),
            (
                json!({"id": "1", "type": "user.deactivate", "occurred_at": "2026-06-01T12:00:00Z", "user": user}),
                Action::SetActive(false),
            ),
            (
                json!({"id": "1", "type": "user.delete", "occurred_at": "2026-06-01T12:00:00Z", "user": user}),
                Action::Delete,
            ),
            (
                json!({"id": "1", "type": "group.member_add", "occurred_at": "2026-06-01T12:00:00Z", "user": user, "group": "Snyk Admins"}),
                Action::AddToGroup(GroupRef {
                    display_name: "Snyk Admins".into(),
                    external_id: None,
                }),
            ),
            (
                json!({"id": "1", "type": "group.member_remove", "occurred_at": "2026-06-01T12:00:00+02:00", "user": user, "group": "Snyk Admins"}),
                Action::RemoveFromGroup(GroupRef {
                    display_name: "Snyk Admins".into(),
                    external_id: None,
                }),
            ),
        ];
        for (body, action) in cases {
            let events = parse(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].action, action);
            assert_eq!(events[0].user.subject, "generic:ext:E1");
        }
        let e = &parse(&upsert()).expect("parses")[0];
        assert_eq!(e.user.subject, "generic:user:jane@example.com");
        assert_eq!(e.published_ms, NOW * 1000);
        assert_eq!(
            e.action,
            Action::Upsert {
                active: Some(true),
                create: true
            }
        );
        assert_eq!(e.user.given_name.as_deref(), Some("Jane"));
    }

    #[test]
    fn batches_parse_in_delivery_order() {
        let mut second = upsert();
        second["id"] = json!("evt-2");
        let events = parse(&json!({"events": [upsert(), second]})).expect("parses");
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["evt-1", "evt-2"]);
    }

    #[test]
    fn malformed_events_name_the_field() {
        let with = |f: &dyn Fn(&mut Value)| {
            let mut v = upsert();
            f(&mut v);
            v
        };
        let cases: Vec<(Value, &str)> = vec![
            (json!("x"), "body"),
            (json!({"events": {}}), "events"),
            (json!({"events": []}), "events"),
            (json!({"events": [upsert()], "extra": 1}), "extra"),
            (json!({"events": [upsert(), upsert(), 3]}), "events[2]"),
            (with(&|v| v["type"] = json!("user.explode")), "type"),
            (with(&|v| v["type"] = json!(7)), "type"),
            (
                with(&|v| drop(v.as_object_mut().map(|o| o.remove("type")))),
                "type",
            ),
            (
                with(&|v| drop(v.as_object_mut().map(|o| o.remove("id")))),
                "id",
            ),
            (with(&|v| v["id"] = json!("x".repeat(201))), "id"),
            (
                with(&|v| v["occurred_at"] = json!("yesterday")),
                "occurred_at",
            ),
            (with(&|v| v["occured_at"] = json!("typo")), "occured_at"),
            (with(&|v| v["user"] = json!(null)), "user"),
            (
                with(&|v| v["user"]["userName"] = json!("")),
                "user.userName",
            ),
            (
                with(&|v| v["user"]["email"] = json!("not-an-email")),
                "user.email",
            ),
            (with(&|v| v["user"]["active"] = json!("yes")), "user.active"),
            (with(&|v| v["user"]["mail"] = json!("x@y")), "user.mail"),
            (with(&|v| v["group"] = json!("Snyk Admins")), "group"),
            (with(&|v| v["type"] = json!("group.member_add")), "group"),
            (
                with(&|v| {
                    v["type"] = json!("user.deactivate");
                }),
                "user.active",
            ),
        ];
        for (body, field) in cases {
            let e = parse(&body).expect_err(field);
            assert_eq!(e.field, field, "{body}: {e}");
        }
        let mut third = upsert();
        third["user"]["email"] = json!("bad");
        let e = parse(&json!({"events": [upsert(), upsert(), third]})).expect_err("bad");
        assert_eq!(e.field, "events[2].user.email");
    }
}
