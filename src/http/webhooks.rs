//! Webhook routes (docs/okta.md, docs/webhooks.md):
//!
//! - `GET /webhooks/okta`: Okta's one-time verification, answered
//!   `{"verification": <X-Okta-Verification-Challenge>}`. The configured
//!   `Authorization` value is not required here (the challenge proves only
//!   that this endpoint answers), but a *wrong* one is refused with 401, so a
//!   mistyped secret shows up at verification time.
//! - `POST /webhooks/okta`: an Event Hook delivery; `Authorization` must be
//!   the configured value (compared in constant time). Stored in one
//!   transaction, then answered 200 with an empty body.
//! - `POST /webhooks/events`: the generic signed webhook; answered 200 with
//!   counts (`received`, `applied`, `duplicates`, `stale`, `skipped`).
//!
//! A route whose webhook is not configured answers 404. Errors are JSON
//! `{"error": "...", "field"?: "..."}` and never echo a secret.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{AppState, RequestId};
use crate::audit::Actor;
use crate::service::ServiceError;
use crate::webhook::generic::{self, SIGNATURE_HEADER, SignatureError};
use crate::webhook::{self, ParseError, Source, okta};

const CHALLENGE_HEADER: &str = "X-Okta-Verification-Challenge";
const MAX_CHALLENGE_LEN: usize = 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks/okta")
            .route(web::get().to(okta_verify))
            .route(web::post().to(okta_events))
            .default_service(web::route().to(method_not_allowed)),
    )
    .service(
        web::resource("/webhooks/events")
            .route(web::post().to(generic_events))
            .default_service(web::route().to(method_not_allowed)),
    );
}

/// Why a webhook request was refused.
#[derive(Debug, thiserror::Error)]
enum WebhookError {
    #[error("this webhook is not configured")]
    Disabled,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the Authorization header does not match the configured value")]
    BadAuthorization,
    #[error(transparent)]
    Signature(SignatureError),
    #[error("the X-Okta-Verification-Challenge header is missing or too long")]
    Challenge,
    #[error(transparent)]
    Body(super::body::BodyError),
    #[error("the request body is not valid JSON: {0}")]
    Json(String),
    #[error("{0}")]
    Malformed(ParseError),
    #[error(transparent)]
    Service(ServiceError),
}

impl WebhookError {
    /// Status and message, every service and store error mapped by name.
    fn parts(&self) -> (StatusCode, String) {
        let own = |s: StatusCode| (s, self.to_string());
        match self {
            Self::Disabled => own(StatusCode::NOT_FOUND),
            Self::MethodNotAllowed => own(StatusCode::METHOD_NOT_ALLOWED),
            Self::BadAuthorization | Self::Signature(_) => own(StatusCode::UNAUTHORIZED),
            Self::Challenge | Self::Json(_) | Self::Malformed(_) => own(StatusCode::BAD_REQUEST),
            Self::Body(b) => own(match b {
                super::body::BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                super::body::BodyError::Read => StatusCode::BAD_REQUEST,
                super::body::BodyError::Timeout => StatusCode::REQUEST_TIMEOUT,
                super::body::BodyError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            }),
            Self::Service(e) => service_parts(e),
        }
    }
}

fn service_parts(e: &ServiceError) -> (StatusCode, String) {
    match e {
        ServiceError::Scim(s) => (
            StatusCode::from_u16(s.status).unwrap_or(StatusCode::BAD_REQUEST),
            s.detail.clone(),
        ),
        ServiceError::NotFound(kind, _) => {
            tracing::error!(kind = *kind, "a resource vanished while a webhook applied");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "a resource vanished while the events were applied; nothing was stored".into(),
            )
        }
        ServiceError::PreconditionFailed => (
            StatusCode::CONFLICT,
            "a resource changed while the events were applied; nothing was stored".into(),
        ),
        ServiceError::Store(s) => {
            let answer = crate::service::store_error_answer(s);
            (
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                format!("{}; nothing was stored", answer.detail),
            )
        }
    }
}

impl ResponseError for WebhookError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, message) = self.parts();
        let mut body = json!({"error": message, "status": status.as_u16()});
        if let (Self::Malformed(p), Some(o)) = (self, body.as_object_mut()) {
            o.insert("field".into(), Value::String(p.field.clone()));
        }
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), "webhook delivery failed");
        } else {
            tracing::info!(status = status.as_u16(), reason = %message, "webhook delivery refused");
        }
        let mut b = HttpResponse::build(status);
        if status == StatusCode::REQUEST_TIMEOUT {
            b.force_close();
        }
        b.content_type("application/json").body(body.to_string())
    }
}

