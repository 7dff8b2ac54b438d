//! The outbox claim: due targets leased to one sender, a batch per
//! statement, taken from either end of the queue.
//!
//! It must never hand one target to two claimers at once, never make a
//! claimer wait for (or come back empty because of) rows another claimer is
//! taking while other targets are due, and never take a target whose lease
//! is still held. One of the store's backend branches: the row lock
//! (`FOR UPDATE SKIP LOCKED`) and the plan settings are PostgreSQL's.

use super::sync::{TARGET_COLUMNS, TargetRow, target_from_row};
use super::{Backend, StoreError, StoreTx};

/// The claim statement (see [`StoreTx::claim_targets`]). The status is
/// checked again on the updated row through a `CASE`: written as a plain
/// `status = 'pending'`, SQLite answered the UPDATE from the status prefix of
/// the claim index, reading every pending target for each batch, instead of
/// one primary-key lookup per claimed row.
pub(super) fn claim_sql(order: &str, lock: &str) -> String {
    format!(
        "WITH due AS MATERIALIZED (
                SELECT user_id, org_id FROM sync_targets
                 WHERE status = 'pending' AND next_attempt_at <= $3
                   AND (lease_until IS NULL OR lease_until < $3)
                 ORDER BY {order} LIMIT $4 {lock})
         UPDATE sync_targets SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
          WHERE (user_id, org_id) IN (SELECT user_id, org_id FROM due)
            AND CASE WHEN status = 'pending' THEN 1 ELSE 0 END = 1
            AND (lease_until IS NULL OR lease_until < $3)
         RETURNING {TARGET_COLUMNS}"
    )
}

impl StoreTx {
    /// Claim a due target with a lease held by `owner`; `None` when nothing
    /// is due (see [`Self::claim_targets`]).
    pub async fn claim_target(
        &mut self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        newest_first: bool,
    ) -> Result<Option<TargetRow>, StoreError> {
        let mut claimed = self
            .claim_targets(owner, now, lease_ms, 1, newest_first)
            .await?;
        Ok(claimed.pop())
    }

    /// Claim up to `limit` due targets with a lease held by `owner`, in one
    /// statement; empty when nothing is due. Ordered by due time: the
    /// longest waiting first, or (`newest_first`) the most recently due
    /// first: a worker takes from both ends, so new work is never stuck
    /// behind a backlog and a backlog still drains.
    ///
    /// Concurrent claimers never take the same target and never wait for
    /// each other's rows: on PostgreSQL the due rows are locked with `FOR
    /// UPDATE SKIP LOCKED` (a row another claimer is taking is passed over,
    /// the next due one taken instead), on SQLite the claim runs inside the
    /// write transaction that serialises every writer. Either way the lease
    /// condition is checked again on the row being updated. The due rows are
    /// chosen once (`MATERIALIZED`): a subquery PostgreSQL may run again per
    /// row would pick more than `limit`.
    pub async fn claim_targets(
        &mut self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<TargetRow>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let order = if newest_first {
            "next_attempt_at DESC, user_id DESC, org_id DESC"
        } else {
            "next_attempt_at, user_id, org_id"
        };
        let lock = match self.backend {
            Backend::Postgres => {
                // The index on (status, next_attempt_at, user_id, org_id)
                // gives this order: read `limit` entries from one end of it.
                // Right after a bulk enqueue the planner's statistics still
                // say "few pending rows" and it would sort every due row
                // instead (6 ms for 7,000, and under the row lock the sort
                // cannot stop at `limit`); a generic plan of the prepared
                // statement would not know how many rows are due either.
                // Both settings end with this transaction, which only claims.
                sqlx::query(
                    "SELECT set_config('enable_sort', 'off', true),
                            set_config('plan_cache_mode', 'force_custom_plan', true)",
                )
                .execute(&mut *self.tx)
                .await?;
                "FOR UPDATE SKIP LOCKED"
            }
            Backend::Sqlite => "",
        };
        let rows = sqlx::query(&claim_sql(order, lock))
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *self.tx)
            .await?;
        let mut claimed = rows
            .iter()
            .map(target_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING keeps no order.
        claimed.sort_by(|a, b| {
            (a.next_attempt_at, &a.user_id, &a.org_id).cmp(&(
                b.next_attempt_at,
                &b.user_id,
                &b.org_id,
            ))
        });
        if newest_first {
            claimed.reverse();
        }
        Ok(claimed)
    }
}
