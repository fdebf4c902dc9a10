//! A standards-compliant OpenID provider with the usual defaults of such providers, not our
//! demo one: the ID token carries only `sub` and the protocol claims, profile claims are
//! released at the userinfo endpoint and only under the scopes asked for, the callback names
//! the issuer (RFC 9207), the signing key can be rotated, the provider can be down, and it can
//! refuse our client secret.

use crate::login::browser;
use crate::support::{Login, TestApp, json_of};
use accredo::domain::clock::{Clock, ManualClock};
use accredo::identity::oidc::{ClientAuth, OidcConfig, parse_scopes};
use accredo::identity::provider::Provider;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// The scopes ESIA wants for what the cabinet needs (as the README documents).
pub const ESIA_SCOPES: &str = "openid fullname birthdate snils inn";
const CLIENT_ID: &str = "accredo-rp";
const CLIENT_SECRET: &str = "rp-secret";

struct Key {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

fn es256_key(kid: &str) -> Key {
    let secret = loop {
        if let Ok(k) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            break k;
        }
    };
    let point = secret.public_key().to_encoded_point(false);
    Key {
        kid: kid.to_owned(),
        encoding: EncodingKey::from_ec_der(secret.to_pkcs8_der().expect("der").as_bytes()),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(point.x().expect("x")),
            "y": URL_SAFE_NO_PAD.encode(point.y().expect("y")),
        }),
    }
}

struct Grant {
    scopes: Vec<String>,
    nonce: String,
}

/// The provider; its behaviour is switched by the test.
pub struct StdIdp {
    pub issuer: String,
    clock: Arc<ManualClock>,
    key: Mutex<Key>,
    codes: Mutex<HashMap<String, Grant>>,
    tokens: Mutex<HashMap<String, Vec<String>>>,
    /// Discovery answers 503 while set.
    pub down: Mutex<bool>,
    /// The token endpoint refuses our client secret while set.
    pub refuse_client: Mutex<bool>,
    /// Userinfo names another subject while set.
    pub userinfo_other_sub: Mutex<bool>,
    /// Userinfo answers 500 while set.
    pub userinfo_down: Mutex<bool>,
    /// The ID token carries the confirmed flag, names, birth date and SNILS (not INN).
    pub rich_id_token: Mutex<bool>,
    /// Scopes asked for at the last authorization.
    pub last_scopes: Mutex<Vec<String>>,
}

impl StdIdp {
    /// Signs from now on with a new key, and publishes only that one.
    pub fn rotate_key(&self) {
        let next = format!("k{}", rand::random::<u32>());
        *self.key.lock().expect("key") = es256_key(&next);
    }
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    redirect_uri: String,
    state: String,
    nonce: String,
    scope: String,
}

async fn discovery(p: web::Data<Arc<StdIdp>>) -> HttpResponse {
    if *p.down.lock().expect("down") {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let i = &p.issuer;
    HttpResponse::Ok().json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": ["openid", "profile", "fullname", "birthdate", "snils", "inn"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(p: web::Data<Arc<StdIdp>>) -> HttpResponse {
    let jwk = p.key.lock().expect("key").jwk.clone();
    HttpResponse::Ok().json(json!({ "keys": [jwk] }))
}

async fn authorize(p: web::Data<Arc<StdIdp>>, q: web::Query<AuthorizeQuery>) -> HttpResponse {
    let scopes: Vec<String> = q.scope.split(' ').map(str::to_owned).collect();
    *p.last_scopes.lock().expect("scopes") = scopes.clone();
    let code = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
    p.codes.lock().expect("codes").insert(
        code.clone(),
        Grant {
            scopes,
            nonce: q.nonce.clone(),
        },
    );
    let mut target = url::Url::parse(&q.redirect_uri).expect("redirect");
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q.state)
        .append_pair("iss", &p.issuer);
    HttpResponse::Found()
        .insert_header(("location", target.to_string()))
        .finish()
}

