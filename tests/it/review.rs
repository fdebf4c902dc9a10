//! The commission's workbench: subcommissions by specialty, the queue (filters, order, keyset
//! paging, counts), assignment and claim, and the revision round.

use crate::support::{SPECIALTY, TestApp, json_of, rejection_body, text_pdf};
use accredo::domain::clock::Clock;
use accredo::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};

async fn put_json(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let res = app
        .call(Method::PUT, path, Some(token), &[], Some(body))
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn queue(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    let res = app
        .get(&format!("/api/v1/review/queue?{query}"), token)
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn subcommissions_decide_who_sees_a_case() {
    let app = TestApp::spawn().await;
    let me = app.specialist("applicant");
    let therapist = app.user("therapist", &[Role::Reviewer]);
    let surgeon = app.outsider("surgeon", &[Role::Reviewer]);
    let support = app.outsider("helpdesk", &[Role::Support]);
    let admin = app.outsider("admin", &[Role::Admin]);
    let (id, _) = app.submitted_case(&me).await;

    // Only an administrator manages subcommissions.
    let body = json!({"name": "Хирургическая подкомиссия", "specialties": ["31.08.67"]});
    let (status, refused) = put_json(
        &app,
        &therapist,
        "/api/v1/admin/subcommissions/surgery",
        body.clone(),
    )
    .await;
    assert_eq!((status, refused["code"].clone()), (403, json!("not_admin")));
    let (status, bad) = put_json(
        &app,
        &admin,
        "/api/v1/admin/subcommissions/surgery",
        json!({"name": "Хирургия", "specialties": ["хирургия"]}),
    )
    .await;
    assert_eq!(
        (status, bad["code"].clone()),
        (422, json!("invalid_specialty_code"))
    );
    let (status, created) =
        put_json(&app, &admin, "/api/v1/admin/subcommissions/surgery", body).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["specialties"], json!(["31.08.67"]));
    let surgeon_id = app.user_id(&surgeon).await;
    let applicant_id = app.user_id(&me).await;
    let member = format!("/api/v1/admin/subcommissions/surgery/members/{surgeon_id}");
    let (status, with) = put_json(&app, &admin, &member, json!(null)).await;
    assert_eq!(status, 200, "{with}");
    assert_eq!(with["members"], json!([surgeon_id]));
    // A specialist cannot sit on a subcommission.
    let (status, refused) = put_json(
        &app,
        &admin,
        &format!("/api/v1/admin/subcommissions/surgery/members/{applicant_id}"),
        json!(null),
    )
    .await;
    assert_eq!(
        (status, refused["code"].clone()),
        (422, json!("not_commission_role"))
    );

    // The therapy case: the therapy subcommission and the administrator see it; the surgeon
    // and the help desk get the same answer as for a case that does not exist.
    let path = format!("/api/v1/cases/{id}");
    for (token, status) in [
        (&therapist, 200),
        (&admin, 200),
        (&surgeon, 404),
        (&support, 404),
    ] {
        assert_eq!(app.get(&path, token).await.status(), status);
    }
    assert_eq!(ids(&queue(&app, &therapist, "").await.1), [id.as_str()]);
    assert!(ids(&queue(&app, &surgeon, "").await.1).is_empty());
    assert_eq!(queue(&app, &support, "").await.0, 403);
    // Nor may the surgeon take it, or the staff list show it to them.
    let res = app
        .set_assignee(&surgeon, &id, Some(&surgeon_id), None)
        .await;
    assert_eq!(res.status(), 404);
    let list = json_of(app.get("/api/v1/cases", &surgeon).await).await;
    assert_eq!(list, json!([]));

    // Moving the surgeon to therapy shows it at once; removing them hides it again.
    let (status, _) = put_json(
        &app,
        &admin,
        "/api/v1/admin/subcommissions/surgery",
        json!({"name": "Хирургия и терапия", "specialties": ["31.08.67", SPECIALTY]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(app.get(&path, &surgeon).await.status(), 200);
    let res = app
        .call(Method::DELETE, &member, Some(&admin), &[], None)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.get(&path, &surgeon).await.status(), 404);
    let list = json_of(app.get("/api/v1/admin/subcommissions", &admin).await).await;
    let codes: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes, ["surgery", "therapy"]);
}

#[tokio::test]
async fn the_application_number_is_on_the_case_and_finds_it() {
    let app = TestApp::spawn().await;
    let me = app.specialist("numbered");
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    let (id, _) = app.submitted_case(&me).await;
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    let number = case["number"].as_str().expect("number").to_owned();
    assert!(number.starts_with("2026-77-"), "{number}");
    let (_, page) = queue(&app, &reviewer, &format!("number={number}")).await;
    assert_eq!(page["items"][0]["number"], json!(number));
    assert_eq!(page["items"][0]["specialty"], json!(SPECIALTY));
    assert_eq!(ids(&page), [id.as_str()]);
    assert!(ids(&queue(&app, &reviewer, "number=2026-77-999999").await.1).is_empty());
    // The history names it at the submission it was registered by.
    let history = json_of(app.get(&format!("/api/v1/cases/{id}/history"), &me).await).await;
    let filed: Vec<&Value> = history
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["number"].is_string())
        .collect();
    assert_eq!(filed.len(), 1, "{history}");
    assert_eq!(
        (filed[0]["transition"].clone(), filed[0]["number"].clone()),
        (json!("submit"), json!(number))
    );
    // The applicant's own list shows it too, and the notification of the filing names it.
    let list = json_of(app.get("/api/v1/cases", &me).await).await;
    assert_eq!(list[0]["number"], json!(number));
    let inbox = json_of(app.get("/api/v1/me/notifications", &me).await).await;
    assert!(inbox.to_string().contains(&number), "{inbox}");
}

/// Cases filed directly in the store, with the fields the queue filters by.
async fn seed(app: &TestApp, owner: &str, rows: &[Seed]) -> Vec<String> {
    use accredo::store::schema::cases;
    use diesel::prelude::*;
    let (template, _) = app.create_case(owner, "periodic_accreditation").await;
    let mut conn = app.state.store.conn().expect("conn");
    let row = accredo::store::cases::find(&mut conn, &template)
        .expect("find")
        .expect("case");
    let at = app.clock.now().naive_utc();
    let mut out = Vec::new();
    for (i, s) in rows.iter().enumerate() {
        let mut c = row.clone();
        c.id = accredo::domain::ids::uuid_v7(app.clock.now()).to_string();
        c.state = s.state.into();
        c.submitted_at = Some(at);
        c.due_on = s.due.map(|d| d.parse().expect("date"));
        c.specialty = Some(s.specialty.into());
        c.region = Some(s.region.into());
        c.applicant_name = Some(s.name.into());
        c.name_key = Some(accredo::domain::person_name::search_key(s.name));
        c.snils = Some(snils_of(i).digits().to_owned());
        c.number = Some(format!("2026-77-{:06}", 100 + i));
        c.assignee_id = s.assignee.map(str::to_owned);
        diesel::insert_into(cases::table)
            .values(&c)
            .execute(&mut *conn)
            .expect("case");
        out.push(c.id);
    }
    out
}

/// The SNILS of the `i`-th seeded case (a valid one).
fn snils_of(i: usize) -> accredo::domain::snils::Snils {
    accredo::domain::snils::Snils::from_number(200_000_000 + i as u64)
}

struct Seed {
    state: &'static str,
    due: Option<&'static str>,
    specialty: &'static str,
    region: &'static str,
    name: &'static str,
    assignee: Option<&'static str>,
}

#[tokio::test]
async fn the_queue_filters_sorts_pages_and_counts() {
    // Tuesday 10 March 2026, 12:00 Moscow.
    let app = TestApp::spawn_at(crate::support::instant("2026-03-10T09:00:00Z")).await;
    let owner = app.specialist("many");
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    let me = app.user_id(&reviewer).await;
    let me: &'static str = Box::leak(me.into_boxed_str());
    let r = |state, due, specialty, region, name, assignee| Seed {
        state,
        due,
        specialty,
        region,
        name,
        assignee,
    };
    let rows = [
        r(
            "under_review",
            Some("2026-03-12"),
            SPECIALTY,
            "77",
            "Семёнова Анна",
            None,
        ),
        r(
            "submitted",
            Some("2026-03-09"),
            SPECIALTY,
            "50",
            "Иванов Пётр",
            Some(me),
        ),
        r(
            "under_review",
            Some("2026-03-12"),
            SPECIALTY,
            "50",
            "Семенов Илья",
            None,
        ),
        r("approved", None, SPECIALTY, "77", "Петрова Ольга", Some(me)),
        r(
            "needs_revision",
            Some("2026-03-20"),
            SPECIALTY,
            "77",
            "Иванова Мария",
            None,
        ),
        r(
            "under_review",
            Some("2026-03-05"),
            SPECIALTY,
            "77",
            "Кузнецов Олег",
            Some(me),
        ),
        r(
            "submitted",
            Some("2026-03-16"),
            "31.08.67",
            "77",
            "Хирургов Иван",
            None,
        ),
        r("rejected", None, SPECIALTY, "50", "Смирнова Вера", None),
        r(
            "under_review",
            Some("2026-03-11"),
            SPECIALTY,
            "50",
            "Семёнов-Тян Ян",
            None,
        ),
    ];
    let seeded = seed(&app, &owner, &rows).await;
    // The expected order: due date, then id; cases without one last, by id. The surgery case
    // is not this reviewer's.
    let mut expected: Vec<(Option<&str>, &String)> = rows
        .iter()
        .zip(&seeded)
        .filter(|(s, _)| s.specialty == SPECIALTY)
        .map(|(s, id)| (s.due, id))
        .collect();
    expected.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => (x, a.1).cmp(&(y, b.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(b.1),
    });
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id.clone()).collect();
    let (status, all) = queue(&app, &reviewer, "").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), expected);
    assert_eq!(all["next_cursor"], Value::Null);

    // Keyset pages of 3 walk the same order without repeats or gaps, across the undated tail.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("limit=3&cursor={c}"),
            None => "limit=3".into(),
        };
        let (status, page) = queue(&app, &reviewer, &q).await;
        assert_eq!(status, 200, "{page}");
        assert!(page["items"].as_array().expect("items").len() <= 3);
        walked.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(walked, expected);
    // Newest first, also paged.
    let (_, newest) = queue(&app, &reviewer, "sort=newest&limit=100").await;
    let mut by_id = expected.clone();
    by_id.sort();
    by_id.reverse();
    assert_eq!(ids(&newest), by_id);

    let pick = |which: &[usize]| -> Vec<String> {
        expected
            .iter()
            .filter(|id| which.iter().any(|i| seeded[*i] == **id))
            .cloned()
            .collect()
    };
    for (query, want) in [
        ("state=under_review", pick(&[0, 2, 5, 8])),
        ("region=50", pick(&[1, 2, 7, 8])),
        ("assignee=me", pick(&[1, 3, 5])),
        (&*format!("assignee={me}"), pick(&[1, 3, 5])),
        ("assignee=none", pick(&[0, 2, 4, 7, 8])),
        ("due_before=2026-03-11", pick(&[1, 5, 8])),
        // Past due on 10 March: due on the 9th or earlier.
        ("overdue=true", pick(&[1, 5])),
        ("name=семенов", pick(&[0, 2, 8])),
        ("name=СЕМЁНОВ-ТЯН", pick(&[8])),
        ("name=%25", vec![]),
        (&*format!("snils={}", snils_of(4)), pick(&[4])),
        ("number=2026-77-000105", pick(&[5])),
        ("specialty=31.08.67", vec![]),
        ("workflow=primary_accreditation", vec![]),
        ("state=under_review&region=50&assignee=none", pick(&[2, 8])),
    ] {
        let (status, page) = queue(&app, &reviewer, query).await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(ids(&page), want, "{query}");
    }
    let (_, page) = queue(&app, &reviewer, "state=submitted").await;
    assert_eq!(page["items"][0]["assignee_name"], "Пользователь reviewer");
    assert_eq!(page["items"][0]["overdue"], true);

    // Counts per state for the dashboard (the state filter is not applied to them).
    let res = app
        .get(
            "/api/v1/review/queue/counts?region=77&state=approved",
            &reviewer,
        )
        .await;
    assert_eq!(res.status(), 200);
    let counts = json_of(res).await;
    assert_eq!(
        counts,
        json!({
            "by_state": [
                {"state": "approved", "count": 1},
                {"state": "needs_revision", "count": 1},
                {"state": "under_review", "count": 2},
            ],
            "total": 4,
            "overdue": 0,
        })
    );
    let counts = json_of(app.get("/api/v1/review/queue/counts", &reviewer).await).await;
    assert_eq!(
        (counts["total"].clone(), counts["overdue"].clone()),
        (json!(8), json!(2))
    );

    // A member of two subcommissions: each specialty is read on its own and the runs merged
    // into one order, paged across both. One therapy case becomes the member's own
    // application, which neither the queue nor the counts include.
    {
        use accredo::store::schema::cases;
        use diesel::prelude::*;
        let mut conn = app.state.store.conn().expect("conn");
        crate::support::join_subcommission(
            &mut conn,
            "surgery",
            &["31.08.67"],
            me,
            app.clock.now(),
        );
        diesel::update(cases::table.find(&seeded[4]))
            .set(cases::owner_id.eq(me))
            .execute(&mut *conn)
            .expect("owner");
    }
    let mut both: Vec<(Option<&str>, &String)> = rows
        .iter()
        .zip(&seeded)
        .filter(|(_, id)| **id != seeded[4])
        .map(|(s, id)| (s.due, id))
        .collect();
    both.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => (x, a.1).cmp(&(y, b.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(b.1),
    });
    let both: Vec<String> = both.into_iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids(&queue(&app, &reviewer, "").await.1), both);
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("limit=2&cursor={c}"),
            None => "limit=2".into(),
        };
        let (status, page) = queue(&app, &reviewer, &q).await;
        assert_eq!(status, 200, "{page}");
        walked.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(walked, both);
    let mut newest = both.clone();
    newest.sort();
    newest.reverse();
    assert_eq!(
        ids(&queue(&app, &reviewer, "sort=newest&limit=3").await.1),
        newest[..3]
    );
    assert_eq!(
        ids(&queue(&app, &reviewer, "specialty=31.08.67").await.1),
        [seeded[6].clone()]
    );
    // Without filters the numbers come from the kept counters; with a filter, from the cases.
    let counts = json_of(app.get("/api/v1/review/queue/counts", &reviewer).await).await;
    assert_eq!(
        counts,
        json!({
            "by_state": [
                {"state": "approved", "count": 1},
                {"state": "rejected", "count": 1},
                {"state": "submitted", "count": 2},
                {"state": "under_review", "count": 4},
            ],
            "total": 8,
            "overdue": 2,
        })
    );
    let counts = json_of(
        app.get("/api/v1/review/queue/counts?region=77", &reviewer)
            .await,
    )
    .await;
    assert_eq!(
        counts["by_state"],
        json!([
            {"state": "approved", "count": 1},
            {"state": "submitted", "count": 1},
            {"state": "under_review", "count": 2},
        ])
    );
    // An overdue case of the member's own leaves the overdue sum too, and a state filter
    // narrows the overdue count (not the numbers per state).
    {
        use accredo::store::schema::cases;
        use diesel::prelude::*;
        let mut conn = app.state.store.conn().expect("conn");
        diesel::update(cases::table.find(&seeded[1]))
            .set(cases::owner_id.eq(me))
            .execute(&mut *conn)
            .expect("owner");
    }
    let counts = json_of(app.get("/api/v1/review/queue/counts", &reviewer).await).await;
    assert_eq!(
        (counts["total"].clone(), counts["overdue"].clone()),
        (json!(7), json!(1))
    );
    for (state, overdue) in [("under_review", 1), ("submitted", 0), ("approved", 0)] {
        let counts = json_of(
            app.get(
                &format!("/api/v1/review/queue/counts?state={state}"),
                &reviewer,
            )
            .await,
        )
        .await;
        assert_eq!(
            (counts["total"].clone(), counts["overdue"].clone()),
            (json!(7), json!(overdue)),
            "{state}"
        );
    }
    app.assert_counters_agree();

    for (query, code) in [
        ("cursor=bm9wZQ", "invalid_cursor"),
        ("sort=importance", "invalid_sort"),
        ("limit=0", "invalid_limit"),
        ("snils=123", "invalid_snils"),
        ("assignee=someone", "invalid_assignee"),
    ] {
        let (status, body) = queue(&app, &reviewer, query).await;
        assert_eq!(
            (status, body["details"][0]["code"].clone()),
            (422, json!(code)),
            "{query}"
        );
    }
}

