//! Signed submission endpoints: the signing payload, and the receipt (act of submission) as
//! PDF and XML.

use super::AppState;
use super::action::Action;
use super::auth::Principal;
use super::cases::case_id;
use super::documents::attachment;
use super::error::{ApiError, ErrorBody};
use crate::service::signing::{self, PayloadDto};
use actix_web::{HttpResponse, get, web};

/// What to sign before `submit`/`resubmit`: the canonical bytes (base64) and their SHA-256.
/// Any change to the form or the documents makes a signature over an older payload stale.
#[utoipa::path(
    tag = "signing",
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "The payload", body = PayloadDto),
        (status = 404, description = "No such case (or not yours)", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/cases/{id}/signing-payload")]
pub async fn signing_payload(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    let dto = state
        .use_case(
            &who,
            Action::CaseSigningPayload,
            Some(id.clone()),
            move |conn, catalog, actor, _| signing::payload_of(conn, catalog, actor, &id),
        )
        .await?;
    Ok(HttpResponse::Ok().json(dto))
}

async fn receipt(
    state: web::Data<AppState>,
    who: Principal,
    id: &str,
    pdf: bool,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(id)?;
    let row = state
        .use_case(
            &who,
            Action::CaseReceipt,
            Some(id.clone()),
            move |conn, catalog, actor, _| signing::receipt_of(conn, catalog, actor, &id),
        )
        .await?;
    let (body, content_type, ext) = if pdf {
        (row.pdf, "application/pdf", "pdf")
    } else {
        (row.xml, "application/xml; charset=utf-8", "xml")
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(attachment(format!("receipt-{}.{ext}", row.number)))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("X-Receipt-Number", row.number))
        .body(body))
}

/// The latest receipt of the case as PDF (the same bytes on every download).
#[utoipa::path(
    tag = "signing",
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "The receipt", content_type = "application/pdf"),
        (status = 404, description = "Not submitted yet, or not yours", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/cases/{id}/receipt.pdf")]
pub async fn receipt_pdf(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    receipt(state, who, &id, true).await
}

/// The latest receipt of the case as XML (`schemas/receipt.xsd`).
#[utoipa::path(
    tag = "signing",
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "The receipt", content_type = "application/xml"),
        (status = 404, description = "Not submitted yet, or not yours", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/cases/{id}/receipt.xml")]
pub async fn receipt_xml(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    receipt(state, who, &id, false).await
}
