//! Okta: the SCIM 2.0 SPEC test, the create / update / deactivate flows, and
//! Push Groups.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn okta_user_body(user_name: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

#[tokio::test]
async fn okta_spec_test_passes_all_twelve_steps_in_order() {
    let app = spawn_app().await;
    // Seed one user, as the SPEC test requires.
    app.post("/Users", &okta_user_body("seed.user@okta.local"))
        .await
        .expect(201);

    // 1. GET /Users?count=1&startIndex=1
    let r = app.get("/Users?count=1&startIndex=1").await;
    let list = r.expect(200).clone();
    assert_eq!(list["schemas"], json!([LIST_SCHEMA]));
    assert!(
        list["itemsPerPage"].is_u64()
            && list["startIndex"].is_u64()
            && list["totalResults"].is_u64()
    );
    assert_eq!(list["itemsPerPage"], 1);
    assert_eq!(list["startIndex"], 1);
    assert_eq!(list["totalResults"], 1);
    let first = &list["Resources"][0];
    for field in ["id", "userName"] {
        assert!(
            first[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}"
        );
    }
    assert_eq!(first["name"]["familyName"], "User");
    assert_eq!(first["name"]["givenName"], "Test");
    assert_eq!(first["active"], true);
    assert_eq!(first["emails"][0]["value"], "seed.user@okta.local");
    let seed_id = first["id"].as_str().unwrap().to_owned();

    // 2. GET /Users/{id}
    let r = app.get(&format!("/Users/{seed_id}")).await;
    let one = r.expect(200);
    assert_eq!(one["id"], seed_id.as_str());
    assert_eq!(one["userName"], first["userName"]);
    assert_eq!(one["name"], first["name"]);
    assert_eq!(one["active"], true);
    assert_eq!(one["emails"][0]["value"], first["emails"][0]["value"]);

    // 3. filter on an invalid user email
    let r = app
        .filter(
            "Users",
            r#"userName eq "invalid-user-email@example.com""#,
            "",
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 0);
    assert_eq!(r.body["schemas"], json!([LIST_SCHEMA]));

    // 4. GET a user id that does not exist
    let r = app.get(&format!("/Users/{}", guid())).await;
    r.expect_error(404, None);

    // 5. filter on a random email
    let random = format!("{}@example.com", guid());
    let r = app
        .filter("Users", &format!(r#"userName eq "{random}""#), "")
        .await;
    assert_eq!(r.expect(200)["totalResults"], 0);

    // 6. POST /Users with Content-Type: application/json
    let body = okta_user_body("Realistic.Person@okta.local");
    let r = app
        .request(
            Method::POST,
            "/Users",
            &[("content-type", "application/json")],
            Some(&body),
        )
        .await;
    let created = r.expect(201).clone();
    assert_eq!(created["active"], true);
    assert!(created["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(created["userName"], "Realistic.Person@okta.local");
    assert_eq!(created["name"]["givenName"], "Test");
    assert_eq!(created["name"]["familyName"], "User");
    assert!(
        created["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(USER_SCHEMA))
    );
    let new_id = created["id"].as_str().unwrap().to_owned();

    // 7. GET the new user
    let r = app.get(&format!("/Users/{new_id}")).await;
    let got = r.expect(200);
    assert_eq!(got["id"], new_id.as_str());
    assert_eq!(got["userName"], created["userName"]);
    assert_eq!(got["name"], created["name"]);
    assert_eq!(got["emails"], created["emails"]);
    assert_eq!(got["active"], true);

    // 8. POST the same userName again
    let r = app
        .request(
            Method::POST,
            "/Users",
            &[("content-type", "application/json")],
            Some(&body),
        )
        .await;
    r.expect_error(409, Some("uniqueness"));

    // 9. filter on the upper-cased userName
    let r = app
        .filter("Users", r#"userName eq "REALISTIC.PERSON@OKTA.LOCAL""#, "")
        .await;
    assert_eq!(r.expect(200)["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], new_id.as_str());

    // 10. GET /Groups, quickly
    let started = Instant::now();
    let r = app.get("/Groups").await;
    assert!(started.elapsed() < Duration::from_millis(600));
    assert!(r.expect(200)["Resources"].is_array());

    // 11. a bad Authorization header
    let r = app
        .raw(
            Method::GET,
            "/Users",
            &[("authorization", "non-token")],
            None,
        )
        .await;
    r.expect_error(401, None);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer"))
    );

    // 12. GET a user id that does not exist
    let r = app.get("/Users/00919288221112222").await;
    r.expect_error(404, None);
}

#[tokio::test]
async fn okta_create_flow_filters_then_creates_and_never_returns_the_password() {
    let app = spawn_app().await;
    let user_name = "isaac.brock@okta.local";
    let r = app
        .filter(
            "Users",
            &format!(r#"userName eq "{user_name}""#),
            "&startIndex=1&count=100",
        )
        .await;
    let empty = r.expect(200);
    assert_eq!(
        *empty,
        json!({"schemas": [LIST_SCHEMA], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );

    let r = app.post("/Users", &okta_user_body(user_name)).await;
    let created = r.expect(201).clone();
    let id = r.id();
    let location = r.header("location").expect("Location header");
    assert_eq!(location, format!("{}/Users/{id}", app.base));
    assert_eq!(created["meta"]["location"], location);
    assert_eq!(r.header("etag"), created["meta"]["version"].as_str());
    assert!(
        created["meta"]["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("W/\""))
    );
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["meta"]["created"], created["meta"]["lastModified"]);
    assert_eq!(created["externalId"], "00ujl29u0le5T6Aj10h7");
    assert_eq!(created["displayName"], "Test User");
    assert_eq!(created["locale"], "en-US");
    assert_eq!(
        created["emails"],
        json!([{"primary": true, "value": user_name, "type": "work"}])
    );
    assert!(
        created.get("groups").is_none(),
        "no group membership yet: {created:#}"
    );

    let get = app.get(&format!("/Users/{id}")).await;
    let list = app
        .filter(
            "Users",
            &format!(r#"userName eq "{user_name}""#),
            "&startIndex=1&count=100",
        )
        .await;
    assert_eq!(list.expect(200)["totalResults"], 1);
    for body in [
        &created,
        get.expect(200),
        &list.body["Resources"][0],
        &list.body,
    ] {
        let text = body.to_string();
        assert!(!text.contains("password"), "{text}");
        assert!(!text.contains("1mz050nq"), "{text}");
    }
}

#[tokio::test]
async fn okta_update_by_put_keeps_id_and_created_and_changes_the_version() {
    let app = spawn_app().await;
    let created = app
        .post("/Users", &okta_user_body("put.me@okta.local"))
        .await
        .expect(201)
        .clone();
    let id = created["id"].as_str().unwrap();

    let mut full = app.get(&format!("/Users/{id}")).await.expect(200).clone();
    full["name"]["givenName"] = json!("Changed");
    full["password"] = json!("another-secret");
    let r = app.put(&format!("/Users/{id}"), &full).await;
    let updated = r.expect(200);
    assert_eq!(updated["id"], id);
    assert_eq!(updated["name"]["givenName"], "Changed");
    assert_eq!(updated["name"]["familyName"], "User");
    assert_eq!(updated["meta"]["created"], created["meta"]["created"]);
    assert_ne!(updated["meta"]["version"], created["meta"]["version"]);
    assert_eq!(r.header("etag"), updated["meta"]["version"].as_str());
    assert!(!updated.to_string().contains("another-secret"));

    let again = app.get(&format!("/Users/{id}")).await;
    assert_eq!(again.expect(200)["name"]["givenName"], "Changed");
}

#[tokio::test]
async fn okta_deactivates_with_a_no_path_replace_and_reactivates() {
    let app = spawn_app().await;
    let id = app
        .post("/Users", &okta_user_body("leaver@okta.local"))
        .await
        .id();

    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(r.expect(200)["active"], false);
    assert_eq!(r.body["userName"], "leaver@okta.local");
    assert_eq!(
        app.get(&format!("/Users/{id}")).await.expect(200)["active"],
        false
    );

    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": true}}]),
        )
        .await;
    assert_eq!(r.expect(200)["active"], true);
    assert_eq!(
        app.get(&format!("/Users/{id}")).await.expect(200)["active"],
        true
    );
}

#[tokio::test]
async fn okta_push_groups_create_add_remove_rename_replace_and_delete() {
    let app = spawn_app().await;
    let alice = app
        .post("/Users", &okta_user_body("alice@okta.local"))
        .await
        .id();
    let bob = app
        .post("/Users", &okta_user_body("bob@okta.local"))
        .await
        .id();

    let r = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "Snyk Admins", "members": []}),
        )
        .await;
    let group = r.expect(201).clone();
    let gid = r.id();
    assert_eq!(group["displayName"], "Snyk Admins");
    assert!(ids_of(&group["members"]).is_empty());
    assert_eq!(
        r.header("location"),
        Some(format!("{}/Groups/{gid}", app.base).as_str())
    );
    let path = format!("/Groups/{gid}");

    let add_alice = json!([{"op": "add", "path": "members", "value": [{"value": alice, "display": "alice@okta.local"}]}]);
    // Answered 204 (Okta takes 200 or 204; a body would list every member).
    let r = app.patch_ops(&path, add_alice.clone()).await;
    r.expect(204);
    let g = app.get(&path).await;
    assert_eq!(ids_of(&g.expect(200)["members"]), vec![alice.clone()]);
    assert_eq!(g.body["members"][0]["display"], "alice@okta.local");

    // The same add again is idempotent.
    let r = app.patch_ops(&path, add_alice).await;
    r.expect(204);
    assert_eq!(app.member_ids(&gid).await, vec![alice.clone()]);

    let r = app
        .patch_ops(&path, json!([{"op": "add", "path": "members", "value": [{"value": bob, "display": "bob@okta.local"}]}]))
        .await;
    r.expect(204);
    assert_eq!(
        app.member_ids(&gid).await,
        sorted(vec![alice.clone(), bob.clone()])
    );

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "remove", "path": format!("members[value eq \"{alice}\"]")}]),
        )
        .await;
    r.expect(204);
    assert_eq!(app.member_ids(&gid).await, vec![bob.clone()]);

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "replace", "value": {"id": gid, "displayName": "New"}}]),
        )
        .await;
    r.expect(204);
    assert_eq!(app.get(&path).await.expect(200)["displayName"], "New");
    assert_eq!(app.member_ids(&gid).await, vec![bob.clone()]);

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "replace", "path": "members", "value": [{"value": alice, "display": "alice@okta.local"}]}]),
        )
        .await;
    r.expect(204);
    assert_eq!(app.member_ids(&gid).await, vec![alice.clone()]);

    let r = app.delete(&path).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.body, Value::Null);
    app.get(&path).await.expect_error(404, None);
    // The users themselves stay.
    app.get(&format!("/Users/{alice}")).await.expect(200);
}

