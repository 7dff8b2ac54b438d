//! Tests of the fake Snyk v1 API used by the other test binaries.

use crate::fake_snyk;

use std::time::{Duration, Instant};

use fake_snyk::{FakeSnyk, Stats};
use serde_json::{Value, json};

const TOKEN: &str = "snyk-personal-token-0123";
const ORG: &str = "3f1c2d5e-0000-4000-8000-000000000001";
const GROUP: &str = "9a8b7c6d-0000-4000-8000-0000000000aa";

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(fake: &FakeSnyk) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: fake.base_url.clone(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("Authorization", format!("token {TOKEN}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request to fake snyk");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        (status, headers, value)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.send(reqwest::Method::GET, path, None).await;
        (status, body)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, _, body) = self.send(reqwest::Method::POST, path, Some(body)).await;
        (status, body)
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, _, body) = self.send(reqwest::Method::PUT, path, Some(body)).await;
        (status, body)
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.send(reqwest::Method::DELETE, path, None).await;
        (status, body)
    }
}

async fn setup() -> (FakeSnyk, Client) {
    let fake = FakeSnyk::start(TOKEN).await;
    fake.add_group(GROUP);
    fake.add_org(ORG);
    let client = Client::new(&fake);
    (fake, client)
}

#[tokio::test]
async fn provision_list_and_delete() {
    let (fake, client) = setup().await;
    let path = format!("/org/{ORG}/provision");

    let (status, headers, body) = client
        .send(
            reqwest::Method::POST,
            &path,
            Some(json!({"email": "Alice@Example.com", "role": "ADMIN"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(headers.contains_key("snyk-request-id"));
    assert!(!headers.contains_key("x-error-reference"));
    assert_eq!(body["email"], "Alice@Example.com");
    assert_eq!(body["role"], "ADMIN");
    assert_eq!(body["rolePublicId"], "");
    assert!(body["created"].as_str().is_some_and(|c| c.ends_with('Z')));

    let (status, _) = client
        .post(
            &path,
            json!({"email": "bob@example.com", "rolePublicId": "custom-role-1"}),
        )
        .await;
    assert_eq!(status, 200);
    // The seed's own request model sends `"rolePublicId": ""` next to a role.
    let (status, body) = client
        .post(
            &path,
            json!({"email": "carol@example.com", "role": "RESTRICTED_COLLABORATOR", "rolePublicId": ""}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Upsert: provisioning again replaces the role.
    let (status, _) = client
        .post(
            &path,
            json!({"email": "alice@example.com", "role": "COLLABORATOR"}),
        )
        .await;
    assert_eq!(status, 200);

    let (status, list) = client.get(&path).await;
    assert_eq!(status, 200);
    let emails: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["alice@example.com", "bob@example.com", "carol@example.com"]
    );
    assert_eq!(
        fake.pending(ORG),
        vec![
            ("alice@example.com".to_owned(), "COLLABORATOR".to_owned()),
            ("bob@example.com".to_owned(), "custom-role-1".to_owned()),
            (
                "carol@example.com".to_owned(),
                "RESTRICTED_COLLABORATOR".to_owned()
            ),
        ]
    );

    let (status, page2) = client.get(&format!("{path}?perPage=2&page=2")).await;
    assert_eq!(status, 200);
    assert_eq!(page2.as_array().unwrap().len(), 1);
    assert_eq!(page2[0]["email"], "carol@example.com");
    let (status, _) = client.get(&format!("{path}?perPage=0")).await;
    assert_eq!(status, 400);

    let (status, body) = client
        .delete(&format!("{path}?email=BOB%40example.com"))
        .await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    assert_eq!(fake.pending(ORG).len(), 2);
    // Nothing pending: 200 by default, configurable.
    let (status, body) = client
        .delete(&format!("{path}?email=nobody%40example.com"))
        .await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    fake.set_delete_missing_provision_response(404, "No pending provision for {email}");
    let (status, body) = client
        .delete(&format!("{path}?email=nobody%40example.com"))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["message"],
        "No pending provision for nobody@example.com"
    );
    let (status, _) = client.delete(&path).await;
    assert_eq!(status, 400);

    let calls = fake.calls();
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].path, format!("/org/{ORG}/provision"));
    assert_eq!(
        calls[0].body,
        Some(json!({"email": "Alice@Example.com", "role": "ADMIN"}))
    );
    assert_eq!(calls[0].status, 200);
    let delete = calls.iter().find(|c| c.method == "DELETE").unwrap();
    assert_eq!(delete.query, "email=BOB%40example.com");
    assert_eq!(delete.body, None);
    assert_eq!(calls.last().unwrap().status, 400);
}

#[tokio::test]
async fn provision_validation() {
    let (fake, client) = setup().await;
    let path = format!("/org/{ORG}/provision");
    for body in [
        json!({"email": "a@example.com", "role": "ADMIN", "rolePublicId": "r-1"}),
        json!({"email": "a@example.com"}),
        json!({"email": "a@example.com", "role": "admin"}),
        json!({"email": "a@example.com", "role": "OWNER"}),
        json!({"email": "not-an-email", "role": "ADMIN"}),
        json!({"role": "ADMIN"}),
        json!({"email": 5, "role": "ADMIN"}),
        json!(["a@example.com"]),
    ] {
        let (status, headers, reply) = client
            .send(reqwest::Method::POST, &path, Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body} -> {reply}");
        assert_eq!(reply["code"], 400);
        assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(reply["error"].is_string());
        assert!(headers.contains_key("x-error-reference"));
        assert!(headers.contains_key("snyk-request-id"));
    }
    let (status, body) = client
        .post(
            &path,
            json!({"email": "a@example.com", "role": "ADMIN", "rolePublicId": "r-1"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("not both"));

    // Invalid JSON.
    let response = reqwest::Client::new()
        .post(format!("{}{path}", fake.base_url))
        .header("Authorization", format!("Token {TOKEN}"))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        fake.calls().last().unwrap().body,
        Some(Value::String("{not json".to_owned()))
    );
    assert!(fake.pending(ORG).is_empty());
}

#[tokio::test]
async fn unknown_org_group_and_route() {
    let (_fake, client) = setup().await;
    let (status, body) = client
        .post(
            "/org/no-such-org/provision",
            json!({"email": "a@example.com", "role": "ADMIN"}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], 404);
    assert_eq!(body["message"], "Org not found");
    assert!(body["error"].is_string());
    assert_eq!(client.get("/org/no-such-org/members").await.0, 404);
    assert_eq!(client.get("/group/no-such-group/members").await.0, 404);
    assert_eq!(client.get(&format!("/org/{ORG}/projects")).await.0, 404);
    assert_eq!(client.get("/nothing/here").await.0, 404);
}

#[tokio::test]
async fn authentication() {
    let (fake, _client) = setup().await;
    let http = reqwest::Client::new();
    let url = format!("{}/org/{ORG}/provision", fake.base_url);
    for auth in [
        None,
        Some("token wrong".to_owned()),
        Some(format!("Bearer {TOKEN}")),
        Some(TOKEN.to_owned()),
    ] {
        let mut request = http.get(&url);
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        assert!(response.headers().contains_key("x-error-reference"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"code": 401, "error": "Not authorised", "message": "Not authorised"})
        );
    }
    for scheme in ["token", "Token", "TOKEN"] {
        let response = http
            .get(&url)
            .header("Authorization", format!("{scheme} {TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{scheme}");
    }
    let calls = fake.calls();
    assert_eq!(calls.len(), 7);
    assert!(calls[..4].iter().all(|c| c.status == 401));
}

#[tokio::test]
async fn existing_user_gets_the_configured_answer() {
    let (fake, client) = setup().await;
    fake.add_existing_user(GROUP, "user-1", "dave@example.com");
    let path = format!("/org/{ORG}/provision");
    let (status, body) = client
        .post(&path, json!({"email": "DAVE@example.com", "role": "ADMIN"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "User DAVE@example.com already exists in Snyk"
    );

    fake.set_already_exists_response(409, "{email} has already logged in");
    let (status, body) = client
        .post(
            &path,
            json!({"email": "dave@example.com", "rolePublicId": "r-1"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["code"], 409);
    assert_eq!(body["message"], "dave@example.com has already logged in");
    assert!(fake.pending(ORG).is_empty());

    // Org members are existing users too.
    fake.add_org_member(ORG, "user-2", "erin@example.com", "collaborator");
    let (status, _) = client
        .post(&path, json!({"email": "erin@example.com", "role": "ADMIN"}))
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn first_login_turns_pending_into_member() {
    let (fake, client) = setup().await;
    let path = format!("/org/{ORG}/provision");
    client
        .post(
            &path,
            json!({"email": "frank@example.com", "role": "RESTRICTED_COLLABORATOR"}),
        )
        .await;
    client
        .post(
            &path,
            json!({"email": "gina@example.com", "rolePublicId": "custom-7"}),
        )
        .await;
    assert_eq!(fake.simulate_first_login(ORG, "nobody@example.com"), None);

    let frank = fake.simulate_first_login(ORG, "Frank@example.com").unwrap();
    let gina = fake.simulate_first_login(ORG, "gina@example.com").unwrap();
    assert_ne!(frank, gina);
    assert!(fake.pending(ORG).is_empty());
    assert_eq!(client.get(&path).await.1, json!([]));
    assert_eq!(
        fake.members(ORG),
        vec![
            (
                frank.clone(),
                "frank@example.com".to_owned(),
                "restrictedCollaborator".to_owned()
            ),
            (
                gina.clone(),
                "gina@example.com".to_owned(),
                "custom-7".to_owned()
            ),
        ]
    );
    let (status, members) = client
        .get(&format!("/org/{ORG}/members?includeGroupAdmins=true"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(members[0]["id"], frank.as_str());
    assert_eq!(members[0]["email"], "frank@example.com");
    assert_eq!(members[0]["role"], "restrictedCollaborator");
    assert!(members[0]["name"].is_string() && members[0]["username"].is_string());
    assert_eq!(members[1]["role"], "custom-7");

    // Now an existing user: provisioning again is refused.
    let (status, _) = client
        .post(
            &path,
            json!({"email": "frank@example.com", "role": "ADMIN"}),
        )
        .await;
    assert_eq!(status, 400);

    // A second org: the same email keeps its id.
    fake.add_org("org-2");
    fake.add_pending("org-2", "frank@example.com", "ADMIN");
    assert_eq!(
        fake.simulate_first_login("org-2", "frank@example.com"),
        Some(frank.clone())
    );
    assert_eq!(fake.members("org-2")[0].2, "admin");

    // Configurable: pending provisions stay listed after login.
    fake.set_keep_pending_after_login(true);
    fake.add_pending("org-2", "hal@example.com", "custom-9");
    let hal = fake
        .simulate_first_login_all_orgs("hal@example.com")
        .unwrap();
    assert_eq!(
        fake.pending("org-2"),
        vec![("hal@example.com".to_owned(), "custom-9".to_owned())]
    );
    assert!(fake.members("org-2").iter().any(|m| m.0 == hal));
}

#[tokio::test]
async fn member_role_update_and_removal() {
    let (fake, client) = setup().await;
    fake.add_org_member(ORG, "u-1", "ivy@example.com", "collaborator");
    fake.add_group_admin(GROUP, "u-admin", "boss@example.com");

    let (status, members) = client.get(&format!("/org/{ORG}/members")).await;
    assert_eq!(status, 200);
    assert_eq!(members.as_array().unwrap().len(), 1);
    let (_, members) = client
        .get(&format!("/org/{ORG}/members?includeGroupAdmins=true"))
        .await;
    assert_eq!(members.as_array().unwrap().len(), 2);
    assert_eq!(members[1]["role"], "admin");

    let (status, _) = client
        .put(&format!("/org/{ORG}/members/u-1"), json!({"role": "admin"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(fake.members(ORG)[0].2, "admin");
    let (status, _) = client
        .put(&format!("/org/{ORG}/members/u-1"), json!({"role": "ADMIN"}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = client
        .put(
            &format!("/org/{ORG}/members/u-404"),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(status, 404);

    let (status, _) = client
        .put(
            &format!("/org/{ORG}/members/update/u-1"),
            json!({"rolePublicId": "custom-3"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(fake.members(ORG)[0].2, "custom-3");
    let (status, _) = client
        .put(&format!("/org/{ORG}/members/update/u-1"), json!({}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = client
        .put(
            &format!("/org/{ORG}/members/update/u-404"),
            json!({"rolePublicId": "custom-3"}),
        )
        .await;
    assert_eq!(status, 404);

    // Drift by hand.
    fake.set_member_role(ORG, "u-1", "restrictedCollaborator");
    assert_eq!(fake.members(ORG)[0].2, "restrictedCollaborator");

    let (status, _) = client.delete(&format!("/org/{ORG}/members/u-1")).await;
    assert_eq!(status, 200);
    assert!(fake.members(ORG).is_empty());
    assert_eq!(fake.user_groups("u-1"), vec![GROUP.to_owned()]);
    let (status, _) = client.delete(&format!("/org/{ORG}/members/u-1")).await;
    assert_eq!(status, 404);

    // Still a group member, with no orgs.
    let (_, group) = client.get(&format!("/group/{GROUP}/members")).await;
    let ivy = group
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "u-1")
        .expect("u-1 stays a group member");
    assert_eq!(ivy["orgs"], json!([]));
}

#[tokio::test]
async fn group_members_and_add_to_org() {
    let (fake, client) = setup().await;
    fake.set_org_name(ORG, "Payments");
    fake.add_org_in_group("other-group", "org-elsewhere");
    fake.add_existing_user(GROUP, "u-10", "jack@example.com");
    fake.add_org_member(ORG, "u-11", "kim@example.com", "admin");
    fake.add_group_admin(GROUP, "u-12", "lee@example.com");
    fake.add_existing_user("other-group", "u-13", "mo@example.com");

    let (status, list) = client.get(&format!("/group/{GROUP}/members")).await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    let ids: Vec<&str> = list.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["u-10", "u-11", "u-12"]);
    assert_eq!(list[0]["email"], "jack@example.com");
    assert_eq!(list[0]["orgs"], json!([]));
    assert!(list[0].get("groupRole").is_none());
    assert_eq!(
        list[1]["orgs"],
        json!([{"name": "Payments", "role": "admin"}])
    );
    assert_eq!(list[2]["groupRole"], "admin");

    let add = format!("/group/{GROUP}/org/{ORG}/members");
    let (status, _) = client
        .post(&add, json!({"userId": "u-10", "role": "collaborator"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        fake.members(ORG)[1],
        (
            "u-10".to_owned(),
            "jack@example.com".to_owned(),
            "collaborator".to_owned()
        )
    );
    let (_, list) = client.get(&format!("/group/{GROUP}/members")).await;
    assert_eq!(
        list[0]["orgs"],
        json!([{"name": "Payments", "role": "collaborator"}])
    );

    // Not a group member / unknown user.
    assert_eq!(
        client
            .post(&add, json!({"userId": "u-13", "role": "collaborator"}))
            .await
            .0,
        404
    );
    assert_eq!(
        client
            .post(&add, json!({"userId": "u-999", "role": "collaborator"}))
            .await
            .0,
        404
    );
    // Bad role / missing user id.
    assert_eq!(
        client
            .post(&add, json!({"userId": "u-10", "role": "ADMIN"}))
            .await
            .0,
        400
    );
    assert_eq!(client.post(&add, json!({"role": "admin"})).await.0, 400);
    // Org of another group, unknown group.
    assert_eq!(
        client
            .post(
                &format!("/group/{GROUP}/org/org-elsewhere/members"),
                json!({"userId": "u-10", "role": "admin"})
            )
            .await
            .0,
        404
    );
    assert_eq!(
        client
            .post(
                &format!("/group/nope/org/{ORG}/members"),
                json!({"userId": "u-10", "role": "admin"})
            )
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn rate_limit_fixed_window() {
    let (fake, client) = setup().await;
    fake.set_rate_limit(5, Duration::from_secs(1));
    let started = Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let (status, headers, body) = client
            .send(reqwest::Method::GET, &format!("/org/{ORG}/provision"), None)
            .await;
        if status == 429 {
            assert!(!headers.contains_key("retry-after"));
            assert!(headers.contains_key("x-error-reference"));
            assert_eq!(body["code"], 429);
            assert_eq!(body["message"], "Too many requests");
        }
        statuses.push(status);
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the 8 calls took too long for this test"
    );
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);

    tokio::time::sleep(
        Duration::from_secs(1).saturating_sub(started.elapsed()) + Duration::from_millis(100),
    )
    .await;
    assert_eq!(client.get(&format!("/org/{ORG}/provision")).await.0, 200);
    assert_eq!(client.get(&format!("/org/{ORG}/members")).await.0, 200);

    let stats = fake.stats();
    assert_eq!(stats.total_requests, 10);
    assert_eq!(stats.too_many_requests, 3);
    assert_eq!(stats.per_window.iter().sum::<u32>(), 7);
    assert_eq!(stats.per_window[0], 5);
    assert_eq!(*stats.per_window.last().unwrap(), 2);
    assert_eq!(fake.calls().iter().filter(|c| c.status == 429).count(), 3);
}

#[tokio::test]
async fn injected_failures() {
    let (fake, client) = setup().await;
    fake.fail_next(2, 503);
    for _ in 0..2 {
        let (status, headers, body) = client
            .send(
                reqwest::Method::POST,
                &format!("/org/{ORG}/provision"),
                Some(json!({"email": "x@example.com", "role": "ADMIN"})),
            )
            .await;
        assert_eq!(status, 503);
        assert_eq!(body["code"], 503);
        assert!(body["message"].is_string() && body["error"].is_string());
        assert!(headers.contains_key("x-error-reference"));
        assert!(headers.contains_key("snyk-request-id"));
    }
    assert!(fake.pending(ORG).is_empty());
    let (status, _) = client
        .post(
            &format!("/org/{ORG}/provision"),
            json!({"email": "x@example.com", "role": "ADMIN"}),
        )
        .await;
    assert_eq!(status, 200);
    let statuses: Vec<u16> = fake.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(
        fake.stats(),
        Stats {
            total_requests: 3,
            too_many_requests: 0,
            per_window: vec![],
        }
    );
}

#[tokio::test]
async fn latency_and_max_in_flight() {
    let (fake, client) = setup().await;
    fake.set_latency(Duration::from_millis(300));
    let started = Instant::now();
    let path = format!("/org/{ORG}/members");
    let (a, b, c, d) = tokio::join!(
        client.get(&path),
        client.get(&path),
        client.get(&path),
        client.get(&path)
    );
    let elapsed = started.elapsed();
    for (status, _) in [a, b, c, d] {
        assert_eq!(status, 200);
    }
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(1100),
        "not concurrent: {elapsed:?}"
    );
    assert_eq!(fake.max_in_flight(), 4);
    assert_eq!(fake.in_flight(), 0);

    // Sequential calls never overlap.
    fake.set_latency(Duration::from_millis(20));
    fake.reset_max_in_flight();
    for _ in 0..3 {
        client.get(&path).await;
    }
    assert_eq!(fake.max_in_flight(), 1);
}
