//! The process under load: SIGTERM while draining a backlog stops claiming at
//! once, lets in-flight calls finish within 10 s, leaves nothing leased and
//! exits 0; after `kill -9` and a restart, new work reaches Snyk within 2 s
//! and the backlog converges.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

const BACKLOG: usize = 300;

fn config() -> BridgeConfig {
    BridgeConfig {
        requests_per_minute: 6000,
        max_concurrent: 10,
        ..BridgeConfig::default()
    }
}

/// Create `BACKLOG` users, then one group holding all of them: a backlog of
/// provisions queued by one request.
async fn backlog(b: &Bridge, prefix: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..BACKLOG {
        ids.push(create_user(b, okta_user(&format!("{prefix}{i:03}@example.com"))).await);
    }
    create_group_with(b, "Snyk Admins", &ids).await;
    ids
}

fn provisioned(fake: &crate::fake_snyk::FakeSnyk) -> usize {
    fake.write_calls()
        .iter()
        .filter(|c| c.method == "POST" && c.status == 200)
        .count()
}

/// Rows of `sync_targets` still leased, read from the database directly.
async fn leased(db: &Db) -> i64 {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let url = if db.url.starts_with("sqlite://") {
        format!("{}?mode=ro", db.url)
    } else {
        db.url.clone()
    };
    let mut c = sqlx::AnyConnection::connect(&url).await.expect("open db");
    let n: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM sync_targets WHERE lease_owner IS NOT NULL")
            .fetch_one(&mut c)
            .await
            .expect("count leases")
            .try_get("n")
            .expect("n");
    let _ = c.close().await;
    n
}

fn pending_emails(fake: &crate::fake_snyk::FakeSnyk) -> BTreeSet<String> {
    fake.pending(ORG_A).into_iter().map(|(e, _)| e).collect()
}

async fn sigterm_under_load(backend: Backend) {
    let fake = fake_snyk().await;
    fake.set_latency(Duration::from_millis(400));
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut b = Bridge::start(dir.path(), &config(), &db, &fake).await;
    backlog(&b, "term").await;
    wait_for("the drain to start", Duration::from_secs(5), || {
        (provisioned(&fake) >= 20).then_some(())
    })
    .await;
    let (status, took) = b
        .terminate(Duration::from_secs(20))
        .await
        .unwrap_or_else(|| {
            panic!(
                "serve did not exit within 20 s of SIGTERM; log:\n{}",
                b.log_text()
            )
        });
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        b.log_text()
    );
    assert!(
        took <= Duration::from_secs(11),
        "serve took {took:?} to stop (bound: 10 s for in-flight calls)"
    );
    eprintln!(
        "{backend:?}: SIGTERM to exit {took:?}, {} provisions before",
        provisioned(&fake)
    );
    // Nothing was claimed after the signal: at most the in-flight calls end.
    let sent_at_exit = fake.calls().len();
    assert_eq!(leased(&db).await, 0, "no target is left leased");
    assert!(
        provisioned(&fake) < BACKLOG,
        "the backlog was not simply finished before exiting"
    );
    // A restart finishes the backlog; each email is provisioned, none twice
    // except calls that were cut off in flight by the deadline.
    b.spawn().await;
    let (_, _) = wait_for("the backlog converges", Duration::from_secs(60), || {
        (pending_emails(&fake).len() == BACKLOG).then_some(())
    })
    .await;
    let mut per_email = std::collections::BTreeMap::new();
    for c in fake.write_calls() {
        if let Some(e) = c.body.as_ref().and_then(|b| b["email"].as_str()) {
            *per_email.entry(e.to_owned()).or_insert(0) += 1;
        }
    }
    let twice = per_email.values().filter(|n| **n > 1).count();
    assert!(
        twice <= 10,
        "{twice} emails provisioned twice (at most the 10 in flight)"
    );
    assert!(fake.calls().len() >= sent_at_exit);
}

