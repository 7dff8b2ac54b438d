//! Webhook intake end to end: Okta Event Hook deliveries (shaped as Okta
//! sends them: `com.okta.event_hook` with `data.events[]` of LogEvents) and
//! the generic signed webhook, each ending in the outbox (`sync_targets`)
//! and, after the worker drains it, in the stateful fake Snyk. The app runs
//! for real on port 0 under a manual clock; the worker is driven by hand.

use crate::fake_snyk;
use crate::pg;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use fake_snyk::FakeSnyk;
use serde_json::{Value, json};
use snyk_scim_bridge::clock::{Clock, ManualClock};
use snyk_scim_bridge::scim::query::IndexKey;
use snyk_scim_bridge::scim::schema::ResourceKind;
use snyk_scim_bridge::store::{Store, StoredResource, TargetRow};
use snyk_scim_bridge::sync::Engine;
use snyk_scim_bridge::webhook::generic::sign;

const ORG_A: &str = "6b7a7c5e-1111-4c4c-9d9d-00000000000a";
const ORG_B: &str = "6b7a7c5e-1111-4c4c-9d9d-00000000000b";
const GROUP: &str = "9f0e0d0c-2222-4b4b-8a8a-000000000001";
const SNYK_TOKEN: &str = "snyk-personal-token-for-tests";
const SCIM_TOKEN: &str = "scim-token-for-webhook-tests-0001";
const OKTA_AUTH: &str = "okta-event-hook-shared-secret-0001";
const SECRET: &str = "generic-webhook-secret-0123456789abcdef";
const OKTA_APP: &str = "0oa1snykapp";
const START: &str = "2026-06-01T12:00:00Z";

struct App {
    root: String,
    http: reqwest::Client,
    store: Store,
    engine: Engine,
    clock: Arc<ManualClock>,
    fake: FakeSnyk,
    _dir: tempfile::TempDir,
    _pg: Option<pg::PgDb>,
}

async fn spawn(webhooks: bool) -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/bridge.db", dir.path().display());
    spawn_on(db, dir, webhooks).await
}

/// The same on a fresh PostgreSQL database, when `TEST_POSTGRES_URL` is set.
async fn spawn_pg() -> Option<App> {
    let g = pg::PgDb::create("webhooks").await?;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = spawn_on(g.url.clone(), dir, true).await;
    app._pg = Some(g);
    Some(app)
}

async fn spawn_on(db: String, dir: tempfile::TempDir, webhooks: bool) -> App {
    let fake = FakeSnyk::start(SNYK_TOKEN).await;
    fake.add_org(ORG_A);
    fake.add_org(ORG_B);
    fake.add_group(GROUP);
    let hooks = if webhooks {
        format!(
            "[webhooks.okta]\nauthorization = \"{OKTA_AUTH}\"\napp_id = \"{OKTA_APP}\"\n[webhooks.generic]\nsecret = \"{SECRET}\"\n"
        )
    } else {
        String::new()
    };
    let text = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "{db}"
[scim]
tokens = ["{SCIM_TOKEN}"]
[snyk]
api_url = "{api}"
token = "{SNYK_TOKEN}"
group_id = "{GROUP}"
requests_per_minute = 60000
# The rails have their own scenarios (tests/blackbox/safety.rs).
[safety]
breaker = false
group_shrink_percent = 100
[[mappings]]
group = "Snyk Admins"
org_id = "{ORG_A}"
role = "ADMIN"
[[mappings]]
group = "Developers"
org_id = "{ORG_B}"
role = "COLLABORATOR"
{hooks}
"#,
        api = fake.base_url,
    );
    let app = crate::app::start("webhooks.toml", &text, START).await;
    let (root, engine, store, clock) = (app.root, app.engine, app.store, app.clock);
    App {
        root,
        http: reqwest::Client::new(),
        store,
        engine,
        clock,
        fake,
        _dir: dir,
        _pg: None,
    }
}

// ---------------------------------------------------------------------------
// Okta bodies, as the reference describes them.

