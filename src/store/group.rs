//! Group commit of SQLite writes: concurrent SCIM writes share one write
//! transaction.
//!
//! SQLite runs one writer at a time, so concurrent SCIM writes queue anyway.
//! Instead of each opening, committing and handing over the write lock (and,
//! on another pooled connection, re-reading pages whose cache the other
//! connections' writes made stale), they are sent to one task, the writer,
//! which owns a connection of its own. It takes the writes waiting in its
//! queue (at most [`MAX_GROUP`]), runs each in a savepoint of one
//! `BEGIN IMMEDIATE` transaction and commits once; each caller hears its
//! answer only after that commit. A write that fails is rolled back to its
//! savepoint and answered at once: it never takes the others down with it.
//! If the commit itself fails, every write of the group is answered with
//! that failure (nothing of the group was stored).
//!
//! The writer never waits to fill a group: a lone write is committed at
//! once, so grouping costs no latency; groups form only when writes arrive
//! faster than one transaction runs.
//!
//! It must never hold the write transaction across anything but the
//! group's own statements (no network call, no sleep), and never answer a
//! caller before the transaction that holds its write has committed.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::{Backend, StoreError, StoreTx, WRITE_TURN_WAIT};

/// The most writes one transaction holds: a bound on how long the write
/// lock is held at a time (the sync worker's writers queue behind it).
pub const MAX_GROUP: usize = 64;

/// Writes waiting for the writer; a sender beyond that waits for room.
const QUEUE: usize = 1024;

/// One caller's write, its type erased so that one queue holds them all.
trait Job: Send {
    /// Run the write in the shared transaction; what is left is its outcome.
    fn run<'t>(self: Box<Self>, tx: &'t mut StoreTx) -> BoxFuture<'t, Box<dyn Outcome>>;
    /// The write never ran (the transaction could not be opened).
    fn fail(self: Box<Self>, e: StoreError);
}

/// A write that has run, waiting for the commit to be answered.
trait Outcome: Send {
    /// Whether its statements are to be kept (else rolled back).
    fn kept(&self) -> bool;
    /// Answer the caller: `commit` is how the group's commit went.
    fn answer(self: Box<Self>, commit: Result<(), StoreError>);
}

struct Typed<F, T, E> {
    work: F,
    reply: oneshot::Sender<Result<T, E>>,
    /// The caller's span (its request id): what the write logs carries it.
    span: tracing::Span,
}

struct Ran<T, E> {
    result: Result<T, E>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for Typed<F, T, E>
where
    F: for<'t> FnOnce(&'t mut StoreTx) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn run<'t>(self: Box<Self>, tx: &'t mut StoreTx) -> BoxFuture<'t, Box<dyn Outcome>> {
        let Typed { work, reply, span } = *self;
        Box::pin(async move {
            // A panic in one write must not stop the writer: it counts as a
            // failed write (rolled back), its caller hears an error.
            let result = match AssertUnwindSafe(work(tx).instrument(span))
                .catch_unwind()
                .await
            {
                Ok(result) => result,
                Err(_) => {
                    tracing::error!("a grouped write panicked; it was rolled back");
                    Err(E::from(StoreError::Unavailable(
                        "a write failed unexpectedly".into(),
                    )))
                }
            };
            Box::new(Ran { result, reply }) as Box<dyn Outcome>
        })
    }

    fn fail(self: Box<Self>, e: StoreError) {
        let _ = self.reply.send(Err(E::from(e)));
    }
}

impl<T: Send, E: From<StoreError> + Send> Outcome for Ran<T, E> {
    fn kept(&self) -> bool {
        self.result.is_ok()
    }

    fn answer(self: Box<Self>, commit: Result<(), StoreError>) {
        let answer = match (self.result, commit) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(e)) => Err(E::from(e)),
            (Err(e), _) => Err(e),
        };
        // The caller may have gone (its client hung up): nothing to tell.
        let _ = self.reply.send(answer);
    }
}

/// The sending end of the writer's queue (cheap to clone).
#[derive(Clone, Debug)]
pub(super) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
    pool: AnyPool,
    counts: Arc<Counts>,
}

/// How many transactions the writer committed, and how many writes they held.
#[derive(Debug, Default)]
struct Counts {
    groups: AtomicU64,
    writes: AtomicU64,
}

/// How the grouped writes went so far (for tests and benchmarks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCounts {
    /// Transactions committed.
    pub groups: u64,
    /// Writes those transactions held (failed writes not counted).
    pub writes: u64,
}

