//! A load generator for the SCIM path (issue 5): throughput and latency of
//! `POST /Users`, `PATCH /Groups` (add a member), latency at a fixed offered
//! rate (open loop), `GET /Users?filter=userName eq "..."` with 1,000 and with
//! 100,000 users stored, and the server's resident memory; or, with
//! `--member-sizes`, only member PATCHes on groups of those sizes (`members.rs`).
//!
//! ```sh
//! cargo run --release --example scim_load -- --help
//! cargo run --release --example scim_load                 # in-process, SQLite
//! cargo run --release --example scim_load -- --db postgres  # in-process, PostgreSQL
//! cargo run --release --example scim_load -- --url http://127.0.0.1:8080 \
//!     --token TOKEN --server-pid PID                       # a running `serve`
//! ```
//!
//! In process, the real application is built from a generated configuration
//! (dry_run, the two mappings of examples/bridge.toml) on port 0, on a fresh
//! SQLite file or a fresh PostgreSQL database (created from --postgres-url and
//! dropped at the end). Every request goes over HTTP through reqwest. Latency
//! is measured per request; in the open-loop phase from the moment the request
//! was *due*, so a stalled server cannot hide its queueing (no coordinated
//! omission). docs/benchmarks.md holds the figures and the exact commands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark tool: a failure ends the run

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use snyk_scim_bridge::config::{Env, parse};
use snyk_scim_bridge::http::{AppOptions, Application};
use snyk_scim_bridge::store::Store;

mod members;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const MAPPED_GROUPS: [&str; 2] = ["Snyk Admins", "Snyk Developers"];

#[derive(Debug, Parser)]
#[command(about = "Load generator for the SCIM path of snyk-scim-bridge")]
struct Args {
    /// Backend of the in-process server: sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// PostgreSQL server for --db postgres (a fresh database is created on it).
    #[arg(
        long,
        env = "TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Target a running server instead (base URL, e.g. http://127.0.0.1:8080).
    #[arg(long)]
    url: Option<String>,
    /// Bearer token for --url.
    #[arg(long, env = "SCIM_TOKEN")]
    token: Option<String>,
    /// Read the resident memory of this process (the server) at the end.
    #[arg(long)]
    server_pid: Option<u32>,
    /// In process: do not run the sync worker (dry run) beside the server.
    #[arg(long)]
    no_worker: bool,
    /// Concurrent clients for the closed-loop phases.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Users created in the POST /Users phase.
    #[arg(long, default_value_t = 5000)]
    users: usize,
    /// Member additions in the PATCH /Groups phase.
    #[arg(long, default_value_t = 5000)]
    patches: usize,
    /// Groups the PATCH phase spreads over (the first two are mapped).
    #[arg(long, default_value_t = 4)]
    groups: usize,
    /// Offered rate of the open-loop phase, requests per second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Length of each open-loop run, seconds.
    #[arg(long, default_value_t = 10)]
    rate_secs: u64,
    /// Filter queries per measurement (one client, one after the other).
    #[arg(long, default_value_t = 1000)]
    filter_queries: usize,
    /// Users stored for the second filter measurement (0: skip it).
    #[arg(long, default_value_t = 100_000)]
    large: usize,
    /// Concurrent clients that seed users up to --large (through POST /Users).
    #[arg(long, default_value_t = 64)]
    seed_clients: usize,
    /// Extra orgs mapped to a group no user is in ("Elsewhere"), beside the
    /// two mappings: what a write costs with many mapped orgs (issue 11).
    #[arg(long, default_value_t = 0)]
    extra_orgs: usize,
    /// Run only the member PATCH phase (issue 11, item 5), once per group
    /// size given here (e.g. 10,10000): PATCHes/s adding and removing one
    /// member. `--patches` requests per size.
    #[arg(long, value_delimiter = ',')]
    member_sizes: Vec<usize>,
    /// Concurrent clients of the member PATCH phase (each adds and removes
    /// its own user, so a group holds at most this many more members).
    #[arg(long, default_value_t = 8)]
    member_clients: usize,
    /// Request shapes of the member PATCH phase.
    #[arg(long, value_enum, default_value = "okta")]
    member_shape: members::Shape,
    /// How the member PATCHes ask to be answered.
    #[arg(long, value_enum, default_value = "full")]
    member_answer: members::Answer,
    /// Path of the SCIM base under --url (e.g. "" for a server that serves
    /// SCIM at its root, as scim2-server does).
    #[arg(long, default_value = "/scim/v2")]
    scim_path: String,
    /// Run only the POST /Users phases: the closed loop (--users, --clients)
    /// and the open loop at --rate for --rate-secs. What a side-by-side
    /// comparison with another SCIM server runs (issue 11, item 4).
    #[arg(long)]
    creates_only: bool,
}

