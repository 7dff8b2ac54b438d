//! Process-level tests of the sync engine: the real `snyk-scim-bridge serve`
//! binary runs as child processes against the in-test fake Snyk.
//!
//! - `sigkill_mid_drain_then_restart_loses_nothing_and_resends_no_recorded_success`
//!   (SQLite file): SIGKILL while provisions are in flight, restart on the
//!   same database, everything converges; no provision whose success was
//!   recorded is ever sent again.
//! - `two_processes_on_postgres_send_each_call_once_and_hand_over_the_lead`
//!   (only with TEST_POSTGRES_URL): two `serve` processes on one database;
//!   only the advisory-lock holder sends, each provision goes out once, the
//!   concurrency cap holds across processes, and the survivor takes over
//!   within seconds when the leader is killed.
//! - `a_target_outliving_its_lease_is_not_processed_twice` (in-process): a
//!   regression test for a double send found by the drain benchmark.
//!
//! Children are killed by a drop guard, also when an assertion panics.

use crate::fake_snyk;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_snyk::{FakeSnyk, RecordedCall};
use serde_json::{Value, json};
use snyk_scim_bridge::config::DatabaseUrl;
use snyk_scim_bridge::store::{CallRecord, Store};

const ORG: &str = "6b7a7c5e-1111-4c4c-9d9d-0000000000c1";
const SNYK_TOKEN: &str = "snyk-personal-token-for-process-tests";
const SCIM_TOKEN: &str = "scim-token-for-sync-process-tests-0001";
const LEADER_LINE: &str = "this process now sends to Snyk";

/// A free loopback port: bind port 0, read it, release it.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn write_config(
    dir: &Path,
    name: &str,
    port: u16,
    database_url: &str,
    api_url: &str,
    rpm: u32,
    max_concurrent: u32,
) -> PathBuf {
    let text = format!(
        r#"listen = "127.0.0.1:{port}"
database_url = "{database_url}"
log_format = "pretty"

[scim]
tokens = ["{SCIM_TOKEN}"]

[snyk]
api_url = "{api_url}"
token = "{SNYK_TOKEN}"
dry_run = false
requests_per_minute = {rpm}
max_concurrent_requests = {max_concurrent}

[[mappings]]
group = "Snyk Admins"
org_id = "{ORG}"
role = "ADMIN"
"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write config");
    path
}

