//! Spawning the real application on a random port, and a small typed client.

use std::path::Path;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use snyk_scim_bridge::config::{Env, parse};
use snyk_scim_bridge::http::Application;

pub const TOKEN: &str = "first-test-token-0123456789abcdef";
pub const SECOND_TOKEN: &str = "second-test-token-fedcba9876543210";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// A running application and a client for it.
pub struct TestApp {
    pub port: u16,
    /// `http://127.0.0.1:{port}/scim/v2`
    pub base: String,
    pub client: reqwest::Client,
    pub token: String,
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL test database (name, maintenance URL), if any.
    pg: Option<(String, String)>,
}

/// One response: status, headers and the body parsed as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert the status, showing the body on failure.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {:#}",
            self.body
        );
        &self.body
    }

    /// Assert an RFC 7644 error response.
    #[track_caller]
    pub fn expect_error(&self, status: u16, scim_type: Option<&str>) {
        self.expect(status);
        assert_eq!(
            self.body["schemas"],
            json!([ERROR_SCHEMA]),
            "{:#}",
            self.body
        );
        assert_eq!(
            self.body["status"],
            json!(status.to_string()),
            "{:#}",
            self.body
        );
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "detail missing: {:#}",
            self.body
        );
        assert_eq!(
            self.body.get("scimType").and_then(Value::as_str),
            scim_type,
            "scimType: {:#}",
            self.body
        );
        assert_eq!(self.header("content-type"), Some("application/scim+json"));
    }

    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .expect("response has an id")
            .to_owned()
    }
}

fn config_text(database_url: &str, scim_extra: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
database_url = "{database_url}"

[scim]
tokens = ["{TOKEN}", "{SECOND_TOKEN}"]
{scim_extra}

[snyk]
dry_run = true

[[mappings]]
group = "Snyk Admins"
org_id = "6b7a7c5e-1111-4c4c-9d9d-000000000001"
role = "ADMIN"
"#
    )
}

async fn start(database_url: &str, scim_extra: &str) -> (u16, String, reqwest::Client) {
    let text = config_text(database_url, scim_extra);
    let config = parse(Path::new("test.toml"), &text, &Env::new()).expect("test config is valid");
    let app = Application::build(config)
        .await
        .expect("application builds");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    (port, format!("http://127.0.0.1:{port}/scim/v2"), client)
}

/// The application on a fresh SQLite database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with("").await
}

/// The same, with extra lines in the `[scim]` table (e.g. `bulk_max_operations = 2`).
pub async fn spawn_app_with(scim_extra: &str) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
    let (port, base, client) = start(&url, scim_extra).await;
    TestApp {
        port,
        base,
        client,
        token: TOKEN.to_owned(),
        _dir: Some(dir),
        pg: None,
    }
}

/// The application on a fresh PostgreSQL database, when `TEST_POSTGRES_URL` is set.
pub async fn spawn_app_pg() -> Option<TestApp> {
    use sqlx::{Connection, Executor};
    let maintenance = std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&maintenance)
        .await
        .expect("TEST_POSTGRES_URL answers");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create the test database");
    conn.close().await.expect("close");
    let (without_query, query) = match maintenance.split_once('?') {
        Some((u, q)) => (u, format!("?{q}")),
        None => (maintenance.as_str(), String::new()),
    };
    let (server, _db) = without_query.rsplit_once('/').expect("URL has a database");
    let url = format!("{server}/{name}{query}");
    let (port, base, client) = start(&url, "").await;
    Some(TestApp {
        port,
        base,
        client,
        token: TOKEN.to_owned(),
        _dir: None,
        pg: Some((name, maintenance)),
    })
}

impl Drop for TestApp {
    /// Drop the PostgreSQL test database, even when the test failed. This runs
    /// on its own thread and runtime, as `Drop` cannot await.
    fn drop(&mut self) {
        let Some((name, maintenance)) = self.pg.take() else {
            return;
        };
        let dropped = std::thread::spawn(move || {
            use sqlx::{Connection, Executor};
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut conn = sqlx::PgConnection::connect(&maintenance).await?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop a PostgreSQL test database");
        }
    }
}

impl TestApp {
    /// `http://127.0.0.1:{port}` (outside `/scim/v2`).
    pub fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the bearer token, extra headers and an optional JSON body
    /// (sent as `application/scim+json` unless a content-type header is given).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Resp {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.url(path)
        };
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {}", self.token)).unwrap(),
        );
        if body.is_some() {
            h.insert(
                "content-type",
                HeaderValue::from_static("application/scim+json"),
            );
        }
        for (k, v) in headers {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let mut rb = self.client.request(method, url).headers(h);
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        send(rb).await
    }

    /// A request with a raw body and exactly the given headers (no token added).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.url(path)
        };
        let mut rb = self.client.request(method, url);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        send(rb).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, &[], None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.request(Method::POST, path, &[], Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.request(Method::PUT, path, &[], Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.request(Method::PATCH, path, &[], Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.request(Method::DELETE, path, &[], None).await
    }

    /// `GET /Users?filter=...` (the filter is URL-encoded here) plus extra query text.
    pub async fn filter(&self, collection: &str, filter: &str, extra: &str) -> Resp {
        let path = format!("/{collection}?filter={}{extra}", enc(filter));
        self.get(&path).await
    }

    /// PATCH with a PatchOp body made of `ops`.
    pub async fn patch_ops(&self, path: &str, ops: Value) -> Resp {
        self.patch(path, &json!({"schemas": [PATCH_SCHEMA], "Operations": ops}))
            .await
    }

    /// PATCH with a PatchOp body, asking for the resource in the answer
    /// (`Prefer: return=representation`; a group PATCH answers 204 without).
    pub async fn patch_ops_full(&self, path: &str, ops: Value) -> Resp {
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": ops});
        self.request(
            Method::PATCH,
            path,
            &[("Prefer", "return=representation")],
            Some(&body),
        )
        .await
    }

    /// Create a user with this userName (and given extra attributes); returns the body.
    pub async fn create_user(&self, user_name: &str, extra: Value) -> Value {
        let mut body = json!({"schemas": [USER_SCHEMA], "userName": user_name, "active": true});
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        self.post("/Users", &body).await.expect(201).clone()
    }

    /// Create a group with these member ids; returns the body.
    pub async fn create_group(&self, name: &str, member_ids: &[&str]) -> Value {
        let members: Vec<Value> = member_ids.iter().map(|id| json!({"value": id})).collect();
        let body = json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": members});
        self.post("/Groups", &body).await.expect(201).clone()
    }

    /// The ids of the current members of a group, sorted.
    pub async fn member_ids(&self, group_id: &str) -> Vec<String> {
        let r = self.get(&format!("/Groups/{group_id}")).await;
        r.expect(200);
        sorted(ids_of(&r.body["members"]))
    }
}

async fn send(rb: reqwest::RequestBuilder) -> Resp {
    let res = rb.send().await.expect("request sent");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("body read");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Resp {
        status,
        headers,
        body,
    }
}

/// Percent-encode a query parameter value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The `value` of every element of a multi-valued attribute (empty when absent).
pub fn ids_of(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The ids, sorted (members come back in no promised order).
pub fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// The `userName` of every resource of a list response, in order.
pub fn user_names(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| r["userName"].as_str().expect("userName").to_owned())
        .collect()
}

/// A random GUID, as Entra sends in Test Connection.
pub fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}
