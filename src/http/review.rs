//! The commission's endpoints: the queue and its counts, assignment of a case, and the
//! administration of subcommissions.

use super::AppState;
use super::action::Action;
use super::auth::Principal;
use super::body::JsonBody;
use super::cases::case_id;
use super::error::{ApiError, ErrorBody};
use crate::service::cases::CaseDto;
use crate::service::commission::{self, Assign, Definition};
use crate::service::review::{self, QueueCounts, QueuePage, QueueQuery};
use crate::store::subcommissions::Subcommission;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;

/// Query of `GET /api/v1/review/queue` and `/review/queue/counts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct QueueParams {
    /// Workflow id.
    pub workflow: Option<String>,
    /// State code (not applied to the counts per state).
    pub state: Option<String>,
    /// Specialty code, e.g. `31.08.49`.
    pub specialty: Option<String>,
    /// Region code (two digits).
    pub region: Option<String>,
    /// `none` (unassigned), `me`, or a user id.
    pub assignee: Option<String>,
    /// Due on or before this date (YYYY-MM-DD, Moscow).
    pub due_before: Option<chrono::NaiveDate>,
    /// Only past due.
    pub overdue: Option<bool>,
    /// Application number, e.g. `2026-77-000001`.
    pub number: Option<String>,
    /// Applicant's SNILS, in any spelling.
    pub snils: Option<String>,
    /// The start of the applicant's name (case, ё/е and spacing ignored).
    pub name: Option<String>,
    /// `due` (earliest due first, the default) or `newest`.
    pub sort: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1..=100 (default 50).
    pub limit: Option<i64>,
}

impl From<QueueParams> for QueueQuery {
    fn from(p: QueueParams) -> Self {
        QueueQuery {
            workflow: p.workflow,
            state: p.state,
            specialty: p.specialty,
            region: p.region,
            assignee: p.assignee,
            due_before: p.due_before,
            overdue: p.overdue.unwrap_or(false),
            number: p.number,
            snils: p.snils,
            name: p.name,
            sort: p.sort,
            cursor: p.cursor,
            limit: p.limit,
        }
    }
}