type Result<T> = std::result::Result<T, WebhookError>;

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn actor(req: &HttpRequest, principal: &str) -> Actor {
    Actor {
        principal: principal.to_owned(),
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
    }
}

async fn read_body(req: &HttpRequest, payload: web::Payload, limit: usize) -> Result<Vec<u8>> {
    super::body::read_bytes(req, payload, limit)
        .await
        .map(|b| b.to_vec())
        .map_err(WebhookError::Body)
}

fn json_of(bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| WebhookError::Json(e.to_string()))
}

async fn okta_verify(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse> {
    let expected = state
        .webhooks
        .okta_authorization
        .as_ref()
        .ok_or(WebhookError::Disabled)?;
    let given = header_str(req.headers(), header::AUTHORIZATION.as_str());
    if given.is_some() && !webhook::secret_matches(given, expected.expose_secret()) {
        return Err(WebhookError::BadAuthorization);
    }
    let challenge = header_str(req.headers(), CHALLENGE_HEADER)
        .filter(|c| !c.is_empty() && c.len() <= MAX_CHALLENGE_LEN)
        .ok_or(WebhookError::Challenge)?;
    tracing::info!("Okta event hook verification answered");
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json!({"verification": challenge}).to_string()))
}

async fn okta_events(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let settings = &state.webhooks;
    let expected = settings
        .okta_authorization
        .as_ref()
        .ok_or(WebhookError::Disabled)?;
    let given = header_str(req.headers(), header::AUTHORIZATION.as_str());
    if !webhook::secret_matches(given, expected.expose_secret()) {
        return Err(WebhookError::BadAuthorization);
    }
    let bytes = read_body(&req, payload, state.limits.max_body_bytes).await?;
    let body = json_of(&bytes)?;
    let parsed =
        okta::parse(&body, settings.okta_app_id.as_deref()).map_err(WebhookError::Malformed)?;
    for i in &parsed.ignored {
        tracing::debug!(event_id = %i.id, event_type = %i.kind, reason = i.reason, "Okta event ignored");
    }
    let outcome = state
        .service
        .acting_as(actor(&req, "webhook:okta"))
        .apply_webhook(
            Source::Okta,
            parsed.events,
            settings.okta_dedupe_retention_secs,
        )
        .await
        .map_err(WebhookError::Service)?;
    tracing::info!(
        received = outcome.received,
        applied = outcome.applied,
        duplicates = outcome.duplicates,
        stale = outcome.stale,
        skipped = outcome.skipped,
        ignored = parsed.ignored.len(),
        "Okta event hook delivery stored"
    );
    Ok(HttpResponse::Ok().finish())
}

async fn generic_events(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let settings = state
        .webhooks
        .generic
        .as_ref()
        .ok_or(WebhookError::Disabled)?;
    // The header is checked before the body is read: a request without a
    // well-formed, current signature never holds a connection for its body.
    generic::precheck(
        header_str(req.headers(), SIGNATURE_HEADER),
        state.service.now_utc().timestamp(),
        settings.replay_window_secs,
    )
    .map_err(WebhookError::Signature)?;
    let _slot = state.body_gate.enter().map_err(WebhookError::Body)?;
    let bytes = read_body(&req, payload, state.limits.max_body_bytes).await?;
    generic::verify(
        header_str(req.headers(), SIGNATURE_HEADER),
        &bytes,
        settings.secret.expose_secret().as_bytes(),
        state.service.now_utc().timestamp(),
        settings.replay_window_secs,
    )
    .map_err(WebhookError::Signature)?;
    let body = json_of(&bytes)?;
    let events = generic::parse(&body).map_err(WebhookError::Malformed)?;
    let outcome = state
        .service
        .acting_as(actor(&req, "webhook:generic"))
        .apply_webhook(Source::Generic, events, settings.dedupe_retention_secs)
        .await
        .map_err(WebhookError::Service)?;
    tracing::info!(
        received = outcome.received,
        applied = outcome.applied,
        duplicates = outcome.duplicates,
        stale = outcome.stale,
        skipped = outcome.skipped,
        "generic webhook delivery stored"
    );
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json!(outcome).to_string()))
}

async fn method_not_allowed() -> Result<HttpResponse> {
    Err(WebhookError::MethodNotAllowed)
}
