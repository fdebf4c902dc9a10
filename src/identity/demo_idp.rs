//! A built-in development OpenID provider in the style of ESIA: discovery, an authorize page to
//! pick a demo account (confirmed and unconfirmed ones), token endpoint with PKCE and client
//! authentication (basic or post), keys, end-session and an ESIA-style persons endpoint.
//!
//! Only `accredo demo` and the tests start it, and only on a loopback address unless forced.
//! ID tokens are signed with a fresh ES256 key made at start.

use crate::domain::clock::SharedClock;
use crate::domain::role::Role;
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A demo account of the provider.
#[derive(Debug, Clone, Copy)]
pub struct DemoAccount {
    /// ESIA-style numeric person id (`urn:esia:sbj_id`); `sub` is its decimal text.
    pub oid: u64,
    /// Last name.
    pub last_name: &'static str,
    /// First name.
    pub first_name: &'static str,
    /// Middle name.
    pub middle_name: &'static str,
    /// Birth date, ISO.
    pub birth_date: &'static str,
    /// SNILS as ESIA writes it.
    pub snils: &'static str,
    /// Whether the account is confirmed (подтверждённая учётная запись).
    pub trusted: bool,
    /// Roles `accredo demo` grants this person in the cabinet.
    pub roles: &'static [Role],
}

/// The demo accounts.
pub const ACCOUNTS: &[DemoAccount] = &[
    DemoAccount {
        oid: 1_000_001,
        last_name: "Иванова",
        first_name: "Мария",
        middle_name: "Петровна",
        birth_date: "1985-04-12",
        snils: "112-233-445 95",
        trusted: true,
        roles: &[Role::Specialist],
    },
    DemoAccount {
        oid: 1_000_002,
        last_name: "Смирнов",
        first_name: "Алексей",
        middle_name: "Игоревич",
        birth_date: "1990-09-01",
        snils: "087-654-303 00",
        trusted: false,
        roles: &[Role::Specialist],
    },
    DemoAccount {
        oid: 1_000_003,
        last_name: "Петров",
        first_name: "Сергей",
        middle_name: "Иванович",
        birth_date: "1970-01-20",
        snils: "001-001-998 00",
        trusted: true,
        roles: &[Role::Reviewer],
    },
    DemoAccount {
        oid: 1_000_004,
        last_name: "Сидорова",
        first_name: "Анна",
        middle_name: "Викторовна",
        birth_date: "1975-03-15",
        snils: "001-001-997 00",
        trusted: true,
        roles: &[Role::Reviewer],
    },
    DemoAccount {
        oid: 1_000_005,
        last_name: "Кузнецова",
        first_name: "Ольга",
        middle_name: "Николаевна",
        birth_date: "1980-07-07",
        snils: "001-001-996 00",
        trusted: true,
        roles: &[Role::Secretary],
    },
];

/// The demo accounts as register (ФРМР) export lines, so the demo has register data: every
/// account but the last reviewer is in the register, the specialist with a different middle
/// name spelling (ё) that the cross-check must treat as equal.
pub fn register_export() -> Vec<String> {
    ACCOUNTS
        .iter()
        .filter(|a| a.oid != 1_000_004)
        .map(|a| {
            json!({
                "register_id": format!("demo-{}", a.oid),
                "snils": a.snils,
                "last_name": a.last_name.to_uppercase(),
                "first_name": a.first_name,
                "middle_name": a.middle_name,
                "birth_date": a.birth_date,
                "employments": [{
                    "organization_id": "demo-clinic",
                    "ogrn": "1027700132195",
                    "position": "Врач-терапевт участковый",
                    "specialty_code": "31.08.49",
                    "start": "2010-09-01"
                }],
                "educations": [{"kind": "higher", "specialty": "Лечебное дело", "issued": "2008-06-30"}],
                "accreditations": [{"kind": "periodic", "specialty": "Терапия", "issued": "2021-12-01", "valid_until": "2026-12-01"}],
            })
            .to_string()
        })
        .collect()
}

/// The client the provider knows.
#[derive(Debug, Clone)]
pub struct DemoClient {
    /// Client id.
    pub id: String,
    /// Client secret.
    pub secret: String,
    /// The only redirect URI accepted.
    pub redirect_uri: String,
    /// Where end-session may send the browser back.
    pub post_logout_redirect_uri: Option<String>,
}

#[derive(Debug, Clone)]
struct Grant {
    account: DemoAccount,
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: String,
    expires: Instant,
}

struct Provider {
    issuer: String,
    client: DemoClient,
    key: EncodingKey,
    jwk: Value,
    codes: Mutex<HashMap<String, Grant>>,
    refresh_tokens: Mutex<HashMap<String, Grant>>,
    access_tokens: Mutex<HashMap<String, DemoAccount>>,
    clock: SharedClock,
}

/// A running demo provider.
#[derive(Debug)]
pub struct Running {
    /// Its issuer URL (`http://127.0.0.1:PORT`).
    pub issuer: String,
    /// Stops it.
    pub handle: actix_web::dev::ServerHandle,
}

