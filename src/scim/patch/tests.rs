//! PATCH engine tests: `parse` + `apply` on canonical documents, table-driven,
//! with the dialects Okta and Entra send (see
//! docs/reference-snyk-api-idps-peers.md section 3), the error cases, and a
//! property test that `apply` never panics and is all-or-nothing.

use super::*;

use proptest::prelude::*;
use serde_json::json;

use crate::scim::error::ScimType;
use crate::scim::resource::normalize;
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};

const ENT: &str = ENTERPRISE_USER_SCHEMA;
const U: ResourceKind = ResourceKind::User;
const G: ResourceKind = ResourceKind::Group;

/// A canonical document, as the store holds it (plus `members` for groups,
/// which the service adds before applying a PATCH).
fn canon(kind: ResourceKind, v: Value) -> Map<String, Value> {
    normalize(kind, &v).unwrap_or_else(|e| panic!("fixture does not normalise: {e}: {v}"))
}

/// A PatchOp body around `ops`.
fn body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// `parse` + `apply` on a copy of `doc`; the raw result, before normalisation.
fn patch_raw(
    kind: ResourceKind,
    doc: &Map<String, Value>,
    ops: Value,
) -> Result<Map<String, Value>, ScimError> {
    let ops = parse(&body(ops))?;
    let mut out = doc.clone();
    match apply(kind, &mut out, &ops) {
        Ok(()) => Ok(out),
        Err(e) => {
            assert_eq!(&out, doc, "a failed apply changed the document");
            Err(e)
        }
    }
}

/// What the service does: parse, apply, then re-normalise.
fn patch(
    kind: ResourceKind,
    doc: &Map<String, Value>,
    ops: Value,
) -> Result<Map<String, Value>, ScimError> {
    let out = patch_raw(kind, doc, ops)?;
    normalize(kind, &Value::Object(out))
}

fn base_user() -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": "alice@example.com",
        "displayName": "Alice",
        "title": "Engineer",
        "active": true,
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
    })
}

fn user_with(extra: Value) -> Value {
    let mut u = base_user();
    if let (Some(o), Value::Object(e)) = (u.as_object_mut(), extra) {
        for (k, v) in e {
            if v.is_null() {
                o.remove(&k);
            } else {
                o.insert(k, v);
            }
        }
    }
    u
}

fn base_group() -> Value {
    json!({
        "schemas": [GROUP_SCHEMA],
        "displayName": "Engineering",
        "members": [{"value": "u1", "display": "One"}, {"value": "u2"}],
    })
}

struct Case {
    name: &'static str,
    kind: ResourceKind,
    before: Value,
    ops: Value,
    after: Value,
}

