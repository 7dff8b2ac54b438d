//! SCIM resources, user emails and group memberships.

use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{IndexKey, StoreError, StoreTx, conflict_or};
use crate::scim::schema::ResourceKind;

/// A resource as stored: its canonical document plus server-kept metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub kind: ResourceKind,
    pub id: String,
    pub version: i64,
    pub created: String,
    pub last_modified: String,
    /// Canonical document without `id`, `meta`, `groups` and `members`.
    pub doc: Map<String, Value>,
}

/// The indexed columns a resource is written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFields {
    pub name_lc: String,
    pub display: Option<String>,
    pub external_id: Option<String>,
    /// Lower-cased `emails[].value` (Users only).
    pub emails_lc: Vec<String>,
}

/// A group member as stored: its id and kind, and the member object exactly
/// as the client sent it (value, and any of $ref, type, display).
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRef {
    pub id: String,
    pub kind: ResourceKind,
    pub doc: Map<String, Value>,
}

fn kind_str(kind: ResourceKind) -> &'static str {
    kind.name()
}

fn parse_kind(s: &str) -> Result<ResourceKind, StoreError> {
    match s {
        "User" => Ok(ResourceKind::User),
        "Group" => Ok(ResourceKind::Group),
        other => Err(StoreError::Corrupt(format!(
            "unknown resource kind {other:?}"
        ))),
    }
}

pub(super) const COLUMNS: &str = "kind, id, version, created, last_modified, doc";

pub(super) fn from_row(row: &AnyRow) -> Result<StoredResource, StoreError> {
    let kind: String = row.try_get("kind")?;
    let doc: String = row.try_get("doc")?;
    let doc = match serde_json::from_str::<Value>(&doc) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(StoreError::Corrupt(
                "a stored document is not a JSON object".into(),
            ));
        }
    };
    Ok(StoredResource {
        kind: parse_kind(&kind)?,
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        created: row.try_get("created")?,
        last_modified: row.try_get("last_modified")?,
        doc,
    })
}

/// The users whose userName or one of whose emails is `$1`: two index
/// lookups, never a walk over every user, whatever plan the database keeps
/// for the prepared statement. (Written as one `OR`, SQLite answered it from
/// the `kind` prefix of an index and PostgreSQL filtered every user, on
/// every user write: creates fell from ~1,100/s to ~250/s by 8,000 users;
/// with the lookups nested under `seq IN (...)`, PostgreSQL's plan for the
/// prepared statement still walked the table. `CROSS JOIN`: SQLite keeps
/// the emails as the outer loop, as written; PostgreSQL plans it as a join.)
pub(super) fn users_with_email_sql() -> String {
    users_with_email_sql_at(1)
}

/// [`users_with_email_sql`] with the email bound at `$p`.
fn users_with_email_sql_at(p: usize) -> String {
    format!(
        "SELECT {COLUMNS}, seq FROM scim_resources WHERE kind = 'User' AND name_lc = ${p}
         UNION
         SELECT {R_COLUMNS}, r.seq FROM scim_user_emails e CROSS JOIN scim_resources r
          WHERE e.value_lc = ${p} AND r.id = e.user_id AND r.kind = 'User'
         ORDER BY seq"
    )
}

/// The ids of resources of kind `$1` with the (lower-cased) email `$2`.
pub(super) const EMAIL_LOOKUP_SQL: &str =
    "SELECT r.id FROM scim_user_emails e CROSS JOIN scim_resources r
  WHERE e.value_lc = $2 AND r.id = e.user_id AND r.kind = $1 ORDER BY r.seq";

/// [`COLUMNS`] of the table aliased `r`.
const R_COLUMNS: &str = "r.kind, r.id, r.version, r.created, r.last_modified, r.doc";

/// Emails per `INSERT` (a parameter each, plus the user's id).
const EMAIL_CHUNK: usize = 500;

/// `INSERT` of `n` emails of the user bound at `$user`, the emails bound
/// from `$first` on.
fn insert_emails_sql(user: usize, first: usize, n: usize) -> String {
    let rows: Vec<String> = (first..first + n)
        .map(|p| format!("(${user}, ${p})"))
        .collect();
    format!(
        "INSERT INTO scim_user_emails (user_id, value_lc) VALUES {}",
        rows.join(", ")
    )
}

