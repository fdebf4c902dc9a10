//! Register sync from the register's paged API, served by a test server in the test: every
//! page with the bearer token, the per-minute budget, Retry-After and backoff, a refused
//! token, and resuming an interrupted run (failed, or its process gone) from the last
//! committed page.

use crate::support::TestDb;
use accredo::domain::clock::SystemClock;
use accredo::registry::api::ApiSource;
use accredo::registry::sync::{self, Plan, Summary, SyncError};
use accredo::store::registry as rows;
use accredo::store::{DbConnection, migrate};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use diesel::prelude::*;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "register-token";

/// A scripted answer served instead of a page.
#[derive(Debug, Clone, Copy)]
struct Fault {
    status: u16,
    retry_after: Option<&'static str>,
}

#[derive(Debug, Default)]
struct Register {
    people: Mutex<Vec<Value>>,
    /// Each request: offset, when, status answered.
    log: Mutex<Vec<(i64, Instant, u16)>>,
    /// Answers to give at an offset before serving it.
    faults: Mutex<HashMap<i64, VecDeque<Fault>>>,
    /// Offsets from here on answer 500 (an outage).
    down_from: Mutex<Option<i64>>,
}

impl Register {
    fn answered(&self, offset: i64, status: u16) {
        self.log
            .lock()
            .expect("log")
            .push((offset, Instant::now(), status));
    }

    fn requests(&self) -> Vec<(i64, Instant, u16)> {
        self.log.lock().expect("log").clone()
    }
}

async fn list(req: HttpRequest, reg: web::Data<Arc<Register>>) -> HttpResponse {
    let query: HashMap<String, String> =
        web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default();
    let offset: i64 = query
        .get("offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    let limit: usize = query.get("limit").and_then(|v| v.parse().ok()).unwrap_or(0);
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        reg.answered(offset, 401);
        return HttpResponse::Unauthorized().finish();
    }
    if offset < 0 || limit == 0 || limit > 100 {
        reg.answered(offset, 400);
        return HttpResponse::BadRequest().finish();
    }
    let fault = reg
        .faults
        .lock()
        .expect("faults")
        .get_mut(&offset)
        .and_then(VecDeque::pop_front);
    if let Some(f) = fault {
        reg.answered(offset, f.status);
        let mut res =
            HttpResponse::build(actix_web::http::StatusCode::from_u16(f.status).expect("status"));
        if let Some(after) = f.retry_after {
            res.insert_header(("Retry-After", after));
        }
        return res.finish();
    }
    if reg
        .down_from
        .lock()
        .expect("down")
        .is_some_and(|from| offset >= from)
    {
        reg.answered(offset, 500);
        return HttpResponse::InternalServerError().finish();
    }
    let people = reg.people.lock().expect("people");
    let start = usize::try_from(offset).expect("offset").min(people.len());
    let end = (start + limit).min(people.len());
    reg.answered(offset, 200);
    HttpResponse::Ok().json(json!({"total": people.len(), "items": &people[start..end]}))
}

/// Starts the test register; returns it and its base address.
fn serve(people: Vec<Value>) -> (Arc<Register>, url::Url) {
    let reg = Arc::new(Register {
        people: Mutex::new(people),
        ..Register::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}/api/", listener.local_addr().expect("addr"));
    let data = web::Data::new(reg.clone());
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .route("/api/person/list", web::get().to(list))
            })
            .workers(1)
            .listen(listener)
            .expect("listen")
            .run();
            let _ = server.await;
        })
    });
    (reg, base.parse().expect("url"))
}

fn person(i: u32) -> Value {
    json!({
        "register_id": format!("api-{i}"),
        "snils": format!("{:09}00", i),
        "last_name": "Смирнова",
        "first_name": "Анна",
        "birth_date": "1979-03-02",
    })
}

fn source(base: &url::Url) -> ApiSource {
    ApiSource {
        per_minute: 6_000,
        max_attempts: 3,
        backoff: Duration::from_millis(10),
        ..ApiSource::new(base.clone(), Some(TOKEN.into()))
    }
}

