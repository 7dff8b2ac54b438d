//! The Snyk v1 client: the calls of the reference doc, `Authorization: token
//! ...`, timeouts, a versioned User-Agent, and a classification of every
//! failure the worker acts on.
//!
//! It knows nothing of the database or of actix; it never logs the token.
//! Pacing (rate and concurrency) is the caller's: see `sync::pacer`. A call
//! kind that Snyk retires (410, `Sunset`, `Deprecation`) is not sent again by
//! this process (`alerts`).

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

pub mod alerts;
pub mod wire;

use crate::domain::{SnykOp, SnykRole};
pub use alerts::{ApiAlerts, BlockedKind};
pub use wire::Request;

/// How a failed call should be handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnykError {
    /// 429: pause every call.
    #[error("rate limited by Snyk")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, timeouts, connection errors: retry this operation with backoff.
    #[error("transient failure: {message}")]
    Transient {
        status: Option<u16>,
        message: String,
    },
    /// 401: the token is missing, expired or revoked; pause and alert.
    #[error("Snyk rejected the API token ({status})")]
    Unauthorized { status: u16 },
    /// The provision was refused because the user already exists in Snyk.
    #[error("the user already exists in Snyk: {message}")]
    AlreadyExists {
        message: String,
        error_ref: Option<String>,
    },
    /// Any other 4xx: fail the operation with Snyk's message.
    #[error("Snyk answered {status}: {message}")]
    Permanent {
        status: u16,
        message: String,
        error_ref: Option<String>,
    },
    /// Never sent: the bridge is stopping (the pacer is closed).
    #[error("not sent: the bridge is stopping")]
    NotSent,
    /// Snyk is retiring this call kind (410 Gone, `Sunset`, `Deprecation`):
    /// not sent (or, for the 410 that revealed it, not done); keep the work.
    #[error("{kind} is blocked: Snyk answered {reason}")]
    Blocked { kind: String, reason: String },
}

impl SnykError {
    /// The class and status, without Snyk's free text (which may name
    /// people): what a log line about an org or a group shows.
    pub fn summary(&self) -> String {
        match self {
            Self::RateLimited { .. } => "rate limited (429)".into(),
            Self::Transient {
                status: Some(s), ..
            } => format!("transient failure ({s})"),
            Self::Transient { status: None, .. } => "no answer".into(),
            Self::Unauthorized { status } => format!("token rejected ({status})"),
            Self::AlreadyExists { .. } => "the user already exists".into(),
            Self::Permanent { status, .. } => format!("refused ({status})"),
            Self::NotSent => "not sent".into(),
            Self::Blocked { kind, reason } => format!("blocked: {kind} ({reason})"),
        }
    }
}

/// The headers Snyk uses to trace a call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    pub request_id: Option<String>,
    pub error_ref: Option<String>,
    pub status: Option<u16>,
}

/// A member of an org, as `GET /org/{orgId}/members` lists it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct OrgMember {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
}

impl OrgMember {
    /// The member's role, read from Snyk's spelling.
    pub fn role(&self) -> SnykRole {
        wire::parse_member_role(self.role.as_deref().unwrap_or(""))
    }
}

/// A pending provision, as `GET /org/{orgId}/provision` lists it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PendingProvision {
    pub email: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default, rename = "rolePublicId")]
    pub role_public_id: Option<String>,
}

/// A member of the group, as `GET /group/{groupId}/members` lists it: every
/// member (admins too), with the orgs they are in, by org *name*.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct GroupMember {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub orgs: Vec<GroupMemberOrg>,
    /// `admin` for a group admin (absent otherwise).
    #[serde(default, rename = "groupRole")]
    pub group_role: Option<String>,
}

/// One org of a group member.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct GroupMemberOrg {
    pub name: String,
    #[serde(default)]
    pub role: Option<String>,
}

impl GroupMemberOrg {
    /// The member's role in this org, read from Snyk's spelling.
    pub fn role(&self) -> SnykRole {
        wire::parse_member_role(self.role.as_deref().unwrap_or(""))
    }
}

/// An org of the group, as `GET /group/{groupId}/orgs` lists it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct GroupOrg {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
struct GroupOrgs {
    #[serde(default)]
    orgs: Vec<GroupOrg>,
}

/// One of the caller's personal access tokens, as the REST list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub id: String,
    pub name: Option<String>,
    /// RFC 3339, as Snyk wrote it; `None` when absent or null.
    pub expires_at: Option<String>,
}

/// A role of the group, as `GET /group/{groupId}/roles` lists it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct GroupRole {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "publicId")]
    pub public_id: String,
    #[serde(default, rename = "customRole")]
    pub custom_role: Option<bool>,
}

