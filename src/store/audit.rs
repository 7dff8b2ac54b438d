//! The audit trail's tables: SCIM changes (`audit_events`), the outbox work
//! each change queued (`audit_queued`), and the retention purge (which also
//! covers `snyk_calls`).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{StoreError, StoreTx};

/// One SCIM change, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: i64,
    /// The HTTP request id (`X-Request-Id`) of the change.
    pub request_id: Option<String>,
    /// Who: `token#N`, `jwt:<sub>` or `system`; never a secret.
    pub principal: String,
    pub resource_type: String,
    pub resource_id: String,
    /// `create`, `replace`, `patch` or `delete`.
    pub operation: String,
    /// Changed attribute names and member counts, never their values.
    pub summary: String,
    /// For Users: the lower-cased sync email at the time (for `status --user`).
    pub user_email: Option<String>,
}

/// One outbox target queued by a SCIM change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecord {
    pub at: i64,
    pub request_id: String,
    pub user_id: String,
    pub org_id: String,
}

/// How many rows a retention purge removed, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    pub audit_events: u64,
    pub audit_queued: u64,
    pub snyk_calls: u64,
}

/// Audit events per `INSERT` when they are flushed (8 parameters each:
/// well under SQLite's 32,766 and PostgreSQL's 65,535).
const FLUSH_CHUNK: usize = 256;

const EVENT_COLUMNS: &str =
    "at, request_id, principal, resource_type, resource_id, operation, summary, user_email";

fn event_from_row(r: &AnyRow) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        at: r.try_get("at")?,
        request_id: r.try_get("request_id")?,
        principal: r.try_get("principal")?,
        resource_type: r.try_get("resource_type")?,
        resource_id: r.try_get("resource_id")?,
        operation: r.try_get("operation")?,
        summary: r.try_get("summary")?,
        user_email: r.try_get("user_email")?,
    })
}

impl StoreTx {
    /// Record an audit event of this transaction; it is written when the
    /// transaction commits, and never if it does not.
    pub async fn record_audit(&mut self, e: &AuditEvent) -> Result<(), StoreError> {
        // Kept until the transaction commits (`flush_audit`): no write
        // reads the trail back, and a group of writes then costs one
        // statement instead of one each.
        self.audit.push(e.clone());
        Ok(())
    }

    /// How many audit events are pending: a savepoint's mark.
    pub(super) fn audit_mark(&self) -> usize {
        self.audit.len()
    }

    /// Forget the events recorded since `mark` (their write was rolled back
    /// to its savepoint).
    pub(super) fn audit_rollback(&mut self, mark: usize) {
        self.audit.truncate(mark);
    }

    /// Write the pending audit events, in the order they were recorded, a
    /// multi-row `INSERT` per [`FLUSH_CHUNK`] events.
    pub(super) async fn flush_audit(&mut self) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut self.audit);
        for chunk in pending.chunks(FLUSH_CHUNK) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p: Vec<String> = (1..=8).map(|c| format!("${}", i * 8 + c)).collect();
                    format!("({})", p.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES {}",
                rows.join(", ")
            );
            // One text per group size: kept prepared only for the common lone
            // event, so the sizes do not crowd the connection's statement
            // cache.
            let mut q = sqlx::query(&sql).persistent(chunk.len() == 1);
            for e in chunk {
                q = q
                    .bind(e.at)
                    .bind(e.request_id.as_deref())
                    .bind(&e.principal)
                    .bind(&e.resource_type)
                    .bind(&e.resource_id)
                    .bind(&e.operation)
                    .bind(&e.summary)
                    .bind(e.user_email.as_deref());
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Audit events about one resource, or caused by a request that queued
    /// work for that user (group changes), oldest first.
    pub async fn audit_for_user(&mut self, user_id: &str) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events
              WHERE resource_id = $1
                 OR request_id IN (SELECT request_id FROM audit_queued WHERE user_id = $1)
              ORDER BY at, seq"
        ))
        .bind(user_id)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The most recent audit events, newest first.
    pub async fn recent_audit(&mut self, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY seq DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Ids of the Users an email belongs or belonged to: in audit events
    /// (also deleted users), in applied access, and in stored Users.
    pub async fn user_ids_by_email(&mut self, email_lc: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT resource_id AS id FROM audit_events WHERE user_email = $1 AND resource_type = 'User'
             UNION SELECT user_id AS id FROM snyk_access WHERE LOWER(email) = $1
             UNION SELECT user_id AS id FROM scim_user_emails WHERE value_lc = $1
             UNION SELECT id FROM scim_resources WHERE kind = 'User' AND name_lc = $1",
        )
        .bind(email_lc)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut ids: Vec<String> = rows
            .iter()
            .map(|r| r.try_get("id").map_err(StoreError::from))
            .collect::<Result<_, _>>()?;
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    pub async fn record_queued(&mut self, q: &QueuedRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_queued (at, request_id, user_id, org_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(q.at)
        .bind(&q.request_id)
        .bind(&q.user_id)
        .bind(&q.org_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn queued_for_user(
        &mut self,
        user_id: &str,
    ) -> Result<Vec<QueuedRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, request_id, user_id, org_id FROM audit_queued WHERE user_id = $1 ORDER BY at, seq",
        )
        .bind(user_id)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(QueuedRecord {
                    at: r.try_get("at")?,
                    request_id: r.try_get("request_id")?,
                    user_id: r.try_get("user_id")?,
                    org_id: r.try_get("org_id")?,
                })
            })
            .collect()
    }

    /// Remove audit rows and recorded Snyk calls older than `cutoff` (ms).
    pub async fn purge_audit(&mut self, cutoff: i64) -> Result<Purged, StoreError> {
        let mut purged = Purged::default();
        for (table, slot) in [
            ("audit_events", &mut purged.audit_events),
            ("audit_queued", &mut purged.audit_queued),
            ("snyk_calls", &mut purged.snyk_calls),
        ] {
            let r = sqlx::query(&format!("DELETE FROM {table} WHERE at < $1"))
                .bind(cutoff)
                .execute(&mut *self.tx)
                .await?;
            *slot = r.rows_affected();
        }
        Ok(purged)
    }
}
