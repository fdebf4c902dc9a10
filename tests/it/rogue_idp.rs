//! A provider that misbehaves on purpose: it answers the token request with an ID token (or
//! a body) chosen by the test, to show each one is refused without a session.

use crate::support::{TestApp, json_of};
use accredo::domain::clock::{Clock, ManualClock};
use accredo::identity::oidc::{ClientAuth, Oidc, OidcConfig};
use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Good,
    OtherKey,
    AlgNone,
    Hs256WithPublicKey,
    WrongAudience,
    Expired,
    MissingNonce,
    Html,
    BadJson,
    /// ESIA style: the person id and the confirmed flag only under ESIA's claim names, and no
    /// name or SNILS in the token (they come from the persons endpoint).
    EsiaMinimal,
}

struct Rogue {
    issuer: String,
    key: EncodingKey,
    other_key: EncodingKey,
    jwk: Value,
    mode: Mutex<(Mode, String)>,
    persons_trusted: bool,
    clock: Arc<ManualClock>,
}

fn es256_key() -> (EncodingKey, Value) {
    let secret = loop {
        if let Ok(k) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            break k;
        }
    };
    let point = secret.public_key().to_encoded_point(false);
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "k1",
        "x": URL_SAFE_NO_PAD.encode(point.x().expect("x")), "y": URL_SAFE_NO_PAD.encode(point.y().expect("y")),
    });
    (
        EncodingKey::from_ec_der(secret.to_pkcs8_der().expect("der").as_bytes()),
        jwk,
    )
}

async fn discovery(r: web::Data<Arc<Rogue>>) -> HttpResponse {
    let i = &r.issuer;
    HttpResponse::Ok().json(json!({
        "issuer": i, "authorization_endpoint": format!("{i}/authorize"), "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"), "response_types_supported": ["code"], "subject_types_supported": ["public"],
        // Advertising HS256 and none must not make the client accept them.
        "id_token_signing_alg_values_supported": ["ES256", "HS256", "none"],
    }))
}

async fn jwks(r: web::Data<Arc<Rogue>>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "keys": [r.jwk] }))
}

async fn token(r: web::Data<Arc<Rogue>>) -> HttpResponse {
    let (mode, nonce) = r.mode.lock().expect("mode").clone();
    let now = r.clock.now().timestamp();
    let mut claims = json!({
        "iss": r.issuer, "aud": "rp", "sub": "1000001", "iat": now, "exp": now + 300,
        "nonce": nonce, "trusted": true, "family_name": "Иванова",
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("k1".into());
    let id_token = match mode {
        Mode::Html => {
            return HttpResponse::Ok()
                .content_type("text/html")
                .body("<html>oops</html>");
        }
        Mode::BadJson => {
            return HttpResponse::Ok()
                .content_type("application/json")
                .body("{\"access_token\": 42");
        }
        Mode::AlgNone => {
            let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
            format!("{head}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
        }
        Mode::Hs256WithPublicKey => {
            let secret = r.jwk.to_string();
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(secret.as_bytes()),
            )
            .expect("hs256")
        }
        Mode::OtherKey => jsonwebtoken::encode(&header, &claims, &r.other_key).expect("other"),
        Mode::EsiaMinimal => {
            let minimal = json!({
                "iss": r.issuer, "aud": "rp", "sub": "opaque-pairwise-id", "iat": now, "exp": now + 300,
                "nonce": nonce, "urn:esia:sbj_id": 777, "urn:esia:sbj:is_tru": r.persons_trusted,
            });
            jsonwebtoken::encode(&header, &minimal, &r.key).expect("sign")
        }
        other => {
            match other {
                Mode::WrongAudience => claims["aud"] = json!("someone-else"),
                Mode::Expired => {
                    claims["iat"] = json!(now - 600);
                    claims["exp"] = json!(now - 300);
                }
                Mode::MissingNonce => {
                    claims.as_object_mut().expect("object").remove("nonce");
                }
                _ => {}
            }
            jsonwebtoken::encode(&header, &claims, &r.key).expect("sign")
        }
    };
    HttpResponse::Ok().json(json!({"access_token": "at", "token_type": "Bearer", "expires_in": 60, "id_token": id_token}))
}

async fn person(
    r: web::Data<Arc<Rogue>>,
    req: actix_web::HttpRequest,
    oid: web::Path<String>,
) -> HttpResponse {
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if bearer != Some("Bearer at") || oid.as_str() != "777" {
        return HttpResponse::Unauthorized().finish();
    }
    HttpResponse::Ok().json(json!({
        "firstName": "Мария", "lastName": "Иванова", "middleName": "Петровна",
        "birthDate": "12.04.1985", "snils": "112-233-445 95", "trusted": r.persons_trusted,
    }))
}

async fn rogue_app() -> (TestApp, Arc<Rogue>) {
    rogue_app_with(|_| {}, true).await
}

async fn rogue_app_with(
    tweak: impl FnOnce(&mut OidcConfig),
    persons_trusted: bool,
) -> (TestApp, Arc<Rogue>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let (key, jwk) = es256_key();
    let (other_key, _) = es256_key();
    let rogue = Arc::new(Rogue {
        issuer: issuer.clone(),
        key,
        other_key,
        jwk,
        mode: Mutex::new((Mode::Good, String::new())),
        persons_trusted,
        clock: TestApp::suite_clock(),
    });
    let data = web::Data::new(rogue.clone());
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .route(
                        "/.well-known/openid-configuration",
                        web::get().to(discovery),
                    )
                    .route("/jwks", web::get().to(jwks))
                    .route("/token", web::post().to(token))
                    .route("/rs/prns/{oid}", web::get().to(person))
            })
            .workers(1)
            .listen(listener)
            .expect("listen")
            .run();
            let _ = server.await;
        })
    });
    let app_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", app_listener.local_addr().expect("addr"));
    let mut config = OidcConfig {
        issuer: issuer.clone(),
        client_id: "rp".into(),
        client_secret: "secret".into(),
        client_auth: ClientAuth::Basic,
        redirect_url: format!("{base}/auth/callback"),
        allowed_algs: vec!["ES256".into(), "RS256".into()],
        subject_claim: "sub".into(),
        trusted_claims: vec!["trusted".into()],
        persons_base: None,
        scopes: accredo::identity::oidc::parse_scopes("openid profile"),
    };
    tweak(&mut config);
    if config.persons_base.is_some() {
        config.persons_base = Some(issuer);
    }
    let oidc = Oidc::discover(config, rogue.clock.clone())
        .await
        .expect("discovery");
    let app = TestApp::start_with(app_listener, Arc::new(oidc), rogue.clock.clone()).await;
    (app, rogue)
}