/// The token's own user, as `GET /user/me` answers.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Me {
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SnykClient {
    http: reqwest::Client,
    base: String,
    /// The REST base beside `base`, when it can be derived.
    rest_base: Option<String>,
    token: Option<SecretString>,
    alerts: Arc<ApiAlerts>,
}

impl SnykClient {
    pub fn new(
        base: &str,
        token: Option<SecretString>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("snyk-scim-bridge/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            rest_base: wire::rest_base(base),
            token,
            alerts: Arc::new(ApiAlerts::default()),
        })
    }

    /// Whether a token is configured (a dry run may have none).
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The call kinds this process has stopped sending.
    pub fn alerts(&self) -> Arc<ApiAlerts> {
        self.alerts.clone()
    }

    /// Whether the REST base could be derived from `snyk.api_url`.
    pub fn has_rest(&self) -> bool {
        self.rest_base.is_some()
    }

    /// The caller's personal access tokens (REST, pinned version). Defensive
    /// about the JSON:API shape: `data[].{id, attributes.{name, expires_at}}`.
    pub async fn personal_access_tokens(&self) -> (Result<Vec<AccessToken>, SnykError>, Trace) {
        let (r, t) = self.send(&wire::personal_access_tokens()).await;
        (r.and_then(parse_tokens), t)
    }

    pub async fn list_group_roles(
        &self,
        group: &str,
    ) -> (Result<Vec<GroupRole>, SnykError>, Trace) {
        let (r, t) = self.send(&wire::list_group_roles(group)).await;
        (r.and_then(parse_list), t)
    }

    pub async fn user_me(&self) -> (Result<Me, SnykError>, Trace) {
        let (r, t) = self.send(&wire::user_me()).await;
        (
            r.map(|v| serde_json::from_value(v).unwrap_or(Me { id: None })),
            t,
        )
    }

    /// Send one planned op; the trace carries Snyk's request ids either way.
    pub async fn execute(&self, op: &SnykOp) -> (Result<Value, SnykError>, Trace) {
        self.send(&wire::request(op)).await
    }

    pub async fn list_provisions(
        &self,
        org: &str,
    ) -> (Result<Vec<PendingProvision>, SnykError>, Trace) {
        let (r, t) = self.send(&wire::list_provisions(org)).await;
        (r.and_then(parse_list), t)
    }

    /// The org's members as Snyk lists them: "all non-admin members" (the
    /// docs), so an org admin may be missing; see [`Self::list_group_members`].
    pub async fn list_org_members(&self, org: &str) -> (Result<Vec<OrgMember>, SnykError>, Trace) {
        let (r, t) = self.send(&wire::list_org_members(org)).await;
        (r.and_then(parse_list), t)
    }

    /// The orgs of the group (ids and names: the group members list names
    /// orgs by name only).
    pub async fn list_group_orgs(&self, group: &str) -> (Result<Vec<GroupOrg>, SnykError>, Trace) {
        let (r, t) = self.send(&wire::list_group_orgs(group)).await;
        (
            r.and_then(|v| {
                serde_json::from_value::<GroupOrgs>(v)
                    .map(|g| g.orgs)
                    .map_err(|e| SnykError::Transient {
                        status: None,
                        message: format!("unexpected response shape: {e}"),
                    })
            }),
            t,
        )
    }

    pub async fn list_group_members(
        &self,
        group: &str,
    ) -> (Result<Vec<GroupMember>, SnykError>, Trace) {
        let (r, t) = self.send(&wire::list_group_members(group)).await;
        (r.and_then(parse_list), t)
    }

    /// One HTTP call with the token; never retries (the outbox does).
    pub async fn send(&self, request: &Request) -> (Result<Value, SnykError>, Trace) {
        let kind = request.kind();
        if let Some(b) = self.alerts.blocked(&kind) {
            return (
                Err(SnykError::Blocked {
                    kind,
                    reason: b.reason,
                }),
                Trace::default(),
            );
        }
        let base = match request.api {
            wire::Api::V1 => Some(self.base.as_str()),
            wire::Api::Rest => self.rest_base.as_deref(),
        };
        let url = base.and_then(|b| reqwest::Url::parse(&format!("{b}{}", request.path)).ok());
        let Some(mut url) = url else {
            return (
                Err(SnykError::Permanent {
                    status: 0,
                    message: "snyk.api_url does not make a valid URL".into(),
                    error_ref: None,
                }),
                Trace::default(),
            );
        };
        if !request.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(request.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut req = self.http.request(request.method.clone(), url);
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("token {}", t.expose_secret()));
        }
        if let Some(b) = &request.body {
            req = req.json(b);
        }
        let started = std::time::Instant::now();
        let sent = req.send().await;
        crate::metrics::record_snyk_call(
            &request.template(),
            sent.as_ref().ok().map(|r| r.status().as_u16()),
            started.elapsed(),
        );
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let message = if e.is_timeout() {
                    "timed out".to_owned()
                } else if e.is_connect() {
                    "could not connect".to_owned()
                } else {
                    "request failed".to_owned()
                };
                return (
                    Err(SnykError::Transient {
                        status: None,
                        message,
                    }),
                    Trace::default(),
                );
            }
        };
        let status = resp.status().as_u16();
        let trace = trace_of(resp.headers(), status);
        let retry_after = retry_after(resp.headers());
        let alert = alerts::lifecycle_alert(status, resp.headers());
        if let Some(reason) = &alert {
            self.raise(&kind, reason);
        }
        let text = resp.text().await.unwrap_or_default();
        if status == 410
            && let Some(reason) = alert
        {
            return (Err(SnykError::Blocked { kind, reason }), trace);
        }
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let is_provision =
            request.method == reqwest::Method::POST && request.path.ends_with("/provision");
        let result = classify(is_provision, status, &json, &text, retry_after, &trace);
        (result.map(|()| json), trace)
    }
}

