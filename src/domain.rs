//! Domain newtypes, built once at the edge and trusted everywhere after.
//!
//! Each type has a private field and a `parse` constructor that states the
//! rule. This module is pure: no I/O, no framework types.

use std::fmt;

/// Why a value is not a valid domain value. The message names the value and
/// the rule; callers add where it came from (config key, SCIM attribute).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0:?} is not a valid resource id")]
    ScimId(String),
    #[error("{0:?} is not an email address (no @)")]
    EmailWithoutAt(String),
    #[error("{0:?} is not an email address")]
    Email(String),
    #[error("{0:?} is not a UUID")]
    OrgId(String),
    #[error("must not be empty")]
    Empty,
    #[error(
        "{0:?} is not a role: use ADMIN, COLLABORATOR or RESTRICTED_COLLABORATOR, \
         or role_public_id for a custom role"
    )]
    Role(String),
    #[error("{0:?} is not a stored role key")]
    RoleKey(String),
}

/// A SCIM resource id: issued by this server (a UUID), opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScimId(String);

impl ScimId {
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Ids arrive in URLs and member values; any non-empty text without
    /// control characters is a well-formed id (it may still be unknown).
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.is_empty() || s.len() > 255 || s.chars().any(char::is_control) {
            Err(DomainError::ScimId(s.to_owned()))
        } else {
            Ok(Self(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, compared lower-cased (docs/interface.md, "What the bridge does in Snyk").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        let (local, domain) = s
            .rsplit_once('@')
            .ok_or_else(|| DomainError::EmailWithoutAt(s.to_owned()))?;
        if local.is_empty() || domain.is_empty() || s.chars().any(char::is_whitespace) {
            return Err(DomainError::Email(s.to_owned()));
        }
        Ok(Self(s.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Snyk organization id: a UUID, kept in its lower-case hyphenated form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnykOrgId(String);

impl SnykOrgId {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        uuid::Uuid::parse_str(s.trim())
            .map(|u| Self(u.hyphenated().to_string()))
            .map_err(|_| DomainError::OrgId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SnykOrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A SCIM group's displayName as named in a mapping; compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.trim().is_empty() {
            Err(DomainError::Empty)
        } else {
            Ok(Self(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The comparison key: lower-cased.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    pub fn matches(&self, display_name: &str) -> bool {
        self.key() == display_name.to_lowercase()
    }
}

/// A role in a Snyk organization: one of the built-in roles, or a custom role
/// by its public id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SnykRole {
    Admin,
    Collaborator,
    RestrictedCollaborator,
    Custom(String),
}

impl SnykRole {
    pub fn parse_builtin(s: &str) -> Result<Self, DomainError> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ADMIN" => Ok(Self::Admin),
            "COLLABORATOR" => Ok(Self::Collaborator),
            "RESTRICTED_COLLABORATOR" => Ok(Self::RestrictedCollaborator),
            _ => Err(DomainError::Role(s.to_owned())),
        }
    }

    pub fn parse_custom(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        if s.is_empty() {
            Err(DomainError::Empty)
        } else {
            Ok(Self::Custom(s.to_owned()))
        }
    }
}

impl SnykRole {
    /// The role from its stored key (its `Display`: `ADMIN`, `COLLABORATOR`,
    /// `RESTRICTED_COLLABORATOR`, `custom:<publicId>`).
    pub fn from_key(s: &str) -> Result<Self, DomainError> {
        match s.strip_prefix("custom:") {
            Some(id) => Self::parse_custom(id),
            None => match s {
                "ADMIN" => Ok(Self::Admin),
                "COLLABORATOR" => Ok(Self::Collaborator),
                "RESTRICTED_COLLABORATOR" => Ok(Self::RestrictedCollaborator),
                other => Err(DomainError::RoleKey(other.to_owned())),
            },
        }
    }
}

impl fmt::Display for SnykRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Admin => f.write_str("ADMIN"),
            Self::Collaborator => f.write_str("COLLABORATOR"),
            Self::RestrictedCollaborator => f.write_str("RESTRICTED_COLLABORATOR"),
            Self::Custom(id) => write!(f, "custom:{id}"),
        }
    }
}

/// One change in Snyk, as the planner decides it. What it is on the wire
/// (method, path, body, role spellings) only `snyk::wire` knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnykOp {
    /// Provision a user who has never logged in (pending until first login).
    Provision {
        org: SnykOrgId,
        email: Email,
        role: SnykRole,
    },
    /// Delete a pending provision.
    DeleteProvision { org: SnykOrgId, email: Email },
    /// Change the role of a member.
    UpdateMemberRole {
        org: SnykOrgId,
        snyk_user_id: String,
        role: SnykRole,
    },
    /// Remove a member from the org (they stay a member of the group).
    RemoveMember {
        org: SnykOrgId,
        snyk_user_id: String,
    },
}

impl SnykOp {
    pub fn org(&self) -> &SnykOrgId {
        match self {
            Self::Provision { org, .. }
            | Self::DeleteProvision { org, .. }
            | Self::UpdateMemberRole { org, .. }
            | Self::RemoveMember { org, .. } => org,
        }
    }

    /// Whether the op takes access away.
    pub fn is_removal(&self) -> bool {
        matches!(
            self,
            Self::DeleteProvision { .. } | Self::RemoveMember { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_and_need_an_at() {
        assert_eq!(
            Email::parse(" Ann@X.COM ").map(|e| e.0),
            Ok("ann@x.com".into())
        );
        assert!(Email::parse("ann").is_err());
        assert!(Email::parse("@x.com").is_err());
        assert!(Email::parse("a b@x.com").is_err());
    }

    #[test]
    fn org_ids_are_uuids_in_canonical_form() {
        let id = SnykOrgId::parse("6B7A7C5E-1111-4C4C-9D9D-000000000001").expect("uuid");
        assert_eq!(id.as_str(), "6b7a7c5e-1111-4c4c-9d9d-000000000001");
        assert!(SnykOrgId::parse("org-1").is_err());
    }

    #[test]
    fn roles_parse_case_insensitively() {
        assert_eq!(SnykRole::parse_builtin("admin"), Ok(SnykRole::Admin));
        assert_eq!(
            SnykRole::parse_builtin("RESTRICTED_COLLABORATOR"),
            Ok(SnykRole::RestrictedCollaborator)
        );
        assert!(SnykRole::parse_builtin("owner").is_err());
    }

    #[test]
    fn role_keys_round_trip() {
        for r in [
            SnykRole::Admin,
            SnykRole::Collaborator,
            SnykRole::RestrictedCollaborator,
            SnykRole::Custom("pub-1".into()),
        ] {
            assert_eq!(SnykRole::from_key(&r.to_string()), Ok(r));
        }
        assert!(SnykRole::from_key("OWNER").is_err());
        assert!(SnykRole::from_key("custom:").is_err());
    }

    #[test]
    fn group_names_compare_case_insensitively() {
        let g = GroupName::parse("Snyk Admins").expect("name");
        assert!(g.matches("snyk admins"));
        assert!(!g.matches("snyk admin"));
    }

    #[test]
    fn scim_ids_reject_control_characters() {
        assert!(ScimId::parse("abc\n").is_err());
        assert!(ScimId::parse("").is_err());
        assert!(ScimId::parse("2819c223-7f76-453a-919d-413861904646").is_ok());
    }
}
