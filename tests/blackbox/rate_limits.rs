//! Snyk's v1 rate limit has no documented shape and no `Retry-After`: the
//! bridge converges under a fixed window that is not aligned with the
//! wall-clock minute, a rolling window, and Snyk's REST rule (429 until
//! requests stop for a whole interval), without hammering, when it is
//! configured above the budget it really has (a token shared with another
//! tool).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_snyk::RateKind;
use crate::harness::*;

const USERS: usize = 60;
const PER_WINDOW: u32 = 20;
const WINDOW: Duration = Duration::from_secs(2);

async fn scenario(backend: Backend, kind: RateKind) {
    let fake = fake_snyk().await;
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = BridgeConfig {
        // Three times what the fake grants (600/min).
        requests_per_minute: 1800,
        max_concurrent: 10,
        ..BridgeConfig::default()
    };
    let b = Bridge::start(dir.path(), &cfg, &db, &fake).await;
    let mut ids = Vec::new();
    for i in 0..USERS {
        ids.push(create_user(&b, okta_user(&format!("rl{i:03}@example.com"))).await);
    }
    fake.set_rate_limit_of(kind, PER_WINDOW, WINDOW);
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let started = Instant::now();
    let (status, out) = b
        .scim(
            "POST",
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Snyk Admins",
                "members": members
            })),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    // The floor: every call needs a slot of the budget.
    let floor = WINDOW.mul_f64(USERS as f64 / f64::from(PER_WINDOW));
    let bound = floor * 3 + Duration::from_secs(10);
    let (_, took) = wait_for(
        &format!("{USERS} provisions under a {kind:?} limit"),
        bound,
        || (fake.pending(ORG_A).len() == USERS).then_some(()),
    )
    .await;
    let stats = fake.stats();
    eprintln!(
        "{backend:?} {kind:?}: {USERS} provisions in {took:?} (floor {floor:?}), {} x 429, {} requests",
        stats.too_many_requests, stats.total_requests
    );
    // Never hammering: fewer refused calls than useful ones.
    assert!(
        stats.too_many_requests <= USERS,
        "{} x 429 for {USERS} provisions",
        stats.too_many_requests
    );
    assert!(
        started.elapsed() >= floor.mul_f64(0.6),
        "the limit was in force"
    );
    for i in 0..USERS {
        assert_eq!(
            provisions_of(&fake, ORG_A, &format!("rl{i:03}@example.com")),
            1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn converges_under_a_fixed_window_not_aligned_with_the_minute() {
    for b in backends() {
        scenario(b, RateKind::Fixed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn converges_under_a_rolling_window() {
    for b in backends() {
        scenario(b, RateKind::Rolling).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn converges_under_a_quiet_period_rule() {
    for b in backends() {
        scenario(b, RateKind::QuietPeriod).await;
    }
}
