//! Per-address limit on failed logins and invalid tokens: after too many failures in a
//! minute, an address gets 429 until the minute is over.

use super::error::ApiError;
use actix_web::http::StatusCode;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many tracked addresses, expired entries are dropped.
const PRUNE_AT: usize = 10_000;

/// Counts failures per client address in a fixed one-minute window.
#[derive(Debug)]
pub struct FailureLimiter {
    max: u32,
    seen: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl FailureLimiter {
    /// At most `max` failures per address per minute.
    pub fn new(max: u32) -> Self {
        Self {
            max: max.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// 429 if the address used up its failures.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(ip) = ip else { return Ok(()) };
        let blocked = self.seen.lock().is_ok_and(|m| {
            m.get(&ip)
                .is_some_and(|(n, since)| *n >= self.max && since.elapsed() < WINDOW)
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

    /// Counts a failure.
    pub fn fail(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        if let Ok(mut m) = self.seen.lock() {
            if m.len() > PRUNE_AT {
                m.retain(|_, (_, since)| since.elapsed() < WINDOW);
            }
            let entry = m.entry(ip).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= WINDOW {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }
}
