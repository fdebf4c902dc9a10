//! Notifications: the `notify` effect writes the applicant's in-cabinet notice in the
//! transition's own commit, from the templates; a refused or rolled-back change tells nobody.

use crate::support::{TestApp, instant, json_of, repo};
use accredo::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};

async fn inbox(app: &TestApp, token: &str) -> Value {
    json_of(app.get("/api/v1/me/notifications", token).await).await
}

fn events(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["event"].as_str().expect("event").to_owned())
        .collect()
}

#[tokio::test]
async fn each_step_tells_the_applicant_in_the_cabinet() {
    // Thursday 23 April 2026, 12:00 Moscow.
    let app = TestApp::spawn_at(instant("2026-04-23T09:00:00Z")).await;
    let me = app.specialist("notice-applicant");
    let reviewer = app.user("notice-reviewer", &[Role::Reviewer]);
    let (id, _) = app
        .case_in_revision(&me, &reviewer, "Приложите копию диплома")
        .await;
    let list = inbox(&app, &me).await;
    // Newest first: returned for revision, taken into review, registered.
    assert_eq!(
        events(&list),
        [
            "revision_requested",
            "status_changed",
            "submission_registered"
        ],
        "{list}"
    );
    assert_eq!(list["unread"], 3);
    let registered = &list["items"][2];
    assert_eq!(registered["case_id"], id.as_str());
    assert_eq!(
        registered["subject"],
        "Заявление № 2026-77-000001 зарегистрировано"
    );
    let body = registered["body"].as_str().expect("body");
    assert!(
        body.contains("получено 23.04.2026 12:00 и зарегистрировано 23.04.2026 12:00"),
        "{body}"
    );
    assert!(body.contains("не позднее 30.04.2026"), "{body}");
    let revision = list["items"][0]["body"].as_str().expect("body");
    assert!(
        revision.contains("Что исправить: Приложите копию диплома"),
        "{revision}"
    );
    assert!(
        revision.contains("до 30.04.2026 включительно"),
        "{revision}"
    );
    // Nobody else sees them.
    let other = app.specialist("notice-other");
    assert_eq!(inbox(&app, &other).await["unread"], 0);

    // The window passes: the system's rejection is told with its reason.
    app.clock.set(instant("2026-04-30T21:00:01Z"));
    let mut conn = app.state.store.conn().expect("conn");
    accredo::service::timers::drain(&mut conn, app.rules(), "t", 64, app.clock.as_ref(), 10)
        .expect("timers");
    drop(conn);
    let me = app.specialist("notice-applicant");
    let list = inbox(&app, &me).await;
    assert_eq!(list["items"][0]["event"], "decision", "{list}");
    assert_eq!(
        list["items"][0]["subject"],
        "Заявление № 2026-77-000001: Отклонено"
    );
    assert!(
        list["items"][0]["body"]
            .as_str()
            .expect("body")
            .contains("Основание: срок доработки истёк."),
        "{list}"
    );

    // Marked read once; the unread filter and count follow; another's id is not found.
    let first = list["items"][0]["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/me/notifications/{first}/read");
    for _ in 0..2 {
        let res = app.call(Method::POST, &path, Some(&me), &[], None).await;
        assert_eq!(res.status(), 204);
    }
    let unread = json_of(app.get("/api/v1/me/notifications?unread=true", &me).await).await;
    assert_eq!(unread["unread"], 3);
    assert_eq!(unread["items"].as_array().map(Vec::len), Some(3));
    let other = app.specialist("notice-other");
    let res = app.call(Method::POST, &path, Some(&other), &[], None).await;
    assert_eq!(res.status(), 404);
    assert_eq!(json_of(res).await["code"], "notification_not_found");
}

#[tokio::test]
async fn a_refused_transition_tells_nobody() {
    let app = TestApp::spawn().await;
    let me = app.specialist("refused-applicant");
    let (id, v) = app.create_case(&me, "periodic_accreditation").await;
    // An empty draft cannot be submitted: the guards refuse, nothing is written.
    let res = app.transition(&me, &id, "submit", v, json!({})).await;
    assert_eq!(res.status(), 422);
    let list = inbox(&app, &me).await;
    assert_eq!(list["unread"], 0, "{list}");
    assert_eq!(list["items"], json!([]));
}

#[test]
fn a_template_error_is_refused_by_workflows_check() {
    let dir = tempfile::tempdir().expect("dir");
    let templates = dir.path().join("notifications");
    std::fs::create_dir(&templates).expect("mkdir");
    for entry in std::fs::read_dir(repo().join("templates/notifications")).expect("templates") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let text = text.replace("{{ due_on }}", "{{ due_date }}");
        std::fs::write(templates.join(path.file_name().expect("name")), text).expect("write");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_accredo"))
        .args(["workflows", "check"])
        .current_dir(repo())
        .env("ACCREDO_TEMPLATES_DIR", dir.path())
        .env("DATABASE_URL", "sqlite://unused.db")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("revision_requested.inapp.j2: ") && stdout.contains("[template_invalid]"),
        "{stdout}"
    );
}

#[tokio::test]
async fn admins_read_the_delivery_log_by_case_person_channel_and_status() {
    let app = TestApp::spawn_at(instant("2026-04-23T09:00:00Z")).await;
    let me = app.specialist("log-applicant");
    let secretary = app.user("log-secretary", &[Role::Secretary]);
    let (id, v) = app.submitted_case(&me).await;
    app.step(&secretary, &id, "start_review", v, json!({}))
        .await;
    let (other, _) = app.submitted_case(&app.specialist("log-other")).await;
    let admin = app.user("log-admin", &[Role::Admin]);
    let log = |q: String| {
        let admin = admin.clone();
        let app = &app;
        async move {
            json_of(
                app.get(&format!("/api/v1/admin/notifications{q}"), &admin)
                    .await,
            )
            .await
        }
    };
    let all = log(String::new()).await;
    assert_eq!(all.as_array().map(Vec::len), Some(3), "{all}");
    let of_case = log(format!("?case_id={id}")).await;
    let events: Vec<&str> = of_case
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["event"].as_str().expect("event"))
        .collect();
    assert_eq!(events, ["status_changed", "submission_registered"]);
    let row = &of_case[0];
    assert_eq!(
        (&row["channel"], &row["status"], &row["attempts"]),
        (&json!("inapp"), &json!("delivered"), &json!(0))
    );
    let other_case = log(format!("?case_id={other}&channel=inapp&status=delivered")).await;
    assert_eq!(other_case.as_array().map(Vec::len), Some(1), "{other_case}");
    let owner = other_case[0]["recipient_id"]
        .as_str()
        .expect("owner")
        .to_owned();
    assert_eq!(
        log(format!("?recipient_id={owner}"))
            .await
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(log("?status=failed".into()).await, json!([]));
    // Nobody but an administrator.
    let res = app.get("/api/v1/admin/notifications", &secretary).await;
    assert_eq!(res.status(), 403);
    assert_eq!(json_of(res).await["code"], "not_admin");
}
