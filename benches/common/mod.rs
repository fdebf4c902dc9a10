//! What the PostgreSQL benchmarks share: a fresh database, seeded cases, the server over HTTP
//! and the reviewer transitions the transitions benchmark measures.

#![allow(dead_code, reason = "each benchmark uses part of it")]

use accredo::domain::clock::{SharedClock, SystemClock};
use accredo::domain::ids::{CaseId, UserId};
use accredo::domain::role::Role;
use accredo::engine::catalog::{Catalog, Workflow, workflow_files};
use accredo::http::{self, AppState};
use accredo::identity::session::{self, SessionPolicy};
use accredo::identity::token::TokenKeys;
use accredo::store::cases::Case;
use accredo::store::schema::cases;
use accredo::store::{DbTarget, Store, definitions, migrate};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
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
        let keys = TokenKeys::new(&rand::random::<[u8; 32]>(), "accredo", "accredo-api")
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
                    let res = client
                        .post(format!(
                            "{base}/api/v1/cases/{id}/transitions/request_revision"
                        ))
                        .bearer_auth(&token)
                        .header("If-Match", "\"1\"")
                        .json(&serde_json::json!({"fixes": {"fields": [{
                            "pointer": "/employment/position",
                            "comment": "Приложите копию диплома"
                        }]}}))
                        .send()
                        .await;
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
        let (mut ok, mut bad) = (0, 0);
        for h in handles {
            let (o, b) = h.await.unwrap_or((0, 1));
            ok += o;
            bad += b;
        }
        (ok, bad, start.elapsed())
    }))
}
