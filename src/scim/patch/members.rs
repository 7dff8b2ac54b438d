//! Which members of a group a PATCH can change, so that a member add or
//! remove on a group of 10,000 members needs only the members it names.
//!
//! [`member_scope`] says, for parsed operations, whether they change members
//! only by naming them (Okta's `add` of `members` with a value list and
//! `remove` of `members[value eq "id"]`, Entra's `Add`/`Remove` of `members`
//! with a value list), and which ids those are. Applying such a PATCH with
//! [`super::apply`] to the group's document holding just the named members
//! changes exactly what applying it to the document with every member
//! changes; the members not named are left as they are either way.
//! Anything else (`replace` of the list, `remove` of all members, another
//! filter, a sub-attribute, a key that mentions members in a no-path value)
//! has no scope: the caller applies it to the whole member list. Pure: no
//! I/O, and it never guesses: when in doubt, no scope.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{OpKind, Operation};
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use crate::scim::resource::get_ci;
use crate::scim::schema::GROUP_SCHEMA;

/// The member ids these operations can add, change or remove, when they
/// change no member they do not name (see the module comment); `None`
/// otherwise.
pub fn member_scope(ops: &[Operation]) -> Option<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    for op in ops {
        match &op.path {
            Some(path) if names_members(&path.attr) => {
                ids.extend(named_members(op, path)?);
            }
            Some(path) => {
                if path_mentions_members(path) {
                    return None;
                }
            }
            None => {
                if op.value.as_ref().is_none_or(mentions_members) {
                    return None;
                }
            }
        }
    }
    Some(ids)
}

/// `members` or `urn:ietf:params:scim:schemas:core:2.0:Group:members`.
fn names_members(attr: &AttrPath) -> bool {
    attr.name.eq_ignore_ascii_case("members")
        && attr
            .uri
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(GROUP_SCHEMA))
}

/// The ids one member operation names, if it changes only those.
fn named_members(op: &Operation, path: &PatchPath) -> Option<Vec<String>> {
    if path.attr.sub.is_some() || path.sub_after_filter.is_some() {
        return None;
    }
    match (op.op, &path.filter, &op.value) {
        (OpKind::Add, None, Some(v)) => listed_ids(v),
        (OpKind::Remove, Some(f), _) => value_eq(f).map(|id| vec![id]),
        (OpKind::Remove, None, Some(v)) => listed_ids(v),
        _ => None,
    }
}

/// A list of member objects (or one), each with a string `value`.
fn listed_ids(v: &Value) -> Option<Vec<String>> {
    let items: &[Value] = match v {
        Value::Array(a) => a,
        Value::Object(_) => std::slice::from_ref(v),
        _ => return None,
    };
    items
        .iter()
        .map(
            |item| match item.as_object().and_then(|o| get_ci(o, "value")) {
                Some(Value::String(id)) => Some(id.clone()),
                _ => None,
            },
        )
        .collect()
}

/// `value eq "id"`, nothing more.
fn value_eq(f: &Filter) -> Option<String> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(id),
        } if path.uri.is_none()
            && path.sub.is_none()
            && path.name.eq_ignore_ascii_case("value") =>
        {
            Some(id.clone())
        }
        _ => None,
    }
}

fn contains_members(s: &str) -> bool {
    s.to_ascii_lowercase().contains("members")
}

fn path_mentions_members(path: &PatchPath) -> bool {
    let attr = &path.attr;
    [
        attr.uri.as_deref(),
        Some(attr.name.as_str()),
        attr.sub.as_deref(),
        path.sub_after_filter.as_deref(),
    ]
    .into_iter()
    .flatten()
    .any(contains_members)
}

/// Any object key, at any depth, that mentions members.
fn mentions_members(v: &Value) -> bool {
    match v {
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| contains_members(k) || mentions_members(v)),
        Value::Array(a) => a.iter().any(mentions_members),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::patch::parse;
    use serde_json::json;

    fn scope(ops: Value) -> Option<Vec<String>> {
        let ops = parse(&json!({"Operations": ops})).expect("valid PATCH");
        member_scope(&ops).map(|s| s.into_iter().collect())
    }

    fn ids(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn okta_and_entra_member_changes_have_a_scope() {
        assert_eq!(
            scope(
                json!([{"op": "add", "path": "members", "value": [{"value": "b", "display": "B"}, {"value": "a"}]}])
            ),
            ids(&["a", "b"])
        );
        assert_eq!(
            scope(json!([{"op": "remove", "path": "members[value eq \"a\"]"}])),
            ids(&["a"])
        );
        assert_eq!(
            scope(json!([{"op": "Remove", "path": "members", "value": [{"value": "a"}]}])),
            ids(&["a"])
        );
        assert_eq!(
            scope(
                json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:members", "value": {"value": "c"}}])
            ),
            ids(&["c"])
        );
        // Okta's rename sent with a membership change, and other attributes.
        assert_eq!(
            scope(json!([
                {"op": "replace", "value": {"id": "g", "displayName": "G"}},
                {"op": "replace", "path": "externalId", "value": "x"},
                {"op": "add", "path": "members", "value": [{"value": "a"}]}
            ])),
            ids(&["a"])
        );
        assert_eq!(
            scope(json!([{"op": "replace", "path": "displayName", "value": "G"}])),
            ids(&[])
        );
    }

    #[test]
    fn anything_that_may_touch_unnamed_members_has_none() {
        for ops in [
            json!([{"op": "replace", "path": "members", "value": [{"value": "a"}]}]),
            json!([{"op": "remove", "path": "members"}]),
            json!([{"op": "remove", "path": "members[display eq \"a\"]"}]),
            json!([{"op": "remove", "path": "members[value ne \"a\"]"}]),
            json!([{"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"}]),
            json!([{"op": "remove", "path": "members[value eq \"a\"].display"}]),
            json!([{"op": "replace", "path": "members[value eq \"a\"]", "value": {"display": "x"}}]),
            json!([{"op": "add", "path": "members.display", "value": "x"}]),
            json!([{"op": "add", "path": "members", "value": [{"display": "no value"}]}]),
            json!([{"op": "add", "path": "members", "value": [{"value": 7}]}]),
            json!([{"op": "add", "path": "members", "value": ["a"]}]),
            json!([{"op": "Remove", "path": "members", "value": [{"display": "a"}]}]),
            json!([{"op": "replace", "value": {"members": []}}]),
            json!([{"op": "replace", "value": {"urn:ietf:params:scim:schemas:core:2.0:Group": {"Members": []}}}]),
            json!([{"op": "add", "path": "urn:example:2.0:Group:members", "value": "x"}]),
            json!([{"op": "add", "path": "members", "value": [{"value": "a"}]},
                   {"op": "replace", "path": "members", "value": []}]),
        ] {
            assert_eq!(scope(ops.clone()), None, "{ops}");
        }
    }
}
