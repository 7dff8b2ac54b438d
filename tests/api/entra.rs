//! Microsoft Entra ID: Test Connection, the queries it makes, and both PATCH
//! dialects (the default one and `aadOptscim062020`).

use serde_json::{Value, json};

use crate::helpers::*;

fn entra_user_body(user_name: &str, external_id: &str, work_email: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": work_email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    })
}

async fn create_entra_user(app: &TestApp, user_name: &str) -> String {
    let body = entra_user_body(
        user_name,
        &format!("ext-{user_name}"),
        &format!("{user_name}@contoso.com"),
    );
    app.post("/Users", &body).await.id()
}

#[tokio::test]
async fn test_connection_filter_on_a_random_guid_returns_an_empty_list() {
    let app = spawn_app().await;
    app.create_user("someone@contoso.com", json!({})).await;
    let r = app
        .filter("Users", &format!(r#"userName eq "{}""#, guid()), "")
        .await;
    assert_eq!(
        *r.expect(200),
        json!({"schemas": [LIST_SCHEMA], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
}

#[tokio::test]
async fn entra_create_echoes_the_user_with_the_enterprise_schema_and_ignores_client_meta() {
    let app = spawn_app().await;
    let body = entra_user_body(
        "Test_User_ab6490ee",
        "0a21f0f2-8d2a",
        "Test_User_fd0ea19b@testuser.com",
    );
    let r = app.post("/Users", &body).await;
    let u = r.expect(201);
    assert_eq!(u["userName"], "Test_User_ab6490ee");
    assert_eq!(u["externalId"], "0a21f0f2-8d2a");
    assert_eq!(u["name"]["formatted"], "givenName familyName");
    assert_eq!(u["emails"], body["emails"]);
    assert_eq!(u["meta"]["resourceType"], "User");
    assert!(u["meta"]["created"].is_string());
    assert!(
        u.get("roles").is_none(),
        "an empty roles array is unassigned: {u:#}"
    );
    // No enterprise attributes were sent, so only the core schema is listed.
    assert_eq!(u["schemas"], json!([USER_SCHEMA]));
}

#[tokio::test]
async fn entra_queries_by_external_id_and_work_email() {
    let app = spawn_app().await;
    let id = app
        .post(
            "/Users",
            &entra_user_body("ann", "mailNickname-Ann", "Ann.Work@Contoso.com"),
        )
        .await
        .id();
    app.post(
        "/Users",
        &entra_user_body("bob", "mailNickname-Bob", "bob@contoso.com"),
    )
    .await
    .expect(201);

    let r = app
        .filter("Users", r#"externalId eq "mailNickname-Ann""#, "")
        .await;
    assert_eq!(r.expect(200)["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());

    let r = app.filter("Users", r#"externalId eq "x""#, "").await;
    assert_eq!(r.expect(200)["totalResults"], 0);

    let r = app
        .filter(
            "Users",
            r#"emails[type eq "work" and value eq "ann.work@contoso.com"]"#,
            "",
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());

    let r = app
        .filter(
            "Users",
            r#"emails[type eq "home" and value eq "ann.work@contoso.com"]"#,
            "",
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 0);

    let r = app
        .filter(
            "Users",
            r#"userName eq "ann" and externalId eq "mailNickname-Ann""#,
            "",
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 1);
}

#[tokio::test]
async fn default_dialect_disables_with_a_capitalised_replace_and_a_string_false() {
    let app = spawn_app().await;
    let id = create_entra_user(&app, "disable.me").await;
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(r.expect(200)["active"], json!(false));
    let r = app.get(&format!("/Users/{id}")).await;
    assert_eq!(r.expect(200)["active"], json!(false));
    // Restore.
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
        )
        .await;
    assert_eq!(r.expect(200)["active"], json!(true));
}

#[tokio::test]
async fn default_dialect_adds_a_single_valued_attribute() {
    let app = spawn_app().await;
    let id = create_entra_user(&app, "nick").await;
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "Add", "path": "nickName", "value": "x"}]),
        )
        .await;
    assert_eq!(r.expect(200)["nickName"], "x");
    assert_eq!(
        app.get(&format!("/Users/{id}")).await.expect(200)["nickName"],
        "x"
    );
}

#[tokio::test]
async fn default_dialect_replaces_the_work_email_value_in_place() {
    let app = spawn_app().await;
    let id = create_entra_user(&app, "mover").await;
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@x.com"}]),
        )
        .await;
    assert_eq!(
        r.expect(200)["emails"],
        json!([{"primary": true, "type": "work", "value": "new@x.com"}])
    );
    // The email index follows the change.
    let r = app
        .filter(
            "Users",
            r#"emails[type eq "work" and value eq "new@x.com"]"#,
            "",
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 1);
    let r = app
        .filter("Users", r#"emails.value eq "mover@contoso.com""#, "")
        .await;
    assert_eq!(r.expect(200)["totalResults"], 0);
}

#[tokio::test]
async fn default_dialect_creates_a_work_email_when_the_user_has_none() {
    let app = spawn_app().await;
    let id = app
        .create_user(
            "homeonly",
            json!({"emails": [{"type": "home", "value": "me@home.example"}]}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@x.com"}]),
        )
        .await;
    assert_eq!(
        r.expect(200)["emails"],
        json!([{"type": "home", "value": "me@home.example"}, {"type": "work", "value": "new@x.com"}])
    );

    // A user with no emails at all.
    let id = app.create_user("noemail", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "first@x.com"}]),
        )
        .await;
    assert_eq!(
        r.expect(200)["emails"],
        json!([{"type": "work", "value": "first@x.com"}])
    );
}

#[tokio::test]
async fn default_dialect_sets_employee_number_and_family_name() {
    let app = spawn_app().await;
    let id = create_entra_user(&app, "enterprise").await;
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([
                {"op": "Replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "42"},
                {"op": "Replace", "path": "name.familyName", "value": "Newname"}
            ]),
        )
        .await;
    let u = r.expect(200);
    assert_eq!(u[ENTERPRISE]["employeeNumber"], "42");
    assert_eq!(u["name"]["familyName"], "Newname");
    assert_eq!(u["name"]["givenName"], "givenName");
    assert_eq!(u["schemas"], json!([USER_SCHEMA, ENTERPRISE]));
    let again = app.get(&format!("/Users/{id}")).await;
    assert_eq!(again.expect(200)[ENTERPRISE]["employeeNumber"], "42");
}

#[tokio::test]
async fn default_dialect_updates_user_name_and_external_id() {
    let app = spawn_app().await;
    let id = create_entra_user(&app, "old.name").await;
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([
                {"op": "Replace", "path": "userName", "value": "new.name"},
                {"op": "Replace", "path": "externalId", "value": "new-ext"}
            ]),
        )
        .await;
    assert_eq!(r.expect(200)["userName"], "new.name");
    assert_eq!(r.body["externalId"], "new-ext");
    let r = app.filter("Users", r#"userName eq "new.name""#, "").await;
    assert_eq!(r.expect(200)["totalResults"], 1);
    let r = app.filter("Users", r#"userName eq "old.name""#, "").await;
    assert_eq!(r.expect(200)["totalResults"], 0);
    let r = app.filter("Users", r#"externalId eq "new-ext""#, "").await;
    assert_eq!(r.expect(200)["totalResults"], 1);
}

#[tokio::test]
async fn default_dialect_adds_and_removes_members_by_value_list() {
    // Entra's member PATCHes are answered 204 (what Entra expects).
    let app = spawn_app().await;
    let u1 = create_entra_user(&app, "m1").await;
    let u2 = create_entra_user(&app, "m2").await;
    let gid = app.create_group("Entra Group", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Groups/{gid}");

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "Add", "path": "members", "value": [{"value": u1}, {"value": u2}]}]),
        )
        .await;
    r.expect(204);
    assert_eq!(
        app.member_ids(&gid).await,
        sorted(vec![u1.clone(), u2.clone()])
    );

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "Remove", "path": "members", "value": [{"value": u1}]}]),
        )
        .await;
    r.expect(204);
    assert_eq!(app.member_ids(&gid).await, vec![u2.clone()]);
}

