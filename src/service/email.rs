//! One active user per email. Snyk knows a person by email only, so two
//! active users with one email would share one Snyk account, and one
//! leaving would take the other's access.
//!
//! The check runs inside the write that gives a user the email, under a
//! per-email lock (see `StoreTx::lock_email`). It must never let a write
//! store an email that another active user holds, and never name the
//! address in its error (the detail may be logged).

use serde_json::{Map, Value};

use super::ServiceError;
use crate::domain::Email;
use crate::scim::error::ScimError;
use crate::scim::schema::ResourceKind;
use crate::store::{IndexedFields, StoreTx, StoredResource};
use crate::sync;

/// Snyk knows a person by email only, so one email is one person: an active
/// user's email (the one the sync uses, see `sync::mapping::email_of`) must
/// not be the email of another active user. Two would share one Snyk account,
/// and one leaving would take the other's access. Inactive users do not hold
/// their email (a rehire may reuse it). Checked under a per-email lock, so
/// concurrent writers on PostgreSQL cannot both pass.
pub(super) async fn ensure_email_free(
    tx: &mut StoreTx,
    id: &str,
    doc: &Map<String, Value>,
) -> Result<(), ServiceError> {
    let Some(email) = sync_email(doc) else {
        return Ok(());
    };
    tx.lock_email(email.as_str()).await?;
    let holders = tx.users_with_email(email.as_str()).await?;
    refuse_other_holder(id, &email, &holders)
}

/// The email a user's document would hold (see [`ensure_email_free`]):
/// its sync email, if the user is active.
fn sync_email(doc: &Map<String, Value>) -> Option<Email> {
    let facts = sync::mapping::facts(doc, Vec::new());
    facts.email.filter(|_| facts.active)
}

/// Refuse `email` for user `id` if another active user among `holders`
/// has it as their sync email.
fn refuse_other_holder(
    id: &str,
    email: &Email,
    holders: &[StoredResource],
) -> Result<(), ServiceError> {
    for other in holders {
        if other.id == id {
            continue;
        }
        let theirs = sync::mapping::facts(&other.doc, Vec::new());
        if theirs.active && theirs.email.as_ref() == Some(email) {
            // The detail names the attribute, not the address (it may be
            // logged, e.g. for a webhook delivery).
            return Err(ScimError::uniqueness(
                "emails: this email is already the email of another active user; \
                 Snyk knows a person by email, so only one active user may have it",
            )
            .into());
        }
    }
    Ok(())
}

/// Insert a new user, checking its email as [`ensure_email_free`] does
/// (see `StoreTx::insert_checked`: on SQLite, one round trip).
pub(super) async fn insert_user(
    tx: &mut StoreTx,
    id: &str,
    fields: &IndexedFields,
    doc: &Map<String, Value>,
    now: &str,
) -> Result<StoredResource, ServiceError> {
    let Some(email) = sync_email(doc) else {
        return Ok(tx
            .insert_resource(ResourceKind::User, id, fields, doc, now)
            .await?);
    };
    tx.lock_email(email.as_str()).await?;
    tx.insert_checked(id, fields, doc, now, email.as_str(), |holders| {
        refuse_other_holder(id, &email, holders)
    })
    .await
}
