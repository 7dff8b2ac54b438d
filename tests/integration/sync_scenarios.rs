//! Scenario tests of the sync engine against the stateful fake Snyk: every
//! lifecycle path of the sync semantics, on SQLite and (with
//! TEST_POSTGRES_URL) on PostgreSQL. The app runs for real on port 0; the
//! worker is driven step by step (`Engine::drain`) under a manual clock.

use crate::fake_snyk;
use crate::pg;

use std::sync::Arc;

use fake_snyk::FakeSnyk;
use serde_json::{Value, json};
use snyk_scim_bridge::clock::{Clock, ManualClock};
use snyk_scim_bridge::store::{Finish, Store};
use snyk_scim_bridge::sync::Engine;

const ORG_A: &str = "6b7a7c5e-1111-4c4c-9d9d-00000000000a";
const ORG_B: &str = "6b7a7c5e-1111-4c4c-9d9d-00000000000b";
const GROUP: &str = "9f0e0d0c-2222-4b4b-8a8a-000000000001";
const SNYK_TOKEN: &str = "snyk-personal-token-for-tests";
const SCIM_TOKEN: &str = "scim-token-for-sync-scenarios-0001";

struct Harness {
    fake: FakeSnyk,
    engine: Engine,
    store: Store,
    clock: Arc<ManualClock>,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _pg: Option<pg::PgDb>,
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Options {
    dry_run: bool,
    group_id: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dry_run: false,
            group_id: true,
        }
    }
}

/// The database URL, and the guard that drops a PostgreSQL database.
async fn database_url(
    backend: Backend,
    dir: &tempfile::TempDir,
) -> Option<(String, Option<pg::PgDb>)> {
    match backend {
        Backend::Sqlite => Some((format!("sqlite://{}/bridge.db", dir.path().display()), None)),
        Backend::Postgres => {
            let db = pg::PgDb::create("sync").await?;
            Some((db.url.clone(), Some(db)))
        }
    }
}

async fn harness(backend: Backend, opts: Options) -> Option<Harness> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, pg_guard) = database_url(backend, &dir).await?;
    let fake = FakeSnyk::start(SNYK_TOKEN).await;
    fake.add_org(ORG_A);
    fake.add_org(ORG_B);
    fake.add_group(GROUP);
    let group_line = if opts.group_id {
        format!("group_id = \"{GROUP}\"")
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
{group_line}
dry_run = {dry}
requests_per_minute = 60000
max_concurrent_requests = 4
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
org_id = "{ORG_A}"
role = "COLLABORATOR"
[[mappings]]
group = "Developers"
org_id = "{ORG_B}"
role_public_id = "custom-dev-role"
"#,
        api = fake.base_url,
        dry = opts.dry_run,
    );
    let app = crate::app::start("sync.toml", &text, "2026-06-01T12:00:00Z").await;
    let base = format!("{}/scim/v2", app.root);
    let (engine, store, clock) = (app.engine, app.store, app.clock);
    Some(Harness {
        fake,
        engine,
        store,
        clock,
        base,
        http: reqwest::Client::new(),
        _dir: dir,
        _pg: pg_guard,
    })
}