#[tokio::test]
async fn assignment_claim_reassignment_and_release_follow_the_rules() {
    let app = TestApp::spawn().await;
    let me = app.specialist("applicant");
    let secretary = app.user("secretary", &[Role::Secretary]);
    let first = app.user("first", &[Role::Reviewer]);
    let second = app.user("second", &[Role::Reviewer]);
    let outsider = app.outsider("surgeon", &[Role::Reviewer]);
    let (first_id, second_id, outsider_id) = (
        app.user_id(&first).await,
        app.user_id(&second).await,
        app.user_id(&outsider).await,
    );
    let (id, _) = app.submitted_case(&me).await;
    let code = |res: Value| res["code"].clone();
    let before = app.audit_count();

    // The secretary assigns; only a reviewer of the case's specialty can be assigned.
    let res = app
        .set_assignee(&secretary, &id, Some(&outsider_id), None)
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(code(json_of(res).await), "assignee_not_eligible");
    let res = app
        .set_assignee(&secretary, &id, Some(&first_id), None)
        .await;
    assert_eq!(res.status(), 200);
    let case = json_of(res).await;
    assert_eq!(case["assignee_id"], json!(first_id));
    // Another reviewer may not take it over, nor hand it on.
    let res = app.set_assignee(&second, &id, Some(&second_id), None).await;
    assert_eq!(
        (res.status().as_u16(), code(json_of(res).await)),
        (403, json!("assignment_not_allowed"))
    );
    // Reassigning needs a reason.
    let res = app
        .set_assignee(&secretary, &id, Some(&second_id), None)
        .await;
    assert_eq!(
        (res.status().as_u16(), code(json_of(res).await)),
        (422, json!("reason_required"))
    );
    let res = app
        .set_assignee(&secretary, &id, Some(&second_id), Some("Отпуск первого"))
        .await;
    assert_eq!(res.status(), 200);
    // The assignee releases it with a reason; then anyone of the subcommission claims it.
    let res = app.set_assignee(&second, &id, None, None).await;
    assert_eq!(res.status(), 422);
    let res = app
        .set_assignee(&second, &id, None, Some("Конфликт интересов"))
        .await;
    assert_eq!(res.status(), 200);
    let v = app.claim(&first, &id).await;
    // Each change is an audited event of the case with its reason; the refusals of a reviewer
    // are audited as denials.
    let events: Vec<Value> = {
        use accredo::store::schema::audit_events as ae;
        use diesel::prelude::*;
        let mut conn = app.state.store.conn().expect("conn");
        ae::table
            .filter(ae::case_id.eq(&id))
            .filter(ae::kind.eq("case.assigned"))
            .order(ae::id)
            .select(ae::payload)
            .load::<String>(&mut *conn)
            .expect("events")
            .iter()
            .map(|p| serde_json::from_str(p).expect("json"))
            .collect()
    };
    let summary: Vec<(Value, Value)> = events
        .iter()
        .map(|e| (e["action"].clone(), e["reason"].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (json!("assign"), Value::Null),
            (json!("reassign"), json!("Отпуск первого")),
            (json!("release"), json!("Конфликт интересов")),
            (json!("claim"), Value::Null),
        ]
    );
    assert_eq!(
        app.audit_count(),
        before + 4 + 1,
        "four changes and one denial"
    );

    // Nobody reviews their own application: a reviewer who applies does not see it in the
    // queue and cannot take it.
    let doctor = app.user("doctor", &[Role::Specialist, Role::Reviewer]);
    let doctor_id = app.user_id(&doctor).await;
    let (own, _) = app.submitted_case(&doctor).await;
    let (_, page) = queue(&app, &doctor, "").await;
    assert!(!ids(&page).contains(&own));
    let res = app
        .set_assignee(&doctor, &own, Some(&doctor_id), None)
        .await;
    assert_eq!(
        (res.status().as_u16(), code(json_of(res).await)),
        (403, json!("own_case"))
    );
    let res = app
        .set_assignee(&secretary, &own, Some(&doctor_id), None)
        .await;
    assert_eq!(
        (res.status().as_u16(), code(json_of(res).await)),
        (422, json!("own_case"))
    );

    // A decided case is not assigned any more; a draft is nobody's to see.
    let v = app
        .step(&secretary, &id, "start_review", v, json!({}))
        .await;
    app.step(&first, &id, "reject", v, rejection_body()).await;
    let res = app
        .set_assignee(&secretary, &id, Some(&second_id), Some("x"))
        .await;
    assert_eq!(
        (res.status().as_u16(), code(json_of(res).await)),
        (409, json!("case_not_assignable"))
    );
    let (draft, _) = app.create_case(&me, "periodic_accreditation").await;
    let res = app
        .set_assignee(&secretary, &draft, Some(&first_id), None)
        .await;
    assert_eq!(res.status(), 404);
}

