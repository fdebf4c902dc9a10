//! The binary: one-line errors for bad database URLs, workflow checks, audit verify exit codes.

use crate::support::{TestApp, TestDb, repo};
use std::process::Command;

fn accredo(args: &[&str], database_url: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_accredo"))
        .args(args)
        .current_dir(repo())
        .env("DATABASE_URL", database_url)
        .env("ACCREDO_LOG", "warn")
        .output()
        .expect("run accredo");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_database_urls_give_one_clear_line() {
    for (url, expect) in [
        ("mysql://db/accredo", "scheme `mysql` is not supported"),
        (
            "postgres://root@127.0.0.1:1/accredo",
            "cannot connect to PostgreSQL at postgres://root@127.0.0.1:1/accredo",
        ),
        ("postgres:///accredo", "names no PostgreSQL host"),
        (
            "sqlite:///definitely/not/here/a.db",
            "directory /definitely/not/here does not exist",
        ),
        ("", "DATABASE_URL is empty"),
    ] {
        let (code, _, err) = accredo(&["migrate"], url);
        assert_eq!(code, 1, "{url}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{url}: {err}");
        assert!(err.contains(expect), "{url}: {err}");
    }
}

#[test]
fn workflows_check_names_file_line_and_item() {
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("broken.yaml");
    let text = std::fs::read_to_string(repo().join("workflows/periodic_accreditation.yaml"))
        .expect("yaml");
    std::fs::write(
        &bad,
        text.replace(
            "roles: [reviewer]\n    # Names the form fields",
            "roles: [reviewr]\n    # Names the form fields",
        ),
    )
    .expect("write");
    let (code, out, _) = accredo(
        &["workflows", "check", bad.to_str().expect("path")],
        "sqlite://unused.db",
    );
    assert_eq!(code, 1, "{out}");
    let line = text
        .lines()
        .position(|l| l.contains("roles: [reviewer]"))
        .expect("line")
        + 1;
    assert!(
        out.contains(&format!(
            "broken.yaml:{line}: transition request_revision: unknown role `reviewr` [unknown_role]"
        )),
        "{out}"
    );
    let (code, out, _) = accredo(&["workflows", "check"], "sqlite://unused.db");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok periodic_accreditation version 5"));
}

#[tokio::test]
async fn audit_verify_exits_non_zero_naming_the_event() {
    let app = TestApp::spawn().await;
    let me = app.specialist("alice");
    let (id, _) = app.create_case(&me, "periodic_accreditation").await;
    let url = app.db.url.clone();
    let (code, out, err) = accredo(&["audit", "checkpoint"], &url);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = accredo(&["audit", "verify"], &url);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit log intact"));
    {
        use accredo::store::schema::audit_events as ae;
        use diesel::prelude::*;
        let mut conn = app.state.store.conn().expect("conn");
        diesel::update(ae::table.filter(ae::chain.eq(&id)))
            .set(ae::kind.eq("case.deleted"))
            .execute(&mut *conn)
            .expect("tamper");
    }
    let (code, out, _) = accredo(&["audit", "verify"], &url);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!("FIRST: event 2 (chain {id}, seq 1) was altered")),
        "{out}"
    );
}

