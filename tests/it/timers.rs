//! Durable timers: written in the commit of the transition entering a step, cancelled by the
//! one leaving it, fired exactly once by workers (in `serve`, or `accredo timers run-once`):
//! an expired revision window rejects the case, a breached deadline is escalated.

use crate::support::{TestApp, TestDb, instant, json_of, revision_body};
use accredo::domain::clock::Clock;
use accredo::domain::role::Role;
use accredo::service::timers::{self, Report};
use accredo::store::timers::{Timer, of_case};
use accredo::store::{DbConnection, DbTarget};
use chrono::Duration;
use serde_json::{Value, json};

fn fire(app: &TestApp) -> Report {
    let mut conn = app.state.store.conn().expect("conn");
    timers::drain(
        &mut conn,
        app.rules(),
        "test-worker",
        64,
        app.clock.as_ref(),
        100,
    )
    .expect("timers")
}

fn timers_of(app: &TestApp, id: &str) -> Vec<Timer> {
    of_case(&mut app.state.store.conn().expect("conn"), id).expect("timers")
}

fn summary(ts: &[Timer]) -> Vec<(String, String, String, String)> {
    ts.iter()
        .map(|t| {
            (
                t.scope.clone(),
                t.state.clone(),
                t.action.clone(),
                t.status.clone(),
            )
        })
        .collect()
}

fn s(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
    (a.into(), b.into(), c.into(), d.into())
}

async fn case(app: &TestApp, token: &str, id: &str) -> Value {
    json_of(app.get(&format!("/api/v1/cases/{id}"), token).await).await
}

fn events_of(app: &TestApp, id: &str, kind: &str) -> Vec<Value> {
    use accredo::store::schema::audit_events as ae;
    use diesel::prelude::*;
    let mut conn = app.state.store.conn().expect("conn");
    ae::table
        .filter(ae::case_id.eq(id))
        .filter(ae::kind.eq(kind))
        .order(ae::seq)
        .select(ae::payload)
        .load::<String>(&mut *conn)
        .expect("events")
        .iter()
        .map(|p| serde_json::from_str(p).expect("payload"))
        .collect()
}

#[tokio::test]
async fn timers_start_with_the_step_and_are_cancelled_when_it_ends() {
    // Monday 2 March 2026, 10:00 Moscow.
    let app = TestApp::spawn_at(instant("2026-03-02T07:00:00Z")).await;
    let me = app.specialist("timer-applicant");
    let secretary = app.user("timer-secretary", &[Role::Secretary]);
    let reviewer = app.user("timer-reviewer", &[Role::Reviewer]);
    let (id, v) = app.submitted_case(&me).await;
    let ts = timers_of(&app, &id);
    // The submission's own effects run before the entered state's: the procedure's timer
    // first, then the step's.
    assert_eq!(
        summary(&ts),
        [
            s("procedure", "submitted", "escalate", "pending"),
            s("step", "submitted", "escalate", "pending"),
        ]
    );
    // Due when the due day is over in Moscow: the automatic check takes 5 working days (8
    // March falls on a Sunday, so Monday 9 March is off): due Tuesday 10 March.
    let c = case(&app, &me, &id).await;
    assert_eq!(c["due_on"], "2026-03-10", "{c}");
    assert_eq!(ts[1].due_at.and_utc(), instant("2026-03-10T21:00:00Z"));
    // The whole procedure: 20 working days from registration.
    assert_eq!(c["procedure_due_on"], "2026-03-31", "{c}");
    assert_eq!(c["procedure_due_provisional"], false);
    assert_eq!(ts[0].due_at.and_utc(), instant("2026-03-31T21:00:00Z"));

    app.step(&secretary, &id, "start_review", v, json!({}))
        .await;
    assert_eq!(
        summary(&timers_of(&app, &id)),
        [
            s("procedure", "submitted", "escalate", "pending"),
            s("step", "submitted", "escalate", "cancelled"),
            s("step", "under_review", "escalate", "pending"),
        ]
    );
    // A decision ends the procedure: nothing stays pending.
    let v = app.claim(&reviewer, &id).await;
    app.step(&reviewer, &id, "approve", v, json!({})).await;
    let ts = timers_of(&app, &id);
    assert!(ts.iter().all(|t| t.status == "cancelled"), "{ts:?}");
    // Nothing due later either.
    app.clock.advance(Duration::days(60));
    assert_eq!(fire(&app), Report::default());
}

