//! Operator views (issue 12, item 6): every metric family on `/metrics`
//! before the first event, `pretty` logs without ANSI escapes when they do not
//! go to a terminal, `--json` output of `status`, `plan` and `check-config`,
//! and users and orgs shown by the names an operator knows (userName / email,
//! the org's Snyk name next to its id) in `status`, `plan` and `/status`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ORG_A: &str = "6b7a7c5e-1111-4c4c-9d9d-0000000000a1";
const SCIM_TOKEN: &str = "scim-token-for-operator-views-0001";

/// A `serve` of the built binary with its stderr collected line by line.
struct Served {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_snyk-scim-bridge"))
            .args(["serve", "--config"])
            .arg(config)
            .env_remove("SNYK_TOKEN")
            .env_remove("SCIM_TOKENS")
            .env_remove("ADMIN_TOKEN")
            .env_remove("RUST_LOG")
            // A colour preference of the environment must not decide the test.
            .env_remove("NO_COLOR")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start serve");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        Self { child, lines }
    }

    async fn wait_for(&self, what: &str) -> String {
        for _ in 0..600 {
            if let Some(l) = self
                .lines
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
            self.lines.lock().expect("lock").join("\n")
        );
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.lines.lock().expect("lock").join("\n")
    }
}

/// A dry-run configuration on SQLite in `dir`, with `extra` appended.
fn write_config(dir: &Path, log_format: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("bridge.toml");
    std::fs::write(
        &path,
        format!(
            r#"
listen = "127.0.0.1:0"
database_url = "sqlite://{db}"
log_format = "{log_format}"
[scim]
tokens = ["{SCIM_TOKEN}"]
[snyk]
dry_run = true
[[mappings]]
group = "Snyk Admins"
org_id = "{ORG_A}"
role = "ADMIN"
{extra}"#,
            db = dir.join("bridge.db").display()
        ),
    )
    .expect("config");
    path
}

// ---------------------------------------------------------------------------
// Metric families present from the start

/// Every family the bridge exports (docs/operations.md, README "Observe").
const FAMILIES: [&str; 18] = [
    "scim_requests_total",
    "scim_request_duration_seconds",
    "outbox_targets",
    "outbox_oldest_pending_age_seconds",
    "snyk_calls_total",
    "snyk_call_duration_seconds",
    "snyk_rate_limited_total",
    "sync_drift_total",
    "sync_drift_current",
    "sync_last_reconcile_timestamp_seconds",
    "audit_purged_rows_total",
    "bridge_build_info",
    "safety_held_changes",
    "safety_breaker_open",
    "safety_refused_changes",
    "safety_breaker_trips_total",
    "safety_refused_total",
    "snyk_call_kind_blocked",
];

#[tokio::test]
async fn metrics_families_are_present_before_any_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "json", "");
    let served = Served::start(&config);
    let line = served.wait_for("snyk-scim-bridge is serving").await;
    let port = serde_json::from_str::<serde_json::Value>(&line).expect("json")["port"]
        .as_u64()
        .expect("port");
    // The first request the process answers: no SCIM request, no Snyk call,
    // no reconciliation (the first is 5 s after start) and no purge yet.
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    served.stop();
    for family in FAMILIES {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing before any event:\n{text}"
        );
    }
    for series in [
        "snyk_rate_limited_total 0",
        "sync_drift_total 0",
        "sync_drift_current 0",
        "sync_last_reconcile_timestamp_seconds 0",
        "outbox_oldest_pending_age_seconds 0",
        "outbox_targets{state=\"pending\"} 0",
        "outbox_targets{state=\"dead\"} 0",
        "outbox_targets{state=\"held\"} 0",
        "safety_breaker_open 0",
        "safety_breaker_trips_total 0",
        "snyk_call_kind_blocked{endpoint=\"POST /org/{orgId}/provision\"} 0",
        "audit_purged_rows_total{table=\"snyk_calls\"} 0",
        "snyk_calls_total{endpoint=\"/org/{orgId}/provision\",status=\"200\"} 0",
        "snyk_call_duration_seconds_count{endpoint=\"/org/{orgId}/members/{userId}\"} 0",
        "scim_requests_total{route=\"/scim/v2/Users\",method=\"POST\",status=\"201\"} 0",
        "scim_request_duration_seconds_count{route=\"/scim/v2/Groups/{id}\",method=\"PATCH\"} 0",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
}

// ---------------------------------------------------------------------------
// Pretty logs without colour codes off a terminal

