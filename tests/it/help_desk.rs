//! Support requests on the engine (`workflows/support_request.yaml`): numbered at creation,
//! sent to the least loaded agent of line 1, worked through «В работе», «Ожидает информации»
//! (the author's answer sends it back to work), «Завершено» and «Закрыто»; a repeat request
//! goes to the first one's agent; seen only by its author, its assignee and its line.

use crate::support::{TestApp, instant, json_of};
use accredo::domain::clock::Clock;
use accredo::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};

const WORKFLOW: &str = "support_request";

/// A support agent on `line` (placed by an administrator through the API): (token, user id).
async fn agent(app: &TestApp, subject: &str, line: i16, lead: bool) -> (String, String) {
    let admin = app.user("desk-admin", &[Role::Admin]);
    let token = app.user(subject, &[Role::Support]);
    let id = app.user_id(&token).await;
    let res = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/support/agents/{id}"),
            Some(&admin),
            &[],
            Some(json!({"line": line, "lead": lead})),
        )
        .await;
    let status = res.status();
    let body = json_of(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["line"].as_i64(), body["lead"].as_bool()),
        (Some(i64::from(line)), Some(lead))
    );
    (token, id)
}

fn request_form(subject: &str) -> Value {
    json!({
        "subject": subject,
        "description": "При входе через Госуслуги появляется ошибка «учётная запись не подтверждена», хотя она подтверждена.",
        "category": "login",
        "applicant": {"email": "ivanova@example.ru", "phone": "+7 (916) 123-45-67"},
        "error_at": "2026-04-22T10:15:00+03:00",
    })
}

/// Creates a request (its number shown at once), fills it in and sends it: (id, number,
/// version, the case as sent).
async fn send_request(app: &TestApp, token: &str, subject: &str) -> (String, String, i64, Value) {
    send_form(app, token, request_form(subject)).await
}

