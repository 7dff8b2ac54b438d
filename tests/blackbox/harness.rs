//! The black-box harness: the built `snyk-scim-bridge serve` binary as a child
//! process with a config file on a free loopback port, the real clock, a
//! database per scenario (a SQLite file, or a PostgreSQL database created for
//! the scenario and always dropped), and an IdP-like SCIM client.
//!
//! Nothing here uses the crate's code: what the bridge did is read from the
//! fake Snyk, from its HTTP answers, and from its `status` command.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_snyk::FakeSnyk;

pub const SNYK_TOKEN: &str = "snyk-personal-token-for-black-box-tests";
pub const SCIM_TOKEN: &str = "scim-token-for-black-box-tests-000000001";
pub const OKTA_SECRET: &str = "okta-event-hook-secret-for-black-box-tests";
pub const GROUP_ID: &str = "0f0e0d0c-0000-4000-8000-00000000cafe";

pub const ORG_A: &str = "6b7a7c5e-1111-4c4c-9d9d-0000000000a1";
pub const ORG_B: &str = "6b7a7c5e-1111-4c4c-9d9d-0000000000b2";
pub const CUSTOM_ROLE: &str = "d3b07384-d9a0-4c9b-8000-00000000c0de";

/// Where a scenario's data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends a scenario runs on: SQLite always, PostgreSQL when
/// `TEST_POSTGRES_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if std::env::var("TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty()) {
        out.push(Backend::Postgres);
    } else {
        eprintln!("TEST_POSTGRES_URL is not set: the PostgreSQL run is skipped");
    }
    out
}

/// A database for one scenario; a PostgreSQL database is dropped on drop.
pub struct Db {
    pub url: String,
    _pg: Option<crate::pg::PgDb>,
    _dir: tempfile::TempDir,
}

impl Db {
    pub async fn new(backend: Backend) -> Db {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Db {
                url: format!("sqlite://{}", dir.path().join("bridge.db").display()),
                _pg: None,
                _dir: dir,
            },
            Backend::Postgres => {
                let pg = crate::pg::PgDb::create("blackbox")
                    .await
                    .expect("TEST_POSTGRES_URL");
                Db {
                    url: pg.url.clone(),
                    _pg: Some(pg),
                    _dir: dir,
                }
            }
        }
    }
}

/// One `[[mappings]]` entry.
#[derive(Debug, Clone)]
pub struct MappingSpec {
    pub group: String,
    pub org: String,
    /// `ADMIN` | `COLLABORATOR` | `RESTRICTED_COLLABORATOR`, or `custom:<id>`.
    pub role: String,
}

pub fn mapping(group: &str, org: &str, role: &str) -> MappingSpec {
    MappingSpec {
        group: group.to_owned(),
        org: org.to_owned(),
        role: role.to_owned(),
    }
}

/// The knobs of a scenario's config file.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub mappings: Vec<MappingSpec>,
    pub group_id: Option<String>,
    pub requests_per_minute: u32,
    pub max_concurrent: u32,
    /// `snyk.rate_window_secs`: the fake's window in rate-limit scenarios.
    pub rate_window_secs: u64,
    pub reconcile_interval_secs: u64,
    pub okta_hook: bool,
    /// Turns on `/webhooks/events` with this secret.
    pub webhook_secret: Option<String>,
    /// The `[safety]` table as written. The default keeps the rails out of
    /// the way of the sync engine's timing scenarios (no removal delay, no
    /// breaker, no empty-push guard); `safety.rs` runs with the product's
    /// thresholds or its own values.
    pub safety: String,
    /// More TOML appended as written (e.g. an `[admin]` table).
    pub extra: String,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            mappings: vec![mapping("Snyk Admins", ORG_A, "ADMIN")],
            group_id: None,
            requests_per_minute: 1800,
            max_concurrent: 10,
            rate_window_secs: 60,
            reconcile_interval_secs: 300,
            okta_hook: false,
            webhook_secret: None,
            safety:
                "[safety]\nbreaker = false\nremoval_delay_secs = 0\ngroup_shrink_percent = 100\n"
                    .to_owned(),
            extra: String::new(),
        }
    }
}

