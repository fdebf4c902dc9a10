//! Workflow definitions as the cabinet needs them.

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::engine::definition::Definition;
use actix_web::{HttpResponse, get, http::StatusCode, web};

/// Current versions of all workflows.
#[utoipa::path(tag = "workflows", responses((status = 200, description = "Workflows", body = [Definition])))]
#[get("/api/v1/workflows")]
pub async fn list_workflows(state: web::Data<AppState>) -> HttpResponse {
    let defs: Vec<&Definition> = state.catalog.list().map(|w| &w.definition).collect();
    HttpResponse::Ok().json(defs)
}

/// One workflow's current version: states, transitions, document types.
#[utoipa::path(
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "The workflow, with `rejection_reasons` from the catalogue", body = Definition),
        (status = 404, description = "Unknown workflow", body = ErrorBody),
    )
)]
#[get("/api/v1/workflows/{id}")]
pub async fn get_workflow(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let w = state.catalog.current(&id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "workflow_not_found",
            "Такого вида заявления нет",
        )
    })?;
    let mut body = serde_json::to_value(&w.definition).map_err(|e| ApiError::internal(&e))?;
    let reasons: Vec<&crate::engine::reasons::Reason> = state
        .catalog
        .reasons()
        .for_workflow(&w.definition.id)
        .collect();
    body["rejection_reasons"] = serde_json::json!(reasons);
    Ok(HttpResponse::Ok().json(body))
}
