use super::*;

const MIN: Duration = Duration::from_secs(60);

/// Sends at `rate`/min from `start` for `for_`, each call answered unless
/// `limit_in_window` calls were already answered in the fixed window the call
/// falls in (windows of `window` from `start`); stops at the first refusal
/// and returns its instant.
fn run_until_refused(
    b: &mut Budget,
    start: Instant,
    window: Duration,
    limit_in_window: u32,
    for_: Duration,
) -> Option<Instant> {
    let gap = MIN.div_f64(f64::from(b.pace().rate));
    let mut counts = std::collections::BTreeMap::<u128, u32>::new();
    let mut t = start;
    while t < start + for_ {
        b.throttled(t);
        let w = (t - start).as_nanos() / window.as_nanos();
        let c = counts.entry(w).or_default();
        if *c >= limit_in_window {
            b.refused(t);
            return Some(t);
        }
        *c += 1;
        b.answered(t);
        t += gap;
    }
    None
}

#[test]
fn without_a_429_the_configured_rate_stands() {
    let mut b = Budget::new(1800, MIN);
    let t0 = Instant::now();
    assert_eq!(run_until_refused(&mut b, t0, MIN, u32::MAX, MIN * 30), None);
    assert_eq!(b.pace().rate, 1800);
    assert_eq!(b.pace().reason, Reason::Configured);
}

#[test]
fn a_429_learns_what_the_window_held() {
    // (window, calls the window lets through, configured rate a minute)
    let table = [
        (MIN, 2000, 3000),
        (MIN, 2000, 4000),
        (MIN, 600, 1800),
        (Duration::from_secs(10), 300, 2700),
        (Duration::from_secs(10), 300, 3600),
        (Duration::from_secs(2), 20, 1800),
    ];
    for (window, limit, configured) in table {
        let mut b = Budget::new(configured, window);
        let t0 = Instant::now();
        let at = run_until_refused(&mut b, t0, window, limit, window * 2);
        assert!(at.is_some(), "{window:?} {limit} {configured}: no 429");
        let per_min = f64::from(limit) * 60.0 / window.as_secs_f64();
        let pace = b.pace();
        let share = f64::from(pace.rate) / per_min;
        // 0.97 of the window, and three calls of it to spare at least.
        let want = (f64::from(limit) * MARGIN).min(f64::from(limit) - 3.0) / f64::from(limit);
        assert!(
            (want - 0.01..=want).contains(&share),
            "{window:?} {limit}/{configured}: learnt {} = {share:.3} of {per_min}",
            pace.rate
        );
        assert_eq!(pace.reason, Reason::Learnt { answered: limit });
    }
}

#[test]
fn at_the_learnt_rate_a_fixed_window_never_refuses_again() {
    let window = Duration::from_secs(10);
    let mut b = Budget::new(2700, window);
    let t0 = Instant::now();
    let at = run_until_refused(&mut b, t0, window, 300, window).expect("429");
    // From the next window on, at the learnt rate, until the first try
    // upward (FIRST_RAISE_AFTER windows after the 429).
    let next = t0 + window * 2;
    assert!(at < next);
    assert_eq!(
        run_until_refused(&mut b, next, window, 300, window * 8),
        None
    );
    assert_eq!(b.pace().reason.as_str(), "learnt");
}

#[test]
fn a_429_while_the_bridge_sent_little_at_most_halves_the_rate() {
    let mut b = Budget::new(1800, MIN);
    let t0 = Instant::now();
    for i in 0..10 {
        let t = t0 + Duration::from_secs(i * 5);
        b.answered(t);
    }
    assert!(b.refused(t0 + Duration::from_secs(50)));
    assert_eq!(b.pace().rate, 900, "someone else's calls: halve, not 9/min");
    assert!(b.refused(t0 + Duration::from_secs(55)));
    assert_eq!(b.pace().rate, 450);
}

#[test]
fn every_episode_lowers_the_rate_and_it_never_reaches_zero() {
    let mut b = Budget::new(1800, MIN);
    let t0 = Instant::now();
    let mut last = b.pace().rate;
    for i in 0..200 {
        b.refused(t0 + Duration::from_secs(i));
        let r = b.pace().rate;
        assert!(r >= 1);
        assert!(r < last || r == 1, "{r} after {last}");
        last = r;
    }
    assert_eq!(last, 1);
}

