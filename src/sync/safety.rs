//! The safety rails' decisions, pure (no I/O, no clock): which planned
//! change takes access away, when the deletion circuit breaker trips, when
//! one request empties a mapped group, and what happens to one removal
//! given what is stored about it. `rails` (with I/O) gathers the facts and
//! carries the decision out.
//!
//! Must never let a removal through that an operator has not seen when the
//! rules say hold, and never hold a grant or an upgrade.

use crate::config::SafetySettings;
use crate::domain::{Email, SnykRole};
use crate::snyk::GroupMember;
use crate::store::HoldState;

use super::planner::Applied;

/// A planned change that takes access away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reduction {
    /// The user loses the org (a pending provision deleted, a member removed).
    Removal,
    /// The user keeps the org with a lower role.
    Downgrade { from: SnykRole, to: SnykRole },
}

impl std::fmt::Display for Reduction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Removal => f.write_str("remove from the org"),
            Self::Downgrade { from, to } => write!(f, "lower the role {from} -> {to}"),
        }
    }
}

/// Does taking `applied` to `desired` (with the user's current `email`) take
/// access away? Access the bridge did not grant (`External`) and access it
/// cannot reach (`Unlocated`) are never changed, so never count.
pub fn reduction(
    desired: Option<&SnykRole>,
    email: Option<&Email>,
    applied: Option<&Applied>,
) -> Option<Reduction> {
    let from = match applied? {
        Applied::Pending { role, .. } | Applied::Member { role, .. } => role,
        Applied::External { .. } | Applied::Unlocated { .. } => return None,
    };
    match desired.zip(email) {
        None => Some(Reduction::Removal),
        Some((to, _)) if lowers(from, to) => Some(Reduction::Downgrade {
            from: from.clone(),
            to: to.clone(),
        }),
        Some(_) => None,
    }
}

/// Is `to` a lower role than `from`? ADMIN > COLLABORATOR >
/// RESTRICTED_COLLABORATOR; leaving ADMIN always lowers, reaching it never
/// does. A custom role's privileges are unknown to the bridge, so a change
/// between a custom role and a non-admin role (or another custom role) is
/// not counted as lowering: the bridge cannot rank it (and it grants a
/// custom role to an existing user by adding them as COLLABORATOR first,
/// which must not read as a downgrade).
pub fn lowers(from: &SnykRole, to: &SnykRole) -> bool {
    fn rank(r: &SnykRole) -> Option<u8> {
        match r {
            SnykRole::Admin => Some(3),
            SnykRole::Collaborator => Some(2),
            SnykRole::RestrictedCollaborator => Some(1),
            SnykRole::Custom(_) => None,
        }
    }
    if from == to || *to == SnykRole::Admin {
        return false;
    }
    if *from == SnykRole::Admin {
        return true;
    }
    match (rank(from), rank(to)) {
        (Some(a), Some(b)) => b < a,
        _ => false,
    }
}

/// Is this Snyk user listed as an admin of the org (by name)?
pub fn is_admin(members: &[GroupMember], org_name: &str, snyk_user_id: &str) -> bool {
    members.iter().any(|m| {
        m.id == snyk_user_id
            && m.orgs
                .iter()
                .any(|o| o.name == org_name && o.role() == SnykRole::Admin)
    })
}

/// Removals counted in one scope (overall, or one org) over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Count {
    /// Removals and downgrades planned in the window (this one included).
    pub removals: u64,
    /// The access the bridge manages in the scope (granted now, plus what
    /// the window's removals already took away).
    pub managed: u64,
}

/// Why the breaker trips for this scope, or `None`.
pub fn trips(s: &SafetySettings, scope: &str, c: Count) -> Option<String> {
    let window = s.window_secs;
    if c.removals > s.max_removals {
        return Some(format!(
            "{} removals {scope} in the last {window} s (safety.max_removals = {})",
            c.removals, s.max_removals
        ));
    }
    let managed = c.managed.max(1);
    if c.removals > s.min_removals
        && u128::from(c.removals) * 100 > u128::from(s.max_removal_percent) * u128::from(managed)
    {
        return Some(format!(
            "{} removals {scope} in the last {window} s are {}% of the {} grants the bridge manages there (safety.max_removal_percent = {})",
            c.removals,
            u128::from(c.removals) * 100 / u128::from(managed),
            c.managed,
            s.max_removal_percent
        ));
    }
    None
}

