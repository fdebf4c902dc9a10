//! The clock is a parameter: domain and engine code receive a [`Clock`], never read the time.

use chrono::{DateTime, SubsecRound, Utc};
use std::fmt::Debug;
use std::sync::Arc;

/// A source of the current time.
pub trait Clock: Send + Sync + Debug {
    /// The current instant, truncated to microseconds (what both databases store).
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place that reads the wall clock"
    )]
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// An instant from RFC 3339 text, for unit tests (the epoch when it does not parse).
#[cfg(test)]
pub(crate) fn instant(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|d| d.to_utc())
        .unwrap_or_default()
}

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;

/// A clock that stands still until moved: for tests and simulations.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(std::sync::Mutex::new(start.trunc_subsecs(6)))
    }

    /// Sets the clock to `at` (forward or back).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = at.trunc_subsecs(6);
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        match self.0.lock() {
            Ok(t) => *t,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}