/// Latencies of one phase, and what went wrong.
struct Sample {
    name: String,
    latencies_us: Vec<u64>,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
}

impl Sample {
    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }

    fn report(mut self) -> Self {
        self.latencies_us.sort_unstable();
        let n = self.latencies_us.len();
        println!(
            "{:<34} n={n:<6} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  errors {}{}",
            self.name,
            n as f64 / self.elapsed.as_secs_f64(),
            self.pct(0.50),
            self.pct(0.99),
            self.pct(1.0),
            self.errors,
            self.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        self
    }
}

/// Builds request number `i` of a phase.
type MakeRequest = Arc<dyn Fn(usize) -> reqwest::RequestBuilder + Send + Sync>;

/// Send one request; its latency, or why it failed.
async fn send(req: reqwest::RequestBuilder) -> Result<(), String> {
    match req.send().await {
        Ok(r) if r.status().is_success() => {
            let _ = r.bytes().await;
            Ok(())
        }
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            Err(format!(
                "{status}: {}",
                body.chars().take(200).collect::<String>()
            ))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// `clients` tasks send `total` requests as fast as the server answers.
async fn closed_loop(name: &str, clients: usize, total: usize, make: MakeRequest) -> Sample {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let next = next.clone();
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                match send(make(i)).await {
                    Ok(()) => lat.push(t.elapsed().as_micros() as u64),
                    Err(e) => errors.push(e),
                }
            }
            (lat, errors)
        }));
    }
    collect(name, started, tasks).await
}

/// Requests at a fixed offered rate whatever the server does; latency counts
/// from the moment each request was due.
async fn open_loop(name: &str, rate: u32, secs: u64, make: MakeRequest) -> Sample {
    let total = (u64::from(rate) * secs) as usize;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = tokio::time::Instant::from_std(started + period * i as u32);
        tokio::time::sleep_until(due).await;
        let req = make(i);
        tasks.push(tokio::spawn(async move {
            match send(req).await {
                Ok(()) => (vec![due.elapsed().as_micros() as u64], vec![]),
                Err(e) => (vec![], vec![e]),
            }
        }));
    }
    collect(name, started, tasks).await
}

async fn collect(
    name: &str,
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<(Vec<u64>, Vec<String>)>>,
) -> Sample {
    let mut s = Sample {
        name: name.to_owned(),
        latencies_us: Vec::new(),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (lat, errs) = t.await.expect("a client task panicked");
        s.latencies_us.extend(lat);
        s.errors += errs.len();
        if s.first_error.is_none() {
            s.first_error = errs.into_iter().next();
        }
    }
    s.elapsed = started.elapsed();
    s.report()
}

/// The server under test.
struct Target {
    base: String,
    token: String,
    /// In process: the store (to wait for the outbox) and what to clean up.
    store: Option<Store>,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: (database name, maintenance URL, database URL).
    pg: Option<(String, String, String)>,
}

fn config_text(database_url: &str, token: &str, extra_orgs: usize) -> String {
    let mut text = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "{database_url}"
[scim]
tokens = ["{token}"]
[snyk]
dry_run = true
[[mappings]]
group = "{}"
org_id = "6b7a7c5e-1111-4c4c-9d9d-000000000001"
role = "ADMIN"
[[mappings]]
group = "{}"
org_id = "6b7a7c5e-1111-4c4c-9d9d-000000000001"
role = "COLLABORATOR"
"#,
        MAPPED_GROUPS[0], MAPPED_GROUPS[1]
    );
    for i in 0..extra_orgs {
        text.push_str(&format!(
            "[[mappings]]\ngroup = \"Elsewhere\"\norg_id = \"6b7a7c5e-2222-4c4c-9d9d-{i:012}\"\nrole = \"COLLABORATOR\"\n"
        ));
    }
    text
}