/// Why the provider cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A non-loopback address without `force`.
    #[error(
        "the demo identity provider only listens on loopback addresses ({0} is not); pass --demo-idp-force to override"
    )]
    NotLoopback(SocketAddr),
    /// Binding failed.
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    /// Key generation failed.
    #[error("cannot make the signing key: {0}")]
    Key(String),
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn signing_key() -> Result<(EncodingKey, Value), StartError> {
    let secret = loop {
        if let Ok(k) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            break k;
        }
    };
    let der = secret
        .to_pkcs8_der()
        .map_err(|e| StartError::Key(e.to_string()))?;
    let point = secret.public_key().to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err(StartError::Key("public key has no coordinates".into()));
    };
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "demo-es256",
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
    });
    Ok((EncodingKey::from_ec_der(der.as_bytes()), jwk))
}

/// Starts the provider on `bind` (port 0 allowed) for one client; refuses a non-loopback
/// address unless `force`. ID tokens are dated by `clock` (the server's own, in `demo`).
pub fn start(
    bind: &str,
    client: DemoClient,
    force: bool,
    clock: SharedClock,
) -> Result<Running, StartError> {
    let listener = TcpListener::bind(bind).map_err(|e| StartError::Bind(bind.to_owned(), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Bind(bind.to_owned(), e))?;
    if !addr.ip().is_loopback() && !force {
        return Err(StartError::NotLoopback(addr));
    }
    let (key, jwk) = signing_key()?;
    let issuer = format!("http://{addr}");
    let provider = web::Data::new(Provider {
        issuer: issuer.clone(),
        client,
        key,
        jwk,
        codes: Mutex::new(HashMap::new()),
        refresh_tokens: Mutex::new(HashMap::new()),
        access_tokens: Mutex::new(HashMap::new()),
        clock,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(provider.clone())
            .route(
                "/.well-known/openid-configuration",
                web::get().to(discovery),
            )
            .route("/authorize", web::get().to(authorize))
            .route("/token", web::post().to(token))
            .route("/jwks", web::get().to(jwks))
            .route("/end-session", web::get().to(end_session))
            .route("/rs/prns/{oid}", web::get().to(person))
    })
    .workers(1)
    // The process's signals are the main server's to handle (`accredo demo` stops this one
    // after it): actix would otherwise stop the whole runtime 300 ms after this idle server,
    // cutting the main server's requests in flight.
    .disable_signals()
    .listen(listener)
    .map_err(|e| StartError::Bind(bind.to_owned(), e))?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok(Running { issuer, handle })
}

async fn discovery(p: web::Data<Provider>) -> HttpResponse {
    let i = &p.issuer;
    HttpResponse::Ok().json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "end_session_endpoint": format!("{i}/end-session"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "scopes_supported": ["openid", "profile"],
    }))
}

async fn jwks(p: web::Data<Provider>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "keys": [p.jwk] }))
}

#[derive(Debug, Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    account: Option<u64>,
}

fn page(status: actix_web::http::StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"
        ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn authorize(
    req: HttpRequest,
    p: web::Data<Provider>,
    q: web::Query<AuthorizeQuery>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let q = q.into_inner();
    if q.client_id.as_deref() != Some(p.client.id.as_str())
        || q.redirect_uri.as_deref() != Some(p.client.redirect_uri.as_str())
    {
        return page(
            StatusCode::BAD_REQUEST,
            "Неизвестная система",
            "<p>Система, запросившая вход, не зарегистрирована.</p>",
        );
    }
    let (Some(challenge), Some("S256"), Some("code")) = (
        q.code_challenge.clone(),
        q.code_challenge_method.as_deref(),
        q.response_type.as_deref(),
    ) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Неверный запрос",
            "<p>Нужен code flow с PKCE S256.</p>",
        );
    };
    let Some(oid) = q.account else {
        let base = req.query_string();
        let items: String = ACCOUNTS
            .iter()
            .map(|a| {
                format!(
                    "<li><a href=\"/authorize?{}&amp;account={}\">{} {} {}</a> — {}</li>",
                    escape(base),
                    a.oid,
                    a.last_name,
                    a.first_name,
                    a.middle_name,
                    if a.trusted {
                        "подтверждённая учётная запись"
                    } else {
                        "неподтверждённая учётная запись"
                    }
                )
            })
            .collect();
        return page(
            StatusCode::OK,
            "Демо-вход (ЕСИА)",
            &format!("<p>Выберите учётную запись:</p><ul>{items}</ul>"),
        );
    };
    let Some(account) = ACCOUNTS.iter().find(|a| a.oid == oid).copied() else {
        return page(StatusCode::BAD_REQUEST, "Нет такой учётной записи", "");
    };
    let code = random_token();
    if let Ok(mut codes) = p.codes.lock() {
        codes.insert(
            code.clone(),
            Grant {
                account,
                redirect_uri: p.client.redirect_uri.clone(),
                nonce: q.nonce,
                code_challenge: challenge,
                expires: Instant::now() + Duration::from_secs(60),
            },
        );
    }
    let mut target = match url::Url::parse(&p.client.redirect_uri) {
        Ok(u) => u,
        Err(_) => return page(StatusCode::INTERNAL_SERVER_ERROR, "Ошибка", ""),
    };
    target.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = &q.state {
        target.query_pairs_mut().append_pair("state", state);
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, target.to_string()))
        .finish()
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn oauth_error(status: actix_web::http::StatusCode, error: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": error }))
}