/// The emails without repeats, in their first order.
fn distinct(emails: &[String]) -> Vec<&String> {
    let mut seen: Vec<&String> = Vec::new();
    for e in emails {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    seen
}

fn doc_text(doc: &Map<String, Value>) -> String {
    Value::Object(doc.clone()).to_string()
}

impl StoreTx {
    /// Insert a new resource (version 1).
    pub async fn insert_resource(
        &mut self,
        kind: ResourceKind,
        id: &str,
        fields: &IndexedFields,
        doc: &Map<String, Value>,
        now: &str,
    ) -> Result<StoredResource, StoreError> {
        let (stored, _) = self
            .insert_reading_holders(kind, id, fields, doc, now, None)
            .await?;
        Ok(stored)
    }

    /// Insert a new user whose (lower-cased) email `email` must pass
    /// `check`, given the users that held it before ([`Self::users_with_email`]'s
    /// answer); `check` refusing leaves nothing of the insert once the
    /// caller drops the transaction (or its savepoint). On SQLite the read,
    /// the insert and its emails are one multi-statement call sharing its
    /// parameters (one round trip to the connection's thread instead of
    /// three); if that insert fails, the holders are read alone, so that
    /// `check`'s refusal is still the answer. On PostgreSQL, where a failed
    /// statement ends the transaction, the holders are read and checked
    /// first.
    pub async fn insert_checked<E: From<StoreError>>(
        &mut self,
        id: &str,
        fields: &IndexedFields,
        doc: &Map<String, Value>,
        now: &str,
        email: &str,
        check: impl Fn(&[StoredResource]) -> Result<(), E>,
    ) -> Result<StoredResource, E> {
        let kind = ResourceKind::User;
        if self.backend == super::Backend::Postgres {
            check(&self.users_with_email(email).await?)?;
            return Ok(self.insert_resource(kind, id, fields, doc, now).await?);
        }
        match self
            .insert_reading_holders(kind, id, fields, doc, now, Some(email))
            .await
        {
            Ok((stored, holders)) => {
                check(&holders)?;
                Ok(stored)
            }
            Err(e) => {
                check(&self.users_with_email(email).await?)?;
                Err(e.into())
            }
        }
    }

    /// Insert a new resource (version 1) and, with `holders_of`, read the
    /// users that held that (lower-cased) email before it, in the same
    /// call on SQLite.
    async fn insert_reading_holders(
        &mut self,
        kind: ResourceKind,
        id: &str,
        fields: &IndexedFields,
        doc: &Map<String, Value>,
        now: &str,
        holders_of: Option<&str>,
    ) -> Result<(StoredResource, Vec<StoredResource>), StoreError> {
        let sqlite = self.backend == super::Backend::Sqlite;
        let emails = distinct(&fields.emails_lc);
        let mut holders = Vec::new();
        let mut sql = String::new();
        // The first parameter after the resource's eight.
        let mut next = 9;
        let read_together = sqlite && holders_of.is_some();
        match holders_of {
            Some(_) if read_together => {
                sql.push_str(&users_with_email_sql_at(next));
                sql.push_str("; ");
                next += 1;
            }
            Some(email) => holders = self.users_with_email(email).await?,
            None => {}
        }
        sql.push_str(
            "INSERT INTO scim_resources
               (kind, id, name_lc, display, display_lc, external_id, version, created, last_modified, doc)
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7, $8)",
        );
        let emails_together = self.emails_in_one_call(emails.len());
        if emails_together {
            sql.push_str("; ");
            sql.push_str(&insert_emails_sql(2, next, emails.len()));
        }
        let mut query = sqlx::query(&sql)
            .bind(kind_str(kind))
            .bind(id)
            .bind(&fields.name_lc)
            .bind(fields.display.as_deref())
            .bind(fields.display.as_ref().map(|d| d.to_lowercase()))
            .bind(fields.external_id.as_deref())
            .bind(now)
            .bind(doc_text(doc));
        if read_together {
            query = query.bind(holders_of);
        }
        if emails_together {
            for e in &emails {
                query = query.bind(*e);
            }
        }
        if read_together {
            let rows = query
                .fetch_all(&mut *self.tx)
                .await
                .map_err(|e| conflict_or(e, unique_name(kind)))?;
            holders = rows.iter().map(from_row).collect::<Result<_, _>>()?;
        } else {
            query
                .execute(&mut *self.tx)
                .await
                .map_err(|e| conflict_or(e, unique_name(kind)))?;
        }
        if !emails_together {
            self.write_emails(id, &emails).await?;
        }
        let stored = StoredResource {
            kind,
            id: id.to_owned(),
            version: 1,
            created: now.to_owned(),
            last_modified: now.to_owned(),
            doc: doc.clone(),
        };
        Ok((stored, holders))
    }

    /// Replace a resource's document; fails with `VersionMismatch` when the
    /// stored version is not `expected_version`.
    pub async fn update_resource(
        &mut self,
        current: &StoredResource,
        fields: &IndexedFields,
        doc: &Map<String, Value>,
        now: &str,
    ) -> Result<StoredResource, StoreError> {
        let result = sqlx::query(
            "UPDATE scim_resources
                SET name_lc = $1, display = $2, display_lc = $3, external_id = $4,
                    version = version + 1, last_modified = $5, doc = $6
              WHERE id = $7 AND kind = $8 AND version = $9",
        )
        .bind(&fields.name_lc)
        .bind(fields.display.as_deref())
        .bind(fields.display.as_ref().map(|d| d.to_lowercase()))
        .bind(fields.external_id.as_deref())
        .bind(now)
        .bind(doc_text(doc))
        .bind(&current.id)
        .bind(kind_str(current.kind))
        .bind(current.version)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| conflict_or(e, unique_name(current.kind)))?;
        if result.rows_affected() != 1 {
            return Err(StoreError::VersionMismatch);
        }
        let emails = distinct(&fields.emails_lc);
        let together = self.emails_in_one_call(emails.len());
        let mut sql = String::from("DELETE FROM scim_user_emails WHERE user_id = $1");
        if together {
            sql.push_str("; ");
            sql.push_str(&insert_emails_sql(1, 2, emails.len()));
        }
        let mut query = sqlx::query(&sql).bind(&current.id);
        if together {
            for e in &emails {
                query = query.bind(*e);
            }
        }
        query.execute(&mut *self.tx).await?;
        if !together {
            self.write_emails(&current.id, &emails).await?;
        }
        Ok(StoredResource {
            kind: current.kind,
            id: current.id.clone(),
            version: current.version + 1,
            created: current.created.clone(),
            last_modified: now.to_owned(),
            doc: doc.clone(),
        })
    }

    /// Bump a resource's version and modification time without changing its
    /// document (a group whose members changed).
    pub async fn touch_resource(
        &mut self,
        current: &StoredResource,
        now: &str,
    ) -> Result<StoredResource, StoreError> {
        let result = sqlx::query(
            "UPDATE scim_resources SET version = version + 1, last_modified = $1
              WHERE id = $2 AND version = $3",
        )
        .bind(now)
        .bind(&current.id)
        .bind(current.version)
        .execute(&mut *self.tx)
        .await?;
        if result.rows_affected() != 1 {
            return Err(StoreError::VersionMismatch);
        }
        Ok(StoredResource {
            version: current.version + 1,
            last_modified: now.to_owned(),
            ..current.clone()
        })
    }

    /// Whether `n` emails go in the call of the statement before them (a
    /// multi-statement call sharing its parameters: SQLite only).
    fn emails_in_one_call(&self, n: usize) -> bool {
        self.backend == super::Backend::Sqlite && n > 0 && n <= EMAIL_CHUNK
    }

    /// Insert a user's (distinct) emails, a multi-row `INSERT` per
    /// [`EMAIL_CHUNK`].
    async fn write_emails(&mut self, user_id: &str, emails: &[&String]) -> Result<(), StoreError> {
        for chunk in emails.chunks(EMAIL_CHUNK) {
            let sql = insert_emails_sql(1, 2, chunk.len());
            let mut query = sqlx::query(&sql).bind(user_id);
            for e in chunk {
                query = query.bind(*e);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Read a resource for a write, taking its row lock, so that concurrent
    /// writers to one resource queue instead of failing their version check:
    /// `SELECT … FOR UPDATE` on PostgreSQL (it writes no row version, unlike
    /// a no-op `UPDATE`, which left a dead version of a busy group's row per
    /// PATCH); a plain read on SQLite, whose write transaction (`BEGIN
    /// IMMEDIATE`) holds the database's one write lock already.
    pub async fn get_resource_for_write(
        &mut self,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let lock = match self.backend {
            super::Backend::Postgres => " FOR UPDATE",
            super::Backend::Sqlite => "",
        };
        self.select_resource(kind, id, lock).await
    }

    /// One resource by id, the statement ending in `suffix`.
    async fn select_resource(
        &mut self,
        kind: ResourceKind,
        id: &str,
        suffix: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM scim_resources WHERE id = $1 AND kind = $2{suffix}"
        ))
        .bind(id)
        .bind(kind_str(kind))
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Serialise the writers that give a user this (lower-cased) email until
    /// the transaction ends: the uniqueness of active users' emails is
    /// checked under it (a row lock on PostgreSQL; nothing to do on SQLite).
    pub async fn lock_email(&mut self, email_lc: &str) -> Result<(), StoreError> {
        if self.backend == super::Backend::Sqlite {
            // Every SQLite write transaction (`BEGIN IMMEDIATE`) holds the
            // one write lock already: writers are serialised.
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO scim_email_locks (email_lc) VALUES ($1)
             ON CONFLICT (email_lc) DO UPDATE SET email_lc = excluded.email_lc",
        )
        .bind(email_lc)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Users that may have this (lower-cased) email as the one Snyk knows them
    /// by: any `emails[].value`, or the userName. The caller decides.
    pub async fn users_with_email(
        &mut self,
        email_lc: &str,
    ) -> Result<Vec<StoredResource>, StoreError> {
        // Planned for its value each time (not kept prepared): PostgreSQL's
        // generic plan, made while the table was small, searched every user
        // on the `kind` prefix of another index until the next ANALYZE.
        let rows = sqlx::query(&users_with_email_sql())
            .persistent(false)
            .bind(email_lc)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn get_resource(
        &mut self,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.select_resource(kind, id, "").await
    }

    /// Delete a resource with its emails and every membership it takes part in.
    pub async fn delete_resource(
        &mut self,
        kind: ResourceKind,
        id: &str,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM scim_resources WHERE id = $1 AND kind = $2")
            .bind(id)
            .bind(kind_str(kind))
            .execute(&mut *self.tx)
            .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        for sql in [
            "DELETE FROM scim_user_emails WHERE user_id = $1",
            "DELETE FROM scim_group_members WHERE member_id = $1",
            "DELETE FROM scim_group_members WHERE group_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *self.tx).await?;
        }
        Ok(true)
    }

    /// Ids of the resources an index key selects, in creation order.
    pub async fn find_ids(
        &mut self,
        kind: ResourceKind,
        key: &IndexKey,
    ) -> Result<Vec<String>, StoreError> {
        let (sql, value) = match key {
            IndexKey::Id(v) => (
                "SELECT id FROM scim_resources WHERE kind = $1 AND id = $2 ORDER BY seq",
                v,
            ),
            IndexKey::NameLc(v) => (
                "SELECT id FROM scim_resources WHERE kind = $1 AND name_lc = $2 ORDER BY seq",
                v,
            ),
            IndexKey::DisplayLc(v) => (
                "SELECT id FROM scim_resources WHERE kind = $1 AND display_lc = $2 ORDER BY seq",
                v,
            ),
            IndexKey::ExternalId(v) => (
                "SELECT id FROM scim_resources WHERE kind = $1 AND external_id = $2 ORDER BY seq",
                v,
            ),
            // The emails first (`CROSS JOIN` keeps SQLite's loop in that
            // order): joined the other way, SQLite walked every user.
            IndexKey::EmailLc(v) => (EMAIL_LOOKUP_SQL, v),
        };
        let rows = sqlx::query(sql)
            .bind(kind_str(kind))
            .bind(value)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|r| r.try_get("id").map_err(StoreError::from))
            .collect()
    }

    pub async fn count_resources(&mut self, kind: ResourceKind) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM scim_resources WHERE kind = $1")
            .bind(kind_str(kind))
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// A page of resources in creation order.
    pub async fn page_resources(
        &mut self,
        kind: ResourceKind,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<StoredResource>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM scim_resources WHERE kind = $1 ORDER BY seq LIMIT $2 OFFSET $3"
        ))
        .bind(kind_str(kind))
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Resources by id, in the order of `ids`; unknown ids are skipped.
    pub async fn get_resources(
        &mut self,
        kind: ResourceKind,
        ids: &[String],
    ) -> Result<Vec<StoredResource>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(r) = self.get_resource(kind, id).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Every resource of a kind, in creation order.
    pub async fn all_resources(
        &mut self,
        kind: ResourceKind,
    ) -> Result<Vec<StoredResource>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM scim_resources WHERE kind = $1 ORDER BY seq"
        ))
        .bind(kind_str(kind))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The kind of a resource id, if it exists (for validating member references).
    pub async fn kind_of(&mut self, id: &str) -> Result<Option<ResourceKind>, StoreError> {
        let row = sqlx::query("SELECT kind FROM scim_resources WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let kind: String = r.try_get("kind")?;
                Ok(Some(parse_kind(&kind)?))
            }
        }
    }

    /// A group's members as the client wrote them, ordered by member id.
    pub async fn members(&mut self, group_id: &str) -> Result<Vec<MemberRef>, StoreError> {
        let rows = sqlx::query(
            "SELECT member_id, member_kind, doc FROM scim_group_members
              WHERE group_id = $1 ORDER BY member_id",
        )
        .bind(group_id)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(member_from_row).collect()
    }

    /// The members of a group among `ids` (ids that are not members are
    /// left out), ordered by member id, and the kind of every id among them
    /// that names a stored resource, member or not: what a PATCH naming
    /// these members needs, without reading the others, in one statement
    /// (primary-key lookups) instead of one for the members and one per
    /// joining member's kind (each a round trip under the group's row lock).
    pub async fn members_among(
        &mut self,
        group_id: &str,
        ids: &[String],
    ) -> Result<(Vec<MemberRef>, Vec<(String, ResourceKind)>), StoreError> {
        let mut members = Vec::with_capacity(ids.len());
        let mut kinds = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MEMBER_LOOKUP_CHUNK) {
            let sql = members_among_sql(chunk.len());
            let mut q = sqlx::query(&sql).bind(group_id);
            for id in chunk {
                q = q.bind(id);
            }
            let rows = q.fetch_all(&mut *self.tx).await?;
            for r in &rows {
                // A resource's row carries its kind; a membership's, the member.
                match r.try_get::<Option<String>, _>("kind")? {
                    Some(kind) => kinds.push((r.try_get("member_id")?, parse_kind(&kind)?)),
                    None => members.push(member_from_row(r)?),
                }
            }
        }
        members.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((members, kinds))
    }

    /// How many members of this kind a group has, counted up to `limit`
    /// (a group with more answers `limit`): the cost is that of `limit`
    /// rows, whatever the group's size.
    pub async fn count_members_up_to(
        &mut self,
        group_id: &str,
        kind: ResourceKind,
        limit: i64,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM scim_group_members
               WHERE group_id = $1 AND member_kind = $2 LIMIT $3) AS counted",
        )
        .bind(group_id)
        .bind(kind_str(kind))
        .bind(limit)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get("n")?)
    }

    pub async fn add_member(
        &mut self,
        group_id: &str,
        member: &MemberRef,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO scim_group_members (group_id, member_id, member_kind, doc) VALUES ($1, $2, $3, $4)
             ON CONFLICT (group_id, member_id) DO UPDATE SET doc = excluded.doc",
        )
        .bind(group_id)
        .bind(&member.id)
        .bind(kind_str(member.kind))
        .bind(doc_text(&member.doc))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn remove_member(
        &mut self,
        group_id: &str,
        member_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM scim_group_members WHERE group_id = $1 AND member_id = $2")
            .bind(group_id)
            .bind(member_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The groups a resource is a direct member of: (id, displayName).
    pub async fn groups_of(
        &mut self,
        member_id: &str,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.id, g.display FROM scim_group_members m JOIN scim_resources g ON g.id = m.group_id
              WHERE m.member_id = $1 ORDER BY g.seq",
        )
        .bind(member_id)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("display")?)))
            .collect()
    }
}

