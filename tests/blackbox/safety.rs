//! The safety rails, from outside: the deletion circuit breaker holds a
//! wave of removals (none reaches Snyk) while grants keep flowing, `approve`
//! sends exactly what it releases and `reject` nothing; `replace members []`
//! on a mapped group is held even below the breaker's threshold; a protected
//! account's deactivation sends nothing; an org's last admin is not removed.
//! Each visible in `status`, `plan`, `/status`, `/metrics` and the log.

use std::time::Duration;

use serde_json::json;

use crate::fake_snyk::FakeSnyk;
use crate::harness::*;

const ADMIN_TOKEN: &str = "admin-token-for-the-safety-scenarios";

/// The DELETE calls Snyk accepted for `org`: path and query.
fn deletes(fake: &FakeSnyk, org: &str) -> Vec<String> {
    writes_to(fake, org)
        .into_iter()
        .filter(|c| c.method == "DELETE" && c.status == 200)
        .map(|c| format!("{}?{}", c.path, c.query))
        .collect()
}

/// Emails whose pending provision in ORG_A was deleted.
fn deleted_emails(fake: &FakeSnyk) -> Vec<String> {
    deletes(fake, ORG_A)
        .iter()
        .filter_map(|p| p.split("email=").nth(1).map(|e| e.replace("%40", "@")))
        .collect()
}

async fn get(b: &Bridge, path: &str, bearer: Option<&str>) -> (u16, String) {
    let mut req = b.http.get(format!("http://127.0.0.1:{}{path}", b.port));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// A group `name` holding `n` new users `prefix00..`; waits until all are
/// pending in ORG_A. Returns (group id, user ids).
async fn provisioned_group(
    b: &Bridge,
    fake: &FakeSnyk,
    name: &str,
    prefix: &str,
    n: usize,
) -> (String, Vec<String>) {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(create_user(b, okta_user(&format!("{prefix}{i:02}@example.com"))).await);
    }
    let group = create_group_with(b, name, &ids).await;
    wait_for(
        "every member is provisioned",
        Duration::from_secs(10),
        || (fake.pending(ORG_A).len() >= n).then_some(()),
    )
    .await;
    (group, ids)
}

fn config(safety: &str) -> BridgeConfig {
    BridgeConfig {
        mappings: vec![mapping("Developers", ORG_A, "COLLABORATOR")],
        safety: safety.to_owned(),
        extra: format!("[admin]\ntoken = \"{ADMIN_TOKEN}\"\n"),
        ..BridgeConfig::default()
    }
}

