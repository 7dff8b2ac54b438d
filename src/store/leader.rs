//! The leader lock: which process sends to Snyk. SQLite: an exclusive lock
//! on `<database file>.leader`; PostgreSQL: a session advisory lock on a
//! dedicated connection. Both are released by the operating system or the
//! server when the holder dies. The only backend branch of the store besides
//! `Store::connect` and `Store::write`.

use sqlx::Row;

use super::{Backend, Store, StoreError};

/// Held while this process is the one that sends to Snyk.
pub enum LeaderLock {
    /// SQLite: an exclusive lock on `<database file>.leader`, held while the
    /// file stays open (released by the OS when the process dies); `None`
    /// for an in-memory database, which no other process can reach.
    Local(Option<std::fs::File>),
    /// PostgreSQL: a session-level advisory lock on a dedicated connection;
    /// it is released when the connection closes, also when the process dies.
    Advisory(sqlx::AnyConnection),
}

/// The advisory lock key: "snykscim" in ASCII, as a number.
const LEADER_KEY: i64 = 0x736e_796b_7363_696d;

impl LeaderLock {
    /// Still held? For PostgreSQL, the connection must still answer.
    pub async fn alive(&mut self) -> bool {
        match self {
            Self::Local(_) => true,
            Self::Advisory(conn) => sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok(),
        }
    }
}

impl Store {
    /// Try to become the only sender; `None` when another replica is.
    pub async fn try_lead(&self) -> Result<Option<LeaderLock>, StoreError> {
        match self.backend {
            Backend::Sqlite => {
                let Some(path) = &self.leader_file else {
                    return Ok(Some(LeaderLock::Local(None)));
                };
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(path)
                    .map_err(|e| StoreError::LeaderLock(format!("{}: {e}", path.display())))?;
                match file.try_lock() {
                    Ok(()) => Ok(Some(LeaderLock::Local(Some(file)))),
                    Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                    Err(std::fs::TryLockError::Error(e)) => {
                        Err(StoreError::LeaderLock(format!("{}: {e}", path.display())))
                    }
                }
            }
            Backend::Postgres => {
                let mut conn = self.pool.acquire().await?.detach();
                let row = sqlx::query("SELECT pg_try_advisory_lock($1) AS ok")
                    .bind(LEADER_KEY)
                    .fetch_one(&mut conn)
                    .await?;
                let ok: bool = row.try_get("ok")?;
                Ok(ok.then_some(LeaderLock::Advisory(conn)))
            }
        }
    }
}
