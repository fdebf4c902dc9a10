//! Case endpoints: create, read, list, autosave the form, run transitions, history.

use super::AppState;
use super::action::Action;
use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use super::optional_body::OptionalJsonBody;
use crate::service::cases::{self, CaseDto, HistoryEntry, ListQuery};
use crate::service::{form, idempotent, transition};
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, put, web};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use validator::Validate;

/// Body of `POST /api/v1/cases`.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCase {
    /// Workflow id, e.g. `periodic_accreditation`.
    #[validate(length(min = 1, max = 100))]
    pub workflow: String,
}

/// Body of `POST /api/v1/cases/{id}/transitions/{name}`.
#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// Reason of the decision (required by some transitions).
    #[validate(length(max = 4000))]
    pub reason: Option<String>,
    /// Detached CMS (PKCS#7) signature over the case's signing payload: base64 of DER, or PEM
    /// (required by `submit` and `resubmit`).
    #[validate(length(max = 700000))]
    pub signature: Option<String>,
    /// A rejection's reasons: codes from the catalogue (`GET /api/v1/workflows/{id}` lists
    /// them as `rejection_reasons`).
    #[validate(length(max = 20))]
    pub reasons: Option<Vec<String>>,
    /// Recommendations to the applicant (a decision), up to 4000 characters.
    #[validate(length(max = 4000))]
    pub recommendations: Option<String>,
    /// What a return for revision asks to fix.
    pub fixes: Option<crate::engine::decision::Fixes>,
}

/// Body of `PUT /api/v1/cases/{id}/attributes`.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributesBody {
    /// Attribute → value (`{"priority": "urgent"}`); the workflow (`GET
    /// /api/v1/workflows/{id}`) lists its attributes, their values and who may set them.
    #[validate(length(min = 1, max = 10))]
    pub attributes: std::collections::BTreeMap<String, String>,
    /// Why, up to 4000 characters (kept in the case's audit chain).
    #[validate(length(max = 4000))]
    pub reason: Option<String>,
}

/// Query of `GET /api/v1/cases`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// Only cases in this state.
    pub state: Option<String>,
    /// Only cases of this workflow.
    pub workflow: Option<String>,
    /// Page size, 1..=100 (default 50).
    pub limit: Option<i64>,
    /// Cursor: cases older than this case id.
    pub before: Option<String>,
    /// Staff: list only own cases.
    pub mine: Option<bool>,
    /// Only cases whose current step is past due.
    pub overdue: Option<bool>,
    /// Only cases whose current step is due on or before this date (YYYY-MM-DD, Moscow).
    pub due_before: Option<chrono::NaiveDate>,
    /// `due`: earliest due date first (the first page only: `before` pages by creation).
    pub sort: Option<String>,
}

fn invalid(errors: &validator::ValidationErrors) -> ApiError {
    let details = errors
        .field_errors()
        .iter()
        .flat_map(|(field, errs)| {
            errs.iter().map(move |e| super::error::ErrorDetail {
                field: format!("/{field}"),
                code: e.code.to_string(),
                message: "Недопустимая длина значения".into(),
            })
        })
        .collect();
    ApiError::new(
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        "Запрос заполнен с ошибками",
    )
    .with_details(details)
}

fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or_default().trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>().map(Some).map_err(|_| {
        ApiError::bad_request(
            "invalid_if_match",
            "Заголовок If-Match должен содержать ETag заявления, например \"3\"",
        )
    })
}

/// A case id from the path; a malformed one is answered like an unknown case.
pub(super) fn case_id(raw: &str) -> Result<String, ApiError> {
    crate::domain::ids::CaseId::parse(raw)
        .map(|id| id.to_string())
        .ok_or_else(|| {
            ApiError::new(
                actix_web::http::StatusCode::NOT_FOUND,
                "case_not_found",
                "Заявление не найдено",
            )
        })
}

fn with_etag(mut res: actix_web::HttpResponseBuilder, dto: &CaseDto) -> HttpResponse {
    res.insert_header((header::ETAG, format!("\"{}\"", dto.version)));
    res.json(dto)
}

