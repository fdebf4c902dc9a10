//! Metrics in the Prometheus/OpenMetrics text format (`prometheus-client`), served at
//! `/metrics`.
//!
//! Counters of what happens in the process are kept here; what the database knows (the outbox
//! backlog, register sync progress) and the pool's state are read when `/metrics` is asked.
//! What a case commit records (transitions, SLA breaches, timer lateness) is staged on the
//! thread running the transaction and counted only when it commits ([`stage_commit`]).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::cell::RefCell;
use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

/// `method`, `route` (the template, `unmatched` for none) and `status` of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// HTTP method.
    pub method: String,
    /// Route template.
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// A workflow and one of its states.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// Workflow id.
    pub workflow: String,
    /// State.
    pub state: String,
}

/// A guard and the code of its refusal.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GuardLabels {
    /// Guard name.
    pub guard: String,
    /// Refusal code.
    pub code: String,
}

/// A label of one value: a channel, an outcome, a kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct One {
    /// The value.
    pub value: String,
}

/// A notification channel and what became of an attempt.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// Channel.
    pub channel: String,
    /// `delivered`, `retried` or `failed`.
    pub outcome: String,
}

/// An inspection's outcome (`accepted`, a refusal code, `busy`, `unavailable`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// Outcome.
    pub outcome: String,
}

/// A timer's action and what firing it did.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TimerLabels {
    /// `transition`, `escalate`, `warn`.
    pub action: String,
}

fn seconds_buckets() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn lateness_buckets() -> Histogram {
    // 10 ms to about 1.5 h.
    Histogram::new(exponential_buckets(0.01, 2.0, 20))
}

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    /// Request latency by route and status.
    pub http: Family<HttpLabels, Histogram, fn() -> Histogram>,
    /// Transitions committed, by workflow and the state entered.
    pub transitions: Family<StateLabels, Counter>,
    /// Guard refusals by guard and code.
    pub guard_refusals: Family<GuardLabels, Counter>,
    /// Deadline breaches committed, by workflow and state.
    pub sla_breaches: Family<StateLabels, Counter>,
    /// Timers fired, by action.
    pub timers_fired: Family<TimerLabels, Counter>,
    /// How late timers fired, by action.
    pub timer_lateness: Family<TimerLabels, Histogram, fn() -> Histogram>,
    /// Notification attempts by channel and outcome.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Notifications waiting to go out, by channel (read at scrape).
    pub outbox_pending: Family<One, Gauge>,
    /// Age of the oldest waiting notification, by channel (read at scrape).
    pub outbox_oldest_seconds: Family<One, Gauge<f64, AtomicU64>>,
    /// Inspections by outcome.
    pub inspections: Family<OutcomeLabels, Counter>,
    /// Inspection time by outcome.
    pub inspection_seconds: Family<OutcomeLabels, Histogram, fn() -> Histogram>,
    /// The latest register sync's counts (`read`, `inserted`, ...; read at scrape).
    pub registry_records: Family<One, Gauge>,
    /// Whether the latest register sync is still running (read at scrape).
    pub registry_running: Gauge,
    /// When the latest register sync started, Unix seconds (read at scrape).
    pub registry_started: Gauge,
    /// Database connections open and idle (read at scrape).
    pub pool_connections: Family<One, Gauge>,
    /// Pool size.
    pub pool_max: Gauge,
    /// Time to get a pooled connection.
    pub pool_wait: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("accredo");
        let http = Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            seconds_buckets,
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route and status",
            http.clone(),
        );
        let transitions = Family::<StateLabels, Counter>::default();
        registry.register(
            "transitions",
            "Transitions committed, by workflow and the state entered",
            transitions.clone(),
        );
        let guard_refusals = Family::<GuardLabels, Counter>::default();
        registry.register(
            "guard_refusals",
            "Transitions refused by a guard, by guard and code",
            guard_refusals.clone(),
        );
        let sla_breaches = Family::<StateLabels, Counter>::default();
        registry.register(
            "sla_breaches",
            "Deadlines breached, by workflow and state",
            sla_breaches.clone(),
        );
        let timers_fired = Family::<TimerLabels, Counter>::default();
        registry.register(
            "timers_fired",
            "Timers fired, by action",
            timers_fired.clone(),
        );
        let timer_lateness =
            Family::<TimerLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                lateness_buckets,
            );
        registry.register(
            "timer_lateness_seconds",
            "How long after its due time a timer fired",
            timer_lateness.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "notification_deliveries",
            "Notification delivery attempts, by channel and outcome",
            deliveries.clone(),
        );
        let outbox_pending = Family::<One, Gauge>::default();
        registry.register(
            "outbox_pending",
            "Notifications waiting to be delivered, by channel (label value)",
            outbox_pending.clone(),
        );
        let outbox_oldest_seconds = Family::<One, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "outbox_oldest_pending_seconds",
            "Age of the oldest notification waiting, by channel (label value)",
            outbox_oldest_seconds.clone(),
        );
        let inspections = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "inspections",
            "Document inspections, by outcome",
            inspections.clone(),
        );
        let inspection_seconds =
            Family::<OutcomeLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                seconds_buckets,
            );
        registry.register(
            "inspection_duration_seconds",
            "Document inspection time, by outcome",
            inspection_seconds.clone(),
        );
        let registry_records = Family::<One, Gauge>::default();
        registry.register(
            "registry_sync_records",
            "Records of the latest register sync, by kind (label value: read, inserted, updated, unchanged, removed, rejected)",
            registry_records.clone(),
        );
        let registry_running = Gauge::default();
        registry.register(
            "registry_sync_running",
            "1 while the latest register sync is running",
            registry_running.clone(),
        );
        let registry_started = Gauge::default();
        registry.register(
            "registry_sync_started_timestamp_seconds",
            "When the latest register sync started (Unix time)",
            registry_started.clone(),
        );
        let pool_connections = Family::<One, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database connections of the pool (label value: open, idle, in_use)",
            pool_connections.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "db_pool_max_connections",
            "Size of the database pool",
            pool_max.clone(),
        );
        let pool_wait = seconds_buckets();
        registry.register(
            "db_pool_wait_seconds",
            "Time to get a pooled database connection",
            pool_wait.clone(),
        );
        Self {
            registry,
            http,
            transitions,
            guard_refusals,
            sla_breaches,
            timers_fired,
            timer_lateness,
            deliveries,
            outbox_pending,
            outbox_oldest_seconds,
            inspections,
            inspection_seconds,
            registry_records,
            registry_running,
            registry_started,
            pool_connections,
            pool_max,
            pool_wait,
        }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Shorthand for a one-value label.
