//! The sync engine's tables: outbox targets (leases, outcomes; the claims
//! are in `claims`), applied access, Snyk calls, drift and the engine's
//! meta values.

use sqlx::Row;
use sqlx::any::AnyRow;

pub use super::rows::{AccessState, TargetStatus};
use super::{StoreError, StoreTx};
use crate::domain::SnykRole;

/// One outbox row: "bring (user, org) in line with the desired state".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRow {
    pub user_id: String,
    pub org_id: String,
    pub status: TargetStatus,
    pub generation: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub first_failure_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_ref: Option<String>,
    pub updated_at: i64,
    /// The last SCIM request that queued this target (audit trail link).
    pub request_id: Option<String>,
}

/// How a worker leaves a target it processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// In line with the desired state (idle, or pending again if it changed meanwhile).
    Done,
    /// Try again at `at` (first failure time is kept for the dead-letter rule).
    Retry {
        at: i64,
        error: String,
        error_ref: Option<String>,
    },
    /// Try again at `at` without counting a failure (rate limited, paused).
    Defer { at: i64 },
    /// A permanent failure, kept with Snyk's message until the next change.
    Failed {
        error: String,
        error_ref: Option<String>,
    },
    /// Retries exhausted.
    Dead {
        error: String,
        error_ref: Option<String>,
    },
    /// A removal or downgrade held by the safety rails until an operator
    /// decides (`safety_holds`): not claimed again meanwhile, unless a
    /// change arrives (then it is planned again).
    Held { reason: String },
}

impl Finish {
    /// A permanent failure with a message of the bridge's own.
    pub fn failed(error: impl Into<String>) -> Self {
        Self::Failed {
            error: error.into(),
            error_ref: None,
        }
    }
}

/// Applied access as stored (see `sync::planner::Applied`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRow {
    pub user_id: String,
    pub org_id: String,
    pub email: String,
    pub state: AccessState,
    pub role: SnykRole,
    pub snyk_user_id: Option<String>,
    pub updated_at: i64,
}

/// One Snyk call, sent or (dry run) only recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub at: i64,
    pub user_id: Option<String>,
    pub org_id: Option<String>,
    pub method: String,
    pub path: String,
    pub body: Option<String>,
    pub dry_run: bool,
    pub status: Option<i64>,
    pub outcome: String,
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub error_ref: Option<String>,
    /// The SCIM request whose change caused this call (see `audit_events`).
    pub scim_request_id: Option<String>,
}

pub(super) fn target_from_row(r: &AnyRow) -> Result<TargetRow, StoreError> {
    Ok(TargetRow {
        user_id: r.try_get("user_id")?,
        org_id: r.try_get("org_id")?,
        status: r.try_get::<String, _>("status")?.parse()?,
        generation: r.try_get("generation")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        first_failure_at: r.try_get("first_failure_at")?,
        last_error: r.try_get("last_error")?,
        last_error_ref: r.try_get("last_error_ref")?,
        updated_at: r.try_get("updated_at")?,
        request_id: r.try_get("request_id")?,
    })
}

pub(super) const TARGET_COLUMNS: &str = "user_id, org_id, status, generation, attempts, next_attempt_at, first_failure_at, last_error, last_error_ref, updated_at, request_id";

const CALL_COLUMNS: &str = "at, user_id, org_id, method, path, body, dry_run, status, outcome, message, request_id, error_ref, scim_request_id";

fn call_from_row(r: &AnyRow) -> Result<CallRecord, StoreError> {
    let dry: i64 = r.try_get("dry_run")?;
    Ok(CallRecord {
        at: r.try_get("at")?,
        user_id: r.try_get("user_id")?,
        org_id: r.try_get("org_id")?,
        method: r.try_get("method")?,
        path: r.try_get("path")?,
        body: r.try_get("body")?,
        dry_run: dry != 0,
        status: r.try_get("status")?,
        outcome: r.try_get("outcome")?,
        message: r.try_get("message")?,
        request_id: r.try_get("request_id")?,
        error_ref: r.try_get("error_ref")?,
        scim_request_id: r.try_get("scim_request_id")?,
    })
}