impl SnykClient {
    /// Block a call kind Snyk is retiring: a WARN line and the metric, once.
    fn raise(&self, kind: &str, reason: &str) {
        use crate::clock::Clock as _;
        let now = crate::clock::SystemClock.now().timestamp_millis();
        if self.alerts.block(kind, reason, now) {
            crate::metrics::record_blocked_kind(kind, true);
            tracing::warn!(
                call = %kind,
                snyk_said = %reason,
                "Snyk is retiring this call: the bridge stops sending it and keeps the work queued; see docs/operations.md, \"Snyk answers 410\""
            );
        }
    }
}

/// The token list of `GET /rest/self/personal_access_tokens`.
fn parse_tokens(v: Value) -> Result<Vec<AccessToken>, SnykError> {
    let Some(items) = v.get("data").and_then(Value::as_array) else {
        return Err(SnykError::Transient {
            status: None,
            message: "unexpected response shape: no data array".into(),
        });
    };
    let text = |item: &Value, key: &str| {
        item.get("attributes")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok(items
        .iter()
        .map(|item| AccessToken {
            id: item
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            name: text(item, "name"),
            expires_at: text(item, "expires_at"),
        })
        .collect())
}

fn parse_list<T: for<'de> Deserialize<'de>>(v: Value) -> Result<Vec<T>, SnykError> {
    serde_json::from_value(v).map_err(|e| SnykError::Transient {
        status: None,
        message: format!("unexpected response shape: {e}"),
    })
}

fn trace_of(headers: &HeaderMap, status: u16) -> Trace {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Trace {
        request_id: get("snyk-request-id"),
        error_ref: get("x-error-reference"),
        status: Some(status),
    }
}

/// How long the server asks to wait: `Retry-After` (seconds), else
/// `X-RateLimit-Reset` (seconds until the reset, or a Unix time in seconds,
/// as REST tools read it). Snyk's v1 sends neither, as far as documented.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    server_wait(headers).map(|d| d.min(MAX_SERVER_WAIT))
}

/// The longest wait a server's header may impose (a bad header must not stop
/// the bridge for longer).
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(15 * 60);

fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    let number = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(s) = number(RETRY_AFTER.as_str()) {
        return Some(Duration::from_secs(s));
    }
    let reset = number("x-ratelimit-reset")?;
    // Seconds to wait, a Unix time in seconds, or one in milliseconds.
    let reset = if reset > 100_000_000_000 {
        reset / 1000
    } else {
        reset
    };
    if reset > 1_000_000_000 {
        use crate::clock::Clock as _;
        let now = u64::try_from(crate::clock::SystemClock.now().timestamp()).ok()?;
        Some(Duration::from_secs(reset.saturating_sub(now)))
    } else {
        Some(Duration::from_secs(reset))
    }
}

/// Snyk's error message from a v1 body (`message`, else `error`), else the text.
pub fn error_message(json: &Value, text: &str) -> String {
    let field = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_owned);
    field("message")
        .or_else(|| field("error"))
        .unwrap_or_else(|| text.chars().take(300).collect())
}

