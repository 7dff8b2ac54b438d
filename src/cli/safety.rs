//! The operator's side of the safety rails on the command line: `approve`
//! and `reject` (release or drop held removals), and the "safety rails"
//! section of `status` and `plan`. Thin: the decisions are
//! `sync::rails::decide_held`'s.
//!
//! Never sends anything to Snyk itself: approved removals go through the
//! leader's normal outbox.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use super::ConfigArg;
use super::status_view::{OrgRef, UserRef, rfc3339};
use crate::domain::{Email, SnykOrgId};
use crate::store::{HoldFilter, HoldRow, HoldState, Store};
use crate::sync::names::Names;

/// Which held removals an operator decides on.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(true).args(["all", "user", "org"])))]
pub struct DecideArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Every held removal.
    #[arg(long, conflicts_with_all = ["user", "org"])]
    pub all: bool,
    /// Only this user's (by the email Snyk knows them by).
    #[arg(long, value_name = "EMAIL")]
    pub user: Option<String>,
    /// Only this org's (a Snyk org id).
    #[arg(long, value_name = "ORG_ID")]
    pub org: Option<String>,
}

/// `approve` (`approve = true`) or `reject`.
pub async fn decide(a: DecideArgs, approve: bool) -> ExitCode {
    let mut filter = HoldFilter::default();
    if let Some(u) = &a.user {
        match Email::parse(u) {
            Ok(e) => filter.email = Some(e.as_str().to_owned()),
            Err(_) => {
                eprintln!("error: --user {u:?} is not an email address");
                return ExitCode::from(super::EXIT_CONFIG);
            }
        }
    }
    if let Some(o) = &a.org {
        match SnykOrgId::parse(o) {
            Ok(o) => filter.org_id = Some(o.as_str().to_owned()),
            Err(_) => {
                eprintln!("error: --org {o:?} is not a Snyk org id (a UUID)");
                return ExitCode::from(super::EXIT_CONFIG);
            }
        }
    }
    let (_, store) = match super::open(&a.config, false).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let now = crate::clock::Clock::now(&crate::clock::SystemClock).timestamp_millis();
    let run = async {
        let rows = crate::sync::rails::decide_held(&store, &filter, approve, now)
            .await
            .context("Failed to record the decision")?;
        let verb = if approve { "approved" } else { "rejected" };
        for h in &rows {
            println!(
                "{verb}: {} in org {}: {}",
                h.email.as_deref().unwrap_or(&h.user_id),
                h.org_id,
                h.change.as_deref().unwrap_or("remove")
            );
        }
        match (rows.len(), approve) {
            (0, _) => println!("nothing held matches"),
            (n, true) => println!(
                "{n} held change(s) released: the running sender makes them through the outbox"
            ),
            (n, false) => println!(
                "{n} held change(s) dropped: Snyk keeps this access (listed as rejected in status) until the IdP changes the user again"
            ),
        }
        anyhow::Ok(())
    };
    super::outcome(run.await)
}

/// The safety rails in `status --json`.
#[derive(Debug, Serialize)]
pub struct SafetyJson {
    /// The deletion circuit breaker holds something for an operator.
    pub breaker_open: bool,
    /// How many removals and downgrades are held (`held` and `marked`).
    pub held: usize,
    pub changes: Vec<HoldJson>,
}

/// One removal or downgrade the rails hold, wait on, or refused.
#[derive(Debug, Serialize)]
pub struct HoldJson {
    /// `held`, `marked` (an empty push: held when planned), `waiting`
    /// (`safety.removal_delay_secs`), `approved`, `rejected` or `refused`.
    pub state: String,
    pub user: UserRef,
    /// The email Snyk knows the access by.
    pub email: Option<String>,
    pub org: OrgRef,
    /// What would be sent, in words.
    pub change: Option<String>,
    pub reason: String,
    /// RFC 3339.
    pub since: String,
    /// The SCIM request whose change caused it.
    pub scim_request_id: Option<String>,
}

fn is_held(h: &HoldRow) -> bool {
    matches!(h.state, HoldState::Held | HoldState::Marked)
}

/// The rails for `status --json`.
pub fn json(holds: &[HoldRow], names: &Names) -> SafetyJson {
    let held = holds.iter().filter(|h| is_held(h)).count();
    SafetyJson {
        breaker_open: held > 0,
        held,
        changes: holds
            .iter()
            .map(|h| HoldJson {
                state: h.state.to_string(),
                user: UserRef::of(&h.user_id, names),
                email: h.email.clone(),
                org: OrgRef::of(&h.org_id, names),
                change: h.change.clone(),
                reason: h.reason.clone(),
                since: rfc3339(h.since),
                scim_request_id: h.request_id.clone(),
            })
            .collect(),
    }
}

/// The "safety rails" section of `status`.
pub fn text(holds: &[HoldRow], names: &Names) -> String {
    let mut out = String::new();
    let held = holds.iter().filter(|h| is_held(h)).count();
    if held == 0 {
        let _ = writeln!(
            out,
            "safety rails: deletion circuit breaker closed, nothing held"
        );
    } else {
        let _ = writeln!(
            out,
            "safety rails: deletion circuit breaker OPEN, {held} removal(s)/downgrade(s) held (snyk-scim-bridge approve | reject --all | --user EMAIL | --org ORG_ID):"
        );
    }
    for (title, states) in [
        ("held", &[HoldState::Held, HoldState::Marked][..]),
        (
            "waiting (safety.removal_delay_secs)",
            &[HoldState::Waiting][..],
        ),
        ("approved, to be sent", &[HoldState::Approved][..]),
        (
            "rejected (drift until the IdP changes the user again)",
            &[HoldState::Rejected][..],
        ),
        ("refused (never sent)", &[HoldState::Refused][..]),
    ] {
        let some: Vec<&HoldRow> = holds.iter().filter(|h| states.contains(&h.state)).collect();
        if some.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {title}:");
        for h in some {
            let _ = writeln!(
                out,
                "    {} (SCIM user {}, Snyk email {}) org {}: {} [{}]{}",
                names.user_label(&h.user_id),
                h.user_id,
                h.email.as_deref().unwrap_or("-"),
                names.org_label(&h.org_id),
                h.change.as_deref().unwrap_or("remove"),
                h.reason,
                h.request_id
                    .as_deref()
                    .map(|r| format!(" caused by SCIM request {r}"))
                    .unwrap_or_default()
            );
        }
    }
    out
}

/// The holds, for `status` and `plan`.
pub async fn holds(store: &Store) -> anyhow::Result<Vec<HoldRow>> {
    crate::sync::rails::holds(store)
        .await
        .context("Failed to read the safety rails' holds")
}
