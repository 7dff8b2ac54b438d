//! Drain benchmark (issue 3): how close the sync engine gets to Snyk's rate
//! limit without a 429, and what a 429 storm costs.
//!
//! ```text
//! cargo run --release --example drain_bench -- [--users 5000] [--limit 300]
//!     [--window-secs 10] [--under 0.97] [--over 1.5] [--storm-users 1000]
//!     [--concurrency 10] [--latency-ms 50] [--kind fixed|rolling|quiet]
//!     [--orgs 1] [--postgres] [--skip-under] [--skip-storm]
//! ```
//!
//! Each run builds the real application (SQLite file in a temp dir, port 0,
//! worker off), writes the users and one mapped group through SCIM, sets the
//! in-process fake Snyk to answer 429 after `limit` calls in each fixed
//! window of `window-secs` (for the rest of the window, no `Retry-After`;
//! `--kind rolling`: at most `limit` in any `window-secs`; `--kind quiet`:
//! Snyk's REST rule, 429 until requests stop for a whole window), writes
//! `snyk.rate_window_secs = window-secs`, and drains the outbox with `Engine::drain` (looping while deferred work
//! remains, as the worker does).
//!
//! - run 1 "under the limit": `requests_per_minute` = `under` x the limit,
//!   expressed per minute; reports calls per full window / limit and 429s.
//! - run 2 "429 storm": `requests_per_minute` = `over` x the limit; reports
//!   429s, the 429 episodes (runs of refusals with no success between them;
//!   the learnt budget should leave one), windows in which nothing was sent
//!   (the pause), and throughput over the whole run.
//!
//! The default window (300 per 10 s) is Snyk's 2000/min scaled down in time
//! to keep the run short; `--limit 2000 --window-secs 60` is the real shape.
//!
//! `--outbox N` (issue 11, item 2) runs the outbox drain-rate measurement
//! instead (module `outbox_rate`): N due no-op targets on SQLite or
//! PostgreSQL (`--postgres`), drained by the running worker while SCIM writes go
//! on beside it, and how long one real change waits behind that backlog.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark tool: a failure ends the run

#[path = "../tests/common/fake_snyk.rs"]
mod fake_snyk;
#[path = "drain_bench/outbox_rate.rs"]
mod outbox_rate;
#[path = "../tests/common/pg.rs"]
mod pg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fake_snyk::{FakeSnyk, RateKind};
use serde_json::{Value, json};
use snyk_scim_bridge::clock::SystemClock;
use snyk_scim_bridge::config;
use snyk_scim_bridge::http::{AppOptions, Application};

/// The `i`-th mapped org.
fn org(i: usize) -> String {
    format!("6b7a7c5e-1111-4c4c-9d9d-{:012x}", 0xb1 + i)
}
const SNYK_TOKEN: &str = "snyk-personal-token-for-the-bench";
const SCIM_TOKEN: &str = "scim-token-for-the-drain-benchmark-01";