pub(super) fn access_from_row(r: &AnyRow) -> Result<AccessRow, StoreError> {
    Ok(AccessRow {
        user_id: r.try_get("user_id")?,
        org_id: r.try_get("org_id")?,
        email: r.try_get("email")?,
        state: r.try_get::<String, _>("state")?.parse()?,
        role: SnykRole::from_key(&r.try_get::<String, _>("role")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        snyk_user_id: r.try_get("snyk_user_id")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The worker's heartbeat (see [`StoreTx::renew_leases`]); answered from
/// the partial index `sync_targets_lease`, never a walk over every target.
pub(super) const RENEW_LEASES_SQL: &str =
    "UPDATE sync_targets SET lease_until = $1 WHERE lease_owner = $2";

impl StoreTx {
    /// Record how a claimed target ended, if `owner` still holds its lease.
    /// `false`: the lease was lost (it lapsed and another sender claimed the
    /// target); that sender's outcome stands.
    pub async fn finish_target(
        &mut self,
        t: &TargetRow,
        finish: &Finish,
        now: i64,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let q = match finish {
            Finish::Done => sqlx::query(
                "UPDATE sync_targets SET
                    status = CASE WHEN generation = $1 THEN 'idle' ELSE 'pending' END,
                    attempts = 0, first_failure_at = NULL, last_error = NULL, last_error_ref = NULL,
                    lease_owner = NULL, lease_until = NULL, next_attempt_at = $2, updated_at = $2
                  WHERE user_id = $3 AND org_id = $4 AND lease_owner = $5",
            )
            .bind(t.generation)
            .bind(now)
            .bind(&t.user_id)
            .bind(&t.org_id)
            .bind(owner),
            Finish::Retry { at, error, error_ref } => sqlx::query(
                "UPDATE sync_targets SET status = 'pending', next_attempt_at = $1,
                    first_failure_at = COALESCE(first_failure_at, $2), last_error = $3, last_error_ref = $4,
                    lease_owner = NULL, lease_until = NULL, updated_at = $2
                  WHERE user_id = $5 AND org_id = $6 AND lease_owner = $7",
            )
            .bind(*at)
            .bind(now)
            .bind(error.clone())
            .bind(error_ref.clone())
            .bind(&t.user_id)
            .bind(&t.org_id)
            .bind(owner),
            Finish::Defer { at } => sqlx::query(
                "UPDATE sync_targets SET status = 'pending', next_attempt_at = $1,
                    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
                    lease_owner = NULL, lease_until = NULL, updated_at = $2
                  WHERE user_id = $3 AND org_id = $4 AND lease_owner = $5",
            )
            .bind(*at)
            .bind(now)
            .bind(&t.user_id)
            .bind(&t.org_id)
            .bind(owner),
            Finish::Held { reason } => sqlx::query(
                "UPDATE sync_targets SET
                    status = CASE WHEN generation = $1 THEN 'held' ELSE 'pending' END,
                    attempts = 0, first_failure_at = NULL, last_error = $2, last_error_ref = NULL,
                    lease_owner = NULL, lease_until = NULL, next_attempt_at = $3, updated_at = $3
                  WHERE user_id = $4 AND org_id = $5 AND lease_owner = $6",
            )
            .bind(t.generation)
            .bind(reason.clone())
            .bind(now)
            .bind(&t.user_id)
            .bind(&t.org_id)
            .bind(owner),
            Finish::Failed { error, error_ref } | Finish::Dead { error, error_ref } => {
                let end_state = if matches!(finish, Finish::Dead { .. }) { "dead" } else { "failed" };
                sqlx::query(
                    "UPDATE sync_targets SET
                        status = CASE WHEN generation = $1 THEN $2 ELSE 'pending' END,
                        last_error = $3, last_error_ref = $4, lease_owner = NULL, lease_until = NULL,
                        next_attempt_at = $5, updated_at = $5
                      WHERE user_id = $6 AND org_id = $7 AND lease_owner = $8",
                )
                .bind(t.generation)
                .bind(end_state)
                .bind(error.clone())
                .bind(error_ref.clone())
                .bind(now)
                .bind(&t.user_id)
                .bind(&t.org_id)
                .bind(owner)
            }
        };
        Ok(q.execute(&mut *self.tx).await?.rows_affected() > 0)
    }

    /// Extend every lease `owner` holds to `until` (the worker's heartbeat:
    /// a live sender's lease never lapses, however long a call waits).
    pub async fn renew_leases(&mut self, owner: &str, until: i64) -> Result<u64, StoreError> {
        let r = sqlx::query(RENEW_LEASES_SQL)
            .bind(until)
            .bind(owner)
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected())
    }

    /// Give back every lease `owner` holds, due at once and without counting
    /// the attempt (a stopping worker: the next sender takes them at once).
    pub async fn release_leases(&mut self, owner: &str, now: i64) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE sync_targets SET lease_owner = NULL, lease_until = NULL,
                attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
                next_attempt_at = CASE WHEN next_attempt_at > $2 THEN $2 ELSE next_attempt_at END
              WHERE lease_owner = $1",
        )
        .bind(owner)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected())
    }

    /// Give back one lease `owner` holds, due at `at`, without counting the
    /// attempt (its task could not finish: e.g. the database was busy).
    pub async fn release_lease(
        &mut self,
        user_id: &str,
        org_id: &str,
        owner: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sync_targets SET lease_owner = NULL, lease_until = NULL, status = 'pending',
                attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, next_attempt_at = $1
              WHERE user_id = $2 AND org_id = $3 AND lease_owner = $4",
        )
        .bind(at)
        .bind(user_id)
        .bind(org_id)
        .bind(owner)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// A target whose task failed inside the bridge (a bug): `failed` with the
    /// message, lease given back, so it neither loops nor stays held.
    pub async fn fail_held_target(
        &mut self,
        user_id: &str,
        org_id: &str,
        owner: &str,
        error: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sync_targets SET status = 'failed', last_error = $1, last_error_ref = NULL,
                lease_owner = NULL, lease_until = NULL, updated_at = $2
              WHERE user_id = $3 AND org_id = $4 AND lease_owner = $5",
        )
        .bind(error)
        .bind(now)
        .bind(user_id)
        .bind(org_id)
        .bind(owner)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Leases held now (by anyone), for `status`.
    pub async fn leased_count(&mut self) -> Result<i64, StoreError> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM sync_targets WHERE lease_owner IS NOT NULL")
                .fetch_one(&mut *self.tx)
                .await?;
        Ok(row.try_get("n")?)
    }

    /// Forget every lease: called by a worker that has just become the only
    /// sender, since any lease left is a dead sender's.
    pub async fn reset_leases(&mut self) -> Result<u64, StoreError> {
        let r = sqlx::query("UPDATE sync_targets SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL")
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected())
    }

    pub async fn get_target(
        &mut self,
        user_id: &str,
        org_id: &str,
    ) -> Result<Option<TargetRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TARGET_COLUMNS} FROM sync_targets WHERE user_id = $1 AND org_id = $2"
        ))
        .bind(user_id)
        .bind(org_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(target_from_row).transpose()
    }

    /// Targets by status, for `status` and metrics.
    pub async fn target_counts(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM sync_targets GROUP BY status ORDER BY status",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    /// The most recent failed, dead or retrying targets with their messages.
    pub async fn recent_failures(&mut self, limit: i64) -> Result<Vec<TargetRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TARGET_COLUMNS} FROM sync_targets WHERE last_error IS NOT NULL
              ORDER BY updated_at DESC, user_id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(target_from_row).collect()
    }

    /// Time of the oldest due pending target (ms), if any.
    pub async fn oldest_pending(&mut self) -> Result<Option<i64>, StoreError> {
        let row =
            sqlx::query("SELECT MIN(updated_at) AS t FROM sync_targets WHERE status = 'pending'")
                .fetch_one(&mut *self.tx)
                .await?;
        Ok(row.try_get("t")?)
    }

    pub async fn get_access(
        &mut self,
        user_id: &str,
        org_id: &str,
    ) -> Result<Option<AccessRow>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, org_id, email, state, role, snyk_user_id, updated_at
               FROM snyk_access WHERE user_id = $1 AND org_id = $2",
        )
        .bind(user_id)
        .bind(org_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(access_from_row).transpose()
    }

    pub async fn put_access(&mut self, a: &AccessRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO snyk_access (user_id, org_id, email, state, role, snyk_user_id, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (user_id, org_id) DO UPDATE SET email = excluded.email, state = excluded.state,
                role = excluded.role, snyk_user_id = excluded.snyk_user_id, updated_at = excluded.updated_at",
        )
        .bind(&a.user_id)
        .bind(&a.org_id)
        .bind(&a.email)
        .bind(a.state.as_str())
        .bind(a.role.to_string())
        .bind(a.snyk_user_id.as_deref())
        .bind(a.updated_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Replace `old` by `new` (`None`: delete it) only if the stored row is
    /// still exactly `old`: reconciliation runs beside the worker, and must
    /// never overwrite a state the worker wrote after it read. `false`: the
    /// row changed meanwhile; nothing was written.
    pub async fn replace_access_if_unchanged(
        &mut self,
        old: &AccessRow,
        new: Option<&AccessRow>,
    ) -> Result<bool, StoreError> {
        let current = self.get_access(&old.user_id, &old.org_id).await?;
        if current.as_ref() != Some(old) {
            return Ok(false);
        }
        match new {
            Some(a) => self.put_access(a).await?,
            None => self.delete_access(&old.user_id, &old.org_id).await?,
        }
        Ok(true)
    }

    pub async fn delete_access(&mut self, user_id: &str, org_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM snyk_access WHERE user_id = $1 AND org_id = $2")
            .bind(user_id)
            .bind(org_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Orgs in which the bridge holds applied access for a user.
    pub async fn access_orgs(&mut self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT org_id FROM snyk_access WHERE user_id = $1 ORDER BY org_id")
            .bind(user_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|r| r.try_get("org_id").map_err(StoreError::from))
            .collect()
    }

    /// All applied access in one org.
    pub async fn access_in_org(&mut self, org_id: &str) -> Result<Vec<AccessRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, org_id, email, state, role, snyk_user_id, updated_at
               FROM snyk_access WHERE org_id = $1 ORDER BY user_id",
        )
        .bind(org_id)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(access_from_row).collect()
    }

    /// All applied access in one state (e.g. `unlocated`, for `status`).
    pub async fn access_in_state(
        &mut self,
        state: AccessState,
    ) -> Result<Vec<AccessRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, org_id, email, state, role, snyk_user_id, updated_at
               FROM snyk_access WHERE state = $1 ORDER BY org_id, email",
        )
        .bind(state.as_str())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(access_from_row).collect()
    }

    /// When the next pending target that nobody holds falls due (ms).
    pub async fn next_due(&mut self, now: i64) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(next_attempt_at) AS t FROM sync_targets
              WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < $1)",
        )
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get("t")?)
    }

    /// Applied access counted by (org, state).
    pub async fn access_counts(&mut self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT org_id, state, COUNT(*) AS n FROM snyk_access GROUP BY org_id, state ORDER BY org_id, state",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("org_id")?, r.try_get("state")?, r.try_get("n")?)))
            .collect()
    }

    /// Every user id that has applied access (for full reconciliation of deleted users).
    pub async fn access_user_ids(&mut self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT user_id FROM snyk_access ORDER BY user_id")
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|r| r.try_get("user_id").map_err(StoreError::from))
            .collect()
    }

    pub async fn record_call(&mut self, c: &CallRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO snyk_calls (at, user_id, org_id, method, path, body, dry_run, status, outcome, message, request_id, error_ref, scim_request_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(c.at)
        .bind(c.user_id.as_deref())
        .bind(c.org_id.as_deref())
        .bind(&c.method)
        .bind(&c.path)
        .bind(c.body.as_deref())
        .bind(i64::from(c.dry_run))
        .bind(c.status)
        .bind(&c.outcome)
        .bind(c.message.as_deref())
        .bind(c.request_id.as_deref())
        .bind(c.error_ref.as_deref())
        .bind(c.scim_request_id.as_deref())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Recorded calls, oldest first (optionally for one user).
    pub async fn calls(
        &mut self,
        user_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM snyk_calls WHERE ($1 IS NULL OR user_id = $1) ORDER BY seq LIMIT $2"
        ))
        .bind(user_id)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// The most recent calls, newest first (only those sent when `sent_only`).
    pub async fn recent_calls(
        &mut self,
        sent_only: bool,
        limit: i64,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM snyk_calls WHERE ($1 = 0 OR dry_run = 0) ORDER BY seq DESC LIMIT $2"
        ))
        .bind(i64::from(sent_only))
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// Current outbox rows of one user (every org).
    pub async fn targets_of_user(&mut self, user_id: &str) -> Result<Vec<TargetRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TARGET_COLUMNS} FROM sync_targets WHERE user_id = $1 ORDER BY org_id"
        ))
        .bind(user_id)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(target_from_row).collect()
    }

    /// Applied access of one user (every org).
    pub async fn access_of_user(&mut self, user_id: &str) -> Result<Vec<AccessRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, org_id, email, state, role, snyk_user_id, updated_at
               FROM snyk_access WHERE user_id = $1 ORDER BY org_id",
        )
        .bind(user_id)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(access_from_row).collect()
    }

    pub async fn record_drift(
        &mut self,
        user_id: &str,
        org_id: &str,
        expected: &str,
        actual: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sync_drift (user_id, org_id, expected_role, actual_role, seen_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id, org_id) DO UPDATE SET expected_role = excluded.expected_role,
                actual_role = excluded.actual_role, seen_at = excluded.seen_at",
        )
        .bind(user_id)
        .bind(org_id)
        .bind(expected)
        .bind(actual)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn clear_drift(&mut self, user_id: &str, org_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sync_drift WHERE user_id = $1 AND org_id = $2")
            .bind(user_id)
            .bind(org_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Drift seen: (user, org, expected role, actual role).
    pub async fn drift(&mut self) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, org_id, expected_role, actual_role FROM sync_drift ORDER BY org_id, user_id",
        )
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("user_id")?,
                    r.try_get("org_id")?,
                    r.try_get("expected_role")?,
                    r.try_get("actual_role")?,
                ))
            })
            .collect()
    }

    pub async fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM sync_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| r.try_get("value").map_err(StoreError::from))
            .transpose()
    }

    pub async fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sync_meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Ids of every SCIM user.
    pub async fn user_ids(&mut self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT id FROM scim_resources WHERE kind = 'User' ORDER BY seq")
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|r| r.try_get("id").map_err(StoreError::from))
            .collect()
    }
}