/// Starts a login, lets the provider answer in `mode`, and returns the callback's answer.
async fn login_with(app: &TestApp, rogue: &Rogue, mode: Mode) -> (StatusCode, Value) {
    let b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client");
    let res = b
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .expect("login");
    let authorize =
        url::Url::parse(res.headers()["location"].to_str().expect("location")).expect("url");
    let param = |k: &str| {
        authorize
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .expect(k)
    };
    *rogue.mode.lock().expect("mode") = (mode, param("nonce"));
    let res = b
        .get(format!(
            "{}/auth/callback?code=c&state={}",
            app.base,
            param("state")
        ))
        .send()
        .await
        .expect("callback");
    let status = res.status();
    (status, json_of(res).await)
}

#[tokio::test]
async fn every_bad_answer_is_refused_without_a_session() {
    let (app, rogue) = rogue_app().await;
    let (status, body) = login_with(&app, &rogue, Mode::Good).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the rogue provider is sound when it behaves: {body}"
    );
    let sessions_after_good = count_sessions(&app);
    for (mode, status, code) in [
        (Mode::OtherKey, StatusCode::UNAUTHORIZED, "invalid_id_token"),
        (Mode::AlgNone, StatusCode::UNAUTHORIZED, "invalid_id_token"),
        (
            Mode::Hs256WithPublicKey,
            StatusCode::UNAUTHORIZED,
            "invalid_id_token",
        ),
        (
            Mode::WrongAudience,
            StatusCode::UNAUTHORIZED,
            "invalid_id_token",
        ),
        (Mode::Expired, StatusCode::UNAUTHORIZED, "invalid_id_token"),
        (
            Mode::MissingNonce,
            StatusCode::UNAUTHORIZED,
            "invalid_id_token",
        ),
        (Mode::Html, StatusCode::BAD_GATEWAY, "provider_unavailable"),
        (
            Mode::BadJson,
            StatusCode::BAD_GATEWAY,
            "provider_bad_response",
        ),
    ] {
        let (got, body) = login_with(&app, &rogue, mode).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{mode:?}: {body}"
        );
    }
    assert_eq!(
        count_sessions(&app),
        sessions_after_good,
        "no session from any bad answer"
    );
    let failed = failed_codes(&app);
    assert_eq!(
        failed.iter().filter(|c| *c == "invalid_id_token").count(),
        6,
        "{failed:?}"
    );
}

fn count_sessions(app: &TestApp) -> i64 {
    use accredo::store::schema::sessions;
    use diesel::prelude::*;
    let mut conn = app.state.store.conn().expect("conn");
    sessions::table
        .count()
        .get_result(&mut *conn)
        .expect("count")
}

fn failed_codes(app: &TestApp) -> Vec<String> {
    use accredo::store::schema::audit_events as ae;
    use diesel::prelude::*;
    let mut conn = app.state.store.conn().expect("conn");
    let payloads: Vec<String> = ae::table
        .filter(ae::kind.eq("login.failed"))
        .select(ae::payload)
        .load(&mut *conn)
        .expect("events");
    payloads
        .iter()
        .map(|p| {
            serde_json::from_str::<Value>(p).expect("json")["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn esia(config: &mut OidcConfig) {
    config.subject_claim = "urn:esia:sbj_id".into();
    config.trusted_claims = vec!["urn:esia:sbj:is_tru".into()];
    config.persons_base = Some(String::new());
}

#[tokio::test]
async fn esia_claims_and_persons_endpoint_by_configuration() {
    let (app, rogue) = rogue_app_with(esia, true).await;
    let (status, body) = login_with(&app, &rogue, Mode::EsiaMinimal).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["display_name"], "Иванова Мария Петровна",
        "names from /rs/prns/777"
    );
    use accredo::store::schema::users;
    use diesel::prelude::*;
    let mut conn = app.state.store.conn().expect("conn");
    let subjects: Vec<String> = users::table
        .select(users::subject)
        .load(&mut *conn)
        .expect("users");
    assert_eq!(
        subjects,
        vec!["777".to_owned()],
        "the person id is the numeric urn:esia:sbj_id, not sub"
    );
}

#[tokio::test]
async fn esia_unconfirmed_flag_is_honoured() {
    let (app, rogue) = rogue_app_with(esia, false).await;
    let (status, body) = login_with(&app, &rogue, Mode::EsiaMinimal).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("account_not_confirmed"))
    );
    assert_eq!(count_sessions(&app), 0);
}