#[tokio::test]
async fn aad_opt_dialect_uses_lowercase_ops_and_real_booleans() {
    let app = spawn_app().await;
    let id = create_entra_user(&app, "opt.user").await;
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(r.expect(200)["active"], json!(false));
}

#[tokio::test]
async fn aad_opt_dialect_applies_a_no_path_replace_with_dotted_and_urn_keys_in_place() {
    let app = spawn_app().await;
    let id = create_entra_user(&app, "dotted").await;
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{
                "op": "replace",
                "value": {
                    "displayName": "Dotted User",
                    "name.givenName": "Given",
                    "name.familyName": "Family",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "1234"
                }
            }]),
        )
        .await;
    let u = r.expect(200).clone();
    assert_eq!(u["displayName"], "Dotted User");
    assert_eq!(u["name"]["givenName"], "Given");
    assert_eq!(u["name"]["familyName"], "Family");
    assert_eq!(
        u["name"]["formatted"], "givenName familyName",
        "other name parts are kept"
    );
    assert_eq!(u[ENTERPRISE], json!({"employeeNumber": "1234"}));
    for key in [
        "name.givenName",
        "name.familyName",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    ] {
        assert!(
            u.get(key).is_none(),
            "{key} must not be stored as a literal key: {u:#}"
        );
    }
    assert_eq!(u["schemas"], json!([USER_SCHEMA, ENTERPRISE]));
    let again = app.get(&format!("/Users/{id}")).await;
    assert_eq!(again.expect(200), &u);
}

