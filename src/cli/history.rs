//! `status --user EMAIL`: one user's history end to end, in time order, as
//! text or `--json` (the shape is in docs/interface.md; it only ever grows).
//! Orgs are shown by their Snyk name next to the id where known. For an
//! operator with local access: it shows emails, and is never logged.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use super::status_view::{OrgRef, rfc3339};
use super::{ConfigArg, EXIT_CONFIG, load};
use crate::audit::{HistoryItem, UserHistory, user_history};
use crate::store::Store;
use crate::sync::names::Names;

pub async fn run(a: &ConfigArg, email: &str, json: bool) -> ExitCode {
    let config = match load(a) {
        Ok(c) => c,
        Err((_, e)) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let result = async {
        let store = Store::connect(&config.database_url)
            .await
            .context("Failed to open the database (database_url)")?;
        let h = user_history(&store, email)
            .await
            .context("Failed to read the audit trail")?;
        let names = Names::load(&store, h.user_ids.iter().map(String::as_str))
            .await
            .context("Failed to read the names of users and orgs")?;
        if json {
            let text = serde_json::to_string_pretty(&history_json(email, &h, &names))
                .context("Failed to write JSON")?;
            return anyhow::Ok(format!("{text}\n"));
        }
        anyhow::Ok(render(email, &h, &names))
    };
    match result.await {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// The history as printed.
pub fn render(email: &str, h: &UserHistory, names: &Names) -> String {
    let mut out = String::new();
    if h.user_ids.is_empty() {
        let _ = writeln!(
            out,
            "no SCIM user, audit event or applied access is known for {email}"
        );
        return out;
    }
    let _ = writeln!(
        out,
        "history of {email} (SCIM user id{} {})",
        if h.user_ids.len() > 1 { "s" } else { "" },
        h.user_ids.join(", ")
    );
    for item in &h.items {
        let at = time(item.at());
        let line = match item {
            HistoryItem::Change(e) => format!(
                "scim    {} {} {} by {}: {}  [request {}]",
                e.operation,
                e.resource_type,
                e.resource_id,
                e.principal,
                e.summary,
                e.request_id.as_deref().unwrap_or("-")
            ),
            HistoryItem::Queued(q) => format!(
                "queued  user {} org {}  [request {}]",
                q.user_id,
                names.org_label(&q.org_id),
                q.request_id
            ),
            HistoryItem::Call(c) => {
                let mut l = format!(
                    "snyk    {} {} -> {}{}",
                    c.method,
                    c.path,
                    c.outcome,
                    c.status.map(|s| format!(" ({s})")).unwrap_or_default()
                );
                if c.dry_run {
                    l.push_str(" [dry run, not sent]");
                }
                if let Some(m) = &c.message {
                    let _ = write!(l, ": {m}");
                }
                if let Some(r) = &c.request_id {
                    let _ = write!(l, "  snyk-request-id {r}");
                }
                if let Some(r) = &c.error_ref {
                    let _ = write!(l, "  x-error-reference {r}");
                }
                let _ = write!(
                    l,
                    "  [caused by request {}]",
                    c.scim_request_id.as_deref().unwrap_or("-")
                );
                l
            }
        };
        let _ = writeln!(out, "{at}  {line}");
    }
    if h.items.is_empty() {
        let _ = writeln!(
            out,
            "  (no recorded events: they may be past audit_retention_days)"
        );
    }
    let _ = writeln!(out, "outbox now:");
    if h.targets.is_empty() {
        let _ = writeln!(out, "  (nothing queued)");
    }
    for t in &h.targets {
        let _ = writeln!(
            out,
            "  org {} [{}] attempts {}{}",
            names.org_label(&t.org_id),
            t.status,
            t.attempts,
            t.last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "access applied in Snyk now:");
    if h.access.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for a in &h.access {
        let _ = writeln!(
            out,
            "  org {} {} {} as {}{}",
            names.org_label(&a.org_id),
            a.state,
            a.role,
            a.email,
            a.snyk_user_id
                .as_deref()
                .map(|u| format!(" (Snyk user {u})"))
                .unwrap_or_default()
        );
    }
    out
}

/// `status --user EMAIL --json`.
#[derive(Debug, Serialize)]
pub struct HistoryJson {
    /// The email asked about, as given.
    pub email: String,
    /// The SCIM users that held this email (empty: nothing is known).
    pub user_ids: Vec<String>,
    /// SCIM changes, queued work and Snyk calls, oldest first.
    pub events: Vec<Event>,
    /// The user's outbox targets now.
    pub outbox: Vec<Target>,
    /// The access the bridge applied in Snyk now.
    pub access: Vec<Access>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A SCIM change stored.
    Scim {
        at: String,
        operation: String,
        resource_type: String,
        resource_id: String,
        /// `token#N`, `jwt:<sub>` or `system`.
        principal: String,
        summary: String,
        request_id: Option<String>,
    },
    /// A target queued by a SCIM change.
    Queued {
        at: String,
        user_id: String,
        org: OrgRef,
        request_id: String,
    },
    /// A Snyk call, sent or (dry run) recorded.
    Snyk {
        at: String,
        method: String,
        path: String,
        outcome: String,
        status: Option<i64>,
        dry_run: bool,
        message: Option<String>,
        snyk_request_id: Option<String>,
        error_reference: Option<String>,
        /// The SCIM request whose change caused the call.
        caused_by_request: Option<String>,
    },
}

#[derive(Debug, Serialize)]
pub struct Target {
    pub user_id: String,
    pub org: OrgRef,
    pub state: String,
    pub attempts: i64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Access {
    pub user_id: String,
    pub org: OrgRef,
    /// `pending`, `member`, `external` or `unlocated`.
    pub state: String,
    pub role: String,
    /// The email Snyk knows this access by.
    pub email: String,
    pub snyk_user_id: Option<String>,
}

fn history_json(email: &str, h: &UserHistory, names: &Names) -> HistoryJson {
    HistoryJson {
        email: email.to_owned(),
        user_ids: h.user_ids.clone(),
        events: h
            .items
            .iter()
            .map(|item| match item {
                HistoryItem::Change(e) => Event::Scim {
                    at: rfc3339(e.at),
                    operation: e.operation.clone(),
                    resource_type: e.resource_type.clone(),
                    resource_id: e.resource_id.clone(),
                    principal: e.principal.clone(),
                    summary: e.summary.clone(),
                    request_id: e.request_id.clone(),
                },
                HistoryItem::Queued(q) => Event::Queued {
                    at: rfc3339(q.at),
                    user_id: q.user_id.clone(),
                    org: OrgRef::of(&q.org_id, names),
                    request_id: q.request_id.clone(),
                },
                HistoryItem::Call(c) => Event::Snyk {
                    at: rfc3339(c.at),
                    method: c.method.clone(),
                    path: c.path.clone(),
                    outcome: c.outcome.clone(),
                    status: c.status,
                    dry_run: c.dry_run,
                    message: c.message.clone(),
                    snyk_request_id: c.request_id.clone(),
                    error_reference: c.error_ref.clone(),
                    caused_by_request: c.scim_request_id.clone(),
                },
            })
            .collect(),
        outbox: h
            .targets
            .iter()
            .map(|t| Target {
                user_id: t.user_id.clone(),
                org: OrgRef::of(&t.org_id, names),
                state: t.status.to_string(),
                attempts: t.attempts,
                error: t.last_error.clone(),
            })
            .collect(),
        access: h
            .access
            .iter()
            .map(|a| Access {
                user_id: a.user_id.clone(),
                org: OrgRef::of(&a.org_id, names),
                state: a.state.to_string(),
                role: a.role.to_string(),
                email: a.email.clone(),
                snyk_user_id: a.snyk_user_id.clone(),
            })
            .collect(),
    }
}
