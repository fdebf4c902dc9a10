//! Register sync from a JSON Lines export: idempotence, updates, removal marks, rejected
//! records with line numbers, the lock, and the CLI.

use crate::support::{TestDb, repo};
use accredo::domain::clock::SystemClock;
use accredo::registry::sync::{self, SyncError};
use accredo::store::registry as rows;
use accredo::store::{DbConnection, migrate};
use serde_json::json;
use std::process::Command;

fn person(i: u32, last_name: &str) -> String {
    // SNILS numbers up to 001-001-998 carry no checksum, so synthetic ones are easy to make.
    json!({
        "register_id": format!("r{i}"),
        "snils": format!("{:09}00", i),
        "last_name": last_name,
        "first_name": "Мария",
        "middle_name": "Петровна",
        "birth_date": "1985-04-12",
        "employments": [{"organization_id": "o1", "ogrn": "1027700132195", "position": "Врач"}],
    })
    .to_string()
}

fn db() -> (TestDb, DbConnection) {
    let db = TestDb::new();
    let mut conn = db.conn();
    migrate::run_pending(&mut conn).expect("migrate");
    (db, conn)
}

fn run(conn: &mut DbConnection, lines: &[String], full: bool) -> Result<sync::Summary, SyncError> {
    let text = lines.join("\n");
    sync::from_json_lines(conn, &SystemClock, "test", text.as_bytes(), full, |_| {})
}

#[test]
fn sync_is_idempotent_updates_changes_and_marks_removals() {
    let (_db, mut conn) = db();
    let first: Vec<String> = (1..=1200).map(|i| person(i, "Иванова")).collect();
    let s = run(&mut conn, &first, true).expect("first");
    assert_eq!(
        (s.counts.read, s.counts.inserted, s.counts.unchanged),
        (1200, 1200, 0)
    );

    let again = run(&mut conn, &first, true).expect("again");
    assert_eq!(
        (
            again.counts.inserted,
            again.counts.updated,
            again.counts.unchanged,
            again.counts.removed
        ),
        (0, 0, 1200, 0)
    );

    // One changed, one gone from the full export.
    let mut next = first.clone();
    next[10] = person(11, "Петрова");
    next.remove(20);
    let s = run(&mut conn, &next, true).expect("next");
    assert_eq!(
        (s.counts.updated, s.counts.unchanged, s.counts.removed),
        (1, 1198, 1)
    );
    let changed = rows::by_snils(&mut conn, "00000001100")
        .expect("query")
        .expect("present");
    assert_eq!(changed.last_name, "Петрова");
    let gone = rows::by_snils(&mut conn, "00000002100")
        .expect("query")
        .expect("kept, not deleted");
    assert!(gone.removed_at.is_some());

    // Back in the export: no longer removed.
    let s = run(&mut conn, &first, true).expect("back");
    assert_eq!(
        s.counts.updated, 2,
        "the returning person and the name change back"
    );
    assert!(
        rows::by_snils(&mut conn, "00000002100")
            .expect("q")
            .expect("p")
            .removed_at
            .is_none()
    );

    // A partial export marks nobody removed.
    let s = run(&mut conn, &first[..5], false).expect("partial");
    assert_eq!(s.counts.removed, 0);
    let stored = rows::runs(&mut conn, 10).expect("runs");
    assert_eq!(stored.len(), 5);
    assert!(stored.iter().all(|r| r.status == "succeeded"));
}