async fn breaker_holds_a_wave(backend: Backend) {
    let fake = fake_snyk().await;
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    // The product's thresholds (10% of managed access, more than 5, or more
    // than 50), with a 2 s removal delay instead of 10 s to keep the test short.
    let b = Bridge::start(
        dir.path(),
        &config("[safety]\nremoval_delay_secs = 2\n"),
        &db,
        &fake,
    )
    .await;
    let (group, ids) = provisioned_group(&b, &fake, "Developers", "dev", 20).await;
    // Unassign 30% of the managed users, one Okta request each, at Okta's pace.
    for id in &ids[..6] {
        okta_remove_member(&b, &group, id).await;
    }
    // A joiner while the wave is held: grants keep flowing.
    let joiner = create_user(&b, okta_user("joiner@example.com")).await;
    okta_add_member(&b, &group, "Developers", &joiner).await;
    wait_for("the joiner's grant", Duration::from_secs(2), || {
        is_pending(&fake, ORG_A, "joiner@example.com", "COLLABORATOR").then_some(())
    })
    .await;
    wait_for(
        "the status shows the breaker open",
        Duration::from_secs(8),
        || {
            let (_, out) = b.command(&["status"]);
            out.contains("deletion circuit breaker OPEN, 6")
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        deletes(&fake, ORG_A),
        Vec::<String>::new(),
        "no removal reached Snyk"
    );
    assert!(
        b.log_text()
            .contains("the deletion circuit breaker tripped"),
        "a WARN line says the breaker tripped:\n{}",
        b.log_text()
    );
    let (_, metrics) = get(&b, "/metrics", None).await;
    assert!(metrics.contains("safety_breaker_open 1"), "{metrics}");
    assert!(metrics.contains("safety_held_changes 6"), "{metrics}");
    assert!(
        metrics.contains("outbox_targets{state=\"held\"} 6"),
        "{metrics}"
    );
    let (status, page) = get(&b, "/status", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    assert!(page.contains("deletion circuit breaker open: 6"), "{page}");
    assert!(page.contains("dev00@example.com"), "{page}");
    let (code, plan) = b.command(&["plan"]);
    assert_eq!(code, 0, "{plan}");
    assert_eq!(plan.matches("[held: ").count(), 6, "{plan}");
    let (code, out) = b.command(&["status", "--json"]);
    assert_eq!(code, 0, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("status --json");
    assert_eq!(doc["safety"]["breaker_open"], json!(true), "{doc}");
    assert_eq!(doc["safety"]["held"], json!(6), "{doc}");
    assert_eq!(doc["outbox"]["held"], json!(6), "{doc}");

    // approve one user: exactly that removal is sent, even though Snyk
    // fails the first call of it (the approval survives the retry).
    fake.fail_next(1, 503);
    let (code, out) = b.command(&["approve", "--user", "DEV00@example.com"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("approved: dev00@example.com"), "{out}");
    wait_for("the approved removal", Duration::from_secs(10), || {
        (!deletes(&fake, ORG_A).is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(deleted_emails(&fake), vec!["dev00@example.com".to_owned()]);

    // reject the rest: nothing more is sent, the access stays (drift).
    let (code, out) = b.command(&["reject", "--org", ORG_A]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("rejected: ").count(), 5, "{out}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(deletes(&fake, ORG_A).len(), 1, "reject sends nothing");
    assert!(is_pending(
        &fake,
        ORG_A,
        "dev01@example.com",
        "COLLABORATOR"
    ));
    let (_, out) = b.command(&["status"]);
    assert!(out.contains("deletion circuit breaker closed"), "{out}");
    assert!(out.contains("rejected (drift"), "{out}");
    let (_, metrics) = get(&b, "/metrics", None).await;
    assert!(metrics.contains("safety_breaker_open 0"), "{metrics}");

    // A change that decides nothing (a new display name) leaves the
    // rejection alone.
    let (status, out) = b
        .scim(
            "PATCH",
            &format!("/Users/{}", ids[1]),
            Some(patch(
                json!([{"op": "replace", "path": "displayName", "value": "Dev One"}]),
            )),
        )
        .await;
    assert!(status == 200 || status == 204, "{status} {out}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(deleted_emails(&fake).len(), 1, "still rejected");
    // The IdP changes what decides the user's access (deactivates them):
    // the removal is planned anew (one removal: under the thresholds, sent
    // after the delay).
    okta_deactivate(&b, &ids[1]).await;
    wait_for("the re-planned removal", Duration::from_secs(5), || {
        (deleted_emails(&fake).len() == 2).then_some(())
    })
    .await;
    assert_eq!(
        deleted_emails(&fake),
        vec![
            "dev00@example.com".to_owned(),
            "dev01@example.com".to_owned()
        ]
    );
}

async fn empty_push_is_held(backend: Backend) {
    let fake = fake_snyk().await;
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    // The breaker itself would not trip (thresholds far away): only the
    // empty-push guard stands between Okta's empty push and Snyk.
    let b = Bridge::start(
        dir.path(),
        &config("[safety]\nremoval_delay_secs = 0\nmax_removals = 1000\nmin_removals = 1000\n"),
        &db,
        &fake,
    )
    .await;
    let (group, _) = provisioned_group(&b, &fake, "Developers", "push", 12).await;
    // Okta "Push now" on a group that is empty in Okta.
    let (status, out) = b
        .scim(
            "PATCH",
            &format!("/Groups/{group}"),
            Some(patch(
                json!([{"op": "replace", "path": "members", "value": []}]),
            )),
        )
        .await;
    assert!(status == 200 || status == 204, "{status} {out}");
    wait_for(
        "the status shows the held removals",
        Duration::from_secs(5),
        || {
            let (_, out) = b.command(&["status"]);
            out.contains("deletion circuit breaker OPEN, 12")
                .then_some(out)
        },
    )
    .await;
    let (_, out) = b.command(&["status"]);
    assert!(out.contains("empty push guard"), "{out}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        deletes(&fake, ORG_A),
        Vec::<String>::new(),
        "nothing was removed"
    );
    assert_eq!(fake.pending(ORG_A).len(), 12);
    // Okta pushes the real members again: the holds are moot and dropped.
    let ids: Vec<String> = {
        let (_, list) = b.scim("GET", "/Users?count=100", None).await;
        list["Resources"]
            .as_array()
            .expect("users")
            .iter()
            .map(|u| u["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let members: Vec<_> = ids.iter().map(|id| json!({"value": id})).collect();
    let (status, out) = b
        .scim(
            "PATCH",
            &format!("/Groups/{group}"),
            Some(patch(
                json!([{"op": "replace", "path": "members", "value": members}]),
            )),
        )
        .await;
    assert!(status == 200 || status == 204, "{status} {out}");
    wait_for("the holds are released", Duration::from_secs(5), || {
        let (_, out) = b.command(&["status"]);
        out.contains("nothing held").then_some(())
    })
    .await;
    assert_eq!(deletes(&fake, ORG_A), Vec::<String>::new());
    // A DELETE of the mapped group takes it from everyone at once: held too.
    let (status, out) = b.scim("DELETE", &format!("/Groups/{group}"), None).await;
    assert_eq!(status, 204, "{out}");
    wait_for(
        "the group DELETE's removals held",
        Duration::from_secs(5),
        || {
            let (_, out) = b.command(&["status"]);
            out.contains("deletion circuit breaker OPEN, 12")
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(deletes(&fake, ORG_A), Vec::<String>::new());
    assert_eq!(fake.pending(ORG_A).len(), 12);
}

async fn protected_account_is_never_removed(backend: Backend) {
    let fake = fake_snyk().await;
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = BridgeConfig {
        // "Leads" first: a lead who is also a developer is ADMIN.
        mappings: vec![
            mapping("Leads", ORG_A, "ADMIN"),
            mapping("Developers", ORG_A, "COLLABORATOR"),
        ],
        ..config(
            "[safety]\nremoval_delay_secs = 0\nprotected_emails = [\"Break.Glass@example.com\"]\n",
        )
    };
    let b = Bridge::start(dir.path(), &cfg, &db, &fake).await;
    let (group, ids) = provisioned_group(&b, &fake, "Developers", "crew", 2).await;
    let leads = create_group(&b, "Leads").await;
    let guard = create_user(&b, okta_user("break.glass@example.com")).await;
    okta_add_member(&b, &group, "Developers", &guard).await;
    okta_add_member(&b, &leads, "Leads", &guard).await;
    wait_for(
        "the protected account's grant",
        Duration::from_secs(3),
        || is_pending(&fake, ORG_A, "break.glass@example.com", "ADMIN").then_some(()),
    )
    .await;
    // A downgrade (ADMIN -> COLLABORATOR) of the protected account: refused.
    okta_remove_member(&b, &leads, &guard).await;
    let (out, _) = wait_for("the refused downgrade", Duration::from_secs(3), || {
        let (_, out) = b.command(&["status"]);
        out.contains("lower the role ADMIN -> COLLABORATOR")
            .then_some(out)
    })
    .await;
    assert!(out.contains("protected account"), "{out}");
    assert!(is_pending(&fake, ORG_A, "break.glass@example.com", "ADMIN"));
    okta_deactivate(&b, &guard).await;
    // An ordinary leaver beside it is removed as usual.
    okta_deactivate(&b, &ids[0]).await;
    wait_for(
        "the ordinary leaver's removal",
        Duration::from_secs(3),
        || (deleted_emails(&fake) == vec!["crew00@example.com".to_owned()]).then_some(()),
    )
    .await;
    let (out, _) = wait_for("the refusal in status", Duration::from_secs(3), || {
        let (_, out) = b.command(&["status"]);
        out.contains("refused (never sent)").then_some(out)
    })
    .await;
    assert!(out.contains("break.glass@example.com"), "{out}");
    assert!(out.contains("protected account"), "{out}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(deleted_emails(&fake), vec!["crew00@example.com".to_owned()]);
    assert!(is_pending(&fake, ORG_A, "break.glass@example.com", "ADMIN"));
    assert!(out.contains("remove from the org"), "{out}");
    let (_, metrics) = get(&b, "/metrics", None).await;
    assert!(metrics.contains("safety_refused_changes 1"), "{metrics}");
}

/// A running bridge (with `snyk.group_id`, no removal delay) whose group
/// "Snyk Admins" holds two users who logged in as admins of ORG_A, the org's
/// only admins: their SCIM ids and Snyk ids, in `emails`' order.
struct TwoAdmins {
    fake: FakeSnyk,
    b: Bridge,
    group: String,
    users: Vec<String>,
    snyk_ids: Vec<String>,
    _db: Db,
    _dir: tempfile::TempDir,
}

async fn two_admins(backend: Backend, emails: [&str; 2]) -> TwoAdmins {
    let fake = fake_snyk().await;
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = BridgeConfig {
        mappings: vec![mapping("Snyk Admins", ORG_A, "ADMIN")],
        group_id: Some(GROUP_ID.to_owned()),
        safety: "[safety]\nremoval_delay_secs = 0\n".to_owned(),
        ..BridgeConfig::default()
    };
    let b = Bridge::start(dir.path(), &cfg, &db, &fake).await;
    let group = create_group(&b, "Snyk Admins").await;
    let mut users = Vec::new();
    for email in emails {
        let id = create_user(&b, okta_user(email)).await;
        okta_add_member(&b, &group, "Snyk Admins", &id).await;
        users.push(id);
    }
    wait_for("both admins provisioned", Duration::from_secs(3), || {
        (fake.pending(ORG_A).len() == 2).then_some(())
    })
    .await;
    let snyk_ids = emails
        .iter()
        .map(|e| fake.simulate_first_login(ORG_A, e).expect("login"))
        .collect();
    TwoAdmins {
        fake,
        b,
        group,
        users,
        snyk_ids,
        _db: db,
        _dir: dir,
    }
}

async fn last_admin_is_not_removed(backend: Backend) {
    let t = two_admins(
        backend,
        ["first.admin@example.com", "second.admin@example.com"],
    )
    .await;
    let (fake, b) = (&t.fake, &t.b);
    let (first, second) = (&t.snyk_ids[0], &t.snyk_ids[1]);
    // Two admins: the first may go.
    okta_remove_member(b, &t.group, &t.users[0]).await;
    wait_for("the first admin's removal", Duration::from_secs(3), || {
        deletes(fake, ORG_A)
            .iter()
            .any(|p| p.contains(&format!("/members/{first}?")))
            .then_some(())
    })
    .await;
    // Now the second is the org's last admin: never removed.
    okta_remove_member(b, &t.group, &t.users[1]).await;
    let (out, _) = wait_for("the refusal in status", Duration::from_secs(3), || {
        let (_, out) = b.command(&["status"]);
        out.contains("last admin of org Org A").then_some(out)
    })
    .await;
    assert!(out.contains("second.admin@example.com"), "{out}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !deletes(fake, ORG_A)
            .iter()
            .any(|p| p.contains(&format!("/members/{second}?"))),
        "the last admin was removed"
    );
    assert_eq!(
        is_member(fake, ORG_A, "second.admin@example.com").as_deref(),
        Some("admin")
    );
}

/// The org's two admins leave at once: one may go, the other is the last.
async fn two_admins_leaving_together_keep_one(backend: Backend) {
    let emails = ["left.admin@example.com", "right.admin@example.com"];
    let t = two_admins(backend, emails).await;
    let (fake, b) = (&t.fake, &t.b);
    for id in &t.users {
        okta_deactivate(b, id).await;
    }
    wait_for(
        "one removal and one refusal",
        Duration::from_secs(4),
        || {
            let (_, out) = b.command(&["status"]);
            (deletes(fake, ORG_A).len() == 1 && out.contains("last admin of org Org A"))
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(deletes(fake, ORG_A).len(), 1, "{:?}", deletes(fake, ORG_A));
    let admins_left = emails
        .iter()
        .filter(|e| is_member(fake, ORG_A, e).as_deref() == Some("admin"))
        .count();
    assert_eq!(admins_left, 1, "the org keeps exactly one admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_leaving_at_once_leave_the_org_one() {
    for backend in backends() {
        two_admins_leaving_together_keep_one(backend).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_holds_a_wave_and_approve_sends_exactly_what_it_releases() {
    for backend in backends() {
        breaker_holds_a_wave(backend).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_push_on_a_mapped_group_is_held() {
    for backend in backends() {
        empty_push_is_held(backend).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_account_keeps_its_access() {
    for backend in backends() {
        protected_account_is_never_removed(backend).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_of_an_org_is_not_removed() {
    for backend in backends() {
        last_admin_is_not_removed(backend).await;
    }
}