#[derive(Deserialize)]
struct TokenForm {
    code: String,
}

async fn token(
    p: web::Data<Arc<StdIdp>>,
    req: HttpRequest,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str());
    if *p.refuse_client.lock().expect("refuse") || !authorized {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    let Some(grant) = p.codes.lock().expect("codes").remove(&form.code) else {
        return HttpResponse::BadRequest().json(json!({"error": "invalid_grant"}));
    };
    let now = p.clock.now().timestamp();
    let mut claims = json!({
        "iss": p.issuer, "aud": CLIENT_ID, "sub": "555", "iat": now, "exp": now + 300,
        "nonce": grant.nonce,
    });
    if *p.rich_id_token.lock().expect("rich") {
        let map = claims.as_object_mut().expect("object");
        for (k, v) in [
            ("trusted", json!(true)),
            ("family_name", json!("Кузнецова")),
            ("given_name", json!("Ольга")),
            ("birthdate", json!("1979-03-15")),
            ("snils", json!("112-233-445 95")),
        ] {
            map.insert(k.into(), v);
        }
    }
    let id_token = {
        let key = p.key.lock().expect("key");
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding).expect("sign")
    };
    let access = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
    p.tokens
        .lock()
        .expect("tokens")
        .insert(access.clone(), grant.scopes);
    HttpResponse::Ok().json(json!({
        "access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": id_token,
    }))
}

/// Claims by scope, as such providers release them.
async fn userinfo(p: web::Data<Arc<StdIdp>>, req: HttpRequest) -> HttpResponse {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let Some(scopes) = p.tokens.lock().expect("tokens").get(&token).cloned() else {
        return HttpResponse::Unauthorized().finish();
    };
    if *p.userinfo_down.lock().expect("down") {
        return HttpResponse::InternalServerError().finish();
    }
    let sub = if *p.userinfo_other_sub.lock().expect("sub") {
        "556"
    } else {
        "555"
    };
    let mut claims = json!({ "sub": sub });
    let has = |s: &str| scopes.iter().any(|k| k == s);
    let map = claims.as_object_mut().expect("object");
    if has("fullname") || has("profile") {
        map.insert("family_name".into(), json!("Кузнецова"));
        map.insert("given_name".into(), json!("Ольга"));
        map.insert("middle_name".into(), json!("Сергеевна"));
    }
    if has("fullname") {
        map.insert("trusted".into(), json!(true));
    }
    if has("birthdate") {
        map.insert("birthdate".into(), json!("1979-03-15"));
    }
    if has("snils") {
        map.insert("snils".into(), json!("112-233-445 95"));
    }
    if has("inn") {
        map.insert("inn".into(), json!("500100732259"));
    }
    HttpResponse::Ok().json(claims)
}

/// Starts the provider on a free port.
pub fn start_std_idp(clock: Arc<ManualClock>) -> Arc<StdIdp> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let idp = Arc::new(StdIdp {
        issuer,
        clock,
        key: Mutex::new(es256_key("k1")),
        codes: Mutex::default(),
        tokens: Mutex::default(),
        down: Mutex::new(false),
        refuse_client: Mutex::new(false),
        userinfo_other_sub: Mutex::new(false),
        userinfo_down: Mutex::new(false),
        rich_id_token: Mutex::new(false),
        last_scopes: Mutex::default(),
    });
    let data = web::Data::new(idp.clone());
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
                    .route("/authorize", web::get().to(authorize))
                    .route("/token", web::post().to(token))
                    .route("/userinfo", web::get().to(userinfo))
            })
            .workers(1)
            .listen(listener)
            .expect("listen")
            .run();
            let _ = server.await;
        })
    });
    idp
}