/// Does one request that takes `lost` of a mapped group's `before` members
/// away look like an empty push (Okta's `replace members []`, a group
/// DELETE, a rename away from the mapping)?
pub fn group_shrink(s: &SafetySettings, before: u64, lost: u64) -> bool {
    lost >= s.group_shrink_min
        && u128::from(lost) * 100 > u128::from(s.group_shrink_percent) * u128::from(before)
}

/// A group size at which, and above which, `group_shrink(s, before, lost)`
/// is false: counting a group's members up to this bound decides the rule
/// as well as counting them all (the rule only fires for groups smaller
/// than it, whose size the bounded count gives exactly). `u64::MAX` when
/// every size fires (`group_shrink_percent = 0`).
pub fn group_shrink_bound(s: &SafetySettings, lost: u64) -> u64 {
    if lost < s.group_shrink_min {
        return 0;
    }
    if s.group_shrink_percent == 0 {
        return u64::MAX;
    }
    // The smallest `before` with lost * 100 <= percent * before.
    let need = u128::from(lost) * 100;
    let percent = u128::from(s.group_shrink_percent);
    u64::try_from(need.div_ceil(percent)).unwrap_or(u64::MAX)
}

/// Is this Snyk user the only admin of the org (by name, as the group's
/// member list names orgs), not counting admins who are `leaving` (let go
/// a moment ago, still listed)? A user not listed as its admin is not.
pub fn last_admin(
    members: &[GroupMember],
    org_name: &str,
    snyk_user_id: &str,
    leaving: &[&str],
) -> bool {
    let mut admins = members.iter().filter(|m| {
        !leaving.contains(&m.id.as_str())
            && m.orgs
                .iter()
                .any(|o| o.name == org_name && o.role() == SnykRole::Admin)
    });
    let first = admins.next();
    first.is_some_and(|m| m.id == snyk_user_id) && admins.next().is_none()
}

/// What is stored about one (user, org) whose plan takes access away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub state: HoldState,
    pub since: i64,
    pub reason: String,
}

/// What to do with one planned removal or downgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Send it (an approval, if any, is used up).
    Send,
    /// Not yet: the removal delay runs until then.
    Wait { until: i64 },
    /// Hold it for an operator, with the reason.
    Hold(String),
    /// An operator rejected it: send nothing, keep the access (drift).
    Keep,
}

/// The facts the breaker decides on, gathered by `rails`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// What is stored for this (user, org); `None` when the breaker is off
    /// and nothing was marked.
    pub stored: Option<Stored>,
    /// Something else is held for an operator already (quarantine: while an
    /// operator has not looked, no further removal goes out).
    pub quarantined: bool,
    pub overall: Count,
    pub org: Count,
}

