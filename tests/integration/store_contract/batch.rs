//! A claimed batch read and finished a statement per table, on both
//! backends (issue 11, item 2): the batch reads answer exactly what the
//! one-row reads answer, and the batch `Done` keeps `finish_target`'s rule
//! (only under the caller's lease; a target changed since its claim stays
//! pending).

use snyk_scim_bridge::store::{AccessRow, AccessState, HoldState, Store, TargetRow};

use super::{Ctx, GROUP, USER, insert, member, run_postgres, run_sqlite};

contract!(
    batch_reads_answer_what_row_reads_answer,
    sqlite_batch_reads_answer_what_row_reads_answer,
    postgres_batch_reads_answer_what_row_reads_answer
);
contract!(
    batch_done_keeps_the_lease_and_generation_rule,
    sqlite_batch_done_keeps_the_lease_and_generation_rule,
    postgres_batch_done_keeps_the_lease_and_generation_rule
);

fn access(user: &str, org: &str) -> AccessRow {
    AccessRow {
        user_id: user.into(),
        org_id: org.into(),
        email: format!("{user}@example.com"),
        state: AccessState::Pending,
        role: snyk_scim_bridge::domain::SnykRole::Collaborator,
        snyk_user_id: None,
        updated_at: 1,
    }
}

async fn batch_reads_answer_what_row_reads_answer(ctx: Ctx) {
    let store = &ctx.store;
    let ann = insert(store, USER, "ann").await;
    let bob = insert(store, USER, "bob").await;
    let admins = insert(store, GROUP, "Admins").await;
    let devs = insert(store, GROUP, "Devs").await;
    let mut tx = store.write().await.expect("tx");
    // Added to Devs first: the names still come in the groups' order.
    tx.add_member(&devs.id, &member(&ann.id, USER))
        .await
        .expect("member");
    tx.add_member(&admins.id, &member(&ann.id, USER))
        .await
        .expect("member");
    tx.put_access(&access(&ann.id, "o1")).await.expect("access");
    tx.put_access(&access(&bob.id, "o2")).await.expect("access");
    let mut h = super::hold(HoldState::Held, 1);
    (h.user_id, h.org_id) = (bob.id.clone(), "o2".into());
    tx.put_hold(&h).await.expect("hold");
    tx.commit().await.expect("commit");

    let ids = vec![ann.id.clone(), bob.id.clone(), "nobody".to_owned()];
    let keys: Vec<(String, String)> = [(&ann.id, "o1"), (&ann.id, "o2"), (&bob.id, "o2")]
        .into_iter()
        .map(|(u, o)| (u.clone(), o.to_owned()))
        .collect();
    let mut tx = store.read().await.expect("tx");
    let users = tx.users_with_groups(&ids).await.expect("users");
    let access_rows = tx.access_among(&keys).await.expect("access");
    let holds = tx.holds_among(&keys).await.expect("holds");
    assert_eq!(users.len(), 2, "the missing user is absent");
    assert_eq!(users[&ann.id].0.doc["userName"], "ann");
    assert_eq!(users[&ann.id].1, ["Admins", "Devs"]);
    assert!(users[&bob.id].1.is_empty());
    for key in &keys {
        let one = tx.get_access(&key.0, &key.1).await.expect("get");
        assert_eq!(
            access_rows.get(key).map(|a| &a.org_id),
            one.as_ref().map(|a| &a.org_id)
        );
        let held = tx.hold(&key.0, &key.1).await.expect("hold").is_some();
        assert_eq!(holds.contains_key(key), held, "{key:?}");
    }
    assert_eq!(access_rows.len(), 2);
    assert_eq!(holds.len(), 1);
    assert_eq!(
        holds[&(bob.id.clone(), "o2".to_owned())].state,
        HoldState::Held
    );
    tx.commit().await.expect("commit");
}

async fn claimed(store: &Store, owner: &str, now: i64) -> Vec<TargetRow> {
    let mut tx = store.write().await.expect("tx");
    let c = tx
        .claim_targets(owner, now, 60_000, 10, false)
        .await
        .expect("claim");
    tx.commit().await.expect("commit");
    c
}

async fn batch_done_keeps_the_lease_and_generation_rule(ctx: Ctx) {
    let store = &ctx.store;
    let mut tx = store.write().await.expect("tx");
    for user in ["u1", "u2", "u3"] {
        tx.enqueue_target(user, "o1", 0).await.expect("enqueue");
    }
    tx.commit().await.expect("commit");
    let batch = claimed(store, "w1", 10).await;
    assert_eq!(batch.len(), 3);
    let mut tx = store.write().await.expect("tx");
    // u2 changes while w1 holds it.
    tx.enqueue_target("u2", "o1", 20).await.expect("enqueue");
    // u3's lease goes to another sender (as a lapsed lease taken over).
    tx.release_lease("u3", "o1", "w1", 0)
        .await
        .expect("release");
    let other = tx
        .claim_targets("w2", 30, 60_000, 10, false)
        .await
        .expect("claim");
    assert_eq!(other.len(), 1);
    let lost = tx.finish_done_all(&batch, 40, "w1").await.expect("finish");
    tx.commit().await.expect("commit");
    assert_eq!(
        lost,
        [("u3".to_owned(), "o1".to_owned())],
        "only u3 is lost"
    );
    let mut tx = store.read().await.expect("tx");
    let status = |t: Option<TargetRow>| t.expect("target").status.as_str().to_owned();
    assert_eq!(
        status(tx.get_target("u1", "o1").await.expect("get")),
        "idle"
    );
    assert_eq!(
        status(tx.get_target("u2", "o1").await.expect("get")),
        "pending",
        "changed since its claim: planned again"
    );
    let u3 = tx.get_target("u3", "o1").await.expect("get").expect("u3");
    assert_eq!(u3.status.as_str(), "pending", "left to its new holder");
    assert_eq!(
        tx.leased_count().await.expect("leased"),
        1,
        "w2 still holds u3"
    );
    tx.commit().await.expect("commit");
}

