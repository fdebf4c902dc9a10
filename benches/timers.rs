//! Durable timers on PostgreSQL, next to the transitions benchmark's rate measured in the same
//! run on the same server:
//! 1. reviewer transitions over HTTP (32 clients), as `benches/transitions.rs` measures them;
//! 2. 100,000 due timers, each firing the `expire` transition with its audit event, drained by
//!    two worker instances (each its own connection pool): timers fired per second, and
//!    duplicates (cases moved more than once; must be 0);
//! 3. lateness under a steady 200 timers/s falling due, fired by the same two workers polling
//!    as `serve` does (every 500 ms, at once again after a full batch): p50 and p99.
//!
//! `cargo bench --bench timers` (PostgreSQL from ACCREDO_BENCH_DATABASE_URL; BENCH_TIMERS,
//! BENCH_TRANSITIONS, BENCH_STEADY_SECS and BENCH_POLL_MS change the sizes).

mod common;

use accredo::domain::clock::{Clock, SystemClock};
use accredo::service::timers::{self, Report};
use accredo::signature::Signing;
use accredo::store::{DbTarget, Store};
use common::{Bench, CLIENTS, duplicates, env_number, fresh_db, insert_timers};
use diesel::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const DB: &str = "accredo_bench_timers";
const BATCH: i64 = 64;

fn main() -> anyhow::Result<()> {
    let admin = common::admin_url();
    let n_timers: usize = env_number("BENCH_TIMERS", 100_000);
    let n_transitions: usize = env_number("BENCH_TRANSITIONS", 20_000);
    let steady_secs: u64 = env_number("BENCH_STEADY_SECS", 20);
    let poll_ms: u64 = env_number("BENCH_POLL_MS", 500);
    let db_url = fresh_db(&admin, DB)?;
    let bench = Bench::new(&db_url, 32)?;

    // 1. The transitions benchmark's measurement.
    let (tokens, assignees): (Vec<String>, Vec<String>) =
        bench.reviewers(CLIENTS)?.into_iter().unzip();
    let ids = bench.insert_cases(n_transitions, "under_review", &assignees)?;
    let base = bench.serve()?;
    let (done, failed, elapsed) = common::http_transitions(&base, tokens, ids)?;
    let transitions_per_s = done as f64 / elapsed.as_secs_f64();

    // 2. A backlog: every timer already due.
    let ids = bench.insert_cases(n_timers, "needs_revision", &[])?;
    let due = SystemClock.now() - chrono::TimeDelta::minutes(1);
    insert_timers(&bench, &ids, |_| due)?;
    let start = Instant::now();
    let reports = two_workers(&bench, None, Duration::ZERO)?;
    let backlog_elapsed = start.elapsed();
    let fired: usize = reports.iter().map(|r| r.fired).sum();
    let timers_per_s = fired as f64 / backlog_elapsed.as_secs_f64();
    let duplicates = duplicates(&bench)?;
    let moved = count_rejected(&bench, &ids)?;

    // 3. Steady load: 200 timers fall due every second.
    let steady = 200 * usize::try_from(steady_secs)?;
    let ids = bench.insert_cases(steady, "needs_revision", &[])?;
    let t0 = SystemClock.now() + chrono::TimeDelta::seconds(2);
    insert_timers(&bench, &ids, |i| {
        t0 + chrono::TimeDelta::microseconds(i64::try_from(i).unwrap_or(0) * 5_000)
    })?;
    let until = t0 + chrono::TimeDelta::seconds(i64::try_from(steady_secs)?);
    two_workers(&bench, Some(until), Duration::from_millis(poll_ms))?;
    let (p50, p99, steady_fired) = lateness(&bench, &ids)?;

    println!("durable timers, PostgreSQL, two worker instances");
    println!(
        "  transitions (HTTP, {CLIENTS} clients): {done} ({failed} failed) in {:.2} s = {transitions_per_s:.0}/s",
        elapsed.as_secs_f64()
    );
    println!(
        "  timers fired (backlog of {n_timers}): {fired} in {:.2} s = {timers_per_s:.0}/s",
        backlog_elapsed.as_secs_f64()
    );
    println!(
        "  ratio to transitions: {:.2} (target >= 0.50)",
        timers_per_s / transitions_per_s
    );
    println!("  cases moved: {moved} of {n_timers}; duplicates: {duplicates} (must be 0)");
    println!(
        "  lateness at 200 timers/s for {steady_secs} s ({steady_fired} fired, poll {poll_ms} ms): p50 {p50:.0} ms, p99 {p99:.0} ms (target p99 <= 1000 ms)"
    );
    common::drop_db(&admin, DB)?;
    if failed > 0 || duplicates > 0 || moved != n_timers || fired != n_timers {
        anyhow::bail!(
            "timers misfired: {failed} failed transitions, {duplicates} duplicates, {moved} moved, {fired} fired"
        );
    }
    Ok(())
}

