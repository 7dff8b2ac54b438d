//! Reconciliation's decision, pure: from what the bridge applied for one
//! (user, org) and what Snyk lists now, what the applied state becomes.
//!
//! Snyk's `GET /org/{id}/members` returns "all non-admin members", so an org
//! admin is absent from it. With `snyk.group_id` the group's member list
//! (every member, with their orgs by name) finds them; without it, an admin
//! who logged in cannot be found: the verdict is then [`Verdict::Unlocated`],
//! never "gone" (which would provision them again) and never silence.
//!
//! No I/O here: the engine reads the lists and writes the verdict.

use crate::domain::SnykRole;
use crate::snyk::{GroupMember, OrgMember, PendingProvision};

use super::planner::Applied;

/// What Snyk lists now about one org.
#[derive(Debug, Clone, Copy)]
pub struct Sight<'a> {
    /// `GET /org/{id}/provision`.
    pub pending: &'a [PendingProvision],
    /// `GET /org/{id}/members` (admins may be missing).
    pub members: &'a [OrgMember],
    /// The group's view, when `snyk.group_id` is set and was read.
    pub group: Option<GroupSight<'a>>,
}

/// `GET /group/{id}/members` and the name of this org in it.
#[derive(Debug, Clone, Copy)]
pub struct GroupSight<'a> {
    pub members: &'a [GroupMember],
    pub org_name: &'a str,
}

/// What the applied state of one (user, org) becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to change.
    Unchanged,
    /// The provision is pending (again).
    Pending,
    /// A member: adopted at first login, or found again. `role` is the role
    /// the bridge applied (a different role in Snyk is [`Verdict::Drift`]).
    Member {
        snyk_user_id: String,
        role: SnykRole,
    },
    /// A member whose role in Snyk differs from what the bridge applied.
    Drift {
        snyk_user_id: String,
        observed: SnykRole,
    },
    /// Neither pending nor a member: removed in Snyk by hand.
    Gone,
    /// Logged in (no longer pending) but not findable: not in the org's
    /// member list, which leaves admins out, and no group list to look in.
    Unlocated,
}

fn same_email(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b))
}

impl Sight<'_> {
    fn is_pending(&self, email: &str) -> bool {
        self.pending
            .iter()
            .any(|p| p.email.eq_ignore_ascii_case(email))
    }

    /// The org member with this email or id, with their role.
    fn org_member(&self, email: &str, id: Option<&str>) -> Option<(String, SnykRole)> {
        self.members
            .iter()
            .find(|m| id.is_some_and(|i| m.id == i) || same_email(m.email.as_deref(), email))
            .map(|m| (m.id.clone(), m.role()))
    }

    /// Through the group list: `Some(None)` when the group is readable but the
    /// person is not in this org; `None` when there is no group list.
    fn group_member(&self, email: &str, id: Option<&str>) -> Option<Option<(String, SnykRole)>> {
        let g = self.group?;
        let person = g
            .members
            .iter()
            .find(|m| id.is_some_and(|i| m.id == i) || same_email(m.email.as_deref(), email));
        Some(person.and_then(|m| {
            m.orgs
                .iter()
                .find(|o| o.name == g.org_name)
                .map(|o| (m.id.clone(), o.role()))
        }))
    }

    /// Where the person is, by every list available.
    fn find(&self, email: &str, id: Option<&str>) -> Found {
        if let Some((id, role)) = self.org_member(email, id) {
            return Found::Member(id, role);
        }
        match self.group_member(email, id) {
            Some(Some((id, role))) => Found::Member(id, role),
            Some(None) => Found::Absent,
            None => Found::Unknown,
        }
    }
}

enum Found {
    Member(String, SnykRole),
    /// Certainly not a member of the org.
    Absent,
    /// Not in the org's list, and no group list: an admin would look so.
    Unknown,
}