/// The queue of the caller's subcommissions.
#[utoipa::path(
    tag = "review",
    params(QueueParams),
    responses(
        (status = 200, description = "A page, earliest due first", body = QueuePage),
        (status = 403, description = "Not a commission member", body = ErrorBody),
        (status = 422, description = "Bad filter or cursor", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/review/queue")]
pub async fn queue(
    state: web::Data<AppState>,
    who: Principal,
    params: web::Query<QueueParams>,
) -> Result<HttpResponse, ApiError> {
    let q: QueueQuery = params.into_inner().into();
    let page = state
        .use_case(
            &who,
            Action::ReviewQueue,
            None,
            move |conn, catalog, actor, now| review::page(conn, catalog, actor, &q, now),
        )
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Counts per state of the queue's cases, for a dashboard.
#[utoipa::path(
    tag = "review",
    params(QueueParams),
    responses(
        (status = 200, description = "Counts", body = QueueCounts),
        (status = 403, description = "Not a commission member", body = ErrorBody),
        (status = 422, description = "A filter that is not valid (a SNILS that fails its checksum)", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/review/queue/counts")]
pub async fn queue_counts(
    state: web::Data<AppState>,
    who: Principal,
    params: web::Query<QueueParams>,
) -> Result<HttpResponse, ApiError> {
    let q: QueueQuery = params.into_inner().into();
    let counts = state
        .use_case(
            &who,
            Action::ReviewQueue,
            None,
            move |conn, catalog, actor, now| review::counts(conn, catalog, actor, &q, now),
        )
        .await?;
    Ok(HttpResponse::Ok().json(counts))
}

/// Body of `POST /api/v1/cases/{id}/assignee`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The commission member's user id; `null` releases the case.
    pub assignee: Option<String>,
    /// Why (required to reassign or release), up to 2000 characters.
    pub reason: Option<String>,
}

/// Assign, claim, reassign or release a case.
#[utoipa::path(
    tag = "review",
    params(("id" = String, Path, description = "Case id")),
    request_body = AssignBody,
    responses(
        (status = 200, description = "The case as assigned now", body = CaseDto),
        (status = 403, description = "Not allowed (a reviewer reassigning, own case)", body = ErrorBody),
        (status = 404, description = "No such case (or not of your subcommissions)", body = ErrorBody),
        (status = 409, description = "The case is finished or not filed", body = ErrorBody),
        (status = 422, description = "Assignee not eligible, reason missing", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[post("/api/v1/cases/{id}/assignee")]
pub async fn assign(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    let body = body.0;
    if body
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 2000)
    {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "Причина — не длиннее 2000 символов",
        ));
    }
    let req = Assign {
        case_id: id.clone(),
        assignee: body.assignee,
        reason: body.reason,
    };
    let dto = state
        .use_case(
            &who,
            Action::CaseAssign,
            Some(id),
            move |conn, catalog, actor, now| commission::assign(conn, catalog, actor, &req, now),
        )
        .await?;
    let mut res = HttpResponse::Ok();
    res.insert_header((
        actix_web::http::header::ETAG,
        format!("\"{}\"", dto.version),
    ));
    Ok(res.json(dto))
}

/// Body of `PUT /api/v1/admin/subcommissions/{code}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubcommissionBody {
    /// Name (Russian).
    pub name: String,
    /// Specialty codes it reviews.
    pub specialties: Vec<String>,
}

/// Every subcommission with its specialties and members.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "By code", body = [Subcommission]),
        (status = 403, description = "Neither an administrator nor commission staff", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/admin/subcommissions")]
pub async fn list_subcommissions(
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    let list = state
        .use_case(
            &who,
            Action::SubcommissionAdmin,
            None,
            move |conn, _, actor, _| commission::list(conn, actor),
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Create a subcommission, or rename it and replace its specialties.
#[utoipa::path(
    tag = "admin",
    params(("code" = String, Path, description = "Subcommission code")),
    request_body = SubcommissionBody,
    responses(
        (status = 200, description = "As stored", body = Subcommission),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 422, description = "Bad code, name or specialty", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[put("/api/v1/admin/subcommissions/{code}")]
pub async fn put_subcommission(
    state: web::Data<AppState>,
    who: Principal,
    code: web::Path<String>,
    body: JsonBody<SubcommissionBody>,
) -> Result<HttpResponse, ApiError> {
    let d = Definition {
        code: code.into_inner(),
        name: body.0.name,
        specialties: body.0.specialties.into_iter().collect(),
    };
    let s = state
        .use_case(
            &who,
            Action::SubcommissionAdmin,
            None,
            move |conn, _, actor, now| commission::define(conn, Some(actor), &d, now),
        )
        .await?;
    Ok(HttpResponse::Ok().json(s))
}

/// Adds (`add`) or removes a member, as the caller.
async fn membership(
    state: web::Data<AppState>,
    who: Principal,
    (code, user): (String, String),
    add: bool,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .use_case(
            &who,
            Action::SubcommissionAdmin,
            None,
            move |conn, _, actor, now| {
                commission::membership(conn, Some(actor), &code, &user, add, now)
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(s))
}

/// Add a reviewer or a secretary to a subcommission.
#[utoipa::path(
    tag = "admin",
    params(
        ("code" = String, Path, description = "Subcommission code"),
        ("user" = String, Path, description = "User id"),
    ),
    responses(
        (status = 200, description = "The subcommission now", body = Subcommission),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, description = "No such subcommission or user", body = ErrorBody),
        (status = 422, description = "The user has no commission role", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[put("/api/v1/admin/subcommissions/{code}/members/{user}")]
pub async fn add_member(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    membership(state, who, path.into_inner(), true).await
}

/// Remove a member from a subcommission.
#[utoipa::path(
    tag = "admin",
    params(
        ("code" = String, Path, description = "Subcommission code"),
        ("user" = String, Path, description = "User id"),
    ),
    responses(
        (status = 200, description = "The subcommission now", body = Subcommission),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, description = "No such subcommission or user", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[delete("/api/v1/admin/subcommissions/{code}/members/{user}")]
pub async fn remove_member(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    membership(state, who, path.into_inner(), false).await
}
