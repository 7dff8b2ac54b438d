//! The audit trail: who made each SCIM change ([`Actor`]), what it changed
//! (a summary of attribute names, never values), and one user's history end to
//! end for `status --user EMAIL`.
//!
//! The rows are written by the SCIM use cases in the same transaction as the
//! change (`service`), and by the sync worker with each Snyk call
//! (`snyk_calls.scim_request_id` links a call to the change that caused it).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::store::{AccessRow, AuditEvent, CallRecord, QueuedRecord, Store, StoreError, TargetRow};

/// Who makes a change, and in which HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `token#N`, `jwt:<sub>`, or `system` (a change not made over SCIM).
    pub principal: String,
    /// The request id (also sent back as `X-Request-Id`).
    pub request_id: Option<String>,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            principal: "system".to_owned(),
            request_id: None,
        }
    }
}

impl Default for Actor {
    fn default() -> Self {
        Self::system()
    }
}

/// The top-level attributes that differ between two documents (names only).
pub fn changed_attributes(
    before: Option<&Map<String, Value>>,
    after: Option<&Map<String, Value>>,
) -> Vec<String> {
    let empty = Map::new();
    let b = before.unwrap_or(&empty);
    let a = after.unwrap_or(&empty);
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter(|k| k.as_str() != "schemas" && b.get(*k) != a.get(*k))
        .cloned()
        .collect()
}

/// A compact summary: `attributes: active, emails; members: +2 -1`.
pub fn summarize(attributes: &[String], members_added: usize, members_removed: usize) -> String {
    let mut parts = Vec::new();
    if !attributes.is_empty() {
        parts.push(format!("attributes: {}", attributes.join(", ")));
    }
    if members_added + members_removed > 0 {
        parts.push(format!("members: +{members_added} -{members_removed}"));
    }
    if parts.is_empty() {
        "no change".to_owned()
    } else {
        parts.join("; ")
    }
}

/// One line of a user's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryItem {
    Change(AuditEvent),
    Queued(QueuedRecord),
    Call(CallRecord),
}

impl HistoryItem {
    pub fn at(&self) -> i64 {
        match self {
            Self::Change(e) => e.at,
            Self::Queued(q) => q.at,
            Self::Call(c) => c.at,
        }
    }

    /// Order of items at the same millisecond: change, then queued, then call.
    fn rank(&self) -> u8 {
        match self {
            Self::Change(_) => 0,
            Self::Queued(_) => 1,
            Self::Call(_) => 2,
        }
    }
}

/// Everything known about one email, in time order.
#[derive(Debug, Clone, Default)]
pub struct UserHistory {
    pub user_ids: Vec<String>,
    pub items: Vec<HistoryItem>,
    pub targets: Vec<TargetRow>,
    pub access: Vec<AccessRow>,
}

/// Merge the sources into one timeline (stable: same-time items keep a
/// change before what it queued before the calls it caused).
pub fn timeline(
    changes: Vec<AuditEvent>,
    queued: Vec<QueuedRecord>,
    calls: Vec<CallRecord>,
) -> Vec<HistoryItem> {
    let mut seen = BTreeSet::new();
    let mut items: Vec<HistoryItem> = Vec::new();
    for e in changes {
        // A group change may be found through several user ids.
        if seen.insert((
            e.at,
            e.resource_id.clone(),
            e.request_id.clone(),
            e.operation.clone(),
        )) {
            items.push(HistoryItem::Change(e));
        }
    }
    items.extend(queued.into_iter().map(HistoryItem::Queued));
    items.extend(calls.into_iter().map(HistoryItem::Call));
    items.sort_by_key(|i| (i.at(), i.rank()));
    items
}

/// One user's history: every user id the email belongs or belonged to.
pub async fn user_history(store: &Store, email: &str) -> Result<UserHistory, StoreError> {
    let email_lc = email.trim().to_lowercase();
    let mut tx = store.read().await?;
    let user_ids = tx.user_ids_by_email(&email_lc).await?;
    let (mut changes, mut queued, mut calls) = (Vec::new(), Vec::new(), Vec::new());
    let (mut targets, mut access) = (Vec::new(), Vec::new());
    for id in &user_ids {
        changes.extend(tx.audit_for_user(id).await?);
        queued.extend(tx.queued_for_user(id).await?);
        calls.extend(tx.calls(Some(id), 100_000).await?);
        targets.extend(tx.targets_of_user(id).await?);
        access.extend(tx.access_of_user(id).await?);
    }
    tx.commit().await?;
    Ok(UserHistory {
        user_ids,
        items: timeline(changes, queued, calls),
        targets,
        access,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn summaries_name_attributes_not_values() {
        let before = obj(json!({"userName": "ann@x.com", "active": true, "schemas": ["a"]}));
        let after = obj(
            json!({"userName": "ann@x.com", "active": false, "title": "Eng", "schemas": ["b"]}),
        );
        let attrs = changed_attributes(Some(&before), Some(&after));
        assert_eq!(attrs, ["active", "title"]);
        assert_eq!(summarize(&attrs, 0, 0), "attributes: active, title");
        assert_eq!(summarize(&[], 2, 1), "members: +2 -1");
        assert_eq!(summarize(&[], 0, 0), "no change");
        let created = changed_attributes(None, Some(&after));
        assert_eq!(created, ["active", "title", "userName"]);
        assert!(!summarize(&created, 0, 0).contains("ann@x.com"));
    }

    #[test]
    fn the_timeline_is_in_time_order() {
        let ev = |at: i64| AuditEvent {
            at,
            request_id: Some("r1".into()),
            principal: "token#1".into(),
            resource_type: "User".into(),
            resource_id: "u1".into(),
            operation: "create".into(),
            summary: String::new(),
            user_email: None,
        };
        let q = QueuedRecord {
            at: 10,
            request_id: "r1".into(),
            user_id: "u1".into(),
            org_id: "o".into(),
        };
        let items = timeline(vec![ev(10), ev(10), ev(5)], vec![q], vec![]);
        let ats: Vec<(i64, u8)> = items.iter().map(|i| (i.at(), i.rank())).collect();
        assert_eq!(ats, [(5, 0), (10, 0), (10, 1)]);
    }
}
