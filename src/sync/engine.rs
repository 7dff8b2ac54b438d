//! The worker side of the sync engine: claim, plan, call, record; plus
//! reconciliation against live Snyk state, `plan`, and `sync`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::mapping::{self, UserFacts};
use super::pacer::Pacer;
use super::planner::{self, Applied, SnykOp, member_role_name, role_from_member_name};
use super::retry;
use crate::clock::Clock;
use crate::config::{Config, Mapping};
use crate::domain::{Email, SnykOrgId, SnykRole};
use crate::scim::schema::ResourceKind;
use crate::snyk::{SnykClient, SnykError, Trace};
use crate::store::{AccessRow, CallRecord, Finish, Store, StoreError, TargetRow};

/// The engine's settings, from `[snyk]` and `[[mappings]]`.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub mappings: Vec<Mapping>,
    pub dry_run: bool,
    pub group_id: Option<String>,
    /// After this long failing, an operation goes to the dead-letter state.
    pub retry_max: Duration,
    pub lease: Duration,
    pub reconcile_interval: Duration,
    /// How often an idle worker looks for due work (besides being notified).
    pub poll: Duration,
    pub max_concurrent: usize,
    /// Log emails as written (else hashed; see `telemetry`).
    pub log_pii: bool,
    /// Audit rows and recorded calls older than this are purged.
    pub audit_retention: Duration,
}

impl EngineSettings {
    pub fn from_config(c: &Config) -> Self {
        Self {
            mappings: c.mappings.clone(),
            dry_run: c.snyk.dry_run,
            group_id: c.snyk.group_id.clone(),
            retry_max: Duration::from_secs(c.snyk.retry_max_secs),
            lease: Duration::from_secs(60),
            reconcile_interval: Duration::from_secs(c.snyk.reconcile_interval_secs),
            poll: Duration::from_millis(500),
            max_concurrent: usize::try_from(c.snyk.max_concurrent_requests.max(1)).unwrap_or(1),
            log_pii: c.log_pii,
            audit_retention: Duration::from_secs(u64::from(c.audit_retention_days) * 86_400),
        }
    }
}

/// What reconciliation did or would do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Pending provisions that turned into memberships (first login).
    pub adopted: usize,
    /// Access that disappeared from Snyk (removed by hand).
    pub vanished: usize,
    /// Managed members whose role differs from what the bridge applied.
    pub drift: usize,
    /// Orgs that could not be read.
    pub errors: Vec<String>,
}

/// What one pass over the due work did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainReport {
    pub processed: usize,
    pub failed: usize,
    pub deferred: usize,
}

/// What this process's worker is doing, for the status page.
#[derive(Debug, Default)]
pub struct WorkerStatus {
    running: AtomicBool,
    leader: AtomicBool,
    /// Unix ms of the last pass of the loop (0: never).
    last_loop_ms: AtomicI64,
}

impl WorkerStatus {
    /// Whether the worker loop runs in this process.
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Whether this process is the one that sends to Snyk.
    pub fn leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    pub fn last_loop_ms(&self) -> Option<i64> {
        match self.last_loop_ms.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }
}

/// Keys in `sync_meta` for the last reconciliation (any replica's).
pub const META_LAST_RECONCILE_AT: &str = "last_reconcile_at";
pub const META_LAST_RECONCILE_RESULT: &str = "last_reconcile_result";

/// One claimed target's work.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    client: SnykClient,
    pacer: Arc<Pacer>,
    clock: Arc<dyn Clock>,
    settings: Arc<EngineSettings>,
    owner: String,
    notify: Arc<Notify>,
    worker: Arc<WorkerStatus>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

fn role_key(r: &SnykRole) -> String {
    r.to_string()
}

fn parse_role_key(s: &str) -> SnykRole {
    match s.strip_prefix("custom:") {
        Some(id) => SnykRole::Custom(id.to_owned()),
        None => SnykRole::parse_builtin(s).unwrap_or_else(|_| SnykRole::Custom(s.to_owned())),
    }
}

/// Applied access from its stored row.
pub fn applied_of(row: &AccessRow) -> Option<Applied> {
    let email = Email::parse(&row.email).ok()?;
    let role = parse_role_key(&row.role);
    let uid = row.snyk_user_id.clone().unwrap_or_default();
    match row.state.as_str() {
        "pending" => Some(Applied::Pending { email, role }),
        "member" => Some(Applied::Member {
            snyk_user_id: uid,
            email,
            role,
        }),
        "external" => Some(Applied::External {
            snyk_user_id: uid,
            email,
            role,
        }),
        _ => None,
    }
}