fn config(idp: &StdIdp, app_base: &str, scopes: &str) -> OidcConfig {
    OidcConfig {
        issuer: idp.issuer.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        client_auth: ClientAuth::Basic,
        redirect_url: format!("{app_base}/auth/callback"),
        allowed_algs: vec!["ES256".into()],
        subject_claim: "sub".into(),
        trusted_claims: vec!["trusted".into()],
        persons_base: None,
        scopes: parse_scopes(scopes),
    }
}

/// An app logging in through a fresh standard provider, asking for `scopes`.
async fn std_app(scopes: &str) -> (TestApp, Arc<StdIdp>) {
    let clock = TestApp::suite_clock();
    let idp = start_std_idp(clock.clone());
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let provider = Provider::default();
    let shared: accredo::domain::clock::SharedClock = clock.clone();
    provider
        .try_discover(&config(&idp, &base, scopes), &shared)
        .await
        .expect("discovery");
    let app = TestApp::start_with_login(Login::new(listener, provider), clock).await;
    (app, idp)
}

/// `/auth/login` → provider → our callback URL, in `b`.
async fn to_callback(app: &TestApp, b: &reqwest::Client) -> String {
    let res = b
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::FOUND, "login starts");
    let authorize = res.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let res = b.get(&authorize).send().await.expect("authorize");
    assert_eq!(res.status(), StatusCode::FOUND);
    res.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

async fn login(app: &TestApp) -> (StatusCode, Value) {
    let b = browser();
    let callback = to_callback(app, &b).await;
    let res = b.get(&callback).send().await.expect("callback");
    let status = res.status();
    (status, json_of(res).await)
}

fn profile_of(app: &TestApp, subject: &str) -> (Option<String>, Option<String>, Option<String>) {
    use accredo::store::schema::{person_profiles as pp, users};
    use diesel::prelude::*;
    let mut conn = app.state.store.conn().expect("conn");
    users::table
        .inner_join(pp::table.on(pp::user_id.eq(users::id)))
        .filter(users::subject.eq(subject))
        .select((pp::last_name, pp::snils, pp::inn))
        .first(&mut *conn)
        .expect("profile")
}

#[tokio::test]
async fn claims_come_from_userinfo_under_the_configured_scopes() {
    // With the default scopes the provider releases names only: no SNILS, no confirmed flag.
    let (app, idp) = std_app("openid profile").await;
    let (status, body) = login(&app).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::FORBIDDEN, json!("account_not_confirmed")),
        "{body}"
    );
    assert_eq!(
        *idp.last_scopes.lock().expect("scopes"),
        ["openid", "profile"]
    );

    // With the ESIA set, the same provider releases everything accredo needs at userinfo.
    let (app, idp) = std_app(ESIA_SCOPES).await;
    let (status, body) = login(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["display_name"], "Кузнецова Ольга Сергеевна");
    assert_eq!(
        *idp.last_scopes.lock().expect("scopes"),
        ["openid", "fullname", "birthdate", "snils", "inn"]
    );
    assert_eq!(
        profile_of(&app, "555"),
        (
            Some("Кузнецова".into()),
            Some("11223344595".into()),
            Some("500100732259".into())
        ),
        "SNILS and INN from userinfo are kept on the profile"
    );
}

#[tokio::test]
async fn a_failing_userinfo_stops_only_a_login_that_cannot_go_without_it() {
    let (app, idp) = std_app(ESIA_SCOPES).await;
    *idp.userinfo_down.lock().expect("down") = true;
    // Everything but INN is in the ID token: the person logs in without INN.
    *idp.rich_id_token.lock().expect("rich") = true;
    let (status, body) = login(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        profile_of(&app, "555"),
        (Some("Кузнецова".into()), Some("11223344595".into()), None)
    );
    // Without the confirmed flag in the ID token there is no login without userinfo.
    *idp.rich_id_token.lock().expect("rich") = false;
    let (status, body) = login(&app).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::BAD_GATEWAY, json!("provider_unavailable")),
        "{body}"
    );
}