#[derive(Debug, Clone)]
struct Args {
    users: usize,
    storm_users: usize,
    limit: u32,
    window_secs: u64,
    under: f64,
    over: f64,
    concurrency: u32,
    latency_ms: u64,
    kind: RateKind,
    /// Orgs the group maps: each user is one provision in each.
    orgs: usize,
    /// PostgreSQL (a fresh database on `TEST_POSTGRES_URL`) instead of SQLite.
    postgres: bool,
    skip_under: bool,
    skip_storm: bool,
    /// `--outbox N`: the drain-rate run with N no-op targets.
    outbox: Option<usize>,
    outbox_orgs: usize,
    outbox_mapped: bool,
    scim_clients: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        users: 5000,
        storm_users: 1000,
        limit: 300,
        window_secs: 10,
        under: 0.97,
        over: 1.5,
        concurrency: 10,
        latency_ms: 50,
        kind: RateKind::Fixed,
        orgs: 1,
        postgres: false,
        skip_under: false,
        skip_storm: false,
        outbox: None,
        outbox_orgs: 10,
        outbox_mapped: false,
        scim_clients: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--users" => a.users = value()?.parse()?,
            "--storm-users" => a.storm_users = value()?.parse()?,
            "--limit" => a.limit = value()?.parse()?,
            "--window-secs" => a.window_secs = value()?.parse()?,
            "--under" => a.under = value()?.parse()?,
            "--over" => a.over = value()?.parse()?,
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--latency-ms" => a.latency_ms = value()?.parse()?,
            "--kind" => {
                a.kind = match value()?.as_str() {
                    "fixed" => RateKind::Fixed,
                    "rolling" => RateKind::Rolling,
                    "quiet" => RateKind::QuietPeriod,
                    other => bail!("--kind {other:?}: fixed, rolling or quiet"),
                }
            }
            "--orgs" => a.orgs = value()?.parse()?,
            "--postgres" => a.postgres = true,
            "--skip-under" => a.skip_under = true,
            "--skip-storm" => a.skip_storm = true,
            "--outbox" => a.outbox = Some(value()?.parse()?),
            "--outbox-orgs" => a.outbox_orgs = value()?.parse()?,
            "--outbox-mapped" => a.outbox_mapped = true,
            "--scim-clients" => a.scim_clients = value()?.parse()?,
            "-h" | "--help" => {
                println!(
                    "drain_bench [--users N] [--storm-users N] [--limit N] [--window-secs S] \
                     [--under F] [--over F] [--concurrency N] [--latency-ms MS] [--kind fixed|rolling|quiet] \
                     [--orgs N] [--postgres] [--skip-under] [--skip-storm]\n\
                     drain_bench --outbox N [--outbox-orgs K] [--outbox-mapped] [--scim-clients C] [--postgres] \
                     [--concurrency N] [--latency-ms MS]\n\
                     \x20 --outbox: N due no-op targets (N/K users x K orgs) drained by the running worker \
                     while C clients POST users beside it; then one real change behind a second backlog"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if a.outbox_orgs == 0 {
        bail!("--outbox-orgs must be positive");
    }
    if a.limit == 0 || a.window_secs == 0 {
        bail!("--limit and --window-secs must be positive");
    }
    Ok(a)
}

/// `factor` x `limit` calls per window, expressed per minute.
fn rpm_for(limit: u32, window_secs: u64, factor: f64) -> u32 {
    let per_minute = f64::from(limit) * 60.0 / window_secs as f64;
    (per_minute * factor).floor().max(1.0) as u32
}

struct Outcome {
    elapsed: Duration,
    sent_ok: usize,
    too_many: usize,
    per_window: Vec<u32>,
    episodes: usize,
    drains: usize,
    pace: snyk_scim_bridge::sync::budget::Pace,
}

async fn scim(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> anyhow::Result<Value> {
    let resp = http
        .request(method, url)
        .bearer_auth(SCIM_TOKEN)
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("SCIM answered {status}: {body}");
    }
    Ok(body)
}

/// A SCIM user body for `email` (its userName and its one work email).
fn user_body(email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "emails": [{"value": email, "type": "work", "primary": true}],
        "active": true
    })
}

/// Create `n` users (`{prefix}NNNNNN@example.com`) through SCIM at `base`,
/// 16 at a time; their ids.
async fn seed_users(
    http: &reqwest::Client,
    base: &str,
    n: usize,
    prefix: &str,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            let (http, url) = (http.clone(), format!("{base}/Users"));
            let body = user_body(&format!("{prefix}{i:06}@example.com"));
            set.spawn(async move { scim(&http, reqwest::Method::POST, url, body).await });
        }
        while let Some(r) = set.join_next().await {
            ids.push(r??["id"].as_str().context("user id")?.to_owned());
        }
    }
    Ok(ids)
}

