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

/// The longest an admin the last-admin check let go is not counted as one
/// (normally until Snyk's list stops showing them as the org's admin).
const ADMIN_LEAVING_MS: i64 = 3_600_000;

/// What the last-admin check found.
enum AdminCheck {
    /// The org cannot be seen (no group list, or not in it): not checked.
    Unseen,
    /// Another admin stays: this one may go (and is remembered as leaving).
    Leaving,
    /// Refused, with the reason.
    Refuse(String),
}

fn count(c: RemovalCounts) -> Count {
    Count {
        removals: u64::try_from(c.planned).unwrap_or(0),
        managed: u64::try_from(c.granted.saturating_add(c.sent)).unwrap_or(0),
    }
}

/// The breaker's count in one scope. The access the bridge manages there is
/// counted only when the removals are above `safety.min_removals`, the only
/// case in which the percentage rule reads it (`safety::trips`): counting it
/// walks that access, and this runs for every planned removal.
async fn breaker_count(
    tx: &mut crate::store::StoreTx,
    s: &crate::config::SafetySettings,
    since: i64,
    org: Option<&str>,
) -> Result<Count, crate::store::StoreError> {
    let c = tx.removal_counts(since, org, false).await?;
    if u64::try_from(c.planned).unwrap_or(0) > s.min_removals {
        return Ok(count(tx.removal_counts(since, org, true).await?));
    }
    Ok(count(c))
}

