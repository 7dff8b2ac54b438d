//! The command line of docs/interface.md: `serve`, `check-config`, `plan`,
//! `sync`, `status` (and `status --user`), plus `healthcheck`. Thin: each
//! command loads the configuration and calls into the library; one tokio
//! runtime (`#[tokio::main]` in `main.rs`) runs them all.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod history;
mod online;

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;

use crate::clock::SystemClock;
use crate::config::{self, ConfigError};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "snyk-scim-bridge",
    version,
    about = "Keeps Snyk organization access in step with an identity provider, over SCIM 2.0"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: SCIM server and health endpoints.
    Serve(ConfigArg),
    /// Validate the configuration file and print the mapping table; with
    /// `--online`, also check it against live Snyk (changes nothing).
    CheckConfig(CheckConfigArgs),
    /// Print every Snyk call a sync would make now; changes nothing.
    Plan(ConfigArg),
    /// Reconcile with Snyk and make the calls (a full sync).
    Sync(ConfigArg),
    /// Outbox counts by state, the last failures, per-org counts; with
    /// `--user EMAIL`, that user's history end to end.
    Status(StatusArgs),
    /// Probe a running `serve` (GET /healthz): exit 0 when it answers 200, 1
    /// otherwise. For container HEALTHCHECKs.
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The URL to probe (default: /healthz on the `listen` of --config, else
    /// http://127.0.0.1:8080/healthz).
    #[arg(long)]
    pub url: Option<String>,
    /// Take the address from this configuration file's `listen`.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    pub timeout_secs: u64,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Show one user's history: SCIM changes, queued targets, Snyk calls
    /// (outcome, Snyk request ids) and the access applied now, in time order.
    #[arg(long, value_name = "EMAIL")]
    pub user: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct CheckConfigArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Also ask Snyk (GET calls only): the token is accepted, every mapped
    /// org is in snyk.group_id's group, every role_public_id exists and may
    /// be granted by the token's user.
    #[arg(long)]
    pub online: bool,
}

#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// The TOML configuration file (default: $BRIDGE_CONFIG, then bridge.toml).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
}

/// Exit code for a configuration that is wrong (docs/interface.md).
const EXIT_CONFIG: u8 = 2;

/// `listen` when the configuration does not say (docs/interface.md).
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig(a) => check_config(a).await,
        Command::Serve(a) => serve(a).await,
        Command::Plan(a) => match open(&a, false).await {
            Ok((engine, _)) => outcome(plan(engine).await),
            Err(code) => code,
        },
        Command::Sync(a) => match open(&a, true).await {
            Ok((engine, store)) => outcome(sync(engine, store).await),
            Err(code) => code,
        },
        Command::Status(StatusArgs { config, user: None }) => match open(&config, false).await {
            Ok((engine, store)) => outcome(status(store, engine.settings().dry_run).await),
            Err(code) => code,
        },
        Command::Status(StatusArgs {
            config,
            user: Some(email),
        }) => history::run(&config, &email).await,
        Command::Healthcheck(a) => healthcheck(a).await,
    }
}

/// The exit code of a command's result (the error printed).
fn outcome(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// GET the health URL; exit 0 on 200, 1 on anything else (never 2: Docker
/// reserves it in HEALTHCHECK).
async fn healthcheck(a: HealthcheckArgs) -> ExitCode {
    let url = match (&a.url, &a.config) {
        (Some(u), _) => u.clone(),
        (None, Some(path)) => match listen_of(path) {
            Ok(listen) => health_url(&listen),
            Err(e) => {
                eprintln!("unhealthy: {e}");
                return ExitCode::FAILURE;
            }
        },
        (None, None) => health_url(DEFAULT_LISTEN),
    };
    let probe = async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(a.timeout_secs.max(1)))
            .build()?;
        client.get(&url).send().await
    };
    let result = probe.await;
    match result {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("unhealthy: {url} answered {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The `listen` key of a configuration file, without validating the rest
/// (the probe needs no secrets).
fn listen_of(path: &std::path::Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not TOML", path.display()))?;
    Ok(value
        .get("listen")
        .and_then(toml::Value::as_str)
        .unwrap_or(DEFAULT_LISTEN)
        .to_owned())
}

/// `http://HOST:PORT/healthz` for a listen address; a wildcard host is
/// probed on loopback.
fn health_url(listen: &str) -> String {
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "8080"));
    let host = match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "[::]" => "[::1]",
        h => h,
    };
    format!("http://{host}:{port}/healthz")
}

