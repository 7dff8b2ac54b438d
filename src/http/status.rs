//! `/status`: a read-only, server-rendered HTML page for operators (no
//! JavaScript), behind the admin token (`[admin] token` / `ADMIN_TOKEN`;
//! without one every `/status` route answers 404).
//!
//! How a browser gets in, without the token ever sitting in a URL:
//! - `GET /status` with `Authorization: Bearer <admin token>` (scripts, curl);
//! - or the login form: `POST /status/login` with the token sets an HttpOnly,
//!   SameSite=Strict session cookie (8 hours, `Secure` over https);
//! - or a one-time link for a browser that cannot send headers:
//!   `POST /status/ticket` with the bearer token answers a link
//!   `/status?ticket=...` that is valid for 60 seconds; opening it sets the
//!   session cookie and redirects to `/status` (so the ticket leaves the
//!   address bar). A ticket is not the token: what may leak into a proxy log
//!   or the browser history expires within a minute.
//!
//! Sessions and tickets are stateless: `<expiry>.<HMAC-SHA256>` keyed by the
//! admin token, so they work across replicas and die when the token rotates.

use std::fmt::Write as _;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::AppState;
use crate::health::{self, HealthInputs, Level, StatusSnapshot, when};

const COOKIE: &str = "bridge_status_session";
const SESSION_SECS: i64 = 8 * 3600;
const TICKET_SECS: i64 = 60;

/// The admin token, kept only as keys derived from it.
pub struct AdminAuth {
    token: crate::secret::SecretDigest,
    mac_key: [u8; 32],
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminAuth(..)")
    }
}

impl AdminAuth {
    pub fn new(token: &SecretString) -> Self {
        let t = token.expose_secret().as_bytes();
        let mut k = Sha256::new();
        k.update(b"snyk-scim-bridge/status-session/v1:");
        k.update(t);
        Self {
            token: crate::secret::SecretDigest::of(token.expose_secret()),
            mac_key: k.finalize().into(),
        }
    }

    fn token_ok(&self, given: &str) -> bool {
        self.token.matches(given)
    }

    fn mac(&self, purpose: &str, expiry: i64) -> String {
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.mac_key) else {
            return String::new();
        };
        m.update(format!("{purpose}:{expiry}").as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// `<expiry>.<mac>` for `purpose`, valid for `secs`.
    fn sign(&self, purpose: &str, now_secs: i64, secs: i64) -> String {
        let exp = now_secs + secs;
        format!("{exp}.{}", self.mac(purpose, exp))
    }

    fn verify(&self, purpose: &str, value: &str, now_secs: i64, max_secs: i64) -> bool {
        let Some((exp, mac)) = value.split_once('.') else {
            return false;
        };
        let Ok(exp) = exp.parse::<i64>() else {
            return false;
        };
        let want = self.mac(purpose, exp);
        exp > now_secs
            && exp - now_secs <= max_secs
            && crate::secret::equal_in_constant_time(&want, mac)
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/status", web::get().to(page))
        .route("/status/login", web::post().to(login))
        .route("/status/ticket", web::post().to(ticket));
}

fn now_secs(state: &AppState) -> i64 {
    state.ops.clock.now().timestamp()
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::bearer_token)
}

fn cookie<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn session_cookie(req: &HttpRequest, admin: &AdminAuth, now: i64) -> String {
    let secure = if req.connection_info().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{COOKIE}={}; Path=/status; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}{secure}",
        admin.sign("session", now, SESSION_SECS)
    )
}

fn html(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body)
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain")
        .body("not found\n")
}

async fn page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(admin) = state.ops.admin.clone() else {
        return not_found();
    };
    let now = now_secs(&state);
    if let Some(t) =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("ticket").cloned())
    {
        if admin.verify("ticket", &t, now, TICKET_SECS) {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/status"))
                .insert_header((header::SET_COOKIE, session_cookie(&req, &admin, now)))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        return login_page(Some(
            "That link has expired or is not valid; sign in with the admin token.",
        ));
    }
    let by_header = bearer(&req).is_some_and(|t| admin.token_ok(t));
    let by_cookie =
        cookie(&req, COOKIE).is_some_and(|c| admin.verify("session", c, now, SESSION_SECS));
    if !(by_header || by_cookie) {
        return login_page(None);
    }
    let inputs = HealthInputs {
        worker: Some(&state.ops.worker),
        dry_run: state.ops.dry_run,
        reconcile_interval: state.ops.reconcile_interval,
        now_ms: state.ops.clock.now().timestamp_millis(),
    };
    let snap = health::snapshot(&state.store, &inputs).await;
    html(actix_web::http::StatusCode::OK, render(&snap))
}

