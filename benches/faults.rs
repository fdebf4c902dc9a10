//! Fault scenarios against `accredo serve` processes (the release binary) on PostgreSQL, with
//! the load generated from this process; the results as a table:
//! 1. kill -9 of the server in the middle of a transition load, then a restart: every
//!    transition answered 2xx is in the database with its timer and notification, `accredo
//!    audit verify` passes, and the requests cut off, retried with their `Idempotency-Key`,
//!    happen once;
//! 2. the server's peak memory under that 32-client load;
//! 3. PostgreSQL unreachable for 5 seconds under load (a proxy between the server and the
//!    database drops every connection and refuses new ones): answers are 503 with
//!    `Retry-After` within 1 s, never 500, and 200 again within 1 s of the return;
//! 4. 50 concurrent conflicting decisions on one case: exactly one succeeds;
//! 5. two `serve` instances on one database: due timers and notifications each fire once.
//!
//! `cargo bench --bench faults` (PostgreSQL from ACCREDO_BENCH_DATABASE_URL;
//! BENCH_FAULT_TRANSITIONS (20000), BENCH_KILL_AFTER_MS (3000), BENCH_FAULT_TIMERS (5000),
//! BENCH_FAULT_NOTIFICATIONS (5000)).

mod common;

use common::{Bench, CLIENTS, Count, SECRET, env_number, fresh_db, insert_timers, outbox};
use diesel::prelude::*;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DB: &str = "accredo_bench_faults";
const MEMORY_LIMIT_MIB: f64 = 150.0;

/// What every scenario works with.
struct Setup {
    bench: Bench,
    rt: tokio::runtime::Runtime,
    tokens: Vec<String>,
    assignees: Vec<String>,
    logs: std::path::PathBuf,
}

struct Row {
    scenario: &'static str,
    ok: bool,
    measured: String,
}

fn main() -> anyhow::Result<()> {
    let admin = common::admin_url();
    let db_url = fresh_db(&admin, DB)?;
    let bench = Bench::new(&db_url, 8)?;
    let (tokens, assignees): (Vec<String>, Vec<String>) =
        bench.reviewers(CLIENTS)?.into_iter().unzip();
    let logs = std::env::temp_dir().join("accredo-bench-faults");
    std::fs::create_dir_all(&logs)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let setup = Setup {
        bench,
        rt,
        tokens,
        assignees,
        logs,
    };
    let mut rows = kill_nine(&setup)?;
    rows.push(outage(&setup)?);
    rows.push(conflicting(&setup)?);
    rows.push(two_instances(&setup)?);
    let logs = setup.logs;

    println!("fault scenarios, PostgreSQL, `accredo serve` in its own process");
    println!("| scenario | result | measured |");
    println!("| --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {} | {} |",
            r.scenario,
            if r.ok { "PASS" } else { "FAIL" },
            r.measured
        );
    }
    println!("(server logs in {})", logs.display());
    common::drop_db(&admin, DB)?;
    let failed: Vec<&str> = rows.iter().filter(|r| !r.ok).map(|r| r.scenario).collect();
    if !failed.is_empty() {
        anyhow::bail!("failed: {failed:?}");
    }
    Ok(())
}

fn pg(bench: &Bench) -> anyhow::Result<diesel::PgConnection> {
    Ok(diesel::PgConnection::establish(&bench.db_url)?)
}

fn count(conn: &mut diesel::PgConnection, sql: &str, ids: &[String]) -> anyhow::Result<i64> {
    use diesel::sql_types::{Array, Text};
    let c: Count = diesel::sql_query(sql)
        .bind::<Array<Text>, _>(ids)
        .get_result(conn)?;
    Ok(c.n)
}

/// What a client learnt of one request.
#[derive(Default)]
struct Outcomes {
    acked: Vec<String>,
    cut: Vec<String>,
    other: Vec<String>,
}