impl Writer {
    /// Start the writer task on `pool` (a pool of one connection, so its
    /// page cache stays warm); `turn`: the in-process queue of SQLite
    /// writers that the worker's writes take too.
    pub(super) fn start(pool: AnyPool, turn: Arc<tokio::sync::Mutex<()>>) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let counts = Arc::new(Counts::default());
        tokio::spawn(run_writer(pool.clone(), turn, jobs, counts.clone()));
        Self {
            queue,
            pool,
            counts,
        }
    }

    pub(super) fn counts(&self) -> GroupCounts {
        GroupCounts {
            groups: self.counts.groups.load(Ordering::Relaxed),
            writes: self.counts.writes.load(Ordering::Relaxed),
        }
    }

    /// Close the writer's connection (at shutdown; writes still queued then
    /// fail and store nothing).
    pub(super) async fn close(&self) {
        self.pool.close().await;
    }

    pub(super) async fn write<F, T, E>(&self, work: F) -> Result<T, E>
    where
        F: for<'t> FnOnce(&'t mut StoreTx) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Typed {
            work,
            reply,
            span: tracing::Span::current(),
        });
        if self.queue.send(job).await.is_err() {
            return Err(E::from(writer_gone()));
        }
        answer.await.unwrap_or_else(|_| Err(E::from(writer_gone())))
    }
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("the database writer has stopped".into())
}

async fn run_writer(
    pool: AnyPool,
    turn: Arc<tokio::sync::Mutex<()>>,
    mut jobs: mpsc::Receiver<Box<dyn Job>>,
    counts: Arc<Counts>,
) {
    // A write taken from the queue for a group that then broke before it
    // ran: it starts the next group instead (it never ran, so nothing of it
    // is lost).
    let mut carried: Option<Box<dyn Job>> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => break,
            },
        };
        let _turn = tokio::time::timeout(WRITE_TURN_WAIT, turn.clone().lock_owned())
            .await
            .ok();
        let mut tx = match pool.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => StoreTx::new(tx, Backend::Sqlite, None),
            Err(e) => {
                tracing::error!(error = %e, "the database writer could not open a transaction");
                first.fail(StoreError::Database(e));
                continue;
            }
        };
        let mut done: Vec<Box<dyn Outcome>> = Vec::new();
        let mut broken = None;
        let mut next = match tx.savepoint().await {
            Ok(()) => Some(first),
            Err(e) => {
                first.fail(StoreError::Unavailable(e.to_string()));
                broken = Some(e);
                None
            }
        };
        while let Some(job) = next.take() {
            let mark = tx.audit_mark();
            let outcome = job.run(&mut tx).await;
            let kept = outcome.kept();
            if !kept {
                tx.audit_rollback(mark);
            }
            if done.len() + usize::from(kept) < MAX_GROUP {
                next = jobs.try_recv().ok();
            }
            // This write's savepoint ends, and the next one's opens, in one
            // round trip to the connection's thread.
            let ended = tx.end_savepoint(kept, next.is_some()).await;
            match ended {
                Ok(()) if kept => done.push(outcome),
                // A failed write is answered now: the commit cannot change it.
                Ok(()) => outcome.answer(Ok(())),
                Err(e) => {
                    if kept {
                        done.push(outcome);
                    } else {
                        outcome.answer(Ok(()));
                    }
                    carried = next.take();
                    broken = Some(e);
                    break;
                }
            }
        }
        let commit = match broken {
            // Dropping the transaction rolls the whole group back.
            Some(e) => {
                tracing::error!(error = %e, "a grouped write transaction broke; rolled back");
                drop(tx);
                Err(e)
            }
            // Every write of the group failed: nothing to keep.
            None if done.is_empty() => {
                drop(tx);
                Ok(())
            }
            None => tx.commit().await,
        };
        drop(_turn);
        match commit {
            Ok(()) if done.is_empty() => {}
            Ok(()) => {
                counts.groups.fetch_add(1, Ordering::Relaxed);
                counts
                    .writes
                    .fetch_add(done.len() as u64, Ordering::Relaxed);
                done.into_iter().for_each(|o| o.answer(Ok(())));
            }
            Err(e) => {
                let why = e.to_string();
                for o in done {
                    o.answer(Err(StoreError::Unavailable(why.clone())));
                }
            }
        }
    }
}

impl StoreTx {
    async fn savepoint(&mut self) -> Result<(), StoreError> {
        sqlx::query("SAVEPOINT grouped_write")
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// End the current write's savepoint: released if the write is `kept`,
    /// else rolled back to; with `again`, the next write's savepoint is
    /// opened in the same call.
    async fn end_savepoint(&mut self, kept: bool, again: bool) -> Result<(), StoreError> {
        let sql = match (kept, again) {
            (true, true) => "RELEASE SAVEPOINT grouped_write; SAVEPOINT grouped_write",
            (true, false) => "RELEASE SAVEPOINT grouped_write",
            (false, true) => {
                "ROLLBACK TO SAVEPOINT grouped_write; RELEASE SAVEPOINT grouped_write; \
                 SAVEPOINT grouped_write"
            }
            (false, false) => {
                "ROLLBACK TO SAVEPOINT grouped_write; RELEASE SAVEPOINT grouped_write"
            }
        };
        sqlx::query(sql).execute(&mut *self.tx).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
