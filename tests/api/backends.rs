//! The most important flows on both backends: SQLite always, PostgreSQL when
//! `TEST_POSTGRES_URL` is set.

use serde_json::{Value, json};

use crate::helpers::*;

async fn okta_create_and_deactivate(app: &TestApp) {
    let r = app
        .filter(
            "Users",
            r#"userName eq "okta.flow@example.com""#,
            "&startIndex=1&count=100",
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 0);
    let r = app
        .post(
            "/Users",
            &json!({
                "schemas": [USER_SCHEMA],
                "userName": "okta.flow@example.com",
                "name": {"givenName": "Okta", "familyName": "Flow"},
                "emails": [{"primary": true, "value": "okta.flow@example.com", "type": "work"}],
                "displayName": "Okta Flow",
                "locale": "en-US",
                "externalId": "00u1",
                "groups": [],
                "password": "secret-pass",
                "active": true
            }),
        )
        .await;
    r.expect(201);
    assert!(r.body.get("password").is_none());
    let id = r.id();
    app.post(
        "/Users",
        &json!({"schemas": [USER_SCHEMA], "userName": "OKTA.FLOW@example.com"}),
    )
    .await
    .expect_error(409, Some("uniqueness"));
    let r = app
        .filter("Users", r#"userName eq "Okta.Flow@Example.com""#, "")
        .await;
    assert_eq!(r.expect(200)["Resources"][0]["id"], id.as_str());

    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(r.expect(200)["active"], false);
    let r = app.get(&format!("/Users/{id}")).await;
    assert_eq!(r.expect(200)["active"], false);
    assert_eq!(r.header("etag"), r.body["meta"]["version"].as_str());
}

async fn entra_member_add_and_remove(app: &TestApp) {
    let u1 = app.create_user("entra1", json!({"externalId": "E1"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let u2 = app.create_user("entra2", json!({"externalId": "E2"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .filter(
            "Groups",
            r#"displayName eq "Snyk Admins""#,
            "&excludedAttributes=members",
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 0);
    let gid = app.create_group("Snyk Admins", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Groups/{gid}");

    app.patch_ops(
        &path,
        json!([{"op": "Add", "path": "members", "value": [{"value": u1}, {"value": u2}]}]),
    )
    .await
    .expect(204);
    assert_eq!(
        app.member_ids(&gid).await,
        sorted(vec![u1.clone(), u2.clone()])
    );
    let r = app.get(&format!("/Users/{u1}")).await;
    assert_eq!(r.expect(200)["groups"][0]["value"], gid.as_str());

    app.patch_ops(
        &path,
        json!([{"op": "Remove", "path": "members", "value": [{"value": u1}]}]),
    )
    .await
    .expect(204);
    assert_eq!(app.member_ids(&gid).await, vec![u2.clone()]);
    app.patch_ops(
        &path,
        json!([{"op": "remove", "path": format!("members[value eq \"{u2}\"]")}]),
    )
    .await
    .expect(204);
    assert!(app.member_ids(&gid).await.is_empty());

    let r = app
        .filter(
            "Groups",
            r#"displayName eq "snyk admins""#,
            "&excludedAttributes=members",
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 1);
    assert_eq!(app.delete(&path).await.status, 204);
    assert_eq!(app.delete(&format!("/Users/{u1}")).await.status, 204);
}

/// Parallel PATCHes that each add one member to the same group, without
/// If-Match: every one succeeds and every member lands.
async fn concurrent_member_adds_all_land(app: &TestApp) {
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            app.create_user(&format!("parallel{i}"), json!({})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let gid = app.create_group("Parallel", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Groups/{gid}");
    let patches = ids.iter().map(|id| {
        app.patch_ops(
            &path,
            json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
        )
    });
    let results = futures_util::future::join_all(patches).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![204; 8],
        "{:#?}",
        results.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert_eq!(app.member_ids(&gid).await, sorted(ids));
}

/// Parallel creates of one userName: exactly one wins, the others get 409.
async fn concurrent_creates_of_one_user_name(app: &TestApp) {
    let body = json!({"schemas": [USER_SCHEMA], "userName": "racer@example.com"});
    let results = futures_util::future::join_all((0..6).map(|_| app.post("/Users", &body))).await;
    let mut statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409]);
    for r in results.iter().filter(|r| r.status == 409) {
        assert_eq!(r.body["scimType"], "uniqueness");
    }
    assert_eq!(app.get("/Users").await.expect(200)["totalResults"], 1);
}

/// Adding and removing members of a group of 1,000 one at a time, as Okta
/// and Entra do: only the named members change, the answer leaves members
/// out when asked to (`excludedAttributes=members`) or is 204 (`Prefer:
/// return=minimal`), versions move only when something changed, and errors
/// change nothing.
async fn member_patch_on_a_large_group(app: &TestApp) {
    let mut users = Vec::new();
    for batch in 0..64 {
        let bodies: Vec<Value> = (0..17)
            .map(|i| json!({"schemas": [USER_SCHEMA], "userName": format!("large{}@example.com", batch * 17 + i)}))
            .collect();
        let created =
            futures_util::future::join_all(bodies.iter().map(|b| app.post("/Users", b))).await;
        users.extend(created.iter().map(|r| r.id()));
    }
    let (members, outside) = users.split_at(1000);
    let gid = app.create_group("Large", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Groups/{gid}");
    let lean = format!("{path}?excludedAttributes=members");
    let values =
        |ids: &[String]| -> Vec<Value> { ids.iter().map(|id| json!({"value": id})).collect() };
    // 600 named members in one PATCH (more than one lookup statement).
    let r = app
        .patch_ops(
            &lean,
            json!([{"op": "add", "path": "members", "value": values(&members[..600])}]),
        )
        .await;
    assert!(r.expect(200).get("members").is_none(), "{:?}", r.body);
    assert_eq!(r.body["displayName"], "Large");
    assert_eq!(r.header("etag"), r.body["meta"]["version"].as_str());
    // Overlapping adds are idempotent.
    app.patch_ops(
        &lean,
        json!([{"op": "Add", "path": "members", "value": values(&members[500..])}]),
    )
    .await
    .expect(200);
    assert_eq!(app.member_ids(&gid).await.len(), 1000);

    let version = |r: &Resp| r.body["meta"]["version"].as_str().unwrap().to_owned();
    let before = version(&app.get(&lean).await);
    let newcomer = &outside[0];
    let add =
        json!([{"op": "add", "path": "members", "value": [{"value": newcomer, "display": "new"}]}]);
    let r = app.patch_ops(&lean, add.clone()).await;
    assert!(r.expect(200).get("members").is_none());
    let added = version(&r);
    assert_ne!(added, before);
    // The same add again, and the removal of a non-member: no change.
    assert_eq!(version(&app.patch_ops(&lean, add).await), added);
    let r = app
        .patch_ops(
            &lean,
            json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", outside[1])}]),
        )
        .await;
    assert_eq!(version(&r), added);
    let r = app.get(&path).await;
    assert_eq!(r.expect(200)["members"].as_array().unwrap().len(), 1001);
    let shown = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["value"] == newcomer.as_str());
    assert_eq!(shown.unwrap()["display"], "new");

    // Okta's and Entra's removals.
    app.patch_ops(
        &lean,
        json!([{"op": "remove", "path": format!("members[value eq \"{newcomer}\"]")}]),
    )
    .await
    .expect(200);
    app.patch_ops(
        &lean,
        json!([{"op": "Remove", "path": "members", "value": [{"value": members[0]}]}]),
    )
    .await
    .expect(200);
    let now = app.member_ids(&gid).await;
    assert_eq!(now.len(), 999);
    assert!(!now.contains(newcomer) && !now.contains(&members[0]));

    // 204 when the client prefers it and asks for no attributes.
    let body = json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "add", "path": "members", "value": [{"value": members[0]}]}]});
    let r = app
        .request(
            reqwest::Method::PATCH,
            &path,
            &[("prefer", "return=minimal")],
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.body, Value::Null);
    let etag = r.header("etag").unwrap().to_owned();
    assert_eq!(version(&app.get(&lean).await), etag);
    assert_eq!(r.header("preference-applied"), Some("return=minimal"));
    // A group's PATCH answers 204 by default too (Entra expects it, Okta
    // takes it), without claiming a preference nobody sent.
    let r = app.patch(&path, &body).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert!(r.header("preference-applied").is_none());
    let r = app
        .request(
            reqwest::Method::PATCH,
            &format!("{path}?attributes=displayName"),
            &[("prefer", "return=minimal")],
            Some(&body),
        )
        .await;
    assert_eq!(r.expect(200)["displayName"], "Large");
    assert!(r.body.get("members").is_none());

    // Errors change nothing.
    let r = app
        .patch_ops(&lean, json!([{"op": "add", "path": "members", "value": [{"value": outside[2]}, {"value": guid()}]}]))
        .await;
    r.expect_error(400, Some("invalidValue"));
    let stale = app
        .request(
            reqwest::Method::PATCH,
            &lean,
            &[("if-match", before.as_str())],
            Some(&json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "add", "path": "members", "value": [{"value": outside[2]}]}]})),
        )
        .await;
    stale.expect_error(412, None);
    assert_eq!(version(&app.get(&lean).await), etag);
    // The whole answer when the client asks for it.
    let r = app
        .patch_ops_full(
            &path,
            json!([{"op": "add", "path": "members", "value": [{"value": outside[2]}]}]),
        )
        .await;
    assert_eq!(r.expect(200)["members"].as_array().unwrap().len(), 1001);
}

macro_rules! on_both_backends {
    ($($flow:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $flow() {
                    let app = crate::helpers::spawn_app().await;
                    super::$flow(&app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $flow() {
                    let Some(app) = crate::helpers::spawn_app_pg().await else {
                        eprintln!("TEST_POSTGRES_URL is not set: skipped");
                        return;
                    };
                    super::$flow(&app).await;
                }
            )*
        }
    };
}

on_both_backends!(
    okta_create_and_deactivate,
    entra_member_add_and_remove,
    concurrent_creates_of_one_user_name,
    member_patch_on_a_large_group
);

#[tokio::test]
async fn sqlite_concurrent_member_adds_all_land() {
    let app = spawn_app().await;
    concurrent_member_adds_all_land(&app).await;
}

#[tokio::test]
async fn postgres_concurrent_member_adds_all_land() {
    let Some(app) = spawn_app_pg().await else {
        return;
    };
    concurrent_member_adds_all_land(&app).await;
}
