//! The commission's workbench on PostgreSQL with N cases (default 1,000,000) across 20
//! specialties, 7 states, 85 regions, 5 surnames and 50 assignees, seeded in SQL (region and
//! surname independent of the specialty, as in life; an owner has one specialty and an
//! assignee works some specialties):
//! 1. a filtered, sorted queue page (the service call a request makes: the page query, the
//!    state labels and the assignees' names) for a reviewer of 2 specialties and for an admin,
//!    over a mix of filters and a second page by cursor: p50 and p95;
//! 2. the counts per state and overdue: p95; then the plans of both, as the server ran them
//!    (`auto_explain`, read from the server log);
//! 3. the XLSX export of the reviewer's 100,000 cases in a child process: its peak memory
//!    (VmHWM) before and after, and the time;
//! 4. the stage analytics over every case (3 audit events each, so 2 finished steps): first
//!    the rebuild of the recorded steps from the audit log (what an upgrade runs once), then
//!    the report.
//!
//! `cargo bench --bench review` (ACCREDO_BENCH_DATABASE_URL as the others; BENCH_CASES sets N).

mod common;

use accredo::domain::ids::UserId;
use accredo::domain::role::Role;
use accredo::engine::Actor;
use accredo::reports::table::{TableSink, XlsxSink};
use accredo::service::review::{self, QueueQuery};
use accredo::store::{DbTarget, Store};
use common::{Bench, env_number, fresh_db};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use std::time::Instant;

const DB: &str = "accredo_bench_review";

fn reviewer() -> Actor {
    Actor {
        user: UserId::from_stored("u-rev-1".into()),
        roles: [Role::Reviewer].into_iter().collect(),
        specialties: ["31.08.01".to_owned(), "31.08.02".to_owned()]
            .into_iter()
            .collect(),
        support_lines: Default::default(),
    }
}

fn admin() -> Actor {
    Actor::new(
        UserId::from_stored("u-admin".into()),
        [Role::Admin].into_iter().collect(),
    )
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn seed(db_url: &str, hash: &str, n: u64) -> anyhow::Result<()> {
    let mut pg = diesel::PgConnection::establish(db_url)?;
    // A bulk load as an operator would run one: the state counters' trigger off while a
    // million rows go in within one transaction (each row would add a version of a few hot
    // counter rows that the same transaction cannot prune), then the counters recounted by
    // the migration's own query.
    pg.batch_execute(&format!(
        "ALTER TABLE cases DISABLE TRIGGER cases_count_states;
         INSERT INTO users (id, subject, display_name, created_at)
           SELECT 'u-owner-' || g, 'owner-' || g, 'Заявитель ' || g, now() FROM generate_series(1, 1000) g;
         INSERT INTO users (id, subject, display_name, created_at)
           SELECT 'u-rev-' || g, 'rev-' || g, 'Член подкомиссии ' || g, now() FROM generate_series(1, 50) g;
         INSERT INTO users (id, subject, display_name, created_at) VALUES ('u-admin', 'admin', 'Администратор', now());
         INSERT INTO cases (id, workflow_id, definition_hash, owner_id, state, form_data, version,
             audit_seq, audit_head, submitted_at, created_at, updated_at, prefilled, step_started_at,
             due_on, due_provisional, procedure_due_provisional, number, specialty, region,
             applicant_name, name_key, snils, assignee_id)
           SELECT '01900000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'), 'periodic_accreditation',
             '{hash}', 'u-owner-' || (g % 1000 + 1), s.state, '{{}}', 1, 3, 'x',
             timestamp '2026-11-02 09:00' + (g % 5) * interval '1 day',
             timestamp '2026-11-01 09:00', timestamp '2026-11-01 09:00', '{{}}',
             timestamp '2026-11-01 09:00',
             CASE WHEN s.state IN ('approved', 'rejected') THEN NULL
                  ELSE date '2026-11-20' + (g % 40) END,
             false, false, '2026-77-' || lpad(g::text, 7, '0'),
             '31.08.' || lpad((g % 20 + 1)::text, 2, '0'), lpad(((g / 20) % 85 + 1)::text, 2, '0'),
             (ARRAY['Иванов', 'Петров', 'Сидоров', 'Семёнов', 'Кузнецов'])[1 + (g / 1700) % 5] || ' Пётр ' || g,
             (ARRAY['иванов', 'петров', 'сидоров', 'семенов', 'кузнецов'])[1 + (g / 1700) % 5] || ' петр ' || g,
             lpad(g::text, 11, '0'),
             CASE WHEN g % 3 = 0 THEN NULL ELSE 'u-rev-' || (g % 50 + 1) END
           FROM generate_series(1, {n}) g,
             LATERAL (SELECT (ARRAY['submitted', 'under_review', 'under_review', 'needs_revision',
                 'approved', 'rejected', 'under_review'])[1 + g % 7] AS state) s;
         INSERT INTO audit_events (chain, seq, kind, actor_id, case_id, at, payload, prev_hash, hash)
           SELECT c.id, e.seq, e.kind, NULL, c.id,
             timestamp '2026-11-02 09:00' + e.day * interval '1 day', e.payload, 'x', 'x'
           FROM (SELECT id, ('x' || right(id, 8))::bit(32)::int AS g FROM cases) c,
             LATERAL (VALUES
               (1, 'case.created', 0, '{{\"state\": \"draft\"}}'),
               (2, 'case.transition', c.g % 5,
                '{{\"transition\": \"submit\", \"from\": \"draft\", \"to\": \"submitted\"}}'),
               (3, 'case.transition', c.g % 5 + 1 + c.g % 9,
                '{{\"transition\": \"start_review\", \"from\": \"submitted\", \"to\": \"under_review\"}}')
             ) AS e(seq, kind, day, payload);
"
    ))?;
    pg.batch_execute(
        "ALTER TABLE cases ENABLE TRIGGER cases_count_states;
         DELETE FROM case_state_counts;
         INSERT INTO case_state_counts (workflow_id, specialty, state, due_on, shard, n)
           SELECT workflow_id, coalesce(specialty, ''), state,
                  coalesce(due_on, DATE '9999-12-31'), hashtext(id) & 15, count(*)
           FROM cases WHERE submitted_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5;",
    )?;
    // As autovacuum would have by now: statistics and the visibility map (index-only scans).
    pg.batch_execute("VACUUM ANALYZE cases")?;
    pg.batch_execute("VACUUM ANALYZE audit_events")?;
    Ok(())
}

