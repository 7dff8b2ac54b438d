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
}

impl TargetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Pending => "pending",
            Self::Failed => "failed",
            Self::Dead => "dead",
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
