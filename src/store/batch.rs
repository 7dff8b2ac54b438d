//! The reads and the finish of a whole claimed batch of outbox targets, a
//! statement each, whatever the batch's size: the users with their group
//! names, their access rows, their hold rows, and the `Done` finish of the
//! targets with nothing to do. On PostgreSQL every statement is a round
//! trip to a server that shares the machine; a statement per target was
//! most of the drain's cost (issue 11, item 2).
//!
//! It must never read a row by anything but its key (a batch costs the same
//! whatever the tables hold: `store::plans` pins SQLite's plans), and the
//! batch finish must keep `finish_target`'s rule: only under the caller's
//! lease, and a target changed since it was claimed stays pending.

use std::collections::{HashMap, HashSet};

use sqlx::Row;
use sqlx::any::AnyRow;

use super::safety::{HOLD_COLUMNS, hold_from_row};
use super::scim::{COLUMNS, from_row};
use super::sync::access_from_row;
use super::{AccessRow, HoldRow, StoreError, StoreTx, StoredResource, TargetRow};

/// Keys per statement: a worker's batch (up to 8 times its task slots, 256
/// by default) in one, and at 3 parameters a key well under both backends'
/// limits on bound parameters.
const CHUNK: usize = 1024;

/// A (user id, org id) key.
pub type Key = (String, String);

