//! The planner: from desired and applied access of one (user, org), the Snyk
//! calls that close the gap, in order. Pure and deterministic.
//!
//! Invariant: access the bridge did not grant (`Applied::External`) is never
//! changed or removed.

use std::fmt;

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

/// One Snyk call of the sync engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnykOp {
    Provision {
        org: SnykOrgId,
        email: Email,
        role: SnykRole,
    },
    DeleteProvision {
        org: SnykOrgId,
        email: Email,
    },
    UpdateMemberRole {
        org: SnykOrgId,
        snyk_user_id: String,
        role: SnykRole,
    },
    RemoveMember {
        org: SnykOrgId,
        snyk_user_id: String,
    },
}

impl SnykOp {
    /// The HTTP method and path (relative to the v1 base) this op calls.
    pub fn method_and_path(&self) -> (&'static str, String) {
        match self {
            Self::Provision { org, .. } => ("POST", format!("/org/{org}/provision")),
            Self::DeleteProvision { org, email } => (
                "DELETE",
                format!(
                    "/org/{org}/provision?email={}",
                    encode_query(email.as_str())
                ),
            ),
            Self::UpdateMemberRole {
                org,
                snyk_user_id,
                role,
            } => match role {
                SnykRole::Custom(_) => ("PUT", format!("/org/{org}/members/update/{snyk_user_id}")),
                _ => ("PUT", format!("/org/{org}/members/{snyk_user_id}")),
            },
            Self::RemoveMember { org, snyk_user_id } => {
                ("DELETE", format!("/org/{org}/members/{snyk_user_id}"))
            }
        }
    }

    /// The JSON body this op sends, if any.
    pub fn body(&self) -> Option<serde_json::Value> {
        match self {
            Self::Provision { email, role, .. } => Some(match role {
                SnykRole::Custom(id) => {
                    serde_json::json!({"email": email.as_str(), "rolePublicId": id})
                }
                builtin => {
                    serde_json::json!({"email": email.as_str(), "role": builtin.to_string()})
                }
            }),
            Self::UpdateMemberRole { role, .. } => Some(match role {
                SnykRole::Custom(id) => serde_json::json!({"rolePublicId": id}),
                builtin => serde_json::json!({"role": member_role_name(builtin)}),
            }),
            Self::DeleteProvision { .. } | Self::RemoveMember { .. } => None,
        }
    }

    pub fn org(&self) -> &SnykOrgId {
        match self {
            Self::Provision { org, .. }
            | Self::DeleteProvision { org, .. }
            | Self::UpdateMemberRole { org, .. }
            | Self::RemoveMember { org, .. } => org,
        }
    }
}

impl fmt::Display for SnykOp {
    /// `METHOD /path {body}`: what `plan` prints and dry run records.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (method, path) = self.method_and_path();
        match self.body() {
            Some(b) => write!(f, "{method} {path} {b}"),
            None => write!(f, "{method} {path}"),
        }
    }
}

/// Role names as the v1 member endpoints spell them.
pub fn member_role_name(role: &SnykRole) -> String {
    match role {
        SnykRole::Admin => "admin".to_owned(),
        SnykRole::Collaborator => "collaborator".to_owned(),
        SnykRole::RestrictedCollaborator => "restrictedCollaborator".to_owned(),
        SnykRole::Custom(id) => id.clone(),
    }
}

/// The role of a member as the v1 members list reports it.
pub fn role_from_member_name(name: &str) -> SnykRole {
    match name {
        "admin" => SnykRole::Admin,
        "collaborator" => SnykRole::Collaborator,
        "restrictedCollaborator" | "restricted_collaborator" => SnykRole::RestrictedCollaborator,
        other => {
            SnykRole::parse_builtin(other).unwrap_or_else(|_| SnykRole::Custom(other.to_owned()))
        }
    }
}

fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                out.push(char::from(b))
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
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
        type Case<'a> = (
            Option<SnykRole>,
            Option<&'a Email>,
            Option<Applied>,
            Vec<String>,
        );
        let cases: Vec<Case> = vec![
            (None, Some(&a), None, vec![]),
            (Some(Admin), Some(&a), None, vec![r#"POST /org/6b7a7c5e-1111-4c4c-9d9d-000000000001/provision {"email":"a@x.com","role":"ADMIN"}"#.into()]),
            (Some(Admin), None, None, vec![]),
            (Some(Admin), Some(&a), Some(pending(&a, Admin)), vec![]),
            (None, Some(&a), Some(pending(&a, Admin)), vec!["DELETE /org/6b7a7c5e-1111-4c4c-9d9d-000000000001/provision?email=a@x.com".into()]),
            (Some(Collaborator), Some(&a), Some(pending(&a, Admin)), vec![
                "DELETE /org/6b7a7c5e-1111-4c4c-9d9d-000000000001/provision?email=a@x.com".into(),
                r#"POST /org/6b7a7c5e-1111-4c4c-9d9d-000000000001/provision {"email":"a@x.com","role":"COLLABORATOR"}"#.into(),
            ]),
            (Some(Admin), Some(&b), Some(pending(&a, Admin)), vec![
                "DELETE /org/6b7a7c5e-1111-4c4c-9d9d-000000000001/provision?email=a@x.com".into(),
                r#"POST /org/6b7a7c5e-1111-4c4c-9d9d-000000000001/provision {"email":"b@x.com","role":"ADMIN"}"#.into(),
            ]),
            (Some(Admin), Some(&a), Some(member(Admin)), vec![]),
            (Some(Collaborator), Some(&a), Some(member(Admin)), vec![r#"PUT /org/6b7a7c5e-1111-4c4c-9d9d-000000000001/members/u1 {"role":"collaborator"}"#.into()]),
            (Some(SnykRole::Custom("r-1".into())), Some(&a), Some(member(Admin)), vec![r#"PUT /org/6b7a7c5e-1111-4c4c-9d9d-000000000001/members/update/u1 {"rolePublicId":"r-1"}"#.into()]),
            (None, None, Some(member(Admin)), vec!["DELETE /org/6b7a7c5e-1111-4c4c-9d9d-000000000001/members/u1".into()]),
            (None, Some(&a), Some(external.clone()), vec![]),
            (Some(Collaborator), Some(&a), Some(external), vec![]),
            (None, Some(&a), Some(Applied::Unlocated { email: a.clone(), role: Admin }), vec![]),
        ];
        for (desired, e, applied, want) in cases {
            let got: Vec<String> = plan(&org(), desired.as_ref(), e, applied.as_ref())
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(got, want, "desired {desired:?} applied {applied:?}");
        }
    }

    #[test]
    fn custom_roles_provision_by_public_id() {
        let op = SnykOp::Provision {
            org: org(),
            email: email("a+b@x.com"),
            role: SnykRole::Custom("pub-1".into()),
        };
        assert_eq!(
            op.body(),
            Some(serde_json::json!({"email": "a+b@x.com", "rolePublicId": "pub-1"}))
        );
        let del = SnykOp::DeleteProvision {
            org: org(),
            email: email("a+b@x.com"),
        };
        assert!(del.method_and_path().1.ends_with("email=a%2Bb@x.com"));
    }

    #[test]
    fn member_role_names_round_trip() {
        for r in [
            SnykRole::Admin,
            SnykRole::Collaborator,
            SnykRole::RestrictedCollaborator,
            SnykRole::Custom("x".into()),
        ] {
            assert_eq!(role_from_member_name(&member_role_name(&r)), r);
        }
    }
}
