//! Early warning before Snyk stops answering: a call kind Snyk retires (410
//! Gone, `Sunset` / `Deprecation` headers) is not sent again and its work
//! stays queued; a token close to its expiry turns `/status` to warning (and
//! `/readyz` says so, still 200); `check-config --online` checks the mappings
//! against live Snyk and names the lines of the ones that are wrong.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::*;

const ADMIN_TOKEN: &str = "admin-token-for-black-box-api-health";

fn provision_calls(fake: &crate::fake_snyk::FakeSnyk) -> Vec<RecordedCall> {
    fake.calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/provision"))
        .collect()
}

/// `n` users in the mapped group "Snyk Admins" (ORG_A, ADMIN).
async fn admins(b: &Bridge, prefix: &str, n: usize) -> String {
    let group = create_group(b, "Snyk Admins").await;
    for i in 0..n {
        let u = create_user(b, okta_user(&format!("{prefix}{i}@example.com"))).await;
        okta_add_member(b, &group, "Snyk Admins", &u).await;
    }
    group
}

/// The count of one outbox state in `status`'s output (0 when not listed).
fn outbox_count(status: &str, state: &str) -> i64 {
    status
        .lines()
        .map(str::trim)
        .find_map(|l| {
            let (s, n) = l.split_once(char::is_whitespace)?;
            (s == state).then(|| n.trim().parse().ok()).flatten()
        })
        .unwrap_or(0)
}

