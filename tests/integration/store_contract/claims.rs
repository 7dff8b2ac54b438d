//! Outbox claims, run against both backends (issue 11, item 2): a batch
//! claim takes due targets from the asked end of the queue and leases them;
//! concurrent claimers, each on connections of its own, never take the same
//! target and never come back empty while due work is left (on PostgreSQL
//! a claimer that met another's first due row used to get nothing, and its
//! drain ended); a lapsed lease gives the target back; a change while leased
//! is planned again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use snyk_scim_bridge::store::{Backend, Finish, Store, TargetRow};

use super::{Ctx, run_postgres, run_sqlite};

const LEASE: i64 = 60_000;

contract!(
    batch_claims_take_from_the_asked_end,
    sqlite_batch_claims_take_from_the_asked_end,
    postgres_batch_claims_take_from_the_asked_end
);
contract!(
    a_claim_beside_an_open_claim_takes_the_next_targets,
    sqlite_a_claim_beside_an_open_claim_takes_the_next_targets,
    postgres_a_claim_beside_an_open_claim_takes_the_next_targets
);
contract!(
    concurrent_claimers_never_collide_nor_stall,
    sqlite_concurrent_claimers_never_collide_nor_stall,
    postgres_concurrent_claimers_never_collide_nor_stall
);

fn users(claimed: &[TargetRow]) -> Vec<&str> {
    claimed.iter().map(|t| t.user_id.as_str()).collect()
}

async fn claim(store: &Store, owner: &str, now: i64, limit: usize, newest: bool) -> Vec<TargetRow> {
    let mut tx = store.write().await.expect("tx");
    let claimed = tx
        .claim_targets(owner, now, LEASE, limit, newest)
        .await
        .expect("claim");
    tx.commit().await.expect("commit");
    claimed
}

/// Oldest or newest first, the limit, only due and unleased targets; a
/// lapsed lease makes a target claimable again; a change while leased
/// leaves it pending after `Done`.
async fn batch_claims_take_from_the_asked_end(ctx: Ctx) {
    let store = &ctx.store;
    let mut tx = store.write().await.expect("tx");
    for (user, due) in [("u1", 10), ("u2", 20), ("u3", 30), ("u4", 40), ("u5", 50)] {
        tx.enqueue_target_caused(user, "o1", 0, due, None)
            .await
            .expect("enqueue");
    }
    tx.commit().await.expect("commit");

    assert!(claim(store, "w1", 35, 0, false).await.is_empty(), "limit 0");
    let oldest = claim(store, "w1", 35, 2, false).await;
    assert_eq!(users(&oldest), ["u1", "u2"]);
    assert!(
        oldest
            .iter()
            .all(|t| t.attempts == 1 && t.status.as_str() == "pending")
    );
    // u4 and u5 are not due at 35; u1 and u2 are leased.
    let newest = claim(store, "w2", 35, 5, true).await;
    assert_eq!(users(&newest), ["u3"]);
    assert!(claim(store, "w2", 35, 5, false).await.is_empty());
    // Newest first among the due ones, at 60.
    assert_eq!(users(&claim(store, "w2", 60, 1, true).await), ["u5"]);

    // A change while u1 is leased: done, it is pending again.
    let mut tx = store.write().await.expect("tx");
    tx.enqueue_target("u1", "o1", 70).await.expect("enqueue");
    assert!(
        tx.finish_target(&oldest[0], &Finish::Done, 71, "w1")
            .await
            .expect("finish")
    );
    let u1 = tx.get_target("u1", "o1").await.expect("get").expect("u1");
    assert_eq!(
        u1.status.as_str(),
        "pending",
        "a change while leased is planned again"
    );
    tx.commit().await.expect("commit");

    // The holder of u2, u3 and u5 dies: after the lease they come back
    // (u4 too, due since 40), oldest first; u1's new generation as well.
    let back = claim(store, "w3", 35 + LEASE + 1, 10, false).await;
    assert_eq!(users(&back), ["u2", "u3", "u4", "u1"]);
    assert_eq!(
        users(&claim(store, "w3", 60 + LEASE + 1, 10, false).await),
        ["u5"]
    );
    let mut tx = store.write().await.expect("tx");
    let u2 = tx.get_target("u2", "o1").await.expect("get").expect("u2");
    assert_eq!(u2.attempts, 2, "each claim counts an attempt");
    // The dead holder's outcome no longer lands.
    assert!(
        !tx.finish_target(&oldest[1], &Finish::Done, 80, "w1")
            .await
            .expect("finish")
    );
    tx.commit().await.expect("commit");
}