impl Harness {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(SCIM_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn create_user(&self, email: &str) -> String {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/Users",
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": email,
                    "name": {"givenName": "Test", "familyName": "User"},
                    "emails": [{"value": email, "type": "work", "primary": true}],
                    "active": true
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    async fn create_group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/Groups",
                Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    async fn patch(&self, path: &str, ops: Value) {
        let (status, body) = self
            .send(
                reqwest::Method::PATCH,
                path,
                Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})),
            )
            .await;
        // Users answer 200 with the resource, groups 204.
        assert!(status == 200 || status == 204, "{status} {body}");
    }

    async fn add_member(&self, group: &str, user: &str) {
        self.patch(
            &format!("/Groups/{group}"),
            json!([{"op": "add", "path": "members", "value": [{"value": user}]}]),
        )
        .await;
    }

    async fn remove_member(&self, group: &str, user: &str) {
        self.patch(
            &format!("/Groups/{group}"),
            json!([{"op": "remove", "path": format!("members[value eq \"{user}\"]")}]),
        )
        .await;
    }

    async fn drain(&self) {
        self.engine.drain(|_| {}).await.expect("drain");
    }

    /// The write calls Snyk received, as "METHOD /path body".
    fn writes(&self) -> Vec<String> {
        self.fake
            .write_calls()
            .into_iter()
            .map(|c| {
                let q = if c.query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", c.query.replace("%40", "@"))
                };
                match c.body {
                    Some(b) => format!("{} {}{} {}", c.method, c.path, q, b),
                    None => format!("{} {}{}", c.method, c.path, q),
                }
            })
            .collect()
    }

    async fn target(&self, user: &str, org: &str) -> snyk_scim_bridge::store::TargetRow {
        let mut tx = self.store.read().await.expect("tx");
        let t = tx
            .get_target(user, org)
            .await
            .expect("read")
            .expect("target exists");
        tx.commit().await.expect("commit");
        t
    }

    async fn access(&self, user: &str, org: &str) -> Option<snyk_scim_bridge::store::AccessRow> {
        let mut tx = self.store.read().await.expect("tx");
        let a = tx.get_access(user, org).await.expect("read");
        tx.commit().await.expect("commit");
        a
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await; })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await; })*
        }
    };
}

on_both_backends!(
    grant_provisions_a_new_user,
    take_away_while_pending_deletes_the_provision,
    role_change_while_pending_deletes_then_provisions,
    email_change_while_pending_moves_the_provision,
    existing_user_is_added_through_the_group,
    existing_org_member_is_never_touched,
    existing_user_without_group_id_fails_with_a_clear_message,
    first_login_is_adopted_and_member_endpoints_take_over,
    drift_is_reported_and_put_back_by_sync,
    flapping_collapses_to_one_call,
    dry_run_records_the_exact_calls_and_sends_none,
    server_errors_retry_with_backoff_then_dead_letter,
    rate_limit_pauses_every_call,
    other_client_errors_fail_with_snyks_message,
    deleted_user_loses_access,
    mapping_removed_from_config_is_planned_at_start,
    a_user_without_a_usable_email_is_shown_as_failed,
);

async fn a_user_without_a_usable_email_is_shown_as_failed(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    // No emails, and a userName that is not an address: Snyk cannot know them.
    let (status, body) = h
        .send(
            reqwest::Method::POST,
            "/Users",
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": "no-address", "active": true}),
            ),
        )
        .await;
    assert_eq!(status, 201, "stored: {body}");
    let id = body["id"].as_str().expect("id").to_owned();
    h.create_group("Snyk Admins", &[&id]).await;
    h.drain().await;
    assert!(h.writes().is_empty(), "nothing is sent: {:?}", h.writes());
    let t = h.target(&id, ORG_A).await;
    assert_eq!(t.status.as_str(), "failed");
    assert!(
        t.last_error
            .as_deref()
            .unwrap_or("")
            .contains("no email Snyk can use"),
        "{t:?}"
    );
    let status = snyk_scim_bridge::sync::engine::status(&h.store)
        .await
        .expect("status");
    assert!(status.failures.iter().any(|f| f.user_id == id));
}

async fn grant_provisions_a_new_user(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    let ann = h.create_user("ann@example.com").await;
    h.create_group("Snyk Admins", &[&ann]).await;
    h.drain().await;
    assert_eq!(
        h.fake.pending(ORG_A),
        vec![("ann@example.com".to_owned(), "ADMIN".to_owned())]
    );
    assert_eq!(
        h.writes(),
        vec![format!(
            r#"POST /org/{ORG_A}/provision {{"email":"ann@example.com","role":"ADMIN"}}"#
        )]
    );
    let a = h.access(&ann, ORG_A).await.expect("applied access");
    assert_eq!(
        (a.state.as_str(), a.role.to_string().as_str()),
        ("pending", "ADMIN")
    );
    assert_eq!(h.target(&ann, ORG_A).await.status.as_str(), "idle");
    // Nothing more to do: a second drain sends nothing.
    h.drain().await;
    assert_eq!(h.writes().len(), 1);
}

