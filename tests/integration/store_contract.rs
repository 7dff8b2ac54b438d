//! The storage contract, run against both backends.
//!
//! Every contract test is an `async fn(Ctx)` written once against the public
//! `StoreTx` API. The `contract!` macro turns each into `sqlite_<name>` (a fresh
//! database file in a temporary directory, on every `cargo test`) and
//! `postgres_<name>` (a fresh database `c_<uuid>` created through
//! `TEST_POSTGRES_URL` and dropped afterwards; skipped, passing, when that
//! variable is unset).

use std::future::Future;

use serde_json::{Map, Value, json};
use snyk_scim_bridge::config::DatabaseUrl;
use snyk_scim_bridge::scim::schema::ResourceKind;
use snyk_scim_bridge::store::{
    IndexKey, IndexedFields, MemberRef, Store, StoreError, StoredResource,
};
use sqlx::{Connection, Executor};

const USER: ResourceKind = ResourceKind::User;
const GROUP: ResourceKind = ResourceKind::Group;
const T0: &str = "2024-01-01T00:00:00Z";
const T1: &str = "2024-01-02T00:00:00Z";
const T2: &str = "2024-01-03T00:00:00Z";

/// What a contract test gets: a migrated, empty store and the URL it was
/// opened with (to open it again).
#[derive(Clone)]
struct Ctx {
    store: Store,
    url: DatabaseUrl,
}

// --- harness ---

async fn run_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::TempDir::new().expect("temporary directory");
    let path = dir.path().join("contract.db");
    let url = DatabaseUrl::Sqlite(format!("sqlite://{}", path.display()));
    let store = Store::connect(&url).await.expect("connect to SQLite");
    test(Ctx {
        store: store.clone(),
        url,
    })
    .await;
    store.close().await;
    drop(dir);
}

/// `postgres://user@host:port/db?query` with the database name replaced.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

async fn run_postgres<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(admin_url) = std::env::var("TEST_POSTGRES_URL") else {
        println!("postgres_{name}: skipped (TEST_POSTGRES_URL is not set)");
        return;
    };
    let db = format!("c_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to TEST_POSTGRES_URL");
    admin
        .execute(format!("CREATE DATABASE \"{db}\"").as_str())
        .await
        .expect("create the test database");
    let url = DatabaseUrl::Postgres(with_database(&admin_url, &db));
    let store = Store::connect(&url).await.expect("connect to PostgreSQL");
    // Run the test as a task so that a failing test still drops its database.
    let outcome = tokio::spawn(test(Ctx {
        store: store.clone(),
        url,
    }))
    .await;
    store.close().await;
    let dropped = admin
        .execute(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)").as_str())
        .await;
    let _ = admin.close().await;
    match outcome {
        Ok(()) => {
            dropped.expect("drop the test database");
        }
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("postgres_{name}: the test task failed: {e}"),
    }
}

/// `contract!(name, sqlite_name, postgres_name);` declares both variants.
macro_rules! contract {
    ($name:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            run_sqlite($name).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            run_postgres(stringify!($name), $name).await;
        }
    };
}

mod batch;
mod claims;

contract!(
    insert_get_round_trip,
    sqlite_insert_get_round_trip,
    postgres_insert_get_round_trip
);
contract!(
    unique_name_per_kind,
    sqlite_unique_name_per_kind,
    postgres_unique_name_per_kind
);
contract!(
    stale_version_is_refused,
    sqlite_stale_version_is_refused,
    postgres_stale_version_is_refused
);
contract!(
    rollback_on_drop,
    sqlite_rollback_on_drop,
    postgres_rollback_on_drop
);
contract!(
    delete_cascades,
    sqlite_delete_cascades,
    postgres_delete_cascades
);
contract!(index_keys, sqlite_index_keys, postgres_index_keys);
contract!(
    email_index_is_rewritten,
    sqlite_email_index_is_rewritten,
    postgres_email_index_is_rewritten
);
contract!(
    paging_in_creation_order,
    sqlite_paging_in_creation_order,
    postgres_paging_in_creation_order
);
contract!(membership, sqlite_membership, postgres_membership);
contract!(
    concurrent_writers,
    sqlite_concurrent_writers,
    postgres_concurrent_writers
);
contract!(
    migrations_are_idempotent,
    sqlite_migrations_are_idempotent,
    postgres_migrations_are_idempotent
);

// --- fixtures ---

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn user_doc(user_name: &str) -> Map<String, Value> {
    obj(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "active": true,
    }))
}

fn group_doc(name: &str) -> Map<String, Value> {
    obj(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}))
}

