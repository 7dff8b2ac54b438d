//! Desired access: which (Snyk org, role) a user should have, from the
//! `[[mappings]]` of the configuration, the user's groups and `active` flag
//! (docs/interface.md, "What the bridge does in Snyk"). Pure and table-tested.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::config::Mapping;
use crate::domain::{Email, SnykOrgId, SnykRole};

/// What the sync engine needs to know about one SCIM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFacts {
    pub email: Option<Email>,
    pub active: bool,
    /// displayNames of the groups the user is a direct member of.
    pub groups: Vec<String>,
}

/// The user's email: the `primary` entry, else the first of type `work`,
/// else the first entry, else `userName` when it holds an `@`.
pub fn email_of(doc: &Map<String, Value>) -> Option<Email> {
    let emails: Vec<&Map<String, Value>> = match doc.get("emails") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    let value = |e: &&Map<String, Value>| e.get("value").and_then(Value::as_str).map(str::to_owned);
    let chosen = emails
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .and_then(value)
        .or_else(|| {
            emails
                .iter()
                .find(|e| {
                    e.get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case("work"))
                })
                .and_then(value)
        })
        .or_else(|| emails.first().and_then(value))
        .or_else(|| {
            doc.get("userName")
                .and_then(Value::as_str)
                .filter(|u| u.contains('@'))
                .map(str::to_owned)
        });
    chosen.and_then(|e| Email::parse(&e).ok())
}

/// Facts from a stored user document and the names of its groups.
pub fn facts(doc: &Map<String, Value>, groups: Vec<String>) -> UserFacts {
    UserFacts {
        email: email_of(doc),
        // A user without `active` is active (RFC 7643 leaves the default to the server).
        active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        groups,
    }
}

/// Desired access per org. Where several mappings give one org, the mapping
/// listed first wins. Inactive or deleted users (pass `None`) get nothing, and
/// so does a user without a usable email.
pub fn desired(mappings: &[Mapping], user: Option<&UserFacts>) -> BTreeMap<SnykOrgId, SnykRole> {
    let mut out = BTreeMap::new();
    let Some(user) = user else { return out };
    if !user.active || user.email.is_none() {
        return out;
    }
    for m in mappings {
        if user.groups.iter().any(|g| m.group.matches(g)) {
            out.entry(m.org_id.clone())
                .or_insert_with(|| m.role.clone());
        }
    }
    out
}

/// Whether the user would have access to `org` if they had a usable email:
/// active and in a group mapped to it. (Such a user without one is
/// reported, not ignored.)
pub fn wants_access(mappings: &[Mapping], user: &UserFacts, org: &SnykOrgId) -> bool {
    user.active
        && mappings
            .iter()
            .any(|m| &m.org_id == org && user.groups.iter().any(|g| m.group.matches(g)))
}

/// The orgs where a change from `before` to `after` (None: no such user,
/// e.g. before a create or after a delete) may change what the user should
/// have: a different desired role, a different "wants access" (an active
/// member of a mapped group, with or without a usable email: without one the
/// target reports why), or, when the email changed, every org wanted before
/// or after (Snyk knows the access by email). Pure; a user in no mapped group
/// before or after gets nothing.
pub fn changed_orgs(
    mappings: &[Mapping],
    before: Option<&UserFacts>,
    after: Option<&UserFacts>,
) -> BTreeSet<SnykOrgId> {
    let (d_before, d_after) = (desired(mappings, before), desired(mappings, after));
    // Each side's wanted orgs in one pass over the mappings (not one pass
    // per org: with 300 mapped orgs that was most of a create's CPU).
    let (w_before, w_after) = (wanted_orgs(mappings, before), wanted_orgs(mappings, after));
    let email_changed =
        before.and_then(|f| f.email.as_ref()) != after.and_then(|f| f.email.as_ref());
    mapped_orgs(mappings)
        .into_iter()
        .filter(|org| {
            let b = (d_before.get(org), w_before.contains(org));
            let a = (d_after.get(org), w_after.contains(org));
            b != a || (email_changed && (b.1 || a.1))
        })
        .collect()
}

