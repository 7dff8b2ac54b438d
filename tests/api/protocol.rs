//! The protocol: filters, paging, sorting, projection, search, ETags, Bulk,
//! limits, content types, discovery, routing and authentication.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// Four users with a spread of attributes, created in this order.
async fn seed_people(app: &TestApp) {
    app.create_user(
        "alice",
        json!({"title": "Engineer", "externalId": "Ext-A", "nickName": "Al"}),
    )
    .await;
    app.create_user(
        "bob",
        json!({"title": "Manager", "externalId": "ext-b", "active": false}),
    )
    .await;
    app.create_user("carol", json!({"externalId": "EXT-C"}))
        .await;
    app.create_user(
        "dave",
        json!({"title": "Senior Engineer", "externalId": "ext-d"}),
    )
    .await;
}

/// The userNames a filter selects, sorted by userName.
async fn select(app: &TestApp, filter: &str) -> Vec<String> {
    let r = app.filter("Users", filter, "&sortBy=userName").await;
    assert_eq!(r.status, 200, "{filter}: {:#}", r.body);
    let names = user_names(&r.body);
    assert_eq!(r.body["totalResults"], names.len(), "{filter}");
    names
}

#[tokio::test]
async fn every_comparison_operator_filters() {
    let app = spawn_app().await;
    seed_people(&app).await;
    let cases: [(&str, &[&str]); 12] = [
        (r#"userName eq "alice""#, &["alice"]),
        (r#"userName ne "alice""#, &["bob", "carol", "dave"]),
        (r#"title co "engineer""#, &["alice", "dave"]),
        (r#"userName sw "ca""#, &["carol"]),
        (r#"userName ew "VE""#, &["dave"]),
        (r#"title pr"#, &["alice", "bob", "dave"]),
        (r#"userName gt "bob""#, &["carol", "dave"]),
        (r#"userName ge "bob""#, &["bob", "carol", "dave"]),
        (r#"userName lt "bob""#, &["alice"]),
        (r#"userName le "bob""#, &["alice", "bob"]),
        (r#"active eq false"#, &["bob"]),
        (r#"nickName eq "al""#, &["alice"]),
    ];
    for (filter, want) in cases {
        assert_eq!(select(&app, filter).await, want, "{filter}");
    }
}

#[tokio::test]
async fn logical_operators_and_parentheses() {
    let app = spawn_app().await;
    seed_people(&app).await;
    let cases: [(&str, &[&str]); 6] = [
        (
            r#"title co "Engineer" and active eq true"#,
            &["alice", "dave"],
        ),
        (
            r#"userName eq "alice" or userName eq "bob""#,
            &["alice", "bob"],
        ),
        (r#"not (title pr)"#, &["carol"]),
        (
            r#"(userName eq "alice" or userName eq "bob") and active eq true"#,
            &["alice"],
        ),
        (
            r#"userName eq "alice" or userName eq "bob" and active eq true"#,
            &["alice"],
        ),
        (
            r#"not (userName eq "alice" or title pr) or userName eq "dave""#,
            &["carol", "dave"],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(select(&app, filter).await, want, "{filter}");
    }
}

#[tokio::test]
async fn attribute_names_and_keywords_are_case_insensitive() {
    let app = spawn_app().await;
    seed_people(&app).await;
    assert_eq!(select(&app, r#"USERNAME EQ "alice""#).await, ["alice"]);
    assert_eq!(select(&app, r#"username eq "alice""#).await, ["alice"]);
    assert_eq!(
        select(&app, r#"Title Co "ENGINEER" AND Active Eq True"#).await,
        ["alice", "dave"]
    );
    assert_eq!(
        select(&app, &format!("{USER_SCHEMA}:userName eq \"bob\"")).await,
        ["bob"]
    );
    // The sortBy and filter parameter names themselves.
    let r = app
        .get(&format!(
            "/Users?FILTER={}&SORTBY=userName",
            enc(r#"userName sw "a""#)
        ))
        .await;
    assert_eq!(user_names(r.expect(200)), ["alice"]);
}

#[tokio::test]
async fn external_id_is_case_exact_and_user_name_is_not() {
    let app = spawn_app().await;
    seed_people(&app).await;
    assert_eq!(select(&app, r#"externalId eq "Ext-A""#).await, ["alice"]);
    assert!(select(&app, r#"externalId eq "ext-a""#).await.is_empty());
    assert!(select(&app, r#"externalId eq "EXT-A""#).await.is_empty());
    assert_eq!(
        select(&app, r#"externalId sw "ext-""#).await,
        ["bob", "dave"]
    );
    assert_eq!(select(&app, r#"userName eq "ALICE""#).await, ["alice"]);
    assert_eq!(select(&app, r#"userName eq "Alice""#).await, ["alice"]);
}

#[tokio::test]
async fn meta_last_modified_filters_by_time() {
    let app = spawn_app().await;
    let old = app.create_user("old", json!({})).await;
    let mark = old["meta"]["lastModified"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.create_user("new", json!({})).await;
    assert_eq!(
        select(&app, &format!("meta.lastModified gt \"{mark}\"")).await,
        ["new"]
    );
    assert_eq!(
        select(&app, &format!("meta.lastModified ge \"{mark}\"")).await,
        ["new", "old"]
    );
    assert_eq!(
        select(&app, &format!("meta.lastModified le \"{mark}\"")).await,
        ["old"]
    );
    assert!(
        select(&app, r#"meta.lastModified lt "2000-01-01T00:00:00Z""#)
            .await
            .is_empty()
    );
    // A modification moves a resource forward.
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.patch_ops(
        &format!("/Users/{}", old["id"].as_str().unwrap()),
        json!([{"op": "replace", "path": "nickName", "value": "touched"}]),
    )
    .await
    .expect(200);
    assert_eq!(
        select(&app, &format!("meta.lastModified gt \"{mark}\"")).await,
        ["new", "old"]
    );
}

async fn seed_numbered(app: &TestApp, n: usize) {
    for i in 1..=n {
        app.create_user(&format!("user{i}"), json!({})).await;
    }
}

#[tokio::test]
async fn start_index_and_count_page_through_the_list() {
    let app = spawn_app().await;
    seed_numbered(&app, 5).await;

    let r = app.get("/Users?startIndex=2&count=2").await;
    let page = r.expect(200);
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(user_names(page), ["user2", "user3"]);

    let r = app.get("/Users?startIndex=5&count=2").await;
    assert_eq!(user_names(r.expect(200)), ["user5"]);
    assert_eq!(r.body["itemsPerPage"], 1);
    assert_eq!(r.body["startIndex"], 5);

    let r = app.get("/Users?startIndex=9&count=2").await;
    assert_eq!(r.expect(200)["totalResults"], 5);
    assert_eq!(r.body["itemsPerPage"], 0);
    assert_eq!(r.body["Resources"], json!([]));

    let r = app.get("/Users?count=0").await;
    assert_eq!(
        *r.expect(200),
        json!({"schemas": [LIST_SCHEMA], "totalResults": 5, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );

    // startIndex below 1 is read as 1.
    let r = app.get("/Users?startIndex=0&count=1").await;
    assert_eq!(r.expect(200)["startIndex"], 1);
    assert_eq!(user_names(&r.body), ["user1"]);

    // Paging a filtered, sorted list.
    let r = app
        .filter(
            "Users",
            r#"userName sw "user""#,
            "&sortBy=userName&sortOrder=descending&startIndex=2&count=2",
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 5);
    assert_eq!(user_names(&r.body), ["user4", "user3"]);

    let r = app.get("/Users?count=abc").await;
    r.expect_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn count_above_the_published_maximum_is_clamped() {
    let app = spawn_app_with("max_results = 3").await;
    let spc = app.get("/ServiceProviderConfig").await;
    assert_eq!(spc.expect(200)["filter"]["maxResults"], 3);
    seed_numbered(&app, 5).await;
    for path in ["/Users?count=100", "/Users"] {
        let r = app.get(path).await;
        assert_eq!(r.expect(200)["totalResults"], 5, "{path}");
        assert_eq!(r.body["itemsPerPage"], 3, "{path}");
        assert_eq!(user_names(&r.body), ["user1", "user2", "user3"], "{path}");
    }
    let r = app.filter("Users", r#"userName pr"#, "&count=100").await;
    assert_eq!(r.expect(200)["itemsPerPage"], 3);
}

#[tokio::test]
async fn sort_by_user_name_ascending_and_descending() {
    let app = spawn_app().await;
    for name in ["charlie", "Alpha", "delta", "bravo"] {
        app.create_user(name, json!({})).await;
    }
    let r = app.get("/Users?sortBy=userName").await;
    assert_eq!(
        user_names(r.expect(200)),
        ["Alpha", "bravo", "charlie", "delta"]
    );
    let r = app.get("/Users?sortBy=userName&sortOrder=ascending").await;
    assert_eq!(
        user_names(r.expect(200)),
        ["Alpha", "bravo", "charlie", "delta"]
    );
    let r = app.get("/Users?sortBy=userName&sortOrder=descending").await;
    assert_eq!(
        user_names(r.expect(200)),
        ["delta", "charlie", "bravo", "Alpha"]
    );
    let r = app.get("/Users?sortBy=userName&sortOrder=sideways").await;
    r.expect_error(400, Some("invalidValue"));
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn attributes_returns_the_named_attributes_plus_id_and_schemas() {
    let app = spawn_app().await;
    let u = app
        .create_user(
            "projected",
            json!({"name": {"givenName": "P", "familyName": "Q"}, "emails": [{"value": "p@x.com", "type": "work"}], "title": "T"}),
        )
        .await;
    let id = u["id"].as_str().unwrap();

    let r = app.get("/Users?attributes=userName").await;
    let item = &r.expect(200)["Resources"][0];
    assert_eq!(keys(item), set(&["schemas", "id", "userName"]));
    assert_eq!(item["userName"], "projected");
    assert_eq!(item["id"], id);
    assert_eq!(item["schemas"], json!([USER_SCHEMA]));

    let r = app.get(&format!("/Users/{id}?attributes=userName")).await;
    assert_eq!(keys(r.expect(200)), set(&["schemas", "id", "userName"]));

    let r = app
        .get(&format!(
            "/Users/{id}?attributes=name.givenName,emails.value"
        ))
        .await;
    let body = r.expect(200);
    assert_eq!(keys(body), set(&["schemas", "id", "name", "emails"]));
    assert_eq!(body["name"], json!({"givenName": "P"}));
    assert_eq!(body["emails"], json!([{"value": "p@x.com"}]));

    let r = app
        .get(&format!("/Users/{id}?attributes=meta.version"))
        .await;
    assert_eq!(
        r.expect(200)["meta"],
        json!({"version": u["meta"]["version"]})
    );

    // Also on create.
    let r = app
        .post(
            "/Users?attributes=userName",
            &json!({"schemas": [USER_SCHEMA], "userName": "proj2", "title": "x"}),
        )
        .await;
    assert_eq!(keys(r.expect(201)), set(&["schemas", "id", "userName"]));
}

#[tokio::test]
async fn excluded_attributes_leaves_attributes_out_but_never_id() {
    let app = spawn_app().await;
    let u = app
        .create_user(
            "excluded",
            json!({"emails": [{"value": "e@x.com", "type": "work"}], "title": "T"}),
        )
        .await;
    let id = u["id"].as_str().unwrap();
    let r = app
        .get(&format!("/Users/{id}?excludedAttributes=emails,meta"))
        .await;
    let body = r.expect(200);
    assert_eq!(
        keys(body),
        set(&["schemas", "id", "userName", "title", "active"])
    );

    let r = app
        .get(&format!("/Users/{id}?excludedAttributes=id,emails.type"))
        .await;
    let body = r.expect(200);
    assert_eq!(body["id"], id);
    assert_eq!(body["emails"], json!([{"value": "e@x.com"}]));

    let r = app.get("/Users?excludedAttributes=title").await;
    assert!(r.expect(200)["Resources"][0].get("title").is_none());
}

#[tokio::test]
async fn post_search_on_a_collection_and_at_the_root() {
    let app = spawn_app().await;
    seed_people(&app).await;
    app.create_group("Ops", &[]).await;
    app.create_group("Dev", &[]).await;

    let r = app
        .post(
            "/Users/.search",
            &json!({
                "schemas": [SEARCH_SCHEMA],
                "filter": "title co \"engineer\"",
                "attributes": ["userName"],
                "sortBy": "userName",
                "sortOrder": "descending",
                "startIndex": 1,
                "count": 10
            }),
        )
        .await;
    let list = r.expect(200);
    assert_eq!(list["schemas"], json!([LIST_SCHEMA]));
    assert_eq!(list["totalResults"], 2);
    assert_eq!(user_names(list), ["dave", "alice"]);
    assert_eq!(
        keys(&list["Resources"][0]),
        set(&["schemas", "id", "userName"])
    );

    let r = app
        .post(
            "/Groups/.search",
            &json!({"schemas": [SEARCH_SCHEMA], "filter": "displayName eq \"ops\""}),
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["displayName"], "Ops");

    let r = app
        .post("/.search", &json!({"schemas": [SEARCH_SCHEMA]}))
        .await;
    assert_eq!(r.expect(200)["totalResults"], 6);
    let kinds: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["meta"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "User").count(), 4);
    assert_eq!(kinds.iter().filter(|k| **k == "Group").count(), 2);

    let r = app
        .post(
            "/.search",
            &json!({"schemas": [SEARCH_SCHEMA], "filter": "displayName eq \"Dev\" or userName eq \"carol\"", "count": 1}),
        )
        .await;
    assert_eq!(r.expect(200)["totalResults"], 2);
    assert_eq!(r.body["itemsPerPage"], 1);

    let r = app
        .post(
            "/Users/.search",
            &json!({"schemas": ["urn:wrong"], "filter": "userName pr"}),
        )
        .await;
    r.expect_error(400, Some("invalidSyntax"));
    let r = app
        .post(
            "/Users/.search",
            &json!({"schemas": [SEARCH_SCHEMA], "filter": "userName eq"}),
        )
        .await;
    r.expect_error(400, Some("invalidFilter"));
    let r = app.get("/Users/.search").await;
    r.expect_error(405, None);
}

#[tokio::test]
async fn etag_header_is_meta_version_and_if_none_match_gives_304() {
    let app = spawn_app().await;
    let u = app.create_user("tagged", json!({})).await;
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    let r = app.get(&path).await;
    let etag = r.header("etag").expect("ETag").to_owned();
    assert_eq!(
        Some(etag.as_str()),
        r.expect(200)["meta"]["version"].as_str()
    );

    let r = app
        .request(Method::GET, &path, &[("if-none-match", &etag)], None)
        .await;
    assert_eq!(r.status, 304);
    assert_eq!(r.body, Value::Null);
    assert_eq!(r.header("etag"), Some(etag.as_str()));

    let r = app
        .request(
            Method::GET,
            &path,
            &[("if-none-match", "W/\"stale\"")],
            None,
        )
        .await;
    r.expect(200);
}

#[tokio::test]
async fn if_match_with_a_stale_etag_is_412_and_with_the_current_one_succeeds() {
    let app = spawn_app().await;
    let u = app.create_user("guarded", json!({})).await;
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    let stale = u["meta"]["version"].as_str().unwrap().to_owned();
    let r = app
        .patch_ops(
            &path,
            json!([{"op": "replace", "path": "nickName", "value": "v2"}]),
        )
        .await;
    let current = r.header("etag").unwrap().to_owned();
    assert_ne!(current, stale);

    let patch = json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "nickName", "value": "v3"}]});
    let put = json!({"schemas": [USER_SCHEMA], "userName": "guarded", "nickName": "v3"});
    let stale_h = [("if-match", stale.as_str())];
    app.request(Method::PATCH, &path, &stale_h, Some(&patch))
        .await
        .expect_error(412, None);
    app.request(Method::PUT, &path, &stale_h, Some(&put))
        .await
        .expect_error(412, None);
    app.request(Method::DELETE, &path, &stale_h, None)
        .await
        .expect_error(412, None);
    assert_eq!(app.get(&path).await.expect(200)["nickName"], "v2");

    let r = app
        .request(
            Method::PATCH,
            &path,
            &[("if-match", &current)],
            Some(&patch),
        )
        .await;
    assert_eq!(r.expect(200)["nickName"], "v3");
    let current = r.header("etag").unwrap().to_owned();
    let r = app
        .request(Method::PUT, &path, &[("if-match", &current)], Some(&put))
        .await;
    r.expect(200);
    let current = r.header("etag").unwrap().to_owned();
    let r = app
        .request(Method::DELETE, &path, &[("if-match", &current)], None)
        .await;
    assert_eq!(r.status, 204);
    app.get(&path).await.expect_error(404, None);
}

#[tokio::test]
async fn an_unchanged_patch_keeps_the_version() {
    let app = spawn_app().await;
    let u = app.create_user("steady", json!({"nickName": "same"})).await;
    let r = app
        .patch_ops(
            &format!("/Users/{}", u["id"].as_str().unwrap()),
            json!([{"op": "replace", "path": "nickName", "value": "same"}]),
        )
        .await;
    assert_eq!(r.expect(200)["meta"]["version"], u["meta"]["version"]);
}

#[tokio::test]
async fn bulk_resolves_bulk_ids_and_runs_post_patch_and_delete() {
    let app = spawn_app().await;
    let doomed = app.create_user("doomed", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({
        "schemas": [BULK_REQUEST],
        "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "g1",
             "data": {"schemas": [GROUP_SCHEMA], "displayName": "Bulk Group", "members": [{"value": "bulkId:u1"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u1",
             "data": {"schemas": [USER_SCHEMA], "userName": "bulk.user"}},
            {"method": "PATCH", "path": "/Users/bulkId:u1",
             "data": {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "nickName", "value": "bulky"}]}},
            {"method": "DELETE", "path": format!("/Users/{doomed}")}
        ]
    });
    let r = app.post("/Bulk", &body).await;
    let out = r.expect(200).clone();
    assert_eq!(out["schemas"], json!([BULK_RESPONSE]));
    let ops = out["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 4);
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "200", "204"]);
    assert_eq!(ops[0]["method"], "POST");
    assert_eq!(ops[0]["bulkId"], "g1");
    assert_eq!(ops[1]["bulkId"], "u1");

    let group_loc = ops[0]["location"].as_str().unwrap();
    let user_loc = ops[1]["location"].as_str().unwrap();
    assert!(
        group_loc.starts_with(&format!("{}/Groups/", app.base)),
        "{group_loc}"
    );
    assert!(
        user_loc.starts_with(&format!("{}/Users/", app.base)),
        "{user_loc}"
    );
    assert_eq!(ops[2]["location"], user_loc);
    assert_eq!(ops[3]["location"], format!("{}/Users/{doomed}", app.base));
    assert!(ops[3].get("version").is_none());

    let user = app.get(user_loc).await;
    assert_eq!(user.expect(200)["nickName"], "bulky");
    assert_eq!(ops[2]["version"], user.body["meta"]["version"]);
    let uid = user.id();
    let group = app.get(group_loc).await;
    assert_eq!(ids_of(&group.expect(200)["members"]), vec![uid]);
    assert_eq!(ops[0]["version"], group.body["meta"]["version"]);
    app.get(&format!("/Users/{doomed}"))
        .await
        .expect_error(404, None);
}

#[tokio::test]
async fn bulk_reports_errors_per_operation_and_stops_at_fail_on_errors() {
    let app = spawn_app().await;
    app.create_user("taken", json!({})).await;
    let ops = json!([
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"schemas": [USER_SCHEMA], "userName": "taken"}},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"schemas": [USER_SCHEMA], "userName": "fresh1"}},
        {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"schemas": [USER_SCHEMA], "userName": "fresh2"}}
    ]);
    let r = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK_REQUEST], "failOnErrors": 1, "Operations": ops}),
        )
        .await;
    let out = r.expect(200)["Operations"].as_array().unwrap().clone();
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0]["status"], "409");
    assert_eq!(out[0]["bulkId"], "a");
    assert_eq!(out[0]["response"]["scimType"], "uniqueness");
    assert_eq!(out[0]["response"]["schemas"], json!([ERROR_SCHEMA]));
    let r = app.filter("Users", r#"userName sw "fresh""#, "").await;
    assert_eq!(
        r.expect(200)["totalResults"],
        0,
        "nothing after the first error ran"
    );

    // Without failOnErrors every operation runs.
    let r = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK_REQUEST], "Operations": ops}),
        )
        .await;
    let out = r.expect(200)["Operations"].as_array().unwrap().clone();
    let statuses: Vec<&str> = out.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["409", "201", "201"]);

    // A reference to an unknown bulkId fails that operation only.
    let r = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK_REQUEST], "Operations": [
                {"method": "PATCH", "path": "/Users/bulkId:nope",
                 "data": {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "nickName", "value": "x"}]}}
            ]}),
        )
        .await;
    assert_eq!(r.expect(200)["Operations"][0]["status"], "409");

    let r = app.post("/Bulk", &json!({"Operations": []})).await;
    r.expect_error(400, Some("invalidSyntax"));
}

#[tokio::test]
async fn bulk_with_more_operations_than_the_maximum_is_413() {
    let app = spawn_app_with("bulk_max_operations = 2").await;
    let spc = app.get("/ServiceProviderConfig").await;
    assert_eq!(spc.expect(200)["bulk"]["maxOperations"], 2);
    let op = |n: u32| {
        json!({"method": "POST", "path": "/Users", "bulkId": format!("b{n}"),
               "data": {"schemas": [USER_SCHEMA], "userName": format!("bulk{n}")}})
    };
    let r = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK_REQUEST], "Operations": [op(1), op(2), op(3)]}),
        )
        .await;
    r.expect_error(413, Some("tooMany"));
    let r = app.get("/Users").await;
    assert_eq!(r.expect(200)["totalResults"], 0);

    let r = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK_REQUEST], "Operations": [op(1), op(2)]}),
        )
        .await;
    r.expect(200);
    assert_eq!(app.get("/Users").await.body["totalResults"], 2);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_with_a_scim_body() {
    let app = spawn_app_with("max_body_bytes = 2048").await;
    let spc = app.get("/ServiceProviderConfig").await;
    assert_eq!(spc.expect(200)["bulk"]["maxPayloadSize"], 2048);
    let big = json!({"schemas": [USER_SCHEMA], "userName": "big", "nickName": "x".repeat(3000)});
    app.post("/Users", &big).await.expect_error(413, None);
    let r = app.put(&format!("/Users/{}", guid()), &big).await;
    r.expect_error(413, None);
    let small =
        json!({"schemas": [USER_SCHEMA], "userName": "small", "nickName": "x".repeat(1000)});
    app.post("/Users", &small).await.expect(201);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    let app = spawn_app_with("max_body_bytes = 2048").await;
    let port = app.port;
    let response = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let chunk = "x".repeat(1000);
        let mut req = format!(
            "POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        for _ in 0..3 {
            req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
        }
        req.push_str("0\r\n\r\n");
        s.write_all(req.as_bytes()).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
    .await
    .expect("join");
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains(ERROR_SCHEMA), "{response}");
    assert_eq!(app.get("/Users").await.expect(200)["totalResults"], 0);
}

#[tokio::test]
async fn malformed_or_empty_json_is_invalid_syntax() {
    let app = spawn_app().await;
    let auth = format!("Bearer {TOKEN}");
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/scim+json"),
    ];
    let r = app
        .raw(
            Method::POST,
            "/Users",
            &h,
            Some(b"{\"userName\": ".to_vec()),
        )
        .await;
    r.expect_error(400, Some("invalidSyntax"));
    let r = app.raw(Method::POST, "/Users", &h, Some(Vec::new())).await;
    r.expect_error(400, Some("invalidSyntax"));
    let r = app
        .raw(Method::POST, "/Users", &h, Some(b"[1, 2]".to_vec()))
        .await;
    r.expect_error(400, Some("invalidSyntax"));
}

#[tokio::test]
async fn application_json_is_accepted_and_responses_are_scim_json() {
    let app = spawn_app().await;
    let body = json!({"schemas": [USER_SCHEMA], "userName": "plainjson"});
    let r = app
        .request(
            Method::POST,
            "/Users",
            &[("content-type", "application/json")],
            Some(&body),
        )
        .await;
    r.expect(201);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let id = r.id();
    let patch = json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "nickName", "value": "j"}]});
    let r = app
        .request(
            Method::PATCH,
            &format!("/Users/{id}"),
            &[("content-type", "application/json")],
            Some(&patch),
        )
        .await;
    assert_eq!(r.expect(200)["nickName"], "j");
    for path in [
        "/Users",
        "/Groups",
        &format!("/Users/{id}"),
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/Schemas",
    ] {
        let r = app.get(path).await;
        r.expect(200);
        assert_eq!(
            r.header("content-type"),
            Some("application/scim+json"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn service_provider_config_advertises_what_the_server_does() {
    let app = spawn_app().await;
    let r = app.get("/ServiceProviderConfig").await;
    let spc = r.expect(200);
    assert_eq!(
        spc["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    assert_eq!(spc["patch"], json!({"supported": true}));
    assert_eq!(
        spc["bulk"],
        json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 1048576})
    );
    assert_eq!(
        spc["filter"],
        json!({"supported": true, "maxResults": 1000})
    );
    assert_eq!(spc["sort"], json!({"supported": true}));
    assert_eq!(spc["etag"], json!({"supported": true}));
    assert_eq!(spc["changePassword"], json!({"supported": false}));
    let schemes = spc["authenticationSchemes"].as_array().unwrap();
    assert_eq!(schemes.len(), 1);
    assert_eq!(schemes[0]["type"], "oauthbearertoken");
    assert_eq!(spc["meta"]["resourceType"], "ServiceProviderConfig");
    assert_eq!(
        spc["meta"]["location"],
        format!("{}/ServiceProviderConfig", app.base)
    );
}

#[tokio::test]
async fn resource_types_list_user_with_the_enterprise_extension_and_group() {
    let app = spawn_app().await;
    let r = app.get("/ResourceTypes").await;
    let list = r.expect(200);
    assert_eq!(list["schemas"], json!([LIST_SCHEMA]));
    assert_eq!(list["totalResults"], 2);
    let types = list["Resources"].as_array().unwrap();
    let user = types.iter().find(|t| t["id"] == "User").expect("User");
    assert_eq!(user["name"], "User");
    assert_eq!(user["endpoint"], "/Users");
    assert_eq!(user["schema"], USER_SCHEMA);
    assert_eq!(
        user["schemaExtensions"],
        json!([{"schema": ENTERPRISE, "required": false}])
    );
    let group = types.iter().find(|t| t["id"] == "Group").expect("Group");
    assert_eq!(group["endpoint"], "/Groups");
    assert_eq!(group["schema"], GROUP_SCHEMA);

    let r = app.get("/ResourceTypes/User").await;
    assert_eq!(r.expect(200)["endpoint"], "/Users");
    app.get("/ResourceTypes/Printer")
        .await
        .expect_error(404, None);
}

#[tokio::test]
async fn schemas_list_three_and_describe_their_attributes() {
    let app = spawn_app().await;
    let r = app.get("/Schemas").await;
    let list = r.expect(200);
    assert_eq!(list["totalResults"], 3);
    let ids: BTreeSet<&str> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE]));

    let r = app.get(&format!("/Schemas/{USER_SCHEMA}")).await;
    let schema = r.expect(200);
    assert_eq!(schema["id"], USER_SCHEMA);
    assert_eq!(schema["name"], "User");
    let attrs = schema["attributes"].as_array().unwrap();
    let find = |name: &str| {
        attrs
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let user_name = find("userName");
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["required"], true);
    assert_eq!(user_name["caseExact"], false);
    assert_eq!(user_name["type"], "string");
    let password = find("password");
    assert_eq!(password["returned"], "never");
    assert_eq!(password["mutability"], "writeOnly");
    let groups = find("groups");
    assert_eq!(groups["mutability"], "readOnly");
    assert_eq!(groups["multiValued"], true);
    let emails = find("emails");
    assert!(
        emails["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "primary")
    );

    let r = app.get(&format!("/Schemas/{ENTERPRISE}")).await;
    let ent = r.expect(200);
    let names: Vec<&str> = ent["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "employeeNumber",
            "costCenter",
            "organization",
            "division",
            "department",
            "manager"
        ]
    );

    app.get("/Schemas/urn:nope").await.expect_error(404, None);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_scim_errors() {
    let app = spawn_app().await;
    app.get("/Nope").await.expect_error(404, None);
    app.get("/Users/a/b").await.expect_error(404, None);
    let r = app.post("/ServiceProviderConfig", &json!({})).await;
    r.expect_error(405, None);
    app.delete("/Users").await.expect_error(405, None);
    app.post(&format!("/Users/{}", guid()), &json!({}))
        .await
        .expect_error(405, None);
    app.get("/Bulk").await.expect_error(405, None);
    app.get("/Me").await.expect_error(501, None);
}

#[tokio::test]
async fn health_and_readiness_need_no_token() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let r = app
            .raw(Method::GET, &format!("{}{path}", app.root()), &[], None)
            .await;
        assert_eq!(r.status, 200, "{path}");
    }
}