fn fields(name: &str) -> IndexedFields {
    IndexedFields {
        name_lc: name.to_lowercase(),
        display: Some(name.to_owned()),
        external_id: None,
        emails_lc: Vec::new(),
    }
}

async fn insert(store: &Store, kind: ResourceKind, name: &str) -> StoredResource {
    let doc = match kind {
        ResourceKind::User => user_doc(name),
        ResourceKind::Group => group_doc(name),
    };
    let mut tx = store.write().await.expect("write");
    let r = tx
        .insert_resource(kind, &new_id(), &fields(name), &doc, T0)
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    r
}

fn member(id: &str, kind: ResourceKind) -> MemberRef {
    MemberRef {
        id: id.to_owned(),
        kind,
        doc: obj(json!({"value": id})),
    }
}

// --- the contract ---

async fn insert_get_round_trip(ctx: Ctx) {
    let id = new_id();
    let doc = obj(json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ],
        "userName": "Zoë.Ünïcødé@example.com",
        "displayName": "Zoë 日本語 😀 \"quoted\" \\ back\nslash",
        "active": false,
        "name": {"givenName": "Zoë", "familyName": "Ωmega", "middleName": ""},
        "emails": [
            {"value": "zoe@example.com", "type": "work", "primary": true},
            {"value": "zoe@home.example", "type": "home", "primary": false},
        ],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "0042",
            "manager": {"value": "m-1", "$ref": "https://x/Users/m-1"},
        },
        "x": {"nested": [1, 2.5, -3, 1e10, null, [], {}], "big": 9_007_199_254_740_993_u64},
    }));
    let f = IndexedFields {
        name_lc: "zoë.ünïcødé@example.com".into(),
        display: Some("Zoë 日本語".into()),
        external_id: Some("ext-Ünï".into()),
        emails_lc: vec!["zoe@example.com".into(), "zoe@home.example".into()],
    };
    let mut tx = ctx.store.write().await.expect("write");
    let inserted = tx
        .insert_resource(USER, &id, &f, &doc, T0)
        .await
        .expect("insert");
    assert_eq!(inserted.version, 1);
    assert_eq!(inserted.created, T0);
    assert_eq!(inserted.last_modified, T0);
    assert_eq!(inserted.doc, doc);
    tx.commit().await.expect("commit");

    let mut tx = ctx.store.read().await.expect("read");
    let got = tx
        .get_resource(USER, &id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got, inserted);
    // Exactly, including key order (serde_json preserves it here).
    assert_eq!(
        Value::Object(got.doc.clone()).to_string(),
        Value::Object(doc.clone()).to_string()
    );
    assert_eq!(got.doc["x"]["big"], json!(9_007_199_254_740_993_u64));
    assert!(
        tx.get_resource(GROUP, &id).await.expect("get").is_none(),
        "kind is part of the key"
    );
    assert!(
        tx.get_resource(USER, &new_id())
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(tx.kind_of(&id).await.expect("kind_of"), Some(USER));
    assert_eq!(tx.kind_of("nope").await.expect("kind_of"), None);
    assert_eq!(tx.count_resources(USER).await.expect("count"), 1);
    assert_eq!(tx.count_resources(GROUP).await.expect("count"), 0);
    tx.commit().await.expect("commit a read transaction");
}

