//! The safety rails' tables: holds (`safety_holds`: removals and downgrades
//! waiting, held for an operator, approved, rejected or refused) and the
//! log the deletion circuit breaker counts (`safety_removals`).
//!
//! Only SQL lives here; what the states mean is `sync::safety`'s. Never
//! deletes a held row except when asked to by name (an operator's decision,
//! or the worker seeing that the plan no longer takes access away).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::rows::HoldState;
use super::{StoreError, StoreTx};

/// One row of `safety_holds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    pub user_id: String,
    pub org_id: String,
    pub state: HoldState,
    pub reason: String,
    /// The email Snyk knows the access by (lower-cased).
    pub email: Option<String>,
    /// What would be sent, in words ("remove from the org", "lower the role ...").
    pub change: Option<String>,
    /// The SCIM request whose change planned it.
    pub request_id: Option<String>,
    pub since: i64,
    pub updated_at: i64,
}

/// Which held rows an operator decides on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldFilter {
    /// Only this email (lower-cased).
    pub email: Option<String>,
    /// Only this org id.
    pub org_id: Option<String>,
}

/// Removals counted by the breaker in one scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovalCounts {
    /// Planned in the window (sent or not).
    pub planned: i64,
    /// Of those, sent (their access is gone from `snyk_access`).
    pub sent: i64,
    /// Access the bridge holds now (pending provisions and members it granted).
    pub granted: i64,
}

/// A user's rejected holds (every user write clears them): answered from
/// the index on (state, user_id).
pub(super) const CLEAR_REJECTED_SQL: &str =
    "DELETE FROM safety_holds WHERE user_id = $1 AND state = 'rejected'";

/// Is another row held? One row answers it (never a count of them all).
pub(super) const HELD_OTHER_SQL: &str = "SELECT 1 AS one FROM safety_holds
  WHERE state = 'held' AND NOT (user_id = $1 AND org_id = $2) LIMIT 1";

pub(super) const HOLD_COLUMNS: &str =
    "user_id, org_id, state, reason, email, change, request_id, since, updated_at";

