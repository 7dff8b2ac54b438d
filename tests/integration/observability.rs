//! Observability (issue 5, items 1-4): `/metrics`, logs with request ids and
//! without secrets or emails, the audit trail and `status --user`, and the
//! `/status` page (rendered in headless Chromium when it is installed).
//!
//! The app runs for real on port 0 against the stateful fake Snyk, with a
//! manual clock and the worker driven step by step, as in sync_scenarios.rs.

use crate::fake_snyk;
use crate::pg;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_snyk::FakeSnyk;
use serde_json::{Value, json};
use snyk_scim_bridge::audit::{HistoryItem, user_history};
use snyk_scim_bridge::clock::ManualClock;
use snyk_scim_bridge::store::Store;
use snyk_scim_bridge::sync::Engine;

const ORG_A: &str = "6b7a7c5e-1111-4c4c-9d9d-00000000000a";
const ORG_B: &str = "6b7a7c5e-1111-4c4c-9d9d-00000000000b";
const SNYK_TOKEN: &str = "snyk-personal-token-for-observability";
const SCIM_TOKEN: &str = "scim-token-for-observability-0001";
const SECOND_SCIM_TOKEN: &str = "scim-token-for-observability-0002";
const ADMIN_TOKEN: &str = "admin-token-for-the-status-page-0001";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

struct Harness {
    fake: FakeSnyk,
    engine: Engine,
    store: Store,
    clock: Arc<ManualClock>,
    root: String,
    http: reqwest::Client,
    config_path: PathBuf,
    dir: tempfile::TempDir,
    _pg: Option<pg::PgDb>,
}

async fn harness(postgres: bool, admin: bool, dry_run: bool) -> Option<Harness> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, pg_guard) = if postgres {
        let g = pg::PgDb::create("obs").await?;
        (g.url.clone(), Some(g))
    } else {
        (format!("sqlite://{}/bridge.db", dir.path().display()), None)
    };
    let fake = FakeSnyk::start(SNYK_TOKEN).await;
    fake.add_org(ORG_A);
    fake.add_org(ORG_B);
    let admin_table = if admin {
        format!("[admin]\ntoken = \"{ADMIN_TOKEN}\"\n")
    } else {
        String::new()
    };
    let text = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "{db}"
audit_retention_days = 30
[scim]
tokens = ["{SCIM_TOKEN}", "{SECOND_SCIM_TOKEN}"]
[snyk]
api_url = "{api}"
token = "{SNYK_TOKEN}"
dry_run = {dry_run}
requests_per_minute = 60000
max_concurrent_requests = 4
# The rails have their own scenarios (tests/blackbox/safety.rs).
[safety]
breaker = false
group_shrink_percent = 100
[[mappings]]
group = "Snyk Admins"
org_id = "{ORG_A}"
role = "ADMIN"
[[mappings]]
group = "Developers"
org_id = "{ORG_B}"
role = "COLLABORATOR"
{admin_table}"#,
        api = fake.base_url,
    );
    let config_path = dir.path().join("bridge.toml");
    std::fs::write(&config_path, &text).expect("write config");
    let app = crate::app::start("bridge.toml", &text, "2026-06-01T12:00:00Z").await;
    let (root, engine, store, clock) = (app.root, app.engine, app.store, app.clock);
    Some(Harness {
        fake,
        engine,
        store,
        clock,
        root,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        config_path,
        dir,
        _pg: pg_guard,
    })
}

/// Status, the `X-Request-Id` answered, and the JSON body.
struct Answer {
    status: u16,
    request_id: String,
    body: Value,
}