/// The breaker's decision for one removal (protected accounts and the last
/// admin are refused before this is asked).
pub fn decide(s: &SafetySettings, f: &Facts, now: i64) -> Gate {
    let Some(stored) = &f.stored else {
        return Gate::Send;
    };
    match stored.state {
        HoldState::Approved => return Gate::Send,
        HoldState::Rejected => return Gate::Keep,
        HoldState::Held | HoldState::Marked => return Gate::Hold(stored.reason.clone()),
        HoldState::Refused => {}
        HoldState::Waiting => {}
    }
    if !s.breaker {
        return Gate::Send;
    }
    let delay = i64::try_from(s.removal_delay_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let until = stored.since.saturating_add(delay);
    if now < until {
        return Gate::Wait { until };
    }
    if f.quarantined {
        return Gate::Hold(
            "the deletion circuit breaker is open: other removals are held for an operator".into(),
        );
    }
    if let Some(why) = trips(s, "overall", f.overall).or_else(|| trips(s, "in this org", f.org)) {
        return Gate::Hold(format!("the deletion circuit breaker tripped: {why}"));
    }
    Gate::Send
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_up_to_the_shrink_bound_decides_like_counting_all() {
        for (percent, min) in [(50, 1), (50, 3), (100, 1), (0, 1), (1, 1), (33, 2), (99, 1)] {
            let s = SafetySettings {
                group_shrink_percent: percent,
                group_shrink_min: min,
                ..SafetySettings::default()
            };
            for lost in 0..12u64 {
                let bound = group_shrink_bound(&s, lost);
                for before in lost..400 {
                    let counted = before.min(bound);
                    assert_eq!(
                        group_shrink(&s, counted, lost),
                        group_shrink(&s, before, lost),
                        "percent {percent} min {min} lost {lost} before {before}"
                    );
                }
            }
        }
    }

    fn email() -> Email {
        Email::parse("ann@example.com").unwrap()
    }
    fn custom() -> SnykRole {
        SnykRole::Custom("r1".into())
    }

    #[test]
    fn reductions_table() {
        use SnykRole::*;
        let e = email();
        let pending = |r: SnykRole| Applied::Pending {
            email: e.clone(),
            role: r,
        };
        let member = |r: SnykRole| Applied::Member {
            snyk_user_id: "u1".into(),
            email: e.clone(),
            role: r,
        };
        let external = Applied::External {
            snyk_user_id: "u1".into(),
            email: e.clone(),
            role: Admin,
        };
        type Row<'a> = (
            Option<SnykRole>,
            Option<&'a Email>,
            Option<Applied>,
            Option<Reduction>,
        );
        let rows: Vec<Row> = vec![
            (Some(Admin), Some(&e), None, None),
            (None, Some(&e), None, None),
            (
                None,
                Some(&e),
                Some(pending(Collaborator)),
                Some(Reduction::Removal),
            ),
            (
                None,
                Some(&e),
                Some(member(Admin)),
                Some(Reduction::Removal),
            ),
            // no usable email any more: the access goes
            (
                Some(Admin),
                None,
                Some(member(Admin)),
                Some(Reduction::Removal),
            ),
            (None, Some(&e), Some(external.clone()), None),
            (Some(Collaborator), Some(&e), Some(external), None),
            (Some(Admin), Some(&e), Some(member(Collaborator)), None),
            (
                Some(Collaborator),
                Some(&e),
                Some(member(Admin)),
                Some(Reduction::Downgrade {
                    from: Admin,
                    to: Collaborator,
                }),
            ),
            (
                Some(RestrictedCollaborator),
                Some(&e),
                Some(pending(Collaborator)),
                Some(Reduction::Downgrade {
                    from: Collaborator,
                    to: RestrictedCollaborator,
                }),
            ),
            (
                Some(Collaborator),
                Some(&e),
                Some(member(RestrictedCollaborator)),
                None,
            ),
            (
                Some(Collaborator),
                Some(&e),
                Some(member(Collaborator)),
                None,
            ),
            // A custom role cannot be ranked (and an existing user gets one
            // by being added as COLLABORATOR first): not a downgrade.
            (Some(custom()), Some(&e), Some(member(Collaborator)), None),
            (
                Some(custom()),
                Some(&e),
                Some(member(Admin)),
                Some(Reduction::Downgrade {
                    from: Admin,
                    to: custom(),
                }),
            ),
            (Some(Admin), Some(&e), Some(member(custom())), None),
        ];
        for (i, (desired, email, applied, want)) in rows.into_iter().enumerate() {
            assert_eq!(
                reduction(desired.as_ref(), email, applied.as_ref()),
                want,
                "row {i}"
            );
        }
    }

    fn settings() -> SafetySettings {
        SafetySettings {
            max_removals: 50,
            max_removal_percent: 10,
            min_removals: 5,
            ..SafetySettings::default()
        }
    }

    #[test]
    fn breaker_thresholds() {
        let s = settings();
        let c = |removals, managed| Count { removals, managed };
        // Up to min_removals never trips on the percentage.
        assert_eq!(trips(&s, "overall", c(5, 5)), None);
        // 6 of 20 is 30% > 10%.
        assert!(trips(&s, "overall", c(6, 20)).unwrap().contains("30%"));
        // 6 of 1000 is under 10%.
        assert_eq!(trips(&s, "overall", c(6, 1000)), None);
        // 50 is the count limit, 51 trips whatever the share.
        assert_eq!(trips(&s, "overall", c(50, 100_000)), None);
        assert!(
            trips(&s, "overall", c(51, 100_000))
                .unwrap()
                .contains("max_removals")
        );
        // No managed access at all: any count above the minimum trips.
        assert!(trips(&s, "overall", c(6, 0)).is_some());
    }

    #[test]
    fn empty_push_rule() {
        let s = settings();
        assert!(group_shrink(&s, 40, 40));
        assert!(group_shrink(&s, 40, 21));
        assert!(!group_shrink(&s, 40, 20));
        // One leaver of a one-person group is not an empty push.
        assert!(!group_shrink(&s, 1, 1));
        assert!(group_shrink(&s, 2, 2));
    }

    fn facts(state: HoldState, since: i64) -> Facts {
        Facts {
            stored: Some(Stored {
                state,
                since,
                reason: "why".into(),
            }),
            quarantined: false,
            overall: Count {
                removals: 1,
                managed: 100,
            },
            org: Count {
                removals: 1,
                managed: 100,
            },
        }
    }

    #[test]
    fn decisions() {
        let s = SafetySettings {
            removal_delay_secs: 10,
            ..settings()
        };
        assert_eq!(
            decide(&s, &facts(HoldState::Waiting, 0), 5_000),
            Gate::Wait { until: 10_000 }
        );
        assert_eq!(
            decide(&s, &facts(HoldState::Waiting, 0), 10_000),
            Gate::Send
        );
        assert_eq!(decide(&s, &facts(HoldState::Approved, 0), 0), Gate::Send);
        assert_eq!(
            decide(&s, &facts(HoldState::Rejected, 0), 20_000),
            Gate::Keep
        );
        assert_eq!(
            decide(&s, &facts(HoldState::Held, 0), 20_000),
            Gate::Hold("why".into())
        );
        assert_eq!(
            decide(&s, &facts(HoldState::Marked, 0), 0),
            Gate::Hold("why".into())
        );
        let mut q = facts(HoldState::Waiting, 0);
        q.quarantined = true;
        assert!(matches!(decide(&s, &q, 10_000), Gate::Hold(_)));
        let mut wave = facts(HoldState::Waiting, 0);
        wave.org = Count {
            removals: 6,
            managed: 20,
        };
        assert!(matches!(decide(&s, &wave, 10_000), Gate::Hold(r) if r.contains("in this org")));
        // The breaker off: a waiting removal goes, a held one stays held.
        let off = SafetySettings {
            breaker: false,
            ..s.clone()
        };
        assert_eq!(decide(&off, &wave, 0), Gate::Send);
        assert!(matches!(
            decide(&off, &facts(HoldState::Marked, 0), 0),
            Gate::Hold(_)
        ));
        assert_eq!(
            decide(
                &s,
                &Facts {
                    stored: None,
                    ..wave
                },
                0
            ),
            Gate::Send
        );
    }

    #[test]
    fn last_admin_of_an_org() {
        let m = |id: &str, orgs: &[(&str, &str)]| GroupMember {
            id: id.into(),
            email: None,
            group_role: None,
            orgs: orgs
                .iter()
                .map(|(n, r)| crate::snyk::GroupMemberOrg {
                    name: (*n).into(),
                    role: Some((*r).into()),
                })
                .collect(),
        };
        let one = vec![
            m("a", &[("Org A", "admin")]),
            m("b", &[("Org A", "collaborator")]),
        ];
        assert!(last_admin(&one, "Org A", "a", &[]));
        assert!(!last_admin(&one, "Org A", "b", &[]));
        assert!(!last_admin(&one, "Org B", "a", &[]));
        let two = vec![m("a", &[("Org A", "admin")]), m("c", &[("Org A", "admin")])];
        assert!(!last_admin(&two, "Org A", "a", &[]));
        // "c" was let go a moment ago (still listed): "a" is the last one.
        assert!(last_admin(&two, "Org A", "a", &["c"]));
    }

    #[test]
    fn custom_roles_are_not_ranked() {
        use SnykRole::*;
        assert!(lowers(&Admin, &custom()));
        assert!(!lowers(&custom(), &Admin));
        assert!(!lowers(&custom(), &Collaborator));
        assert!(!lowers(&Collaborator, &custom()));
        assert!(!lowers(&custom(), &SnykRole::Custom("r2".into())));
        assert!(!lowers(&custom(), &custom()));
        assert!(!lowers(&RestrictedCollaborator, &Collaborator));
        assert!(lowers(&Collaborator, &RestrictedCollaborator));
    }
}