/// Like [`send_request`], with the whole form.
async fn send_form(app: &TestApp, token: &str, form: Value) -> (String, String, i64, Value) {
    let res = app
        .call(
            Method::POST,
            "/api/v1/cases",
            Some(token),
            &[],
            Some(json!({"workflow": WORKFLOW})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created = json_of(res).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let number = created["number"]
        .as_str()
        .expect("a number at creation")
        .to_owned();
    assert!(number.starts_with("ACCREDO-"), "{number}");
    let res = app
        .patch_form(token, &id, created["version"].as_i64().expect("v"), form)
        .await;
    let status = res.status();
    let patched = json_of(res).await;
    assert_eq!(status, 200, "{patched}");
    let res = app
        .transition(
            token,
            &id,
            "send",
            patched["version"].as_i64().expect("v"),
            json!({}),
        )
        .await;
    let status = res.status();
    let sent = json_of(res).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["state"], "accepted");
    assert_eq!(sent["number"].as_str(), Some(number.as_str()));
    let version = sent["version"].as_i64().expect("v");
    (id, number, version, sent)
}

/// Who the request is assigned to (its author is not shown the agent's id).
fn assignee(app: &TestApp, id: &str) -> Option<String> {
    let mut conn = app.state.store.conn().expect("conn");
    accredo::store::cases::find(&mut conn, id)
        .expect("read")
        .expect("case")
        .assignee_id
}

async fn message(app: &TestApp, token: &str, id: &str, body: &str) -> Value {
    let res = app
        .call(
            Method::POST,
            &format!("/api/v1/cases/{id}/messages"),
            Some(token),
            &[],
            Some(json!({"body": body})),
        )
        .await;
    let status = res.status();
    let out = json_of(res).await;
    assert_eq!(status, 201, "{out}");
    out
}

async fn case(app: &TestApp, token: &str, id: &str) -> Value {
    let res = app.get(&format!("/api/v1/cases/{id}"), token).await;
    assert_eq!(res.status(), 200, "read {id}");
    json_of(res).await
}

async fn subjects_of_inbox(app: &TestApp, token: &str) -> Vec<String> {
    let inbox = json_of(app.get("/api/v1/me/notifications", token).await).await;
    inbox["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["subject"].as_str().expect("subject").to_owned())
        .collect()
}

fn numbers(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|r| r["number"].as_str().expect("number"))
        .collect()
}

#[tokio::test]
async fn a_request_goes_from_acceptance_through_a_question_to_closing() {
    // Wednesday 22 April 2026, 13:00 Moscow.
    let app = TestApp::spawn_at(instant("2026-04-22T10:00:00Z")).await;
    let (busy, busy_id) = agent(&app, "desk-busy", 1, false).await;
    let (free, free_id) = agent(&app, "desk-free", 1, false).await;
    let (_lead, _) = agent(&app, "desk-lead", 1, true).await;
    let author = app.specialist("desk-author");
    let other = app.specialist("desk-other");

    // The first request goes to the first agent by id among the equally loaded; the second to
    // whoever has fewer open requests then.
    let (first, _, _, sent) = send_request(&app, &other, "Не загружается диплом").await;
    assert!(
        sent["assignee_id"].is_null(),
        "the author is not shown the agent's id"
    );
    let first_agent = assignee(&app, &first).expect("assigned");
    assert!([busy_id.as_str(), free_id.as_str()].contains(&first_agent.as_str()));
    let (id, number, v, _) = send_request(&app, &author, "Не могу войти").await;
    let second_agent = assignee(&app, &id).expect("assigned");
    assert_ne!(second_agent, first_agent, "the least loaded agent gets it");
    assert_ne!(first, id);
    let (agent_token, other_agent) = if second_agent == busy_id {
        (busy.clone(), free.clone())
    } else {
        (free.clone(), busy.clone())
    };
    assert!(
        subjects_of_inbox(&app, &author)
            .await
            .contains(&format!("Обращение № {number}: Принято"))
    );

    // «Мои обращения»: number, subject, status, created, expected completion.
    let mine = json_of(app.get("/api/v1/support/requests", &author).await).await;
    assert_eq!(numbers(&mine), [number.as_str()]);
    let row = &mine[0];
    assert_eq!(row["subject"], "Не могу войти");
    assert_eq!(row["state_label"], "Принято");
    assert_eq!(row["priority"], "normal");
    assert_eq!(row["category"], "login");
    // A first answer within one working hour: 14:00 Moscow the same day.
    assert_eq!(row["due_at"], "2026-04-22T11:00:00Z");
    assert!(row["first_response_at"].is_null());

    // Only the assignee takes it; the other agent of the line sees it but cannot.
    let res = app
        .transition(&other_agent, &id, "take", v, json!({}))
        .await;
    assert_eq!(res.status(), 422, "assignee only");
    app.clock.advance(chrono::Duration::minutes(20));
    let v = app.step(&agent_token, &id, "take", v, json!({})).await;
    let v = app
        .step(
            &agent_token,
            &id,
            "request_info",
            v,
            json!({"reason": "Пришлите снимок экрана с ошибкой и время входа"}),
        )
        .await;
    assert_eq!(case(&app, &author, &id).await["state"], "awaiting_info");
    assert!(
        subjects_of_inbox(&app, &author)
            .await
            .contains(&format!("Обращение № {number}: нужна информация"))
    );

    // The author's answer sends it back to work, in the same commit as the message.
    message(
        &app,
        &author,
        &id,
        "Ошибка появляется в 10:15, снимок приложу",
    )
    .await;
    let now = case(&app, &author, &id).await;
    assert_eq!(now["state"], "in_progress");
    assert!(now["version"].as_i64() > Some(v));
    let v = now["version"].as_i64().expect("v");

    // An agent's comment tells the author.
    message(
        &app,
        &agent_token,
        &id,
        "Проверили: учётная запись восстановлена",
    )
    .await;
    assert!(
        subjects_of_inbox(&app, &author)
            .await
            .contains(&format!("Ответ по обращению № {number}"))
    );
    let v = app
        .step(
            &agent_token,
            &id,
            "resolve",
            v,
            json!({"reason": "Доступ восстановлен"}),
        )
        .await;
    let mine = json_of(app.get("/api/v1/support/requests", &author).await).await;
    assert_eq!(mine[0]["state_label"], "Завершено");
    assert_eq!(
        mine[0]["first_response_at"], "2026-04-22T10:20:00Z",
        "taking it answered first"
    );
    assert_eq!(mine[0]["resolved_at"], "2026-04-22T10:20:00Z");
    assert_eq!(mine[0]["last_comment"]["side"], "support");
    app.step(&author, &id, "confirm", v, json!({})).await;

    // Closed: out of the default list, found with `all` or by its number.
    let open = json_of(app.get("/api/v1/support/requests", &author).await).await;
    assert_eq!(numbers(&open), Vec::<&str>::new());
    let all = json_of(app.get("/api/v1/support/requests?all=true", &author).await).await;
    assert_eq!(numbers(&all), [number.as_str()]);
    assert_eq!(all[0]["state_label"], "Закрыто");
    let found = json_of(
        app.get(&format!("/api/v1/support/requests?q={number}"), &author)
            .await,
    )
    .await;
    assert_eq!(numbers(&found), [number.as_str()]);
    assert!(
        subjects_of_inbox(&app, &author)
            .await
            .contains(&format!("Обращение № {number} закрыто"))
    );
}

#[tokio::test]
async fn a_request_is_seen_by_its_author_its_agent_and_its_line_only() {
    let app = TestApp::spawn_at(instant("2026-04-22T10:00:00Z")).await;
    let (line1, _) = agent(&app, "seen-line1", 1, false).await;
    let (line1_other, _) = agent(&app, "seen-line1-b", 1, true).await;
    let (line2, _) = agent(&app, "seen-line2", 2, false).await;
    let unplaced = app.user("seen-unplaced", &[Role::Support]);
    let author = app.specialist("seen-author");
    let stranger = app.specialist("seen-stranger");
    let reviewer = app.user("seen-reviewer", &[Role::Reviewer]);
    let secretary = app.user("seen-secretary", &[Role::Secretary]);
    let admin = app.user("seen-admin", &[Role::Admin]);
    let (id, number, _, _) = send_request(&app, &author, "Статус не меняется").await;

    for (who, token) in [
        ("author", &author),
        ("line 1", &line1),
        ("line 1 lead", &line1_other),
    ] {
        let res = app.get(&format!("/api/v1/cases/{id}"), token).await;
        assert_eq!(res.status(), 200, "{who} sees it");
    }
    for (who, token) in [
        ("another specialist", &stranger),
        ("line 2 (not escalated)", &line2),
        ("an agent on no line", &unplaced),
        ("a reviewer", &reviewer),
        ("a secretary", &secretary),
        ("an administrator", &admin),
    ] {
        let res = app.get(&format!("/api/v1/cases/{id}"), token).await;
        assert_eq!(res.status(), 404, "{who} must not see it");
        let res = app
            .get(&format!("/api/v1/cases/{id}/messages"), token)
            .await;
        assert_eq!(res.status(), 404, "{who} must not read its thread");
    }
    // Nor in lists: the commission's queue and the other people's lists.
    let queue = json_of(app.get("/api/v1/review/queue", &admin).await).await;
    assert!(!queue.to_string().contains(&id), "{queue}");
    let counts = json_of(app.get("/api/v1/review/queue/counts", &admin).await).await;
    assert_eq!(counts["total"], 0, "{counts}");
    let theirs = json_of(
        app.get("/api/v1/support/requests?all=true", &stranger)
            .await,
    )
    .await;
    assert_eq!(numbers(&theirs), Vec::<&str>::new());
    let cases = json_of(app.get("/api/v1/cases", &admin).await).await;
    assert!(!cases.to_string().contains(&id));
    // The line's queue has it; line 2's and an unplaced agent's do not.
    let q1 = json_of(app.get("/api/v1/support/queue", &line1_other).await).await;
    assert_eq!(numbers(&q1), [number.as_str()]);
    let q2 = json_of(app.get("/api/v1/support/queue", &line2).await).await;
    assert_eq!(numbers(&q2), Vec::<&str>::new());
    let qx = json_of(app.get("/api/v1/support/queue", &unplaced).await).await;
    assert_eq!(numbers(&qx), Vec::<&str>::new());
    // The queue is the desk's: a specialist is refused.
    let res = app.get("/api/v1/support/queue", &author).await;
    assert_eq!(res.status(), 403);
    assert_eq!(json_of(res).await["code"], "not_support");
}

#[tokio::test]
async fn an_agent_reads_the_application_a_request_concerns_and_cannot_act_on_it() {
    let app = TestApp::spawn_at(instant("2026-04-22T10:00:00Z")).await;
    let (desk, _) = agent(&app, "linked-agent", 1, false).await;
    agent(&app, "linked-line2", 2, false).await;
    let author = app.specialist("linked-author");
    let (application, v) = app.submitted_case(&author).await;
    let app_number = case(&app, &author, &application).await["number"]
        .as_str()
        .expect("filed with a number")
        .to_owned();
    // Before a request links it, the desk sees nothing of it.
    let res = app
        .get(&format!("/api/v1/cases/{application}"), &desk)
        .await;
    assert_eq!(res.status(), 404);

    let res = app
        .call(
            Method::POST,
            "/api/v1/cases",
            Some(&author),
            &[],
            Some(json!({"workflow": WORKFLOW})),
        )
        .await;
    let created = json_of(res).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let mut form = request_form("Заявление не рассматривается");
    form["category"] = json!("status");
    form["concerns"] = json!({"case_number": app_number});
    // Two days before the application's step is due: the request is urgent.
    let due = case(&app, &author, &application).await["due_on"]
        .as_str()
        .expect("due")
        .to_owned();
    let due = chrono::NaiveDate::parse_from_str(&due, "%Y-%m-%d").expect("date");
    app.clock.set(instant(&format!(
        "{}T09:00:00Z",
        due - chrono::Duration::days(2)
    )));
    // Days later: fresh sessions (the idle timeout ended the old ones).
    let author = app.specialist("linked-author");
    let desk = app.user("linked-agent", &[Role::Support]);
    let line2 = app.user("linked-line2", &[Role::Support]);
    let res = app
        .patch_form(&author, &id, created["version"].as_i64().expect("v"), form)
        .await;
    let patched = json_of(res).await;
    app.step(
        &author,
        &id,
        "send",
        patched["version"].as_i64().expect("v"),
        json!({}),
    )
    .await;

    let res = app
        .get(&format!("/api/v1/cases/{application}"), &desk)
        .await;
    assert_eq!(
        res.status(),
        200,
        "the request's line reads the application it concerns"
    );
    let seen = json_of(res).await;
    assert_eq!(
        seen["allowed_transitions"].as_array().map(Vec::len),
        Some(0),
        "read-only: {seen}"
    );
    let res = app
        .get(&format!("/api/v1/cases/{application}/history"), &desk)
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .transition(&desk, &application, "start_review", v, json!({}))
        .await;
    assert_eq!(
        res.status(),
        403,
        "no transition of the application is the desk's"
    );
    let res = app
        .call(
            Method::POST,
            &format!("/api/v1/cases/{application}/messages"),
            Some(&desk),
            &[],
            Some(json!({"body": "Здравствуйте"})),
        )
        .await;
    assert_eq!(res.status(), 404, "nor its thread with the commission");
    let q = json_of(app.get("/api/v1/support/queue", &desk).await).await;
    assert_eq!(q[0]["priority"], "urgent", "{q}");
    assert_eq!(q[0]["category"], "status");
    // An accreditation ending within a month makes a request urgent too; one without either
    // stays normal.
    let res = app
        .call(
            Method::POST,
            "/api/v1/cases",
            Some(&author),
            &[],
            Some(json!({"workflow": WORKFLOW})),
        )
        .await;
    let created = json_of(res).await;
    let other = created["id"].as_str().expect("id").to_owned();
    let mut form = request_form("Срок аккредитации истекает");
    let soon = app.clock.now().date_naive() + chrono::Duration::days(20);
    form["concerns"] = json!({"valid_until": soon.to_string()});
    let res = app
        .patch_form(
            &author,
            &other,
            created["version"].as_i64().expect("v"),
            form,
        )
        .await;
    let patched = json_of(res).await;
    app.step(
        &author,
        &other,
        "send",
        patched["version"].as_i64().expect("v"),
        json!({}),
    )
    .await;
    let (_, normal_number, _, _) = send_request(&app, &author, "Вопрос по форме").await;
    let q = json_of(
        app.get("/api/v1/support/queue?priority=urgent", &desk)
            .await,
    )
    .await;
    assert_eq!(q.as_array().map(Vec::len), Some(2), "{q}");
    let q = json_of(
        app.get("/api/v1/support/queue?priority=normal", &desk)
            .await,
    )
    .await;
    assert_eq!(numbers(&q), [normal_number.as_str()]);
    // Line 2 does not work this request, so it does not see the application either.
    let res = app
        .get(&format!("/api/v1/cases/{application}"), &line2)
        .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_problem_persists_and_a_repeat_request_goes_to_the_first_agent() {
    let app = TestApp::spawn_at(instant("2026-04-22T10:00:00Z")).await;
    let (a, a_id) = agent(&app, "repeat-a", 1, false).await;
    let (b, b_id) = agent(&app, "repeat-b", 1, false).await;
    let author = app.specialist("repeat-author");
    let (id, number, v, _) = send_request(&app, &author, "Подпись не проверяется").await;
    let first_agent = assignee(&app, &id).expect("assigned");
    let token = if first_agent == a_id { &a } else { &b };
    let other_id = if first_agent == a_id { &b_id } else { &a_id };
    let v = app.step(token, &id, "take", v, json!({})).await;
    let v = app
        .step(
            token,
            &id,
            "resolve",
            v,
            json!({"reason": "Обновите КриптоПро"}),
        )
        .await;
    // Saying it persists needs a reason.
    let res = app.transition(&author, &id, "persists", v, json!({})).await;
    assert_eq!(res.status(), 422);
    app.step(
        &author,
        &id,
        "persists",
        v,
        json!({"reason": "После обновления ошибка та же"}),
    )
    .await;
    assert_eq!(case(&app, &author, &id).await["state"], "closed");

    // A new request opens as the author's draft with the first one's context.
    let all = json_of(app.get("/api/v1/support/requests?all=true", &author).await).await;
    let drafts: Vec<&Value> = all
        .as_array()
        .expect("list")
        .iter()
        .filter(|r| r["state"] == "draft")
        .collect();
    assert_eq!(drafts.len(), 1, "{all}");
    let repeat = drafts[0]["id"].as_str().expect("id").to_owned();
    let repeat_number = drafts[0]["number"].as_str().expect("number").to_owned();
    assert_ne!(repeat_number, number);
    assert_eq!(drafts[0]["repeat_of"].as_str(), Some(number.as_str()));
    let draft = case(&app, &author, &repeat).await;
    assert_eq!(draft["form"]["subject"], "Подпись не проверяется");
    assert_eq!(draft["form"]["repeat_of"].as_str(), Some(number.as_str()));

    // Three more requests leave the first one's agent the more loaded (2 open against 1)...
    let mut others = Vec::new();
    for subject in ["Другая проблема", "Третья проблема", "Четвёртая проблема"]
    {
        let (other, _, _, _) = send_request(&app, &author, subject).await;
        others.push(assignee(&app, &other).expect("assigned"));
    }
    let load = |agent: &str| others.iter().filter(|a| a.as_str() == agent).count();
    assert_eq!((load(&first_agent), load(other_id)), (2, 1), "{others:?}");
    // ...yet the repeat goes to the agent who had the first.
    let sent = app
        .step(
            &author,
            &repeat,
            "send",
            draft["version"].as_i64().expect("v"),
            json!({}),
        )
        .await;
    assert!(sent > 0);
    assert_eq!(
        assignee(&app, &repeat).as_deref(),
        Some(first_agent.as_str())
    );
    let mine = json_of(app.get("/api/v1/support/requests", &author).await).await;
    let row = mine
        .as_array()
        .expect("list")
        .iter()
        .find(|r| r["id"] == repeat.as_str())
        .expect("listed");
    assert_eq!(row["repeat_of"].as_str(), Some(number.as_str()));
    // The first agent's queue shows it.
    let q = json_of(app.get("/api/v1/support/queue?mine=true", token).await).await;
    assert!(numbers(&q).contains(&repeat_number.as_str()), "{q}");
}

#[tokio::test]
async fn a_request_sent_on_a_friday_at_17_55_before_a_holiday_is_due_after_it() {
    // Friday 20 February 2026, 17:55 Moscow; Monday 23 February is a holiday.
    let app = TestApp::spawn_at(instant("2026-02-20T14:55:00Z")).await;
    agent(&app, "friday-agent", 1, false).await;
    let author = app.specialist("friday-author");
    let (_, number, _, _) = send_request(&app, &author, "Не открывается заявление").await;
    let mine = json_of(app.get("/api/v1/support/requests", &author).await).await;
    assert_eq!(numbers(&mine), [number.as_str()]);
    // Five minutes on Friday, fifty-five on Tuesday 24 February from 09:00.
    assert_eq!(mine[0]["due_at"], "2026-02-24T06:55:00Z");
    assert_eq!(mine[0]["due_on"], "2026-02-24");
}

#[tokio::test]
async fn only_an_administrator_places_agents_and_only_support_staff_are_placed() {
    let app = TestApp::spawn().await;
    let admin = app.user("place-admin", &[Role::Admin]);
    let reviewer = app.user("place-reviewer", &[Role::Reviewer]);
    let reviewer_id = app.user_id(&reviewer).await;
    let agent_token = app.user("place-agent", &[Role::Support]);
    let agent_id = app.user_id(&agent_token).await;
    let put = |token: String, user: String, body: Value| {
        let app = &app;
        async move {
            app.call(
                Method::PUT,
                &format!("/api/v1/admin/support/agents/{user}"),
                Some(&token),
                &[],
                Some(body),
            )
            .await
        }
    };
    let res = put(agent_token.clone(), agent_id.clone(), json!({"line": 1})).await;
    assert_eq!(res.status(), 403);
    let res = put(admin.clone(), reviewer_id, json!({"line": 1})).await;
    assert_eq!(res.status(), 422);
    assert_eq!(json_of(res).await["code"], "not_support_role");
    let res = put(admin.clone(), agent_id.clone(), json!({"line": 3})).await;
    assert_eq!(res.status(), 422);
    assert_eq!(json_of(res).await["code"], "invalid_support_line");
    let res = put(admin.clone(), "u-nobody".into(), json!({"line": 1})).await;
    assert_eq!(res.status(), 404);
    let res = put(
        admin.clone(),
        agent_id.clone(),
        json!({"line": 2, "lead": true}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let list = json_of(app.get("/api/v1/admin/support/agents", &admin).await).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(
        (list[0]["line"].as_i64(), list[0]["lead"].as_bool()),
        (Some(2), Some(true))
    );
    let res = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/support/agents/{agent_id}"),
            Some(&admin),
            &[],
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    let list = json_of(app.get("/api/v1/admin/support/agents", &admin).await).await;
    assert_eq!(list.as_array().map(Vec::len), Some(0));
}

fn fire_timers(app: &TestApp) -> accredo::service::timers::Report {
    let mut conn = app.state.store.conn().expect("conn");
    accredo::service::timers::drain(
        &mut conn,
        app.rules(),
        "desk-worker",
        64,
        app.clock.as_ref(),
        100,
    )
    .expect("timers")
}

/// The kinds of the request's audit events, oldest first.
fn event_kinds(app: &TestApp, id: &str) -> Vec<String> {
    use accredo::store::schema::audit_events as ae;
    use diesel::prelude::*;
    let mut conn = app.state.store.conn().expect("conn");
    ae::table
        .filter(ae::chain.eq(id))
        .order(ae::seq)
        .select(ae::kind)
        .load(&mut conn)
        .expect("events")
}

#[tokio::test]
async fn with_no_answer_the_lead_hears_24_working_hours_later_and_the_author_may_ask_for_line_2() {
    // Friday 20 February 2026, 17:55 Moscow; Monday 23 February is a holiday.
    let app = TestApp::spawn_at(instant("2026-02-20T14:55:00Z")).await;
    agent(&app, "lead-agent", 1, false).await;
    agent(&app, "lead-lead", 1, true).await;
    agent(&app, "lead-line2", 2, false).await;
    let author = app.specialist("lead-author");
    let (id, number, v, _) = send_request(&app, &author, "Не приходит код подтверждения").await;
    let breached = format!("Просрочен срок: обращение № {number}");
    // Asking for line 2 before any deadline passed is refused.
    let res = app.transition(&author, &id, "escalate", v, json!({})).await;
    assert_eq!(res.status(), 422);
    let body = json_of(res).await;
    assert_eq!(
        (body["code"].clone(), body["details"][0]["code"].clone()),
        (json!("guards_failed"), json!("deadline_not_breached")),
        "{body}"
    );

    // The first-answer norm (1 working hour) ends on Tuesday 24 February at 09:55: the
    // assignee is warned five minutes before, reminded then, and the lead hears nothing yet.
    app.clock.set(instant("2026-02-24T06:49:00Z"));
    assert_eq!(fire_timers(&app).fired, 0);
    app.clock.set(instant("2026-02-24T06:54:00Z"));
    assert_eq!(fire_timers(&app).fired, 1, "the warning");
    let agent_now = app.user("lead-agent", &[Role::Support]);
    assert!(
        subjects_of_inbox(&app, &agent_now)
            .await
            .contains(&format!("Скоро срок: обращение № {number}"))
    );
    assert!(
        !subjects_of_inbox(&app, &agent_now)
            .await
            .contains(&breached)
    );
    app.clock.set(instant("2026-02-24T06:56:00Z"));
    assert_eq!(fire_timers(&app).fired, 1);
    let agent_now = app.user("lead-agent", &[Role::Support]);
    let lead_now = app.user("lead-lead", &[Role::Support]);
    assert!(
        subjects_of_inbox(&app, &agent_now)
            .await
            .contains(&breached)
    );
    assert!(!subjects_of_inbox(&app, &lead_now).await.contains(&breached));

    // 24 working hours after it was sent: 5 minutes on Friday, Tuesday and Wednesday, and
    // 5 h 55 min on Thursday 26 February — 14:55 Moscow.
    app.clock.set(instant("2026-02-26T11:54:00Z"));
    assert_eq!(fire_timers(&app).fired, 0);
    app.clock.set(instant("2026-02-26T11:56:00Z"));
    assert_eq!(fire_timers(&app).fired, 1);
    let lead_now = app.user("lead-lead", &[Role::Support]);
    assert!(subjects_of_inbox(&app, &lead_now).await.contains(&breached));
    let kinds = event_kinds(&app, &id);
    assert!(
        kinds.contains(&"case.deadline_breached".to_owned()),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"case.escalated".to_owned()), "{kinds:?}");

    // After the breach the author asks for line 2: its agent takes over and sees the history;
    // line 1 no longer sees the request.
    let author = app.specialist("lead-author");
    let v = case(&app, &author, &id).await["version"]
        .as_i64()
        .expect("v");
    let after = app.step(&author, &id, "escalate", v, json!({})).await;
    assert!(after > v);
    let line2 = app.user("lead-line2", &[Role::Support]);
    let line2_id = app.user_id(&line2).await;
    assert_eq!(assignee(&app, &id).as_deref(), Some(line2_id.as_str()));
    let res = app
        .get(&format!("/api/v1/cases/{id}/history"), &line2)
        .await;
    assert_eq!(res.status(), 200);
    let history = json_of(res).await;
    assert!(history.to_string().contains("send"), "{history}");
    assert!(subjects_of_inbox(&app, &line2).await.contains(&breached));
    let agent_now = app.user("lead-agent", &[Role::Support]);
    let res = app.get(&format!("/api/v1/cases/{id}"), &agent_now).await;
    assert_eq!(res.status(), 404, "line 1 hands the request over");
    let q = json_of(app.get("/api/v1/support/queue", &line2).await).await;
    assert_eq!(q[0]["line"], 2);
}

#[tokio::test]
async fn an_answered_request_is_not_escalated_and_one_unresolved_in_time_goes_to_line_2() {
    // Wednesday 22 April 2026, 13:00 Moscow.
    let app = TestApp::spawn_at(instant("2026-04-22T10:00:00Z")).await;
    let (desk, _) = agent(&app, "late-agent", 1, false).await;
    agent(&app, "late-lead", 1, true).await;
    agent(&app, "late-line2", 2, false).await;
    agent(&app, "late-line2-lead", 2, true).await;
    let author = app.specialist("late-author");
    let (id, number, v, _) = send_request(&app, &author, "Ошибка в сведениях регистра").await;
    // An agent's comment is the first answer: 24 working hours on, the lead hears nothing.
    message(&app, &desk, &id, "Проверяем сведения в регистре").await;
    let v = app.step(&desk, &id, "take", v, json!({})).await;
    assert!(v > 0);
    app.clock.set(instant("2026-04-27T10:00:00Z"));
    fire_timers(&app);
    let breached = format!("Просрочен срок: обращение № {number}");
    let lead = app.user("late-lead", &[Role::Support]);
    assert!(!subjects_of_inbox(&app, &lead).await.contains(&breached));
    assert!(
        !event_kinds(&app, &id).contains(&"case.escalated".to_owned()),
        "taken in time: the timed escalation was cancelled"
    );

    // Taken on 22 April with 5 working days to resolve it (a login problem: access to
    // restore); a week after that the warning has gone out and the request has gone to line 2.
    app.clock.set(instant("2026-05-06T10:00:00Z"));
    assert_eq!(fire_timers(&app).fired, 2);
    let line2 = app.user("late-line2", &[Role::Support]);
    let line2_id = app.user_id(&line2).await;
    let line2_lead = app.user("late-line2-lead", &[Role::Support]);
    assert_eq!(assignee(&app, &id).as_deref(), Some(line2_id.as_str()));
    assert!(subjects_of_inbox(&app, &line2).await.contains(&breached));
    assert!(
        subjects_of_inbox(&app, &line2_lead)
            .await
            .contains(&breached)
    );
    let res = app
        .get(&format!("/api/v1/cases/{id}/messages"), &line2)
        .await;
    assert_eq!(res.status(), 200, "line 2 sees the whole history");
    assert_eq!(
        json_of(res).await[0]["body"],
        "Проверяем сведения в регистре"
    );
    let desk = app.user("late-agent", &[Role::Support]);
    assert_eq!(
        app.get(&format!("/api/v1/cases/{id}"), &desk)
            .await
            .status(),
        404
    );
    let q = json_of(app.get("/api/v1/support/queue?overdue=true", &line2).await).await;
    assert_eq!(numbers(&q), [number.as_str()]);
}

#[tokio::test]
async fn an_agent_finds_a_person_by_snils_or_name_with_their_cases() {
    let app = TestApp::spawn_at(instant("2026-04-22T10:00:00Z")).await;
    let (desk, _) = agent(&app, "ppl-agent", 1, false).await;
    let author = app.specialist("ppl-author");
    let other = app.specialist("ppl-other");
    let (application, _) = app.submitted_case(&author).await;
    let (request, number, _, _) = send_request(&app, &author, "Не вижу своё заявление").await;
    send_request(&app, &other, "Вопрос").await;

    let snils = crate::support::formatted_snils("ppl-author");
    let res = app
        .get(
            &format!("/api/v1/support/people?snils={}", urlencode(&snils)),
            &desk,
        )
        .await;
    let status = res.status();
    let found = json_of(res).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["snils"].as_str(), Some(snils.as_str()));
    assert_eq!(found[0]["name"], "Тестова ppl-author");
    let cases: Vec<&str> = found[0]["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        cases,
        [request.as_str(), application.as_str()],
        "newest first"
    );
    assert_eq!(
        found[0]["cases"][0]["number"].as_str(),
        Some(number.as_str())
    );
    assert_eq!(found[0]["cases"][1]["state_label"], "В обработке");
    // Eleven digits are the same SNILS; a wrong checksum is refused.
    let digits = crate::support::snils_of("ppl-author");
    let res = app
        .get(&format!("/api/v1/support/people?snils={digits}"), &desk)
        .await;
    assert_eq!(json_of(res).await.as_array().map(Vec::len), Some(1));
    let res = app
        .get("/api/v1/support/people?snils=112-233-445%2096", &desk)
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(json_of(res).await["code"], "invalid_snils");

    // By name: both people share the surname; the first name narrows it.
    let res = app
        .get(
            &format!("/api/v1/support/people?name={}", urlencode("ТЕСТОВА")),
            &desk,
        )
        .await;
    assert_eq!(json_of(res).await.as_array().map(Vec::len), Some(2));
    let res = app
        .get(
            &format!(
                "/api/v1/support/people?name={}",
                urlencode("тестова  ppl-oth")
            ),
            &desk,
        )
        .await;
    let found = json_of(res).await;
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["name"], "Тестова ppl-other");
    let res = app
        .get(
            &format!("/api/v1/support/people?name={}", urlencode("Те")),
            &desk,
        )
        .await;
    assert_eq!(json_of(res).await["code"], "name_too_short");
    let res = app.get("/api/v1/support/people", &desk).await;
    assert_eq!(res.status(), 400);

    // Only the desk looks people up, and each look-up is audited without the query.
    let res = app
        .get(&format!("/api/v1/support/people?snils={digits}"), &other)
        .await;
    assert_eq!(res.status(), 403);
    let desk_id = app.user_id(&desk).await;
    use accredo::store::schema::audit_events as ae;
    use diesel::prelude::*;
    let mut conn = app.state.store.conn().expect("conn");
    let searches: Vec<String> = ae::table
        .filter(ae::chain.eq(format!("user:{desk_id}")))
        .filter(ae::kind.eq("support.person_search"))
        .select(ae::payload)
        .load(&mut conn)
        .expect("events");
    assert_eq!(
        searches.len(),
        4,
        "the refused ones found nothing: {searches:?}"
    );
    assert!(
        searches
            .iter()
            .all(|p| !p.contains(&digits) && !p.contains("ppl")),
        "{searches:?}"
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn statistics_count_the_last_three_months_by_category() {
    let app = TestApp::spawn_at(instant("2026-01-15T10:00:00Z")).await;
    agent(&app, "stats-agent", 1, false).await;
    let author = app.specialist("stats-author");
    // Sent in January: older than three months by late April.
    send_request(&app, &author, "Старое обращение").await;

    app.clock.set(instant("2026-04-22T10:00:00Z"));
    let (desk, _) = agent(&app, "stats-agent", 1, false).await;
    let author = app.specialist("stats-author");
    let (a, _, va, _) = send_request(&app, &author, "Не могу войти").await;
    send_request(&app, &author, "Снова не могу войти").await;
    let mut form = request_form("Подпись");
    form["category"] = json!("signature");
    send_form(&app, &author, form).await;
    app.clock.advance(chrono::Duration::minutes(20));
    let va = app.step(&desk, &a, "take", va, json!({})).await;
    app.clock.advance(chrono::Duration::minutes(20));
    app.step(&desk, &a, "resolve", va, json!({"reason": "Готово"}))
        .await;

    let stats = json_of(app.get("/api/v1/support/stats", &desk).await).await;
    assert_eq!(
        (stats["from"].as_str(), stats["to"].as_str()),
        (Some("2026-01-22"), Some("2026-04-22"))
    );
    let of = |code: &str| {
        stats["by_category"]
            .as_array()
            .expect("categories")
            .iter()
            .find(|c| c["category"] == code)
            .cloned()
            .expect("category")
    };
    let login = of("login");
    assert_eq!(login["label"], "Вход и ЕСИА");
    assert_eq!(
        (login["total"].as_i64(), login["resolved"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(login["first_response_minutes"], 20);
    assert_eq!(login["resolution_minutes"], 40);
    assert_eq!(of("signature")["total"], 1);
    assert_eq!(of("other")["total"], 0);
    assert!(of("other")["first_response_minutes"].is_null());
    let author = app.specialist("stats-author");
    let res = app.get("/api/v1/support/stats", &author).await;
    assert_eq!(res.status(), 403);
}

/// Sends `raw` (a whole RFC 5322 message) over SMTP to the desk's listener at `port`, as the
/// envelope sender `from` to `to`; the server's answer.
async fn smtp_send(port: u16, from: &str, to: &str, raw: &str) -> Result<String, String> {
    use lettre::AsyncTransport;
    let smtp = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .timeout(Some(std::time::Duration::from_secs(10)))
        .build();
    let envelope = lettre::address::Envelope::new(
        Some(from.parse().expect("from")),
        vec![to.parse().expect("to")],
    )
    .expect("envelope");
    smtp.send_raw(&envelope, raw.as_bytes())
        .await
        .map(|r| r.message().collect::<Vec<_>>().join(" "))
        .map_err(|e| e.to_string())
}

fn mail(from: &str, to: &str, message_id: &str, subject: &str, body: &str) -> String {
    format!(
        "From: Мария Иванова <{from}>\r\nTo: {to}\r\nSubject: =?UTF-8?B?{}?=\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, subject),
        body.replace('\n', "\r\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_letter_opens_a_request_its_number_comes_back_by_mail_and_a_reply_is_a_comment() {
    let app = TestApp::spawn_with_channels(instant("2026-04-22T10:00:00Z"), &["email"]).await;
    let (desk, _) = agent(&app, "mail-agent", 1, false).await;
    let author = app.specialist("mail-author");
    let address = "ivanova@example.ru";
    let res = app
        .call(
            Method::PUT,
            "/api/v1/me/notification-preferences",
            Some(&author),
            &[],
            Some(json!({"email": {"enabled": true, "address": address}})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .call(
            Method::POST,
            "/api/v1/me/consent",
            Some(&author),
            &[],
            Some(json!({"granted": true})),
        )
        .await;
    assert_eq!(res.status(), 204);
    // The desk's listener, and the mail server the notices go out through.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let desk_address = accredo::mail_intake::Address::parse("support@accredo.local").expect("desk");
    accredo::mail_intake::spawn(listener, app.state.clone(), desk_address.clone()).expect("intake");
    let outgoing = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let out_port = outgoing.local_addr().expect("addr").port();
    let inbox = crate::delivery::smtp_on(outgoing);
    let email = crate::delivery::email_dispatcher(&app, out_port).replies_to(Some(desk_address));

    // A letter to the desk opens a request and sends it.
    let letter = mail(
        address,
        "support@accredo.local",
        "first@example.ru",
        "Не могу подписать заявление",
        "КриптоПро пишет «сертификат недействителен».",
    );
    let answer = smtp_send(port, address, "support@accredo.local", &letter).await;
    let answer = answer.expect("taken");
    assert!(answer.contains("ACCREDO-1"), "{answer}");
    let mine = json_of(app.get("/api/v1/support/requests", &author).await).await;
    assert_eq!(numbers(&mine), ["ACCREDO-1"]);
    assert_eq!(mine[0]["subject"], "Не могу подписать заявление");
    assert_eq!(mine[0]["state"], "accepted");
    let id = mine[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        case(&app, &author, &id).await["form"]["description"],
        "КриптоПро пишет «сертификат недействителен»."
    );
    // The same letter delivered again opens nothing more.
    let again = smtp_send(port, address, "support@accredo.local", &letter).await;
    assert!(again.expect("taken").contains("ACCREDO-1"));
    let all = json_of(app.get("/api/v1/support/requests?all=true", &author).await).await;
    assert_eq!(numbers(&all), ["ACCREDO-1"]);

    // Its number reaches the author by e-mail, with the request's reply address.
    let report = crate::delivery::pass(&app, &email, "mail-test").await;
    assert!(report.delivered >= 1, "{report:?}");
    let received = inbox.messages();
    let notice = received
        .iter()
        .map(|raw| {
            mail_parser::MessageParser::default()
                .parse(raw)
                .expect("mail")
        })
        .find(|m| m.subject().is_some_and(|s| s.contains("ACCREDO-1")))
        .expect("the number by e-mail");
    assert_eq!(notice.subject(), Some("Обращение № ACCREDO-1: Принято"));
    let reply_to = notice
        .reply_to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .expect("reply-to")
        .to_owned();
    assert!(
        reply_to.starts_with("support+") && reply_to.ends_with("@accredo.local"),
        "{reply_to}"
    );

    // The agent asks a question; the author answers by replying to the e-mail.
    let v = case(&app, &desk, &id).await["version"].as_i64().expect("v");
    app.step(
        &desk,
        &id,
        "request_info",
        v,
        json!({"reason": "Какая версия КриптоПро?"}),
    )
    .await;
    let answer = mail(
        address,
        &reply_to,
        "reply@example.ru",
        "Re: Обращение № ACCREDO-1: Принято",
        "Версия 5.0 R3.\n\n22.04.2026, Аккредитация специалистов написал(а):\n> Статус вашего обращения изменён",
    );
    smtp_send(port, address, &reply_to, &answer)
        .await
        .expect("taken");
    let thread = json_of(
        app.get(&format!("/api/v1/cases/{id}/messages"), &desk)
            .await,
    )
    .await;
    assert_eq!(thread.as_array().map(Vec::len), Some(1), "{thread}");
    assert_eq!(thread[0]["body"], "Версия 5.0 R3.", "the quote is left out");
    assert_eq!(thread[0]["side"], "applicant");
    assert_eq!(
        case(&app, &author, &id).await["state"],
        "in_progress",
        "the answer sends it back to work"
    );

    // Someone the cabinet does not know is refused, and nothing is opened.
    let stranger = mail(
        "nobody@example.ru",
        "support@accredo.local",
        "x@example.ru",
        "Привет",
        "?",
    );
    let refused = smtp_send(
        port,
        "nobody@example.ru",
        "support@accredo.local",
        &stranger,
    )
    .await;
    assert!(refused.expect_err("refused").contains("Sender unknown"));
    // A reply address of no request, and another domain, are not the desk's.
    let bogus = "support+0123456789abcdef0123456789abcdef@accredo.local";
    let refused = smtp_send(
        port,
        address,
        bogus,
        &mail(address, bogus, "b@example.ru", "Re", "x"),
    )
    .await;
    assert!(refused.is_err());
    let refused = smtp_send(port, address, "support@elsewhere.ru", &letter).await;
    assert!(refused.is_err());
    let all = json_of(app.get("/api/v1/support/requests?all=true", &author).await).await;
    assert_eq!(numbers(&all), ["ACCREDO-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_listener_drops_an_endless_line_and_refuses_a_letter_too_big() {
    use std::io::{BufRead, BufReader, Write};
    let app = TestApp::spawn_at(instant("2026-04-22T10:00:00Z")).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let desk = accredo::mail_intake::Address::parse("support@accredo.local").expect("desk");
    accredo::mail_intake::spawn(listener, app.state.clone(), desk).expect("intake");
    let talk = move |lines: Vec<Vec<u8>>| {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let mut w = stream.try_clone().expect("clone");
        let mut r = BufReader::new(stream);
        let mut answers = Vec::new();
        let mut line = String::new();
        r.read_line(&mut line).expect("greeting");
        for l in lines {
            // A client may be cut off mid-write; what it heard so far is the answer.
            if w.write_all(&l).is_err() {
                break;
            }
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => answers.push(line.trim().to_owned()),
            }
        }
        answers
    };
    let answers = tokio::task::spawn_blocking(move || {
        let mut endless = vec![b'A'; 64 * 1024];
        endless.extend_from_slice(b"\r\n");
        talk(vec![b"HELO client\r\n".to_vec(), endless])
    })
    .await
    .expect("talk");
    assert!(
        answers.last().is_some_and(|a| a.starts_with("500")),
        "{answers:?}"
    );

    let answers = tokio::task::spawn_blocking(move || {
        let mut letter = b"Subject: big\r\n\r\n".to_vec();
        let line = [b'x'; 998];
        while letter.len() <= accredo::mail_intake::MAX_MESSAGE {
            letter.extend_from_slice(&line);
            letter.extend_from_slice(b"\r\n");
        }
        letter.extend_from_slice(b".\r\n");
        talk(vec![
            b"HELO client\r\n".to_vec(),
            b"MAIL FROM:<a@example.ru>\r\n".to_vec(),
            b"RCPT TO:<support@accredo.local>\r\n".to_vec(),
            b"DATA\r\n".to_vec(),
            letter,
        ])
    })
    .await
    .expect("talk");
    assert_eq!(answers.last().map(|a| &a[..3]), Some("552"), "{answers:?}");
}

#[tokio::test]
async fn screenshots_go_through_the_document_pipeline_as_png_or_jpeg_up_to_5_mb() {
    use reqwest::multipart::{Form, Part};
    let app = TestApp::spawn_at(instant("2026-04-22T10:00:00Z")).await;
    let author = app.specialist("shot-author");
    let (id, _) = app.create_case(&author, WORKFLOW).await;
    let upload = |name: &'static str, bytes: Vec<u8>| {
        let (client, base, token, id) = (
            app.client.clone(),
            app.base.clone(),
            author.clone(),
            id.clone(),
        );
        async move {
            let form = Form::new()
                .text("type", "screenshot")
                .part("file", Part::bytes(bytes).file_name(name));
            let res = client
                .post(format!("{base}/api/v1/cases/{id}/documents"))
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .expect("upload");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let png = {
        let img = image::RgbImage::from_fn(1280, 800, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        out.into_inner()
    };
    let (status, body) = upload("screen.png", png).await;
    assert_eq!(status, 201, "{body}");
    // A PDF is not a screenshot; more than 5 MB is refused before anything is kept.
    let (status, body) = upload("screen.pdf", crate::support::text_pdf()).await;
    assert_eq!(status, 415, "{body}");
    let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
    big.resize(5 * 1024 * 1024 + 1, 0);
    let (status, body) = upload("big.png", big).await;
    assert!(status == 413 || status == 422, "{status} {body}");
    let list = json_of(
        app.get(&format!("/api/v1/cases/{id}/documents"), &author)
            .await,
    )
    .await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

async fn set_attributes(
    app: &TestApp,
    token: &str,
    id: &str,
    version: Option<i64>,
    body: Value,
) -> (u16, Value) {
    let headers: Vec<(&str, String)> = version
        .map(|v| ("If-Match", format!("\"{v}\"")))
        .into_iter()
        .collect();
    let res = app
        .call(
            Method::PUT,
            &format!("/api/v1/cases/{id}/attributes"),
            Some(token),
            &headers,
            Some(body),
        )
        .await;
    let status = res.status().as_u16();
    (status, json_of(res).await)
}

/// The request as its agent's queue shows it.
async fn queued(app: &TestApp, token: &str, number: &str) -> Value {
    let q = json_of(app.get("/api/v1/support/queue", token).await).await;
    q.as_array()
        .expect("queue")
        .iter()
        .find(|r| r["number"] == number)
        .cloned()
        .unwrap_or_else(|| panic!("{number} not in the queue: {q}"))
}

#[tokio::test]
async fn an_urgent_request_is_answered_within_15_minutes_and_an_agent_may_raise_a_normal_one() {
    // Wednesday 22 April 2026, 13:00 Moscow.
    let app = TestApp::spawn_at(instant("2026-04-22T10:00:00Z")).await;
    let (desk, _) = agent(&app, "urgent-agent", 1, false).await;
    let author = app.specialist("urgent-author");
    // The accreditation the author names ends within 30 days: urgent when sent.
    let mut form = request_form("Не могу подать заявление: аккредитация заканчивается");
    form["concerns"] = json!({"valid_until": "2026-05-10"});
    let (urgent_id, urgent, _, sent) = send_form(&app, &author, form).await;
    assert_eq!(sent["attributes"]["priority"], "urgent", "{sent}");
    assert_eq!(sent["attributes"]["kind"], "data_check", "a login problem");
    assert_eq!(
        queued(&app, &desk, &urgent).await["due_at"],
        "2026-04-22T10:15:00Z"
    );
    let (id, normal, v, sent) = send_request(&app, &author, "Вопрос по входу").await;
    assert_eq!(sent["attributes"]["priority"], "normal");
    assert_eq!(
        queued(&app, &desk, &normal).await["due_at"],
        "2026-04-22T11:00:00Z"
    );

    // Only the desk sets a priority, to one of its values, at the version read.
    let urgent_body =
        json!({"attributes": {"priority": "urgent"}, "reason": "Срок заявления истекает"});
    let (status, body) = set_attributes(&app, &author, &id, Some(v), urgent_body.clone()).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("attribute_forbidden")),
        "{body}"
    );
    let (status, body) = set_attributes(
        &app,
        &desk,
        &id,
        Some(v),
        json!({"attributes": {"priority": "highest"}}),
    )
    .await;
    assert_eq!(
        (status, body["code"].clone()),
        (422, json!("unknown_value")),
        "{body}"
    );
    assert_eq!(body["details"][0]["field"], "/attributes/priority");
    let (status, body) = set_attributes(
        &app,
        &desk,
        &id,
        Some(v),
        json!({"attributes": {"colour": "red"}}),
    )
    .await;
    assert_eq!(
        (status, body["code"].clone()),
        (422, json!("unknown_attribute")),
        "{body}"
    );
    let (status, _) = set_attributes(&app, &desk, &id, None, urgent_body.clone()).await;
    assert_eq!(status, 428);
    let (status, _) = set_attributes(&app, &desk, &id, Some(v - 1), urgent_body.clone()).await;
    assert_eq!(status, 409);
    assert!(
        !event_kinds(&app, &id).contains(&"case.attributes_changed".to_owned()),
        "refusals write nothing"
    );

    // Raised to urgent: the first answer is due 15 minutes after the step's start, not an hour.
    let (status, body) = set_attributes(&app, &desk, &id, Some(v), urgent_body).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["attributes"]["priority"], "urgent");
    assert_eq!(body["version"], v + 1);
    assert_eq!(
        queued(&app, &desk, &normal).await["due_at"],
        "2026-04-22T10:15:00Z"
    );
    assert!(event_kinds(&app, &id).contains(&"case.attributes_changed".to_owned()));

    // Five minutes before, the agent is warned of both; at 13:15 both are breached.
    app.clock.set(instant("2026-04-22T10:09:00Z"));
    assert_eq!(fire_timers(&app).fired, 0);
    app.clock.set(instant("2026-04-22T10:11:00Z"));
    assert_eq!(
        fire_timers(&app).fired,
        2,
        "a warning each, the hour's ones cancelled"
    );
    let inbox = subjects_of_inbox(&app, &desk).await;
    for n in [&urgent, &normal] {
        assert!(
            inbox.contains(&format!("Скоро срок: обращение № {n}")),
            "{inbox:?}"
        );
    }
    app.clock.set(instant("2026-04-22T10:16:00Z"));
    assert_eq!(fire_timers(&app).fired, 2);
    let inbox = subjects_of_inbox(&app, &desk).await;
    for n in [&urgent, &normal] {
        assert!(
            inbox.contains(&format!("Просрочен срок: обращение № {n}")),
            "{inbox:?}"
        );
    }
    for case in [&urgent_id, &id] {
        let kinds = event_kinds(&app, case);
        assert!(
            kinds.contains(&"case.deadline_near".to_owned()),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&"case.deadline_breached".to_owned()),
            "{kinds:?}"
        );
    }
    // Nothing of the hour's norm is left to fire.
    app.clock.set(instant("2026-04-22T11:30:00Z"));
    assert_eq!(fire_timers(&app).fired, 0);
}

#[tokio::test]
async fn a_resolution_is_due_by_its_kind_and_its_deadline_is_extended_once_with_a_notice() {
    // Wednesday 22 April 2026, 10:00 Moscow.
    let app = TestApp::spawn_at(instant("2026-04-22T07:00:00Z")).await;
    let (desk, _) = agent(&app, "kind-agent", 1, false).await;
    let author = app.specialist("kind-author");
    let mut form = request_form("Как заполнить раздел о стаже");
    form["category"] = json!("form");
    let (id, number, v, sent) = send_form(&app, &author, form).await;
    assert_eq!(sent["attributes"]["kind"], "simple", "a form question");
    // A simple question is resolved within a working day: 9 working hours, Thursday 10:00.
    let v = app.step(&desk, &id, "take", v, json!({})).await;
    let q = queued(&app, &desk, &number).await;
    assert_eq!(
        (q["due_at"].clone(), q["due_on"].clone(), q["kind"].clone()),
        (
            json!("2026-04-23T07:00:00Z"),
            json!("2026-04-23"),
            json!("simple")
        )
    );

    // The agent finds it a complex incident: 10 working days from the step's start, past the
    // 1 and 11 May holidays — Thursday 7 May; the warning moves with it.
    let (status, body) = set_attributes(
        &app,
        &desk,
        &id,
        Some(v),
        json!({"attributes": {"kind": "complex"}, "reason": "Ошибка в форме на стороне портала"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["due_on"], "2026-05-07");
    let q = queued(&app, &desk, &number).await;
    assert_eq!(
        (q["due_at"].clone(), q["kind"].clone()),
        (Value::Null, json!("complex"))
    );
    // The simple question's warning (Wednesday 17:00) was replaced.
    app.clock.set(instant("2026-04-22T14:30:00Z"));
    assert_eq!(fire_timers(&app).fired, 0);

    // On Wednesday 6 May the agent extends it, once, with a reason: the norm again from now,
    // past the 11 May holiday — Thursday 21 May; the author hears the new date and why.
    app.clock.set(instant("2026-05-06T07:00:00Z"));
    let desk = app.user("kind-agent", &[Role::Support]);
    let v = case(&app, &desk, &id).await["version"].as_i64().expect("v");
    let res = app.transition(&desk, &id, "extend", v, json!({})).await;
    assert_eq!(res.status(), 422, "an extension needs its reason");
    let reason = "Нужна проверка на стороне ЕСИА";
    let v = app
        .step(&desk, &id, "extend", v, json!({"reason": reason}))
        .await;
    let author = app.specialist("kind-author");
    let now = case(&app, &author, &id).await;
    assert_eq!(
        (now["state"].clone(), now["due_on"].clone()),
        (json!("in_progress"), json!("2026-05-21"))
    );
    let inbox = json_of(app.get("/api/v1/me/notifications", &author).await).await;
    let notice = inbox["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|n| n["subject"] == format!("Обращение № {number}: срок продлён"))
        .unwrap_or_else(|| panic!("no extension notice: {inbox}"));
    let text = notice["body"].as_str().expect("body");
    assert!(
        text.contains("до 21.05.2026") && text.contains(reason),
        "{text}"
    );

    // A second extension is refused, and so is one by the author.
    let res = app
        .transition(&desk, &id, "extend", v, json!({"reason": "Ещё раз"}))
        .await;
    assert_eq!(res.status(), 422);
    let body = json_of(res).await;
    assert_eq!(body["details"][0]["code"], "already_done", "{body}");
    let res = app
        .transition(&author, &id, "extend", v, json!({"reason": "Хочу"}))
        .await;
    assert_eq!(res.status(), 403);
    // The reaction and completion moments are kept.
    let v = app
        .step(
            &desk,
            &id,
            "resolve",
            v,
            json!({"reason": "Исправлено на портале"}),
        )
        .await;
    assert!(v > 0);
    let mine = json_of(app.get("/api/v1/support/requests?all=true", &author).await).await;
    let mine = &mine.as_array().expect("list")[0];
    assert_eq!(mine["first_response_at"], "2026-04-22T07:00:00Z");
    assert_eq!(mine["resolved_at"], "2026-05-06T07:00:00Z");
}
