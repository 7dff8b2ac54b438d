//! What a SCIM write queues (issue 11, item 1): adding one member to a large
//! mapped group queues Snyk work for that member only (not for every member
//! again), and renaming the group queues them all; a user write queues only
//! the orgs where the user's desired access before and after differ (plus
//! where the bridge holds access), so a user in no mapped group queues
//! nothing; a group write queues its joined and left members for that
//! group's orgs only.

use std::path::Path;

use serde_json::{Value, json};
use snyk_scim_bridge::config::{Env, parse};
use snyk_scim_bridge::http::{AppOptions, Application};
use snyk_scim_bridge::store::Store;
use snyk_scim_bridge::sync::Engine;

const TOKEN: &str = "group-patch-scope-token-0123456789";

async fn pending(store: &Store) -> i64 {
    let s = snyk_scim_bridge::sync::engine::status(store)
        .await
        .expect("status");
    s.targets.get("pending").copied().unwrap_or(0)
}

async fn drain(engine: &Engine) {
    engine.drain(|_| {}).await.expect("drain");
}

async fn send(http: &reqwest::Client, method: reqwest::Method, url: &str, body: Value) -> Value {
    let r = http
        .request(method, url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

/// The real application from this configuration (worker off, no settle
/// delay: the tests drain it by hand), serving on port 0: its engine, its
/// store and the SCIM base URL.
async fn start(text: &str) -> (Engine, Store, String) {
    let config = parse(Path::new("t.toml"), text, &Env::new()).expect("config");
    let app = Application::build_with(
        config,
        AppOptions {
            start_worker: false,
            settle: std::time::Duration::ZERO,
            ..AppOptions::default()
        },
    )
    .await
    .expect("app");
    let (engine, store) = (app.engine().clone(), app.store().clone());
    let base = format!("http://127.0.0.1:{}/scim/v2", app.port());
    tokio::spawn(app.run_until_stopped());
    (engine, store, base)
}

#[tokio::test]
async fn a_member_added_to_a_mapped_group_queues_only_that_member() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "sqlite://{}"
[scim]
tokens = ["{TOKEN}"]
[snyk]
dry_run = true
[[mappings]]
group = "Snyk Admins"
org_id = "6b7a7c5e-1111-4c4c-9d9d-000000000001"
role = "ADMIN"
"#,
        dir.path().join("bridge.db").display()
    );
    let (engine, store, base) = start(&text).await;
    let http = reqwest::Client::new();

    let mut ids = Vec::new();
    for i in 0..5 {
        let u = send(
            &http,
            reqwest::Method::POST,
            &format!("{base}/Users"),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "userName": format!("u{i}@example.com")}),
        )
        .await;
        ids.push(u["id"].as_str().expect("id").to_owned());
    }
    let members: Vec<Value> = ids[..4].iter().map(|id| json!({"value": id})).collect();
    let g = send(
        &http,
        reqwest::Method::POST,
        &format!("{base}/Groups"),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
               "displayName": "Snyk Admins", "members": members}),
    )
    .await;
    let group = format!("{base}/Groups/{}", g["id"].as_str().expect("id"));
    drain(&engine).await;
    assert_eq!(pending(&store).await, 0);

    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    send(
        &http,
        reqwest::Method::PATCH,
        &group,
        patch(json!([{"op": "add", "path": "members", "value": [{"value": ids[4]}]}])),
    )
    .await;
    assert_eq!(pending(&store).await, 1, "only the new member is queued");
    drain(&engine).await;

    send(
        &http,
        reqwest::Method::PATCH,
        &group,
        patch(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])}])),
    )
    .await;
    assert_eq!(
        pending(&store).await,
        1,
        "only the removed member is queued"
    );
    drain(&engine).await;

    send(
        &http,
        reqwest::Method::PATCH,
        &group,
        patch(json!([{"op": "replace", "path": "displayName", "value": "Former Admins"}])),
    )
    .await;
    assert_eq!(pending(&store).await, 4, "a rename affects every member");
}

const WIDE: usize = 50;

