//! The application in-process for tests that drive the worker themselves:
//! config text parsed as the binary would, the real HTTP server on port 0,
//! a manual clock, the worker off, no settle delay.
//!
//! Include it as a module of the test binary (`mod app;` under `common`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use snyk_scim_bridge::clock::ManualClock;
use snyk_scim_bridge::config::{self, Env};
use snyk_scim_bridge::http::{AppOptions, Application};
use snyk_scim_bridge::store::Store;
use snyk_scim_bridge::sync::Engine;

/// A running in-process app.
pub struct InProcess {
    /// `http://127.0.0.1:{port}`
    pub root: String,
    pub engine: Engine,
    pub store: Store,
    pub clock: Arc<ManualClock>,
}

/// Parse `text` (named `name` in errors), build the app on a manual clock
/// that starts at `start` (RFC 3339), and serve it in the background.
pub async fn start(name: &str, text: &str, start: &str) -> InProcess {
    let cfg = config::parse(std::path::Path::new(name), text, &Env::new()).expect("valid config");
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339(start)
        .expect("date")
        .with_timezone(&Utc);
    let clock = Arc::new(ManualClock::new(start));
    let app = Application::build_with(
        cfg,
        AppOptions {
            clock: clock.clone(),
            start_worker: false,
            settle: std::time::Duration::ZERO,
        },
    )
    .await
    .expect("app builds");
    let root = format!("http://127.0.0.1:{}", app.port());
    let engine = app.engine().clone();
    let store = app.store().clone();
    tokio::spawn(app.run_until_stopped());
    InProcess {
        root,
        engine,
        store,
        clock,
    }
}
