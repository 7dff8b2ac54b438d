//! The storage contract and its two backends, SQLite and PostgreSQL.
//!
//! This is the only module that holds SQL. Both backends run the *same* SQL
//! text through sqlx's `Any` driver: the statements use `$n` parameters, upserts
//! and `RETURNING`, which both databases understand, so no query branches on the
//! backend. What differs is set up once in [`Store::connect`]: the migrations
//! directory, SQLite's pragmas (WAL, synchronous=FULL) and the statement that
//! opens a write transaction (`BEGIN IMMEDIATE` on SQLite, so that concurrent
//! writers queue on the busy timeout instead of failing on lock upgrade). Two
//! statements branch on the backend besides: the leader lock (`leader`) and
//! the outbox claim (`claims`: `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL; SQLite's writers are serialised already).
//!
//! Two pools reach the same database: the SCIM side's, and a small one of
//! the sync worker's own ([`Store::for_worker`]), so a SCIM request never
//! waits for a connection behind the worker. On SQLite, whose writers run one
//! at a time, the writers of both pools queue in turn in the process (first
//! come, first served) before `BEGIN IMMEDIATE`, and SCIM writes go through
//! [`Store::write_grouped`] to one writer task on a connection of its own,
//! which commits the writes that arrive together in one transaction
//! (`group`).
//!
//! Invariant: every write goes through a [`StoreTx`], and a SCIM change and
//! everything derived from it commit together or not at all. It never logs
//! the database URL (it may hold a password).

mod admin;
mod audit;
mod batch;
mod claims;
mod enqueue;
mod group;
mod leader;
mod names;
#[cfg(test)]
mod plans;
mod rows;
mod safety;
mod scim;
mod sync;
mod webhook;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Transaction};

use crate::config::DatabaseUrl;

