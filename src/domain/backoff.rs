//! Exponential backoff with "equal jitter": retry `n` waits between half and all of
//! `first · 2^(n-1)`, at most `max`, so retries of many things that failed together spread out
//! instead of arriving together. The register client, the timer worker and the notification
//! dispatchers all wait by it.

use std::time::Duration;

/// The wait before retry `retry` (1 for the first), with `unit` in `0.0..=1.0` choosing where
/// in the jittered half it falls (random in use, fixed in tests).
pub fn delay(first: Duration, max: Duration, retry: u32, unit: f64) -> Duration {
    let full = first
        .saturating_mul(1u32 << retry.saturating_sub(1).min(24))
        .min(max);
    let half = full / 2;
    half + full.saturating_sub(half).mul_f64(unit.clamp(0.0, 1.0))
}

/// [`delay`] with a random `unit`.
pub fn jittered(first: Duration, max: Duration, retry: u32) -> Duration {
    delay(first, max, retry, rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_within_the_cap() {
        let (first, max) = (Duration::from_secs(2), Duration::from_secs(60));
        let ms = |n, u| delay(first, max, n, u).as_millis();
        assert_eq!((ms(1, 0.0), ms(1, 1.0)), (1_000, 2_000));
        assert_eq!((ms(2, 0.0), ms(2, 1.0)), (2_000, 4_000));
        assert_eq!(ms(4, 0.5), 12_000);
        // Capped, and no overflow however many retries.
        assert_eq!((ms(11, 0.0), ms(11, 1.0)), (30_000, 60_000));
        assert_eq!(ms(u32::MAX, 1.0), 60_000);
    }
}