#[tokio::test]
async fn an_expired_revision_window_rejects_the_case_once() {
    // Thursday 23 April 2026, 12:00 Moscow: the 5 working days of the revision window are
    // 24, 27, 28, 29 and 30 April (the weekend of 25-26 April does not count).
    let app = TestApp::spawn_at(instant("2026-04-23T09:00:00Z")).await;
    let me = app.specialist("expire-applicant");
    let reviewer = app.user("expire-reviewer", &[Role::Reviewer]);
    let (id, _) = app
        .case_in_revision(&me, &reviewer, "Приложите копию диплома")
        .await;
    let c = case(&app, &me, &id).await;
    assert_eq!(c["state"], "needs_revision");
    assert_eq!(c["due_on"], "2026-04-30", "{c}");
    let revision = timers_of(&app, &id)
        .into_iter()
        .find(|t| t.state == "needs_revision")
        .expect("revision timer");
    assert_eq!(
        (revision.action.as_str(), revision.transition.as_deref()),
        ("transition", Some("expire"))
    );

    // On the last day of the window nothing happens.
    app.clock.set(instant("2026-04-30T20:59:59Z"));
    assert_eq!(fire(&app).fired, 0);
    // Once it is over the case is rejected with the reason, by the system, 2 seconds late.
    app.clock.set(instant("2026-04-30T21:00:02Z"));
    let r = fire(&app);
    assert_eq!((r.fired, r.failed, r.stale), (1, 0, 0), "{r:?}");
    let me = app.specialist("expire-applicant");
    let c = case(&app, &me, &id).await;
    assert_eq!(c["state"], "rejected", "{c}");
    assert_eq!(c["state_label"], "Отклонено");
    let history = json_of(app.get(&format!("/api/v1/cases/{id}/history"), &me).await).await;
    let last = history.as_array().expect("history").last().expect("entry");
    assert_eq!(last["transition"], "expire", "{last}");
    assert_eq!(last["reason"], "срок доработки истёк");
    assert_eq!(last["actor_id"], Value::Null, "the system acted");
    let ts = timers_of(&app, &id);
    let fired = ts.iter().find(|t| t.id == revision.id).expect("timer");
    assert_eq!(fired.status, "fired");
    assert_eq!(fired.lateness_ms, Some(2_000));
    assert_eq!(fired.outcome.as_deref(), Some("transition:expire"));
    // The procedure's timer went with the final state; firing again does nothing.
    assert!(ts.iter().all(|t| t.status != "pending"), "{ts:?}");
    app.clock.advance(Duration::days(40));
    assert_eq!(fire(&app), Report::default());
    let expired = events_of(&app, &id, "case.transition")
        .into_iter()
        .filter(|e| e["transition"] == "expire")
        .count();
    assert_eq!(expired, 1);
    // The audit chain of the case still verifies.
    let report =
        accredo::audit::verify::run(&mut app.state.store.conn().expect("conn")).expect("verify");
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[tokio::test]
async fn a_resubmission_in_time_cancels_the_revision_timer() {
    let app = TestApp::spawn_at(instant("2026-03-02T07:00:00Z")).await;
    let me = app.specialist("resubmit-applicant");
    let reviewer = app.user("resubmit-reviewer", &[Role::Reviewer]);
    let (id, v) = app.case_in_revision(&me, &reviewer, "Уточните стаж").await;
    let signed = app.signed(&me, &id).await;
    app.step(&me, &id, "resubmit", v, signed).await;
    app.clock.advance(Duration::days(10));
    let r = fire(&app);
    // The review after resubmission (3 working days) is breached and escalated, nothing else.
    assert_eq!((r.fired, r.failed, r.stale), (1, 0, 0), "{r:?}");
    let me = app.specialist("resubmit-applicant");
    assert_eq!(case(&app, &me, &id).await["state"], "under_review");
    let revision: Vec<Timer> = timers_of(&app, &id)
        .into_iter()
        .filter(|t| t.state == "needs_revision")
        .collect();
    assert_eq!(revision.len(), 1);
    assert_eq!(revision[0].status, "cancelled");
}

#[tokio::test]
async fn a_breached_deadline_is_flagged_audited_and_cleared_by_the_next_step() {
    let app = TestApp::spawn_at(instant("2026-03-02T07:00:00Z")).await;
    let me = app.specialist("breach-applicant");
    let (id, v) = app.submitted_case(&me).await;
    // The automatic check was due by 10 March; on 11 March at 00:00:30 Moscow it is breached.
    app.clock.set(instant("2026-03-10T21:00:30Z"));
    let secretary = app.user("breach-secretary", &[Role::Secretary]);
    let r = fire(&app);
    assert_eq!(r.fired, 1, "{r:?}");
    // The secretaries are told in the cabinet; the applicant is not.
    let told = json_of(app.get("/api/v1/me/notifications", &secretary).await).await;
    assert_eq!(told["unread"], 1, "{told}");
    assert_eq!(told["items"][0]["event"], "deadline_breached");
    assert_eq!(
        told["items"][0]["subject"],
        "Просрочен срок: заявление № 2026-77-000001"
    );
    assert_eq!(
        told["items"][0]["body"],
        "Истёк срок шага «В обработке» по заявлению «Периодическая аккредитация специалиста» \
         № 2026-77-000001 (последний день — 10.03.2026). Заявление ещё не рассмотрено: примите \
         меры."
    );
    let me = app.specialist("breach-applicant");
    let mine = json_of(app.get("/api/v1/me/notifications", &me).await).await;
    assert!(
        mine["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|n| n["event"] != "deadline_breached"),
        "{mine}"
    );
    let c = case(&app, &me, &id).await;
    assert_eq!(c["state"], "submitted", "escalation does not move the case");
    assert_eq!(c["breached_at"], "2026-03-10T21:00:30Z", "{c}");
    assert_eq!(c["overdue"], true);
    assert_eq!(c["procedure_breached_at"], Value::Null);
    // The escalation changed the case: its version moved on.
    assert_eq!(c["version"], v + 1);
    let events = events_of(&app, &id, "case.deadline_breached");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["scope"], "step");
    assert_eq!(events[0]["state"], "submitted");
    assert_eq!(events[0]["due_on"], "2026-03-10");
    assert_eq!(events[0]["timer"]["lateness_ms"], 30_000);

    // The next step starts clean.
    app.step(&secretary, &id, "start_review", v + 1, json!({}))
        .await;
    let c = case(&app, &me, &id).await;
    assert_eq!(c["breached_at"], Value::Null, "{c}");
    // The whole procedure (due 31 March) is escalated when it passes.
    app.clock.set(instant("2026-04-01T06:00:00Z"));
    let me = app.specialist("breach-applicant");
    fire(&app);
    let c = case(&app, &me, &id).await;
    assert_eq!(c["procedure_breached_at"], "2026-04-01T06:00:00Z", "{c}");
    let scopes: Vec<Value> = events_of(&app, &id, "case.deadline_breached")
        .into_iter()
        .map(|e| e["scope"].clone())
        .collect();
    // The review step (due 24 March) and the procedure, each once.
    assert_eq!(scopes, [json!("step"), json!("step"), json!("procedure")]);
}

/// Inserts `n` cases waiting in `needs_revision` with an `expire` timer due at `due`, in
/// creation order.
fn seed_due_timers(app: &TestApp, n: usize, due: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    seed_timers(
        app,
        n,
        due,
        "needs_revision",
        Some(("expire", "срок доработки истёк")),
    )
}

/// Inserts `n` cases in `state` with a step timer due at `due` that runs `run` (a transition
/// and its reason), or escalates without one.
fn seed_timers(
    app: &TestApp,
    n: usize,
    due: chrono::DateTime<chrono::Utc>,
    state: &str,
    run: Option<(&str, &str)>,
) -> Vec<String> {
    use accredo::store::schema::{cases, timers};
    use diesel::prelude::*;
    let me = app.specialist("race-applicant");
    let (template, _) = futures_lite_block(app.create_case(&me, "periodic_accreditation"));
    let mut conn = app.state.store.conn().expect("conn");
    let row = accredo::store::cases::find(&mut conn, &template)
        .expect("find")
        .expect("case");
    let at = app.clock.now().naive_utc();
    let mut ids = Vec::new();
    for i in 0..n {
        let id = accredo::domain::ids::uuid_v7(app.clock.now()).to_string();
        let mut c = row.clone();
        c.id.clone_from(&id);
        c.state = state.into();
        c.submitted_at = Some(at);
        c.specialty = Some(crate::support::SPECIALTY.into());
        c.audit_seq = 0;
        c.audit_head = accredo::audit::chain::GENESIS.into();
        diesel::insert_into(cases::table)
            .values(&c)
            .execute(&mut *conn)
            .expect("case");
        diesel::insert_into(timers::table)
            .values(&accredo::store::commit::NewTimer {
                id: format!("t-{i:05}-{id}"),
                case_id: id.clone(),
                scope: "step".into(),
                action: if run.is_some() {
                    "transition"
                } else {
                    "escalate"
                }
                .into(),
                transition: run.map(|(t, _)| t.to_owned()),
                reason: run.map(|(_, r)| r.to_owned()),
                state: state.into(),
                due_at: due.naive_utc(),
                status: "pending".into(),
                created_at: at,
            })
            .execute(&mut *conn)
            .expect("timer");
        ids.push(id);
    }
    ids
}

fn futures_lite_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// Runs `work` as another worker instance: on a thread of its own, with its own connection
/// and the app's rules.
fn on_worker_thread<T: Send + 'static>(
    app: &TestApp,
    work: impl FnOnce(&mut DbConnection, accredo::service::Rules<'_>) -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let (db, catalog, signing, notices) = (
        app.db.clone(),
        app.state.catalog.clone(),
        app.state.signing.clone(),
        app.state.notices.clone(),
    );
    std::thread::spawn(move || {
        let mut conn = connect(&db);
        let rules = accredo::service::Rules {
            catalog: &catalog,
            signing: &signing,
            notices: &notices,
        };
        work(&mut conn, rules)
    })
}