fn at(secs: i64) -> String {
    let t = DateTime::parse_from_rfc3339(START).expect("date") + Duration::seconds(secs);
    t.with_timezone(&Utc)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn okta_user(id: &str, login: &str) -> Value {
    json!({"id": id, "type": "User", "alternateId": login, "displayName": "Jane Doe", "detailEntry": null})
}

fn okta_group(id: &str, name: &str) -> Value {
    json!({"id": id, "type": "UserGroup", "alternateId": "unknown", "displayName": name, "detailEntry": null})
}

fn okta_app(id: &str) -> Value {
    json!({"id": id, "type": "AppInstance", "alternateId": "Snyk", "displayName": "Snyk", "detailEntry": null})
}

fn okta_event(uuid: &str, event_type: &str, published_secs: i64, target: Vec<Value>) -> Value {
    json!({
        "uuid": uuid,
        "published": at(published_secs),
        "eventType": event_type,
        "version": "0",
        "displayMessage": "event",
        "severity": "INFO",
        "client": {"userAgent": {"rawUserAgent": "Mozilla/5.0"}, "ipAddress": "10.0.0.1"},
        "actor": {"id": "00uadmin", "type": "User", "alternateId": "admin@example.com", "displayName": "Okta Admin", "detailEntry": null},
        "outcome": {"result": "SUCCESS", "reason": null},
        "target": target,
        "transaction": {"type": "WEB", "id": "Wtx1", "detail": {}},
        "debugContext": {"debugData": {}},
        "legacyEventType": "core.user.config.user_status.change",
        "authenticationContext": {"authenticationStep": 0, "externalSessionId": "x"},
        "securityContext": {}
    })
}

fn okta_delivery(events: Vec<Value>) -> Value {
    json!({
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": "https://example.okta.com/api/v1/eventHooks/who1",
        "eventId": uuid::Uuid::new_v4().to_string(),
        "data": {"events": events},
        "eventTime": at(60),
        "contentType": "application/json"
    })
}

const JANE: &str = "00u1jane";
const JANE_LOGIN: &str = "jane@example.com";

fn jane() -> Value {
    okta_user(JANE, JANE_LOGIN)
}

fn admins() -> Value {
    okta_group("00g1admins", "Snyk Admins")
}

struct Resp {
    status: u16,
    body: Value,
}

impl App {
    async fn okta_post(&self, auth: Option<&str>, body: &Value) -> Resp {
        let mut rb = self
            .http
            .post(format!("{}/webhooks/okta", self.root))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        send(rb).await
    }

    async fn okta(&self, events: Vec<Value>) {
        let r = self
            .okta_post(Some(OKTA_AUTH), &okta_delivery(events))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body, Value::Null, "Okta gets an empty 200");
    }

    async fn generic_raw(&self, body: &str, signature: Option<String>) -> Resp {
        let mut rb = self
            .http
            .post(format!("{}/webhooks/events", self.root))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(s) = signature {
            rb = rb.header("X-Bridge-Signature", s);
        }
        send(rb).await
    }

    fn sign_now(&self, body: &str) -> String {
        sign(
            SECRET.as_bytes(),
            self.clock.now().timestamp(),
            body.as_bytes(),
        )
    }

    async fn generic(&self, body: &Value) -> Resp {
        let text = body.to_string();
        let sig = self.sign_now(&text);
        self.generic_raw(&text, Some(sig)).await
    }

    async fn find(&self, kind: ResourceKind, key: IndexKey) -> Option<StoredResource> {
        let mut tx = self.store.read().await.expect("tx");
        let ids = tx.find_ids(kind, &key).await.expect("find");
        let r = match ids.first() {
            Some(id) => tx.get_resource(kind, id).await.expect("get"),
            None => None,
        };
        tx.commit().await.expect("commit");
        r
    }

    async fn user(&self, user_name: &str) -> Option<StoredResource> {
        self.find(
            ResourceKind::User,
            IndexKey::NameLc(user_name.to_lowercase()),
        )
        .await
    }

    async fn group(&self, name: &str) -> Option<StoredResource> {
        self.find(
            ResourceKind::Group,
            IndexKey::DisplayLc(name.to_lowercase()),
        )
        .await
    }

    async fn member_names(&self, group: &str) -> Vec<String> {
        let Some(g) = self.group(group).await else {
            return Vec::new();
        };
        let mut tx = self.store.read().await.expect("tx");
        let members = tx.members(&g.id).await.expect("members");
        tx.commit().await.expect("commit");
        let mut names: Vec<String> = Vec::new();
        for m in members {
            let mut tx = self.store.read().await.expect("tx");
            if let Some(u) = tx
                .get_resource(ResourceKind::User, &m.id)
                .await
                .expect("get")
            {
                names.push(u.doc["userName"].as_str().unwrap_or_default().to_owned());
            }
            tx.commit().await.expect("commit");
        }
        names.sort();
        names
    }

    async fn target(&self, user_id: &str, org: &str) -> Option<TargetRow> {
        let mut tx = self.store.read().await.expect("tx");
        let t = tx.get_target(user_id, org).await.expect("target");
        tx.commit().await.expect("commit");
        t
    }

    async fn event_seen(&self, source: &str, id: &str) -> bool {
        let mut tx = self.store.read().await.expect("tx");
        let seen = tx.webhook_event_seen(source, id).await.expect("seen");
        tx.commit().await.expect("commit");
        seen
    }

    async fn count(&self, kind: ResourceKind) -> i64 {
        let mut tx = self.store.read().await.expect("tx");
        let n = tx.count_resources(kind).await.expect("count");
        tx.commit().await.expect("commit");
        n
    }

    /// Run the outbox worker until nothing is due.
    async fn drain(&self) {
        self.engine.drain(|_| {}).await.expect("drain");
    }

    /// Pending provisions of an org in the fake Snyk, as "email ROLE".
    fn pending(&self, org: &str) -> Vec<String> {
        self.fake
            .pending(org)
            .into_iter()
            .map(|(e, r)| format!("{e} {r}"))
            .collect()
    }

    /// The change reached the outbox: the user has a row for a mapped org
    /// (only the orgs the change may affect are queued), every one pending.
    async fn expect_queued(&self, user_id: &str) {
        let mut rows = Vec::new();
        for org in [ORG_A, ORG_B] {
            if let Some(t) = self.target(user_id, org).await {
                assert_eq!(t.status.as_str(), "pending", "{t:?}");
                rows.push(t);
            }
        }
        assert!(!rows.is_empty(), "no outbox row for {user_id}");
    }

    /// Nothing of the user's is queued.
    async fn expect_nothing_pending(&self, user_id: &str) {
        for org in [ORG_A, ORG_B] {
            if let Some(t) = self.target(user_id, org).await {
                assert_ne!(t.status.as_str(), "pending", "{t:?}");
            }
        }
    }
}