/// Sends `request_revision` with the case id as its `Idempotency-Key` to every case of
/// `work` (the client of its assignee, the case), each client to its own cases.
async fn transitions(base: &str, tokens: &[String], work: Vec<(usize, String)>) -> Outcomes {
    let out = Arc::new(Mutex::new(Outcomes::default()));
    let work = Arc::new(work);
    let mut handles = Vec::new();
    for (c, token) in tokens.iter().enumerate() {
        let (work, out, base, token) = (work.clone(), out.clone(), base.to_owned(), token.clone());
        handles.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for id in work.iter().filter(|(w, _)| *w == c).map(|(_, id)| id) {
                let res = common::revision_request(&client, &base, id, &token)
                    .header("Idempotency-Key", id.as_str())
                    .send()
                    .await;
                let mut o = out
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match res {
                    Ok(r) if r.status().is_success() => o.acked.push(id.clone()),
                    Ok(r) => o.other.push(format!("{id}: {}", r.status())),
                    Err(_) => o.cut.push(id.clone()),
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    Arc::try_unwrap(out)
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
        .unwrap_or_default()
}

fn kill_nine(s: &Setup) -> anyhow::Result<Vec<Row>> {
    let Setup {
        bench,
        rt,
        tokens,
        assignees,
        logs,
    } = s;
    let n: usize = env_number("BENCH_FAULT_TRANSITIONS", 20_000);
    let kill_after = Duration::from_millis(env_number("BENCH_KILL_AFTER_MS", 3_000));
    let ids = bench.insert_cases(n, "under_review", assignees)?;
    let server = bench.serve_process(&bench.db_url, &[], &logs.join("kill-before.log"))?;
    let base = server.base.clone();
    // Case i is assigned to reviewer i % CLIENTS (Bench::insert_cases).
    let client_of: std::collections::HashMap<String, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i % tokens.len()))
        .collect();
    let work = |list: &[String]| -> Vec<(usize, String)> {
        list.iter()
            .map(|id| (client_of.get(id).copied().unwrap_or(0), id.clone()))
            .collect()
    };
    let load = {
        let (base, tokens, all) = (base.clone(), tokens.to_vec(), work(&ids));
        rt.spawn(async move { transitions(&base, &tokens, all).await })
    };
    std::thread::sleep(kill_after);
    let peak = server.peak_rss_mib().unwrap_or(f64::NAN);
    server.kill();
    let outcomes = rt.block_on(load)?;

    // Restarted: every acknowledged transition is there, with what it wrote.
    let again = bench.serve_process(&bench.db_url, &[], &logs.join("kill-after.log"))?;
    let mut conn = pg(bench)?;
    let lost = count(
        &mut conn,
        "SELECT count(*) AS n FROM unnest($1::text[]) a(id)
           WHERE NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = a.id AND c.state = 'needs_revision')",
        &outcomes.acked,
    )?;
    let retried = rt.block_on(transitions(&again.base, tokens, work(&outcomes.cut)));
    let moved: Vec<String> = ids.clone();
    let no_timer = count(
        &mut conn,
        "SELECT count(*) AS n FROM cases c WHERE c.id = ANY($1) AND c.state = 'needs_revision'
           AND NOT EXISTS (SELECT 1 FROM timers t WHERE t.case_id = c.id AND t.status = 'pending' AND t.scope = 'step')",
        &moved,
    )?;
    let no_notice = count(
        &mut conn,
        "SELECT count(*) AS n FROM cases c WHERE c.id = ANY($1) AND c.state = 'needs_revision'
           AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.case_id = c.id AND n.event = 'revision_requested')",
        &moved,
    )?;
    let duplicates = count(
        &mut conn,
        "SELECT count(*) AS n FROM (SELECT case_id FROM audit_events
           WHERE case_id = ANY($1) AND kind = 'case.transition'
           GROUP BY case_id HAVING count(*) > 1) d",
        &moved,
    )?;
    let not_moved = count(
        &mut conn,
        "SELECT count(*) AS n FROM cases WHERE id = ANY($1) AND state <> 'needs_revision'",
        &moved,
    )?;
    drop(again);
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_accredo"))
        .args(["audit", "verify"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", &bench.db_url)
        .env("ACCREDO_LOG", "warn")
        .output()?;
    let verified = verify.status.success();
    let ok = lost == 0
        && duplicates == 0
        && no_timer == 0
        && no_notice == 0
        && verified
        && outcomes.other.is_empty()
        && retried.acked.len() == outcomes.cut.len()
        && not_moved == 0;
    let first_other = outcomes.other.first().cloned().unwrap_or_default();
    Ok(vec![
        Row {
            scenario: "kill -9 mid transition load, restart",
            ok,
            measured: format!(
                "{} answered 2xx before the kill, {lost} of them lost; {} cut off, retried with \
                 their keys: {} 2xx{}; {duplicates} cases moved twice; {no_timer} without their \
                 timer, {no_notice} without their notification; {not_moved} not moved; audit \
                 verify {}{}",
                outcomes.acked.len(),
                outcomes.cut.len(),
                retried.acked.len(),
                if retried.acked.len() == outcomes.cut.len() {
                    String::new()
                } else {
                    format!(
                        " ({} cut again, {} other: {})",
                        retried.cut.len(),
                        retried.other.len(),
                        retried.other.first().map_or("", String::as_str)
                    )
                },
                if verified { "passed" } else { "FAILED" },
                if first_other.is_empty() {
                    String::new()
                } else {
                    format!("; other answers: {} ({first_other})", outcomes.other.len())
                }
            ),
        },
        Row {
            scenario: "server memory, 32-client transition load",
            ok: peak <= MEMORY_LIMIT_MIB,
            measured: format!("peak RSS {peak:.0} MiB (limit {MEMORY_LIMIT_MIB:.0} MiB)"),
        },
    ])
}

/// A TCP proxy that can be cut: every open connection is shut and new ones are closed at
/// once, as when the database server stops.
struct Proxy {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: String) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (c, o) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { continue };
                if c.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(outbound) = TcpStream::connect(&upstream) else {
                    continue;
                };
                if let (Ok(a), Ok(b)) = (inbound.try_clone(), outbound.try_clone()) {
                    let mut list = o.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    list.push(a);
                    list.push(b);
                }
                for (mut from, mut to) in [
                    (inbound.try_clone(), outbound.try_clone()),
                    (outbound.try_clone(), inbound.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Ok(Self { addr, cut, open })
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
        if cut {
            let mut list = self
                .open
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for s in list.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

/// One answer of the outage scenario: when it was sent (since the start), how long it took,
/// its status and whether it carried `Retry-After`.
struct Answer {
    sent: Duration,
    took: Duration,
    status: u16,
    retry_after: bool,
}

fn outage(s: &Setup) -> anyhow::Result<Row> {
    let Setup {
        bench,
        rt,
        tokens,
        assignees,
        logs,
    } = s;
    let mut url = url::Url::parse(&bench.db_url)?;
    let upstream = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(upstream)?;
    url.set_host(Some("127.0.0.1"))?;
    let _ = url.set_port(Some(proxy.addr.port()));
    let server = bench.serve_process(url.as_str(), &[], &logs.join("outage.log"))?;
    let id = bench
        .insert_cases(1, "under_review", &assignees[..1])?
        .remove(0);
    let (cut_at, back_at, end) = (
        Duration::from_secs(2),
        Duration::from_secs(7),
        Duration::from_secs(10),
    );
    let start = Instant::now();
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let load = {
        let (answers, base, token) = (answers.clone(), server.base.clone(), tokens[0].clone());
        rt.spawn(async move {
            let mut handles = Vec::new();
            for _ in 0..8 {
                let (answers, base, token, id) =
                    (answers.clone(), base.clone(), token.clone(), id.clone());
                handles.push(tokio::spawn(async move {
                    let client = reqwest::Client::builder()
                        .timeout(Duration::from_secs(15))
                        .build()
                        .unwrap_or_default();
                    while start.elapsed() < end {
                        let sent = start.elapsed();
                        let t0 = Instant::now();
                        let res = client
                            .get(format!("{base}/api/v1/cases/{id}"))
                            .bearer_auth(&token)
                            .send()
                            .await;
                        let (status, retry_after) = match res {
                            Ok(r) => (r.status().as_u16(), r.headers().contains_key("retry-after")),
                            Err(_) => (0, false),
                        };
                        answers
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(Answer {
                                sent,
                                took: t0.elapsed(),
                                status,
                                retry_after,
                            });
                        if status != 200 {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }));
            }
            for h in handles {
                let _ = h.await;
            }
        })
    };
    std::thread::sleep(cut_at);
    proxy.set_cut(true);
    std::thread::sleep(back_at - cut_at);
    proxy.set_cut(false);
    rt.block_on(load)?;
    drop(server);
    let answers = answers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Sent and answered while the database was away (a moment after the cut, before the
    // return; a request waiting for a connection at the return may get one).
    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.sent >= cut_at + Duration::from_millis(100) && a.sent + a.took < back_at)
        .collect();
    let slowest = during.iter().map(|a| a.took).max().unwrap_or_default();
    let odd: Vec<String> = during
        .iter()
        .filter(|a| a.status != 503 || !a.retry_after)
        .map(|a| format!("{} at {} ms", a.status, a.sent.as_millis()))
        .collect();
    let not_503 = odd.len();
    let server_errors = answers
        .iter()
        .filter(|a| a.status == 0 || (a.status >= 500 && a.status != 503))
        .count();
    let recovered = answers
        .iter()
        .filter(|a| a.sent >= back_at && a.status == 200)
        .map(|a| a.sent + a.took - back_at)
        .min();
    let ok = !during.is_empty()
        && not_503 == 0
        && slowest < Duration::from_secs(1)
        && server_errors == 0
        && recovered.is_some_and(|r| r < Duration::from_secs(1));
    Ok(Row {
        scenario: "PostgreSQL unreachable 5 s under load",
        ok,
        measured: format!(
            "{} answers in the outage, {not_503} not 503 with Retry-After{}, slowest {} ms; \
             {server_errors} 500s or dropped; 200 again {} after the return",
            during.len(),
            if odd.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    odd.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                )
            },
            slowest.as_millis(),
            recovered.map_or_else(|| "never".to_owned(), |r| format!("{} ms", r.as_millis()))
        ),
    })
}

fn conflicting(s: &Setup) -> anyhow::Result<Row> {
    let Setup {
        bench,
        rt,
        tokens,
        assignees,
        logs,
    } = s;
    let server = bench.serve_process(&bench.db_url, &[], &logs.join("conflicts.log"))?;
    let id = bench
        .insert_cases(1, "under_review", &assignees[..1])?
        .remove(0);
    let (base, token) = (server.base.clone(), tokens[0].clone());
    let statuses: Vec<u16> = rt.block_on(async move {
        let client = reqwest::Client::new();
        let sends = (0..50).map(|_| common::revision_request(&client, &base, &id, &token).send());
        futures::future::join_all(sends)
            .await
            .into_iter()
            .map(|r| r.map_or(0, |r| r.status().as_u16()))
            .collect()
    });
    let won = statuses.iter().filter(|s| **s == 200).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    Ok(Row {
        scenario: "50 concurrent conflicting decisions on one case",
        ok: won == 1 && conflicts == 49,
        measured: format!("{won} succeeded, {conflicts} answered 409 version_conflict"),
    })
}

fn two_instances(s: &Setup) -> anyhow::Result<Row> {
    let Setup { bench, logs, .. } = s;
    use accredo::domain::clock::{Clock, SystemClock};
    let n_timers: usize = env_number("BENCH_FAULT_TIMERS", 5_000);
    let n_notes: i64 = env_number("BENCH_FAULT_NOTIFICATIONS", 5_000);
    let ids = bench.insert_cases(n_timers, "needs_revision", &[])?;
    let due = SystemClock.now() - chrono::TimeDelta::minutes(1);
    insert_timers(bench, &ids, |_| due)?;
    let (hook, seen) = common::receiver()?;
    let mut conn = pg(bench)?;
    outbox(
        &mut conn,
        &bench.owner_id,
        "sms",
        "two-",
        n_notes,
        due.naive_utc(),
    )?;
    let env = [
        ("ACCREDO_TIMER_POLL_MS", "200".to_owned()),
        ("ACCREDO_NOTIFY_POLL_MS", "200".to_owned()),
        ("ACCREDO_SMS_WEBHOOK_URL", hook),
        ("ACCREDO_SMS_WEBHOOK_SECRET", SECRET.to_owned()),
    ];
    let start = Instant::now();
    let a = bench.serve_process(&bench.db_url, &env, &logs.join("instance-a.log"))?;
    let b = bench.serve_process(&bench.db_url, &env, &logs.join("instance-b.log"))?;
    let pending = |conn: &mut diesel::PgConnection| -> anyhow::Result<(i64, i64)> {
        let timers = count(
            conn,
            "SELECT count(*) AS n FROM timers WHERE case_id = ANY($1) AND status = 'pending'",
            &ids,
        )?;
        let notes: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM notifications WHERE id LIKE 'two-%' AND status = 'pending'",
        )
        .get_result(conn)?;
        Ok((timers, notes.n))
    };
    let mut left = pending(&mut conn)?;
    while left != (0, 0) && start.elapsed() < Duration::from_secs(180) {
        std::thread::sleep(Duration::from_millis(250));
        left = pending(&mut conn)?;
    }
    let elapsed = start.elapsed();
    drop((a, b));
    let moved_twice = common::duplicates(bench)?;
    let rejected = count(
        &mut conn,
        "SELECT count(*) AS n FROM cases WHERE id = ANY($1) AND state = 'rejected'",
        &ids,
    )?;
    let (delivered, twice) = common::tally(&seen, "two-");
    let ok = left == (0, 0)
        && moved_twice == 0
        && rejected == ids.len() as i64
        && delivered as i64 == n_notes
        && twice == 0;
    Ok(Row {
        scenario: "two serve instances on one database",
        ok,
        measured: format!(
            "{rejected} of {n_timers} due timers fired, {moved_twice} twice; {delivered} of \
             {n_notes} notifications delivered, {twice} twice; in {:.1} s",
            elapsed.as_secs_f64()
        ),
    })
}
