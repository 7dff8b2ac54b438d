//! The worker loop: claim due targets in batches with a lease, run them as
//! tasks (the pacer bounds the Snyk calls in flight), keep their leases alive,
//! reconcile and purge on schedule, lead (or stand by), and stop cleanly.
//!
//! The outbox rules it keeps (see docs/ARCHITECTURE.md, "The outbox"):
//! - a claim is a lease held by this engine's owner name; while the worker
//!   lives it renews every lease it holds, so a lease only lapses when its
//!   holder is dead or frozen;
//! - one (user, org) is processed by at most one task of this worker at a
//!   time. A claim of a target that a task of this worker is still running
//!   (the task has just committed its end and a change re-queued it, or its
//!   lease lapsed in a freeze) is *parked*, lease held, and run as soon as
//!   that task ends: a re-queued target never waits for its lease to lapse;
//! - claims go in batches (one transaction claims up to a batch of due
//!   targets: `claim_room`), each batch taken from both ends of the queue,
//!   half the longest-waiting and half the newest due targets, so new work
//!   is never stuck behind a backlog and the backlog still drains. Right
//!   after a claim the targets with nothing to do are finished together
//!   (`settle`); while whole batches are such no-op work, the batches
//!   grow past the free slots (`next_scale`), and claimed work beyond the
//!   free slots *waits*, lease held, for a slot;
//! - it runs up to [`MAX_TASKS`] targets at once (or `max_concurrent_requests`,
//!   if more): most targets need no Snyk call, and those that do wait for
//!   the pacer, which alone bounds the calls in flight;
//! - on shutdown it stops claiming at once, gives calls in flight
//!   `shutdown_grace` to end, then gives back every lease it holds.
//!
//! It never holds a database transaction across a Snyk call.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::SyncError;
use super::engine::{DrainReport, Engine};
use super::settle::{Loaded, Settled};
use crate::store::{Finish, StoreError, TargetRow};

type Key = (String, String);
/// What a task returns: its target and how it ended.
type TaskEnd = (Key, Result<Finish, StoreError>);
/// A task as `JoinSet::join_next_with_id` hands it back.
type Joined = Result<(tokio::task::Id, TaskEnd), tokio::task::JoinError>;

fn key(t: &TargetRow) -> Key {
    (t.user_id.clone(), t.org_id.clone())
}

/// The most targets one worker runs at once (unless `max_concurrent_requests`
/// is higher). A target with nothing to send is done in a few short
/// transactions; one with a call waits for the pacer.
pub const MAX_TASKS: usize = 32;

/// The most batches one `fill` claims before the loop looks at its tasks,
/// leases and timers again.
const FILL_BATCHES: usize = 4;

/// How far a claim may reach past the free task slots (a multiple of them)
/// while the claimed targets all turn out to need nothing: those are
/// finished right after the claim and take no slot, and a larger batch
/// costs the database fewer round trips per target.
const MAX_SCALE: usize = 8;

/// The next claim's multiple of the free slots: doubled (up to
/// [`MAX_SCALE`]) after a batch whose `claimed` targets were all `finished`
/// in its transaction, back to 1 after one with work (or with nothing due).
fn next_scale(scale: usize, claimed: usize, finished: usize) -> usize {
    if claimed > 0 && finished == claimed {
        (scale.max(1) * 2).min(MAX_SCALE)
    } else {
        1
    }
}

/// How many targets to claim now, given the task `limit` and the tasks
/// `running`: none while fewer than a quarter of the slots are free (claims
/// go in batches; a worker with no task always claims), else every free slot.
fn claim_room(limit: usize, running: usize) -> usize {
    let room = limit.saturating_sub(running);
    if running > 0 && room < limit.div_ceil(4) {
        0
    } else {
        room
    }
}

/// A batch of `room` claims as (longest waiting, newest due): half from each
/// end of the queue, the odd one alternating (`newest_next`).
fn claim_split(room: usize, newest_next: bool) -> (usize, usize) {
    let (half, odd) = (room / 2, room % 2);
    if newest_next {
        (half, half + odd)
    } else {
        (half + odd, half)
    }
}

