//! The pacer against a model of each rate-limit shape Snyk may have, on
//! tokio's paused clock (a manual clock: an hour of traffic runs in a
//! fraction of a second): a fixed window not aligned with the first call, a
//! rolling window, and the quiet-period rule. Each run configures the bridge
//! above the real limit and checks the learnt budget, the recovery (one
//! probe at a time, growing gaps), and the throughput.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

const WINDOW: Duration = Duration::from_secs(60);
const LATENCY: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Fixed windows, the first one starting this long before the first call.
    Fixed(Duration),
    Rolling,
    QuietPeriod,
}

struct Server {
    kind: Kind,
    limit: u32,
    start: Instant,
    fixed: std::collections::HashMap<u128, u32>,
    accepted: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    /// Arrival and verdict of every request.
    log: Vec<(Instant, bool)>,
}

impl Server {
    fn new(kind: Kind, limit: u32) -> Self {
        Self {
            kind,
            limit,
            start: Instant::now(),
            fixed: Default::default(),
            accepted: VecDeque::new(),
            blocked_until: None,
            log: Vec::new(),
        }
    }

    fn admit(&mut self, now: Instant) -> bool {
        let ok = match self.kind {
            Kind::Fixed(offset) => {
                let w = (now - self.start + offset).as_nanos() / WINDOW.as_nanos();
                let c = self.fixed.entry(w).or_default();
                *c < self.limit && {
                    *c += 1;
                    true
                }
            }
            Kind::Rolling | Kind::QuietPeriod => {
                while self.accepted.front().is_some_and(|&t| now - t >= WINDOW) {
                    self.accepted.pop_front();
                }
                let blocked = self.blocked_until.is_some_and(|b| now < b);
                let over = self.accepted.len() >= usize::try_from(self.limit).expect("small");
                if self.kind == Kind::QuietPeriod && (blocked || over) {
                    self.blocked_until = Some(now + WINDOW);
                    false
                } else if over {
                    false
                } else {
                    self.accepted.push_back(now);
                    true
                }
            }
        };
        self.log.push((now, ok));
        ok
    }
}

struct Run {
    took: Duration,
    log: Vec<(Instant, bool)>,
    pace: Pace,
}