fn connect(db: &TestDb) -> DbConnection {
    DbTarget::parse(&db.url)
        .expect("url")
        .connect()
        .expect("conn")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_racing_for_1000_timers_fire_each_once() {
    let app = TestApp::spawn_at(instant("2026-03-02T07:00:00Z")).await;
    let ids = seed_due_timers(&app, 1_000, instant("2026-03-02T06:00:00Z"));
    let now = app.clock.now();
    let workers: Vec<_> = ["worker-a", "worker-b"]
        .into_iter()
        .map(|name| {
            let clock = accredo::domain::clock::ManualClock::new(now);
            on_worker_thread(&app, move |conn, rules| {
                let mut total = Report::default();
                loop {
                    let r = timers::run_due(conn, rules, name, 16, &clock).expect("pass");
                    total += r;
                    let (pending, _) =
                        accredo::store::timers::pending(conn, now.naive_utc()).expect("n");
                    if pending == 0 {
                        break total;
                    }
                }
            })
        })
        .collect();
    let reports: Vec<Report> = workers
        .into_iter()
        .map(|w| w.join().expect("worker"))
        .collect();
    let fired: usize = reports.iter().map(|r| r.fired).sum();
    assert_eq!(fired, 1_000, "{reports:?}");
    assert!(
        reports.iter().all(|r| r.failed == 0 && r.stale == 0),
        "{reports:?}"
    );
    // Each case moved once: one audit event, version 2, rejected.
    use accredo::store::schema::{audit_events as ae, cases};
    use diesel::prelude::*;
    let mut conn = app.state.store.conn().expect("conn");
    let events: i64 = ae::table
        .filter(ae::kind.eq("case.transition"))
        .filter(ae::case_id.eq_any(&ids))
        .count()
        .get_result(&mut *conn)
        .expect("count");
    assert_eq!(events, 1_000);
    let moved: i64 = cases::table
        .filter(cases::id.eq_any(&ids))
        .filter(cases::state.eq("rejected"))
        .filter(cases::version.eq(2))
        .count()
        .get_result(&mut *conn)
        .expect("count");
    assert_eq!(moved, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_dies_between_claim_and_commit_leaves_its_timers_due() {
    let app = TestApp::spawn_at(instant("2026-03-02T07:00:00Z")).await;
    let ids = seed_due_timers(&app, 3, instant("2026-03-02T06:00:00Z"));
    let now = app.clock.now();
    let pass = |at: chrono::DateTime<chrono::Utc>| {
        let mut conn = app.state.store.conn().expect("conn");
        let clock = accredo::domain::clock::ManualClock::new(at);
        timers::run_due(&mut conn, app.rules(), "survivor", 64, &clock).expect("pass")
    };
    // A worker claims the timers the way `run_due` does, then its process dies before it
    // fires them: its connection is gone, its lease stays.
    let mut dying = connect(&app.db);
    let until = (now + timers::LEASE).naive_utc();
    let claimed = accredo::store::timers::claim(&mut dying, "dying", now.naive_utc(), until, 64)
        .expect("claim");
    assert_eq!(claimed.len(), 3);
    drop(dying);
    // Its lease holds them until it runs out, so no other worker fires them twice...
    assert_eq!(pass(now + Duration::seconds(59)).claimed, 0);
    // ...then they are due again and fire.
    assert_eq!(pass(now + Duration::seconds(61)).fired, 3);
    let me = app.specialist("race-applicant");
    for id in &ids {
        assert_eq!(case(&app, &me, id).await["state"], "rejected");
    }
}

/// The server's own worker: timers that fell due while no instance ran fire when one starts.
#[tokio::test]
async fn a_timer_due_while_every_instance_was_down_fires_on_the_next_start() {
    use std::process::Stdio;
    // Back in 2024, so that it is due by the wall clock the server runs on.
    let app = TestApp::spawn_at(instant("2024-03-04T07:00:00Z")).await;
    let me = app.specialist("downtime-applicant");
    let reviewer = app.user("downtime-reviewer", &[Role::Reviewer]);
    let (id, _) = app
        .case_in_revision(&me, &reviewer, "Приложите справку")
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let mut child = crate::support::accredo_command(&app.db.url)
        .args(["serve", "--bind", "127.0.0.1:0", "--checkpoint-secs", "0"])
        .args(["--timer-poll-ms", "100"])
        .env("ACCREDO_DOCUMENTS_DIR", dir.path().join("documents"))
        .env("ACCREDO_SESSION_KEY_FILE", dir.path().join("session.key"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let state = loop {
        let mut conn = app.state.store.conn().expect("conn");
        let c = accredo::store::cases::find(&mut conn, &id)
            .expect("find")
            .expect("case");
        if c.state != "needs_revision" || std::time::Instant::now() > deadline {
            break c.state;
        }
        drop(conn);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(state, "rejected");
    let t = timers_of(&app, &id)
        .into_iter()
        .find(|t| t.state == "needs_revision")
        .expect("timer");
    assert_eq!(t.status, "fired");
    // Stored lateness: the whole downtime, months of it.
    assert!(
        t.lateness_ms.expect("lateness") > 30 * 24 * 3_600_000,
        "{t:?}"
    );
}

#[tokio::test]
async fn timers_run_once_fires_what_is_due_for_cron() {
    let app = TestApp::spawn_at(instant("2024-03-04T07:00:00Z")).await;
    let me = app.specialist("cron-applicant");
    let reviewer = app.user("cron-reviewer", &[Role::Reviewer]);
    let (id, _) = app
        .case_in_revision(&me, &reviewer, "Приложите справку")
        .await;
    let run = |args: &[&str]| {
        let out = crate::support::accredo_command(&app.db.url)
            .args(args)
            .output()
            .expect("run");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // By the wall clock every timer of the case is long due: revision and procedure.
    assert_eq!(
        run(&["timers", "status"]).trim(),
        "timers: 2 pending, 2 due now"
    );
    assert_eq!(
        run(&["timers", "run-once"]).trim(),
        "timers: 1 fired, 0 stale, 0 refused"
    );
    let me = app.specialist("cron-applicant");
    assert_eq!(case(&app, &me, &id).await["state"], "rejected");
    assert_eq!(
        run(&["timers", "status"]).trim(),
        "timers: 0 pending, 0 due now"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_that_cannot_fire_is_retried_with_backoff_without_holding_up_the_others() {
    use accredo::store::schema::cases;
    use diesel::prelude::*;
    let app = TestApp::spawn_at(instant("2026-03-02T07:00:00Z")).await;
    let ids = seed_due_timers(&app, 3, instant("2026-03-02T06:00:00Z"));
    // The earliest timer's case is broken: its form is not JSON, so its firing fails.
    diesel::update(cases::table.find(&ids[0]))
        .set(cases::form_data.eq("{not json"))
        .execute(&mut *app.state.store.conn().expect("conn"))
        .expect("break");
    let r = fire(&app);
    assert_eq!((r.fired, r.retried, r.failed), (2, 1, 0), "{r:?}");
    let t = timers_of(&app, &ids[0]).remove(0);
    assert_eq!((t.status.as_str(), t.attempts), ("pending", 1));
    assert!(
        t.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("form of case"),
        "{t:?}"
    );
    // Not again before its backoff (1–2 s) has passed; then again, and so on until given up.
    assert_eq!(fire(&app).claimed, 0);
    for _ in 1..timers::MAX_ATTEMPTS {
        app.clock.advance(Duration::hours(1));
        assert_eq!(fire(&app).claimed, 1);
    }
    let t = timers_of(&app, &ids[0]).remove(0);
    assert_eq!(t.status, "failed", "{t:?}");
    assert_eq!(t.attempts, timers::MAX_ATTEMPTS);
    assert!(
        t.outcome
            .as_deref()
            .unwrap_or_default()
            .starts_with("error: "),
        "{t:?}"
    );
    app.clock.advance(Duration::hours(1));
    assert_eq!(fire(&app), Report::default());
}

/// A worker escalating breached reviews while reviewers act on the same cases: each case either
/// is escalated first (and the reviewer, holding the old version, is told of the conflict) or
/// is returned for revision first (and its timer is cancelled); nobody waits on anybody in an
/// order that could deadlock, nothing fails, nothing happens twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_and_reviewers_on_the_same_cases_never_deadlock() {
    use accredo::store::schema::audit_events as ae;
    use diesel::prelude::*;
    let app = TestApp::spawn_at(instant("2026-03-02T07:00:00Z")).await;
    let ids = seed_timers(
        &app,
        200,
        instant("2026-03-02T06:00:00Z"),
        "under_review",
        None,
    );
    let reviewer = app.user("race-reviewer", &[Role::Reviewer]);
    {
        // Every case is the reviewer's to decide.
        use accredo::store::schema::cases;
        let me = app.user_id(&reviewer).await;
        let mut conn = app.state.store.conn().expect("conn");
        diesel::update(cases::table.filter(cases::id.eq_any(&ids)))
            .set(cases::assignee_id.eq(me))
            .execute(&mut *conn)
            .expect("assign");
    }
    let now = app.clock.now();
    let worker = {
        on_worker_thread(&app, move |conn, rules| {
            let clock = accredo::domain::clock::ManualClock::new(now);
            let mut total = Report::default();
            loop {
                let r = timers::run_due(conn, rules, "worker", 8, &clock).expect("pass");
                total += r;
                if r.claimed == 0 {
                    break total;
                }
            }
        })
    };
    let mut statuses = Vec::new();
    for chunk in ids.chunks(20) {
        let requests = chunk.iter().map(|id| {
            app.transition(
                &reviewer,
                id,
                "request_revision",
                1,
                revision_body("Уточните стаж"),
            )
        });
        for res in futures::future::join_all(requests).await {
            statuses.push(res.status().as_u16());
        }
    }
    let report = tokio::task::spawn_blocking(move || worker.join().expect("worker"))
        .await
        .expect("join");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(
        (report.failed, report.retried, report.stale),
        (0, 0, 0),
        "{report:?}"
    );
    let revised = statuses.iter().filter(|s| **s == 200).count();
    // Every case had exactly one of the two first.
    assert_eq!(revised + report.fired, 200, "{report:?} {statuses:?}");
    let mut conn = app.state.store.conn().expect("conn");
    let breached: i64 = ae::table
        .filter(ae::kind.eq("case.deadline_breached"))
        .filter(ae::case_id.eq_any(&ids))
        .count()
        .get_result(&mut *conn)
        .expect("count");
    assert_eq!(usize::try_from(breached).expect("n"), report.fired);
}

/// A step whose norm is in working hours: a filing on Friday 20 February 2026 at 17:55, before
/// the Monday holiday, with one working hour to go is due on Tuesday at 09:55, and its timer
/// fires then and not a minute before.
#[tokio::test]
async fn a_deadline_in_working_hours_skips_the_weekend_and_the_holiday() {
    let dir = tempfile::tempdir().expect("dir");
    let workflows = crate::support::repo().join("workflows");
    for name in ["periodic_accreditation.yaml", "primary_accreditation.yaml"] {
        let yaml = std::fs::read_to_string(workflows.join(name)).expect("yaml");
        let yaml = if name.starts_with("periodic") {
            // The first state with a norm is `submitted`.
            yaml.replacen("sla_working_days: 5", "sla_working_hours: 1", 1)
        } else {
            yaml
        };
        std::fs::write(dir.path().join(name), yaml).expect("write");
    }
    let app = TestApp::spawn_on_at(
        std::sync::Arc::new(TestDb::new()),
        dir.path(),
        instant("2026-02-20T14:55:00Z"),
    )
    .await;
    let me = app.specialist("hours-applicant");
    let (id, _) = app.submitted_case(&me).await;
    let c = case(&app, &me, &id).await;
    assert_eq!(c["due_on"], "2026-02-24", "{c}");
    let step_timer = |app: &TestApp| -> Timer {
        let mut conn = app.state.store.conn().expect("conn");
        of_case(&mut conn, &id)
            .expect("timers")
            .into_iter()
            .find(|t| t.scope == "step")
            .expect("step timer")
    };
    assert_eq!(
        step_timer(&app).due_at,
        instant("2026-02-24T06:55:00Z").naive_utc(),
        "09:55 Moscow"
    );
    app.clock.set(instant("2026-02-24T06:54:30Z"));
    fire(&app);
    assert_eq!(step_timer(&app).status, "pending");
    app.clock.set(instant("2026-02-24T06:55:30Z"));
    let r = fire(&app);
    assert_eq!(r.fired, 1, "{r:?}");
    // Four days on, the morning's session has expired: a fresh one.
    let me = app.specialist("hours-applicant");
    let c = case(&app, &me, &id).await;
    assert_eq!(c["breached_at"], "2026-02-24T06:55:30Z", "{c}");
}