#[tokio::test]
async fn aad_opt_dialect_removes_a_member_by_value_filter_without_a_value() {
    let app = spawn_app().await;
    let u1 = create_entra_user(&app, "r1").await;
    let u2 = create_entra_user(&app, "r2").await;
    let gid = app.create_group("Opt Group", &[&u1, &u2]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch_ops(
            &format!("/Groups/{gid}"),
            json!([{"op": "remove", "path": format!("members[value eq \"{u1}\"]")}]),
        )
        .await;
    r.expect(204);
    assert_eq!(app.member_ids(&gid).await, vec![u2]);
}

#[tokio::test]
async fn group_lookup_with_excluded_members_leaves_members_out() {
    let app = spawn_app().await;
    let uid = create_entra_user(&app, "in.group").await;
    let gid = app.create_group("Engineering", &[&uid]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.member_ids(&gid).await, vec![uid]);

    let r = app
        .filter(
            "Groups",
            r#"displayName eq "Engineering""#,
            "&excludedAttributes=members",
        )
        .await;
    let list = r.expect(200);
    assert_eq!(list["totalResults"], 1);
    let g = &list["Resources"][0];
    assert_eq!(g["id"], gid.as_str());
    assert_eq!(g["displayName"], "Engineering");
    assert!(g.get("members").is_none(), "{g:#}");

    // Also on a single GET.
    let r = app
        .get(&format!("/Groups/{gid}?excludedAttributes=members"))
        .await;
    assert!(r.expect(200).get("members").is_none());
    assert_eq!(r.body["displayName"], "Engineering");
}

#[tokio::test]
async fn group_create_accepts_an_extra_microsoft_schema_urn() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/Groups",
            &json!({
                "schemas": [GROUP_SCHEMA, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Group1DisplayName",
                "meta": {"resourceType": "Group"}
            }),
        )
        .await;
    let g = r.expect(201);
    assert_eq!(g["displayName"], "Group1DisplayName");
    assert_eq!(g["externalId"], "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159");
    // The extra URN carries no attributes, so the server lists only the core schema.
    assert_eq!(g["schemas"], json!([GROUP_SCHEMA]));
    assert!(g.get("members").is_none());

    let r = app
        .filter(
            "Groups",
            r#"externalId eq "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159""#,
            "",
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 1);
}

