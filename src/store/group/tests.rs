use serde_json::Map;

use crate::config::DatabaseUrl;
use crate::scim::schema::ResourceKind;
use crate::store::{AuditEvent, IndexedFields, Store, StoreError};

async fn sqlite(dir: &tempfile::TempDir) -> Store {
    let url = format!("sqlite://{}/group.db", dir.path().display());
    Store::connect(&DatabaseUrl::Sqlite(url))
        .await
        .expect("store")
}

fn fields(name: &str) -> IndexedFields {
    IndexedFields {
        name_lc: name.to_owned(),
        display: None,
        external_id: None,
        emails_lc: Vec::new(),
    }
}

/// A grouped write inserting user `name` (id `id-NAME-N`) with its audit
/// event; `then_fail`: it inserts, then fails (neither its insert nor its
/// event must be kept).
async fn insert(store: Store, name: &str, n: usize, then_fail: bool) -> Result<(), StoreError> {
    let (name, id) = (name.to_owned(), format!("id-{name}-{n}"));
    store
        .write_grouped(move |tx| {
            Box::pin(async move {
                tx.insert_resource(ResourceKind::User, &id, &fields(&name), &Map::new(), "t")
                    .await?;
                tx.record_audit(&event(&id)).await?;
                if then_fail {
                    return Err(StoreError::Corrupt("refused after its insert".into()));
                }
                Ok(())
            })
        })
        .await
}

fn event(id: &str) -> AuditEvent {
    AuditEvent {
        at: 1,
        request_id: None,
        principal: "test".into(),
        resource_type: "User".into(),
        resource_id: id.to_owned(),
        operation: "create".into(),
        summary: String::new(),
        user_email: None,
    }
}

/// The ids of the audit events written, oldest first.
async fn audited(store: &Store) -> Vec<String> {
    let mut tx = store.read().await.expect("read");
    let mut ids: Vec<String> = tx
        .recent_audit(100)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.resource_id)
        .collect();
    ids.reverse();
    ids
}

async fn stored(store: &Store, id: &str) -> bool {
    let mut tx = store.read().await.expect("read");
    tx.get_resource(ResourceKind::User, id)
        .await
        .expect("get")
        .is_some()
}

#[tokio::test]
async fn writes_that_arrive_together_share_one_commit_and_a_failed_one_is_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite(&dir).await;
    // Hold SQLite's write turn, so that the writes queue up behind it.
    let blocker = store.write().await.expect("write");
    let writes = vec![
        insert(store.clone(), "a", 0, false),
        insert(store.clone(), "b", 1, false),
        insert(store.clone(), "dup", 2, false),
        insert(store.clone(), "dup", 3, false),
        insert(store.clone(), "x", 4, true),
        insert(store.clone(), "c", 5, false),
    ];
    let all = tokio::spawn(futures_util::future::join_all(writes));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(store.write_groups().map(|c| c.groups), Some(0));
    drop(blocker);
    let results = all.await.expect("join");

    assert!(results[0].is_ok() && results[1].is_ok() && results[2].is_ok());
    assert!(
        matches!(results[3], Err(StoreError::Conflict(_))),
        "{:?}",
        results[3]
    );
    assert!(
        matches!(results[4], Err(StoreError::Corrupt(_))),
        "{:?}",
        results[4]
    );
    assert!(results[5].is_ok(), "{:?}", results[5]);
    for id in ["id-a-0", "id-b-1", "id-dup-2", "id-c-5"] {
        assert!(
            stored(&store, id).await,
            "{id} was answered Ok, so it is stored"
        );
    }
    assert!(!stored(&store, "id-dup-3").await);
    assert!(
        !stored(&store, "id-x-4").await,
        "a failed write's insert is rolled back"
    );
    assert_eq!(
        audited(&store).await,
        ["id-a-0", "id-b-1", "id-dup-2", "id-c-5"],
        "the kept writes' events, in their order; none of the failed ones'"
    );
    let counts = store.write_groups().expect("sqlite groups its writes");
    assert_eq!(counts.writes, 4, "{counts:?}");
    assert_eq!(
        counts.groups, 1,
        "the four queued writes shared one commit: {counts:?}"
    );
}

#[tokio::test]
async fn a_lone_write_is_committed_at_once_and_a_panicking_one_stops_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite(&dir).await;
    insert(store.clone(), "first", 0, false)
        .await
        .expect("first");
    assert!(stored(&store, "id-first-0").await);

    let panicked: Result<(), StoreError> = store
        .write_grouped(|tx| {
            Box::pin(async move {
                tx.insert_resource(ResourceKind::User, "id-p", &fields("p"), &Map::new(), "t")
                    .await?;
                panic!("a bug in one write");
            })
        })
        .await;
    assert!(
        matches!(panicked, Err(StoreError::Unavailable(_))),
        "{panicked:?}"
    );
    assert!(!stored(&store, "id-p").await);

    insert(store.clone(), "after", 1, false)
        .await
        .expect("the writer still runs");
    assert!(stored(&store, "id-after-1").await);
    assert_eq!(audited(&store).await, ["id-first-0", "id-after-1"]);
    assert_eq!(
        store.write_groups().map(|c| (c.groups, c.writes)),
        Some((2, 2))
    );
}