/// One drain of `users` provisions at `rpm` against the fake's limit.
async fn run(a: &Args, label: &str, users: usize, rpm: u32) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir()?;
    let fake = FakeSnyk::start(SNYK_TOKEN).await;
    for i in 0..a.orgs {
        fake.add_org(&org(i));
    }
    let pg = if a.postgres {
        Some(
            pg::PgDb::create("drain_bench")
                .await
                .context("--postgres needs TEST_POSTGRES_URL")?,
        )
    } else {
        None
    };
    let database_url = match &pg {
        Some(p) => p.url.clone(),
        None => format!("sqlite://{}/bridge.db", dir.path().display()),
    };
    let mappings: String = (0..a.orgs)
        .map(|i| {
            format!(
                "[[mappings]]\ngroup = \"Snyk Admins\"\norg_id = \"{}\"\nrole = \"ADMIN\"\n",
                org(i)
            )
        })
        .collect();
    fake.set_latency(Duration::from_millis(a.latency_ms));
    let text = format!(
        r#"listen = "127.0.0.1:0"
database_url = "{database_url}"
[scim]
tokens = ["{SCIM_TOKEN}"]
[snyk]
api_url = "{api}"
token = "{SNYK_TOKEN}"
dry_run = false
requests_per_minute = {rpm}
max_concurrent_requests = {conc}
rate_window_secs = {window}
{mappings}
"#,
        api = fake.base_url,
        conc = a.concurrency,
        window = a.window_secs,
    );
    let cfg = config::parse(
        std::path::Path::new("bench.toml"),
        &text,
        &config::Env::new(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = Application::build_with(
        cfg,
        AppOptions {
            clock: Arc::new(SystemClock),
            start_worker: false,
            settle: std::time::Duration::ZERO,
        },
    )
    .await?;
    let base = format!("http://127.0.0.1:{}/scim/v2", app.port());
    let engine = app.engine().clone();
    tokio::spawn(app.run_until_stopped());

    // Users through SCIM, 16 at a time; then the mapped group in chunks.
    let setup = Instant::now();
    let http = reqwest::Client::new();
    let ids = seed_users(&http, &base, users, "bench").await?;
    let members =
        |ids: &[String]| -> Vec<Value> { ids.iter().map(|i| json!({"value": i})).collect() };
    let mut chunks = ids.chunks(500);
    let group = scim(
        &http,
        reqwest::Method::POST,
        format!("{base}/Groups"),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Snyk Admins",
            "members": members(chunks.next().unwrap_or_default())
        }),
    )
    .await?;
    let gid = group["id"].as_str().context("group id")?.to_owned();
    for chunk in chunks {
        scim(
            &http,
            reqwest::Method::PATCH,
            format!("{base}/Groups/{gid}"),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": members(chunk)}]
            }),
        )
        .await?;
    }
    eprintln!(
        "[{label}] {users} users in the mapped group written through SCIM in {:.1?}",
        setup.elapsed()
    );

    // Drain against the limit; loop while deferred (rate-limited) work remains.
    fake.set_rate_limit_of(a.kind, a.limit, Duration::from_secs(a.window_secs));
    let start = Instant::now();
    let mut drains = 0;
    let mut last_report = Instant::now();
    loop {
        drains += 1;
        engine
            .drain(|r| {
                if last_report.elapsed() >= Duration::from_secs(10) {
                    last_report = Instant::now();
                    let s = fake.stats();
                    eprintln!(
                        "[{label}] {:>6.1}s: {} processed in this pass, {} answered 429 so far",
                        start.elapsed().as_secs_f64(),
                        r.processed,
                        s.too_many_requests
                    );
                }
            })
            .await?;
        if (0..a.orgs)
            .map(|i| fake.pending(&org(i)).len())
            .sum::<usize>()
            >= users * a.orgs
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = start.elapsed();
    let stats = fake.stats();
    let calls = fake.calls();
    let posts_ok = calls
        .iter()
        .filter(|c| c.method == "POST" && (200..300).contains(&c.status))
        .count();
    if posts_ok != users * a.orgs {
        bail!(
            "{posts_ok} provisions succeeded for {users} users in {} orgs",
            a.orgs
        );
    }
    // Accepted calls per window from the first call (every kind), and the
    // 429 episodes: runs of refusals with no accepted call between them.
    let first = calls.iter().map(|c| c.at).min().unwrap_or(start);
    let window = Duration::from_secs(a.window_secs);
    let mut per_window = Vec::new();
    let mut episodes = 0;
    let mut open = false;
    for c in &calls {
        if c.status == 429 {
            if !open {
                episodes += 1;
            }
            open = true;
            continue;
        }
        open = false;
        let w = usize::try_from((c.at - first).as_nanos() / window.as_nanos()).unwrap_or(0);
        if per_window.len() <= w {
            per_window.resize(w + 1, 0);
        }
        per_window[w] += 1;
    }
    Ok(Outcome {
        elapsed,
        sent_ok: stats.total_requests - stats.too_many_requests,
        too_many: stats.too_many_requests,
        per_window,
        episodes,
        drains,
        pace: engine.pace(),
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    if let Some(n) = a.outbox {
        return outbox_rate::run(&a, n).await;
    }
    println!(
        "fake Snyk limit: {} calls per {} s window ({}/min), latency {} ms, max_concurrent_requests {}",
        a.limit,
        a.window_secs,
        rpm_for(a.limit, a.window_secs, 1.0),
        a.latency_ms,
        a.concurrency
    );
    let window = a.window_secs as f64;
    let limit = f64::from(a.limit);

    if !a.skip_under {
        let rpm = rpm_for(a.limit, a.window_secs, a.under);
        let o = run(&a, "under", a.users, rpm).await?;
        let _ = o.episodes;
        // Full windows only: the last one is partial.
        let full = &o.per_window[..o.per_window.len().saturating_sub(1)];
        let ratios: Vec<f64> = full.iter().map(|&n| f64::from(n) / limit).collect();
        let mean = ratios.iter().sum::<f64>() / ratios.len().max(1) as f64;
        let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ratios.iter().copied().fold(0.0, f64::max);
        println!();
        println!(
            "run 1, under the limit: {} provisions, requests_per_minute = {rpm} ({:.2} x the limit)",
            a.users, a.under
        );
        println!("  total time            {:.1} s", o.elapsed.as_secs_f64());
        println!("  calls per full window {:?} (limit {})", full, a.limit);
        println!(
            "  achieved / limit      mean {mean:.3}, min {min:.3}, max {max:.3} over {} full windows",
            full.len()
        );
        println!(
            "  overall               {:.1} calls/window = {:.3} x the limit",
            o.sent_ok as f64 / (o.elapsed.as_secs_f64() / window),
            o.sent_ok as f64 / (o.elapsed.as_secs_f64() / window) / limit
        );
        println!(
            "  429 answers           {} in {} episode(s)",
            o.too_many, o.episodes
        );
        println!("  drain passes          {}", o.drains);
    }

    if !a.skip_storm {
        let rpm = rpm_for(a.limit, a.window_secs, a.over);
        let o = run(&a, "storm", a.storm_users, rpm).await?;
        let empty = o.per_window.iter().filter(|&&n| n == 0).count();
        let provisions = a.storm_users * a.orgs;
        let ideal = provisions as f64 / limit * window;
        let per_window_achieved = provisions as f64 / (o.elapsed.as_secs_f64() / window);
        println!();
        println!(
            "run 2, 429 storm ({:?} window, {}): {provisions} provisions ({} users x {} orgs), requests_per_minute = {rpm} ({:.2} x the limit)",
            a.kind,
            if a.postgres { "PostgreSQL" } else { "SQLite" },
            a.storm_users,
            a.orgs,
            a.over
        );
        println!("  total time            {:.1} s", o.elapsed.as_secs_f64());
        println!(
            "  at exactly the limit  {ideal:.1} s would have been the floor ({:.3} x the floor)",
            o.elapsed.as_secs_f64() / ideal
        );
        println!(
            "  429 answers           {} in {} episode(s)",
            o.too_many, o.episodes
        );
        println!(
            "  learnt rate           {}/min ({}; {:.3} x the limit)",
            o.pace.rate,
            o.pace.reason.as_str(),
            f64::from(o.pace.rate) / (limit * 60.0 / window)
        );
        println!(
            "  windows with no call  {empty} of {} ({:.0} s spent paused)",
            o.per_window.len(),
            empty as f64 * window
        );
        println!("  calls per window      {:?}", o.per_window);
        println!(
            "  achieved              {per_window_achieved:.1} calls/window = {:.3} x the limit",
            per_window_achieved / limit
        );
        println!("  drain passes          {}", o.drains);
    }
    Ok(())
}