/// Create a draft.
#[utoipa::path(
    tag = "cases",
    request_body = CreateCase,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry key (1–255 printable ASCII): a repeated request returns the first result with `Idempotent-Replayed: true` and creates nothing again")),
    responses(
        (status = 201, description = "Draft created", body = CaseDto),
        (status = 422, description = "Unknown workflow", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[post("/api/v1/cases")]
pub async fn create_case(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Principal,
    body: JsonBody<CreateCase>,
) -> Result<HttpResponse, ApiError> {
    body.0.validate().map_err(|e| invalid(&e))?;
    let workflow = body.0.workflow;
    let key =
        super::idempotency::key(req.headers(), &[b"POST /api/v1/cases", workflow.as_bytes()])?;
    let made = state
        .use_case(
            &who,
            Action::CaseCreate,
            None,
            move |conn, catalog, actor, now| {
                idempotent::once(
                    conn,
                    actor,
                    &key,
                    now,
                    |d: &CaseDto| d.id.clone(),
                    |conn| cases::create(conn, catalog, actor, &workflow, now),
                )
            },
        )
        .await?;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/v1/cases/{}", made.value.id)));
    super::idempotency::mark(&mut res, made.replayed);
    Ok(with_etag(res, &made.value))
}

/// Read a case with the transitions the caller may run.
#[utoipa::path(
    tag = "cases",
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "The case", body = CaseDto),
        (status = 404, description = "No such case (or not yours)", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/cases/{id}")]
pub async fn get_case(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    let dto = state
        .use_case(
            &who,
            Action::CaseRead,
            Some(id.clone()),
            move |conn, catalog, actor, now| cases::get(conn, catalog, actor, &id, now),
        )
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &dto))
}

/// List cases: own cases for specialists, submitted cases for staff.
#[utoipa::path(
    tag = "cases",
    params(ListParams),
    responses((status = 200, description = "Cases, newest first", body = [CaseDto])),
    security(("session" = []))
)]
#[get("/api/v1/cases")]
pub async fn list_cases(
    state: web::Data<AppState>,
    who: Principal,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let by_due = match params.sort.as_deref() {
        None | Some("created") => false,
        Some("due") if params.before.is_none() => true,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "Неверные параметры запроса: sort — created или due (due — без before)",
            ));
        }
    };
    let query = ListQuery {
        state: params.state,
        workflow: params.workflow,
        limit: params.limit.unwrap_or(50),
        before: params.before,
        overdue: params.overdue.unwrap_or(false),
        due_before: params.due_before,
        by_due,
    };
    let mine = params.mine.unwrap_or(false);
    let list = state
        .use_case(
            &who,
            Action::CaseList,
            None,
            move |conn, catalog, actor, now| cases::list(conn, catalog, actor, &query, mine, now),
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Autosave form data (JSON merge patch). Drafts may be incomplete.
#[utoipa::path(
    tag = "cases",
    params(
        ("id" = String, Path, description = "Case id"),
        ("If-Match" = String, Header, description = "ETag of the case as last read"),
    ),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Saved", body = CaseDto),
        (status = 409, description = "Stale version or case not editable", body = ErrorBody),
        (status = 422, description = "Field errors", body = ErrorBody),
        (status = 428, description = "If-Match missing", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[patch("/api/v1/cases/{id}/form")]
pub async fn patch_form(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    let expected = if_match(req.headers())?;
    let dto = state
        .use_case(
            &who,
            Action::CaseForm,
            Some(id.clone()),
            move |conn, catalog, actor, now| {
                form::patch(conn, catalog, actor, &id, expected, &body.0, now)
            },
        )
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &dto))
}

/// Change what the case is classed by (a support request's priority or kind): audited; a norm
/// of the current step that depends on it is counted anew from the step's start.
#[utoipa::path(
    tag = "cases",
    params(
        ("id" = String, Path, description = "Case id"),
        ("If-Match" = String, Header, description = "ETag of the case as last read"),
    ),
    request_body = AttributesBody,
    responses(
        (status = 200, description = "Changed (or already so)", body = CaseDto),
        (status = 403, description = "The caller may not set this attribute", body = ErrorBody),
        (status = 404, description = "No such case", body = ErrorBody),
        (status = 409, description = "Stale version, or the case is closed", body = ErrorBody),
        (status = 422, description = "Unknown attribute or value", body = ErrorBody),
        (status = 428, description = "If-Match missing", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[put("/api/v1/cases/{id}/attributes")]
pub async fn put_attributes(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
    req: HttpRequest,
    body: JsonBody<AttributesBody>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    body.0.validate().map_err(|e| invalid(&e))?;
    let expected = if_match(req.headers())?;
    let dto = state
        .use_case_with_rules(
            &who,
            Action::CaseAttributes,
            Some(id.clone()),
            move |conn, rules, actor, now| {
                let body = &body.0;
                crate::service::attributes::set(
                    conn,
                    rules,
                    actor,
                    (&id, expected),
                    &body.attributes,
                    body.reason.as_deref(),
                    now,
                )
            },
        )
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &dto))
}