#[tokio::test]
async fn a_users_groups_attribute_reflects_membership_and_is_read_only() {
    let app = spawn_app().await;
    let uid = app
        .post("/Users", &okta_user_body("member@okta.local"))
        .await
        .id();
    let group = app.create_group("Snyk Admins", &[&uid]).await;
    let gid = group["id"].as_str().unwrap();

    let user = app.get(&format!("/Users/{uid}")).await.expect(200).clone();
    let groups = user["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["value"], gid);
    assert_eq!(groups[0]["display"], "Snyk Admins");
    assert_eq!(groups[0]["$ref"], format!("{}/Groups/{gid}", app.base));

    // A rename shows through.
    app.patch_ops(
        &format!("/Groups/{gid}"),
        json!([{"op": "replace", "path": "displayName", "value": "Renamed"}]),
    )
    .await
    .expect(204);
    let user = app.get(&format!("/Users/{uid}")).await;
    assert_eq!(user.expect(200)["groups"][0]["display"], "Renamed");

    let r = app
        .patch_ops(
            &format!("/Users/{uid}"),
            json!([{"op": "add", "path": "groups", "value": [{"value": gid}]}]),
        )
        .await;
    r.expect_error(400, Some("mutability"));
    let r = app
        .patch_ops(
            &format!("/Users/{uid}"),
            json!([{"op": "remove", "path": "groups"}]),
        )
        .await;
    r.expect_error(400, Some("mutability"));

    // Leaving the group empties the attribute.
    app.patch_ops(
        &format!("/Groups/{gid}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{uid}\"]")}]),
    )
    .await
    .expect(204);
    let user = app.get(&format!("/Users/{uid}")).await;
    assert!(user.expect(200).get("groups").is_none(), "{:#}", user.body);
}
