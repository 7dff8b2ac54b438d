//! The sync engine: keeps Snyk in step with what the SCIM store says.
//!
//! - [`mapping`], [`planner`], [`judge`], [`retry`]: pure (no I/O), table-tested.
//! - [`enqueue_user_change`] / [`enqueue_group_members`]: called by the SCIM
//!   use cases *inside their transaction*, so a stored change always has its
//!   outbox rows (`sync_targets`) for exactly the orgs it may change, and a
//!   SCIM response never waits on Snyk.
//! - [`Engine`] (`engine`): the handle, its settings and whole-store views;
//!   `worker`: the loop that claims due targets with leases, in batches, and
//!   runs them; `settle`: a claimed batch's targets with nothing to do,
//!   finished together;
//!   `execute`: one target (desired vs applied access, calls through the
//!   [`pacer::Pacer`], outcome and applied state recorded); `reconcile`:
//!   live Snyk state read and judged by [`judge`] (pure); `names`: users and
//!   orgs in the operator's words for the views (never for logs);
//!   [`bell`]: how a write that queued work wakes the worker, and when it
//!   falls due; `api_health`: the
//!   token's expiry (at start and daily) and the blocked call kinds, stored.
//!
//! Invariant: access is only ever removed where `snyk_access` says the bridge
//! granted it; memberships that existed before are recorded as `external`
//! and never touched.

mod api_health;
pub mod bell;
pub mod budget;
pub mod engine;
mod execute;
pub mod judge;
pub mod mapping;
pub mod names;
pub mod pacer;
mod pacing;
pub mod planner;
pub mod rails;
pub mod reconcile;
pub mod retry;
pub mod safety;
mod settle;
mod worker;

use std::collections::BTreeSet;
use std::time::Duration;

use crate::config::{Mapping, SafetySettings};
use crate::store::{StoreError, StoreTx, TargetStatus};

pub use engine::{Engine, EngineSettings};

/// Why the worker could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A task processing one target failed inside the bridge (a panic: a bug).
    /// Its target was marked failed with this message.
    #[error("the sync task of user {user_id} in org {org_id} failed: {message}")]
    Task {
        user_id: String,
        org_id: String,
        message: String,
    },
}

/// How long after a SCIM change its work is due. IdPs send one change as a
/// burst of requests milliseconds apart (Okta: create, then add to the pushed
/// group; a move: remove from one group, add to another); planning once the
/// burst has settled makes one call of it, not a removal and a re-grant.
pub const SETTLE: Duration = Duration::from_millis(200);

/// When queued work was queued and when it is due (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueAt {
    pub now: i64,
    pub due: i64,
}

/// Queue one (user, org), with the audit link to the request that caused it.
async fn queue(
    tx: &mut StoreTx,
    user_id: &str,
    org: &str,
    at: QueueAt,
    cause: Option<&str>,
) -> Result<(), StoreError> {
    tx.enqueue_recorded(user_id, org, at.now, at.due, cause)
        .await
}

/// [`enqueue_user_change`] for a user just created under a new id
/// (`after`: its document): it is in no group, and the bridge holds no
/// access, targets or rejections for the id, so only the orgs its document
/// alone gives it access to are queued, and nothing is read.
pub async fn enqueue_new_user(
    tx: &mut StoreTx,
    mappings: &[Mapping],
    user_id: &str,
    after: &serde_json::Map<String, serde_json::Value>,
    at: QueueAt,
    cause: Option<&str>,
) -> Result<(), StoreError> {
    let after = mapping::facts(after, Vec::new());
    for org in mapping::changed_orgs(mappings, None, Some(&after)) {
        queue(tx, user_id, org.as_str(), at, cause).await?;
    }
    Ok(())
}

