//! `plan`, as text for a person or `--json` for a script: what live Snyk
//! state says (first logins, vanished grants, hand-changed roles, orgs that
//! could not be read) and every Snyk call a sync would make now, each with
//! the user (userName, email) and the org (Snyk name and id) it is about.
//!
//! The JSON shape is documented in docs/interface.md and only ever grows.
//! This output is for an operator with local access and may show emails;
//! it is never logged.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::status_view::{OrgRef, UserRef};
use crate::domain::SnykOp;
use crate::store::HoldRow;
use crate::sync::engine::ReconcileReport;
use crate::sync::names::Names;

/// `plan --json`.
#[derive(Debug, Serialize)]
pub struct PlanJson {
    /// `snyk.dry_run`: a sync would record these calls, not send them.
    pub dry_run: bool,
    /// What the live Snyk state read for this plan implies.
    pub live: Live,
    pub calls: Vec<PlannedCall>,
}

#[derive(Debug, Serialize)]
pub struct Live {
    /// Pending provisions that became memberships (first logins).
    pub adopted: usize,
    /// Access that disappeared from Snyk.
    pub vanished: usize,
    /// Roles changed in Snyk by hand.
    pub drift: usize,
    /// Users who logged in but cannot be found.
    pub unlocated: usize,
    /// Orgs (or the group) that could not be read, with why.
    pub unreadable: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PlannedCall {
    pub user: UserRef,
    pub org: OrgRef,
    /// `provision`, `delete_provision`, `update_member_role`, `remove_member`.
    pub operation: &'static str,
    pub method: String,
    /// Relative to `snyk.api_url`, without the query.
    pub path: String,
    /// Query parameters (`{"email": "..."}` for a delete), `{}` when none.
    pub query: BTreeMap<String, String>,
    pub body: Option<Value>,
    /// The call on one line: `METHOD /path?query {body}`.
    pub call: String,
    /// What the safety rails say about this change, when they stored
    /// anything: `held`/`marked`/`rejected`/`refused` (a sync would not send
    /// it), `waiting` (not before the removal delay), `approved` (sent).
    pub safety: Option<PlanHold>,
}

/// What the safety rails say about a planned call.
#[derive(Debug, Serialize)]
pub struct PlanHold {
    /// `held`, `marked`, `waiting`, `approved`, `rejected` or `refused`.
    pub state: String,
    pub reason: String,
}

/// What the safety rails stored for a planned removal or role change (a
/// provision is never held).
fn hold_of<'a>(holds: &'a [HoldRow], user: &str, op: &SnykOp) -> Option<&'a HoldRow> {
    if matches!(op, SnykOp::Provision { .. }) {
        return None;
    }
    holds
        .iter()
        .find(|h| h.user_id == user && h.org_id == op.org().as_str())
}

fn operation(op: &SnykOp) -> &'static str {
    match op {
        SnykOp::Provision { .. } => "provision",
        SnykOp::DeleteProvision { .. } => "delete_provision",
        SnykOp::UpdateMemberRole { .. } => "update_member_role",
        SnykOp::RemoveMember { .. } => "remove_member",
    }
}

/// The JSON document of `plan --json`.
pub fn json(
    report: &ReconcileReport,
    calls: &[(String, SnykOp)],
    names: &Names,
    holds: &[HoldRow],
    dry_run: bool,
) -> PlanJson {
    PlanJson {
        dry_run,
        live: Live {
            adopted: report.adopted,
            vanished: report.vanished,
            drift: report.drift,
            unlocated: report.unlocated,
            unreadable: report.errors.clone(),
        },
        calls: calls
            .iter()
            .map(|(user, op)| {
                let request = crate::snyk::wire::request(op);
                PlannedCall {
                    user: UserRef::of(user, names),
                    org: OrgRef::of(op.org().as_str(), names),
                    operation: operation(op),
                    method: request.method.to_string(),
                    path: request.path.clone(),
                    query: request
                        .query
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.clone()))
                        .collect(),
                    body: request.body.clone(),
                    call: request.describe(),
                    safety: hold_of(holds, user, op).map(|h| PlanHold {
                        state: h.state.to_string(),
                        reason: h.reason.clone(),
                    }),
                }
            })
            .collect(),
    }
}

/// The text of `plan`.
pub fn text(
    report: &ReconcileReport,
    calls: &[(String, SnykOp)],
    names: &Names,
    holds: &[HoldRow],
    dry_run: bool,
) -> String {
    let mut out = String::new();
    for e in &report.errors {
        let _ = writeln!(out, "warning: could not read {e}");
    }
    if report.adopted + report.vanished + report.drift > 0 {
        let _ = writeln!(
            out,
            "live Snyk state: {} first logins to adopt, {} grants gone from Snyk, {} roles changed by hand",
            report.adopted, report.vanished, report.drift
        );
    }
    for (user, op) in calls {
        let note = match hold_of(holds, user, op) {
            Some(h) => format!("    [{}: {}]", h.state, h.reason),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "{}    # {} (SCIM user {user}) in {}{note}",
            crate::snyk::wire::describe(op),
            names.user_label(user),
            names.org_label(op.org().as_str())
        );
    }
    let _ = writeln!(
        out,
        "{} call(s) planned{}",
        calls.len(),
        if dry_run {
            " (snyk.dry_run = true: sync would record, not send)"
        } else {
            ""
        }
    );
    out
}