/// The targets this worker is running.
#[derive(Default)]
struct Pool {
    running: JoinSet<TaskEnd>,
    /// Which target each task works on (to clean up after a task that failed).
    tasks: HashMap<tokio::task::Id, Key>,
    in_flight: HashSet<Key>,
    /// Claimed while the same target was still running here; run next.
    parked: HashMap<Key, TargetRow>,
    /// Claimed beyond the free slots (a scaled batch): run as slots free up,
    /// planned from a read of their own (what the batch read for them may
    /// be old by then).
    waiting: VecDeque<TargetRow>,
    /// The keys of `waiting`.
    waiting_keys: HashSet<Key>,
    /// The current claim's multiple of the free slots (`next_scale`).
    scale: usize,
    newest_next: bool,
    /// Targets finished in a batch with nothing to do (`settle`), not yet
    /// counted in a report.
    settled: usize,
}

impl Pool {
    fn is_idle(&self) -> bool {
        self.running.is_empty() && self.waiting.is_empty()
    }

    /// Tasks running or waiting for a slot.
    fn busy(&self) -> usize {
        self.running.len() + self.waiting.len()
    }
}

impl Engine {
    /// Claim one due target and process it. `None`: nothing was due.
    pub async fn step(&self) -> Result<Option<Finish>, StoreError> {
        let Some(t) = self.claim(false).await? else {
            return Ok(None);
        };
        self.process_traced(&t, None).await.map(Some)
    }

