//! The safety rails, carried out: before a removal or downgrade is sent,
//! refuse it for a protected account or an org's last admin, and let the
//! deletion circuit breaker count it, wait out the removal delay, and hold
//! it for an operator when a wave is under way (`sync::safety` decides,
//! this module gathers the facts and writes the outcome). Also the
//! operator's side: `approve` and `reject`.
//!
//! Must never send a change it was asked to hold, and never hold a grant.
//! Only the leader runs [`Engine::guard`]; one lock per process serialises
//! the breaker's count-and-decide.

use super::engine::Engine;
use super::planner::{Applied, SnykOp};
use super::safety::{self, Count, Facts, Gate, Reduction, Stored};
use crate::domain::{Email, SnykOrgId};
use crate::metrics::{SAFETY_REFUSED, SAFETY_TRIPS};
use crate::snyk::Trace;
use crate::store::{
    Finish, HoldFilter, HoldRow, HoldState, RemovalCounts, Store, StoreError, TargetRow,
};

/// What the rails say about one planned removal or downgrade.
pub(super) enum Guard {
    /// Send it.
    Pass,
    /// Do not send it now; the target ends so.
    End(Finish),
}

/// How long an admin the last-admin check let go is not counted as one.
const ADMIN_LEAVING_MS: i64 = 60_000;

fn count(c: RemovalCounts) -> Count {
    Count {
        removals: u64::try_from(c.planned).unwrap_or(0),
        managed: u64::try_from(c.granted.saturating_add(c.sent)).unwrap_or(0),
    }
}

impl Engine {
    /// The plan for this target takes no access away: whatever the rails
    /// stored for it (waiting, held, rejected ...) is moot.
    pub(super) async fn forget_hold(&self, t: &TargetRow) -> Result<(), StoreError> {
        let mut tx = self.store.read().await?;
        let row = tx.hold(&t.user_id, &t.org_id).await?;
        tx.commit().await?;
        let Some(h) = row else {
            return Ok(());
        };
        let mut tx = self.store.write().await?;
        tx.delete_hold(&t.user_id, &t.org_id).await?;
        tx.unlog_removal(&t.user_id, &t.org_id).await?;
        tx.commit().await?;
        if h.state == HoldState::Held {
            tracing::info!(user = %t.user_id, org = %t.org_id, "a held removal is no longer planned (the IdP changed back): released from the hold");
        }
        Ok(())
    }

    /// The rails for one planned removal or downgrade. `counted`: the
    /// breaker already let this target's removal through in this pass (a
    /// later step of the same change is not a second removal).
    pub(super) async fn guard(
        &self,
        t: &TargetRow,
        org: &SnykOrgId,
        red: &Reduction,
        applied: &Applied,
        op: &SnykOp,
        counted: &mut bool,
    ) -> Result<Guard, StoreError> {
        let s = &self.settings.safety;
        let email = applied.email();
        if s.is_protected(email) {
            let reason = "a protected account (safety.protected_emails): the bridge never removes or lowers its access";
            return self.refuse(t, op, red, email, reason.to_owned()).await;
        }
        if let Applied::Member {
            snyk_user_id,
            role: crate::domain::SnykRole::Admin,
            ..
        } = applied
            && self.settings.group_id.is_some()
        {
            // One admin check at a time, remembering whom it let go: two
            // admins leaving together must not both pass.
            let mut memory = self.breaker.lock().await;
            let now = self.now();
            memory
                .admins_leaving
                .retain(|(_, _, at)| now.saturating_sub(*at) < ADMIN_LEAVING_MS);
            match self.group_view().await {
                Ok(Some(view)) => {
                    if let Some(name) = view.org_names.get(org.as_str()) {
                        let leaving: Vec<&str> = memory
                            .admins_leaving
                            .iter()
                            .filter(|(o, u, _)| o == org.as_str() && u != snyk_user_id)
                            .map(|(_, u, _)| u.as_str())
                            .collect();
                        if safety::last_admin(&view.members, name, snyk_user_id, &leaving) {
                            drop(memory);
                            let reason = format!(
                                "the last admin of org {name}: the bridge never removes or lowers an org's last admin"
                            );
                            return self.refuse(t, op, red, email, reason).await;
                        }
                        memory.admins_leaving.push((
                            org.as_str().to_owned(),
                            snyk_user_id.clone(),
                            now,
                        ));
                    }
                }
                Ok(None) => {}
                Err((e, trace)) => {
                    drop(memory);
                    return self.failure(t, None, e, &trace).await.map(Guard::End);
                }
            }
        }
        if *counted {
            return Ok(Guard::Pass);
        }
        let guard = self.breaker_gate(t, org, red, email).await?;
        if matches!(guard, Guard::Pass) {
            *counted = true;
        }
        Ok(guard)
    }

