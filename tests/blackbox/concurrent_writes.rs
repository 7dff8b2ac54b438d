//! Concurrent SCIM writes (on SQLite they share one transaction: group
//! commit): each is answered for itself, a conflicting one fails alone, and
//! every answered write is stored, also after the process is killed at once.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;

use crate::harness::*;

const USERS: usize = 24;

async fn scenario(backend: Backend) {
    let fake = fake_snyk().await;
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = BridgeConfig {
        requests_per_minute: 6000,
        ..BridgeConfig::default()
    };
    let mut b = Bridge::start(dir.path(), &cfg, &db, &fake).await;
    let admins = create_group(&b, "Snyk Admins").await;

    // Every user twice, all at once: one of each pair is created, the other
    // refused as a duplicate, and the refusals take no other write down.
    let emails: Vec<String> = (0..USERS)
        .map(|i| format!("crowd{i:02}@example.com"))
        .collect();
    let answers = join_all(
        emails
            .iter()
            .chain(emails.iter())
            .map(|e| b.scim("POST", "/Users", Some(okta_user(e)))),
    )
    .await;
    let mut ids = Vec::new();
    for email in &emails {
        let created: Vec<_> = answers
            .iter()
            .filter(|(s, out)| *s == 201 && out["userName"] == json!(email))
            .collect();
        assert_eq!(created.len(), 1, "{email} created once: {answers:?}");
        ids.push(created[0].1["id"].as_str().expect("id").to_owned());
    }
    let refused = answers.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!(refused, USERS, "each duplicate refused: {answers:?}");

    // All of them join the mapped group at once (Okta's PATCH each).
    join_all(
        ids.iter()
            .map(|id| okta_add_member(&b, &admins, "Snyk Admins", id)),
    )
    .await;

    // Killed at once: every answered write is there after the restart, and
    // every member reaches Snyk.
    b.kill9();
    b.spawn().await;
    for (id, email) in ids.iter().zip(&emails) {
        let (status, out) = b.scim("GET", &format!("/Users/{id}"), None).await;
        assert_eq!(status, 200, "{email} stored: {out}");
    }
    let (status, group) = b.scim("GET", &format!("/Groups/{admins}"), None).await;
    assert_eq!(status, 200, "{group}");
    let members = group["members"].as_array().map_or(0, Vec::len);
    assert_eq!(members, USERS, "every concurrent PATCH kept: {group}");
    // Longer than the suite's 2 s: a target the killed process had leased
    // waits for its lease to lapse.
    wait_for("every member provisioned", Duration::from_secs(5), || {
        emails
            .iter()
            .all(|e| is_pending(&fake, ORG_A, e, "ADMIN"))
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_are_answered_each_and_survive_a_kill() {
    for b in backends() {
        scenario(b).await;
    }
}
