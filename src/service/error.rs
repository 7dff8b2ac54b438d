//! The service layer's errors and their one mapping to SCIM errors: every
//! `ServiceError` and every `StoreError` is matched exhaustively (no
//! wildcard), so a new failure cannot reach a client unanswered. It must
//! never put a secret or a stored value into an answer.

use crate::scim::error::ScimError;
use crate::store::StoreError;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error("{0} {1} not found")]
    NotFound(&'static str, String),
    #[error("version mismatch")]
    PreconditionFailed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ServiceError> for ScimError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Scim(s) => s,
            ServiceError::NotFound(kind, id) => {
                ScimError::not_found(format!("{kind} {id} not found"))
            }
            ServiceError::PreconditionFailed => ScimError::precondition_failed(
                "the resource has changed: its version does not match If-Match",
            ),
            ServiceError::Store(s) => store_error_answer(&s),
        }
    }
}

/// The one answer to every store error, for SCIM and webhook requests alike
/// (logged here when it is the server's fault).
pub fn store_error_answer(e: &StoreError) -> ScimError {
    match e {
        StoreError::Conflict(what) => {
            ScimError::uniqueness(format!("a resource with the same {what} already exists"))
        }
        StoreError::VersionMismatch => ScimError::precondition_failed(
            "the resource was modified concurrently; read it again and retry",
        ),
        StoreError::Corrupt(m) => {
            tracing::error!(error = %m, "stored data is corrupt");
            ScimError::internal("stored data could not be read")
        }
        StoreError::Database(e) => {
            tracing::error!(error = %e, "database error");
            ScimError::new(503, None, "the database is unavailable; retry later")
        }
        StoreError::Unavailable(e) => {
            tracing::error!(error = %e, "the write was not stored");
            ScimError::new(503, None, "the database is unavailable; retry later")
        }
        StoreError::Migrate(e) => {
            tracing::error!(error = %e, "migration error");
            ScimError::internal("the database schema is not usable")
        }
        StoreError::LeaderLock(e) => {
            tracing::error!(error = %e, "leader lock error");
            ScimError::internal("the sender lock is not usable")
        }
    }
}
