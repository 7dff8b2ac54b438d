//! SCIM use cases: create, read, replace, patch, delete and list Users and
//! Groups, each in one store transaction.
//!
//! It joins the pure SCIM core (normalisation, PATCH, filters) with the store.
//! It knows no HTTP types and never calls Snyk: whatever Snyk must learn of a
//! change is written in the same transaction as the change itself.

pub mod bulk;
mod email;
mod error;
mod members;
mod read;
pub mod webhook;

use email::{ensure_email_free, insert_user};
pub use error::{ServiceError, store_error_answer};
use members::Existing;
pub use read::project;
use read::{members_json, render, render_known, render_without_members};

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use crate::clock::{Clock, timestamp};
use crate::scim::error::ScimError;
use crate::scim::patch;
use crate::scim::resource::{self, get_ci};
use crate::scim::schema::ResourceKind;
use std::collections::{BTreeSet, HashMap, HashSet};

use crate::audit::{self, Actor};
use crate::config::Mapping;
use crate::store::{AuditEvent, IndexedFields, MemberRef, Store, StoreTx, StoredResource};
use crate::sync;

/// What a change touched, for queueing Snyk work.
enum Change {
    /// A user created under a new id: in no group yet, holding no access,
    /// with no targets (all keyed by the id), so none of those is read.
    NewUser { id: String, doc: Map<String, Value> },
    /// A user written: the stored document before (None: created) and after
    /// (None: deleted).
    User {
        id: String,
        before: Option<Map<String, Value>>,
        after: Option<Map<String, Value>>,
    },
    Group {
        names: Vec<Option<String>>,
        users: BTreeSet<String>,
        /// The members this request took away (for the empty-push guard).
        shrink: Option<sync::Shrink>,
    },
}

fn user_members(members: &[MemberRef]) -> BTreeSet<String> {
    members
        .iter()
        .filter(|m| m.kind == ResourceKind::User)
        .map(|m| m.id.clone())
        .collect()
}

fn display_name(doc: &Map<String, Value>) -> Option<String> {
    doc.get("displayName")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Above this many stored resources, a filter that no index answers is
/// refused with `tooMany` rather than scanning every row.
pub const SCAN_LIMIT: i64 = 200_000;

/// A resource in its full representation, with its version for the ETag.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub body: Map<String, Value>,
    pub version: i64,
}

impl Rendered {
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// One page of a list response.
#[derive(Debug)]
pub struct ListPage {
    pub total: usize,
    pub start_index: usize,
    pub resources: Vec<Map<String, Value>>,
}

/// How a write is answered: the base URL of `meta.location`, and whether
/// a group's members are shown (when not, none are read for the answer).
#[derive(Debug, Clone, Copy)]
struct Reply<'a> {
    base: &'a str,
    with_members: bool,
}

impl<'a> Reply<'a> {
    fn full(base: &'a str) -> Self {
        Self {
            base,
            with_members: true,
        }
    }
}

/// A version precondition from `If-Match`.
#[derive(Debug, Clone, Default)]
pub enum IfMatch {
    #[default]
    Any,
    Versions(Vec<String>),
}

impl IfMatch {
    pub fn parse(header: Option<&str>) -> Self {
        match header.map(str::trim) {
            None | Some("*") | Some("") => Self::Any,
            Some(h) => Self::Versions(h.split(',').map(|v| v.trim().to_owned()).collect()),
        }
    }

    fn check(&self, version: i64) -> Result<(), ServiceError> {
        match self {
            Self::Any => Ok(()),
            Self::Versions(v) => {
                let tag = etag(version);
                let strong = format!("\"{version}\"");
                if v.iter().any(|x| *x == tag || *x == strong) {
                    Ok(())
                } else {
                    Err(ServiceError::PreconditionFailed)
                }
            }
        }
    }
}

/// What the SCIM side tells the sync engine: which targets to queue (in the
/// same transaction as the change) and a bell to ring after commit.
#[derive(Clone, Debug)]
pub struct SyncHook {
    pub mappings: Arc<Vec<Mapping>>,
    /// `[safety]`: the empty-push guard marks what a group write takes away.
    pub safety: Arc<crate::config::SafetySettings>,
    /// `snyk.dry_run`: nothing is sent, so nothing is held either (the
    /// empty-push guard marks nothing).
    pub dry_run: bool,
    pub notify: Arc<sync::bell::Bell>,
    /// Queued work is due this long after the change (see `sync::SETTLE`).
    pub settle: std::time::Duration,
}