/// A started process, killed if the test ends (or fails) before it does.
struct Running(std::process::Child);

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The README's demo command on port 0 with its files in `dir`, its output piped.
fn demo_command(dir: &std::path::Path, args: &[&str]) -> Command {
    use std::process::Stdio;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_accredo"));
    cmd.args(["demo", "--bind", "127.0.0.1:0"])
        .args(args)
        .current_dir(repo())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("demo.db").display()),
        )
        .env("ACCREDO_SESSION_KEY_FILE", dir.join("session.key"))
        .env("ACCREDO_DOCUMENTS_DIR", dir.join("documents"))
        .env_remove("ACCREDO_SMTP_URL")
        .env_remove("ACCREDO_MAIL_DIR")
        .env("ACCREDO_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// SIGTERM: the server stops accepting, finishes the request it is serving, lets each worker
/// end its pass, and exits 0.
#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_stops_the_workers_and_exits_0() {
    use std::io::{BufRead, BufReader, Read};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Running(
        demo_command(dir.path(), &["--shutdown-secs", "10"])
            .spawn()
            .expect("start demo"),
    );
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut base = String::new();
    let token = loop {
        let line = lines.next().expect("demo output").expect("line");
        if let Some(url) = line.strip_prefix("accredo listening on ") {
            base = url.to_owned();
        }
        if let Some(rest) = line.strip_prefix("demo session [specialist] ") {
            break rest.rsplit_once(": ").expect("token").1.to_owned();
        }
    };
    let mut stderr = child.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let addr = base.trim_start_matches("http://").to_owned();

    // A request whose body is half sent when the signal comes.
    let body = br#"{"workflow": "periodic_accreditation"}"#;
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    // First a whole request on the same connection: the server has taken it up, so the next
    // one is in flight on a connection it serves, not waiting in the listen queue.
    stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .expect("healthz");
    let mut first = Vec::new();
    while !String::from_utf8_lossy(&first).contains(r#"{"status":"ok"}"#) {
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&first));
        first.extend_from_slice(&buf[..n]);
    }
    // `Expect: 100-continue`: the server's `100 Continue` says the request has reached the
    // service (it is in flight, not waiting in a buffer) before the signal is sent.
    let head = format!(
        "POST /api/v1/cases HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let mut cont = Vec::new();
    while !String::from_utf8_lossy(&cont).contains("100 Continue\r\n\r\n") {
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&cont));
        cont.extend_from_slice(&buf[..n]);
    }
    // The whole body, and the signal at once: the request is being served when it comes.
    stream.write_all(body).await.expect("body");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "a stopping server accepts no new connection"
    );
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();

    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "still running 30 s after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let log = log.join().expect("log");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}\n{log}");
    assert!(answer.contains("\"periodic_accreditation\""), "{answer}");
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        rest.join()
            .expect("stdout")
            .iter()
            .any(|l| l == "accredo stopped")
    );
    for worker in ["timers", "notify_email", "reminders", "audit_checkpoints"] {
        assert!(
            log.lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .any(|l| l["message"] == "worker stopped" && l["worker"] == worker),
            "{worker} did not stop in turn:\n{log}"
        );
    }
}

