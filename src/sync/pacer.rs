//! Pacing of every Snyk call: at most `requests_per_minute` a minute (a
//! governor GCRA limiter with a small burst, so no 60-second window ever sees
//! more than the limit plus the burst), at most `max_concurrent_requests` in
//! flight, and one shared backoff after a 429.
//!
//! After a 429 without `Retry-After`, nothing says how long Snyk will keep
//! refusing: its v1 window may be fixed (and not aligned with the minute),
//! rolling, or the REST rule (429 until requests stop for a whole interval,
//! every request during the block extending it). So the pacer pauses every
//! call, then lets exactly one *probe* through; each probe refused doubles
//! the pause (1 s, 2 s, 4 s, ... 60 s); the first probe that succeeds
//! resumes everyone. A 429 of a call that was already in flight when the
//! episode began is the same episode, not a new strike. A server's
//! `Retry-After` (or `X-RateLimit-Reset`) sets the pause instead.
//!
//! It never sends anything itself and never sleeps past [`Pacer::close`].

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Notify, Semaphore, SemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Calls that may go out back to back before the steady rate applies.
const BURST: u32 = 5;
/// The first pause after a 429 without `Retry-After`.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between two probes.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The pause before the next probe after `strikes` refused in a row (pure).
pub fn backoff(strikes: u32) -> Duration {
    let exp = strikes.saturating_sub(1).min(16);
    FIRST_BACKOFF.saturating_mul(1u32 << exp).min(MAX_BACKOFF)
}

#[derive(Debug, Default)]
struct State {
    paused_until: Option<Instant>,
    /// 429s in a row since the last success (0: no episode).
    strikes: u32,
    /// The probe of the current episode is in flight.
    probe_in_flight: bool,
    /// Bumped by every episode and strike; a permit remembers the epoch it
    /// was granted in, so late 429s of older calls count once.
    epoch: u64,
}

#[derive(Debug)]
pub struct Pacer {
    limiter: DefaultDirectRateLimiter,
    in_flight: Semaphore,
    state: Mutex<State>,
    changed: Notify,
    closed: CancellationToken,
}

/// How a paced call ended, as far as pacing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Snyk answered (anything but 429).
    Answered,
    /// 429, with the server's wait if it gave one.
    RateLimited(Option<Duration>),
    /// No answer (timeout, connection error).
    NoAnswer,
}

/// A slot for one call; report how it ended with [`Permit::done`].
#[derive(Debug)]
pub struct Permit<'a> {
    pacer: &'a Pacer,
    _slot: SemaphorePermit<'a>,
    epoch: u64,
    probe: bool,
    reported: bool,
}

impl Permit<'_> {
    /// Tell the pacer how the call ended.
    pub fn done(mut self, outcome: Outcome) {
        self.reported = true;
        self.pacer.report(self.epoch, self.probe, outcome);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported && self.probe {
            // The probe was abandoned: let another one go.
            self.pacer.report(self.epoch, true, Outcome::NoAnswer);
        }
    }
}

enum Gate {
    Go { epoch: u64, probe: bool },
    Until(Instant),
    WaitForProbe,
}

