//! The command line of interface.md: `serve`, `check-config` (and, as the
//! sync engine lands, `plan`, `sync`, `status`). Thin: each command loads the
//! configuration and calls into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, ConfigError};

#[derive(Debug, Parser)]
#[command(name = "snyk-scim-bridge", version, about = "Keeps Snyk organization access in step with an identity provider, over SCIM 2.0")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: SCIM server and health endpoints.
    Serve(ConfigArg),
    /// Validate the configuration file and print the mapping table.
    CheckConfig(ConfigArg),
}

#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// The TOML configuration file (default: $BRIDGE_CONFIG, then bridge.toml).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
}

/// Exit code for a configuration that is wrong (interface.md).
const EXIT_CONFIG: u8 = 2;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig(a) => check_config(a),
        Command::Serve(a) => serve(a),
    }
}

fn load(a: &ConfigArg) -> Result<config::Config, (PathBuf, ConfigError)> {
    let path = config::resolve_path(a.config.clone());
    config::load(&path, &config::process_env()).map_err(|e| (path, e))
}

fn check_config(a: ConfigArg) -> ExitCode {
    match load(&a) {
        Ok(c) => {
            println!("{}: valid", config::resolve_path(a.config).display());
            print!("{}", config::render_mappings(&c.mappings));
            if c.snyk.dry_run {
                println!("snyk.dry_run = true: no call will be sent to Snyk");
            }
            ExitCode::SUCCESS
        }
        Err((_, e)) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn serve(a: ConfigArg) -> ExitCode {
    let config = match load(&a) {
        Ok(c) => c,
        Err((_, e)) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    crate::telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let listen = config.listen.clone();
        let app = crate::http::Application::build(config).await?;
        tracing::info!(listen = %listen, port = app.port(), "snyk-scim-bridge is serving");
        app.run_until_stopped().await?;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = ?e, "snyk-scim-bridge stopped with an error");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