#[tokio::test]
async fn scim_routes_need_a_valid_token() {
    let app = spawn_app().await;
    for path in [
        "/Users",
        "/Groups",
        "/ServiceProviderConfig",
        "/Schemas",
        "/ResourceTypes",
        "/Nope",
    ] {
        let r = app.raw(Method::GET, path, &[], None).await;
        r.expect_error(401, None);
        assert!(
            r.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer")),
            "{path}"
        );
    }
    let body = json!({"schemas": [USER_SCHEMA], "userName": "sneaky"})
        .to_string()
        .into_bytes();
    let r = app
        .raw(
            Method::POST,
            "/Users",
            &[("content-type", "application/scim+json")],
            Some(body.clone()),
        )
        .await;
    r.expect_error(401, None);
    for bad in [
        "Bearer wrong-token-wrong-token",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        TOKEN,
    ] {
        let r = app
            .raw(Method::GET, "/Users", &[("authorization", bad)], None)
            .await;
        r.expect_error(401, None);
    }
    assert_eq!(
        app.get("/Users").await.expect(200)["totalResults"],
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn either_configured_token_works() {
    let mut app = spawn_app().await;
    app.create_user("by.first", json!({})).await;
    app.token = SECOND_TOKEN.to_owned();
    app.create_user("by.second", json!({})).await;
    let r = app.get("/Users").await;
    assert_eq!(r.expect(200)["totalResults"], 2);
    let r = app
        .raw(
            Method::GET,
            "/Users",
            &[("authorization", &format!("bearer {SECOND_TOKEN}"))],
            None,
        )
        .await;
    r.expect(200);
}

#[tokio::test]
async fn root_search_sorts_across_resource_types() {
    let app = spawn_app().await;
    app.create_user("zed", json!({"displayName": "Zed"})).await;
    app.create_user("bob", json!({"displayName": "Bob"})).await;
    app.create_group("Alpha", &[]).await;
    app.create_group("Charlie", &[]).await;
    let r = app
        .post(
            "/.search",
            &json!({"schemas": [SEARCH_SCHEMA], "sortBy": "displayName", "attributes": ["displayName"]}),
        )
        .await;
    let names: Vec<&str> = r.expect(200)["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alpha", "Bob", "Charlie", "Zed"]);
}