async fn take_away_while_pending_deletes_the_provision(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    let ann = h.create_user("ann@example.com").await;
    let g = h.create_group("Snyk Admins", &[&ann]).await;
    h.drain().await;
    h.remove_member(&g, &ann).await;
    h.drain().await;
    assert!(h.fake.pending(ORG_A).is_empty());
    assert_eq!(
        h.writes().last().cloned(),
        Some(format!(
            "DELETE /org/{ORG_A}/provision?email=ann@example.com"
        ))
    );
    assert!(h.access(&ann, ORG_A).await.is_none());
}

async fn role_change_while_pending_deletes_then_provisions(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    let ann = h.create_user("ann@example.com").await;
    let admins = h.create_group("Snyk Admins", &[&ann]).await;
    let devs = h.create_group("Developers", &[]).await;
    h.drain().await;
    h.fake.clear_calls();
    h.remove_member(&admins, &ann).await;
    h.add_member(&devs, &ann).await;
    h.drain().await;
    let w = h.writes();
    let org_a: Vec<&String> = w.iter().filter(|c| c.contains(ORG_A)).collect();
    assert_eq!(
        org_a,
        vec![
            &format!("DELETE /org/{ORG_A}/provision?email=ann@example.com"),
            &format!(
                r#"POST /org/{ORG_A}/provision {{"email":"ann@example.com","role":"COLLABORATOR"}}"#
            ),
        ]
    );
    assert!(w.contains(&format!(
        r#"POST /org/{ORG_B}/provision {{"email":"ann@example.com","rolePublicId":"custom-dev-role"}}"#
    )));
    assert_eq!(
        h.fake.pending(ORG_A),
        vec![("ann@example.com".to_owned(), "COLLABORATOR".to_owned())]
    );
}

async fn email_change_while_pending_moves_the_provision(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    let ann = h.create_user("ann@example.com").await;
    h.create_group("Snyk Admins", &[&ann]).await;
    h.drain().await;
    h.fake.clear_calls();
    h.patch(
        &format!("/Users/{ann}"),
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ann.new@example.com"}]),
    )
    .await;
    h.drain().await;
    assert_eq!(
        h.writes(),
        vec![
            format!("DELETE /org/{ORG_A}/provision?email=ann@example.com"),
            format!(
                r#"POST /org/{ORG_A}/provision {{"email":"ann.new@example.com","role":"ADMIN"}}"#
            ),
        ]
    );
    assert_eq!(
        h.fake.pending(ORG_A),
        vec![("ann.new@example.com".to_owned(), "ADMIN".to_owned())]
    );
}

async fn existing_user_is_added_through_the_group(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    // The org's own admin: the bridge never removes an org's last admin.
    h.fake
        .add_org_member(ORG_A, "snyk-owner", "owner@example.com", "admin");
    h.fake
        .add_existing_user(GROUP, "snyk-user-1", "bob@example.com");
    let bob = h.create_user("bob@example.com").await;
    let g = h.create_group("Snyk Admins", &[&bob]).await;
    h.drain().await;
    let others = |m: &Vec<(String, String, String)>| {
        m.iter()
            .filter(|(id, _, _)| id != "snyk-owner")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        others(&h.fake.members(ORG_A)),
        vec![(
            "snyk-user-1".to_owned(),
            "bob@example.com".to_owned(),
            "admin".to_owned()
        )]
    );
    let a = h.access(&bob, ORG_A).await.expect("access");
    assert_eq!(
        (a.state.as_str(), a.snyk_user_id.as_deref()),
        ("member", Some("snyk-user-1"))
    );
    // The bridge granted it, so it takes it away: with the member endpoint.
    h.remove_member(&g, &bob).await;
    h.drain().await;
    assert!(others(&h.fake.members(ORG_A)).is_empty());
    assert_eq!(
        h.writes().last().cloned(),
        Some(format!("DELETE /org/{ORG_A}/members/snyk-user-1"))
    );
}