impl BridgeConfig {
    pub fn toml(&self, port: u16, db: &str, api_url: &str) -> String {
        let mut t = format!(
            "listen = \"127.0.0.1:{port}\"\ndatabase_url = \"{db}\"\nlog_format = \"pretty\"\n\n\
             [scim]\ntokens = [\"{SCIM_TOKEN}\"]\n\n\
             [snyk]\napi_url = \"{api_url}\"\ntoken = \"{SNYK_TOKEN}\"\ndry_run = false\n\
             requests_per_minute = {}\nmax_concurrent_requests = {}\nreconcile_interval_secs = {}\n\
             rate_window_secs = {}\n",
            self.requests_per_minute,
            self.max_concurrent,
            self.reconcile_interval_secs,
            self.rate_window_secs
        );
        if let Some(g) = &self.group_id {
            t.push_str(&format!("group_id = \"{g}\"\n"));
        }
        for m in &self.mappings {
            let role = match m.role.strip_prefix("custom:") {
                Some(id) => format!("role_public_id = \"{id}\""),
                None => format!("role = \"{}\"", m.role),
            };
            t.push_str(&format!(
                "\n[[mappings]]\ngroup = \"{}\"\norg_id = \"{}\"\n{role}\n",
                m.group, m.org
            ));
        }
        if let Some(secret) = &self.webhook_secret {
            t.push_str(&format!("\n[webhooks.generic]\nsecret = \"{secret}\"\n"));
        }
        if self.okta_hook {
            t.push_str(&format!(
                "\n[webhooks.okta]\nauthorization = \"{OKTA_SECRET}\"\n"
            ));
        }
        t.push('\n');
        t.push_str(&self.safety);
        t.push('\n');
        t.push_str(&self.extra);
        t
    }
}

/// A free loopback port: bind port 0, read it, release it.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// One `serve` child process; SIGKILLed when dropped.
pub struct Bridge {
    child: Option<Child>,
    pub port: u16,
    pub config: PathBuf,
    log: PathBuf,
    dir: PathBuf,
    starts: u32,
    pub http: reqwest::Client,
}

impl Bridge {
    /// Write the config and start `serve`; returns once `/readyz` answers.
    pub async fn start(dir: &Path, cfg: &BridgeConfig, db: &Db, fake: &FakeSnyk) -> Bridge {
        let port = free_port();
        let config = dir.join("bridge.toml");
        std::fs::write(&config, cfg.toml(port, &db.url, &fake.base_url)).expect("write config");
        let mut b = Bridge {
            child: None,
            port,
            config,
            log: dir.join("serve-0.log"),
            dir: dir.to_owned(),
            starts: 0,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        };
        b.spawn().await;
        b
    }