fn access_row(user_id: &str, org: &str, applied: &Applied, now: i64) -> AccessRow {
    let (state, email, role, uid) = match applied {
        Applied::Pending { email, role } => ("pending", email, role, None),
        Applied::Member {
            snyk_user_id,
            email,
            role,
        } => ("member", email, role, Some(snyk_user_id.clone())),
        Applied::External {
            snyk_user_id,
            email,
            role,
        } => ("external", email, role, Some(snyk_user_id.clone())),
    };
    AccessRow {
        user_id: user_id.to_owned(),
        org_id: org.to_owned(),
        email: email.as_str().to_owned(),
        state: state.to_owned(),
        role: role_key(role),
        snyk_user_id: uid,
        updated_at: now,
    }
}

/// How a step ended, before it is written.
enum StepEnd {
    /// The op succeeded; this is the applied state now (None: nothing),
    /// and the record of the call that changed it: both are written in one
    /// transaction, so a crash never leaves a recorded success whose applied
    /// state is missing (which would send the call again after a restart).
    Applied(Option<Applied>, Option<Box<CallRecord>>),
    Finish(Finish),
}

impl Engine {
    pub fn new(store: Store, config: &Config, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let client = SnykClient::new(
            &config.snyk.api_url,
            config.snyk.token.clone(),
            Duration::from_secs(config.snyk.timeout_secs),
        )?;
        Ok(Self::with_parts(
            store,
            client,
            Arc::new(Pacer::new(
                config.snyk.requests_per_minute,
                config.snyk.max_concurrent_requests,
            )),
            clock,
            EngineSettings::from_config(config),
        ))
    }

    pub fn with_parts(
        store: Store,
        client: SnykClient,
        pacer: Arc<Pacer>,
        clock: Arc<dyn Clock>,
        settings: EngineSettings,
    ) -> Self {
        Self {
            store,
            client,
            pacer,
            clock,
            settings: Arc::new(settings),
            owner: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            notify: Arc::new(Notify::new()),
            worker: Arc::new(WorkerStatus::default()),
        }
    }

    /// This process's worker state (leader or not, last loop time).
    pub fn worker_status(&self) -> Arc<WorkerStatus> {
        self.worker.clone()
    }

    /// Free text for a log line: emails hashed unless `log_pii`.
    fn loggable(&self, text: &str) -> String {
        crate::telemetry::redact_emails(text, self.settings.log_pii).into_owned()
    }

    /// Delete audit rows and recorded calls past the retention period.
    pub async fn purge_audit(&self) -> Result<crate::store::Purged, StoreError> {
        let cutoff = self.now() - millis(self.settings.audit_retention);
        let mut tx = self.store.write().await?;
        let purged = tx.purge_audit(cutoff).await?;
        tx.commit().await?;
        crate::metrics::record_purge("audit_events", purged.audit_events);
        crate::metrics::record_purge("audit_queued", purged.audit_queued);
        crate::metrics::record_purge("snyk_calls", purged.snyk_calls);
        Ok(purged)
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Wakes the worker when the SCIM side has queued work.
    pub fn notifier(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.settings.lease.as_millis()).unwrap_or(60_000)
    }

    /// Claim one due target and process it. `None`: nothing was due.
    pub async fn step(&self) -> Result<Option<Finish>, StoreError> {
        let Some(t) = self.claim().await? else {
            return Ok(None);
        };
        self.process_traced(&t).await.map(Some)
    }