impl Harness {
    async fn scim(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}/scim/v2{path}", self.root))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("every answer has an X-Request-Id")
            .to_owned();
        let text = resp.text().await.expect("body");
        Answer {
            status,
            request_id,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    async fn create_user(&self, email: &str) -> Answer {
        let a = self
            .scim(
                SCIM_TOKEN,
                reqwest::Method::POST,
                "/Users",
                Some(json!({
                    "schemas": [USER_SCHEMA],
                    "userName": email,
                    "emails": [{"value": email, "type": "work", "primary": true}],
                    "active": true
                })),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        a
    }

    async fn create_group(&self, token: &str, name: &str, members: &[&str]) -> Answer {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let a = self
            .scim(
                token,
                reqwest::Method::POST,
                "/Groups",
                Some(json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": members})),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        a
    }

    async fn drain(&self) {
        self.engine.drain(|_| {}).await.expect("drain");
    }

    async fn get(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut req = self.http.get(format!("{}{path}", self.root));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.expect("body"))
    }
}

fn id(a: &Answer) -> String {
    a.body["id"].as_str().expect("id").to_owned()
}

// ---------------------------------------------------------------------------
// 1. /metrics

#[tokio::test]
async fn metrics_report_routes_outbox_snyk_calls_and_build_info() {
    let h = harness(false, false, false).await.expect("sqlite");
    let ann = h.create_user("metrics.ann@example.com").await;
    let ann_id = id(&ann);
    let g = h
        .scim(
            SCIM_TOKEN,
            reqwest::Method::GET,
            &format!("/Users/{ann_id}"),
            None,
        )
        .await;
    assert_eq!(g.status, 200);
    let missing = h
        .scim(
            SCIM_TOKEN,
            reqwest::Method::GET,
            "/Users/no-such-id?attributes=userName",
            None,
        )
        .await;
    assert_eq!(missing.status, 404);
    h.create_group(SCIM_TOKEN, "Snyk Admins", &[&ann_id]).await;

    // Before the worker runs: pending targets, and their age.
    h.clock.advance(chrono::Duration::seconds(90));
    let (status, headers, text) = h.get("/metrics", &[]).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        headers["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/plain")),
        "{headers:?}"
    );
    // Ann in "Snyk Admins": one target, for the one org the group maps to.
    assert!(
        text.contains("outbox_targets{state=\"pending\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("outbox_oldest_pending_age_seconds 90"),
        "{text}"
    );

    h.drain().await;
    // Reconciliation sees a role changed by hand.
    let ann_snyk = h
        .fake
        .simulate_first_login(ORG_A, "metrics.ann@example.com")
        .expect("pending");
    h.engine.reconcile(false).await.expect("reconcile");
    h.fake.set_member_role(ORG_A, &ann_snyk, "collaborator");
    h.engine.reconcile(false).await.expect("reconcile");
    let (_, _, text) = h.get("/metrics", &[]).await;
    assert!(
        text.contains("outbox_oldest_pending_age_seconds 0"),
        "{text}"
    );
    // Then a 429 (the worker defers the target; the test does not wait out
    // the pause).
    let bob = id(&h.create_user("metrics.bob@example.com").await);
    h.fake.fail_next(1, 429);
    h.create_group(SCIM_TOKEN, "Developers", &[&bob]).await;
    h.drain().await;
    let (_, _, text) = h.get("/metrics", &[]).await;
    for want in [
        "scim_requests_total{route=\"/scim/v2/Users\",method=\"POST\",status=\"201\"}",
        "scim_requests_total{route=\"/scim/v2/Users/{id}\",method=\"GET\",status=\"200\"}",
        "scim_requests_total{route=\"/scim/v2/Users/{id}\",method=\"GET\",status=\"404\"}",
        "scim_request_duration_seconds_bucket{route=\"/scim/v2/Groups\",method=\"POST\",le=\"0.005\"}",
        "scim_request_duration_seconds_count{route=\"/scim/v2/Users\",method=\"POST\"}",
        "outbox_targets{state=\"idle\"}",
        "outbox_targets{state=\"dead\"} 0",
        "snyk_calls_total{endpoint=\"/org/{orgId}/provision\",status=\"200\"}",
        "snyk_calls_total{endpoint=\"/org/{orgId}/provision\",status=\"429\"}",
        "snyk_calls_total{endpoint=\"/org/{orgId}/members\",status=\"200\"}",
        "snyk_call_duration_seconds_bucket{endpoint=\"/org/{orgId}/provision\",le=\"0.1\"}",
        "snyk_rate_limited_total",
        "sync_drift_total",
        "sync_drift_current",
        "sync_last_reconcile_timestamp_seconds",
        "# TYPE scim_request_duration_seconds histogram",
        "# TYPE outbox_targets gauge",
    ] {
        assert!(text.contains(want), "missing {want}:\n{text}");
    }
    assert!(
        text.contains(&format!(
            "bridge_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    // Labels are patterns: no id, no query, no email, no token.
    for secret in [
        ann_id.as_str(),
        "no-such-id",
        "attributes=",
        "example.com",
        SCIM_TOKEN,
        SNYK_TOKEN,
    ] {
        assert!(!text.contains(secret), "{secret} leaked into /metrics");
    }
}

// ---------------------------------------------------------------------------
// 3. The audit trail and `status --user`

async fn audit_trail(postgres: bool) {
    let Some(h) = harness(postgres, false, false).await else {
        return;
    };
    let email = "Audit.Ann@Example.com";
    let ann = h.create_user(email).await;
    let ann_id = id(&ann);
    let _bystander = h.create_user("someone.else@example.com").await;
    // The group is created with the second token: a different principal.
    let grp = h
        .create_group(SECOND_SCIM_TOKEN, "Snyk Admins", &[&ann_id])
        .await;
    let grp_id = id(&grp);
    h.drain().await;
    // A deactivation, then the worker takes the access away.
    h.clock.advance(chrono::Duration::seconds(5));
    let patch = h
        .scim(
            SCIM_TOKEN,
            reqwest::Method::PATCH,
            &format!("/Users/{ann_id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": false}]
            })),
        )
        .await;
    assert_eq!(patch.status, 200, "{}", patch.body);
    h.drain().await;

    let hist = user_history(&h.store, "audit.ann@example.com")
        .await
        .expect("history");
    assert_eq!(hist.user_ids, std::slice::from_ref(&ann_id));
    let mut changes = Vec::new();
    let mut calls = Vec::new();
    for item in &hist.items {
        match item {
            HistoryItem::Change(e) => changes.push(e.clone()),
            HistoryItem::Call(c) => calls.push(c.clone()),
            HistoryItem::Queued(q) => assert_eq!(q.user_id, ann_id),
        }
    }
    let summary: Vec<(String, String, String, String)> = changes
        .iter()
        .map(|e| {
            (
                e.operation.clone(),
                e.resource_type.clone(),
                e.principal.clone(),
                e.request_id.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "create".into(),
                "User".into(),
                "token#1".into(),
                ann.request_id.clone()
            ),
            (
                "create".into(),
                "Group".into(),
                "token#2".into(),
                grp.request_id.clone()
            ),
            (
                "patch".into(),
                "User".into(),
                "token#1".into(),
                patch.request_id.clone()
            ),
        ],
        "the bystander's creation is not in Ann's history"
    );
    assert_eq!(changes[1].resource_id, grp_id);
    assert_eq!(
        changes[1].summary,
        "attributes: displayName; members: +1 -0"
    );
    assert_eq!(changes[2].summary, "attributes: active");
    assert_eq!(
        changes[0].user_email.as_deref(),
        Some("audit.ann@example.com")
    );
    // Every Snyk call is linked to the SCIM request that caused it.
    let linked: Vec<(String, String, Option<String>)> = calls
        .iter()
        .map(|c| {
            (
                c.method.clone(),
                c.outcome.clone(),
                c.scim_request_id.clone(),
            )
        })
        .collect();
    assert_eq!(
        linked,
        [
            ("POST".into(), "ok".into(), Some(grp.request_id.clone())),
            ("DELETE".into(), "ok".into(), Some(patch.request_id.clone())),
        ]
    );
    let times: Vec<i64> = hist.items.iter().map(HistoryItem::at).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "time order: {times:?}"
    );
    for e in &changes {
        for secret in [SCIM_TOKEN, SECOND_SCIM_TOKEN, SNYK_TOKEN] {
            assert!(!format!("{e:?}").contains(secret));
        }
    }