#[derive(Clone, Debug)]
pub struct ScimService {
    store: Store,
    clock: Arc<dyn Clock>,
    sync: SyncHook,
    /// Who the changes made through this handle are recorded as.
    actor: Actor,
}

impl ScimService {
    pub fn new(store: Store, clock: Arc<dyn Clock>, sync: SyncHook) -> Self {
        Self {
            store,
            clock,
            sync,
            actor: Actor::system(),
        }
    }

    /// The same service, recording its changes in the audit trail as made
    /// by `actor` (the HTTP layer binds each request's principal and id).
    pub fn acting_as(&self, actor: Actor) -> Self {
        Self {
            actor,
            ..self.clone()
        }
    }

    /// Write the audit event of a change (same transaction as the change).
    async fn audit(
        &self,
        tx: &mut StoreTx,
        kind: ResourceKind,
        id: &str,
        operation: &str,
        summary: String,
        doc: &Map<String, Value>,
    ) -> Result<(), ServiceError> {
        let user_email = match kind {
            ResourceKind::User => sync::mapping::email_of(doc).map(|e| e.as_str().to_lowercase()),
            ResourceKind::Group => None,
        };
        tracing::info!(
            resource_type = kind.name(),
            resource_id = %id,
            operation,
            summary = %summary,
            "SCIM change stored"
        );
        tx.record_audit(&AuditEvent {
            at: self.now_ms(),
            request_id: self.actor.request_id.clone(),
            principal: self.actor.principal.clone(),
            resource_type: kind.name().to_owned(),
            resource_id: id.to_owned(),
            operation: operation.to_owned(),
            summary,
            user_email,
        })
        .await?;
        Ok(())
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Queue the Snyk work a change to these resources implies.
    async fn enqueue(&self, tx: &mut StoreTx, change: &Change) -> Result<(), ServiceError> {
        let at = sync::QueueAt {
            now: self.now_ms(),
            due: self.now_ms()
                + i64::try_from(self.sync.settle.as_millis()).unwrap_or(i64::MAX / 2),
        };
        let cause = self.actor.request_id.as_deref();
        match change {
            Change::NewUser { id, doc } => {
                sync::enqueue_new_user(tx, &self.sync.mappings, id, doc, at, cause).await?
            }
            Change::User { id, before, after } => {
                sync::enqueue_user_change(
                    tx,
                    &self.sync.mappings,
                    id,
                    before.as_ref(),
                    after.as_ref(),
                    at,
                    cause,
                )
                .await?
            }
            Change::Group {
                names,
                users,
                shrink,
            } => {
                let names: Vec<Option<&str>> = names.iter().map(|n| n.as_deref()).collect();
                if let (Some(shrink), false) = (shrink, self.sync.dry_run) {
                    sync::guard_empty_push(
                        tx,
                        &self.sync.mappings,
                        &self.sync.safety,
                        &names,
                        shrink,
                        at,
                        cause,
                    )
                    .await?;
                }
                sync::enqueue_group_members(tx, &self.sync.mappings, &names, users, at, cause)
                    .await?;
            }
        }
        Ok(())
    }

    /// Wake the sync engine for work queued due at `due` (ms).
    fn ring_at(&self, due: i64) {
        self.sync.notify.ring_at(due);
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn now(&self) -> String {
        timestamp(self.clock.now())
    }

    pub async fn create(
        &self,
        kind: ResourceKind,
        body: &Value,
        base: &str,
    ) -> Result<Rendered, ServiceError> {
        let doc = resource::normalize(kind, body)?;
        let this = self.clone();
        let base = base.to_owned();
        self.written(move |tx| Box::pin(async move { this.create_in(tx, kind, doc, &base).await }))
            .await
    }

    /// Run a write in a transaction of the store (shared with other writes
    /// on SQLite: group commit), then ring the sync engine's bell if it
    /// queued outbox work, for when that work falls due (see `sync::bell`).
    /// (A write that queued none, such as a user in no mapped group, has
    /// nothing to wake the engine for: ringing anyway cost a claim
    /// transaction per write, which on SQLite also took the write lock
    /// between groups.)
    async fn written<F, T>(&self, work: F) -> Result<T, ServiceError>
    where
        F: for<'t> FnOnce(&'t mut StoreTx) -> BoxFuture<'t, Result<T, ServiceError>>
            + Send
            + 'static,
        T: Send + 'static,
    {
        let (value, due) = self
            .store
            .write_grouped(move |tx| {
                Box::pin(async move {
                    // The transaction may be shared: only this write's due.
                    tx.take_queued_due();
                    let value = work(tx).await?;
                    Ok::<_, ServiceError>((value, tx.take_queued_due()))
                })
            })
            .await?;
        if let Some(due) = due {
            self.ring_at(due);
        }
        Ok(value)
    }

    async fn create_in(
        &self,
        tx: &mut StoreTx,
        kind: ResourceKind,
        mut doc: Map<String, Value>,
        base: &str,
    ) -> Result<Rendered, ServiceError> {
        let id = crate::domain::ScimId::new_random();
        let members = take_members(kind, &mut doc);
        let fields = indexed_fields(kind, &doc);
        let stored = match kind {
            ResourceKind::User => insert_user(tx, id.as_str(), &fields, &doc, &self.now()).await?,
            ResourceKind::Group => {
                tx.insert_resource(kind, id.as_str(), &fields, &doc, &self.now())
                    .await?
            }
        };
        let mut users = BTreeSet::new();
        let mut added = 0;
        if let Some(members) = members {
            let wanted = resolve_members(tx, id.as_str(), &members, &[], &HashMap::new()).await?;
            for m in &wanted {
                tx.add_member(id.as_str(), m).await?;
            }
            added = wanted.len();
            users = user_members(&wanted);
        }
        let summary = audit::summarize(
            &audit::changed_attributes(None, Some(&stored.doc)),
            added,
            0,
        );
        self.audit(tx, kind, id.as_str(), "create", summary, &stored.doc)
            .await?;
        let change = match kind {
            ResourceKind::User => Change::NewUser {
                id: id.as_str().to_owned(),
                doc: stored.doc.clone(),
            },
            ResourceKind::Group => Change::Group {
                names: vec![display_name(&stored.doc)],
                users,
                shrink: None,
            },
        };
        self.enqueue(tx, &change).await?;
        match kind {
            // A new id is in no group: nothing to read for `groups`.
            ResourceKind::User => Ok(render_without_members(&stored, base)),
            ResourceKind::Group => render(tx, &stored, base).await,
        }
    }

    pub async fn get(
        &self,
        kind: ResourceKind,
        id: &str,
        base: &str,
    ) -> Result<Rendered, ServiceError> {
        let mut tx = self.store.read().await?;
        let stored = tx
            .get_resource(kind, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(kind.name(), id.to_owned()))?;
        let r = render(&mut tx, &stored, base).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// The stored version only (for `If-None-Match` without rendering).
    pub async fn replace(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: &IfMatch,
        base: &str,
    ) -> Result<Rendered, ServiceError> {
        const OP: &str = "replace";
        let doc = resource::normalize(kind, body)?;
        check_body_id(body, id)?;
        let (this, id, if_match, base) = (
            self.clone(),
            id.to_owned(),
            if_match.clone(),
            base.to_owned(),
        );
        self.written(move |tx| {
            Box::pin(async move {
                let current = load(tx, kind, &id).await?;
                if_match.check(current.version)?;
                this.store_new_doc(tx, &current, doc, OP, Reply::full(&base), Existing::Unread)
                    .await
            })
        })
        .await
    }

    /// `with_members`: whether the answer shows a group's members (false:
    /// the client excluded them, or wants no body); when not, a PATCH that
    /// only adds or removes named members never reads the others.
    pub async fn patch(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: &IfMatch,
        base: &str,
        with_members: bool,
    ) -> Result<Rendered, ServiceError> {
        let reply = Reply { base, with_members };
        self.patch_in(kind, id, body, if_match, reply, true).await
    }

    /// [`Self::patch`]; `fast`: take the member fast path where it applies
    /// (tests compare it with the general path).
    async fn patch_in(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: &IfMatch,
        reply: Reply<'_>,
        fast: bool,
    ) -> Result<Rendered, ServiceError> {
        let ops = patch::parse(body)?;
        let (this, id, if_match, base, with_members) = (
            self.clone(),
            id.to_owned(),
            if_match.clone(),
            reply.base.to_owned(),
            reply.with_members,
        );
        self.written(move |tx| {
            Box::pin(async move {
                let reply = Reply {
                    base: &base,
                    with_members,
                };
                this.patch_tx(tx, kind, &id, &ops, &if_match, reply, fast)
                    .await
            })
        })
        .await
    }

    /// [`Self::patch_in`] inside its write transaction.
    #[allow(clippy::too_many_arguments)]
    async fn patch_tx(
        &self,
        tx: &mut StoreTx,
        kind: ResourceKind,
        id: &str,
        ops: &[patch::Operation],
        if_match: &IfMatch,
        reply: Reply<'_>,
        fast: bool,
    ) -> Result<Rendered, ServiceError> {
        const OP: &str = "patch";
        let current = load(tx, kind, id).await?;
        if_match.check(current.version)?;
        if fast
            && kind == ResourceKind::Group
            && let Some(named) = patch::members::member_scope(ops)
            && let Some((doc, existing)) =
                members::apply_to_named(tx, &current, ops, &named).await?
        {
            return self
                .store_new_doc(tx, &current, doc, OP, reply, existing)
                .await;
        }
        let mut doc = current.doc.clone();
        // A group's members are read once: the PATCH applies to them, the
        // write diffs against them, and the answer is rendered from the result.
        let existing = if kind == ResourceKind::Group {
            let members = tx.members(id).await?;
            if !members.is_empty() {
                doc.insert("members".into(), members_json(&members));
            }
            Existing::All(members)
        } else {
            Existing::Unread
        };
        patch::apply(kind, &mut doc, ops)?;
        let doc = resource::normalize(kind, &Value::Object(doc))?;
        self.store_new_doc(tx, &current, doc, OP, reply, existing)
            .await
    }

    /// The common end of replace and patch: a group's members come from the
    /// new document (none when absent), then write and render (the caller
    /// commits).
    async fn store_new_doc(
        &self,
        tx: &mut StoreTx,
        current: &StoredResource,
        mut doc: Map<String, Value>,
        operation: &str,
        reply: Reply<'_>,
        existing: Existing,
    ) -> Result<Rendered, ServiceError> {
        let members = match (current.kind, take_members(current.kind, &mut doc)) {
            (ResourceKind::Group, None) => Some(Vec::new()),
            (_, m) => m,
        };
        let (stored, now_members) = self
            .write_doc(tx, current, doc, members.as_deref(), existing, operation)
            .await?;
        Ok(
            if reply.with_members || current.kind != ResourceKind::Group {
                render_known(tx, &stored, reply.base, now_members).await?
            } else {
                render_without_members(&stored, reply.base)
            },
        )
    }

    /// Write a new document (and, for groups, the new member set) over
    /// `current`. `existing`: the members as already read in this transaction
    /// (see `members::write_members`). Returns the stored resource and, when
    /// the whole member set is known, the member set now (sorted by id, as
    /// the store lists it).
    async fn write_doc(
        &self,
        tx: &mut StoreTx,
        current: &StoredResource,
        doc: Map<String, Value>,
        members: Option<&[Value]>,
        existing: Existing,
        operation: &str,
    ) -> Result<(StoredResource, Option<Vec<MemberRef>>), ServiceError> {
        let now = self.now();
        if current.kind == ResourceKind::User && doc != current.doc {
            ensure_email_free(tx, &current.id, &doc).await?;
        }
        let mut w = members::MemberWrite::default();
        if let Some(members) = members {
            let renamed = display_name(&current.doc) != display_name(&doc);
            w = members::write_members(tx, current, members, existing, renamed, &self.sync.safety)
                .await?;
        }
        let change = match current.kind {
            ResourceKind::User => Change::User {
                id: current.id.clone(),
                before: Some(current.doc.clone()),
                after: Some(doc.clone()),
            },
            ResourceKind::Group => Change::Group {
                names: vec![display_name(&current.doc), display_name(&doc)],
                users: w.touched_users,
                shrink: w.shrink,
            },
        };
        self.enqueue(tx, &change).await?;
        let summary = audit::summarize(
            &audit::changed_attributes(Some(&current.doc), Some(&doc)),
            w.added,
            w.removed,
        );
        self.audit(tx, current.kind, &current.id, operation, summary, &doc)
            .await?;
        let stored = if doc == current.doc {
            if w.changed {
                tx.touch_resource(current, &now).await?
            } else {
                current.clone()
            }
        } else {
            let fields = indexed_fields(current.kind, &doc);
            tx.update_resource(current, &fields, &doc, &now).await?
        };
        Ok((stored, w.now))
    }

    pub async fn delete(
        &self,
        kind: ResourceKind,
        id: &str,
        if_match: &IfMatch,
    ) -> Result<(), ServiceError> {
        let (this, id, if_match) = (self.clone(), id.to_owned(), if_match.clone());
        self.written(move |tx| {
            Box::pin(async move { this.delete_tx(tx, kind, &id, &if_match).await })
        })
        .await
    }

    async fn delete_tx(
        &self,
        tx: &mut StoreTx,
        kind: ResourceKind,
        id: &str,
        if_match: &IfMatch,
    ) -> Result<(), ServiceError> {
        let current = load(tx, kind, id).await?;
        if_match.check(current.version)?;
        let change = match kind {
            ResourceKind::User => Change::User {
                id: id.to_owned(),
                before: Some(current.doc.clone()),
                after: None,
            },
            ResourceKind::Group => {
                let users = user_members(&tx.members(id).await?);
                Change::Group {
                    names: vec![display_name(&current.doc)],
                    shrink: Some(sync::Shrink {
                        before: users.len(),
                        lost: users.clone(),
                    }),
                    users,
                }
            }
        };
        tx.delete_resource(kind, id).await?;
        self.enqueue(tx, &change).await?;
        self.audit(tx, kind, id, "delete", "deleted".to_owned(), &current.doc)
            .await
    }
}

/// Load a resource for writing, holding its row lock.
async fn load(
    tx: &mut StoreTx,
    kind: ResourceKind,
    id: &str,
) -> Result<StoredResource, ServiceError> {
    tx.get_resource_for_write(kind, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(kind.name(), id.to_owned()))
}

/// A PUT body may carry `id`; when it does it must be the resource's.
fn check_body_id(body: &Value, id: &str) -> Result<(), ServiceError> {
    match body.as_object().and_then(|o| get_ci(o, "id")) {
        Some(Value::String(given)) if given != id => Err(ScimError::mutability(format!(
            "id is read-only: the body names {given:?} but the URL names {id:?}"
        ))
        .into()),
        _ => Ok(()),
    }
}

fn take_members(kind: ResourceKind, doc: &mut Map<String, Value>) -> Option<Vec<Value>> {
    if kind != ResourceKind::Group {
        return None;
    }
    match doc.remove("members") {
        Some(Value::Array(a)) => Some(a),
        Some(_) | None => None,
    }
}

/// Check that every member exists; a group may not contain itself.
/// Members already `known` (the group's current members), or whose kind is
/// in `kinds` (read with them), are not looked up again.
async fn resolve_members(
    tx: &mut StoreTx,
    group_id: &str,
    members: &[Value],
    known: &[MemberRef],
    kinds: &HashMap<String, ResourceKind>,
) -> Result<Vec<MemberRef>, ServiceError> {
    let known: HashMap<&str, ResourceKind> =
        known.iter().map(|k| (k.id.as_str(), k.kind)).collect();
    let mut seen: HashSet<String> = HashSet::with_capacity(members.len());
    let mut out: Vec<MemberRef> = Vec::with_capacity(members.len());
    for m in members {
        let Some(id) = m.get("value").and_then(Value::as_str) else {
            return Err(
                ScimError::invalid_value("every member needs a value (the member's id)").into(),
            );
        };
        if !seen.insert(id.to_owned()) {
            continue;
        }
        if id == group_id {
            return Err(ScimError::invalid_value("a group cannot be a member of itself").into());
        }
        let kind = match known.get(id).or_else(|| kinds.get(id)) {
            Some(k) => Some(*k),
            None => tx.kind_of(id).await?,
        };
        match kind {
            Some(kind) => out.push(MemberRef {
                id: id.to_owned(),
                kind,
                doc: m.as_object().cloned().unwrap_or_default(),
            }),
            None => {
                return Err(ScimError::invalid_value(format!(
                    "member {id:?} is neither a User nor a Group of this server"
                ))
                .into());
            }
        }
    }
    Ok(out)
}

fn indexed_fields(kind: ResourceKind, doc: &Map<String, Value>) -> IndexedFields {
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    let (name, display) = match kind {
        ResourceKind::User => (
            text("userName"),
            text("displayName").or_else(|| text("userName")),
        ),
        ResourceKind::Group => (text("displayName"), text("displayName")),
    };
    let emails_lc = match doc.get("emails") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|e| e.get("value").and_then(Value::as_str))
            .map(str::to_lowercase)
            .collect(),
        _ => Vec::new(),
    };
    IndexedFields {
        name_lc: name.unwrap_or_default().to_lowercase(),
        display,
        external_id: text("externalId"),
        emails_lc,
    }
}

#[cfg(test)]
mod tests;
