//! What strict SCIM clients and an outside probe found: Bulk failures carry
//! a location, bulkIds are unique, the server root answers a query, 405s name
//! what is allowed and HEAD works, booleans are not ordered, multi-valued
//! attributes take arrays, identifiers take no control characters, and every
//! response says `nosniff`.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_failed_bulk_operation_other_than_post_has_a_location() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK_REQUEST], "Operations": [
                {"method": "PUT", "path": "/Users/no-such-id",
                 "data": {"schemas": [USER_SCHEMA], "userName": "x"}},
                {"method": "DELETE", "path": "/Groups/no-such-id"},
                {"method": "POST", "path": "/Users", "bulkId": "p",
                 "data": {"schemas": [USER_SCHEMA]}}
            ]}),
        )
        .await;
    let out = r.expect(200)["Operations"].as_array().unwrap().clone();
    assert_eq!(out[0]["status"], "404");
    assert_eq!(out[0]["location"], json!(app.url("/Users/no-such-id")));
    assert_eq!(out[1]["status"], "404");
    assert_eq!(out[1]["location"], json!(app.url("/Groups/no-such-id")));
    assert_eq!(out[2]["status"], "400");
    assert!(out[2].get("location").is_none(), "a failed POST has none");
}

#[tokio::test]
async fn a_repeated_bulk_id_refuses_the_request() {
    let app = spawn_app().await;
    let op = |name: &str| {
        json!({"method": "POST", "path": "/Users", "bulkId": "same",
               "data": {"schemas": [USER_SCHEMA], "userName": name}})
    };
    let r = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK_REQUEST], "Operations": [op("one"), op("two")]}),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().unwrap().contains("bulkId"));
    assert_eq!(app.get("/Users").await.expect(200)["totalResults"], 0);
}

#[tokio::test]
async fn a_query_on_the_server_root_lists_users_and_groups() {
    let app = spawn_app().await;
    app.create_user("root-user", json!({})).await;
    app.create_group("Root Group", &[]).await;
    for path in ["/", "/?filter=userName%20eq%20%22root-user%22"] {
        let r = app.get(path).await;
        let body = r.expect(200);
        assert_eq!(body["schemas"], json!([LIST_SCHEMA]), "{path}");
    }
    assert_eq!(app.get("/").await.expect(200)["totalResults"], 2);
    assert_eq!(
        app.get("/?filter=userName%20eq%20%22root-user%22")
            .await
            .expect(200)["totalResults"],
        1
    );
}

#[tokio::test]
async fn method_not_allowed_names_what_is_allowed_and_head_answers() {
    let app = spawn_app().await;
    let user = app.create_user("head", json!({})).await;
    let id = user["id"].as_str().unwrap();
    for (method, path, allow) in [
        (Method::DELETE, "/Users".to_owned(), "GET, HEAD, POST"),
        (
            Method::POST,
            format!("/Users/{id}"),
            "GET, HEAD, PUT, PATCH, DELETE",
        ),
        (
            Method::PUT,
            "/ServiceProviderConfig".to_owned(),
            "GET, HEAD",
        ),
        (Method::GET, "/Bulk".to_owned(), "POST"),
    ] {
        let r = app.request(method.clone(), &path, &[], None).await;
        r.expect_error(405, None);
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
    }
    for path in [
        "/Users".to_owned(),
        format!("/Users/{id}"),
        "/Schemas".to_owned(),
    ] {
        let r = app.request(Method::HEAD, &path, &[], None).await;
        assert_eq!(r.status, 200, "HEAD {path}");
    }
}

#[tokio::test]
async fn ordering_a_boolean_is_an_invalid_filter() {
    let app = spawn_app().await;
    let r = app.filter("Users", "active gt true", "").await;
    r.expect_error(400, Some("invalidFilter"));
    app.filter("Users", "active eq true", "").await.expect(200);
}

#[tokio::test]
async fn a_multi_valued_attribute_given_one_object_is_invalid_value() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "single",
                    "emails": {"value": "single@example.com", "primary": true}}),
        )
        .await;
    r.expect_error(400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().unwrap().contains("emails"));
}

#[tokio::test]
async fn control_characters_in_a_user_name_or_email_are_refused() {
    let app = spawn_app().await;
    for (user_name, email, attribute) in [
        ("crlf\r\n@example.com", "ok@example.com", "userName"),
        ("nul@example.com", "nul\u{0}@example.com", "emails[0].value"),
        (
            "esc@example.com",
            "esc\u{1b}[31m@example.com",
            "emails[0].value",
        ),
    ] {
        let r = app
            .post(
                "/Users",
                &json!({"schemas": [USER_SCHEMA], "userName": user_name,
                        "emails": [{"value": email, "type": "work", "primary": true}]}),
            )
            .await;
        r.expect_error(400, Some("invalidValue"));
        assert!(
            r.body["detail"].as_str().unwrap().contains(attribute),
            "{attribute}: {}",
            r.body
        );
    }
    assert_eq!(app.get("/Users").await.expect(200)["totalResults"], 0);
}

#[tokio::test]
async fn every_response_says_nosniff() {
    let app = spawn_app().await;
    for path in ["/Users", "/ServiceProviderConfig", "/Nowhere"] {
        let r = app.get(path).await;
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
    let r = app
        .raw(Method::GET, &format!("{}/healthz", app.root()), &[], None)
        .await;
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let r = app.raw(Method::GET, "/Users", &[], None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
}

#[tokio::test]
async fn a_very_long_uri_is_414_with_a_scim_body_even_without_a_token() {
    let app = spawn_app().await;
    let long = format!("/Users?filter=userName%20eq%20%22{}%22", "a".repeat(20_000));
    let r = app.raw(Method::GET, &long, &[], None).await;
    r.expect_error(414, None);
    let r = app.get(&long).await;
    r.expect_error(414, None);
    // Under the limit, the filter's own limit (8 KiB) answers.
    let r = app
        .get(&format!(
            "/Users?filter=userName%20eq%20%22{}%22",
            "a".repeat(9_000)
        ))
        .await;
    r.expect_error(400, Some("invalidFilter"));
}
