//! The authenticated caller, extracted from `Authorization: Bearer <session token>`.

use super::AppState;
use super::error::ApiError;
use crate::engine::Actor;
use crate::identity::session::{self, AuthError};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::Future;
use std::pin::Pin;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The caller as the engine sees them.
    pub actor: Actor,
    /// Their session id.
    pub session_id: String,
}

fn bearer(req: &HttpRequest) -> Result<String, AuthError> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Invalid)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Invalid);
    }
    Ok(token.trim().to_owned())
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(&"application state missing"))?;
            let token = token?;
            let keys = state.keys.clone();
            let policy = state.policy;
            let now = state.clock.now();
            let auth = state
                .store
                .run(move |conn| session::authenticate(conn, &keys, &token, policy, now))
                .await?;
            Ok(Principal {
                actor: Actor {
                    user: auth.user,
                    roles: auth.roles,
                },
                session_id: auth.session.to_string(),
            })
        })
    }
}
