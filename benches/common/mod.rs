//! What the PostgreSQL benchmarks share: a fresh database, seeded cases, the server over HTTP
//! and the reviewer transitions the transitions benchmark measures.

#![allow(dead_code, reason = "each benchmark uses part of it")]

use accredo::domain::clock::{Clock, SharedClock, SystemClock};
use accredo::domain::ids::{CaseId, UserId};
use accredo::domain::role::Role;
use accredo::engine::catalog::{Catalog, Workflow, workflow_files};
use accredo::http::{self, AppState};
use accredo::identity::session::{self, SessionPolicy};
use accredo::identity::token::TokenKeys;
use accredo::store::cases::Case;
use accredo::store::commit::NewTimer;
use accredo::store::schema::cases;
use accredo::store::schema::timers as t;
use accredo::store::{DbTarget, Store, definitions, migrate};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent HTTP clients.
pub const CLIENTS: usize = 32;

/// The specialty of the benchmarks' cases and of their reviewers' subcommission.
pub const SPECIALTY: &str = "31.08.49";

/// The admin URL of the benchmark's PostgreSQL server.
pub fn admin_url() -> String {
    std::env::var("ACCREDO_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A number from the environment, or `default`.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Drops and creates database `name`; returns its URL.
pub fn fresh_db(admin: &str, name: &str) -> anyhow::Result<String> {
    let mut conn = diesel::PgConnection::establish(admin)?;
    conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    conn.batch_execute(&format!("CREATE DATABASE {name}"))?;
    let mut url = url::Url::parse(admin)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// Drops database `name`.
pub fn drop_db(admin: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = diesel::PgConnection::establish(admin)?;
    conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    Ok(())
}

/// A migrated database with the workflows, one applicant, and the server's parts.
pub struct Bench {
    pub db_url: String,
    /// The session secret (a server process started by [`Bench::serve_process`] shares it).
    pub secret: String,
    pub store: Store,
    pub catalog: Arc<Catalog>,
    pub clock: SharedClock,
    pub keys: TokenKeys,
    pub policy: SessionPolicy,
    pub workflow: Arc<Workflow>,
    pub owner_id: String,
    pub notices: Arc<accredo::notify::templates::Templates>,
}

impl Bench {
    /// Opens (with a pool of `pool` connections) and seeds the database at `db_url`.
    pub fn new(db_url: &str, pool: u32) -> anyhow::Result<Self> {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let catalog = Arc::new(
            Catalog::load_with_reasons(
                &workflow_files(&repo.join("workflows"))?,
                &repo.join("schemas"),
                &repo.join("workflows"),
            )
            .map_err(|p| anyhow::anyhow!("{p:?}"))?,
        );
        let store = Store::open_with(&DbTarget::parse(db_url)?, Some(pool))?;
        let clock: SharedClock = Arc::new(SystemClock);
        let secret = hex::encode(rand::random::<[u8; 32]>());
        let keys = TokenKeys::new(secret.as_bytes(), "accredo", "accredo-api")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut conn = store.conn()?;
        migrate::run_pending(&mut conn)?;
        let workflow = catalog
            .current("periodic_accreditation")
            .ok_or_else(|| anyhow::anyhow!("workflow"))?;
        let now = clock.now();
        definitions::ensure(&mut conn, &workflow, now.naive_utc())?;
        accredo::cli::grant(
            &mut conn,
            "bench-applicant",
            "Заявитель",
            Role::Specialist,
            now,
        )?;
        let owner = accredo::store::users::find_by_subject(&mut conn, "bench-applicant")?
            .ok_or_else(|| anyhow::anyhow!("owner"))?;
        drop(conn);
        Ok(Self {
            db_url: db_url.to_owned(),
            secret,
            store,
            catalog,
            clock,
            keys,
            policy: SessionPolicy::default(),
            workflow,
            owner_id: owner.id,
            notices: Arc::new(
                accredo::notify::templates::Templates::from_dir(
                    &repo.join("templates/notifications"),
                )
                .map_err(|p| anyhow::anyhow!("{p:?}"))?,
            ),
        })
    }

    /// Session tokens and user ids of `n` reviewers, members of the subcommission of
    /// [`SPECIALTY`] (a member decides only the cases of their subcommissions).
    pub fn reviewers(&self, n: usize) -> anyhow::Result<Vec<(String, String)>> {
        let mut conn = self.store.conn()?;
        let now = self.clock.now();
        let specialties = [SPECIALTY.to_owned()].into_iter().collect();
        accredo::store::subcommissions::define(
            &mut conn,
            "bench",
            "Подкомиссия нагрузочного теста",
            &specialties,
            now.naive_utc(),
        )?;
        let mut out = Vec::new();
        for i in 0..n {
            let subject = format!("bench-reviewer-{i}");
            accredo::cli::grant(&mut conn, &subject, &subject, Role::Reviewer, now)?;
            let user = accredo::store::users::find_by_subject(&mut conn, &subject)?
                .ok_or_else(|| anyhow::anyhow!("reviewer"))?;
            accredo::store::subcommissions::add_member(
                &mut conn,
                "bench",
                &user.id,
                now.naive_utc(),
            )?;
            let token = session::create(
                &mut conn,
                &self.keys,
                &UserId::from_stored(user.id.clone()),
                self.policy,
                now,
            )?
            .1;
            out.push((token, user.id));
        }
        Ok(out)
    }

    /// Inserts `n` submitted cases of [`SPECIALTY`] in `state`, in chunks, the `i`-th
    /// assigned to `assignees[i % len]` (none when empty); returns their ids.
    pub fn insert_cases(
        &self,
        n: usize,
        state: &str,
        assignees: &[String],
    ) -> anyhow::Result<Vec<String>> {
        let now = self.clock.now();
        let rows: Vec<Case> = (0..n)
            .map(|i| Case {
                id: CaseId::generate(now).to_string(),
                workflow_id: self.workflow.definition.id.clone(),
                definition_hash: self.workflow.definition.hash.clone(),
                owner_id: self.owner_id.clone(),
                state: state.into(),
                form_data: "{}".into(),
                version: 1,
                audit_seq: 0,
                audit_head: accredo::audit::chain::GENESIS.into(),
                submitted_at: Some(now.naive_utc()),
                created_at: now.naive_utc(),
                updated_at: now.naive_utc(),
                prefilled: "{}".into(),
                step_started_at: None,
                due_on: None,
                due_provisional: false,
                breached_at: None,
                procedure_due_on: None,
                procedure_due_provisional: false,
                procedure_breached_at: None,
                number: None,
                specialty: Some(SPECIALTY.to_owned()),
                region: None,
                applicant_name: None,
                name_key: None,
                snils: None,
                assignee_id: (!assignees.is_empty())
                    .then(|| assignees[i % assignees.len()].clone()),
                step_transition: None,
                attributes: "{}".into(),
            })
            .collect();
        let mut conn = self.store.conn()?;
        let accredo::store::DbConnection::Pg(pg) = &mut *conn else {
            anyhow::bail!("the benchmark needs PostgreSQL");
        };
        for chunk in rows.chunks(2_000) {
            diesel::insert_into(cases::table)
                .values(chunk)
                .execute(pg)?;
        }
        conn.batch_execute("ANALYZE")?;
        Ok(rows.into_iter().map(|c| c.id).collect())
    }

    /// Starts the HTTP server on a free port; returns its base URL.
    pub fn serve(&self) -> anyhow::Result<String> {
        let documents_dir = std::env::temp_dir().join("accredo-bench-documents");
        let state = AppState {
            store: self.store.clone(),
            catalog: self.catalog.clone(),
            clock: self.clock.clone(),
            keys: self.keys.clone(),
            policy: self.policy,
            oidc: None,
            proxies: Arc::default(),
            https: false,
            failures: Arc::new(accredo::http::limit::FailureLimiter::new(1_000)),
            signing: Arc::new(accredo::signature::Signing::default()),
            notices: self.notices.clone(),
            messages: accredo::service::messages::Settings {
                hide_commission_names: true,
            },
            documents: Arc::new(accredo::documents::Documents::local(
                &documents_dir,
                env!("CARGO_BIN_EXE_accredo").into(),
            )?),
            workers: accredo::workers::Workers::default(),
        };
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let base = format!("http://{}", listener.local_addr()?);
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                if let Ok(server) =
                    http::server(state, listener, workers, std::time::Duration::from_secs(5))
                {
                    let _ = server.await;
                }
            })
        });
        Ok(base)
    }
}