/// `text` without ANSI SGR sequences (`ESC [ ... m`), so a coloured line
/// still parses and the test fails on the assertion that matters.
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn pretty_logs_written_to_a_pipe_carry_no_ansi_escapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "pretty", "");
    let served = Served::start(&config);
    let line = served.wait_for("snyk-scim-bridge is serving").await;
    // A request, so the request span's lines are written too.
    let port: String = strip_ansi(&line)
        .split("port=")
        .nth(1)
        .expect("port field")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let answer = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/scim/v2/Users"))
        .bearer_auth(SCIM_TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), 200);
    served.wait_for("request handled").await;
    let all = served.stop();
    assert!(all.contains("INFO"), "{all}");
    assert!(
        !all.contains('\u{1b}'),
        "ANSI escapes in logs written to a pipe:\n{}",
        all.escape_debug()
    );
}

// ---------------------------------------------------------------------------
// Users and orgs by name; `--json` for scripts

const GROUP: &str = "9f0e0d0c-2222-4b4b-8a8a-0000000000c1";
const ORG_B: &str = "6b7a7c5e-1111-4c4c-9d9d-0000000000b1";
const SNYK_TOKEN: &str = "snyk-personal-token-for-operator-views";
const ADMIN_TOKEN: &str = "admin-token-for-operator-views-0001";

struct Named {
    fake: crate::fake_snyk::FakeSnyk,
    app: crate::app::InProcess,
    config_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _pg: Option<crate::pg::PgDb>,
}

/// The app in-process with `snyk.group_id` set and two named orgs in the
/// group: "Platform Team" (ORG_A, admins) and "Payments" (ORG_B, developers).
async fn named(postgres: bool) -> Option<Named> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, pg) = if postgres {
        let g = crate::pg::PgDb::create("views").await?;
        (g.url.clone(), Some(g))
    } else {
        (format!("sqlite://{}/bridge.db", dir.path().display()), None)
    };
    let fake = crate::fake_snyk::FakeSnyk::start(SNYK_TOKEN).await;
    fake.add_group(GROUP);
    fake.add_org_in_group(GROUP, ORG_A);
    fake.add_org_in_group(GROUP, ORG_B);
    fake.set_org_name(ORG_A, "Platform Team");
    fake.set_org_name(ORG_B, "Payments");
    let text = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "{db}"
[scim]
tokens = ["{SCIM_TOKEN}"]
[snyk]
api_url = "{api}"
token = "{SNYK_TOKEN}"
group_id = "{GROUP}"
requests_per_minute = 60000
[[mappings]]
group = "Snyk Admins"
org_id = "{ORG_A}"
role = "ADMIN"
[[mappings]]
group = "Developers"
org_id = "{ORG_B}"
role = "COLLABORATOR"
[admin]
token = "{ADMIN_TOKEN}"
"#,
        api = fake.base_url,
    );
    let config_path = dir.path().join("bridge.toml");
    std::fs::write(&config_path, &text).expect("config");
    let app = crate::app::start("bridge.toml", &text, "2026-06-01T12:00:00Z").await;
    Some(Named {
        fake,
        app,
        config_path,
        _dir: dir,
        _pg: pg,
    })
}

impl Named {
    async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let r = reqwest::Client::new()
            .post(format!("{}/scim/v2{path}", self.app.root))
            .bearer_auth(SCIM_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 201);
        r.json().await.expect("json")
    }

    async fn user(&self, user_name: &str, email: &str) -> String {
        let u = self
            .post(
                "/Users",
                serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "emails": [{"value": email, "type": "work", "primary": true}],
                }),
            )
            .await;
        u["id"].as_str().expect("id").to_owned()
    }

    async fn group(&self, name: &str, members: &[&str]) {
        let members: Vec<serde_json::Value> = members
            .iter()
            .map(|m| serde_json::json!({"value": m}))
            .collect();
        self.post(
            "/Groups",
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": name,
                "members": members,
            }),
        )
        .await;
    }

    /// Run the binary with `args` on this configuration: (exit code, stdout).
    fn command(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_snyk-scim-bridge"))
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .env_remove("SNYK_TOKEN")
            .env_remove("SCIM_TOKENS")
            .env_remove("ADMIN_TOKEN")
            .output()
            .expect("run the binary");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            !stdout.contains(SNYK_TOKEN) && !stdout.contains(ADMIN_TOKEN),
            "a token in the output"
        );
        (
            out.status.code().unwrap_or(-1),
            format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
        )
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let (code, out) = self.command(args);
        assert_eq!(code, 0, "{args:?}: {out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} is not JSON ({e}):\n{out}"))
    }
}