pub use crate::scim::query::IndexKey;
pub use audit::{AuditEvent, Purged, QueuedRecord};
pub use group::GroupCounts;
pub use leader::LeaderLock;
pub use rows::{AccessState, HoldState, TargetStatus};
pub use safety::{HoldFilter, HoldRow, RemovalCounts};
pub use scim::{IndexedFields, MemberRef, StoredResource};
pub use sync::{AccessRow, CallRecord, Finish, TargetRow};
pub use webhook::AppliedMark;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique column already holds the value (userName, displayName, id).
    #[error("a resource with the same {0} already exists")]
    Conflict(&'static str),
    /// The row changed since it was read (optimistic concurrency).
    #[error("the resource was modified concurrently")]
    VersionMismatch,
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The write could not be run or committed (SQLite's grouped writer
    /// failed or stopped); nothing of it was stored.
    #[error("the database could not store the write: {0}")]
    Unavailable(String),
    /// The SQLite leader lock file could not be opened or locked.
    #[error("the leader lock file: {0}")]
    LeaderLock(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// The sync worker's own connections (the same pool as `pool` for an
    /// in-memory SQLite database, which a second pool would not see).
    worker_pool: AnyPool,
    /// SQLite: this process's writers (both pools) queue here, first come
    /// first served, instead of in SQLite's busy handler, which sleeps in
    /// growing steps (up to 100 ms) and lets a newcomer overtake a waiter.
    write_turn: Option<Arc<tokio::sync::Mutex<()>>>,
    /// SQLite: the task that runs SCIM writes in shared transactions
    /// (group commit, see `group`).
    writer: Option<group::Writer>,
    backend: Backend,
    /// SQLite: the file whose exclusive lock makes a process the one sender
    /// (`<database file>.leader`); `None` for PostgreSQL and in-memory SQLite.
    leader_file: Option<std::path::PathBuf>,
}

impl Store {
    /// Connect, create the SQLite file if missing, and run the migrations.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, conn_url) = match url {
            DatabaseUrl::Sqlite(u) => (Backend::Sqlite, sqlite_url(u)),
            DatabaseUrl::Postgres(u) => (Backend::Postgres, u.clone()),
        };
        let options = AnyConnectOptions::from_str(&conn_url)?;
        let pool = pool_options(backend, POOL_SIZE)
            .connect_with(options.clone())
            .await?;
        if backend == Backend::Sqlite {
            // WAL is a property of the database file: set once, kept.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        // Opened on first use: commands that never run the worker never
        // connect it.
        let in_memory = match url {
            DatabaseUrl::Sqlite(u) => sqlite_file(u).is_none() || u.contains("mode=memory"),
            DatabaseUrl::Postgres(_) => false,
        };
        let worker_pool = if in_memory {
            pool.clone()
        } else {
            pool_options(backend, WORKER_POOL_SIZE).connect_lazy_with(options.clone())
        };
        let leader_file = match url {
            DatabaseUrl::Sqlite(u) => sqlite_file(u).map(|f| {
                let mut name = f.into_os_string();
                name.push(".leader");
                std::path::PathBuf::from(name)
            }),
            DatabaseUrl::Postgres(_) => None,
        };
        let write_turn: Option<Arc<tokio::sync::Mutex<()>>> =
            (backend == Backend::Sqlite).then(Default::default);
        let writer = match &write_turn {
            Some(turn) => {
                // Its own connection, so that its page cache stays warm
                // (in memory, the one database is the pool's).
                let writer_pool = if in_memory {
                    pool.clone()
                } else {
                    pool_options(backend, WRITER_POOL_SIZE).connect_lazy_with(options)
                };
                Some(group::Writer::start(writer_pool, turn.clone()))
            }
            None => None,
        };
        let store = Self {
            pool,
            worker_pool,
            write_turn,
            writer,
            backend,
            leader_file,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => {
                sqlx::migrate!("migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The same database through the sync worker's own small pool: what the
    /// engine is built with, so that its claims, plans and outcomes never
    /// take a connection a SCIM request is waiting for (on SQLite writers
    /// still queue for the one write lock, each transaction briefly).
    pub fn for_worker(&self) -> Self {
        Self {
            pool: self.worker_pool.clone(),
            ..self.clone()
        }
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Open a transaction for writing.
    pub async fn write(&self) -> Result<StoreTx, StoreError> {
        let statement = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        // Bounded like SQLite's own wait: a writer that somehow waits on
        // itself falls back to the busy handler instead of hanging.
        let turn = match &self.write_turn {
            Some(t) => tokio::time::timeout(WRITE_TURN_WAIT, t.clone().lock_owned())
                .await
                .ok(),
            None => None,
        };
        Ok(StoreTx::new(
            self.pool.begin_with(statement).await?,
            self.backend,
            turn,
        ))
    }

    /// Run `work` in a write transaction and commit it. On SQLite, writes
    /// that arrive together share one transaction (group commit, see
    /// `group`), each in a savepoint of its own: `work` must not commit.
    /// On PostgreSQL, which runs writers concurrently, each has its own.
    pub async fn write_grouped<F, T, E>(&self, work: F) -> Result<T, E>
    where
        F: for<'t> FnOnce(&'t mut StoreTx) -> futures_util::future::BoxFuture<'t, Result<T, E>>
            + Send
            + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        if let Some(writer) = &self.writer {
            return writer.write(work).await;
        }
        let mut tx = self.write().await?;
        let value = work(&mut tx).await?;
        tx.commit().await?;
        Ok(value)
    }

    /// How SQLite's grouped writes went so far (`None` on PostgreSQL).
    pub fn write_groups(&self) -> Option<GroupCounts> {
        self.writer.as_ref().map(group::Writer::counts)
    }

    /// Open a transaction for reading (a consistent snapshot).
    pub async fn read(&self) -> Result<StoreTx, StoreError> {
        Ok(StoreTx::new(self.pool.begin().await?, self.backend, None))
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.worker_pool.close().await;
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
    }
}

/// The longest a SQLite writer queues for its turn in this process (as
/// long as SQLite's busy timeout).
const WRITE_TURN_WAIT: Duration = Duration::from_secs(10);

/// Connections of the SCIM side's pool.
const POOL_SIZE: Sizes = Sizes {
    sqlite: 4,
    postgres: 10,
};

/// Connections of the sync worker's own pool: its claim loop, its tasks'
/// short transactions (never held across a Snyk call), reconciliation.
const WORKER_POOL_SIZE: Sizes = Sizes {
    sqlite: 2,
    postgres: 4,
};

/// The grouped writer's connection (SQLite only).
const WRITER_POOL_SIZE: Sizes = Sizes {
    sqlite: 1,
    postgres: 0,
};

struct Sizes {
    sqlite: u32,
    postgres: u32,
}

fn pool_options(backend: Backend, size: Sizes) -> AnyPoolOptions {
    let options = AnyPoolOptions::new()
        .max_connections(match backend {
            Backend::Sqlite => size.sqlite,
            Backend::Postgres => size.postgres,
        })
        .acquire_timeout(Duration::from_secs(10));
    match backend {
        Backend::Sqlite => options.after_connect(|conn, _meta| {
            Box::pin(async move {
                use sqlx::Executor;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                // FULL: a commit is on disk (the WAL fsynced) before the IdP
                // hears 201, so a power loss loses no SCIM change. With group
                // commit that is one fsync per group: 2,099-2,248 creates/s
                // against 2,215-2,309 with NORMAL (docs/benchmarks.md).
                conn.execute("PRAGMA synchronous = FULL").await?;
                conn.execute("PRAGMA mmap_size = 268435456").await?;
                Ok(())
            })
        }),
        Backend::Postgres => options,
    }
}

/// The file of a `sqlite://PATH[?options]` URL (`None` in memory).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::PathBuf::from(path))
}

/// `sqlite://PATH` with the file created if missing.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// One database transaction. Dropped without [`StoreTx::commit`], it rolls back.
pub struct StoreTx {
    tx: Transaction<'static, Any>,
    backend: Backend,
    /// Audit events recorded in this transaction, written together just
    /// before it commits (one statement for a whole group of writes).
    audit: Vec<AuditEvent>,
    /// The earliest due time of the outbox targets queued (or queued
    /// again) in this transaction since [`StoreTx::take_queued_due`].
    queued_due: Option<i64>,
    /// SQLite: this writer's turn, given up after the commit or rollback
    /// (fields drop in order: the transaction first).
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl StoreTx {
    fn new(
        tx: Transaction<'static, Any>,
        backend: Backend,
        turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Self {
        Self {
            tx,
            backend,
            audit: Vec::new(),
            queued_due: None,
            _turn: turn,
        }
    }

    /// The earliest due time of the outbox targets queued since the last
    /// call, and forget it: when the sync engine's bell is to be rung for
    /// (a write that queued nothing has nothing to wake it for).
    pub fn take_queued_due(&mut self) -> Option<i64> {
        self.queued_due.take()
    }

    /// Write what is still pending (the audit events), then commit.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.flush_audit().await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// Map a unique-constraint violation to [`StoreError::Conflict`].
fn conflict_or(e: sqlx::Error, what: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_the_file() {
        assert_eq!(
            sqlite_url("sqlite://bridge.db"),
            "sqlite://bridge.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url("sqlite://b.db?cache=shared"),
            "sqlite://b.db?cache=shared&mode=rwc"
        );
        assert_eq!(sqlite_url("sqlite::memory:"), "sqlite::memory:");
    }
}
