//! Liveness and readiness.

use super::AppState;
use super::error::ApiError;
use crate::store::StoreError;
use actix_web::{HttpResponse, get, web};
use diesel::connection::SimpleConnection;
use serde_json::json;

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, description = "Alive")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready to serve: the database answers and, when login is configured, the identity provider
/// has been discovered. Each part is named in the answer; 503 while any is not ready.
#[utoipa::path(tag = "health", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "Database unavailable, or the identity provider not discovered yet"),
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
    let provider = match &state.oidc {
        None => json!({"status": "not_configured"}),
        Some(p) => match p.get() {
            Some(_) => json!({"status": "ok"}),
            None => json!({
                "status": "unavailable",
                "error": p.last_error().unwrap_or_else(|| "not discovered yet".into()),
            }),
        },
    };
    let ready = provider["status"] != "unavailable";
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {"database": {"status": "ok"}, "identity_provider": provider},
    });
    Ok(if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "30"))
            .json(body)
    })
}
