//! The `snyk-scim-bridge` binary: parse the command line and hand over.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    snyk_scim_bridge::cli::main().await
}
