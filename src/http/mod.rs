//! HTTP API (actix-web): thin handlers that parse, authorize, call the use cases and map.

pub mod action;
pub mod admin;
pub mod auth;
pub mod body;
pub mod cases;
pub mod client_ip;
pub mod contract;
pub mod docs;
pub mod documents;
pub mod error;
pub mod headers;
pub mod health;
pub mod idempotency;
pub mod limit;
pub mod login;
pub mod me;
pub mod messages;
pub mod methods;
pub mod optional_body;
pub mod preferences;
pub mod reports;
pub mod results;
pub mod review;
pub mod signing;
pub mod support;
pub mod workflows;

use crate::domain::clock::SharedClock;
use crate::engine::Actor;
use crate::engine::catalog::Catalog;
use crate::identity::session::{self, SessionPolicy};
use crate::identity::token::TokenKeys;
use crate::service::ServiceError;
use crate::service::access::{audited, record_denial};
use crate::store::{DbConnection, Store};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage, HttpServer, ResponseError, web};
use chrono::{DateTime, Utc};
use error::{ApiError, REQUEST_ID};
use std::net::TcpListener;
use std::sync::Arc;
use tracing_actix_web::{RequestId, TracingLogger};

/// Everything handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Workflow definitions.
    pub catalog: Arc<Catalog>,
    /// The clock.
    pub clock: SharedClock,
    /// Session token keys.
    pub keys: TokenKeys,
    /// Session lifetimes.
    pub policy: SessionPolicy,
    /// The identity provider, when login is configured (it may still be being discovered).
    pub oidc: Option<Arc<crate::identity::provider::Provider>>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub proxies: Arc<client_ip::TrustedProxies>,
    /// Whether the public URL is HTTPS (Secure cookies with the `__Host-` prefix).
    pub https: bool,
    /// Failed logins and invalid tokens per client address.
    pub failures: Arc<limit::FailureLimiter>,
    /// Document storage and inspection.
    pub documents: Arc<crate::documents::Documents>,
    /// Signature verification and receipt numbering.
    pub signing: Arc<crate::signature::Signing>,
    /// Notification templates.
    pub notices: Arc<crate::notify::templates::Templates>,
    /// How the message thread shows the commission to applicants.
    pub messages: crate::service::messages::Settings,
    /// The background workers (their heartbeats for `/readyz`, their stop on shutdown).
    pub workers: crate::workers::Workers,
}

impl AppState {
    /// Runs a use case for the caller on a pooled connection, off the async executor, and
    /// audits the attempt if it ends in an access denial. Actions that need consent
    /// ([`action::Action::needs_consent`]) are refused while the caller has not consented to
    /// the transfer of their data.
    pub async fn use_case<T: Send + 'static>(
        &self,
        who: &auth::Principal,
        action: action::Action,
        case_id: Option<String>,
        op: impl FnOnce(&mut DbConnection, &Catalog, &Actor, DateTime<Utc>) -> Result<T, ServiceError>
        + Send
        + 'static,
    ) -> Result<T, ApiError> {
        let catalog = self.catalog.clone();
        self.with_session(who, move |conn, auth, now| {
            let actor = crate::service::commission::actor(conn, auth)?;
            if auth.consent_pending && action.needs_consent() {
                record_denial(
                    conn,
                    &actor,
                    action.name(),
                    case_id.as_deref(),
                    "consent_required",
                    now.naive_utc(),
                )?;
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "consent_required",
                    "Подтвердите согласие на передачу ваших данных, чтобы работать с заявлениями",
                ));
            }
            audited(
                conn,
                &actor,
                action.name(),
                case_id.as_deref(),
                now.naive_utc(),
                |conn| op(conn, &catalog, &actor, now),
            )
            .map_err(ApiError::from)
        })
        .await
    }

    /// [`Self::use_case`] for a use case that needs the engine's rules (the catalogue, the
    /// signing settings and the notification templates): a transition and what runs one.
    pub async fn use_case_with_rules<T: Send + 'static>(
        &self,
        who: &auth::Principal,
        action: action::Action,
        case_id: Option<String>,
        op: impl FnOnce(
            &mut DbConnection,
            crate::service::Rules<'_>,
            &Actor,
            DateTime<Utc>,
        ) -> Result<T, ServiceError>
        + Send
        + 'static,
    ) -> Result<T, ApiError> {
        let (signing, notices) = (self.signing.clone(), self.notices.clone());
        self.use_case(who, action, case_id, move |conn, catalog, actor, now| {
            let rules = crate::service::Rules {
                catalog,
                signing: &signing,
                notices: &notices,
            };
            op(conn, rules, actor, now)
        })
        .await
    }

    /// Checks the caller's session and runs `op` with it on the same pooled connection.
    pub async fn with_session<T: Send + 'static>(
        &self,
        who: &auth::Principal,
        op: impl FnOnce(
            &mut DbConnection,
            &session::Authenticated,
            DateTime<Utc>,
        ) -> Result<T, ApiError>
        + Send
        + 'static,
    ) -> Result<T, ApiError> {
        let now = self.clock.now();
        let claims = who.claims.clone();
        let policy = self.policy;
        self.store
            .run(move |conn| {
                let auth = session::check(conn, &claims, policy, now).map_err(ApiError::from)?;
                op(conn, &auth, now)
            })
            .await
    }
}

