//! Login through the built-in demo identity provider, browserless: authorize → account pick →
//! callback → session → API call → logout, and the refusals.

use crate::support::{TestApp, json_of};
use accredo::identity::oidc::ClientAuth;
use reqwest::{Client, StatusCode, redirect::Policy};
use serde_json::json;

pub(crate) const CONFIRMED: u64 = 1_000_001;
const UNCONFIRMED: u64 = 1_000_002;

/// A browser: follows no redirects by itself, keeps cookies.
pub(crate) fn browser() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

/// Runs the login up to the provider's redirect back to us; returns the callback URL.
pub(crate) async fn authorize(app: &TestApp, b: &Client, account: u64) -> String {
    let res = b
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::FOUND);
    let authorize = location(&res);
    assert!(
        authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="),
        "{authorize}"
    );
    let page = b
        .get(&authorize)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("Иванова") && page.contains("неподтверждённая"),
        "account picker lists demo accounts"
    );
    let res = b
        .get(format!("{authorize}&account={account}"))
        .send()
        .await
        .expect("pick");
    assert_eq!(res.status(), StatusCode::FOUND);
    let callback = location(&res);
    assert!(
        callback.starts_with(&format!("{}/auth/callback?code=", app.base)),
        "{callback}"
    );
    callback
}

fn count(app: &TestApp, sql_table: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.state.store.conn().expect("conn");
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {sql_table}"))
        .get_result::<N>(&mut *conn)
        .expect("count")
        .n
}

fn audit_kinds(app: &TestApp) -> Vec<(String, String)> {
    use accredo::store::schema::audit_events as ae;
    use diesel::prelude::*;
    let mut conn = app.state.store.conn().expect("conn");
    ae::table
        .filter(
            ae::kind
                .like("login.%")
                .or(ae::kind.like("session.%"))
                .or(ae::kind.like("consent.%")),
        )
        .order(ae::id.asc())
        .select((ae::kind, ae::payload))
        .load(&mut *conn)
        .expect("events")
}

