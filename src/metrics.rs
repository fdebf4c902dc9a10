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
    /// Inspections by outcome.
    pub inspections: Family<OutcomeLabels, Counter>,
    /// Inspection time by outcome.
    pub inspection_seconds: Family<OutcomeLabels, Histogram, fn() -> Histogram>,
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
            inspections,
            inspection_seconds,
            pool_wait,
        }
    }

    /// The text exposition of every metric: the process's counters, then what `state` read
    /// for this scrape (kept in a registry of its own, so concurrent scrapes of servers on
    /// other databases cannot mix their values).
    pub fn encode(&self, state: &Scraped) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        let _ = encode_registry(&mut out, &state.registry());
        let _ = encode_eof(&mut out);
        out
    }
}

/// The latest register run as a scrape shows it.
#[derive(Debug)]
pub struct RegisterRun {
    /// Counts by kind (`read`, `inserted`, ...).
    pub counts: Vec<(&'static str, i64)>,
    /// Still running.
    pub running: bool,
    /// When it started, Unix seconds.
    pub started: i64,
}

/// What a scrape reads from the database and the pool.
#[derive(Debug, Default)]
pub struct Scraped {
    /// Pending notifications by channel.
    pub outbox_pending: Vec<(String, i64)>,
    /// Age in seconds of the oldest pending notification, by channel.
    pub outbox_oldest_seconds: Vec<(String, f64)>,
    /// The latest register run.
    pub registry: Option<RegisterRun>,
    /// Pool connections open and idle, and its size.
    pub pool: (u32, u32, u32),
}

impl Scraped {
    fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("accredo");
        let family = |r: &mut Registry, name: &str, help: &str, values: &[(String, i64)]| {
            let f = Family::<One, Gauge>::default();
            for (v, n) in values {
                f.get_or_create(&one(v.as_str())).set(*n);
            }
            r.register(name, help, f);
        };
        family(
            &mut r,
            "outbox_pending",
            "Notifications waiting to be delivered, by channel (label value)",
            &self.outbox_pending,
        );
        let oldest = Family::<One, Gauge<f64, AtomicU64>>::default();
        for (c, age) in &self.outbox_oldest_seconds {
            oldest.get_or_create(&one(c.as_str())).set(*age);
        }
        r.register(
            "outbox_oldest_pending_seconds",
            "Age of the oldest notification waiting, by channel (label value)",
            oldest,
        );
        if let Some(RegisterRun {
            counts,
            running,
            started,
        }) = &self.registry
        {
            let counts: Vec<(String, i64)> =
                counts.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
            family(
                &mut r,
                "registry_sync_records",
                "Records of the latest register sync, by kind (label value: read, inserted, updated, unchanged, removed, rejected)",
                &counts,
            );
            let g: Gauge = Gauge::default();
            g.set(i64::from(*running));
            r.register(
                "registry_sync_running",
                "1 while the latest register sync is running",
                g,
            );
            let g: Gauge = Gauge::default();
            g.set(*started);
            r.register(
                "registry_sync_started_timestamp_seconds",
                "When the latest register sync started (Unix time)",
                g,
            );
        }
        let (open, idle, max) = self.pool;
        let conns: Vec<(String, i64)> = [
            ("open", open),
            ("idle", idle),
            ("in_use", open.saturating_sub(idle)),
        ]
        .iter()
        .map(|(k, n)| ((*k).to_owned(), i64::from(*n)))
        .collect();
        family(
            &mut r,
            "db_pool_connections",
            "Database connections of the pool (label value: open, idle, in_use)",
            &conns,
        );
        let g: Gauge = Gauge::default();
        g.set(i64::from(max));
        r.register("db_pool_max_connections", "Size of the database pool", g);
        r
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