async fn documents(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    json_of(
        app.get(&format!("/api/v1/cases/{id}/documents"), token)
            .await,
    )
    .await
    .as_array()
    .expect("documents")
    .clone()
}

async fn replace(app: &TestApp, token: &str, case: &str, doc: &str) -> (u16, Value) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(text_pdf()).file_name("new.pdf"),
    );
    let res = app
        .client
        .put(format!("{}/api/v1/cases/{case}/documents/{doc}", app.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("replace");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn readiness(app: &TestApp, token: &str, id: &str) -> Value {
    json_of(
        app.get(&format!("/api/v1/cases/{id}/readiness"), token)
            .await,
    )
    .await
}

#[tokio::test]
async fn the_revision_round_opens_only_what_the_commission_named() {
    let app = TestApp::spawn().await;
    let me = app.specialist("applicant");
    let secretary = app.user("secretary", &[Role::Secretary]);
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    let (id, v) = app.submitted_case(&me).await;
    app.step(&secretary, &id, "start_review", v, json!({}))
        .await;
    let v = app.claim(&reviewer, &id).await;
    let body = json!({
        "fixes": {
            "fields": [{"pointer": "/employment/position", "comment": "Укажите должность по штатному расписанию"}],
            "documents": [{"type": "identity_document", "comment": "Скан паспорта нечитаем"}]
        },
        "recommendations": "Проверьте остальные сканы"
    });
    let mut v = app.step(&reviewer, &id, "request_revision", v, body).await;
    // The signature made before anything changed.
    let stale = app.signed(&me, &id).await;

    // Three days on: the 48 hours for replacing a document are long over.
    app.clock.advance(chrono::Duration::days(3));
    let me = app.specialist("applicant");
    let report = readiness(&app, &me, &id).await;
    let round = &report["revision"];
    assert_eq!(round["recommendations"], "Проверьте остальные сканы");
    assert_eq!(
        round["fields"],
        json!([{"pointer": "/employment/position", "comment": "Укажите должность по штатному расписанию", "changed": false}])
    );
    assert_eq!(
        round["documents"][0]["label"],
        "Документ, удостоверяющий личность"
    );
    assert_eq!(round["all_changed"], false);

    // A field the commission did not name is refused, with the field; nothing is saved.
    let res = app
        .patch_form(&me, &id, v, json!({"applicant": {"phone": "+7 (912) 000-00-00"}, "employment": {"position": "Терапевт"}}))
        .await;
    assert_eq!(res.status(), 409);
    let body = json_of(res).await;
    assert_eq!(
        (body["code"].clone(), body["details"][0]["field"].clone()),
        (json!("field_not_requested"), json!("/applicant/phone"))
    );
    let res = app
        .patch_form(
            &me,
            &id,
            v,
            json!({"employment": {"position": "Врач-терапевт участковый, 1 ставка"}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    v += 1;

    // The named single-file document is replaced after 48 hours; another one is not.
    let docs = documents(&app, &me, &id).await;
    let of = |ty: &str| {
        docs.iter()
            .find(|d| d["type"] == ty || d["doc_type"] == ty)
            .and_then(|d| d["id"].as_str())
            .expect("document")
            .to_owned()
    };
    let (status, body) = replace(&app, &me, &id, &of("diploma")).await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("document_not_requested"))
    );
    let res = app
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/cases/{id}/documents/{}",
                of("accreditation_certificate")
            ),
            Some(&me),
            &[],
            None,
        )
        .await;
    assert_eq!(res.status(), 409);
    let (status, body) = replace(&app, &me, &id, &of("identity_document")).await;
    assert_eq!(status, 200, "{body}");
    v += 1;
    let report = readiness(&app, &me, &id).await;
    assert_eq!(report["revision"]["all_changed"], true, "{report}");

    // Resubmission needs a new signature over the new payload.
    let res = app.transition(&me, &id, "resubmit", v, stale).await;
    assert_eq!(res.status(), 422);
    let body = json_of(res).await;
    assert!(body.to_string().contains("signature_valid"), "{body}");
    let signed = app.signed(&me, &id).await;
    let v = app.step(&me, &id, "resubmit", v, signed).await;
    // Out of the round: nothing is editable any more, and the reviewer decides again.
    let res = app
        .patch_form(&me, &id, v, json!({"employment": {"position": "Терапевт"}}))
        .await;
    assert_eq!(res.status(), 409);
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    app.step(&reviewer, &id, "approve", v, json!({})).await;
    // Every step of the round moved the state and due date counters with the case.
    app.assert_counters_agree();
}

async fn post_message(app: &TestApp, token: &str, id: &str, body: Value) -> (u16, Value) {
    let res = app
        .call(
            Method::POST,
            &format!("/api/v1/cases/{id}/messages"),
            Some(token),
            &[],
            Some(body),
        )
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn inbox_subjects(app: &TestApp, token: &str) -> Vec<String> {
    let inbox = json_of(app.get("/api/v1/me/notifications", token).await).await;
    inbox["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["subject"].as_str().expect("subject").to_owned())
        .collect()
}

#[tokio::test]
async fn applicant_and_commission_write_to_each_other() {
    let app = TestApp::spawn().await;
    let me = app.specialist("applicant");
    let secretary = app.user("secretary", &[Role::Secretary]);
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    let surgeon = app.outsider("surgeon", &[Role::Reviewer]);
    let (draft, _) = app.create_case(&me, "periodic_accreditation").await;
    let (status, body) = post_message(&app, &me, &draft, json!({"body": "Вопрос"})).await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("messages_not_open"))
    );

    let (id, _) = app.submitted_case(&me).await;
    let number = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await["number"]
        .as_str()
        .expect("number")
        .to_owned();
    for (body, code) in [
        (json!({"body": "   "}), "invalid_message"),
        (
            json!({"body": "x", "attachments": ["nope"]}),
            "attachment_not_found",
        ),
    ] {
        let (status, res) = post_message(&app, &me, &id, body).await;
        assert_eq!((status, res["code"].clone()), (422, json!(code)));
    }
    // Unassigned: the applicant's message reaches the subcommission's secretary.
    let (status, mine) = post_message(
        &app,
        &me,
        &id,
        json!({"body": "Прошу уточнить срок рассмотрения"}),
    )
    .await;
    assert_eq!(status, 201, "{mine}");
    assert_eq!(
        (mine["side"].clone(), mine["mine"].clone()),
        (json!("applicant"), json!(true))
    );
    let wanted = format!("Новое сообщение по заявлению № {number}");
    assert!(inbox_subjects(&app, &secretary).await.contains(&wanted));

    // The assignee answers with one of the case's documents attached.
    app.claim(&reviewer, &id).await;
    let docs = json_of(
        app.get(&format!("/api/v1/cases/{id}/documents"), &reviewer)
            .await,
    )
    .await;
    let doc = docs[0]["id"].as_str().expect("doc").to_owned();
    let (status, answer) = post_message(
        &app,
        &reviewer,
        &id,
        json!({"body": "Срок — 10 рабочих дней; приложенный скан нечитаем", "attachments": [doc]}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert!(inbox_subjects(&app, &me).await.contains(&wanted));

    // The applicant sees the commission's role, not the member's name; the commission sees
    // who wrote.
    let thread = json_of(app.get(&format!("/api/v1/cases/{id}/messages"), &me).await).await;
    let authors: Vec<(Value, Value)> = thread
        .as_array()
        .expect("thread")
        .iter()
        .map(|m| (m["author"].clone(), m["mine"].clone()))
        .collect();
    assert_eq!(
        authors,
        [
            (json!("Пользователь applicant"), json!(true)),
            (json!("Аккредитационная подкомиссия"), json!(false)),
        ]
    );
    assert_eq!(thread[1]["attachments"], json!([doc]));
    let seen = json_of(
        app.get(&format!("/api/v1/cases/{id}/messages"), &reviewer)
            .await,
    )
    .await;
    assert_eq!(seen[1]["author"], "Пользователь reviewer");
    assert!(!thread.to_string().contains("Пользователь reviewer"));

    // Outside the case's subcommission the thread does not exist.
    assert_eq!(
        app.get(&format!("/api/v1/cases/{id}/messages"), &surgeon)
            .await
            .status(),
        404
    );
    let (status, _) = post_message(&app, &surgeon, &id, json!({"body": "x"})).await;
    assert_eq!(status, 404);

    // Each message is in the audit log (its text by hash), and the log verifies.
    let mut conn = app.state.store.conn().expect("conn");
    let report = accredo::audit::verify::run(&mut conn).expect("verify");
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    use accredo::store::schema::audit_events as ae;
    use diesel::prelude::*;
    let logged: Vec<String> = ae::table
        .filter(ae::chain.eq(format!("messages:{id}")))
        .order(ae::seq)
        .select(ae::payload)
        .load(&mut *conn)
        .expect("events");
    assert_eq!(logged.len(), 2);
    assert!(
        !logged[0].contains("уточнить"),
        "the text itself stays out of the log"
    );
}

async fn download(app: &TestApp, token: &str, path: &str) -> (u16, Vec<u8>) {
    let res = app.get(path, token).await;
    let status = res.status().as_u16();
    (status, res.bytes().await.expect("bytes").to_vec())
}

#[tokio::test]
async fn reports_export_the_queue_and_the_decisions_and_count_the_stages() {
    use calamine::{Data, Reader, Xlsx};
    // Monday 2 March 2026, 10:00 Moscow: three applications registered at once.
    let app = TestApp::spawn_at(crate::support::instant("2026-03-02T07:00:00Z")).await;
    let me = app.specialist("reported");
    let mut cases = Vec::new();
    for _ in 0..3 {
        cases.push(app.submitted_case(&me).await);
    }
    // Taken into review on Wednesday 4, Friday 6 and Wednesday 11 March (9 March is a holiday).
    for (i, day) in [
        "2026-03-04T09:00:00Z",
        "2026-03-06T09:00:00Z",
        "2026-03-11T09:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        let at = crate::support::instant(day);
        app.clock.advance(at - app.clock.now());
        let secretary = app.user("secretary", &[Role::Secretary]);
        let (id, v) = &cases[i];
        cases[i].1 = app
            .step(&secretary, id, "start_review", *v, json!({}))
            .await;
    }
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    let (a, b) = (cases[0].clone(), cases[1].clone());
    let v = app.claim(&reviewer, &a.0).await;
    app.step(&reviewer, &a.0, "reject", v, rejection_body())
        .await;
    let v = app.claim(&reviewer, &b.0).await;
    app.step(&reviewer, &b.0, "approve", v, json!({})).await;

    // Stage analytics by hand: the automatic check took, in working days,
    // [2 Mar, 4 Mar) = 2, [2 Mar, 6 Mar) = 4, [2 Mar, 11 Mar) = 6 (2-6 and 10 March) against
    // its norm of 5: median 4, 90th percentile 4 + 0.8 × (6 − 4) = 5.6, one of three breached.
    let stages = json_of(app.get("/api/v1/reports/stages", &reviewer).await).await;
    let submitted = stages
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["workflow"] == "periodic_accreditation" && s["state"] == "submitted")
        .expect("submitted stage")
        .clone();
    assert_eq!(
        submitted,
        json!({
            "workflow": "periodic_accreditation", "state": "submitted", "label": "В обработке",
            "count": 3, "median_working_days": 4.0, "p90_working_days": 5.6,
            "sla_min": 5, "sla_max": 5, "breached_share": 1.0 / 3.0,
        })
    );
    // The two decided reviews: [4 Mar, 11 Mar) = 4 and [6 Mar, 11 Mar) = 2 (9 March is off),
    // norm 10: median 3, none breached.
    let review = stages
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["state"] == "under_review")
        .expect("review stage");
    assert_eq!(
        (
            review["count"].clone(),
            review["median_working_days"].clone(),
            review["breached_share"].clone()
        ),
        (json!(2), json!(3.0), json!(0.0))
    );
    // The transitions recorded those steps as they ended; a rebuild from the audit log (what
    // the first start after the upgrade runs) computes the same rows.
    let recorded_steps = || {
        use accredo::store::schema::case_steps;
        use diesel::prelude::*;
        case_steps::table
            .order((case_steps::case_id, case_steps::seq))
            .select(accredo::store::steps::StepRow::as_select())
            .load(&mut *app.state.store.conn().expect("conn"))
            .expect("steps")
    };
    let recorded = recorded_steps();
    // Three drafts submitted, three automatic checks ended, two reviews decided.
    assert_eq!(recorded.len(), 8, "{recorded:?}");
    let rebuilt = accredo::store::write_tx(&mut app.state.store.conn().expect("conn"), |conn| {
        let calendar = accredo::service::calendar::load(conn, app.state.signing.intake)?;
        accredo::service::steps::rebuild(conn, &app.state.catalog, &calendar)
    })
    .expect("rebuild");
    assert_eq!(rebuilt, recorded.len());
    assert_eq!(recorded_steps(), recorded);

    // The queue as XLSX, read back with a library: the header and one row per case.
    let (status, xlsx) = download(&app, &reviewer, "/api/v1/reports/cases.xlsx").await;
    assert_eq!(status, 200);
    let mut book = Xlsx::new(std::io::Cursor::new(xlsx)).expect("xlsx");
    let sheet = book.worksheet_range("Заявления").expect("sheet");
    let rows: Vec<Vec<Data>> = sheet.rows().map(<[Data]>::to_vec).collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(rows[0][0], Data::String("Номер заявления".into()));
    assert_eq!(rows[0][6], Data::String("СНИЛС".into()));
    let numbers: Vec<String> = rows[1..].iter().map(|r| r[0].to_string()).collect();
    let me = app.specialist("reported");
    for (id, _) in &cases {
        let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
        assert!(numbers.contains(&case["number"].as_str().expect("n").to_owned()));
    }
    // The same filters as the queue: CSV of the cases still under review.
    let (status, csv) = download(
        &app,
        &reviewer,
        "/api/v1/reports/cases.csv?state=under_review",
    )
    .await;
    assert_eq!(status, 200);
    let text = String::from_utf8(csv).expect("utf-8");
    let text = text
        .strip_prefix('\u{feff}')
        .expect("a BOM for spreadsheets");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(text.as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(records.len(), 1);
    assert_eq!(&records[0][2], "На рассмотрении");

    // The decisions of March: a rejection with its reason and an approval.
    let (status, csv) = download(
        &app,
        &reviewer,
        "/api/v1/reports/decisions.csv?from=2026-03-01&to=2026-03-31",
    )
    .await;
    assert_eq!(status, 200);
    let text = String::from_utf8(csv).expect("utf-8");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let decisions: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            (r[2].to_owned(), r[6].to_owned())
        })
        .collect();
    assert_eq!(
        decisions,
        [
            (
                "Отказано".to_owned(),
                "Недостаточный стаж работы по специальности".to_owned()
            ),
            ("Одобрено".to_owned(), String::new()),
        ]
    );
    let (status, _) = download(
        &app,
        &reviewer,
        "/api/v1/reports/decisions.csv?from=2026-04-01&to=2026-03-01",
    )
    .await;
    assert_eq!(status, 422);

    // Another subcommission's member gets an empty table; the help desk none at all.
    let surgeon = app.outsider("surgeon", &[Role::Reviewer]);
    let (_, xlsx) = download(&app, &surgeon, "/api/v1/reports/cases.xlsx").await;
    let mut book = Xlsx::new(std::io::Cursor::new(xlsx)).expect("xlsx");
    assert_eq!(
        book.worksheet_range("Заявления")
            .expect("sheet")
            .rows()
            .count(),
        1
    );
    let support = app.outsider("helpdesk", &[Role::Support]);
    let (status, _) = download(&app, &support, "/api/v1/reports/cases.csv").await;
    assert_eq!(status, 403);
    app.assert_counters_agree();
}
