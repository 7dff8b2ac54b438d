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
//! | `safety_held_changes` | gauge (refreshed per scrape): removals held for an operator | |
//! | `safety_breaker_open` | gauge (refreshed per scrape): 1 while anything is held | |
//! | `safety_refused_changes` | gauge (refreshed per scrape): removals refused (protected, last admin) | |
//! | `safety_breaker_trips_total` | counter | |
//! | `safety_refused_total` | counter | |
//! | `snyk_token_expiry_seconds` | gauge (refreshed per scrape; absent until known) | |
//! | `snyk_call_kind_blocked` | gauge, 1 while Snyk's 410 / Sunset / Deprecation stops a call kind | endpoint (`METHOD template`) |
//! | `snyk_pacing_requests_per_minute` | gauge (refreshed per scrape): the rate the sender lets out now, learnt from 429s | |
//! | `snyk_pacing_learnt` | gauge (refreshed per scrape): 1 while a 429 holds the rate below `snyk.requests_per_minute` | |
//!
//! Every family is on `/metrics` from the start, before its first event
//! ([`register_families`]), so alerts can be written against a fresh
//! deployment: label-less ones at 0, labelled ones with a zero series for each
//! value of a bounded label (`outbox_targets{state}` per state,
//! `audit_purged_rows_total{table}` per table, the Snyk families per endpoint
//! template of `snyk::wire::ENDPOINTS` with `status="200"`, the SCIM families
//! for the Users and Groups routes with each method's success status).
//! A new family is added to [`FAMILIES`] and to [`register_families`]; the
//! process-level test `metrics_families_are_present_before_any_event` scrapes a
//! fresh `serve`. `snyk_token_expiry_seconds` is the exception: it appears with
//! the first expiry check (a 0 would read as "expired now").
//! `snyk_call_kind_blocked` starts with the write call kinds at 0.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::store::{HoldState, Store, StoreError};

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
pub const SAFETY_HELD: &str = "safety_held_changes";
pub const SAFETY_BREAKER_OPEN: &str = "safety_breaker_open";
pub const SAFETY_REFUSED_NOW: &str = "safety_refused_changes";
pub const SAFETY_TRIPS: &str = "safety_breaker_trips_total";
pub const SAFETY_REFUSED: &str = "safety_refused_total";
pub const TOKEN_EXPIRY: &str = "snyk_token_expiry_seconds";
pub const CALL_KIND_BLOCKED: &str = "snyk_call_kind_blocked";
pub const PACING_RATE: &str = "snyk_pacing_requests_per_minute";
pub const PACING_LEARNT: &str = "snyk_pacing_learnt";

/// The outbox states, always reported (0 when empty).
pub const OUTBOX_STATES: [&str; 5] = ["idle", "pending", "failed", "dead", "held"];

/// The tables the audit purge reports.
pub const PURGED_TABLES: [&str; 3] = ["audit_events", "audit_queued", "snyk_calls"];

/// Every metric family the bridge exports, each present from the start.
pub const FAMILIES: [&str; 20] = [
    SCIM_REQUESTS,
    SCIM_DURATION,
    OUTBOX_TARGETS,
    OUTBOX_OLDEST_AGE,
    SNYK_CALLS,
    SNYK_DURATION,
    SNYK_RATE_LIMITED,
    DRIFT_TOTAL,
    DRIFT_CURRENT,
    LAST_RECONCILE,
    AUDIT_PURGED,
    BUILD_INFO,
    SAFETY_HELD,
    SAFETY_BREAKER_OPEN,
    SAFETY_REFUSED_NOW,
    SAFETY_TRIPS,
    SAFETY_REFUSED,
    CALL_KIND_BLOCKED,
    PACING_RATE,
    PACING_LEARNT,
];

/// The SCIM (route, method, success status) series reported at zero from
/// the start: the resource routes an IdP uses.
const SCIM_ZERO_SERIES: [(&str, &str, &str); 12] = [
    ("/scim/v2/Users", "GET", "200"),
    ("/scim/v2/Users", "POST", "201"),
    ("/scim/v2/Users/{id}", "GET", "200"),
    ("/scim/v2/Users/{id}", "PUT", "200"),
    ("/scim/v2/Users/{id}", "PATCH", "200"),
    ("/scim/v2/Users/{id}", "DELETE", "204"),
    ("/scim/v2/Groups", "GET", "200"),
    ("/scim/v2/Groups", "POST", "201"),
    ("/scim/v2/Groups/{id}", "GET", "200"),
    ("/scim/v2/Groups/{id}", "PUT", "200"),
    ("/scim/v2/Groups/{id}", "PATCH", "200"),
    ("/scim/v2/Groups/{id}", "DELETE", "204"),
];

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
            register_families();
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
        SAFETY_HELD,
        "Removals and downgrades held by the safety rails for an operator"
    );
    describe_gauge!(
        SAFETY_BREAKER_OPEN,
        "1 while the deletion circuit breaker holds removals, else 0"
    );
    describe_gauge!(
        SAFETY_REFUSED_NOW,
        "Removals refused by the safety rails (protected accounts, an org's last admin)"
    );
    describe_counter!(SAFETY_TRIPS, "Times the deletion circuit breaker tripped");
    describe_counter!(
        SAFETY_REFUSED,
        "Removals and downgrades refused by the safety rails"
    );
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

