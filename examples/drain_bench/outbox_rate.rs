//! `drain_bench --outbox N` (issue 11, item 2): how fast the running worker
//! drains due outbox targets while SCIM writes go on beside it, on SQLite or
//! PostgreSQL, and how long one real change waits behind such a backlog.
//!
//! The real application is built in process (worker on, the fake Snyk without
//! a rate limit); N/K users are written through SCIM (in no group), then N
//! targets (each user in K orgs nobody maps: no-op work, as a mapping change
//! or a re-queue leaves) are queued due at once in one transaction. From
//! then on `--scim-clients` clients `POST /Users` in a closed loop until the
//! outbox is empty. Phase 2 queues the same backlog again and, right after,
//! adds one new user to the mapped group: the time until Snyk sees that
//! provision is the wait of real work behind no-op work. `--outbox-mapped`
//! maps the K orgs too (to a group nobody is in): the cost growth of the
//! drain with the number of mapped orgs. With `--postgres`
//! a database is created on `TEST_POSTGRES_URL`'s server and dropped at the
//! end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use snyk_scim_bridge::config;
use snyk_scim_bridge::http::{AppOptions, Application};
use snyk_scim_bridge::store::Store;

use super::fake_snyk::FakeSnyk;
use super::{Args, SCIM_TOKEN, SNYK_TOKEN, scim, user_body};

/// The K orgs of the no-op targets (valid ids, mapped by nothing).
fn noop_org(k: usize) -> String {
    format!("6b7a7c5e-2222-4c4c-9d9d-{k:012}")
}

pub async fn run(a: &Args, targets: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // Dropped (the database with it) when the run ends.
    let pg = if a.postgres {
        Some(
            super::pg::PgDb::create("drain_bench")
                .await
                .context("--postgres needs TEST_POSTGRES_URL")?,
        )
    } else {
        None
    };
    let url = match &pg {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}/bridge.db", dir.path().display()),
    };
    measure(a, targets, &url).await
}

/// Pending targets now (leased ones included: they are not done yet).
async fn pending(store: &Store) -> anyhow::Result<i64> {
    let mut tx = store.read().await?;
    let counts = tx.target_counts().await?;
    tx.commit().await?;
    Ok(counts
        .iter()
        .filter(|(s, _)| s == "pending")
        .map(|(_, n)| n)
        .sum())
}

