//! With `log_pii = false` (the default) no email reaches the log, whatever
//! it looks like: non-ASCII and quoted local parts, `! / #`, in planned
//! calls, in Snyk's answers that quote them, and in refused requests.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

const EMAILS: [&str; 6] = [
    "josé.garcía@example.com",
    "δοκιμή@example.com",
    "\"quoted local\"@example.com",
    "\"quoted.local\"@example.com",
    "a!b/c#d@example.com",
    "plain.person@example.com",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_email_reaches_the_log() {
    let fake = fake_snyk().await;
    // Snyk's answer for an existing user quotes the address.
    fake.set_already_exists_response(400, "User {email} already exists in Snyk");
    let db = Db::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = BridgeConfig {
        requests_per_minute: 6000,
        ..BridgeConfig::default()
    };
    let b = Bridge::start(dir.path(), &cfg, &db, &fake).await;
    let admins = create_group(&b, "Snyk Admins").await;
    for (i, email) in EMAILS.iter().enumerate() {
        if i % 2 == 0 {
            fake.add_existing_user(GROUP_ID, &format!("snyk-user-{i}"), email);
        }
        let mut body = okta_user(email);
        body["userName"] = json!(format!("user{i}@corp.example"));
        let id = create_user(&b, body).await;
        okta_add_member(&b, &admins, "Snyk Admins", &id).await;
        // A refused twin: the refusal is logged too.
        let mut twin = okta_user(email);
        twin["userName"] = json!(format!("twin{i}@corp.example"));
        let (status, _) = b.scim("POST", "/Users", Some(twin)).await;
        // An address with a space is no email Snyk can use: no uniqueness rule.
        let expected = if email.contains(' ') { 201 } else { 409 };
        assert_eq!(status, expected, "the twin of {email}");
    }
    // Wait for every email to have reached Snyk (provisioned or refused).
    wait_for("every user's call", Duration::from_secs(5), || {
        let posts = fake
            .write_calls()
            .iter()
            .filter(|c| c.method == "POST" && c.status != 0)
            .count();
        (posts >= EMAILS.len() - 1).then_some(())
    })
    .await;
    // Deactivate the pending ones: the deletes carry the email in the query.
    let (_, list) = b.scim("GET", "/Users?count=100", None).await;
    for u in list["Resources"].as_array().expect("users") {
        let id = u["id"].as_str().expect("id");
        okta_deactivate(&b, id).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = b.log_text();
    assert!(log.contains("email:"), "hashes are logged: {log}");
    for email in EMAILS {
        let local = email.split('@').next().unwrap_or(email).trim_matches('"');
        for needle in [email.to_owned(), local.to_owned()] {
            assert!(
                !log.to_lowercase().contains(&needle.to_lowercase()),
                "{needle:?} reached the log:\n{log}"
            );
        }
    }
    for u in ["user0@corp", "twin0@corp"] {
        assert!(!log.contains(u), "{u} reached the log");
    }
}