fn db() -> (TestDb, DbConnection) {
    let db = TestDb::new();
    let mut conn = db.conn();
    migrate::run_pending(&mut conn).expect("migrate");
    (db, conn)
}

fn sync_api(conn: &mut DbConnection, src: &ApiSource, full: bool) -> Result<Summary, SyncError> {
    let name = src.name();
    let plan = Plan {
        source: &name,
        full,
        resumable: true,
    };
    sync::run(
        conn,
        &SystemClock,
        plan,
        |from, emit| src.produce(from, emit),
        |_| {},
    )
}

#[test]
fn api_sync_reads_every_page_with_the_token_within_the_budget() {
    let mut people: Vec<Value> = (1..=250).map(person).collect();
    people[120]["snils"] = json!("112-233-445 96");
    let (reg, base) = serve(people);
    let (_db, mut conn) = db();
    let src = ApiSource {
        per_minute: 600,
        ..source(&base)
    };
    let s = sync_api(&mut conn, &src, false).expect("sync");
    assert_eq!(
        (s.counts.read, s.counts.inserted, s.counts.rejected),
        (250, 249, 1)
    );
    assert_eq!(
        (s.rejections[0].line, s.rejections[0].code.as_str()),
        (121, "invalid_snils"),
        "a bad record is named by its position in the register"
    );
    let log = reg.requests();
    let offsets: Vec<i64> = log.iter().map(|(o, _, _)| *o).collect();
    assert_eq!(
        offsets,
        [0, 100, 200],
        "pages of 100, the last one short ends the run"
    );
    assert!(log.iter().all(|(_, _, status)| *status == 200));
    // 600 a minute means sends 100 ms apart. Arrival times at the register jitter with the
    // machine's load (a delayed first request shortens the next gap), so each gap is checked
    // loosely and the whole span strictly; without pacing they would be a few ms apart.
    for pair in log.windows(2) {
        let gap = pair[1].1 - pair[0].1;
        assert!(
            gap >= Duration::from_millis(50),
            "600 a minute means 100 ms apart, got {gap:?}"
        );
    }
    let span = log[log.len() - 1].1 - log[0].1;
    assert!(
        span >= Duration::from_millis(150),
        "three requests at 600 a minute span 200 ms (less arrival jitter), got {span:?}"
    );

    // Idempotent: the same register again changes nothing.
    let again = sync_api(&mut conn, &src, false).expect("again");
    assert_eq!(
        (
            again.counts.inserted,
            again.counts.updated,
            again.counts.unchanged
        ),
        (0, 0, 249)
    );
    assert_ne!(again.run, s.run, "a finished run is not resumed");
}

#[test]
fn retry_after_and_transient_failures_are_retried() {
    let (reg, base) = serve((1..=150).map(person).collect());
    reg.faults.lock().expect("faults").insert(
        100,
        VecDeque::from([
            Fault {
                status: 429,
                retry_after: Some("1"),
            },
            Fault {
                status: 500,
                retry_after: None,
            },
            Fault {
                status: 503,
                retry_after: None,
            },
        ]),
    );
    let (_db, mut conn) = db();
    let src = ApiSource {
        max_attempts: 4,
        ..source(&base)
    };
    let s = sync_api(&mut conn, &src, false).expect("sync");
    assert_eq!(s.counts.inserted, 150);
    let log = reg.requests();
    let at_100: Vec<&(i64, Instant, u16)> = log.iter().filter(|(o, _, _)| *o == 100).collect();
    let statuses: Vec<u16> = at_100.iter().map(|(_, _, s)| *s).collect();
    assert_eq!(statuses, [429, 500, 503, 200]);
    let waited = at_100[1].1 - at_100[0].1;
    assert!(
        waited >= Duration::from_millis(990),
        "Retry-After: 1 honoured, waited {waited:?}"
    );
}