async fn send(rb: reqwest::RequestBuilder) -> Resp {
    let res = rb.send().await.expect("request sent");
    let status = res.status().as_u16();
    let bytes = res.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Resp { status, body }
}

fn active(u: &StoredResource) -> bool {
    u.doc.get("active").and_then(Value::as_bool).unwrap_or(true)
}

// ---------------------------------------------------------------------------
// Okta

#[tokio::test]
async fn okta_verification_echoes_the_challenge() {
    let app = spawn(true).await;
    let url = format!("{}/webhooks/okta", app.root);
    let ok = send(
        app.http
            .get(&url)
            .header("X-Okta-Verification-Challenge", "aUNkZmFzZGZhc2Rm")
            .header("authorization", OKTA_AUTH),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, json!({"verification": "aUNkZmFzZGZhc2Rm"}));
    // Okta's verification request may come without the Authorization value.
    let bare = send(
        app.http
            .get(&url)
            .header("X-Okta-Verification-Challenge", "abc"),
    )
    .await;
    assert_eq!(bare.status, 200);
    assert_eq!(bare.body, json!({"verification": "abc"}));
    // A wrong one is refused, so a mistyped secret shows at verification.
    let wrong = send(
        app.http
            .get(&url)
            .header("X-Okta-Verification-Challenge", "abc")
            .header("authorization", "nope"),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(!wrong.body.to_string().contains(OKTA_AUTH));
    let missing = send(app.http.get(&url)).await;
    assert_eq!(missing.status, 400, "{}", missing.body);
}

#[tokio::test]
async fn webhooks_are_404_when_not_configured() {
    let app = spawn(false).await;
    let get = send(
        app.http
            .get(format!("{}/webhooks/okta", app.root))
            .header("X-Okta-Verification-Challenge", "abc"),
    )
    .await;
    assert_eq!(get.status, 404);
    let post = app.okta_post(Some(OKTA_AUTH), &okta_delivery(vec![])).await;
    assert_eq!(post.status, 404);
    let generic = app.generic(&json!({"events": []})).await;
    assert_eq!(generic.status, 404);
}

#[tokio::test]
async fn okta_user_lifecycle_and_memberships_reach_snyk() {
    let app = spawn(true).await;

    // create: the user is stored (Okta id as externalId), queued, no access yet.
    app.okta(vec![okta_event(
        "e-create",
        "user.lifecycle.create",
        1,
        vec![jane()],
    )])
    .await;
    let u = app.user(JANE_LOGIN).await.expect("created");
    assert_eq!(u.doc["externalId"], json!(JANE));
    assert!(active(&u));
    // In no mapped group yet: nothing to do in Snyk, nothing queued.
    app.expect_nothing_pending(&u.id).await;
    app.drain().await;
    assert!(app.pending(ORG_A).is_empty());

    // group.user_membership.add: the group is created, the user joins, access follows.
    app.okta(vec![okta_event(
        "e-add",
        "group.user_membership.add",
        2,
        vec![jane(), admins()],
    )])
    .await;
    let g = app.group("Snyk Admins").await.expect("group created");
    assert_eq!(g.doc["externalId"], json!("00g1admins"));
    assert_eq!(app.member_names("Snyk Admins").await, [JANE_LOGIN]);
    app.expect_queued(&u.id).await;
    app.drain().await;
    assert_eq!(app.pending(ORG_A), [format!("{JANE_LOGIN} ADMIN")]);

    // suspend / unsuspend, deactivate / reactivate, activate.
    let cases = [
        ("user.lifecycle.suspend", false),
        ("user.lifecycle.unsuspend", true),
        ("user.lifecycle.deactivate", false),
        ("user.lifecycle.reactivate", true),
        ("user.lifecycle.deactivate", false),
        ("user.lifecycle.activate", true),
        ("application.user_membership.remove", false),
        ("application.user_membership.add", true),
    ];
    for (i, (event_type, want_active)) in cases.iter().enumerate() {
        let mut target = vec![jane()];
        if event_type.starts_with("application.") {
            target.push(okta_app(OKTA_APP));
        }
        app.okta(vec![okta_event(
            &format!("e-life-{i}"),
            event_type,
            10 + i as i64,
            target,
        )])
        .await;
        let u = app.user(JANE_LOGIN).await.expect("user");
        assert_eq!(active(&u), *want_active, "{event_type}");
        app.expect_queued(&u.id).await;
        app.drain().await;
        let want: Vec<String> = if *want_active {
            vec![format!("{JANE_LOGIN} ADMIN")]
        } else {
            vec![]
        };
        assert_eq!(app.pending(ORG_A), want, "after {event_type}");
    }

    // Assignment changes of another app are ignored.
    app.okta(vec![okta_event(
        "e-other-app",
        "application.user_membership.remove",
        30,
        vec![jane(), okta_app("0oaOTHER")],
    )])
    .await;
    assert!(active(&app.user(JANE_LOGIN).await.expect("user")));

    // user.account.update_profile: a new login and email.
    app.okta(vec![okta_event(
        "e-profile",
        "user.account.update_profile",
        40,
        vec![okta_user(JANE, "jane.doe@example.com")],
    )])
    .await;
    assert!(app.user(JANE_LOGIN).await.is_none());
    let renamed = app.user("jane.doe@example.com").await.expect("renamed");
    assert_eq!(renamed.id, u.id, "the same user, matched by its Okta id");
    let u = renamed;
    assert_eq!(
        u.doc["emails"][0],
        json!({"value": "jane.doe@example.com", "type": "work", "primary": true})
    );
    app.expect_queued(&u.id).await;
    app.drain().await;
    assert_eq!(app.pending(ORG_A), ["jane.doe@example.com ADMIN"]);

    // group.user_membership.remove
    app.okta(vec![okta_event(
        "e-remove",
        "group.user_membership.remove",
        50,
        vec![okta_user(JANE, "jane.doe@example.com"), admins()],
    )])
    .await;
    assert!(app.member_names("Snyk Admins").await.is_empty());
    app.expect_queued(&u.id).await;
    app.drain().await;
    assert!(app.pending(ORG_A).is_empty());

    // Back in, then user.lifecycle.delete.initiated deletes the user.
    app.okta(vec![okta_event(
        "e-readd",
        "group.user_membership.add",
        55,
        vec![okta_user(JANE, "jane.doe@example.com"), admins()],
    )])
    .await;
    app.drain().await;
    assert_eq!(app.pending(ORG_A), ["jane.doe@example.com ADMIN"]);
    app.okta(vec![okta_event(
        "e-delete",
        "user.lifecycle.delete.initiated",
        60,
        vec![okta_user(JANE, "jane.doe@example.com")],
    )])
    .await;
    assert!(app.user("jane.doe@example.com").await.is_none());
    assert!(app.member_names("Snyk Admins").await.is_empty());
    app.expect_queued(&u.id).await;
    app.drain().await;
    assert!(app.pending(ORG_A).is_empty());
}

#[tokio::test]
async fn okta_batches_are_deduplicated_and_ordered_by_published() {
    batches_are_deduplicated_and_ordered(spawn(true).await).await;
}

#[tokio::test]
async fn okta_batches_are_deduplicated_and_ordered_by_published_on_postgres() {
    if let Some(app) = spawn_pg().await {
        batches_are_deduplicated_and_ordered(app).await;
    }
}

async fn batches_are_deduplicated_and_ordered(app: App) {
    // One delivery, out of order, with a duplicate: the newest event wins.
    let add_new = okta_event(
        "u-add",
        "group.user_membership.add",
        30,
        vec![jane(), admins()],
    );
    let batch = vec![
        add_new.clone(),
        okta_event(
            "u-remove",
            "group.user_membership.remove",
            20,
            vec![jane(), admins()],
        ),
        add_new.clone(),
        okta_event("u-create", "user.lifecycle.create", 10, vec![jane()]),
    ];
    app.okta(batch.clone()).await;
    assert_eq!(app.member_names("Snyk Admins").await, [JANE_LOGIN]);
    let u = app.user(JANE_LOGIN).await.expect("user");
    app.drain().await;
    assert_eq!(app.pending(ORG_A), [format!("{JANE_LOGIN} ADMIN")]);

    // A later delivery of an older removal does not win over the newer add.
    app.okta(vec![okta_event(
        "u-remove-late",
        "group.user_membership.remove",
        25,
        vec![jane(), admins()],
    )])
    .await;
    assert_eq!(app.member_names("Snyk Admins").await, [JANE_LOGIN]);
    // Neither does an older deactivation after a newer activation.
    app.okta(vec![okta_event(
        "u-act",
        "user.lifecycle.activate",
        40,
        vec![jane()],
    )])
    .await;
    app.okta(vec![okta_event(
        "u-deact-old",
        "user.lifecycle.deactivate",
        35,
        vec![jane()],
    )])
    .await;
    assert!(active(&app.user(JANE_LOGIN).await.expect("user")));

    // The whole first batch again (Okta's at-least-once): all duplicates.
    app.okta(batch).await;
    app.okta(vec![okta_event(
        "u-remove-new",
        "group.user_membership.remove",
        45,
        vec![jane(), admins()],
    )])
    .await;
    app.okta(vec![add_new]).await; // a redelivered (older) add: duplicate
    assert!(app.member_names("Snyk Admins").await.is_empty());
    app.drain().await;
    assert!(app.pending(ORG_A).is_empty());

    // Across deliveries: a newer deactivation seen before an older creation
    // makes the late-created user inactive.
    let bob = okta_user("00u2bob", "bob@example.com");
    app.okta(vec![okta_event(
        "b-deact",
        "user.lifecycle.deactivate",
        100,
        vec![bob.clone()],
    )])
    .await;
    assert!(app.user("bob@example.com").await.is_none());
    app.okta(vec![
        okta_event("b-create", "user.lifecycle.create", 90, vec![bob.clone()]),
        okta_event(
            "b-add",
            "group.user_membership.add",
            95,
            vec![bob.clone(), admins()],
        ),
    ])
    .await;
    let b = app.user("bob@example.com").await.expect("bob created");
    assert!(!active(&b), "the newer deactivation wins");
    assert_eq!(app.member_names("Snyk Admins").await, ["bob@example.com"]);
    app.drain().await;
    assert!(app.pending(ORG_A).is_empty(), "inactive: no access");

    // A newer deletion wins over every older event of the user.
    app.okta(vec![okta_event(
        "b-del",
        "user.lifecycle.delete.initiated",
        200,
        vec![bob.clone()],
    )])
    .await;
    app.okta(vec![
        okta_event(
            "b-act-old",
            "user.lifecycle.activate",
            150,
            vec![bob.clone()],
        ),
        okta_event(
            "b-add-old",
            "group.user_membership.add",
            160,
            vec![bob, admins()],
        ),
    ])
    .await;
    assert!(
        app.user("bob@example.com").await.is_none(),
        "not resurrected"
    );
    assert_eq!(u.id, app.user(JANE_LOGIN).await.expect("jane").id);
}

#[tokio::test]
async fn okta_refuses_a_wrong_authorization_and_stores_nothing() {
    let app = spawn(true).await;
    let body = okta_delivery(vec![okta_event(
        "x-create",
        "user.lifecycle.create",
        1,
        vec![jane()],
    )]);
    for auth in [
        None,
        Some("Bearer nope"),
        Some(&OKTA_AUTH[..OKTA_AUTH.len() - 1]),
    ] {
        let r = app.okta_post(auth, &body).await;
        assert_eq!(r.status, 401, "{auth:?}");
        assert!(r.body["error"].is_string());
        assert!(!r.body.to_string().contains(OKTA_AUTH));
    }
    assert!(app.user(JANE_LOGIN).await.is_none());
    assert!(!app.event_seen("okta", "x-create").await);
    assert_eq!(app.count(ResourceKind::User).await, 0);
}

#[tokio::test]
async fn okta_ignores_unknown_types_and_rejects_malformed_bodies() {
    let app = spawn(true).await;
    app.okta(vec![
        okta_event("i-1", "user.session.start", 1, vec![jane()]),
        okta_event(
            "i-2",
            "group.user_membership.add",
            2,
            vec![jane(), okta_group("00g9", "Unmapped Group")],
        ),
    ])
    .await;
    assert_eq!(app.count(ResourceKind::User).await, 0);
    assert_eq!(app.count(ResourceKind::Group).await, 0);

    let mut bad = okta_event("m-2", "user.lifecycle.create", 2, vec![jane()]);
    bad["published"] = json!("not a time");
    let r = app
        .okta_post(
            Some(OKTA_AUTH),
            &okta_delivery(vec![
                okta_event(
                    "m-1",
                    "user.lifecycle.create",
                    1,
                    vec![okta_user("00u3", "c@example.com")],
                ),
                bad,
            ]),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], json!("data.events[1].published"));
    assert!(
        app.user("c@example.com").await.is_none(),
        "nothing half-applied"
    );
    assert!(!app.event_seen("okta", "m-1").await);
}

