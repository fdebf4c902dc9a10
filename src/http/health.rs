//! Liveness and readiness.

use super::AppState;
use crate::store::{StoreError, migrate};
use actix_web::{HttpResponse, get, web};
use diesel::connection::SimpleConnection;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, description = "Alive", body = Value)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// One part of readiness.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Check {
    /// `ok`; `not_configured` (the part is switched off, which is not a fault); anything else
    /// is a fault: `unavailable`, `pending`, `stopped`, ...
    pub status: String,
    /// Why the part is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the part reports of itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl Check {
    fn ok(details: Option<Value>) -> Self {
        Self::new("ok", None, details)
    }

    fn new(status: &str, error: Option<String>, details: Option<Value>) -> Self {
        Self {
            status: status.to_owned(),
            error,
            details,
        }
    }

    fn is_fault(&self) -> bool {
        !matches!(self.status.as_str(), "ok" | "not_configured")
    }
}

/// The answer of `/readyz`: each part by name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ServiceReadiness)]
pub struct Readiness {
    /// `ready`, or `not_ready` while any part is at fault.
    pub status: &'static str,
    /// database, migrations, workflows, inspection_worker, identity_provider, workers.
    pub checks: BTreeMap<&'static str, Check>,
}

/// Ready to serve: the database answers and its schema is current, the workflows are loaded,
/// the inspection worker can be started, the identity provider (when login is configured) has
/// been discovered, and every background worker (timers, dispatchers, ...) is running. Each
/// part is named in the answer; 503 while any is at fault.
#[utoipa::path(tag = "health", responses(
    (status = 200, description = "Ready", body = Readiness),
    (status = 503, description = "A part is not ready: the answer names it", body = Readiness,
        headers(("Retry-After" = u32, description = "Seconds to wait before asking again"))),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut checks = BTreeMap::new();
    let db = state
        .store
        .run(|conn| {
            conn.batch_execute("SELECT 1")
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            migrate::has_pending(conn)
        })
        .await;
    let (database, migrations) = match db {
        Ok(pending) => (
            Check::ok(None),
            if pending {
                Check::new(
                    "pending",
                    Some(
                        "the database schema is older than this version: run `accredo migrate`"
                            .into(),
                    ),
                    None,
                )
            } else {
                Check::ok(None)
            },
        ),
        Err(e) => (
            Check::new("unavailable", Some(e.to_string()), None),
            Check::new("unknown", Some("the database is unavailable".into()), None),
        ),
    };
    checks.insert("database", database);
    checks.insert("migrations", migrations);
    let workflows: Vec<Value> = state
        .catalog
        .list()
        .map(|w| json!({"id": w.definition.id, "version": w.definition.version}))
        .collect();
    checks.insert(
        "workflows",
        if workflows.is_empty() {
            Check::new("none", Some("no workflow is loaded".into()), None)
        } else {
            Check::ok(Some(Value::Array(workflows)))
        },
    );
    checks.insert(
        "inspection_worker",
        match state.documents.inspector.readiness() {
            Ok(d) => Check::ok(Some(d)),
            Err(e) => Check::new("unavailable", Some(e), None),
        },
    );
    checks.insert(
        "identity_provider",
        match &state.oidc {
            None => Check::new("not_configured", None, None),
            Some(p) => match p.get() {
                Some(_) => Check::ok(None),
                None => Check::new(
                    "unavailable",
                    Some(
                        p.last_error()
                            .unwrap_or_else(|| "not discovered yet".into()),
                    ),
                    None,
                ),
            },
        },
    );
    let workers = state.workers.status();
    checks.insert(
        "workers",
        if workers.is_empty() {
            Check::new("not_configured", None, None)
        } else {
            let faulty: Vec<&str> = workers
                .iter()
                .filter(|w| !w.is_ok())
                .map(|w| w.name.as_str())
                .collect();
            Check::new(
                if faulty.is_empty() {
                    "ok"
                } else {
                    "not_running"
                },
                (!faulty.is_empty()).then(|| format!("not running: {}", faulty.join(", "))),
                Some(json!(workers)),
            )
        },
    );
    let ready = !checks.values().any(Check::is_fault);
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        checks,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(body)
    }
}

/// Metrics in the OpenMetrics text format: request latency by route and status, transitions,
/// guard refusals, SLA breaches, timer lateness, the outbox backlog and delivery outcomes,
/// inspections, register sync progress and the database pool. Meant for the operators'
/// network (it holds no personal data); the database parts are left out while it is down.
#[utoipa::path(tag = "health", responses(
    (status = 200, description = "The metrics", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let m = crate::metrics::get();
    let now = state.clock.now().naive_utc();
    let read = state
        .store
        .run(|conn| {
            let read = |conn: &mut crate::store::DbConnection| {
                let backlog = crate::store::notifications::backlog(conn)?;
                let oldest = crate::store::notifications::oldest_pending(conn)?;
                let run = crate::store::registry::runs(conn, 1)?.into_iter().next();
                Ok((backlog, oldest, run))
            };
            read(conn).map_err(StoreError::Query)
        })
        .await;
    let mut scraped = crate::metrics::Scraped {
        pool: state.store.pool_state(),
        ..Default::default()
    };
    match read {
        Ok((backlog, oldest, run)) => {
            scraped.outbox_pending = backlog
                .into_iter()
                .filter(|(_, status, _)| status == "pending")
                .map(|(channel, _, n)| (channel, n))
                .collect();
            scraped.outbox_oldest_seconds = oldest
                .into_iter()
                .map(|(channel, at)| {
                    let age = (now - at).num_milliseconds().max(0) as f64 / 1000.0;
                    (channel, age)
                })
                .collect();
            scraped.registry = run.map(|r| crate::metrics::RegisterRun {
                counts: vec![
                    ("read", r.read_count),
                    ("inserted", r.inserted),
                    ("updated", r.updated),
                    ("unchanged", r.unchanged),
                    ("removed", r.removed),
                    ("rejected", r.rejected),
                ],
                running: r.status == "running",
                started: r.started_at.and_utc().timestamp(),
            });
        }
        Err(e) => tracing::warn!(error = %e, "metrics: the database parts are left out"),
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(m.encode(&scraped))
}
