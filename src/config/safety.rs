//! `[safety]`: the rails that keep a sync from taking everyone's access away
//! (docs/interface.md, "Safety rails"). Parsed once here into
//! [`SafetySettings`]; every number is checked and named by its key.
//!
//! Never reads anything but the table it is given; holds no secret.

use serde::Deserialize;

use super::{ConfigIssue, issue};
use crate::domain::Email;

/// The validated `[safety]` table. The defaults are conservative: the
/// breaker is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetySettings {
    /// `safety.breaker`: the deletion circuit breaker is on.
    pub breaker: bool,
    /// `safety.window_secs`: the sliding window removals are counted over.
    pub window_secs: u64,
    /// `safety.max_removals`: more removals (and downgrades) than this in the
    /// window, overall or in one org, trip the breaker.
    pub max_removals: u64,
    /// `safety.max_removal_percent`: more than this share of the access the
    /// bridge manages (overall, or in one org) trips it too, once more than
    /// `min_removals` are counted.
    pub max_removal_percent: u64,
    /// `safety.min_removals`: the percentage rule counts only above this many.
    pub min_removals: u64,
    /// `safety.removal_delay_secs`: a removal or downgrade waits this long
    /// before it is sent, so a wave is seen whole before any of it goes out.
    pub removal_delay_secs: u64,
    /// `safety.group_shrink_percent`: one request that takes more than this
    /// share of a mapped group's members away (a replace with an empty or
    /// much smaller list, a group DELETE, a rename away from the mapping)
    /// has its removals held, whatever the breaker counts.
    pub group_shrink_percent: u64,
    /// `safety.group_shrink_min`: ... when it takes at least this many away.
    pub group_shrink_min: u64,
    /// `safety.protected_emails`: access the bridge never removes or lowers.
    pub protected_emails: Vec<Email>,
}

impl Default for SafetySettings {
    fn default() -> Self {
        Self {
            breaker: true,
            window_secs: 3600,
            max_removals: 50,
            max_removal_percent: 10,
            min_removals: 5,
            removal_delay_secs: 10,
            group_shrink_percent: 50,
            group_shrink_min: 2,
            protected_emails: Vec::new(),
        }
    }
}

impl SafetySettings {
    /// Is this address one of `safety.protected_emails`?
    pub fn is_protected(&self, email: &Email) -> bool {
        self.protected_emails.contains(email)
    }
}

/// `[safety]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSafety {
    breaker: Option<bool>,
    window_secs: Option<u64>,
    max_removals: Option<u64>,
    max_removal_percent: Option<u64>,
    min_removals: Option<u64>,
    removal_delay_secs: Option<u64>,
    group_shrink_percent: Option<u64>,
    group_shrink_min: Option<u64>,
    #[serde(default)]
    protected_emails: Vec<String>,
}

pub(super) fn validate_safety(raw: RawSafety, issues: &mut Vec<ConfigIssue>) -> SafetySettings {
    let d = SafetySettings::default();
    let out = SafetySettings {
        breaker: raw.breaker.unwrap_or(d.breaker),
        window_secs: raw.window_secs.unwrap_or(d.window_secs),
        max_removals: raw.max_removals.unwrap_or(d.max_removals),
        max_removal_percent: raw.max_removal_percent.unwrap_or(d.max_removal_percent),
        min_removals: raw.min_removals.unwrap_or(d.min_removals),
        removal_delay_secs: raw.removal_delay_secs.unwrap_or(d.removal_delay_secs),
        group_shrink_percent: raw.group_shrink_percent.unwrap_or(d.group_shrink_percent),
        group_shrink_min: raw.group_shrink_min.unwrap_or(d.group_shrink_min),
        protected_emails: raw
            .protected_emails
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match Email::parse(e) {
                Ok(e) => Some(e),
                Err(_) => {
                    issue(
                        issues,
                        format!("safety.protected_emails[{i}]"),
                        "is not an email address",
                    );
                    None
                }
            })
            .collect(),
    };
    if out.window_secs == 0 {
        issue(issues, "safety.window_secs", "must be at least 1");
    }
    for (key, v) in [
        ("safety.max_removal_percent", out.max_removal_percent),
        ("safety.group_shrink_percent", out.group_shrink_percent),
    ] {
        if v > 100 {
            issue(issues, key, "is a percentage: at most 100");
        }
    }
    if out.removal_delay_secs > 3600 {
        issue(
            issues,
            "safety.removal_delay_secs",
            "must be at most 3600 (leavers would keep access for longer)",
        );
    }
    if out.group_shrink_min == 0 {
        issue(issues, "safety.group_shrink_min", "must be at least 1");
    }
    out
}
