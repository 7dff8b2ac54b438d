//! Prometheus metrics through the `metrics` facade.
//!
//! The recorder is installed once per process ([`install`] is idempotent: the
//! tests build several applications in one process) and `/metrics` renders it.
//! Labels are bounded: a SCIM route is the matched pattern
//! (`/scim/v2/Users/{id}`), a Snyk endpoint is a path template
//! (`/org/{orgId}/provision`), never a raw path with ids, emails or a query.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `scim_requests_total` | counter | route, method, status |
//! | `scim_request_duration_seconds` | histogram | route, method |
//! | `outbox_targets` | gauge (refreshed per scrape) | state |
//! | `outbox_oldest_pending_age_seconds` | gauge (refreshed per scrape) | |
//! | `snyk_calls_total` | counter | endpoint, status |
//! | `snyk_call_duration_seconds` | histogram | endpoint |
//! | `snyk_rate_limited_total` | counter | |
//! | `sync_drift_total` | counter (roles found changed by hand) | |
//! | `sync_drift_current` | gauge (at the last reconciliation) | |
//! | `sync_last_reconcile_timestamp_seconds` | gauge | |
//! | `audit_purged_rows_total` | counter | table |
//! | `bridge_build_info` | gauge, always 1 | version |
//! | `snyk_token_expiry_seconds` | gauge (refreshed per scrape; absent until known) | |
//! | `snyk_call_kind_blocked` | gauge, 1 while Snyk's 410 / Sunset / Deprecation stops a call kind | endpoint (`METHOD template`) |

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::store::{Store, StoreError};

pub const SCIM_REQUESTS: &str = "scim_requests_total";
pub const SCIM_DURATION: &str = "scim_request_duration_seconds";
pub const OUTBOX_TARGETS: &str = "outbox_targets";
pub const OUTBOX_OLDEST_AGE: &str = "outbox_oldest_pending_age_seconds";
pub const SNYK_CALLS: &str = "snyk_calls_total";
pub const SNYK_DURATION: &str = "snyk_call_duration_seconds";
pub const SNYK_RATE_LIMITED: &str = "snyk_rate_limited_total";
pub const DRIFT_TOTAL: &str = "sync_drift_total";
pub const DRIFT_CURRENT: &str = "sync_drift_current";
pub const LAST_RECONCILE: &str = "sync_last_reconcile_timestamp_seconds";
pub const AUDIT_PURGED: &str = "audit_purged_rows_total";
pub const BUILD_INFO: &str = "bridge_build_info";
pub const TOKEN_EXPIRY: &str = "snyk_token_expiry_seconds";
pub const CALL_KIND_BLOCKED: &str = "snyk_call_kind_blocked";

/// The outbox states, always reported (0 when empty).
pub const OUTBOX_STATES: [&str; 4] = ["idle", "pending", "failed", "dead"];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The call kinds `/metrics` has reported blocked (to report 0 once cleared).
static REPORTED_BLOCKED: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Install the Prometheus recorder (once per process) and return its handle;
/// `None` when another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), &buckets)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(SCIM_REQUESTS, "SCIM requests by route, method and status");
    describe_histogram!(
        SCIM_DURATION,
        Unit::Seconds,
        "SCIM request latency by route and method"
    );
    describe_gauge!(OUTBOX_TARGETS, "Outbox targets by state");
    describe_gauge!(
        OUTBOX_OLDEST_AGE,
        Unit::Seconds,
        "Age of the oldest pending outbox target (0 when none)"
    );
    describe_counter!(
        SNYK_CALLS,
        "Snyk API calls by endpoint and HTTP status (\"error\": no answer)"
    );
    describe_histogram!(SNYK_DURATION, Unit::Seconds, "Snyk API call latency");
    describe_counter!(SNYK_RATE_LIMITED, "Snyk answers 429");
    describe_counter!(
        DRIFT_TOTAL,
        "Roles found changed in Snyk by hand, summed over reconciliations"
    );
    describe_gauge!(DRIFT_CURRENT, "Drifted roles at the last reconciliation");
    describe_gauge!(
        LAST_RECONCILE,
        Unit::Seconds,
        "Unix time of the last reconciliation with Snyk"
    );
    describe_counter!(AUDIT_PURGED, "Rows removed by the audit retention purge");
    describe_gauge!(BUILD_INFO, "Always 1; the version is a label");
    describe_gauge!(
        TOKEN_EXPIRY,
        Unit::Seconds,
        "Seconds until the Snyk token expires (negative: expired), from the last daily check"
    );
    describe_gauge!(
        CALL_KIND_BLOCKED,
        "1 while a Snyk call kind is not sent because Snyk answered 410 Gone or a Sunset / Deprecation header"
    );
}

