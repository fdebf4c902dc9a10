//! Login through the identity provider: `/auth/login`, `/auth/callback`, `/auth/logout`.

use super::AppState;
use super::action::Action;
use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use crate::identity::login::{self, Refusal, StartRefusal, Taken};
use crate::identity::oidc::{LoginError, Oidc};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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

/// Name of the cookie that binds a started login to the browser (with the `__Host-` prefix
/// over HTTPS).
pub fn login_cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-accredo_login"
    } else {
        "accredo_login"
    }
}

/// How long a browser may wait for the provider before retrying, once it is down.
const PROVIDER_RETRY_SECS: u32 = 30;

fn oidc(state: &AppState) -> Result<Arc<Oidc>, ApiError> {
    let provider = state.oidc.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "login_not_configured",
            "Вход через Госуслуги не настроен на этом сервере",
        )
    })?;
    provider.get().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_unavailable",
            "Госуслуги сейчас не отвечают, вход временно невозможен: попробуйте через минуту",
        )
        .with_retry_after(PROVIDER_RETRY_SECS)
    })
}

/// The client address (through trusted proxies only), as text for the audit log.
fn client_of(req: &HttpRequest, state: &AppState) -> String {
    state
        .proxies
        .client_of(req)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

fn login_cookie(
    https: bool,
    value: &str,
    max_age: actix_web::cookie::time::Duration,
) -> Cookie<'static> {
    Cookie::build(login_cookie_name(https), value.to_owned())
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .finish()
}

