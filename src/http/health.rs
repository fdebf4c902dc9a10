//! Liveness and readiness.

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::store::StoreError;
use actix_web::{HttpResponse, get, web};
use diesel::connection::SimpleConnection;

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, description = "Alive")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The database answers.
#[utoipa::path(tag = "health", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "Database unavailable", body = ErrorBody),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .store
        .run(|conn| {
            conn.batch_execute("SELECT 1")
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}