/// One `serve` child process; killed (SIGKILL) when dropped.
struct Bridge {
    name: String,
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Bridge {
    fn start(dir: &Path, name: &str, config: &Path, port: u16) -> Bridge {
        let log = dir.join(format!("{name}.log"));
        let err = File::create(&log).expect("create log file");
        let child = Command::new(env!("CARGO_BIN_EXE_snyk-scim-bridge"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("SNYK_TOKEN")
            .env_remove("SCIM_TOKENS")
            .env_remove("BRIDGE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn snyk-scim-bridge serve");
        Bridge {
            name: name.to_owned(),
            child: Some(child),
            port,
            log,
        }
    }

    fn scim(&self) -> String {
        format!("http://127.0.0.1:{}/scim/v2", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn is_leader(&self) -> bool {
        self.log_text().contains(LEADER_LINE)
    }

    /// SIGKILL (what `Child::kill` sends on Unix) and reap.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Wait until `/healthz` answers 200; panics with the log if the process
    /// exits or the deadline passes.
    async fn wait_healthy(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!(
                    "{} exited early ({status}); log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become healthy; log:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Poll `cond` every 25 ms until it holds; panics with `what` after `limit`.
async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if cond() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn scim(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> (u16, Value) {
    let resp = http
        .request(method, url)
        .bearer_auth(SCIM_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("SCIM request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("SCIM body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn create_user(http: &reqwest::Client, b: &Bridge, email: &str) -> String {
    let (status, body) = scim(
        http,
        reqwest::Method::POST,
        format!("{}/Users", b.scim()),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": email,
            "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"value": email, "type": "work", "primary": true}],
            "active": true
        }),
    )
    .await;
    assert_eq!(
        status, 201,
        "create user {email} through {}: {body}",
        b.name
    );
    body["id"].as_str().expect("user id").to_owned()
}

async fn create_group(http: &reqwest::Client, b: &Bridge, name: &str, ids: &[String]) -> String {
    let members: Vec<Value> = ids.iter().map(|m| json!({"value": m})).collect();
    let (status, body) = scim(
        http,
        reqwest::Method::POST,
        format!("{}/Groups", b.scim()),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "members": members
        }),
    )
    .await;
    assert_eq!(status, 201, "create group through {}: {body}", b.name);
    body["id"].as_str().expect("group id").to_owned()
}

async fn add_members(http: &reqwest::Client, b: &Bridge, group: &str, ids: &[String]) {
    let value: Vec<Value> = ids.iter().map(|m| json!({"value": m})).collect();
    let (status, body) = scim(
        http,
        reqwest::Method::PATCH,
        format!("{}/Groups/{group}", b.scim()),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": value}]
        }),
    )
    .await;
    assert_eq!(status, 204, "add members through {}: {body}", b.name);
}

fn emails(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|i| format!("{prefix}{i:03}@example.com"))
        .collect()
}

/// The email of a `POST /org/{ORG}/provision` the fake received.
fn provision_email(c: &RecordedCall) -> Option<String> {
    (c.method == "POST" && c.path == format!("/org/{ORG}/provision"))
        .then(|| c.body.as_ref()?.get("email")?.as_str().map(str::to_owned))
        .flatten()
}

/// POST /provision calls the fake received, per email.
fn posts_per_email(calls: &[RecordedCall]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in calls.iter().filter_map(provision_email) {
        *out.entry(e).or_insert(0) += 1;
    }
    out
}

fn pending_emails(fake: &FakeSnyk) -> BTreeSet<String> {
    fake.pending(ORG).into_iter().map(|(e, _)| e).collect()
}

/// Recorded `ok` provisions in the bridge's `snyk_calls`, per email.
fn recorded_ok_provisions(calls: &[CallRecord]) -> BTreeMap<String, usize> {
    let path = format!("/org/{ORG}/provision");
    let mut out = BTreeMap::new();
    for c in calls {
        if c.method == "POST" && c.path == path && c.outcome == "ok" && !c.dry_run {
            let email = c
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str::<Value>(b).ok())
                .and_then(|b| b["email"].as_str().map(str::to_owned))
                .expect("a recorded provision has an email in its body");
            *out.entry(email).or_insert(0) += 1;
        }
    }
    out
}

/// Every call the bridge recorded, read through the library.
async fn recorded_calls(url: &str) -> Vec<CallRecord> {
    let db = DatabaseUrl::parse(url).expect("database url");
    let store = Store::connect(&db)
        .await
        .expect("open the bridge's database");
    let mut tx = store.read().await.expect("read tx");
    let calls = tx.calls(None, 1_000_000).await.expect("read snyk_calls");
    tx.commit().await.expect("commit");
    store.close().await;
    calls
}

/// Poll the bridge's `snyk_calls` until every email in `want` has a recorded
/// `ok` provision; returns the counts.
async fn wait_until_recorded(
    url: &str,
    want: &BTreeSet<String>,
    limit: Duration,
) -> BTreeMap<String, usize> {
    let deadline = Instant::now() + limit;
    loop {
        let ok = recorded_ok_provisions(&recorded_calls(url).await);
        if want.iter().all(|e| ok.contains_key(e)) {
            return ok;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {} of {} provisions recorded ok",
            want.iter().filter(|e| ok.contains_key(*e)).count(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_drain_then_restart_loses_nothing_and_resends_no_recorded_success() {
    const USERS: usize = 40;
    const MAX_CONCURRENT: usize = 2;
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/bridge.db", dir.path().display());
    let fake = FakeSnyk::start(SNYK_TOKEN).await;
    fake.add_org(ORG);
    fake.set_latency(Duration::from_millis(150));
    let http = reqwest::Client::new();

    let port = free_port();
    let cfg = write_config(
        dir.path(),
        "first",
        port,
        &db,
        &fake.base_url,
        60_000,
        MAX_CONCURRENT as u32,
    );
    let mut first = Bridge::start(dir.path(), "first", &cfg, port);
    first.wait_healthy(&http).await;

    let all = emails("crash", 0..USERS);
    let mut ids = Vec::new();
    for e in &all {
        ids.push(create_user(&http, &first, e).await);
    }
    create_group(&http, &first, "Snyk Admins", &ids).await;

    // Some provisions have arrived, not all: kill mid-drain.
    wait_until(
        "the first provisions arrive at the fake",
        Duration::from_secs(20),
        || posts_per_email(&fake.calls()).len() >= 8,
    )
    .await;
    first.kill();
    // The fake still finishes what the dead process had in flight; let it,
    // so the restarted process's concurrency is measured on its own.
    wait_until(
        "the fake finishes the dead process's calls",
        Duration::from_secs(5),
        || fake.in_flight() == 0,
    )
    .await;
    let max_in_flight_before_kill = fake.max_in_flight();
    fake.reset_max_in_flight();
    let calls_at_kill = fake.calls();
    let arrived_before_kill = posts_per_email(&calls_at_kill);
    assert!(
        arrived_before_kill.len() < USERS,
        "the kill came too late to be mid-drain ({} of {USERS} provisions had arrived)",
        arrived_before_kill.len()
    );
    // What the killed process had recorded as succeeded.
    let ok_before_kill = recorded_ok_provisions(&recorded_calls(&db).await);
    assert!(
        ok_before_kill.values().all(|&n| n == 1),
        "a provision was recorded ok twice before the kill: {ok_before_kill:?}"
    );
    eprintln!(
        "killed after {:?}: {} provisions had arrived at the fake, {} recorded ok",
        started.elapsed(),
        arrived_before_kill.len(),
        ok_before_kill.len()
    );

    // Restart on the same database.
    let port = free_port();
    let cfg = write_config(
        dir.path(),
        "second",
        port,
        &db,
        &fake.base_url,
        60_000,
        MAX_CONCURRENT as u32,
    );
    let mut second = Bridge::start(dir.path(), "second", &cfg, port);
    second.wait_healthy(&http).await;
    let want: BTreeSet<String> = all.iter().cloned().collect();
    let took = wait_until(
        "every user has a pending provision at the fake",
        Duration::from_secs(60),
        || pending_emails(&fake) == want,
    )
    .await;
    eprintln!("converged {took:?} after the restart");
    // Wait until the restarted process has recorded every success.
    let ok_final = wait_until_recorded(&db, &want, Duration::from_secs(20)).await;
    second.kill();
    let calls = fake.calls();
    let after_kill = &calls[calls_at_kill.len()..];

    // Nothing lost.
    assert_eq!(pending_emails(&fake), want);
    assert_eq!(
        ok_final.keys().cloned().collect::<BTreeSet<_>>(),
        want,
        "every provision is recorded as succeeded"
    );
    // Each success recorded exactly once.
    assert!(
        ok_final.values().all(|&n| n == 1),
        "a provision was recorded ok more than once: {ok_final:?}"
    );
    // The key property: no provision whose success was recorded before the
    // kill was sent again after the restart.
    let resent: Vec<String> = after_kill
        .iter()
        .filter_map(provision_email)
        .filter(|e| ok_before_kill.contains_key(e))
        .collect();
    assert!(
        resent.is_empty(),
        "provisions sent again after their success was recorded: {resent:?}"
    );
    // The restarted process sends each remaining provision once.
    let per_email_after = posts_per_email(after_kill);
    assert!(
        per_email_after.values().all(|&n| n == 1),
        "the restarted process sent a provision twice: {per_email_after:?}"
    );
    // Sent twice in total only if it was in flight (unrecorded) at the kill,
    // and at most `max_concurrent` of those.
    let per_email = posts_per_email(&calls);
    let twice: Vec<&String> = per_email
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(e, _)| e)
        .collect();
    assert!(
        per_email.values().all(|&n| n <= 2),
        "a provision was sent more than twice: {per_email:?}"
    );
    assert!(
        twice.len() <= MAX_CONCURRENT,
        "more provisions sent twice ({twice:?}) than could be in flight at the kill"
    );
    let total: usize = per_email.values().sum();
    let recorded: usize = ok_final.values().sum();
    assert!(
        total <= recorded + MAX_CONCURRENT,
        "{total} provisions received for {recorded} recorded successes"
    );
    assert!(
        max_in_flight_before_kill <= MAX_CONCURRENT && fake.max_in_flight() <= MAX_CONCURRENT,
        "more than {MAX_CONCURRENT} calls in flight ({max_in_flight_before_kill} before the kill, {} after)",
        fake.max_in_flight()
    );
    eprintln!(
        "crash test: {} POSTs received for {USERS} users ({} re-sent after being in flight at the kill), {:?} in all",
        total,
        twice.len(),
        started.elapsed()
    );
}

/// A fresh database on the server of TEST_POSTGRES_URL, or `None`.
async fn fresh_postgres() -> Option<(String, String)> {
    let url = std::env::var("TEST_POSTGRES_URL").ok()?;
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect to TEST_POSTGRES_URL");
    let name = format!("syncproc_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = url
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .expect("url with a database");
    Some((format!("{base}/{name}"), name))
}

/// Best effort: drop the test database once the children are gone.
async fn drop_postgres(name: &str) {
    let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
        return;
    };
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_send_each_call_once_and_hand_over_the_lead() {
    const USERS: usize = 60;
    const MORE: usize = 10;
    const MAX_CONCURRENT: usize = 3;
    let Some((db, db_name)) = fresh_postgres().await else {
        eprintln!("TEST_POSTGRES_URL is not set: skipping the two-process PostgreSQL test");
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeSnyk::start(SNYK_TOKEN).await;
    fake.add_org(ORG);
    fake.set_latency(Duration::from_millis(50));
    let http = reqwest::Client::new();

    let mut bridges = Vec::new();
    for name in ["a", "b"] {
        let port = free_port();
        let cfg = write_config(
            dir.path(),
            name,
            port,
            &db,
            &fake.base_url,
            60_000,
            MAX_CONCURRENT as u32,
        );
        bridges.push(Bridge::start(dir.path(), name, &cfg, port));
    }
    for b in &mut bridges {
        b.wait_healthy(&http).await;
    }
    wait_until(
        "one of the two processes leads",
        Duration::from_secs(10),
        || bridges.iter().any(Bridge::is_leader),
    )
    .await;
    eprintln!("two processes up in {:?}", started.elapsed());

    // Users through A, the group through B.
    let first = emails("two", 0..USERS);
    let mut ids = Vec::new();
    for e in &first {
        ids.push(create_user(&http, &bridges[0], e).await);
    }
    let group = create_group(&http, &bridges[1], "Snyk Admins", &ids).await;
    let want: BTreeSet<String> = first.iter().cloned().collect();
    let took = wait_until("every user is provisioned", Duration::from_secs(30), || {
        pending_emails(&fake) == want
    })
    .await;
    eprintln!("{USERS} provisions through two processes in {took:?}");

    let leaders: Vec<usize> = (0..2).filter(|&i| bridges[i].is_leader()).collect();
    assert_eq!(
        leaders.len(),
        1,
        "exactly one process leads; logs:\n--- a\n{}\n--- b\n{}",
        bridges[0].log_text(),
        bridges[1].log_text()
    );
    let per_email = posts_per_email(&fake.calls());
    assert_eq!(per_email.keys().cloned().collect::<BTreeSet<_>>(), want);
    assert!(
        per_email.values().all(|&n| n == 1),
        "a provision was sent more than once: {per_email:?}"
    );
    assert!(
        fake.max_in_flight() <= MAX_CONCURRENT,
        "{} calls in flight at once (max_concurrent_requests = {MAX_CONCURRENT})",
        fake.max_in_flight()
    );

    // Takeover: kill the leader once it has recorded every success (a kill
    // between Snyk's answer and the record may legitimately resend that one
    // call; the crash test covers that window), and the survivor must take
    // the lock and send.
    wait_until_recorded(&db, &want, Duration::from_secs(10)).await;
    eprintln!("every success recorded after {:?}", started.elapsed());
    let leader = leaders[0];
    let survivor = 1 - leader;
    bridges[leader].kill();
    let killed_at = Instant::now();
    let more = emails("after", 0..MORE);
    let mut more_ids = Vec::new();
    for e in &more {
        more_ids.push(create_user(&http, &bridges[survivor], e).await);
    }
    add_members(&http, &bridges[survivor], &group, &more_ids).await;
    let want_all: BTreeSet<String> = first.iter().chain(more.iter()).cloned().collect();
    wait_until(
        "the survivor provisions the users created after the leader died",
        Duration::from_secs(15),
        || pending_emails(&fake) == want_all,
    )
    .await;
    let takeover = killed_at.elapsed();
    assert!(
        bridges[survivor].is_leader(),
        "the survivor logged that it leads"
    );
    let per_email = posts_per_email(&fake.calls());
    assert_eq!(per_email.keys().cloned().collect::<BTreeSet<_>>(), want_all);
    assert!(
        per_email.values().all(|&n| n == 1),
        "a provision was sent more than once: {per_email:?}"
    );
    assert!(fake.max_in_flight() <= MAX_CONCURRENT);
    let ok = wait_until_recorded(&db, &want_all, Duration::from_secs(10)).await;
    assert!(
        ok.values().all(|&n| n == 1),
        "a provision was recorded ok more than once: {ok:?}"
    );
    for b in &mut bridges {
        b.kill();
    }
    drop(bridges);
    drop_postgres(&db_name).await;
    eprintln!(
        "two-process test: takeover and {MORE} more provisions in {takeover:?}; {:?} in all",
        started.elapsed()
    );
}

/// Regression (found by the drain benchmark): a claimed target that waits in
/// the pacer longer than its lease (a 429 pause runs to the next minute
/// boundary; a Retry-After or a rejected token pauses longer) must not be
/// claimed and processed a second time by the same drain, which sent its
/// provision twice. In-process: a 1 s lease, one call in flight at a time,
/// 1.5 s of fake latency, two targets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_outliving_its_lease_is_not_processed_twice() {
    use snyk_scim_bridge::clock::SystemClock;
    use snyk_scim_bridge::http::{AppOptions, Application};
    use snyk_scim_bridge::snyk::SnykClient;
    use snyk_scim_bridge::sync::pacer::Pacer;
    use snyk_scim_bridge::sync::{Engine, EngineSettings};
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeSnyk::start(SNYK_TOKEN).await;
    fake.add_org(ORG);
    fake.set_latency(Duration::from_millis(1500));
    let db = format!("sqlite://{}/bridge.db", dir.path().display());
    let path = write_config(dir.path(), "lease", 0, &db, &fake.base_url, 60_000, 2);
    let text = std::fs::read_to_string(&path).expect("config");
    let cfg = snyk_scim_bridge::config::parse(&path, &text, &Default::default()).expect("config");
    let app = Application::build_with(
        cfg.clone(),
        AppOptions {
            clock: Arc::new(SystemClock),
            start_worker: false,
            settle: std::time::Duration::ZERO,
        },
    )
    .await
    .expect("app");
    let bridge = Bridge {
        name: "in-process".into(),
        child: None,
        port: app.port(),
        log: dir.path().join("none.log"),
    };
    let store = app.store().clone();
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for e in emails("lease", 0..2) {
        ids.push(create_user(&http, &bridge, &e).await);
    }
    create_group(&http, &bridge, "Snyk Admins", &ids).await;

    let mut settings = EngineSettings::from_config(&cfg);
    settings.lease = Duration::from_secs(1);
    let client = SnykClient::new(
        &fake.base_url,
        cfg.snyk.token.clone(),
        Duration::from_secs(30),
    )
    .expect("client");
    let engine = Engine::with_parts(
        store,
        client,
        Arc::new(Pacer::new(60_000, 1, std::time::Duration::from_secs(60))),
        Arc::new(SystemClock),
        settings,
    );
    engine.drain(|_| {}).await.expect("drain");
    let per_email = posts_per_email(&fake.calls());
    assert_eq!(per_email.len(), 2);
    assert!(
        per_email.values().all(|&n| n == 1),
        "a provision was sent twice: {per_email:?}"
    );
}