// ---------------------------------------------------------------------------
// The generic webhook

fn g_event(id: &str, kind: &str, user: Value, group: Option<&str>) -> Value {
    let mut e =
        json!({"id": id, "type": kind, "occurred_at": "2026-06-01T11:59:00Z", "user": user});
    if let (Some(g), Some(o)) = (group, e.as_object_mut()) {
        o.insert("group".into(), json!(g));
    }
    e
}

fn ann() -> Value {
    json!({"userName": "ann@example.com", "email": "ann@example.com", "externalId": "E1001", "givenName": "Ann", "familyName": "Lee"})
}

#[tokio::test]
async fn generic_signed_events_reach_the_outbox() {
    let app = spawn(true).await;
    let r = app
        .generic(&json!({"events": [
            g_event("g-1", "user.upsert", ann(), None),
            g_event("g-2", "group.member_add", ann(), Some("Developers")),
        ]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"received": 2, "applied": 2, "duplicates": 0, "stale": 0, "skipped": 0})
    );
    let u = app.user("ann@example.com").await.expect("user");
    assert_eq!(u.doc["externalId"], json!("E1001"));
    assert_eq!(u.doc["name"]["givenName"], json!("Ann"));
    app.expect_queued(&u.id).await;
    app.drain().await;
    assert_eq!(app.pending(ORG_B), ["ann@example.com COLLABORATOR"]);

    // A single event (no batch), matched by externalId.
    let r = app
        .generic(&g_event(
            "g-3",
            "user.deactivate",
            json!({"userName": "ann@example.com", "externalId": "E1001"}),
            None,
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!active(&app.user("ann@example.com").await.expect("user")));
    app.drain().await;
    assert!(app.pending(ORG_B).is_empty());

    // The same id again, freshly signed: a duplicate, nothing changes.
    let r = app
        .generic(&g_event(
            "g-2",
            "group.member_add",
            ann(),
            Some("Developers"),
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["duplicates"], json!(1));
    assert_eq!(r.body["applied"], json!(0));

    // upsert with active: true, then remove from the group, then delete.
    let mut again = ann();
    again["active"] = json!(true);
    let later = |mut e: Value, t: &str| {
        e["occurred_at"] = json!(t);
        e
    };
    let r = app
        .generic(&json!({"events": [later(g_event("g-4", "user.upsert", again, None), "2026-06-01T11:59:30Z")]}))
        .await;
    assert_eq!(r.status, 200);
    app.drain().await;
    assert_eq!(app.pending(ORG_B), ["ann@example.com COLLABORATOR"]);
    let r = app
        .generic(&later(
            g_event("g-5", "group.member_remove", ann(), Some("Developers")),
            "2026-06-01T11:59:40Z",
        ))
        .await;
    assert_eq!(r.status, 200);
    assert!(app.member_names("Developers").await.is_empty());
    app.drain().await;
    assert!(app.pending(ORG_B).is_empty());
    let r = app
        .generic(&later(
            g_event("g-6", "user.delete", ann(), None),
            "2026-06-01T11:59:50Z",
        ))
        .await;
    assert_eq!(r.status, 200);
    assert!(app.user("ann@example.com").await.is_none());
    // Ann had no access left to take away: the delete queues nothing.
    app.expect_nothing_pending(&u.id).await;
}

#[tokio::test]
async fn generic_signature_replay_and_errors() {
    let app = spawn(true).await;
    let body = json!({"events": [g_event("s-1", "user.upsert", ann(), None)]}).to_string();

    // Bad signature (another secret), missing, malformed: 401, nothing stored.
    let other = sign(
        b"another-secret-another-secret-another",
        app.clock.now().timestamp(),
        body.as_bytes(),
    );
    for sig in [Some(other), None, Some("v1=abc".to_owned())] {
        let r = app.generic_raw(&body, sig.clone()).await;
        assert_eq!(r.status, 401, "{sig:?}: {}", r.body);
        assert!(!r.body.to_string().contains(SECRET));
    }
    // A body changed after signing.
    let sig = app.sign_now(&body);
    let r = app
        .generic_raw(&body.replace("ann@", "eve@"), Some(sig.clone()))
        .await;
    assert_eq!(r.status, 401);
    assert!(app.user("ann@example.com").await.is_none());
    assert!(app.user("eve@example.com").await.is_none());
    assert!(!app.event_seen("generic", "s-1").await);

    // Stale: signed 5 minutes and 1 second ago.
    let stale = sign(
        SECRET.as_bytes(),
        app.clock.now().timestamp() - 301,
        body.as_bytes(),
    );
    let r = app.generic_raw(&body, Some(stale)).await;
    assert_eq!(r.status, 401);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("replay window")),
        "{}",
        r.body
    );

    // Good, then the same request replayed within the window: applied once.
    let r = app.generic_raw(&body, Some(sig.clone())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["applied"], json!(1));
    let r = app.generic_raw(&body, Some(sig.clone())).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["duplicates"], json!(1));
    // ... and after the window, refused.
    app.clock.advance(Duration::seconds(301));
    let r = app.generic_raw(&body, Some(sig)).await;
    assert_eq!(r.status, 401);

    // Malformed field and unknown type: 400 naming the field.
    let cases = [
        (
            json!({"events": [g_event("s-2", "user.upsert", json!({"userName": "x@example.com", "email": "nope"}), None)]}),
            "events[0].user.email",
        ),
        (
            json!({"events": [g_event("s-3", "user.rename", ann(), None)]}),
            "events[0].type",
        ),
        (g_event("s-4", "group.member_add", ann(), None), "group"),
    ];
    for (body, field) in cases {
        let r = app.generic(&body).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.body["field"], json!(field));
        assert!(
            r.body["error"]
                .as_str()
                .is_some_and(|e| e.starts_with(field)),
            "{}",
            r.body
        );
    }
    let r = app
        .generic_raw("{not json", Some(app.sign_now("{not json")))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn generic_batches_are_all_or_nothing() {
    all_or_nothing(spawn(true).await).await;
}

