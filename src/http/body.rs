//! Reading a JSON request body with a size limit: 413 above it, 400
//! `invalidSyntax` for malformed JSON, both as SCIM errors.

use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde_json::Value;

use crate::scim::error::ScimError;

pub async fn read_json(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Value, ScimError> {
    let too_large = || {
        ScimError::new(
            413,
            None,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ScimError::invalid_syntax(format!("the request body could not be read: {e}"))
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}