async fn unique_name_per_kind(ctx: Ctx) {
    let store = &ctx.store;
    let alice = insert(store, USER, "Alice@Example.com").await;

    // Same name, other case: the caller lower-cases into name_lc.
    let mut tx = store.write().await.expect("write");
    let err = tx
        .insert_resource(
            USER,
            &new_id(),
            &fields("ALICE@example.COM"),
            &user_doc("ALICE@example.COM"),
            T1,
        )
        .await
        .expect_err("duplicate userName");
    assert!(matches!(err, StoreError::Conflict("userName")), "{err:?}");
    drop(tx);

    // A Group may share the name with a User.
    let group = insert(store, GROUP, "alice@example.com").await;
    let mut tx = store.write().await.expect("write");
    let err = tx
        .insert_resource(
            GROUP,
            &new_id(),
            &fields("ALICE@EXAMPLE.COM"),
            &group_doc("x"),
            T1,
        )
        .await
        .expect_err("duplicate displayName");
    assert!(
        matches!(err, StoreError::Conflict("displayName")),
        "{err:?}"
    );
    drop(tx);

    // An update onto another resource's name conflicts too.
    let bob = insert(store, USER, "bob").await;
    let mut tx = store.write().await.expect("write");
    let err = tx
        .update_resource(
            &bob,
            &fields("ALICE@EXAMPLE.COM"),
            &user_doc("ALICE@EXAMPLE.COM"),
            T1,
        )
        .await
        .expect_err("rename onto an existing userName");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    drop(tx);

    // An id is unique across kinds.
    let mut tx = store.write().await.expect("write");
    let err = tx
        .insert_resource(GROUP, &alice.id, &fields("other"), &group_doc("other"), T1)
        .await
        .expect_err("duplicate id");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    drop(tx);

    let mut tx = store.read().await.expect("read");
    assert_eq!(tx.count_resources(USER).await.expect("count"), 2);
    assert_eq!(tx.count_resources(GROUP).await.expect("count"), 1);
    assert_eq!(
        tx.find_ids(USER, &IndexKey::NameLc("alice@example.com".into()))
            .await
            .expect("find"),
        vec![alice.id.clone()]
    );
    assert_eq!(
        tx.find_ids(GROUP, &IndexKey::NameLc("alice@example.com".into()))
            .await
            .expect("find"),
        vec![group.id.clone()]
    );
    let bob_now = tx
        .get_resource(USER, &bob.id)
        .await
        .expect("get")
        .expect("bob");
    assert_eq!(bob_now, bob, "a failed update changed nothing");
}

async fn stale_version_is_refused(ctx: Ctx) {
    let v1 = insert(&ctx.store, USER, "carol").await;
    let mut tx = ctx.store.write().await.expect("write");
    let mut doc2 = v1.doc.clone();
    doc2.insert("displayName".into(), json!("Carol"));
    let v2 = tx
        .update_resource(&v1, &fields("carol"), &doc2, T1)
        .await
        .expect("update");
    assert_eq!(v2.version, 2);
    assert_eq!(v2.created, T0);
    assert_eq!(v2.last_modified, T1);
    assert_eq!(v2.doc, doc2);

    let err = tx
        .update_resource(&v1, &fields("carol"), &user_doc("carol"), T2)
        .await
        .expect_err("stale update");
    assert!(matches!(err, StoreError::VersionMismatch), "{err:?}");
    let err = tx.touch_resource(&v1, T2).await.expect_err("stale touch");
    assert!(matches!(err, StoreError::VersionMismatch), "{err:?}");

    let v3 = tx.touch_resource(&v2, T2).await.expect("touch");
    assert_eq!(v3.version, 3);
    assert_eq!(v3.last_modified, T2);
    assert_eq!(v3.doc, doc2);
    tx.commit().await.expect("commit");

    let mut tx = ctx.store.read().await.expect("read");
    let got = tx
        .get_resource(USER, &v1.id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got, v3);

    // A resource that no longer exists is a version mismatch too.
    let mut tx = ctx.store.write().await.expect("write");
    assert!(tx.delete_resource(USER, &v1.id).await.expect("delete"));
    let err = tx
        .update_resource(&v3, &fields("carol"), &doc2, T2)
        .await
        .expect_err("update of a deleted resource");
    assert!(matches!(err, StoreError::VersionMismatch), "{err:?}");
}