impl Engine {
    /// The plan for this target takes no access away: whatever the rails
    /// stored for it (waiting, held, let through, rejected ...) is moot.
    /// Only a row no newer than the facts the plan was made from is
    /// forgotten (`loaded_at`): a row written since (an empty push marked
    /// it) belongs to a change this plan has not seen, whose target is queued
    /// again anyway.
    pub(super) async fn forget_hold(
        &self,
        t: &TargetRow,
        loaded_at: i64,
        known: Option<Option<HoldRow>>,
    ) -> Result<(), StoreError> {
        let row = match known {
            Some(row) => row,
            None => {
                let mut tx = self.store.read().await?;
                let row = tx.hold(&t.user_id, &t.org_id).await?;
                tx.commit().await?;
                row
            }
        };
        let Some(h) = row else {
            return Ok(());
        };
        if h.updated_at > loaded_at {
            return Ok(());
        }
        let mut tx = self.store.write().await?;
        let gone = tx
            .delete_hold_if_unchanged(&t.user_id, &t.org_id, h.state, h.updated_at)
            .await?;
        tx.unlog_removal(&t.user_id, &t.org_id).await?;
        tx.commit().await?;
        if gone && h.state == HoldState::Held {
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
        let mut leaving_admin = None;
        if let Applied::Member {
            snyk_user_id,
            role: crate::domain::SnykRole::Admin,
            ..
        } = applied
            && self.settings.group_id.is_some()
        {
            match self.last_admin_check(org, snyk_user_id).await {
                Ok(AdminCheck::Refuse(reason)) => {
                    return self.refuse(t, op, red, email, reason).await;
                }
                Ok(AdminCheck::Leaving) => leaving_admin = Some(snyk_user_id),
                Ok(AdminCheck::Unseen) => {}
                Err((e, trace)) => {
                    return self.failure(t, None, e, &trace).await.map(Guard::End);
                }
            }
        }
        if *counted {
            return Ok(Guard::Pass);
        }
        let guard = self.breaker_gate(t, org, red, email).await?;
        match &guard {
            Guard::Pass => *counted = true,
            // Not going now: this admin is not leaving after all.
            Guard::End(_) => {
                if let Some(uid) = leaving_admin {
                    self.breaker
                        .lock()
                        .await
                        .admins_leaving
                        .retain(|(o, u, _)| !(o == org.as_str() && u == uid));
                }
            }
        }
        Ok(guard)
    }

    /// Is this member the last admin of the org? Snyk's group list is read
    /// first (outside the lock); then, under the lock, admins let go a
    /// moment ago (still listed while their removal waits or Snyk's list
    /// catches up) do not count, and this one is remembered as leaving.
    async fn last_admin_check(
        &self,
        org: &SnykOrgId,
        snyk_user_id: &str,
    ) -> Result<AdminCheck, (crate::snyk::SnykError, Trace)> {
        let Some(view) = self.group_view().await? else {
            return Ok(AdminCheck::Unseen);
        };
        let Some(name) = view.org_names.get(org.as_str()) else {
            tracing::warn!(org = %org, "the last-admin check cannot see this org in the group's org list: the removal of an admin goes ahead unchecked");
            return Ok(AdminCheck::Unseen);
        };
        if view.org_names.values().filter(|n| *n == name).count() > 1 {
            return Ok(AdminCheck::Refuse(format!(
                "an admin of org {name}, whose name another org of the group shares: the bridge cannot tell the org's admins apart, so it never removes or lowers one"
            )));
        }
        let mut memory = self.breaker.lock().await;
        let now = self.now();
        // An admin stays "leaving" while Snyk still lists them as an admin of
        // the org (their removal waits, or the list lags), at most an hour.
        memory.admins_leaving.retain(|(o, u, at)| {
            now.saturating_sub(*at) < ADMIN_LEAVING_MS
                && (o != org.as_str() || safety::is_admin(&view.members, name, u))
        });
        let leaving: Vec<&str> = memory
            .admins_leaving
            .iter()
            .filter(|(o, u, _)| o == org.as_str() && u != snyk_user_id)
            .map(|(_, u, _)| u.as_str())
            .collect();
        if safety::last_admin(&view.members, name, snyk_user_id, &leaving) {
            return Ok(AdminCheck::Refuse(format!(
                "the last admin of org {name}: the bridge never removes or lowers an org's last admin"
            )));
        }
        if !memory
            .admins_leaving
            .iter()
            .any(|(o, u, _)| o == org.as_str() && u == snyk_user_id)
        {
            memory
                .admins_leaving
                .push((org.as_str().to_owned(), snyk_user_id.to_owned(), now));
        }
        Ok(AdminCheck::Leaving)
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

    /// The deletion circuit breaker and the removal delay. Every write is
    /// compare-and-set against the row it decided on: an operator's
    /// `approve` or a SCIM request's mark that lands meanwhile is never
    /// overwritten (the target is planned again at once instead).
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
        let read = tx.hold(&t.user_id, &t.org_id).await?;
        let expected = read.as_ref().map(|h| (h.state, h.updated_at));
        // A refusal that no longer applies (the list changed) starts over.
        let mut stored = read.filter(|h| h.state != HoldState::Refused);
        let row = |state: HoldState, reason: String, since: i64| HoldRow {
            user_id: t.user_id.clone(),
            org_id: t.org_id.clone(),
            state,
            reason,
            email: Some(email.as_str().to_owned()),
            change: Some(red.to_string()),
            request_id: t.request_id.clone(),
            since,
            updated_at: now,
        };
        let mut expected_now = expected;
        if stored.is_none() && s.breaker {
            tx.log_removal(&t.user_id, &t.org_id, now, window_start)
                .await?;
            let waiting = row(
                HoldState::Waiting,
                format!(
                    "waiting safety.removal_delay_secs ({} s) so the breaker sees a wave whole",
                    s.removal_delay_secs
                ),
                now,
            );
            if !tx.swap_hold(&waiting, expected).await? {
                return Ok(Guard::End(Finish::Defer { at: now }));
            }
            expected_now = Some((waiting.state, waiting.updated_at));
            stored = Some(waiting);
        }
        let facts = Facts {
            stored: stored.as_ref().map(|h| Stored {
                state: h.state,
                since: h.since,
                reason: h.reason.clone(),
            }),
            quarantined: tx.held_other_than(&t.user_id, &t.org_id).await?,
            overall: breaker_count(&mut tx, s, window_start, None).await?,
            org: breaker_count(&mut tx, s, window_start, Some(org.as_str())).await?,
        };
        let gate = safety::decide(s, &facts, now);
        let since = stored.as_ref().map_or(now, |h| h.since);
        let (guard, write) = match &gate {
            // Let through: the row stays (`approved`) until the plan no
            // longer takes access away, so a retried call (5xx, timeout) is
            // neither counted nor delayed again, and an approval is not lost.
            Gate::Send => (
                Guard::Pass,
                stored
                    .as_ref()
                    .filter(|h| h.state != HoldState::Approved)
                    .map(|_| row(HoldState::Approved, "let through: being sent".into(), since)),
            ),
            Gate::Wait { until } => (Guard::End(Finish::Defer { at: *until }), None),
            Gate::Hold(reason) => (
                Guard::End(Finish::Held {
                    reason: reason.clone(),
                }),
                Some(row(HoldState::Held, reason.clone(), since)),
            ),
            Gate::Keep => (Guard::End(Finish::Done), None),
        };
        if let Some(w) = &write
            && !tx.swap_hold(w, expected_now).await?
        {
            return Ok(Guard::End(Finish::Defer { at: now }));
        }
        if matches!(gate, Gate::Send) && stored.is_some() {
            tx.removal_sent(&t.user_id, &t.org_id).await?;
        }
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
