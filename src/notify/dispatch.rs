//! Delivery of the outbox: one [`Dispatcher`] per channel (a file each: [`super::email`],
//! [`super::webhook`]), run in passes. A pass claims a batch of the channel's due rows under a
//! lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so instances never take the same rows), hands
//! them to the dispatcher a few at a time, and records each outcome: delivered, retried later
//! with exponential backoff and jitter, or failed (a permanent refusal, or the last attempt)
//! with the reason. A process that dies mid-pass leaves its rows leased; when the lease runs
//! out another pass takes them again, so a delivery can repeat but is never lost, and every
//! delivery carries the row's id for the receiver to drop repeats.

use crate::domain::clock::SharedClock;
use crate::store::Store;
use crate::store::notifications::{self as outbox, Outcome, Outgoing};
use chrono::Duration;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use std::sync::Arc;

/// Why a delivery did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt (a timeout, a busy or unreachable receiver).
    Transient(String),
    /// Never going to work (a refused address, a rejected request).
    Permanent(String),
}

/// Delivers rows of one channel.
pub trait Dispatcher: Send + Sync + std::fmt::Debug {
    /// The channel it delivers.
    fn channel(&self) -> &'static str;
    /// Deliveries in flight at once.
    fn concurrency(&self) -> usize;
    /// Delivers one row.
    fn deliver<'a>(&'a self, row: &'a Outgoing) -> BoxFuture<'a, Result<(), Failure>>;
}

/// How passes claim and retry.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Rows claimed per pass.
    pub batch: i64,
    /// How long a claim holds: a pass that has not recorded its rows by then has died.
    pub lease: Duration,
    /// Attempts before a row fails.
    pub max_attempts: i32,
    /// The first retry's delay; each next one doubles, up to `max_delay`.
    pub base_delay: Duration,
    /// The longest delay between attempts.
    pub max_delay: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            batch: 256,
            lease: Duration::seconds(60),
            max_attempts: 8,
            base_delay: Duration::seconds(5),
            max_delay: Duration::hours(1),
        }
    }
}

impl Policy {
    /// The delay before the next attempt after `attempts` failed ones (jittered:
    /// [`crate::domain::backoff`]).
    pub fn backoff(&self, attempts: i32) -> Duration {
        let std = |d: Duration| d.to_std().unwrap_or_default();
        let wait = crate::domain::backoff::jittered(
            std(self.base_delay),
            std(self.max_delay),
            attempts.saturating_add(1).max(1).unsigned_abs(),
        );
        Duration::from_std(wait).unwrap_or(self.max_delay)
    }
}

/// A row's index in the pass and the outcome of its delivery (none: not attempted, its lease
/// ran short).
type Attempt = (usize, Option<Result<(), Failure>>);

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Rows claimed (some may be left unattempted when the lease ran short).
    pub claimed: usize,
    /// Delivered.
    pub delivered: usize,
    /// To be retried.
    pub retried: usize,
    /// Given up.
    pub failed: usize,
}

impl std::ops::AddAssign for Report {
    fn add_assign(&mut self, o: Self) {
        self.claimed += o.claimed;
        self.delivered += o.delivered;
        self.retried += o.retried;
        self.failed += o.failed;
    }
}

