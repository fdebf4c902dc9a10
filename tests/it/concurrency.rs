//! Versions, ETags, idempotent retries and races.

use crate::support::{TestApp, json_of, rejection_body, revision_body};
use accredo::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn writes_need_if_match_and_stale_versions_conflict() {
    let app = TestApp::spawn().await;
    let me = app.specialist("alice");
    let (id, v) = app.create_case(&me, "periodic_accreditation").await;
    let res = app
        .call(
            Method::PATCH,
            &format!("/api/v1/cases/{id}/form"),
            Some(&me),
            &[],
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (res.status().as_u16(), json_of(res).await["code"].clone()),
        (428, json!("precondition_required"))
    );
    let res = app
        .call(
            Method::POST,
            &format!("/api/v1/cases/{id}/transitions/withdraw"),
            Some(&me),
            &[],
            Some(json!({})),
        )
        .await;
    assert_eq!(res.status(), 428);
    let res = app
        .call(
            Method::POST,
            &format!("/api/v1/cases/{id}/transitions/withdraw"),
            Some(&me),
            &[("If-Match", "yesterday".into())],
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (res.status().as_u16(), json_of(res).await["code"].clone()),
        (400, json!("invalid_if_match"))
    );

    let res = app
        .patch_form(&me, &id, v, json!({"applicant": {"last_name": "Иванова"}}))
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .patch_form(&me, &id, v, json!({"applicant": {"last_name": "Петрова"}}))
        .await;
    assert_eq!(res.status(), 409);
    assert_eq!(res.headers()["etag"], "\"2\"");
    let body = json_of(res).await;
    assert_eq!(body["code"], "version_conflict");
    assert_eq!(body["details"][0]["message"], "2");
    let res = app.transition(&me, &id, "withdraw", v, json!({})).await;
    assert_eq!(
        (res.status().as_u16(), json_of(res).await["code"].clone()),
        (409, json!("version_conflict"))
    );
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    assert_eq!(case["form"]["applicant"]["last_name"], "Иванова");
}

#[tokio::test]
async fn idempotency_key_replays_the_first_result() {
    let app = TestApp::spawn().await;
    let me = app.specialist("alice");
    let secretary = app.user("secretary", &[Role::Secretary]);
    let (id, v) = app.submitted_case(&me).await;
    let headers = [
        ("If-Match", format!("\"{v}\"")),
        ("Idempotency-Key", "start-review-1".to_owned()),
    ];
    let path = format!("/api/v1/cases/{id}/transitions/start_review");
    let first = app
        .call(
            Method::POST,
            &path,
            Some(&secretary),
            &headers,
            Some(json!({})),
        )
        .await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = json_of(first).await;
    let events = app.audit_count();

    let again = app
        .call(
            Method::POST,
            &path,
            Some(&secretary),
            &headers,
            Some(json!({})),
        )
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(again).await, first);
    assert_eq!(app.audit_count(), events, "no second effect");
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    assert_eq!(case["version"].as_i64(), Some(v + 1));

    // The same key for a different request is refused.
    let other = app
        .call(
            Method::POST,
            &format!("/api/v1/cases/{id}/transitions/withdraw"),
            Some(&secretary),
            &headers,
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (
            other.status().as_u16(),
            json_of(other).await["code"].clone()
        ),
        (422, json!("idempotency_key_reused"))
    );
}

#[tokio::test]
async fn concurrent_conflicting_transitions_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let me = app.specialist("alice");
    let secretary = app.user("secretary", &[Role::Secretary]);
    // The assignee, in eight windows at once, each with another decision.
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    let (id, v) = app.submitted_case(&me).await;
    app.step(&secretary, &id, "start_review", v, json!({}))
        .await;
    let v = app.claim(&reviewer, &id).await;
    let events = app.audit_count();

    let mut tasks = Vec::new();
    for i in 0..8 {
        let (name, body) = match i % 3 {
            0 => ("approve", json!({})),
            1 => ("reject", rejection_body()),
            _ => ("request_revision", revision_body("Нужен диплом")),
        };
        let fut = app.transition(&reviewer, &id, name, v, body);
        tasks.push(fut);
    }
    let results = futures::future::join_all(tasks).await;
    let mut ok = 0;
    let mut conflicts = 0;
    for res in results {
        match res.status().as_u16() {
            200 => ok += 1,
            409 => conflicts += 1,
            other => panic!(
                "unexpected status {other}: {}",
                res.text().await.unwrap_or_default()
            ),
        }
    }
    assert_eq!((ok, conflicts), (1, 7));
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    assert_eq!(case["version"].as_i64(), Some(v + 1));
    assert_eq!(app.audit_count(), events + 1);
}

