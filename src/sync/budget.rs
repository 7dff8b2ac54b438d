//! The Snyk budget the bridge has learnt from 429s: the rate (calls a
//! minute) the pacer lets out, and why.
//!
//! `snyk.requests_per_minute` is what the operator believes the token may
//! spend; the token's real budget may be lower (shared with another tool, or
//! a limit Snyk added without notice). At the first 429 of an episode the
//! calls Snyk *answered* in the `snyk.rate_window_secs` before it are what the
//! window really holds; the bridge then runs at [`MARGIN`] of that (and at
//! least three calls a window below it, for windows that hold few calls), so
//! it settles just under the real limit with no further 429 in steady state.
//! That count is evidence only when the bridge was sending as fast as its
//! rate let it (the limiter held a call back in the last quarter window);
//! when it was not (a 429 caused by someone else's calls while the bridge
//! sent a few), one episode at most halves the rate. Every episode
//! lowers the rate by at least `1 - MARGIN`, so repeated 429s converge.
//!
//! Upward, slowly: after [`FIRST_RAISE_AFTER`] windows at a learnt rate with
//! the bridge actually using it, the rate rises by 5 % a window toward the
//! configured rate. A 429 on the way up learns again; when the limit turned
//! out not to have moved, the next try upward waits twice as long (up to
//! [`MAX_RAISE_AFTER`] windows), so a bridge configured above its limit
//! spends at most one 429 episode per such wait.
//!
//! Pure: no I/O and no clock of its own (every method takes `now`); it never
//! sends, sleeps or logs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Share of the learnt limit the bridge runs at.
pub const MARGIN: f64 = 0.97;
/// Windows at a learnt rate, with the bridge using it, before it tries upward.
pub const FIRST_RAISE_AFTER: u32 = 30;
/// The longest wait between two tries upward, in windows (8 hours of
/// Snyk's minute).
pub const MAX_RAISE_AFTER: u32 = 480;
/// Each step upward, in percent of the current rate.
const STEP_PERCENT: u64 = 5;
/// A step upward needs the bridge to have used this share of its rate in the
/// last window (no evidence is gathered at a rate nobody uses).
const BUSY: f64 = 0.8;

/// Why the pacer runs at its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No 429 seen (or the rate rose back): `snyk.requests_per_minute`.
    Configured,
    /// Learnt at a 429: `answered` calls were answered in the window before it.
    Learnt { answered: u32 },
    /// Trying upward toward the configured rate after a quiet spell; the
    /// last learnt window held `answered` calls.
    Raising { answered: u32 },
}

impl Reason {
    /// The bounded name shown in `status` and `/status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configured => "configured",
            Self::Learnt { .. } => "learnt",
            Self::Raising { .. } => "raising",
        }
    }

    /// The calls answered in the window of the last learnt 429, if any.
    pub fn answered(self) -> Option<u32> {
        match self {
            Self::Configured => None,
            Self::Learnt { answered } | Self::Raising { answered } => Some(answered),
        }
    }
}

/// What the budget says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub configured: u32,
    pub rate: u32,
    pub reason: Reason,
    pub window: Duration,
}

#[derive(Debug, Clone)]
pub struct Budget {
    configured: u32,
    window: Duration,
    rate: u32,
    reason: Reason,
    /// The learnt limit in calls a minute (`None` before any 429).
    limit: Option<u32>,
    /// When each call of the last window was answered.
    answered: VecDeque<Instant>,
    /// When the rate last held a call back.
    throttled: Option<Instant>,
    /// Windows before the next try upward.
    raise_after: u32,
    next_raise: Option<Instant>,
}

impl Budget {
    pub fn new(configured: u32, window: Duration) -> Self {
        let configured = configured.max(1);
        Self {
            configured,
            window: window.max(Duration::from_millis(1)),
            rate: configured,
            reason: Reason::Configured,
            limit: None,
            answered: VecDeque::new(),
            throttled: None,
            raise_after: FIRST_RAISE_AFTER,
            next_raise: None,
        }
    }

    pub fn pace(&self) -> Pace {
        Pace {
            configured: self.configured,
            rate: self.rate,
            reason: self.reason,
            window: self.window,
        }
    }