/// One pass of `dispatcher` as `owner`.
pub async fn pass(
    store: &Store,
    dispatcher: &dyn Dispatcher,
    policy: &Policy,
    owner: &str,
    clock: &SharedClock,
) -> Result<Report, crate::store::StoreError> {
    let now = clock.now().naive_utc();
    let (channel, who, limit) = (dispatcher.channel(), owner.to_owned(), policy.batch);
    let until = now + policy.lease;
    let rows = store
        .run(move |conn| outbox::claim(conn, channel, &who, now, until, limit))
        .await?;
    if rows.is_empty() {
        return Ok(Report::default());
    }
    // Boxed one by one (rather than mapped lazily), so the pass's future is `Send` for any
    // lifetime of the rows, as a spawned task needs.
    // A row whose lease is about to run out (a slow pass) is left alone: another pass may take
    // it once the lease has run out, and two passes must not send it at once.
    let margin = policy.lease / 4;
    let deliveries: Vec<BoxFuture<'_, Attempt>> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            Box::pin(async move {
                if clock.now().naive_utc() + margin >= until {
                    return (i, None);
                }
                (i, Some(dispatcher.deliver(row).await))
            }) as BoxFuture<'_, Attempt>
        })
        .collect();
    let results: Vec<(usize, Result<(), Failure>)> = futures_util::stream::iter(deliveries)
        .buffer_unordered(dispatcher.concurrency().max(1))
        .filter_map(|(i, r)| async move { r.map(|r| (i, r)) })
        .collect()
        .await;
    let done = clock.now().naive_utc();
    let mut report = Report {
        claimed: rows.len(),
        ..Report::default()
    };
    let outcomes: Vec<(usize, Outcome)> = results
        .into_iter()
        .map(|(i, r)| {
            let row = &rows[i];
            let outcome = match r {
                Ok(()) => Outcome::Delivered,
                Err(Failure::Permanent(e)) => Outcome::Failed(e),
                Err(Failure::Transient(e)) if row.attempts + 1 >= policy.max_attempts => {
                    Outcome::Failed(format!("{e} (after {} attempts)", row.attempts + 1))
                }
                Err(Failure::Transient(e)) => {
                    Outcome::Retry(done + policy.backoff(row.attempts), e)
                }
            };
            match &outcome {
                Outcome::Delivered => report.delivered += 1,
                Outcome::Retry(..) => report.retried += 1,
                Outcome::Failed(e) => {
                    tracing::warn!(id = %row.id, channel, error = %e, "notification failed");
                    report.failed += 1;
                }
            }
            (i, outcome)
        })
        .collect();
    let who = owner.to_owned();
    store
        .run(move |conn| {
            let pairs: Vec<(&Outgoing, Outcome)> =
                outcomes.into_iter().map(|(i, o)| (&rows[i], o)).collect();
            outbox::record(conn, &who, done, &pairs).map_err(crate::store::StoreError::from)
        })
        .await?;
    let m = crate::metrics::get();
    for (outcome, n) in [
        ("delivered", report.delivered),
        ("retried", report.retried),
        ("failed", report.failed),
    ] {
        if n > 0 {
            m.deliveries
                .get_or_create(&crate::metrics::DeliveryLabels {
                    channel: channel.to_owned(),
                    outcome: outcome.to_owned(),
                })
                .inc_by(n as u64);
        }
    }
    Ok(report)
}

/// Passes until a pass finds nothing due; the total.
pub async fn drain(
    store: &Store,
    dispatcher: &dyn Dispatcher,
    policy: &Policy,
    owner: &str,
    clock: &SharedClock,
) -> Result<Report, crate::store::StoreError> {
    let mut total = Report::default();
    loop {
        let r = pass(store, dispatcher, policy, owner, clock).await?;
        total += r;
        if r.claimed == 0 || r.delivered + r.failed == 0 {
            return Ok(total);
        }
    }
}

/// Runs a pass of each dispatcher every `poll` until the server stops, each as a worker
/// named `notify_{channel}`; a full batch is followed at once by the next, so a backlog
/// drains at full speed.
pub fn spawn(
    workers: &crate::workers::Workers,
    store: Store,
    dispatchers: Vec<Arc<dyn Dispatcher>>,
    policy: Policy,
    owner: String,
    clock: SharedClock,
    poll: std::time::Duration,
) {
    use crate::workers::{Pass, Start};
    for d in dispatchers {
        let (store, owner, clock, policy) = (store.clone(), owner.clone(), clock.clone(), policy);
        let name = format!("notify_{}", d.channel());
        workers.spawn(&name, poll, Start::Now, move || {
            let (store, owner, clock, policy, d) = (
                store.clone(),
                owner.clone(),
                clock.clone(),
                policy,
                d.clone(),
            );
            async move {
                match pass(&store, d.as_ref(), &policy, &owner, &clock).await {
                    Ok(r) if r.claimed as i64 >= policy.batch => Pass::More,
                    Ok(r) => {
                        if r.claimed > 0 {
                            tracing::info!(
                                channel = d.channel(),
                                delivered = r.delivered,
                                retried = r.retried,
                                failed = r.failed,
                                "notifications sent"
                            );
                        }
                        Pass::Idle
                    }
                    Err(e) => {
                        tracing::error!(channel = d.channel(), error = %e, "notification pass failed");
                        Pass::Failed(e.to_string())
                    }
                }
            }
        });
    }
}
