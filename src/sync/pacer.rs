//! Pacing of every Snyk call: at most the budget's rate a minute (a governor
//! GCRA limiter with a small burst, so no window ever sees more than the rate
//! plus the burst), at most `max_concurrent_requests` in flight, and one
//! shared backoff after a 429.
//!
//! The rate starts at `snyk.requests_per_minute` and is learnt from 429s
//! ([`super::budget`]): at the first 429 of an episode the pacer runs at just
//! under what Snyk answered in the window before it, and tries upward slowly
//! after a quiet spell. A changed rate takes effect at once (a new limiter).
//!
//! After a 429 without `Retry-After`, nothing says how long Snyk will keep
//! refusing: its v1 window may be fixed (and not aligned with the minute),
//! rolling, or the REST rule (429 until requests stop for a whole interval,
//! every request during the block extending it). So the pacer pauses every
//! call, then lets exactly one *probe* through; each probe refused doubles
//! the pause, from a sixtieth of `snyk.rate_window_secs` (1 s for Snyk's
//! minute) up to the window plus 5 % (so a probe after the longest pause has
//! been quiet for a whole window); the first probe that succeeds resumes
//! everyone. A 429 of a call that was already in flight when the episode
//! began is the same episode, not a new strike. A server's `Retry-After` (or
//! `X-RateLimit-Reset`) sets the pause instead.
//!
//! It never sends anything itself and never sleeps past [`Pacer::close`].

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::{Notify, Semaphore, SemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::budget::{Budget, Pace};

/// Calls that may go out back to back before the steady rate applies.
const BURST: u32 = 5;
/// The shortest first pause after a 429 (for very short test windows).
const MIN_BACKOFF: Duration = Duration::from_millis(10);

/// The first pause after a 429 without `Retry-After`: a sixtieth of the
/// window (1 s for a minute).
pub fn first_backoff(window: Duration) -> Duration {
    (window / 60).max(MIN_BACKOFF)
}

/// The longest pause between two probes: the window and 5 %.
pub fn max_backoff(window: Duration) -> Duration {
    window + window / 20
}

/// The pause before the next probe after `strikes` refused in a row (pure).
pub fn backoff(window: Duration, strikes: u32) -> Duration {
    let exp = strikes.saturating_sub(1).min(16);
    first_backoff(window)
        .saturating_mul(1u32 << exp)
        .min(max_backoff(window))
}

#[derive(Debug)]
struct State {
    paused_until: Option<Instant>,
    /// 429s in a row since the last success (0: no episode).
    strikes: u32,
    /// The probe of the current episode is in flight.
    probe_in_flight: bool,
    /// Bumped by every episode and strike; a permit remembers the epoch it
    /// was granted in, so late 429s of older calls count once.
    epoch: u64,
    budget: Budget,
    /// The budget's rate changed since [`Pacer::take_change`] last looked.
    pace_changed: bool,
}

#[derive(Debug)]
pub struct Pacer {
    limiter: RwLock<Arc<Limiter>>,
    window: Duration,
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

/// The limiter's clock: tokio's, so a paused test runtime is a manual clock
/// for the rate as for the pauses.
#[derive(Debug, Clone)]
struct TokioClock(Instant);

impl governor::clock::Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

#[derive(Debug)]
struct Limiter {
    gcra: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>,
    clock: TokioClock,
}

impl Limiter {
    /// At `per_minute`, with a burst of at most [`BURST`] and at most 2 % of
    /// what the rate puts in one `window` (so the burst never pushes a
    /// window at 0.97 of a limit over it), but 2 where the window holds a
    /// few: with a burst of 1 every late wake-up of the timer is lost rate.
    fn new(per_minute: u32, window: Duration) -> Self {
        let rpm = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let per_window = u64::from(rpm.get()).saturating_mul(window_ms) / 60_000;
        let burst = u32::try_from(per_window / 50)
            .unwrap_or(BURST)
            .clamp(1, BURST);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let clock = TokioClock(Instant::now());
        Self {
            gcra: RateLimiter::direct_with_clock(
                Quota::per_minute(rpm).allow_burst(burst),
                clock.clone(),
            ),
            clock,
        }
    }

    /// Wait for the rate; true when it held the call back.
    async fn until_ready(&self) -> bool {
        let mut held = false;
        while let Err(not_until) = self.gcra.check() {
            use governor::clock::Clock as _;
            held = true;
            tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
        }
        held
    }
}

enum Gate {
    Go { epoch: u64, probe: bool },
    Until(Instant),
    WaitForProbe,
}

impl Pacer {
    /// `window`: `snyk.rate_window_secs`, the interval Snyk counts calls in.
    pub fn new(requests_per_minute: u32, max_concurrent: u32, window: Duration) -> Self {
        let budget = Budget::new(requests_per_minute, window);
        Self {
            limiter: RwLock::new(Arc::new(Limiter::new(
                budget.pace().rate,
                budget.pace().window,
            ))),
            window: budget.pace().window,
            in_flight: Semaphore::new(usize::try_from(max_concurrent.max(1)).unwrap_or(1)),
            state: Mutex::new(State {
                paused_until: None,
                strikes: 0,
                probe_in_flight: false,
                epoch: 0,
                budget,
                pace_changed: false,
            }),
            changed: Notify::new(),
            closed: CancellationToken::new(),
        }
    }

    fn limiter(&self) -> Arc<Limiter> {
        self.limiter
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The budget's rate changed (under the state lock): a new limiter.
    fn retune(&self, st: &mut State) {
        st.pace_changed = true;
        let rate = st.budget.pace().rate;
        *self
            .limiter
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Arc::new(Limiter::new(rate, self.window));
        tracing::info!(
            requests_per_minute = rate,
            reason = st.budget.pace().reason.as_str(),
            "Snyk pacing changed"
        );
    }

    /// The rate in force and why.
    pub fn pace(&self) -> Pace {
        self.lock().budget.pace()
    }

    /// The pace, when it changed since the last look (to store and show).
    pub fn take_change(&self) -> Option<Pace> {
        let mut st = self.lock();
        std::mem::take(&mut st.pace_changed).then(|| st.budget.pace())
    }

    /// Take up a rate learnt before a restart.
    pub fn resume(&self, rate: u32, answered: u32) {
        let mut st = self.lock();
        let before = st.budget.pace().rate;
        st.budget.resume(rate, answered, Instant::now().into_std());
        if st.budget.pace().rate != before {
            self.retune(&mut st);
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
                    let held = self.limiter().until_ready().await;
                    let mut st = self.lock();
                    if held {
                        st.budget.throttled(Instant::now().into_std());
                    }
                    if st.epoch == epoch {
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
                        () = tokio::time::sleep(max_backoff(self.window)) => {}
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
            self.limiter().until_ready().await;
        }
        Some(permit)
    }

    fn report(&self, epoch: u64, probe: bool, outcome: Outcome) {
        let mut st = self.lock();
        let current = epoch == st.epoch;
        match outcome {
            Outcome::Answered => {
                if st.budget.answered(Instant::now().into_std()) {
                    self.retune(&mut st);
                }
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
                    if st.strikes == 0 && st.budget.refused(Instant::now().into_std()) {
                        // A new episode (not a refused probe): learn.
                        self.retune(&mut st);
                    }
                    st.epoch += 1;
                    st.strikes += 1;
                    st.probe_in_flight = false;
                    let pause = wait.unwrap_or_else(|| backoff(self.window, st.strikes));
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
mod tests;

#[cfg(test)]
mod window_kinds;
