//! Retry policy for failed operations: how long to wait before trying again,
//! and when to give up (the 429 backoff shared by every call is in
//! `sync::pacer`). Pure: the caller passes the attempt number, the time and a
//! jitter fraction, so the schedule is tested without sleeping.

use std::time::Duration;

/// First retry after this long.
pub const BASE: Duration = Duration::from_secs(2);
/// Never wait longer than this between two attempts.
pub const CAP: Duration = Duration::from_secs(15 * 60);

/// Exponential backoff with jitter: `BASE * 2^(attempt-1)`, capped, then
/// spread by `jitter` (0.0..=1.0) over +-20 %. A server's `Retry-After`, when
/// longer, wins.
pub fn next_delay(attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let raw = BASE.saturating_mul(1u32 << exp).min(CAP);
    let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    let spread = Duration::from_secs_f64(raw.as_secs_f64() * factor);
    match retry_after {
        Some(r) if r > spread => r,
        _ => spread,
    }
}

/// Whether an operation that first failed at `first_failure_ms` should go to
/// the dead-letter state at `now_ms`.
pub fn is_dead(first_failure_ms: i64, now_ms: i64, max_total: Duration) -> bool {
    let max_ms = i64::try_from(max_total.as_millis()).unwrap_or(i64::MAX);
    now_ms.saturating_sub(first_failure_ms) >= max_ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn backoff_doubles_then_caps() {
        let d: Vec<u64> = (1..=12)
            .map(|a| next_delay(a, None, 0.5).as_secs())
            .collect();
        assert_eq!(d, vec![2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]);
    }

    #[test]
    fn retry_after_wins_when_longer() {
        assert_eq!(
            next_delay(1, Some(Duration::from_secs(30)), 0.5),
            Duration::from_secs(30)
        );
        assert_eq!(
            next_delay(5, Some(Duration::from_secs(1)), 0.5),
            Duration::from_secs(32)
        );
    }

    #[test]
    fn dead_after_the_total_time() {
        let day = Duration::from_secs(86_400);
        assert!(!is_dead(0, 86_399_999, day));
        assert!(is_dead(0, 86_400_000, day));
    }

    proptest! {
        #[test]
        fn jitter_stays_within_20_percent(attempt in 1u32..40, jitter in 0.0f64..=1.0) {
            let d = next_delay(attempt, None, jitter).as_secs_f64();
            let nominal = next_delay(attempt, None, 0.5).as_secs_f64();
            prop_assert!(d >= nominal * 0.8 - 1e-9 && d <= nominal * 1.2 + 1e-9);
            prop_assert!(d <= CAP.as_secs_f64() * 1.2 + 1e-9);
        }
    }
}