/// The exposition text; refreshes the outbox and API health gauges from
/// the store first.
pub async fn render(store: &Store, now_ms: i64) -> Result<String, StoreError> {
    refresh_outbox(store, now_ms).await?;
    let (token, blocked) = crate::api_health::load(store).await?;
    if let Some(exp) = token.and_then(|t| t.expires_at) {
        metrics::gauge!(TOKEN_EXPIRY).set((exp - now_ms) as f64 / 1000.0);
    }
    // Kinds shown before and no longer stored (a restarted leader cleared
    // them) go back to 0.
    let shown: Vec<String> = blocked.iter().map(|b| b.kind.clone()).collect();
    let mut reported = REPORTED_BLOCKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for kind in reported.iter().filter(|k| !shown.contains(k)) {
        record_blocked_kind(kind, false);
    }
    for kind in &shown {
        record_blocked_kind(kind, true);
    }
    reported.extend(shown);
    drop(reported);
    Ok(install().map(PrometheusHandle::render).unwrap_or_default())
}

/// Set the outbox gauges from the store.
pub async fn refresh_outbox(store: &Store, now_ms: i64) -> Result<(), StoreError> {
    let mut tx = store.read().await?;
    let counts = tx.target_counts().await?;
    let oldest = tx.oldest_pending().await?;
    tx.commit().await?;
    for state in OUTBOX_STATES {
        let n = counts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!(OUTBOX_TARGETS, "state" => state).set(n as f64);
    }
    let age = oldest.map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0);
    metrics::gauge!(OUTBOX_OLDEST_AGE).set(age);
    Ok(())
}

/// The method label: the standard methods, else `OTHER`.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

/// Count one HTTP request (route: the matched pattern, or `unmatched`).
pub fn record_http(route: &str, method: &str, status: u16, elapsed: Duration) {
    let method = method_label(method);
    metrics::counter!(SCIM_REQUESTS, "route" => route.to_owned(), "method" => method, "status" => status.to_string())
        .increment(1);
    metrics::histogram!(SCIM_DURATION, "route" => route.to_owned(), "method" => method)
        .record(elapsed.as_secs_f64());
}

/// Count one Snyk call (status `None`: no answer); `endpoint` is a path
/// template (`snyk::wire::endpoint_template`), so labels stay bounded.
pub fn record_snyk_call(endpoint: &str, status: Option<u16>, elapsed: Duration) {
    let endpoint = endpoint.to_owned();
    let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
    if status == "429" {
        metrics::counter!(SNYK_RATE_LIMITED).increment(1);
    }
    metrics::counter!(SNYK_CALLS, "endpoint" => endpoint.clone(), "status" => status).increment(1);
    metrics::histogram!(SNYK_DURATION, "endpoint" => endpoint).record(elapsed.as_secs_f64());
}

/// Reconciliation found `drift` roles changed by hand.
pub fn record_reconcile(drift: usize, now_ms: i64) {
    metrics::counter!(DRIFT_TOTAL).increment(drift as u64);
    metrics::gauge!(DRIFT_CURRENT).set(drift as f64);
    metrics::gauge!(LAST_RECONCILE).set(now_ms as f64 / 1000.0);
}

/// A call kind (`METHOD template`, bounded) is blocked, or not.
pub fn record_blocked_kind(kind: &str, blocked: bool) {
    metrics::gauge!(CALL_KIND_BLOCKED, "endpoint" => kind.to_owned()).set(if blocked {
        1.0
    } else {
        0.0
    });
}

pub fn record_purge(table: &'static str, rows: u64) {
    metrics::counter!(AUDIT_PURGED, "table" => table).increment(rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_is_idempotent_and_renders_build_info() {
        let a = install().expect("installed") as *const PrometheusHandle;
        let b = install().expect("installed") as *const PrometheusHandle;
        assert_eq!(a, b);
        record_snyk_call(
            "/org/{orgId}/provision",
            Some(429),
            Duration::from_millis(3),
        );
        let text = install().expect("installed").render();
        assert!(
            text.contains(&format!(
                "bridge_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
        assert!(text.contains("snyk_rate_limited_total"), "{text}");
        assert!(
            text.contains("snyk_calls_total{endpoint=\"/org/{orgId}/provision\",status=\"429\"}"),
            "{text}"
        );
    }
}