async fn kill9_then_restart(backend: Backend) {
    let fake = fake_snyk().await;
    fake.set_latency(Duration::from_millis(300));
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut b = Bridge::start(dir.path(), &config(), &db, &fake).await;
    backlog(&b, "kill").await;
    wait_for("the drain to start", Duration::from_secs(5), || {
        (provisioned(&fake) >= 20).then_some(())
    })
    .await;
    b.kill9();
    b.spawn().await;
    // New work after the restart: prompt, whatever the dead process held.
    let email = "after-restart@example.com";
    let id = create_user(&b, okta_user(email)).await;
    let (_, out) = b
        .scim(
            "GET",
            "/Groups?filter=displayName%20eq%20%22Snyk%20Admins%22",
            None,
        )
        .await;
    let group = out["Resources"][0]["id"]
        .as_str()
        .expect("group")
        .to_owned();
    let written = Instant::now();
    okta_add_member(&b, &group, "Snyk Admins", &id).await;
    let (_, took) = wait_for("the new user's provision", Duration::from_secs(30), || {
        is_pending(&fake, ORG_A, email, "ADMIN").then_some(())
    })
    .await;
    let took = took.max(written.elapsed().min(took));
    assert!(
        took <= Duration::from_secs(2),
        "new work reached Snyk {took:?} after a restart (limit 2 s)"
    );
    eprintln!(
        "{backend:?}: new work reached Snyk {took:?} after the restart, {} of {BACKLOG} provisioned by then",
        provisioned(&fake)
    );
    wait_for("the backlog converges", Duration::from_secs(60), || {
        (pending_emails(&fake).len() == BACKLOG + 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_while_draining_exits_within_bounds_and_leaves_nothing_leased() {
    for b in backends() {
        sigterm_under_load(b).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_kill_9_new_work_reaches_snyk_within_two_seconds() {
    for b in backends() {
        kill9_then_restart(b).await;
    }
}

/// Two `serve` processes on one SQLite file: only the holder of the leader
/// lock sends, `sync` refuses to run beside it, and the other takes over
/// when the sender dies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite_one_process_sends_and_the_other_takes_over() {
    const LEADER_LINE: &str = "this process now sends to Snyk";
    let fake = fake_snyk().await;
    let db = Db::new(Backend::Sqlite).await;
    let (d1, d2) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let mut a = Bridge::start(d1.path(), &config(), &db, &fake).await;
    let mut b = Bridge::start(d2.path(), &config(), &db, &fake).await;
    let group = create_group(&a, "Snyk Admins").await;
    for i in 0..20 {
        let email = format!("pair{i:02}@example.com");
        let id = create_user(if i % 2 == 0 { &a } else { &b }, okta_user(&email)).await;
        okta_add_member(&a, &group, "Snyk Admins", &id).await;
    }
    wait_for("20 provisions", Duration::from_secs(10), || {
        (pending_emails(&fake).len() == 20).then_some(())
    })
    .await;
    assert_eq!(provisioned(&fake), 20, "each provision once");
    let leaders = [a.log_text(), b.log_text()]
        .iter()
        .filter(|l| l.contains(LEADER_LINE))
        .count();
    assert_eq!(leaders, 1, "exactly one sender");
    let (code, out) = a.command(&["sync"]);
    assert_ne!(code, 0, "sync beside a running sender: {out}");
    assert!(out.contains("another process is sending"), "{out}");
    // The sender dies; the other takes over.
    let (dead, alive) = if a.log_text().contains(LEADER_LINE) {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    dead.kill9();
    let email = "after-takeover@example.com";
    let id = create_user(alive, okta_user(email)).await;
    okta_add_member(alive, &group, "Snyk Admins", &id).await;
    wait_for("the survivor sends", Duration::from_secs(8), || {
        is_pending(&fake, ORG_A, email, "ADMIN").then_some(())
    })
    .await;
    assert!(alive.log_text().contains(LEADER_LINE));
}

/// `sync` after a crash: it takes the leader lock and clears the dead
/// sender's claims first, so the targets that were in flight are not
/// skipped until their leases lapse.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_after_kill_9_finishes_what_the_dead_sender_held() {
    let fake = fake_snyk().await;
    fake.set_latency(Duration::from_millis(500));
    let db = Db::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut b = Bridge::start(dir.path(), &config(), &db, &fake).await;
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(create_user(&b, okta_user(&format!("sync{i:02}@example.com"))).await);
    }
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let (status, out) = b
        .scim(
            "POST",
            "/Groups",
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": "Snyk Admins", "members": members}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    wait_for("calls in flight", Duration::from_secs(5), || {
        (fake.in_flight() >= 5).then_some(())
    })
    .await;
    b.kill9();
    assert!(leased(&db).await > 0, "the dead sender held claims");
    let (code, out) = b.command(&["sync"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        pending_emails(&fake).len(),
        60,
        "sync left work behind: {out}"
    );
    assert_eq!(leased(&db).await, 0);
}