pub(super) fn hold_from_row(r: &AnyRow) -> Result<HoldRow, StoreError> {
    Ok(HoldRow {
        user_id: r.try_get("user_id")?,
        org_id: r.try_get("org_id")?,
        state: r.try_get::<String, _>("state")?.parse()?,
        reason: r.try_get("reason")?,
        email: r.try_get("email")?,
        change: r.try_get("change")?,
        request_id: r.try_get("request_id")?,
        since: r.try_get("since")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl StoreTx {
    /// What is stored for (user, org), if anything.
    pub async fn hold(
        &mut self,
        user_id: &str,
        org_id: &str,
    ) -> Result<Option<HoldRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {HOLD_COLUMNS} FROM safety_holds WHERE user_id = $1 AND org_id = $2"
        ))
        .bind(user_id)
        .bind(org_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(hold_from_row).transpose()
    }

    /// Write a hold row (insert or replace).
    pub async fn put_hold(&mut self, h: &HoldRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO safety_holds (user_id, org_id, state, reason, email, change, request_id, since, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (user_id, org_id) DO UPDATE SET
                state = $3, reason = $4, email = $5, change = $6, request_id = $7, since = $8, updated_at = $9",
        )
        .bind(&h.user_id)
        .bind(&h.org_id)
        .bind(h.state.as_str())
        .bind(&h.reason)
        .bind(h.email.clone())
        .bind(h.change.clone())
        .bind(h.request_id.clone())
        .bind(h.since)
        .bind(h.updated_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Write a hold row only if the stored one is still what was read:
    /// `expected` None (there was none: insert) or its (state, updated_at).
    /// `false`: someone else changed it meanwhile (an operator, a SCIM
    /// request); nothing was written.
    pub async fn swap_hold(
        &mut self,
        h: &HoldRow,
        expected: Option<(HoldState, i64)>,
    ) -> Result<bool, StoreError> {
        let q = match expected {
            None => sqlx::query(
                "INSERT INTO safety_holds (user_id, org_id, state, reason, email, change, request_id, since, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (user_id, org_id) DO NOTHING",
            ),
            Some(_) => sqlx::query(
                "UPDATE safety_holds SET state = $3, reason = $4, email = $5, change = $6,
                        request_id = $7, since = $8, updated_at = $9
                  WHERE user_id = $1 AND org_id = $2 AND state = $10 AND updated_at = $11",
            ),
        };
        let q = q
            .bind(&h.user_id)
            .bind(&h.org_id)
            .bind(h.state.as_str())
            .bind(&h.reason)
            .bind(h.email.clone())
            .bind(h.change.clone())
            .bind(h.request_id.clone())
            .bind(h.since)
            .bind(h.updated_at);
        let q = match expected {
            None => q,
            Some((state, updated_at)) => q.bind(state.as_str()).bind(updated_at),
        };
        Ok(q.execute(&mut *self.tx).await?.rows_affected() == 1)
    }

    /// Delete the row of (user, org) if it is still what was read.
    pub async fn delete_hold_if_unchanged(
        &mut self,
        user_id: &str,
        org_id: &str,
        state: HoldState,
        updated_at: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "DELETE FROM safety_holds WHERE user_id = $1 AND org_id = $2 AND state = $3 AND updated_at = $4",
        )
        .bind(user_id)
        .bind(org_id)
        .bind(state.as_str())
        .bind(updated_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Hold rows by state, for the metrics.
    pub async fn hold_counts(&mut self) -> Result<Vec<(HoldState, i64)>, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM safety_holds GROUP BY state")
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>("state")?.parse()?, r.try_get("n")?)))
            .collect()
    }

    /// Mark (user, org): an empty push was seen, so the removal it causes
    /// is held when planned. A row already held or approved by an operator
    /// keeps its state.
    pub async fn mark_hold(
        &mut self,
        user_id: &str,
        org_id: &str,
        reason: &str,
        request_id: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO safety_holds (user_id, org_id, state, reason, request_id, since, updated_at)
             VALUES ($1, $2, 'marked', $3, $4, $5, $5)
             ON CONFLICT (user_id, org_id) DO UPDATE SET
                state = 'marked', reason = $3, request_id = $4, since = $5, updated_at = $5
              WHERE safety_holds.state NOT IN ('held', 'approved')",
        )
        .bind(user_id)
        .bind(org_id)
        .bind(reason)
        .bind(request_id)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The IdP changed this user again: a rejected removal of theirs is
    /// planned anew.
    pub async fn clear_rejected(&mut self, user_id: &str) -> Result<(), StoreError> {
        sqlx::query(CLEAR_REJECTED_SQL)
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Every hold row, oldest first.
    pub async fn holds(&mut self) -> Result<Vec<HoldRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {HOLD_COLUMNS} FROM safety_holds ORDER BY since, user_id, org_id"
        ))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(hold_from_row).collect()
    }

    /// Whether any row is held for an operator, leaving one (user, org) out.
    pub async fn held_other_than(
        &mut self,
        user_id: &str,
        org_id: &str,
    ) -> Result<bool, StoreError> {
        // One row is enough to answer: never count every held row.
        let row = sqlx::query(HELD_OTHER_SQL)
            .bind(user_id)
            .bind(org_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.is_some())
    }

    /// An operator's decision: every held (or marked) row matching `filter`
    /// moves to `to`, and its target is planned again at once whatever its
    /// state (its generation moves, so a pass that holds it right now ends
    /// pending, not held): an approved removal is sent, a rejected one ends
    /// idle without a call. Returns the rows decided.
    pub async fn decide_holds(
        &mut self,
        filter: &HoldFilter,
        to: HoldState,
        now: i64,
    ) -> Result<Vec<HoldRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {HOLD_COLUMNS} FROM safety_holds
              WHERE state IN ('held', 'marked')
                AND ($1 IS NULL OR email = $1)
                AND ($2 IS NULL OR org_id = $2)
              ORDER BY since, user_id, org_id"
        ))
        .bind(filter.email.clone())
        .bind(filter.org_id.clone())
        .fetch_all(&mut *self.tx)
        .await?;
        let rows: Vec<HoldRow> = rows.iter().map(hold_from_row).collect::<Result<_, _>>()?;
        for h in &rows {
            sqlx::query("UPDATE safety_holds SET state = $1, updated_at = $2 WHERE user_id = $3 AND org_id = $4")
                .bind(to.as_str())
                .bind(now)
                .bind(&h.user_id)
                .bind(&h.org_id)
                .execute(&mut *self.tx)
                .await?;
            // An operator's approval is not a removal the breaker counts.
            sqlx::query("DELETE FROM safety_removals WHERE user_id = $1 AND org_id = $2")
                .bind(&h.user_id)
                .bind(&h.org_id)
                .execute(&mut *self.tx)
                .await?;
            sqlx::query(
                "UPDATE sync_targets SET status = 'pending', generation = generation + 1,
                        next_attempt_at = $1, updated_at = $1, attempts = 0, first_failure_at = NULL,
                        last_error = NULL, last_error_ref = NULL
                  WHERE user_id = $2 AND org_id = $3",
            )
            .bind(now)
            .bind(&h.user_id)
            .bind(&h.org_id)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(rows)
    }

    /// Count a planned removal (and drop entries older than `horizon`).
    pub async fn log_removal(
        &mut self,
        user_id: &str,
        org_id: &str,
        planned_at: i64,
        horizon: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM safety_removals WHERE planned_at < $1")
            .bind(horizon)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(
            "INSERT INTO safety_removals (user_id, org_id, planned_at, sent) VALUES ($1, $2, $3, 0)
             ON CONFLICT (user_id, org_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(org_id)
        .bind(planned_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// A counted removal was let through.
    pub async fn removal_sent(&mut self, user_id: &str, org_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE safety_removals SET sent = 1 WHERE user_id = $1 AND org_id = $2")
            .bind(user_id)
            .bind(org_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// A counted removal is not one any more (the IdP changed its mind
    /// before it was sent): it does not count.
    pub async fn unlog_removal(&mut self, user_id: &str, org_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM safety_removals WHERE user_id = $1 AND org_id = $2 AND sent = 0")
            .bind(user_id)
            .bind(org_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The breaker's counts since `since`, overall (`org_id` None) or in one
    /// org. `count_granted`: count the access the bridge holds too (a walk
    /// over that access: the caller asks only when it will use it); else
    /// `granted` is 0.
    pub async fn removal_counts(
        &mut self,
        since: i64,
        org_id: Option<&str>,
        count_granted: bool,
    ) -> Result<RemovalCounts, StoreError> {
        const REMOVALS: &str = "SELECT COUNT(*) AS planned, COALESCE(SUM(CASE WHEN sent = 1 THEN 1 ELSE 0 END), 0) AS sent
                                FROM safety_removals WHERE planned_at >= $1";
        const GRANTED: &str =
            "SELECT COUNT(*) AS n FROM snyk_access WHERE state IN ('pending', 'member')";
        // Plain queries (not `$2 IS NULL OR ...`), so the org's count uses
        // the org index.
        let (removals, granted_sql) = match org_id {
            None => (REMOVALS.to_owned(), GRANTED.to_owned()),
            Some(_) => (
                format!("{REMOVALS} AND org_id = $2"),
                format!("{GRANTED} AND org_id = $1"),
            ),
        };
        // The org, when counted, is the last parameter of both.
        let (mut removals_q, mut granted_q) = (
            sqlx::query(&removals).bind(since),
            sqlx::query(&granted_sql),
        );
        if let Some(org) = org_id {
            removals_q = removals_q.bind(org);
            granted_q = granted_q.bind(org);
        }
        let row = removals_q.fetch_one(&mut *self.tx).await?;
        let granted = if count_granted {
            granted_q.fetch_one(&mut *self.tx).await?.try_get("n")?
        } else {
            0
        };
        Ok(RemovalCounts {
            planned: row.try_get("planned")?,
            sent: row.try_get("sent")?,
            granted,
        })
    }
}
