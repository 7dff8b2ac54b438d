//! Webhook intake tables: processed event ids (deduplication) and the
//! publication time of the last event applied per (subject, aspect) (so that
//! an older event never overwrites a newer state).

use sqlx::Row;

use super::{StoreError, StoreTx};

/// The last event applied to one (subject, aspect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMark {
    pub value: Option<String>,
    pub published_at: i64,
    pub event_id: String,
}

impl StoreTx {
    /// Record an event id as processed. `false` when it already was (a
    /// duplicate delivery, or the same id twice in one delivery).
    pub async fn record_webhook_event(
        &mut self,
        source: &str,
        event_id: &str,
        published_at: i64,
        received_at: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO webhook_events (source, event_id, published_at, received_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (source, event_id) DO NOTHING",
        )
        .bind(source)
        .bind(event_id)
        .bind(published_at)
        .bind(received_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Forget the event ids of a source received before `before`.
    pub async fn purge_webhook_events(
        &mut self,
        source: &str,
        before: i64,
    ) -> Result<u64, StoreError> {
        let result =
            sqlx::query("DELETE FROM webhook_events WHERE source = $1 AND received_at < $2")
                .bind(source)
                .bind(before)
                .execute(&mut *self.tx)
                .await?;
        Ok(result.rows_affected())
    }

    /// Whether an event id of a source has been processed (and is still kept).
    pub async fn webhook_event_seen(
        &mut self,
        source: &str,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT 1 AS x FROM webhook_events WHERE source = $1 AND event_id = $2")
                .bind(source)
                .bind(event_id)
                .fetch_optional(&mut *self.tx)
                .await?;
        Ok(row.is_some())
    }

    /// The last event applied to (subject, aspect), if any.
    pub async fn applied_mark(
        &mut self,
        subject: &str,
        aspect: &str,
    ) -> Result<Option<AppliedMark>, StoreError> {
        let row = sqlx::query(
            "SELECT value, published_at, event_id FROM webhook_applied
              WHERE subject = $1 AND aspect = $2",
        )
        .bind(subject)
        .bind(aspect)
        .fetch_optional(&mut *self.tx)
        .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(AppliedMark {
                value: r.try_get("value")?,
                published_at: r.try_get("published_at")?,
                event_id: r.try_get("event_id")?,
            })),
        }
    }

    /// Remember that an event published at `published_at` set (subject, aspect).
    pub async fn set_applied_mark(
        &mut self,
        subject: &str,
        aspect: &str,
        mark: &AppliedMark,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhook_applied (subject, aspect, value, published_at, event_id)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (subject, aspect) DO UPDATE SET
                value = excluded.value, published_at = excluded.published_at,
                event_id = excluded.event_id",
        )
        .bind(subject)
        .bind(aspect)
        .bind(mark.value.as_deref())
        .bind(mark.published_at)
        .bind(&mark.event_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