pub fn one(value: impl Into<String>) -> One {
    One {
        value: value.into(),
    }
}

/// What a committed case change counts.
#[derive(Debug, Clone)]
enum Staged {
    Transition(StateLabels),
    Breach(StateLabels),
    Fired { action: String, lateness_secs: f64 },
}

thread_local! {
    static STAGED: RefCell<Vec<Staged>> = const { RefCell::new(Vec::new()) };
}

/// Stages what a case change written in the current transaction counts: its transition or
/// breach (by the audit event's kind) and the timer it fires. Counted at [`commit`].
pub fn stage_commit(workflow: &str, state: &str, event_kind: &str, fired: Option<(&str, i64)>) {
    let labels = || StateLabels {
        workflow: workflow.to_owned(),
        state: state.to_owned(),
    };
    STAGED.with_borrow_mut(|s| {
        match event_kind {
            "case.transition" => s.push(Staged::Transition(labels())),
            "case.deadline_breached" => s.push(Staged::Breach(labels())),
            _ => {}
        }
        if let Some((outcome, lateness_ms)) = fired {
            let action = outcome.split(':').next().unwrap_or(outcome).to_owned();
            s.push(Staged::Fired {
                action,
                lateness_secs: lateness_ms.max(0) as f64 / 1000.0,
            });
        }
    });
}

/// How many staged items there are (a savepoint's mark).
pub fn staged_mark() -> usize {
    STAGED.with_borrow(Vec::len)
}

/// Forgets what was staged after `mark` (the transaction or savepoint rolled back).
pub fn discard(mark: usize) {
    STAGED.with_borrow_mut(|s| s.truncate(mark));
}

/// Counts what was staged (the outermost transaction committed, or the write was a single
/// atomic statement outside any).
pub fn commit() {
    let staged = STAGED.with_borrow_mut(std::mem::take);
    let m = get();
    for s in staged {
        match s {
            Staged::Transition(l) => {
                m.transitions.get_or_create(&l).inc();
            }
            Staged::Breach(l) => {
                m.sla_breaches.get_or_create(&l).inc();
            }
            Staged::Fired {
                action,
                lateness_secs,
            } => {
                let l = TimerLabels { action };
                m.timers_fired.get_or_create(&l).inc();
                m.timer_lateness.get_or_create(&l).observe(lateness_secs);
            }
        }
    }
}
