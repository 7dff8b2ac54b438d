//! Snyk follows SCIM writes within 2 s, whatever the interleaving of the
//! IdP's writes and the worker's runs (issue: grants stalled for a minute when
//! a target was queued again while its previous run was finishing).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;

/// Within this long of the SCIM write that caused it, a call reaches Snyk
/// when Snyk does not rate-limit.
const PROMPT: Duration = Duration::from_secs(2);

fn config() -> BridgeConfig {
    BridgeConfig {
        mappings: vec![
            mapping("Snyk Admins", ORG_A, "ADMIN"),
            mapping("Snyk Developers", ORG_B, "COLLABORATOR"),
        ],
        // Pacing is not what this scenario measures.
        requests_per_minute: 6000,
        ..BridgeConfig::default()
    }
}

/// The first write call at or after `since` for which `pick` holds.
fn arrival(
    fake: &crate::fake_snyk::FakeSnyk,
    since: Instant,
    pick: impl Fn(&RecordedCall) -> bool,
) -> Option<Instant> {
    fake.write_calls()
        .into_iter()
        .filter(|c| c.at >= since && c.status == 200)
        .find(|c| pick(c))
        .map(|c| c.at)
}

fn is_provision(c: &RecordedCall, org: &str, email: &str) -> bool {
    c.method == "POST"
        && c.path == format!("/org/{org}/provision")
        && c.body
            .as_ref()
            .and_then(|b| b["email"].as_str())
            .is_some_and(|e| e.eq_ignore_ascii_case(email))
}

fn is_delete_provision(c: &RecordedCall, org: &str, email: &str) -> bool {
    c.method == "DELETE"
        && c.path == format!("/org/{org}/provision")
        && c.query
            .replace("%40", "@")
            .eq_ignore_ascii_case(&format!("email={email}"))
}

async fn expect_within(
    fake: &crate::fake_snyk::FakeSnyk,
    what: &str,
    since: Instant,
    pick: impl Fn(&RecordedCall) -> bool,
) -> Duration {
    let limit = PROMPT + Duration::from_secs(3);
    let (at, _) = wait_for(what, limit, || arrival(fake, since, &pick)).await;
    let late = at.duration_since(since);
    assert!(
        late <= PROMPT,
        "{what}: reached Snyk {late:?} after the SCIM write (limit {PROMPT:?})"
    );
    late
}

async fn okta_create_then_add(backend: Backend) {
    let fake = fake_snyk().await;
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let b = Bridge::start(dir.path(), &config(), &db, &fake).await;
    let admins = create_group(&b, "Snyk Admins").await;
    let devs = create_group(&b, "Snyk Developers").await;

    let mut worst = Duration::ZERO;
    // Okta's pace: create, then add to the pushed group milliseconds later;
    // the worker runs the create's targets while the add is queued.
    for i in 0..25 {
        let email = format!("okta{i:02}@example.com");
        let id = create_user(&b, okta_user(&email)).await;
        let written = Instant::now();
        okta_add_member(&b, &admins, "Snyk Admins", &id).await;
        worst = worst.max(
            expect_within(&fake, &format!("provision of {email}"), written, |c| {
                is_provision(c, ORG_A, &email)
            })
            .await,
        );
        if i % 5 == 0 {
            // A second group: the second org's grant is as prompt.
            let written = Instant::now();
            okta_add_member(&b, &devs, "Snyk Developers", &id).await;
            expect_within(&fake, &format!("{email} into org B"), written, |c| {
                is_provision(c, ORG_B, &email)
            })
            .await;
        }
    }
    // Okta's update is a PUT of the whole user: a new primary email while
    // pending is a delete of the old provision and a provision of the new.
    let email = "okta-put@example.com";
    let id = create_user(&b, okta_user(email)).await;
    okta_add_member(&b, &admins, "Snyk Admins", &id).await;
    wait_for("the first provision", PROMPT, || {
        is_pending(&fake, ORG_A, email, "ADMIN").then_some(())
    })
    .await;
    let mut body = okta_user("okta-put-new@example.com");
    body["id"] = json!(id);
    let written = Instant::now();
    let (status, out) = b.scim("PUT", &format!("/Users/{id}"), Some(body)).await;
    assert_eq!(status, 200, "{out}");
    expect_within(&fake, "provision of the new email", written, |c| {
        is_provision(c, ORG_A, "okta-put-new@example.com")
    })
    .await;
    expect_within(&fake, "delete of the old email's provision", written, |c| {
        is_delete_provision(c, ORG_A, email)
    })
    .await;
    // The same PUT within the burst of the create: planned once, with the
    // final email; the first email never reaches Snyk.
    let id = create_user(&b, okta_user("okta-burst@example.com")).await;
    okta_add_member(&b, &admins, "Snyk Admins", &id).await;
    let mut body = okta_user("okta-burst-final@example.com");
    body["id"] = json!(id);
    let written = Instant::now();
    let (status, out) = b.scim("PUT", &format!("/Users/{id}"), Some(body)).await;
    assert_eq!(status, 200, "{out}");
    expect_within(&fake, "provision of the final email", written, |c| {
        is_provision(c, ORG_A, "okta-burst-final@example.com")
    })
    .await;
    assert_eq!(provisions_of(&fake, ORG_A, "okta-burst@example.com"), 0);

    // Exactly one provision per (email, org): no extra calls.
    for i in 0..25 {
        let email = format!("okta{i:02}@example.com");
        assert_eq!(provisions_of(&fake, ORG_A, &email), 1, "{email} in org A");
        assert!(is_pending(&fake, ORG_A, &email, "ADMIN"), "{email}");
    }
    // Nothing is left claimed once the work is done: no lease held by nobody.
    let (_, status) = b.command(&["status"]);
    assert!(
        !status.contains("targets being worked on now"),
        "leases left behind:\n{status}"
    );
    eprintln!("{backend:?}: slowest Okta grant {worst:?}");
}