/// An `accredo serve` process (the release binary) of a benchmark.
pub struct Process {
    pub child: std::process::Child,
    pub base: String,
}

impl Process {
    /// Its peak resident memory so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }

    /// SIGKILL, and wait for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bench {
    /// Starts `accredo serve` in its own process on `db_url` (this bench's database, or a
    /// proxy to it) with the bench's session secret, its background workers off unless `env`
    /// turns them on, and its log in `log`; waits until it listens.
    pub fn serve_process(
        &self,
        db_url: &str,
        env: &[(&str, String)],
        log: &std::path::Path,
    ) -> anyhow::Result<Process> {
        use std::io::BufRead;
        let tmp = std::env::temp_dir().join("accredo-bench-process");
        std::fs::create_dir_all(&tmp)?;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_accredo"));
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DATABASE_URL", db_url)
            .env("ACCREDO_SESSION_SECRET", &self.secret)
            .env("ACCREDO_DOCUMENTS_DIR", tmp.join("documents"))
            .env("ACCREDO_MAIL_DIR", tmp.join("mail"))
            .env("ACCREDO_TIMER_POLL_MS", "0")
            .env("ACCREDO_NOTIFY_POLL_MS", "0")
            .env("ACCREDO_REMINDER_POLL_SECS", "0")
            .env("ACCREDO_AUDIT_CHECKPOINT_SECS", "0")
            .env("ACCREDO_AUTH_FAILURES_PER_MINUTE", "100000")
            .env("ACCREDO_LOG", "warn")
            .env("ACCREDO_LOG_FORMAT", "text");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("stdout"))?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let base = loop {
            let Some(line) = lines.next() else {
                anyhow::bail!("the server ended before listening: see {}", log.display());
            };
            if let Some(url) = line?.strip_prefix("accredo listening on ") {
                break url.to_owned();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Process { child, base })
    }
}

