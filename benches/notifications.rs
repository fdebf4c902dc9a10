//! Notification delivery on PostgreSQL: an outbox of `BENCH_NOTIFICATIONS` rows (default
//! 100,000: 80% SMS webhooks, 20% e-mails) drained by two dispatcher instances of each channel,
//! the webhooks to a local HTTP receiver and the e-mails to a local SMTP server
//! (mailin-embedded), as `serve` runs them: deliveries per second against the targets
//! (1,000 webhooks/s, 200 e-mails/s), loss and duplicates counted by the receivers. Then
//! commit-to-delivery latency p50/p99 with rows committed at a steady rate while the same
//! dispatchers poll every `BENCH_POLL_MS` (default 500, `serve`'s default).

#[path = "common/mod.rs"]
mod common;

use accredo::domain::clock::{SharedClock, SystemClock};
use accredo::notify::dispatch::{self, Dispatcher, Policy};
use accredo::notify::email::{Email, SmtpSettings};
use accredo::notify::webhook::Webhook;
use common::{
    Bench, SECRET, Seen, admin_url, drop_db, env_number, fresh_db, outbox, receiver, tally,
};
use diesel::prelude::*;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
struct Mailbox {
    seen: Seen,
    buf: Vec<u8>,
}

impl mailin_embedded::Handler for Mailbox {
    fn data_start(&mut self, _: &str, _: &str, _: bool, _: &[String]) -> mailin_embedded::Response {
        self.buf.clear();
        mailin_embedded::response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> mailin_embedded::Response {
        // The Message-ID is `<row id@domain>`.
        let text = String::from_utf8_lossy(&self.buf);
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: <"))
            .and_then(|l| l.split('@').next())
            .unwrap_or_default()
            .to_owned();
        if let Ok(mut m) = self.seen.lock() {
            *m.entry(id).or_default() += 1;
        }
        mailin_embedded::response::OK
    }
}

fn smtp_server() -> anyhow::Result<(u16, Seen)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let mailbox = Mailbox::default();
    let seen = mailbox.seen.clone();
    let mut server = mailin_embedded::Server::new(mailbox);
    server
        .with_name("smtp.bench")
        .with_num_threads(32)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    Ok((port, seen))
}

/// Runs passes of `d` as `owner` until `stop`: a full batch at once, else after `poll`.
async fn worker(
    store: accredo::store::Store,
    d: Arc<dyn Dispatcher>,
    policy: Policy,
    owner: String,
    clock: SharedClock,
    poll: Duration,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        match dispatch::pass(&store, d.as_ref(), &policy, &owner, &clock).await {
            Ok(r) if r.claimed as i64 >= policy.batch => continue,
            Ok(_) => {}
            Err(e) => eprintln!("pass failed: {e}"),
        }
        tokio::time::sleep(poll).await;
    }
}

