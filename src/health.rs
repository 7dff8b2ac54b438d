//! Per-component health for the `/status` page: database, worker, Snyk
//! reachability and token validity, reconciliation, outbox.
//!
//! Snyk's health is derived from the calls already recorded in `snyk_calls`
//! (a 401 means the token is rejected), so viewing the page never calls Snyk.
//! [`snapshot`] reads the store; the judgements ([`snyk_components`],
//! [`worker_component`], ...) are pure and table-tested.

use std::time::{Duration, Instant};

use crate::store::{Backend, CallRecord, Store, StoreError, TargetRow};
use crate::sync::engine::{META_LAST_RECONCILE_AT, META_LAST_RECONCILE_RESULT, WorkerStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Info,
    Warn,
    Bad,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Info => "info",
            Self::Warn => "warning",
            Self::Bad => "failing",
        }
    }
}

/// One row of the health table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub name: &'static str,
    pub level: Level,
    pub detail: String,
}

fn component(name: &'static str, level: Level, detail: impl Into<String>) -> Component {
    Component {
        name,
        level,
        detail: detail.into(),
    }
}

/// Applied access in one org, by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgCounts {
    pub org_id: String,
    pub pending: i64,
    pub member: i64,
    pub external: i64,
    /// Logged in but not findable (admins without `snyk.group_id`).
    pub unlocated: i64,
}

/// Everything the status page shows.
#[derive(Debug, Clone)]
pub struct StatusSnapshot {
    pub now_ms: i64,
    pub version: &'static str,
    pub components: Vec<Component>,
    /// Targets by state (every state, 0 when empty).
    pub outbox: Vec<(String, i64)>,
    pub oldest_pending_ms: Option<i64>,
    pub failures: Vec<TargetRow>,
    /// Recent calls that did not succeed, newest first.
    pub failed_calls: Vec<CallRecord>,
    pub per_org: Vec<OrgCounts>,
    pub drift: Vec<(String, String, String, String)>,
    /// Users the bridge cannot manage after their login (see `sync::engine::UNLOCATED_REASON`).
    pub unlocated: Vec<crate::store::AccessRow>,
    /// What the safety rails hold, wait on, or refused (`sync::rails`).
    pub holds: Vec<crate::store::HoldRow>,
    /// The users above by userName and email, and the known org names.
    pub names: crate::sync::names::Names,
}

/// What the snapshot needs besides the store.
#[derive(Debug, Clone)]
pub struct HealthInputs<'a> {
    pub worker: Option<&'a WorkerStatus>,
    pub dry_run: bool,
    pub reconcile_interval: Duration,
    pub now_ms: i64,
    /// `snyk.requests_per_minute` and `snyk.rate_window_secs`.
    pub pacing: (u32, u64),
}

/// Read the store and judge each component.
pub async fn snapshot(store: &Store, inputs: &HealthInputs<'_>) -> StatusSnapshot {
    let started = Instant::now();
    let ping = store.ping().await;
    let db = if ping {
        component(
            "Database",
            Level::Ok,
            format!(
                "{} answers ({} ms)",
                match store.backend() {
                    Backend::Sqlite => "SQLite",
                    Backend::Postgres => "PostgreSQL",
                },
                started.elapsed().as_millis()
            ),
        )
    } else {
        component("Database", Level::Bad, "the database does not answer")
    };
    let mut snap = StatusSnapshot {
        now_ms: inputs.now_ms,
        version: env!("CARGO_PKG_VERSION"),
        components: vec![db],
        outbox: crate::metrics::OUTBOX_STATES
            .iter()
            .map(|s| ((*s).to_owned(), 0))
            .collect(),
        oldest_pending_ms: None,
        failures: Vec::new(),
        failed_calls: Vec::new(),
        per_org: Vec::new(),
        drift: Vec::new(),
        unlocated: Vec::new(),
        holds: Vec::new(),
        names: crate::sync::names::Names::default(),
    };
    snap.components
        .push(worker_component(inputs.worker, inputs.now_ms));
    match read(store, &mut snap).await {
        Ok((calls, last_at, last_result)) => {
            snap.components
                .extend(snyk_components(&calls, inputs.dry_run, inputs.now_ms));
            snap.components
                .extend(api_components(store, inputs.dry_run, inputs.now_ms).await);
            snap.components
                .push(pacing_component(store, inputs.pacing).await);
            snap.components.push(reconcile_component(
                last_at,
                last_result.as_deref(),
                inputs.reconcile_interval,
                inputs.now_ms,
            ));
            snap.components.push(outbox_component(
                &snap.outbox,
                snap.oldest_pending_ms,
                inputs.now_ms,
            ));
            snap.components.push(safety_component(&snap.holds));
        }
        Err(e) => {
            tracing::warn!(error = %e, "the status page could not read the store");
            snap.components.push(component(
                "Store contents",
                Level::Bad,
                "could not be read; see the logs",
            ));
        }
    }
    snap
}

