//! `status --user EMAIL`: one user's history end to end, in time order.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;

use super::{ConfigArg, EXIT_CONFIG, load};
use crate::audit::{HistoryItem, UserHistory, user_history};
use crate::store::Store;

pub async fn run(a: &ConfigArg, email: &str) -> ExitCode {
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
        anyhow::Ok(render(email, &h))
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
pub fn render(email: &str, h: &UserHistory) -> String {
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
                q.user_id, q.org_id, q.request_id
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
            t.org_id,
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
            a.org_id,
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