/// Learns 582/min (limit 600), then spends `windows` minutes at that rate,
/// with Snyk answering everything (the limit rose, or nothing refuses).
fn learnt_then_quiet(windows: u32) -> (Budget, Instant, Vec<(u32, u32)>) {
    let mut b = Budget::new(1800, MIN);
    let t0 = Instant::now();
    let at = run_until_refused(&mut b, t0, MIN, 600, MIN).expect("429");
    assert_eq!(b.pace().rate, 582);
    let mut rates = Vec::new();
    let mut t = at;
    for w in 0..windows {
        let end = at + MIN * (w + 1);
        while t < end {
            b.throttled(t);
            b.answered(t);
            t += MIN.div_f64(f64::from(b.pace().rate));
        }
        rates.push((w + 1, b.pace().rate));
    }
    (b, t, rates)
}

#[test]
fn after_a_quiet_spell_it_tries_upward_slowly_to_the_configured_rate() {
    let (b, _, rates) = learnt_then_quiet(60);
    // Nothing moves for the first FIRST_RAISE_AFTER windows.
    for &(w, r) in &rates[..usize::try_from(FIRST_RAISE_AFTER).expect("small") - 1] {
        assert_eq!(r, 582, "window {w}");
    }
    // Then at most 5 % a window.
    for pair in rates.windows(2) {
        let (a, b) = (pair[0].1, pair[1].1);
        assert!(f64::from(b) <= f64::from(a) * 1.05 + 1.0, "{a} -> {b}");
    }
    assert_eq!(b.pace().rate, 1800, "{rates:?}");
    assert_eq!(b.pace().reason, Reason::Configured);
}

#[test]
fn a_failed_try_upward_doubles_the_wait_and_a_higher_limit_resets_it() {
    let (mut b, t, _) = learnt_then_quiet(FIRST_RAISE_AFTER + 1);
    let Reason::Raising { answered: 600 } = b.pace().reason else {
        panic!("not raising: {:?}", b.pace());
    };
    // Refused on the way up, the window holding about what it held before
    // (~611 at 5 % above 582): the limit has not moved.
    let raised = b.pace().rate;
    b.refused(t);
    assert_eq!(b.raise_after, FIRST_RAISE_AFTER * 2);
    assert!(
        b.pace().rate < raised && b.pace().rate <= 600,
        "{:?}",
        b.pace()
    );
    // A later try whose window held 700 (the limit rose to 700): learnt, and
    // the next try upward comes after the first wait again.
    b.reason = Reason::Raising { answered: 600 };
    let later = t + MIN * 30;
    b.answered.clear();
    for i in 0..700u32 {
        b.answered
            .push_back(later - MIN + Duration::from_millis(1 + u64::from(i) * 85));
    }
    b.refused(later);
    assert_eq!(b.raise_after, FIRST_RAISE_AFTER);
    assert_eq!(b.pace().reason, Reason::Learnt { answered: 700 });
}

#[test]
fn no_step_upward_while_the_bridge_does_not_use_its_rate() {
    let mut b = Budget::new(1800, MIN);
    let t0 = Instant::now();
    let at = run_until_refused(&mut b, t0, MIN, 600, MIN).expect("429");
    // One call a minute for an hour: no evidence the limit rose.
    for m in 1..=60 {
        let t = at + MIN * m;
        assert!(!b.answered(t));
    }
    assert_eq!(b.pace().rate, 582);
}

#[test]
fn a_restart_resumes_the_learnt_rate() {
    let mut b = Budget::new(1800, MIN);
    let now = Instant::now();
    b.resume(582, 600, now);
    assert_eq!(b.pace().rate, 582);
    assert_eq!(b.pace().reason, Reason::Learnt { answered: 600 });
    // A stored rate at or above the configured one is ignored.
    let mut c = Budget::new(500, MIN);
    c.resume(582, 600, now);
    assert_eq!(c.pace().rate, 500);
    assert_eq!(c.pace().reason, Reason::Configured);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Ev {
        Throttled(u64),
        Answered(u64),
        Refused(u64),
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            (0u64..5_000).prop_map(Ev::Throttled),
            (0u64..5_000).prop_map(Ev::Answered),
            (0u64..60_000).prop_map(Ev::Refused),
        ]
    }

    proptest! {
        #[test]
        fn the_rate_stays_within_one_and_the_configured_rate(
            configured in 1u32..10_000,
            window_ms in 100u64..120_000,
            evs in proptest::collection::vec(ev(), 0..300),
        ) {
            let mut b = Budget::new(configured, Duration::from_millis(window_ms));
            let mut t = Instant::now();
            for e in evs {
                let before = b.pace().rate;
                match e {
                    Ev::Throttled(d) => { t += Duration::from_millis(d); b.throttled(t); }
                    Ev::Answered(d) => { t += Duration::from_millis(d); b.answered(t); }
                    Ev::Refused(d) => {
                        t += Duration::from_millis(d);
                        b.refused(t);
                        prop_assert!(b.pace().rate < before || before == 1);
                    }
                }
                let r = b.pace().rate;
                prop_assert!(r >= 1 && r <= configured);
            }
        }
    }
}