type Reads = (Vec<CallRecord>, Option<i64>, Option<String>);

async fn read(store: &Store, snap: &mut StatusSnapshot) -> Result<Reads, StoreError> {
    let mut tx = store.read().await?;
    for (state, n) in tx.target_counts().await? {
        match snap.outbox.iter_mut().find(|(s, _)| *s == state) {
            Some(slot) => slot.1 = n,
            None => snap.outbox.push((state, n)),
        }
    }
    snap.oldest_pending_ms = tx.oldest_pending().await?;
    snap.failures = tx.recent_failures(20).await?;
    let recent = tx.recent_calls(false, 200).await?;
    snap.failed_calls = recent
        .into_iter()
        .filter(|c| !matches!(c.outcome.as_str(), "ok" | "dry_run"))
        .take(10)
        .collect();
    for (org, state, n) in tx.access_counts().await? {
        if snap.per_org.last().is_none_or(|o| o.org_id != org) {
            snap.per_org.push(OrgCounts {
                org_id: org.clone(),
                ..OrgCounts::default()
            });
        }
        if let Some(o) = snap.per_org.last_mut() {
            match state.parse::<crate::store::AccessState>()? {
                crate::store::AccessState::Pending => o.pending += n,
                crate::store::AccessState::Member => o.member += n,
                crate::store::AccessState::External => o.external += n,
                crate::store::AccessState::Unlocated => o.unlocated += n,
            }
        }
    }
    snap.drift = tx.drift().await?;
    snap.unlocated = tx
        .access_in_state(crate::store::AccessState::Unlocated)
        .await?;
    snap.holds = tx.holds().await?;
    let ids: Vec<String> = snap
        .failures
        .iter()
        .map(|f| f.user_id.clone())
        .chain(snap.drift.iter().map(|(u, _, _, _)| u.clone()))
        .chain(snap.unlocated.iter().map(|a| a.user_id.clone()))
        .chain(snap.failed_calls.iter().filter_map(|c| c.user_id.clone()))
        .chain(snap.holds.iter().map(|h| h.user_id.clone()))
        .collect();
    snap.names =
        crate::sync::names::Names::load_in(&mut tx, ids.iter().map(String::as_str)).await?;
    let sent = tx.recent_calls(true, 20).await?;
    let last_at = tx
        .meta(META_LAST_RECONCILE_AT)
        .await?
        .and_then(|v| v.parse::<i64>().ok());
    let last_result = tx.meta(META_LAST_RECONCILE_RESULT).await?;
    tx.commit().await?;
    Ok((sent, last_at, last_result))
}

/// The safety rails: a warning while anything is held for an operator.
fn safety_component(holds: &[crate::store::HoldRow]) -> Component {
    use crate::store::HoldState;
    let n = |states: &[HoldState]| holds.iter().filter(|h| states.contains(&h.state)).count();
    let held = n(&[HoldState::Held, HoldState::Marked]);
    let refused = n(&[HoldState::Refused]);
    let waiting = n(&[HoldState::Waiting]);
    if held > 0 {
        component(
            "Safety rails",
            Level::Warn,
            format!(
                "deletion circuit breaker open: {held} removal(s)/downgrade(s) held for an operator \
                 (snyk-scim-bridge approve | reject); grants keep flowing; {refused} refused"
            ),
        )
    } else {
        component(
            "Safety rails",
            Level::Ok,
            format!(
                "deletion circuit breaker closed; {waiting} removal(s) waiting out safety.removal_delay_secs; {refused} refused (protected account or last admin)"
            ),
        )
    }
}

/// The rate the sender lets out and why (learnt from 429s, or configured).
async fn pacing_component(store: &Store, (configured, window): (u32, u64)) -> Component {
    const NAME: &str = "Snyk pacing";
    match crate::pacing::shown(store, configured, window).await {
        // Below the configured rate: the token's real budget is smaller than
        // snyk.requests_per_minute says (shared, or a limit Snyk added).
        Ok(p) if p.learnt() => component(NAME, Level::Warn, p.text()),
        Ok(p) => component(NAME, Level::Ok, p.text()),
        Err(e) => {
            tracing::warn!(error = %e, "the status page could not read the pacing");
            component(NAME, Level::Warn, "could not be read; see the logs")
        }
    }
}

