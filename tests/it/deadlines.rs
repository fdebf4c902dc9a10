//! Deadlines on every step: counted in working days by the production calendar from the
//! step's start (a submission: its registration moment, the next opening when it arrives
//! after hours), per state or per entering transition as the workflow says.

use crate::support::{TestApp, instant, json_of, revision_body};
use accredo::domain::role::Role;
use serde_json::{Value, json};

async fn case(app: &TestApp, token: &str, id: &str) -> Value {
    json_of(app.get(&format!("/api/v1/cases/{id}"), token).await).await
}

fn due(c: &Value) -> (Value, Value, Value) {
    (
        c["due_on"].clone(),
        c["due_provisional"].clone(),
        c["overdue"].clone(),
    )
}

#[tokio::test]
async fn each_step_is_due_by_its_norm_counted_in_working_days_from_its_start() {
    // Friday 8 May 2026, 17:30 Moscow (after the shortened day's 17:00); 9-11 May are off.
    let app = TestApp::spawn_at(instant("2026-05-08T14:30:00Z")).await;
    let me = app.specialist("deadline-applicant");
    let secretary = app.user("deadline-secretary", &[Role::Secretary]);
    let reviewer = app.user("deadline-reviewer", &[Role::Reviewer]);
    let (id, v) = app.submitted_case(&me).await;
    let c = case(&app, &me, &id).await;
    // Registered Tuesday 12 May 09:00; the automatic check is due in 5 working days.
    assert_eq!(c["step_started_at"], "2026-05-12T06:00:00Z", "{c}");
    assert_eq!(due(&c), (json!("2026-05-19"), json!(false), json!(false)));

    // The commission's review: 10 working days from the next opening.
    app.step(&secretary, &id, "start_review", v, json!({}))
        .await;
    assert_eq!(due(&case(&app, &me, &id).await).0, json!("2026-05-26"));
    // Back for revision: 5 working days.
    let v = app.claim(&reviewer, &id).await;
    let v = app
        .step(
            &reviewer,
            &id,
            "request_revision",
            v,
            revision_body("Уточните стаж"),
        )
        .await;
    assert_eq!(due(&case(&app, &me, &id).await).0, json!("2026-05-19"));
    // A decision after resubmission: 3 working days (the transition's norm, not the state's 10).
    let signed = app.signed(&me, &id).await;
    let v = app.step(&me, &id, "resubmit", v, signed).await;
    assert_eq!(due(&case(&app, &me, &id).await).0, json!("2026-05-15"));

    // Saturday 16 May: past due (new sessions: the old ones ended after 12 hours).
    app.clock.advance(chrono::Duration::days(8));
    let me = app.specialist("deadline-applicant");
    let reviewer = app.user("deadline-reviewer", &[Role::Reviewer]);
    assert_eq!(
        due(&case(&app, &me, &id).await),
        (json!("2026-05-15"), json!(false), json!(true))
    );
    let listed = json_of(app.get("/api/v1/cases", &me).await).await;
    assert_eq!(listed[0]["overdue"], true, "{listed}");
    // A draft of the same person, without a deadline, to tell the filters apart.
    let (draft, _) = app.create_case(&me, "periodic_accreditation").await;
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("list")
            .iter()
            .map(|c| c["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let list = |q: &'static str| {
        let me = me.clone();
        let app = &app;
        async move { json_of(app.get(&format!("/api/v1/cases?{q}"), &me).await).await }
    };
    assert_eq!(ids(&list("overdue=true").await), vec![id.clone()]);
    assert_eq!(ids(&list("due_before=2026-05-15").await), vec![id.clone()]);
    assert!(ids(&list("due_before=2026-05-14").await).is_empty());
    assert_eq!(
        ids(&list("sort=due").await),
        [id.clone(), draft.clone()],
        "due first, no deadline last"
    );
    assert_eq!(
        ids(&list("").await),
        [draft.clone(), id.clone()],
        "newest first by default"
    );
    let res = app.get("/api/v1/cases?sort=importance", &me).await;
    assert_eq!(res.status(), 400);

    // A final state has no deadline.
    app.step(&reviewer, &id, "approve", v, json!({})).await;
    // The history says how long each finished step took against its norm: the decision
    // after resubmission took 4 working days (12-15 May) against 3.
    let history = json_of(app.get(&format!("/api/v1/cases/{id}/history"), &me).await).await;
    let steps: Vec<(Value, Value, Value)> = history
        .as_array()
        .expect("history")
        .iter()
        .map(|h| {
            (
                h["transition"].clone(),
                h["step_working_days"].clone(),
                h["step_norm_working_days"].clone(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (Value::Null, Value::Null, Value::Null),
            (json!("submit"), json!(0), Value::Null),
            (json!("start_review"), json!(0), json!(5)),
            (json!("request_revision"), json!(0), json!(10)),
            (json!("resubmit"), json!(0), json!(5)),
            (json!("approve"), json!(4), json!(3)),
        ],
        "{history}"
    );
    assert_eq!(
        due(&case(&app, &me, &id).await),
        (Value::Null, json!(false), json!(false))
    );
}

#[tokio::test]
async fn a_deadline_past_the_last_decree_is_provisional() {
    // Tuesday 28 December 2027, midday: 5 working days on run into 2028.
    let app = TestApp::spawn_at(instant("2027-12-28T09:00:00Z")).await;
    let me = app.specialist("deadline-2028");
    let (id, _) = app.submitted_case(&me).await;
    let c = case(&app, &me, &id).await;
    assert_eq!(c["due_provisional"], true, "{c}");
    assert!(
        c["due_on"]
            .as_str()
            .is_some_and(|d| d.starts_with("2028-01")),
        "{c}"
    );
}
