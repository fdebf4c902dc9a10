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
    let session_id = who.claims.sid.clone();
    let me = state
        .use_case(&who, "me.read", None, move |conn, _, actor, _| {
            let user = users::find(conn, &actor.user)?
                .ok_or_else(|| StoreError::Corrupt("session user missing".into()))?;
            Ok(Me {
                id: user.id,
                display_name: user.display_name,
                roles: actor.roles.iter().copied().collect(),
                session_id,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(me))
}