#[tokio::test]
async fn group_create_without_the_core_schema_is_rejected() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/Groups",
            &json!({
                "schemas": ["http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "displayName": "Nope"
            }),
        )
        .await;
    r.expect_error(400, Some("invalidSyntax"));
}

#[tokio::test]
async fn group_rename_by_patch() {
    let app = spawn_app().await;
    let gid = app.create_group("Before", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch_ops(
            &format!("/Groups/{gid}"),
            json!([{"op": "Replace", "path": "displayName", "value": "After"}]),
        )
        .await;
    r.expect(204);
    let r = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(r.expect(200)["displayName"], "After");
    let r = app.filter("Groups", r#"displayName eq "after""#, "").await;
    assert_eq!(r.expect(200)["totalResults"], 1);
    let r = app.filter("Groups", r#"displayName eq "Before""#, "").await;
    assert_eq!(r.expect(200)["totalResults"], 0);
}

#[tokio::test]
async fn deleting_a_user_removes_it_from_its_groups() {
    let app = spawn_app().await;
    let u1 = create_entra_user(&app, "goner").await;
    let u2 = create_entra_user(&app, "stayer").await;
    let gid = app.create_group("Team", &[&u1, &u2]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = app.delete(&format!("/Users/{u1}")).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.body, Value::Null);
    app.get(&format!("/Users/{u1}"))
        .await
        .expect_error(404, None);
    let r = app.filter("Users", r#"userName eq "goner""#, "").await;
    assert_eq!(r.expect(200)["totalResults"], 0);
    assert_eq!(app.member_ids(&gid).await, vec![u2]);
    // A second delete is a 404.
    app.delete(&format!("/Users/{u1}"))
        .await
        .expect_error(404, None);
}

#[tokio::test]
async fn default_dialect_adds_work_email_and_address_by_value_path() {
    let app = spawn_app().await;
    let id = app.create_user("fresh", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "fresh@x.com"},
                {"op": "Add", "path": "addresses[type eq \"work\"].formatted", "value": "1 Road"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"}
            ]),
        )
        .await;
    let u = r.expect(200);
    assert_eq!(
        u["emails"],
        json!([{"type": "work", "value": "fresh@x.com"}])
    );
    assert_eq!(
        u["addresses"],
        json!([{"type": "work", "formatted": "1 Road"}])
    );
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555"}])
    );
}

#[tokio::test]
async fn default_dialect_string_booleans_inside_complex_values_become_booleans() {
    let app = spawn_app().await;
    let id = app.create_user("roled", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "Add", "path": "roles", "value": [
                {"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}
            ]}]),
        )
        .await;
    assert_eq!(
        r.expect(200)["roles"],
        json!([{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}])
    );
}

#[tokio::test]
async fn filters_encoded_with_plus_signs_are_understood() {
    let app = spawn_app().await;
    app.create_user("plus.user", json!({})).await;
    let r = app.get("/Users?filter=userName+eq+%22plus.user%22").await;
    assert_eq!(r.expect(200)["totalResults"], 1);
}

#[tokio::test]
async fn manager_set_by_sub_attribute_and_removed() {
    let app = spawn_app().await;
    let boss = app.create_user("boss", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = app.create_user("report", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Users/{id}");
    let r = app
        .patch_ops(&path, json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager.value"), "value": boss}]))
        .await;
    assert_eq!(r.expect(200)[ENTERPRISE]["manager"], json!({"value": boss}));
    let r = app
        .patch_ops(
            &path,
            json!([{"op": "Remove", "path": format!("{ENTERPRISE}:manager")}]),
        )
        .await;
    assert!(r.expect(200).get(ENTERPRISE).is_none(), "{:#}", r.body);
    assert_eq!(r.body["schemas"], json!([USER_SCHEMA]));
}

#[tokio::test]
async fn default_dialect_sets_the_manager_from_a_bare_id_string() {
    let app = spawn_app().await;
    let boss = app.create_user("boss", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = app.create_user("report", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": boss}]),
        )
        .await;
    assert_eq!(r.expect(200)[ENTERPRISE]["manager"]["value"], boss.as_str());
}
