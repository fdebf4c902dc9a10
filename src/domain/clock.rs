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

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;
