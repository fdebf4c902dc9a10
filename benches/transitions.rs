//! Reviewer transitions over HTTP against PostgreSQL with 32 concurrent clients, next to
//! pgbench doing the same writes per transaction (one UPDATE of a case row, one INSERT of an
//! audit row) on the same server in the same run.
//!
//! `cargo bench --bench transitions` (PostgreSQL from ACCREDO_BENCH_DATABASE_URL, default
//! postgres://postgres@127.0.0.1:5432/postgres; BENCH_TRANSITIONS sets the count).

use accredo::domain::clock::{SharedClock, SystemClock};
use accredo::domain::ids::{CaseId, UserId};
use accredo::domain::role::Role;
use accredo::engine::catalog::{Catalog, workflow_files};
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
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

const CLIENTS: usize = 32;
const DB: &str = "accredo_bench";

fn main() -> anyhow::Result<()> {
    let admin = std::env::var("ACCREDO_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let total: usize = std::env::var("BENCH_TRANSITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let pgbench_secs: u64 = std::env::var("BENCH_PGBENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let mut url = url::Url::parse(&admin)?;
    {
        let mut conn = diesel::PgConnection::establish(&admin)?;
        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))?;
        conn.batch_execute(&format!("CREATE DATABASE {DB}"))?;
    }
    url.set_path(&format!("/{DB}"));
    let db_url = url.to_string();

    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let catalog = Arc::new(
        Catalog::load(
            &workflow_files(&repo.join("workflows"))?,
            &repo.join("schemas"),
        )
        .map_err(|p| anyhow::anyhow!("{p:?}"))?,
    );
    let store = Store::open_with(&DbTarget::parse(&db_url)?, Some(32))?;
    let clock: SharedClock = Arc::new(SystemClock);
    let keys = TokenKeys::new(&rand::random::<[u8; 32]>(), "accredo", "accredo-api")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let policy = SessionPolicy::default();

    // Seed: one applicant, 32 reviewers with sessions, `total` cases under review.
    let (tokens, ids) = {
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
        let mut tokens = Vec::new();
        for i in 0..CLIENTS {
            let subject = format!("bench-reviewer-{i}");
            accredo::cli::grant(&mut conn, &subject, &subject, Role::Reviewer, now)?;
            let user = accredo::store::users::find_by_subject(&mut conn, &subject)?
                .ok_or_else(|| anyhow::anyhow!("reviewer"))?;
            tokens.push(
                session::create(&mut conn, &keys, &UserId::from_stored(user.id), policy, now)?.1,
            );
        }
        let rows: Vec<Case> = (0..total)
            .map(|_| Case {
                id: CaseId::generate(now).to_string(),
                workflow_id: workflow.definition.id.clone(),
                definition_hash: workflow.definition.hash.clone(),
                owner_id: owner.id.clone(),
                state: "under_review".into(),
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
            })
            .collect();
        let accredo::store::DbConnection::Pg(pg) = &mut *conn else {
            anyhow::bail!("the benchmark needs PostgreSQL");
        };
        for chunk in rows.chunks(2_000) {
            diesel::insert_into(cases::table)
                .values(chunk)
                .execute(pg)?;
        }
        conn.batch_execute("ANALYZE")?;
        (tokens, rows.into_iter().map(|c| c.id).collect::<Vec<_>>())
    };

    let documents_dir = tempfile::tempdir()?;
    let state = AppState {
        store,
        catalog,
        clock,
        keys,
        policy,
        oidc: None,
        proxies: Arc::default(),
        https: false,
        failures: std::sync::Arc::new(accredo::http::limit::FailureLimiter::new(1_000)),
        signing: Arc::new(accredo::signature::Signing::default()),
        documents: Arc::new(accredo::documents::Documents::local(
            documents_dir.path(),
            env!("CARGO_BIN_EXE_accredo").into(),
        )?),
    };
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            if let Ok(server) = http::server(state, listener, workers) {
                let _ = server.await;
            }
        })
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (done, failed, elapsed) = rt.block_on(async move {
        let ids = Arc::new(ids);
        let start = Instant::now();
        let mut handles = Vec::new();
        for (c, token) in tokens.into_iter().enumerate() {
            let ids = ids.clone();
            let base = base.clone();
            handles.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut ok, mut bad) = (0usize, 0usize);
                for id in ids.iter().skip(c).step_by(CLIENTS) {
                    let res = client
                        .post(format!(
                            "{base}/api/v1/cases/{id}/transitions/request_revision"
                        ))
                        .bearer_auth(&token)
                        .header("If-Match", "\"1\"")
                        .json(&serde_json::json!({"reason": "Приложите копию диплома"}))
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status() == 200 => ok += 1,
                        _ => bad += 1,
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
    });
    let accredo_tps = done as f64 / elapsed.as_secs_f64();

    // pgbench: the same writes per transaction on tables shaped like ours, same server.
    let pg_rows = total.max(10_000);
    {
        let mut conn = diesel::PgConnection::establish(&db_url)?;
        conn.batch_execute(&format!(
            "CREATE TABLE pgb_cases (LIKE cases INCLUDING ALL);
             CREATE TABLE pgb_audit (LIKE audit_events INCLUDING ALL);
             CREATE SEQUENCE pgb_seq;
             INSERT INTO pgb_cases SELECT 'case-' || g, workflow_id, definition_hash, owner_id, 'under_review', '{{}}', 1, 0, repeat('0', 64), now(), now(), now()
               FROM generate_series(1, {pg_rows}) g, (SELECT workflow_id, definition_hash, owner_id FROM cases LIMIT 1) c;
             ANALYZE;"
        ))?;
    }
    let script = std::env::temp_dir().join("accredo-pgbench.sql");
    std::fs::write(
        &script,
        format!(
            "\\set id random(1, {pg_rows})\n\
             BEGIN;\n\
             UPDATE pgb_cases SET state = 'needs_revision', version = version + 1, audit_seq = audit_seq + 1, audit_head = md5(random()::text) || md5(random()::text), updated_at = now() WHERE id = 'case-' || :id;\n\
             INSERT INTO pgb_audit (chain, seq, kind, actor_id, case_id, at, payload, prev_hash, hash) VALUES ('case-' || :id, nextval('pgb_seq'), 'case.transition', 'bench-reviewer', 'case-' || :id, now(), '{{\"from\":\"under_review\",\"reason\":\"Приложите копию диплома\",\"to\":\"needs_revision\",\"transition\":\"request_revision\"}}', md5(random()::text) || md5(random()::text), md5(random()::text) || md5(random()::text));\n\
             END;\n"
        ),
    )?;
    let out = Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &CLIENTS.to_string(),
            "-j",
            "2",
            "-T",
            &pgbench_secs.to_string(),
            "-f",
        ])
        .arg(&script)
        .arg(&db_url)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let pgbench_tps: f64 = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "pgbench gave no tps: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;

    println!("reviewer transitions over HTTP, {CLIENTS} clients, PostgreSQL");
    println!(
        "  accredo : {done} transitions ({failed} failed) in {:.2} s = {accredo_tps:.0} transitions/s",
        elapsed.as_secs_f64()
    );
    println!("  pgbench : {pgbench_tps:.0} tps (same writes per transaction, {pgbench_secs} s)");
    println!(
        "  ratio   : {:.2} (target >= 0.60)",
        accredo_tps / pgbench_tps
    );
    {
        let mut conn = diesel::PgConnection::establish(&admin)?;
        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))?;
    }
    if failed > 0 {
        anyhow::bail!("{failed} transitions failed");
    }
    Ok(())
}
