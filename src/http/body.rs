//! Reading request bodies: a size limit (413), a deadline for the whole body
//! (408, and the connection is closed), and, for the routes that read a body
//! before they can authenticate (the signed webhook, the status sign-in), a
//! cap on how many such bodies are read at once (503 beyond it), so slow
//! clients cannot hold the server's connections. JSON errors are 400
//! `invalidSyntax` as SCIM errors.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::scim::error::ScimError;

/// How long a client may take to send a request body (the headers have their
/// own deadline, `HttpServer::client_request_timeout`).
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);
/// Bodies read before authentication, at once, at most.
pub const UNAUTHENTICATED_BODIES: usize = 64;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("the request body could not be read")]
    Read,
    #[error("the request body did not arrive within {} seconds", BODY_DEADLINE.as_secs())]
    Timeout,
    #[error("too many requests are sending a body at once; retry")]
    Busy,
}

/// The permits of [`UNAUTHENTICATED_BODIES`].
#[derive(Debug, Clone)]
pub struct BodyGate(Arc<Semaphore>);

impl Default for BodyGate {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(UNAUTHENTICATED_BODIES)))
    }
}

impl BodyGate {
    /// A slot to read one unauthenticated body, or `Busy` at once.
    pub fn enter(&self) -> Result<OwnedSemaphorePermit, BodyError> {
        self.0
            .clone()
            .try_acquire_owned()
            .map_err(|_| BodyError::Busy)
    }
}

/// The whole body, within `limit` bytes and [`BODY_DEADLINE`].
pub async fn read_bytes(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, BodyError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge(limit));
    }
    let read = async {
        let mut bytes = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| BodyError::Read)?;
            if bytes.len() + chunk.len() > limit {
                return Err(BodyError::TooLarge(limit));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes.freeze())
    };
    tokio::time::timeout(BODY_DEADLINE, read)
        .await
        .map_err(|_| BodyError::Timeout)?
}

impl From<BodyError> for ScimError {
    fn from(e: BodyError) -> Self {
        let status = match e {
            BodyError::TooLarge(_) => 413,
            BodyError::Read => 400,
            BodyError::Timeout => 408,
            BodyError::Busy => 503,
        };
        ScimError::new(status, None, e.to_string())
    }
}

pub async fn read_json(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Value, ScimError> {
    let bytes = match read_bytes(req, payload, limit).await {
        Ok(b) => b,
        Err(BodyError::Read) => {
            return Err(ScimError::invalid_syntax(
                "the request body could not be read",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if bytes.is_empty() {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}