    // Retention: 30 days in this configuration.
    h.clock.advance(chrono::Duration::days(29));
    let p = h.engine.purge_audit().await.expect("purge");
    assert_eq!(p.audit_events, 0, "nothing is old enough yet");
    h.clock.advance(chrono::Duration::days(2));
    let p = h.engine.purge_audit().await.expect("purge");
    assert_eq!(p.audit_events, 4, "{p:?}");
    assert!(p.snyk_calls >= 2 && p.audit_queued >= 2, "{p:?}");
    let hist = user_history(&h.store, "audit.ann@example.com")
        .await
        .expect("history");
    assert!(hist.items.is_empty(), "{:?}", hist.items);
}

#[tokio::test]
async fn audit_trail_links_scim_changes_to_snyk_calls_sqlite() {
    audit_trail(false).await;
}

#[tokio::test]
async fn audit_trail_links_scim_changes_to_snyk_calls_postgres() {
    audit_trail(true).await;
}

#[tokio::test]
async fn status_user_prints_one_users_history_in_time_order() {
    let h = harness(false, false, false).await.expect("sqlite");
    let ann = h.create_user("cli.ann@example.com").await;
    let ann_id = id(&ann);
    let grp = h.create_group(SCIM_TOKEN, "Developers", &[&ann_id]).await;
    h.drain().await;
    let out = Command::new(env!("CARGO_BIN_EXE_snyk-scim-bridge"))
        .args(["status", "--config"])
        .arg(&h.config_path)
        .args(["--user", "CLI.Ann@example.com"])
        .env_remove("SNYK_TOKEN")
        .env_remove("SCIM_TOKENS")
        .env_remove("ADMIN_TOKEN")
        .output()
        .expect("run status --user");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    let pos = |needle: &str| {
        stdout
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from:\n{stdout}"))
    };
    let created = pos(&format!("scim    create User {ann_id} by token#1"));
    let grouped = pos(&format!("[request {}]", grp.request_id));
    let queued = pos(&format!("queued  user {ann_id} org {ORG_B}"));
    let call = pos(&format!("snyk    POST /org/{ORG_B}/provision"));
    assert!(
        created < grouped && grouped < queued && queued < call,
        "{stdout}"
    );
    pos(&format!("[caused by request {}]", grp.request_id));
    pos("access applied in Snyk now:");
    pos(&format!(
        "org {ORG_B} pending COLLABORATOR as cli.ann@example.com"
    ));
    assert!(!stdout.contains(SCIM_TOKEN) && !stdout.contains(SNYK_TOKEN));

    let none = Command::new(env!("CARGO_BIN_EXE_snyk-scim-bridge"))
        .args(["status", "--config"])
        .arg(&h.config_path)
        .args(["--user", "nobody@example.com"])
        .output()
        .expect("run");
    assert!(none.status.success());
    assert!(String::from_utf8_lossy(&none.stdout).contains("no SCIM user"));
    drop(h.dir);
}