/// Rows of `prefix` still pending (retried after a transient failure) and one of their errors.
fn waiting_for_retry(
    pg: &mut diesel::PgConnection,
    prefix: &str,
) -> anyhow::Result<(i64, Option<String>)> {
    use accredo::store::schema::notifications as n;
    let rows: Vec<Option<String>> = n::table
        .filter(n::id.like(format!("{prefix}%")))
        .filter(n::status.eq("pending"))
        .select(n::last_error)
        .load(pg)?;
    Ok((rows.len() as i64, rows.into_iter().flatten().next()))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let total: i64 = env_number("BENCH_NOTIFICATIONS", 100_000);
    let poll = Duration::from_millis(env_number("BENCH_POLL_MS", 500));
    let steady_secs: u64 = env_number("BENCH_STEADY_SECS", 10);
    let emails = total / 5;
    let webhooks = total - emails;
    let admin = admin_url();
    let url = fresh_db(&admin, "accredo_bench_notify")?;
    let bench = Bench::new(&url, 24)?;
    let clock: SharedClock = Arc::new(SystemClock);
    let mut pg = diesel::PgConnection::establish(&url)?;
    let (hook, hooks_seen) = receiver()?;
    let (smtp_port, mail_seen) = smtp_server()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    let policy = Policy::default();
    let make = || -> anyhow::Result<Vec<Arc<dyn Dispatcher>>> {
        let sms: Arc<dyn Dispatcher> = Arc::new(Webhook::new(
            "sms",
            &hook,
            SECRET,
            Duration::from_secs(10),
            clock.clone(),
            64,
        )?);
        let transport = Email::smtp(&SmtpSettings {
            url: format!("smtp://127.0.0.1:{smtp_port}"),
            pool: 8,
            timeout_secs: 30,
        })?;
        let mail: Arc<dyn Dispatcher> = Arc::new(Email::new(
            transport,
            "Аккредитация специалистов <noreply@accredo.local>",
            bench.store.clone(),
            clock.clone(),
            8,
        )?);
        Ok(vec![sms, mail])
    };
    // The SMTP pool starts its task on the runtime it is built in.
    let _runtime = rt.enter();
    let instances = [make()?, make()?];

    // Drain: the whole outbox at once.
    let at = clock.now().naive_utc();
    outbox(&mut pg, &bench.owner_id, "sms", "drain-sms-", webhooks, at)?;
    outbox(&mut pg, &bench.owner_id, "email", "drain-mail-", emails, at)?;
    println!(
        "outbox: {webhooks} SMS webhooks and {emails} e-mails pending; two dispatcher instances per channel"
    );
    let mut problems = Vec::new();
    let mut drained = Vec::new();
    for (i, channel) in ["sms", "email"].into_iter().enumerate() {
        let started = Instant::now();
        let reports = rt.block_on(async {
            let tasks: Vec<_> = instances
                .iter()
                .enumerate()
                .map(|(n, inst)| {
                    let (store, d, clock) = (bench.store.clone(), inst[i].clone(), clock.clone());
                    tokio::spawn(async move {
                        dispatch::drain(&store, d.as_ref(), &policy, &format!("bench-{n}"), &clock)
                            .await
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await);
            }
            out
        });
        let secs = started.elapsed().as_secs_f64();
        let mut delivered = 0;
        for r in reports {
            delivered += r??.delivered;
        }
        let (seen, prefix, target, count) = match channel {
            "sms" => (&hooks_seen, "drain-sms-", 1_000.0, webhooks),
            _ => (&mail_seen, "drain-mail-", 200.0, emails),
        };
        let (unique, dups) = tally(seen, prefix);
        let rate = delivered as f64 / secs;
        let (waiting, error) = waiting_for_retry(&mut pg, prefix)?;
        println!(
            "{channel}: {delivered} delivered in {secs:.1} s = {rate:.0}/s, {:.2}× the target of \
             {target:.0}/s; received {unique} distinct of {count}, duplicates {dups}; \
             {waiting} waiting for a retry{}",
            rate / target,
            error
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default()
        );
        drained.push((seen.clone(), prefix, count as usize));
    }

    // Steady: rows committed at a rate while the dispatchers poll as `serve` does.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for (n, inst) in instances.iter().enumerate() {
        for d in inst {
            rt.spawn(worker(
                bench.store.clone(),
                d.clone(),
                policy,
                format!("steady-{n}"),
                clock.clone(),
                poll,
                stop.clone(),
            ));
        }
    }
    let per_tick = 20; // every 100 ms: 200/s, a fifth of them e-mails
    let started = Instant::now();
    let mut tick = 0;
    while started.elapsed() < Duration::from_secs(steady_secs) {
        let at = clock.now().naive_utc();
        outbox(
            &mut pg,
            &bench.owner_id,
            "sms",
            &format!("steady-sms-{tick}-"),
            per_tick * 4 / 5,
            at,
        )?;
        outbox(
            &mut pg,
            &bench.owner_id,
            "email",
            &format!("steady-mail-{tick}-"),
            per_tick / 5,
            at,
        )?;
        tick += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the last ones go out.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        use accredo::store::schema::notifications as n;
        let left: i64 = n::table
            .filter(n::status.eq("pending"))
            .count()
            .get_result(&mut pg)?;
        if left == 0 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for channel in ["sms", "email"] {
        use diesel::sql_types::{Double, Text};
        #[derive(QueryableByName)]
        struct Ms {
            #[diesel(sql_type = Double)]
            ms: f64,
        }
        let rows: Vec<Ms> = diesel::sql_query(
            "SELECT (EXTRACT(EPOCH FROM (delivered_at - created_at)) * 1000)::double precision AS ms
             FROM notifications WHERE channel = $1 AND id LIKE 'steady-%' AND status = 'delivered'
             ORDER BY 1",
        )
        .bind::<Text, _>(channel)
        .load(&mut pg)?;
        let ms: Vec<f64> = rows.into_iter().map(|r| r.ms).collect();
        let prefix = if channel == "sms" {
            "steady-sms-"
        } else {
            "steady-mail-"
        };
        let (unique, dups) = tally(
            if channel == "sms" {
                &hooks_seen
            } else {
                &mail_seen
            },
            prefix,
        );
        if unique != ms.len() || dups > 0 {
            problems.push(format!(
                "{channel} steady: {} delivered, {unique} received, {dups} duplicated",
                ms.len()
            ));
        }
        println!(
            "{channel} steady: {} delivered (received {unique} distinct, duplicates {dups}); \
             commit-to-delivery p50 {:.0} ms, p99 {:.0} ms (poll {} ms)",
            ms.len(),
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            poll.as_millis()
        );
    }
    // Every row of the drain, retries included, once.
    for (seen, prefix, count) in &drained {
        let (unique, dups) = tally(seen, prefix);
        println!("{prefix}*: {unique} of {count} received in the end, duplicates {dups}");
        if unique != *count || dups > 0 {
            problems.push(format!(
                "{prefix}*: {} lost, {dups} duplicated",
                count - unique
            ));
        }
    }
    drop(pg);
    drop(bench);
    drop_db(&admin, "accredo_bench_notify")?;
    anyhow::ensure!(problems.is_empty(), "loss or duplicates: {problems:?}");
    Ok(())
}
