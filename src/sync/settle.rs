//! Claimed targets with nothing to do, finished a batch at a time: right
//! after a claim the worker reads what the whole batch needs (one read
//! transaction, a statement per table) and ends every target whose plan is
//! empty (one write transaction, one statement), instead of a task and
//! three transactions per target. (The reads stay out of the claim's write
//! transaction: on SQLite that would hold the one write lock through them,
//! and real work drained a quarter slower.) A mapping change, a re-queue or
//! a user in no mapped org leaves thousands of such targets; real work
//! claimed in the same batch runs as tasks at once, beside them.
//!
//! What it read for the others goes with them (`Loaded`): a task started at
//! once plans its first step from it instead of reading it again. That is
//! as safe as the task's own read at its start: it was read after the
//! claim, and a change since then bumps the target's generation, so it is
//! planned again. (A target that must wait for a slot reads afresh.)
//!
//! It must never finish a target `execute` would not have finished `Done`
//! with no call and no write: anything else (a call to make, a removal the
//! rails look at, a hold row, unlocated access, a user without a usable
//! email, an unreadable row) goes to `execute` untouched. The finish is the
//! usual one: only under this worker's lease, and a target changed since it
//! was claimed stays pending (its generation moved).

use std::collections::HashMap;

use super::engine::{Engine, applied_of};
use super::mapping;
use super::planner::{self, Applied};
use super::safety;
use crate::domain::SnykOrgId;
use crate::store::{AccessRow, HoldRow, StoreError, TargetRow};

/// What the batch read for one target, after its claim: the user (`None`:
/// deleted), its access and hold rows in the target's org, and when the
/// read began (a hold changed since then is not the one read).
#[derive(Debug, Clone)]
pub(super) struct Loaded {
    pub facts: Option<mapping::UserFacts>,
    pub access: Option<AccessRow>,
    pub hold: Option<HoldRow>,
    pub at: i64,
}

/// Nothing to do for this target, by what was read: no call planned, no
/// access reduced, no hold row to forget, nothing the worker must report.
pub(super) fn nothing_to_do(
    mappings: &[crate::config::Mapping],
    org: &SnykOrgId,
    facts: Option<&mapping::UserFacts>,
    applied: Option<&Applied>,
    has_hold: bool,
) -> bool {
    if has_hold || matches!(applied, Some(Applied::Unlocated { .. })) {
        return false;
    }
    if let Some(f) = facts
        && f.email.is_none()
        && mapping::wants_access(mappings, f, org)
    {
        return false;
    }
    let desired = mapping::desired(mappings, facts);
    let want = desired.get(org);
    let email = facts.and_then(|f| f.email.as_ref());
    planner::plan(org, want, email, applied).is_empty()
        && safety::reduction(want, email, applied).is_none()
}

/// What settling a claimed batch left: the targets to run as tasks (with
/// what was read for them, where it can be used), how many were finished,
/// and the keys whose lease was lost before they could be.
pub(super) struct Settled {
    pub rest: Vec<(TargetRow, Option<Loaded>)>,
    pub finished: usize,
    pub lost: Vec<(String, String)>,
}

