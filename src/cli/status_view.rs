//! `status` (the whole bridge), as text for a person or `--json` for a
//! script: outbox counts by state, access applied per org, the last
//! failures, role drift, and the users who cannot be managed after their
//! login. Users are named by userName and email, orgs by their Snyk name
//! next to the id (`sync::names`).
//!
//! The JSON shape is documented in docs/interface.md and only ever grows:
//! a field is never renamed or removed. This output is for an operator with
//! local access and may show emails; it is never logged.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context;
use serde::Serialize;

use crate::store::{AccessState, Store};
use crate::sync::engine::{StatusReport, UNLOCATED_REASON};
use crate::sync::names::{Names, UserNames};

/// `status --json`.
#[derive(Debug, Serialize)]
pub struct StatusJson {
    /// Targets by state: every state of the outbox, 0 when none.
    pub outbox: BTreeMap<String, i64>,
    /// Targets leased now (being worked on by a sender).
    pub leased: i64,
    /// Access the bridge applied in Snyk, per org.
    pub orgs: Vec<OrgAccess>,
    /// The most recent failed, dead or retrying targets (at most 20).
    pub failures: Vec<Failure>,
    /// Roles changed in Snyk by hand.
    pub drift: Vec<Drift>,
    /// Users who logged in but cannot be found (see `reason`).
    pub unlocated: Vec<Unlocated>,
    /// The safety rails: whether the deletion circuit breaker is open, and
    /// every removal or downgrade held, waiting, approved, rejected or refused.
    pub safety: super::safety::SafetyJson,
    /// The rate the sender lets out to Snyk now and why (`configured`,
    /// `learnt` from a 429, or `raising` back toward the configured rate).
    pub pacing: crate::pacing::Pacing,
}

/// A user as scripts see it.
#[derive(Debug, Clone, Serialize)]
pub struct UserRef {
    /// The SCIM id.
    pub id: String,
    pub user_name: Option<String>,
    pub email: Option<String>,
}

impl UserRef {
    pub fn of(id: &str, names: &Names) -> Self {
        let UserNames { user_name, email } = names.user(id);
        Self {
            id: id.to_owned(),
            user_name,
            email,
        }
    }
}

/// An org as scripts see it.
#[derive(Debug, Clone, Serialize)]
pub struct OrgRef {
    pub id: String,
    /// Its Snyk name, when the bridge has read it (`snyk.group_id` set).
    pub name: Option<String>,
}