/// The request span: method, route template, path without the query string (a login
/// callback's query holds the authorization code, which must never reach the logs) and the
/// request id.
#[derive(Debug)]
pub struct RequestSpan;

impl tracing_actix_web::RootSpanBuilder for RequestSpan {
    fn on_request_start(req: &ServiceRequest) -> tracing::Span {
        let id = req
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let route = req.match_pattern().unwrap_or_default();
        tracing::info_span!(
            "request",
            method = %req.method(),
            route = %route,
            path = %req.path(),
            request_id = %id
        )
    }

    fn on_request_end<B: MessageBody>(
        _span: tracing::Span,
        _outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
    }
}

/// Puts the request id in scope for error bodies and in the `X-Request-Id` header, and
/// refuses bodies declared larger than the limit before reading them.
async fn request_scope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let id = req
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string)
        .unwrap_or_default();
    let header_value = HeaderValue::from_str(&id).ok();
    let started = std::time::Instant::now();
    // Bounded label values: the route template, and the standard methods.
    let (method, route) = (
        match req.method().as_str() {
            m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m,
            _ => "other",
        }
        .to_owned(),
        req.match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned()),
    );
    let mut res = REQUEST_ID
        .scope(id, async move {
            if let Some(err) = body::declared_too_large(&req) {
                let (http_req, _) = req.into_parts();
                return Ok(ServiceResponse::new(http_req, err.error_response()));
            }
            next.call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        })
        .await?;
    if let Some(v) = header_value {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
    let status = res.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    crate::metrics::get()
        .http
        .get_or_create(&crate::metrics::HttpLabels {
            method,
            route,
            status,
        })
        .observe(elapsed);
    let elapsed_ms = elapsed * 1000.0;
    if res.status().is_server_error() {
        tracing::error!(status, elapsed_ms, "request failed");
    } else {
        tracing::info!(status, elapsed_ms, "request");
    }
    Ok(res)
}

fn json_error_handlers(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(|_, _| {
        ApiError::bad_request("invalid_path", "Неверный адрес запроса").into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|e, _| {
        tracing::debug!(error = %e, "bad query string");
        ApiError::bad_request(
            "invalid_query",
            "Неверные параметры запроса: limit — число, mine — true или false",
        )
        .into()
    }))
    .app_data(web::PayloadConfig::new(body::MAX_BODY));
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    json_error_handlers(cfg);
    // Most frequent first: the router tries patterns in registration order.
    cfg.service(cases::run_transition)
        .service(documents::upload)
        .service(documents::list)
        .service(documents::download)
        .service(documents::remove)
        .service(documents::replace)
        .service(documents::readiness)
        .service(signing::signing_payload)
        .service(signing::receipt_pdf)
        .service(signing::receipt_xml)
        .service(cases::patch_form)
        .service(cases::put_attributes)
        .service(cases::get_case)
        .service(cases::case_history)
        .service(cases::create_case)
        .service(cases::list_cases)
        .service(reports::cases_table)
        .service(reports::decisions_table)
        .service(reports::stages)
        .service(results::result_pdf)
        .service(results::result_xml)
        .service(messages::list)
        .service(messages::post)
        .service(review::queue)
        .service(review::queue_counts)
        .service(review::assign)
        .service(review::list_subcommissions)
        .service(review::put_subcommission)
        .service(review::add_member)
        .service(review::remove_member)
        .service(support::my_requests)
        .service(support::queue)
        .service(support::people)
        .service(support::stats)
        .service(support::agents)
        .service(support::put_agent)
        .service(support::remove_agent)
        .service(me::me)
        .service(me::consent)
        .service(me::sessions)
        .service(me::end_session)
        .service(me::notifications)
        .service(me::notification_read)
        .service(preferences::get_preferences)
        .service(preferences::put_preferences)
        .service(workflows::list_workflows)
        .service(workflows::get_workflow)
        .service(admin::registry_runs)
        .service(admin::notifications)
        .service(admin::retry_notification)
        .service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(login::begin)
        .service(login::callback)
        .service(login::logout)
        .service(login::refresh)
        .configure(docs::routes);
}

/// Builds the server on an already bound listener (port 0 allowed). Stopped gracefully
/// (`ServerHandle::stop(true)`), it stops accepting and gives the requests in flight
/// `shutdown` to finish.
pub fn server(
    state: AppState,
    listener: TcpListener,
    workers: usize,
    shutdown: std::time::Duration,
) -> std::io::Result<Server> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(routes)
            .default_service(web::to(methods::fallback))
            .wrap(from_fn(request_scope))
            .wrap(TracingLogger::<RequestSpan>::new())
            .wrap(from_fn(headers::security_headers))
    })
    .workers(workers.max(1))
    .shutdown_timeout(shutdown.as_secs())
    // Signals are handled by the process (`serve` stops this server, then the workers).
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}
