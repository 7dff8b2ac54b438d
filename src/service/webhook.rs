//! Webhook use case: apply one delivery of [`webhook::Event`]s (Okta Event
//! Hooks or the generic webhook) to the same store, planner and outbox as
//! SCIM requests, in ONE transaction: every event is applied, or (on any
//! error) none is.
//!
//! Per event, in publication order:
//! 1. dedupe: the event id is recorded per source; an id already recorded
//!    (and not yet purged after the retention time) is skipped;
//! 2. ordering: per (subject, aspect) the publication time of the last event
//!    applied is kept; an older event does not overwrite that aspect, and a
//!    newer deletion wins over every older event of the subject;
//! 3. the change goes through the same internals as a SCIM request
//!    (create / write / delete, membership), which queue the outbox targets
//!    and write the audit event in the same transaction.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::{Change, ScimService, ServiceError, display_name, load};
use crate::audit;
use crate::scim::resource;
use crate::scim::schema::{GROUP_SCHEMA, ResourceKind, USER_SCHEMA};
use crate::store::{AppliedMark, IndexKey, MemberRef, StoreTx, StoredResource};
use crate::sync::mapping;
use crate::webhook::{self, Action, Event, GroupRef, LIFECYCLE, PROFILE, Source, UserRef};

/// What a delivery did, event by event counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WebhookOutcome {
    /// Events in the delivery that were parsed for application.
    pub received: usize,
    /// Applied (a change stored, or at least its ordering mark).
    pub applied: usize,
    /// Event ids already processed.
    pub duplicates: usize,
    /// Older than what was already applied for the same user and aspect.
    pub stale: usize,
    /// Understood but nothing to do (unknown user on a profile update,
    /// an Okta group that is neither mapped nor known).
    pub skipped: usize,
}