async fn rollback_on_drop(ctx: Ctx) {
    let group = insert(&ctx.store, GROUP, "kept").await;
    let user_id = new_id();
    {
        let mut tx = ctx.store.write().await.expect("write");
        let mut f = fields("ghost");
        f.emails_lc = vec!["ghost@example.com".into()];
        f.external_id = Some("ghost-ext".into());
        tx.insert_resource(USER, &user_id, &f, &user_doc("ghost"), T0)
            .await
            .expect("insert");
        tx.add_member(&group.id, &member(&user_id, USER))
            .await
            .expect("add member");
        let touched = tx.touch_resource(&group, T1).await.expect("touch");
        assert_eq!(touched.version, 2);
        assert_eq!(
            tx.count_resources(USER).await.expect("count"),
            1,
            "visible inside the transaction"
        );
        // Dropped without commit.
    }
    let mut tx = ctx.store.read().await.expect("read");
    assert!(
        tx.get_resource(USER, &user_id)
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(tx.count_resources(USER).await.expect("count"), 0);
    assert!(tx.members(&group.id).await.expect("members").is_empty());
    assert!(tx.groups_of(&user_id).await.expect("groups_of").is_empty());
    assert!(
        tx.find_ids(USER, &IndexKey::EmailLc("ghost@example.com".into()))
            .await
            .expect("find")
            .is_empty()
    );
    assert!(
        tx.find_ids(USER, &IndexKey::ExternalId("ghost-ext".into()))
            .await
            .expect("find")
            .is_empty()
    );
    let g = tx
        .get_resource(GROUP, &group.id)
        .await
        .expect("get")
        .expect("group");
    assert_eq!(g.version, 1, "the touch was rolled back");
    drop(tx);

    // The name is free again.
    let again = insert(&ctx.store, USER, "ghost").await;
    assert_eq!(again.version, 1);
}

async fn delete_cascades(ctx: Ctx) {
    let store = &ctx.store;
    let mut tx = store.write().await.expect("write");
    let u = new_id();
    let mut f = fields("dave");
    f.emails_lc = vec!["dave@example.com".into(), "d@example.org".into()];
    tx.insert_resource(USER, &u, &f, &user_doc("dave"), T0)
        .await
        .expect("insert user");
    let outer = tx
        .insert_resource(GROUP, &new_id(), &fields("outer"), &group_doc("outer"), T0)
        .await
        .expect("insert outer");
    let inner = tx
        .insert_resource(GROUP, &new_id(), &fields("inner"), &group_doc("inner"), T0)
        .await
        .expect("insert inner");
    let other = tx
        .insert_resource(GROUP, &new_id(), &fields("other"), &group_doc("other"), T0)
        .await
        .expect("insert other");
    // outer ∋ inner ∋ dave; other ∋ dave.
    tx.add_member(&outer.id, &member(&inner.id, GROUP))
        .await
        .expect("add");
    tx.add_member(&inner.id, &member(&u, USER))
        .await
        .expect("add");
    tx.add_member(&other.id, &member(&u, USER))
        .await
        .expect("add");
    tx.commit().await.expect("commit");

    // Deleting `inner` drops the memberships it holds and the ones it is in.
    let mut tx = store.write().await.expect("write");
    assert!(
        !tx.delete_resource(USER, &inner.id)
            .await
            .expect("wrong kind"),
        "kind must match"
    );
    assert!(
        tx.delete_resource(GROUP, &inner.id)
            .await
            .expect("delete inner")
    );
    assert!(
        !tx.delete_resource(GROUP, &inner.id)
            .await
            .expect("delete again")
    );
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    assert!(
        tx.members(&outer.id).await.expect("members").is_empty(),
        "inner left outer"
    );
    assert!(tx.members(&inner.id).await.expect("members").is_empty());
    assert!(tx.groups_of(&inner.id).await.expect("groups_of").is_empty());
    assert_eq!(
        tx.groups_of(&u).await.expect("groups_of"),
        vec![(other.id.clone(), Some("other".to_owned()))]
    );
    assert_eq!(tx.kind_of(&inner.id).await.expect("kind_of"), None);
    drop(tx);

    // Deleting the user drops its emails and its memberships.
    let mut tx = store.write().await.expect("write");
    assert!(tx.delete_resource(USER, &u).await.expect("delete user"));
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("read");
    assert!(tx.members(&other.id).await.expect("members").is_empty());
    assert!(tx.groups_of(&u).await.expect("groups_of").is_empty());
    for e in ["dave@example.com", "d@example.org"] {
        assert!(
            tx.find_ids(USER, &IndexKey::EmailLc(e.into()))
                .await
                .expect("find")
                .is_empty(),
            "{e}"
        );
    }
    assert_eq!(tx.count_resources(USER).await.expect("count"), 0);
    assert_eq!(tx.count_resources(GROUP).await.expect("count"), 2);
    drop(tx);

    // The same id and name can be used again, with no stale rows attached.
    let mut tx = store.write().await.expect("write");
    tx.insert_resource(USER, &u, &fields("dave"), &user_doc("dave"), T1)
        .await
        .expect("re-insert");
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("read");
    assert!(tx.groups_of(&u).await.expect("groups_of").is_empty());
    assert!(
        tx.find_ids(USER, &IndexKey::EmailLc("dave@example.com".into()))
            .await
            .expect("find")
            .is_empty()
    );
}

async fn index_keys(ctx: Ctx) {
    let store = &ctx.store;
    let mut tx = store.write().await.expect("write");
    let u1 = new_id();
    let u2 = new_id();
    let g1 = new_id();
    tx.insert_resource(
        USER,
        &u1,
        &IndexedFields {
            name_lc: "erin@example.com".into(),
            display: Some("Erin Example".into()),
            external_id: Some("EXT-1".into()),
            emails_lc: vec!["erin@example.com".into(), "shared@example.com".into()],
        },
        &user_doc("erin@example.com"),
        T0,
    )
    .await
    .expect("insert u1");
    tx.insert_resource(
        USER,
        &u2,
        &IndexedFields {
            name_lc: "frank@example.com".into(),
            display: Some("ERIN example".into()),
            external_id: Some("ext-1".into()),
            emails_lc: vec!["shared@example.com".into(), "shared@example.com".into()],
        },
        &user_doc("frank@example.com"),
        T0,
    )
    .await
    .expect("insert u2");
    tx.insert_resource(
        GROUP,
        &g1,
        &IndexedFields {
            name_lc: "erin example".into(),
            display: Some("Erin Example".into()),
            external_id: Some("EXT-1".into()),
            emails_lc: Vec::new(),
        },
        &group_doc("Erin Example"),
        T0,
    )
    .await
    .expect("insert g1");
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    let cases: Vec<(ResourceKind, IndexKey, Vec<&String>)> = vec![
        (USER, IndexKey::Id(u1.clone()), vec![&u1]),
        (GROUP, IndexKey::Id(u1.clone()), vec![]),
        (GROUP, IndexKey::Id(g1.clone()), vec![&g1]),
        (USER, IndexKey::Id("missing".into()), vec![]),
        (USER, IndexKey::NameLc("erin@example.com".into()), vec![&u1]),
        (USER, IndexKey::NameLc("erin example".into()), vec![]),
        (GROUP, IndexKey::NameLc("erin example".into()), vec![&g1]),
        (
            USER,
            IndexKey::DisplayLc("erin example".into()),
            vec![&u1, &u2],
        ),
        (GROUP, IndexKey::DisplayLc("erin example".into()), vec![&g1]),
        // externalId is case-exact.
        (USER, IndexKey::ExternalId("EXT-1".into()), vec![&u1]),
        (USER, IndexKey::ExternalId("ext-1".into()), vec![&u2]),
        (GROUP, IndexKey::ExternalId("EXT-1".into()), vec![&g1]),
        (
            USER,
            IndexKey::EmailLc("erin@example.com".into()),
            vec![&u1],
        ),
        (
            USER,
            IndexKey::EmailLc("shared@example.com".into()),
            vec![&u1, &u2],
        ),
        (
            GROUP,
            IndexKey::EmailLc("shared@example.com".into()),
            vec![],
        ),
    ];
    for (kind, key, want) in cases {
        let got = tx.find_ids(kind, &key).await.expect("find_ids");
        let want: Vec<String> = want.into_iter().cloned().collect();
        assert_eq!(got, want, "{kind:?} {key:?}");
    }
}

async fn email_index_is_rewritten(ctx: Ctx) {
    let store = &ctx.store;
    let id = new_id();
    let mut f = fields("gina");
    // IndexedFields carries lower-cased emails (the service lower-cases).
    f.emails_lc = vec!["Gina@Example.com".to_lowercase(), "gina@old.example".into()];
    let mut tx = store.write().await.expect("write");
    let v1 = tx
        .insert_resource(USER, &id, &f, &user_doc("gina"), T0)
        .await
        .expect("insert");
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.find_ids(USER, &IndexKey::EmailLc("gina@example.com".into()))
            .await
            .expect("find"),
        vec![id.clone()]
    );
    drop(tx);

    let mut tx = store.write().await.expect("write");
    f.emails_lc = vec!["gina@new.example".into(), "gina@example.com".into()];
    let v2 = tx
        .update_resource(&v1, &f, &user_doc("gina"), T1)
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("read");
    assert!(
        tx.find_ids(USER, &IndexKey::EmailLc("gina@old.example".into()))
            .await
            .expect("find")
            .is_empty(),
        "an email dropped by the update is no longer indexed"
    );
    for e in ["gina@new.example", "gina@example.com"] {
        assert_eq!(
            tx.find_ids(USER, &IndexKey::EmailLc(e.into()))
                .await
                .expect("find"),
            vec![id.clone()],
            "{e}"
        );
    }
    drop(tx);

    let mut tx = store.write().await.expect("write");
    f.emails_lc = Vec::new();
    tx.update_resource(&v2, &f, &user_doc("gina"), T2)
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("read");
    for e in ["gina@new.example", "gina@example.com", "gina@old.example"] {
        assert!(
            tx.find_ids(USER, &IndexKey::EmailLc(e.into()))
                .await
                .expect("find")
                .is_empty(),
            "{e}"
        );
    }
}

