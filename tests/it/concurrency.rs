//! Versions, ETags, idempotent retries and races.

use crate::support::{TestApp, json_of, rejection_body, revision_body};
use accredo::domain::role::Role;
use reqwest::Method;
use serde_json::json;

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