impl Engine {
    /// Read what the targets of `claimed` need and finish those that need
    /// nothing (see the module doc).
    pub(super) async fn settle(&self, claimed: Vec<TargetRow>) -> Result<Settled, StoreError> {
        // Every read of the batch is one statement per table, whatever its
        // size (a statement per target was most of the drain's cost).
        let mut user_ids: Vec<String> = claimed.iter().map(|t| t.user_id.clone()).collect();
        user_ids.sort_unstable();
        user_ids.dedup();
        let keys: Vec<(String, String)> = claimed
            .iter()
            .map(|t| (t.user_id.clone(), t.org_id.clone()))
            .collect();
        let at = self.now();
        let mut tx = self.store.read().await?;
        let users = tx.users_with_groups(&user_ids).await?;
        let mut access = tx.access_among(&keys).await?;
        let mut holds = tx.holds_among(&keys).await?;
        tx.commit().await?;
        let facts: HashMap<&str, mapping::UserFacts> = users
            .iter()
            .map(|(id, (u, groups))| (id.as_str(), mapping::facts(&u.doc, groups.clone())))
            .collect();
        let mappings = &self.settings.mappings;
        let (mut idle, mut rest) = (Vec::new(), Vec::new());
        for t in claimed {
            let Ok(org) = SnykOrgId::parse(&t.org_id) else {
                rest.push((t, None));
                continue;
            };
            let key = (t.user_id.clone(), t.org_id.clone());
            let Ok(applied) = access.get(&key).map(applied_of).transpose() else {
                rest.push((t, None));
                continue;
            };
            let f = facts.get(t.user_id.as_str());
            if nothing_to_do(
                mappings,
                &org,
                f,
                applied.as_ref(),
                holds.contains_key(&key),
            ) {
                idle.push(t);
            } else {
                let loaded = Loaded {
                    facts: f.cloned(),
                    access: access.remove(&key),
                    hold: holds.remove(&key),
                    at,
                };
                rest.push((t, Some(loaded)));
            }
        }
        let mut lost = Vec::new();
        if !idle.is_empty() {
            let mut tx = self.store.write().await?;
            lost = tx.finish_done_all(&idle, self.now(), &self.owner).await?;
            tx.commit().await?;
        }
        Ok(Settled {
            rest,
            finished: idle.len() - lost.len(),
            lost,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::nothing_to_do;
    use crate::config::Mapping;
    use crate::domain::{Email, GroupName, SnykOrgId, SnykRole};
    use crate::sync::mapping::UserFacts;
    use crate::sync::planner::Applied;

    const ORG: &str = "6b7a7c5e-1111-4c4c-9d9d-00000000000a";

    fn org() -> SnykOrgId {
        SnykOrgId::parse(ORG).expect("org")
    }

    fn user(email: Option<&str>, groups: &[&str]) -> UserFacts {
        UserFacts {
            email: email.map(|e| Email::parse(e).expect("email")),
            active: true,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn ann() -> Email {
        Email::parse("ann@x.com").expect("email")
    }

    #[test]
    fn only_a_target_with_nothing_to_do_is_settled_in_the_batch() {
        let maps = vec![Mapping {
            group: GroupName::parse("Admins").expect("group"),
            org_id: org(),
            role: SnykRole::Admin,
        }];
        let pending_admin = Applied::Pending {
            email: ann(),
            role: SnykRole::Admin,
        };
        let member_admin = Applied::Member {
            snyk_user_id: "s1".into(),
            email: ann(),
            role: SnykRole::Admin,
        };
        let unlocated = Applied::Unlocated {
            email: ann(),
            role: SnykRole::Admin,
        };
        let in_group = user(Some("ann@x.com"), &["Admins"]);
        let no_group = user(Some("ann@x.com"), &[]);
        let no_email = user(None, &["Admins"]);
        // (facts, applied, hold row, nothing to do?)
        let cases: [(Option<&UserFacts>, Option<&Applied>, bool, bool); 10] = [
            (None, None, false, true),            // deleted user, nothing applied
            (Some(&no_group), None, false, true), // in no mapped group
            (Some(&in_group), Some(&pending_admin), false, true), // in line already
            (Some(&in_group), Some(&member_admin), false, true), // in line already
            (Some(&in_group), None, false, false), // a provision to send
            (Some(&no_group), Some(&pending_admin), false, false), // a removal
            (None, Some(&member_admin), false, false), // a removal
            (Some(&in_group), Some(&pending_admin), true, false), // a hold row to forget
            (Some(&in_group), Some(&unlocated), false, false), // unlocated: execute decides
            (Some(&no_email), None, false, false), // must fail with the reason
        ];
        for (i, (facts, applied, hold, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                nothing_to_do(&maps, &org(), facts, applied, hold),
                want,
                "case {i}"
            );
        }
    }
}
