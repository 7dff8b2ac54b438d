//! The status page's one-time sign-in links: which have been used.

use super::{StoreError, StoreTx};

impl StoreTx {
    /// Mark a sign-in link as used. `false`: it was used before (by this
    /// replica or another). Expired marks are dropped on the way.
    pub async fn redeem_ticket(
        &mut self,
        ticket: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        sqlx::query("DELETE FROM status_tickets_used WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        let r = sqlx::query(
            "INSERT INTO status_tickets_used (ticket, expires_at) VALUES ($1, $2)
             ON CONFLICT (ticket) DO NOTHING",
        )
        .bind(ticket)
        .bind(expires_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}