/// Eight approvals of one case at once: each loser must learn of the winner before its
/// effects write (the accreditation record is keyed by the case), so it answers 409 and not
/// 500 from colliding with the winner's uncommitted record.
#[tokio::test]
async fn concurrent_approvals_issue_one_record_and_the_rest_conflict() {
    use accredo::store::schema::accreditation_records;
    use diesel::prelude::*;
    let app = TestApp::spawn().await;
    let me = app.specialist("alice");
    let secretary = app.user("secretary", &[Role::Secretary]);
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    for round in 0..3 {
        let (id, v) = app.submitted_case(&me).await;
        app.step(&secretary, &id, "start_review", v, json!({}))
            .await;
        let v = app.claim(&reviewer, &id).await;
        let tasks: Vec<_> = (0..8)
            .map(|_| app.transition(&reviewer, &id, "approve", v, json!({})))
            .collect();
        let mut statuses = Vec::new();
        for res in futures::future::join_all(tasks).await {
            let status = res.status().as_u16();
            let body = res.text().await.unwrap_or_default();
            assert!(
                matches!(status, 200 | 409),
                "round {round}: unexpected status {status}: {body}"
            );
            statuses.push(status);
        }
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 409, 409, 409, 409, 409, 409, 409],
            "round {round}"
        );
        let mut conn = app.state.store.conn().expect("conn");
        let records: i64 = accreditation_records::table
            .filter(accreditation_records::case_id.eq(&id))
            .count()
            .get_result(&mut *conn)
            .expect("count");
        assert_eq!(records, 1, "round {round}");
        drop(conn);
    }
    app.assert_counters_agree();
}

#[tokio::test]
async fn concurrent_retries_with_one_key_have_one_effect() {
    let app = TestApp::spawn().await;
    let me = app.specialist("alice");
    let secretary = app.user("secretary", &[Role::Secretary]);
    let (id, v) = app.submitted_case(&me).await;
    let events = app.audit_count();
    let path = format!("/api/v1/cases/{id}/transitions/start_review");
    let headers = [
        ("If-Match", format!("\"{v}\"")),
        ("Idempotency-Key", "retry-storm".to_owned()),
    ];
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            app.call(
                Method::POST,
                &path,
                Some(&secretary),
                &headers,
                Some(json!({})),
            )
        })
        .collect();
    let mut bodies = Vec::new();
    for res in futures::future::join_all(tasks).await {
        assert_eq!(res.status(), 200);
        bodies.push(json_of(res).await);
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    assert_eq!(app.audit_count(), events + 1);
}

/// Every POST that creates something takes an `Idempotency-Key`: a client retrying after a
/// lost answer (the server killed mid-request, say) gets the first result back, marked, and
/// nothing is created twice, also when the retries race each other.
#[tokio::test]
async fn creating_requests_with_an_idempotency_key_create_once() {
    let app = TestApp::spawn().await;
    let me = app.specialist("idem-creator");
    let create = |key: &'static str, workflow: &'static str| {
        let (app, me) = (&app, me.clone());
        async move {
            app.call(
                Method::POST,
                "/api/v1/cases",
                Some(&me),
                &[("Idempotency-Key", key.to_owned())],
                Some(json!({"workflow": workflow})),
            )
            .await
        }
    };
    // Eight racing copies of one request: one case, the same answer for all.
    let answers =
        futures_util::future::join_all((0..8).map(|_| create("case-1", "periodic_accreditation")))
            .await;
    let mut ids = std::collections::BTreeSet::new();
    let mut replayed = 0;
    for r in answers {
        assert_eq!(r.status(), 201);
        replayed += usize::from(r.headers().get("idempotent-replayed").is_some());
        ids.insert(json_of(r).await["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(replayed, 7);
    let mine = json_of(app.get("/api/v1/cases", &me).await).await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1), "{mine}");
    // The key with another request is refused; without a key, a new case each time.
    let reused = create("case-1", "primary_accreditation").await;
    assert_eq!(reused.status(), 422);
    assert_eq!(json_of(reused).await["code"], "idempotency_key_reused");

    // A document uploaded twice with one key is kept once.
    let (id, _) = app.create_case(&me, "periodic_accreditation").await;
    let upload = || {
        let form = reqwest::multipart::Form::new()
            .text("type", "identity_document")
            .part(
                "file",
                reqwest::multipart::Part::bytes(crate::support::text_pdf()).file_name("id.pdf"),
            );
        app.client
            .post(format!("{}/api/v1/cases/{id}/documents", app.base))
            .bearer_auth(&me)
            .header("Idempotency-Key", "upload-1")
            .multipart(form)
            .send()
    };
    let first = upload().await.expect("upload");
    assert_eq!(first.status(), 201);
    let first = json_of(first).await;
    let again = upload().await.expect("upload");
    assert_eq!(
        again.status(),
        201,
        "{}",
        again.text().await.unwrap_or_default()
    );
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(again).await["id"], first["id"]);
    let docs = json_of(app.get(&format!("/api/v1/cases/{id}/documents"), &me).await).await;
    assert_eq!(docs.as_array().map(Vec::len), Some(1), "{docs}");

    // A message posted twice with one key is in the thread once.
    let (filed, _) = app.submitted_case(&me).await;
    let thread_path = format!("/api/v1/cases/{filed}/messages");
    let headers = [("Idempotency-Key", "message-1".to_owned())];
    let post = || {
        app.call(
            Method::POST,
            &thread_path,
            Some(&me),
            &headers,
            Some(json!({"body": "Прошу уточнить срок рассмотрения"})),
        )
    };
    let first = json_of(post().await).await;
    let again = post().await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(again).await["id"], first["id"]);
    let thread = json_of(
        app.get(&format!("/api/v1/cases/{filed}/messages"), &me)
            .await,
    )
    .await;
    let bodies: Vec<&Value> = thread
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["body"] == "Прошу уточнить срок рассмотрения")
        .collect();
    assert_eq!(bodies.len(), 1, "{thread}");
}