/// Load the configuration, open the store and build the engine; on failure
/// the error is printed and its exit code returned (2: configuration).
async fn open(a: &ConfigArg, log: bool) -> Result<(crate::sync::Engine, Store), ExitCode> {
    let config = match load(a) {
        Ok(c) => c,
        Err((_, e)) => {
            eprintln!("{e}");
            return Err(ExitCode::from(EXIT_CONFIG));
        }
    };
    if log {
        crate::telemetry::init(config.log_format);
    }
    let opened = async {
        let store = Store::connect(&config.database_url)
            .await
            .context("Failed to open the database (database_url)")?;
        let engine = crate::sync::Engine::new(store.clone(), &config, Arc::new(SystemClock))
            .context("Failed to build the Snyk client")?;
        anyhow::Ok((engine, store))
    };
    opened.await.map_err(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}

async fn plan(engine: crate::sync::Engine) -> anyhow::Result<()> {
    {
        let (report, calls) = engine.plan().await.context("Failed to plan")?;
        for e in &report.errors {
            println!("warning: could not read {e}");
        }
        if report.adopted + report.vanished + report.drift > 0 {
            println!(
                "live Snyk state: {} first logins to adopt, {} grants gone from Snyk, {} roles changed by hand",
                report.adopted, report.vanished, report.drift
            );
        }
        for (user, op) in &calls {
            println!("{}    # scim user {user}", crate::snyk::wire::describe(op));
        }
        println!(
            "{} call(s) planned{}",
            calls.len(),
            if engine.settings().dry_run {
                " (snyk.dry_run = true: sync would record, not send)"
            } else {
                ""
            }
        );
        Ok(())
    }
}

async fn sync(engine: crate::sync::Engine, store: Store) -> anyhow::Result<()> {
    {
        let _lock = lead(&store).await?;
        engine.take_over().await;
        let report = engine
            .reconcile(true)
            .await
            .context("Failed to reconcile")?;
        let queued = engine
            .enqueue_all()
            .await
            .context("Failed to queue the targets")?;
        let bar = if std::io::stderr().is_terminal() {
            let b = indicatif::ProgressBar::new(u64::try_from(queued).unwrap_or(0));
            b.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} targets, {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            Some(b)
        } else {
            None
        };
        let drained = engine
            .drain(|r| {
                if let Some(b) = &bar {
                    b.set_position(u64::try_from(r.processed).unwrap_or(0));
                    b.set_message(format!("{} failed, {} to retry", r.failed, r.deferred));
                }
            })
            .await
            .context("Failed to run the queued calls")?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        // This run's view of the call kinds Snyk retires, for `status`.
        engine.persist_alerts(&mut None).await;
        println!(
            "reconciled: {} first logins adopted, {} vanished grants, {} drifted roles queued to be put back",
            report.adopted, report.vanished, report.drift
        );
        println!(
            "synced: {} targets processed, {} failed, {} left to retry{}",
            drained.processed,
            drained.failed,
            drained.deferred,
            if engine.settings().dry_run {
                " (dry run: calls recorded, none sent)"
            } else {
                ""
            }
        );
        Ok(())
    }
}

/// Become the only sender, or say who is.
async fn lead(store: &Store) -> anyhow::Result<crate::store::LeaderLock> {
    for _ in 0..10 {
        if let Some(lock) = store
            .try_lead()
            .await
            .context("Failed to take the leader lock")?
        {
            return Ok(lock);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    anyhow::bail!(
        "another process is sending to Snyk (a running `serve`); its worker keeps Snyk in step"
    )
}

async fn status(store: Store, dry_run: bool) -> anyhow::Result<()> {
    {
        let s = crate::sync::engine::status(&store)
            .await
            .context("Failed to read the status")?;
        println!("outbox (targets by state):");
        if s.targets.is_empty() {
            println!("  (empty)");
        }
        for (state, n) in &s.targets {
            println!("  {state:<8} {n}");
        }
        println!("access applied in Snyk, per org:");
        if s.per_org.is_empty() {
            println!("  (none)");
        }
        for (org, state, n) in &s.per_org {
            println!("  {org}  {state:<8} {n}");
        }
        println!("last failures:");
        if s.failures.is_empty() {
            println!("  (none)");
        }
        for f in &s.failures {
            println!(
                "  user {} org {} [{}] attempts {}: {}{}",
                f.user_id,
                f.org_id,
                f.status,
                f.attempts,
                f.last_error.as_deref().unwrap_or(""),
                f.last_error_ref
                    .as_deref()
                    .map(|r| format!(" (x-error-reference {r})"))
                    .unwrap_or_default()
            );
        }
        if !s.drift.is_empty() {
            println!("role drift (changed in Snyk by hand; `sync` puts it back):");
            for (user, org, expected, actual) in &s.drift {
                println!("  user {user} org {org}: expected {expected}, found {actual}");
            }
        }
        if !s.unlocated.is_empty() {
            println!(
                "cannot be managed after login ({}):",
                crate::sync::engine::UNLOCATED_REASON
            );
            for a in &s.unlocated {
                println!(
                    "  {} (user {}) org {} as {}",
                    a.email, a.user_id, a.org_id, a.role
                );
            }
        }
        if s.leased > 0 {
            println!("targets being worked on now: {}", s.leased);
        }
        online::print_api_health(&store, dry_run)
            .await
            .context("Failed to read the API health")?;
        Ok(())
    }
}

pub(crate) fn load(a: &ConfigArg) -> Result<config::Config, (PathBuf, ConfigError)> {
    let path = config::resolve_path(a.config.clone());
    config::load(&path, &config::process_env()).map_err(|e| (path, e))
}

async fn check_config(a: CheckConfigArgs) -> ExitCode {
    match load(&a.config) {
        Ok(c) => {
            let path = config::resolve_path(a.config.config);
            println!("{}: valid", path.display());
            print!("{}", config::render_mappings(&c.mappings));
            if c.snyk.dry_run {
                println!("snyk.dry_run = true: no call will be sent to Snyk");
            }
            if a.online {
                return online::check(&c, &path).await;
            }
            ExitCode::SUCCESS
        }
        Err((_, e)) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

async fn serve(a: ConfigArg) -> ExitCode {
    let config = match load(&a) {
        Ok(c) => c,
        Err((_, e)) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    crate::telemetry::init(config.log_format);
    let run = async move {
        let listen = config.listen.clone();
        let app = crate::http::Application::build(config).await?;
        tracing::info!(listen = %listen, port = app.port(), "snyk-scim-bridge is serving");
        app.run_until_stopped().await?;
        anyhow::Ok(())
    };
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = ?e, "snyk-scim-bridge stopped with an error");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::health_url;

    #[test]
    fn the_health_url_probes_loopback_for_a_wildcard_listen() {
        assert_eq!(
            health_url("127.0.0.1:8080"),
            "http://127.0.0.1:8080/healthz"
        );
        assert_eq!(health_url("0.0.0.0:9000"), "http://127.0.0.1:9000/healthz");
        assert_eq!(health_url("[::]:8080"), "http://[::1]:8080/healthz");
        assert_eq!(
            health_url("bridge.local:80"),
            "http://bridge.local:80/healthz"
        );
    }
}
