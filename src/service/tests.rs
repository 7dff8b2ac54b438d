//! The write path's promises that no HTTP test sees directly: a write that
//! queues no outbox work does not wake the sync engine, and one that does
//! rings for when that work falls due; an email refused after the one-call insert leaves nothing behind,
//! neither the user nor its audit event, on SQLite's grouped writer.

use std::path::Path;
use std::sync::Arc;

use futures_util::FutureExt;
use serde_json::json;

use crate::clock::ManualClock;
use crate::config::{Env, parse};
use crate::scim::schema::ResourceKind;
use crate::service::{ScimService, ServiceError, SyncHook};
use crate::store::Store;
use crate::sync::bell::Bell;

/// The service's (manual) clock, in ms since the epoch.
const NOW_MS: i64 = 1_767_225_600_000;
const SETTLE_MS: i64 = 200;

struct World {
    service: ScimService,
    store: Store,
    bell: Arc<Bell>,
    _dir: tempfile::TempDir,
}

/// A service on a new SQLite database in `dir`, mapping group "G" to one
/// org (dry run), its clock at [`NOW_MS`], its writes due `settle` later;
/// with the store and the engine's bell it rings. (Shared with the member
/// PATCH tests.)
pub(super) async fn sqlite_service(
    dir: &Path,
    settle: std::time::Duration,
) -> (ScimService, Store, Arc<Bell>) {
    let url = format!("sqlite://{}", dir.join("t.db").display());
    let text = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "{url}"
[scim]
tokens = ["t0123456789abcdef0123456789"]
[snyk]
dry_run = true
[[mappings]]
group = "G"
org_id = "6b7a7c5e-1111-4c4c-9d9d-000000000001"
role = "COLLABORATOR"
"#
    );
    let config = parse(Path::new("t.toml"), &text, &Env::new()).expect("config");
    let store = Store::connect(&config.database_url).await.expect("store");
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::from_timestamp_millis(NOW_MS).expect("time"),
    ));
    let bell = Arc::new(Bell::default());
    let hook = SyncHook {
        mappings: Arc::new(config.mappings.clone()),
        safety: Arc::new(config.safety.clone()),
        dry_run: false,
        notify: bell.clone(),
        settle,
    };
    (ScimService::new(store.clone(), clock, hook), store, bell)
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let settle = std::time::Duration::from_millis(SETTLE_MS as u64);
    let (service, store, bell) = sqlite_service(dir.path(), settle).await;
    World {
        service,
        store,
        bell,
        _dir: dir,
    }
}

/// Whether the engine's bell was rung since the last look, and for when
/// (looking takes the ring).
fn rung(bell: &Bell) -> Option<Option<i64>> {
    bell.rung().now_or_never()
}

async fn create_user(w: &World, body: serde_json::Value) -> Result<String, ServiceError> {
    let r = w
        .service
        .create(ResourceKind::User, &body, "http://x")
        .await?;
    Ok(r.body["id"].as_str().expect("id").to_owned())
}

#[tokio::test]
async fn only_a_write_that_queued_work_rings_the_bell() {
    let w = world().await;
    let ann = create_user(&w, json!({"userName": "ann@example.com"}))
        .await
        .expect("ann");
    assert_eq!(
        rung(&w.bell),
        None,
        "a user in no mapped group queued nothing"
    );

    w.service
        .create(
            ResourceKind::Group,
            &json!({"displayName": "Other"}),
            "http://x",
        )
        .await
        .expect("group");
    assert_eq!(
        rung(&w.bell),
        None,
        "an unmapped group with no members queued nothing"
    );

    w.service
        .create(
            ResourceKind::Group,
            &json!({"displayName": "G", "members": [{"value": ann}]}),
            "http://x",
        )
        .await
        .expect("mapped group");
    assert_eq!(
        rung(&w.bell),
        Some(Some(NOW_MS + SETTLE_MS)),
        "ann joined a mapped group: a target was queued, due after the settle time"
    );
    assert_eq!(rung(&w.bell), None, "the ring was taken");
}

#[tokio::test]
async fn an_email_refused_after_the_insert_leaves_no_user_and_no_audit_event() {
    let w = world().await;
    let ann = create_user(&w, json!({"userName": "ann@example.com"}))
        .await
        .expect("ann");

    // The same email under another userName: inserted, then refused.
    let twin = json!({
        "userName": "ann.twin@corp.example",
        "emails": [{"value": "ANN@example.com", "primary": true}],
    });
    // The same userName too: the insert itself fails; the email's refusal
    // is still the answer.
    let same = json!({"userName": "Ann@Example.com"});
    for (body, what) in [(twin, "twin"), (same, "same userName")] {
        let refused = create_user(&w, body).await;
        let Err(ServiceError::Scim(e)) = &refused else {
            panic!("{what}: {refused:?}");
        };
        assert_eq!(e.status, 409, "{what}: {e:?}");
        assert!(e.detail.contains("emails"), "{what}: {e:?}");
    }
    // A write after them in the same group of writes is kept.
    let bob = create_user(&w, json!({"userName": "bob@example.com"}))
        .await
        .expect("bob");

    let mut tx = w.store.read().await.expect("read");
    let holders = tx
        .users_with_email("ann@example.com")
        .await
        .expect("holders");
    let ids: Vec<&str> = holders.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [ann.as_str()], "the refused inserts were rolled back");
    let events = tx.recent_audit(100).await.expect("audit");
    let ids: Vec<&str> = events.iter().map(|e| e.resource_id.as_str()).collect();
    assert_eq!(ids.len(), 2, "only ann's and bob's creates: {ids:?}");
    assert!(
        ids.contains(&ann.as_str()) && ids.contains(&bob.as_str()),
        "{ids:?}"
    );
}
