//! The accreditation record's documents: PDF and XML, the same bytes on every download.

use super::AppState;
use super::action::Action;
use super::auth::Principal;
use super::cases::case_id;
use super::error::{ApiError, ErrorBody};
use crate::service::results;
use actix_web::{HttpResponse, get, web};

async fn download(
    state: web::Data<AppState>,
    who: Principal,
    id: &str,
    xml: bool,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(id)?;
    let (number, body) = state
        .use_case(
            &who,
            Action::CaseResult,
            Some(id.clone()),
            move |conn, catalog, actor, _| results::document(conn, catalog, actor, &id, xml),
        )
        .await?;
    let (content_type, ext) = if xml {
        ("application/xml; charset=utf-8", "xml")
    } else {
        ("application/pdf", "pdf")
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(super::documents::attachment(format!(
            "accreditation-{number}.{ext}"
        )))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("X-Record-Number", number))
        .body(body))
}

/// The accreditation record as PDF (Cyrillic, embedded font).
#[utoipa::path(
    tag = "results",
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "The record", content_type = "application/pdf"),
        (status = 404, description = "Not approved, or not yours", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/cases/{id}/result.pdf")]
pub async fn result_pdf(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    download(state, who, &id, false).await
}

/// The accreditation record as XML (`schemas/accreditation-record.xsd`).
#[utoipa::path(
    tag = "results",
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "The record", content_type = "application/xml"),
        (status = 404, description = "Not approved, or not yours", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/cases/{id}/result.xml")]
pub async fn result_xml(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    download(state, who, &id, true).await
}