fn cases() -> Vec<Case> {
    vec![
        // --- op names are case-insensitive (Entra's default dialect capitalises) ---
        Case {
            name: "Add is accepted",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "Add", "path": "nickName", "value": "Al"}]),
            after: user_with(json!({"nickName": "Al"})),
        },
        Case {
            name: "REPLACE is accepted",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "REPLACE", "path": "displayName", "value": "Alice L."}]),
            after: user_with(json!({"displayName": "Alice L."})),
        },
        Case {
            name: "remove is accepted",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "remove", "path": "title"}]),
            after: user_with(json!({"title": null})),
        },
        // --- add without a path merges attributes ---
        Case {
            name: "no-path add: single-valued replaced, multi-valued appended, complex merged",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "add", "value": {
                "displayName": "Alice L.",
                "emails": [{"value": "alice@home.example", "type": "home"}],
                "name": {"middleName": "M"},
            }}]),
            after: user_with(json!({
                "displayName": "Alice L.",
                "emails": [
                    {"value": "alice@example.com", "type": "work", "primary": true},
                    {"value": "alice@home.example", "type": "home"},
                ],
                "name": {"givenName": "Alice", "familyName": "Liddell", "middleName": "M"},
            })),
        },
        // --- add to a multi-valued attribute appends and de-duplicates ---
        Case {
            name: "add members appends new and skips existing",
            kind: G,
            before: base_group(),
            ops: json!([{"op": "add", "path": "members", "value": [{"value": "u2"}, {"value": "u3"}]}]),
            after: json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": "Engineering",
                "members": [{"value": "u1", "display": "One"}, {"value": "u2"}, {"value": "u3"}],
            }),
        },
        Case {
            name: "a repeated add of a member is idempotent (JumpCloud)",
            kind: G,
            before: base_group(),
            ops: json!([
                {"op": "add", "path": "members", "value": [{"value": "u3"}]},
                {"op": "add", "path": "members", "value": [{"value": "u3"}]},
                {"op": "Add", "path": "members", "value": {"value": "u3"}},
            ]),
            after: json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": "Engineering",
                "members": [{"value": "u1", "display": "One"}, {"value": "u2"}, {"value": "u3"}],
            }),
        },
        // --- replace without a path (Okta) ---
        Case {
            name: "Okta deactivate: no-path replace {active: false}",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "replace", "value": {"active": false}}]),
            after: user_with(json!({"active": false})),
        },
        Case {
            name: "Okta group rename ignores the read-only id",
            kind: G,
            before: base_group(),
            ops: json!([{"op": "replace", "value": {"id": "g-1", "displayName": "Platform"}}]),
            after: json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": "Platform",
                "members": [{"value": "u1", "display": "One"}, {"value": "u2"}],
            }),
        },
        Case {
            name: "Entra default dialect: Replace active \"False\" becomes false",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "Replace", "path": "active", "value": "False"}]),
            after: user_with(json!({"active": false})),
        },
        // --- replace of a multi-valued attribute replaces the whole list ---
        Case {
            name: "replace emails replaces the list",
            kind: U,
            before: user_with(json!({"emails": [
                {"value": "alice@example.com", "type": "work", "primary": true},
                {"value": "alice@home.example", "type": "home"},
            ]})),
            ops: json!([{"op": "replace", "path": "emails", "value": [{"value": "new@example.com", "type": "other"}]}]),
            after: user_with(json!({"emails": [{"value": "new@example.com", "type": "other"}]})),
        },
        Case {
            name: "replace members replaces the list",
            kind: G,
            before: base_group(),
            ops: json!([{"op": "replace", "path": "members", "value": [{"value": "u9"}]}]),
            after: json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering", "members": [{"value": "u9"}]}),
        },
        // --- sub-attributes of a complex attribute ---
        Case {
            name: "replace name.givenName",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "replace", "path": "name.givenName", "value": "Alicia"}]),
            after: user_with(json!({"name": {"givenName": "Alicia", "familyName": "Liddell"}})),
        },
        Case {
            name: "add name.givenName to a user without a name",
            kind: U,
            before: user_with(json!({"name": null})),
            ops: json!([{"op": "add", "path": "name.givenName", "value": "Alicia"}]),
            after: user_with(json!({"name": {"givenName": "Alicia"}})),
        },
        // --- value-filter paths ---
        Case {
            name: "emails[type eq \"work\"].value updates the work email",
            kind: U,
            before: user_with(json!({"emails": [
                {"value": "alice@home.example", "type": "home"},
                {"value": "alice@example.com", "type": "work", "primary": true},
            ]})),
            ops: json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice@new.example"}]),
            after: user_with(json!({"emails": [
                {"value": "alice@home.example", "type": "home"},
                {"value": "alice@new.example", "type": "work", "primary": true},
            ]})),
        },
        Case {
            name: "emails[type eq \"work\"].value with no work email creates one (Entra)",
            kind: U,
            before: user_with(json!({"emails": null})),
            ops: json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice@new.example"}]),
            after: user_with(json!({"emails": [{"type": "work", "value": "alice@new.example"}]})),
        },
        Case {
            name: "emails[type eq \"work\"].value with only a home email appends a work email",
            kind: U,
            before: user_with(json!({"emails": [{"value": "alice@home.example", "type": "home"}]})),
            ops: json!([{"op": "add", "path": "emails[type eq \"work\"].value", "value": "alice@new.example"}]),
            after: user_with(json!({"emails": [
                {"value": "alice@home.example", "type": "home"},
                {"type": "work", "value": "alice@new.example"},
            ]})),
        },
        Case {
            name: "replace emails[type eq \"work\"] with an object replaces the element",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "replace", "path": "emails[type eq \"work\"]",
                         "value": {"value": "w@example.com", "type": "work", "display": "Work"}}]),
            after: user_with(
                json!({"emails": [{"value": "w@example.com", "type": "work", "display": "Work"}]}),
            ),
        },
        Case {
            name: "add emails[type eq \"work\"] with an object merges into the element",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "add", "path": "emails[type eq \"work\"]", "value": {"display": "Work"}}]),
            after: user_with(json!({"emails": [
                {"value": "alice@example.com", "type": "work", "primary": true, "display": "Work"},
            ]})),
        },
        Case {
            name: "addresses[type eq \"home\"].locality updates the home address",
            kind: U,
            before: user_with(json!({"addresses": [
                {"type": "work", "locality": "Oxford"},
                {"type": "home", "locality": "London", "country": "GB"},
            ]})),
            ops: json!([{"op": "replace", "path": "addresses[type eq \"home\"].locality", "value": "Paris"}]),
            after: user_with(json!({"addresses": [
                {"type": "work", "locality": "Oxford"},
                {"type": "home", "locality": "Paris", "country": "GB"},
            ]})),
        },
        Case {
            name: "addresses[type eq \"home\"].locality creates the home address",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "add", "path": "addresses[type eq \"home\"].locality", "value": "Paris"}]),
            after: user_with(json!({"addresses": [{"type": "home", "locality": "Paris"}]})),
        },
        // --- member removal ---
        Case {
            name: "remove members[value eq \"u1\"]",
            kind: G,
            before: base_group(),
            ops: json!([{"op": "remove", "path": "members[value eq \"u1\"]"}]),
            after: json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering", "members": [{"value": "u2"}]}),
        },
        Case {
            name: "Entra default dialect: Remove members with a value list removes only that member",
            kind: G,
            before: base_group(),
            ops: json!([{"op": "Remove", "path": "members", "value": [{"value": "u2"}]}]),
            after: json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": "Engineering",
                "members": [{"value": "u1", "display": "One"}],
            }),
        },
        Case {
            name: "removing the last member leaves no members",
            kind: G,
            before: json!({"displayName": "Engineering", "members": [{"value": "u1"}]}),
            ops: json!([{"op": "remove", "path": "members[value eq \"u1\"]"}]),
            after: json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering"}),
        },
        Case {
            name: "remove members (no filter, no value) removes them all",
            kind: G,
            before: base_group(),
            ops: json!([{"op": "remove", "path": "members"}]),
            after: json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering"}),
        },
        // --- remove ---
        Case {
            name: "remove of a sub-attribute",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "remove", "path": "name.givenName"}]),
            after: user_with(json!({"name": {"familyName": "Liddell"}})),
        },
        Case {
            name: "remove of a sub-attribute of filtered elements",
            kind: U,
            before: user_with(json!({"emails": [
                {"value": "a@x.example", "type": "work", "display": "A"},
                {"value": "b@x.example", "type": "home", "display": "B"},
            ]})),
            ops: json!([{"op": "remove", "path": "emails[type eq \"work\"].display"}]),
            after: user_with(json!({"emails": [
                {"value": "a@x.example", "type": "work"},
                {"value": "b@x.example", "type": "home", "display": "B"},
            ]})),
        },
        // --- Entra aadOptscim062020 ---
        Case {
            name: "aadOptscim062020: one no-path replace with dotted and URN keys",
            kind: U,
            before: user_with(json!({ENT: {"employeeNumber": "1", "department": "R&D"}})),
            ops: json!([{"op": "replace", "value": {
                "displayName": "Alice L.",
                "name.givenName": "Alicia",
                "name.familyName": "Pleasance",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "boss-id",
            }}]),
            after: user_with(json!({
                "displayName": "Alice L.",
                "name": {"givenName": "Alicia", "familyName": "Pleasance"},
                ENT: {"employeeNumber": "42", "department": "R&D", "manager": {"value": "boss-id"}},
            })),
        },
        Case {
            name: "Entra default dialect: enterprise employeeNumber by URN path",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "7"}]),
            after: user_with(json!({ENT: {"employeeNumber": "7"}})),
        },
        // --- a path that is the bare enterprise extension URN ---
        Case {
            name: "add to the bare extension URN merges (schemas key ignored)",
            kind: U,
            before: user_with(json!({ENT: {"employeeNumber": "1", "department": "R&D"}})),
            ops: json!([{"op": "add", "path": ENT, "value": {
                "schemas": [ENT],
                "department": "Ops",
                "manager": {"value": "boss-id"},
            }}]),
            after: user_with(
                json!({ENT: {"employeeNumber": "1", "department": "Ops", "manager": {"value": "boss-id"}}}),
            ),
        },
        Case {
            name: "replace of the bare extension URN replaces the object (schemas key ignored)",
            kind: U,
            before: user_with(json!({ENT: {"employeeNumber": "1", "department": "R&D"}})),
            ops: json!([{"op": "replace", "path": ENT, "value": {"schemas": [ENT], "costCenter": "CC-9"}}]),
            after: user_with(json!({ENT: {"costCenter": "CC-9"}})),
        },
        Case {
            name: "remove of the bare extension URN drops it",
            kind: U,
            before: user_with(json!({ENT: {"employeeNumber": "1"}})),
            ops: json!([{"op": "remove", "path": ENT}]),
            after: base_user(),
        },
        Case {
            name: "no-path add with an extension object",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "add", "value": {ENT: {"division": "EMEA"}}}]),
            after: user_with(json!({ENT: {"division": "EMEA"}})),
        },
        Case {
            name: "no-path add with an extension object carrying schemas (schemas ignored)",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "add", "value": {ENT: {"schemas": [ENT], "division": "EMEA"}}}]),
            after: user_with(json!({ENT: {"division": "EMEA"}})),
        },
        Case {
            name: "no-path replace with a value-filter key",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "replace", "value": {"emails[type eq \"work\"].value": "w@example.com", "name.givenName": "G"}}]),
            after: user_with(json!({
                "emails": [{"value": "w@example.com", "type": "work", "primary": true}],
                "name": {"givenName": "G", "familyName": "Liddell"},
            })),
        },
        Case {
            name: "no-path replace ignores read-only meta/groups/schemas and unknown core attributes",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "replace", "value": {
                "schemas": [USER_SCHEMA], "meta": {"created": "2020-01-01T00:00:00Z"}, "groups": [{"value": "g"}],
                "favouriteColour": "blue", "displayName": "D",
            }}]),
            after: user_with(json!({"displayName": "D"})),
        },
        // --- URN-prefixed core path ---
        Case {
            name: "URN-prefixed core path userName",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:userName", "value": "alice2@example.com"}]),
            after: user_with(json!({"userName": "alice2@example.com"})),
        },
        // --- primary ---
        Case {
            name: "setting primary on one email by filter clears the others",
            kind: U,
            before: user_with(json!({"emails": [
                {"value": "a@x.example", "type": "work", "primary": true},
                {"value": "b@x.example", "type": "home"},
            ]})),
            ops: json!([{"op": "replace", "path": "emails[value eq \"b@x.example\"].primary", "value": true}]),
            after: user_with(json!({"emails": [
                {"value": "a@x.example", "type": "work", "primary": false},
                {"value": "b@x.example", "type": "home", "primary": true},
            ]})),
        },
        Case {
            name: "adding a primary email clears the others",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "add", "path": "emails", "value": [{"value": "b@x.example", "type": "home", "primary": true}]}]),
            after: user_with(json!({"emails": [
                {"value": "alice@example.com", "type": "work", "primary": false},
                {"value": "b@x.example", "type": "home", "primary": true},
            ]})),
        },
        // --- password: accepted, never stored ---
        Case {
            name: "password replace by path is accepted and not stored",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "replace", "path": "password", "value": "hunter2"}]),
            after: base_user(),
        },
        Case {
            name: "password in a no-path replace is accepted and not stored",
            kind: U,
            before: base_user(),
            ops: json!([{"op": "replace", "value": {"password": "hunter2", "nickName": "Al"}}]),
            after: user_with(json!({"nickName": "Al"})),
        },
    ]
}

