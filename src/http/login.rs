//! Login through the identity provider: `/auth/login`, `/auth/callback`, `/auth/logout`.

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use crate::identity::login::{self, Refusal};
use crate::identity::oidc::{LoginError, Oidc};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Name of the session cookie (with the `__Host-` prefix when served over HTTPS).
pub fn cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-accredo_session"
    } else {
        "accredo_session"
    }
}

fn oidc(state: &AppState) -> Result<Arc<Oidc>, ApiError> {
    state.oidc.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "login_not_configured",
            "Вход через Госуслуги не настроен на этом сервере",
        )
    })
}

/// The client address as seen on the socket (forwarding headers are not trusted).
fn client_of(req: &HttpRequest) -> String {
    req.peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
}

/// Start a login: redirect to the identity provider.
#[get("/auth/login")]
pub async fn begin(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let oidc = oidc(&state)?;
    let (url, pending) = oidc.begin();
    let now = state.clock.now();
    state
        .store
        .run(move |conn| login::remember(conn, &pending, now))
        .await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// Query of the callback.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// A started session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionStarted {
    /// Bearer token for API clients (the browser gets the same in an HttpOnly cookie).
    pub token: String,
    /// Session id.
    pub session_id: String,
    /// When the session ends at the latest (UTC).
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The user's display name.
    pub display_name: String,
}

fn login_failed(code: &'static str, status: StatusCode, message: &str) -> ApiError {
    ApiError::new(status, code, message)
}

/// The identity provider sends the browser back here.
#[get("/auth/callback")]
pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let oidc = oidc(&state)?;
    let client = client_of(&req);
    let ip = req.peer_addr().map(|a| a.ip());
    let now = state.clock.now();
    let query = query.into_inner();
    if let Err(e) = state.failures.check(ip, now) {
        let client = client.clone();
        state
            .store
            .run(move |conn| login::record_failure(conn, "too_many_attempts", &client, now))
            .await?;
        return Err(e);
    }
    let fail = |code: &'static str| {
        let client = client.clone();
        let store = state.store.clone();
        if code != "account_not_confirmed" {
            state.failures.fail(ip, now);
        }
        async move {
            store
                .run(move |conn| login::record_failure(conn, code, &client, now))
                .await
        }
    };
    if query.error.is_some() {
        fail("provider_error").await?;
        return Err(login_failed(
            "login_cancelled",
            StatusCode::UNAUTHORIZED,
            "Вход не выполнен: Госуслуги вернули отказ. Попробуйте войти ещё раз",
        ));
    }
    let (Some(code), Some(st)) = (query.code, query.state) else {
        fail("invalid_callback").await?;
        return Err(login_failed(
            "invalid_callback",
            StatusCode::BAD_REQUEST,
            "Неполный ответ от Госуслуг: начните вход заново",
        ));
    };
    let pending = state
        .store
        .run(move |conn| login::take(conn, &st, now))
        .await?;
    let Some(pending) = pending else {
        fail("invalid_state").await?;
        return Err(login_failed(
            "invalid_state",
            StatusCode::BAD_REQUEST,
            "Ссылка входа устарела или уже использована: начните вход заново",
        ));
    };
    let identity = match oidc.finish(&code, &pending).await {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!(error = %e, "login failed");
            let (code, status, message) = match e {
                LoginError::Provider(_) => (
                    "provider_unavailable",
                    StatusCode::BAD_GATEWAY,
                    "Госуслуги сейчас не отвечают или ответили с ошибкой: попробуйте войти позже",
                ),
                LoginError::BadResponse(_) => (
                    "provider_bad_response",
                    StatusCode::BAD_GATEWAY,
                    "Госуслуги прислали ответ, который не удалось разобрать: попробуйте войти позже",
                ),
                LoginError::CodeRefused(_) => (
                    "code_refused",
                    StatusCode::UNAUTHORIZED,
                    "Госуслуги не подтвердили вход (код входа недействителен или уже использован): начните вход заново",
                ),
                LoginError::InvalidIdToken(_) | LoginError::NoSubject => (
                    "invalid_id_token",
                    StatusCode::UNAUTHORIZED,
                    "Ответ Госуслуг не прошёл проверку подлинности: вход отклонён",
                ),
            };
            fail(code).await?;
            return Err(login_failed(code, status, message));
        }
    };
    let keys = state.keys.clone();
    let policy = state.policy;
    let started = state
        .store
        .run(
            move |conn| match login::complete(conn, &keys, policy, &identity, &client, now) {
                Ok((session, token)) => Ok(Ok((session, token, identity.display_name()))),
                Err(Refusal::NotConfirmed) => Ok(Err(())),
                Err(Refusal::Store(e)) => Err(e),
            },
        )
        .await?;
    let Ok((session, token, display_name)) = started else {
        return Err(login_failed(
            "account_not_confirmed",
            StatusCode::FORBIDDEN,
            "Вход возможен только с подтверждённой учётной записью Госуслуг. Подтвердите её: в личном кабинете Госуслуг, через онлайн-банк или в центре обслуживания с паспортом и СНИЛС — и войдите снова",
        ));
    };
    Ok(session_started(state.https, session, token, display_name))
}