/// The README's demo command, run as a process: the real login flow end to end through the
/// built-in provider, and nothing secret in what it logs.
#[tokio::test]
async fn demo_command_logs_in_end_to_end_and_logs_no_secrets() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Running(
        demo_command(dir.path(), &["--checkpoint-secs", "0"])
            .spawn()
            .expect("start demo"),
    );
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut before = Vec::new();
    let base = loop {
        let line = lines
            .next()
            .expect("demo printed its address")
            .expect("line");
        if let Some(url) = line.strip_prefix("accredo listening on ") {
            break url.to_owned();
        }
        before.push(line);
    };
    // With no SMTP server, e-mails are kept as files, and the demo says where.
    assert!(
        before.iter().any(|l| *l
            == format!(
                "e-mail: no SMTP server configured; messages are kept as .eml files in {}/",
                dir.path().join("mail").display()
            )),
        "{before:?}"
    );
    // Each printed session token says whose role it is, and it is that role's token.
    let mut sessions = Vec::new();
    loop {
        let line = lines
            .next()
            .expect("demo printed its accounts")
            .expect("line");
        if line.starts_with("demo signature") {
            break;
        }
        if let Some(rest) = line.strip_prefix("demo session ") {
            sessions.push(rest.to_owned());
        }
    }
    let b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client");
    let mut printed = Vec::new();
    for rest in &sessions {
        let (who, token) = rest.rsplit_once(": ").expect("who: token");
        let role = who
            .strip_prefix('[')
            .and_then(|w| w.split_once(']'))
            .map(|(role, _)| role)
            .unwrap_or_else(|| panic!("no role in `demo session {rest}`"));
        let subject = who.split_whitespace().nth(1).expect("subject");
        let me: serde_json::Value = b
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        assert_eq!(me["roles"], serde_json::json!([role]), "{rest}");
        printed.push((role.to_owned(), subject.to_owned()));
    }
    let expected: Vec<(String, String)> = [
        ("specialist", "1000001"),
        ("reviewer", "1000003"),
        ("reviewer", "1000004"),
        ("secretary", "1000005"),
        ("support", "demo-support"),
        ("admin", "demo-admin"),
    ]
    .iter()
    .map(|(r, s)| ((*r).to_owned(), (*s).to_owned()))
    .collect();
    assert_eq!(printed, expected, "{sessions:?}");
    let res = b
        .get(format!("{base}/auth/login"))
        .send()
        .await
        .expect("login");
    let authorize = res.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let res = b
        .get(format!("{authorize}&account=1000001"))
        .send()
        .await
        .expect("pick");
    let callback = res.headers()["location"]
        .to_str()
        .expect("callback")
        .to_owned();
    let code = callback
        .split("code=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .expect("code")
        .to_owned();
    let session: serde_json::Value = b
        .get(&callback)
        .send()
        .await
        .expect("callback")
        .json()
        .await
        .expect("json");
    let token = session["token"].as_str().expect("token").to_owned();
    let me: serde_json::Value = b
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["display_name"], "Иванова Мария Петровна");
    // Her personal data passes through the server: an application with her SNILS.
    let consented = b
        .post(format!("{base}/api/v1/me/consent"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"granted": true}))
        .send()
        .await
        .expect("consent");
    assert!(consented.status().is_success(), "{}", consented.status());
    let case: serde_json::Value = b
        .post(format!("{base}/api/v1/cases"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"workflow": "periodic_accreditation"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let patched = b
        .patch(format!(
            "{base}/api/v1/cases/{}/form",
            case["id"].as_str().expect("id")
        ))
        .bearer_auth(&token)
        .header("If-Match", "\"1\"")
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"applicant": {"snils": "112-233-445 95", "last_name": "Иванова"}}"#)
        .send()
        .await
        .expect("patch");
    assert!(patched.status().is_success(), "{}", patched.status());
    let _ = child.kill();
    let _ = child.wait();
    // The demo loads register data for its accounts.
    let runs = Command::new(env!("CARGO_BIN_EXE_accredo"))
        .args(["registry", "runs", "--limit", "1"])
        .current_dir(repo())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("demo.db").display()),
        )
        .output()
        .expect("runs");
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).expect("runs json");
    assert_eq!(
        (runs[0]["source"].as_str(), runs[0]["inserted"].as_i64()),
        (Some("demo register data"), Some(4))
    );
    let _ = child.wait();
    let mut log = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("log");
    // Not on a terminal, every line is a JSON object; a line written inside a request carries
    // the request's id.
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["span"]["route"] == "/auth/callback"),
        "{log}"
    );
    let in_requests: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("span").is_some()).collect();
    assert!(in_requests.len() >= 4, "{log}");
    for l in in_requests {
        assert!(
            l["span"]["request_id"]
                .as_str()
                .is_some_and(|id| id.len() >= 16),
            "a line without its request id: {l}"
        );
    }
    assert!(
        !log.contains(&code),
        "the authorization code must not be logged"
    );
    let printed_tokens = sessions
        .iter()
        .filter_map(|s| s.rsplit_once(": ").map(|p| p.1));
    for secret in printed_tokens.chain([token.as_str()]) {
        assert!(!log.contains(secret), "a session token was logged");
    }
    for personal in ["112-233-445 95", "11223344595", "Иванова", "Мария"] {
        assert!(
            !log.contains(personal),
            "personal data ({personal}) was logged"
        );
    }
}

