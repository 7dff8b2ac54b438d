//! Users: the whole core schema, the enterprise extension, unknown extensions,
//! PUT semantics and the PATCH errors of RFC 7644.

use serde_json::{Value, json};

use crate::helpers::*;

fn full_core_user() -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": "bjensen@example.com",
        "externalId": "701984",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III"
        },
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "profileUrl": "https://login.example.com/bjensen",
        "title": "Tour Guide",
        "userType": "Employee",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true, "display": "Work"},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [
            {"value": "555-555-5555", "type": "work"},
            {"value": "555-555-4444", "type": "mobile"}
        ],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "photos": [{"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}],
        "addresses": [{
            "type": "work",
            "streetAddress": "100 Universal City Plaza",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "USA",
            "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
            "primary": true
        }],
        "entitlements": [{"value": "admin-console", "type": "access"}],
        "roles": [{"value": "tour-guide", "display": "Tour Guide", "primary": true}],
        "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjEL"}]
    })
}

const CORE_ATTRIBUTES: [&str; 20] = [
    "userName",
    "externalId",
    "name",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "active",
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "entitlements",
    "roles",
    "x509Certificates",
];

#[tokio::test]
async fn the_whole_core_schema_round_trips() {
    let app = spawn_app().await;
    let sent = full_core_user();
    let r = app.post("/Users", &sent).await;
    let created = r.expect(201).clone();
    let got = app
        .get(&format!("/Users/{}", r.id()))
        .await
        .expect(200)
        .clone();
    for body in [&created, &got] {
        for attr in CORE_ATTRIBUTES {
            assert_eq!(body[attr], sent[attr], "{attr}");
        }
        assert_eq!(body["schemas"], json!([USER_SCHEMA]));
    }
    assert_eq!(created, got);
}

#[tokio::test]
async fn the_enterprise_extension_round_trips_and_is_listed_in_schemas() {
    let app = spawn_app().await;
    let manager = app.create_user("boss", json!({})).await;
    let manager_id = manager["id"].as_str().unwrap();
    let ext = json!({
        "employeeNumber": "701984",
        "costCenter": "4130",
        "organization": "Universal Studios",
        "division": "Theme Park",
        "department": "Tour Operations",
        "manager": {"value": manager_id}
    });
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "worker", ENTERPRISE: ext}),
        )
        .await;
    let u = r.expect(201).clone();
    assert_eq!(u[ENTERPRISE], ext);
    assert_eq!(u["schemas"], json!([USER_SCHEMA, ENTERPRISE]));
    let got = app.get(&format!("/Users/{}", r.id())).await;
    assert_eq!(got.expect(200)[ENTERPRISE], ext);

    let r = app
        .filter(
            "Users",
            &format!("{ENTERPRISE}:manager.value eq \"{manager_id}\""),
            "",
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 1);
    let r = app
        .filter(
            "Users",
            &format!("{ENTERPRISE}:employeeNumber eq \"701984\""),
            "",
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 1);
}

#[tokio::test]
async fn an_unknown_extension_is_kept_returned_and_listed() {
    let app = spawn_app().await;
    let urn = "urn:example:params:custom:1.0:User";
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA, urn], "userName": "custom", urn: {"badge": "7"}}),
        )
        .await;
    let u = r.expect(201).clone();
    assert_eq!(u[urn], json!({"badge": "7"}));
    assert_eq!(u["schemas"], json!([USER_SCHEMA, urn]));
    let got = app.get(&format!("/Users/{}", r.id())).await;
    assert_eq!(got.expect(200)[urn], json!({"badge": "7"}));
    assert_eq!(got.body["schemas"], json!([USER_SCHEMA, urn]));
}

#[tokio::test]
async fn unknown_core_attributes_are_dropped() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "x", "favouriteColour": "blue"}),
        )
        .await;
    assert!(r.expect(201).get("favouriteColour").is_none());
}