fn client_authenticated(req: &HttpRequest, form: &TokenForm, client: &DemoClient) -> bool {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match basic {
        Some(pair) => {
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            pair.split_once(':').is_some_and(|(id, secret)| {
                decode(id).as_deref() == Some(client.id.as_str())
                    && decode(secret).as_deref() == Some(client.secret.as_str())
            })
        }
        None => {
            form.client_id.as_deref() == Some(client.id.as_str())
                && form.client_secret.as_deref() == Some(client.secret.as_str())
        }
    }
}

async fn token(
    req: HttpRequest,
    p: web::Data<Provider>,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let form = form.into_inner();
    if !client_authenticated(&req, &form, &p.client) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let grant = match form.grant_type.as_str() {
        "authorization_code" => {
            let taken = form
                .code
                .as_ref()
                .and_then(|c| p.codes.lock().ok().and_then(|mut m| m.remove(c)));
            let Some(grant) = taken.filter(|g| g.expires > Instant::now()) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let verifier_ok = form.code_verifier.as_ref().is_some_and(|v| {
                URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == grant.code_challenge
            });
            if form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) || !verifier_ok {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            grant
        }
        "refresh_token" => {
            let taken = form
                .refresh_token
                .as_ref()
                .and_then(|t| p.refresh_tokens.lock().ok().and_then(|mut m| m.remove(t)));
            let Some(mut grant) = taken else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            grant.nonce = None;
            grant
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    let now = p.clock.now().timestamp();
    let a = grant.account;
    let mut claims = json!({
        "iss": p.issuer, "aud": p.client.id, "sub": a.oid.to_string(),
        "iat": now, "exp": now + 300, "auth_time": now,
        "family_name": a.last_name, "given_name": a.first_name, "middle_name": a.middle_name,
        "birthdate": a.birth_date, "snils": a.snils,
        "urn:esia:sbj_id": a.oid, "urn:esia:sbj:is_tru": a.trusted, "trusted": a.trusted,
    });
    if let (Some(nonce), Some(map)) = (&grant.nonce, claims.as_object_mut()) {
        map.insert("nonce".into(), Value::String(nonce.clone()));
    }
    let mut head = Header::new(Algorithm::ES256);
    head.kid = Some("demo-es256".into());
    let Ok(id_token) = jsonwebtoken::encode(&head, &claims, &p.key) else {
        return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    };
    let (access, refresh) = (random_token(), random_token());
    if let Ok(mut m) = p.access_tokens.lock() {
        m.insert(access.clone(), a);
    }
    if let Ok(mut m) = p.refresh_tokens.lock() {
        m.insert(refresh.clone(), grant);
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "access_token": access, "token_type": "Bearer", "expires_in": 300,
            "refresh_token": refresh, "id_token": id_token,
        }))
}

#[derive(Debug, Deserialize)]
struct EndSessionQuery {
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

async fn end_session(p: web::Data<Provider>, q: web::Query<EndSessionQuery>) -> HttpResponse {
    match (
        &q.post_logout_redirect_uri,
        &p.client.post_logout_redirect_uri,
    ) {
        (Some(asked), Some(allowed)) if asked == allowed => {
            let mut target = match url::Url::parse(asked) {
                Ok(u) => u,
                Err(_) => {
                    return page(
                        actix_web::http::StatusCode::BAD_REQUEST,
                        "Неверный адрес возврата",
                        "",
                    );
                }
            };
            if let Some(state) = &q.state {
                target.query_pairs_mut().append_pair("state", state);
            }
            HttpResponse::Found()
                .insert_header((header::LOCATION, target.to_string()))
                .finish()
        }
        _ => page(actix_web::http::StatusCode::OK, "Вы вышли из демо-ЕСИА", ""),
    }
}

async fn person(req: HttpRequest, p: web::Data<Provider>, oid: web::Path<u64>) -> HttpResponse {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let account = token.and_then(|t| p.access_tokens.lock().ok().and_then(|m| m.get(&t).copied()));
    match account {
        Some(a) if a.oid == *oid => {
            let birth = chrono::NaiveDate::parse_from_str(a.birth_date, "%Y-%m-%d")
                .map(|d| d.format("%d.%m.%Y").to_string())
                .unwrap_or_default();
            HttpResponse::Ok().json(json!({
                "firstName": a.first_name, "lastName": a.last_name, "middleName": a.middle_name,
                "birthDate": birth, "snils": a.snils, "trusted": a.trusted,
            }))
        }
        _ => HttpResponse::Unauthorized().json(json!({ "error": "invalid_token" })),
    }
}