async fn start(args: &Args) -> anyhow::Result<Target> {
    if let Some(url) = &args.url {
        let token = args
            .token
            .clone()
            .ok_or_else(|| anyhow::anyhow!("--url needs --token (or SCIM_TOKEN)"))?;
        return Ok(Target {
            base: format!("{}{}", url.trim_end_matches('/'), args.scim_path),
            token,
            store: None,
            _dir: None,
            pg: None,
        });
    }
    let token = format!("load-{}", uuid::Uuid::new_v4().simple());
    let (database_url, dir, pg) = match args.db.as_str() {
        "sqlite" => {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
            (url, Some(dir), None)
        }
        "postgres" => {
            use sqlx::{Connection, Executor};
            let name = format!("scim_load_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&args.postgres_url).await?;
            conn.execute(format!("CREATE DATABASE {name}").as_str())
                .await?;
            conn.close().await?;
            let (server, _) = args
                .postgres_url
                .split('?')
                .next()
                .and_then(|u| u.rsplit_once('/'))
                .ok_or_else(|| anyhow::anyhow!("--postgres-url has no database"))?;
            let url = format!("{server}/{name}");
            (
                url.clone(),
                None,
                Some((name, args.postgres_url.clone(), url)),
            )
        }
        other => anyhow::bail!("--db must be sqlite or postgres, not {other}"),
    };
    let config = parse(
        Path::new("scim_load.toml"),
        &config_text(&database_url, &token, args.extra_orgs),
        &Env::new(),
    )?;
    let app = Application::build_with(
        config,
        AppOptions {
            start_worker: !args.no_worker,
            ..AppOptions::default()
        },
    )
    .await?;
    let port = app.port();
    let store = app.store().clone();
    tokio::spawn(app.run_until_stopped());
    Ok(Target {
        base: format!("http://127.0.0.1:{port}/scim/v2"),
        token,
        store: Some(store),
        _dir: dir,
        pg,
    })
}

async fn drop_database(pg: Option<(String, String, String)>) {
    use sqlx::{Connection, Executor};
    let Some((name, url, _)) = pg else { return };
    if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
        let _ = conn
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await;
    }
}

/// In process: the size of the database (SQLite file and WAL, or
/// `pg_database_size`).
async fn db_size(t: &Target) -> Option<String> {
    if let Some(dir) = &t._dir {
        let size = |f: &str| {
            std::fs::metadata(dir.path().join(f))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let (db, wal) = (size("bridge.db"), size("bridge.db-wal"));
        return Some(format!(
            "SQLite file {:.1} MB (+ WAL {:.1} MB)",
            db as f64 / 1e6,
            wal as f64 / 1e6
        ));
    }
    let (_, _, url) = t.pg.as_ref()?;
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.ok()?;
    let (n,): (i64,) = sqlx::query_as("SELECT pg_database_size(current_database())")
        .fetch_one(&mut conn)
        .await
        .ok()?;
    Some(format!("PostgreSQL database {:.1} MB", n as f64 / 1e6))
}

fn user_name(run: &str, i: usize) -> String {
    format!("user{i}.{run}@example.com")
}

/// A user as Okta sends it.
fn user_body(run: &str, i: usize) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name(run, i),
        "externalId": format!("00u{run}{i}"),
        "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{i}")},
        "displayName": format!("Given{i} Family{i}"),
        "emails": [{"primary": true, "value": user_name(run, i), "type": "work"}],
        "active": true
    })
}

/// The server's (or, in process, this process's) resident memory.
/// `POST /Users` in an open loop at `--rate` for `--rate-secs`, users
/// numbered from `from`; how many were offered.
async fn post_open_loop(
    args: &Args,
    client: &reqwest::Client,
    t: &Target,
    run: &str,
    from: usize,
) -> usize {
    let (c, url, token, run) = (
        client.clone(),
        format!("{}/Users", t.base),
        t.token.clone(),
        run.to_owned(),
    );
    open_loop(
        &format!("POST /Users at {}/s (open loop)", args.rate),
        args.rate,
        args.rate_secs,
        Arc::new(move |i| {
            c.post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/scim+json")
                .body(user_body(&run, from + i).to_string())
        }),
    )
    .await;
    args.rate as usize * args.rate_secs as usize
}