/// Start a login: redirect to the identity provider. The browser gets a short-lived cookie
/// that the callback must bring back: a callback URL carried to another client is refused.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 302, description = "To the identity provider (Location), with the login cookie",
            headers(("Location" = String, description = "The provider's authorization URL"))),
        (status = 429, description = "Too many logins begun from this address", body = ErrorBody),
        (status = 503, description = "Login is not configured, the provider is not reachable, or too many logins at once", body = ErrorBody),
    )
)]
#[get("/auth/login")]
pub async fn begin(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let oidc = oidc(&state)?;
    let (url, pending) = oidc.begin();
    let binding = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = login::browser_hash(&binding);
    let client = client_of(&req, &state);
    let now = state.clock.now();
    let started = state
        .store
        .run(
            move |conn| match login::remember(conn, &pending, &hash, &client, now) {
                Ok(()) => Ok(Ok(())),
                Err(StartRefusal::Store(e)) => Err(e),
                Err(refusal) => Ok(Err(refusal)),
            },
        )
        .await?;
    let retry = u32::try_from(login::LOGIN_TTL.num_seconds()).unwrap_or(600);
    match started {
        Ok(()) => {}
        Err(StartRefusal::TooManyFromClient) => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_pending_logins",
                "С вашего адреса начато слишком много входов: завершите начатый вход или подождите 10 минут",
            )
            .with_retry_after(retry));
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "login_busy",
                "Сейчас слишком много одновременных входов: попробуйте через несколько минут",
            )
            .with_retry_after(PROVIDER_RETRY_SECS));
        }
    }
    let max_age = actix_web::cookie::time::Duration::seconds(login::LOGIN_TTL.num_seconds());
    Ok(HttpResponse::Found()
        .cookie(login_cookie(state.https, &binding, max_age))
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
    /// The issuer of the authorization response (RFC 9207).
    iss: Option<String>,
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

fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Why a login failed, as the person is told: code, status and message.
fn refusal_of(e: &LoginError) -> (&'static str, StatusCode, &'static str) {
    match e {
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
        LoginError::ClientRefused(_) => (
            "provider_refused_client",
            StatusCode::BAD_GATEWAY,
            "Вход через Госуслуги временно недоступен из-за неполадки на нашей стороне: мы уже занимаемся ею, попробуйте позже",
        ),
        LoginError::InvalidIdToken(_) | LoginError::NoSubject => (
            "invalid_id_token",
            StatusCode::UNAUTHORIZED,
            "Ответ Госуслуг не прошёл проверку подлинности: вход отклонён",
        ),
    }
}

/// The identity provider sends the browser back here.
#[utoipa::path(
    tag = "auth",
    params(
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The state the login began with"),
        ("error" = Option<String>, Query, description = "The provider's error, instead of a code"),
        ("iss" = Option<String>, Query, description = "The issuer of the answer (RFC 9207)"),
    ),
    responses(
        (status = 200, description = "Logged in: the token, also as an HttpOnly cookie", body = SessionStarted),
        (status = 400, description = "No code or state, an unknown or expired state, another browser, or the provider's error", body = ErrorBody),
        (status = 401, description = "The provider refused the code, or its ID token failed the checks", body = ErrorBody),
        (status = 403, description = "The account is not confirmed", body = ErrorBody),
        (status = 502, description = "The provider did not answer, or answered wrongly", body = ErrorBody),
        (status = 503, description = "Login is not configured, or the provider is not reachable", body = ErrorBody),
    )
)]
#[get("/auth/callback")]
pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let oidc = oidc(&state)?;
    let ip = state.proxies.client_of(&req);
    let client = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let now = state.clock.now();
    let query = query.into_inner();
    let binding = req
        .cookie(login_cookie_name(state.https))
        .map(|c| login::browser_hash(c.value()));
    // Only failures are limited: a good login is never refused for others' failures.
    let fail = |code: &'static str| {
        let client = client.clone();
        let store = state.store.clone();
        let over = if code == "account_not_confirmed" {
            Ok(())
        } else {
            let over = state.failures.check(ip, now);
            state.failures.fail(ip, now);
            over
        };
        async move {
            store
                .run(move |conn| login::record_failure(conn, code, &client, now))
                .await?;
            over
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
    // RFC 9207: a provider that names itself must be the one we asked (mix-up defence).
    let iss_ok = match &query.iss {
        Some(iss) => same_issuer(iss, oidc.issuer()),
        None => !oidc.expects_iss(),
    };
    if !iss_ok {
        fail("issuer_mismatch").await?;
        return Err(login_failed(
            "issuer_mismatch",
            StatusCode::BAD_REQUEST,
            "Ответ на вход пришёл не от того поставщика входа: начните вход заново",
        ));
    }
    let taken = state
        .store
        .run(move |conn| login::take(conn, &st, binding.as_deref(), now))
        .await?;
    let pending = match taken {
        Taken::Pending(p) => p,
        Taken::OtherBrowser => {
            fail("login_not_bound").await?;
            return Err(login_failed(
                "login_not_bound",
                StatusCode::BAD_REQUEST,
                "Вход начат в другом браузере или окне: начните вход заново в этом браузере",
            ));
        }
        Taken::Unknown => {
            fail("invalid_state").await?;
            return Err(login_failed(
                "invalid_state",
                StatusCode::BAD_REQUEST,
                "Ссылка входа устарела или уже использована: начните вход заново",
            ));
        }
    };
    let identity = match oidc.finish(&code, &pending).await {
        Ok(identity) => identity,
        Err(e) => {
            let (code, status, message) = refusal_of(&e);
            if matches!(e, LoginError::ClientRefused(_)) {
                tracing::error!(error = %e, issuer = %oidc.issuer(), "the identity provider refused our client credentials: check ACCREDO_OIDC_CLIENT_ID and ACCREDO_OIDC_CLIENT_SECRET");
            } else {
                tracing::warn!(error = %e, "login failed");
            }
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
    let mut answer = session_started(state.https, session, token, display_name);
    let spent = login_cookie(state.https, "", actix_web::cookie::time::Duration::ZERO);
    answer
        .add_cookie(&spent)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(answer)
}

/// Where the browser goes after logout.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoggedOut {
    /// The identity provider's end-session URL, when it has one.
    pub end_session_url: Option<String>,
}

/// End the session on the server; a browser (Accept: text/html) is then sent on to the
/// provider's end-session endpoint, an API client gets its URL.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "Logged out (an API client): where the provider's own logout is", body = LoggedOut),
        (status = 303, description = "Logged out (a browser, Accept: text/html): on to the provider's logout",
            headers(("Location" = String, description = "The provider's end-session URL"))),
    ),
    security(("session" = []))
)]
#[post("/auth/logout")]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Principal,
) -> Result<HttpResponse, ApiError> {
    let sid = who.claims.sid.clone();
    let now = state.clock.now();
    state
        .use_case(
            &who,
            Action::SessionLogout,
            None,
            move |conn, _, actor, _| {
                crate::identity::account::end_session(conn, actor.user.as_str(), &sid, now)
                    .map_err(Into::into)
            },
        )
        .await?;
    let end = state
        .oidc
        .as_ref()
        .and_then(|p| p.get())
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
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "A new session; the old token stops working", body = SessionStarted),
    ),
    security(("session" = []))
)]
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
