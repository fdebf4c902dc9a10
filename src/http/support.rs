//! The help desk's endpoints: «Мои обращения» for an author, the queue of an agent's line, and
//! the administration of the desk's lines. A request itself is a case: it is created, read,
//! filled in, sent and moved with the cases' endpoints, and commented on with its messages.

use super::AppState;
use super::action::Action;
use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use crate::service::support::{self, Query, RequestSummary};
use crate::store::support::Agent;
use actix_web::{HttpResponse, delete, get, put, web};
use serde::Deserialize;

/// Query of `GET /api/v1/support/requests` and `/support/queue`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RequestParams {
    /// Closed requests too (by default only open ones are listed).
    pub all: Option<bool>,
    /// Number or words of the subject (case-insensitive); searches closed requests too.
    pub q: Option<String>,
    /// State code.
    pub state: Option<String>,
    /// Category code.
    pub category: Option<String>,
    /// `normal` or `urgent`.
    pub priority: Option<String>,
    /// The queue: only requests assigned to the caller.
    pub mine: Option<bool>,
    /// Only past due.
    pub overdue: Option<bool>,
    /// At most this many, 1..=100 (default 50).
    pub limit: Option<i64>,
}

impl From<RequestParams> for Query {
    fn from(p: RequestParams) -> Self {
        Query {
            all: p.all.unwrap_or(false),
            text: p.q.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
            state: p.state,
            category: p.category,
            priority: p.priority,
            mine: p.mine.unwrap_or(false),
            overdue: p.overdue.unwrap_or(false),
            limit: p.limit.unwrap_or(50),
        }
    }
}

/// «Мои обращения»: the caller's support requests, newest first.
#[utoipa::path(
    tag = "support",
    params(RequestParams),
    responses(
        (status = 200, description = "Own requests (open ones unless `all` or `q`)", body = [RequestSummary]),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/support/requests")]
pub async fn my_requests(
    state: web::Data<AppState>,
    who: Principal,
    params: web::Query<RequestParams>,
) -> Result<HttpResponse, ApiError> {
    let q: Query = params.into_inner().into();
    let list = state
        .use_case(
            &who,
            Action::SupportList,
            None,
            move |conn, catalog, actor, now| support::mine(conn, catalog, actor, &q, now),
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// The queue of the caller's support line and of the requests assigned to them: overdue
/// first, then urgent, then by due date.
#[utoipa::path(
    tag = "support",
    params(RequestParams),
    responses(
        (status = 200, description = "Requests", body = [RequestSummary]),
        (status = 403, description = "Not a support agent", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/support/queue")]
pub async fn queue(
    state: web::Data<AppState>,
    who: Principal,
    params: web::Query<RequestParams>,
) -> Result<HttpResponse, ApiError> {
    let q: Query = params.into_inner().into();
    let list = state
        .use_case(
            &who,
            Action::SupportQueue,
            None,
            move |conn, catalog, actor, now| support::queue(conn, catalog, actor, &q, now),
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Every agent of the desk.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "By line", body = [Agent]),
        (status = 403, description = "Not an administrator", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/admin/support/agents")]
pub async fn agents(state: web::Data<AppState>, who: Principal) -> Result<HttpResponse, ApiError> {
    let list = state
        .use_case(
            &who,
            Action::SupportAdmin,
            None,
            move |conn, _, actor, _| support::agents(conn, actor),
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Body of `PUT /api/v1/admin/support/agents/{user}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentBody {
    /// 1 (first line) or 2 (second line).
    pub line: i16,
    /// Whether they lead the line.
    #[serde(default)]
    pub lead: bool,
}

/// Put a support agent on a line (or move them).
#[utoipa::path(
    tag = "admin",
    params(("user" = String, Path, description = "User id")),
    request_body = AgentBody,
    responses(
        (status = 200, description = "As placed", body = Agent),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Bad line, or the user has no support role", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[put("/api/v1/admin/support/agents/{user}")]
pub async fn put_agent(
    state: web::Data<AppState>,
    who: Principal,
    user: web::Path<String>,
    body: JsonBody<AgentBody>,
) -> Result<HttpResponse, ApiError> {
    let (user, place) = (user.into_inner(), (body.0.line, body.0.lead));
    let agent = state
        .use_case(
            &who,
            Action::SupportAdmin,
            None,
            move |conn, _, actor, now| {
                support::place_agent(conn, Some(actor), &user, Some(place), now)
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(agent))
}

/// Take an agent off the desk.
#[utoipa::path(
    tag = "admin",
    params(("user" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Off the desk (or was not on it)"),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[delete("/api/v1/admin/support/agents/{user}")]
pub async fn remove_agent(
    state: web::Data<AppState>,
    who: Principal,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = user.into_inner();
    state
        .use_case(
            &who,
            Action::SupportAdmin,
            None,
            move |conn, _, actor, now| support::place_agent(conn, Some(actor), &user, None, now),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
