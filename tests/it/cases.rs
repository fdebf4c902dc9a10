//! Cases: drafts, autosave with field rules, every transition rule, history.

use crate::support::{TestApp, complete_form, json_of, rejection_body, revision_body};
use accredo::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};

fn codes(body: &Value) -> Vec<(String, String)> {
    body["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| {
            (
                d["field"].as_str().unwrap_or_default().to_owned(),
                d["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn draft_is_created_with_etag_and_location() {
    let app = TestApp::spawn().await;
    let me = app.specialist("s1");
    let res = app
        .call(
            Method::POST,
            "/api/v1/cases",
            Some(&me),
            &[],
            Some(json!({"workflow": "periodic_accreditation"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["etag"], "\"1\"");
    let location = res.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let body = json_of(res).await;
    assert_eq!(
        location,
        format!("/api/v1/cases/{}", body["id"].as_str().expect("id"))
    );
    assert_eq!(body["state"], "draft");
    assert_eq!(body["state_label"], "Черновик");
    // The draft starts with what the login says about the applicant, and says so.
    assert_eq!(
        body["form"],
        json!({"applicant": {
            "last_name": "Тестова", "first_name": "s1", "birth_date": "1980-01-01",
            "snils": crate::support::formatted_snils("s1"),
        }})
    );
    assert_eq!(
        body["prefilled"],
        json!({
            "/applicant/last_name": "esia", "/applicant/first_name": "esia",
            "/applicant/birth_date": "esia", "/applicant/snils": "esia",
        })
    );
    let allowed: Vec<_> = body["allowed_transitions"]
        .as_array()
        .expect("allowed")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(allowed, ["submit", "withdraw"]);
}

#[tokio::test]
async fn unknown_workflow_is_refused() {
    let app = TestApp::spawn().await;
    let me = app.specialist("s1");
    let before = app.audit_count();
    let res = app
        .call(
            Method::POST,
            "/api/v1/cases",
            Some(&me),
            &[],
            Some(json!({"workflow": "space_flight"})),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(json_of(res).await["code"], "unknown_workflow");
    assert_eq!(app.audit_count(), before);
    let list = json_of(app.get("/api/v1/cases", &me).await).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn autosave_merges_and_keeps_incomplete_drafts() {
    let app = TestApp::spawn().await;
    let me = app.specialist("s1");
    let (id, v) = app.create_case(&me, "periodic_accreditation").await;
    let res = app
        .patch_form(&me, &id, v, json!({"applicant": {"last_name": "Иванова"}}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"], "\"2\"");
    let res = app
        .patch_form(
            &me,
            &id,
            2,
            json!({"applicant": {"first_name": "Мария"}, "specialty": {"code": "31.08.49"}}),
        )
        .await;
    let body = json_of(res).await;
    assert_eq!(
        body["form"],
        json!({"applicant": {
            "last_name": "Иванова", "first_name": "Мария", "birth_date": "1980-01-01",
            "snils": crate::support::formatted_snils("s1"),
        }, "specialty": {"code": "31.08.49"}})
    );
    // null removes a field (RFC 7396).
    let res = app
        .patch_form(&me, &id, 3, json!({"specialty": null}))
        .await;
    assert_eq!(
        json_of(res).await["form"],
        json!({"applicant": {
            "last_name": "Иванова", "first_name": "Мария", "birth_date": "1980-01-01",
            "snils": crate::support::formatted_snils("s1"),
        }})
    );
}

#[tokio::test]
async fn field_rules_give_per_field_codes_and_write_nothing() {
    let app = TestApp::spawn().await;
    let me = app.specialist("s1");
    let (id, v) = app.create_case(&me, "periodic_accreditation").await;
    let before = app.audit_count();
    let res = app
        .patch_form(
            &me,
            &id,
            v,
            json!({"applicant": {
                "snils": "112-233-445 96", "inn": "7707329153", "phone": "12345",
                "email": "ivanova@", "birth_date": "1985-02-30", "shoe_size": 42
            }}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let body = json_of(res).await;
    assert_eq!(body["code"], "invalid_form");
    let mut got = codes(&body);
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("/applicant/birth_date", "invalid_date"),
        ("/applicant/email", "invalid_email"),
        ("/applicant/inn", "invalid_inn"),
        ("/applicant/phone", "invalid_phone"),
        ("/applicant/shoe_size", "unknown_field"),
        ("/applicant/snils", "invalid_snils"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    want.sort();
    assert_eq!(got, want);
    let snils = body["details"]
        .as_array()
        .expect("details")
        .iter()
        .find(|d| d["code"] == "invalid_snils")
        .expect("snils");
    assert!(snils["message"].as_str().expect("msg").contains("СНИЛС"));
    // Nothing was written: same version, same (prefilled) form, no audit event.
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    assert_eq!(
        (
            case["version"].as_i64(),
            case["form"]["applicant"]["last_name"].clone()
        ),
        (Some(1), json!("Тестова"))
    );
    assert_eq!(case["form"].as_object().map(|f| f.len()), Some(1), "{case}");
    assert_eq!(app.audit_count(), before);
}

#[tokio::test]
async fn patch_must_be_an_object_and_form_is_not_editable_after_submit() {
    let app = TestApp::spawn().await;
    let me = app.specialist("s1");
    let (id, v) = app.create_case(&me, "periodic_accreditation").await;
    let res = app
        .patch_form(&me, &id, v, json!(["not", "an", "object"]))
        .await;
    assert_eq!(
        (res.status().as_u16(), json_of(res).await["code"].clone()),
        (400, json!("invalid_patch"))
    );
    let (id, v) = app.submitted_case(&me).await;
    let res = app
        .patch_form(&me, &id, v, json!({"applicant": {"last_name": "Петрова"}}))
        .await;
    assert_eq!(res.status(), 409);
    let body = json_of(res).await;
    assert_eq!(body["code"], "case_not_editable");
    assert!(
        body["message"]
            .as_str()
            .expect("msg")
            .contains("В обработке")
    );
}

#[tokio::test]
async fn submit_requires_a_complete_valid_form() {
    let app = TestApp::spawn().await;
    let me = app.specialist("s1");
    let (id, v) = app.create_case(&me, "periodic_accreditation").await;
    let v = {
        let res = app
            .patch_form(&me, &id, v, json!({"applicant": {"snils": null}}))
            .await;
        json_of(res).await["version"].as_i64().expect("v")
    };
    let before = app.audit_count();
    let res = app.transition(&me, &id, "submit", v, json!({})).await;
    assert_eq!(res.status(), 422);
    let body = json_of(res).await;
    assert_eq!(body["code"], "guards_failed");
    let got = codes(&body);
    assert!(
        got.contains(&("guard:form_valid".into(), "form_incomplete".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("/applicant/snils".into(), "required".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("/personal_data_consent".into(), "required".into())),
        "{got:?}"
    );
    assert_eq!(
        app.audit_count(),
        before + 1,
        "nothing but the register check the guards made is audited"
    );

    let mut full = complete_form();
    full["applicant"]["snils"] = json!(crate::support::formatted_snils("s1"));
    let res = app.patch_form(&me, &id, v, full).await;
    assert_eq!(res.status(), 200);
    // The form is complete, the documents are not: the same rows as the readiness report.
    let res = app.transition(&me, &id, "submit", v + 1, json!({})).await;
    assert_eq!(res.status(), 422);
    let body = json_of(res).await;
    let got = codes(&body);
    assert!(
        !got.iter().any(|(_, code)| code == "form_incomplete"),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            "guard:documents_complete".into(),
            "documents_incomplete".into()
        )),
        "{got:?}"
    );
    let readiness = json_of(app.get(&format!("/api/v1/cases/{id}/readiness"), &me).await).await;
    let missing: Vec<(String, String)> = readiness["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["ready"] == json!(false))
        .map(|r| {
            (
                r["item"]
                    .as_str()
                    .unwrap_or_default()
                    .replace("document:", "/documents/"),
                r["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(missing.len(), 9, "{missing:?}");
    for row in &missing {
        assert!(got.contains(row), "{row:?} not in {got:?}");
    }

    let v = app.attach_required(&me, &id).await;
    let signed = app.signed(&me, &id).await;
    let body = json_of(app.transition(&me, &id, "submit", v, signed).await).await;
    assert_eq!(
        (body["state"].clone(), body["state_label"].clone()),
        (json!("submitted"), json!("В обработке"))
    );
}

#[tokio::test]
async fn full_review_path_with_history() {
    let app = TestApp::spawn().await;
    let me = app.specialist("applicant");
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    let (id, v) = app
        .case_in_revision(&me, &reviewer, "Приложите диплом целиком")
        .await;
    let res = app
        .patch_form(
            &me,
            &id,
            v,
            json!({"employment": {"position": "Врач общей практики"}}),
        )
        .await;
    assert_eq!(res.status(), 200, "needs_revision is editable");
    let signed = app.signed(&me, &id).await;
    let v = app.step(&me, &id, "resubmit", v + 1, signed).await;
    let v = app.step(&reviewer, &id, "approve", v, json!({})).await;
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    assert_eq!(
        (case["state_label"].clone(), case["version"].as_i64()),
        (json!("Одобрено"), Some(v))
    );
    assert_eq!(case["allowed_transitions"], json!([]));

    let history = json_of(app.get(&format!("/api/v1/cases/{id}/history"), &me).await).await;
    let steps: Vec<(Value, Value, Value)> = history
        .as_array()
        .expect("history")
        .iter()
        .map(|h| {
            (
                h["transition"].clone(),
                h["to"].clone(),
                h["actor_name"].clone(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (Value::Null, json!("draft"), json!("Пользователь applicant")),
            (
                json!("submit"),
                json!("submitted"),
                json!("Пользователь applicant")
            ),
            (
                json!("start_review"),
                json!("under_review"),
                json!("Пользователь secretary")
            ),
            (
                json!("request_revision"),
                json!("needs_revision"),
                json!("Пользователь reviewer")
            ),
            (
                json!("resubmit"),
                json!("under_review"),
                json!("Пользователь applicant")
            ),
            (
                json!("approve"),
                json!("approved"),
                json!("Пользователь reviewer")
            ),
        ]
    );
    let revision = &history[3];
    assert_eq!(
        revision["decision"]["fixes"]["fields"][0],
        json!({"pointer": "/employment/position", "comment": "Приложите диплом целиком"})
    );
    assert_eq!(
        (revision["from_label"].clone(), revision["to_label"].clone()),
        (json!("На рассмотрении"), json!("На доработке"))
    );
    assert_eq!(revision["at"], "2026-11-23T09:00:00Z");
}

#[tokio::test]
async fn each_decision_needs_its_inputs_and_only_the_assignee_decides() {
    let app = TestApp::spawn().await;
    let me = app.specialist("applicant");
    let secretary = app.user("secretary", &[Role::Secretary]);
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    let other = app.user("other-reviewer", &[Role::Reviewer]);
    let (id, v) = app.submitted_case(&me).await;
    let v = app
        .step(&secretary, &id, "start_review", v, json!({}))
        .await;
    // Unassigned: nobody decides yet.
    let res = app
        .transition(&reviewer, &id, "approve", v, json!({}))
        .await;
    let body = json_of(res).await;
    assert_eq!(body["details"][0]["code"], "not_assigned", "{body}");
    let v = app.claim(&reviewer, &id).await;
    // Another member of the same subcommission may not decide the assignee's case.
    let res = app.transition(&other, &id, "approve", v, json!({})).await;
    assert_eq!(res.status(), 422);
    let body = json_of(res).await;
    assert_eq!(
        (body["code"].clone(), body["details"][0]["code"].clone()),
        (json!("guards_failed"), json!("not_assignee")),
        "{body}"
    );
    let codes = |b: &Value| -> Vec<String> {
        b["details"]
            .as_array()
            .expect("details")
            .iter()
            .map(|d| d["code"].as_str().expect("code").to_owned())
            .collect()
    };
    for (name, body, expected) in [
        ("reject", json!({}), vec!["reasons_required", "required"]),
        (
            "reject",
            json!({"reasons": ["no_such_reason"], "recommendations": "x"}),
            vec!["reason_unknown", "unknown_reason"],
        ),
        (
            // A reason of the other workflow only.
            "reject",
            json!({"reasons": ["documents_incomplete", "experience_insufficient_x"]}),
            vec!["reason_unknown", "unknown_reason"],
        ),
        (
            "request_revision",
            json!({}),
            vec!["fixes_required", "required"],
        ),
        (
            "request_revision",
            json!({"fixes": {
                "fields": [{"pointer": "/employment/salary", "comment": "?"}],
                "documents": [{"type": "diploma", "comment": " "}, {"type": "passport", "comment": "x"}]
            }}),
            vec![
                "fixes_invalid",
                "unknown_field",
                "comment_required",
                "unknown_document_type",
            ],
        ),
    ] {
        let res = app.transition(&reviewer, &id, name, v, body).await;
        assert_eq!(res.status(), 422, "{name}");
        let body = json_of(res).await;
        assert_eq!(body["code"], "guards_failed");
        assert_eq!(codes(&body), expected, "{name}: {body}");
    }
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    assert_eq!(
        case["version"].as_i64(),
        Some(v),
        "failed attempts changed nothing"
    );
    assert_eq!(
        case["assignee_id"],
        Value::Null,
        "the applicant does not see who reviews"
    );
    let v2 = app
        .step(&reviewer, &id, "reject", v, rejection_body())
        .await;
    assert_eq!(v2, v + 1);
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    assert_eq!(case["state_label"], "Отклонено");
    // The applicant reads the reasons and recommendations, in Russian, in the history and in
    // the notification.
    let history = json_of(app.get(&format!("/api/v1/cases/{id}/history"), &me).await).await;
    let last = history.as_array().expect("history").last().expect("entry");
    assert_eq!(
        last["decision"]["reasons"],
        json!([{"code": "experience_insufficient", "text": "Недостаточный стаж работы по специальности"}])
    );
    assert_eq!(
        last["decision"]["recommendations"],
        "Наберите стаж по специальности"
    );
    let inbox = json_of(app.get("/api/v1/me/notifications", &me).await).await;
    let text = inbox.to_string();
    assert!(
        text.contains("Недостаточный стаж работы по специальности")
            && text.contains("Наберите стаж по специальности"),
        "{inbox}"
    );
}

#[tokio::test]
async fn transitions_refused_by_state_role_or_name() {
    let app = TestApp::spawn().await;
    let me = app.specialist("applicant");
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    let admin = app.user("admin", &[Role::Admin]);
    let (id, v) = app.submitted_case(&me).await;
    let before = app.audit_count();

    // Not from this state.
    let res = app.transition(&me, &id, "resubmit", v, json!({})).await;
    assert_eq!(res.status(), 409);
    let body = json_of(res).await;
    assert_eq!(body["code"], "transition_not_allowed");
    assert!(
        body["message"]
            .as_str()
            .expect("m")
            .contains("«В обработке»"),
        "{body}"
    );
    // Role not allowed (a reviewer may not start the review; only the secretary may).
    let res = app
        .transition(&reviewer, &id, "start_review", v, json!({}))
        .await;
    assert_eq!(
        (res.status().as_u16(), json_of(res).await["code"].clone()),
        (403, json!("role_not_allowed"))
    );
    // The timer-only transition cannot be run over the API by anyone.
    let res = app.transition(&admin, &id, "expire", v, json!({})).await;
    assert_eq!(res.status(), 403);
    // Unknown transition.
    let res = app.transition(&me, &id, "teleport", v, json!({})).await;
    assert_eq!(
        (res.status().as_u16(), json_of(res).await["code"].clone()),
        (404, json!("unknown_transition"))
    );

    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    assert_eq!(case["version"].as_i64(), Some(v));
    // Only the two role denials were audited; nothing else was written.
    assert_eq!(app.audit_count(), before + 2);
}

#[tokio::test]
async fn withdraw_from_each_allowed_state() {
    let app = TestApp::spawn().await;
    let me = app.specialist("applicant");
    let secretary = app.user("secretary", &[Role::Secretary]);
    let reviewer = app.user("reviewer", &[Role::Reviewer]);

    let (draft, v) = app.create_case(&me, "periodic_accreditation").await;
    app.step(&me, &draft, "withdraw", v, json!({})).await;

    let (submitted, v) = app.submitted_case(&me).await;
    app.step(&me, &submitted, "withdraw", v, json!({})).await;

    let (revising, v) = app.submitted_case(&me).await;
    app.step(&secretary, &revising, "start_review", v, json!({}))
        .await;
    let v = app.claim(&reviewer, &revising).await;
    let v = app
        .step(
            &reviewer,
            &revising,
            "request_revision",
            v,
            revision_body("Уточните место работы"),
        )
        .await;
    app.step(&me, &revising, "withdraw", v, json!({})).await;

    let (reviewing, v) = app.submitted_case(&me).await;
    let v = app
        .step(&secretary, &reviewing, "start_review", v, json!({}))
        .await;
    let res = app
        .transition(&me, &reviewing, "withdraw", v, json!({}))
        .await;
    assert_eq!(res.status(), 409, "cannot withdraw while under review");

    for id in [draft, submitted, revising] {
        let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
        assert_eq!(case["state_label"], "Отозвано");
    }
    // A final state has no way out.
    let res = app
        .transition(&me, &reviewing, "withdraw", v, json!({}))
        .await;
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn primary_accreditation_uses_its_own_form() {
    let app = TestApp::spawn().await;
    let me = app.specialist("graduate");
    let (id, v) = app.create_case(&me, "primary_accreditation").await;
    let res = app
        .patch_form(&me, &id, v, json!({"employment": {"organization": "x"}}))
        .await;
    assert_eq!(
        res.status(),
        422,
        "primary accreditation form has no employment section"
    );
    let res = app.patch_form(&me, &id, v, json!({"education": {"institution": "Первый МГМУ им. И. М. Сеченова", "graduation_date": "2026-06-30"}})).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn the_applicant_block_must_be_the_person_who_logged_in() {
    let app = TestApp::spawn().await;
    let me = app.specialist("applicant-self");
    let (id, v) = app.ready_case(&me).await;
    // Someone else's name, SNILS and birth date in the applicant block.
    let res = app
        .patch_form(
            &me,
            &id,
            v,
            json!({"applicant": {
                "last_name": "Петрова", "first_name": "applicant-self",
                "snils": "112-233-445 95", "birth_date": "1985-04-12",
            }}),
        )
        .await;
    assert_eq!(res.status(), 200, "a draft may hold anything");
    let v = json_of(res).await["version"].as_i64().expect("version");
    let signed = app.signed(&me, &id).await;
    let body = json_of(app.transition(&me, &id, "submit", v, signed).await).await;
    let mismatched: Vec<String> = body["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter(|d| d["code"] == "applicant_mismatch")
        .map(|d| d["field"].as_str().expect("field").to_owned())
        .collect();
    assert_eq!(
        mismatched,
        [
            "/applicant/snils",
            "/applicant/last_name",
            "/applicant/birth_date"
        ],
        "{body}"
    );
    let message = body["details"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["field"] == "/applicant/last_name"))
        .and_then(|d| d["message"].as_str())
        .expect("message")
        .to_owned();
    assert!(
        message.contains("Фамилия") && message.contains("Петрова") && message.contains("Тестова"),
        "{message}"
    );
    let readiness = json_of(app.get(&format!("/api/v1/cases/{id}/readiness"), &me).await).await;
    let form_row = readiness["rows"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["item"] == "form"))
        .expect("form row")
        .clone();
    assert_eq!(
        (form_row["ready"].clone(), form_row["code"].clone()),
        (json!(false), json!("applicant_mismatch")),
        "{form_row}"
    );
    // Back to the person's own data (written differently): submitted.
    let res = app
        .patch_form(
            &me,
            &id,
            v,
            json!({"applicant": {
                "last_name": "ТЕСТОВА", "snils": crate::support::formatted_snils("applicant-self"),
                "birth_date": "1980-01-01",
            }}),
        )
        .await;
    let v = json_of(res).await["version"].as_i64().expect("version");
    let signed = app.signed(&me, &id).await;
    let res = app.transition(&me, &id, "submit", v, signed).await;
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

#[tokio::test]
async fn a_new_draft_takes_the_place_of_work_from_the_register() {
    let app = TestApp::spawn().await;
    let me = app.specialist("employed");
    {
        use accredo::store::schema::registry_persons as rp;
        use diesel::prelude::*;
        let mut conn = app.state.store.conn().expect("conn");
        diesel::update(rp::table.filter(rp::snils.eq(crate::support::snils_of("employed"))))
            .set(
                rp::employments.eq(json!([
                    {"organization_id": "o1", "inn": "7707083893", "position": "Фельдшер",
                     "start": "2010-01-01", "end": "2015-01-01"},
                    {"organization_id": "o2", "inn": "7707329152", "position": "Врач-терапевт",
                     "start": "2015-02-01"},
                ])
                .to_string()),
            )
            .execute(&mut *conn)
            .expect("employment");
    }
    let (id, _) = app.create_case(&me, "periodic_accreditation").await;
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    assert_eq!(
        case["form"]["employment"],
        json!({"position": "Врач-терапевт", "organization_inn": "7707329152"}),
        "the current place of work"
    );
    assert_eq!(case["prefilled"]["/employment/position"], "frmr");
    assert_eq!(case["prefilled"]["/applicant/snils"], "esia");
    // Primary accreditation has no employment block: nothing is put there.
    let (id, _) = app.create_case(&me, "primary_accreditation").await;
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    assert!(case["form"].get("employment").is_none(), "{case}");
    assert!(case["prefilled"].get("/employment/position").is_none());
}