/// The token's expiry and the blocked call kinds, as the worker stored them.
async fn api_components(store: &Store, dry_run: bool, now_ms: i64) -> Vec<Component> {
    match crate::api_health::load(store).await {
        Ok((token, blocked)) => {
            let (tl, td) = crate::api_health::token_component(token.as_ref(), dry_run, now_ms);
            let (bl, bd) = crate::api_health::blocked_component(&blocked);
            vec![
                component("Snyk token expiry", tl, td),
                component("Snyk API lifecycle", bl, bd),
            ]
        }
        Err(e) => {
            tracing::warn!(error = %e, "the status page could not read the API health");
            vec![component(
                "Snyk token expiry",
                Level::Warn,
                "could not be read; see the logs",
            )]
        }
    }
}

/// `2026-04-01 12:00:00 UTC (3 min ago)`.
pub fn when(ms: i64, now_ms: i64) -> String {
    let at = chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string());
    format!("{at} ({} ago)", ago(now_ms - ms))
}

fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

pub fn worker_component(worker: Option<&WorkerStatus>, now_ms: i64) -> Component {
    const NAME: &str = "Sync worker";
    let Some(w) = worker.filter(|w| w.running()) else {
        return component(
            NAME,
            Level::Warn,
            "not running in this process (no outbox work is sent from here)",
        );
    };
    let Some(last) = w.last_loop_ms() else {
        return component(NAME, Level::Warn, "starting");
    };
    let role = if w.leader() {
        "leader: this process sends to Snyk"
    } else {
        "standby: another replica holds the leader lock"
    };
    let level = if now_ms - last > 60_000 {
        Level::Bad
    } else {
        Level::Ok
    };
    let stalled = if level == Level::Bad { "; stalled" } else { "" };
    component(
        NAME,
        level,
        format!("{role}; last loop {}{stalled}", when(last, now_ms)),
    )
}

/// Reachability and token validity from the most recent sent calls
/// (newest first).
pub fn snyk_components(sent: &[CallRecord], dry_run: bool, now_ms: i64) -> Vec<Component> {
    const REACH: &str = "Snyk API";
    const TOKEN: &str = "Snyk token";
    if dry_run {
        return vec![
            component(
                REACH,
                Level::Info,
                "snyk.dry_run = true: calls are recorded, none is sent",
            ),
            component(TOKEN, Level::Info, "not used in dry run"),
        ];
    }
    let Some(last) = sent.first() else {
        return vec![
            component(REACH, Level::Info, "no call sent yet"),
            component(TOKEN, Level::Info, "not used yet"),
        ];
    };
    let at = when(last.at, now_ms);
    let reach = match last.status {
        None => component(
            REACH,
            Level::Bad,
            format!(
                "unreachable at the last call, {at}: {}",
                last.message.as_deref().unwrap_or("no answer")
            ),
        ),
        Some(429) => component(
            REACH,
            Level::Warn,
            format!("rate limited (429) at the last call, {at}"),
        ),
        Some(s) if s >= 500 => component(
            REACH,
            Level::Warn,
            format!("answered {s} at the last call, {at}"),
        ),
        Some(s) => component(
            REACH,
            Level::Ok,
            format!("reachable: answered {s} at the last call, {at}"),
        ),
    };
    let token = match sent.iter().find(|c| c.status.is_some()) {
        None => component(TOKEN, Level::Info, "no answer from Snyk yet"),
        Some(c) if c.status == Some(401) => component(
            TOKEN,
            Level::Bad,
            format!(
                "rejected (401) at {}: renew snyk.token / SNYK_TOKEN",
                when(c.at, now_ms)
            ),
        ),
        Some(c) => component(
            TOKEN,
            Level::Ok,
            format!(
                "accepted (last answer {} at {})",
                c.status.unwrap_or_default(),
                when(c.at, now_ms)
            ),
        ),
    };
    vec![reach, token]
}

pub fn reconcile_component(
    last_at: Option<i64>,
    result: Option<&str>,
    interval: Duration,
    now_ms: i64,
) -> Component {
    const NAME: &str = "Reconciliation";
    let Some(at) = last_at else {
        return component(NAME, Level::Info, "not run yet");
    };
    let late = now_ms - at > i64::try_from(interval.as_millis()).unwrap_or(i64::MAX) * 2 + 60_000;
    let result = result.unwrap_or("");
    let unreadable = !result.contains(" 0 orgs unreadable");
    let level = if late || unreadable {
        Level::Warn
    } else {
        Level::Ok
    };
    let late = if late { "; overdue" } else { "" };
    component(
        NAME,
        level,
        format!("last run {}: {result}{late}", when(at, now_ms)),
    )
}