async fn existing_org_member_is_never_touched(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    h.fake
        .add_existing_user(GROUP, "snyk-user-2", "cy@example.com");
    h.fake
        .add_org_member(ORG_A, "snyk-user-2", "cy@example.com", "collaborator");
    let cy = h.create_user("cy@example.com").await;
    let g = h.create_group("Snyk Admins", &[&cy]).await;
    h.drain().await;
    let a = h.access(&cy, ORG_A).await.expect("access");
    assert_eq!(a.state.as_str(), "external");
    h.remove_member(&g, &cy).await;
    h.patch(
        &format!("/Users/{cy}"),
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .await;
    h.drain().await;
    // Access the bridge did not grant is never taken away nor changed.
    assert_eq!(
        h.fake.members(ORG_A),
        vec![(
            "snyk-user-2".to_owned(),
            "cy@example.com".to_owned(),
            "collaborator".to_owned()
        )]
    );
    assert!(
        !h.writes()
            .iter()
            .any(|w| w.contains("/members/snyk-user-2")),
        "{:?}",
        h.writes()
    );
}

async fn existing_user_without_group_id_fails_with_a_clear_message(b: Backend) {
    let Some(h) = harness(
        b,
        Options {
            group_id: false,
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    h.fake
        .add_existing_user(GROUP, "snyk-user-3", "dee@example.com");
    let dee = h.create_user("dee@example.com").await;
    h.create_group("Snyk Admins", &[&dee]).await;
    h.drain().await;
    let t = h.target(&dee, ORG_A).await;
    assert_eq!(t.status.as_str(), "failed");
    assert!(
        t.last_error
            .as_deref()
            .unwrap_or("")
            .contains("snyk.group_id"),
        "{t:?}"
    );
    let status = snyk_scim_bridge::sync::engine::status(&h.store)
        .await
        .expect("status");
    assert_eq!(status.targets.get("failed"), Some(&1));
}

async fn first_login_is_adopted_and_member_endpoints_take_over(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    // The org's own admin: the bridge never removes or lowers an org's last admin.
    h.fake
        .add_org_member(ORG_A, "snyk-owner", "owner@example.com", "admin");
    let eve = h.create_user("eve@example.com").await;
    let admins = h.create_group("Snyk Admins", &[&eve]).await;
    let devs = h.create_group("Developers", &[]).await;
    h.drain().await;
    let uid = h
        .fake
        .simulate_first_login(ORG_A, "eve@example.com")
        .expect("login");
    let report = h.engine.reconcile(false).await.expect("reconcile");
    assert_eq!(report.adopted, 1);
    let a = h.access(&eve, ORG_A).await.expect("access");
    assert_eq!(
        (a.state.as_str(), a.snyk_user_id.clone()),
        ("member", Some(uid.clone()))
    );
    h.drain().await;
    h.fake.clear_calls();
    // Role change after login: the member endpoint.
    h.remove_member(&admins, &eve).await;
    h.add_member(&devs, &eve).await;
    h.drain().await;
    assert!(
        h.writes().contains(&format!(
            r#"PUT /org/{ORG_A}/members/{uid} {{"role":"collaborator"}}"#
        )),
        "{:?}",
        h.writes()
    );
    let owner = (
        "snyk-owner".to_owned(),
        "owner@example.com".to_owned(),
        "admin".to_owned(),
    );
    assert_eq!(
        h.fake.members(ORG_A),
        vec![
            owner.clone(),
            (
                uid.clone(),
                "eve@example.com".to_owned(),
                "collaborator".to_owned()
            )
        ]
    );
    // Leaver after login: the member is removed.
    h.patch(
        &format!("/Users/{eve}"),
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .await;
    h.drain().await;
    assert!(
        h.writes()
            .contains(&format!("DELETE /org/{ORG_A}/members/{uid}"))
    );
    assert_eq!(h.fake.members(ORG_A), vec![owner]);
}

async fn drift_is_reported_and_put_back_by_sync(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    let fay = h.create_user("fay@example.com").await;
    h.create_group("Snyk Admins", &[&fay]).await;
    h.drain().await;
    let uid = h
        .fake
        .simulate_first_login(ORG_A, "fay@example.com")
        .expect("login");
    h.engine.reconcile(false).await.expect("reconcile");
    h.drain().await;
    h.fake.set_member_role(ORG_A, &uid, "collaborator");
    h.fake.clear_calls();
    // The periodic reconciliation reports drift and changes nothing.
    let r = h.engine.reconcile(false).await.expect("reconcile");
    assert_eq!(r.drift, 1);
    h.drain().await;
    assert!(h.writes().is_empty(), "{:?}", h.writes());
    let status = snyk_scim_bridge::sync::engine::status(&h.store)
        .await
        .expect("status");
    assert_eq!(status.drift.len(), 1);
    assert_eq!(
        (status.drift[0].2.as_str(), status.drift[0].3.as_str()),
        ("ADMIN", "COLLABORATOR")
    );
    // `sync` repairs it.
    let r = h.engine.reconcile(true).await.expect("reconcile");
    assert_eq!(r.drift, 1);
    h.drain().await;
    assert_eq!(
        h.writes(),
        vec![format!(
            r#"PUT /org/{ORG_A}/members/{uid} {{"role":"admin"}}"#
        )]
    );
    assert_eq!(h.fake.members(ORG_A)[0].2, "admin");
}

async fn flapping_collapses_to_one_call(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    let gus = h.create_user("gus@example.com").await;
    let g = h.create_group("Snyk Admins", &[]).await;
    for _ in 0..3 {
        h.add_member(&g, &gus).await;
        h.remove_member(&g, &gus).await;
    }
    h.add_member(&g, &gus).await;
    h.drain().await;
    assert_eq!(
        h.writes(),
        vec![format!(
            r#"POST /org/{ORG_A}/provision {{"email":"gus@example.com","role":"ADMIN"}}"#
        )]
    );
}

async fn dry_run_records_the_exact_calls_and_sends_none(b: Backend) {
    let Some(h) = harness(
        b,
        Options {
            dry_run: true,
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    let hal = h.create_user("hal@example.com").await;
    h.create_group("Developers", &[&hal]).await;
    h.drain().await;
    assert!(h.fake.calls().is_empty(), "dry run must send nothing");
    let mut tx = h.store.read().await.expect("tx");
    let calls = tx.calls(Some(&hal), 100).await.expect("calls");
    tx.commit().await.expect("commit");
    let mut shown: Vec<String> = calls
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {}",
                c.outcome,
                c.method,
                c.path,
                c.body.clone().unwrap_or_default()
            )
        })
        .collect();
    shown.sort(); // the two orgs' targets are processed concurrently
    assert_eq!(
        shown,
        vec![
            format!(
                r#"dry_run POST /org/{ORG_A}/provision {{"email":"hal@example.com","role":"COLLABORATOR"}}"#
            ),
            format!(
                r#"dry_run POST /org/{ORG_B}/provision {{"email":"hal@example.com","rolePublicId":"custom-dev-role"}}"#
            ),
        ]
    );
    assert!(calls.iter().all(|c| c.dry_run));
    assert!(
        h.access(&hal, ORG_A).await.is_none(),
        "dry run applies nothing"
    );
}

async fn server_errors_retry_with_backoff_then_dead_letter(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    let ivy = h.create_user("ivy@example.com").await;
    h.fake.fail_next(1, 503);
    h.create_group("Snyk Admins", &[&ivy]).await;
    h.drain().await;
    let t = h.target(&ivy, ORG_A).await;
    assert_eq!(t.status.as_str(), "pending");
    assert!(
        t.next_attempt_at > h.clock.now().timestamp_millis(),
        "backoff schedules the retry later"
    );
    assert!(h.fake.pending(ORG_A).is_empty());
    // Not due yet: nothing is sent.
    h.drain().await;
    assert_eq!(h.fake.write_calls().len(), 1);
    h.clock.advance(chrono::Duration::seconds(10));
    h.drain().await;
    assert_eq!(h.fake.pending(ORG_A).len(), 1);
    assert_eq!(h.target(&ivy, ORG_A).await.status.as_str(), "idle");

    // A target that keeps failing goes to the dead-letter state after retry_max (24 h).
    let jay = h.create_user("jay@example.com").await;
    h.fake.fail_next(1000, 502);
    let devs = h.create_group("Developers", &[]).await;
    h.add_member(&devs, &jay).await;
    for _ in 0..40 {
        h.drain().await;
        h.clock.advance(chrono::Duration::minutes(45));
    }
    let t = h.target(&jay, ORG_A).await;
    assert_eq!(t.status.as_str(), "dead", "{t:?}");
    h.fake.fail_next(0, 502);
}

async fn rate_limit_pauses_every_call(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    let kim = h.create_user("kim@example.com").await;
    h.fake.fail_next(1, 429);
    h.create_group("Snyk Admins", &[&kim]).await;
    let finish = h
        .engine
        .step()
        .await
        .expect("step")
        .expect("a target was due");
    assert!(matches!(finish, Finish::Defer { .. }), "{finish:?}");
    let t = h.target(&kim, ORG_A).await;
    assert_eq!(
        (t.status.as_str(), t.attempts),
        ("pending", 0),
        "a 429 is not a failed attempt"
    );
    assert!(t.next_attempt_at > h.clock.now().timestamp_millis());
    let mut tx = h.store.read().await.expect("tx");
    let calls = tx.calls(Some(&kim), 10).await.expect("calls");
    tx.commit().await.expect("commit");
    assert_eq!(
        calls.last().map(|c| c.outcome.as_str()),
        Some("rate_limited")
    );
}

async fn other_client_errors_fail_with_snyks_message(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    let lou = h.create_user("lou@example.com").await;
    h.fake.fail_next(1, 403);
    h.create_group("Snyk Admins", &[&lou]).await;
    h.drain().await;
    let t = h.target(&lou, ORG_A).await;
    assert_eq!(t.status.as_str(), "failed");
    assert!(
        t.last_error.as_deref().unwrap_or("").starts_with("403"),
        "{t:?}"
    );
    assert!(
        t.last_error_ref.is_some(),
        "Snyk's x-error-reference is kept"
    );
    // Never retried blindly.
    h.clock.advance(chrono::Duration::hours(1));
    h.drain().await;
    assert_eq!(h.fake.write_calls().len(), 1);
    // The next change to the user re-arms it.
    h.patch(
        &format!("/Users/{lou}"),
        json!([{"op": "replace", "path": "displayName", "value": "Lou"}]),
    )
    .await;
    h.drain().await;
    assert_eq!(h.fake.pending(ORG_A).len(), 1);
}

async fn deleted_user_loses_access(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    let max = h.create_user("max@example.com").await;
    h.create_group("Snyk Admins", &[&max]).await;
    h.drain().await;
    let (status, _) = h
        .send(reqwest::Method::DELETE, &format!("/Users/{max}"), None)
        .await;
    assert_eq!(status, 204);
    h.drain().await;
    assert!(h.fake.pending(ORG_A).is_empty());
    assert!(h.access(&max, ORG_A).await.is_none());
}

async fn mapping_removed_from_config_is_planned_at_start(b: Backend) {
    let Some(h) = harness(b, Options::default()).await else {
        return;
    };
    let ned = h.create_user("ned@example.com").await;
    h.create_group("Developers", &[&ned]).await;
    h.drain().await;
    assert_eq!(h.fake.pending(ORG_B).len(), 1);
    // A new engine over the same store with the ORG_B mapping removed.
    let mut settings = h.engine.settings().clone();
    settings.mappings.retain(|m| m.org_id.as_str() != ORG_B);
    let client = snyk_scim_bridge::snyk::SnykClient::new(
        &h.fake.base_url,
        Some(secrecy::SecretString::from(SNYK_TOKEN.to_owned())),
        std::time::Duration::from_secs(5),
    )
    .expect("client");
    let engine = Engine::with_parts(
        h.store.clone(),
        client,
        Arc::new(snyk_scim_bridge::sync::pacer::Pacer::new(
            60_000,
            4,
            std::time::Duration::from_secs(60),
        )),
        h.clock.clone(),
        settings,
    );
    assert!(
        engine
            .enqueue_if_mappings_changed()
            .await
            .expect("enqueue")
            .is_some()
    );
    assert!(
        engine
            .enqueue_if_mappings_changed()
            .await
            .expect("enqueue")
            .is_none(),
        "only when changed"
    );
    engine.drain(|_| {}).await.expect("drain");
    assert!(h.fake.pending(ORG_B).is_empty());
    assert_eq!(h.fake.pending(ORG_A).len(), 1, "org A untouched");
}