async fn full_flow(client_auth: ClientAuth) {
    let (app, _idp) = TestApp::spawn_with_login(client_auth).await;
    let b = browser();
    let callback = authorize(&app, &b, CONFIRMED).await;
    let res = b.get(&callback).send().await.expect("callback");
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.starts_with("accredo_session=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let started = json_of(res).await;
    assert_eq!(started["display_name"], "Иванова Мария Петровна");
    let token = started["token"].as_str().expect("token").to_owned();

    let me = json_of(app.get("/api/v1/me", &token).await).await;
    assert_eq!(me["roles"], json!(["specialist"]));
    assert_eq!(me["session_id"], started["session_id"]);
    assert_eq!(me["consent_pending"], true, "first login asks for consent");
    // Without consent there is no access to cases.
    let res = app
        .call(
            reqwest::Method::POST,
            "/api/v1/cases",
            Some(&token),
            &[],
            Some(json!({"workflow": "periodic_accreditation"})),
        )
        .await;
    assert_eq!(
        (res.status(), json_of(res).await["code"].clone()),
        (StatusCode::FORBIDDEN, json!("consent_required"))
    );
    assert_eq!(
        app.get("/api/v1/cases", &token).await.status(),
        StatusCode::FORBIDDEN
    );
    let res = app
        .call(
            reqwest::Method::POST,
            "/api/v1/me/consent",
            Some(&token),
            &[],
            Some(json!({"granted": true})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        json_of(app.get("/api/v1/me", &token).await).await["consent_pending"],
        false
    );
    // The browser's cookie works as well as the bearer token.
    let cookie_value = cookie.split(';').next().expect("pair").to_owned();
    let res = b
        .get(format!("{}/api/v1/me", app.base))
        .header("cookie", &cookie_value)
        .send()
        .await
        .expect("me");
    assert_eq!(res.status(), StatusCode::OK);
    // A specialist can work right away.
    let (id, _) = app.create_case(&token, "periodic_accreditation").await;
    assert!(!id.is_empty());

    // The same callback again: the state was used up.
    let res = b.get(&callback).send().await.expect("replay");
    assert_eq!(
        (res.status(), json_of(res).await["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_state"))
    );

    // A second login gives a new session id, and remembers the consent.
    let again = json_of(
        b.get(authorize(&app, &b, CONFIRMED).await)
            .send()
            .await
            .expect("again"),
    )
    .await;
    assert_ne!(again["session_id"], started["session_id"]);
    assert_eq!(
        json_of(
            app.get("/api/v1/me", again["token"].as_str().expect("t"))
                .await
        )
        .await["consent_pending"],
        false
    );
    let listed = json_of(app.get("/api/v1/me/sessions", &token).await).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    let current: Vec<_> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter(|s| s["current"] == true)
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(current, vec![started["session_id"].clone()]);

    // Logout ends the session on the server and points at the provider's end-session endpoint.
    let res = app
        .call(
            reqwest::Method::POST,
            "/auth/logout",
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let out = json_of(res).await;
    assert!(
        out["end_session_url"]
            .as_str()
            .expect("end session")
            .contains("/end-session?client_id="),
        "{out}"
    );
    let res = app.get("/api/v1/me", &token).await;
    assert_eq!(
        (res.status(), json_of(res).await["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("session_revoked"))
    );
    let other = again["token"].as_str().expect("token");
    assert_eq!(
        app.get("/api/v1/me", other).await.status(),
        StatusCode::OK,
        "other sessions stay"
    );

    let kinds: Vec<_> = audit_kinds(&app).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds,
        [
            "login.succeeded",
            "consent.given",
            "login.failed",
            "login.succeeded",
            "session.ended"
        ]
    );
    for (_, payload) in audit_kinds(&app) {
        assert!(
            !payload.contains(&token) && !payload.contains("code="),
            "no tokens or codes in the audit log: {payload}"
        );
    }
}

#[tokio::test]
async fn login_flow_with_client_secret_basic() {
    full_flow(ClientAuth::Basic).await;
}

#[tokio::test]
async fn login_flow_with_client_secret_post() {
    full_flow(ClientAuth::Post).await;
}

#[tokio::test]
async fn unconfirmed_accounts_get_no_session() {
    let (app, _idp) = TestApp::spawn_with_login(ClientAuth::Basic).await;
    let b = browser();
    let sessions = count(&app, "sessions");
    let callback = authorize(&app, &b, UNCONFIRMED).await;
    let res = b.get(&callback).send().await.expect("callback");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get("set-cookie").is_none());
    let body = json_of(res).await;
    assert_eq!(body["code"], "account_not_confirmed");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("подтверждённой учётной записью Госуслуг")
    );
    assert_eq!(count(&app, "sessions"), sessions);
    assert_eq!(count(&app, "users"), 0);
    let events = audit_kinds(&app);
    assert_eq!(events.len(), 1);
    assert!(events[0].1.contains("account_not_confirmed"));
}

#[tokio::test]
async fn wrong_state_and_replayed_code_are_refused() {
    let (app, _idp) = TestApp::spawn_with_login(ClientAuth::Basic).await;
    let b = browser();
    let callback = authorize(&app, &b, CONFIRMED).await;
    let forged = callback.replace("state=", "state=x");
    let res = b.get(&forged).send().await.expect("forged");
    assert_eq!(
        (res.status(), json_of(res).await["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_state"))
    );
    assert_eq!(
        b.get(&callback).send().await.expect("real").status(),
        StatusCode::OK
    );

    // The code of that login, brought back with the state of a new login: the provider refuses it.
    let code = callback
        .split("code=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .expect("code")
        .to_owned();
    let fresh = authorize(&app, &b, CONFIRMED).await;
    let state = fresh.split("state=").nth(1).expect("state").to_owned();
    let res = b
        .get(format!(
            "{}/auth/callback?code={code}&state={state}",
            app.base
        ))
        .send()
        .await
        .expect("replay");
    assert_eq!(
        (res.status(), json_of(res).await["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("code_refused"))
    );
    let res = b
        .get(format!("{}/auth/callback?state={state}", app.base))
        .send()
        .await
        .expect("no code");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn provider_down_is_a_502_and_no_session() {
    let (app, idp) = TestApp::spawn_with_login(ClientAuth::Basic).await;
    let b = browser();
    let callback = authorize(&app, &b, CONFIRMED).await;
    idp.handle.stop(false).await;
    let sessions = count(&app, "sessions");
    let res = b.get(&callback).send().await.expect("callback");
    assert_eq!(
        (res.status(), json_of(res).await["code"].clone()),
        (StatusCode::BAD_GATEWAY, json!("provider_unavailable"))
    );
    assert_eq!(count(&app, "sessions"), sessions);
}

#[tokio::test]
async fn login_is_off_without_a_provider() {
    let app = TestApp::spawn().await;
    let res = browser()
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .expect("login");
    assert_eq!(
        (res.status(), json_of(res).await["code"].clone()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!("login_not_configured")
        )
    );
}

#[test]
fn demo_provider_refuses_non_loopback_addresses() {
    let client = accredo::identity::demo_idp::DemoClient {
        id: "x".into(),
        secret: "y".into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        post_logout_redirect_uri: None,
    };
    let started = actix_web::rt::System::new().block_on(async {
        accredo::identity::demo_idp::start("0.0.0.0:0", client, false, TestApp::suite_clock())
            .map(|r| r.issuer)
    });
    assert!(matches!(
        started,
        Err(accredo::identity::demo_idp::StartError::NotLoopback(_))
    ));
}

#[tokio::test]
async fn sessions_can_be_listed_ended_and_refreshed() {
    let (app, _idp) = TestApp::spawn_with_login(ClientAuth::Basic).await;
    let b = browser();
    let first = json_of(
        b.get(authorize(&app, &b, CONFIRMED).await)
            .send()
            .await
            .expect("first"),
    )
    .await;
    let second = json_of(
        b.get(authorize(&app, &b, CONFIRMED).await)
            .send()
            .await
            .expect("second"),
    )
    .await;
    let (t1, t2) = (
        first["token"].as_str().expect("t1"),
        second["token"].as_str().expect("t2"),
    );

    // End the first session from the second one (another device).
    let sid1 = first["session_id"].as_str().expect("sid");
    let res = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/me/sessions/{sid1}"),
            Some(t2),
            &[],
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", t1).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/me/sessions/{sid1}"),
            Some(t2),
            &[],
            None,
        )
        .await;
    assert_eq!(
        (res.status(), json_of(res).await["code"].clone()),
        (StatusCode::NOT_FOUND, json!("session_not_found"))
    );
    // Nobody ends another person's session.
    let stranger = app.specialist("stranger");
    let sid2 = second["session_id"].as_str().expect("sid");
    let res = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/me/sessions/{sid2}"),
            Some(&stranger),
            &[],
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/me", t2).await.status(), StatusCode::OK);

    // Refresh: a new session and token, same latest end; the old token stops working.
    let res = app
        .call(reqwest::Method::POST, "/auth/refresh", Some(t2), &[], None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let refreshed = json_of(res).await;
    assert_ne!(refreshed["session_id"], second["session_id"]);
    assert_eq!(
        refreshed["expires_at"], second["expires_at"],
        "refresh never extends the absolute lifetime"
    );
    assert_eq!(
        app.get("/api/v1/me", t2).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/me", refreshed["token"].as_str().expect("t3"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn failed_callbacks_and_bad_tokens_are_rate_limited() {
    let (app, _idp) = TestApp::spawn_with_login_limited(ClientAuth::Basic, 3).await;
    let b = browser();
    for _ in 0..3 {
        let res = b
            .get(format!("{}/auth/callback?code=x&state=nope", app.base))
            .send()
            .await
            .expect("bad");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    let res = b
        .get(format!("{}/auth/callback?code=x&state=nope", app.base))
        .send()
        .await
        .expect("limited");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "60");
    assert_eq!(json_of(res).await["code"], "too_many_attempts");
    // A good login from that address is not refused for the failures: only failures are
    // limited (behind a proxy the address is shared by everyone); nor are valid tokens.
    let callback = authorize(&app, &b, CONFIRMED).await;
    assert_eq!(
        b.get(&callback).send().await.expect("good").status(),
        StatusCode::OK
    );
    let token = app.specialist("alice");
    assert_eq!(app.get("/api/v1/me", &token).await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/me", "garbage.token.here").await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a bad token from that address still waits"
    );
    let failures = audit_kinds(&app)
        .iter()
        .filter(|(k, _)| k == "login.failed")
        .count();
    assert_eq!(failures, 4, "every refused attempt is audited");
}

#[tokio::test]
async fn invalid_tokens_count_as_failures_and_valid_ones_are_never_refused_for_them() {
    let (app, _idp) = TestApp::spawn_with_login_limited(ClientAuth::Basic, 2).await;
    let good = app.specialist("alice");
    for _ in 0..2 {
        assert_eq!(
            app.get("/api/v1/me", "garbage.token.here").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.get("/api/v1/me", "garbage.token.here").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        app.get("/api/v1/me", &good).await.status(),
        StatusCode::OK,
        "a valid token from the same address works"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_counted_on_its_own() {
    use crate::support::Login;
    let clock = TestApp::suite_clock();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let login = Login {
        max_failures: 2,
        proxies: accredo::http::client_ip::TrustedProxies::parse(&["127.0.0.1".into()])
            .expect("proxies"),
        ..Login::new(listener, accredo::identity::provider::Provider::default())
    };
    let app = TestApp::start_with_login(login, clock).await;
    let from = |client: &'static str, token: &'static str| {
        app.client
            .get(format!("{}/api/v1/me", app.base))
            .bearer_auth(token)
            .header("X-Forwarded-For", client)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(
            from("198.51.100.1", "bad").await.expect("send").status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        from("198.51.100.1", "bad").await.expect("send").status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        from("198.51.100.2", "bad").await.expect("send").status(),
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy has its own count"
    );
    assert_eq!(
        from("6.6.6.6, 198.51.100.1", "bad")
            .await
            .expect("send")
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "an address the client writes itself does not give it a fresh count"
    );
}

#[tokio::test]
async fn demo_provider_end_session_returns_to_the_cabinet() {
    let (app, idp) = TestApp::spawn_with_login(ClientAuth::Basic).await;
    let back = format!("{}/", app.base);
    let res = browser()
        .get(format!("{}/end-session", idp.issuer))
        .query(&[("post_logout_redirect_uri", back.as_str()), ("state", "s1")])
        .send()
        .await
        .expect("end session");
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), format!("{back}?state=s1"));
    let res = browser()
        .get(format!("{}/end-session", idp.issuer))
        .query(&[("post_logout_redirect_uri", "https://evil.example/")])
        .send()
        .await
        .expect("end session");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "no open redirect to unregistered addresses"
    );
}

#[tokio::test]
async fn browser_logout_goes_on_to_the_provider() {
    let (app, idp) = TestApp::spawn_with_login(ClientAuth::Basic).await;
    let b = browser();
    let session = json_of(
        b.get(authorize(&app, &b, CONFIRMED).await)
            .send()
            .await
            .expect("login"),
    )
    .await;
    let token = session["token"].as_str().expect("token");
    let res = b
        .post(format!("{}/auth/logout", app.base))
        .bearer_auth(token)
        .header("accept", "text/html")
        .send()
        .await
        .expect("logout");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with(&format!("{}/end-session?client_id=", idp.issuer)));
    let cleared = res.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cleared.starts_with("accredo_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        app.get("/api/v1/me", token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn login_checks_the_person_against_the_register() {
    let (app, _idp) = TestApp::spawn_with_login(ClientAuth::Basic).await;
    {
        // The demo register data: everyone but the second reviewer, last names in capitals.
        let lines = accredo::identity::demo_idp::register_export().join("\n");
        let mut conn = app.state.store.conn().expect("conn");
        accredo::registry::sync::from_json_lines(
            &mut conn,
            &accredo::domain::clock::SystemClock,
            "demo",
            lines.as_bytes(),
            false,
            |_| {},
        )
        .expect("register");
    }
    let login = |account: u64| {
        let app = &app;
        async move {
            let b = browser();
            let callback = authorize(app, &b, account).await;
            let res = b.get(&callback).send().await.expect("callback");
            assert_eq!(res.status(), StatusCode::OK);
            let token = json_of(res).await["token"]
                .as_str()
                .expect("token")
                .to_owned();
            json_of(app.get("/api/v1/me", &token).await).await
        }
    };
    let me = login(CONFIRMED).await;
    assert_eq!(
        me["register"]["code"], "registry_match",
        "«ИВАНОВА» in the register is «Иванова»: {me}"
    );
    assert!(me["register"]["checked_at"].is_string());

    let me = login(1_000_004).await;
    assert_eq!(me["register"]["code"], "registry_not_found", "{me}");
    assert!(
        me["register"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("отдел кадров")),
        "{me}"
    );
    let logins: Vec<String> = audit_kinds(&app)
        .into_iter()
        .filter(|(k, _)| k == "login.succeeded")
        .map(|(_, p)| p)
        .collect();
    assert!(
        logins[0].contains("\"registry\":\"registry_match\"")
            && logins[1].contains("\"registry\":\"registry_not_found\""),
        "{logins:?}"
    );
}
