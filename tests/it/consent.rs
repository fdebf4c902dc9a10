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

/// Every resource of a case, documents included, is closed while consent is pending: for the
/// applicant and for staff alike.
#[tokio::test]
async fn every_resource_of_a_case_needs_consent() {
    let app = TestApp::spawn().await;
    let me = app.specialist("consent-docs");
    let (id, _) = app.ready_case(&me).await;
    let docs = json_of(app.get(&format!("/api/v1/cases/{id}/documents"), &me).await).await;
    let doc = docs[0]["id"].as_str().expect("document id").to_owned();
    decide(&app, &me, false).await;
    let file = || {
        reqwest::multipart::Form::new()
            .text("type", "diploma")
            .part(
                "file",
                reqwest::multipart::Part::bytes(crate::support::text_pdf()).file_name("d.pdf"),
            )
    };
    let base = format!("{}/api/v1/cases/{id}", app.base);
    let requests = [
        (
            "list documents",
            app.client.get(format!("{base}/documents")),
        ),
        (
            "download",
            app.client.get(format!("{base}/documents/{doc}")),
        ),
        (
            "upload",
            app.client
                .post(format!("{base}/documents"))
                .multipart(file()),
        ),
        (
            "replace",
            app.client
                .put(format!("{base}/documents/{doc}"))
                .multipart(file()),
        ),
        (
            "delete",
            app.client.delete(format!("{base}/documents/{doc}")),
        ),
        ("readiness", app.client.get(format!("{base}/readiness"))),
        (
            "signing payload",
            app.client.get(format!("{base}/signing-payload")),
        ),
        ("history", app.client.get(format!("{base}/history"))),
    ];
    for (what, request) in requests {
        let res = request.bearer_auth(&me).send().await.expect("send");
        assert_eq!(
            (res.status(), json_of(res).await["code"].clone()),
            (StatusCode::FORBIDDEN, json!("consent_required")),
            "{what}"
        );
    }
    decide(&app, &me, true).await;
    let docs_after = json_of(app.get(&format!("/api/v1/cases/{id}/documents"), &me).await).await;
    assert_eq!(
        docs_after, docs,
        "nothing was changed while consent was withdrawn"
    );

    // A reviewer without consent reads no applicant's documents either.
    let signed = app.signed(&me, &id).await;
    let v = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await["version"]
        .as_i64()
        .expect("version");
    app.step(&me, &id, "submit", v, signed).await;
    let reviewer = app.user("consent-reviewer", &[accredo::domain::role::Role::Reviewer]);
    assert_eq!(
        app.get(&format!("/api/v1/cases/{id}/documents"), &reviewer)
            .await
            .status(),
        StatusCode::OK
    );
    decide(&app, &reviewer, false).await;
    let res = app
        .get(&format!("/api/v1/cases/{id}/documents/{doc}"), &reviewer)
        .await;
    assert_eq!(
        (res.status(), json_of(res).await["code"].clone()),
        (StatusCode::FORBIDDEN, json!("consent_required"))
    );
}
