//! First login (a pending provision becomes a membership) for every built-in
//! role and a custom role, and what follows: role changes and removal with the
//! member endpoints. Snyk's `GET /org/{id}/members` lists "all non-admin
//! members", and the fake does the same: admins are found through
//! `GET /group/{id}/members` when `snyk.group_id` is set, and reported as not
//! manageable when it is not.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;

const ROLES: [(&str, &str, &str); 4] = [
    ("G Admin", "ADMIN", "admin"),
    ("G Collaborator", "COLLABORATOR", "collaborator"),
    (
        "G Restricted",
        "RESTRICTED_COLLABORATOR",
        "restrictedCollaborator",
    ),
    (
        "G Custom",
        "custom:d3b07384-d9a0-4c9b-8000-00000000c0de",
        CUSTOM_ROLE,
    ),
];

fn config(group_id: Option<&str>) -> BridgeConfig {
    BridgeConfig {
        mappings: ROLES
            .iter()
            .map(|(g, role, _)| mapping(g, ORG_A, role))
            .collect(),
        group_id: group_id.map(str::to_owned),
        requests_per_minute: 6000,
        reconcile_interval_secs: 10,
        ..BridgeConfig::default()
    }
}

fn provision_role(role: &str) -> &str {
    role.strip_prefix("custom:").unwrap_or(role)
}

fn email_of(group: &str) -> String {
    format!("{}@example.com", group.to_lowercase().replace(' ', "-"))
}

/// `status --user EMAIL` until its "access now" shows `state` for `org`.
async fn wait_status_state(b: &Bridge, email: &str, state: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        let (_, out) = b.command(&["status", "--user", email]);
        // `org ID STATE ...`, or `org NAME (ID) STATE ...` once the org's
        // Snyk name is known (with snyk.group_id).
        if out.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with(&format!("org {ORG_A} {state} "))
                || (l.starts_with("org ") && l.contains(&format!("({ORG_A}) {state} ")))
        }) {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{email} not shown as {state} after {limit:?}:\n{out}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn with_group_id(backend: Backend) {
    let fake = fake_snyk().await;
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    // The org's own admin, whom the bridge did not grant: the bridge never
    // removes an org's last admin, so the leavers below may all go.
    fake.add_org_member(ORG_A, "snyk-owner", "owner@example.com", "admin");
    let b = Bridge::start(dir.path(), &config(Some(GROUP_ID)), &db, &fake).await;
    let mut users = Vec::new();
    for (group, role, _) in ROLES {
        let gid = create_group(&b, group).await;
        let email = email_of(group);
        let uid = create_user(&b, okta_user(&email)).await;
        okta_add_member(&b, &gid, group, &uid).await;
        users.push((gid, uid, email, role));
    }
    for (_, _, email, role) in &users {
        wait_for(&format!("{email} pending"), Duration::from_secs(3), || {
            is_pending(&fake, ORG_A, email, provision_role(role)).then_some(())
        })
        .await;
    }
    // Everyone logs in for the first time.
    let mut snyk_ids = Vec::new();
    for (_, _, email, _) in &users {
        snyk_ids.push(fake.simulate_first_login_all_orgs(email).expect("login"));
    }
    let logged_in = Instant::now();
    // Reconciliation (every 10 s, the first 5 s after start) adopts each one.
    for (_, _, email, _) in &users {
        wait_status_state(&b, email, "member", Duration::from_secs(25)).await;
    }
    assert!(
        fake.write_calls().iter().all(|c| c.at < logged_in),
        "nothing is sent for a first login: {:?}",
        fake.write_calls()
            .iter()
            .filter(|c| c.at >= logged_in)
            .collect::<Vec<_>>()
    );
    // A mover after login: from collaborator to admin, with the member endpoint.
    let (collab_group, collab_user, _, _) = &users[1];
    okta_remove_member(&b, collab_group, collab_user).await;
    okta_add_member(&b, &users[0].0, "G Admin", collab_user).await;
    let moved = Instant::now();
    let path = format!("/org/{ORG_A}/members/{}", snyk_ids[1]);
    let (c, _) = wait_for(
        "role change of the collaborator",
        Duration::from_secs(2),
        || {
            fake.write_calls()
                .into_iter()
                .find(|c| c.at >= moved && c.method == "PUT" && c.path == path)
        },
    )
    .await;
    assert_eq!(c.body, Some(json!({"role": "admin"})));
    // Leavers after login, admins included: every membership is removed.
    let left = Instant::now();
    for (_, uid, _, _) in &users {
        okta_deactivate(&b, uid).await;
    }
    for (i, (_, _, email, _)) in users.iter().enumerate() {
        let path = format!("/org/{ORG_A}/members/{}", snyk_ids[i]);
        wait_for(
            &format!("removal of {email}"),
            Duration::from_secs(2),
            || {
                fake.write_calls().into_iter().find(|c| {
                    c.at >= left && c.method == "DELETE" && c.path == path && c.status == 200
                })
            },
        )
        .await;
        assert_eq!(
            is_member(&fake, ORG_A, email),
            None,
            "{email} still a member"
        );
    }
    // Nobody was provisioned again.
    for (_, _, email, _) in &users {
        assert_eq!(provisions_of(&fake, ORG_A, email), 1, "{email}");
    }
}

async fn without_group_id(backend: Backend) {
    let fake = fake_snyk().await;
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let b = Bridge::start(dir.path(), &config(None), &db, &fake).await;
    let gid = create_group(&b, "G Admin").await;
    let email = "lone-admin@example.com";
    let uid = create_user(&b, okta_user(email)).await;
    okta_add_member(&b, &gid, "G Admin", &uid).await;
    wait_for("pending", Duration::from_secs(3), || {
        is_pending(&fake, ORG_A, email, "ADMIN").then_some(())
    })
    .await;
    fake.simulate_first_login_all_orgs(email).expect("login");
    let logged_in = Instant::now();
    // Without group_id the admin cannot be found after login: status says so.
    wait_status_state(&b, email, "unlocated", Duration::from_secs(25)).await;
    let (_, status) = b.command(&["status"]);
    assert!(
        status.contains(email) && status.contains("snyk.group_id"),
        "status names the user and the remedy:\n{status}"
    );
    okta_deactivate(&b, &uid).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        fake.write_calls().iter().all(|c| c.at < logged_in),
        "no call can remove them, and none is made: {:?}",
        fake.write_calls()
    );
    let (_, status) = b.command(&["status"]);
    assert!(
        status.contains("cannot") && status.contains("snyk.group_id"),
        "the failed removal is shown with its reason:\n{status}"
    );
    assert!(
        b.log_text().contains("snyk.group_id"),
        "the log says why: {}",
        b.log_text()
    );
    assert_eq!(
        provisions_of(&fake, ORG_A, email),
        1,
        "never provisioned again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_login_for_every_role_then_movers_and_leavers_use_member_endpoints() {
    for b in backends() {
        with_group_id(b).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_who_logged_in_without_group_id_is_reported_not_silently_kept() {
    for b in backends() {
        without_group_id(b).await;
    }
}