/// Runs `work` with `auto_explain` logging the plan (with timings and buffers) of every
/// statement it sends, then prints those plans from the server's log: the plans of the queries
/// the service really runs, not of copies. The log is BENCH_PG_LOG (default: the Debian
/// cluster's); without it readable, says so and runs `work` alone.
fn with_plans<T>(
    conn: &mut accredo::store::DbConnection,
    title: &str,
    work: impl FnOnce(&mut accredo::store::DbConnection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    use std::io::{Read, Seek, SeekFrom};
    let path = std::env::var("BENCH_PG_LOG")
        .unwrap_or_else(|_| "/var/log/postgresql/postgresql-15-main.log".into());
    let Ok(mut log) = std::fs::File::open(&path) else {
        println!("plans: {title}: the server log {path} is not readable (set BENCH_PG_LOG)");
        return work(conn);
    };
    let start = log.seek(SeekFrom::End(0))?;
    conn.batch_execute(
        "LOAD 'auto_explain';
         SET auto_explain.log_min_duration = 0;
         SET auto_explain.log_analyze = on;
         SET auto_explain.log_buffers = on;",
    )?;
    let out = work(conn);
    conn.batch_execute("SET auto_explain.log_min_duration = -1")?;
    // The log is written by the server process; give it a moment to reach the file.
    std::thread::sleep(std::time::Duration::from_millis(300));
    log.seek(SeekFrom::Start(start))?;
    let mut text = String::new();
    log.read_to_string(&mut text)?;
    println!("plans: {title}");
    for line in text
        .lines()
        .filter(|l| !l.contains("auto_explain.log_min_duration"))
    {
        println!("    {line}");
    }
    out
}

/// The child: exports the reviewer's queue to XLSX and prints its peak memory before and after.
fn xlsx_child(db_url: &str) -> anyhow::Result<()> {
    let bench = Bench::new(db_url, 2)?;
    let mut conn = bench.store.conn()?;
    let before = vm_hwm_kib();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("queue.xlsx");
    let mut sink = XlsxSink::create(&path, "Заявления", accredo::service::reports::QUEUE_COLUMNS)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let t = Instant::now();
    let rows = accredo::service::reports::export_queue(
        &mut conn,
        &bench.catalog,
        &reviewer(),
        &QueueQuery::default(),
        &mut sink,
        chrono::DateTime::parse_from_rfc3339("2026-12-02T09:00:00Z")?.to_utc(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    sink.finish().map_err(|e| anyhow::anyhow!("{e}"))?;
    let secs = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path)?.len();
    println!(
        "xlsx-child rows={rows} secs={secs:.2} file_bytes={size} hwm_before_kib={before} hwm_after_kib={}",
        vm_hwm_kib()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--xlsx-child") {
        return xlsx_child(&args[i + 1]);
    }
    let n: u64 = env_number("BENCH_CASES", 1_000_000);
    let db_url = fresh_db(&common::admin_url(), DB)?;
    let bench = Bench::new(&db_url, 4)?;
    let t = Instant::now();
    seed(&db_url, &bench.workflow.definition.hash, n)?;
    println!(
        "seeded {n} cases and {} audit events in {:.1} s",
        3 * n,
        t.elapsed().as_secs_f64()
    );
    let store = Store::open_with(&DbTarget::parse(&db_url)?, Some(2))?;
    let mut conn = store.conn()?;
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-02T09:00:00Z")?.to_utc();

    // 1. Queue pages.
    let filters: &[&str] = &[
        "",
        "state=under_review",
        "assignee=me",
        "assignee=none",
        "overdue=true",
        "region=42",
        "name=семенов",
        "name=отсутствующий",
        "state=needs_revision&assignee=none",
        "sort=newest",
    ];
    let parse = |f: &str| -> QueueQuery {
        let mut q = QueueQuery::default();
        for pair in f.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = Some(v.to_owned());
            match k {
                "state" => q.state = v,
                "assignee" => q.assignee = v,
                "overdue" => q.overdue = true,
                "region" => q.region = v,
                "name" => q.name = v,
                "sort" => q.sort = v,
                _ => {}
            }
        }
        q
    };
    for (who, actor) in [
        ("reviewer (2 of 20 specialties)", reviewer()),
        ("admin (all)", admin()),
    ] {
        let mut times = Vec::new();
        let mut slowest: std::collections::BTreeMap<&str, f64> = Default::default();
        for round in 0..20 {
            for f in filters {
                let mut q = parse(f);
                let t = Instant::now();
                let page = review::page(&mut conn, &bench.catalog, &actor, &q, now)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                times.push(ms);
                let worst = slowest.entry(f).or_default();
                *worst = worst.max(ms);
                if round % 2 == 1
                    && let Some(c) = page.next_cursor
                {
                    q.cursor = Some(c);
                    let t = Instant::now();
                    review::page(&mut conn, &bench.catalog, &actor, &q, now)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "queue page of 50, {who}: {} calls, p50 {:.2} ms, p95 {:.2} ms (target p95 ≤ 20 ms: {:.1}× under)",
            times.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            20.0 / percentile(&times, 0.95)
        );
        println!("    slowest first page per filter (ms): {slowest:?}");
    }
    // 2. Counts.
    for (who, actor) in [("reviewer", reviewer()), ("admin", admin())] {
        let mut times = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            review::counts(
                &mut conn,
                &bench.catalog,
                &actor,
                &QueueQuery::default(),
                now,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "state counts, {who}: p50 {:.2} ms, p95 {:.2} ms (target ≤ 50 ms: {:.1}× under)",
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            50.0 / percentile(&times, 0.95)
        );
    }
    with_plans(
        &mut conn,
        "reviewer's first page of their own cases",
        |conn| {
            review::page(
                conn,
                &bench.catalog,
                &reviewer(),
                &parse("assignee=me"),
                now,
            )
            .map(drop)
            .map_err(|e| anyhow::anyhow!("{e}"))
        },
    )?;
    with_plans(
        &mut conn,
        "reviewer's unassigned cases under review",
        |conn| {
            let q = parse("state=under_review&assignee=none");
            review::page(conn, &bench.catalog, &reviewer(), &q, now)
                .map(drop)
                .map_err(|e| anyhow::anyhow!("{e}"))
        },
    )?;
    for (who, actor) in [("reviewer", reviewer()), ("admin", admin())] {
        with_plans(&mut conn, &format!("{who}'s counts"), |conn| {
            review::counts(conn, &bench.catalog, &actor, &QueueQuery::default(), now)
                .map(drop)
                .map_err(|e| anyhow::anyhow!("{e}"))
        })?;
    }

    // 3. XLSX of the reviewer's cases, in a child process for its own peak memory.
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["--xlsx-child", &db_url])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("xlsx-child"))
        .unwrap_or_default();
    anyhow::ensure!(
        out.status.success(),
        "xlsx child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{line} (target peak ≤ 100 MB)");

    // 4. Stage analytics over every case: the steps rebuilt from the audit log, then the report.
    let t = Instant::now();
    let steps = accredo::store::write_tx(&mut conn, |conn| {
        let calendar = accredo::service::calendar::load(conn, Default::default())?;
        accredo::service::steps::rebuild(conn, &bench.catalog, &calendar)
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "rebuilt {steps} finished steps from the audit log in {:.1} s (once, at the upgrade)",
        t.elapsed().as_secs_f64()
    );
    conn.batch_execute("ANALYZE case_steps")?;
    let t = Instant::now();
    let stages = accredo::service::reports::stages(&mut conn, &bench.catalog, &admin(), None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "stage analytics over {n} cases: {secs:.2} s (target ≤ 2 s: {:.2}×); {} stages, first {:?}",
        2.0 / secs,
        stages.len(),
        stages
            .first()
            .map(|s| (&s.state, s.count, s.median_working_days, s.p90_working_days))
    );
    drop(conn);
    common::drop_db(&common::admin_url(), DB)?;
    Ok(())
}
