//! The command line of docs/interface.md: `serve`, `check-config`, `plan`,
//! `sync`, `status` (and `status --user`), plus `healthcheck`. Thin: each
//! command loads the configuration and calls into the library; one tokio
//! runtime (`#[tokio::main]` in `main.rs`) runs them all. The output of
//! `status`, `plan` and `check-config` (text, and `--json` for scripts) is
//! rendered in `status_view`, `plan_view` and `check_view`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check_view;
mod history;
mod online;
mod plan_view;
mod safety;
mod status_view;

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
    /// Validate the configuration file and print the mapping table.
    CheckConfig(CheckConfigArgs),
    /// Print every Snyk call a sync would make now; changes nothing.
    Plan(PlanArgs),
    /// Reconcile with Snyk and make the calls (a full sync).
    Sync(ConfigArg),
    /// Outbox counts by state, the last failures, per-org counts; with
    /// `--user EMAIL`, that user's history end to end.
    Status(StatusArgs),
    /// Release removals and downgrades held by the safety rails: they are
    /// sent through the outbox.
    Approve(safety::DecideArgs),
    /// Drop removals and downgrades held by the safety rails: nothing is
    /// sent, Snyk keeps the access (drift) until the IdP changes the user.
    Reject(safety::DecideArgs),
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
    /// Print JSON for scripts (the shape is in docs/interface.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print JSON for scripts (the shape is in docs/interface.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CheckConfigArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print JSON for scripts (the shape is in docs/interface.md).
    #[arg(long)]
    pub json: bool,
    /// Also ask Snyk (GET calls only): the token is accepted, every mapped
    /// org is in snyk.group_id's group, every role_public_id exists and may
    /// be granted by the token's user.
    #[arg(long, conflicts_with = "json")]
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
        Command::Plan(a) => match open(&a.config, false).await {
            Ok((engine, store)) => outcome(plan(engine, store, a.json).await),
            Err(code) => code,
        },
        Command::Sync(a) => match open(&a, true).await {
            Ok((engine, store)) => outcome(sync(engine, store).await),
            Err(code) => code,
        },
        Command::Status(StatusArgs {
            config,
            user: None,
            json,
        }) => match open(&config, false).await {
            Ok((engine, store)) => outcome(
                status(
                    store,
                    json,
                    engine.settings().dry_run,
                    engine.configured_pace(),
                )
                .await,
            ),
            Err(code) => code,
        },
        Command::Status(StatusArgs {
            config,
            user: Some(email),
            json,
        }) => history::run(&config, &email, json).await,
        Command::Approve(a) => safety::decide(a, true).await,
        Command::Reject(a) => safety::decide(a, false).await,
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
        let engine = crate::sync::Engine::new(store.for_worker(), &config, Arc::new(SystemClock))
            .context("Failed to build the Snyk client")?;
        anyhow::Ok((engine, store))
    };
    opened.await.map_err(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}

async fn plan(engine: crate::sync::Engine, store: Store, json: bool) -> anyhow::Result<()> {
    let (report, calls) = engine.plan().await.context("Failed to plan")?;
    let names = crate::sync::names::Names::load(&store, calls.iter().map(|(u, _)| u.as_str()))
        .await
        .context("Failed to read the names of users and orgs")?;
    let holds = safety::holds(&store).await?;
    let dry_run = engine.settings().dry_run;
    if json {
        print_json(&plan_view::json(&report, &calls, &names, &holds, dry_run))
    } else {
        print!(
            "{}",
            plan_view::text(&report, &calls, &names, &holds, dry_run)
        );
        Ok(())
    }
}

/// One JSON document on stdout.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("Failed to write JSON")?;
    println!("{text}");
    Ok(())
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
        let progress = |r: &crate::sync::engine::DrainReport| {
            if let Some(b) = &bar {
                b.set_position(u64::try_from(r.processed).unwrap_or(0));
                b.set_message(format!("{} failed, {} to retry", r.failed, r.deferred));
            }
        };
        let mut drained = engine
            .drain(progress)
            .await
            .context("Failed to run the queued calls")?;
        // Removals wait out safety.removal_delay_secs before the breaker
        // decides on them: wait once, then run what fell due.
        let waiting = safety::holds(&store)
            .await?
            .iter()
            .any(|h| h.state == crate::store::HoldState::Waiting);
        if waiting {
            let delay = engine.settings().safety.removal_delay_secs;
            println!(
                "waiting {delay} s (safety.removal_delay_secs) before the breaker decides on the removals"
            );
            tokio::time::sleep(std::time::Duration::from_millis(delay * 1000 + 500)).await;
            let more = engine
                .drain(progress)
                .await
                .context("Failed to run the queued calls")?;
            drained.processed += more.processed;
            drained.failed += more.failed;
            drained.deferred = more.deferred;
        }
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
        let held = safety::holds(&store)
            .await?
            .iter()
            .filter(|h| {
                matches!(
                    h.state,
                    crate::store::HoldState::Held | crate::store::HoldState::Marked
                )
            })
            .count();
        if held > 0 {
            println!(
                "held by the safety rails: {held} removal(s)/downgrade(s), not sent (see `status`; `approve` or `reject`)"
            );
        }
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

async fn status(
    store: Store,
    json: bool,
    dry_run: bool,
    (rpm, window): (u32, u64),
) -> anyhow::Result<()> {
    let (report, names) = status_view::read(&store).await?;
    let pacing = crate::pacing::shown(&store, rpm, window)
        .await
        .context("Failed to read the Snyk pacing")?;
    if json {
        print_json(&status_view::json(&report, &names, pacing)?)
    } else {
        print!("{}", status_view::text(&report, &names));
        println!("Snyk pacing: {}", pacing.text());
        online::print_api_health(&store, dry_run)
            .await
            .context("Failed to read the API health")
    }
}

pub(crate) fn load(a: &ConfigArg) -> Result<config::Config, (PathBuf, ConfigError)> {
    let path = config::resolve_path(a.config.clone());
    config::load(&path, &config::process_env()).map_err(|e| (path, e))
}

async fn check_config(a: CheckConfigArgs) -> ExitCode {
    let path = config::resolve_path(a.config.config.clone());
    let loaded = load(&a.config).map_err(|(_, e)| e);
    let code = if loaded.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CONFIG)
    };
    if a.json {
        if let Err(e) = print_json(&check_view::json(&path, loaded.as_ref())) {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
        return code;
    }
    match loaded {
        Ok(c) => {
            println!("{}: valid", path.display());
            print!("{}", config::render_mappings(&c.mappings));
            if c.snyk.dry_run {
                println!("snyk.dry_run = true: no call will be sent to Snyk");
            }
            if a.online {
                return online::check(&c, &path).await;
            }
        }
        Err(e) => eprintln!("{e}"),
    }
    code
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