    /// Take up a rate learnt earlier (a restart): the budget starts there and
    /// tries upward as after a 429 at `now`.
    pub fn resume(&mut self, rate: u32, answered: u32, now: Instant) {
        if rate == 0 || rate >= self.configured {
            return;
        }
        self.rate = rate;
        self.limit = Some(self.per_minute(answered));
        self.reason = Reason::Learnt { answered };
        self.next_raise = Some(now + self.window * self.raise_after);
    }

    /// Calls a window's count makes a minute.
    fn per_minute(&self, in_window: u32) -> u32 {
        let per_min = f64::from(in_window) * 60.0 / self.window.as_secs_f64();
        clamp_u32(per_min)
    }

    fn trim(&mut self, now: Instant) {
        while self
            .answered
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= self.window)
        {
            self.answered.pop_front();
        }
    }

    fn in_window(&self) -> u32 {
        u32::try_from(self.answered.len()).unwrap_or(u32::MAX)
    }

    /// The rate held a call back: the bridge has more to send than its rate.
    pub fn throttled(&mut self, now: Instant) {
        self.throttled = Some(now);
    }

    /// Was the bridge sending as fast as its rate let it, just before `now`?
    /// Then what Snyk answered in the window is the limit, not a sample.
    fn was_busy(&self, now: Instant) -> bool {
        self.throttled
            .is_some_and(|t| now.saturating_duration_since(t) <= self.window / 4)
    }

    /// Snyk answered a call (anything but 429). Returns true when the rate
    /// changed (a step upward).
    pub fn answered(&mut self, now: Instant) -> bool {
        self.answered.push_back(now);
        self.trim(now);
        let Some(due) = self.next_raise else {
            return false;
        };
        if now < due {
            return false;
        }
        if !self.was_busy(now)
            || f64::from(self.per_minute(self.in_window())) < f64::from(self.rate) * BUSY
        {
            // Not using the rate it has: no evidence either way; look again
            // in a window.
            self.next_raise = Some(now + self.window);
            return false;
        }
        let step = (u64::from(self.rate) * STEP_PERCENT / 100).max(1);
        let raised = u64::from(self.rate).saturating_add(step);
        if raised >= u64::from(self.configured) {
            self.rate = self.configured;
            self.reason = Reason::Configured;
            self.limit = None;
            self.raise_after = FIRST_RAISE_AFTER;
            self.next_raise = None;
        } else {
            self.rate = u32::try_from(raised).unwrap_or(self.configured);
            let answered = self.reason.answered().unwrap_or_default();
            self.reason = Reason::Raising { answered };
            self.next_raise = Some(now + self.window);
        }
        true
    }

    /// The first 429 of an episode (not a refused probe). Learns the limit
    /// from the calls answered in the window before it; returns true when
    /// the rate changed (it always goes down unless already at 1).
    pub fn refused(&mut self, now: Instant) -> bool {
        self.trim(now);
        let n = self.in_window();
        let limit = self.per_minute(n);
        let rate = f64::from(self.rate);
        // MARGIN of the window, and at least three calls of it to spare: the
        // limiter's burst (2 when a window holds few calls) and the fence
        // post (a window of length T at a steady rate r holds up to r*T + 1
        // calls) matter when a window holds few calls.
        let per_window = (f64::from(n) * MARGIN).min(f64::from(n) - 3.0).max(1.0);
        let mut learnt = per_window * 60.0 / self.window.as_secs_f64();
        if !self.was_busy(now) {
            learnt = learnt.max(rate / 2.0);
        }
        let learnt = learnt.min(rate * MARGIN).floor();
        let learnt = clamp_u32(learnt).max(1);
        self.raise_after = match (self.reason, self.limit) {
            // A try upward failed: if the window held no more than before,
            // the limit has not moved; wait twice as long next time.
            (Reason::Raising { .. }, Some(old)) if f64::from(limit) <= f64::from(old) * 1.02 => {
                (self.raise_after.saturating_mul(2)).min(MAX_RAISE_AFTER)
            }
            _ => FIRST_RAISE_AFTER,
        };
        self.limit = Some(limit);
        self.reason = Reason::Learnt { answered: n };
        self.next_raise = Some(now + self.window * self.raise_after);
        let changed = learnt != self.rate;
        self.rate = learnt;
        changed
    }
}

fn clamp_u32(x: f64) -> u32 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        // In range and non-negative: the cast only drops the fraction.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let v = x as u32;
        v
    }
}

#[cfg(test)]
mod tests;
