//! Operator views (issue 12, item 6): every metric family on `/metrics`
//! before the first event, `pretty` logs without ANSI escapes when they do not
//! go to a terminal, `--json` output of `status`, `plan` and `check-config`,
//! and users and orgs shown by the names an operator knows (userName / email,
//! the org's Snyk name next to its id) in `status`, `plan` and `/status`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ORG_A: &str = "6b7a7c5e-1111-4c4c-9d9d-0000000000a1";
const SCIM_TOKEN: &str = "scim-token-for-operator-views-0001";

/// A `serve` of the built binary with its stderr collected line by line.
struct Served {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_snyk-scim-bridge"))
            .args(["serve", "--config"])
            .arg(config)
            .env_remove("SNYK_TOKEN")
            .env_remove("SCIM_TOKENS")
            .env_remove("ADMIN_TOKEN")
            .env_remove("RUST_LOG")
            // A colour preference of the environment must not decide the test.
            .env_remove("NO_COLOR")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start serve");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        Self { child, lines }
    }

    async fn wait_for(&self, what: &str) -> String {
        for _ in 0..600 {
            if let Some(l) = self
                .lines
                .lock()
                .expect("lock")
                .iter()
                .find(|l| l.contains(what))
            {
                return l.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no log line with {what:?}:\n{}",
            self.lines.lock().expect("lock").join("\n")
        );
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.lines.lock().expect("lock").join("\n")
    }
}

/// A dry-run configuration on SQLite in `dir`, with `extra` appended.
fn write_config(dir: &Path, log_format: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("bridge.toml");
    std::fs::write(
        &path,
        format!(
            r#"
listen = "127.0.0.1:0"
database_url = "sqlite://{db}"
log_format = "{log_format}"
[scim]
tokens = ["{SCIM_TOKEN}"]
[snyk]
dry_run = true
[[mappings]]
group = "Snyk Admins"
org_id = "{ORG_A}"
role = "ADMIN"
{extra}"#,
            db = dir.join("bridge.db").display()
        ),
    )
    .expect("config");
    path
}

// ---------------------------------------------------------------------------
// Metric families present from the start

/// Every family the bridge exports (docs/operations.md, README "Observe").
const FAMILIES: [&str; 12] = [
    "scim_requests_total",
    "scim_request_duration_seconds",
    "outbox_targets",
    "outbox_oldest_pending_age_seconds",
    "snyk_calls_total",
    "snyk_call_duration_seconds",
    "snyk_rate_limited_total",
    "sync_drift_total",
    "sync_drift_current",
    "sync_last_reconcile_timestamp_seconds",
    "audit_purged_rows_total",
    "bridge_build_info",
];

#[tokio::test]
async fn metrics_families_are_present_before_any_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "json", "");
    let served = Served::start(&config);
    let line = served.wait_for("snyk-scim-bridge is serving").await;
    let port = serde_json::from_str::<serde_json::Value>(&line).expect("json")["port"]
        .as_u64()
        .expect("port");
    // The first request the process answers: no SCIM request, no Snyk call,
    // no reconciliation (the first is 5 s after start) and no purge yet.
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    served.stop();
    for family in FAMILIES {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing before any event:\n{text}"
        );
    }
    for series in [
        "snyk_rate_limited_total 0",
        "sync_drift_total 0",
        "sync_drift_current 0",
        "sync_last_reconcile_timestamp_seconds 0",
        "outbox_oldest_pending_age_seconds 0",
        "outbox_targets{state=\"pending\"} 0",
        "outbox_targets{state=\"dead\"} 0",
        "audit_purged_rows_total{table=\"snyk_calls\"} 0",
        "snyk_calls_total{endpoint=\"/org/{orgId}/provision\",status=\"200\"} 0",
        "snyk_call_duration_seconds_count{endpoint=\"/org/{orgId}/members/{userId}\"} 0",
        "scim_requests_total{route=\"/scim/v2/Users\",method=\"POST\",status=\"201\"} 0",
        "scim_request_duration_seconds_count{route=\"/scim/v2/Groups/{id}\",method=\"PATCH\"} 0",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
}

// ---------------------------------------------------------------------------
// Pretty logs without colour codes off a terminal

/// `text` without ANSI SGR sequences (`ESC [ ... m`), so a coloured line
/// still parses and the test fails on the assertion that matters.
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn pretty_logs_written_to_a_pipe_carry_no_ansi_escapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "pretty", "");
    let served = Served::start(&config);
    let line = served.wait_for("snyk-scim-bridge is serving").await;
    // A request, so the request span's lines are written too.
    let port: String = strip_ansi(&line)
        .split("port=")
        .nth(1)
        .expect("port field")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let answer = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/scim/v2/Users"))
        .bearer_auth(SCIM_TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), 200);
    served.wait_for("request handled").await;
    let all = served.stop();
    assert!(all.contains("INFO"), "{all}");
    assert!(
        !all.contains('\u{1b}'),
        "ANSI escapes in logs written to a pipe:\n{}",
        all.escape_debug()
    );
}
