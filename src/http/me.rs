//! The caller's own profile.

use super::AppState;
use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use crate::domain::role::Role;
use crate::store::{StoreError, users};
use actix_web::{HttpResponse, get, web};
use serde::Serialize;

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
    let user_id = who.actor.user.clone();
    let user = state
        .store
        .run(move |conn| users::find(conn, &user_id).map_err(StoreError::from))
        .await?
        .ok_or_else(|| ApiError::internal(&"session user missing"))?;
    Ok(HttpResponse::Ok().json(Me {
        id: user.id,
        display_name: user.display_name,
        roles: who.actor.roles.into_iter().collect(),
        session_id: who.session_id,
    }))
}