#[test]
fn serve_refuses_to_start_on_bad_workflows_or_pending_migrations() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let run = |args: &[&str], env: &[(&str, String)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_accredo"));
        cmd.args(args)
            .current_dir(repo())
            .env("DATABASE_URL", &db)
            .env("ACCREDO_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Not migrated and told not to migrate: refuses, saying what to do.
    let (code, err) = run(&["serve", "--bind", "127.0.0.1:0", "--no-migrate"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("run `accredo migrate`"), "{err}");
    // A broken workflow definition: refuses, naming file, line and item.
    let workflows = dir.path().join("workflows");
    std::fs::create_dir(&workflows).expect("mkdir");
    let text = std::fs::read_to_string(repo().join("workflows/periodic_accreditation.yaml"))
        .expect("yaml");
    std::fs::write(
        workflows.join("periodic_accreditation.yaml"),
        text.replace("to: approved", "to: aproved"),
    )
    .expect("write");
    let (code, err) = run(
        &["serve", "--bind", "127.0.0.1:0"],
        &[("ACCREDO_WORKFLOWS_DIR", workflows.display().to_string())],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("periodic_accreditation.yaml:") && err.contains("unknown state `aproved`"),
        "{err}"
    );
}

#[tokio::test]
async fn documents_sweep_from_cron_removes_a_deleted_documents_file() {
    let app = TestApp::spawn().await;
    let me = app.specialist("cli-sweeper");
    let (case, _) = app.create_case(&me, "periodic_accreditation").await;
    let v = app.attach_required(&me, &case).await;
    assert!(v > 1);
    let docs = crate::support::json_of(
        app.get(&format!("/api/v1/cases/{case}/documents"), &me)
            .await,
    )
    .await;
    let docs = docs.as_array().expect("list");
    let delete = |doc: &serde_json::Value| {
        let path = format!(
            "/api/v1/cases/{case}/documents/{}",
            doc["id"].as_str().expect("id")
        );
        let app = &app;
        let me = &me;
        async move {
            let res = app
                .call(reqwest::Method::DELETE, &path, Some(me), &[], None)
                .await;
            assert_eq!(res.status(), 204);
        }
    };
    // Every required type got the same PDF: one blob. Delete all documents but one.
    for doc in docs.iter().skip(1) {
        delete(doc).await;
    }
    let dir = app.documents_dir.path().display().to_string();
    let location = match &app.documents_url {
        Some(url) => ["--documents-url", url.as_str()],
        None => ["--documents-dir", dir.as_str()],
    };
    let sweep = |extra: &[&str]| {
        let mut args = vec!["documents", "sweep", location[0], location[1]];
        args.extend_from_slice(extra);
        accredo(&args, &app.db.url)
    };
    let (code, out, err) = sweep(&["--grace-minutes", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("removed 0 file(s), 0 byte(s); kept 1 referenced and 0 recent of 1 listed"),
        "{out}"
    );
    // The last document goes too: its file is swept, except within the grace period.
    delete(&docs[0]).await;
    let (code, out, err) = sweep(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("removed 0 file(s), 0 byte(s); kept 0 referenced and 1 recent"),
        "{out}"
    );
    let (code, out, err) = sweep(&["--grace-minutes", "0", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("would remove 1 file(s)"), "{out}");
    let (code, out, err) = sweep(&["--grace-minutes", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("removed 1 file(s)"), "{out}");
    let (code, _, err) = sweep(&["--grace-minutes=-5"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("invalid value '-5' for '--grace-minutes"),
        "{err}"
    );
}

/// Commands that work on an existing database refuse one that is missing or not migrated, in
/// one line and with a non-zero exit, and create nothing; only `migrate`, `serve` and `demo`
/// set a database up.
#[test]
fn commands_refuse_a_database_that_is_missing_or_not_migrated() {
    // SQLite: a file that does not exist yet; PostgreSQL: an empty database.
    let db = TestDb::new();
    let sqlite_file = db
        .url
        .strip_prefix("sqlite://")
        .map(std::path::PathBuf::from);
    let dir = tempfile::tempdir().expect("dir");
    let export = dir.path().join("export.jsonl");
    std::fs::write(&export, "").expect("export");
    let export = export.display().to_string();
    let documents = dir.path().join("documents").display().to_string();
    let commands: [&[&str]; 7] = [
        &["audit", "verify"],
        &["audit", "checkpoint"],
        &["registry", "runs"],
        &["registry", "sync", "--file", &export],
        &[
            "users",
            "grant-role",
            "--subject",
            "s-1",
            "--role",
            "reviewer",
        ],
        &["users", "issue-session", "--subject", "s-1"],
        &["documents", "sweep", "--documents-dir", &documents],
    ];
    let refused = |args: &[&str], what: &str| {
        let (code, out, err) = accredo(args, &db.url);
        assert_eq!(code, 1, "{what} {args:?}: {out}{err}");
        assert!(
            err.contains("database not found or not migrated") && err.contains("accredo migrate"),
            "{what} {args:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{what} {args:?}: {err}");
    };
    for args in commands {
        refused(args, "missing");
        if let Some(file) = &sqlite_file {
            assert!(!file.exists(), "{args:?} created {}", file.display());
        }
    }
    // An existing SQLite file that is not an accredo database: refused, and left as it was.
    if let Some(file) = &sqlite_file {
        {
            use diesel::Connection;
            use diesel::connection::SimpleConnection;
            let mut other =
                diesel::SqliteConnection::establish(&file.display().to_string()).expect("open");
            other
                .batch_execute("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');")
                .expect("other schema");
        }
        let before = std::fs::read(file).expect("read");
        for args in commands {
            refused(args, "not accredo's");
        }
        assert!(std::fs::read(file).expect("read") == before, "file changed");
        std::fs::remove_file(file).expect("remove");
    }
    // Migrated, the same commands work.
    let (code, out, err) = accredo(&["migrate"], &db.url);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = accredo(&["audit", "verify"], &db.url);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("audit log intact"), "{out}");
    let (code, out, err) = accredo(&["registry", "runs"], &db.url);
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test]
async fn calendar_commands_show_count_and_take_an_audited_override() {
    let app = TestApp::spawn().await;
    let url = app.db.url.clone();
    let (code, out, err) = accredo(&["calendar", "show", "2026"], &url);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("09.01.2026  transferred_day_off"), "{out}");
    assert!(out.contains("23.02.2026  holiday"), "{out}");
    assert!(out.contains("08.05.2026  shortened"), "{out}");
    assert!(out.contains("2026: 247 рабочих дней"), "{out}");
    let (_, out, _) = accredo(&["calendar", "show", "2025"], &url);
    assert!(
        out.contains("01.11.2025  working_weekend") && out.contains(", сокращённый"),
        "a working Saturday that is also shortened: {out}"
    );
    let (code, out, _) = accredo(&["calendar", "add-working-days", "30.12.2025", "1"], &url);
    assert_eq!((code, out.trim()), (0, "2026-01-12"));
    let (_, out, _) = accredo(&["calendar", "add-working-days", "2027-12-28", "5"], &url);
    assert!(out.trim().ends_with("(предварительно)"), "{out}");

    // An extraordinary day off: counted from then on, shown, and audited.
    let (code, _, err) = accredo(
        &[
            "calendar",
            "override",
            "2026-12-02",
            "--day-off",
            "--reason",
            "Указ о нерабочем дне",
        ],
        &url,
    );
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = accredo(&["calendar", "add-working-days", "2026-12-01", "1"], &url);
    assert_eq!(out.trim(), "2026-12-03");
    let (_, out, _) = accredo(&["calendar", "show", "2026"], &url);
    assert!(out.contains("02.12.2026  override_day_off"), "{out}");
    assert!(out.contains("2026: 246 рабочих дней"), "{out}");
    let events: Vec<String> = {
        use accredo::store::schema::audit_events as ae;
        use diesel::prelude::*;
        let mut conn = app.state.store.conn().expect("conn");
        ae::table
            .filter(ae::kind.eq("calendar.override"))
            .select(ae::payload)
            .load(&mut *conn)
            .expect("events")
    };
    assert_eq!(events.len(), 1);
    assert!(
        events[0].contains("2026-12-02") && events[0].contains("Указ"),
        "{events:?}"
    );
    // No reason, or both kinds at once: refused, nothing written.
    let (code, _, err) = accredo(
        &[
            "calendar",
            "override",
            "2026-12-04",
            "--working",
            "--reason",
            " ",
        ],
        &url,
    );
    assert_ne!(code, 0, "{err}");
    let (code, _, _) = accredo(
        &[
            "calendar",
            "override",
            "2026-12-04",
            "--working",
            "--day-off",
            "--reason",
            "x",
        ],
        &url,
    );
    assert_eq!(code, 2, "clap refuses both");
    let (_, out, _) = accredo(&["calendar", "show", "2026"], &url);
    assert!(!out.contains("04.12.2026"), "{out}");
}

/// The README's configuration table lists every setting the binary reads, by its environment
/// name, and nothing it does not read.
#[test]
fn the_readme_configuration_table_is_every_setting() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let table = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
        .expect("a Configuration section");
    let mut documented = std::collections::BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split('|').nth(1).expect("first column");
        for name in first.split('/') {
            documented.insert(name.trim().trim_matches('`').to_owned());
        }
    }
    let read: std::collections::BTreeSet<String> = accredo::cli::settings().into_keys().collect();
    let missing: Vec<&String> = read.difference(&documented).collect();
    let unknown: Vec<&String> = documented.difference(&read).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "not in the README's table: {missing:?}; in it but not read: {unknown:?}"
    );
}

/// A configuration file (TOML, keys named as in the environment) sets what the environment
/// does not; a key that is no setting, or a value of the wrong shape, is refused by name.
#[test]
fn a_configuration_file_sets_defaults_under_the_environment_and_its_mistakes_are_named() {
    let dir = tempfile::tempdir().expect("dir");
    let from_file = dir.path().join("from-file.db");
    let from_env = dir.path().join("from-env.db");
    let file = dir.path().join("accredo.toml");
    std::fs::write(
        &file,
        format!(
            "DATABASE_URL = \"sqlite://{}\"\nACCREDO_LOG = \"warn\"\nACCREDO_DB_POOL_SIZE = 2\n",
            from_file.display()
        ),
    )
    .expect("write");
    let migrate = |env_url: Option<&std::path::Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_accredo"));
        cmd.args(["migrate", "--config"])
            .arg(&file)
            .current_dir(repo())
            .env_remove("DATABASE_URL");
        if let Some(p) = env_url {
            cmd.env("DATABASE_URL", format!("sqlite://{}", p.display()));
        }
        cmd.output().expect("migrate")
    };
    let out = migrate(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(from_file.exists(), "the file's DATABASE_URL was used");
    let out = migrate(Some(&from_env));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(from_env.exists(), "the environment wins over the file");

    std::fs::write(
        &file,
        "ACCREDO_BINDD = \"0.0.0.0:8080\"\nACCREDO_WORKERS = { n = 2 }\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_accredo"))
        .args(["serve"])
        .current_dir(repo())
        .env("ACCREDO_CONFIG", &file)
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ACCREDO_BINDD: no such setting"), "{err}");
    assert!(
        err.contains("ACCREDO_WORKERS: must be a string, a number, a boolean or a list of them"),
        "{err}"
    );
}

