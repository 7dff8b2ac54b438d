//! Adding one member to a large mapped group queues Snyk work for that member
//! only (not for every member again), and renaming the group queues them all.

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
    let config = parse(Path::new("t.toml"), &text, &Env::new()).expect("config");
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