/// Sort a response into success or one of the [`SnykError`] classes.
///
/// The answer to provisioning a user who already exists is not documented
/// (third parties guess 409): any 4xx other than 401/403/404/429 to a
/// provision POST whose message mentions "exist" or "already", and any 409,
/// counts as `AlreadyExists`. What Snyk said is logged by the caller.
pub fn classify(
    is_provision: bool,
    status: u16,
    json: &Value,
    text: &str,
    retry_after: Option<Duration>,
    trace: &Trace,
) -> Result<(), SnykError> {
    match status {
        200..=299 => Ok(()),
        429 => Err(SnykError::RateLimited { retry_after }),
        401 => Err(SnykError::Unauthorized { status }),
        500..=599 | 408 => Err(SnykError::Transient {
            status: Some(status),
            message: error_message(json, text),
        }),
        _ => {
            let message = error_message(json, text);
            let lower = message.to_lowercase();
            let says_exists = lower.contains("exist") || lower.contains("already");
            if is_provision && (status == 409 || (says_exists && !matches!(status, 403 | 404))) {
                Err(SnykError::AlreadyExists {
                    message,
                    error_ref: trace.error_ref.clone(),
                })
            } else {
                Err(SnykError::Permanent {
                    status,
                    message,
                    error_ref: trace.error_ref.clone(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(method: &str, path: &str, status: u16, body: Value) -> Result<(), SnykError> {
        let is_provision = method == "POST" && path.ends_with("/provision");
        classify(is_provision, status, &body, "", None, &Trace::default())
    }

    #[test]
    fn token_lists_are_read_defensively() {
        let v = json!({"data": [
            {"id": "t1", "type": "personal_access_token", "attributes": {"name": "bridge", "expires_at": "2027-01-01T00:00:00Z"}},
            {"id": "t2", "attributes": {"expires_at": null}},
            {"id": "t3"}
        ]});
        let t = parse_tokens(v).expect("parsed");
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].expires_at.as_deref(), Some("2027-01-01T00:00:00Z"));
        assert_eq!(t[0].name.as_deref(), Some("bridge"));
        assert_eq!(
            (t[1].expires_at.clone(), t[2].expires_at.clone()),
            (None, None)
        );
        assert!(parse_tokens(json!([])).is_err());
    }

    #[test]
    fn a_server_wait_is_read_in_every_form_and_bounded() {
        let h = |name: &str, v: &str| {
            let mut m = HeaderMap::new();
            m.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
            retry_after(&m)
        };
        assert_eq!(h("retry-after", "7"), Some(Duration::from_secs(7)));
        assert_eq!(h("x-ratelimit-reset", "30"), Some(Duration::from_secs(30)));
        assert_eq!(h("retry-after", "999999999"), Some(MAX_SERVER_WAIT));
        // A Unix time in milliseconds is not 54,000 years of waiting.
        let now_ms = crate::clock::Clock::now(&crate::clock::SystemClock).timestamp_millis();
        let w = h("x-ratelimit-reset", &(now_ms + 20_000).to_string()).expect("wait");
        assert!(w <= Duration::from_secs(21), "{w:?}");
        assert_eq!(h("retry-after", "soon"), None);
    }

    #[test]
    fn classification_table() {
        let p = "/org/o/provision";
        assert_eq!(c("POST", p, 200, json!({})), Ok(()));
        assert!(matches!(
            c("POST", p, 429, json!({})),
            Err(SnykError::RateLimited { .. })
        ));
        assert!(matches!(
            c("POST", p, 503, json!({})),
            Err(SnykError::Transient { .. })
        ));
        assert!(matches!(
            c("POST", p, 401, json!({})),
            Err(SnykError::Unauthorized { .. })
        ));
        assert!(matches!(
            c("POST", p, 409, json!({"message": "conflict"})),
            Err(SnykError::AlreadyExists { .. })
        ));
        assert!(matches!(
            c(
                "POST",
                p,
                400,
                json!({"message": "User a@x.com already exists in Snyk"})
            ),
            Err(SnykError::AlreadyExists { .. })
        ));
        assert!(matches!(
            c("POST", p, 422, json!({"error": "user exists"})),
            Err(SnykError::AlreadyExists { .. })
        ));
        match c(
            "POST",
            p,
            400,
            json!({"code": 400, "message": "Invalid role"}),
        ) {
            Err(SnykError::Permanent {
                status, message, ..
            }) => {
                assert_eq!((status, message.as_str()), (400, "Invalid role"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            c(
                "POST",
                p,
                403,
                json!({"message": "no user provision permission or does not have permissions in role being provisioned"})
            ),
            Err(SnykError::Permanent { status: 403, .. })
        ));
        // A 409 elsewhere is not "already exists".
        assert!(matches!(
            c("PUT", "/org/o/members/u", 409, json!({})),
            Err(SnykError::Permanent { .. })
        ));
    }
}
