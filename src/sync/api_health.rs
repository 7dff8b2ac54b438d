//! The leader's watch on its Snyk token and on Snyk's API lifecycle: reads
//! the token's expiry (REST `GET /self/personal_access_tokens`, at start and
//! every `token_check_interval`), and stores it and the call kinds the client
//! has blocked (`snyk::alerts`) in `sync_meta`, where `status`, `/status`,
//! `/readyz` and `/metrics` read them (`crate::api_health`).
//!
//! It never logs or stores the token, nor the ids of the listed tokens; a
//! call Snyk does not allow is said once (WARN), not every day.

use crate::api_health::{self, META_BLOCKED, META_TOKEN, TokenHealth};
use crate::domain::SnykOp;
use crate::snyk::{BlockedKind, SnykError, wire};
use crate::store::{Finish, StoreError};

use super::engine::Engine;

impl Engine {
    /// Read the token's expiry and store what was learnt.
    pub async fn check_token(&self) -> Result<(), StoreError> {
        if self.settings.dry_run {
            return Ok(());
        }
        let now = self.now();
        let before = api_health::load(&self.store).await?.0;
        let th = if !self.client.has_rest() {
            let status = 404;
            if before.as_ref().and_then(|b| b.not_allowed) != Some(status) {
                tracing::warn!(
                    "the token's expiry cannot be read: snyk.api_url does not end in /v1, so the REST API beside it is unknown; the bridge cannot warn before the token expires"
                );
            }
            TokenHealth {
                checked_at: now,
                note: "snyk.api_url does not end in /v1: no REST base".into(),
                not_allowed: Some(status),
                ..TokenHealth::default()
            }
        } else {
            let (result, _trace) = self.paced(self.client.personal_access_tokens()).await;
            match result {
                Ok(tokens) => {
                    let (expires_at, note) = api_health::choose_expiry(&tokens);
                    match expires_at {
                        Some(exp) if exp - now < api_health::WARN_BEFORE_MS => {
                            tracing::warn!(
                                days_left = (exp - now) / api_health::DAY_MS,
                                listed = tokens.len(),
                                "the Snyk token expires soon: renew snyk.token / SNYK_TOKEN ({note})"
                            );
                        }
                        Some(exp) => tracing::info!(
                            days_left = (exp - now) / api_health::DAY_MS,
                            listed = tokens.len(),
                            "read the Snyk token's expiry ({note})"
                        ),
                        None => tracing::info!(listed = tokens.len(), "{note}"),
                    }
                    TokenHealth {
                        checked_at: now,
                        expires_at,
                        note,
                        not_allowed: None,
                        error: None,
                    }
                }
                Err(SnykError::NotSent) => return Ok(()),
                Err(
                    SnykError::Unauthorized { status }
                    | SnykError::Permanent {
                        status: status @ (403 | 404),
                        ..
                    },
                ) => {
                    if before.as_ref().and_then(|b| b.not_allowed) != Some(status) {
                        tracing::warn!(
                            status,
                            call = %crate::snyk::wire::personal_access_tokens().kind(),
                            "Snyk does not allow this token to read its own expiry; the bridge cannot warn before it expires (said once)"
                        );
                    }
                    TokenHealth {
                        checked_at: now,
                        note: format!("Snyk answered {status}"),
                        not_allowed: Some(status),
                        ..TokenHealth::default()
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e.summary(), "could not read the Snyk token's expiry; the last known expiry is kept");
                    let mut th = before.clone().unwrap_or_default();
                    if th.not_allowed.is_some() {
                        th = TokenHealth::default();
                    }
                    th.checked_at = now;
                    th.error = Some(e.summary());
                    th
                }
            }
        };
        if let Some(exp) = th.expires_at {
            metrics::gauge!(crate::metrics::TOKEN_EXPIRY).set((exp - now) as f64 / 1000.0);
        }
        let json = serde_json::to_string(&th).unwrap_or_default();
        let mut tx = self.store.write().await?;
        tx.set_meta(META_TOKEN, &json).await?;
        tx.commit().await
    }

    /// The first planned call of a blocked kind, if any: the target then
    /// waits whole (a role change is delete + provision: deleting while the
    /// provision cannot follow would take access away).
    pub(super) fn blocked_in(&self, ops: &[SnykOp]) -> Option<BlockedKind> {
        let alerts = self.client.alerts();
        ops.iter()
            .find_map(|op| alerts.blocked(&wire::request(op).kind()))
    }

    /// How a target whose work is blocked finishes: deferred, kept pending.
    pub(super) fn blocked_finish(&self) -> Finish {
        Finish::Defer {
            at: self
                .now()
                .saturating_add(super::engine::millis(self.settings.blocked_recheck)),
        }
    }

    pub(super) async fn check_token_logged(&self) {
        if let Err(e) = self.check_token().await {
            tracing::warn!(error = %e, "could not store the Snyk token's expiry");
        }
    }

    /// Store the blocked call kinds when they changed since `seen` (`None`:
    /// store them now; a new leader thereby clears the last one's, and its
    /// own first call of each kind is the probe).
    pub async fn persist_alerts(&self, seen: &mut Option<u64>) {
        let alerts = self.client.alerts();
        let generation = alerts.generation();
        if *seen == Some(generation) {
            return;
        }
        let json = serde_json::to_string(&alerts.snapshot()).unwrap_or_else(|_| "[]".into());
        let write = async {
            let mut tx = self.store.write().await?;
            tx.set_meta(META_BLOCKED, &json).await?;
            tx.commit().await
        };
        match write.await {
            Ok(()) => *seen = Some(generation),
            Err(e) => tracing::warn!(error = %e, "could not store the blocked Snyk call kinds"),
        }
    }
}