/// In process on SQLite: how many writes each committed transaction held
/// (group commit), since the start.
fn print_write_groups(t: &Target) {
    if let Some(c) = t.store.as_ref().and_then(|s| s.write_groups()) {
        println!(
            "  (grouped writes so far: {} in {} transactions, {:.1} per commit)",
            c.writes,
            c.groups,
            c.writes as f64 / c.groups.max(1) as f64
        );
    }
}

fn memory(pid: Option<u32>) -> String {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let field = |k: &str| {
        text.lines()
            .find(|l| l.starts_with(k))
            .map(|l| l[k.len()..].trim().to_owned())
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "{}: VmRSS {}, VmHWM (peak) {}",
        pid.map(|p| format!("server pid {p}"))
            .unwrap_or_else(|| "this process (load generator + in-process server)".into()),
        field("VmRSS:"),
        field("VmHWM:")
    )
}

/// In process: wait until the outbox has no due work, so that a measurement
/// does not race the worker's backlog. Returns how long that took.
async fn wait_for_outbox(store: Option<&Store>, worker: bool) -> Option<Duration> {
    let store = store.filter(|_| worker)?;
    let started = Instant::now();
    for _ in 0..3600 {
        let s = snyk_scim_bridge::sync::engine::status(store).await.ok()?;
        if s.targets.get("pending").copied().unwrap_or(0) == 0 {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}

/// Create users `from..to` with `clients` concurrent clients.
async fn create_users(
    name: &str,
    client: &reqwest::Client,
    t: &Target,
    run: &str,
    from: usize,
    to: usize,
    clients: usize,
) -> Sample {
    let (c, url, token, run) = (
        client.clone(),
        format!("{}/Users", t.base),
        t.token.clone(),
        run.to_owned(),
    );
    closed_loop(
        name,
        clients,
        to.saturating_sub(from),
        Arc::new(move |i| {
            c.post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/scim+json")
                .body(user_body(&run, from + i).to_string())
        }),
    )
    .await
}

/// `userName eq` lookups of random stored users, one after the other.
async fn filter_latency(
    name: &str,
    client: &reqwest::Client,
    t: &Target,
    run: &str,
    stored: usize,
    queries: usize,
) -> Sample {
    let (c, url, token, run) = (
        client.clone(),
        format!("{}/Users", t.base),
        t.token.clone(),
        run.to_owned(),
    );
    closed_loop(
        name,
        1,
        queries,
        Arc::new(move |_| {
            let i = rand::random_range(0..stored);
            c.get(&url)
                .bearer_auth(&token)
                .query(&[("filter", format!("userName eq \"{}\"", user_name(&run, i)))])
        }),
    )
    .await
}

async fn create_groups(
    client: &reqwest::Client,
    t: &Target,
    run: &str,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for k in 0..n {
        let name = match MAPPED_GROUPS.get(k) {
            Some(m) if t.store.is_some() => (*m).to_owned(),
            _ => format!("load-group-{k}.{run}"),
        };
        let r = client
            .post(format!("{}/Groups", t.base))
            .bearer_auth(&t.token)
            .header("content-type", "application/scim+json")
            .body(json!({"schemas": [GROUP_SCHEMA], "displayName": name}).to_string())
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        let id = body["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("creating group {name}: {status} {body}"))?;
        ids.push(id.to_owned());
    }
    Ok(ids)
}

/// Ids of users `0..n` of this run (looked up by filter).
async fn user_ids(
    client: &reqwest::Client,
    t: &Target,
    run: &str,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let body: Value = client
            .get(format!("{}/Users", t.base))
            .bearer_auth(&t.token)
            .query(&[
                ("filter", format!("userName eq \"{}\"", user_name(run, i))),
                ("attributes", "id".to_owned()),
            ])
            .send()
            .await?
            .json()
            .await?;
        let id = body["Resources"][0]["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("user {i} not found: {body}"))?;
        ids.push(id.to_owned());
    }
    Ok(ids)
}

fn patch_add(
    client: &reqwest::Client,
    t: &Target,
    groups: Arc<Vec<String>>,
    users: Arc<Vec<String>>,
    offset: usize,
) -> MakeRequest {
    let (c, base, token) = (client.clone(), t.base.clone(), t.token.clone());
    Arc::new(move |i| {
        let j = offset + i;
        let group = &groups[j % groups.len()];
        let user = &users[(j / groups.len()) % users.len()];
        c.patch(format!("{base}/Groups/{group}"))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(
                json!({
                    "schemas": [PATCH_SCHEMA],
                    "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]
                })
                .to_string(),
            )
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let t = start(&args).await?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    println!(
        "target {} ({}), worker {}, {} clients, run {run}",
        t.base,
        if args.url.is_some() {
            "running server".to_owned()
        } else {
            format!("in process, {}", args.db)
        },
        if args.url.is_some() {
            "as configured"
        } else if args.no_worker {
            "off"
        } else {
            "on (dry run)"
        },
        args.clients
    );
    if !args.member_sizes.is_empty() {
        members::run(&args, &client, &t, &run).await?;
        drop_database(t.pg).await;
        return Ok(());
    }
    let mut stored = 0;
    if args.creates_only {
        create_users(
            "POST /Users",
            &client,
            &t,
            &run,
            0,
            args.users,
            args.clients,
        )
        .await;
        print_write_groups(&t);
        wait_for_outbox(t.store.as_ref(), !args.no_worker).await;
        post_open_loop(&args, &client, &t, &run, args.users).await;
        println!("{}", memory(args.server_pid));
        drop_database(t.pg).await;
        return Ok(());
    }

    // 1. Filter latency with 1,000 users stored.
    create_users("seed 1,000 users", &client, &t, &run, 0, 1000, args.clients).await;
    stored += 1000;
    if let Some(d) = wait_for_outbox(t.store.as_ref(), !args.no_worker).await {
        println!("  (outbox drained in {:.1} s)", d.as_secs_f64());
    }
    filter_latency(
        "GET filter userName eq (1,000)",
        &client,
        &t,
        &run,
        stored,
        args.filter_queries,
    )
    .await;

    // 2. POST /Users, closed loop.
    create_users(
        "POST /Users",
        &client,
        &t,
        &run,
        stored,
        stored + args.users,
        args.clients,
    )
    .await;
    stored += args.users;
    print_write_groups(&t);
    if let Some(store) = t.store.as_ref() {
        let s = snyk_scim_bridge::sync::engine::status(store).await?;
        println!(
            "  (outbox targets after it: {} in all, {} pending)",
            s.targets.values().sum::<i64>(),
            s.targets.get("pending").copied().unwrap_or(0)
        );
    }
    wait_for_outbox(t.store.as_ref(), !args.no_worker).await;

    // 3. PATCH /Groups add member, closed loop.
    let groups = Arc::new(create_groups(&client, &t, &run, args.groups.max(1)).await?);
    let members = Arc::new(user_ids(&client, &t, &run, stored.min(2000)).await?);
    closed_loop(
        "PATCH /Groups (add member)",
        args.clients,
        args.patches,
        patch_add(&client, &t, groups.clone(), members.clone(), 0),
    )
    .await;
    wait_for_outbox(t.store.as_ref(), !args.no_worker).await;

    // 4. Open loop at a fixed offered rate.
    stored += post_open_loop(&args, &client, &t, &run, stored).await;
    wait_for_outbox(t.store.as_ref(), !args.no_worker).await;
    open_loop(
        &format!("PATCH /Groups at {}/s (open loop)", args.rate),
        args.rate,
        args.rate_secs,
        patch_add(&client, &t, groups, members, args.patches),
    )
    .await;
    wait_for_outbox(t.store.as_ref(), !args.no_worker).await;
    println!("{}", memory(args.server_pid));

    // 5. Filter latency with --large users stored.
    if args.large > stored {
        let seeded = create_users(
            &format!("seed to {} users", args.large),
            &client,
            &t,
            &run,
            stored,
            args.large,
            args.seed_clients,
        )
        .await;
        stored = args.large;
        if let Some(d) = wait_for_outbox(t.store.as_ref(), !args.no_worker).await {
            println!("  (outbox drained in {:.1} s)", d.as_secs_f64());
        }
        filter_latency(
            &format!("GET filter userName eq ({stored})"),
            &client,
            &t,
            &run,
            stored,
            args.filter_queries,
        )
        .await;
        drop(seeded);
        println!("{}", memory(args.server_pid));
        if let Some(size) = db_size(&t).await {
            println!("{size} with {stored} users");
        }
    }
    let _ = stored;
    drop_database(t.pg).await;
    Ok(())
}