#[test]
fn bad_records_are_rejected_one_by_one_and_the_run_goes_on() {
    let (_db, mut conn) = db();
    let lines = vec![
        person(1, "Иванова"),
        "{broken".to_owned(),
        person(2, "Петрова").replace("1985-04-12", "1985-13-01"),
        person(3, "Сидорова").replace("\"Сидорова\"", "\"\""),
        json!({"register_id": "r4", "snils": "112-233-445 96", "last_name": "А", "first_name": "Б", "birth_date": "1990-01-01"}).to_string(),
        person(5, "Орлова").replace("1027700132195", "1027700132196"),
        person(6, "Кузнецова"),
        json!({"register_id": "r7", "snils": "000000001 00", "last_name": "Дубль", "first_name": "Б", "birth_date": "1990-01-01"}).to_string(),
    ];
    let s = run(&mut conn, &lines, false).expect("run");
    assert_eq!(
        (s.counts.read, s.counts.inserted, s.counts.rejected),
        (8, 2, 6)
    );
    let got: Vec<(i64, &str)> = s
        .rejections
        .iter()
        .map(|r| (r.line, r.code.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (2, "unparseable_line"),
            (3, "invalid_record"),
            (4, "missing_field"),
            (5, "invalid_snils"),
            (6, "invalid_ogrn"),
            (8, "duplicate_snils")
        ]
    );
    let stored = rows::runs(&mut conn, 1).expect("runs");
    let report: serde_json::Value = serde_json::from_str(&stored[0].report).expect("report");
    assert_eq!(report["rejections_total"], 6);
    assert_eq!(report["rejections"][0]["line"], 2);
    assert!(
        rows::by_snils(&mut conn, "00000000200")
            .expect("q")
            .is_none(),
        "a rejected record leaves nothing"
    );
}

#[test]
fn only_one_sync_runs_at_a_time() {
    let (db, mut conn) = db();
    let mut other = db.conn();
    let lines: Vec<String> = (1..=600).map(|i| person(i, "Иванова")).collect();
    let mut refused = None;
    let s = sync::from_json_lines(
        &mut conn,
        &SystemClock,
        "first",
        lines.join("\n").as_bytes(),
        false,
        |_| {
            // While the first run holds the lock, a second one is refused.
            if refused.is_none() {
                refused = Some(run(&mut other, &lines[..1], false));
            }
        },
    )
    .expect("first");
    assert_eq!(s.counts.inserted, 600);
    assert!(
        matches!(refused, Some(Err(SyncError::Locked))),
        "{refused:?}"
    );
    // Once it finished, the next one runs.
    assert!(run(&mut other, &lines[..1], false).is_ok());
}

#[test]
fn cli_sync_prints_a_summary_and_rejections() {
    let db = TestDb::new();
    migrate::run_pending(&mut db.conn()).expect("migrate");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("export.jsonl");
    std::fs::write(
        &file,
        [
            person(1, "Иванова"),
            "oops".to_owned(),
            person(2, "Петрова"),
        ]
        .join("\n"),
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_accredo"))
        .args([
            "registry",
            "sync",
            "--full",
            "--file",
            file.to_str().expect("path"),
        ])
        .current_dir(repo())
        .env("DATABASE_URL", &db.url)
        .env("ACCREDO_LOG", "warn")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("rejected line 2:"), "{stdout}");
    assert!(
        stdout.contains("read 3 inserted 2 updated 0 unchanged 0 removed 0 rejected 1"),
        "{stdout}"
    );
}

#[tokio::test]
async fn run_reports_are_readable_over_the_admin_api() {
    use accredo::domain::role::Role;
    let app = crate::support::TestApp::spawn().await;
    {
        let mut conn = app.state.store.conn().expect("conn");
        run(&mut conn, &[person(1, "Иванова"), "oops".to_owned()], false).expect("sync");
    }
    let admin = app.user("admin", &[Role::Admin]);
    let res = app.get("/api/v1/admin/registry/runs", &admin).await;
    assert_eq!(res.status(), 200);
    let runs: serde_json::Value = res.json().await.expect("json");
    assert_eq!(
        (runs[0]["inserted"].as_i64(), runs[0]["rejected"].as_i64()),
        (Some(1), Some(1))
    );
    let report: serde_json::Value =
        serde_json::from_str(runs[0]["report"].as_str().expect("report")).expect("report json");
    assert_eq!(report["rejections"][0]["code"], "unparseable_line");
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    let res = app.get("/api/v1/admin/registry/runs", &reviewer).await;
    assert_eq!(res.status(), 403);
}