/// Ann (userName "ann.k") is a pending admin of "Platform Team"; Bob's
/// grant in "Payments" failed with Snyk's 400; reconciliation has read the
/// group's org names. Every view names them as an operator knows them.
async fn views_name_users_and_orgs(postgres: bool) {
    let Some(h) = named(postgres).await else {
        return;
    };
    let ann = h.user("ann.k", "ann@example.com").await;
    let bob = h.user("bob.k", "bob@example.com").await;
    h.group("Snyk Admins", &[&ann]).await;
    h.app.engine.drain(|_| {}).await.expect("drain");
    h.fake.fail_next(1, 400);
    h.group("Developers", &[&bob]).await;
    h.app.engine.drain(|_| {}).await.expect("drain");
    h.app.engine.reconcile(false).await.expect("reconcile");

    // `status`, as text.
    let (code, text) = h.command(&["status"]);
    println!("{text}");
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("Platform Team ({ORG_A})  pending  1")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "bob.k <bob@example.com> (SCIM user {bob}) org Payments ({ORG_B}) [failed]"
        )),
        "{text}"
    );

    // `status --json`.
    let s = h.json(&["status", "--json"]);
    println!("{s:#}");
    assert_eq!(s["outbox"]["failed"], 1, "{s:#}");
    assert_eq!(s["outbox"]["dead"], 0, "{s:#}");
    let orgs = s["orgs"].as_array().expect("orgs");
    assert_eq!(orgs.len(), 1, "{s:#}");
    assert_eq!(orgs[0]["org"]["id"], ORG_A);
    assert_eq!(orgs[0]["org"]["name"], "Platform Team");
    assert_eq!(orgs[0]["pending"], 1);
    assert_eq!(orgs[0]["member"], 0);
    let f = &s["failures"][0];
    assert_eq!(f["user"]["id"], bob.as_str(), "{s:#}");
    assert_eq!(f["user"]["user_name"], "bob.k");
    assert_eq!(f["user"]["email"], "bob@example.com");
    assert_eq!(f["org"]["id"], ORG_B);
    assert_eq!(f["org"]["name"], "Payments");
    assert_eq!(f["state"], "failed");
    assert!(
        f["error"].as_str().is_some_and(|e| e.contains("400")),
        "{f}"
    );
    assert!(f["updated_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(s["drift"], serde_json::json!([]));
    assert_eq!(s["unlocated"], serde_json::json!([]));

    // `plan`: Bob's grant is still to be made.
    let (code, text) = h.command(&["plan"]);
    println!("{text}");
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!(
            "# bob.k <bob@example.com> (SCIM user {bob}) in Payments ({ORG_B})"
        )),
        "{text}"
    );
    let p = h.json(&["plan", "--json"]);
    println!("{p:#}");
    assert_eq!(p["dry_run"], false);
    assert_eq!(p["live"]["unreadable"], serde_json::json!([]), "{p:#}");
    let calls = p["calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 1, "{p:#}");
    let c = &calls[0];
    assert_eq!(c["operation"], "provision");
    assert_eq!(c["method"], "POST");
    assert_eq!(c["path"], format!("/org/{ORG_B}/provision"));
    assert_eq!(c["query"], serde_json::json!({}));
    assert_eq!(
        c["body"],
        serde_json::json!({"email": "bob@example.com", "role": "COLLABORATOR"})
    );
    assert_eq!(c["user"]["email"], "bob@example.com");
    assert_eq!(c["user"]["user_name"], "bob.k");
    assert_eq!(c["org"]["name"], "Payments");

    // `status --user EMAIL --json`.
    let u = h.json(&["status", "--user", "ann@example.com", "--json"]);
    assert_eq!(u["user_ids"], serde_json::json!([ann]), "{u:#}");
    assert_eq!(u["access"][0]["org"]["name"], "Platform Team", "{u:#}");
    assert_eq!(u["access"][0]["state"], "pending");
    assert_eq!(u["access"][0]["role"], "ADMIN");
    let kinds: Vec<&str> = u["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for k in ["scim", "queued", "snyk"] {
        assert!(kinds.contains(&k), "{k} missing: {u:#}");
    }
    let (_, text) = h.command(&["status", "--user", "ann@example.com"]);
    assert!(
        text.contains(&format!(
            "org Platform Team ({ORG_A}) pending ADMIN as ann@example.com"
        )),
        "{text}"
    );

    // `/status`, behind the admin token.
    let page = reqwest::Client::new()
        .get(format!("{}/status", h.app.root))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("status page")
        .text()
        .await
        .expect("body");
    assert!(page.contains(&format!("Platform Team ({ORG_A})")), "{page}");
    assert!(page.contains(&format!("Payments ({ORG_B})")), "{page}");
    assert!(page.contains("bob.k &lt;bob@example.com&gt;"), "{page}");
    // The failed Snyk call names them too.
    let calls = page
        .split("id=\"calls\"")
        .nth(1)
        .and_then(|rest| rest.split("id=\"orgs\"").next())
        .expect("the calls section");
    assert!(
        calls.contains("bob.k &lt;bob@example.com&gt;")
            && calls.contains(&format!("Payments ({ORG_B})")),
        "{calls}"
    );
}

#[tokio::test]
async fn views_name_users_and_orgs_sqlite() {
    views_name_users_and_orgs(false).await;
}

#[tokio::test]
async fn views_name_users_and_orgs_postgres() {
    views_name_users_and_orgs(true).await;
}

#[tokio::test]
async fn check_config_json_lists_mappings_or_problems() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        "pretty",
        &format!(
            "[[mappings]]\ngroup = \"Custom\"\norg_id = \"{ORG_B}\"\nrole_public_id = \"a-custom-role\"\n"
        ),
    );
    let run = |path: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_snyk-scim-bridge"))
            .args(["check-config", "--json", "--config"])
            .arg(path)
            .env_remove("SNYK_TOKEN")
            .env_remove("SCIM_TOKENS")
            .output()
            .expect("check-config");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        (out.status.code(), v)
    };
    let (code, v) = run(&config);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["valid"], true);
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["problems"], serde_json::json!([]));
    assert_eq!(v["file"], config.display().to_string());
    assert_eq!(
        v["mappings"],
        serde_json::json!([
            {"precedence": 1, "group": "Snyk Admins", "org_id": ORG_A, "role": "ADMIN", "role_public_id": null},
            {"precedence": 2, "group": "Custom", "org_id": ORG_B, "role": null, "role_public_id": "a-custom-role"},
        ])
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&config)
            .expect("read")
            .replace(ORG_A, "not-a-uuid"),
    )
    .expect("write");
    let (code, v) = run(&bad);
    assert_eq!(code, Some(2), "{v:#}");
    assert_eq!(v["valid"], false);
    assert_eq!(v["mappings"], serde_json::json!([]));
    let problems = v["problems"].as_array().expect("problems");
    assert!(
        problems
            .iter()
            .any(|p| p["key"].as_str().is_some_and(|k| k.contains("org_id"))),
        "{v:#}"
    );

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "listen = \n").expect("write");
    let (code, v) = run(&broken);
    assert_eq!(code, Some(2), "{v:#}");
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"][0]["key"], serde_json::Value::Null, "{v:#}");
}