// ---------------------------------------------------------------------------
// 2. Logs: the real binary with log_format = "json".

/// Lines of a child's stderr, collected on a thread.
fn collect_lines(stderr: std::process::ChildStderr) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().expect("lock").push(line);
        }
    });
    lines
}

async fn wait_for(lines: &Arc<Mutex<Vec<String>>>, what: &str) -> String {
    for _ in 0..600 {
        if let Some(l) = lines
            .lock()
            .expect("lock")
            .iter()
            .find(|l| l.contains(what))
        {
            return l.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no log line with {what:?}:\n{}",
        lines.lock().expect("lock").join("\n")
    );
}

/// A span field of a JSON log line (the current span or any parent).
fn span_field(line: &Value, field: &str) -> Option<String> {
    let from = |s: &Value| s.get(field).and_then(Value::as_str).map(str::to_owned);
    line.get("span").and_then(from).or_else(|| {
        line.get("spans")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find_map(from))
    })
}

#[tokio::test]
async fn json_logs_carry_request_ids_and_never_a_token_or_an_email() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("bridge.toml");
    let email = "Log.Person@Example.com";
    std::fs::write(
        &config_path,
        format!(
            r#"
listen = "127.0.0.1:0"
database_url = "sqlite://{db}"
log_format = "json"
[scim]
tokens = ["{SCIM_TOKEN}"]
[snyk]
dry_run = true
[[mappings]]
group = "Snyk Admins"
org_id = "{ORG_A}"
role = "ADMIN"
[admin]
token = "{ADMIN_TOKEN}"
"#,
            db = dir.path().join("bridge.db").display()
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_snyk-scim-bridge"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .env("RUST_LOG", "info,snyk_scim_bridge=debug")
        .env_remove("SNYK_TOKEN")
        .env_remove("SCIM_TOKENS")
        .env_remove("ADMIN_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let lines = collect_lines(child.stderr.take().expect("stderr"));
    let serving: Value =
        serde_json::from_str(&wait_for(&lines, "snyk-scim-bridge is serving").await).expect("json");
    let port = serving["port"].as_u64().expect("port");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}/scim/v2{path}"))
            .bearer_auth(SCIM_TOKEN)
            .json(&body)
            .send()
    };
    let rid = |r: &reqwest::Response| {
        r.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    let user = post(
        "/Users",
        json!({"schemas": [USER_SCHEMA], "userName": email, "emails": [{"value": email, "primary": true}]}),
    )
    .await
    .expect("create user");
    assert_eq!(user.status(), 201);
    let user_rid = rid(&user);
    let user_id = user.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let group = post(
        "/Groups",
        json!({"schemas": [GROUP_SCHEMA], "displayName": "Snyk Admins", "members": [{"value": user_id}]}),
    )
    .await
    .expect("create group");
    assert_eq!(group.status(), 201);
    let group_rid = rid(&group);
    let filtered = http
        .get(format!("{base}/scim/v2/Users"))
        .query(&[("filter", format!("userName eq \"{email}\""))])
        .bearer_auth(SCIM_TOKEN)
        .header("x-request-id", "proxy-id-0001")
        .send()
        .await
        .expect("filter");
    assert_eq!(filtered.status(), 200);
    let filter_rid = rid(&filtered);
    assert_ne!(
        filter_rid, "proxy-id-0001",
        "the bridge's own id is answered"
    );
    let refused = http
        .get(format!("{base}/scim/v2/Users"))
        .bearer_auth("a-wrong-token-that-must-not-be-logged")
        .send()
        .await
        .expect("refused");
    assert_eq!(refused.status(), 401);
    let status_page = http
        .get(format!("{base}/status"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("status");
    assert_eq!(status_page.status(), 200);
    // The worker plans the grant (dry run: recorded, not sent).
    wait_for(&lines, "dry run: not sent").await;
    let _ = child.kill();
    let _ = child.wait();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let lines = lines.lock().expect("lock").clone();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();

    // Every line of a request carries its id: the access line, and the
    // handler's own lines (the change it stored, the authentication).
    let of_request = |rid: &str| -> Vec<&Value> {
        parsed
            .iter()
            .filter(|l| span_field(l, "request_id").as_deref() == Some(rid))
            .collect()
    };
    let user_lines = of_request(&user_rid);
    let messages: Vec<&str> = user_lines
        .iter()
        .filter_map(|l| l["message"].as_str())
        .collect();
    for want in ["authenticated", "SCIM change stored", "request handled"] {
        assert!(messages.contains(&want), "{want} missing: {messages:?}");
    }
    let upstream = of_request(&filter_rid);
    assert!(
        upstream
            .iter()
            .any(|l| span_field(l, "upstream_request_id").as_deref() == Some("proxy-id-0001")),
        "{upstream:?}"
    );
    for l in parsed.iter().filter(|l| l["message"] == "request handled") {
        assert!(span_field(l, "request_id").is_some(), "{l}");
    }
    // The worker's lines carry the target, an operation id and the SCIM
    // request that queued it.
    let dry = parsed
        .iter()
        .find(|l| l["message"] == "dry run: not sent")
        .expect("dry run line");
    // The user's creation and the group's both queue this target; which
    // request the worker's pass is attributed to depends on when it claims it.
    let by = span_field(dry, "scim_request_id");
    assert!(
        by == Some(group_rid.clone()) || by == Some(user_rid.clone()),
        "{dry}"
    );
    assert!(span_field(dry, "operation_id").is_some(), "{dry}");
    assert_eq!(span_field(dry, "user"), Some(user_id.clone()));

    // No secret and no email; the email's hash stands in for it.
    let all = lines.join("\n");
    for secret in [
        SCIM_TOKEN,
        ADMIN_TOKEN,
        "a-wrong-token-that-must-not-be-logged",
    ] {
        assert!(!all.contains(secret), "a token was logged");
    }
    let lower = all.to_lowercase();
    assert!(!lower.contains("log.person"), "an email was logged:\n{all}");
    assert!(!lower.contains("log.person%40"), "an email was logged");
    let hash = snyk_scim_bridge::telemetry::email_hash(email);
    assert!(
        dry["call"].as_str().is_some_and(|c| c.contains(&hash)),
        "the planned call names the hash: {dry}"
    );
}

// ---------------------------------------------------------------------------
// 4. /status

#[tokio::test]
async fn status_answers_404_without_an_admin_token() {
    let h = harness(false, false, true).await.expect("sqlite");
    for path in ["/status", "/status?ticket=1.00"] {
        assert_eq!(h.get(path, &[]).await.0, 404);
    }
    let r = h
        .http
        .post(format!("{}/status/login", h.root))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 404);
}

fn set_cookie(headers: &reqwest::header::HeaderMap) -> String {
    headers["set-cookie"].to_str().expect("ascii").to_owned()
}

#[tokio::test]
async fn status_needs_the_admin_token_header_cookie_or_a_short_lived_link() {
    let h = harness(false, true, true).await.expect("sqlite");
    // Nothing: the sign-in form.
    let (status, headers, body) = h.get("/status", &[]).await;
    assert_eq!(status, 401);
    assert!(
        body.contains("<form method=\"post\" action=\"/status/login\""),
        "{body}"
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .is_ok_and(|c| c.contains("default-src 'none'"))
    );
    // The header: the page.
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let (status, _, body) = h.get("/status", &[("authorization", &bearer)]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("id=\"health\""));
    let (status, _, _) = h
        .get(
            "/status",
            &[("authorization", "Bearer wrong-admin-token-000000")],
        )
        .await;
    assert_eq!(status, 401);
    // The form: a session cookie, HttpOnly and SameSite=Strict.
    let login = |token: &'static str| {
        h.http
            .post(format!("{}/status/login", h.root))
            .form(&[("token", token)])
            .send()
    };
    assert_eq!(
        login("not-the-admin-token").await.expect("post").status(),
        401
    );
    let ok = login(ADMIN_TOKEN).await.expect("post");
    assert_eq!(ok.status(), 303);
    let cookie = set_cookie(ok.headers());
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains(ADMIN_TOKEN));
    let pair = cookie.split(';').next().expect("pair").to_owned();
    let (status, _, _) = h.get("/status", &[("cookie", &pair)]).await;
    assert_eq!(status, 200);
    // A tampered cookie is refused.
    let tampered = format!(
        "{}0",
        pair.trim_end_matches(|c: char| c.is_ascii_hexdigit())
    );
    assert_eq!(h.get("/status", &[("cookie", &tampered)]).await.0, 401);
    // The one-time link: valid for 60 seconds, then refused.
    let link = h
        .http
        .post(format!("{}/status/ticket", h.root))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("ticket")
        .text()
        .await
        .expect("text");
    let link = link.trim().to_owned();
    assert!(
        link.starts_with("/status?ticket=") && !link.contains(ADMIN_TOKEN),
        "{link}"
    );
    let (status, headers, _) = h.get(&link, &[]).await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/status");
    assert!(set_cookie(&headers).contains("HttpOnly"));
    // Once only: the same link again is refused (the store remembers it, so
    // another replica on the same database refuses it too).
    assert_eq!(h.get(&link, &[]).await.0, 401, "a second use");
    let other = h
        .http
        .post(format!("{}/status/ticket", h.root))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("ticket")
        .text()
        .await
        .expect("text");
    let other = other.trim().to_owned();
    assert_ne!(other, link, "every link is new");
    h.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(h.get(&other, &[]).await.0, 401, "expired");
    let unauth = h
        .http
        .post(format!("{}/status/ticket", h.root))
        .send()
        .await
        .expect("ticket");
    assert_eq!(unauth.status(), 401);
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

fn chromium_run(bin: &str, profile: &Path, extra: &[String], url: &str) -> std::process::Output {
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=2000",
            "--window-size=1200,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("run chromium")
}

#[tokio::test]
async fn status_page_renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        eprintln!(
            "SKIPPED: chromium is not installed (apt-get install -y chromium); the /status page was not rendered"
        );
        return;
    };
    let h = harness(false, true, false).await.expect("sqlite");
    // Some history: two granted users, one refused with a hostile message.
    h.fake.add_group("9f0e0d0c-2222-4b4b-8a8a-000000000001");
    h.fake.add_existing_user(
        "9f0e0d0c-2222-4b4b-8a8a-000000000001",
        "snyk-user-1",
        "existing@example.com",
    );
    h.fake
        .set_already_exists_response(400, "User {email} already exists <script>alert(1)</script>");
    let a = id(&h.create_user("ann@example.com").await);
    let b = id(&h.create_user("bob@example.com").await);
    let c = id(&h.create_user("existing@example.com").await);
    h.create_group(SCIM_TOKEN, "Snyk Admins", &[&a]).await;
    h.create_group(SCIM_TOKEN, "Developers", &[&a, &b, &c])
        .await;
    h.drain().await;
    h.engine.reconcile(false).await.expect("reconcile");

    let link = h
        .http
        .post(format!("{}/status/ticket", h.root))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("ticket")
        .text()
        .await
        .expect("text");
    let url = format!("{}{}", h.root, link.trim());
    let profile = tempfile::tempdir().expect("profile");

    let dom = chromium_run(bin, profile.path(), &["--dump-dom".to_owned()], &url);
    let dom_text = String::from_utf8_lossy(&dom.stdout).to_string();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .to_path_buf();
    let dom_path = target.join("status-page.html");
    std::fs::write(&dom_path, &dom_text).expect("write the DOM");
    println!(
        "status page DOM (as Chromium parsed it): {}",
        dom_path.display()
    );
    assert!(
        dom.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    for section in [
        "id=\"health\"",
        "id=\"outbox\"",
        "id=\"failures\"",
        "id=\"calls\"",
        "id=\"orgs\"",
        "id=\"drift\"",
        "Database",
        "Sync worker",
        "Snyk API",
        "Snyk token",
        "Reconciliation",
        ORG_B,
    ] {
        assert!(
            dom_text.contains(section),
            "{section} missing from the DOM:\n{dom_text}"
        );
    }
    assert!(
        !dom_text.contains("<script>alert"),
        "Snyk's message is escaped"
    );
    assert!(
        dom_text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom_text}"
    );
    assert!(
        !dom_text.contains("name=\"token\""),
        "signed in, not the login form"
    );

    let shot = target.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let out = chromium_run(
        bin,
        profile.path(),
        &[format!("--screenshot={}", shot.display())],
        &url,
    );
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    println!("status page screenshot: {}", shot.display());
}