async fn entra_flows(backend: Backend) {
    let fake = fake_snyk().await;
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let b = Bridge::start(dir.path(), &config(), &db, &fake).await;
    let devs = create_group(&b, "Snyk Developers").await;
    for i in 0..15 {
        let email = format!("entra{i:02}@example.com");
        let id = create_user(&b, entra_user(&email)).await;
        let written = Instant::now();
        entra_add_member(&b, &devs, &id).await;
        expect_within(&fake, &format!("provision of {email}"), written, |c| {
            is_provision(c, ORG_B, &email)
        })
        .await;
        // Entra's default dialect changes the email with a value-path replace.
        let new_email = format!("entra{i:02}-renamed@example.com");
        let (status, out) = b
            .scim(
                "PATCH",
                &format!("/Users/{id}"),
                Some(patch(json!([
                    {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": new_email},
                    {"op": "Replace", "path": "userName", "value": new_email}
                ]))),
            )
            .await;
        let written = Instant::now();
        assert!(status == 200 || status == 204, "{status} {out}");
        expect_within(&fake, &format!("provision of {new_email}"), written, |c| {
            is_provision(c, ORG_B, &new_email)
        })
        .await;
        expect_within(&fake, &format!("delete of {email}"), written, |c| {
            is_delete_provision(c, ORG_B, &email)
        })
        .await;
        // aadOptscim062020: lowercase ops, boolean false, member removal by filter.
        if i % 3 == 0 {
            let (status, out) = b
                .scim(
                    "PATCH",
                    &format!("/Groups/{devs}"),
                    Some(patch(json!([
                        {"op": "remove", "path": format!("members[value eq \"{id}\"]")}
                    ]))),
                )
                .await;
            let written = Instant::now();
            assert!(status == 200 || status == 204, "{status} {out}");
            expect_within(&fake, &format!("removal of {new_email}"), written, |c| {
                is_delete_provision(c, ORG_B, &new_email)
            })
            .await;
        }
    }
    for i in 0..15 {
        let email = format!("entra{i:02}-renamed@example.com");
        assert_eq!(provisions_of(&fake, ORG_B, &email), 1, "{email}");
        assert_eq!(is_pending(&fake, ORG_B, &email, "COLLABORATOR"), i % 3 != 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn okta_create_then_add_to_group_is_granted_within_two_seconds() {
    for b in backends() {
        okta_create_then_add(b).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn entra_create_add_rename_remove_reach_snyk_within_two_seconds() {
    for b in backends() {
        entra_flows(b).await;
    }
}