/// Sends `request_revision` (naming a field to fix) for every case in `ids` (at version 1)
/// from `CLIENTS` concurrent reviewers, each to the cases assigned to it by [`Bench::insert_cases`];
/// returns (succeeded, failed, elapsed). The first failure's answer is printed.
pub fn http_transitions(
    base: &str,
    tokens: Vec<String>,
    ids: Vec<String>,
) -> anyhow::Result<(usize, usize, Duration)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let base = base.to_owned();
    Ok(rt.block_on(async move {
        let ids = Arc::new(ids);
        let start = Instant::now();
        let mut handles = Vec::new();
        let clients = tokens.len();
        for (c, token) in tokens.into_iter().enumerate() {
            let ids = ids.clone();
            let base = base.clone();
            handles.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut ok, mut bad) = (0usize, 0usize);
                for id in ids.iter().skip(c).step_by(clients) {
                    let res = revision_request(&client, &base, id, &token).send().await;
                    match res {
                        Ok(r) if r.status() == 200 => ok += 1,
                        Ok(r) => {
                            if bad == 0 {
                                let status = r.status();
                                eprintln!("{status}: {}", r.text().await.unwrap_or_default());
                            }
                            bad += 1;
                        }
                        Err(e) => {
                            if bad == 0 {
                                eprintln!("{e}");
                            }
                            bad += 1;
                        }
                    }
                }
                (ok, bad)
            }));
        }
        let (ok, bad) = sum_counts(handles).await;
        (ok, bad, start.elapsed())
    }))
}

/// The webhooks' secret (Standard Webhooks).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Ids received, with how many times each.
pub type Seen = Arc<Mutex<HashMap<String, u32>>>;

pub fn receiver() -> anyhow::Result<(String, Seen)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let seen: Seen = Arc::default();
    let s = seen.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || {
                let s = s.clone();
                actix_web::App::new().route(
                    "/hook",
                    actix_web::web::post().to(move |req: actix_web::HttpRequest| {
                        let s = s.clone();
                        async move {
                            let id = req
                                .headers()
                                .get("webhook-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            if let Ok(mut m) = s.lock() {
                                *m.entry(id).or_default() += 1;
                            }
                            actix_web::HttpResponse::NoContent().finish()
                        }
                    }),
                )
            })
            .workers(2)
            .listen(listener);
            if let Ok(server) = server {
                let _ = server.run().await;
            }
        })
    });
    Ok((url, seen))
}

/// Inserts `count` pending rows of `channel` created at `at` (ids `{prefix}{n}`).
pub fn outbox(
    pg: &mut diesel::PgConnection,
    owner: &str,
    channel: &str,
    prefix: &str,
    count: i64,
    at: chrono::NaiveDateTime,
) -> anyhow::Result<()> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    let (address, html) = if channel == "email" {
        (
            "ivanova@example.ru",
            "<p>Статус заявления изменён: «На рассмотрении».</p>",
        )
    } else {
        ("+79123456789", "")
    };
    diesel::sql_query(
        "INSERT INTO notifications (id, recipient_id, event, channel, subject, body, status,
             attempts, next_attempt_at, created_at, address, html)
         SELECT $1 || g, $2, 'status_changed', $3, 'Заявление № 2026-77-' || g || ': На рассмотрении',
             'Здравствуйте! Статус заявления «Периодическая аккредитация специалиста» № 2026-77-'
             || g || ' изменён: «На рассмотрении». Следующий шаг будет завершён не позднее 31.03.2026.',
             'pending', 0, $4, $4, $5, NULLIF($6, '')
         FROM generate_series(1, $7) AS g",
    )
    .bind::<Text, _>(prefix)
    .bind::<Text, _>(owner)
    .bind::<Text, _>(channel)
    .bind::<Timestamp, _>(at)
    .bind::<Text, _>(address)
    .bind::<Text, _>(html)
    .bind::<BigInt, _>(count)
    .execute(pg)?;
    Ok(())
}