/// Several claimers, each with a pool of its own (like replicas, or the
/// worker beside `sync`), start together and claim batches from both ends,
/// holding each claim's transaction open a moment so that they overlap.
/// (Each lease's owner is the claimer that got it: `attempts` stays 1.)
/// Each stops at its first empty claim. Together they must have claimed
/// every due target exactly once: a collision would show as a target twice,
/// a stall as targets nobody claimed.
async fn concurrent_claimers_never_collide_nor_stall(ctx: Ctx) {
    const TARGETS: usize = 400;
    const CLAIMERS: usize = 6;
    const BATCH: usize = 7;
    let mut tx = ctx.store.write().await.expect("tx");
    for i in 0..TARGETS {
        // Ten targets share each due time: ties must not collide either.
        let due = i64::try_from(i / 10).expect("small");
        tx.enqueue_target_caused(&format!("u{i:04}"), "o1", 0, due, None)
            .await
            .expect("enqueue");
    }
    tx.enqueue_target_caused("later", "o1", 0, 1_000_000, None)
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");

    let start = Arc::new(tokio::sync::Barrier::new(CLAIMERS));
    let mut set = tokio::task::JoinSet::new();
    for c in 0..CLAIMERS {
        let (url, start) = (ctx.url.clone(), start.clone());
        set.spawn(async move {
            let store = Store::connect(&url).await.expect("a claimer's own store");
            let owner = format!("w{c}");
            let mut mine = Vec::new();
            start.wait().await;
            for round in 0.. {
                let mut tx = store.write().await.expect("tx");
                let claimed = tx
                    .claim_targets(&owner, 1_000, LEASE, BATCH, (round + c) % 2 == 1)
                    .await
                    .expect("claim");
                // Hold the rows a moment: the others claim meanwhile.
                tokio::time::sleep(Duration::from_millis(3)).await;
                tx.commit().await.expect("commit");
                if claimed.is_empty() {
                    break;
                }
                assert!(claimed.len() <= BATCH);
                mine.extend(claimed.into_iter().map(|t| t.user_id));
            }
            store.close().await;
            (owner, mine)
        });
    }
    let mut by_target: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut claimers_with_work = 0;
    let all = tokio::time::timeout(Duration::from_secs(120), async {
        let mut all = Vec::new();
        while let Some(r) = set.join_next().await {
            all.push(r.expect("claimer"));
        }
        all
    })
    .await
    .expect("the claimers finished (none stalled)");
    for (owner, mine) in all {
        claimers_with_work += usize::from(!mine.is_empty());
        for u in mine {
            by_target.entry(u).or_default().push(owner.clone());
        }
    }
    let twice: Vec<_> = by_target.iter().filter(|(_, o)| o.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "targets claimed more than once: {twice:?}"
    );
    assert_eq!(
        by_target.len(),
        TARGETS,
        "every due target claimed: a claimer came back empty while work was due"
    );
    assert!(
        !by_target.contains_key("later"),
        "a target not due was claimed"
    );
    // PostgreSQL claimers run side by side; SQLite's writers take turns,
    // and its busy handler may let one claimer take every batch.
    if ctx.store.backend() == Backend::Postgres {
        assert!(claimers_with_work > 1, "the claimers overlapped");
    }
    // Each lease is held by the claimer that got the target.
    let mut tx = ctx.store.read().await.expect("tx");
    for user in by_target.keys().step_by(37) {
        let t = tx
            .get_target(user, "o1")
            .await
            .expect("get")
            .expect("target");
        assert_eq!(t.attempts, 1, "{user}: claimed once");
    }
    assert_eq!(
        tx.leased_count().await.expect("count"),
        i64::try_from(TARGETS).expect("small")
    );
    tx.commit().await.expect("commit");
}

/// Claimer A has claimed the first due targets and not committed yet; B
/// claims beside it on its own connections. On PostgreSQL B must not wait
/// for A (nor come back empty): it takes the next due targets at once. On
/// SQLite B's write waits for A's (one writer at a time) and then takes
/// the next ones. Either way their targets are disjoint and B got a batch.
async fn a_claim_beside_an_open_claim_takes_the_next_targets(ctx: Ctx) {
    let mut tx = ctx.store.write().await.expect("tx");
    for i in 0..20 {
        tx.enqueue_target_caused(&format!("u{i:02}"), "o1", 0, i, None)
            .await
            .expect("enqueue");
    }
    tx.commit().await.expect("commit");
    let mut a = ctx.store.write().await.expect("tx");
    let first = a
        .claim_targets("a", 100, LEASE, 5, false)
        .await
        .expect("claim");
    assert_eq!(users(&first), ["u00", "u01", "u02", "u03", "u04"]);

    let url = ctx.url.clone();
    let b = tokio::spawn(async move {
        let store = Store::connect(&url).await.expect("B's own store");
        let claimed = claim(&store, "b", 100, 5, false).await;
        store.close().await;
        claimed
    });
    let postgres = ctx.store.backend() == Backend::Postgres;
    let next = if postgres {
        // A still holds its rows: B must be done without them.
        let next = tokio::time::timeout(Duration::from_secs(10), b)
            .await
            .expect("B waited for the rows of A's open claim instead of skipping them")
            .expect("B");
        a.commit().await.expect("commit A");
        next
    } else {
        tokio::time::sleep(Duration::from_millis(50)).await;
        a.commit().await.expect("commit A");
        b.await.expect("B")
    };
    assert_eq!(users(&next), ["u05", "u06", "u07", "u08", "u09"]);
}