/// Where the browser goes after logout.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoggedOut {
    /// The identity provider's end-session URL, when it has one.
    pub end_session_url: Option<String>,
}

/// End the session on the server; a browser (Accept: text/html) is then sent on to the
/// provider's end-session endpoint, an API client gets its URL.
#[post("/auth/logout")]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    let sid = who.claims.sid.clone();
    let now = state.clock.now();
    state
        .use_case(&who, "session.logout", None, move |conn, _, actor, _| {
            crate::identity::account::end_session(conn, actor.user.as_str(), &sid, now)
                .map_err(Into::into)
        })
        .await?;
    let end = state
        .oidc
        .as_ref()
        .and_then(|o| o.end_session_url(None))
        .map(|u| u.to_string());
    let mut expired = session_cookie(state.https, "");
    expired.set_max_age(actix_web::cookie::time::Duration::ZERO);
    let browser = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    match end {
        Some(url) if browser => Ok(HttpResponse::SeeOther()
            .cookie(expired)
            .insert_header((header::LOCATION, url))
            .finish()),
        end => Ok(HttpResponse::Ok().cookie(expired).json(LoggedOut {
            end_session_url: end,
        })),
    }
}

/// The answer that starts a session: the token as JSON for API clients and as a cookie.
fn session_started(
    https: bool,
    session: crate::store::sessions::Session,
    token: String,
    display_name: String,
) -> HttpResponse {
    HttpResponse::Ok()
        .cookie(session_cookie(https, &token))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(SessionStarted {
            token,
            session_id: session.id,
            expires_at: session.expires_at.and_utc(),
            display_name,
        })
}

fn session_cookie(https: bool, token: &str) -> Cookie<'static> {
    Cookie::build(cookie_name(https), token.to_owned())
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .finish()
}

/// Replace the session with a new one (new id and token, same latest end); the old token stops
/// working at once.
#[post("/auth/refresh")]
pub async fn refresh(state: web::Data<AppState>, who: Principal) -> Result<HttpResponse, ApiError> {
    let keys = state.keys.clone();
    let (session, token, display_name) = state
        .with_session(&who, move |conn, auth, now| {
            let (session, token) = crate::identity::account::refresh(conn, &keys, auth, now)?;
            let name = crate::store::users::find(conn, &auth.user)
                .map_err(crate::store::StoreError::from)?
                .map(|u| u.display_name)
                .unwrap_or_default();
            Ok((session, token, name))
        })
        .await?;
    Ok(session_started(state.https, session, token, display_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_over_https_is_host_prefixed_and_secure() {
        let c = session_cookie(true, "t");
        assert_eq!(c.name(), "__Host-accredo_session");
        assert_eq!(
            (c.secure(), c.http_only(), c.same_site(), c.path()),
            (Some(true), Some(true), Some(SameSite::Lax), Some("/"))
        );
        assert_eq!(c.domain(), None, "__Host- cookies carry no Domain");
        let plain = session_cookie(false, "t");
        assert_eq!(
            (plain.name(), plain.secure()),
            ("accredo_session", Some(false))
        );
    }
}