impl OrgRef {
    pub fn of(id: &str, names: &Names) -> Self {
        Self {
            id: id.to_owned(),
            name: names.org_name(id).map(str::to_owned),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct OrgAccess {
    pub org: OrgRef,
    pub pending: i64,
    pub member: i64,
    pub external: i64,
    pub unlocated: i64,
}

#[derive(Debug, Serialize)]
pub struct Failure {
    pub user: UserRef,
    pub org: OrgRef,
    /// `failed`, `dead`, or `pending` (failed, retrying).
    pub state: String,
    pub attempts: i64,
    pub error: Option<String>,
    /// Snyk's `x-error-reference`.
    pub error_reference: Option<String>,
    /// RFC 3339.
    pub updated_at: String,
}

#[derive(Debug, Serialize)]
pub struct Drift {
    pub user: UserRef,
    pub org: OrgRef,
    pub expected_role: String,
    pub actual_role: String,
}

#[derive(Debug, Serialize)]
pub struct Unlocated {
    pub user: UserRef,
    pub org: OrgRef,
    pub role: String,
    pub reason: &'static str,
}

/// RFC 3339 of Unix ms.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Read the status and the names it shows.
pub async fn read(store: &Store) -> anyhow::Result<(StatusReport, Names)> {
    let s = crate::sync::engine::status(store)
        .await
        .context("Failed to read the status")?;
    let ids = s
        .failures
        .iter()
        .map(|f| f.user_id.as_str())
        .chain(s.drift.iter().map(|(u, _, _, _)| u.as_str()))
        .chain(s.unlocated.iter().map(|a| a.user_id.as_str()))
        .chain(s.holds.iter().map(|h| h.user_id.as_str()));
    let names = Names::load(store, ids)
        .await
        .context("Failed to read the names of users and orgs")?;
    Ok((s, names))
}

/// The JSON document of `status --json`.
pub fn json(
    s: &StatusReport,
    names: &Names,
    pacing: crate::pacing::Pacing,
) -> anyhow::Result<StatusJson> {
    let mut outbox: BTreeMap<String, i64> = crate::metrics::OUTBOX_STATES
        .iter()
        .map(|st| ((*st).to_owned(), 0))
        .collect();
    outbox.extend(s.targets.iter().map(|(k, v)| (k.clone(), *v)));
    let mut orgs: Vec<OrgAccess> = Vec::new();
    for (org, state, n) in &s.per_org {
        if orgs.last().is_none_or(|o| &o.org.id != org) {
            orgs.push(OrgAccess {
                org: OrgRef::of(org, names),
                pending: 0,
                member: 0,
                external: 0,
                unlocated: 0,
            });
        }
        if let Some(o) = orgs.last_mut() {
            let state: AccessState = state.parse().context("Failed to read the status")?;
            match state {
                AccessState::Pending => o.pending += n,
                AccessState::Member => o.member += n,
                AccessState::External => o.external += n,
                AccessState::Unlocated => o.unlocated += n,
            }
        }
    }
    Ok(StatusJson {
        outbox,
        leased: s.leased,
        orgs,
        failures: s
            .failures
            .iter()
            .map(|f| Failure {
                user: UserRef::of(&f.user_id, names),
                org: OrgRef::of(&f.org_id, names),
                state: f.status.to_string(),
                attempts: f.attempts,
                error: f.last_error.clone(),
                error_reference: f.last_error_ref.clone(),
                updated_at: rfc3339(f.updated_at),
            })
            .collect(),
        drift: s
            .drift
            .iter()
            .map(|(u, o, e, a)| Drift {
                user: UserRef::of(u, names),
                org: OrgRef::of(o, names),
                expected_role: e.clone(),
                actual_role: a.clone(),
            })
            .collect(),
        unlocated: s
            .unlocated
            .iter()
            .map(|a| {
                let mut user = UserRef::of(&a.user_id, names);
                // The email Snyk knows this access by.
                user.email = Some(a.email.clone());
                Unlocated {
                    user,
                    org: OrgRef::of(&a.org_id, names),
                    role: a.role.to_string(),
                    reason: UNLOCATED_REASON,
                }
            })
            .collect(),
        safety: super::safety::json(&s.holds, names),
        pacing,
    })
}

/// The text of `status`.
pub fn text(s: &StatusReport, names: &Names) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "outbox (targets by state):");
    if s.targets.is_empty() {
        let _ = writeln!(out, "  (empty)");
    }
    for (state, n) in &s.targets {
        let _ = writeln!(out, "  {state:<8} {n}");
    }
    let _ = writeln!(out, "access applied in Snyk, per org:");
    if s.per_org.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for (org, state, n) in &s.per_org {
        let _ = writeln!(out, "  {}  {state:<8} {n}", names.org_label(org));
    }
    let _ = writeln!(out, "last failures:");
    if s.failures.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for f in &s.failures {
        let _ = writeln!(
            out,
            "  {} (SCIM user {}) org {} [{}] attempts {}: {}{}",
            names.user_label(&f.user_id),
            f.user_id,
            names.org_label(&f.org_id),
            f.status,
            f.attempts,
            f.last_error.as_deref().unwrap_or(""),
            f.last_error_ref
                .as_deref()
                .map(|r| format!(" (x-error-reference {r})"))
                .unwrap_or_default()
        );
    }
    if !s.drift.is_empty() {
        let _ = writeln!(
            out,
            "role drift (changed in Snyk by hand; `sync` puts it back):"
        );
        for (user, org, expected, actual) in &s.drift {
            let _ = writeln!(
                out,
                "  {} (SCIM user {user}) org {}: expected {expected}, found {actual}",
                names.user_label(user),
                names.org_label(org)
            );
        }
    }
    if !s.unlocated.is_empty() {
        let _ = writeln!(out, "cannot be managed after login ({UNLOCATED_REASON}):");
        for a in &s.unlocated {
            let _ = writeln!(
                out,
                "  {} (SCIM user {}) org {} as {}",
                a.email,
                a.user_id,
                names.org_label(&a.org_id),
                a.role
            );
        }
    }
    if s.leased > 0 {
        let _ = writeln!(out, "targets being worked on now: {}", s.leased);
    }
    out.push_str(&super::safety::text(&s.holds, names));
    out
}
