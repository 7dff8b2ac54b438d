//! Okta Event Hook deliveries: `{eventType: "com.okta.event_hook", data:
//! {events: [LogEvent, ...]}}` into [`Event`]s.
//!
//! Applied event types (anything else is ignored, as are events whose
//! `outcome.result` is not `SUCCESS`):
//!
//! | eventType | action |
//! |---|---|
//! | `user.lifecycle.create` | create or update, active |
//! | `user.lifecycle.activate`, `.reactivate`, `.unsuspend` | active |
//! | `user.lifecycle.deactivate`, `.suspend` | inactive |
//! | `user.lifecycle.delete.initiated` | delete |
//! | `group.user_membership.add` / `.remove` | add to / remove from the `UserGroup` target |
//! | `application.user_membership.add` / `.remove` | active / inactive, only for the configured `app_id` |
//! | `user.account.update_profile` | login (userName), email and displayName from the `User` target |

use serde_json::{Map, Value};

use super::{Action, Event, GroupRef, Ignored, ParseError, UserRef, parse_time};

/// What a delivery holds: the events to apply and those deliberately skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub events: Vec<Event>,
    pub ignored: Vec<Ignored>,
}

/// The action an event type maps to, before its targets are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Activate,
    Deactivate,
    Delete,
    GroupAdd,
    GroupRemove,
    AppAdd,
    AppRemove,
    Profile,
}

fn kind_of(event_type: &str) -> Option<Kind> {
    Some(match event_type {
        "user.lifecycle.create" => Kind::Create,
        "user.lifecycle.activate" | "user.lifecycle.reactivate" | "user.lifecycle.unsuspend" => {
            Kind::Activate
        }
        "user.lifecycle.deactivate" | "user.lifecycle.suspend" => Kind::Deactivate,
        "user.lifecycle.delete.initiated" => Kind::Delete,
        "group.user_membership.add" => Kind::GroupAdd,
        "group.user_membership.remove" => Kind::GroupRemove,
        "application.user_membership.add" => Kind::AppAdd,
        "application.user_membership.remove" => Kind::AppRemove,
        "user.account.update_profile" => Kind::Profile,
        _ => return None,
    })
}

/// Parse a delivery. `app_id`: the Okta app instance whose assignments
/// count (application.user_membership.* events for other apps, or all of
/// them without it, are ignored).
pub fn parse(body: &Value, app_id: Option<&str>) -> Result<Parsed, ParseError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ParseError::new("body", "must be a JSON object"))?;
    let events = obj
        .get("data")
        .and_then(|d| d.get("events"))
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::new("data.events", "is required (an array of events)"))?;
    let mut out = Parsed::default();
    for (i, e) in events.iter().enumerate() {
        let at = format!("data.events[{i}]");
        let e = e
            .as_object()
            .ok_or_else(|| ParseError::new(&at, "must be an object"))?;
        let id = required_str(e, "uuid", &at)?;
        let event_type = required_str(e, "eventType", &at)?;
        let published_ms = parse_time(&format!("{at}.published"), e.get("published"))?;
        let Some(kind) = kind_of(&event_type) else {
            out.ignored.push(Ignored {
                id,
                kind: event_type,
                reason: "event type not handled",
            });
            continue;
        };
        let result = e
            .get("outcome")
            .and_then(|o| o.get("result"))
            .and_then(Value::as_str);
        if result.is_some_and(|r| !r.eq_ignore_ascii_case("SUCCESS")) {
            out.ignored.push(Ignored {
                id,
                kind: event_type,
                reason: "outcome is not SUCCESS",
            });
            continue;
        }
        let targets: Vec<&Map<String, Value>> = match e.get("target") {
            Some(Value::Array(t)) => t.iter().filter_map(Value::as_object).collect(),
            _ => {
                return Err(ParseError::new(
                    format!("{at}.target"),
                    "is required (an array of targets)",
                ));
            }
        };
        let user = user_target(&targets, &at)?;
        let action = match kind {
            Kind::Create => Action::Upsert {
                active: Some(true),
                create: true,
            },
            Kind::Activate => Action::SetActive(true),
            Kind::Deactivate => Action::SetActive(false),
            Kind::Delete => Action::Delete,
            Kind::Profile => Action::Upsert {
                active: None,
                create: false,
            },
            Kind::GroupAdd => Action::AddToGroup(group_target(&targets, &at)?),
            Kind::GroupRemove => Action::RemoveFromGroup(group_target(&targets, &at)?),
            Kind::AppAdd | Kind::AppRemove => {
                let app = targets
                    .iter()
                    .find(|t| type_is(t, "AppInstance"))
                    .and_then(|t| t.get("id"))
                    .and_then(Value::as_str);
                match (app_id, app) {
                    (Some(want), Some(got)) if want == got => {
                        Action::SetActive(kind == Kind::AppAdd)
                    }
                    (None, _) => {
                        out.ignored.push(Ignored {
                            id,
                            kind: event_type,
                            reason: "no [webhooks.okta] app_id is configured",
                        });
                        continue;
                    }
                    (Some(_), _) => {
                        out.ignored.push(Ignored {
                            id,
                            kind: event_type,
                            reason: "assignment to another app",
                        });
                        continue;
                    }
                }
            }
        };
        out.events.push(Event {
            id,
            published_ms,
            kind: event_type,
            user,
            action,
        });
    }
    Ok(out)
}