fn run_in_chunks(
    conn: &mut DbConnection,
    lines: &[String],
    full: bool,
    chunk: usize,
) -> Result<sync::Summary, SyncError> {
    let text = lines.join("\n");
    let plan = sync::Plan {
        source: "test",
        full,
        resumable: false,
    };
    sync::run(
        conn,
        &SystemClock,
        plan,
        |_, emit| sync::read_json_lines(text.as_bytes(), chunk, emit),
        |_| {},
    )
}

#[test]
fn a_chunk_refused_in_bulk_is_written_record_by_record() {
    let (_db, mut conn) = db();
    let first: Vec<String> = (1..=6).map(|i| person(i, "Иванова")).collect();
    assert_eq!(
        run_in_chunks(&mut conn, &first, true, 3)
            .expect("first")
            .counts
            .inserted,
        6
    );
    // Record 2 appears again in the next chunk: only the repeat is rejected.
    let mut again = first.clone();
    again.insert(4, person(2, "Иванова"));
    let s = run_in_chunks(&mut conn, &again, true, 3).expect("again");
    assert_eq!(
        (
            s.counts.read,
            s.counts.unchanged,
            s.counts.rejected,
            s.counts.removed
        ),
        (7, 6, 1, 0)
    );
    assert_eq!(
        (s.rejections[0].line, s.rejections[0].code.as_str()),
        (5, "duplicate_record")
    );

    // A new record with the SNILS of a stored one: the database refuses the chunk's bulk
    // write, the chunk is written again one record at a time, and only that record is
    // rejected.
    let thief = person(8, "Чужая").replace("00000000800", "00000000300");
    let s = run_in_chunks(
        &mut conn,
        &[person(9, "Новая"), thief, person(10, "Новая")],
        false,
        3,
    )
    .expect("thief");
    assert_eq!((s.counts.inserted, s.counts.rejected), (2, 1));
    assert_eq!(
        (s.rejections[0].line, s.rejections[0].code.as_str()),
        (2, "duplicate_snils")
    );
    assert!(
        rows::by_snils(&mut conn, "00000000900")
            .expect("q")
            .is_some()
    );
    assert_eq!(
        rows::by_snils(&mut conn, "00000000300")
            .expect("q")
            .expect("kept")
            .register_id,
        "r3"
    );

    // A changed record gives up its SNILS and a new one takes it, in one chunk.
    let moved = person(1, "Иванова").replace("00000000100", "00000009900");
    let taker = person(7, "Новая").replace("00000000700", "00000000100");
    let s = run_in_chunks(&mut conn, &[moved, taker], false, 3).expect("move");
    assert_eq!(
        (s.counts.updated, s.counts.inserted, s.counts.rejected),
        (1, 1, 0)
    );
    let owner = rows::by_snils(&mut conn, "00000000100")
        .expect("q")
        .expect("taken");
    assert_eq!(owner.register_id, "r7");
}