/// The verdict for one applied state.
pub fn judge(applied: &Applied, sight: &Sight<'_>) -> Verdict {
    match applied {
        Applied::External { .. } => Verdict::Unchanged,
        Applied::Pending { email, role } => {
            if sight.is_pending(email.as_str()) {
                return Verdict::Unchanged;
            }
            match sight.find(email.as_str(), None) {
                Found::Member(id, _) => Verdict::Member {
                    snyk_user_id: id,
                    role: role.clone(),
                },
                Found::Absent => Verdict::Gone,
                Found::Unknown if *role == SnykRole::Admin => Verdict::Unlocated,
                Found::Unknown => Verdict::Gone,
            }
        }
        Applied::Member {
            snyk_user_id,
            email,
            role,
        } => match sight.find(email.as_str(), Some(snyk_user_id)) {
            Found::Member(id, observed) if id == *snyk_user_id => {
                if observed == *role {
                    Verdict::Unchanged
                } else {
                    Verdict::Drift {
                        snyk_user_id: id,
                        observed,
                    }
                }
            }
            // Another account with this email: ours is gone.
            Found::Member(..) | Found::Absent => Verdict::Gone,
            // An admin is not listed; without the group list, trust what we applied.
            Found::Unknown if *role == SnykRole::Admin => Verdict::Unchanged,
            Found::Unknown => Verdict::Gone,
        },
        Applied::Unlocated { email, role } => {
            if sight.is_pending(email.as_str()) {
                return Verdict::Pending;
            }
            match sight.find(email.as_str(), None) {
                Found::Member(id, _) => Verdict::Member {
                    snyk_user_id: id,
                    role: role.clone(),
                },
                Found::Absent => Verdict::Gone,
                Found::Unknown => Verdict::Unchanged,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Email;
    use crate::snyk::GroupMemberOrg;

    const UID: &str = "u-1";

    fn email() -> Email {
        Email::parse("ann@example.com").expect("email")
    }

    fn pending(role: SnykRole) -> Applied {
        Applied::Pending {
            email: email(),
            role,
        }
    }

    fn member(role: SnykRole) -> Applied {
        Applied::Member {
            snyk_user_id: UID.into(),
            email: email(),
            role,
        }
    }

    fn unlocated(role: SnykRole) -> Applied {
        Applied::Unlocated {
            email: email(),
            role,
        }
    }

    fn p(e: &str) -> PendingProvision {
        PendingProvision {
            email: e.into(),
            role: None,
            role_public_id: None,
        }
    }

    fn om(id: &str, e: &str, role: &str) -> OrgMember {
        OrgMember {
            id: id.into(),
            email: Some(e.into()),
            role: Some(role.into()),
        }
    }

    fn gm(id: &str, e: &str, orgs: &[(&str, &str)]) -> GroupMember {
        GroupMember {
            id: id.into(),
            email: Some(e.into()),
            orgs: orgs
                .iter()
                .map(|(n, r)| GroupMemberOrg {
                    name: (*n).into(),
                    role: Some((*r).into()),
                })
                .collect(),
            group_role: None,
        }
    }

    fn judge_with(
        applied: &Applied,
        pend: &[PendingProvision],
        members: &[OrgMember],
        group: Option<&[GroupMember]>,
    ) -> Verdict {
        let sight = Sight {
            pending: pend,
            members,
            group: group.map(|members| GroupSight {
                members,
                org_name: "Org A",
            }),
        };
        judge(applied, &sight)
    }

    fn adopted(role: SnykRole) -> Verdict {
        Verdict::Member {
            snyk_user_id: UID.into(),
            role,
        }
    }

    #[test]
    fn the_decision_table() {
        use SnykRole::*;
        let custom = Custom("role-x".into());
        let admin_in_group = [gm(UID, "ANN@example.com", &[("Org A", "admin")])];
        let in_other_org = [gm(UID, "ann@example.com", &[("Org B", "admin")])];
        let collab = [om(UID, "ann@example.com", "collaborator")];
        let demoted = [gm(UID, "ann@example.com", &[("Org A", "collaborator")])];
        type Row<'a> = (
            &'a str,
            Applied,
            Vec<PendingProvision>,
            Vec<OrgMember>,
            Option<&'a [GroupMember]>,
            Verdict,
        );
        let rows: Vec<Row> = vec![
            (
                "pending, still listed",
                pending(Admin),
                vec![p("Ann@example.com")],
                vec![],
                None,
                Verdict::Unchanged,
            ),
            (
                "pending, logged in as collaborator",
                pending(Collaborator),
                vec![],
                collab.to_vec(),
                None,
                adopted(Collaborator),
            ),
            (
                "pending, logged in with a custom role",
                pending(custom.clone()),
                vec![],
                vec![om(UID, "ann@example.com", "role-x")],
                None,
                adopted(custom.clone()),
            ),
            (
                "pending admin, logged in, found through the group",
                pending(Admin),
                vec![],
                vec![],
                Some(&admin_in_group),
                adopted(Admin),
            ),
            (
                "pending admin, no group list: unlocated, not gone",
                pending(Admin),
                vec![],
                vec![],
                None,
                Verdict::Unlocated,
            ),
            (
                "pending collaborator, nowhere, no group list",
                pending(Collaborator),
                vec![],
                vec![],
                None,
                Verdict::Gone,
            ),
            (
                "pending admin, in the group but not this org",
                pending(Admin),
                vec![],
                vec![],
                Some(&in_other_org),
                Verdict::Gone,
            ),
            (
                "pending admin, not in the group",
                pending(Admin),
                vec![],
                vec![],
                Some(&[]),
                Verdict::Gone,
            ),
            (
                "member, listed, same role",
                member(Collaborator),
                vec![],
                collab.to_vec(),
                None,
                Verdict::Unchanged,
            ),
            (
                "member, listed, other role",
                member(RestrictedCollaborator),
                vec![],
                collab.to_vec(),
                None,
                Verdict::Drift {
                    snyk_user_id: UID.into(),
                    observed: Collaborator,
                },
            ),
            (
                "admin member, only in the group list",
                member(Admin),
                vec![],
                vec![],
                Some(&admin_in_group),
                Verdict::Unchanged,
            ),
            (
                "admin member, demoted by hand, seen in the group",
                member(Admin),
                vec![],
                vec![],
                Some(&demoted),
                Verdict::Drift {
                    snyk_user_id: UID.into(),
                    observed: Collaborator,
                },
            ),
            (
                "admin member, no group list: trusted",
                member(Admin),
                vec![],
                vec![],
                None,
                Verdict::Unchanged,
            ),
            (
                "collaborator member, gone",
                member(Collaborator),
                vec![],
                vec![],
                None,
                Verdict::Gone,
            ),
            (
                "admin member, removed (group says)",
                member(Admin),
                vec![],
                vec![],
                Some(&in_other_org),
                Verdict::Gone,
            ),
            (
                "member, another account has the email",
                member(Collaborator),
                vec![],
                vec![om("u-2", "ann@example.com", "collaborator")],
                None,
                Verdict::Gone,
            ),
            (
                "unlocated, still nowhere",
                unlocated(Admin),
                vec![],
                vec![],
                None,
                Verdict::Unchanged,
            ),
            (
                "unlocated, pending again",
                unlocated(Admin),
                vec![p("ann@example.com")],
                vec![],
                None,
                Verdict::Pending,
            ),
            (
                "unlocated, now listed (demoted)",
                unlocated(Admin),
                vec![],
                collab.to_vec(),
                None,
                adopted(Admin),
            ),
            (
                "unlocated, group list now readable",
                unlocated(Admin),
                vec![],
                vec![],
                Some(&admin_in_group),
                adopted(Admin),
            ),
        ];
        for (what, applied, pend, members, group, want) in rows {
            assert_eq!(judge_with(&applied, &pend, &members, group), want, "{what}");
        }
        let external = Applied::External {
            snyk_user_id: UID.into(),
            email: email(),
            role: Admin,
        };
        assert_eq!(
            judge_with(&external, &[], &[], None),
            Verdict::Unchanged,
            "external is never touched"
        );
    }
}
