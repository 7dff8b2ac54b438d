//! The planner: from desired and applied access of one (user, org), the Snyk
//! operations that close the gap, in order. Pure and deterministic; it
//! speaks in [`SnykOp`]s and knows nothing of Snyk's paths or spellings.
//!
//! Invariant: access the bridge did not grant (`Applied::External`) is never
//! changed or removed.

pub use crate::domain::SnykOp;
use crate::domain::{Email, SnykOrgId, SnykRole};

/// What the bridge has applied in Snyk for one (user, org).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A pending provision the bridge made.
    Pending { email: Email, role: SnykRole },
    /// A membership the bridge granted (directly, or by a provision that
    /// turned into a membership at first login).
    Member {
        snyk_user_id: String,
        email: Email,
        role: SnykRole,
    },
    /// A membership that existed before the bridge acted: never touched.
    External {
        snyk_user_id: String,
        email: Email,
        role: SnykRole,
    },
    /// A provision the bridge made whose user logged in, but who cannot be
    /// found: Snyk's org member list leaves admins out, and without
    /// `snyk.group_id` there is no other list. No call can change or remove
    /// this access; the engine reports every change it would need.
    Unlocated { email: Email, role: SnykRole },
}

impl Applied {
    pub fn email(&self) -> &Email {
        match self {
            Self::Pending { email, .. }
            | Self::Member { email, .. }
            | Self::External { email, .. }
            | Self::Unlocated { email, .. } => email,
        }
    }

    pub fn role(&self) -> &SnykRole {
        match self {
            Self::Pending { role, .. }
            | Self::Member { role, .. }
            | Self::External { role, .. }
            | Self::Unlocated { role, .. } => role,
        }
    }
}

/// The calls that take `applied` to `desired` for one (user, org).
/// `email` is the user's current email (None: deleted user or no email).
pub fn plan(
    org: &SnykOrgId,
    desired: Option<&SnykRole>,
    email: Option<&Email>,
    applied: Option<&Applied>,
) -> Vec<SnykOp> {
    let want = desired.zip(email);
    match (want, applied) {
        (None, None) => vec![],
        (_, Some(Applied::External { .. } | Applied::Unlocated { .. })) => vec![],
        (Some((role, email)), None) => vec![SnykOp::Provision {
            org: org.clone(),
            email: email.clone(),
            role: role.clone(),
        }],
        (Some((role, email)), Some(Applied::Pending { email: e, role: r })) => {
            if e == email && r == role {
                vec![]
            } else {
                // Role or email changed while pending: delete, then provision anew.
                vec![
                    SnykOp::DeleteProvision {
                        org: org.clone(),
                        email: e.clone(),
                    },
                    SnykOp::Provision {
                        org: org.clone(),
                        email: email.clone(),
                        role: role.clone(),
                    },
                ]
            }
        }
        (
            Some((role, _)),
            Some(Applied::Member {
                snyk_user_id,
                role: r,
                ..
            }),
        ) => {
            if r == role {
                vec![]
            } else {
                vec![SnykOp::UpdateMemberRole {
                    org: org.clone(),
                    snyk_user_id: snyk_user_id.clone(),
                    role: role.clone(),
                }]
            }
        }
        (None, Some(Applied::Pending { email: e, .. })) => vec![SnykOp::DeleteProvision {
            org: org.clone(),
            email: e.clone(),
        }],
        (None, Some(Applied::Member { snyk_user_id, .. })) => vec![SnykOp::RemoveMember {
            org: org.clone(),
            snyk_user_id: snyk_user_id.clone(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> SnykOrgId {
        SnykOrgId::parse("6b7a7c5e-1111-4c4c-9d9d-000000000001").expect("org")
    }
    fn email(s: &str) -> Email {
        Email::parse(s).expect("email")
    }

    #[test]
    fn plan_table() {
        use SnykRole::{Admin, Collaborator};
        let a = email("a@x.com");
        let b = email("b@x.com");
        let pending = |e: &Email, r: SnykRole| Applied::Pending {
            email: e.clone(),
            role: r,
        };
        let member = |r: SnykRole| Applied::Member {
            snyk_user_id: "u1".into(),
            email: a.clone(),
            role: r,
        };
        let external = Applied::External {
            snyk_user_id: "u9".into(),
            email: a.clone(),
            role: Admin,
        };
        let prov = |e: &Email, role: SnykRole| SnykOp::Provision {
            org: org(),
            email: e.clone(),
            role,
        };
        let del = |e: &Email| SnykOp::DeleteProvision {
            org: org(),
            email: e.clone(),
        };
        let upd = |role: SnykRole| SnykOp::UpdateMemberRole {
            org: org(),
            snyk_user_id: "u1".into(),
            role,
        };
        let rm = SnykOp::RemoveMember {
            org: org(),
            snyk_user_id: "u1".into(),
        };
        type Case<'a> = (
            Option<SnykRole>,
            Option<&'a Email>,
            Option<Applied>,
            Vec<SnykOp>,
        );
        let custom = SnykRole::Custom("r-1".into());
        let cases: Vec<Case> = vec![
            (None, Some(&a), None, vec![]),
            (Some(Admin), Some(&a), None, vec![prov(&a, Admin)]),
            (Some(Admin), None, None, vec![]),
            (Some(Admin), Some(&a), Some(pending(&a, Admin)), vec![]),
            (None, Some(&a), Some(pending(&a, Admin)), vec![del(&a)]),
            (
                Some(Collaborator),
                Some(&a),
                Some(pending(&a, Admin)),
                vec![del(&a), prov(&a, Collaborator)],
            ),
            (
                Some(Admin),
                Some(&b),
                Some(pending(&a, Admin)),
                vec![del(&a), prov(&b, Admin)],
            ),
            (Some(Admin), Some(&a), Some(member(Admin)), vec![]),
            (
                Some(Collaborator),
                Some(&a),
                Some(member(Admin)),
                vec![upd(Collaborator)],
            ),
            (
                Some(custom.clone()),
                Some(&a),
                Some(member(Admin)),
                vec![upd(custom)],
            ),
            (None, None, Some(member(Admin)), vec![rm]),
            (None, Some(&a), Some(external.clone()), vec![]),
            (Some(Collaborator), Some(&a), Some(external), vec![]),
            (
                None,
                Some(&a),
                Some(Applied::Unlocated {
                    email: a.clone(),
                    role: Admin,
                }),
                vec![],
            ),
        ];
        for (desired, e, applied, want) in cases {
            let got = plan(&org(), desired.as_ref(), e, applied.as_ref());
            assert_eq!(got, want, "desired {desired:?} applied {applied:?}");
        }
    }
}