async fn paging_in_creation_order(ctx: Ctx) {
    let store = &ctx.store;
    let mut users = Vec::new();
    // Names deliberately not in alphabetical order; groups interleaved.
    for (i, name) in ["zed", "amy", "mia", "bob", "kim", "eve", "ann"]
        .iter()
        .enumerate()
    {
        users.push(insert(store, USER, name).await.id);
        if i % 2 == 0 {
            insert(store, GROUP, &format!("group-{name}")).await;
        }
    }
    let mut tx = store.read().await.expect("read");
    assert_eq!(tx.count_resources(USER).await.expect("count"), 7);
    assert_eq!(tx.count_resources(GROUP).await.expect("count"), 4);
    let ids = |rs: Vec<StoredResource>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(tx.all_resources(USER).await.expect("all")), users);
    for (offset, limit) in [
        (0, 3),
        (3, 3),
        (6, 3),
        (7, 3),
        (10, 3),
        (0, 100),
        (2, 1),
        (0, 0),
    ] {
        let page = ids(tx.page_resources(USER, offset, limit).await.expect("page"));
        let want: Vec<String> = users
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .cloned()
            .collect();
        assert_eq!(page, want, "offset {offset} limit {limit}");
    }
    let groups = tx.page_resources(GROUP, 0, 10).await.expect("page");
    assert!(groups.iter().all(|g| g.kind == GROUP));
    assert_eq!(
        groups
            .iter()
            .map(|g| g.doc["displayName"].as_str().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["group-zed", "group-mia", "group-kim", "group-ann"]
    );

    // An update does not move a resource in the order.
    drop(tx);
    let mut tx = store.write().await.expect("write");
    let first = tx
        .get_resource(USER, &users[0])
        .await
        .expect("get")
        .expect("first");
    tx.update_resource(&first, &fields("zed2"), &user_doc("zed2"), T1)
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("read");
    assert_eq!(
        ids(tx.page_resources(USER, 0, 1).await.expect("page")),
        vec![users[0].clone()]
    );

    // get_resources skips unknown ids and keeps the order of find_ids.
    let wanted = vec![users[1].clone(), "missing".to_owned(), users[4].clone()];
    assert_eq!(
        ids(tx
            .get_resources(USER, &wanted)
            .await
            .expect("get_resources")),
        vec![users[1].clone(), users[4].clone()]
    );
    assert!(
        tx.get_resources(GROUP, &wanted)
            .await
            .expect("get_resources")
            .is_empty()
    );
}

