//! The sync engine's handle: its settings, its parts (store, Snyk client,
//! pacer, clock), the conversion between stored access rows and
//! [`Applied`], and the whole-store views (`plan`, queueing everything,
//! `status`). The worker loop is in `sync::worker`, one target's execution
//! in `sync::execute`, reconciliation in `sync::reconcile`.
//!
//! It never sends a call except through the pacer (`Engine::paced`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::mapping::{self, UserFacts};
use super::pacer::{Outcome, Pacer};
use super::planner::{self, Applied};
use crate::clock::Clock;
use crate::config::{Config, Mapping, SafetySettings};
use crate::domain::SnykOp;
use crate::domain::{Email, SnykOrgId};

use crate::scim::schema::ResourceKind;
use crate::snyk::{SnykClient, SnykError, Trace};
use crate::store::{AccessRow, AccessState, Store, StoreError, TargetRow};

/// The engine's settings, from `[snyk]` and `[[mappings]]`, and every timing
/// of the worker.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub mappings: Vec<Mapping>,
    pub dry_run: bool,
    pub group_id: Option<String>,
    /// After this long failing, an operation goes to the dead-letter state.
    pub retry_max: Duration,
    /// How long a claim holds a target; renewed every third of it while the
    /// worker lives, so only a dead (or frozen) worker's lease ever lapses.
    pub lease: Duration,
    pub reconcile_interval: Duration,
    /// The first reconciliation after start.
    pub reconcile_start: Duration,
    /// The longest an idle worker sleeps before looking for due work again
    /// (it also wakes when the SCIM side queues work, and when the next
    /// target falls due).
    pub poll: Duration,
    pub max_concurrent: usize,
    /// Log emails as written (else hashed; see `telemetry`).
    pub log_pii: bool,
    /// Audit rows and recorded calls older than this are purged.
    pub audit_retention: Duration,
    /// How often the purge runs.
    pub purge_interval: Duration,
    /// On shutdown, how long calls in flight may take to finish.
    pub shutdown_grace: Duration,
    /// How often a standby replica tries to become the sender.
    pub leader_retry: Duration,
    /// How long every call pauses after Snyk rejects the token.
    pub unauthorized_pause: Duration,
    /// `[safety]`: the deletion circuit breaker, the empty-push guard and
    /// protected accounts (`sync::rails`).
    pub safety: SafetySettings,
    /// How often the leader reads the token's expiry (first: at start).
    pub token_check_interval: Duration,
    /// How long a target whose call kind is blocked (410 / Sunset /
    /// Deprecation) waits before it is looked at again.
    pub blocked_recheck: Duration,
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
            reconcile_start: Duration::from_secs(5),
            poll: Duration::from_millis(500),
            max_concurrent: usize::try_from(c.snyk.max_concurrent_requests.max(1)).unwrap_or(1),
            log_pii: c.log_pii,
            audit_retention: Duration::from_secs(u64::from(c.audit_retention_days) * 86_400),
            purge_interval: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(10),
            leader_retry: Duration::from_secs(2),
            unauthorized_pause: Duration::from_secs(300),
            safety: c.safety.clone(),
            token_check_interval: Duration::from_secs(86_400),
            blocked_recheck: Duration::from_secs(60),
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
    /// Users who logged in but cannot be found (admins, without group_id).
    pub unlocated: usize,
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
    pub(super) running: AtomicBool,
    pub(super) leader: AtomicBool,
    /// Unix ms of the last pass of the loop (0: never).
    pub(super) last_loop_ms: AtomicI64,
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

/// The sync engine. Cheap to clone: every clone shares the pacer, the lease
/// owner name and the notifier.
#[derive(Clone)]
pub struct Engine {
    pub(super) store: Store,
    pub(super) client: SnykClient,
    pub(super) pacer: Arc<Pacer>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: Arc<EngineSettings>,
    /// The lease owner name of this engine (process id + random).
    pub(super) owner: String,
    pub(super) notify: Arc<super::bell::Bell>,
    pub(super) worker: Arc<WorkerStatus>,
    /// Serialises the breaker's count-and-decide (tasks run concurrently;
    /// only the leader sends, so one process-wide lock is enough).
    pub(super) breaker: Arc<tokio::sync::Mutex<RailsMemory>>,
}