/// Put every family on `/metrics` before its first event: label-less
/// counters and gauges at 0, and a zero series for each value of a bounded
/// label (see the module documentation). Registering adds 0 to a counter and
/// records nothing in a histogram, so a family already in use is unchanged.
fn register_families() {
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    for (route, method, status) in SCIM_ZERO_SERIES {
        metrics::counter!(SCIM_REQUESTS, "route" => route, "method" => method, "status" => status)
            .increment(0);
        // A histogram is rendered (buckets at 0) once registered.
        let _ = metrics::histogram!(SCIM_DURATION, "route" => route, "method" => method);
    }
    for state in OUTBOX_STATES {
        metrics::gauge!(OUTBOX_TARGETS, "state" => state).set(0.0);
    }
    metrics::gauge!(OUTBOX_OLDEST_AGE).set(0.0);
    for endpoint in crate::snyk::wire::ENDPOINTS {
        metrics::counter!(SNYK_CALLS, "endpoint" => endpoint, "status" => "200").increment(0);
        let _ = metrics::histogram!(SNYK_DURATION, "endpoint" => endpoint);
    }
    metrics::counter!(SNYK_RATE_LIMITED).increment(0);
    metrics::counter!(DRIFT_TOTAL).increment(0);
    metrics::gauge!(DRIFT_CURRENT).set(0.0);
    // 0 until the first reconciliation.
    metrics::gauge!(LAST_RECONCILE).set(0.0);
    for table in PURGED_TABLES {
        metrics::counter!(AUDIT_PURGED, "table" => table).increment(0);
    }
    metrics::gauge!(SAFETY_HELD).set(0.0);
    metrics::gauge!(SAFETY_BREAKER_OPEN).set(0.0);
    metrics::gauge!(SAFETY_REFUSED_NOW).set(0.0);
    metrics::counter!(SAFETY_TRIPS).increment(0);
    metrics::counter!(SAFETY_REFUSED).increment(0);
    // The call kinds the bridge sends, none blocked. (`snyk_token_expiry_seconds`
    // is the one family left out until the first check: a 0 would read as
    // "expired now".)
    for kind in BLOCKABLE_KINDS {
        metrics::gauge!(CALL_KIND_BLOCKED, "endpoint" => kind).set(0.0);
    }
    // Both are set from the store before every scrape's text ([`render`]),
    // so the rate's registration value is never what a scrape shows.
    metrics::gauge!(PACING_RATE).set(0.0);
    metrics::gauge!(PACING_LEARNT).set(0.0);
}

/// The write call kinds reported as not blocked from the start.
const BLOCKABLE_KINDS: [&str; 6] = [
    "POST /org/{orgId}/provision",
    "DELETE /org/{orgId}/provision",
    "PUT /org/{orgId}/members/{userId}",
    "PUT /org/{orgId}/members/update/{userId}",
    "DELETE /org/{orgId}/members/{userId}",
    "POST /group/{groupId}/org/{orgId}/members",
];

/// The exposition text; refreshes the outbox, API health and pacing gauges
/// from the store first (`pacing`: the configured rate and window).
pub async fn render(store: &Store, now_ms: i64, pacing: (u32, u64)) -> Result<String, StoreError> {
    refresh_outbox(store, now_ms).await?;
    let pace = crate::pacing::shown(store, pacing.0, pacing.1).await?;
    metrics::gauge!(PACING_RATE).set(f64::from(pace.requests_per_minute));
    metrics::gauge!(PACING_LEARNT).set(if pace.learnt() { 1.0 } else { 0.0 });
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
    let holds = tx.hold_counts().await?;
    tx.commit().await?;
    let of = |states: &[HoldState]| -> i64 {
        holds
            .iter()
            .filter(|(s, _)| states.contains(s))
            .map(|(_, n)| n)
            .sum()
    };
    let held = of(&[HoldState::Held, HoldState::Marked]);
    let refused = of(&[HoldState::Refused]);
    metrics::gauge!(SAFETY_HELD).set(held as f64);
    metrics::gauge!(SAFETY_BREAKER_OPEN).set(if held > 0 { 1.0 } else { 0.0 });
    metrics::gauge!(SAFETY_REFUSED_NOW).set(refused as f64);
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
        for family in FAMILIES {
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{family} missing:\n{text}"
            );
        }
        assert!(
            text.contains("snyk_calls_total{endpoint=\"/org/{orgId}/provision\",status=\"429\"}"),
            "{text}"
        );
    }
}
