//! Administration endpoints.

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use crate::domain::role::Role;
use crate::store::StoreError;
use crate::store::notifications::{Delivery, DeliveryFilter};
use crate::store::registry::{self, RunRow};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;

/// Refuses (403 `not_admin`, audited as a denial) a caller who is not an administrator.
fn require_admin(
    conn: &mut crate::store::DbConnection,
    auth: &crate::identity::session::Authenticated,
    action: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    if auth.roles.contains(&Role::Admin) {
        return Ok(());
    }
    let actor = crate::engine::Actor::new(auth.user.clone(), auth.roles.clone());
    crate::service::access::record_denial(
        conn,
        &actor,
        action,
        None,
        "not_admin",
        now.naive_utc(),
    )?;
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "not_admin",
        "Раздел доступен только администратору",
    ))
}

/// Query of the runs list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RunsQuery {
    /// How many, newest first (1..=100, default 20).
    pub limit: Option<i64>,
}

/// Register sync runs with their reports (admins only).
#[utoipa::path(
    tag = "admin",
    params(RunsQuery),
    responses(
        (status = 200, description = "Newest first", body = [RunRow]),
        (status = 403, description = "Not an administrator", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/admin/registry/runs")]
pub async fn registry_runs(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<RunsQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let runs = state
        .with_session(&who, move |conn, auth, now| {
            require_admin(conn, auth, "admin.registry_runs", now)?;
            registry::runs(conn, limit).map_err(|e| ApiError::from(StoreError::from(e)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(runs))
}

/// Query of the delivery log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeliveriesQuery {
    /// Only about this case.
    pub case_id: Option<String>,
    /// Only to this person (user id).
    pub recipient_id: Option<String>,
    /// Only on this channel (`inapp`, …).
    pub channel: Option<String>,
    /// Only in this status (`pending`, `delivered`, `failed`).
    pub status: Option<String>,
    /// How many, newest first (1..=500, default 100).
    pub limit: Option<i64>,
}

/// The notification delivery log (admins only): every outbox row with its status, attempts
/// and last error, newest first.
#[utoipa::path(
    tag = "admin",
    params(DeliveriesQuery),
    responses(
        (status = 200, description = "Newest first", body = [Delivery]),
        (status = 403, description = "Not an administrator", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/admin/notifications")]
pub async fn notifications(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let filter = DeliveryFilter {
        limit: q.limit.unwrap_or(100).clamp(1, 500),
        case_id: q.case_id,
        recipient_id: q.recipient_id,
        channel: q.channel,
        status: q.status,
    };
    let rows = state
        .with_session(&who, move |conn, auth, now| {
            require_admin(conn, auth, "admin.notifications", now)?;
            crate::store::notifications::deliveries(conn, &filter)
                .map_err(|e| ApiError::from(StoreError::from(e)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// Retries a failed notification (admins only): pending again, due now, its attempts counted
/// afresh; the last error stays visible until the next attempt.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Outbox row id")),
    responses(
        (status = 204, description = "Pending again"),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, description = "No such notification", body = ErrorBody),
        (status = 409, description = "It has not failed", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[post("/api/v1/admin/notifications/{id}/retry")]
pub async fn retry_notification(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let done = state
        .with_session(&who, move |conn, auth, now| {
            require_admin(conn, auth, "admin.notifications.retry", now)?;
            let done = crate::store::notifications::retry_failed(conn, &id, now.naive_utc())
                .map_err(|e| ApiError::from(StoreError::from(e)))?;
            if done == Some(true) {
                tracing::info!(notification = %id, admin = %auth.user, "failed notification retried");
            }
            Ok(done)
        })
        .await?;
    match done {
        Some(true) => Ok(HttpResponse::NoContent().finish()),
        Some(false) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "notification_not_failed",
            "Повторить можно только неудавшуюся отправку",
        )),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "notification_not_found",
            "Такого уведомления нет",
        )),
    }
}
