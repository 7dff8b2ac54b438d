//! Writing a group's members: the diff of the member set before and after a
//! write (rows to add, change and delete; the users whose access may change;
//! what the empty-push guard must know), and the PATCH fast path that reads
//! only the members a PATCH names (`scim::patch::members::member_scope`), so
//! that adding or removing one member of a group of 10,000 costs what it
//! costs on a group of 10.
//!
//! The fast path must never give a result that applying the PATCH to the
//! whole member list would not give: same stored state, same errors, same
//! version, same audit and outbox rows. It gives up (the caller takes the
//! general path) when a PATCH renames the group, since a rename changes the
//! access of every member. It never reads the members it does not need.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value};

use super::read::members_json;
use super::{ServiceError, display_name, resolve_members, user_members};
use crate::config::SafetySettings;
use crate::scim::patch::{self, Operation};
use crate::scim::resource;
use crate::scim::schema::ResourceKind;
use crate::store::{MemberRef, StoreTx, StoredResource};
use crate::sync;

/// A group's members as read before a write.
#[derive(Debug)]
pub(super) enum Existing {
    /// Not read yet: the write reads them all.
    Unread,
    /// All of them.
    All(Vec<MemberRef>),
    /// Only the members the change names; the others are not changed.
    /// `kinds`: the kind of each named id that is a stored resource (read
    /// with them), so that a joining member's kind costs no read.
    Named {
        members: Vec<MemberRef>,
        kinds: HashMap<String, ResourceKind>,
    },
}

/// What writing a member set did.
#[derive(Debug, Default)]
pub(super) struct MemberWrite {
    /// Any row added, changed or deleted.
    pub changed: bool,
    pub added: usize,
    pub removed: usize,
    /// Users who joined or left (everyone, on a rename).
    pub touched_users: BTreeSet<String>,
    /// The users this write took away, for the empty-push guard.
    pub shrink: Option<sync::Shrink>,
    /// The whole member set now, sorted by id, when it is known without
    /// reading (not after a fast-path write).
    pub now: Option<Vec<MemberRef>>,
}

/// Make the group's stored members `members` (of the new document). With
/// `Existing::Named`, `members` holds only the named members as they are to
/// be, and the others stay; the caller has checked that the group is not
/// renamed. `safety`: the empty-push guard's settings (how far to count).
pub(super) async fn write_members(
    tx: &mut StoreTx,
    group: &StoredResource,
    members: &[Value],
    existing: Existing,
    renamed: bool,
    safety: &SafetySettings,
) -> Result<MemberWrite, ServiceError> {
    let (existing, whole, kinds) = match existing {
        Existing::Unread => (tx.members(&group.id).await?, true, HashMap::new()),
        Existing::All(e) => (e, true, HashMap::new()),
        Existing::Named { members, kinds } => (members, false, kinds),
    };
    let wanted = resolve_members(tx, &group.id, members, &existing, &kinds).await?;
    // Keyed by id: one PATCH adding a member to a large group stays linear,
    // not quadratic, in the group's size.
    let before: HashMap<&str, &MemberRef> = existing.iter().map(|e| (e.id.as_str(), e)).collect();
    let after: HashSet<&str> = wanted.iter().map(|m| m.id.as_str()).collect();
    let mut w = MemberWrite::default();
    // Only members who joined or left change anyone's access, unless the
    // group's name (what mappings match) changed.
    if renamed {
        w.touched_users.extend(user_members(&wanted));
        w.touched_users.extend(user_members(&existing));
    }
    let upserts: Vec<(&MemberRef, bool)> = wanted
        .iter()
        .filter_map(|m| match before.get(m.id.as_str()) {
            Some(e) if *e == m => None,
            known => Some((m, known.is_none())),
        })
        .collect();
    let gone: Vec<&MemberRef> = existing
        .iter()
        .filter(|e| !after.contains(e.id.as_str()))
        .collect();
    let lost: BTreeSet<String> = gone
        .iter()
        .filter(|e| e.kind == ResourceKind::User)
        .map(|e| e.id.clone())
        .collect();
    // The guard needs the group's size before the write: when not all
    // members were read (and someone leaves), counted up to the size from
    // which the guard's rule no longer fires, so a large group costs no more
    // than a small one.
    let before_users = if whole {
        user_members(&existing).len()
    } else if lost.is_empty() {
        0
    } else {
        let bound = sync::safety::group_shrink_bound(safety, lost.len() as u64);
        let limit = i64::try_from(bound).unwrap_or(i64::MAX);
        let n = tx
            .count_members_up_to(&group.id, ResourceKind::User, limit)
            .await?;
        usize::try_from(n).unwrap_or(0)
    };
    for (m, joined) in upserts {
        tx.add_member(&group.id, m).await?;
        w.changed = true;
        w.added += 1;
        if joined && m.kind == ResourceKind::User {
            w.touched_users.insert(m.id.clone());
        }
    }
    for e in gone {
        tx.remove_member(&group.id, &e.id).await?;
        w.changed = true;
        w.removed += 1;
        if e.kind == ResourceKind::User {
            w.touched_users.insert(e.id.clone());
        }
    }
    // A rename away from a mapping takes the group from everyone.
    let lost = if renamed {
        user_members(&existing)
    } else {
        lost
    };
    if !lost.is_empty() {
        w.shrink = Some(sync::Shrink {
            before: before_users,
            lost,
        });
    }
    if whole {
        let mut sorted = wanted;
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        w.now = Some(sorted);
    }
    Ok(w)
}

/// The fast path of a group PATCH whose operations change only the members
/// they name (`named`): apply them to the group's document holding just
/// those members. Returns the new document (with `members`: the named
/// members as they are to be) and those members as they were; `None` when
/// the PATCH renames the group (take the general path: everyone's access
/// changes).
pub(super) async fn apply_to_named(
    tx: &mut StoreTx,
    current: &StoredResource,
    ops: &[Operation],
    named: &BTreeSet<String>,
) -> Result<Option<(Map<String, Value>, Existing)>, ServiceError> {
    let ids: Vec<String> = named.iter().cloned().collect();
    let (existing, kinds) = tx.members_among(&current.id, &ids).await?;
    let mut doc = current.doc.clone();
    if !existing.is_empty() {
        doc.insert("members".into(), members_json(&existing));
    }
    patch::apply(current.kind, &mut doc, ops)?;
    let doc = resource::normalize(current.kind, &Value::Object(doc))?;
    if display_name(&current.doc) != display_name(&doc) {
        return Ok(None);
    }
    Ok(Some((
        doc,
        Existing::Named {
            members: existing,
            kinds: kinds.into_iter().collect(),
        },
    )))
}

#[cfg(test)]
mod tests;