#[test]
fn patch_table() {
    let mut failures = Vec::new();
    for c in cases() {
        let before = canon(c.kind, c.before.clone());
        let expected = canon(c.kind, c.after.clone());
        match patch(c.kind, &before, c.ops.clone()) {
            Ok(got) if got == expected => {}
            Ok(got) => failures.push(format!(
                "{}:\n  expected {}\n  got      {}",
                c.name,
                Value::Object(expected),
                Value::Object(got)
            )),
            Err(e) => failures.push(format!("{}: unexpected error {e}", c.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn password_is_never_in_the_raw_result() {
    let before = canon(U, base_user());
    for ops in [
        json!([{"op": "replace", "path": "password", "value": "hunter2"}]),
        json!([{"op": "add", "path": "password", "value": "hunter2"}]),
        json!([{"op": "replace", "value": {"password": "hunter2"}}]),
        json!([{"op": "replace", "value": {"PASSWORD": "hunter2"}}]),
    ] {
        let got = patch_raw(U, &before, ops.clone()).unwrap_or_else(|e| panic!("{ops}: {e}"));
        assert!(
            !Value::Object(got.clone()).to_string().contains("hunter2"),
            "{ops}: the password was stored: {}",
            Value::Object(got)
        );
    }
}

#[test]
fn remove_of_an_absent_attribute_leaves_nothing_behind() {
    let before = canon(
        U,
        user_with(json!({"name": null, "emails": null, "title": null})),
    );
    for path in [
        "title",
        "name",
        "name.givenName",
        "emails",
        "emails.value",
        "emails[type eq \"work\"]",
        "emails[type eq \"work\"].value",
        "addresses[type eq \"home\"].locality",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        ENT,
    ] {
        let got = patch_raw(U, &before, json!([{"op": "remove", "path": path}]))
            .unwrap_or_else(|e| panic!("remove {path}: {e}"));
        // Raw equality: no empty object or array was created on the way.
        assert_eq!(got, before, "remove {path} changed the document");
    }
    let group = canon(G, json!({"displayName": "Empty"}));
    for path in ["members", "members[value eq \"u1\"]"] {
        let got = patch_raw(G, &group, json!([{"op": "remove", "path": path}]))
            .unwrap_or_else(|e| panic!("remove {path}: {e}"));
        assert_eq!(got, group, "remove {path} changed the group");
    }
    let got = patch_raw(
        G,
        &group,
        json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        got, group,
        "an Entra member removal on an empty group changed it"
    );
}

#[test]
fn removing_the_last_value_leaves_no_empty_container_after_normalize() {
    let before = canon(
        U,
        user_with(json!({ENT: {"employeeNumber": "1"}, "name": {"givenName": "A"}})),
    );
    let got = patch(
        U,
        &before,
        json!([
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"},
            {"op": "remove", "path": "name.givenName"},
        ]),
    )
    .expect("patch");
    assert!(
        !got.contains_key(ENT),
        "empty extension kept: {}",
        Value::Object(got.clone())
    );
    assert!(
        !got.contains_key("name"),
        "empty name kept: {}",
        Value::Object(got.clone())
    );
    assert_eq!(got.get("schemas"), Some(&json!([USER_SCHEMA])));
}

#[test]
fn entra_member_removal_by_value_list_drops_the_key_when_empty() {
    let before = canon(G, json!({"displayName": "G", "members": [{"value": "u1"}]}));
    let got = patch_raw(
        G,
        &before,
        json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}]),
    )
    .expect("patch");
    assert!(!got.contains_key("members"), "{}", Value::Object(got));
}

#[test]
fn member_removal_is_case_exact_on_value() {
    // members.value is caseExact: "U1" does not name "u1".
    let before = canon(G, base_group());
    let got = patch(
        G,
        &before,
        json!([{"op": "remove", "path": "members[value eq \"U1\"]"}]),
    )
    .expect("patch");
    assert_eq!(got, before);
    let got = patch(
        G,
        &before,
        json!([{"op": "Remove", "path": "members", "value": [{"value": "U1"}]}]),
    )
    .expect("patch");
    assert_eq!(got, before);
}

#[test]
fn repeated_member_add_is_idempotent_across_requests() {
    let before = canon(G, base_group());
    let op =
        json!([{"op": "add", "path": "members", "value": [{"value": "u3", "display": "Three"}]}]);
    let once = patch(G, &before, op.clone()).expect("first add");
    let twice = patch(G, &once, op).expect("second add");
    assert_eq!(once, twice);
    assert_eq!(twice["members"].as_array().map(Vec::len), Some(3));
}

struct ErrCase {
    name: &'static str,
    kind: ResourceKind,
    body: Value,
    scim_type: ScimType,
}

fn err_cases() -> Vec<ErrCase> {
    let ops = |o: Value| body(o);
    vec![
        ErrCase {
            name: "remove without a path",
            kind: U,
            body: ops(json!([{"op": "remove"}])),
            scim_type: ScimType::NoTarget,
        },
        ErrCase {
            name: "remove with an empty path",
            kind: U,
            body: ops(json!([{"op": "remove", "path": "  "}])),
            scim_type: ScimType::NoTarget,
        },
        ErrCase {
            name: "unknown attribute path",
            kind: U,
            body: ops(json!([{"op": "replace", "path": "favouriteColour", "value": "blue"}])),
            scim_type: ScimType::InvalidPath,
        },
        ErrCase {
            name: "unknown sub-attribute",
            kind: U,
            body: ops(json!([{"op": "replace", "path": "name.nope", "value": "x"}])),
            scim_type: ScimType::InvalidPath,
        },
        ErrCase {
            name: "value filter into an unregistered extension",
            kind: U,
            body: ops(
                json!([{"op": "replace", "path": "urn:example:unknown:1.0:User:x[value eq \"a\"]", "value": "x"}]),
            ),
            scim_type: ScimType::InvalidPath,
        },
        ErrCase {
            name: "members on a User",
            kind: U,
            body: ops(json!([{"op": "add", "path": "members", "value": [{"value": "x"}]}])),
            scim_type: ScimType::InvalidPath,
        },
        ErrCase {
            name: "replace id",
            kind: U,
            body: ops(json!([{"op": "replace", "path": "id", "value": "other"}])),
            scim_type: ScimType::Mutability,
        },
        ErrCase {
            name: "remove id on a Group",
            kind: G,
            body: ops(json!([{"op": "remove", "path": "id"}])),
            scim_type: ScimType::Mutability,
        },
        ErrCase {
            name: "replace meta.created",
            kind: U,
            body: ops(
                json!([{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]),
            ),
            scim_type: ScimType::Mutability,
        },
        ErrCase {
            name: "add groups",
            kind: U,
            body: ops(json!([{"op": "add", "path": "groups", "value": [{"value": "g1"}]}])),
            scim_type: ScimType::Mutability,
        },
        ErrCase {
            name: "replace members[value eq \"u1\"].value (immutable)",
            kind: G,
            body: ops(
                json!([{"op": "replace", "path": "members[value eq \"u1\"].value", "value": "u9"}]),
            ),
            scim_type: ScimType::Mutability,
        },
        ErrCase {
            name: "malformed path: unterminated filter",
            kind: U,
            body: ops(json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}])),
            scim_type: ScimType::InvalidPath,
        },
        ErrCase {
            name: "malformed path: trailing dot",
            kind: U,
            body: ops(json!([{"op": "replace", "path": "name.", "value": "x"}])),
            scim_type: ScimType::InvalidPath,
        },
        ErrCase {
            name: "malformed path: not a string",
            kind: U,
            body: ops(json!([{"op": "replace", "path": 7, "value": "x"}])),
            scim_type: ScimType::InvalidPath,
        },
        ErrCase {
            name: "value filter on a single-valued attribute",
            kind: U,
            body: ops(
                json!([{"op": "replace", "path": "name[givenName eq \"Alice\"].familyName", "value": "x"}]),
            ),
            scim_type: ScimType::InvalidPath,
        },
        ErrCase {
            name: "add without a value",
            kind: U,
            body: ops(json!([{"op": "add", "path": "nickName"}])),
            scim_type: ScimType::InvalidValue,
        },
        ErrCase {
            name: "replace without a path or value",
            kind: U,
            body: ops(json!([{"op": "replace"}])),
            scim_type: ScimType::InvalidValue,
        },
        ErrCase {
            name: "no-path add with a non-object value",
            kind: U,
            body: ops(json!([{"op": "add", "value": "x"}])),
            scim_type: ScimType::InvalidValue,
        },
        ErrCase {
            name: "bare extension URN with a non-object value",
            kind: U,
            body: ops(json!([{"op": "replace", "path": ENT, "value": "x"}])),
            scim_type: ScimType::InvalidValue,
        },
        ErrCase {
            name: "unknown op",
            kind: U,
            body: ops(json!([{"op": "move", "path": "title", "value": "x"}])),
            scim_type: ScimType::InvalidSyntax,
        },
        ErrCase {
            name: "an operation that is not an object",
            kind: U,
            body: ops(json!(["add"])),
            scim_type: ScimType::InvalidSyntax,
        },
        ErrCase {
            name: "Operations missing",
            kind: U,
            body: json!({"schemas": [PATCH_OP]}),
            scim_type: ScimType::InvalidSyntax,
        },
        ErrCase {
            name: "Operations empty",
            kind: U,
            body: json!({"schemas": [PATCH_OP], "Operations": []}),
            scim_type: ScimType::InvalidSyntax,
        },
        ErrCase {
            name: "Operations not an array",
            kind: U,
            body: json!({"schemas": [PATCH_OP], "Operations": {"op": "add"}}),
            scim_type: ScimType::InvalidSyntax,
        },
        ErrCase {
            name: "wrong schemas",
            kind: U,
            body: json!({"schemas": [USER_SCHEMA], "Operations": [{"op": "remove", "path": "title"}]}),
            scim_type: ScimType::InvalidSyntax,
        },
        ErrCase {
            name: "schemas not an array",
            kind: U,
            body: json!({"schemas": PATCH_OP, "Operations": [{"op": "remove", "path": "title"}]}),
            scim_type: ScimType::InvalidSyntax,
        },
        ErrCase {
            name: "body not an object",
            kind: U,
            body: json!([{"op": "remove", "path": "title"}]),
            scim_type: ScimType::InvalidSyntax,
        },
    ]
}