async fn metrics(b: &Bridge) -> String {
    b.http
        .get(format!("http://127.0.0.1:{}/metrics", b.port))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

async fn gone_stops_provisioning(backend: Backend) {
    let fake = fake_snyk().await;
    fake.answer_gone("POST", "/provision");
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let b = Bridge::start(dir.path(), &BridgeConfig::default(), &db, &fake).await;
    let group = admins(&b, "gone", 1).await;
    wait_for("the first provision call", Duration::from_secs(3), || {
        (!provision_calls(&fake).is_empty()).then_some(())
    })
    .await;
    // Two more users to provision (calls already in flight when the 410
    // arrives may also meet it; none is sent after it).
    for i in 1..3 {
        let u = create_user(&b, okta_user(&format!("gone{i}@example.com"))).await;
        okta_add_member(&b, &group, "Snyk Admins", &u).await;
    }
    // Three targets are queued; a few seconds later still only the one call.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = provision_calls(&fake);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].status, 410);
    assert!(fake.pending(ORG_A).is_empty());
    let (code, out) = b.command(&["status"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(outbox_count(&out, "pending"), 3, "{out}");
    assert_eq!(outbox_count(&out, "failed"), 0, "{out}");
    assert_eq!(outbox_count(&out, "dead"), 0, "{out}");
    assert!(
        out.contains("POST /org/{orgId}/provision: 410 Gone"),
        "{out}"
    );
    let log = b.log_text();
    assert!(
        log.contains("WARN") && log.contains("Snyk is retiring this call"),
        "{log}"
    );
    let m = metrics(&b).await;
    assert!(
        m.contains("snyk_call_kind_blocked{endpoint=\"POST /org/{orgId}/provision\"} 1"),
        "{m}"
    );
    // A restart clears the block (the next call of the kind is a probe).
    let mut b = b;
    b.terminate(Duration::from_secs(15)).await.expect("stopped");
    b.spawn().await;
    let mut out = String::new();
    for _ in 0..100 {
        out = b.command(&["status"]).1;
        if out.contains("snyk calls blocked: none") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(out.contains("snyk calls blocked: none"), "{out}");
    assert_eq!(outbox_count(&out, "pending"), 3, "{out}");
}

#[tokio::test]
async fn a_410_from_the_provision_endpoint_stops_provisioning_without_retries_and_shows_in_status()
{
    for backend in backends() {
        gone_stops_provisioning(backend).await;
    }
}

async fn sunset_blocks_the_next_call(backend: Backend) {
    let fake = fake_snyk().await;
    fake.add_sunset_headers("POST", "/provision");
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let b = Bridge::start(dir.path(), &BridgeConfig::default(), &db, &fake).await;
    let group = admins(&b, "first", 1).await;
    wait_for("the first provision", Duration::from_secs(3), || {
        (fake.pending(ORG_A).len() == 1).then_some(())
    })
    .await;
    // The answer carried Sunset: the next provision is not sent.
    let u = create_user(&b, okta_user("second@example.com")).await;
    okta_add_member(&b, &group, "Snyk Admins", &u).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(provision_calls(&fake).len(), 1, "{:?}", fake.calls());
    let (code, out) = b.command(&["status"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(outbox_count(&out, "pending"), 1, "{out}");
    assert!(
        out.contains("POST /org/{orgId}/provision: Sunset:"),
        "{out}"
    );
}

#[tokio::test]
async fn a_sunset_header_stops_the_next_call_of_that_kind() {
    for backend in backends() {
        sunset_blocks_the_next_call(backend).await;
    }
}

async fn expiring_token(backend: Backend) {
    let fake = fake_snyk().await;
    let at = chrono::Utc::now() + chrono::Duration::days(2);
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    fake.set_token_expiries(&[Some(&at)]);
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = BridgeConfig {
        extra: format!("\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\n"),
        ..BridgeConfig::default()
    };
    let b = Bridge::start(dir.path(), &cfg, &db, &fake).await;
    let status_url = format!("http://127.0.0.1:{}/status", b.port);
    let mut page = String::new();
    for _ in 0..100 {
        page = b
            .http
            .get(&status_url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("status")
            .text()
            .await
            .expect("page");
        if page.contains("expires in 2 days") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(page.contains("expires in 2 days"), "{page}");
    assert!(
        page.contains("snyk-scim-bridge status <span class=\"badge warning\">warning</span>"),
        "{page}"
    );
    let calls = fake.calls();
    let rest = calls
        .iter()
        .find(|c| c.path == "/rest/self/personal_access_tokens")
        .expect("the token list was read");
    assert!(rest.query.starts_with("version=20"), "{rest:?}");
    let ready = b
        .http
        .get(format!("http://127.0.0.1:{}/readyz", b.port))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);
    let body = ready.text().await.expect("readyz body");
    assert!(
        body.starts_with("ready\n") && body.contains("warning: Snyk token expires in 2 days"),
        "{body}"
    );
    let m = metrics(&b).await;
    let secs: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("snyk_token_expiry_seconds "))
        .expect("the expiry gauge")
        .trim()
        .parse()
        .expect("a number");
    assert!((170_000.0..=172_800.0).contains(&secs), "{secs}");
    let (code, out) = b.command(&["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("snyk token expiry [warning]: expires in 2 days"),
        "{out}"
    );
    assert!(!out.contains(SNYK_TOKEN) && !b.log_text().contains(SNYK_TOKEN));
}

#[tokio::test]
async fn a_token_expiring_in_2_days_turns_status_to_warning() {
    for backend in backends() {
        expiring_token(backend).await;
    }
}

async fn not_allowed_is_said_once(backend: Backend) {
    let fake = fake_snyk().await;
    fake.answer_with("GET", "/self/personal_access_tokens", 403);
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut b = Bridge::start(dir.path(), &BridgeConfig::default(), &db, &fake).await;
    const SAID: &str = "Snyk does not allow this token to read its own expiry";
    let pat_calls = || {
        fake.calls()
            .iter()
            .filter(|c| c.path == "/rest/self/personal_access_tokens" && c.status == 403)
            .count()
    };
    wait_for("the WARN line", Duration::from_secs(5), || {
        b.log_text().contains(SAID).then_some(())
    })
    .await;
    let (_, out) = b.command(&["status"]);
    assert!(out.contains("cannot be read (Snyk answered 403)"), "{out}");
    // The next check (here: after a restart) asks again but does not say it again.
    b.terminate(Duration::from_secs(15)).await.expect("stopped");
    b.spawn().await;
    wait_for("the second check", Duration::from_secs(5), || {
        (pat_calls() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = b.log_text();
    assert!(
        log.contains("now sends to Snyk") && !log.contains(SAID),
        "{log}"
    );
}

#[tokio::test]
async fn a_token_list_snyk_does_not_allow_is_said_once() {
    for backend in backends() {
        not_allowed_is_said_once(backend).await;
    }
}

/// `check-config --online --config F`: (exit code, stdout + stderr). Off the
/// test's thread, which serves the fake.
async fn check_online(config: &std::path::Path) -> (i32, String) {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || run_check_online(&config))
        .await
        .expect("check-config ran")
}

fn run_check_online(config: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_snyk-scim-bridge"))
        .args(["check-config", "--online", "--config"])
        .arg(config)
        .env_remove("SNYK_TOKEN")
        .env_remove("SCIM_TOKENS")
        .env_remove("BRIDGE_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run check-config");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The 1-based lines of the file's `[[mappings]]` headers.
fn header_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[mappings]]")
        .map(|(i, _)| i + 1)
        .collect()
}

#[tokio::test]
async fn check_config_online_names_the_lines_of_wrong_mappings() {
    let fake = fake_snyk().await;
    fake.add_role(GROUP_ID, CUSTOM_ROLE, "Developer");
    fake.add_group_admin(GROUP_ID, "token-user", "bridge-owner@example.com");
    fake.set_me("token-user");
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("b.db").display());
    let write = |name: &str, mappings: Vec<MappingSpec>| {
        let cfg = BridgeConfig {
            group_id: Some(GROUP_ID.to_owned()),
            mappings,
            ..BridgeConfig::default()
        };
        let text = cfg.toml(free_port(), &db, &fake.base_url);
        let path = dir.path().join(name);
        std::fs::write(&path, &text).expect("write");
        (path, header_lines(&text))
    };

    let (good, _) = write(
        "good.toml",
        vec![
            mapping("Snyk Admins", ORG_A, "ADMIN"),
            mapping("Developers", ORG_B, &format!("custom:{CUSTOM_ROLE}")),
        ],
    );
    let (code, out) = check_online(&good).await;
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("PROBLEM"), "{out}");
    assert_eq!(out.matches(": ok (").count(), 2, "{out}");
    assert!(out.contains("role \"Developer\" exists"), "{out}");

    let stranger = "6b7a7c5e-1111-4c4c-9d9d-0000000000c3";
    let unknown_role = "d3b07384-d9a0-4c9b-8000-000000000bad";
    let (bad, lines) = write(
        "bad.toml",
        vec![
            mapping("Snyk Admins", ORG_A, "ADMIN"),
            mapping("Outsiders", stranger, "COLLABORATOR"),
            mapping("Developers", ORG_B, &format!("custom:{unknown_role}")),
        ],
    );
    let (code, out) = check_online(&bad).await;
    eprintln!("{out}");
    assert_eq!(code, 2, "{out}");
    let file = bad.display().to_string();
    let line_of = |l: usize| {
        out.lines()
            .find(|x| x.starts_with(&format!("{file}:{l}: ")))
            .unwrap_or_else(|| panic!("no line for {l}: {out}"))
            .to_owned()
    };
    assert!(line_of(lines[0]).contains(": ok ("), "{out}");
    let org = line_of(lines[1]);
    assert!(
        org.contains("PROBLEM") && org.contains("not in group"),
        "{org}"
    );
    let role = line_of(lines[2]);
    assert!(
        role.contains("PROBLEM") && role.contains("role_public_id"),
        "{role}"
    );
    assert!(!out.contains(SNYK_TOKEN), "{out}");
    // Changes nothing: only GET calls reached Snyk.
    assert!(fake.write_calls().is_empty(), "{:?}", fake.write_calls());
}
