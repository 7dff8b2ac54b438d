//! Groups: uniqueness, members that must exist, PUT, and nested groups.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn duplicate_display_name_is_a_uniqueness_conflict() {
    let app = spawn_app().await;
    app.create_group("Snyk Admins", &[]).await;
    let r = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "Snyk Admins"}),
        )
        .await;
    r.expect_error(409, Some("uniqueness"));
    let r = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "snyk admins"}),
        )
        .await;
    r.expect_error(409, Some("uniqueness"));

    // Renaming another group onto it is refused too.
    let other = app.create_group("Other", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch_ops(
            &format!("/Groups/{other}"),
            json!([{"op": "replace", "path": "displayName", "value": "SNYK ADMINS"}]),
        )
        .await;
    r.expect_error(409, Some("uniqueness"));
}

#[tokio::test]
async fn a_member_that_does_not_exist_is_invalid_value() {
    let app = spawn_app().await;
    let missing = guid();
    let r = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "Ghosts", "members": [{"value": missing}]}),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    let r = app.filter("Groups", r#"displayName eq "Ghosts""#, "").await;
    assert_eq!(r.expect(200)["totalResults"], 0, "nothing was created");

    let uid = app.create_user("real", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gid = app.create_group("Real", &[&uid]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch_ops(
            &format!("/Groups/{gid}"),
            json!([{"op": "add", "path": "members", "value": [{"value": missing}]}]),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    assert_eq!(app.member_ids(&gid).await, vec![uid]);

    let r = app
        .patch_ops(
            &format!("/Groups/{gid}"),
            json!([{"op": "add", "path": "members", "value": [{"display": "no value"}]}]),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn a_group_cannot_contain_itself_but_can_contain_another_group() {
    let app = spawn_app().await;
    let inner = app.create_group("Inner", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let outer = app.create_group("Outer", &[&inner]).await;
    assert_eq!(ids_of(&outer["members"]), vec![inner.clone()]);
    let oid = outer["id"].as_str().unwrap();
    let r = app
        .patch_ops(
            &format!("/Groups/{oid}"),
            json!([{"op": "add", "path": "members", "value": [{"value": oid}]}]),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn put_replaces_the_members_and_keeps_the_id() {
    let app = spawn_app().await;
    let a = app.create_user("a", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = app.create_user("b", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let g = app.create_group("Put Group", &[&a]).await;
    let gid = g["id"].as_str().unwrap();
    let r = app
        .put(
            &format!("/Groups/{gid}"),
            &json!({"schemas": [GROUP_SCHEMA], "id": gid, "displayName": "Put Group 2", "members": [{"value": b}]}),
        )
        .await;
    let put = r.expect(200);
    assert_eq!(put["id"], gid);
    assert_eq!(put["displayName"], "Put Group 2");
    assert_eq!(ids_of(&put["members"]), vec![b.clone()]);
    assert_eq!(put["meta"]["created"], g["meta"]["created"]);
    assert_ne!(put["meta"]["version"], g["meta"]["version"]);

    // A PUT without members empties the group.
    let r = app
        .put(
            &format!("/Groups/{gid}"),
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "Put Group 2"}),
        )
        .await;
    assert!(r.expect(200).get("members").is_none());
    assert!(app.member_ids(gid).await.is_empty());
}

#[tokio::test]
async fn a_membership_change_alone_bumps_the_version() {
    let app = spawn_app().await;
    let a = app.create_user("a", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let g = app.create_group("Versioned", &[]).await;
    let gid = g["id"].as_str().unwrap();
    let r = app
        .patch_ops(
            &format!("/Groups/{gid}"),
            json!([{"op": "add", "path": "members", "value": [{"value": a}]}]),
        )
        .await;
    r.expect(204);
    assert_ne!(r.header("etag"), g["meta"]["version"].as_str());
    let now = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(
        r.header("etag"),
        now.expect(200)["meta"]["version"].as_str()
    );
}

#[tokio::test]
async fn members_keep_the_display_and_type_the_client_sent() {
    let app = spawn_app().await;
    let a = app.create_user("display.me", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "Shown", "members": [{"value": a, "display": "Display Me", "type": "User"}]}),
        )
        .await;
    assert_eq!(
        r.expect(201)["members"],
        json!([{"value": a, "display": "Display Me", "type": "User"}])
    );
}

#[tokio::test]
async fn group_filters_on_members_value() {
    let app = spawn_app().await;
    let a = app.create_user("a", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = app.create_user("b", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let g1 = app.create_group("With A", &[&a]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_group("With B", &[&b]).await;
    let r = app
        .filter("Groups", &format!("members[value eq \"{a}\"]"), "")
        .await;
    assert_eq!(r.expect(200)["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], g1.as_str());
    let r = app
        .filter("Groups", &format!("members.value eq \"{b}\""), "")
        .await;
    assert_eq!(r.expect(200)["totalResults"], 1);
}

#[tokio::test]
async fn deleting_a_group_keeps_its_members_and_empties_their_groups() {
    let app = spawn_app().await;
    let a = app.create_user("a", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gid = app.create_group("Gone", &[&a]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.delete(&format!("/Groups/{gid}")).await.status, 204);
    let u = app.get(&format!("/Users/{a}")).await;
    assert!(u.expect(200).get("groups").is_none());
    app.delete(&format!("/Groups/{gid}"))
        .await
        .expect_error(404, None);
}

#[tokio::test]
async fn deleting_a_nested_group_removes_it_from_the_outer_group() {
    let app = spawn_app().await;
    let a = app.create_user("a", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let inner = app.create_group("Inner", &[&a]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let outer = app.create_group("Outer", &[&inner, &a]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.delete(&format!("/Groups/{inner}")).await.status, 204);
    assert_eq!(app.member_ids(&outer).await, vec![a]);
}

#[tokio::test]
async fn ids_are_scoped_to_their_resource_type() {
    let app = spawn_app().await;
    let uid = app.create_user("typed", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gid = app.create_group("Typed", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&format!("/Groups/{uid}"))
        .await
        .expect_error(404, None);
    app.get(&format!("/Users/{gid}"))
        .await
        .expect_error(404, None);
    app.delete(&format!("/Groups/{uid}"))
        .await
        .expect_error(404, None);
    app.get(&format!("/Users/{uid}")).await.expect(200);
}

#[tokio::test]
async fn a_patch_answer_leaves_members_out_when_asked_or_is_204_when_preferred() {
    let app = spawn_app().await;
    let a = app.create_user("lean.a", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = app.create_user("lean.b", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gid = app.create_group("Lean", &[&a]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Groups/{gid}");
    let r = app
        .patch_ops(
            &format!("{path}?excludedAttributes=members"),
            json!([{"op": "add", "path": "members", "value": [{"value": b}]}]),
        )
        .await;
    assert!(r.expect(200).get("members").is_none(), "{:#}", r.body);
    assert_eq!(r.body["displayName"], "Lean");
    assert_eq!(r.header("etag"), r.body["meta"]["version"].as_str());
    let r = app
        .patch_ops(
            &format!("{path}?attributes=displayName"),
            json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]),
        )
        .await;
    assert_eq!(r.expect(200)["displayName"], "Lean");
    assert!(r.body.get("members").is_none());
    let r = app
        .patch_ops(
            &format!("{path}?attributes=members"),
            json!([{"op": "replace", "path": "externalId", "value": "x"}]),
        )
        .await;
    assert_eq!(ids_of(&r.expect(200)["members"]), vec![b.clone()]);

    // Prefer: return=minimal (RFC 7240): 204 with the new ETag, for Groups
    // and Users alike.
    let body = json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "add", "path": "members", "value": [{"value": a}]}]});
    let r = app
        .request(
            reqwest::Method::PATCH,
            &path,
            &[("prefer", "return=minimal")],
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("preference-applied"), Some("return=minimal"));
    let g = app.get(&path).await;
    assert_eq!(r.header("etag"), g.expect(200)["meta"]["version"].as_str());
    assert_eq!(
        app.member_ids(&gid).await,
        sorted(vec![a.clone(), b.clone()])
    );
    let body = json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let r = app
        .request(
            reqwest::Method::PATCH,
            &format!("/Users/{a}"),
            &[("Prefer", "handling=lenient, return=minimal")],
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.get(&format!("/Users/{a}")).await.expect(200)["active"],
        false
    );
}
