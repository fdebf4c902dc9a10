//! Per-address limit on failed logins and invalid tokens: after too many failures in a
//! minute, an address gets 429 until the minute is over. Windows are measured on the
//! server's clock, like every other time check.

use super::error::ApiError;
use actix_web::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

const WINDOW: Duration = Duration::seconds(60);
/// Above this many tracked addresses, expired entries are dropped.
const PRUNE_AT: usize = 10_000;

/// Counts failures per client address in a fixed one-minute window.
#[derive(Debug)]
pub struct FailureLimiter {
    max: u32,
    seen: Mutex<HashMap<IpAddr, (u32, DateTime<Utc>)>>,
}

impl FailureLimiter {
    /// At most `max` failures per address per minute.
    pub fn new(max: u32) -> Self {
        Self {
            max: max.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// 429 if the address used up its failures in the window open at `now`.
    pub fn check(&self, ip: Option<IpAddr>, now: DateTime<Utc>) -> Result<(), ApiError> {
        let Some(ip) = ip else { return Ok(()) };
        let blocked = self.seen.lock().is_ok_and(|m| {
            m.get(&ip)
                .is_some_and(|(n, since)| *n >= self.max && now - *since < WINDOW)
        });
        if blocked {
            Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Слишком много неудачных попыток входа с вашего адреса: подождите минуту",
            )
            .with_retry_after(60))
        } else {
            Ok(())
        }
    }

    /// Counts a failure at `now`.
    pub fn fail(&self, ip: Option<IpAddr>, now: DateTime<Utc>) {
        let Some(ip) = ip else { return };
        if let Ok(mut m) = self.seen.lock() {
            if m.len() > PRUNE_AT {
                m.retain(|_, (_, since)| now - *since < WINDOW);
            }
            let entry = m.entry(ip).or_insert((0, now));
            if now - entry.1 >= WINDOW {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_measured_on_the_given_clock() {
        let limiter = FailureLimiter::new(2);
        let ip = Some(IpAddr::from([192, 0, 2, 7]));
        let t0 = crate::domain::clock::instant("2041-05-05T10:00:00Z");
        limiter.fail(ip, t0);
        assert!(limiter.check(ip, t0).is_ok(), "one failure of two allowed");
        limiter.fail(ip, t0 + Duration::seconds(10));
        assert!(
            limiter.check(ip, t0 + Duration::seconds(59)).is_err(),
            "used up"
        );
        assert!(
            limiter.check(ip, t0 + Duration::seconds(60)).is_ok(),
            "the window ends a minute after its first failure, on the clock"
        );
        limiter.fail(ip, t0 + Duration::seconds(61));
        assert!(
            limiter.check(ip, t0 + Duration::seconds(62)).is_ok(),
            "a new window counts from zero"
        );
    }
}