/// Run a transition by name.
#[utoipa::path(
    tag = "cases",
    params(
        ("id" = String, Path, description = "Case id"),
        ("name" = String, Path, description = "Transition name"),
        ("If-Match" = String, Header, description = "ETag of the case as last read"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry key (1–255 printable ASCII): a repeated request returns the first result with `Idempotent-Replayed: true`"),
    ),
    request_body(
        content = TransitionBody,
        description = "May be left out (no body and no Content-Type): the same as `{}`"
    ),
    responses(
        (status = 200, description = "Done (or replayed)", body = CaseDto),
        (status = 403, description = "Role not allowed, or own case", body = ErrorBody),
        (status = 404, description = "No such case or transition", body = ErrorBody),
        (status = 409, description = "Not allowed from this state, or stale version", body = ErrorBody),
        (status = 422, description = "Reason missing or guards failed", body = ErrorBody),
        (status = 428, description = "If-Match missing", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[post("/api/v1/cases/{id}/transitions/{name}")]
pub async fn run_transition(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    body: OptionalJsonBody<TransitionBody>,
) -> Result<HttpResponse, ApiError> {
    let (raw_id, name) = path.into_inner();
    let id = case_id(&raw_id)?;
    body.0.validate().map_err(|e| invalid(&e))?;
    let fixes = body.0.fixes.clone().unwrap_or_default();
    if fixes.fields.len() + fixes.documents.len() > 50 {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "Замечаний к доработке — не больше 50",
        ));
    }
    let decision = crate::engine::decision::Decision {
        reasons: body.0.reasons.clone().unwrap_or_default(),
        recommendations: body.0.recommendations.clone(),
        fixes,
    };
    let decision_json =
        serde_json::json!([decision.reasons, decision.recommendations, decision.fixes]).to_string();
    let mut fingerprint = Sha256::new();
    for part in [
        id.as_bytes(),
        b"\n",
        name.as_bytes(),
        b"\n",
        body.0.reason.as_deref().unwrap_or_default().as_bytes(),
        b"\n",
        body.0.signature.as_deref().unwrap_or_default().as_bytes(),
        b"\n",
        decision_json.as_bytes(),
    ] {
        fingerprint.update(part);
    }
    let request = transition::Request {
        case_id: id.clone(),
        name,
        reason: body.0.reason,
        if_match: if_match(req.headers())?,
        idempotency_key: super::idempotency::header(req.headers())?,
        fingerprint: hex::encode(fingerprint.finalize()),
        signature: body.0.signature.map(String::into_bytes),
        decision,
    };
    let outcome = state
        .use_case_with_rules(
            &who,
            Action::CaseTransition,
            Some(id),
            move |conn, rules, actor, now| transition::run(conn, rules, actor, &request, now),
        )
        .await?;
    Ok(match outcome {
        transition::Outcome::Done(dto) => with_etag(HttpResponse::Ok(), &dto),
        transition::Outcome::Replayed(dto) => {
            let mut res = HttpResponse::Ok();
            res.insert_header(("Idempotent-Replayed", "true"));
            with_etag(res, &dto)
        }
    })
}

/// Status history: who, when, from, to, reason.
#[utoipa::path(
    tag = "cases",
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "Oldest first", body = [HistoryEntry]),
        (status = 404, description = "No such case (or not yours)", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/cases/{id}/history")]
pub async fn case_history(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    let intake = state.signing.intake;
    let list = state
        .use_case(
            &who,
            Action::CaseHistory,
            Some(id.clone()),
            move |conn, catalog, actor, _| cases::history(conn, catalog, actor, &id, intake),
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}
