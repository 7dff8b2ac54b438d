//! `snyk-scim-bridge healthcheck`: the probe a container's HEALTHCHECK runs.
//! The real binary against the real application on a random port.

use std::path::Path;
use std::process::{Command, Output};

use snyk_scim_bridge::config::{Env, parse};
use snyk_scim_bridge::http::Application;

/// Start the application on a fresh SQLite database; its port and the
/// directory that holds the database (keep it alive).
async fn spawn_app() -> (u16, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "sqlite://{}"
[scim]
tokens = ["healthcheck-test-token-0123456789"]
[snyk]
dry_run = true
[[mappings]]
group = "Snyk Admins"
org_id = "6b7a7c5e-1111-4c4c-9d9d-000000000001"
role = "ADMIN"
"#,
        dir.path().join("bridge.db").display()
    );
    let config = parse(Path::new("test.toml"), &text, &Env::new()).expect("valid config");
    let app = Application::build(config)
        .await
        .expect("application builds");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    (port, dir)
}

/// Run the binary off the runtime's worker threads.
async fn healthcheck(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_snyk-scim-bridge"))
            .arg("healthcheck")
            .args(&args)
            .env_remove("BRIDGE_CONFIG")
            .output()
            .expect("the binary runs")
    })
    .await
    .expect("join")
}

/// A port on which nothing listens.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test]
async fn a_serving_bridge_is_healthy_by_url_and_by_config() {
    let (port, dir) = spawn_app().await;
    let out = healthcheck(vec![
        "--url".into(),
        format!("http://127.0.0.1:{port}/healthz"),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // --config: the address comes from `listen`; the rest of the file (no
    // secrets here) is not validated.
    let file = dir.path().join("bridge.toml");
    std::fs::write(&file, format!("listen = \"0.0.0.0:{port}\"\n")).expect("write");
    let out = healthcheck(vec!["--config".into(), file.display().to_string()]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[tokio::test]
async fn nothing_listening_or_an_error_status_is_unhealthy() {
    let out = healthcheck(vec![
        "--url".into(),
        format!("http://127.0.0.1:{}/healthz", free_port()),
        "--timeout-secs".into(),
        "2".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unhealthy"));

    let (port, _dir) = spawn_app().await;
    let out = healthcheck(vec![
        "--url".into(),
        format!("http://127.0.0.1:{port}/no-such-route"),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));

    let out = healthcheck(vec!["--config".into(), "/nonexistent/bridge.toml".into()]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}
