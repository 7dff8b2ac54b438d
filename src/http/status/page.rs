//! The HTML of `/status`, rendered with maud: every value from the store or
//! from Snyk is escaped by the template, none is pasted as markup. No
//! JavaScript; one inline stylesheet. Users are shown by userName and email
//! (the page is behind the admin token), orgs by Snyk name and id
//! (`sync::names`).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::health::{Level, StatusSnapshot, when};

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px 32px;color:#1d2330;background:#f6f7f9}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d5d9e0;padding-bottom:4px}\
.meta{color:#5b6475;margin-bottom:8px}table{border-collapse:collapse;background:#fff;min-width:480px;box-shadow:0 1px 2px #0001}\
th,td{text-align:left;padding:6px 12px;border-bottom:1px solid #e6e9ee;vertical-align:top}th{background:#eef1f5;font-weight:600}\
td.num{text-align:right;font-variant-numeric:tabular-nums}code{font:12px ui-monospace,Menlo,monospace}\
.badge{display:inline-block;min-width:64px;text-align:center;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600;color:#fff}\
.ok{background:#2e7d32}.info{background:#546e7a}.warning{background:#ef8f00}.failing{background:#c62828}\
.empty{color:#5b6475;font-style:italic}form{background:#fff;padding:16px;display:inline-block;box-shadow:0 1px 2px #0001}\
input{font:inherit;padding:4px 8px;width:320px}button{font:inherit;padding:4px 12px}";

/// One table cell.
enum Cell {
    Text(String),
    Code(String),
    Num(i64),
    Level(Level),
}

fn opt(s: Option<&str>) -> String {
    s.unwrap_or("-").to_owned()
}

fn layout(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
    .into_string()
}

fn badge(l: Level) -> Markup {
    html! { span class={ "badge " (l.as_str()) } { (l.as_str()) } }
}

fn table(id: &str, title: &str, head: &[&str], rows: &[Vec<Cell>], empty: &str) -> Markup {
    html! {
        section id=(id) {
            h2 { (title) }
            @if rows.is_empty() {
                p class="empty" { (empty) }
            } @else {
                table {
                    thead { tr { @for h in head { th { (h) } } } }
                    tbody {
                        @for r in rows {
                            tr {
                                @for c in r {
                                    @match c {
                                        Cell::Text(t) => td { (t) },
                                        Cell::Code(t) => td { code { (t) } },
                                        Cell::Num(n) => td class="num" { (n) },
                                        Cell::Level(l) => td { (badge(*l)) },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The sign-in page, with an optional message.
pub fn login(message: Option<&str>) -> String {
    layout(
        "snyk-scim-bridge status: sign in",
        html! {
            h1 { "snyk-scim-bridge status" }
            @if let Some(m) = message { p class="meta" { (m) } }
            form method="post" action="/status/login" {
                label {
                    "Admin token" br;
                    input type="password" name="token" autocomplete="current-password" required;
                }
                " "
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// The whole page.
pub fn render(s: &StatusSnapshot) -> String {
    let overall = s
        .components
        .iter()
        .map(|c| c.level)
        .max_by_key(|l| match l {
            Level::Ok | Level::Info => 0,
            Level::Warn => 1,
            Level::Bad => 2,
        })
        .unwrap_or(Level::Info);
    let health: Vec<Vec<Cell>> = s
        .components
        .iter()
        .map(|c| {
            vec![
                Cell::Text(c.name.to_owned()),
                Cell::Level(c.level),
                Cell::Text(c.detail.clone()),
            ]
        })
        .collect();
    let outbox: Vec<Vec<Cell>> = s
        .outbox
        .iter()
        .map(|(state, n)| vec![Cell::Text(state.clone()), Cell::Num(*n)])
        .collect();
    let failures: Vec<Vec<Cell>> = s
        .failures
        .iter()
        .map(|f| {
            vec![
                Cell::Text(when(f.updated_at, s.now_ms)),
                Cell::Text(s.names.user_label(&f.user_id)),
                Cell::Code(f.user_id.clone()),
                Cell::Text(s.names.org_label(&f.org_id)),
                Cell::Text(f.status.to_string()),
                Cell::Num(f.attempts),
                Cell::Text(opt(f.last_error.as_deref())),
                Cell::Code(opt(f.last_error_ref.as_deref())),
            ]
        })
        .collect();
    let calls: Vec<Vec<Cell>> = s
        .failed_calls
        .iter()
        .map(|c| {
            vec![
                Cell::Text(when(c.at, s.now_ms)),
                Cell::Text(
                    c.user_id
                        .as_deref()
                        .map_or("-".to_owned(), |u| s.names.user_label(u)),
                ),
                Cell::Text(
                    c.org_id
                        .as_deref()
                        .map_or("-".to_owned(), |o| s.names.org_label(o)),
                ),
                Cell::Code(format!(
                    "{} {}",
                    c.method,
                    crate::snyk::wire::endpoint_template(&c.path)
                )),
                Cell::Text(c.status.map_or("-".to_owned(), |v| v.to_string())),
                Cell::Text(c.outcome.clone()),
                Cell::Text(opt(c.message.as_deref())),
                Cell::Code(opt(c.request_id.as_deref())),
            ]
        })
        .collect();
    let orgs: Vec<Vec<Cell>> = s
        .per_org
        .iter()
        .map(|o| {
            vec![
                Cell::Text(s.names.org_label(&o.org_id)),
                Cell::Num(o.pending),
                Cell::Num(o.member),
                Cell::Num(o.external),
                Cell::Num(o.unlocated),
            ]
        })
        .collect();
    let unlocated: Vec<Vec<Cell>> = s
        .unlocated
        .iter()
        .map(|a| {
            vec![
                Cell::Text(a.email.clone()),
                Cell::Code(a.user_id.clone()),
                Cell::Text(s.names.org_label(&a.org_id)),
                Cell::Text(a.role.to_string()),
            ]
        })
        .collect();
    let drift: Vec<Vec<Cell>> = s
        .drift
        .iter()
        .map(|(u, o, e, a)| {
            vec![
                Cell::Text(s.names.user_label(u)),
                Cell::Code(u.clone()),
                Cell::Text(s.names.org_label(o)),
                Cell::Text(e.clone()),
                Cell::Text(a.clone()),
            ]
        })
        .collect();
    let holds: Vec<Vec<Cell>> = s
        .holds
        .iter()
        .map(|h| {
            vec![
                Cell::Text(h.state.to_string()),
                Cell::Text(s.names.user_label(&h.user_id)),
                Cell::Text(opt(h.email.as_deref())),
                Cell::Text(s.names.org_label(&h.org_id)),
                Cell::Text(opt(h.change.as_deref())),
                Cell::Text(h.reason.clone()),
                Cell::Text(when(h.since, s.now_ms)),
                Cell::Code(opt(h.request_id.as_deref())),
            ]
        })
        .collect();
    layout(
        "snyk-scim-bridge status",
        html! {
            h1 { "snyk-scim-bridge status " (badge(overall)) }
            p class="meta" {
                "version " (s.version) " · generated " (when(s.now_ms, s.now_ms))
                " · this page is read-only and reloads only when you reload it"
            }
            (table("health", "Health", &["component", "state", "detail"], &health, "-"))
            (table("outbox", "Outbox (targets by state)", &["state", "targets"], &outbox, "-"))
            @if let Some(t) = s.oldest_pending_ms {
                p class="meta" { "oldest pending target queued " (when(t, s.now_ms)) }
            }
            (table(
                "safety",
                "Safety rails: removals and downgrades held, waiting or refused (release with `snyk-scim-bridge approve`, drop with `reject`)",
                &["state", "user", "email Snyk knows", "org", "change", "why", "since", "caused by SCIM request"],
                &holds,
                "Nothing held.",
            ))
            (table(
                "failures",
                "Recent failures (outbox targets with Snyk's message)",
                &["when", "user", "SCIM id", "org", "state", "attempts", "Snyk said", "x-error-reference"],
                &failures,
                "No failures.",
            ))
            (table(
                "calls",
                "Recent Snyk calls that did not succeed",
                &["when", "user", "org", "call", "HTTP", "outcome", "message", "snyk-request-id"],
                &calls,
                "None.",
            ))
            (table(
                "orgs",
                "Access applied in Snyk, per org",
                &["org", "pending invites", "members", "external (never touched)", "cannot be managed"],
                &orgs,
                "No access applied yet.",
            ))
            (table(
                "unlocated",
                "Cannot be managed after login (logged in, but not in the org's member list, which leaves admins out; set snyk.group_id)",
                &["email", "SCIM id", "org", "role"],
                &unlocated,
                "None.",
            ))
            (table(
                "drift",
                "Role drift (changed in Snyk by hand)",
                &["user", "SCIM id", "org", "expected", "found"],
                &drift,
                "No drift.",
            ))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Component;
    use crate::store::TargetRow;

    #[test]
    fn everything_is_escaped() {
        let snap = StatusSnapshot {
            now_ms: 0,
            version: "0.0.0",
            components: vec![Component {
                name: "Database",
                level: Level::Ok,
                detail: "<b>fine</b>".into(),
            }],
            outbox: vec![("pending".into(), 1)],
            oldest_pending_ms: None,
            failures: vec![TargetRow {
                user_id: "u".into(),
                org_id: "o".into(),
                status: crate::store::TargetStatus::Failed,
                generation: 1,
                attempts: 1,
                next_attempt_at: 0,
                first_failure_at: None,
                last_error: Some("400: <img src=x onerror=alert(1)>".into()),
                last_error_ref: None,
                updated_at: 0,
                request_id: None,
            }],
            failed_calls: vec![],
            per_org: vec![],
            drift: vec![],
            unlocated: vec![],
            holds: vec![crate::store::HoldRow {
                user_id: "u".into(),
                org_id: "o".into(),
                state: crate::store::HoldState::Held,
                reason: "<i>why</i>".into(),
                email: Some("<u>x@example.com".into()),
                change: None,
                request_id: None,
                since: 0,
                updated_at: 0,
            }],
            names: crate::sync::names::Names::default(),
        };
        let html = render(&snap);
        assert!(!html.contains("<i>why"), "{html}");
        assert!(!html.contains("<u>x@"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>fine"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(!html.contains("<script"));
        let login = login(Some("<script>alert(\"x\")</script>"));
        assert!(!login.contains("<script"), "{login}");
        assert!(login.contains("&lt;script&gt;"));
    }
}
