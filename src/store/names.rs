//! The names the operator's views show: Snyk org names as Snyk last listed
//! them (`snyk_org_names`). A display cache: nothing the bridge decides
//! reads it, and it never holds anything but an org's id and name.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{StoreError, StoreTx};

impl StoreTx {
    /// Remember (org id, name) pairs as Snyk listed them at `now`; a renamed
    /// org gets its new name.
    pub async fn remember_org_names(
        &mut self,
        names: &[(String, String)],
        now: i64,
    ) -> Result<(), StoreError> {
        for (org_id, name) in names {
            sqlx::query(
                "INSERT INTO snyk_org_names (org_id, name, seen_at) VALUES ($1, $2, $3)
                 ON CONFLICT (org_id) DO UPDATE SET name = excluded.name, seen_at = excluded.seen_at",
            )
            .bind(org_id)
            .bind(name)
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// Every org name known: org id -> name.
    pub async fn org_names(&mut self) -> Result<BTreeMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT org_id, name FROM snyk_org_names")
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("org_id")?, r.try_get("name")?)))
            .collect()
    }
}