pub fn outbox_component(counts: &[(String, i64)], oldest: Option<i64>, now_ms: i64) -> Component {
    const NAME: &str = "Outbox";
    let get = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    let (pending, failed, dead) = (get("pending"), get("failed"), get("dead"));
    let age = oldest.map(|t| now_ms - t);
    let level = if dead > 0 {
        Level::Bad
    } else if failed > 0 || age.is_some_and(|a| a > 15 * 60_000) {
        Level::Warn
    } else {
        Level::Ok
    };
    let oldest = age
        .map(|a| format!(", oldest pending {}", ago(a)))
        .unwrap_or_default();
    component(
        NAME,
        level,
        format!("{pending} pending, {failed} failed, {dead} dead-lettered{oldest}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(at: i64, status: Option<i64>) -> CallRecord {
        CallRecord {
            at,
            user_id: None,
            org_id: None,
            method: "POST".into(),
            path: "/org/o/provision".into(),
            body: None,
            dry_run: false,
            status,
            outcome: "ok".into(),
            message: Some("could not connect".into()),
            request_id: None,
            error_ref: None,
            scim_request_id: None,
        }
    }

    fn levels(c: &[Component]) -> Vec<(&str, Level)> {
        c.iter().map(|c| (c.name, c.level)).collect()
    }

    #[test]
    fn snyk_health_comes_from_recorded_calls() {
        let now = 1_000_000;
        assert_eq!(
            levels(&snyk_components(&[call(now, Some(200))], false, now)),
            [("Snyk API", Level::Ok), ("Snyk token", Level::Ok)]
        );
        assert_eq!(
            levels(&snyk_components(&[call(now, Some(401))], false, now)),
            [("Snyk API", Level::Ok), ("Snyk token", Level::Bad)]
        );
        let unreachable = snyk_components(&[call(now, None), call(now - 5, Some(401))], false, now);
        assert_eq!(
            levels(&unreachable),
            [("Snyk API", Level::Bad), ("Snyk token", Level::Bad)]
        );
        assert!(unreachable[0].detail.contains("could not connect"));
        assert_eq!(
            levels(&snyk_components(&[call(now, Some(429))], false, now)),
            [("Snyk API", Level::Warn), ("Snyk token", Level::Ok)]
        );
        assert_eq!(
            levels(&snyk_components(&[], false, now)),
            [("Snyk API", Level::Info), ("Snyk token", Level::Info)]
        );
        assert_eq!(
            levels(&snyk_components(&[call(now, Some(401))], true, now)),
            [("Snyk API", Level::Info), ("Snyk token", Level::Info)]
        );
    }

    #[test]
    fn outbox_and_reconciliation_levels() {
        let counts = |p, f, d| {
            vec![
                ("pending".to_owned(), p),
                ("failed".to_owned(), f),
                ("dead".to_owned(), d),
            ]
        };
        assert_eq!(
            outbox_component(&counts(3, 0, 0), Some(0), 1000).level,
            Level::Ok
        );
        assert_eq!(
            outbox_component(&counts(0, 1, 0), None, 0).level,
            Level::Warn
        );
        assert_eq!(
            outbox_component(&counts(0, 0, 1), None, 0).level,
            Level::Bad
        );
        assert_eq!(
            outbox_component(&counts(1, 0, 0), Some(0), 16 * 60_000).level,
            Level::Warn
        );
        let i = Duration::from_secs(300);
        let ok =
            "0 first logins adopted, 0 grants gone from Snyk, 0 roles drifted, 0 orgs unreadable";
        assert_eq!(reconcile_component(None, None, i, 0).level, Level::Info);
        assert_eq!(
            reconcile_component(Some(0), Some(ok), i, 1000).level,
            Level::Ok
        );
        assert_eq!(
            reconcile_component(Some(0), Some(ok), i, 3_600_000).level,
            Level::Warn
        );
        let bad = ok.replace(" 0 orgs", " 2 orgs");
        assert_eq!(
            reconcile_component(Some(0), Some(&bad), i, 1000).level,
            Level::Warn
        );
    }

    #[test]
    fn the_worker_row() {
        assert_eq!(worker_component(None, 0).level, Level::Warn);
        let w = WorkerStatus::default();
        assert_eq!(worker_component(Some(&w), 0).level, Level::Warn);
    }
}
