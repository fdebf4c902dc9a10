//! The server's clock is the only clock. The suite's fixed start is days away from the wall
//! clock; here whole flows run with the clock years before and after it, so any time check that
//! reads the wall clock instead (token expiry, ID token lifetime, certificate validity, ids,
//! rate windows) fails here.

use crate::login::{CONFIRMED, authorize, browser};
use crate::support::{TestApp, json_of};
use accredo::domain::clock::{Clock, SystemClock};
use accredo::identity::oidc::ClientAuth;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Fifteen years before and after the wall clock.
fn far_from_the_wall_clock() -> [(DateTime<Utc>, &'static str); 2] {
    let wall = SystemClock.now().trunc_subsecs(0);
    let years = Duration::days(15 * 365);
    [
        (wall - years, "15 years behind the wall clock"),
        (wall + years, "15 years ahead of the wall clock"),
    ]
}

/// The millisecond a UUIDv7 id carries.
fn id_time(id: &str) -> i64 {
    let (secs, nanos) = uuid::Uuid::parse_str(id)
        .expect("uuid")
        .get_timestamp()
        .expect("v7")
        .to_unix();
    secs as i64 * 1_000 + i64::from(nanos / 1_000_000)
}

#[tokio::test]
async fn login_through_the_provider_works_with_the_clock_far_from_the_wall_clock() {
    for (start, label) in far_from_the_wall_clock() {
        let (app, _idp) = TestApp::spawn_with_login_at(ClientAuth::Basic, 1_000, start).await;
        let b = browser();
        let callback = authorize(&app, &b, CONFIRMED).await;
        let res = b.get(&callback).send().await.expect("callback");
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{label}: the ID token is live"
        );
        let started = json_of(res).await;
        let token = started["token"].as_str().expect("token").to_owned();
        let session = started["session_id"].as_str().expect("session id");
        assert_eq!(
            id_time(session),
            start.timestamp_millis(),
            "{label}: the session id carries the server's time"
        );
        assert_eq!(
            app.get("/api/v1/me", &token).await.status(),
            StatusCode::OK,
            "{label}: the session token is live"
        );
        let res = app
            .call(
                Method::POST,
                "/api/v1/me/consent",
                Some(&token),
                &[],
                Some(json!({"granted": true})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{label}: consent");

        // Idle for 29 minutes: live; then 31 minutes without a request: over, by this clock.
        app.clock.advance(Duration::minutes(29));
        assert_eq!(app.get("/api/v1/me", &token).await.status(), StatusCode::OK);
        app.clock.advance(Duration::minutes(31));
        let res = app.get("/api/v1/me", &token).await;
        assert_eq!(
            (res.status(), json_of(res).await["code"].clone()),
            (StatusCode::UNAUTHORIZED, json!("session_idle")),
            "{label}"
        );
    }
}

#[tokio::test]
async fn a_signed_submission_works_with_the_clock_far_from_the_wall_clock() {
    for (start, label) in far_from_the_wall_clock() {
        let app = TestApp::spawn_at(start).await;
        let me = app.specialist("skewed");
        let (id, v) = app.ready_case(&me).await;
        assert_eq!(
            id_time(&id),
            start.timestamp_millis(),
            "{label}: the case id carries the server's time"
        );
        let signed = app.signed(&me, &id).await;
        let res = app.transition(&me, &id, "submit", v, signed).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{label}: {}",
            res.text().await.unwrap_or_default()
        );
        let receipt = app
            .get(&format!("/api/v1/cases/{id}/receipt.xml"), &me)
            .await;
        assert_eq!(receipt.status(), StatusCode::OK, "{label}");
        let number = receipt.headers()["x-receipt-number"]
            .to_str()
            .expect("number")
            .to_owned();
        let year = accredo::receipt::in_moscow(start).format("%Y").to_string();
        assert!(
            number.starts_with(&format!("{year}-")),
            "{label}: the number {number} is of the server's year {year}"
        );
        let history = json_of(app.get(&format!("/api/v1/cases/{id}/history"), &me).await).await;
        let last = history
            .as_array()
            .and_then(|h| h.last())
            .expect("history")
            .clone();
        let at: DateTime<Utc> = last["at"].as_str().expect("at").parse().expect("instant");
        assert_eq!(
            at, start,
            "{label}: the history is dated by the server's clock"
        );

        // Twelve hours later the session is over on this clock, however active it was.
        for _ in 0..29 {
            app.clock.advance(Duration::minutes(25));
            app.get("/api/v1/me", &me).await;
        }
        let res = app.get("/api/v1/me", &me).await;
        assert_eq!(
            (res.status(), json_of(res).await["code"].clone()),
            (StatusCode::UNAUTHORIZED, json!("session_expired")),
            "{label}"
        );
    }
}

#[tokio::test]
async fn failed_logins_are_counted_in_windows_of_the_servers_clock() {
    for (start, label) in far_from_the_wall_clock() {
        let (app, _idp) = TestApp::spawn_with_login_at(ClientAuth::Basic, 2, start).await;
        for _ in 0..2 {
            let res = app.get("/api/v1/me", "not-a-token").await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}");
        }
        let res = app.get("/api/v1/me", "not-a-token").await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{label}");
        app.clock.advance(Duration::seconds(61));
        let res = app.get("/api/v1/me", "not-a-token").await;
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{label}: a minute later on the server's clock the address may try again"
        );
    }
}
