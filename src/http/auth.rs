//! The caller, from `Authorization: Bearer <session token>` or the session cookie. The extractor checks the token
//! itself (signature, algorithm, issuer, audience, expiry) without touching the database; the
//! session it names is checked by [`super::AppState::use_case`] on the same connection as the
//! work, so a request costs one trip to the pool.

use super::AppState;
use super::error::ApiError;
use crate::identity::session::{self, AuthError};
use crate::identity::token::Claims;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::{Ready, ready};

/// A caller holding a valid session token (the session is checked when the work runs).
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's claims.
    pub claims: Claims,
}

fn bearer(req: &HttpRequest) -> Result<&str, AuthError> {
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
    Ok(token.trim())
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::internal(&"application state missing")));
        };
        let from_cookie = req
            .cookie(super::login::cookie_name(state.https))
            .map(|c| c.value().to_owned());
        let token = match (bearer(req), from_cookie) {
            (Err(AuthError::Missing), Some(cookie)) => Ok(cookie),
            (other, _) => other.map(str::to_owned),
        };
        let now = state.clock.now();
        let verified = token.and_then(|token| session::verify_token(&state.keys, &token, now));
        // Only failures are limited: a valid token is never refused because others behind
        // the same address failed.
        if matches!(verified, Err(AuthError::Invalid | AuthError::Expired)) {
            let ip = state.proxies.client_of(req);
            let over = state.failures.check(ip, now);
            state.failures.fail(ip, now);
            if let Err(e) = over {
                return ready(Err(e));
            }
        }
        ready(
            verified
                .map(|claims| Principal { claims })
                .map_err(ApiError::from),
        )
    }
}