/// `($1, $2), ($3, $4), …` for `n` rows of `width` parameters, numbered
/// from `first`.
fn values(n: usize, width: usize, first: usize) -> String {
    (0..n)
        .map(|row| {
            let cols: Vec<String> = (0..width)
                .map(|c| format!("${}", first + row * width + c))
                .collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The access rows of `n` keys, each found by its primary key.
pub(super) fn access_among_sql(n: usize) -> String {
    format!(
        "WITH k(user_id, org_id) AS (VALUES {})
         SELECT a.user_id, a.org_id, a.email, a.state, a.role, a.snyk_user_id, a.updated_at
           FROM k JOIN snyk_access a ON a.user_id = k.user_id AND a.org_id = k.org_id",
        values(n, 2, 1)
    )
}

/// The hold rows of `n` keys, each found by its primary key.
pub(super) fn holds_among_sql(n: usize) -> String {
    let columns = HOLD_COLUMNS
        .split(", ")
        .map(|c| format!("h.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH k(user_id, org_id) AS (VALUES {})
         SELECT {columns}
           FROM k JOIN safety_holds h ON h.user_id = k.user_id AND h.org_id = k.org_id",
        values(n, 2, 1)
    )
}

/// `n` users by id.
pub(super) fn users_among_sql(n: usize) -> String {
    format!(
        "SELECT {COLUMNS} FROM scim_resources WHERE kind = 'User' AND id IN ({})",
        values(n, 1, 1).replace(['(', ')'], "")
    )
}

/// The names of the groups of `n` members with the groups' creation order
/// (`seq`; the caller sorts, so the statement costs the same under any
/// planner setting).
pub(super) fn group_names_among_sql(n: usize) -> String {
    format!(
        "SELECT m.member_id, g.display, g.seq FROM scim_group_members m
           JOIN scim_resources g ON g.id = m.group_id
          WHERE m.member_id IN ({})",
        values(n, 1, 1).replace(['(', ')'], "")
    )
}

/// `finish_target(…, Done, …)` for `n` targets (`$1` now, `$2` the owner,
/// then user, org and claimed generation per target); returns the keys
/// finished.
pub(super) fn finish_done_sql(n: usize) -> String {
    format!(
        "WITH k(user_id, org_id, generation) AS (VALUES {})
         UPDATE sync_targets SET
            status = CASE WHEN sync_targets.generation = k.generation THEN 'idle' ELSE 'pending' END,
            attempts = 0, first_failure_at = NULL, last_error = NULL, last_error_ref = NULL,
            lease_owner = NULL, lease_until = NULL, next_attempt_at = $1, updated_at = $1
           FROM k
          WHERE sync_targets.user_id = k.user_id AND sync_targets.org_id = k.org_id
            AND sync_targets.lease_owner = $2
          RETURNING sync_targets.user_id, sync_targets.org_id",
        values(n, 3, 3)
    )
}

impl StoreTx {
    /// The users among `ids` that exist, each with the display names of its
    /// groups (in the groups' creation order), in two statements that sort
    /// nothing.
    pub async fn users_with_groups(
        &mut self,
        ids: &[String],
    ) -> Result<HashMap<String, (StoredResource, Vec<String>)>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let sql = users_among_sql(chunk.len());
            let mut q = sqlx::query(&sql).persistent(false);
            for id in chunk {
                q = q.bind(id);
            }
            for r in &q.fetch_all(&mut *self.tx).await? {
                let u = from_row(r)?;
                out.insert(u.id.clone(), (u, Vec::new()));
            }
            let sql = group_names_among_sql(chunk.len());
            let mut q = sqlx::query(&sql).persistent(false);
            for id in chunk {
                q = q.bind(id);
            }
            let mut names: Vec<(i64, String, String)> = Vec::new();
            for r in &q.fetch_all(&mut *self.tx).await? {
                let name: Option<String> = r.try_get("display")?;
                if let Some(name) = name {
                    names.push((r.try_get("seq")?, r.try_get("member_id")?, name));
                }
            }
            names.sort_unstable();
            for (_, member, name) in names {
                if let Some((_, groups)) = out.get_mut(&member) {
                    groups.push(name);
                }
            }
        }
        Ok(out)
    }

    /// The access rows stored for `keys` (absent keys have none).
    pub async fn access_among(
        &mut self,
        keys: &[Key],
    ) -> Result<HashMap<Key, AccessRow>, StoreError> {
        let rows = self
            .rows_by_keys(keys, access_among_sql, access_from_row)
            .await?;
        Ok(rows
            .into_iter()
            .map(|a| ((a.user_id.clone(), a.org_id.clone()), a))
            .collect())
    }

    /// The hold rows stored for `keys`, in any state (absent keys have none).
    pub async fn holds_among(&mut self, keys: &[Key]) -> Result<HashMap<Key, HoldRow>, StoreError> {
        let rows = self
            .rows_by_keys(keys, holds_among_sql, hold_from_row)
            .await?;
        Ok(rows
            .into_iter()
            .map(|h| ((h.user_id.clone(), h.org_id.clone()), h))
            .collect())
    }

    /// The rows `sql(n)` finds for `keys`, a statement per [`CHUNK`].
    async fn rows_by_keys<T>(
        &mut self,
        keys: &[Key],
        sql: fn(usize) -> String,
        from_row: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let sql = sql(chunk.len());
            let mut q = sqlx::query(&sql).persistent(false);
            for (user, org) in chunk {
                q = q.bind(user).bind(org);
            }
            for r in &q.fetch_all(&mut *self.tx).await? {
                out.push(from_row(r)?);
            }
        }
        Ok(out)
    }

    /// [`Self::finish_target`] with [`super::Finish::Done`] for every target
    /// of `targets`, in a statement per [`CHUNK`]. Returns the targets whose
    /// lease `owner` no longer held (left as they are: another sender's
    /// outcome stands).
    pub async fn finish_done_all(
        &mut self,
        targets: &[TargetRow],
        now: i64,
        owner: &str,
    ) -> Result<Vec<Key>, StoreError> {
        let mut lost = Vec::new();
        for chunk in targets.chunks(CHUNK) {
            let sql = finish_done_sql(chunk.len());
            let mut q = sqlx::query(&sql).persistent(false).bind(now).bind(owner);
            for t in chunk {
                q = q.bind(&t.user_id).bind(&t.org_id).bind(t.generation);
            }
            let mut finished = HashSet::with_capacity(chunk.len());
            for r in &q.fetch_all(&mut *self.tx).await? {
                finished.insert((
                    r.try_get::<String, _>("user_id")?,
                    r.try_get::<String, _>("org_id")?,
                ));
            }
            lost.extend(
                chunk
                    .iter()
                    .map(|t| (t.user_id.clone(), t.org_id.clone()))
                    .filter(|k| !finished.contains(k)),
            );
        }
        Ok(lost)
    }
}

#[cfg(test)]
mod tests {
    use super::values;

    #[test]
    fn values_numbers_its_parameters_row_by_row() {
        assert_eq!(values(2, 2, 1), "($1, $2), ($3, $4)");
        assert_eq!(values(1, 3, 3), "($3, $4, $5)");
        assert_eq!(values(0, 2, 1), "");
    }
}
