//! The token's expiry as the leader learns and stores it, on a manual clock:
//! read from the REST token list, judged against the injected clock, kept
//! through a failed check, and replaced by "not allowed" when Snyk refuses
//! the call (what `status`, `/status` and `/readyz` then show).

use snyk_scim_bridge::api_health::{self, TokenHealth};
use snyk_scim_bridge::health::Level;

use crate::fake_snyk::FakeSnyk;

const SNYK_TOKEN: &str = "snyk-token-for-api-health-tests";
const ORG: &str = "6b7a7c5e-1111-4c4c-9d9d-0000000000a1";

async fn stored(store: &snyk_scim_bridge::store::Store) -> TokenHealth {
    api_health::load(store)
        .await
        .expect("load")
        .0
        .expect("a stored check")
}

#[tokio::test]
async fn the_token_expiry_is_stored_judged_on_the_clock_and_kept_through_failures() {
    let dir = tempfile::tempdir().expect("dir");
    let fake = FakeSnyk::start(SNYK_TOKEN).await;
    fake.add_org(ORG);
    fake.set_token_expiries(&[
        Some("2026-06-20T12:00:00Z"),
        None,
        Some("2026-07-30T00:00:00Z"),
    ]);
    let text = format!(
        "database_url = \"sqlite://{}\"\n[scim]\ntokens = [\"scim-token-0123456789abcdef\"]\n[snyk]\napi_url = \"{}\"\ntoken = \"{SNYK_TOKEN}\"\n[[mappings]]\ngroup = \"g\"\norg_id = \"{ORG}\"\nrole = \"ADMIN\"\n",
        dir.path().join("b.db").display(),
        fake.base_url
    );
    let app = crate::app::start("health.toml", &text, "2026-06-01T12:00:00Z").await;
    let (engine, store, clock) = (app.engine, app.store, app.clock);

    engine.check_token().await.expect("checked");
    let t = stored(&store).await;
    let june_20 = 1_781_956_800_000;
    assert_eq!(
        t.expires_at,
        Some(june_20),
        "the earliest of the listed expiries"
    );
    assert!(
        t.note.contains("3 tokens") && t.note.contains("earliest"),
        "{}",
        t.note
    );
    let now = |c: &snyk_scim_bridge::clock::ManualClock| {
        snyk_scim_bridge::clock::Clock::now(c).timestamp_millis()
    };
    assert_eq!(
        api_health::token_component(Some(&t), false, now(&clock)).0,
        Level::Ok
    );
    clock.advance(chrono::Duration::days(6));
    let (level, text) = api_health::token_component(Some(&t), false, now(&clock));
    assert_eq!(level, Level::Warn, "{text}");

    // A failed check keeps the last known expiry and says why.
    fake.fail_next(1, 503);
    engine.check_token().await.expect("checked");
    let t = stored(&store).await;
    assert_eq!(t.expires_at, Some(june_20));
    assert!(t.error.is_some(), "{t:?}");

    // Not allowed: said in the stored state (and once in the log).
    fake.fail_next(1, 403);
    engine.check_token().await.expect("checked");
    let t = stored(&store).await;
    assert_eq!((t.not_allowed, t.expires_at), (Some(403), None));
    let (level, text) = api_health::token_component(Some(&t), false, now(&clock));
    assert_eq!(level, Level::Info);
    assert!(text.contains("did not allow"), "{text}");
    let calls = fake.calls();
    assert!(calls.iter().all(|c| c.method == "GET"), "{calls:?}");
}