#[tokio::test]
async fn generic_batches_are_all_or_nothing_on_postgres() {
    if let Some(app) = spawn_pg().await {
        all_or_nothing(app).await;
    }
}

async fn all_or_nothing(app: App) {
    // The 3rd event is malformed: none of the batch is stored.
    let mut third = g_event(
        "h-3",
        "user.upsert",
        json!({"userName": "c@example.com"}),
        None,
    );
    third["occurred_at"] = json!("yesterday");
    let r = app
        .generic(&json!({"events": [
            g_event("h-1", "user.upsert", json!({"userName": "a@example.com"}), None),
            g_event("h-2", "group.member_add", json!({"userName": "b@example.com"}), Some("Snyk Admins")),
            third,
        ]}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], json!("events[2].occurred_at"));
    assert_eq!(app.count(ResourceKind::User).await, 0);
    assert_eq!(app.count(ResourceKind::Group).await, 0);
    assert!(!app.event_seen("generic", "h-1").await);

    // The 3rd event fails while being applied (a rename onto a taken
    // userName): the first two are rolled back too.
    let r = app
        .generic(&g_event(
            "h-0",
            "user.upsert",
            json!({"userName": "taken@example.com"}),
            None,
        ))
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .generic(&json!({"events": [
            g_event("h-4", "user.upsert", json!({"userName": "a@example.com", "externalId": "A"}), None),
            g_event("h-5", "group.member_add", json!({"userName": "a@example.com", "externalId": "A"}), Some("Snyk Admins")),
            g_event("h-6", "user.upsert", json!({"userName": "taken@example.com", "externalId": "A"}), None),
        ]}))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(app.user("a@example.com").await.is_none());
    assert!(app.group("Snyk Admins").await.is_none());
    for id in ["h-4", "h-5", "h-6"] {
        assert!(!app.event_seen("generic", id).await, "{id}");
    }
    let taken = app.user("taken@example.com").await.expect("kept");
    assert_eq!(app.count(ResourceKind::User).await, 1);
    // The first request committed (the user is there); a user in no mapped
    // group queues nothing.
    assert!(app.target(&taken.id, ORG_A).await.is_none());
}

