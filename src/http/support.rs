//! The help desk's endpoints: «Мои обращения» for an author, the queue of an agent's line, and
//! the administration of the desk's lines. A request itself is a case: it is created, read,
//! filled in, sent and moved with the cases' endpoints, and commented on with its messages.

use super::AppState;
use super::action::Action;
use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use crate::service::support::{self, Person, PersonQuery, Query, RequestSummary, Stats};
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

/// Query of `GET /api/v1/support/people`: exactly one of them.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PeopleParams {
    /// SNILS, `XXX-XXX-XXX XX` or 11 digits.
    pub snils: Option<String>,
    /// The start of the full name (at least three letters).
    pub name: Option<String>,
}

/// Find a person by SNILS or name, with their cases (summaries; read-only).
#[utoipa::path(
    tag = "support",
    params(PeopleParams),
    responses(
        (status = 200, description = "People found (at most 20)", body = [Person]),
        (status = 400, description = "Neither or both of snils and name", body = ErrorBody),
        (status = 403, description = "Not a support agent", body = ErrorBody),
        (status = 422, description = "Bad SNILS or too short a name", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/support/people")]
pub async fn people(
    state: web::Data<AppState>,
    who: Principal,
    params: web::Query<PeopleParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let q = match (nonempty(p.snils), nonempty(p.name)) {
        (Some(s), None) => PersonQuery::Snils(s),
        (None, Some(n)) => PersonQuery::Name(n),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "Укажите одно из двух: snils (СНИЛС) или name (начало ФИО)",
            ));
        }
    };
    let found = state
        .use_case(
            &who,
            Action::SupportPeople,
            None,
            move |conn, catalog, actor, now| support::find_people(conn, catalog, actor, &q, now),
        )
        .await?;
    Ok(HttpResponse::Ok().json(found))
}

/// Requests by category over the last three months.
#[utoipa::path(
    tag = "support",
    responses(
        (status = 200, description = "Statistics", body = Stats),
        (status = 403, description = "Neither a support agent nor an administrator", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/support/stats")]
pub async fn stats(state: web::Data<AppState>, who: Principal) -> Result<HttpResponse, ApiError> {
    let s = state
        .use_case(
            &who,
            Action::SupportQueue,
            None,
            move |conn, _, actor, now| support::stats(conn, actor, now),
        )
        .await?;
    Ok(HttpResponse::Ok().json(s))
}