/// Ids looked up per statement by `members_among` (well under both
/// backends' limits on bound parameters).
const MEMBER_LOOKUP_CHUNK: usize = 500;

/// [`StoreTx::members_among`]'s statement for `n` ids (`$2` on; `$1`: the
/// group).
/// (Two lookups by key in one statement: a membership row is read even if
/// its member's resource row is gone, as the general path reads it.)
pub(super) fn members_among_sql(n: usize) -> String {
    let params: Vec<String> = (2..n + 2).map(|p| format!("${p}")).collect();
    let params = params.join(", ");
    format!(
        "SELECT m.member_id, m.member_kind, m.doc, NULL AS kind
           FROM scim_group_members m
          WHERE m.group_id = $1 AND m.member_id IN ({params})
         UNION ALL
         SELECT r.id, NULL, NULL, r.kind
           FROM scim_resources r
          WHERE r.id IN ({params})"
    )
}

fn member_from_row(r: &AnyRow) -> Result<MemberRef, StoreError> {
    let kind: String = r.try_get("member_kind")?;
    let doc: String = r.try_get("doc")?;
    let doc = match serde_json::from_str::<Value>(&doc) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(StoreError::Corrupt(
                "a stored member is not a JSON object".into(),
            ));
        }
    };
    Ok(MemberRef {
        id: r.try_get("member_id")?,
        kind: parse_kind(&kind)?,
        doc,
    })
}

fn unique_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    }
}