#[tokio::test]
async fn userinfo_about_another_subject_is_refused() {
    let (app, idp) = std_app(ESIA_SCOPES).await;
    *idp.userinfo_other_sub.lock().expect("sub") = true;
    let (status, body) = login(&app).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_id_token")),
        "{body}"
    );
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_again() {
    let (app, idp) = std_app(ESIA_SCOPES).await;
    assert_eq!(login(&app).await.0, StatusCode::OK, "first key");
    idp.rotate_key();
    app.clock.advance(chrono::Duration::minutes(1));
    let (status, body) = login(&app).await;
    assert_eq!(status, StatusCode::OK, "after rotation: {body}");
    // Rotated again at once: a fetch within 30 s of the last is not repeated, whatever the
    // tokens say; a little later it is.
    idp.rotate_key();
    let (status, body) = login(&app).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_id_token"))
    );
    app.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(login(&app).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_provider_down_at_start_is_waited_for() {
    let clock = TestApp::suite_clock();
    let idp = start_std_idp(clock.clone());
    *idp.down.lock().expect("down") = true;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let provider = Arc::new(Provider::default());
    let shared: accredo::domain::clock::SharedClock = clock.clone();
    let cfg = config(&idp, &base, ESIA_SCOPES);
    assert!(provider.try_discover(&cfg, &shared).await.is_err());
    provider.keep_discovering(cfg, shared);
    let login_cfg = Login {
        provider: provider.clone(),
        ..Login::new(listener, Provider::default())
    };
    let app = TestApp::start_with_login(login_cfg, clock).await;

    let b = browser();
    let res = b
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    let body = json_of(res).await;
    assert_eq!(body["code"], "provider_unavailable");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Госуслуги"))
    );
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready = json_of(ready).await;
    assert_eq!(
        ready["checks"]["identity_provider"]["status"], "unavailable",
        "{ready}"
    );

    *idp.down.lock().expect("down") = false;
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        let res = b
            .get(format!("{}/auth/login", app.base))
            .send()
            .await
            .expect("login");
        status = res.status();
        if status == StatusCode::FOUND {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        status,
        StatusCode::FOUND,
        "login works once the provider answers"
    );
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(login(&app).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_callback_is_completed_only_by_the_browser_that_started_the_login() {
    let (app, _idp) = std_app(ESIA_SCOPES).await;
    let victim = browser();
    let callback = to_callback(&app, &victim).await;
    // The captured callback URL, opened by another client.
    let attacker = browser();
    let res = attacker.get(&callback).send().await.expect("callback");
    assert_eq!(
        (res.status(), json_of(res).await["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("login_not_bound"))
    );
    // The login stays for the browser that started it.
    let res = victim.get(&callback).send().await.expect("callback");
    let set_cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        set_cookies
            .iter()
            .any(|c| c.starts_with("accredo_login=;") && c.contains("Max-Age=0")),
        "the login cookie is spent: {set_cookies:?}"
    );
}

#[tokio::test]
async fn the_login_cookie_is_short_lived_and_http_only() {
    let (app, _idp) = std_app(ESIA_SCOPES).await;
    let res = browser()
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .expect("login");
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.starts_with("accredo_login=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && cookie.contains("Max-Age=600"),
        "{cookie}"
    );
    let value = cookie
        .split(';')
        .next()
        .and_then(|p| p.strip_prefix("accredo_login="))
        .expect("value");
    use accredo::store::schema::login_attempts as la;
    use diesel::prelude::*;
    let mut conn = app.state.store.conn().expect("conn");
    let stored: Vec<String> = la::table
        .select(la::browser_hash)
        .load(&mut *conn)
        .expect("attempts");
    assert_eq!(stored, [accredo::identity::login::browser_hash(value)]);
    assert!(!stored[0].contains(value), "only the hash is stored");
}

#[tokio::test]
async fn the_issuer_named_in_the_callback_must_be_ours() {
    let (app, idp) = std_app(ESIA_SCOPES).await;
    let b = browser();
    let callback = to_callback(&app, &b).await;
    let mut url = url::Url::parse(&callback).expect("url");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for forged in [Some("https://evil.example"), None] {
        url.query_pairs_mut().clear();
        for (k, v) in &pairs {
            if k != "iss" {
                url.query_pairs_mut().append_pair(k, v);
            }
        }
        if let Some(iss) = forged {
            url.query_pairs_mut().append_pair("iss", iss);
        }
        let res = b.get(url.as_str()).send().await.expect("callback");
        assert_eq!(
            (res.status(), json_of(res).await["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("issuer_mismatch")),
            "iss {forged:?}"
        );
    }
    assert!(pairs.iter().any(|(k, v)| k == "iss" && *v == idp.issuer));
    let res = b.get(&callback).send().await.expect("callback");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the genuine callback still works"
    );
}

#[tokio::test]
async fn a_refused_client_secret_is_the_operators_fault_not_the_persons() {
    let (app, idp) = std_app(ESIA_SCOPES).await;
    *idp.refuse_client.lock().expect("refuse") = true;
    let (status, body) = login(&app).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::BAD_GATEWAY, json!("provider_refused_client")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("временно недоступен") && !m.contains("код входа")),
        "{body}"
    );
    use accredo::store::schema::audit_events as ae;
    use diesel::prelude::*;
    let mut conn = app.state.store.conn().expect("conn");
    let failures: Vec<String> = ae::table
        .filter(ae::kind.eq("login.failed"))
        .select(ae::payload)
        .load(&mut *conn)
        .expect("events");
    assert!(
        failures
            .iter()
            .any(|p| p.contains("provider_refused_client")),
        "{failures:?}"
    );
}

#[tokio::test]
async fn pending_logins_are_bounded_per_client_and_pruned() {
    let (app, _idp) = std_app(ESIA_SCOPES).await;
    let count = || {
        use accredo::store::schema::login_attempts as la;
        use diesel::prelude::*;
        let mut conn = app.state.store.conn().expect("conn");
        la::table
            .count()
            .get_result::<i64>(&mut *conn)
            .expect("count")
    };
    let b = browser();
    let start = || b.get(format!("{}/auth/login", app.base)).send();
    for _ in 0..accredo::identity::login::MAX_PENDING_PER_CLIENT {
        assert_eq!(start().await.expect("login").status(), StatusCode::FOUND);
    }
    let res = start().await.expect("login");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(json_of(res).await["code"], "too_many_pending_logins");
    assert_eq!(count(), accredo::identity::login::MAX_PENDING_PER_CLIENT);
    // Ten minutes later they have expired: forgotten at the next start.
    app.clock.advance(chrono::Duration::minutes(11));
    assert_eq!(start().await.expect("login").status(), StatusCode::FOUND);
    assert_eq!(count(), 1);
}

#[tokio::test]
async fn pending_logins_are_bounded_in_total() {
    use accredo::identity::login::MAX_PENDING;
    use accredo::store::schema::login_attempts as la;
    use diesel::prelude::*;
    let (app, _idp) = std_app(ESIA_SCOPES).await;
    // The server already holds as many pending logins as it takes, from many addresses.
    {
        let now = app.clock.now().naive_utc();
        let mut conn = app.state.store.conn().expect("conn");
        diesel::sql_query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
             INSERT INTO login_attempts
                 (state, nonce, pkce_verifier, created_at, used_at, browser_hash, client)
             SELECT 's' || i, 'n', 'v', $2, NULL, '', 'c' || i FROM n",
        )
        .bind::<diesel::sql_types::BigInt, _>(MAX_PENDING)
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .execute(&mut *conn)
        .expect("insert");
        assert_eq!(
            la::table
                .count()
                .get_result::<i64>(&mut *conn)
                .expect("count"),
            MAX_PENDING
        );
    }
    let res = browser()
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(json_of(res).await["code"], "login_busy");
}
