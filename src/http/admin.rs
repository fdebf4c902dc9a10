//! Administration endpoints.

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use crate::domain::role::Role;
use crate::store::StoreError;
use crate::store::registry::{self, RunRow};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;

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
            if !auth.roles.contains(&Role::Admin) {
                let actor = crate::engine::Actor {
                    user: auth.user.clone(),
                    roles: auth.roles.clone(),
                };
                crate::service::access::record_denial(
                    conn,
                    &actor,
                    "admin.registry_runs",
                    None,
                    "not_admin",
                    now.naive_utc(),
                )?;
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "not_admin",
                    "Раздел доступен только администратору",
                ));
            }
            registry::runs(conn, limit).map_err(|e| ApiError::from(StoreError::from(e)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(runs))
}