impl Pacer {
    pub fn new(requests_per_minute: u32, max_concurrent: u32) -> Self {
        let rpm = NonZeroU32::new(requests_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(BURST.min(rpm.get())).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::direct(Quota::per_minute(rpm).allow_burst(burst)),
            in_flight: Semaphore::new(usize::try_from(max_concurrent.max(1)).unwrap_or(1)),
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            closed: CancellationToken::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wait for a slot: a free concurrency permit, the end of any pause (or
    /// the probe's turn), and the rate limiter. `None` once closed.
    pub async fn acquire(&self) -> Option<Permit<'_>> {
        tokio::select! {
            biased;
            () = self.closed.cancelled() => None,
            p = self.acquire_open() => p,
        }
    }

    async fn acquire_open(&self) -> Option<Permit<'_>> {
        let slot = self.in_flight.acquire().await.ok()?;
        let (epoch, probe) = loop {
            let notified = self.changed.notified();
            let gate = {
                let mut st = self.lock();
                match st.paused_until {
                    Some(t) if t > Instant::now() => Gate::Until(t),
                    _ if st.strikes > 0 && st.probe_in_flight => Gate::WaitForProbe,
                    _ if st.strikes > 0 => {
                        st.probe_in_flight = true;
                        Gate::Go {
                            epoch: st.epoch,
                            probe: true,
                        }
                    }
                    _ => Gate::Go {
                        epoch: st.epoch,
                        probe: false,
                    },
                }
            };
            match gate {
                Gate::Go { epoch, probe: true } => break (epoch, true),
                Gate::Go {
                    epoch,
                    probe: false,
                } => {
                    // Wait for the rate limiter *before* going: a 429 episode
                    // that begins meanwhile holds this call too (never a
                    // burst after a 429).
                    self.limiter.until_ready().await;
                    if self.lock().epoch == epoch {
                        break (epoch, false);
                    }
                }
                Gate::Until(t) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(t) => {}
                        () = notified => {}
                    }
                }
                Gate::WaitForProbe => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep(MAX_BACKOFF) => {}
                    }
                }
            }
        };
        let permit = Permit {
            pacer: self,
            _slot: slot,
            epoch,
            probe,
            reported: false,
        };
        if probe {
            self.limiter.until_ready().await;
        }
        Some(permit)
    }

    fn report(&self, epoch: u64, probe: bool, outcome: Outcome) {
        let mut st = self.lock();
        let current = epoch == st.epoch;
        match outcome {
            Outcome::Answered => {
                if current && st.strikes > 0 {
                    st.strikes = 0;
                    st.probe_in_flight = false;
                    // A pause set meanwhile by something else (a rejected
                    // token, a server's wait) still stands.
                    if st.paused_until.is_some_and(|t| t <= Instant::now()) {
                        st.paused_until = None;
                    }
                    self.changed.notify_waiters();
                }
            }
            Outcome::RateLimited(wait) => {
                if current {
                    st.epoch += 1;
                    st.strikes += 1;
                    st.probe_in_flight = false;
                    let pause = wait.unwrap_or_else(|| backoff(st.strikes));
                    let until = Instant::now() + pause;
                    st.paused_until = Some(st.paused_until.map_or(until, |p| p.max(until)));
                    tracing::warn!(
                        pause_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                        strikes = st.strikes,
                        "Snyk answered 429: every call waits, then one probe at a time"
                    );
                    self.changed.notify_waiters();
                } else if let Some(w) = wait {
                    let until = Instant::now() + w;
                    st.paused_until = Some(st.paused_until.map_or(until, |p| p.max(until)));
                }
            }
            Outcome::NoAnswer => {
                if probe && current {
                    st.probe_in_flight = false;
                    self.changed.notify_waiters();
                }
            }
        }
    }

    /// Stop all calls for `d` (extends a shorter pause, never shortens one).
    pub fn pause_for(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut st = self.lock();
        if st.paused_until.is_none_or(|cur| cur < until) {
            st.paused_until = Some(until);
        }
    }

    /// Remaining pause, if any.
    pub fn paused_for(&self) -> Option<Duration> {
        let until = self.lock().paused_until?;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// Refuse every slot from now on (the worker is stopping); waiters wake.
    pub fn close(&self) {
        self.closed.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_minute() {
        let s: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(s, vec![1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_caller() {
        let p = Pacer::new(6000, 2);
        p.pause_for(Duration::from_secs(30));
        let start = Instant::now();
        let permit = p.acquire().await;
        assert!(permit.is_some());
        assert!(start.elapsed() >= Duration::from_secs(30));
        assert!(p.paused_for().is_none());
    }

    #[tokio::test]
    async fn concurrency_is_bounded() {
        let p = Pacer::new(6000, 2);
        let a = p.acquire().await;
        let b = p.acquire().await;
        assert!(a.is_some() && b.is_some());
        let third = tokio::time::timeout(Duration::from_millis(50), p.acquire()).await;
        assert!(third.is_err(), "a third call must wait for a permit");
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_429_one_probe_at_a_time_at_growing_intervals() {
        let p = Pacer::new(60_000, 10);
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
        assert!(start.elapsed() >= FIRST_BACKOFF && start.elapsed() < backoff(2));
        assert!(probe.probe);
        let second = tokio::time::timeout(Duration::from_secs(100), p.acquire()).await;
        assert!(second.is_err(), "no second call while the probe is out");
        // Refused: the next probe waits twice as long.
        probe.done(Outcome::RateLimited(None));
        let t = Instant::now();
        let probe = p.acquire().await.expect("probe 2");
        assert!(t.elapsed() >= backoff(2) && t.elapsed() < backoff(3));
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
        let p = Pacer::new(60_000, 10);
        let a = p.acquire().await.expect("a");
        let start = Instant::now();
        a.done(Outcome::RateLimited(Some(Duration::from_secs(7))));
        let _probe = p.acquire().await.expect("probe");
        assert!(start.elapsed() >= Duration::from_secs(7));
        assert!(start.elapsed() < Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_lets_another_go() {
        let p = Pacer::new(60_000, 10);
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
        let p = Pacer::new(60_000, 10);
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
        let p = std::sync::Arc::new(Pacer::new(6000, 1));
        let held = p.acquire().await;
        assert!(held.is_some());
        let p2 = p.clone();
        let waiter = tokio::spawn(async move { p2.acquire().await.is_none() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        p.close();
        assert!(waiter.await.expect("join"));
    }
}
