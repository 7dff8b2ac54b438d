//! One claimed target, brought in line: plan from desired and applied
//! access, send one call at a time through the pacer, record each call with
//! the applied state it leaves (one transaction), and decide how the target
//! finishes.
//!
//! It must never remove access the bridge did not grant (`External`), nor
//! access that another active SCIM user with the same email still needs
//! (Snyk knows a person by email only); never delete a pending provision
//! without first looking whether the user has logged in meanwhile (the
//! delete would then succeed and leave the membership behind); and never
//! send a removal or downgrade the safety rails (`rails`) did not let
//! through.

use super::engine::{Engine, UNLOCATED_REASON, access_row, applied_of};
use super::judge::{self, Verdict};
use super::mapping;
use super::planner::{self, Applied, SnykOp};
use super::rails::Guard;
use super::reconcile::OrgSight;
use super::retry;
use super::safety;
use super::settle::Loaded;
use crate::domain::{Email, SnykOrgId, SnykRole};
use crate::snyk::{Request, SnykError, Trace, wire};
use crate::store::{AccessRow, CallRecord, Finish, StoreError, TargetRow};

/// Why a user in a mapped group gets nothing.
pub const NO_EMAIL_REASON: &str = "the user is in a mapped group but has no email Snyk can use \
     (no emails[].value and no userName with an @ that is a valid address); \
     nothing is granted until the IdP sends one";

/// How a step ended, before it is written.
pub(super) enum StepEnd {
    /// The applied state is now this (None: nothing), with the record of the
    /// call that changed it, if a call did: both are written in one
    /// transaction, so a crash never leaves a recorded success whose applied
    /// state is missing (which would send the call again after a restart).
    Applied(Option<Applied>, Option<Box<CallRecord>>),
    Finish(Finish),
}

/// What Snyk says about a pending provision the bridge is about to delete.
enum Confirmed {
    /// Still pending: delete it.
    Pending,
    /// Not pending any more: this is the applied state now (re-plan).
    Now(Option<Applied>),
    /// Snyk could not be read.
    Stop(Finish),
}

impl Engine {
    /// [`Self::process`] inside a span naming the target, an operation id
    /// and the SCIM request that queued it: every log line of the work (and
    /// of the Snyk calls it makes) carries them.
    pub(super) async fn process_traced(
        &self,
        t: &TargetRow,
        loaded: Option<Loaded>,
    ) -> Result<Finish, StoreError> {
        use tracing::Instrument;
        let span = tracing::info_span!(
            "target",
            operation_id = %uuid::Uuid::new_v4(),
            user = %t.user_id,
            org = %t.org_id,
            scim_request_id = t.request_id.as_deref().unwrap_or("-"),
        );
        self.process_loaded(t, loaded).instrument(span).await
    }

    /// Bring one claimed target in line, one call at a time, recording each.
    pub async fn process(&self, t: &TargetRow) -> Result<Finish, StoreError> {
        self.process_loaded(t, None).await
    }