    async fn claim(&self, newest_first: bool) -> Result<Option<TargetRow>, StoreError> {
        let mut tx = self.store.write().await?;
        let t = tx
            .claim_target(&self.owner, self.now(), self.lease_ms(), newest_first)
            .await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Claim up to `oldest` of the longest-waiting and `newest` of the most
    /// recently due targets, in one transaction.
    async fn claim_batch(
        &self,
        oldest: usize,
        newest: usize,
    ) -> Result<Vec<TargetRow>, StoreError> {
        let (now, lease) = (self.now(), self.lease_ms());
        let mut tx = self.store.write().await?;
        let mut claimed = tx
            .claim_targets(&self.owner, now, lease, newest, true)
            .await?;
        claimed.extend(
            tx.claim_targets(&self.owner, now, lease, oldest, false)
                .await?,
        );
        tx.commit().await?;
        Ok(claimed)
    }

    /// Settle a claimed batch (`settle`); on a database error every target
    /// runs as a task instead (nothing was finished).
    async fn settle_logged(&self, free: Vec<TargetRow>) -> Settled {
        match self.settle(free.clone()).await {
            Ok(s) => {
                for (user, org) in &s.lost {
                    tracing::warn!(%user, %org, "the lease was lost before the target finished: another sender's outcome stands");
                }
                if s.finished > 0 {
                    tracing::debug!(
                        targets = s.finished,
                        "finished a batch of targets with nothing to do"
                    );
                }
                s
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not look at a claimed batch; its targets run one by one");
                Settled {
                    rest: free.into_iter().map(|t| (t, None)).collect(),
                    finished: 0,
                    lost: Vec::new(),
                }
            }
        }
    }

    /// How many targets this worker runs at once.
    fn task_limit(&self) -> usize {
        self.settings.max_concurrent.max(MAX_TASKS)
    }

    /// Run `t` as a task; `loaded`: what the batch read for it.
    fn spawn(&self, pool: &mut Pool, t: TargetRow, loaded: Option<Loaded>) {
        let k = key(&t);
        pool.in_flight.insert(k.clone());
        let me = self.clone();
        let task_key = k.clone();
        let handle = pool
            .running
            .spawn(async move { (task_key, me.process_traced(&t, loaded).await) });
        pool.tasks.insert(handle.id(), k);
    }

    /// Claim while there is room and work is due, a batch per transaction,
    /// at most [`FILL_BATCHES`] batches (then the loop looks at its tasks and
    /// timers again). Claimed targets with nothing to do are finished at once
    /// (`settle`); the others run as tasks. `true`: something was claimed.
    async fn fill(&self, pool: &mut Pool) -> Result<bool, StoreError> {
        let mut claimed_any = false;
        for _ in 0..FILL_BATCHES {
            self.run_waiting(pool);
            let room = claim_room(self.task_limit(), pool.busy());
            if room == 0 {
                break;
            }
            pool.newest_next = !pool.newest_next;
            let (oldest, newest) = claim_split(room * pool.scale.max(1), pool.newest_next);
            let claimed = self.claim_batch(oldest, newest).await?;
            let count = claimed.len();
            let short = count < oldest + newest;
            claimed_any |= count > 0;
            // A target this worker still runs or holds waiting (claimed
            // again after its lease lapsed in a freeze) is never settled
            // beside that claim: it is parked or its waiting entry renewed.
            let (busy, free): (Vec<_>, Vec<_>) = claimed.into_iter().partition(|t| {
                let k = key(t);
                pool.in_flight.contains(&k) || pool.waiting_keys.contains(&k)
            });
            for t in busy {
                self.admit(pool, t, None);
            }
            let settled = self.settle_logged(free).await;
            let finished = settled.finished + settled.lost.len();
            pool.scale = next_scale(pool.scale, count, finished);
            pool.settled += finished;
            // Those with a free slot start now, planning from the batch's
            // read; the others wait and read again when they start.
            for (t, loaded) in settled.rest {
                if pool.running.len() < self.task_limit() {
                    self.admit(pool, t, loaded);
                } else {
                    pool.waiting_keys.insert(key(&t));
                    pool.waiting.push_back(t);
                }
            }
            if short {
                break;
            }
        }
        self.run_waiting(pool);
        Ok(claimed_any)
    }

    /// Start waiting targets while there are free slots.
    fn run_waiting(&self, pool: &mut Pool) {
        while pool.running.len() < self.task_limit() {
            let Some(t) = pool.waiting.pop_front() else {
                break;
            };
            pool.waiting_keys.remove(&key(&t));
            self.admit(pool, t, None);
        }
    }

    /// Run `t` now, park it behind the task that runs its key (what was
    /// read for it is then dropped: that task may change it), or, when it
    /// is waiting already, renew its waiting entry with this claim.
    fn admit(&self, pool: &mut Pool, t: TargetRow, loaded: Option<Loaded>) {
        let k = key(&t);
        if pool.in_flight.contains(&k) {
            pool.parked.insert(k, t);
        } else if pool.waiting_keys.contains(&k) {
            if let Some(w) = pool.waiting.iter_mut().find(|w| key(w) == k) {
                *w = t;
            }
        } else {
            self.spawn(pool, t, loaded);
        }
    }

    /// A task ended: run its parked successor, if any. A task that failed
    /// with a database error gives its lease back (due again shortly); one
    /// that failed inside the bridge (a panic) leaves its target failed with
    /// the reason. Either way this worker forgets the target first, so a
    /// failing write never leaves it held by nobody.
    async fn joined(
        &self,
        pool: &mut Pool,
        done: Joined,
        run_parked: bool,
    ) -> Result<Finish, SyncError> {
        let (k, finish, failed_task) = match done {
            Ok((id, (k, finish))) => {
                pool.tasks.remove(&id);
                (k, finish.map_err(SyncError::from), None)
            }
            Err(e) => {
                let Some(k) = pool.tasks.remove(&e.id()) else {
                    return Err(SyncError::Task {
                        user_id: "?".into(),
                        org_id: "?".into(),
                        message: e.to_string(),
                    });
                };
                tracing::error!(user = %k.0, org = %k.1, error = %e, "a sync task failed");
                let err = SyncError::Task {
                    user_id: k.0.clone(),
                    org_id: k.1.clone(),
                    message: e.to_string(),
                };
                (k, Err(err), Some(e.is_panic()))
            }
        };
        pool.in_flight.remove(&k);
        let parked = pool.parked.remove(&k);
        match (&finish, failed_task) {
            (Ok(_), _) => {}
            (Err(_), Some(panicked)) => {
                let message = if panicked {
                    "the bridge failed while working on this target (a bug; see the log)"
                } else {
                    "the work on this target was cancelled"
                };
                let write = async {
                    let mut tx = self.store.write().await?;
                    tx.fail_held_target(&k.0, &k.1, &self.owner, message, self.now())
                        .await?;
                    tx.commit().await
                };
                if let Err(e) = write.await {
                    tracing::error!(error = %e, "could not mark the failed target");
                }
            }
            (Err(e), None) => {
                tracing::warn!(user = %k.0, org = %k.1, error = %e, "a sync task could not finish its target; it is due again shortly");
                let at = self.now() + 5_000;
                let write = async {
                    let mut tx = self.store.write().await?;
                    tx.release_lease(&k.0, &k.1, &self.owner, at).await?;
                    tx.commit().await
                };
                if let Err(e) = write.await {
                    tracing::error!(error = %e, "could not give the lease back");
                }
            }
        }
        if let Some(next) = parked
            && run_parked
        {
            self.spawn(pool, next, None);
        }
        finish
    }

    async fn renew_leases(&self) -> Result<(), StoreError> {
        let mut tx = self.store.write().await?;
        tx.renew_leases(&self.owner, self.now() + self.lease_ms())
            .await?;
        tx.commit().await
    }

    fn renew_every(&self) -> Duration {
        (self.settings.lease / 3).max(Duration::from_millis(100))
    }

    /// Process due work until none is left (work deferred into the future
    /// stays queued), up to [`Self::task_limit`] targets at a time.
    pub async fn drain(
        &self,
        mut on_progress: impl FnMut(&DrainReport),
    ) -> Result<DrainReport, SyncError> {
        let mut report = DrainReport::default();
        let mut pool = Pool::default();
        let mut renew = tokio::time::interval(self.renew_every());
        renew.tick().await;
        loop {
            let claimed = self.fill(&mut pool).await?;
            if pool.settled > 0 {
                report.processed += std::mem::take(&mut pool.settled);
                on_progress(&report);
            }
            if pool.is_idle() {
                if claimed {
                    continue;
                }
                break;
            }
            tokio::select! {
                Some(done) = pool.running.join_next_with_id() => {
                    match self.joined(&mut pool, done, true).await {
                        Ok(finish) => count(&mut report, &finish),
                        Err(e) => {
                            tracing::error!(error = %e, "a target could not be processed");
                            report.processed += 1;
                            report.failed += 1;
                        }
                    }
                    on_progress(&report);
                }
                _ = renew.tick() => self.renew_leases().await?,
            }
        }
        Ok(report)
    }

    /// When to look for work next: the next due target, at most `poll` away.
    async fn next_wake(&self) -> Instant {
        let poll = Instant::now() + self.settings.poll;
        let Ok(mut tx) = self.store.read().await else {
            return poll;
        };
        let due = tx.next_due(self.now()).await.ok().flatten();
        let _ = tx.commit().await;
        match due {
            Some(at) => poll.min(self.instant_at(at)),
            None => poll,
        }
    }

    /// The instant at which the engine's clock reads `at` (ms).
    fn instant_at(&self, at: i64) -> Instant {
        let wait = u64::try_from(at.saturating_sub(self.now()).max(0)).unwrap_or(0);
        Instant::now() + Duration::from_millis(wait)
    }

    /// Run until `stop` is cancelled: lead (or wait to lead), work, and stop
    /// cleanly (see the module doc).
    pub async fn run(self, stop: CancellationToken) {
        self.worker.running.store(true, Ordering::Relaxed);
        while !stop.is_cancelled() {
            self.beat(false);
            match self.store.try_lead().await {
                Ok(Some(lock)) => {
                    tracing::info!(owner = %self.owner, "this process now sends to Snyk");
                    self.take_over().await;
                    self.lead(lock, &stop).await;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not try the leader lock"),
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(self.settings.leader_retry) => {}
            }
        }
        tracing::info!("the sync worker stops");
        self.worker.running.store(false, Ordering::Relaxed);
        self.worker.leader.store(false, Ordering::Relaxed);
    }

    fn beat(&self, leader: bool) {
        self.worker.leader.store(leader, Ordering::Relaxed);
        self.worker
            .last_loop_ms
            .store(self.now().max(1), Ordering::Relaxed);
    }

    /// A new sender (`serve`'s worker, or `sync`, once it holds the leader
    /// lock): every lease left belongs to a dead one.
    pub async fn take_over(&self) {
        self.resume_pace().await;
        let reset = async {
            let mut tx = self.store.write().await?;
            let n = tx.reset_leases().await?;
            tx.commit().await?;
            Ok::<_, StoreError>(n)
        };
        match reset.await {
            Ok(n) if n > 0 => tracing::info!(leases = n, "took over leases of a stopped sender"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not clear old leases"),
        }
    }

    /// Work as the leader until `stop`, or until the lock is lost.
    async fn lead(&self, mut lock: crate::store::LeaderLock, stop: &CancellationToken) {
        let mut pool = Pool::default();
        let started = Instant::now();
        let mut next_reconcile = started + self.settings.reconcile_start;
        let mut next_purge = started + Duration::from_secs(10);
        let mut next_renew = started + self.renew_every();
        let mut next_lock_check = started + self.settings.leader_retry;
        let mut reconciling: Option<tokio::task::JoinHandle<()>> = None;
        // The token's expiry: at once, then daily; blocked call kinds: stored
        // (and a predecessor's cleared) now, then whenever they change.
        let mut next_token_check = started;
        let mut token_checking: Option<tokio::task::JoinHandle<()>> = None;
        let mut alerts_seen = None;
        loop {
            self.beat(true);
            self.persist_alerts(&mut alerts_seen).await;
            if stop.is_cancelled() {
                break;
            }
            if let Err(e) = self.fill(&mut pool).await {
                tracing::error!(error = %e, "the sync worker could not use the database");
            }
            pool.settled = 0;
            let now = Instant::now();
            if now >= next_reconcile && reconciling.as_ref().is_none_or(|h| h.is_finished()) {
                let me = self.clone();
                reconciling = Some(tokio::spawn(async move { me.reconcile_logged().await }));
                next_reconcile = now + self.settings.reconcile_interval;
            }
            if now >= next_token_check && token_checking.as_ref().is_none_or(|h| h.is_finished()) {
                let me = self.clone();
                token_checking = Some(tokio::spawn(async move { me.check_token_logged().await }));
                next_token_check = now + self.settings.token_check_interval;
            }
            if now >= next_purge {
                self.purge_logged().await;
                next_purge = now + self.settings.purge_interval;
            }
            if now >= next_renew {
                if let Err(e) = self.renew_leases().await {
                    tracing::warn!(error = %e, "could not renew the leases");
                }
                next_renew = now + self.renew_every();
            }
            if now >= next_lock_check {
                next_lock_check = now + self.settings.leader_retry;
                if !lock.alive().await {
                    tracing::warn!("lost the leader lock's connection; stepping down");
                    break;
                }
            }
            // Room for a batch: fill claimed all that was due, so wake on
            // the bell or when the next target falls due.
            let room = claim_room(self.task_limit(), pool.busy()) > 0;
            let mut wake = if room {
                self.next_wake().await
            } else {
                Instant::now() + self.settings.poll
            }
            .min(next_renew)
            .min(next_reconcile)
            .min(next_lock_check);
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => {}
                    Some(done) = pool.running.join_next_with_id(), if !pool.running.is_empty() => {
                        if let Err(e) = self.joined(&mut pool, done, true).await {
                            tracing::error!(error = %e, "a sync task could not finish its target");
                        }
                    }
                    due = self.notify.rung(), if room => {
                        // Work due later (a SCIM write's settle time): sleep
                        // on until then, without a claim that finds nothing.
                        if let Some(due) = due.filter(|&d| d > self.now()) {
                            wake = wake.min(self.instant_at(due));
                            continue;
                        }
                    }
                    () = tokio::time::sleep_until(wake) => {}
                }
                break;
            }
        }
        for h in [reconciling, token_checking].into_iter().flatten() {
            h.abort();
        }
        self.stop_pool(pool, stop.is_cancelled()).await;
        self.worker.leader.store(false, Ordering::Relaxed);
    }

    /// Stop claiming; let calls in flight end within the grace, then give
    /// back every lease this worker holds. A sender that lost its lock stops
    /// its tasks at once: another sender may already be working on them.
    async fn stop_pool(&self, mut pool: Pool, shutting_down: bool) {
        if shutting_down {
            // Nothing waiting for a slot will be sent now.
            self.pacer.close();
        } else {
            pool.running.shutdown().await;
        }
        let deadline = Instant::now() + self.settings.shutdown_grace;
        loop {
            tokio::select! {
                done = pool.running.join_next_with_id() => match done {
                    Some(done) => {
                        if let Err(e) = self.joined(&mut pool, done, false).await {
                            tracing::warn!(error = %e, "a sync task ended with an error while stopping");
                        }
                    }
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(
                        tasks = pool.running.len(),
                        "calls still in flight at the shutdown deadline are cut off; their targets stay queued"
                    );
                    pool.running.shutdown().await;
                    break;
                }
            }
        }
        let released = async {
            let mut tx = self.store.write().await?;
            let n = tx.release_leases(&self.owner, self.now()).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(n)
        };
        match released.await {
            Ok(n) if n > 0 => {
                tracing::info!(leases = n, "gave back the leases of unfinished targets")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not give back the leases"),
        }
    }

    async fn reconcile_logged(&self) {
        match self.reconcile(false).await {
            Ok(rep) => tracing::info!(
                adopted = rep.adopted,
                vanished = rep.vanished,
                drift = rep.drift,
                unlocated = rep.unlocated,
                errors = rep.errors.len(),
                "reconciled with Snyk"
            ),
            Err(e) => tracing::error!(error = %e, "reconciliation failed"),
        }
    }

    async fn purge_logged(&self) {
        match self.purge_audit().await {
            Ok(p) if p != crate::store::Purged::default() => tracing::info!(
                audit_events = p.audit_events,
                audit_queued = p.audit_queued,
                snyk_calls = p.snyk_calls,
                "purged audit rows past audit_retention_days"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the audit retention purge failed"),
        }
    }
}

fn count(report: &mut DrainReport, finish: &Finish) {
    report.processed += 1;
    match finish {
        Finish::Done | Finish::Held { .. } => {}
        Finish::Failed { .. } | Finish::Dead { .. } => report.failed += 1,
        Finish::Retry { .. } | Finish::Defer { .. } => report.deferred += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_SCALE, claim_room, claim_split, next_scale};

    #[test]
    fn batches_grow_only_while_they_are_all_no_op_work() {
        // (scale, claimed, finished in the claim) -> next scale
        let cases = [
            (1, 32, 32, 2),           // all finished: double
            (4, 128, 128, MAX_SCALE), // up to the cap
            (MAX_SCALE, 256, 256, MAX_SCALE),
            (0, 10, 10, 2),           // an unset scale counts as 1
            (MAX_SCALE, 256, 255, 1), // one target with work: back to 1
            (4, 0, 0, 1),             // nothing was due
        ];
        for (scale, claimed, finished, want) in cases {
            assert_eq!(
                next_scale(scale, claimed, finished),
                want,
                "scale {scale}, claimed {claimed}, finished {finished}"
            );
        }
    }

    #[test]
    fn a_worker_claims_in_batches_of_its_free_slots() {
        // (limit, running) -> targets claimed now
        let cases = [
            (32, 0, 32), // idle: a full batch
            (32, 24, 8), // a quarter free: claim them
            (32, 25, 0), // less than a quarter free: wait for more room
            (32, 31, 0), // one free slot: no claim of one target
            (32, 32, 0), // full
            (32, 40, 0), // more running than the limit (parked ones ran)
            (10, 7, 3),  // a quarter of 10 rounds up to 3
            (10, 8, 0),  //
            (1, 0, 1),   // a limit of one still claims
            (1, 1, 0),   //
        ];
        for (limit, running, want) in cases {
            assert_eq!(
                claim_room(limit, running),
                want,
                "limit {limit}, running {running}"
            );
        }
    }

    #[test]
    fn a_batch_takes_from_both_ends_and_the_odd_one_alternates() {
        // (room, newest_next) -> (longest waiting, newest due)
        let cases = [
            (32, false, (16, 16)),
            (32, true, (16, 16)),
            (7, false, (4, 3)),
            (7, true, (3, 4)),
            (1, false, (1, 0)),
            (1, true, (0, 1)),
            (0, true, (0, 0)),
        ];
        for (room, newest_next, want) in cases {
            assert_eq!(
                claim_split(room, newest_next),
                want,
                "room {room}, newest_next {newest_next}"
            );
        }
    }
}
