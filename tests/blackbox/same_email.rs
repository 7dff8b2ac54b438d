//! Snyk knows a person by email only, so one email is one person: a second
//! *active* SCIM user with an email already in use (compared without case) is
//! refused with 409 `uniqueness`, on create, replace, patch and reactivation;
//! and removing one user's access never takes away another's.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;

fn assert_uniqueness(status: u16, out: &serde_json::Value, what: &str) {
    assert_eq!(status, 409, "{what}: {out}");
    assert_eq!(out["scimType"], "uniqueness", "{what}: {out}");
    let detail = out["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("emails"),
        "{what}: the detail names the attribute: {detail}"
    );
}

async fn scenario(backend: Backend) {
    let fake = fake_snyk().await;
    let db = Db::new(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = BridgeConfig {
        requests_per_minute: 6000,
        ..BridgeConfig::default()
    };
    let b = Bridge::start(dir.path(), &cfg, &db, &fake).await;
    let admins = create_group(&b, "Snyk Admins").await;
    let ann = create_user(&b, okta_user("ann@example.com")).await;
    okta_add_member(&b, &admins, "Snyk Admins", &ann).await;
    wait_for("ann pending", Duration::from_secs(2), || {
        is_pending(&fake, ORG_A, "ann@example.com", "ADMIN").then_some(())
    })
    .await;

    // Create: the same email in another case, under another userName.
    let mut twin = entra_user("ANN@Example.com");
    twin["userName"] = json!("ann.twin@corp.example");
    let (status, out) = b.scim("POST", "/Users", Some(twin)).await;
    assert_uniqueness(status, &out, "create with a used email");
    // Nothing of the refused create is stored (SQLite inserts, then checks,
    // and drops the write on refusal).
    let (status, out) = b
        .scim(
            "GET",
            "/Users?filter=userName%20eq%20%22ann.twin%40corp.example%22",
            None,
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["totalResults"], 0,
        "the refused user is not stored: {out}"
    );

    // Patch and replace into a used email.
    let bob = create_user(&b, okta_user("bob@example.com")).await;
    let (status, out) = b
        .scim(
            "PATCH",
            &format!("/Users/{bob}"),
            Some(patch(json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "Ann@example.com"}
            ]))),
        )
        .await;
    assert_uniqueness(status, &out, "patch into a used email");
    let mut put = okta_user("ann@EXAMPLE.com");
    put["userName"] = json!("bob@example.com");
    put["id"] = json!(bob);
    let (status, out) = b.scim("PUT", &format!("/Users/{bob}"), Some(put)).await;
    assert_uniqueness(status, &out, "replace into a used email");

    // An inactive user does not hold the email: a rehire may reuse it...
    let carl = create_user(&b, okta_user("carl@example.com")).await;
    okta_deactivate(&b, &carl).await;
    let mut rehire = okta_user("Carl@example.com");
    rehire["userName"] = json!("carl.rehired@example.com");
    let (status, out) = b.scim("POST", "/Users", Some(rehire)).await;
    assert_eq!(status, 201, "an inactive user's email is free: {out}");
    let carl2 = out["id"].as_str().expect("id").to_owned();
    // ...and the old account cannot come back beside it.
    let (status, out) = b
        .scim(
            "PATCH",
            &format!("/Users/{carl}"),
            Some(patch(json!([{"op": "replace", "value": {"active": true}}]))),
        )
        .await;
    assert_uniqueness(status, &out, "reactivation into a used email");

    // Both carls in the mapped group: only the active one has access, and
    // deleting the old account takes nothing away from the new one.
    okta_add_member(&b, &admins, "Snyk Admins", &carl).await;
    okta_add_member(&b, &admins, "Snyk Admins", &carl2).await;
    wait_for("carl pending", Duration::from_secs(2), || {
        is_pending(&fake, ORG_A, "carl@example.com", "ADMIN").then_some(())
    })
    .await;
    let deleted = Instant::now();
    let (status, _) = b.scim("DELETE", &format!("/Users/{carl}"), None).await;
    assert_eq!(status, 204);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        fake.write_calls()
            .iter()
            .all(|c| c.at < deleted || c.method != "DELETE"),
        "no removal for the new account's email: {:?}",
        fake.write_calls()
    );
    assert!(is_pending(&fake, ORG_A, "carl@example.com", "ADMIN"));
    assert_eq!(provisions_of(&fake, ORG_A, "carl@example.com"), 1);
    // The refused twin never reached Snyk, nor did bob (in no group).
    assert_eq!(provisions_of(&fake, ORG_A, "ann@example.com"), 1);

    // A leaver and their rehire, milliseconds apart: the old account's
    // removal and the new account's grant meet in the outbox; the person
    // keeps access whichever runs first.
    for round in 0..5 {
        let email = format!("dee{round}@example.com");
        let old = create_user(&b, okta_user(&email)).await;
        okta_add_member(&b, &admins, "Snyk Admins", &old).await;
        wait_for(&format!("{email} pending"), Duration::from_secs(2), || {
            is_pending(&fake, ORG_A, &email, "ADMIN").then_some(())
        })
        .await;
        okta_deactivate(&b, &old).await;
        let mut rehire = okta_user(&email.to_uppercase());
        rehire["userName"] = json!(format!("dee{round}.rehired@example.com"));
        let new = create_user(&b, rehire).await;
        okta_add_member(&b, &admins, "Snyk Admins", &new).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            is_pending(&fake, ORG_A, &email, "ADMIN"),
            "round {round}: the rehire lost access: {:?}",
            writes_to(&fake, ORG_A)
                .iter()
                .filter(|c| c.query.contains(&format!("dee{round}"))
                    || c.body.as_ref().is_some_and(|b| b
                        .to_string()
                        .to_lowercase()
                        .contains(&format!("dee{round}"))))
                .collect::<Vec<_>>()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_active_user_per_email_and_no_removal_of_anothers_access() {
    for b in backends() {
        scenario(b).await;
    }
}
