//! The message thread of a case between the applicant and the commission.

use super::AppState;
use super::action::Action;
use super::auth::Principal;
use super::body::JsonBody;
use super::cases::case_id;
use super::error::{ApiError, ErrorBody};
use crate::service::idempotent;
use crate::service::messages::{self, MessageDto, NewMessage};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

/// Body of `POST /api/v1/cases/{id}/messages`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// Text, 1–4000 characters.
    pub body: String,
    /// Ids of documents of this case to attach (uploaded through
    /// `POST /api/v1/cases/{id}/documents`, so inspected like any other), at most 10.
    #[serde(default)]
    pub attachments: Vec<String>,
}

/// The thread, oldest first.
#[utoipa::path(
    tag = "messages",
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "Messages", body = [MessageDto]),
        (status = 404, description = "No such case (or not yours to see)", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/cases/{id}/messages")]
pub async fn list(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    let settings = state.messages;
    let list = state
        .use_case(
            &who,
            Action::CaseMessages,
            Some(id.clone()),
            move |conn, catalog, actor, _| messages::list(conn, catalog, actor, &id, settings),
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Write to the other side: the applicant to the commission, the commission to the applicant.
#[utoipa::path(
    tag = "messages",
    params(
        ("id" = String, Path, description = "Case id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry key (1–255 printable ASCII): a repeated request returns the first result with `Idempotent-Replayed: true` and posts nothing again"),
    ),
    request_body = MessageBody,
    responses(
        (status = 201, description = "Posted; the other side is notified", body = MessageDto),
        (status = 404, description = "No such case (or not yours to see)", body = ErrorBody),
        (status = 409, description = "The case has not been filed yet", body = ErrorBody),
        (status = 422, description = "Empty or too long, unknown attachment", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[post("/api/v1/cases/{id}/messages")]
pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<MessageBody>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    let settings = state.messages;
    let attachments = body.0.attachments.join("\n");
    let key = super::idempotency::key(
        req.headers(),
        &[
            b"POST /api/v1/cases/{id}/messages",
            id.as_bytes(),
            body.0.body.as_bytes(),
            attachments.as_bytes(),
        ],
    )?;
    let m = NewMessage {
        case_id: id.clone(),
        body: body.0.body,
        attachments: body.0.attachments,
    };
    let case = id.clone();
    let made = state
        .use_case_with_rules(
            &who,
            Action::CaseMessages,
            Some(id.clone()),
            move |conn, rules, actor, now| {
                idempotent::once(
                    conn,
                    actor,
                    &key,
                    now,
                    |_: &MessageDto| case.clone(),
                    |conn| messages::post(conn, rules, actor, &m, settings, now),
                )
            },
        )
        .await?;
    let mut res = HttpResponse::Created();
    super::idempotency::mark(&mut res, made.replayed);
    Ok(res.json(made.value))
}
