//! Claimed targets with nothing to do, finished a batch at a time: the
//! worker looks at a whole claimed batch in one read transaction and ends
//! every target whose plan is empty in one write transaction, instead of a
//! task and three transactions per target. A mapping change, a re-queue or
//! a user in no mapped org leaves thousands of such targets; real work
//! claimed in the same batch runs as tasks at once, beside them.
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
use crate::store::{Finish, StoreError, TargetRow};

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

impl Engine {
    /// Finish the targets of `claimed` that need nothing (see the module
    /// doc); the others are returned, to run as tasks.
    pub(super) async fn settle_batch(
        &self,
        claimed: Vec<TargetRow>,
    ) -> Result<(Vec<TargetRow>, usize), StoreError> {
        let mut idle = Vec::new();
        let mut rest = Vec::new();
        // A batch often holds one user in several orgs: read them once.
        let mut users: HashMap<String, Option<mapping::UserFacts>> = HashMap::new();
        let mut tx = self.store.read().await?;
        for t in claimed {
            let Ok(org) = SnykOrgId::parse(&t.org_id) else {
                rest.push(t);
                continue;
            };
            let facts = match users.get(&t.user_id) {
                Some(f) => f.clone(),
                None => {
                    let f = self.facts_in(&mut tx, &t.user_id).await?;
                    users.insert(t.user_id.clone(), f.clone());
                    f
                }
            };
            let access = tx.get_access(&t.user_id, &t.org_id).await?;
            let Ok(applied) = access.as_ref().map(applied_of).transpose() else {
                rest.push(t);
                continue;
            };
            let has_hold = tx.hold(&t.user_id, &t.org_id).await?.is_some();
            let mappings = &self.settings.mappings;
            if nothing_to_do(mappings, &org, facts.as_ref(), applied.as_ref(), has_hold) {
                idle.push(t);
            } else {
                rest.push(t);
            }
        }
        tx.commit().await?;
        if idle.is_empty() {
            return Ok((rest, 0));
        }
        let mut tx = self.store.write().await?;
        let now = self.now();
        for t in &idle {
            if !tx.finish_target(t, &Finish::Done, now, &self.owner).await? {
                tracing::warn!(user = %t.user_id, org = %t.org_id, "the lease was lost before the target finished: another sender's outcome stands");
            }
        }
        tx.commit().await?;
        tracing::debug!(
            targets = idle.len(),
            "finished a batch of targets with nothing to do"
        );
        Ok((rest, idle.len()))
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