#[test]
fn csv_exports_sync_like_json_lines_and_bad_rows_are_rejected() {
    use accredo::registry::generate;
    let (_db, mut conn) = db();
    let mut out = Vec::new();
    generate::write_csv(&mut out, 5, 0).expect("csv");
    let mut text = String::from_utf8(out).expect("utf-8");
    text.push_str("only,two\n");
    text.push_str("bad-snils,112-233-445 96,Иванова,Мария,,1985-04-12,,,,,,\n");
    text.push_str("bad-json,00000000700,Иванова,Мария,,1985-04-12,,,,[oops,,\n");
    text.push_str("bad-date,00000000800,Иванова,Мария,,1985-02-30,,,,,,\n");
    text.push_str("\"quoted, name\",00000000900,\"Иванова-Петрова\",Мария,,1985-04-12,,,,,,\n");
    let plan = sync::Plan {
        source: "export.csv",
        full: false,
        resumable: false,
    };
    let s = sync::run(
        &mut conn,
        &SystemClock,
        plan,
        |_, emit| sync::read_csv(text.as_bytes(), 4, emit),
        |_| {},
    )
    .expect("csv sync");
    assert_eq!(
        (s.counts.read, s.counts.inserted, s.counts.rejected),
        (10, 6, 4)
    );
    let got: Vec<(i64, &str)> = s
        .rejections
        .iter()
        .map(|r| (r.line, r.code.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (7, "unparseable_line"),
            (8, "invalid_snils"),
            (9, "invalid_record"),
            (10, "invalid_record")
        ]
    );
    let quoted = rows::by_snils(&mut conn, "00000000900")
        .expect("q")
        .expect("stored");
    assert_eq!(quoted.last_name, "Иванова-Петрова");

    // The same five people as JSON Lines are the same records: nothing changes.
    let mut jsonl = Vec::new();
    generate::write_json_lines(&mut jsonl, 5, 0).expect("jsonl");
    let s = sync::from_json_lines(
        &mut conn,
        &SystemClock,
        "export.jsonl",
        &jsonl[..],
        false,
        |_| {},
    )
    .expect("jsonl sync");
    assert_eq!((s.counts.unchanged, s.counts.updated), (5, 0));

    // A header that is not ours stops the run before anything is written.
    let err = sync::run(
        &mut conn,
        &SystemClock,
        plan,
        |_, emit| sync::read_csv("snils,name\n00000000100,X\n".as_bytes(), 4, emit),
        |_| {},
    )
    .expect_err("bad header");
    assert!(err.to_string().contains("CSV header must be"), "{err}");
    assert_eq!(rows::runs(&mut conn, 1).expect("runs")[0].status, "failed");
}

#[test]
fn cli_syncs_csv_and_generated_files() {
    let db = TestDb::new();
    migrate::run_pending(&mut db.conn()).expect("migrate");
    let dir = tempfile::tempdir().expect("dir");
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_accredo"))
            .args(args)
            .current_dir(repo())
            .env("DATABASE_URL", &db.url)
            .env("ACCREDO_LOG", "warn")
            .output()
            .expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let csv = dir.path().join("export.csv");
    let csv_path = csv.to_str().expect("path");
    cli(&[
        "registry", "generate", "--count", "40", "--format", "csv", "--out", csv_path,
    ]);
    let out = cli(&["registry", "sync", "--full", "--file", csv_path]);
    assert!(
        out.contains("read 40 inserted 40 updated 0 unchanged 0 removed 0 rejected 0"),
        "{out}"
    );
    assert!(out.contains("peak memory"), "{out}");
    let changed = dir.path().join("changed.jsonl");
    let changed_path = changed.to_str().expect("path");
    cli(&[
        "registry",
        "generate",
        "--count",
        "40",
        "--changed-every",
        "10",
        "--out",
        changed_path,
    ]);
    let out = cli(&["registry", "sync", "--full", "--file", changed_path]);
    assert!(
        out.contains("read 40 inserted 0 updated 4 unchanged 36 removed 0 rejected 0"),
        "{out}"
    );

    // A failed run exits non-zero and says why; its report is stored.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "snils,name\n00000000100,X\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_accredo"))
        .args(["registry", "sync", "--file", bad.to_str().expect("path")])
        .current_dir(repo())
        .env("DATABASE_URL", &db.url)
        .env("ACCREDO_LOG", "warn")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sync failed") && stderr.contains("CSV header"),
        "{stderr}"
    );
    let runs = cli(&["registry", "runs", "--limit", "1"]);
    assert!(runs.contains("\"status\": \"failed\""), "{runs}");
}