/// Two worker instances, each with its own pool, run passes until nothing is pending and due
/// (and, with `until`, until that moment has passed), pausing `poll` after a pass that did
/// not fill its batch, as `serve` does.
fn two_workers(
    bench: &Bench,
    until: Option<chrono::DateTime<chrono::Utc>>,
    poll: Duration,
) -> anyhow::Result<Vec<Report>> {
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = ["instance-a", "instance-b"]
        .into_iter()
        .map(|name| {
            let store = Store::open_with(&DbTarget::parse(&bench.db_url)?, Some(2))?;
            let catalog = bench.catalog.clone();
            let notices = bench.notices.clone();
            let stop = stop.clone();
            Ok(std::thread::spawn(move || -> anyhow::Result<Report> {
                let signing = Signing::default();
                let rules = accredo::service::Rules {
                    catalog: &catalog,
                    signing: &signing,
                    notices: &notices,
                };
                let mut conn = store.conn()?;
                let mut total = Report::default();
                while !stop.load(Ordering::Relaxed) {
                    let r = timers::run_due(&mut conn, rules, name, BATCH, &SystemClock)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    total += r;
                    if r.claimed as i64 >= BATCH {
                        continue;
                    }
                    let now = SystemClock.now();
                    let (_, due) = accredo::store::timers::pending(&mut conn, now.naive_utc())?;
                    if due == 0 && until.is_none_or(|u| now > u) {
                        break;
                    }
                    std::thread::sleep(poll);
                }
                Ok(total)
            }))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut reports = Vec::new();
    for h in handles {
        let r = h.join().map_err(|_| anyhow::anyhow!("worker panicked"));
        if r.as_ref().map_or(true, Result::is_err) {
            stop.store(true, Ordering::Relaxed);
        }
        reports.push(r??);
    }
    Ok(reports)
}

fn count_rejected(bench: &Bench, ids: &[String]) -> anyhow::Result<usize> {
    use accredo::store::schema::cases;
    let mut conn = bench.store.conn()?;
    let mut n = 0;
    for chunk in ids.chunks(10_000) {
        let c: i64 = cases::table
            .filter(cases::id.eq_any(chunk))
            .filter(cases::state.eq("rejected"))
            .count()
            .get_result(&mut *conn)?;
        n += usize::try_from(c)?;
    }
    Ok(n)
}

#[derive(QueryableByName)]
struct Lateness {
    #[diesel(sql_type = diesel::sql_types::Double)]
    p50: f64,
    #[diesel(sql_type = diesel::sql_types::Double)]
    p99: f64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Stored lateness of the timers of `ids`: p50, p99, count.
fn lateness(bench: &Bench, ids: &[String]) -> anyhow::Result<(f64, f64, i64)> {
    use diesel::sql_types::{Array, Text};
    let mut conn = bench.store.conn()?;
    let accredo::store::DbConnection::Pg(pg) = &mut *conn else {
        anyhow::bail!("the benchmark needs PostgreSQL");
    };
    let l: Lateness = diesel::sql_query(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lateness_ms) AS p50,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY lateness_ms) AS p99,
                count(*) AS n
           FROM timers WHERE case_id = ANY($1) AND status = 'fired'",
    )
    .bind::<Array<Text>, _>(ids)
    .get_result(pg)?;
    Ok((l.p50, l.p99, l.n))
}