/// What the rails remember in this process, under the breaker's lock.
#[derive(Debug, Default)]
pub struct RailsMemory {
    /// Admins the last-admin check let go recently: (org id, Snyk user id,
    /// Unix ms). Not counted as admins for a minute, so two admins leaving
    /// at once never both pass while Snyk's list still shows the other.
    pub(super) admins_leaving: Vec<(String, String, i64)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// Applied access from its stored row. An unreadable row is an error (the
/// target stops with it), never "no access", which would grant again.
pub fn applied_of(row: &AccessRow) -> Result<Applied, StoreError> {
    let email = Email::parse(&row.email).map_err(|_| {
        StoreError::Corrupt(format!(
            "the stored access of user {} in org {} has no valid email",
            row.user_id, row.org_id
        ))
    })?;
    let role = row.role.clone();
    let uid = || {
        row.snyk_user_id.clone().ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the stored {} access of user {} in org {} has no Snyk user id",
                row.state, row.user_id, row.org_id
            ))
        })
    };
    Ok(match row.state {
        AccessState::Pending => Applied::Pending { email, role },
        AccessState::Member => Applied::Member {
            snyk_user_id: uid()?,
            email,
            role,
        },
        AccessState::External => Applied::External {
            snyk_user_id: uid()?,
            email,
            role,
        },
        AccessState::Unlocated => Applied::Unlocated { email, role },
    })
}

/// The stored row of an applied state.
pub fn access_row(user_id: &str, org: &str, applied: &Applied, now: i64) -> AccessRow {
    let (state, uid) = match applied {
        Applied::Pending { .. } => (AccessState::Pending, None),
        Applied::Member { snyk_user_id, .. } => (AccessState::Member, Some(snyk_user_id.clone())),
        Applied::External { snyk_user_id, .. } => {
            (AccessState::External, Some(snyk_user_id.clone()))
        }
        Applied::Unlocated { .. } => (AccessState::Unlocated, None),
    };
    AccessRow {
        user_id: user_id.to_owned(),
        org_id: org.to_owned(),
        email: applied.email().as_str().to_owned(),
        state,
        role: applied.role().clone(),
        snyk_user_id: uid,
        updated_at: now,
    }
}

pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Engine {
    /// Fails only when the HTTP client cannot be built (no TLS backend).
    pub fn new(
        store: Store,
        config: &Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, reqwest::Error> {
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
                Duration::from_secs(config.snyk.rate_window_secs),
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
            notify: Arc::new(super::bell::Bell::default()),
            worker: Arc::new(WorkerStatus::default()),
            breaker: Arc::new(tokio::sync::Mutex::new(RailsMemory::default())),
        }
    }

    /// This process's worker state (leader or not, last loop time).
    pub fn worker_status(&self) -> Arc<WorkerStatus> {
        self.worker.clone()
    }

    /// An email for a log line (hashed unless `log_pii`).
    pub(super) fn log_email<'a>(&self, email: &'a Email) -> crate::telemetry::LogEmail<'a> {
        crate::telemetry::LogEmail::new(email.as_str(), self.settings.log_pii)
    }

    /// A text about one user (a planned call, Snyk's answer about them) for a
    /// log line: their email, where it appears, hashed unless `log_pii`.
    pub(super) fn log_about(&self, text: &str, email: &Email) -> String {
        crate::telemetry::redact_known(text, email.as_str(), self.settings.log_pii).into_owned()
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
    pub fn notifier(&self) -> Arc<super::bell::Bell> {
        self.notify.clone()
    }

    pub(super) fn now(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// The pace the pacer runs at now, and why.
    pub fn pace(&self) -> super::budget::Pace {
        self.pacer.pace()
    }

    /// `snyk.requests_per_minute` and `snyk.rate_window_secs` (seconds).
    pub fn configured_pace(&self) -> (u32, u64) {
        let p = self.pacer.pace();
        (p.configured, p.window.as_secs())
    }

    pub(super) fn lease_ms(&self) -> i64 {
        millis(self.settings.lease)
    }

    /// Send one call through the pacer and tell the pacer how it ended.
    /// The call's future is lazy: nothing goes out before the slot.
    pub(super) async fn paced<T>(
        &self,
        call: impl std::future::Future<Output = (Result<T, SnykError>, Trace)>,
    ) -> (Result<T, SnykError>, Trace) {
        let Some(permit) = self.pacer.acquire().await else {
            return (Err(SnykError::NotSent), Trace::default());
        };
        let (result, trace) = call.await;
        permit.done(match &result {
            Err(SnykError::RateLimited { retry_after }) => Outcome::RateLimited(*retry_after),
            Err(SnykError::Transient { status: None, .. }) => Outcome::NoAnswer,
            _ => Outcome::Answered,
        });
        self.note_pace().await;
        (result, trace)
    }

    /// A user's facts and the stored access of one (user, org), in one snapshot.
    pub(super) async fn load(
        &self,
        user_id: &str,
        org_id: &str,
    ) -> Result<(Option<UserFacts>, Option<AccessRow>), StoreError> {
        let mut tx = self.store.read().await?;
        let facts = self.facts_in(&mut tx, user_id).await?;
        let access = tx.get_access(user_id, org_id).await?;
        tx.commit().await?;
        Ok((facts, access))
    }

    pub(super) async fn facts_in(
        &self,
        tx: &mut crate::store::StoreTx,
        user_id: &str,
    ) -> Result<Option<UserFacts>, StoreError> {
        let Some(u) = tx.get_resource(ResourceKind::User, user_id).await? else {
            return Ok(None);
        };
        let groups = tx
            .groups_of(user_id)
            .await?
            .into_iter()
            .filter_map(|(_, name)| name)
            .collect();
        Ok(Some(mapping::facts(&u.doc, groups)))
    }

    /// Every call a full sync would make now, from the store and live Snyk
    /// state; changes nothing. (Existing-user follow-ups depend on Snyk's
    /// answer and are not listed.)
    pub async fn plan(&self) -> Result<(ReconcileReport, Vec<(String, SnykOp)>), StoreError> {
        let (report, adjusted) = self.observe(false, true).await?;
        // The org names `plan` shows (a display cache, not a change).
        self.refresh_org_names().await;
        let targets = self.all_targets().await?;
        let mut out = Vec::new();
        for (user_id, org) in targets {
            let Ok(org_id) = SnykOrgId::parse(&org) else {
                continue;
            };
            let (facts, access) = self.load(&user_id, &org).await?;
            let applied = match adjusted.get(&(user_id.clone(), org.clone())) {
                Some(a) => a.clone(),
                None => access.as_ref().map(applied_of).transpose()?,
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
        self.notify.ring();
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

/// Counts for `status`: targets by state, recent failures, per-org access,
/// and the users who cannot be managed after their login.
#[derive(Debug, Default)]
pub struct StatusReport {
    pub targets: BTreeMap<String, i64>,
    pub failures: Vec<TargetRow>,
    pub per_org: Vec<(String, String, i64)>,
    pub drift: Vec<(String, String, String, String)>,
    pub unlocated: Vec<AccessRow>,
    /// Targets leased now (by any sender).
    pub leased: i64,
    /// What the safety rails hold, wait on, or refused (`sync::rails`).
    pub holds: Vec<crate::store::HoldRow>,
}

pub async fn status(store: &Store) -> Result<StatusReport, StoreError> {
    let mut tx = store.read().await?;
    let targets = tx.target_counts().await?.into_iter().collect();
    let failures = tx.recent_failures(20).await?;
    let per_org = tx.access_counts().await?;
    let drift = tx.drift().await?;
    let unlocated = tx.access_in_state(AccessState::Unlocated).await?;
    let leased = tx.leased_count().await?;
    let holds = tx.holds().await?;
    tx.commit().await?;
    Ok(StatusReport {
        targets,
        failures,
        per_org,
        drift,
        unlocated,
        leased,
        holds,
    })
}

/// Why an unlocated user cannot be managed, for `status`, the logs and the
/// target's error.
pub const UNLOCATED_REASON: &str = "logged in to Snyk but cannot be found: Snyk's org member list leaves \
     admins out, and without snyk.group_id the bridge cannot read the group's member list; \
     the bridge cannot change or remove this access until snyk.group_id is set";