    /// (Re)start the process on the same config and database.
    pub async fn spawn(&mut self) {
        assert!(self.child.is_none(), "the bridge is already running");
        self.log = self.dir.join(format!("serve-{}.log", self.starts));
        self.starts += 1;
        let err = File::create(&self.log).expect("create log file");
        let child = Command::new(env!("CARGO_BIN_EXE_snyk-scim-bridge"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("SNYK_TOKEN")
            .env_remove("SCIM_TOKENS")
            .env_remove("BRIDGE_CONFIG")
            .env_remove("ADMIN_TOKEN")
            .env_remove("WEBHOOK_SECRET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn snyk-scim-bridge serve");
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("serve exited early ({status}); log:\n{}", self.log_text());
            }
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not become ready; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Send SIGTERM, then wait up to `limit` for the exit. `None`: still
    /// running at the deadline (it is then killed).
    pub async fn terminate(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let pid = self.pid();
        let started = Instant::now();
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("run kill -TERM");
        assert!(ok.success(), "kill -TERM {pid}");
        loop {
            let c = self.child.as_mut().expect("running");
            if let Ok(Some(status)) = c.try_wait() {
                self.child = None;
                return Some((status, started.elapsed()));
            }
            if started.elapsed() > limit {
                self.kill9();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn scim_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/scim/v2{path}", self.port)
    }

    /// One SCIM request as an IdP sends it (`application/scim+json`).
    pub async fn scim(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(m, self.scim_url(path))
            .bearer_auth(SCIM_TOKEN);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/scim+json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("SCIM request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("SCIM body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `snyk-scim-bridge <args> --config <this config>`: (exit code, stdout).
    pub fn command(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_snyk-scim-bridge"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .env("NO_COLOR", "1")
            .env_remove("SNYK_TOKEN")
            .env_remove("SCIM_TOKENS")
            .env_remove("BRIDGE_CONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("run snyk-scim-bridge");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Poll `cond` every 10 ms until it returns `Some`; panics with `what` (and
/// `context()`) after `limit`. Returns the value and the time it took.
pub async fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut cond: impl FnMut() -> Option<T>,
) -> (T, Duration) {
    let start = Instant::now();
    loop {
        if let Some(v) = cond() {
            return (v, start.elapsed());
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A fake Snyk with the orgs of the harness in `GROUP_ID`.
pub async fn fake_snyk() -> FakeSnyk {
    let fake = FakeSnyk::start(SNYK_TOKEN).await;
    fake.add_group(GROUP_ID);
    for org in [ORG_A, ORG_B] {
        fake.add_org_in_group(GROUP_ID, org);
    }
    fake.set_org_name(ORG_A, "Org A");
    fake.set_org_name(ORG_B, "Org B");
    fake
}

// ----- what IdPs send --------------------------------------------------------------

/// Okta's `POST /Users` body.
pub fn okta_user(email: &str) -> Value {
    let local = email.split('@').next().unwrap_or(email);
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": {"givenName": local, "familyName": "Test"},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": format!("{local} Test"),
        "locale": "en-US",
        "externalId": format!("00u{}", &uuid::Uuid::new_v4().simple().to_string()[..17]),
        "groups": [],
        "password": "1mP0ssible-t0-guess!",
        "active": true
    })
}

/// Entra's `POST /Users` body.
pub fn entra_user(email: &str) -> Value {
    let local = email.split('@').next().unwrap_or(email);
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": local,
        "userName": email,
        "active": true,
        "displayName": format!("{local} Test"),
        "emails": [{"primary": true, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": format!("{local} Test"), "familyName": "Test", "givenName": local}
    })
}

pub fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

/// Create a user; returns its id.
pub async fn create_user(b: &Bridge, body: Value) -> String {
    let (status, out) = b.scim("POST", "/Users", Some(body)).await;
    assert_eq!(status, 201, "create user: {out}");
    out["id"].as_str().expect("id").to_owned()
}

/// `POST /Groups` with these members (SCIM user ids); returns the id.
pub async fn create_group_with(b: &Bridge, name: &str, members: &[String]) -> String {
    let members: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
    let (status, out) = b
        .scim(
            "POST",
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": name,
                "members": members
            })),
        )
        .await;
    assert_eq!(status, 201, "create group {name}: {out}");
    out["id"].as_str().expect("id").to_owned()
}

/// Okta Push Groups: `POST /Groups` with no members; returns the id.
pub async fn create_group(b: &Bridge, name: &str) -> String {
    let (status, out) = b
        .scim(
            "POST",
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": name,
                "members": []
            })),
        )
        .await;
    assert_eq!(status, 201, "create group {name}: {out}");
    out["id"].as_str().expect("id").to_owned()
}

/// Okta's membership add.
pub async fn okta_add_member(b: &Bridge, group: &str, name: &str, user: &str) {
    let (status, out) = b
        .scim(
            "PATCH",
            &format!("/Groups/{group}"),
            Some(patch(json!([
                {"op": "replace", "value": {"id": group, "displayName": name}},
                {"op": "add", "path": "members", "value": [{"value": user, "display": user}]}
            ]))),
        )
        .await;
    assert!(
        status == 200 || status == 204,
        "okta add member: {status} {out}"
    );
}

/// Okta's membership removal.
pub async fn okta_remove_member(b: &Bridge, group: &str, user: &str) {
    let (status, out) = b
        .scim(
            "PATCH",
            &format!("/Groups/{group}"),
            Some(patch(json!([
                {"op": "remove", "path": format!("members[value eq \"{user}\"]")}
            ]))),
        )
        .await;
    assert!(
        status == 200 || status == 204,
        "okta remove member: {status} {out}"
    );
}

/// Entra's default-dialect member add (`Add`, capitalised).
pub async fn entra_add_member(b: &Bridge, group: &str, user: &str) {
    let (status, out) = b
        .scim(
            "PATCH",
            &format!("/Groups/{group}"),
            Some(patch(json!([
                {"op": "Add", "path": "members", "value": [{"value": user}]}
            ]))),
        )
        .await;
    assert!(
        status == 200 || status == 204,
        "entra add member: {status} {out}"
    );
}

/// Okta's deactivate: a no-path replace of `active`.
pub async fn okta_deactivate(b: &Bridge, user: &str) {
    let (status, out) = b
        .scim(
            "PATCH",
            &format!("/Users/{user}"),
            Some(patch(
                json!([{"op": "replace", "value": {"active": false}}]),
            )),
        )
        .await;
    assert!(
        status == 200 || status == 204,
        "okta deactivate: {status} {out}"
    );
}

// ----- reading the fake ------------------------------------------------------------

pub use crate::fake_snyk::RecordedCall;

/// The write calls (not GET) the fake received for `org`, as `METHOD path` plus
/// the body's email, if any.
pub fn writes_to(fake: &FakeSnyk, org: &str) -> Vec<RecordedCall> {
    fake.write_calls()
        .into_iter()
        .filter(|c| c.path.starts_with(&format!("/org/{org}/")))
        .collect()
}

pub fn provisions_of(fake: &FakeSnyk, org: &str, email: &str) -> usize {
    writes_to(fake, org)
        .iter()
        .filter(|c| {
            c.method == "POST"
                && c.path.ends_with("/provision")
                && c.status == 200
                && c.body
                    .as_ref()
                    .and_then(|b| b["email"].as_str())
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
        })
        .count()
}

pub fn is_pending(fake: &FakeSnyk, org: &str, email: &str, role: &str) -> bool {
    fake.pending(org)
        .iter()
        .any(|(e, r)| e.eq_ignore_ascii_case(email) && r == role)
}

pub fn is_member(fake: &FakeSnyk, org: &str, email: &str) -> Option<String> {
    fake.members(org)
        .into_iter()
        .find(|(_, e, _)| e.eq_ignore_ascii_case(email))
        .map(|(_, _, role)| role)
}