pub fn tally(seen: &Seen, prefix: &str) -> (usize, usize) {
    let m = seen.lock().map(|m| m.clone()).unwrap_or_default();
    let mine: Vec<u32> = m
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| *v)
        .collect();
    let dups = mine.iter().map(|v| (*v as usize).saturating_sub(1)).sum();
    (mine.len(), dups)
}

/// Inserts a due `expire` timer for each case, due at `due(i)`.
pub fn insert_timers(
    bench: &Bench,
    ids: &[String],
    due: impl Fn(usize) -> chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let rows: Vec<NewTimer> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| NewTimer {
            id: accredo::domain::ids::uuid_v7(now).to_string(),
            case_id: id.clone(),
            scope: "step".into(),
            action: "transition".into(),
            transition: Some("expire".into()),
            reason: Some("срок доработки истёк".into()),
            state: "needs_revision".into(),
            due_at: due(i).naive_utc(),
            status: "pending".into(),
            created_at: now.naive_utc(),
        })
        .collect();
    let mut conn = bench.store.conn()?;
    let accredo::store::DbConnection::Pg(pg) = &mut *conn else {
        anyhow::bail!("the benchmark needs PostgreSQL");
    };
    for chunk in rows.chunks(2_000) {
        diesel::insert_into(t::table).values(chunk).execute(pg)?;
    }
    diesel::sql_query("ANALYZE timers").execute(pg)?;
    Ok(())
}

#[derive(QueryableByName)]
pub struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub n: i64,
}

/// Cases moved by `expire` more than once.
pub fn duplicates(bench: &Bench) -> anyhow::Result<i64> {
    let mut conn = bench.store.conn()?;
    let accredo::store::DbConnection::Pg(pg) = &mut *conn else {
        anyhow::bail!("the benchmark needs PostgreSQL");
    };
    let c: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM (SELECT case_id FROM audit_events
           WHERE kind = 'case.transition' AND payload::jsonb ->> 'transition' = 'expire'
           GROUP BY case_id HAVING count(*) > 1) d",
    )
    .get_result(pg)?;
    Ok(c.n)
}

/// Reads the cases in `ids` (`GET /api/v1/cases/{id}`) round and round from one client per
/// token for `secs`; returns (succeeded, failed, elapsed).
pub fn http_reads(
    base: &str,
    tokens: &[String],
    ids: &[String],
    secs: Duration,
) -> anyhow::Result<(usize, usize, Duration)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (base, ids) = (base.to_owned(), Arc::new(ids.to_vec()));
    Ok(rt.block_on(async move {
        let start = Instant::now();
        let clients = tokens.len();
        let mut handles = Vec::new();
        for (c, token) in tokens.iter().cloned().enumerate() {
            let (ids, base) = (ids.clone(), base.clone());
            handles.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut ok, mut bad) = (0usize, 0usize);
                let mine: Vec<&String> = ids.iter().skip(c).step_by(clients).collect();
                let mut i = 0;
                while start.elapsed() < secs && !mine.is_empty() {
                    let id = mine[i % mine.len()];
                    i += 1;
                    match client
                        .get(format!("{base}/api/v1/cases/{id}"))
                        .bearer_auth(&token)
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes().await;
                            ok += 1;
                        }
                        _ => bad += 1,
                    }
                }
                (ok, bad)
            }));
        }
        let (ok, bad) = sum_counts(handles).await;
        (ok, bad, start.elapsed())
    }))
}

/// The `request_revision` a reviewer sends in the benchmarks (naming a field to fix), at
/// version 1.
pub fn revision_request(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    token: &str,
) -> reqwest::RequestBuilder {
    client
        .post(format!(
            "{base}/api/v1/cases/{id}/transitions/request_revision"
        ))
        .bearer_auth(token)
        .header("If-Match", "\"1\"")
        .json(&serde_json::json!({"fixes": {"fields": [{
            "pointer": "/employment/position",
            "comment": "Приложите копию диплома"
        }]}}))
}

/// The (succeeded, failed) counts of client tasks summed (a task that died counts one failure).
pub async fn sum_counts(handles: Vec<tokio::task::JoinHandle<(usize, usize)>>) -> (usize, usize) {
    let (mut ok, mut bad) = (0, 0);
    for h in handles {
        let (o, b) = h.await.unwrap_or((0, 1));
        ok += o;
        bad += b;
    }
    (ok, bad)
}