#[test]
fn patch_error_table() {
    let user = canon(U, base_user());
    let group = canon(G, base_group());
    let mut failures = Vec::new();
    for c in err_cases() {
        let doc = if c.kind == U { &user } else { &group };
        let result = parse(&c.body).and_then(|ops| {
            let mut d = doc.clone();
            let r = apply(c.kind, &mut d, &ops);
            assert_eq!(&d, doc, "{}: a failed apply changed the document", c.name);
            r
        });
        match result {
            Err(e) if e.scim_type == Some(c.scim_type) && e.status == 400 => {}
            Err(e) => failures.push(format!("{}: expected {:?}, got {e}", c.name, c.scim_type)),
            Ok(()) => failures.push(format!(
                "{}: expected {:?}, got success",
                c.name, c.scim_type
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn schemas_may_be_omitted_and_keys_are_case_insensitive() {
    let ops = parse(&json!({"operations": [{"OP": "Replace", "PATH": "title", "VALUE": "CTO"}]}))
        .expect("parse");
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].op, OpKind::Replace);
    assert_eq!(ops[0].value, Some(json!("CTO")));
}

#[test]
fn too_many_operations() {
    let one = json!({"op": "replace", "path": "title", "value": "x"});
    let ops: Vec<Value> = std::iter::repeat_n(one, MAX_OPERATIONS + 1).collect();
    let e = parse(&body(Value::Array(ops))).expect_err("too many");
    assert_eq!(e.status, 413);
    assert_eq!(e.scim_type, Some(ScimType::TooMany));
}

#[test]
fn a_failed_third_operation_leaves_the_document_unchanged() {
    let before = canon(U, base_user());
    let ops = parse(&body(json!([
        {"op": "replace", "path": "displayName", "value": "Changed"},
        {"op": "add", "path": "emails", "value": [{"value": "b@x.example", "type": "home"}]},
        {"op": "replace", "path": "id", "value": "stolen"},
    ])))
    .expect("parse");
    let mut doc = before.clone();
    let e = apply(U, &mut doc, &ops).expect_err("the third op must fail");
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    assert_eq!(doc, before);

    let ops = parse(&body(json!([
        {"op": "remove", "path": "members[value eq \"u1\"]"},
        {"op": "replace", "value": {"displayName": "Renamed"}},
        {"op": "replace", "path": "nope", "value": 1},
    ])))
    .expect("parse");
    let group = canon(G, base_group());
    let mut doc = group.clone();
    let e = apply(G, &mut doc, &ops).expect_err("the third op must fail");
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    assert_eq!(doc, group);
}

#[test]
fn check_value_uses_the_schema_types() {
    let active = U.attribute(None, "active").expect("active");
    assert!(check_value(active, &json!("False")).is_ok());
    assert!(check_value(active, &json!(3)).is_err());
    let emails = U.attribute(None, "emails").expect("emails");
    assert!(check_value(emails, &json!([{"value": "a@x"}])).is_ok());
    assert!(check_value(emails, &json!([{"value": ["a@x"]}])).is_err());
}

// --- property test: apply never panics and is all-or-nothing ---

const USER_PATHS: &[&str] = &[
    "userName",
    "displayName",
    "nickName",
    "active",
    "title",
    "name",
    "name.givenName",
    "name.familyName",
    "emails",
    "emails.value",
    "emails[type eq \"work\"]",
    "emails[type eq \"work\"].value",
    "emails[value eq \"a@x.example\"].primary",
    "emails[type eq \"work\" and primary eq true].value",
    "emails[type ne \"work\"]",
    "addresses[type eq \"home\"].locality",
    "phoneNumbers",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "id",
    "meta.created",
    "groups",
    "password",
    "members",
    "nope",
    "name[givenName eq \"x\"]",
    "emails[",
    "emails[type eq \"work\"].nope",
    "",
];

const GROUP_PATHS: &[&str] = &[
    "displayName",
    "members",
    "members.value",
    "members.display",
    "members[value eq \"u1\"]",
    "members[value eq \"u1\"].display",
    "members[value eq \"u9\"]",
    "members[type eq \"User\"]",
    "externalId",
    "id",
    "meta",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "emails",
    "",
];

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        Just(json!("False")),
        Just(json!("True")),
        Just(json!("")),
        Just(json!("a@x.example")),
        Just(json!("u1")),
        Just(json!("work")),
        (-3i64..1000).prop_map(|n| json!(n)),
        Just(json!(1.5)),
    ];
    let keys = prop_oneof![
        Just("value"),
        Just("type"),
        Just("primary"),
        Just("display"),
        Just("givenName"),
        Just("displayName"),
        Just("active"),
        Just("id"),
        Just("schemas"),
        Just("name.givenName"),
        Just("emails"),
        Just("members"),
        Just("password"),
        Just("employeeNumber"),
        Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
        Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"),
        Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
        Just("urn:x:unknown:1.0:Thing:attr"),
        Just("bogus"),
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..4).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn arb_op(paths: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        Just("add"),
        Just("Add"),
        Just("replace"),
        Just("REPLACE"),
        Just("remove"),
        Just("Remove"),
        Just("copy"),
    ];
    (
        op,
        prop::option::weighted(0.8, prop::sample::select(paths)),
        prop::option::weighted(0.8, arb_value()),
    )
        .prop_map(|(op, path, value)| {
            let mut o = Map::new();
            o.insert("op".into(), json!(op));
            if let Some(p) = path {
                o.insert("path".into(), json!(p));
            }
            if let Some(v) = value {
                o.insert("value".into(), v);
            }
            Value::Object(o)
        })
}

fn check_all_or_nothing(
    kind: ResourceKind,
    doc: &Map<String, Value>,
    ops: Vec<Value>,
) -> Result<(), TestCaseError> {
    // The whole body must parse or fail cleanly; then apply every operation
    // that parses on its own, so that most sequences reach `apply`.
    let whole = parse(&body(Value::Array(ops.clone())));
    let parsed: Vec<Operation> = ops
        .into_iter()
        .filter_map(|o| parse(&body(json!([o]))).ok())
        .flatten()
        .collect();
    prop_assert_eq!(
        whole.is_ok(),
        whole.as_ref().is_ok_and(|w| w.len() == parsed.len())
    );
    if parsed.is_empty() {
        return Ok(());
    }
    let mut work = doc.clone();
    match apply(kind, &mut work, &parsed) {
        Ok(()) => {
            // Whatever apply produced, normalisation must not panic either.
            let _ = normalize(kind, &Value::Object(work));
        }
        Err(e) => {
            prop_assert_eq!(&work, doc, "failed apply ({}) changed the document", e);
            prop_assert!(e.status == 400, "unexpected status {}", e.status);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn apply_never_panics_and_is_atomic_on_users(ops in prop::collection::vec(arb_op(USER_PATHS), 1..6)) {
        let doc = canon(U, user_with(json!({
            "emails": [
                {"value": "a@x.example", "type": "work", "primary": true},
                {"value": "b@x.example", "type": "home"},
            ],
            "addresses": [{"type": "home", "locality": "London"}],
            ENT: {"employeeNumber": "1", "manager": {"value": "m1"}},
        })));
        check_all_or_nothing(U, &doc, ops)?;
    }

    #[test]
    fn apply_never_panics_and_is_atomic_on_groups(ops in prop::collection::vec(arb_op(GROUP_PATHS), 1..6)) {
        let doc = canon(G, base_group());
        check_all_or_nothing(G, &doc, ops)?;
    }

    #[test]
    fn apply_never_panics_on_an_empty_user(ops in prop::collection::vec(arb_op(USER_PATHS), 1..6)) {
        let doc = canon(U, json!({"userName": "x"}));
        check_all_or_nothing(U, &doc, ops)?;
    }
}

#[test]
fn unregistered_extension_attributes_can_be_patched() {
    const CUSTOM: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    let before = canon(U, user_with(json!({CUSTOM: {"costCode": "A"}})));
    assert_eq!(
        before.get(CUSTOM),
        Some(&json!({"costCode": "A"})),
        "create keeps it"
    );
    let got = patch(
        U,
        &before,
        json!([{"op": "Replace", "path": format!("{CUSTOM}:costCode"), "value": "B"}]),
    )
    .expect("patch of an unregistered extension attribute");
    assert_eq!(got.get(CUSTOM), Some(&json!({"costCode": "B"})));
}

#[test]
fn no_path_values_with_urn_keys_of_every_kind() {
    const CUSTOM: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    let before = canon(U, user_with(json!({})));
    // A whole unregistered extension object, then one of its attributes by URN key.
    let got = patch(
        U,
        &before,
        json!([{"op": "add", "value": {CUSTOM: {"costCode": "A", "site": "Oslo"}}}]),
    )
    .expect("whole unregistered extension");
    assert_eq!(
        got.get(CUSTOM),
        Some(&json!({"costCode": "A", "site": "Oslo"}))
    );
    let got = patch(
        U,
        &got,
        json!([{"op": "replace", "value": {(format!("{CUSTOM}:costCode")): "B"}}]),
    )
    .expect("unregistered attribute by URN key");
    assert_eq!(
        got.get(CUSTOM),
        Some(&json!({"costCode": "B", "site": "Oslo"}))
    );
    // A core-schema object as the key: its members are core attributes.
    let got = patch(
        U,
        &got,
        json!([{"op": "replace", "value": {CORE: {"displayName": "Core Key"}}}]),
    )
    .expect("core URN object");
    assert_eq!(got.get("displayName"), Some(&json!("Core Key")));
    // Unknown attributes inside a registered extension are ignored, as on create.
    let got = patch(
        U,
        &got,
        json!([{"op": "add", "value": {ENTERPRISE: {"division": "EMEA", "notAnAttribute": 1}}}]),
    )
    .expect("unknown enterprise attribute ignored");
    assert_eq!(got.get(ENTERPRISE), Some(&json!({"division": "EMEA"})));
}