/// Queue what a change to one user may change in Snyk: the orgs where the
/// user's desired access before (`before`, the stored document; None for a
/// create) and after (`after`; None for a delete) differ
/// (`mapping::changed_orgs`, pure), and every org where the bridge holds
/// access for them. A user in no mapped group queues nothing. Called inside
/// the change's transaction; `cause` (the SCIM request id) is kept on the
/// target and in the audit trail.
pub async fn enqueue_user_change(
    tx: &mut StoreTx,
    mappings: &[Mapping],
    user_id: &str,
    before: Option<&serde_json::Map<String, serde_json::Value>>,
    after: Option<&serde_json::Map<String, serde_json::Value>>,
    at: QueueAt,
    cause: Option<&str>,
) -> Result<(), StoreError> {
    let groups: Vec<String> = tx
        .groups_of(user_id)
        .await?
        .into_iter()
        .filter_map(|(_, name)| name)
        .collect();
    let before = before.map(|d| mapping::facts(d, groups.clone()));
    let after = after.map(|d| mapping::facts(d, groups));
    let mut orgs: BTreeSet<String> =
        mapping::changed_orgs(mappings, before.as_ref(), after.as_ref())
            .into_iter()
            .map(|o| o.as_str().to_owned())
            .collect();
    orgs.extend(tx.access_orgs(user_id).await?);
    // Any change to the user re-arms what failed for good (a refusal by
    // Snyk, a dead letter): the documented way to retry one is to touch the
    // user in the IdP.
    orgs.extend(
        tx.targets_of_user(user_id)
            .await?
            .into_iter()
            .filter(|t| matches!(t.status, TargetStatus::Failed | TargetStatus::Dead))
            .map(|t| t.org_id),
    );
    // The IdP changed what decides this user's access: a removal an operator
    // rejected is planned anew (an identical re-push changes nothing).
    if before != after {
        tx.clear_rejected(user_id).await?;
    }
    for org in orgs {
        queue(tx, user_id, &org, at, cause).await?;
    }
    Ok(())
}

/// Queue the members a group write added or removed (`user_ids`), for the
/// orgs the group is mapped to under its name before or after the write
/// (`names`): nothing when neither name is mapped.
pub async fn enqueue_group_members(
    tx: &mut StoreTx,
    mappings: &[Mapping],
    names: &[Option<&str>],
    user_ids: &BTreeSet<String>,
    at: QueueAt,
    cause: Option<&str>,
) -> Result<(), StoreError> {
    let orgs = mapping::orgs_of_groups(mappings, names);
    if orgs.is_empty() {
        return Ok(());
    }
    for u in user_ids {
        let mut orgs = orgs.iter();
        // A member who joined or left: a removal of theirs that an operator
        // rejected is planned anew (cleared with the first org's queueing).
        if let Some(first) = orgs.next() {
            tx.clear_rejected_and_enqueue(u, first.as_str(), at.now, at.due, cause)
                .await?;
        }
        for org in orgs {
            queue(tx, u, org.as_str(), at, cause).await?;
        }
    }
    Ok(())
}

/// The members one group write took away: `before` users were members,
/// `lost` of them are not any more (all of them for a DELETE, or a rename
/// away from the mapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shrink {
    pub before: usize,
    pub lost: BTreeSet<String>,
}

/// The empty-push guard: when one request takes more than
/// `safety.group_shrink_percent` of a mapped group's members away (Okta's
/// "Push now" of an empty group sends `replace members []`; a group DELETE;
/// a rename away from the mapping), every removal it causes in the group's
/// orgs is marked to be held for an operator, whatever the breaker counts.
/// `names`: the group's name before (and after) the write.
pub async fn guard_empty_push(
    tx: &mut StoreTx,
    mappings: &[Mapping],
    settings: &SafetySettings,
    names: &[Option<&str>],
    shrink: &Shrink,
    at: QueueAt,
    cause: Option<&str>,
) -> Result<(), StoreError> {
    let Some(old) = names.first().copied().flatten() else {
        return Ok(());
    };
    let new = names.get(1).copied().flatten();
    let orgs_of = |name: &str| -> BTreeSet<String> {
        mappings
            .iter()
            .filter(|m| m.group.matches(name))
            .map(|m| m.org_id.as_str().to_owned())
            .collect()
    };
    let mut orgs = orgs_of(old);
    // Renamed: members keep what the new name maps to.
    if let Some(new) = new
        && new != old
    {
        for o in orgs_of(new) {
            orgs.remove(&o);
        }
    }
    let (before, lost) = (shrink.before as u64, shrink.lost.len() as u64);
    if orgs.is_empty() || !safety::group_shrink(settings, before, lost) {
        return Ok(());
    }
    let reason = format!(
        "empty push guard: one request took {lost} of the {before} members of mapped group {old:?} away (safety.group_shrink_percent = {})",
        settings.group_shrink_percent
    );
    tracing::warn!(group = %old, lost, before, "a mapped group lost most of its members in one request: the removals it causes are held until an operator runs `snyk-scim-bridge approve` or `reject`");
    for user in &shrink.lost {
        for org in &orgs {
            tx.mark_hold(user, org, &reason, cause, at.now).await?;
        }
    }
    Ok(())
}