/// Queue every (user, no-op org) target, due now, in one transaction.
async fn queue_backlog(store: &Store, users: &[String], orgs: usize) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut tx = store.write().await?;
    for u in users {
        for k in 0..orgs {
            tx.enqueue_target(u, &noop_org(k), now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Wait until nothing is pending; the time it took.
async fn wait_empty(store: &Store, since: Instant) -> anyhow::Result<Duration> {
    let deadline = since + Duration::from_secs(900);
    loop {
        if pending(store).await? == 0 {
            return Ok(since.elapsed());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the outbox did not drain in 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SCIM writers beside the drain: closed loop until `stop`; latencies (ms).
fn start_writers(
    a: &Args,
    base: &str,
    stop: &Arc<AtomicBool>,
) -> tokio::task::JoinSet<anyhow::Result<Vec<f64>>> {
    let mut set = tokio::task::JoinSet::new();
    for c in 0..a.scim_clients {
        let (base, stop) = (base.to_owned(), stop.clone());
        set.spawn(async move {
            let http = reqwest::Client::new();
            let mut lat = Vec::new();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let email = format!(
                    "beside{c:02}-{i:06}-{}@example.com",
                    uuid::Uuid::new_v4().simple()
                );
                let t = Instant::now();
                scim(
                    &http,
                    reqwest::Method::POST,
                    format!("{base}/Users"),
                    user_body(&email),
                )
                .await?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                i += 1;
            }
            Ok(lat)
        });
    }
    set
}

async fn stop_writers(
    stop: &AtomicBool,
    mut set: tokio::task::JoinSet<anyhow::Result<Vec<f64>>>,
) -> anyhow::Result<Vec<f64>> {
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    while let Some(r) = set.join_next().await {
        all.extend(r??);
    }
    all.sort_by(f64::total_cmp);
    Ok(all)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(a: &Args, targets: usize, url: &str) -> anyhow::Result<()> {
    let fake = FakeSnyk::start(SNYK_TOKEN).await;
    let mapped = super::org(0);
    fake.add_org(&mapped);
    fake.set_latency(Duration::from_millis(a.latency_ms));
    let text = format!(
        r#"listen = "127.0.0.1:0"
database_url = "{url}"
[scim]
tokens = ["{SCIM_TOKEN}"]
[snyk]
api_url = "{api}"
token = "{SNYK_TOKEN}"
dry_run = false
requests_per_minute = 600000
max_concurrent_requests = {conc}
[[mappings]]
group = "Snyk Admins"
org_id = "{mapped}"
role = "ADMIN"
"#,
        api = fake.base_url,
        conc = a.concurrency,
    );
    // --outbox-mapped: the K orgs of the backlog are mapped too (to a group
    // nobody is in), so each plan weighs K + 1 mappings: the drain's cost
    // growth with the number of mapped orgs.
    let text = if a.outbox_mapped {
        let mut text = text;
        for k in 0..a.outbox_orgs {
            text.push_str(&format!(
                "[[mappings]]\ngroup = \"Elsewhere\"\norg_id = \"{}\"\nrole = \"COLLABORATOR\"\n",
                noop_org(k)
            ));
        }
        text
    } else {
        text
    };
    let cfg = config::parse(
        std::path::Path::new("bench.toml"),
        &text,
        &config::Env::new(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = Application::build_with(cfg, AppOptions::default()).await?;
    let base = format!("http://127.0.0.1:{}/scim/v2", app.port());
    let store = app.store().clone();
    let bell = app.engine().notifier();
    tokio::spawn(app.run_until_stopped());

    // N/K users in no group, 16 at a time.
    let setup = Instant::now();
    let http = reqwest::Client::new();
    let users_n = targets.div_ceil(a.outbox_orgs);
    let users = super::seed_users(&http, &base, users_n, "backlog").await?;
    let group = scim(
        &http,
        reqwest::Method::POST,
        format!("{base}/Groups"),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Snyk Admins",
            "members": []
        }),
    )
    .await?;
    let gid = group["id"].as_str().context("group id")?.to_owned();
    let n = users.len() * a.outbox_orgs;
    println!(
        "outbox drain: {}, {n} no-op targets ({} users x {} orgs, {}), {} SCIM clients beside, \
         max_concurrent_requests {}, fake latency {} ms (setup {:.1?})",
        if a.postgres { "PostgreSQL" } else { "SQLite" },
        users.len(),
        a.outbox_orgs,
        if a.outbox_mapped {
            "each mapped to a group nobody is in"
        } else {
            "mapped by nothing"
        },
        a.scim_clients,
        a.concurrency,
        a.latency_ms,
        setup.elapsed()
    );

    // Phase 1: drain the backlog with SCIM writes beside.
    queue_backlog(&store, &users, a.outbox_orgs).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writers = start_writers(a, &base, &stop);
    let start = Instant::now();
    bell.ring();
    let took = wait_empty(&store, start).await?;
    let lat = stop_writers(&stop, writers).await?;
    let scim_secs = start.elapsed().as_secs_f64();
    println!(
        "  phase 1: {n} targets drained in {:.2} s = {:.0} targets/s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    println!(
        "  SCIM POST /Users beside it: {} in {scim_secs:.2} s = {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        lat.len() as f64 / scim_secs,
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );

    // Phase 2: the same backlog again, and one real change right behind it.
    queue_backlog(&store, &users, a.outbox_orgs).await?;
    let start = Instant::now();
    bell.ring();
    let email = "real-change@example.com";
    let real = scim(
        &http,
        reqwest::Method::POST,
        format!("{base}/Users"),
        user_body(email),
    )
    .await?;
    let rid = real["id"].as_str().context("user id")?.to_owned();
    scim(
        &http,
        reqwest::Method::PATCH,
        format!("{base}/Groups/{gid}"),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": rid}]}]
        }),
    )
    .await?;
    let queued = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(900);
    while !fake.pending(&mapped).iter().any(|(e, _)| e == email) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the real change was not sent in 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent = start.elapsed();
    let left = pending(&store).await?;
    let took = wait_empty(&store, start).await?;
    println!(
        "  phase 2: a real change queued {:.0} ms after {n} no-op targets was sent {:.0} ms after \
         its queueing (the settle time is 200 ms), with {left} of them still pending; the backlog \
         drained in {:.2} s = {:.0} targets/s",
        queued.as_secs_f64() * 1e3,
        (sent - queued).as_secs_f64() * 1e3,
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    Ok(())
}