enum Applied {
    Yes,
    Stale,
    Skipped(&'static str),
}

const LIFECYCLE_ACTIVE: &str = "active";
const LIFECYCLE_INACTIVE: &str = "inactive";
const LIFECYCLE_DELETED: &str = "deleted";

impl ScimService {
    /// "Now", from the injected clock (for signature windows).
    pub fn now_utc(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Apply one delivery in one transaction; see the module doc.
    /// `retention_secs`: event ids of this source received longer ago are
    /// forgotten first.
    pub async fn apply_webhook(
        &self,
        source: Source,
        events: Vec<Event>,
        retention_secs: u64,
    ) -> Result<WebhookOutcome, ServiceError> {
        let now = self.now_ms();
        let retention_ms = i64::try_from(retention_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let mut out = WebhookOutcome {
            received: events.len(),
            ..WebhookOutcome::default()
        };
        let mut tx = self.store.write().await?;
        tx.purge_webhook_events(source.as_str(), now.saturating_sub(retention_ms))
            .await?;
        for e in webhook::in_order(events) {
            if !tx
                .record_webhook_event(source.as_str(), &e.id, e.published_ms, now)
                .await?
            {
                tracing::debug!(source = source.as_str(), event_id = %e.id, "duplicate event skipped");
                out.duplicates += 1;
                continue;
            }
            match self.apply_event(&mut tx, source, &e).await? {
                Applied::Yes => out.applied += 1,
                Applied::Stale => {
                    tracing::debug!(source = source.as_str(), event_id = %e.id, kind = %e.kind, "older than the state already applied; skipped");
                    out.stale += 1;
                }
                Applied::Skipped(why) => {
                    tracing::debug!(source = source.as_str(), event_id = %e.id, kind = %e.kind, reason = why, "event skipped");
                    out.skipped += 1;
                }
            }
        }
        let due = tx.take_queued_due();
        tx.commit().await?;
        if let Some(due) = due {
            self.ring_at(due);
        }
        Ok(out)
    }

    async fn apply_event(
        &self,
        tx: &mut StoreTx,
        source: Source,
        e: &Event,
    ) -> Result<Applied, ServiceError> {
        let subject = e.user.subject.as_str();
        let lifecycle = tx.applied_mark(subject, LIFECYCLE).await?;
        if lifecycle.as_ref().is_some_and(|m| {
            m.value.as_deref() == Some(LIFECYCLE_DELETED) && e.published_ms < m.published_at
        }) {
            return Ok(Applied::Stale);
        }
        let lifecycle_stale =
            webhook::is_stale(e.published_ms, lifecycle.as_ref().map(|m| m.published_at));
        let mark = |value: Option<&str>| AppliedMark {
            value: value.map(str::to_owned),
            published_at: e.published_ms,
            event_id: e.id.clone(),
        };
        // `active` for a user created now: a newer lifecycle state wins.
        let initial_active = |wanted: bool| match &lifecycle {
            Some(m) if lifecycle_stale => m.value.as_deref() != Some(LIFECYCLE_INACTIVE),
            _ => wanted,
        };
        match &e.action {
            Action::Upsert { active, create } => {
                let profile = tx.applied_mark(subject, PROFILE).await?;
                let profile_stale =
                    webhook::is_stale(e.published_ms, profile.map(|m| m.published_at));
                let set_active = active.filter(|_| !lifecycle_stale);
                if profile_stale && set_active.is_none() {
                    return Ok(Applied::Stale);
                }
                match find_user(tx, &e.user).await? {
                    None if !create => return Ok(Applied::Skipped("user not known")),
                    None => {
                        if self
                            .create_user(tx, &e.user, initial_active(active.unwrap_or(true)))
                            .await?
                            .is_none()
                        {
                            return Ok(Applied::Skipped("no userName to create the user with"));
                        }
                    }
                    Some(current) => {
                        let mut doc = current.doc.clone();
                        if !profile_stale {
                            apply_profile(&mut doc, &e.user);
                        }
                        if let Some(a) = set_active {
                            doc.insert("active".into(), Value::Bool(a));
                        }
                        self.write_user(tx, &current, doc).await?;
                    }
                }
                if !profile_stale {
                    tx.set_applied_mark(subject, PROFILE, &mark(None)).await?;
                }
                if let Some(a) = set_active {
                    tx.set_applied_mark(subject, LIFECYCLE, &mark(Some(lifecycle_value(a))))
                        .await?;
                }
                Ok(Applied::Yes)
            }
            Action::SetActive(a) => {
                if lifecycle_stale {
                    return Ok(Applied::Stale);
                }
                match find_user(tx, &e.user).await? {
                    Some(current) => {
                        let mut doc = current.doc.clone();
                        doc.insert("active".into(), Value::Bool(*a));
                        self.write_user(tx, &current, doc).await?;
                    }
                    // Activation of a user never seen creates it; a missing
                    // user that is deactivated only gets the mark (so that a
                    // late, older creation makes an inactive user).
                    None if *a => {
                        self.create_user(tx, &e.user, true).await?;
                    }
                    None => {}
                }
                tx.set_applied_mark(subject, LIFECYCLE, &mark(Some(lifecycle_value(*a))))
                    .await?;
                Ok(Applied::Yes)
            }
            Action::Delete => {
                if lifecycle_stale {
                    return Ok(Applied::Stale);
                }
                if let Some(current) = find_user(tx, &e.user).await? {
                    self.delete_user(tx, &current).await?;
                }
                tx.set_applied_mark(subject, LIFECYCLE, &mark(Some(LIFECYCLE_DELETED)))
                    .await?;
                Ok(Applied::Yes)
            }
            Action::AddToGroup(g) | Action::RemoveFromGroup(g) => {
                let adding = matches!(e.action, Action::AddToGroup(_));
                let aspect = webhook::member_aspect(&g.display_name);
                let last = tx.applied_mark(subject, &aspect).await?;
                if webhook::is_stale(e.published_ms, last.map(|m| m.published_at)) {
                    return Ok(Applied::Stale);
                }
                let group = find_group(tx, g).await?;
                if group.is_none()
                    && source == Source::Okta
                    && !mapping::is_mapped_group(&self.sync.mappings, &g.display_name)
                {
                    return Ok(Applied::Skipped("group is neither mapped nor known"));
                }
                if adding {
                    let group = match group {
                        Some(group) => group,
                        None => self.create_group(tx, g).await?,
                    };
                    let user = match find_user(tx, &e.user).await? {
                        Some(u) => Some(u),
                        None => self.create_user(tx, &e.user, initial_active(true)).await?,
                    };
                    if let Some(user) = user {
                        self.change_membership(tx, &group, &user, true).await?;
                    }
                } else if let Some(group) = group
                    && let Some(user) = find_user(tx, &e.user).await?
                {
                    self.change_membership(tx, &group, &user, false).await?;
                }
                let value = if adding { "member" } else { "removed" };
                tx.set_applied_mark(subject, &aspect, &mark(Some(value)))
                    .await?;
                Ok(Applied::Yes)
            }
        }
    }

    /// Create a user from what the event says; `None` without a userName.
    async fn create_user(
        &self,
        tx: &mut StoreTx,
        u: &UserRef,
        active: bool,
    ) -> Result<Option<StoredResource>, ServiceError> {
        let Some(user_name) = &u.user_name else {
            return Ok(None);
        };
        let mut doc = json!({"schemas": [USER_SCHEMA], "userName": user_name, "active": active})
            .as_object()
            .cloned()
            .unwrap_or_default();
        apply_profile(&mut doc, u);
        let doc = resource::normalize(ResourceKind::User, &Value::Object(doc))?;
        let rendered = self.create_in(tx, ResourceKind::User, doc, "").await?;
        let id = rendered
            .body
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(tx.get_resource(ResourceKind::User, &id).await?)
    }

    async fn create_group(
        &self,
        tx: &mut StoreTx,
        g: &GroupRef,
    ) -> Result<StoredResource, ServiceError> {
        let mut doc = json!({"schemas": [GROUP_SCHEMA], "displayName": g.display_name});
        if let (Some(x), Some(o)) = (&g.external_id, doc.as_object_mut()) {
            o.insert("externalId".into(), Value::String(x.clone()));
        }
        let doc = resource::normalize(ResourceKind::Group, &doc)?;
        let rendered = self.create_in(tx, ResourceKind::Group, doc, "").await?;
        let id = rendered
            .body
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        load(tx, ResourceKind::Group, &id).await
    }

    /// Write a changed user document (normalised like a SCIM PUT).
    async fn write_user(
        &self,
        tx: &mut StoreTx,
        current: &StoredResource,
        doc: Map<String, Value>,
    ) -> Result<(), ServiceError> {
        if doc == current.doc {
            return Ok(());
        }
        let mut with_schemas = doc;
        if !with_schemas.contains_key("schemas") {
            with_schemas.insert("schemas".into(), json!([USER_SCHEMA]));
        }
        let doc = resource::normalize(ResourceKind::User, &Value::Object(with_schemas))?;
        self.write_doc(tx, current, doc, None, super::Existing::Unread, "webhook")
            .await?;
        Ok(())
    }

    async fn delete_user(
        &self,
        tx: &mut StoreTx,
        current: &StoredResource,
    ) -> Result<(), ServiceError> {
        tx.delete_resource(ResourceKind::User, &current.id).await?;
        let change = Change::User {
            id: current.id.clone(),
            before: Some(current.doc.clone()),
            after: None,
        };
        self.enqueue(tx, &change).await?;
        self.audit(
            tx,
            ResourceKind::User,
            &current.id,
            "delete",
            "deleted".to_owned(),
            &current.doc,
        )
        .await?;
        Ok(())
    }

    /// Add a user to (or remove it from) a group, touching only that member.
    async fn change_membership(
        &self,
        tx: &mut StoreTx,
        group: &StoredResource,
        user: &StoredResource,
        add: bool,
    ) -> Result<(), ServiceError> {
        let is_member = tx.members(&group.id).await?.iter().any(|m| m.id == user.id);
        if is_member == add {
            return Ok(());
        }
        if add {
            let mut doc = Map::new();
            doc.insert("value".into(), Value::String(user.id.clone()));
            if let Some(name) = user.doc.get("userName").cloned() {
                doc.insert("display".into(), name);
            }
            let member = MemberRef {
                id: user.id.clone(),
                kind: ResourceKind::User,
                doc,
            };
            tx.add_member(&group.id, &member).await?;
        } else {
            tx.remove_member(&group.id, &user.id).await?;
        }
        tx.touch_resource(group, &self.now()).await?;
        let change = Change::Group {
            names: vec![display_name(&group.doc)],
            users: BTreeSet::from([user.id.clone()]),
            shrink: None,
        };
        self.enqueue(tx, &change).await?;
        let (added, removed) = if add { (1, 0) } else { (0, 1) };
        self.audit(
            tx,
            ResourceKind::Group,
            &group.id,
            "webhook",
            audit::summarize(&[], added, removed),
            &group.doc,
        )
        .await?;
        Ok(())
    }
}

fn lifecycle_value(active: bool) -> &'static str {
    if active {
        LIFECYCLE_ACTIVE
    } else {
        LIFECYCLE_INACTIVE
    }
}

/// The first id an index key selects.
async fn first(
    tx: &mut StoreTx,
    kind: ResourceKind,
    key: IndexKey,
) -> Result<Option<String>, ServiceError> {
    Ok(tx.find_ids(kind, &key).await?.into_iter().next())
}

/// The stored user an event names: by externalId (the Okta user id), then
/// userName (the login), then email; locked for writing.
async fn find_user(tx: &mut StoreTx, u: &UserRef) -> Result<Option<StoredResource>, ServiceError> {
    let mut keys = Vec::new();
    if let Some(x) = &u.external_id {
        keys.push(IndexKey::ExternalId(x.clone()));
    }
    if let Some(n) = &u.user_name {
        keys.push(IndexKey::NameLc(n.to_lowercase()));
    }
    for e in [&u.email, &u.user_name].into_iter().flatten() {
        if e.contains('@') {
            keys.push(IndexKey::EmailLc(e.to_lowercase()));
        }
    }
    for key in keys {
        if let Some(id) = first(tx, ResourceKind::User, key).await? {
            return Ok(Some(load(tx, ResourceKind::User, &id).await?));
        }
    }
    Ok(None)
}

/// The stored group an event names: by externalId (the Okta group id), then
/// displayName (case-insensitive); locked for writing.
async fn find_group(
    tx: &mut StoreTx,
    g: &GroupRef,
) -> Result<Option<StoredResource>, ServiceError> {
    let mut keys = Vec::new();
    if let Some(x) = &g.external_id {
        keys.push(IndexKey::ExternalId(x.clone()));
    }
    keys.push(IndexKey::DisplayLc(g.display_name.to_lowercase()));
    for key in keys {
        if let Some(id) = first(tx, ResourceKind::Group, key).await? {
            return Ok(Some(load(tx, ResourceKind::Group, &id).await?));
        }
    }
    Ok(None)
}

/// Write the profile fields an event carries into a user document: userName,
/// externalId (only where none is set), the primary work email, displayName
/// and name parts.
fn apply_profile(doc: &mut Map<String, Value>, u: &UserRef) {
    if let Some(n) = &u.user_name {
        doc.insert("userName".into(), Value::String(n.clone()));
    }
    if let Some(x) = &u.external_id
        && !doc.get("externalId").is_some_and(|v| v.is_string())
    {
        doc.insert("externalId".into(), Value::String(x.clone()));
    }
    if let Some(email) = &u.email {
        set_primary_email(doc, email);
    }
    if let Some(d) = &u.display_name {
        doc.insert("displayName".into(), Value::String(d.clone()));
    }
    if u.given_name.is_some() || u.family_name.is_some() {
        let name = doc
            .entry("name")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(name) = name {
            if let Some(g) = &u.given_name {
                name.insert("givenName".into(), Value::String(g.clone()));
            }
            if let Some(f) = &u.family_name {
                name.insert("familyName".into(), Value::String(f.clone()));
            }
        }
    }
}

/// Make `email` the primary work email; other addresses stay, no longer
/// primary.
fn set_primary_email(doc: &mut Map<String, Value>, email: &str) {
    let mut emails: Vec<Value> = match doc.get("emails") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    emails.retain(|e| {
        !e.get("value")
            .and_then(Value::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case(email))
    });
    for e in &mut emails {
        if let Some(o) = e.as_object_mut() {
            o.remove("primary");
        }
    }
    emails.insert(0, json!({"value": email, "type": "work", "primary": true}));
    doc.insert("emails".into(), Value::Array(emails));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_fields_are_written_and_external_id_kept() {
        let mut doc = json!({
            "userName": "old@example.com",
            "externalId": "kept",
            "emails": [{"value": "old@example.com", "type": "work", "primary": true}, {"value": "home@example.com", "type": "home"}],
            "name": {"formatted": "J D"}
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
        let u = UserRef {
            subject: "s".into(),
            external_id: Some("new".into()),
            user_name: Some("new@example.com".into()),
            email: Some("new@example.com".into()),
            display_name: Some("Jane".into()),
            given_name: Some("Jane".into()),
            family_name: None,
        };
        apply_profile(&mut doc, &u);
        assert_eq!(
            Value::Object(doc),
            json!({
                "userName": "new@example.com",
                "externalId": "kept",
                "emails": [
                    {"value": "new@example.com", "type": "work", "primary": true},
                    {"value": "old@example.com", "type": "work"},
                    {"value": "home@example.com", "type": "home"}
                ],
                "name": {"formatted": "J D", "givenName": "Jane"},
                "displayName": "Jane"
            })
        );
    }
}
