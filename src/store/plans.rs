//! SQLite's plans of the statements that run on every SCIM write or every
//! worker pass: none may walk a table whose size grows with the users or
//! the outbox. SQLite is asked as production asks it, without `ANALYZE`
//! statistics (sqlx never runs it), on the schema the migrations build.
//! (PostgreSQL plans by its statistics; the benchmarks cover it.)

use sqlx::Row;

use super::Store;
use crate::config::DatabaseUrl;

/// SQLite's plan of `sql` (its `$n` parameters bound to 'x'), a line a step.
async fn plan(store: &Store, sql: &str, params: usize) -> Vec<String> {
    let explain = format!("EXPLAIN QUERY PLAN {sql}");
    let mut q = sqlx::query(&explain);
    for _ in 0..params {
        q = q.bind("x");
    }
    let rows = q.fetch_all(&store.pool).await.expect("explain");
    rows.iter()
        .map(|r| r.try_get::<String, _>("detail").expect("detail"))
        .collect()
}

/// No step scans a table (a materialised CTE of a few rows aside) or
/// searches on a bare prefix that every row of its kind or state shares.
fn assert_no_walk(name: &str, steps: &[String], bare_prefixes: &[&str]) {
    for step in steps {
        assert!(
            !step.starts_with("SCAN") || step == "SCAN due",
            "{name}: a scan in {steps:#?}"
        );
        for prefix in bare_prefixes {
            assert!(
                !step.ends_with(prefix),
                "{name}: every row read in {steps:#?}"
            );
        }
    }
}

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/plan.db", dir.path().display());
    let store = Store::connect(&DatabaseUrl::Sqlite(url))
        .await
        .expect("store");
    (dir, store)
}

#[tokio::test]
async fn the_email_uniqueness_lookup_never_walks_every_user() {
    let (_dir, store) = store().await;
    let steps = plan(&store, &super::scim::users_with_email_sql(), 1).await;
    assert_no_walk("users_with_email", &steps, &["(kind=?)"]);
    assert!(
        steps.iter().any(|s| s.contains("name_lc=?"))
            && steps.iter().any(|s| s.contains("value_lc=?")),
        "{steps:#?}"
    );
    let steps = plan(&store, super::scim::EMAIL_LOOKUP_SQL, 2).await;
    assert_no_walk("filter emails.value eq", &steps, &["(kind=?)"]);
}

#[tokio::test]
async fn a_member_patch_reads_only_the_members_it_names() {
    let (_dir, store) = store().await;
    let steps = plan(&store, &super::scim::members_among_sql(2), 3).await;
    assert_no_walk("members_among", &steps, &["(group_id=?)"]);
    assert!(
        steps
            .iter()
            .any(|s| s.contains("(group_id=? AND member_id=?)")),
        "each named member by its key: {steps:#?}"
    );
}

#[tokio::test]
async fn a_claim_reads_its_batch_not_every_pending_target() {
    let (_dir, store) = store().await;
    for order in [
        "next_attempt_at, user_id, org_id",
        "next_attempt_at DESC, user_id DESC, org_id DESC",
    ] {
        let steps = plan(&store, &super::claims::claim_sql(order, ""), 4).await;
        assert_no_walk("claim", &steps, &["(status=?)"]);
        assert!(
            steps.iter().any(|s| s.contains("(user_id=? AND org_id=?)")),
            "each claimed row by its key: {steps:#?}"
        );
    }
}

#[tokio::test]
async fn leases_and_holds_are_found_by_index() {
    let (_dir, store) = store().await;
    let steps = plan(&store, super::sync::RENEW_LEASES_SQL, 2).await;
    assert_no_walk("renew_leases", &steps, &[]);
    let steps = plan(&store, super::safety::CLEAR_REJECTED_SQL, 1).await;
    assert_no_walk("clear_rejected", &steps, &["(state=?)"]);
    let steps = plan(&store, super::safety::HELD_OTHER_SQL, 2).await;
    assert_no_walk("held_other_than", &steps, &[]);
}

#[tokio::test]
async fn a_claimed_batch_is_read_and_finished_by_key() {
    let (_dir, store) = store().await;
    for (name, sql, params) in [
        ("users_among", super::batch::users_among_sql(3), 3),
        (
            "group_names_among",
            super::batch::group_names_among_sql(3),
            3,
        ),
        ("access_among", super::batch::access_among_sql(3), 6),
        ("holds_among", super::batch::holds_among_sql(3), 6),
        ("finish_done", super::batch::finish_done_sql(3), 11),
    ] {
        let steps = plan(&store, &sql, params).await;
        let steps: Vec<String> = steps
            .into_iter()
            .filter(|s| !s.contains("CONSTANT ROW") && s != "SCAN k")
            .collect();
        assert_no_walk(name, &steps, &["(kind=?)", "(group_id=?)"]);
    }
}