#[test]
fn a_refused_token_stops_the_run_and_writes_nothing() {
    let (reg, base) = serve((1..=10).map(person).collect());
    let (_db, mut conn) = db();
    let src = ApiSource {
        token: Some("wrong".into()),
        ..source(&base)
    };
    let err = sync_api(&mut conn, &src, false).expect_err("refused");
    assert!(
        matches!(&err, SyncError::Source(m) if m.contains("refused the token")),
        "{err}"
    );
    assert_eq!(reg.requests().len(), 1, "a refused token is not retried");
    let runs = rows::runs(&mut conn, 1).expect("runs");
    assert_eq!((runs[0].status.as_str(), runs[0].inserted), ("failed", 0));
    assert!(
        runs[0].report.contains("refused the token"),
        "{}",
        runs[0].report
    );
}

#[test]
fn an_interrupted_run_resumes_from_the_last_committed_page() {
    let (reg, base) = serve((1..=500).map(person).collect());
    let (_db, mut conn) = db();
    // Someone the register no longer has: the full run must mark them removed at the end,
    // however many times it was interrupted.
    let gone = json!({"register_id": "gone", "snils": "000000999 00", "last_name": "Прежняя",
                      "first_name": "Анна", "birth_date": "1970-01-01"})
    .to_string();
    sync::from_json_lines(
        &mut conn,
        &SystemClock,
        "old export",
        gone.as_bytes(),
        false,
        |_| {},
    )
    .expect("seed");

    // An outage from offset 200: the run fails after its attempts, with two pages committed.
    *reg.down_from.lock().expect("down") = Some(200);
    let src = source(&base);
    let err = sync_api(&mut conn, &src, true).expect_err("outage");
    assert!(
        matches!(&err, SyncError::Source(m) if m.contains("offset 200")),
        "{err}"
    );
    let failed = rows::runs(&mut conn, 1).expect("runs").remove(0);
    assert_eq!(
        (
            failed.status.as_str(),
            failed.inserted,
            failed.resume_offset
        ),
        ("failed", 200, Some(200))
    );

    // It resumes at 200 and fails again at 400.
    *reg.down_from.lock().expect("down") = Some(400);
    let before = reg.requests().len();
    assert!(sync_api(&mut conn, &src, true).is_err());
    assert_eq!(reg.requests()[before].0, 200, "resumed where it stopped");

    // Now its process dies instead: the run stays "running" and its lock expires.
    diesel::sql_query(format!(
        "UPDATE registry_runs SET status = 'running' WHERE id = {}",
        failed.id
    ))
    .execute(&mut conn)
    .expect("simulate a dead process");
    diesel::sql_query(format!(
        "INSERT INTO registry_lock (name, run_id, expires_at) VALUES ('sync', {}, '2000-01-01 00:00:00')",
        failed.id
    ))
    .execute(&mut conn)
    .expect("stale lock");
    *reg.down_from.lock().expect("down") = None;
    let before = reg.requests().len();
    let done = sync_api(&mut conn, &src, true).expect("resumed to the end");
    assert_eq!(reg.requests()[before].0, 400);
    assert_eq!(done.run, failed.id, "the same run, continued");
    assert_eq!(done.resumed_from, Some(400));
    assert_eq!(
        (
            done.counts.read,
            done.counts.inserted,
            done.counts.rejected,
            done.counts.removed
        ),
        (500, 500, 0, 1)
    );
    let stored = rows::runs(&mut conn, 1).expect("runs").remove(0);
    assert_eq!(
        (stored.status.as_str(), stored.resume_offset),
        ("succeeded", None)
    );
    assert!(
        rows::by_snils(&mut conn, "00000099900")
            .expect("q")
            .expect("kept")
            .removed_at
            .is_some()
    );
    // Finished: the next run starts afresh and finds everything unchanged.
    let next = sync_api(&mut conn, &src, true).expect("next");
    assert_ne!(next.run, done.run);
    assert_eq!((next.counts.unchanged, next.counts.removed), (500, 0));
}