/// The org-name cache on both backends: remembered, renamed, read back.
async fn org_names_are_remembered(postgres: bool) {
    use snyk_scim_bridge::config::DatabaseUrl;
    use snyk_scim_bridge::store::Store;
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, _pg) = if postgres {
        let Some(g) = crate::pg::PgDb::create("names").await else {
            return;
        };
        (DatabaseUrl::Postgres(g.url.clone()), Some(g))
    } else {
        let path = dir.path().join("names.db");
        (
            DatabaseUrl::Sqlite(format!("sqlite://{}", path.display())),
            None,
        )
    };
    let store = Store::connect(&url).await.expect("connect");
    let pair = |id: &str, name: &str| (id.to_owned(), name.to_owned());
    let mut tx = store.write().await.expect("tx");
    tx.remember_org_names(&[pair(ORG_A, "Platform")], 1)
        .await
        .expect("remember");
    tx.commit().await.expect("commit");
    let mut tx = store.write().await.expect("tx");
    tx.remember_org_names(&[pair(ORG_A, "Platform Team"), pair(ORG_B, "Payments")], 2)
        .await
        .expect("remember");
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("tx");
    let names = tx.org_names().await.expect("names");
    tx.commit().await.expect("commit");
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec![pair(ORG_A, "Platform Team"), pair(ORG_B, "Payments")]
    );
    store.close().await;
}

#[tokio::test]
async fn org_names_are_remembered_sqlite() {
    org_names_are_remembered(false).await;
}

#[tokio::test]
async fn org_names_are_remembered_postgres() {
    org_names_are_remembered(true).await;
}