    /// Refuse for good: recorded (hold row `refused`, a `refused` call
    /// record in the user's history), shown, and the target fails with the
    /// reason until the next change.
    async fn refuse(
        &self,
        t: &TargetRow,
        op: &SnykOp,
        red: &Reduction,
        email: &Email,
        reason: String,
    ) -> Result<Guard, StoreError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        let before = tx.hold(&t.user_id, &t.org_id).await?;
        let again = before
            .as_ref()
            .is_some_and(|h| h.state == HoldState::Refused);
        tx.put_hold(&HoldRow {
            user_id: t.user_id.clone(),
            org_id: t.org_id.clone(),
            state: HoldState::Refused,
            reason: reason.clone(),
            email: Some(email.as_str().to_owned()),
            change: Some(red.to_string()),
            request_id: t.request_id.clone(),
            since: before.filter(|_| again).map_or(now, |h| h.since),
            updated_at: now,
        })
        .await?;
        tx.unlog_removal(&t.user_id, &t.org_id).await?;
        tx.record_call(&self.call_record(
            t,
            op,
            &Trace::default(),
            "refused",
            Some(reason.clone()),
        ))
        .await?;
        tx.commit().await?;
        if !again {
            metrics::counter!(SAFETY_REFUSED).increment(1);
        }
        tracing::warn!(user = %t.user_id, org = %t.org_id, email = %self.log_email(email), change = %red, "refused by the safety rails: {reason}");
        Ok(Guard::End(Finish::failed(format!(
            "refused by the safety rails ({red}): {reason}"
        ))))
    }

    /// The deletion circuit breaker and the removal delay.
    async fn breaker_gate(
        &self,
        t: &TargetRow,
        org: &SnykOrgId,
        red: &Reduction,
        email: &Email,
    ) -> Result<Guard, StoreError> {
        let s = &self.settings.safety;
        let _one_at_a_time = self.breaker.lock().await;
        let now = self.now();
        let window = i64::try_from(s.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let window_start = now.saturating_sub(window);
        let mut tx = self.store.write().await?;
        let mut stored = tx
            .hold(&t.user_id, &t.org_id)
            .await?
            // A refusal that no longer applies (the list changed) starts over.
            .filter(|h| h.state != HoldState::Refused);
        if stored.is_none() && s.breaker {
            tx.log_removal(&t.user_id, &t.org_id, now, window_start)
                .await?;
            let waiting = HoldRow {
                user_id: t.user_id.clone(),
                org_id: t.org_id.clone(),
                state: HoldState::Waiting,
                reason: format!(
                    "waiting safety.removal_delay_secs ({} s) so the breaker sees a wave whole",
                    s.removal_delay_secs
                ),
                email: Some(email.as_str().to_owned()),
                change: Some(red.to_string()),
                request_id: t.request_id.clone(),
                since: now,
                updated_at: now,
            };
            tx.put_hold(&waiting).await?;
            stored = Some(waiting);
        }
        let facts = Facts {
            stored: stored.as_ref().map(|h| Stored {
                state: h.state,
                since: h.since,
                reason: h.reason.clone(),
            }),
            quarantined: tx.held_count_except(&t.user_id, &t.org_id).await? > 0,
            overall: count(tx.removal_counts(window_start, None).await?),
            org: count(tx.removal_counts(window_start, Some(org.as_str())).await?),
        };
        let gate = safety::decide(s, &facts, now);
        let guard = match &gate {
            Gate::Send => {
                if stored.is_some() {
                    tx.delete_hold(&t.user_id, &t.org_id).await?;
                    tx.removal_sent(&t.user_id, &t.org_id).await?;
                }
                Guard::Pass
            }
            Gate::Wait { until } => Guard::End(Finish::Defer { at: *until }),
            Gate::Hold(reason) => {
                tx.put_hold(&HoldRow {
                    user_id: t.user_id.clone(),
                    org_id: t.org_id.clone(),
                    state: HoldState::Held,
                    reason: reason.clone(),
                    email: Some(email.as_str().to_owned()),
                    change: Some(red.to_string()),
                    request_id: t.request_id.clone(),
                    since: stored.as_ref().map_or(now, |h| h.since),
                    updated_at: now,
                })
                .await?;
                Guard::End(Finish::Held {
                    reason: reason.clone(),
                })
            }
            Gate::Keep => Guard::End(Finish::Done),
        };
        tx.commit().await?;
        let newly_held = matches!(gate, Gate::Hold(_))
            && stored.as_ref().is_none_or(|h| h.state != HoldState::Held);
        if newly_held {
            if !facts.quarantined {
                metrics::counter!(SAFETY_TRIPS).increment(1);
                tracing::warn!(user = %t.user_id, org = %t.org_id, reason = %held_reason(&gate), "the deletion circuit breaker tripped: removals and downgrades are held until an operator runs `snyk-scim-bridge approve` or `reject` (grants keep flowing)");
            } else {
                tracing::info!(user = %t.user_id, org = %t.org_id, change = %red, "removal held by the safety rails");
            }
        }
        Ok(guard)
    }
}

fn held_reason(gate: &Gate) -> &str {
    match gate {
        Gate::Hold(r) => r,
        Gate::Send | Gate::Wait { .. } | Gate::Keep => "",
    }
}

/// An operator's decision on held removals (`approve` / `reject`): the rows
/// decided. Approved ones are sent by the leader's next pass through the
/// normal outbox (a running `serve` notices within its poll interval);
/// rejected ones are dropped and stay as drift until the IdP changes the
/// user again.
pub async fn decide_held(
    store: &Store,
    filter: &HoldFilter,
    approve: bool,
    now: i64,
) -> Result<Vec<HoldRow>, StoreError> {
    let to = if approve {
        HoldState::Approved
    } else {
        HoldState::Rejected
    };
    let mut tx = store.write().await?;
    let rows = tx.decide_holds(filter, to, now).await?;
    tx.commit().await?;
    Ok(rows)
}

/// The hold rows, for `status`, `/status` and the metrics.
pub async fn holds(store: &Store) -> Result<Vec<HoldRow>, StoreError> {
    let mut tx = store.read().await?;
    let rows = tx.holds().await?;
    tx.commit().await?;
    Ok(rows)
}