#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Option<web::Form<LoginForm>>,
) -> HttpResponse {
    let Some(admin) = state.ops.admin.clone() else {
        return not_found();
    };
    match form {
        Some(f) if admin.token_ok(&f.token) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/status"))
            .insert_header((
                header::SET_COOKIE,
                session_cookie(&req, &admin, now_secs(&state)),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        _ => {
            tracing::info!("status page sign-in refused");
            login_page(Some("That is not the admin token."))
        }
    }
}

async fn ticket(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(admin) = state.ops.admin.clone() else {
        return not_found();
    };
    if !bearer(&req).is_some_and(|t| admin.token_ok(t)) {
        return HttpResponse::Unauthorized()
            .content_type("text/plain")
            .body("send the admin token as Authorization: Bearer\n");
    }
    let t = admin.sign("ticket", now_secs(&state), TICKET_SECS);
    HttpResponse::Ok()
        .content_type("text/plain")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!("/status?ticket={t}\n"))
}

/// Text made safe for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px 32px;color:#1d2330;background:#f6f7f9}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d5d9e0;padding-bottom:4px}\
.meta{color:#5b6475;margin-bottom:8px}table{border-collapse:collapse;background:#fff;min-width:480px;box-shadow:0 1px 2px #0001}\
th,td{text-align:left;padding:6px 12px;border-bottom:1px solid #e6e9ee;vertical-align:top}th{background:#eef1f5;font-weight:600}\
td.num{text-align:right;font-variant-numeric:tabular-nums}code{font:12px ui-monospace,Menlo,monospace}\
.badge{display:inline-block;min-width:64px;text-align:center;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600;color:#fff}\
.ok{background:#2e7d32}.info{background:#546e7a}.warning{background:#ef8f00}.failing{background:#c62828}\
.empty{color:#5b6475;font-style:italic}form{background:#fff;padding:16px;display:inline-block;box-shadow:0 1px 2px #0001}\
input{font:inherit;padding:4px 8px;width:320px}button{font:inherit;padding:4px 12px}";

fn page_start(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
}

fn login_page(message: Option<&str>) -> HttpResponse {
    let mut out = String::new();
    page_start(&mut out, "snyk-scim-bridge status: sign in");
    out.push_str("<h1>snyk-scim-bridge status</h1>");
    if let Some(m) = message {
        let _ = write!(out, "<p class=\"meta\">{}</p>", escape(m));
    }
    out.push_str(
        "<form method=\"post\" action=\"/status/login\"><label>Admin token<br>\
         <input type=\"password\" name=\"token\" autocomplete=\"current-password\" required></label> \
         <button type=\"submit\">Sign in</button></form></body></html>",
    );
    html(actix_web::http::StatusCode::UNAUTHORIZED, out)
}

fn table(out: &mut String, id: &str, title: &str, head: &[&str], rows: &[Vec<Cell>], empty: &str) {
    let _ = write!(out, "<section id=\"{id}\"><h2>{}</h2>", escape(title));
    if rows.is_empty() {
        let _ = write!(out, "<p class=\"empty\">{}</p></section>", escape(empty));
        return;
    }
    out.push_str("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            match c {
                Cell::Text(t) => {
                    let _ = write!(out, "<td>{}</td>", escape(t));
                }
                Cell::Code(t) => {
                    let _ = write!(out, "<td><code>{}</code></td>", escape(t));
                }
                Cell::Num(n) => {
                    let _ = write!(out, "<td class=\"num\">{n}</td>");
                }
                Cell::Level(l) => {
                    let _ = write!(
                        out,
                        "<td><span class=\"badge {0}\">{0}</span></td>",
                        l.as_str()
                    );
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>");
}

enum Cell {
    Text(String),
    Code(String),
    Num(i64),
    Level(Level),
}

fn opt(s: Option<&str>) -> String {
    s.unwrap_or("-").to_owned()
}

/// The whole page; every value from the store or from Snyk is escaped.
pub fn render(s: &StatusSnapshot) -> String {
    let mut out = String::new();
    page_start(&mut out, "snyk-scim-bridge status");
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
    let _ = write!(
        out,
        "<h1>snyk-scim-bridge status <span class=\"badge {0}\">{0}</span></h1>\
         <p class=\"meta\">version {1} · generated {2} · this page is read-only and reloads only when you reload it</p>",
        overall.as_str(),
        escape(s.version),
        escape(&when(s.now_ms, s.now_ms)),
    );
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
    table(
        &mut out,
        "health",
        "Health",
        &["component", "state", "detail"],
        &health,
        "-",
    );
    let outbox: Vec<Vec<Cell>> = s
        .outbox
        .iter()
        .map(|(state, n)| vec![Cell::Text(state.clone()), Cell::Num(*n)])
        .collect();
    table(
        &mut out,
        "outbox",
        "Outbox (targets by state)",
        &["state", "targets"],
        &outbox,
        "-",
    );
    if let Some(t) = s.oldest_pending_ms {
        let _ = write!(
            out,
            "<p class=\"meta\">oldest pending target queued {}</p>",
            escape(&when(t, s.now_ms))
        );
    }
    let failures: Vec<Vec<Cell>> = s
        .failures
        .iter()
        .map(|f| {
            vec![
                Cell::Text(when(f.updated_at, s.now_ms)),
                Cell::Code(f.user_id.clone()),
                Cell::Code(f.org_id.clone()),
                Cell::Text(f.status.to_string()),
                Cell::Num(f.attempts),
                Cell::Text(opt(f.last_error.as_deref())),
                Cell::Code(opt(f.last_error_ref.as_deref())),
            ]
        })
        .collect();
    table(
        &mut out,
        "failures",
        "Recent failures (outbox targets with Snyk's message)",
        &[
            "when",
            "SCIM user",
            "org",
            "state",
            "attempts",
            "Snyk said",
            "x-error-reference",
        ],
        &failures,
        "No failures.",
    );
    let calls: Vec<Vec<Cell>> = s
        .failed_calls
        .iter()
        .map(|c| {
            vec![
                Cell::Text(when(c.at, s.now_ms)),
                Cell::Code(format!(
                    "{} {}",
                    c.method,
                    crate::metrics::endpoint_template(&c.path)
                )),
                Cell::Text(c.status.map_or("-".to_owned(), |v| v.to_string())),
                Cell::Text(c.outcome.clone()),
                Cell::Text(opt(c.message.as_deref())),
                Cell::Code(opt(c.request_id.as_deref())),
            ]
        })
        .collect();
    table(
        &mut out,
        "calls",
        "Recent Snyk calls that did not succeed",
        &[
            "when",
            "call",
            "HTTP",
            "outcome",
            "message",
            "snyk-request-id",
        ],
        &calls,
        "None.",
    );
    let orgs: Vec<Vec<Cell>> = s
        .per_org
        .iter()
        .map(|o| {
            vec![
                Cell::Code(o.org_id.clone()),
                Cell::Num(o.pending),
                Cell::Num(o.member),
                Cell::Num(o.external),
            ]
        })
        .collect();
    table(
        &mut out,
        "orgs",
        "Access applied in Snyk, per org",
        &[
            "org",
            "pending invites",
            "members",
            "external (never touched)",
        ],
        &orgs,
        "No access applied yet.",
    );
    let drift: Vec<Vec<Cell>> = s
        .drift
        .iter()
        .map(|(u, o, e, a)| {
            vec![
                Cell::Code(u.clone()),
                Cell::Code(o.clone()),
                Cell::Text(e.clone()),
                Cell::Text(a.clone()),
            ]
        })
        .collect();
    table(
        &mut out,
        "drift",
        "Role drift (changed in Snyk by hand)",
        &["SCIM user", "org", "expected", "found"],
        &drift,
        "No drift.",
    );
    out.push_str("</body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Component;
    use crate::store::TargetRow;

    #[test]
    fn everything_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
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
        };
        let html = render(&snap);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>fine"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn sessions_and_tickets_expire_and_are_bound_to_the_token() {
        let a = AdminAuth::new(&SecretString::from("admin-token-0123456789".to_owned()));
        let b = AdminAuth::new(&SecretString::from("other-token-0123456789".to_owned()));
        assert!(a.token_ok("admin-token-0123456789"));
        assert!(!a.token_ok("admin-token-012345678"));
        let s = a.sign("session", 1000, 60);
        assert!(a.verify("session", &s, 1000, 60));
        assert!(!a.verify("ticket", &s, 1000, 60), "purpose-bound");
        assert!(!b.verify("session", &s, 1000, 60), "token-bound");
        assert!(!a.verify("session", &s, 1061, 60), "expired");
        let far = a.sign("ticket", 1000, 3600);
        assert!(!a.verify("ticket", &far, 1000, 60), "lifetime capped");
        assert!(!a.verify("session", "1.00", 0, 60));
        assert!(!s.contains("admin-token"));
    }
}
