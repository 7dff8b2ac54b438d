//! The sync engine: keeps Snyk in step with what the SCIM store says.
//!
//! - [`mapping`], [`planner`], [`retry`]: pure (no I/O), table-tested.
//! - [`enqueue_user`] / [`enqueue_group_members`]: called by the SCIM use
//!   cases *inside their transaction*, so a stored change always has its
//!   outbox rows (`sync_targets`), and a SCIM response never waits on Snyk.
//! - [`Engine`]: claims due targets with a lease, plans the calls for each
//!   (desired vs applied access), sends them through the [`pacer::Pacer`],
//!   and records the outcome and the applied state. Also reconciliation
//!   against live Snyk state, `plan` and `sync`.
//!
//! Invariant: access is only ever removed where `snyk_access` says the bridge
//! granted it; memberships that existed before are recorded as `external`
//! and never touched.

pub mod engine;
pub mod mapping;
pub mod pacer;
pub mod planner;
pub mod retry;

use std::collections::BTreeSet;

use crate::config::Mapping;
use crate::store::{QueuedRecord, StoreError, StoreTx};

pub use engine::{Engine, EngineSettings};

/// Queue every (user, org) that a change to this user may affect: every
/// mapped org, and every org where the bridge holds access for the user.
/// `cause`: the SCIM request id, kept on the target and in the audit trail.
pub async fn enqueue_user(
    tx: &mut StoreTx,
    mappings: &[Mapping],
    user_id: &str,
    now_ms: i64,
    cause: Option<&str>,
) -> Result<(), StoreError> {
    let mut orgs: BTreeSet<String> = mapping::mapped_orgs(mappings)
        .into_iter()
        .map(|o| o.as_str().to_owned())
        .collect();
    orgs.extend(tx.access_orgs(user_id).await?);
    for org in orgs {
        tx.enqueue_target_caused(user_id, &org, now_ms, cause)
            .await?;
        if let Some(request_id) = cause {
            tx.record_queued(&QueuedRecord {
                at: now_ms,
                request_id: request_id.to_owned(),
                user_id: user_id.to_owned(),
                org_id: org.clone(),
            })
            .await?;
        }
    }
    Ok(())
}

/// Queue the users of a group whose change may affect access: only when the
/// group's name (before or after the change) is mapped.
pub async fn enqueue_group_members(
    tx: &mut StoreTx,
    mappings: &[Mapping],
    names: &[Option<&str>],
    user_ids: &BTreeSet<String>,
    now_ms: i64,
    cause: Option<&str>,
) -> Result<(), StoreError> {
    let mapped = names
        .iter()
        .flatten()
        .any(|n| mapping::is_mapped_group(mappings, n));
    if !mapped {
        return Ok(());
    }
    for u in user_ids {
        enqueue_user(tx, mappings, u, now_ms, cause).await?;
    }
    Ok(())
}
