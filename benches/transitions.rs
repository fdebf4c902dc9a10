//! Reviewer transitions over HTTP against PostgreSQL with 32 concurrent clients, next to
//! pgbench doing the same writes per transaction (the lock of the case row, one UPDATE of it,
//! one INSERT of an audit row, the cancelling UPDATE and the INSERT of the step's timer, the
//! INSERT of the applicant's notification and of the decision, the two upserts (and zero-row
//! deletes) of the state counters the trigger makes and the INSERT of the finished step) on the
//! same server in the same run. Each reviewer sends `request_revision` for the cases assigned
//! to it, in its subcommission's specialty.
//!
//! `cargo bench --bench transitions` (PostgreSQL from ACCREDO_BENCH_DATABASE_URL, default
//! postgres://postgres@127.0.0.1:5432/postgres; BENCH_TRANSITIONS sets the count).

mod common;

use common::{Bench, CLIENTS, env_number, fresh_db};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use std::process::Command;
use std::time::Duration;

const DB: &str = "accredo_bench";

fn main() -> anyhow::Result<()> {
    let admin = common::admin_url();
    let total: usize = env_number("BENCH_TRANSITIONS", 20_000);
    let pgbench_secs: u64 = env_number("BENCH_PGBENCH_SECS", 15);
    let db_url = fresh_db(&admin, DB)?;

    // Seed: one applicant, 32 reviewers with sessions, `total` cases under review.
    let bench = Bench::new(&db_url, 32)?;
    let (tokens, assignees): (Vec<String>, Vec<String>) =
        bench.reviewers(CLIENTS)?.into_iter().unzip();
    let ids = bench.insert_cases(total, "under_review", &assignees)?;
    // The server in its own process: the load generator (this process) does not share its
    // CPU time or allocator.
    let log = std::env::temp_dir().join("accredo-bench-transitions.log");
    let server = bench.serve_process(
        &db_url,
        &[("ACCREDO_DB_POOL_SIZE", CLIENTS.to_string())],
        &log,
    )?;
    let base = server.base.clone();
    let (done, failed, elapsed) = common::http_transitions(&base, tokens.clone(), ids.clone())?;
    let accredo_tps = done as f64 / elapsed.as_secs_f64();

    // Case reads over HTTP next to pgbench's select-only run.
    let (reads, read_errors, read_elapsed) =
        common::http_reads(&base, &tokens, &ids, Duration::from_secs(pgbench_secs))?;
    let reads_per_s = reads as f64 / read_elapsed.as_secs_f64();
    drop(server);

    // pgbench: the same writes per transaction on tables shaped like ours, same server.
    let pg_rows = total.max(10_000);
    {
        let mut conn = diesel::PgConnection::establish(&db_url)?;
        conn.batch_execute(&format!(
            "CREATE TABLE pgb_cases (LIKE cases INCLUDING ALL);
             CREATE TABLE pgb_audit (LIKE audit_events INCLUDING ALL);
             CREATE TABLE pgb_timers (LIKE timers INCLUDING ALL);
             CREATE TABLE pgb_notifications (LIKE notifications INCLUDING ALL);
             CREATE TABLE pgb_counts (LIKE case_state_counts INCLUDING ALL);
             CREATE TABLE pgb_steps (LIKE case_steps INCLUDING ALL);
             CREATE TABLE pgb_decisions (LIKE case_decisions INCLUDING ALL);
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
             SELECT version FROM pgb_cases WHERE id = 'case-' || :id FOR UPDATE;\n\
             UPDATE pgb_cases SET state = 'needs_revision', version = version + 1, audit_seq = audit_seq + 1, audit_head = md5(random()::text) || md5(random()::text), updated_at = now() WHERE id = 'case-' || :id;\n\
             INSERT INTO pgb_audit (chain, seq, kind, actor_id, case_id, at, payload, prev_hash, hash) VALUES ('case-' || :id, nextval('pgb_seq'), 'case.transition', 'bench-reviewer', 'case-' || :id, now(), '{{\"from\":\"under_review\",\"reason\":\"Приложите копию диплома\",\"to\":\"needs_revision\",\"transition\":\"request_revision\"}}', md5(random()::text) || md5(random()::text), md5(random()::text) || md5(random()::text));\n\
             UPDATE pgb_timers SET status = 'cancelled', fired_at = now() WHERE case_id = 'case-' || :id AND status = 'pending' AND scope = ANY('{{step}}');\n\
             INSERT INTO pgb_timers (id, case_id, scope, action, transition, reason, state, due_at, status, created_at) VALUES (md5(random()::text), 'case-' || :id, 'step', 'transition', 'expire', 'срок доработки истёк', 'needs_revision', now() + interval '7 days', 'pending', now());\n\
             INSERT INTO pgb_notifications (id, recipient_id, case_id, event, channel, subject, body, status, created_at, delivered_at) VALUES (md5(random()::text), 'bench-applicant', 'case-' || :id, 'revision_requested', 'inapp', 'Заявление № 2026-77-000001 возвращено на доработку', 'Комиссия вернула заявление «Периодическая аккредитация специалиста» № 2026-77-000001 на доработку. Что исправить: Приложите копию диплома Исправьте заявление и подайте его повторно до 09.12.2026 включительно; если этого не сделать, заявление будет отклонено.', 'delivered', now(), now());\n\
             INSERT INTO pgb_counts (workflow_id, specialty, state, due_on, shard, n) VALUES ('periodic_accreditation', '', 'needs_revision', current_date + 7, hashtext('case-' || :id) & 15, 1) ON CONFLICT (workflow_id, specialty, state, due_on, shard) DO UPDATE SET n = pgb_counts.n + EXCLUDED.n;\n\
             DELETE FROM pgb_counts WHERE workflow_id = 'periodic_accreditation' AND specialty = '' AND state = 'needs_revision' AND due_on = current_date + 7 AND shard = hashtext('case-' || :id) & 15 AND n = 0;\n\
             INSERT INTO pgb_counts (workflow_id, specialty, state, due_on, shard, n) VALUES ('periodic_accreditation', '', 'under_review', current_date + 10, hashtext('case-' || :id) & 15, -1) ON CONFLICT (workflow_id, specialty, state, due_on, shard) DO UPDATE SET n = pgb_counts.n + EXCLUDED.n;\n\
             DELETE FROM pgb_counts WHERE workflow_id = 'periodic_accreditation' AND specialty = '' AND state = 'under_review' AND due_on = current_date + 10 AND shard = hashtext('case-' || :id) & 15 AND n = 0;\n\
             INSERT INTO pgb_decisions (id, case_id, transition, decided_by, decided_at, reasons, recommendations, fixes) VALUES (md5(random()::text), 'case-' || :id, 'request_revision', 'bench-reviewer', now(), '[]', NULL, '{{\"fields\": [], \"documents\": [{{\"type\": \"diploma\", \"comment\": \"Приложите копию диплома\"}}]}}');\n\
             INSERT INTO pgb_steps (case_id, seq, workflow_id, specialty, state, started_by, started_at, ended_at, working_days, sla_working_days) VALUES ('case-' || :id, nextval('pgb_seq'), 'periodic_accreditation', NULL, 'under_review', 'start_review', now() - interval '3 days', now(), 3, 10);\n\
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
    let pgbench_tps = pgbench_tps_of(out)?;

    // pgbench -S: one indexed SELECT by primary key per transaction.
    let init = Command::new("pgbench")
        .args(["-i", "-q", "-s", "10"])
        .arg(&db_url)
        .output()?;
    if !init.status.success() {
        anyhow::bail!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    let select_tps = pgbench_tps_of(
        Command::new("pgbench")
            .args(["-n", "-S", "-c", &CLIENTS.to_string(), "-j", "2", "-T"])
            .arg(pgbench_secs.to_string())
            .arg(&db_url)
            .output()?,
    )?;

    println!("reviewer transitions over HTTP, {CLIENTS} clients, PostgreSQL");
    println!(
        "  accredo : {done} transitions ({failed} failed) in {:.2} s = {accredo_tps:.0} transitions/s",
        elapsed.as_secs_f64()
    );
    println!("  pgbench : {pgbench_tps:.0} tps (same writes per transaction, {pgbench_secs} s)");
    println!(
        "  ratio   : {:.2} (target >= 0.90)",
        accredo_tps / pgbench_tps
    );
    println!("case reads (GET /api/v1/cases/{{id}}) over HTTP, {CLIENTS} clients");
    println!(
        "  accredo : {reads} reads ({read_errors} failed) in {:.2} s = {reads_per_s:.0} reads/s",
        read_elapsed.as_secs_f64()
    );
    println!("  pgbench -S : {select_tps:.0} tps ({pgbench_secs} s)");
    println!(
        "  ratio   : {:.2} (target >= 0.50)",
        reads_per_s / select_tps
    );
    common::drop_db(&admin, DB)?;
    if failed > 0 || read_errors > 0 {
        anyhow::bail!("{failed} transitions and {read_errors} reads failed");
    }
    Ok(())
}

/// The `tps = …` pgbench printed.
fn pgbench_tps_of(out: std::process::Output) -> anyhow::Result<f64> {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "pgbench gave no tps: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}