contract!(
    a_member_queued_again_has_its_rejection_cleared,
    sqlite_a_member_queued_again_has_its_rejection_cleared,
    postgres_a_member_queued_again_has_its_rejection_cleared
);
contract!(
    a_queued_target_keeps_its_cause,
    sqlite_a_queued_target_keeps_its_cause,
    postgres_a_queued_target_keeps_its_cause
);

/// `enqueue_recorded` (one statement on PostgreSQL) queues the target and
/// links it to the request that caused it, every time it is queued; without
/// a cause it links nothing.
async fn a_queued_target_keeps_its_cause(ctx: Ctx) {
    let store = &ctx.store;
    let mut tx = store.write().await.expect("tx");
    tx.enqueue_recorded("u1", "o1", 10, 210, Some("req-1"))
        .await
        .expect("enqueue");
    tx.enqueue_recorded("u1", "o1", 20, 220, Some("req-2"))
        .await
        .expect("enqueue again");
    tx.enqueue_recorded("u2", "o1", 30, 230, None)
        .await
        .expect("enqueue without a cause");
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("tx");
    let t = tx.get_target("u1", "o1").await.expect("get").expect("u1");
    assert_eq!(t.status.as_str(), "pending");
    assert_eq!(t.generation, 2);
    assert_eq!(t.next_attempt_at, 210, "a pending target keeps its time");
    assert_eq!(t.request_id.as_deref(), Some("req-2"));
    let links: Vec<(i64, String, String)> = tx
        .queued_for_user("u1")
        .await
        .expect("queued")
        .into_iter()
        .map(|q| (q.at, q.request_id, q.org_id))
        .collect();
    assert_eq!(
        links,
        [
            (10, "req-1".into(), "o1".into()),
            (20, "req-2".into(), "o1".into())
        ]
    );
    assert!(tx.queued_for_user("u2").await.expect("queued").is_empty());
    let u2 = tx.get_target("u2", "o1").await.expect("get").expect("u2");
    assert_eq!((u2.next_attempt_at, u2.request_id), (230, None));
    tx.commit().await.expect("commit");
}

fn rejected(user: &str, org: &str) -> snyk_scim_bridge::store::HoldRow {
    snyk_scim_bridge::store::HoldRow {
        user_id: user.into(),
        org_id: org.into(),
        state: HoldState::Rejected,
        reason: "why".into(),
        email: Some(format!("{user}@example.com")),
        change: Some("remove from the org".into()),
        request_id: None,
        since: 1,
        updated_at: 1,
    }
}

/// `clear_rejected_and_enqueue` (one statement on PostgreSQL with a cause):
/// the member's rejected holds are gone, in every org, the target is queued
/// and linked to its cause; another user's rejection stays. Without a cause
/// it clears and queues, and links nothing.
async fn a_member_queued_again_has_its_rejection_cleared(ctx: Ctx) {
    let store = &ctx.store;
    let mut tx = store.write().await.expect("tx");
    for h in [
        rejected("u1", "o1"),
        rejected("u1", "o2"),
        rejected("u2", "o1"),
        rejected("u3", "o1"),
    ] {
        tx.put_hold(&h).await.expect("hold");
    }
    tx.clear_rejected_and_enqueue("u1", "o1", 10, 210, Some("req-1"))
        .await
        .expect("clear and enqueue");
    tx.clear_rejected_and_enqueue("u3", "o1", 20, 220, None)
        .await
        .expect("clear and enqueue without a cause");
    assert_eq!(
        tx.take_queued_due(),
        Some(210),
        "the earliest due time queued"
    );
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("tx");
    assert_eq!(tx.hold("u1", "o1").await.expect("hold"), None);
    assert_eq!(
        tx.hold("u1", "o2").await.expect("hold"),
        None,
        "every org's"
    );
    assert_eq!(tx.hold("u3", "o1").await.expect("hold"), None);
    assert_eq!(
        tx.hold("u2", "o1").await.expect("hold").map(|h| h.state),
        Some(HoldState::Rejected),
        "another user's rejection stays"
    );
    let t = tx.get_target("u1", "o1").await.expect("get").expect("u1");
    assert_eq!((t.status.as_str(), t.next_attempt_at), ("pending", 210));
    assert_eq!(t.request_id.as_deref(), Some("req-1"));
    let links: Vec<(i64, String)> = tx
        .queued_for_user("u1")
        .await
        .expect("queued")
        .into_iter()
        .map(|q| (q.at, q.request_id))
        .collect();
    assert_eq!(links, [(10, "req-1".to_owned())]);
    assert!(tx.queued_for_user("u3").await.expect("queued").is_empty());
    let u3 = tx.get_target("u3", "o1").await.expect("get").expect("u3");
    assert_eq!(u3.next_attempt_at, 220);
    tx.commit().await.expect("commit");
}
