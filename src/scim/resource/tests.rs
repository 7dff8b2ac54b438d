//! Tests of resource normalisation, projection and sort values.

use super::*;
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use serde_json::json;

fn norm(v: Value) -> Result<Value, ScimError> {
    normalize(ResourceKind::User, &v).map(Value::Object)
}

#[test]
fn duplicate_multi_values_are_dropped_whatever_their_key_order() {
    let out = norm(json!({
        "userName": "ann@x.com",
        "emails": [
            {"value": "a@x.com", "type": "work"},
            {"type": "work", "value": "a@x.com"},
            {"value": "b@x.com", "type": "work"},
            {"value": "a@x.com", "type": "home"}
        ]
    }))
    .expect("valid");
    assert_eq!(
        out["emails"],
        json!([
            {"value": "a@x.com", "type": "work"},
            {"value": "b@x.com", "type": "work"},
            {"value": "a@x.com", "type": "home"}
        ])
    );
    assert_eq!(
        value_hash(&json!({"a": 1, "b": [true, null]})),
        value_hash(&json!({"b": [true, null], "a": 1}))
    );
}

#[test]
fn canonical_names_types_and_dropped_attributes() {
    let out = norm(json!({
        "schemas": [USER_SCHEMA],
        "USERNAME": "ann@x.com",
        "id": "client-chosen",
        "meta": {"version": "x"},
        "password": "hunter2",
        "groups": [{"value": "g"}],
        "Active": "False",
        "NAME": {"GivenName": "Ann", "bogus": 1},
        "emails": [{"value": "ann@x.com", "primary": true}],
        "unknownCore": 1,
        "urn:example:custom": {"x": 1}
    }))
    .expect("valid");
    assert_eq!(
        out,
        json!({
            "userName": "ann@x.com",
            "active": false,
            "name": {"givenName": "Ann"},
            "emails": [{"value": "ann@x.com", "primary": true}],
            "urn:example:custom": {"x": 1},
            "schemas": [USER_SCHEMA, "urn:example:custom"]
        })
    );
}

#[test]
fn entra_dotted_and_urn_keys_land_in_place() {
    let out = norm(json!({
        "userName": "a",
        "name.givenName": "ignored: dotted keys are PATCH-only",
        (format!("{ENTERPRISE_USER_SCHEMA}:employeeNumber")): "42",
        (format!("{ENTERPRISE_USER_SCHEMA}:manager.value")): "m1",
    }))
    .expect("valid");
    assert_eq!(
        out[ENTERPRISE_USER_SCHEMA],
        json!({"employeeNumber": "42", "manager": {"value": "m1"}})
    );
    assert_eq!(out["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]));
}

#[test]
fn wrong_types_and_missing_required_are_invalid_values() {
    let e = norm(json!({"userName": "a", "active": 3})).expect_err("bad type");
    assert_eq!(
        e.scim_type,
        Some(crate::scim::error::ScimType::InvalidValue)
    );
    assert!(e.detail.contains("active"), "{}", e.detail);
    let e = norm(json!({"displayName": "a"})).expect_err("missing userName");
    assert_eq!(e.detail, "userName is required");
    let e = norm(json!({"schemas": ["urn:x"], "userName": "a"})).expect_err("schemas");
    assert_eq!(
        e.scim_type,
        Some(crate::scim::error::ScimType::InvalidSyntax)
    );
    assert!(norm(json!("text")).is_err());
}

#[test]
fn only_one_primary_survives() {
    let out = norm(json!({"userName": "a", "emails": [
        {"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]}))
    .expect("valid");
    assert_eq!(out["emails"][1]["primary"], false);
}

#[test]
fn projection_follows_attributes_and_returned() {
    let full = json!({
        "schemas": [USER_SCHEMA], "id": "1", "userName": "a",
        "name": {"givenName": "A", "familyName": "B"},
        "emails": [{"value": "a@x", "type": "work"}],
        "meta": {"resourceType": "User"},
        ENTERPRISE_USER_SCHEMA: {"employeeNumber": "7", "department": "d"}
    });
    let full = full.as_object().expect("object");
    let p = Projection::parse(Some("name.givenName,emails"), None).expect("parse");
    assert_eq!(
        Value::Object(project(ResourceKind::User, full, &p)),
        json!({"schemas": [USER_SCHEMA], "id": "1", "name": {"givenName": "A"}, "emails": [{"value": "a@x", "type": "work"}]})
    );
    let p = Projection::parse(None, Some("emails.type,meta,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")).expect("parse");
    let out = project(ResourceKind::User, full, &p);
    assert_eq!(out["emails"], json!([{"value": "a@x"}]));
    assert!(!out.contains_key("meta"));
    assert_eq!(out[ENTERPRISE_USER_SCHEMA], json!({"employeeNumber": "7"}));
    let p = Projection::parse(Some(ENTERPRISE_USER_SCHEMA), None).expect("parse");
    let out = project(ResourceKind::User, full, &p);
    assert_eq!(
        out[ENTERPRISE_USER_SCHEMA],
        json!({"employeeNumber": "7", "department": "d"})
    );
    assert!(!out.contains_key("userName"));
}

#[test]
fn sorting_uses_primary_value_and_puts_missing_last() {
    let a = json!({"emails": [{"value": "z@x"}, {"value": "b@x", "primary": true}]});
    let b = json!({"emails": [{"value": "c@x"}]});
    let c = json!({});
    let path = AttrPath::parse("emails").expect("path");
    let va = sort_value(a.as_object().expect("o"), &path);
    let vb = sort_value(b.as_object().expect("o"), &path);
    let vc = sort_value(c.as_object().expect("o"), &path);
    assert_eq!(va, Some(&json!("b@x")));
    assert_eq!(compare_sort_values(va, vb, false), Ordering::Less);
    assert_eq!(compare_sort_values(vc, vb, false), Ordering::Greater);
}

#[test]
fn a_multi_valued_attribute_given_one_object_is_invalid() {
    let e = normalize(
        ResourceKind::User,
        &json!({"schemas": [USER_SCHEMA], "userName": "a", "emails": {"value": "a@x.com"}}),
    )
    .expect_err("emails must be an array");
    assert_eq!(e.status, 400);
    assert_eq!(
        e.scim_type,
        Some(crate::scim::error::ScimType::InvalidValue)
    );
    assert!(e.detail.contains("emails"), "{}", e.detail);
}

/// Found by fuzzing (fuzz/fuzz_targets/normalize.rs): a key whose fourth
/// byte is inside a multi-byte character made normalisation panic.
#[test]
fn keys_with_multi_byte_characters_do_not_panic() {
    let doc = normalize(
        ResourceKind::User,
        &json!({"schemas": [USER_SCHEMA], "userName": "a",
                "mem\u{59d}rs": [{"value": "u-1"}], "ur\u{e9}:x": 1}),
    )
    .expect("unknown keys are dropped, not a panic");
    assert_eq!(doc.get("userName"), Some(&json!("a")));
    assert!(!doc.keys().any(|k| !k.is_ascii()), "{doc:?}");
    let e = normalize(
        ResourceKind::Group,
        &json!({"isplayName": "SAdmins", "mem\u{59d}rs": [{"value": "u-1"}]}),
    )
    .expect_err("no displayName");
    assert_eq!(e.status, 400);
}