/// `calls` successful calls through a pacer configured at `configured`/min,
/// ten callers at a time, against `server`. `change` runs once after
/// `change_after` successful calls (the limit rising meanwhile).
async fn run(server: Server, configured: u32, calls: usize, change: Option<(usize, u32)>) -> Run {
    let pacer = Arc::new(Pacer::new(configured, 10, WINDOW));
    let server = Arc::new(Mutex::new(server));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (pacer, server, done) = (pacer.clone(), server.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < calls {
                let permit = pacer.acquire().await.expect("open");
                let ok = {
                    let mut s = server.lock().expect("lock");
                    if let Some((after, limit)) = change
                        && done.load(Ordering::SeqCst) >= after
                    {
                        s.limit = limit;
                    }
                    s.admit(Instant::now())
                };
                tokio::time::sleep(LATENCY).await;
                if ok {
                    done.fetch_add(1, Ordering::SeqCst);
                    permit.done(Outcome::Answered);
                } else {
                    permit.done(Outcome::RateLimited(None));
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("caller");
    }
    let took = start.elapsed();
    let log = std::mem::take(&mut server.lock().expect("lock").log);
    Run {
        took,
        log,
        pace: pacer.pace(),
    }
}

/// Episodes: runs of refusals with no accepted call between them.
fn episodes(log: &[(Instant, bool)]) -> Vec<Vec<Instant>> {
    let mut out: Vec<Vec<Instant>> = Vec::new();
    let mut open = false;
    for &(t, ok) in log {
        if ok {
            open = false;
        } else if open {
            out.last_mut().expect("open").push(t);
        } else {
            out.push(vec![t]);
            open = true;
        }
    }
    out
}

async fn storm(kind: Kind, factor: f64) {
    const LIMIT: u32 = 2000;
    const WINDOWS: usize = 25;
    let configured = (f64::from(LIMIT) * factor) as u32;
    let calls = usize::try_from(LIMIT).expect("small") * WINDOWS;
    let r = run(Server::new(kind, LIMIT), configured, calls, None).await;
    let label = format!("{kind:?} at {factor}x");

    // The budget learnt at the first 429: just under the real limit.
    assert_eq!(r.pace.reason.as_str(), "learnt", "{label}: {:?}", r.pace);
    let share = f64::from(r.pace.rate) / f64::from(LIMIT);
    assert!((0.9..1.0).contains(&share), "{label}: learnt {:?}", r.pace);

    // One episode: nothing refused once the rate was learnt.
    let eps = episodes(&r.log);
    assert_eq!(eps.len(), 1, "{label}: {} episodes", eps.len());

    // Recovery: after the calls in flight when it began, one probe at a
    // time, each gap longer than the one before, never a burst.
    let ep = &eps[0];
    let probes: Vec<Instant> = ep
        .iter()
        .copied()
        .filter(|&t| t - ep[0] > LATENCY * 2)
        .collect();
    for w in probes.windows(3) {
        assert!(w[2] - w[1] > w[1] - w[0], "{label}: probe gaps {w:?}");
    }
    for w in probes.windows(2) {
        assert!(w[1] - w[0] >= first_backoff(WINDOW), "{label}: burst {w:?}");
    }

    // Throughput over the whole run, and once settled (from two windows
    // after the episode on).
    let achieved = calls as f64 / (r.took.as_secs_f64() / WINDOW.as_secs_f64()) / f64::from(LIMIT);
    assert!(
        achieved >= 0.85,
        "{label}: {achieved:.3} of the limit over the run"
    );
    let settled = *ep.last().expect("refusal") + WINDOW * 2;
    let after: Vec<Instant> = r
        .log
        .iter()
        .filter(|&&(t, ok)| ok && t >= settled)
        .map(|&(t, _)| t)
        .collect();
    let span = *after.last().expect("calls") - settled;
    let steady = after.len() as f64 / (span.as_secs_f64() / 60.0) / f64::from(LIMIT);
    assert!(
        steady >= 0.9,
        "{label}: {steady:.3} of the limit once settled"
    );
    eprintln!(
        "{label}: learnt {}/min, {achieved:.3} of the limit over the run, {steady:.3} settled, {} refused",
        r.pace.rate,
        ep.len()
    );
}

#[tokio::test(start_paused = true)]
async fn fixed_window_not_aligned_with_the_first_call() {
    for factor in [1.5, 2.0] {
        storm(Kind::Fixed(Duration::from_secs(17)), factor).await;
    }
}

#[tokio::test(start_paused = true)]
async fn rolling_window() {
    for factor in [1.5, 2.0] {
        storm(Kind::Rolling, factor).await;
    }
}

#[tokio::test(start_paused = true)]
async fn quiet_period_rule() {
    for factor in [1.5, 2.0] {
        storm(Kind::QuietPeriod, factor).await;
    }
}

#[tokio::test(start_paused = true)]
async fn when_the_limit_rises_the_rate_follows_slowly() {
    // Learns 1940/min under a 2000 limit; the limit then rises to 3000.
    let calls = 2000 * 70;
    let r = run(
        Server::new(Kind::Fixed(Duration::from_secs(17)), 2000),
        4000,
        calls,
        Some((4000, 3000)),
    )
    .await;
    let share = f64::from(r.pace.rate) / 3000.0;
    assert!((0.9..1.0).contains(&share), "{:?}", r.pace);
    // The later episodes are tries upward, at most one per wait.
    let eps = episodes(&r.log);
    let minutes = r.took.as_secs() / 60;
    assert!(
        eps.len() <= 3,
        "{} episodes in {minutes} min: {:?}",
        eps.len(),
        eps.iter()
            .map(|e| (e[0] - r.log[0].0).as_secs())
            .collect::<Vec<_>>()
    );
}