    async fn claim(&self) -> Result<Option<TargetRow>, StoreError> {
        let mut tx = self.store.write().await?;
        let t = tx
            .claim_target(&self.owner, self.now(), self.lease_ms())
            .await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Process due work until none is left (work deferred into the future
    /// stays queued), up to `max_concurrent` targets at a time.
    pub async fn drain(
        &self,
        mut on_progress: impl FnMut(&DrainReport),
    ) -> Result<DrainReport, StoreError> {
        let mut report = DrainReport::default();
        type Key = (String, String);
        let mut running: JoinSet<(Key, Result<Finish, StoreError>)> = JoinSet::new();
        // Targets this drain is working on. A task can outlive its lease (it
        // waited through a 429 pause or a Retry-After longer than the lease);
        // the claim query then hands the same target out again. Processing it
        // twice at once would send its call twice, so such a claim only
        // renews the lease, and the running task finishes the target.
        let mut in_flight: HashSet<Key> = HashSet::new();
        loop {
            while running.len() < self.settings.max_concurrent {
                match self.claim().await? {
                    Some(t) => {
                        let key = (t.user_id.clone(), t.org_id.clone());
                        if !in_flight.insert(key.clone()) {
                            continue;
                        }
                        let me = self.clone();
                        running.spawn(async move { (key, me.process_traced(&t).await) });
                    }
                    None => break,
                }
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            let (key, finish) =
                done.map_err(|e| StoreError::Corrupt(format!("a sync task panicked: {e}")))?;
            in_flight.remove(&key);
            let finish = finish?;
            report.processed += 1;
            match finish {
                Finish::Done => {}
                Finish::Failed { .. } | Finish::Dead { .. } => report.failed += 1,
                Finish::Retry { .. } | Finish::Defer { .. } => report.deferred += 1,
            }
            on_progress(&report);
        }
        Ok(report)
    }

    /// Run until `shutdown` resolves: lead (or wait to lead), drain due work
    /// when notified or every `poll`, and reconcile every interval.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut leader = None;
        let mut next_reconcile = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut next_purge = tokio::time::Instant::now() + Duration::from_secs(10);
        self.worker.running.store(true, Ordering::Relaxed);
        loop {
            self.worker
                .leader
                .store(leader.is_some(), Ordering::Relaxed);
            self.worker
                .last_loop_ms
                .store(self.now().max(1), Ordering::Relaxed);
            if leader.is_none() {
                match self.store.try_lead().await {
                    Ok(Some(lock)) => {
                        tracing::info!(owner = %self.owner, "this process now sends to Snyk");
                        if let Ok(mut tx) = self.store.write().await {
                            if let Ok(n) = tx.reset_leases().await {
                                if tx.commit().await.is_ok() && n > 0 {
                                    tracing::info!(
                                        leases = n,
                                        "took over leases of a stopped sender"
                                    );
                                }
                            }
                        }
                        leader = Some(lock);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "could not try the leader lock"),
                }
            }
            if let Some(lock) = leader.as_mut() {
                if !lock.alive().await {
                    tracing::warn!("lost the leader lock's connection; stepping down");
                    leader = None;
                    continue;
                }
                if let Err(e) = self.drain(|_| {}).await {
                    tracing::error!(error = %e, "the sync worker could not use the database");
                }
                if tokio::time::Instant::now() >= next_reconcile {
                    let r = self.reconcile(false).await;
                    match r {
                        Ok(rep) => tracing::info!(
                            adopted = rep.adopted,
                            vanished = rep.vanished,
                            drift = rep.drift,
                            errors = rep.errors.len(),
                            "reconciled with Snyk"
                        ),
                        Err(e) => tracing::error!(error = %e, "reconciliation failed"),
                    }
                    next_reconcile = tokio::time::Instant::now() + self.settings.reconcile_interval;
                }
                if tokio::time::Instant::now() >= next_purge {
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
                    next_purge = tokio::time::Instant::now() + Duration::from_secs(3600);
                }
            }
            let wait = if leader.is_some() {
                self.settings.poll
            } else {
                Duration::from_secs(2)
            };
            tokio::select! {
                () = &mut shutdown => {
                    tracing::info!("the sync worker stops");
                    self.worker.running.store(false, Ordering::Relaxed);
                    self.worker.leader.store(false, Ordering::Relaxed);
                    return;
                }
                () = self.notify.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Everything needed to plan one target, read in one snapshot.
    async fn load(
        &self,
        user_id: &str,
        org_id: &str,
    ) -> Result<(Option<UserFacts>, Option<AccessRow>), StoreError> {
        let mut tx = self.store.read().await?;
        let user = tx.get_resource(ResourceKind::User, user_id).await?;
        let facts = match user {
            Some(u) => {
                let groups = tx
                    .groups_of(user_id)
                    .await?
                    .into_iter()
                    .filter_map(|(_, name)| name)
                    .collect();
                Some(mapping::facts(&u.doc, groups))
            }
            None => None,
        };
        let access = tx.get_access(user_id, org_id).await?;
        tx.commit().await?;
        Ok((facts, access))
    }

    /// The calls one target needs now.
    async fn plan_target(
        &self,
        user_id: &str,
        org: &SnykOrgId,
    ) -> Result<(Vec<SnykOp>, Option<Applied>), StoreError> {
        let (facts, access) = self.load(user_id, org.as_str()).await?;
        let desired = mapping::desired(&self.settings.mappings, facts.as_ref());
        let applied = access.as_ref().and_then(applied_of);
        let email = facts.as_ref().and_then(|f| f.email.clone());
        Ok((
            planner::plan(org, desired.get(org), email.as_ref(), applied.as_ref()),
            applied,
        ))
    }

    /// [`Self::process`] inside a span naming the target, an operation id
    /// and the SCIM request that queued it: every log line of the work (and
    /// of the Snyk calls it makes) carries them.
    async fn process_traced(&self, t: &TargetRow) -> Result<Finish, StoreError> {
        use tracing::Instrument;
        let span = tracing::info_span!(
            "target",
            operation_id = %uuid::Uuid::new_v4(),
            user = %t.user_id,
            org = %t.org_id,
            scim_request_id = t.request_id.as_deref().unwrap_or("-"),
        );
        self.process(t).instrument(span).await
    }

    /// Bring one claimed target in line, one call at a time, recording each.
    pub async fn process(&self, t: &TargetRow) -> Result<Finish, StoreError> {
        let Ok(org) = SnykOrgId::parse(&t.org_id) else {
            let finish = Finish::Failed {
                error: format!("{:?} is not a Snyk org id", t.org_id),
                error_ref: None,
            };
            return self.finish(t, &finish).await.map(|()| finish);
        };
        // A pending role change is at most delete + provision; a few more
        // steps cover the existing-user path.
        for _ in 0..4 {
            let (ops, applied) = self.plan_target(&t.user_id, &org).await?;
            let Some(op) = ops.first() else {
                self.finish(t, &Finish::Done).await?;
                return Ok(Finish::Done);
            };
            if self.settings.dry_run {
                let mut tx = self.store.write().await?;
                for op in &ops {
                    tx.record_call(&self.call_record(
                        t,
                        op,
                        None,
                        &Trace::default(),
                        "dry_run",
                        None,
                    ))
                    .await?;
                    tracing::info!(user = %t.user_id, org = %t.org_id, call = %self.loggable(&op.to_string()), "dry run: not sent");
                }
                tx.finish_target(t, &Finish::Done, self.now()).await?;
                tx.commit().await?;
                return Ok(Finish::Done);
            }
            match self.execute(t, op, applied.as_ref()).await? {
                StepEnd::Applied(new_state, call) => {
                    let mut tx = self.store.write().await?;
                    if let Some(c) = &call {
                        tx.record_call(c).await?;
                    }
                    match &new_state {
                        Some(a) => {
                            tx.put_access(&access_row(&t.user_id, &t.org_id, a, self.now()))
                                .await?
                        }
                        None => tx.delete_access(&t.user_id, &t.org_id).await?,
                    }
                    tx.commit().await?;
                }
                StepEnd::Finish(f) => {
                    self.finish(t, &f).await?;
                    return Ok(f);
                }
            }
        }
        // Still not in line after several steps: look again soon.
        let f = Finish::Retry {
            at: self.now() + 1_000,
            error: "the target needed more steps than one pass allows".into(),
            error_ref: None,
        };
        self.finish(t, &f).await?;
        Ok(f)
    }

    async fn finish(&self, t: &TargetRow, f: &Finish) -> Result<(), StoreError> {
        let mut tx = self.store.write().await?;
        tx.finish_target(t, f, self.now()).await?;
        tx.commit().await
    }

    fn call_record(
        &self,
        t: &TargetRow,
        op: &SnykOp,
        status: Option<u16>,
        trace: &Trace,
        outcome: &str,
        message: Option<String>,
    ) -> CallRecord {
        let (method, path) = op.method_and_path();
        self.raw_record(
            Some(t),
            method,
            &path,
            op.body(),
            status,
            trace,
            outcome,
            message,
        )
    }

    #[expect(clippy::too_many_arguments, reason = "one flat record of a call")]
    fn raw_record(
        &self,
        t: Option<&TargetRow>,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        status: Option<u16>,
        trace: &Trace,
        outcome: &str,
        message: Option<String>,
    ) -> CallRecord {
        CallRecord {
            at: self.now(),
            user_id: t.map(|t| t.user_id.clone()),
            org_id: t.map(|t| t.org_id.clone()),
            method: method.to_owned(),
            path: path.to_owned(),
            body: body.map(|b| b.to_string()),
            dry_run: self.settings.dry_run,
            status: status.or(trace.status).map(i64::from),
            outcome: outcome.to_owned(),
            message,
            request_id: trace.request_id.clone(),
            error_ref: trace.error_ref.clone(),
            scim_request_id: t.and_then(|t| t.request_id.clone()),
        }
    }

    async fn record(&self, c: CallRecord) -> Result<(), StoreError> {
        let mut tx = self.store.write().await?;
        tx.record_call(&c).await?;
        tx.commit().await
    }

    /// Send one call through the pacer.
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (Result<serde_json::Value, SnykError>, Trace) {
        let _permit = self.pacer.acquire().await;
        self.client.call(method, path, body).await
    }

    /// Execute one planned op and decide what it means.
    async fn execute(
        &self,
        t: &TargetRow,
        op: &SnykOp,
        applied: Option<&Applied>,
    ) -> Result<StepEnd, StoreError> {
        let (method, path) = op.method_and_path();
        let (result, trace) = self.send(method, &path, op.body()).await;
        let result = match (&result, op) {
            // Already gone is as good as removed.
            (
                Err(SnykError::Permanent { status: 404, .. }),
                SnykOp::DeleteProvision { .. } | SnykOp::RemoveMember { .. },
            ) => Ok(serde_json::Value::Null),
            _ => result,
        };
        match result {
            Ok(_) => {
                let call = self.call_record(t, op, None, &trace, "ok", None);
                tracing::info!(user = %t.user_id, org = %t.org_id, call = %self.loggable(&op.to_string()), snyk_request_id = ?trace.request_id, "Snyk call succeeded");
                Ok(StepEnd::Applied(
                    next_applied(op, applied),
                    Some(Box::new(call)),
                ))
            }
            Err(SnykError::AlreadyExists { message, .. }) => {
                self.record(self.call_record(
                    t,
                    op,
                    None,
                    &trace,
                    "already_exists",
                    Some(message.clone()),
                ))
                .await?;
                tracing::info!(user = %t.user_id, org = %t.org_id, snyk_said = %self.loggable(&message), "Snyk says the user already exists");
                match op {
                    SnykOp::Provision { org, email, role } => {
                        self.existing_user(t, org, email, role, &message).await
                    }
                    _ => Ok(StepEnd::Finish(Finish::Failed {
                        error: message,
                        error_ref: trace.error_ref,
                    })),
                }
            }
            Err(e) => self
                .failure(t, Some(op), e, &trace)
                .await
                .map(StepEnd::Finish),
        }
    }

    /// Turn a failed call into how the target finishes (and record it).
    async fn failure(
        &self,
        t: &TargetRow,
        op: Option<&SnykOp>,
        e: SnykError,
        trace: &Trace,
    ) -> Result<Finish, StoreError> {
        let now = self.now();
        let (outcome, finish) = match &e {
            SnykError::RateLimited { retry_after } => {
                let pause = retry::rate_limit_pause(now, *retry_after);
                self.pacer.pause_for(pause);
                tracing::warn!(
                    pause_secs = pause.as_secs(),
                    "Snyk answered 429: pausing every call"
                );
                (
                    "rate_limited",
                    Finish::Defer {
                        at: now + millis(pause),
                    },
                )
            }
            SnykError::Unauthorized { .. } => {
                let pause = Duration::from_secs(300);
                self.pacer.pause_for(pause);
                tracing::error!(
                    "Snyk rejected the API token: pausing every call for 5 minutes; check snyk.token / SNYK_TOKEN"
                );
                (
                    "unauthorized",
                    Finish::Defer {
                        at: now + millis(pause),
                    },
                )
            }
            SnykError::Transient { message, .. } => {
                let first = t.first_failure_at.unwrap_or(now);
                if retry::is_dead(first, now, self.settings.retry_max) {
                    (
                        "dead",
                        Finish::Dead {
                            error: message.clone(),
                            error_ref: trace.error_ref.clone(),
                        },
                    )
                } else {
                    let attempt = u32::try_from(t.attempts.max(1)).unwrap_or(u32::MAX);
                    let delay = retry::next_delay(attempt, None, rand::random::<f64>());
                    (
                        "retry",
                        Finish::Retry {
                            at: now + millis(delay),
                            error: message.clone(),
                            error_ref: trace.error_ref.clone(),
                        },
                    )
                }
            }
            SnykError::Permanent {
                status,
                message,
                error_ref,
            } => {
                tracing::warn!(user = %t.user_id, org = %t.org_id, status, snyk_said = %self.loggable(message), error_ref = ?error_ref, "Snyk refused the call");
                (
                    "failed",
                    Finish::Failed {
                        error: format!("{status}: {message}"),
                        error_ref: error_ref.clone(),
                    },
                )
            }
            SnykError::AlreadyExists { message, error_ref } => (
                "failed",
                Finish::Failed {
                    error: message.clone(),
                    error_ref: error_ref.clone(),
                },
            ),
        };
        let message = Some(e.to_string());
        let record = match op {
            Some(op) => self.call_record(t, op, None, trace, outcome, message),
            None => self.raw_record(Some(t), "-", "-", None, None, trace, outcome, message),
        };
        self.record(record).await?;
        Ok(finish)
    }

    /// The provision was refused because the user exists: find them in the
    /// group, and add them to the org (or adopt an existing membership as
    /// `external`, never to be touched).
    async fn existing_user(
        &self,
        t: &TargetRow,
        org: &SnykOrgId,
        email: &Email,
        role: &SnykRole,
        snyk_said: &str,
    ) -> Result<StepEnd, StoreError> {
        let Some(group) = self.settings.group_id.clone() else {
            return Ok(StepEnd::Finish(Finish::Failed {
                error: format!(
                    "Snyk says the user already exists ({snyk_said}); set snyk.group_id so the bridge can add existing users to orgs"
                ),
                error_ref: None,
            }));
        };
        let path = format!("/group/{group}/members");
        let (r, trace) = self.send("GET", &path, None).await;
        let members: Vec<crate::snyk::GroupMember> = match r.and_then(|v| {
            serde_json::from_value(v).map_err(|e| SnykError::Transient {
                status: None,
                message: format!("unexpected group members shape: {e}"),
            })
        }) {
            Ok(m) => m,
            Err(e) => return self.failure(t, None, e, &trace).await.map(StepEnd::Finish),
        };
        self.record(self.raw_record(Some(t), "GET", &path, None, None, &trace, "ok", None))
            .await?;
        let Some(uid) = members
            .iter()
            .find(|m| {
                m.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email.as_str()))
            })
            .map(|m| m.id.clone())
        else {
            return Ok(StepEnd::Finish(Finish::Failed {
                error: format!(
                    "Snyk says {email} already exists, but no member of group {group} has that email"
                ),
                error_ref: None,
            }));
        };
        let path = format!("/org/{org}/members?includeGroupAdmins=true");
        let (r, trace) = self.send("GET", &path, None).await;
        let org_members: Vec<crate::snyk::OrgMember> = match r.and_then(|v| {
            serde_json::from_value(v).map_err(|e| SnykError::Transient {
                status: None,
                message: format!("unexpected org members shape: {e}"),
            })
        }) {
            Ok(m) => m,
            Err(e) => return self.failure(t, None, e, &trace).await.map(StepEnd::Finish),
        };
        self.record(self.raw_record(Some(t), "GET", &path, None, None, &trace, "ok", None))
            .await?;
        if let Some(m) = org_members.iter().find(|m| m.id == uid) {
            let observed = role_from_member_name(m.role.as_deref().unwrap_or("collaborator"));
            tracing::info!(user = %t.user_id, org = %org, "the user is already a member of the org: recorded as external, never changed by the bridge");
            return Ok(StepEnd::Applied(
                Some(Applied::External {
                    snyk_user_id: uid,
                    email: email.clone(),
                    role: observed,
                }),
                None,
            ));
        }
        let add_role = match role {
            SnykRole::Custom(_) => "collaborator".to_owned(),
            builtin => member_role_name(builtin),
        };
        let path = format!("/group/{group}/org/{org}/members");
        let body = serde_json::json!({"userId": uid, "role": add_role});
        let (r, trace) = self.send("POST", &path, Some(body.clone())).await;
        if let Err(e) = r {
            return self.failure(t, None, e, &trace).await.map(StepEnd::Finish);
        }
        let call = self.raw_record(Some(t), "POST", &path, Some(body), None, &trace, "ok", None);
        let granted = Applied::Member {
            snyk_user_id: uid,
            email: email.clone(),
            // A custom role is set by the next step (the planner sees the difference).
            role: match role {
                SnykRole::Custom(_) => SnykRole::Collaborator,
                other => other.clone(),
            },
        };
        Ok(StepEnd::Applied(Some(granted), Some(Box::new(call))))
    }

    /// Compare live Snyk state with applied access: adopt first logins, drop
    /// access that vanished, and report role drift. With `repair`, drifted
    /// roles are queued to be put back.
    pub async fn reconcile(&self, repair: bool) -> Result<ReconcileReport, StoreError> {
        let (report, _) = self.observe(true, repair).await?;
        let now = self.now();
        crate::metrics::record_reconcile(report.drift, now);
        let result = format!(
            "{} first logins adopted, {} grants gone from Snyk, {} roles drifted, {} orgs unreadable{}",
            report.adopted,
            report.vanished,
            report.drift,
            report.errors.len(),
            report
                .errors
                .first()
                .map(|e| format!(" ({})", self.loggable(e)))
                .unwrap_or_default()
        );
        let mut tx = self.store.write().await?;
        tx.set_meta(META_LAST_RECONCILE_AT, &now.to_string())
            .await?;
        tx.set_meta(META_LAST_RECONCILE_RESULT, &result).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Read live Snyk state for every org the bridge has access in and work
    /// out the applied state it implies. With `write`, store it (and queue the
    /// affected targets); without, only return it (for `plan`).
    async fn observe(
        &self,
        write: bool,
        repair: bool,
    ) -> Result<(ReconcileReport, HashMap<(String, String), Option<Applied>>), StoreError> {
        let mut report = ReconcileReport::default();
        let mut adjusted: HashMap<(String, String), Option<Applied>> = HashMap::new();
        let orgs: BTreeSet<String> = {
            let mut tx = self.store.read().await?;
            let counts = tx.access_counts().await?;
            tx.commit().await?;
            counts.into_iter().map(|(org, _, _)| org).collect()
        };
        for org in orgs {
            let (pending, t1) = {
                let _p = self.pacer.acquire().await;
                self.client.list_provisions(&org).await
            };
            let (members, t2) = {
                let _p = self.pacer.acquire().await;
                self.client.list_org_members(&org).await
            };
            let (pending, members) = match (pending, members) {
                (Ok(p), Ok(m)) => (p, m),
                (Err(e), _) | (_, Err(e)) => {
                    if let SnykError::RateLimited { retry_after } = &e {
                        self.pacer
                            .pause_for(retry::rate_limit_pause(self.now(), *retry_after));
                    }
                    tracing::warn!(org = %org, error = %self.loggable(&e.to_string()), snyk_request_id = ?t1.request_id.or(t2.request_id), "could not read the org from Snyk");
                    report.errors.push(format!("{org}: {e}"));
                    continue;
                }
            };
            let mut tx = if write {
                Some(self.store.write().await?)
            } else {
                None
            };
            let rows = {
                let mut rtx = self.store.read().await?;
                let rows = rtx.access_in_org(&org).await?;
                rtx.commit().await?;
                rows
            };
            let now = self.now();
            for row in rows {
                let Some(applied) = applied_of(&row) else {
                    continue;
                };
                let key = (row.user_id.clone(), row.org_id.clone());
                let by_email = |e: &Email| {
                    members.iter().find(|m| {
                        m.email
                            .as_deref()
                            .is_some_and(|x| x.eq_ignore_ascii_case(e.as_str()))
                    })
                };
                let next: Option<Option<Applied>> = match &applied {
                    Applied::Pending { email, role } => {
                        let still_pending = pending
                            .iter()
                            .any(|p| p.email.eq_ignore_ascii_case(email.as_str()));
                        if still_pending {
                            None
                        } else if let Some(m) = by_email(email) {
                            report.adopted += 1;
                            tracing::info!(user = %row.user_id, org = %org, snyk_user = %m.id, "first login seen: adopting the member");
                            Some(Some(Applied::Member {
                                snyk_user_id: m.id.clone(),
                                email: email.clone(),
                                role: role.clone(),
                            }))
                        } else {
                            report.vanished += 1;
                            Some(None)
                        }
                    }
                    Applied::Member {
                        snyk_user_id,
                        email,
                        role,
                    } => match members.iter().find(|m| &m.id == snyk_user_id) {
                        None => {
                            report.vanished += 1;
                            Some(None)
                        }
                        Some(m) => {
                            let observed = role_from_member_name(m.role.as_deref().unwrap_or(""));
                            if &observed != role {
                                report.drift += 1;
                                tracing::warn!(user = %row.user_id, org = %org, expected = %role, actual = %observed, "role drift: changed in Snyk by hand");
                                if let Some(tx) = tx.as_mut() {
                                    tx.record_drift(
                                        &row.user_id,
                                        &org,
                                        &role_key(role),
                                        &role_key(&observed),
                                        now,
                                    )
                                    .await?;
                                }
                                (repair || !write).then(|| {
                                    Some(Applied::Member {
                                        snyk_user_id: snyk_user_id.clone(),
                                        email: email.clone(),
                                        role: observed,
                                    })
                                })
                            } else {
                                if let Some(tx) = tx.as_mut() {
                                    tx.clear_drift(&row.user_id, &org).await?;
                                }
                                None
                            }
                        }
                    },
                    Applied::External { .. } => None,
                };
                if let Some(new_state) = next {
                    if let Some(tx) = tx.as_mut() {
                        match &new_state {
                            Some(a) => {
                                tx.put_access(&access_row(&row.user_id, &org, a, now))
                                    .await?
                            }
                            None => tx.delete_access(&row.user_id, &org).await?,
                        }
                        tx.enqueue_target(&row.user_id, &org, now).await?;
                    }
                    adjusted.insert(key, new_state);
                }
            }
            if let Some(tx) = tx {
                tx.commit().await?;
            }
        }
        if write {
            self.notify.notify_one();
        }
        Ok((report, adjusted))
    }

    /// Every call a full sync would make now, from the store and live Snyk
    /// state; changes nothing. (Existing-user follow-ups depend on Snyk's
    /// answer and are not listed.)
    pub async fn plan(&self) -> Result<(ReconcileReport, Vec<(String, SnykOp)>), StoreError> {
        let (report, adjusted) = self.observe(false, true).await?;
        let targets = self.all_targets().await?;
        let mut out = Vec::new();
        for (user_id, org) in targets {
            let Ok(org_id) = SnykOrgId::parse(&org) else {
                continue;
            };
            let (facts, access) = self.load(&user_id, &org).await?;
            let applied = match adjusted.get(&(user_id.clone(), org.clone())) {
                Some(a) => a.clone(),
                None => access.as_ref().and_then(applied_of),
            };
            let desired = mapping::desired(&self.settings.mappings, facts.as_ref());
            let email = facts.as_ref().and_then(|f| f.email.clone());
            for op in planner::plan(
                &org_id,
                desired.get(&org_id),
                email.as_ref(),
                applied.as_ref(),
            ) {
                out.push((user_id.clone(), op));
            }
        }
        Ok((report, out))
    }

    /// Every (user, org) that a full sync considers.
    async fn all_targets(&self) -> Result<BTreeSet<(String, String)>, StoreError> {
        let mut tx = self.store.read().await?;
        let users = tx.user_ids().await?;
        let with_access = tx.access_user_ids().await?;
        let mut out = BTreeSet::new();
        let orgs = mapping::mapped_orgs(&self.settings.mappings);
        for u in users.iter().chain(with_access.iter()) {
            for o in &orgs {
                out.insert((u.clone(), o.as_str().to_owned()));
            }
            for o in tx.access_orgs(u).await? {
                out.insert((u.clone(), o));
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Queue every (user, org) a full sync considers.
    pub async fn enqueue_all(&self) -> Result<usize, StoreError> {
        let targets = self.all_targets().await?;
        let now = self.now();
        let mut tx = self.store.write().await?;
        for (u, o) in &targets {
            tx.enqueue_target(u, o, now).await?;
        }
        tx.commit().await?;
        self.notify.notify_one();
        Ok(targets.len())
    }

    /// At start-up: when the mappings changed since the last run, queue
    /// everything, so added and removed mappings are planned.
    pub async fn enqueue_if_mappings_changed(&self) -> Result<Option<usize>, StoreError> {
        let fingerprint = mappings_fingerprint(&self.settings.mappings);
        let mut tx = self.store.write().await?;
        let old = tx.meta("mappings_fingerprint").await?;
        if old.as_deref() == Some(fingerprint.as_str()) {
            tx.commit().await?;
            return Ok(None);
        }
        tx.set_meta("mappings_fingerprint", &fingerprint).await?;
        tx.commit().await?;
        let n = self.enqueue_all().await?;
        tracing::info!(
            targets = n,
            "the mappings changed: every user is queued for planning"
        );
        Ok(Some(n))
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The applied state after a successful op.
fn next_applied(op: &SnykOp, before: Option<&Applied>) -> Option<Applied> {
    match op {
        SnykOp::Provision { email, role, .. } => Some(Applied::Pending {
            email: email.clone(),
            role: role.clone(),
        }),
        SnykOp::DeleteProvision { .. } | SnykOp::RemoveMember { .. } => None,
        SnykOp::UpdateMemberRole {
            snyk_user_id, role, ..
        } => {
            let email = match before {
                Some(
                    Applied::Member { email, .. }
                    | Applied::Pending { email, .. }
                    | Applied::External { email, .. },
                ) => email.clone(),
                None => return None,
            };
            Some(Applied::Member {
                snyk_user_id: snyk_user_id.clone(),
                email,
                role: role.clone(),
            })
        }
    }
}

/// A stable fingerprint of the mapping table.
pub fn mappings_fingerprint(mappings: &[Mapping]) -> String {
    let mut h = Sha256::new();
    for m in mappings {
        h.update(m.group.key().as_bytes());
        h.update([0]);
        h.update(m.org_id.as_str().as_bytes());
        h.update([0]);
        h.update(m.role.to_string().as_bytes());
        h.update([1]);
    }
    format!("{:x}", h.finalize())
}

/// Counts for `status`: targets by state, recent failures, per-org access.
#[derive(Debug, Default)]
pub struct StatusReport {
    pub targets: BTreeMap<String, i64>,
    pub failures: Vec<TargetRow>,
    pub per_org: Vec<(String, String, i64)>,
    pub drift: Vec<(String, String, String, String)>,
}

pub async fn status(store: &Store) -> Result<StatusReport, StoreError> {
    let mut tx = store.read().await?;
    let targets = tx.target_counts().await?.into_iter().collect();
    let failures = tx.recent_failures(20).await?;
    let per_org = tx.access_counts().await?;
    let drift = tx.drift().await?;
    tx.commit().await?;
    Ok(StatusReport {
        targets,
        failures,
        per_org,
        drift,
    })
}
