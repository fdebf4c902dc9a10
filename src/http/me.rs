//! The caller's own account: profile, consent, sessions.

use super::AppState;
use super::auth::Principal;
use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use crate::domain::role::Role;
use crate::identity::account;
use crate::store::{StoreError, users};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The caller.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// User id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Roles held.
    pub roles: Vec<Role>,
    /// Current session id.
    pub session_id: String,
    /// Consent to the transfer of personal data is still to be given (no case access until then).
    pub consent_pending: bool,
    /// The cross-check with the register of medical workers (ФРМР) from the last login, or
    /// from the re-check after a register sync; none before the first login through the
    /// identity provider.
    pub register: Option<RegisterCheck>,
}

/// A register cross-check as the cabinet shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegisterCheck {
    /// `registry_match`, `registry_not_found`, `registry_discrepancy` or `registry_no_identity`.
    pub code: String,
    /// What to do, in Russian.
    pub message: String,
    /// The outcome: `result`, and for a discrepancy each differing field with both values.
    #[schema(value_type = Object)]
    pub outcome: serde_json::Value,
    /// When it was checked.
    pub checked_at: DateTime<Utc>,
}

/// Who am I.
#[utoipa::path(
    tag = "me",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/me")]
pub async fn me(state: web::Data<AppState>, who: Principal) -> Result<HttpResponse, ApiError> {
    let me = state
        .with_session(&who, |conn, auth, _| {
            let user = users::find(conn, &auth.user)
                .map_err(StoreError::from)?
                .ok_or_else(|| StoreError::Corrupt("session user missing".into()))?;
            let register = crate::store::profiles::find(conn, &user.id)
                .map_err(StoreError::from)?
                .map(|p| {
                    let outcome: serde_json::Value =
                        serde_json::from_str(&p.registry_detail).unwrap_or_default();
                    let message = outcome["message"].as_str().unwrap_or_default().to_owned();
                    RegisterCheck {
                        code: p.registry_result,
                        message,
                        outcome,
                        checked_at: p.checked_at.and_utc(),
                    }
                });
            Ok(Me {
                register,
                id: user.id,
                display_name: user.display_name,
                roles: auth.roles.iter().copied().collect(),
                session_id: auth.session.to_string(),
                consent_pending: auth.consent_pending,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(me))
}

/// A decision on the transfer of personal data.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// `true`: I agree to the transfer of my data for accreditation.
    pub granted: bool,
}

/// Give or refuse consent to the transfer of personal data (recorded and audited).
#[utoipa::path(
    tag = "me",
    request_body = ConsentBody,
    responses((status = 204, description = "Recorded")),
    security(("session" = []))
)]
#[post("/api/v1/me/consent")]
pub async fn consent(
    state: web::Data<AppState>,
    who: Principal,
    body: JsonBody<ConsentBody>,
) -> Result<HttpResponse, ApiError> {
    let granted = body.0.granted;
    state
        .with_session(&who, move |conn, auth, now| {
            account::decide_consent(conn, auth.user.as_str(), granted, now).map_err(ApiError::from)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One of the caller's sessions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// Session id.
    pub id: String,
    /// Started at (UTC).
    pub created_at: DateTime<Utc>,
    /// Last used at (UTC).
    pub last_seen_at: DateTime<Utc>,
    /// Ends at the latest (UTC).
    pub expires_at: DateTime<Utc>,
    /// Whether this is the session of this request.
    pub current: bool,
}

/// The caller's active sessions.
#[utoipa::path(
    tag = "me",
    responses((status = 200, description = "Newest first", body = [SessionInfo])),
    security(("session" = []))
)]
#[get("/api/v1/me/sessions")]
pub async fn sessions(
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    let list = state
        .with_session(&who, |conn, auth, now| {
            let rows = account::sessions(conn, auth.user.as_str(), now)?;
            Ok(rows
                .into_iter()
                .map(|s| SessionInfo {
                    current: s.id == auth.session.as_str(),
                    id: s.id,
                    created_at: s.created_at.and_utc(),
                    last_seen_at: s.last_seen_at.and_utc(),
                    expires_at: s.expires_at.and_utc(),
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// End one of the caller's sessions (on any device).
#[utoipa::path(
    tag = "me",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "No such active session of yours", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[delete("/api/v1/me/sessions/{id}")]
pub async fn end_session(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let ended = state
        .with_session(&who, move |conn, auth, now| {
            account::end_session(conn, auth.user.as_str(), &id, now).map_err(ApiError::from)
        })
        .await?;
    if ended {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "session_not_found",
            "Такого активного сеанса нет",
        ))
    }
}

/// One in-cabinet notification.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Notification {
    /// Id (also the idempotency key of its deliveries on other channels).
    pub id: String,
    /// The case it is about.
    pub case_id: Option<String>,
    /// `submission_registered`, `status_changed`, `revision_requested` or `decision`.
    pub event: String,
    /// One line, in Russian.
    pub subject: String,
    /// The text, in Russian.
    pub body: String,
    /// When (UTC).
    pub created_at: DateTime<Utc>,
    /// When the person marked it read.
    pub read_at: Option<DateTime<Utc>>,
}

/// The cabinet's notification list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Notifications {
    /// How many are unread in all.
    pub unread: i64,
    /// Newest first, at most 100.
    pub items: Vec<Notification>,
}

/// Query of the notification list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct NotificationsQuery {
    /// Only unread ones.
    #[serde(default)]
    pub unread: bool,
}

/// The caller's notifications in the cabinet, newest first.
#[utoipa::path(
    tag = "me",
    params(NotificationsQuery),
    responses(
        (status = 200, description = "The list and the unread count", body = Notifications),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/me/notifications")]
pub async fn notifications(
    state: web::Data<AppState>,
    who: Principal,
    query: web::Query<NotificationsQuery>,
) -> Result<HttpResponse, ApiError> {
    let unread_only = query.unread;
    let list = state
        .with_session(&who, move |conn, auth, _| {
            let (items, unread) =
                crate::store::notifications::inbox(conn, auth.user.as_str(), unread_only, 100)
                    .map_err(StoreError::from)?;
            Ok(Notifications {
                unread,
                items: items
                    .into_iter()
                    .map(|n| Notification {
                        id: n.id,
                        case_id: n.case_id,
                        event: n.event,
                        subject: n.subject,
                        body: n.body,
                        created_at: n.created_at.and_utc(),
                        read_at: n.read_at.map(|t| t.and_utc()),
                    })
                    .collect(),
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Marks one of the caller's notifications read.
#[utoipa::path(
    tag = "me",
    params(("id" = String, Path, description = "Notification id")),
    responses(
        (status = 204, description = "Read"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such notification of the caller", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[post("/api/v1/me/notifications/{id}/read")]
pub async fn notification_read(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let found = state
        .with_session(&who, move |conn, auth, now| {
            crate::store::notifications::mark_read(conn, auth.user.as_str(), &id, now.naive_utc())
                .map_err(|e| ApiError::from(StoreError::from(e)))
        })
        .await?;
    if found {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "notification_not_found",
            "Такого уведомления нет",
        ))
    }
}
