//! Rendering a [`ScimError`] as an HTTP response: the RFC 7644 error body with
//! `application/scim+json`, and `WWW-Authenticate` on 401.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::scim::error::ScimError;

pub const SCIM_JSON: &str = "application/scim+json";

pub fn scim_error_response(e: &ScimError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    builder.content_type(SCIM_JSON);
    if e.status == 401 {
        builder.insert_header(("WWW-Authenticate", "Bearer realm=\"snyk-scim-bridge\""));
    }
    if e.status == 408 {
        // A client too slow to send its body does not keep the connection.
        builder.force_close();
    }
    builder.body(e.to_json().to_string())
}

/// Lets handlers return `Result<_, ScimError>` directly.
#[derive(Debug)]
pub struct HttpScimError(pub ScimError);

impl std::fmt::Display for HttpScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for HttpScimError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        scim_error_response(&self.0)
    }
}

impl<E: Into<ScimError>> From<E> for HttpScimError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}