/// `serve` checks its settings before it opens anything, and names every bad one at once.
#[test]
fn serve_names_every_bad_setting_before_it_starts() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("never.db");
    let out = Command::new(env!("CARGO_BIN_EXE_accredo"))
        .args(["serve"])
        .current_dir(repo())
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("ACCREDO_BIND", "localhost")
        .env("ACCREDO_PUBLIC_URL", "ftp://accredo.example")
        .env("ACCREDO_SESSION_SECRET", "too short")
        .env("ACCREDO_SMTP_URL", "http://mail.example")
        .env("ACCREDO_WORKFLOWS_DIR", dir.path().join("nowhere"))
        .env("ACCREDO_TRUSTED_PROXIES", "not-an-address")
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the configuration has 6 problems"), "{err}");
    for name in [
        "ACCREDO_BIND: `localhost` is not host:port",
        "ACCREDO_PUBLIC_URL: the scheme must be http or https (not `ftp`)",
        "ACCREDO_SESSION_SECRET: must be at least 32 bytes long",
        "ACCREDO_SMTP_URL: the scheme must be smtp or smtps (not `http`)",
        "ACCREDO_WORKFLOWS_DIR:",
        "ACCREDO_TRUSTED_PROXIES:",
    ] {
        assert!(err.contains(name), "{name}: {err}");
    }
    assert!(!db.exists(), "nothing was opened");
}
