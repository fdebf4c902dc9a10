//! Consent to the transfer of personal data: every resource of a case needs it, and a
//! withdrawal takes effect at once in every session of the person.

use crate::support::{TestApp, json_of};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn decide(app: &TestApp, token: &str, granted: bool) {
    let res = app
        .call(
            Method::POST,
            "/api/v1/me/consent",
            Some(token),
            &[],
            Some(json!({ "granted": granted })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn withdrawing_consent_closes_every_open_session_at_once() {
    let app = TestApp::spawn().await;
    let first = app.specialist("withdrawer");
    let second = app.specialist("withdrawer");
    let (id, _) = app.create_case(&first, "periodic_accreditation").await;
    for token in [&first, &second] {
        assert_eq!(
            app.get(&format!("/api/v1/cases/{id}"), token)
                .await
                .status(),
            200
        );
    }
    decide(&app, &second, false).await;
    for (token, which) in [(&first, "the other session"), (&second, "this session")] {
        let res = app.get(&format!("/api/v1/cases/{id}"), token).await;
        assert_eq!(
            (res.status(), json_of(res).await["code"].clone()),
            (StatusCode::FORBIDDEN, json!("consent_required")),
            "{which}"
        );
        let me = json_of(app.get("/api/v1/me", token).await).await;
        assert_eq!(me["consent_pending"], true, "{which}");
    }
    decide(&app, &first, true).await;
    for token in [&first, &second] {
        assert_eq!(
            app.get(&format!("/api/v1/cases/{id}"), token)
                .await
                .status(),
            200
        );
    }
}