#[tokio::test]
async fn create_without_user_name_is_invalid_value() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "displayName": "No Name"}),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn put_keeps_the_id_and_ignores_read_only_attributes() {
    let app = spawn_app().await;
    let created = app
        .create_user("putter", json!({"nickName": "old", "title": "Boss"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let r = app
        .put(
            &format!("/Users/{id}"),
            &json!({
                "schemas": [USER_SCHEMA],
                "id": id,
                "userName": "putter",
                "nickName": "new",
                "meta": {"created": "2001-01-01T00:00:00Z", "version": "W/\"999\"", "resourceType": "Group"},
                "groups": [{"value": guid(), "display": "Fake"}]
            }),
        )
        .await;
    let u = r.expect(200).clone();
    assert_eq!(u["id"], id);
    assert_eq!(u["nickName"], "new");
    assert!(
        u.get("title").is_none(),
        "PUT replaces: attributes left out are cleared"
    );
    assert!(u.get("groups").is_none(), "groups is read-only: {u:#}");
    assert_eq!(u["meta"]["created"], created["meta"]["created"]);
    assert_eq!(u["meta"]["resourceType"], "User");
    assert_ne!(u["meta"]["version"], "W/\"999\"");
    assert_eq!(r.header("etag"), u["meta"]["version"].as_str());

    // Without id in the body, the URL decides.
    let r = app
        .put(
            &format!("/Users/{id}"),
            &json!({"schemas": [USER_SCHEMA], "userName": "putter"}),
        )
        .await;
    assert_eq!(r.expect(200)["id"], id);
}

#[tokio::test]
async fn put_with_a_different_id_in_the_body_is_a_mutability_error() {
    let app = spawn_app().await;
    let id = app.create_user("fixed", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .put(
            &format!("/Users/{id}"),
            &json!({"schemas": [USER_SCHEMA], "id": guid(), "userName": "fixed", "nickName": "changed"}),
        )
        .await;
    r.expect_error(400, Some("mutability"));
    assert!(
        app.get(&format!("/Users/{id}"))
            .await
            .expect(200)
            .get("nickName")
            .is_none()
    );
}

#[tokio::test]
async fn put_on_a_missing_user_is_404() {
    let app = spawn_app().await;
    let r = app
        .put(
            &format!("/Users/{}", guid()),
            &json!({"schemas": [USER_SCHEMA], "userName": "ghost"}),
        )
        .await;
    r.expect_error(404, None);
}

#[tokio::test]
async fn patch_add_replace_and_remove_with_value_filter_paths() {
    let app = spawn_app().await;
    let id = app
        .create_user(
            "filtered",
            json!({
                "emails": [
                    {"value": "w@x.com", "type": "work", "primary": true},
                    {"value": "h@x.com", "type": "home"}
                ],
                "phoneNumbers": [
                    {"value": "111", "type": "work"},
                    {"value": "222", "type": "mobile"}
                ]
            }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Users/{id}");

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "333"}]),
        )
        .await;
    assert_eq!(
        r.expect(200)["phoneNumbers"],
        json!([{"value": "111", "type": "work"}, {"value": "333", "type": "mobile"}])
    );

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h2@x.com", "type": "home"}}]),
        )
        .await;
    assert_eq!(
        r.expect(200)["emails"],
        json!([{"value": "w@x.com", "type": "work", "primary": true}, {"value": "h2@x.com", "type": "home"}])
    );

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "add", "path": "emails[type eq \"home\"]", "value": {"display": "Home"}}]),
        )
        .await;
    assert_eq!(
        r.expect(200)["emails"][1],
        json!({"value": "h2@x.com", "type": "home", "display": "Home"})
    );

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
        )
        .await;
    assert_eq!(
        r.expect(200)["emails"],
        json!([{"value": "w@x.com", "type": "work", "primary": true}])
    );

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "add", "path": "emails", "value": [{"value": "new@x.com", "type": "other"}]}]),
        )
        .await;
    assert_eq!(r.expect(200)["emails"].as_array().unwrap().len(), 2);

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "remove", "path": "phoneNumbers[type eq \"work\"].value"}]),
        )
        .await;
    assert_eq!(
        r.expect(200)["phoneNumbers"],
        json!([{"type": "work"}, {"value": "333", "type": "mobile"}])
    );

    let r = app
        .patch_ops(&path, json!([{"op": "remove", "path": "phoneNumbers"}]))
        .await;
    assert!(r.expect(200).get("phoneNumbers").is_none());
}