async fn membership(ctx: Ctx) {
    let store = &ctx.store;
    let g = insert(store, GROUP, "team").await;
    let g2 = insert(store, GROUP, "team-2").await;
    let u = insert(store, USER, "hank").await;
    let sub = insert(store, GROUP, "subteam").await;

    let mut tx = store.write().await.expect("write");
    tx.add_member(&g.id, &member(&u.id, USER))
        .await
        .expect("add");
    tx.add_member(&g.id, &member(&u.id, USER))
        .await
        .expect("add again is idempotent");
    let with_display = MemberRef {
        id: u.id.clone(),
        kind: USER,
        doc: obj(
            json!({"value": u.id, "display": "Hank Ü", "$ref": "https://x/Users/1", "type": "User"}),
        ),
    };
    tx.add_member(&g.id, &with_display)
        .await
        .expect("add with a new doc");
    tx.add_member(&g.id, &member(&sub.id, GROUP))
        .await
        .expect("add a group");
    tx.add_member(&g2.id, &member(&u.id, USER))
        .await
        .expect("add to a second group");
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    let mut members = tx.members(&g.id).await.expect("members");
    members.sort_by(|a, b| a.id.cmp(&b.id));
    let mut want = vec![with_display.clone(), member(&sub.id, GROUP)];
    want.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(members, want, "one row per member, holding the latest doc");
    assert_eq!(
        tx.groups_of(&u.id).await.expect("groups_of"),
        vec![
            (g.id.clone(), Some("team".to_owned())),
            (g2.id.clone(), Some("team-2".to_owned()))
        ],
        "groups in creation order"
    );
    assert_eq!(
        tx.groups_of(&sub.id).await.expect("groups_of"),
        vec![(g.id.clone(), Some("team".to_owned()))]
    );
    assert!(
        tx.members(&u.id)
            .await
            .expect("members of a user")
            .is_empty()
    );
    drop(tx);

    let mut tx = store.write().await.expect("write");
    tx.remove_member(&g.id, &u.id).await.expect("remove");
    tx.remove_member(&g.id, &u.id)
        .await
        .expect("remove again is a no-op");
    tx.remove_member(&g.id, "never-a-member")
        .await
        .expect("remove of a stranger is a no-op");
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("read");
    assert_eq!(
        tx.members(&g.id).await.expect("members"),
        vec![member(&sub.id, GROUP)]
    );
    assert_eq!(
        tx.groups_of(&u.id).await.expect("groups_of"),
        vec![(g2.id.clone(), Some("team-2".to_owned()))]
    );
    // Membership changes do not touch the group row by themselves.
    let g_now = tx
        .get_resource(GROUP, &g.id)
        .await
        .expect("get")
        .expect("group");
    assert_eq!(g_now.version, 1);
}