fn org(i: usize) -> String {
    format!("6b7a7c5e-1111-4c4c-9d9d-{i:012}")
}

#[tokio::test]
async fn a_write_queues_only_the_orgs_it_may_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}\"\n[scim]\ntokens = [\"{TOKEN}\"]\n[snyk]\ndry_run = true\n\
         [[mappings]]\ngroup = \"Narrow\"\norg_id = \"{}\"\nrole = \"COLLABORATOR\"\n",
        dir.path().join("bridge.db").display(),
        org(999)
    );
    for i in 0..WIDE {
        text.push_str(&format!(
            "[[mappings]]\ngroup = \"Wide\"\norg_id = \"{}\"\nrole = \"COLLABORATOR\"\n",
            org(i)
        ));
    }
    let (engine, store, base) = start(&text).await;
    let http = reqwest::Client::new();
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});

    let mut users = Vec::new();
    for name in ["ann", "bob", "cid"] {
        let u = send(
            &http,
            reqwest::Method::POST,
            &format!("{base}/Users"),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "userName": format!("{name}@example.com")}),
        )
        .await;
        users.push(format!("{base}/Users/{}", u["id"].as_str().expect("id")));
    }
    let ids: Vec<String> = users
        .iter()
        .map(|u| u.rsplit('/').next().expect("id").to_owned())
        .collect();
    assert_eq!(
        pending(&store).await,
        0,
        "users in no mapped group queue nothing"
    );
    send(
        &http,
        reqwest::Method::PATCH,
        &users[2],
        patch(json!([{"op": "replace", "path": "displayName", "value": "Cid"}])),
    )
    .await;
    assert_eq!(pending(&store).await, 0, "nor does a name change");

    let narrow = send(
        &http,
        reqwest::Method::POST,
        &format!("{base}/Groups"),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
               "displayName": "Narrow", "members": [{"value": ids[0]}]}),
    )
    .await;
    assert_eq!(pending(&store).await, 1, "one member, one org");
    drain(&engine).await;

    send(
        &http,
        reqwest::Method::PATCH,
        &users[0],
        patch(json!([{"op": "replace", "path": "displayName", "value": "Ann"}])),
    )
    .await;
    assert_eq!(pending(&store).await, 0, "a name change changes no access");
    send(
        &http,
        reqwest::Method::PATCH,
        &users[0],
        patch(json!([{"op": "replace", "path": "userName", "value": "ann.new@example.com"}])),
    )
    .await;
    assert_eq!(
        pending(&store).await,
        1,
        "a new email: the one org she wants"
    );
    drain(&engine).await;
    send(
        &http,
        reqwest::Method::PATCH,
        &users[0],
        patch(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .await;
    assert_eq!(
        pending(&store).await,
        1,
        "deactivation: the one org she had"
    );
    drain(&engine).await;

    let wide = send(
        &http,
        reqwest::Method::POST,
        &format!("{base}/Groups"),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
               "displayName": "Wide", "members": [{"value": ids[1]}]}),
    )
    .await;
    assert_eq!(pending(&store).await, WIDE as i64, "the wide group's orgs");
    drain(&engine).await;
    // Adding a member to the narrow group touches that member and that org only.
    let narrow = format!("{base}/Groups/{}", narrow["id"].as_str().expect("id"));
    send(
        &http,
        reqwest::Method::PATCH,
        &narrow,
        patch(json!([{"op": "add", "path": "members", "value": [{"value": ids[1]}]}])),
    )
    .await;
    assert_eq!(pending(&store).await, 1, "the narrow group's one org");
    drain(&engine).await;
    let wide = format!("{base}/Groups/{}", wide["id"].as_str().expect("id"));
    send(
        &http,
        reqwest::Method::PATCH,
        &wide,
        patch(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[1])}])),
    )
    .await;
    assert_eq!(
        pending(&store).await,
        WIDE as i64,
        "a leaver: the group's orgs"
    );
    drain(&engine).await;
    send(&http, reqwest::Method::DELETE, &users[2], Value::Null).await;
    assert_eq!(
        pending(&store).await,
        0,
        "deleting a user in no group queues nothing"
    );
}
