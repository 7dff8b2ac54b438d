//! The outbox's way in: queueing a (user, org) target, with its cause and
//! its audit link, from a SCIM write, a reconciliation or a full sync.
//! Several changes before the worker gets to a target collapse into its one
//! row. It must never push a pending target's time further out, and never
//! drop a cause already recorded.

use super::{StoreError, StoreTx};

/// Queue (user `$1`, org `$2`) at `$3`, due at `$5`, caused by request `$4`
/// (see [`StoreTx::enqueue_target_caused`]).
const ENQUEUE_SQL: &str = "INSERT INTO sync_targets (user_id, org_id, status, generation, attempts, next_attempt_at, updated_at, request_id)
             VALUES ($1, $2, 'pending', 1, 0, $5, $3, $4)
             ON CONFLICT (user_id, org_id) DO UPDATE SET
                status = 'pending',
                generation = sync_targets.generation + 1,
                attempts = CASE WHEN sync_targets.status IN ('failed', 'dead') THEN 0 ELSE sync_targets.attempts END,
                first_failure_at = CASE WHEN sync_targets.status IN ('failed', 'dead') THEN NULL ELSE sync_targets.first_failure_at END,
                next_attempt_at = CASE WHEN sync_targets.status = 'pending'
                                       THEN sync_targets.next_attempt_at ELSE $5 END,
                updated_at = $3,
                request_id = COALESCE($4, sync_targets.request_id)";

impl StoreTx {
    /// Mark (user, org) as needing work now. Several changes before the worker
    /// gets there collapse into this one row; a change while the worker holds
    /// it bumps `generation`, so the worker leaves it pending when done.
    pub async fn enqueue_target(
        &mut self,
        user_id: &str,
        org_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.enqueue_target_caused(user_id, org_id, now, now, None)
            .await
    }

    /// [`Self::enqueue_target`], due at `due` (the SCIM side passes `now` plus
    /// a short settle time, so a burst of requests about one user is planned
    /// once), remembering the SCIM request that caused it (kept when `cause`
    /// is `None`, e.g. a reconciliation re-queues it). A target that is
    /// already pending keeps its time: due already, it keeps its place; due
    /// later (a backoff, or the settle time of an earlier change), it is not
    /// pushed further out.
    pub async fn enqueue_target_caused(
        &mut self,
        user_id: &str,
        org_id: &str,
        now: i64,
        due: i64,
        cause: Option<&str>,
    ) -> Result<(), StoreError> {
        self.run_enqueue(ENQUEUE_SQL, user_id, org_id, now, due, cause)
            .await
    }

    /// Run `sql`, [`ENQUEUE_SQL`] or a statement built around it, with its
    /// parameters.
    async fn run_enqueue(
        &mut self,
        sql: &str,
        user_id: &str,
        org_id: &str,
        now: i64,
        due: i64,
        cause: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(sql)
            .bind(user_id)
            .bind(org_id)
            .bind(now)
            .bind(cause)
            .bind(due)
            .execute(&mut *self.tx)
            .await?;
        self.queued_due = Some(self.queued_due.map_or(due, |d| d.min(due)));
        Ok(())
    }

    /// [`Self::enqueue_target_caused`] and, with a `cause`, the audit link
    /// from that request to the target ([`Self::record_queued`]): one
    /// statement on PostgreSQL (a data-modifying `WITH`: one round trip
    /// less inside a SCIM write, which may hold a busy group's row lock),
    /// two on SQLite (which has none).
    pub async fn enqueue_recorded(
        &mut self,
        user_id: &str,
        org_id: &str,
        now: i64,
        due: i64,
        cause: Option<&str>,
    ) -> Result<(), StoreError> {
        let Some(request_id) = cause else {
            return self
                .enqueue_target_caused(user_id, org_id, now, due, None)
                .await;
        };
        if self.backend == super::Backend::Sqlite {
            self.enqueue_target_caused(user_id, org_id, now, due, cause)
                .await?;
            return self
                .record_queued(&super::QueuedRecord {
                    at: now,
                    request_id: request_id.to_owned(),
                    user_id: user_id.to_owned(),
                    org_id: org_id.to_owned(),
                })
                .await;
        }
        self.run_enqueue(&recorded_sql(""), user_id, org_id, now, due, cause)
            .await
    }

    /// [`Self::clear_rejected`] and [`Self::enqueue_recorded`]: a group
    /// write's joined or left member. With a `cause`, one statement on
    /// PostgreSQL (data-modifying `WITH`s: the whole write holds the group's
    /// row lock, so a round trip less there is a PATCH more per second);
    /// otherwise, and on SQLite, one statement each.
    pub async fn clear_rejected_and_enqueue(
        &mut self,
        user_id: &str,
        org_id: &str,
        now: i64,
        due: i64,
        cause: Option<&str>,
    ) -> Result<(), StoreError> {
        if self.backend == super::Backend::Sqlite || cause.is_none() {
            self.clear_rejected(user_id).await?;
            return self
                .enqueue_recorded(user_id, org_id, now, due, cause)
                .await;
        }
        let cleared = format!("cleared AS ({}),", super::safety::CLEAR_REJECTED_SQL);
        self.run_enqueue(&recorded_sql(&cleared), user_id, org_id, now, due, cause)
            .await
    }
}

/// PostgreSQL: [`ENQUEUE_SQL`] and the audit link to its cause in one
/// statement (data-modifying `WITH`s), after the `WITH` items `before`
/// (each ending in a comma; they run whether or not anything reads them).
fn recorded_sql(before: &str) -> String {
    format!(
        "WITH {before} queued AS ({ENQUEUE_SQL} RETURNING 1 AS one)
         INSERT INTO audit_queued (at, request_id, user_id, org_id)
         SELECT $3, $4, $1, $2 FROM queued"
    )
}