#[tokio::test]
async fn okta_event_ids_are_forgotten_after_the_retention_time() {
    let app = spawn(true).await;
    app.okta(vec![okta_event(
        "r-1",
        "user.lifecycle.create",
        1,
        vec![jane()],
    )])
    .await;
    assert!(app.event_seen("okta", "r-1").await);
    app.clock.advance(Duration::days(6));
    app.okta(vec![okta_event(
        "r-2",
        "user.lifecycle.suspend",
        2,
        vec![jane()],
    )])
    .await;
    assert!(app.event_seen("okta", "r-1").await, "kept for 7 days");
    app.clock.advance(Duration::days(1) + Duration::seconds(1));
    app.okta(vec![okta_event(
        "r-3",
        "user.lifecycle.unsuspend",
        3,
        vec![jane()],
    )])
    .await;
    assert!(!app.event_seen("okta", "r-1").await, "purged after 7 days");
    assert!(app.event_seen("okta", "r-2").await);
    // A late redelivery of the purged id is applied again, but being older
    // than the state it cannot overwrite it.
    app.okta(vec![okta_event(
        "r-1",
        "user.lifecycle.suspend",
        1,
        vec![jane()],
    )])
    .await;
    assert!(active(&app.user(JANE_LOGIN).await.expect("user")));
}
