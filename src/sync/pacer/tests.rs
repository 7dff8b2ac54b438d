use super::*;

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn backoff_doubles_to_a_window_and_a_bit() {
    let s: Vec<u64> = (1..=8).map(|n| backoff(MINUTE, n).as_secs()).collect();
    assert_eq!(s, vec![1, 2, 4, 8, 16, 32, 63, 63]);
    let ten = Duration::from_secs(10);
    let s: Vec<u128> = (1..=8).map(|n| backoff(ten, n).as_millis()).collect();
    assert_eq!(s, vec![166, 333, 666, 1333, 2666, 5333, 10500, 10500]);
}

#[tokio::test(start_paused = true)]
async fn a_pause_holds_every_caller() {
    let p = Pacer::new(6000, 2, MINUTE);
    p.pause_for(Duration::from_secs(30));
    let start = Instant::now();
    let permit = p.acquire().await;
    assert!(permit.is_some());
    assert!(start.elapsed() >= Duration::from_secs(30));
    assert!(p.paused_for().is_none());
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let p = Pacer::new(6000, 2, MINUTE);
    let a = p.acquire().await;
    let b = p.acquire().await;
    assert!(a.is_some() && b.is_some());
    let third = tokio::time::timeout(Duration::from_millis(50), p.acquire()).await;
    assert!(third.is_err(), "a third call must wait for a permit");
}

#[tokio::test(start_paused = true)]
async fn after_a_429_one_probe_at_a_time_at_growing_intervals() {
    let p = Pacer::new(60_000, 10, MINUTE);
    // Three calls in flight when the episode begins: one strike, not three.
    let a = p.acquire().await.expect("a");
    let b = p.acquire().await.expect("b");
    let c = p.acquire().await.expect("c");
    let start = Instant::now();
    a.done(Outcome::RateLimited(None));
    b.done(Outcome::RateLimited(None));
    c.done(Outcome::Answered);
    // The probe waits the first backoff; a second caller waits for it.
    let probe = p.acquire().await.expect("probe");
    assert!(start.elapsed() >= first_backoff(MINUTE) && start.elapsed() < backoff(MINUTE, 2));
    assert!(probe.probe);
    let second = tokio::time::timeout(Duration::from_secs(100), p.acquire()).await;
    assert!(second.is_err(), "no second call while the probe is out");
    // Refused: the next probe waits twice as long.
    probe.done(Outcome::RateLimited(None));
    let t = Instant::now();
    let probe = p.acquire().await.expect("probe 2");
    assert!(t.elapsed() >= backoff(MINUTE, 2) && t.elapsed() < backoff(MINUTE, 3));
    // Accepted: everyone goes again, at once.
    probe.done(Outcome::Answered);
    let t = Instant::now();
    let x = p.acquire().await.expect("x");
    let y = p.acquire().await.expect("y");
    assert!(!x.probe && !y.probe);
    assert!(t.elapsed() < Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn retry_after_sets_the_pause() {
    let p = Pacer::new(60_000, 10, MINUTE);
    let a = p.acquire().await.expect("a");
    let start = Instant::now();
    a.done(Outcome::RateLimited(Some(Duration::from_secs(7))));
    let _probe = p.acquire().await.expect("probe");
    assert!(start.elapsed() >= Duration::from_secs(7));
    assert!(start.elapsed() < Duration::from_secs(8));
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_probe_lets_another_go() {
    let p = Pacer::new(60_000, 10, MINUTE);
    p.acquire()
        .await
        .expect("a")
        .done(Outcome::RateLimited(None));
    let probe = p.acquire().await.expect("probe");
    drop(probe);
    let again = tokio::time::timeout(Duration::from_secs(1), p.acquire()).await;
    assert!(again.is_ok_and(|p| p.is_some_and(|p| p.probe)));
}

#[tokio::test(start_paused = true)]
async fn a_successful_probe_keeps_a_pause_set_by_something_else() {
    let p = Pacer::new(60_000, 10, MINUTE);
    p.acquire()
        .await
        .expect("a")
        .done(Outcome::RateLimited(None));
    let probe = p.acquire().await.expect("probe");
    // Meanwhile Snyk rejected the token: every call waits 300 s.
    p.pause_for(Duration::from_secs(300));
    probe.done(Outcome::Answered);
    let left = p.paused_for().expect("still paused");
    assert!(left > Duration::from_secs(290), "{left:?}");
}

#[tokio::test]
async fn close_wakes_waiters_with_none() {
    let p = std::sync::Arc::new(Pacer::new(6000, 1, MINUTE));
    let held = p.acquire().await;
    assert!(held.is_some());
    let p2 = p.clone();
    let waiter = tokio::spawn(async move { p2.acquire().await.is_none() });
    tokio::time::sleep(Duration::from_millis(20)).await;
    p.close();
    assert!(waiter.await.expect("join"));
}