async fn concurrent_writers(ctx: Ctx) {
    const PER_TASK: usize = 50;
    let mut tasks = Vec::new();
    for t in 0..2 {
        let store = ctx.store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                let name = format!("writer-{t}-{i}");
                let mut tx = store
                    .write()
                    .await
                    .map_err(|e| format!("{name}: write: {e}"))?;
                let mut f = fields(&name);
                f.emails_lc = vec![format!("{name}@example.com")];
                tx.insert_resource(USER, &new_id(), &f, &user_doc(&name), T0)
                    .await
                    .map_err(|e| format!("{name}: insert: {e}"))?;
                // Read inside the write transaction, as the service does.
                tx.count_resources(USER)
                    .await
                    .map_err(|e| format!("{name}: count: {e}"))?;
                tx.commit()
                    .await
                    .map_err(|e| format!("{name}: commit: {e}"))?;
            }
            Ok::<(), String>(())
        }));
    }
    // A reader running alongside must not be blocked out either.
    let reader = {
        let store = ctx.store.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                let mut tx = store.read().await.map_err(|e| format!("read: {e}"))?;
                tx.count_resources(USER)
                    .await
                    .map_err(|e| format!("count: {e}"))?;
                tx.commit().await.map_err(|e| format!("read commit: {e}"))?;
            }
            Ok::<(), String>(())
        })
    };
    for t in tasks {
        t.await.expect("writer task").expect("every write succeeds");
    }
    reader
        .await
        .expect("reader task")
        .expect("every read succeeds");
    let mut tx = ctx.store.read().await.expect("read");
    assert_eq!(
        tx.count_resources(USER).await.expect("count"),
        (2 * PER_TASK) as i64
    );
    assert_eq!(
        tx.find_ids(USER, &IndexKey::EmailLc("writer-1-49@example.com".into()))
            .await
            .expect("find")
            .len(),
        1
    );
}

async fn migrations_are_idempotent(ctx: Ctx) {
    let kept = insert(&ctx.store, USER, "ivy").await;
    let again = Store::connect(&ctx.url)
        .await
        .expect("connect a second time");
    let third = Store::connect(&ctx.url)
        .await
        .expect("connect a third time");
    assert!(again.ping().await);
    let mut tx = again.read().await.expect("read");
    assert_eq!(
        tx.get_resource(USER, &kept.id).await.expect("get"),
        Some(kept.clone())
    );
    drop(tx);
    // Both handles write to the same database.
    insert(&third, USER, "jay").await;
    let mut tx = ctx.store.read().await.expect("read");
    assert_eq!(tx.count_resources(USER).await.expect("count"), 2);
    drop(tx);
    again.close().await;
    third.close().await;
}

// --- SQLite specifics ---

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::TempDir::new().expect("temporary directory");
    let path = dir.path().join("nested-name.db");
    assert!(!path.exists());
    let url = DatabaseUrl::Sqlite(format!("sqlite://{}", path.display()));
    let store = Store::connect(&url).await.expect("connect");
    insert(&store, USER, "kate").await;
    assert!(path.exists(), "the database file is created");

    let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("raw connection");
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .expect("pragma");
    assert_eq!(mode.to_lowercase(), "wal");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM scim_resources")
        .fetch_one(&mut raw)
        .await
        .expect("count");
    assert_eq!(n, 1);
    raw.close().await.expect("close");
    store.close().await;
}

#[tokio::test]
async fn sqlite_get_resources_keeps_the_given_order() {
    run_sqlite(|ctx: Ctx| async move {
        let a = insert(&ctx.store, USER, "first").await.id;
        let b = insert(&ctx.store, USER, "second").await.id;
        let mut tx = ctx.store.read().await.expect("read");
        let got: Vec<String> = tx
            .get_resources(USER, &[b.clone(), a.clone()])
            .await
            .expect("get_resources")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(got, vec![b, a]);
    })
    .await;
}