    /// [`Self::process`]; `loaded`: what was read for the target after its
    /// claim (see `settle`), planned from in the first step instead of
    /// reading it again.
    async fn process_loaded(
        &self,
        t: &TargetRow,
        mut loaded: Option<Loaded>,
    ) -> Result<Finish, StoreError> {
        let Ok(org) = SnykOrgId::parse(&t.org_id) else {
            let error = format!("{:?} is not a Snyk org id", t.org_id);
            return self.end(t, Finish::failed(error)).await;
        };
        // A pending role change is at most look + delete + provision; a few
        // more steps cover the existing-user path and a hand-over.
        let (mut counted, mut forgotten) = (false, false);
        for _ in 0..6 {
            let (loaded_at, facts, access, hold) = match loaded.take() {
                Some(l) => (l.at, l.facts, l.access, Some(l.hold)),
                None => {
                    let at = self.now();
                    let (facts, access) = self.load(&t.user_id, org.as_str()).await?;
                    (at, facts, access, None)
                }
            };
            let applied = match access.as_ref().map(applied_of).transpose() {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(error = %e, "stored access is unreadable: this target stops");
                    return self.end(t, Finish::failed(e.to_string())).await;
                }
            };
            if let Some(f) = facts.as_ref()
                && f.email.is_none()
                && mapping::wants_access(&self.settings.mappings, f, &org)
            {
                // Nothing is planned for a user Snyk cannot know (no access is
                // granted, none taken away): the target says why.
                tracing::warn!(user = %t.user_id, org = %org, "{NO_EMAIL_REASON}");
                return self.end(t, Finish::failed(NO_EMAIL_REASON)).await;
            }
            let desired = mapping::desired(&self.settings.mappings, facts.as_ref());
            let want = desired.get(&org);
            let email = facts.as_ref().and_then(|f| f.email.clone());
            let ops = planner::plan(&org, want, email.as_ref(), applied.as_ref());
            let reduction = safety::reduction(want, email.as_ref(), applied.as_ref());
            if reduction.is_none() && !forgotten {
                self.forget_hold(t, loaded_at, hold).await?;
                forgotten = true;
            }
            let Some(op) = ops.first() else {
                if let Some(Applied::Unlocated { email: e, role }) = &applied
                    && (want != Some(role) || email.as_ref() != Some(e))
                {
                    tracing::warn!(user = %t.user_id, org = %org, email = %self.log_email(e), "a change cannot be applied: {UNLOCATED_REASON}");
                    let error = format!("{e} {UNLOCATED_REASON}");
                    return self.end(t, Finish::failed(error)).await;
                }
                return self.end(t, Finish::Done).await;
            };
            if self.settings.dry_run {
                return self.dry_run(t, &ops).await;
            }
            if let Some(b) = self.blocked_in(&ops) {
                tracing::debug!(user = %t.user_id, org = %org, call = %b.kind, "not sent: Snyk is retiring this call; the target stays queued");
                return self.end(t, self.blocked_finish()).await;
            }
            if let (true, Some(a)) = (op.is_removal(), &applied)
                && let Some(other) = self.other_holder(&t.user_id, &org, a.email()).await?
            {
                self.hand_over(t, a, other).await?;
                continue;
            }
            if let (Some(red), Some(a)) = (&reduction, &applied) {
                match self.guard(t, &org, red, a, op, &mut counted).await? {
                    Guard::Pass => {}
                    Guard::End(f) => return self.end(t, f).await,
                }
            }
            let step = match op {
                SnykOp::DeleteProvision { email: e, .. } => {
                    let role = applied
                        .as_ref()
                        .map(|a| a.role().clone())
                        .unwrap_or(SnykRole::Collaborator);
                    match self.confirm_pending(t, &org, e, &role).await? {
                        Confirmed::Pending => self.execute(t, op, applied.as_ref()).await?,
                        Confirmed::Now(state) => StepEnd::Applied(state, None),
                        Confirmed::Stop(f) => StepEnd::Finish(f),
                    }
                }
                _ => self.execute(t, op, applied.as_ref()).await?,
            };
            match step {
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
                    // The next step plans from the new state: if it takes
                    // no access away, the rails' row for it is moot.
                    forgotten = false;
                }
                StepEnd::Finish(f) => return self.end(t, f).await,
            }
        }
        // Still not in line after several steps: look again soon.
        let f = Finish::Retry {
            at: self.now() + 1_000,
            error: "the target needed more steps than one pass allows".into(),
            error_ref: None,
        };
        self.end(t, f).await
    }

    /// Write how the target ended (if this worker still holds it).
    pub(super) async fn end(&self, t: &TargetRow, f: Finish) -> Result<Finish, StoreError> {
        let mut tx = self.store.write().await?;
        let held = tx.finish_target(t, &f, self.now(), &self.owner).await?;
        tx.commit().await?;
        if !held {
            tracing::warn!(user = %t.user_id, org = %t.org_id, "the lease was lost before the target finished: another sender's outcome stands");
        }
        Ok(f)
    }

    async fn dry_run(&self, t: &TargetRow, ops: &[SnykOp]) -> Result<Finish, StoreError> {
        let mut tx = self.store.write().await?;
        for op in ops {
            tx.record_call(&self.call_record(t, op, &Trace::default(), "dry_run", None))
                .await?;
            tracing::info!(user = %t.user_id, org = %t.org_id, call = %self.log_op(op), "dry run: not sent");
        }
        tx.finish_target(t, &Finish::Done, self.now(), &self.owner)
            .await?;
        tx.commit().await?;
        Ok(Finish::Done)
    }

    /// Another active user with this email who wants access to the org:
    /// their id and their own stored access there, if any.
    async fn other_holder(
        &self,
        user_id: &str,
        org: &SnykOrgId,
        email: &Email,
    ) -> Result<Option<(String, Option<AccessRow>)>, StoreError> {
        let mut tx = self.store.read().await?;
        for other in tx.users_with_email(email.as_str()).await? {
            if other.id == user_id {
                continue;
            }
            let Some(facts) = self.facts_in(&mut tx, &other.id).await? else {
                continue;
            };
            if facts.email.as_ref() != Some(email) {
                continue;
            }
            if mapping::desired(&self.settings.mappings, Some(&facts)).contains_key(org) {
                let theirs = tx.get_access(&other.id, org.as_str()).await?;
                tx.commit().await?;
                return Ok(Some((other.id, theirs)));
            }
        }
        tx.commit().await?;
        Ok(None)
    }

    /// The access is still needed by another user with the same email: give
    /// it to them (or drop this user's duplicate record) without calling Snyk.
    async fn hand_over(
        &self,
        t: &TargetRow,
        applied: &Applied,
        (other, theirs): (String, Option<AccessRow>),
    ) -> Result<(), StoreError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        if theirs.is_none() {
            tx.put_access(&access_row(&other, &t.org_id, applied, now))
                .await?;
        }
        tx.delete_access(&t.user_id, &t.org_id).await?;
        tx.enqueue_target(&other, &t.org_id, now).await?;
        tx.commit().await?;
        tracing::info!(user = %t.user_id, org = %t.org_id, to_user = %other, "not removed: another active user with the same email needs this access; handed over");
        self.notify.ring();
        Ok(())
    }

    /// Before deleting a pending provision: is it still pending? A user who
    /// logged in meanwhile is adopted instead (and the next step removes or
    /// changes the membership).
    async fn confirm_pending(
        &self,
        t: &TargetRow,
        org: &SnykOrgId,
        email: &Email,
        role: &SnykRole,
    ) -> Result<Confirmed, StoreError> {
        let group = match self.group_view().await {
            Ok(g) => g,
            Err((e, trace)) => {
                return self.failure(t, None, e, &trace).await.map(Confirmed::Stop);
            }
        };
        let lists = match self.org_lists(org.as_str()).await {
            Ok(l) => l,
            Err((e, trace)) => {
                return self.failure(t, None, e, &trace).await.map(Confirmed::Stop);
            }
        };
        let sight = OrgSight::new(&lists, group.as_ref(), org.as_str());
        let pending = Applied::Pending {
            email: email.clone(),
            role: role.clone(),
        };
        Ok(match judge::judge(&pending, &sight.sight()) {
            Verdict::Unchanged | Verdict::Pending | Verdict::Drift { .. } => Confirmed::Pending,
            Verdict::Member { snyk_user_id, role } => {
                tracing::info!(user = %t.user_id, org = %org, snyk_user = %snyk_user_id, "the user logged in meanwhile: adopting the member");
                Confirmed::Now(Some(Applied::Member {
                    snyk_user_id,
                    email: email.clone(),
                    role,
                }))
            }
            Verdict::Gone => Confirmed::Now(None),
            Verdict::Unlocated => {
                tracing::warn!(user = %t.user_id, org = %org, email = %self.log_email(email), "{UNLOCATED_REASON}");
                Confirmed::Now(Some(Applied::Unlocated {
                    email: email.clone(),
                    role: role.clone(),
                }))
            }
        })
    }

    pub(super) fn call_record(
        &self,
        t: &TargetRow,
        op: &SnykOp,
        trace: &Trace,
        outcome: &str,
        message: Option<String>,
    ) -> CallRecord {
        self.request_record(t, &wire::request(op), trace, outcome, message)
    }

    /// The record of one call (`None`: a failure not tied to a call).
    pub(super) fn request_record(
        &self,
        t: &TargetRow,
        request: &Request,
        trace: &Trace,
        outcome: &str,
        message: Option<String>,
    ) -> CallRecord {
        let mut c = self.bare_record(t, trace, outcome, message);
        c.method = request.method.to_string();
        c.path = request.path_and_query();
        c.body = request.body.as_ref().map(ToString::to_string);
        c
    }

    fn bare_record(
        &self,
        t: &TargetRow,
        trace: &Trace,
        outcome: &str,
        message: Option<String>,
    ) -> CallRecord {
        CallRecord {
            at: self.now(),
            user_id: Some(t.user_id.clone()),
            org_id: Some(t.org_id.clone()),
            method: "-".to_owned(),
            path: "-".to_owned(),
            body: None,
            dry_run: self.settings.dry_run,
            status: trace.status.map(i64::from),
            outcome: outcome.to_owned(),
            message,
            request_id: trace.request_id.clone(),
            error_ref: trace.error_ref.clone(),
            scim_request_id: t.request_id.clone(),
        }
    }

    pub(super) async fn record(&self, c: CallRecord) -> Result<(), StoreError> {
        let mut tx = self.store.write().await?;
        tx.record_call(&c).await?;
        tx.commit().await
    }

    /// Execute one planned op and decide what it means.
    async fn execute(
        &self,
        t: &TargetRow,
        op: &SnykOp,
        applied: Option<&Applied>,
    ) -> Result<StepEnd, StoreError> {
        let (result, trace) = self.paced(self.client.execute(op)).await;
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
                let call = self.call_record(t, op, &trace, "ok", None);
                tracing::info!(user = %t.user_id, org = %t.org_id, call = %self.log_op(op), snyk_request_id = ?trace.request_id, "Snyk call succeeded");
                Ok(StepEnd::Applied(
                    next_applied(op, applied),
                    Some(Box::new(call)),
                ))
            }
            Err(SnykError::AlreadyExists { message, .. }) => {
                self.record(self.call_record(
                    t,
                    op,
                    &trace,
                    "already_exists",
                    Some(message.clone()),
                ))
                .await?;
                match op_email(op) {
                    Some(e) => {
                        tracing::info!(user = %t.user_id, org = %t.org_id, snyk_said = %self.log_about(&message, e), "Snyk says the user already exists")
                    }
                    None => {
                        tracing::info!(user = %t.user_id, org = %t.org_id, "Snyk says the user already exists")
                    }
                }
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
    pub(super) async fn failure(
        &self,
        t: &TargetRow,
        op: Option<&SnykOp>,
        e: SnykError,
        trace: &Trace,
    ) -> Result<Finish, StoreError> {
        let now = self.now();
        let (outcome, finish) = match &e {
            // Nothing went out: try again when the next sender runs.
            SnykError::NotSent => return Ok(Finish::Defer { at: now }),
            // Snyk is retiring this call kind (410, Sunset, Deprecation): no
            // blind retry, the work stays queued (pending, attempt given
            // back) and is looked at again later; the client sends nothing
            // of that kind until a restart (see `snyk::alerts`).
            SnykError::Blocked { .. } if trace.status.is_none() => {
                return Ok(self.blocked_finish());
            }
            SnykError::Blocked { .. } => ("blocked", self.blocked_finish()),
            SnykError::RateLimited { .. } => {
                // The pacer holds every call (and probes); the target waits as long.
                let pause = self.pacer.paused_for().unwrap_or_default();
                (
                    "rate_limited",
                    Finish::Defer {
                        at: now.saturating_add(super::engine::millis(pause)),
                    },
                )
            }
            SnykError::Unauthorized { .. } => {
                let pause = self.settings.unauthorized_pause;
                self.pacer.pause_for(pause);
                tracing::error!(
                    pause_secs = pause.as_secs(),
                    "Snyk rejected the API token: pausing every call; check snyk.token / SNYK_TOKEN"
                );
                (
                    "unauthorized",
                    Finish::Defer {
                        at: now.saturating_add(super::engine::millis(pause)),
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
                            at: now + super::engine::millis(delay),
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
                // Snyk's text is logged only where the email it may name is
                // known (and hashed); it is always in `status` and /status.
                match op.and_then(op_email) {
                    Some(e) => {
                        tracing::warn!(user = %t.user_id, org = %t.org_id, status, snyk_said = %self.log_about(message, e), error_ref = ?error_ref, "Snyk refused the call")
                    }
                    None => {
                        tracing::warn!(user = %t.user_id, org = %t.org_id, status, error_ref = ?error_ref, "Snyk refused the call")
                    }
                }
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
            Some(op) => self.call_record(t, op, trace, outcome, message),
            None => self.bare_record(t, trace, outcome, message),
        };
        self.record(record).await?;
        Ok(finish)
    }

    /// The provision was refused because the user exists: find them in the
    /// group, and add them to the org; if they are in the org already, the
    /// membership is recorded `external`, never to be touched.
    async fn existing_user(
        &self,
        t: &TargetRow,
        org: &SnykOrgId,
        email: &Email,
        role: &SnykRole,
        snyk_said: &str,
    ) -> Result<StepEnd, StoreError> {
        let Some(group) = self.settings.group_id.clone() else {
            return Ok(StepEnd::Finish(Finish::failed(format!(
                "Snyk says the user already exists ({snyk_said}); set snyk.group_id so the bridge can add existing users to orgs"
            ))));
        };
        let view = match self.group_view().await {
            Ok(v) => v,
            Err((e, trace)) => return self.failure(t, None, e, &trace).await.map(StepEnd::Finish),
        };
        let Some(uid) = view.as_ref().and_then(|v| {
            v.members
                .iter()
                .find(|m| {
                    m.email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(email.as_str()))
                })
                .map(|m| m.id.clone())
        }) else {
            return Ok(StepEnd::Finish(Finish::failed(format!(
                "Snyk says {email} already exists, but no member of group {group} has that email"
            ))));
        };
        let lists = match self.org_lists(org.as_str()).await {
            Ok(l) => l,
            Err((e, trace)) => return self.failure(t, None, e, &trace).await.map(StepEnd::Finish),
        };
        let sight = OrgSight::new(&lists, view.as_ref(), org.as_str());
        let probe = Applied::Member {
            snyk_user_id: uid.clone(),
            email: email.clone(),
            role: role.clone(),
        };
        let observed = match judge::judge(&probe, &sight.sight()) {
            Verdict::Unchanged => Some(role.clone()),
            Verdict::Drift { observed, .. } => Some(observed),
            _ => None,
        };
        if let Some(observed) = observed {
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
        let add = wire::add_group_member_to_org(&group, org.as_str(), &uid, role);
        let (r, trace) = self.paced(self.client.send(&add)).await;
        if let Err(e) = r {
            return self.failure(t, None, e, &trace).await.map(StepEnd::Finish);
        }
        let call = self.request_record(t, &add, &trace, "ok", None);
        // A custom role is set by the next step (the planner sees the difference).
        let granted = Applied::Member {
            snyk_user_id: uid,
            email: email.clone(),
            role: wire::added_role(role),
        };
        Ok(StepEnd::Applied(Some(granted), Some(Box::new(call))))
    }
}

/// The email an operation carries (provision and its deletion).
fn op_email(op: &SnykOp) -> Option<&Email> {
    match op {
        SnykOp::Provision { email, .. } | SnykOp::DeleteProvision { email, .. } => Some(email),
        SnykOp::UpdateMemberRole { .. } | SnykOp::RemoveMember { .. } => None,
    }
}

impl Engine {
    /// A planned call for a log line, its email hashed unless `log_pii`.
    fn log_op(&self, op: &SnykOp) -> String {
        let described = wire::describe(op);
        match op_email(op) {
            Some(e) => self.log_about(&described, e),
            None => described,
        }
    }
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
        } => Some(Applied::Member {
            snyk_user_id: snyk_user_id.clone(),
            email: before?.email().clone(),
            role: role.clone(),
        }),
    }
}
