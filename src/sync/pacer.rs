//! Pacing of every Snyk call: at most `requests_per_minute` a minute (a
//! governor GCRA limiter with a small burst, so no 60-second window ever sees
//! more than the limit plus the burst), at most `max_concurrent_requests` in
//! flight, and a shared pause after a 429 or a rejected token.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// Calls that may go out back to back before the steady rate applies.
const BURST: u32 = 5;

#[derive(Debug)]
pub struct Pacer {
    limiter: DefaultDirectRateLimiter,
    in_flight: Semaphore,
    paused_until: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(requests_per_minute: u32, max_concurrent: u32) -> Self {
        let rpm = NonZeroU32::new(requests_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(BURST.min(rpm.get())).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::direct(Quota::per_minute(rpm).allow_burst(burst)),
            in_flight: Semaphore::new(usize::try_from(max_concurrent.max(1)).unwrap_or(1)),
            paused_until: Mutex::new(None),
        }
    }

    /// Wait for a slot: a free concurrency permit, the end of any pause, and
    /// the rate limiter. Hold the permit while the call is in flight.
    pub async fn acquire(&self) -> Option<SemaphorePermit<'_>> {
        let permit = self.in_flight.acquire().await.ok()?;
        loop {
            let until = self.paused_until.lock().ok().and_then(|p| *p);
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        self.limiter.until_ready().await;
        Some(permit)
    }

    /// Stop all calls for `d` (extends a shorter pause, never shortens one).
    pub fn pause_for(&self, d: Duration) {
        let until = Instant::now() + d;
        if let Ok(mut p) = self.paused_until.lock() {
            if p.is_none_or(|cur| cur < until) {
                *p = Some(until);
            }
        }
    }

    /// Remaining pause, if any.
    pub fn paused_for(&self) -> Option<Duration> {
        let until = self.paused_until.lock().ok().and_then(|p| *p)?;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
