//! The typed values of the sync tables' text columns: parsed when a row is
//! read (an unknown value is `StoreError::Corrupt`), written as their
//! `as_str()`.

use std::fmt;
use std::str::FromStr;

use super::StoreError;

/// Where an outbox target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetStatus {
    /// In line with the desired state.
    Idle,
    /// Work to do (due at `next_attempt_at`).
    Pending,
    /// Snyk refused the call for good; kept with its message until the next change.
    Failed,
    /// Transient failures for longer than `snyk.retry_max_secs`.
    Dead,
    /// A removal or downgrade held by the safety rails until an operator
    /// approves or rejects it (`safety_holds`); never claimed meanwhile.
    Held,
}

impl TargetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Pending => "pending",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::Held => "held",
        }
    }
}

impl fmt::Display for TargetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TargetStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "idle" => Ok(Self::Idle),
            "pending" => Ok(Self::Pending),
            "failed" => Ok(Self::Failed),
            "dead" => Ok(Self::Dead),
            "held" => Ok(Self::Held),
            other => Err(StoreError::Corrupt(format!(
                "unknown outbox target status {other:?}"
            ))),
        }
    }
}

/// What kind of access the bridge has applied (see `sync::planner::Applied`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessState {
    Pending,
    Member,
    External,
    Unlocated,
}

impl AccessState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Member => "member",
            Self::External => "external",
            Self::Unlocated => "unlocated",
        }
    }
}

impl fmt::Display for AccessState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccessState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(Self::Pending),
            "member" => Ok(Self::Member),
            "external" => Ok(Self::External),
            "unlocated" => Ok(Self::Unlocated),
            other => Err(StoreError::Corrupt(format!(
                "unknown applied access state {other:?}"
            ))),
        }
    }
}

/// Where a removal or downgrade stands with the safety rails
/// (`safety_holds.state`, see `sync::safety`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HoldState {
    /// One request emptied a mapped group: the removal it causes is held
    /// the moment the worker plans it.
    Marked,
    /// Planned, waiting out `safety.removal_delay_secs` (counted by the breaker).
    Waiting,
    /// Held for an operator (`approve` / `reject`).
    Held,
    /// Released by an operator: sent by the next pass, then forgotten.
    Approved,
    /// Dropped by an operator: nothing is sent until the IdP changes the user again.
    Rejected,
    /// Refused for good: a protected account, or the last admin of an org.
    Refused,
}

impl HoldState {
    pub const ALL: [Self; 6] = [
        Self::Marked,
        Self::Waiting,
        Self::Held,
        Self::Approved,
        Self::Rejected,
        Self::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marked => "marked",
            Self::Waiting => "waiting",
            Self::Held => "held",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Refused => "refused",
        }
    }
}

impl fmt::Display for HoldState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HoldState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Self::ALL
            .into_iter()
            .find(|h| h.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown safety hold state {s:?}")))
    }
}