/// The orgs [`wants_access`] is true for (none for `None`).
fn wanted_orgs<'m>(mappings: &'m [Mapping], user: Option<&UserFacts>) -> BTreeSet<&'m SnykOrgId> {
    match user {
        Some(u) if u.active => mappings
            .iter()
            .filter(|m| u.groups.iter().any(|g| m.group.matches(g)))
            .map(|m| &m.org_id)
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// The orgs the groups of these names are mapped to.
pub fn orgs_of_groups(mappings: &[Mapping], names: &[Option<&str>]) -> BTreeSet<SnykOrgId> {
    mappings
        .iter()
        .filter(|m| names.iter().flatten().any(|n| m.group.matches(n)))
        .map(|m| m.org_id.clone())
        .collect()
}

/// Every org some mapping names, in file order without repeats.
pub fn mapped_orgs(mappings: &[Mapping]) -> Vec<SnykOrgId> {
    let mut seen: BTreeSet<&SnykOrgId> = BTreeSet::new();
    mappings
        .iter()
        .filter(|m| seen.insert(&m.org_id))
        .map(|m| m.org_id.clone())
        .collect()
}

/// Whether a group name is named by some mapping.
pub fn is_mapped_group(mappings: &[Mapping], display_name: &str) -> bool {
    mappings.iter().any(|m| m.group.matches(display_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::GroupName;
    use serde_json::json;

    const ORG_A: &str = "6b7a7c5e-1111-4c4c-9d9d-00000000000a";
    const ORG_B: &str = "6b7a7c5e-1111-4c4c-9d9d-00000000000b";

    fn m(group: &str, org: &str, role: SnykRole) -> Mapping {
        Mapping {
            group: GroupName::parse(group).expect("group"),
            org_id: SnykOrgId::parse(org).expect("org"),
            role,
        }
    }

    fn user(active: bool, groups: &[&str]) -> UserFacts {
        UserFacts {
            email: Email::parse("ann@x.com").ok(),
            active,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn a_user_without_email_still_wants_the_orgs_of_their_groups() {
        let maps = vec![m("Admins", ORG_A, SnykRole::Admin)];
        let mut u = user(true, &["admins"]);
        u.email = None;
        let a = SnykOrgId::parse(ORG_A).expect("org");
        let b = SnykOrgId::parse(ORG_B).expect("org");
        assert!(desired(&maps, Some(&u)).is_empty());
        assert!(wants_access(&maps, &u, &a));
        assert!(!wants_access(&maps, &u, &b));
        u.active = false;
        assert!(!wants_access(&maps, &u, &a));
    }

    #[test]
    fn changed_orgs_table() {
        let maps = vec![
            m("Admins", ORG_A, SnykRole::Admin),
            m("Devs", ORG_A, SnykRole::Collaborator),
            m("Devs", ORG_B, SnykRole::Collaborator),
        ];
        let a = SnykOrgId::parse(ORG_A).expect("org");
        let b = SnykOrgId::parse(ORG_B).expect("org");
        let set = |v: &[&SnykOrgId]| v.iter().map(|o| (*o).clone()).collect::<BTreeSet<_>>();
        let with_email = |f: &UserFacts, e: Option<&str>| UserFacts {
            email: e.and_then(|e| Email::parse(e).ok()),
            ..f.clone()
        };
        let none = user(true, &[]);
        let admin = user(true, &["Admins"]);
        let dev = user(true, &["devs"]);
        let both = user(true, &["Admins", "Devs"]);
        let both_off = user(false, &["Admins", "Devs"]);
        let admin_new = with_email(&admin, Some("new@x.com"));
        let admin_none = with_email(&admin, None);
        let none_new = with_email(&none, Some("new@x.com"));
        let dev_off = user(false, &["Devs"]);
        let rows: Vec<(Option<&UserFacts>, Option<&UserFacts>, BTreeSet<SnykOrgId>)> = vec![
            // a create or a delete of a user in no mapped group: nothing
            (None, Some(&none), set(&[])),
            (Some(&none), None, set(&[])),
            // a name change (same groups, same email, same active): nothing
            (Some(&admin), Some(&admin), set(&[])),
            // deactivation: every org wanted before
            (Some(&both), Some(&both_off), set(&[&a, &b])),
            // delete: every org wanted before
            (Some(&dev), None, set(&[&a, &b])),
            // a new email: every org wanted
            (Some(&admin), Some(&admin_new), set(&[&a])),
            // the email goes away: the target reports why, in the org wanted
            (Some(&admin), Some(&admin_none), set(&[&a])),
            // a new email for a user in no mapped group: nothing
            (Some(&none), Some(&none_new), set(&[])),
            // reactivation
            (Some(&dev_off), Some(&dev), set(&[&a, &b])),
        ];
        for (i, (before, after, want)) in rows.into_iter().enumerate() {
            assert_eq!(changed_orgs(&maps, before, after), want, "row {i}");
        }
        assert_eq!(orgs_of_groups(&maps, &[Some("ADMINS")]), set(&[&a]));
        assert_eq!(
            orgs_of_groups(&maps, &[Some("x"), Some("Devs")]),
            set(&[&a, &b])
        );
        assert_eq!(orgs_of_groups(&maps, &[None]), set(&[]));
    }

    #[test]
    fn email_rules_in_order() {
        let cases = [
            (
                json!({"userName": "u", "emails": [{"value": "w@x", "type": "work"}, {"value": "P@X", "primary": true}]}),
                Some("p@x"),
            ),
            (
                json!({"userName": "u", "emails": [{"value": "h@x", "type": "home"}, {"value": "w@x", "type": "work"}]}),
                Some("w@x"),
            ),
            (
                json!({"userName": "u", "emails": [{"value": "h@x", "type": "home"}]}),
                Some("h@x"),
            ),
            (json!({"userName": "Ann@X.com"}), Some("ann@x.com")),
            (json!({"userName": "ann"}), None),
            (
                json!({"userName": "ann", "emails": [{"value": "not-an-email"}]}),
                None,
            ),
        ];
        for (doc, want) in cases {
            let got = email_of(doc.as_object().expect("object"));
            assert_eq!(got.as_ref().map(Email::as_str), want, "{doc}");
        }
    }

    #[test]
    fn desired_access_table() {
        let maps = vec![
            m("Snyk Admins", ORG_A, SnykRole::Admin),
            m("Developers", ORG_A, SnykRole::Collaborator),
            m("Developers", ORG_B, SnykRole::Custom("dev-readonly".into())),
        ];
        let a = SnykOrgId::parse(ORG_A).expect("org");
        let b = SnykOrgId::parse(ORG_B).expect("org");
        type Want = Vec<(SnykOrgId, SnykRole)>;
        let cases: Vec<(Option<UserFacts>, Want)> = vec![
            (Some(user(true, &[])), vec![]),
            (
                Some(user(true, &["snyk admins"])),
                vec![(a.clone(), SnykRole::Admin)],
            ),
            // first mapping in the file wins for org A
            (
                Some(user(true, &["Developers", "Snyk Admins"])),
                vec![
                    (a.clone(), SnykRole::Admin),
                    (b.clone(), SnykRole::Custom("dev-readonly".into())),
                ],
            ),
            (
                Some(user(true, &["DEVELOPERS"])),
                vec![
                    (a.clone(), SnykRole::Collaborator),
                    (b.clone(), SnykRole::Custom("dev-readonly".into())),
                ],
            ),
            (Some(user(false, &["Snyk Admins"])), vec![]),
            (None, vec![]),
            (
                Some(UserFacts {
                    email: None,
                    active: true,
                    groups: vec!["Snyk Admins".into()],
                }),
                vec![],
            ),
        ];
        for (u, want) in cases {
            let got: Want = desired(&maps, u.as_ref()).into_iter().collect();
            assert_eq!(got, want, "{u:?}");
        }
    }

    #[test]
    fn users_without_active_are_active() {
        let f = facts(
            json!({"userName": "a@x.com"}).as_object().expect("o"),
            vec![],
        );
        assert!(f.active);
        let f = facts(
            json!({"userName": "a@x.com", "active": false})
                .as_object()
                .expect("o"),
            vec![],
        );
        assert!(!f.active);
    }
}
