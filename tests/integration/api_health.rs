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
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}\"\n[scim]\ntokens = [\"scim-token-0123456789abcdef\"]\n[snyk]\napi_url = \"{}\"\ntoken = \"{SNYK_TOKEN}\"\n[[mappings]]\ngroup = \"g\"\norg_id = \"{ORG}\"\nrole = \"ADMIN\"\n",
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
    assert!(
        text.contains("cannot be read (Snyk answered 403)"),
        "{text}"
    );
    let calls = fake.calls();
    assert!(calls.iter().all(|c| c.method == "GET"), "{calls:?}");
}

/// A SCIM request to the in-process app.
async fn scim(
    root: &str,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let r = reqwest::Client::new()
        .request(method, format!("{root}/scim/v2{path}"))
        .bearer_auth("scim-token-0123456789abcdef")
        .header("Content-Type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .expect("scim request");
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap_or(serde_json::Value::Null)
}

#[tokio::test]
async fn a_role_change_whose_provision_is_blocked_deletes_nothing() {
    use serde_json::json;
    let dir = tempfile::tempdir().expect("dir");
    let fake = FakeSnyk::start(SNYK_TOKEN).await;
    fake.add_org(ORG);
    fake.add_sunset_headers("POST", "/provision");
    let text = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}\"\n[scim]\ntokens = [\"scim-token-0123456789abcdef\"]\n[snyk]\napi_url = \"{}\"\ntoken = \"{SNYK_TOKEN}\"\n[[mappings]]\ngroup = \"Admins\"\norg_id = \"{ORG}\"\nrole = \"ADMIN\"\n[[mappings]]\ngroup = \"Devs\"\norg_id = \"{ORG}\"\nrole = \"COLLABORATOR\"\n",
        dir.path().join("b.db").display(),
        fake.base_url
    );
    let app = crate::app::start("blocked.toml", &text, "2026-06-01T12:00:00Z").await;
    let user = scim(
        &app.root,
        reqwest::Method::POST,
        "/Users",
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@example.com",
               "emails": [{"value": "ann@example.com", "primary": true}]}),
    )
    .await["id"]
    .as_str()
    .expect("id")
    .to_owned();
    let group = |name: &str, members: &[&str]| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name,
               "members": members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>()})
    };
    let admins = scim(
        &app.root,
        reqwest::Method::POST,
        "/Groups",
        group("Admins", &[&user]),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    scim(
        &app.root,
        reqwest::Method::POST,
        "/Groups",
        group("Devs", &[]),
    )
    .await;
    app.engine.drain(|_| {}).await.expect("drained");
    // Provisioned as ADMIN; the answer announced the provision call's sunset.
    assert_eq!(
        fake.pending(ORG),
        vec![("ann@example.com".to_owned(), "ADMIN".to_owned())]
    );

    // Ann moves to Devs: a pending role change is delete + provision. The
    // provision is blocked, so the delete must not go out either.
    scim(
        &app.root,
        reqwest::Method::PUT,
        &format!("/Groups/{admins}"),
        group("Admins", &[]),
    )
    .await;
    let devs = scim(
        &app.root,
        reqwest::Method::GET,
        "/Groups?filter=displayName%20eq%20%22Devs%22",
        json!(null),
    )
    .await;
    let devs = devs["Resources"][0]["id"]
        .as_str()
        .expect("devs id")
        .to_owned();
    scim(
        &app.root,
        reqwest::Method::PUT,
        &format!("/Groups/{devs}"),
        group("Devs", &[&user]),
    )
    .await;
    fake.clear_calls();
    let report = app.engine.drain(|_| {}).await.expect("drained");
    assert!(fake.write_calls().is_empty(), "{:?}", fake.write_calls());
    assert_eq!(
        fake.pending(ORG),
        vec![("ann@example.com".to_owned(), "ADMIN".to_owned())]
    );
    assert_eq!((report.failed, report.deferred), (0, 1), "{report:?}");
}