#[test]
fn postgres_urls_get_the_new_database() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "c_1"),
        "postgres://postgres@127.0.0.1:5432/c_1"
    );
    assert_eq!(
        with_database("postgres://u:p@h/test?sslmode=disable", "c_1"),
        "postgres://u:p@h/c_1?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "c_1"),
        "postgres://h:5432/c_1"
    );
}

// --- the safety rails' tables ---

contract!(
    safety_holds_contract,
    sqlite_safety_holds_contract,
    postgres_safety_holds_contract
);

fn hold(
    state: snyk_scim_bridge::store::HoldState,
    updated_at: i64,
) -> snyk_scim_bridge::store::HoldRow {
    snyk_scim_bridge::store::HoldRow {
        user_id: "u1".into(),
        org_id: "o1".into(),
        state,
        reason: "why".into(),
        email: Some("ann@example.com".into()),
        change: Some("remove from the org".into()),
        request_id: None,
        since: 1,
        updated_at,
    }
}

/// Compare-and-set on hold rows, the one-entry-per-pair removal log, and an
/// operator's approval racing a pass that holds the target: the target ends
/// pending (planned again), never held with an approved row.
async fn safety_holds_contract(ctx: Ctx) {
    use snyk_scim_bridge::store::{Finish, HoldFilter, HoldState};
    let store = &ctx.store;
    let mut tx = store.write().await.expect("tx");
    // Insert only when absent; update only when unchanged.
    assert!(
        tx.swap_hold(&hold(HoldState::Waiting, 10), None)
            .await
            .expect("insert")
    );
    assert!(
        !tx.swap_hold(&hold(HoldState::Held, 11), None)
            .await
            .expect("second insert")
    );
    assert!(
        !tx.swap_hold(&hold(HoldState::Held, 11), Some((HoldState::Waiting, 9)))
            .await
            .expect("stale update")
    );
    assert!(
        tx.swap_hold(&hold(HoldState::Held, 11), Some((HoldState::Waiting, 10)))
            .await
            .expect("update")
    );
    assert_eq!(
        tx.hold("u1", "o1").await.expect("read").map(|h| h.state),
        Some(HoldState::Held)
    );
    // One log entry per (user, org) in the window; the org filter counts it.
    tx.log_removal("u1", "o1", 100, 0).await.expect("log");
    tx.log_removal("u1", "o1", 200, 0).await.expect("log again");
    let c = tx
        .removal_counts(0, Some("o1"), true)
        .await
        .expect("counts");
    assert_eq!((c.planned, c.sent), (1, 0));
    assert_eq!(
        tx.removal_counts(0, Some("o2"), true)
            .await
            .expect("counts")
            .planned,
        0
    );
    tx.removal_sent("u1", "o1").await.expect("sent");
    assert_eq!(
        tx.removal_counts(0, None, true).await.expect("counts").sent,
        1
    );
    // Entries older than the horizon are dropped when a new one is logged.
    tx.log_removal("u2", "o1", 5_000, 1_000).await.expect("log");
    assert_eq!(
        tx.removal_counts(0, None, true)
            .await
            .expect("counts")
            .planned,
        1
    );
    // The target is claimed by a pass that will end it `held`.
    tx.enqueue_target("u1", "o1", 0).await.expect("enqueue");
    tx.commit().await.expect("commit");
    let mut tx = store.write().await.expect("tx");
    let claimed = tx
        .claim_target("w1", 1, 60_000, false)
        .await
        .expect("claim")
        .expect("due");
    tx.commit().await.expect("commit");
    // Meanwhile an operator approves it.
    let mut tx = store.write().await.expect("tx");
    let decided = tx
        .decide_holds(
            &HoldFilter {
                email: Some("ann@example.com".into()),
                org_id: None,
            },
            HoldState::Approved,
            2,
        )
        .await
        .expect("approve");
    assert_eq!(decided.len(), 1);
    tx.commit().await.expect("commit");
    // The pass ends as it decided before the approval: held.
    let mut tx = store.write().await.expect("tx");
    let held = Finish::Held {
        reason: "why".into(),
    };
    assert!(
        tx.finish_target(&claimed, &held, 3, "w1")
            .await
            .expect("finish")
    );
    let t = tx
        .get_target("u1", "o1")
        .await
        .expect("get")
        .expect("target");
    assert_eq!(
        t.status.as_str(),
        "pending",
        "planned again, not stuck held"
    );
    assert_eq!(
        tx.hold("u1", "o1").await.expect("read").map(|h| h.state),
        Some(HoldState::Approved)
    );
    let counts = tx.hold_counts().await.expect("counts");
    assert_eq!(counts, vec![(HoldState::Approved, 1)]);
    tx.commit().await.expect("commit");
}