#[tokio::test]
async fn patch_applies_all_operations_or_none() {
    let app = spawn_app().await;
    let id = app
        .create_user("atomic", json!({"nickName": "before"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch_ops(
            &format!("/Users/{id}"),
            json!([
                {"op": "replace", "path": "nickName", "value": "after"},
                {"op": "replace", "path": "active", "value": "maybe"}
            ]),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    assert_eq!(
        app.get(&format!("/Users/{id}")).await.expect(200)["nickName"],
        "before"
    );
}

#[tokio::test]
async fn patch_errors_carry_the_rfc_scim_types() {
    let app = spawn_app().await;
    let id = app
        .create_user(
            "errors",
            json!({"emails": [{"value": "a@x.com", "type": "work"}]}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Users/{id}");

    let r = app.patch_ops(&path, json!([{"op": "remove"}])).await;
    r.expect_error(400, Some("noTarget"));

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "replace", "path": "nonexistent", "value": "x"}]),
        )
        .await;
    r.expect_error(400, Some("invalidPath"));

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
        )
        .await;
    r.expect_error(400, Some("invalidPath"));

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "replace", "path": "name.nosuch", "value": "x"}]),
        )
        .await;
    r.expect_error(400, Some("invalidPath"));

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "replace", "path": "active", "value": 1}]),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));

    let r = app
        .patch_ops(&path, json!([{"op": "replace", "path": "userName"}]))
        .await;
    r.expect_error(400, Some("invalidValue"));

    let r = app
        .patch_ops(&path, json!([{"op": "remove", "path": "userName"}]))
        .await;
    r.expect_error(400, Some("invalidValue"));

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "jump", "path": "nickName", "value": "x"}]),
        )
        .await;
    r.expect_error(400, Some("invalidSyntax"));

    let r = app.patch(&path, &json!({"schemas": [PATCH_SCHEMA]})).await;
    r.expect_error(400, Some("invalidSyntax"));

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "replace", "path": "id", "value": "new-id"}]),
        )
        .await;
    r.expect_error(400, Some("mutability"));

    let r = app
        .patch_ops(
            &path,
            json!([{"op": "replace", "path": "meta.created", "value": "2001-01-01T00:00:00Z"}]),
        )
        .await;
    assert_eq!(r.status, 400, "{:#}", r.body);

    let r = app
        .patch_ops(
            &format!("/Users/{}", guid()),
            json!([{"op": "replace", "path": "nickName", "value": "x"}]),
        )
        .await;
    r.expect_error(404, None);
}

#[tokio::test]
async fn a_wrong_value_type_on_create_is_invalid_value() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "typed", "active": "maybe"}),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "typed", "emails": "not-an-object"}),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn a_bad_filter_is_invalid_filter() {
    let app = spawn_app().await;
    for f in [
        r#"userName eq"#,
        r#"userName zz "a""#,
        r#"(userName eq "a""#,
        r#"userName eq "a" and"#,
    ] {
        let r = app.filter("Users", f, "").await;
        r.expect_error(400, Some("invalidFilter"));
    }
}

#[tokio::test]
async fn user_name_is_unique_regardless_of_case() {
    let app = spawn_app().await;
    app.create_user("Case.Person@Example.com", json!({})).await;
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "case.person@example.COM"}),
        )
        .await;
    r.expect_error(409, Some("uniqueness"));

    // Renaming another user onto it is refused too, by PATCH and by PUT.
    let other = app.create_user("other", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch_ops(
            &format!("/Users/{other}"),
            json!([{"op": "replace", "path": "userName", "value": "CASE.PERSON@example.com"}]),
        )
        .await;
    r.expect_error(409, Some("uniqueness"));
    let r = app
        .put(
            &format!("/Users/{other}"),
            &json!({"schemas": [USER_SCHEMA], "userName": "case.person@example.com"}),
        )
        .await;
    r.expect_error(409, Some("uniqueness"));

    // Changing the case of one's own userName is fine.
    let me = app
        .filter("Users", r#"userName eq "case.person@example.com""#, "")
        .await;
    let me = me.body["Resources"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .patch_ops(
            &format!("/Users/{me}"),
            json!([{"op": "replace", "path": "userName", "value": "case.person@example.com"}]),
        )
        .await;
    assert_eq!(r.expect(200)["userName"], "case.person@example.com");
}

#[tokio::test]
async fn only_the_first_primary_email_stays_primary() {
    let app = spawn_app().await;
    let u = app
        .create_user(
            "primaries",
            json!({"emails": [
                {"value": "a@x.com", "primary": true},
                {"value": "b@x.com", "primary": true},
                {"value": "c@x.com"}
            ]}),
        )
        .await;
    assert_eq!(
        u["emails"],
        json!([
            {"value": "a@x.com", "primary": true},
            {"value": "b@x.com", "primary": false},
            {"value": "c@x.com"}
        ])
    );

    // Adding a new primary by PATCH takes primary away from the old one.
    let r = app
        .patch_ops(
            &format!("/Users/{}", u["id"].as_str().unwrap()),
            json!([{"op": "add", "path": "emails", "value": [{"value": "d@x.com", "primary": true}]}]),
        )
        .await;
    let primaries: Vec<&Value> = r.expect(200)["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["primary"] == true)
        .collect();
    assert_eq!(
        primaries,
        vec![&json!({"value": "d@x.com", "primary": true})]
    );
}

#[tokio::test]
async fn delete_then_get_is_404_and_the_user_name_is_free_again() {
    let app = spawn_app().await;
    let id = app.create_user("recycled", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    app.get(&format!("/Users/{id}"))
        .await
        .expect_error(404, None);
    let again = app.create_user("recycled", json!({})).await;
    assert_ne!(again["id"], id.as_str());
}
