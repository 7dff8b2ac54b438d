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
//!   `/status?ticket=...` that is valid once, for 60 seconds; opening it sets
//!   the session cookie and redirects to `/status` (so the ticket leaves the
//!   address bar). A ticket is not the token: what may leak into a proxy log
//!   or the browser history expires within a minute and works only once
//!   (used tickets are kept in the database, so also across replicas).
//!
//! Sessions and tickets are `<expiry>.<HMAC-SHA256>` keyed by the admin token
//! (a ticket also carries a random nonce), so they work across replicas and
//! die when the token rotates.

mod page;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::AppState;
use crate::health::{self, HealthInputs};

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

impl AdminAuth {
    /// A one-time sign-in link's value: `<nonce>.<expiry>.<mac>`.
    fn sign_ticket(&self, now_secs: i64) -> String {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        format!(
            "{nonce}.{}",
            self.sign(&format!("ticket:{nonce}"), now_secs, TICKET_SECS)
        )
    }

    /// The ticket's nonce and expiry, if it is genuine and not expired (that it
    /// was not used before is the store's to say).
    fn verify_ticket(&self, value: &str, now_secs: i64) -> Option<(String, i64)> {
        let (nonce, rest) = value.split_once('.')?;
        if nonce.is_empty() || !nonce.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let exp = rest.split_once('.')?.0.parse::<i64>().ok()?;
        self.verify(&format!("ticket:{nonce}"), rest, now_secs, TICKET_SECS)
            .then(|| (nonce.to_owned(), exp))
    }
}

/// Mark a ticket used; `false` when it was used before (any replica) or the
/// store cannot say.
async fn redeem(state: &AppState, nonce: &str, exp_secs: i64) -> bool {
    let now_ms = state.ops.clock.now().timestamp_millis();
    let redeemed = async {
        let mut tx = state.store.write().await?;
        let fresh = tx.redeem_ticket(nonce, exp_secs * 1000, now_ms).await?;
        tx.commit().await?;
        Ok::<_, crate::store::StoreError>(fresh)
    };
    match redeemed.await {
        Ok(fresh) => fresh,
        Err(e) => {
            tracing::warn!(error = %e, "a status sign-in link could not be checked");
            false
        }
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

/// The session cookie: HttpOnly, SameSite=Strict, for `/status` only,
/// `Secure` when the request came over https.
fn session_cookie(req: &HttpRequest, admin: &AdminAuth, now: i64) -> Cookie<'static> {
    Cookie::build(COOKIE, admin.sign("session", now, SESSION_SECS))
        .path("/status")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(SESSION_SECS))
        .secure(req.connection_info().scheme() == "https")
        .finish()
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
        if let Some((nonce, exp)) = admin.verify_ticket(&t, now)
            && redeem(&state, &nonce, exp).await
        {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/status"))
                .cookie(session_cookie(&req, &admin, now))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        return login_page(Some(
            "That link has expired, was used already, or is not valid; sign in with the admin token.",
        ));
    }
    let by_header = bearer(&req).is_some_and(|t| admin.token_ok(t));
    let by_cookie = req
        .cookie(COOKIE)
        .is_some_and(|c| admin.verify("session", c.value(), now, SESSION_SECS));
    if !(by_header || by_cookie) {
        return login_page(None);
    }
    let inputs = HealthInputs {
        worker: Some(&state.ops.worker),
        dry_run: state.ops.dry_run,
        reconcile_interval: state.ops.reconcile_interval,
        now_ms: state.ops.clock.now().timestamp_millis(),
        pacing: state.ops.pacing,
    };
    let snap = health::snapshot(&state.store, &inputs).await;
    html(actix_web::http::StatusCode::OK, page::render(&snap))
}

/// The sign-in form's largest body.
const LOGIN_BODY_LIMIT: usize = 4096;

async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let Some(admin) = state.ops.admin.clone() else {
        return not_found();
    };
    // The token is in the body, so the body is read before anyone is known:
    // within a deadline, and only so many at once.
    let Ok(_slot) = state.body_gate.enter() else {
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("too many sign-ins at once; retry\n");
    };
    let body = match super::body::read_bytes(&req, payload, LOGIN_BODY_LIMIT).await {
        Ok(b) => b,
        Err(super::body::BodyError::Timeout) => {
            return HttpResponse::RequestTimeout()
                .force_close()
                .content_type("text/plain")
                .body("the form did not arrive in time\n");
        }
        Err(_) => return login_page(Some("That is not the admin token.")),
    };
    let token = std::str::from_utf8(&body)
        .ok()
        .and_then(|text| {
            web::Query::<std::collections::HashMap<String, String>>::from_query(text).ok()
        })
        .and_then(|q| q.get("token").cloned());
    match token {
        Some(t) if admin.token_ok(&t) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/status"))
            .cookie(session_cookie(&req, &admin, now_secs(&state)))
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
    let t = admin.sign_ticket(now_secs(&state));
    HttpResponse::Ok()
        .content_type("text/plain")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!("/status?ticket={t}\n"))
}

fn login_page(message: Option<&str>) -> HttpResponse {
    html(
        actix_web::http::StatusCode::UNAUTHORIZED,
        page::login(message),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let t1 = a.sign_ticket(1000);
        let t2 = a.sign_ticket(1000);
        assert_ne!(t1, t2, "two tickets in one second differ");
        assert!(a.verify_ticket(&t1, 1000).is_some());
        assert!(a.verify_ticket(&t1, 1061).is_none(), "expired");
        assert!(b.verify_ticket(&t1, 1000).is_none(), "token-bound");
        let (nonce, rest) = t1.split_once('.').expect("nonce");
        assert!(
            a.verify_ticket(&format!("{nonce}0.{rest}"), 1000).is_none(),
            "nonce-bound"
        );
        assert!(!a.verify("session", "1.00", 0, 60));
        assert!(!s.contains("admin-token"));
    }
}