fn required_str(e: &Map<String, Value>, key: &str, at: &str) -> Result<String, ParseError> {
    match e.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ParseError::new(
            format!("{at}.{key}"),
            "is required (a non-empty string)",
        )),
    }
}

fn type_is(t: &Map<String, Value>, want: &str) -> bool {
    t.get("type").and_then(Value::as_str) == Some(want)
}

fn text(t: &Map<String, Value>, key: &str) -> Option<String> {
    t.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The `User` target: id (the Okta user id), alternateId (the login) and
/// displayName.
fn user_target(targets: &[&Map<String, Value>], at: &str) -> Result<UserRef, ParseError> {
    let (i, t) = targets
        .iter()
        .enumerate()
        .find(|(_, t)| type_is(t, "User"))
        .ok_or_else(|| ParseError::new(format!("{at}.target"), "has no target of type User"))?;
    let id = text(t, "id")
        .ok_or_else(|| ParseError::new(format!("{at}.target[{i}].id"), "is required for a User"))?;
    let login = text(t, "alternateId").ok_or_else(|| {
        ParseError::new(
            format!("{at}.target[{i}].alternateId"),
            "is required for a User (the Okta login)",
        )
    })?;
    let email = login.contains('@').then(|| login.clone());
    Ok(UserRef {
        subject: format!("okta:{id}"),
        external_id: Some(id),
        user_name: Some(login),
        email,
        display_name: text(t, "displayName"),
        given_name: None,
        family_name: None,
    })
}

/// The `UserGroup` target: displayName (what mappings match) and id.
fn group_target(targets: &[&Map<String, Value>], at: &str) -> Result<GroupRef, ParseError> {
    let (i, t) = targets
        .iter()
        .enumerate()
        .find(|(_, t)| type_is(t, "UserGroup"))
        .ok_or_else(|| {
            ParseError::new(format!("{at}.target"), "has no target of type UserGroup")
        })?;
    let display_name = text(t, "displayName").ok_or_else(|| {
        ParseError::new(
            format!("{at}.target[{i}].displayName"),
            "is required for a UserGroup",
        )
    })?;
    Ok(GroupRef {
        display_name,
        external_id: text(t, "id"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({"id": "00u1", "type": "User", "alternateId": "jane@example.com", "displayName": "Jane Doe"})
    }

    fn group() -> Value {
        json!({"id": "00g1", "type": "UserGroup", "alternateId": "unknown", "displayName": "Snyk Admins"})
    }

    fn app(id: &str) -> Value {
        json!({"id": id, "type": "AppInstance", "alternateId": "Snyk", "displayName": "Snyk"})
    }

    fn delivery(events: Vec<Value>) -> Value {
        json!({
            "eventType": "com.okta.event_hook",
            "eventTypeVersion": "1.0",
            "cloudEventsVersion": "0.1",
            "source": "https://example.okta.com/api/v1/eventHooks/who1",
            "eventId": "b5a188b9-5ece-4636-b041-482ffda96311",
            "eventTime": "2026-06-01T12:00:05.000Z",
            "contentType": "application/json",
            "data": {"events": events}
        })
    }

    fn event(uuid: &str, event_type: &str, targets: Vec<Value>) -> Value {
        json!({
            "uuid": uuid,
            "published": "2026-06-01T12:00:00.123Z",
            "eventType": event_type,
            "version": "0",
            "severity": "INFO",
            "displayMessage": "x",
            "actor": {"id": "00uadmin", "type": "User", "alternateId": "admin@example.com", "displayName": "Admin"},
            "outcome": {"result": "SUCCESS"},
            "target": targets
        })
    }

    #[test]
    fn every_handled_event_type_maps_to_its_action() {
        let g = GroupRef {
            display_name: "Snyk Admins".into(),
            external_id: Some("00g1".into()),
        };
        let cases: Vec<(&str, Vec<Value>, Action)> = vec![
            (
                "user.lifecycle.create",
                vec![user()],
                Action::Upsert {
                    active: Some(true),
                    create: true,
                },
            ),
            (
                "user.lifecycle.activate",
                vec![user()],
                Action::SetActive(true),
            ),
            (
                "user.lifecycle.reactivate",
                vec![user()],
                Action::SetActive(true),
            ),
            (
                "user.lifecycle.unsuspend",
                vec![user()],
                Action::SetActive(true),
            ),
            (
                "user.lifecycle.deactivate",
                vec![user()],
                Action::SetActive(false),
            ),
            (
                "user.lifecycle.suspend",
                vec![user()],
                Action::SetActive(false),
            ),
            (
                "user.lifecycle.delete.initiated",
                vec![user()],
                Action::Delete,
            ),
            (
                "group.user_membership.add",
                vec![user(), group()],
                Action::AddToGroup(g.clone()),
            ),
            (
                "group.user_membership.remove",
                vec![user(), group()],
                Action::RemoveFromGroup(g),
            ),
            (
                "application.user_membership.add",
                vec![
                    json!({"id": "0ua1", "type": "AppUser"}),
                    app("0oa1"),
                    user(),
                ],
                Action::SetActive(true),
            ),
            (
                "application.user_membership.remove",
                vec![app("0oa1"), user()],
                Action::SetActive(false),
            ),
            (
                "user.account.update_profile",
                vec![user()],
                Action::Upsert {
                    active: None,
                    create: false,
                },
            ),
        ];
        for (event_type, targets, action) in cases {
            let parsed = parse(
                &delivery(vec![event("e1", event_type, targets)]),
                Some("0oa1"),
            )
            .unwrap_or_else(|e| panic!("{event_type}: {e}"));
            assert_eq!(parsed.ignored, [], "{event_type}");
            let e = &parsed.events[0];
            assert_eq!(e.action, action, "{event_type}");
            assert_eq!(e.id, "e1");
            assert_eq!(e.kind, event_type);
            assert_eq!(e.published_ms, 1_780_315_200_123);
            assert_eq!(e.user.subject, "okta:00u1");
            assert_eq!(e.user.external_id.as_deref(), Some("00u1"));
            assert_eq!(e.user.user_name.as_deref(), Some("jane@example.com"));
            assert_eq!(e.user.email.as_deref(), Some("jane@example.com"));
            assert_eq!(e.user.display_name.as_deref(), Some("Jane Doe"));
        }
    }

    #[test]
    fn unknown_failed_and_foreign_app_events_are_ignored() {
        let mut failed = event("e2", "user.lifecycle.deactivate", vec![user()]);
        failed["outcome"]["result"] = json!("FAILURE");
        let body = delivery(vec![
            event("e1", "user.session.start", vec![user()]),
            failed,
            event(
                "e3",
                "application.user_membership.add",
                vec![app("0oaOTHER"), user()],
            ),
        ]);
        let parsed = parse(&body, Some("0oa1")).expect("parses");
        assert!(parsed.events.is_empty());
        let reasons: Vec<&str> = parsed.ignored.iter().map(|i| i.reason).collect();
        assert_eq!(
            reasons,
            [
                "event type not handled",
                "outcome is not SUCCESS",
                "assignment to another app"
            ]
        );
        let parsed = parse(&body, None).expect("parses");
        assert_eq!(
            parsed.ignored[2].reason,
            "no [webhooks.okta] app_id is configured"
        );
    }

    #[test]
    fn malformed_bodies_name_the_field() {
        let mut no_uuid = event("e1", "user.lifecycle.create", vec![user()]);
        no_uuid.as_object_mut().map(|o| o.remove("uuid"));
        let mut bad_time = event("e1", "user.lifecycle.create", vec![user()]);
        bad_time["published"] = json!("yesterday");
        let cases = [
            (json!([]), "body"),
            (json!({"data": {}}), "data.events"),
            (delivery(vec![json!(1)]), "data.events[0]"),
            (delivery(vec![no_uuid]), "data.events[0].uuid"),
            (delivery(vec![bad_time]), "data.events[0].published"),
            (
                delivery(vec![event("e1", "user.lifecycle.create", vec![group()])]),
                "data.events[0].target",
            ),
            (
                delivery(vec![event(
                    "e1",
                    "user.lifecycle.create",
                    vec![json!({"id": "00u1", "type": "User"})],
                )]),
                "data.events[0].target[0].alternateId",
            ),
            (
                delivery(vec![event("e1", "group.user_membership.add", vec![user()])]),
                "data.events[0].target",
            ),
            (
                delivery(vec![event(
                    "e1",
                    "group.user_membership.add",
                    vec![user(), json!({"id": "00g1", "type": "UserGroup"})],
                )]),
                "data.events[0].target[1].displayName",
            ),
        ];
        for (body, field) in cases {
            let e = parse(&body, None).expect_err(field);
            assert_eq!(e.field, field, "{e}");
        }
    }

    #[test]
    fn a_login_without_at_sign_is_no_email() {
        let u = json!({"id": "00u2", "type": "User", "alternateId": "jdoe"});
        let parsed = parse(
            &delivery(vec![event("e1", "user.lifecycle.create", vec![u])]),
            None,
        )
        .expect("parses");
        assert_eq!(parsed.events[0].user.email, None);
        assert_eq!(parsed.events[0].user.user_name.as_deref(), Some("jdoe"));
    }
}
