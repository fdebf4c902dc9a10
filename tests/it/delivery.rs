//! Delivery of the outbox: e-mail to a real SMTP server (mailin-embedded, speaking SMTP over
//! TCP in the test process), webhooks to a real HTTP receiver, retries, leases across
//! dispatchers and processes, preferences, renewal reminders.

use crate::support::{TestApp, accredo_command, instant, json_of};
use accredo::domain::clock::{Clock, SharedClock};
use accredo::notify::dispatch::{self, Dispatcher, Policy};
use accredo::notify::email::{Email, SmtpSettings};
use accredo::notify::webhook::Webhook;
use accredo::store::notifications::NewNotification;
use accredo::store::schema::notifications as n;
use base64::Engine;
use diesel::prelude::*;
use hmac::Mac;
use mail_parser::MimeHeaders;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What the test SMTP server received.
#[derive(Clone, Default)]
pub(crate) struct Inbox {
    got: Arc<Mutex<Vec<Vec<u8>>>>,
    buf: Vec<u8>,
}

impl mailin_embedded::Handler for Inbox {
    fn rcpt(&mut self, to: &str) -> mailin_embedded::Response {
        // A mailbox that does not exist: a permanent refusal.
        if to.contains("nobody@") {
            mailin_embedded::response::NO_MAILBOX
        } else {
            mailin_embedded::response::OK
        }
    }
    fn data_start(&mut self, _: &str, _: &str, _: bool, _: &[String]) -> mailin_embedded::Response {
        self.buf.clear();
        mailin_embedded::response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> mailin_embedded::Response {
        self.got
            .lock()
            .expect("inbox")
            .push(std::mem::take(&mut self.buf));
        mailin_embedded::response::OK
    }
}

impl Inbox {
    pub(crate) fn messages(&self) -> Vec<Vec<u8>> {
        self.got.lock().expect("inbox").clone()
    }
}

/// Starts an SMTP server on `listener`; it runs until the test process ends.
pub(crate) fn smtp_on(listener: TcpListener) -> Inbox {
    let inbox = Inbox::default();
    let mut server = mailin_embedded::Server::new(inbox.clone());
    server
        .with_name("smtp.test")
        .with_num_threads(4)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    inbox
}

/// A port held for the test whose mail server is down: each connection is closed at once,
/// until [`Down::up`] hands the same listener to a real SMTP server (so no other process can
/// take the port in between).
struct Down {
    listener: TcpListener,
    stop: Arc<std::sync::atomic::AtomicBool>,
    closer: std::thread::JoinHandle<()>,
}

impl Down {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let clone = listener.try_clone().expect("clone");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let closer = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match clone.accept() {
                    Ok((conn, _)) => drop(conn),
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        Down {
            listener,
            stop,
            closer,
        }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().expect("addr").port()
    }

    fn up(self) -> Inbox {
        self.stop.store(true, Ordering::SeqCst);
        self.closer.join().expect("closer");
        self.listener.set_nonblocking(false).expect("blocking");
        smtp_on(self.listener)
    }
}

pub(crate) fn email_dispatcher(app: &TestApp, port: u16) -> Email {
    let transport = Email::smtp(&SmtpSettings {
        url: format!("smtp://127.0.0.1:{port}"),
        pool: 2,
        timeout_secs: 5,
    })
    .expect("smtp");
    let clock: SharedClock = app.clock.clone();
    Email::new(
        transport,
        "Аккредитация специалистов <noreply@accredo.local>",
        app.state.store.clone(),
        clock,
        2,
    )
    .expect("email")
}

fn policy() -> Policy {
    Policy {
        base_delay: chrono::Duration::seconds(2),
        max_delay: chrono::Duration::seconds(60),
        max_attempts: 4,
        ..Policy::default()
    }
}

pub(crate) async fn pass(app: &TestApp, d: &dyn Dispatcher, owner: &str) -> dispatch::Report {
    let clock: SharedClock = app.clock.clone();
    dispatch::pass(&app.state.store, d, &policy(), owner, &clock)
        .await
        .expect("pass")
}

fn rows(app: &TestApp, channel: &str) -> Vec<(String, String, i32, Option<String>)> {
    let mut conn = app.state.store.conn().expect("conn");
    n::table
        .filter(n::channel.eq(channel))
        .order(n::created_at)
        .select((n::id, n::status, n::attempts, n::last_error))
        .load(&mut *conn)
        .expect("rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_submission_e_mail_carries_the_russian_text_the_receipt_and_its_id() {
    let app = TestApp::spawn_with_channels(instant("2026-04-23T09:00:00Z"), &["email"]).await;
    let me = app.specialist("mail-applicant");
    let (id, _) = app.submitted_case(&me).await;
    let pending = rows(&app, "email");
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(
        pending[0].1, "pending",
        "nothing is sent inside the request"
    );

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let inbox = smtp_on(listener);
    let mail = email_dispatcher(&app, port);
    let r = pass(&app, &mail, "mailer").await;
    assert_eq!((r.claimed, r.delivered), (1, 1), "{r:?}");
    assert_eq!(rows(&app, "email")[0].1, "delivered");

    let got = inbox.messages();
    assert_eq!(got.len(), 1);
    let msg = mail_parser::MessageParser::default()
        .parse(&got[0])
        .expect("a MIME message");
    assert_eq!(
        msg.message_id(),
        Some(format!("{}@accredo.local", pending[0].0).as_str())
    );
    assert_eq!(
        msg.subject(),
        Some("Заявление № 2026-77-000001 зарегистрировано")
    );
    assert_eq!(
        msg.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("ivanova@example.ru")
    );
    let text = msg.body_text(0).expect("text part");
    assert!(text.starts_with("Здравствуйте!"), "{text}");
    assert!(
        text.contains("получено 23.04.2026 12:00 и зарегистрировано 23.04.2026 12:00"),
        "{text}"
    );
    let html = msg.body_html(0).expect("html part");
    assert!(html.contains("<h1"), "{html}");
    assert!(html.contains("2026-77-000001"), "{html}");
    // The act of submission, byte for byte the receipt the cabinet serves.
    let attachment = msg.attachment(0).expect("an attachment");
    assert_eq!(
        attachment.attachment_name(),
        Some("Расписка 2026-77-000001.pdf")
    );
    let served = app
        .get(&format!("/api/v1/cases/{id}/receipt.pdf"), &me)
        .await;
    assert_eq!(served.status(), 200);
    assert_eq!(
        attachment.contents(),
        served.bytes().await.expect("pdf").as_ref()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_then_up_delivers_once_and_a_refused_mailbox_fails_at_once() {
    let app = TestApp::spawn_with_channels(instant("2026-04-23T09:00:00Z"), &["email"]).await;
    let me = app.specialist("mail-retry");
    app.submitted_case(&me).await;
    // A second person whose address the server refuses.
    let other = app.specialist("mail-refused");
    let res = app
        .call(
            Method::PUT,
            "/api/v1/me/notification-preferences",
            Some(&other),
            &[],
            Some(json!({"email": {"enabled": true, "address": "nobody@example.ru"}})),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.submitted_case(&other).await;

    // Down: the server closes every connection.
    let down = Down::new();
    let mail = email_dispatcher(&app, down.port());
    let r = pass(&app, &mail, "mailer").await;
    assert_eq!((r.claimed, r.retried, r.delivered), (2, 2, 0), "{r:?}");
    let after = rows(&app, "email");
    assert!(
        after.iter().all(|r| r.1 == "pending" && r.2 == 1),
        "{after:?}"
    );
    assert!(
        after[0].3.as_deref().unwrap_or_default().contains("SMTP"),
        "{after:?}"
    );
    // Not due again before the backoff (1–2 s for the first retry).
    assert_eq!(pass(&app, &mail, "mailer").await.claimed, 0);

    // Up on the same port.
    let inbox = down.up();
    app.clock.advance(chrono::Duration::seconds(3));
    let r = pass(&app, &mail, "mailer").await;
    assert_eq!((r.delivered, r.failed), (1, 1), "{r:?}");
    app.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(pass(&app, &mail, "mailer").await.claimed, 0);
    assert_eq!(inbox.messages().len(), 1, "delivered once");
    let after = rows(&app, "email");
    let failed: Vec<_> = after.iter().filter(|r| r.1 == "failed").collect();
    assert_eq!(failed.len(), 1, "{after:?}");
    assert_eq!(
        failed[0].2, 2,
        "refused on its second attempt, not retried further"
    );
    assert!(
        failed[0]
            .3
            .as_deref()
            .unwrap_or_default()
            .contains("SMTP refused"),
        "{failed:?}"
    );

    // Visible to admins, who can retry it.
    let admin = app.user("mail-admin", &[accredo::domain::role::Role::Admin]);
    let log = json_of(
        app.get(
            "/api/v1/admin/notifications?channel=email&status=failed",
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(log.as_array().map(Vec::len), Some(1), "{log}");
    assert!(
        log[0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("550"),
        "{log}"
    );
    let retry = format!("/api/v1/admin/notifications/{}/retry", failed[0].0);
    let res = app
        .call(Method::POST, &retry, Some(&admin), &[], None)
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .call(Method::POST, &retry, Some(&admin), &[], None)
        .await;
    assert_eq!(res.status(), 409);
    assert_eq!(json_of(res).await["code"], "notification_not_failed");
    let res = app.call(Method::POST, &retry, Some(&me), &[], None).await;
    assert_eq!(res.status(), 403);
    let r = pass(&app, &mail, "mailer").await;
    assert_eq!((r.claimed, r.failed), (1, 1), "refused again: {r:?}");
}

/// A request as the receiver saw it: headers and body.
type Seen = (HashMap<String, String>, Vec<u8>);

/// A webhook receiver: records every request and answers from a script (`script` for the
/// first requests, then `status_after`, by default 200; or hangs without answering). Like a
/// real gateway it acts once per `webhook-id` it accepts and drops repeats.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Seen>>>,
    calls: Arc<AtomicUsize>,
    script: Vec<u16>,
    hang: bool,
    status_after: u16,
    /// Ids acted upon, and how many accepted repeats were dropped.
    effects: Arc<Mutex<(std::collections::BTreeSet<String>, usize)>>,
}

impl Receiver {
    fn start(self) -> (String, Self) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let me = self.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = actix_web::HttpServer::new(move || {
                    let me = me.clone();
                    actix_web::App::new().route(
                        "/hook",
                        actix_web::web::post().to(
                            move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                                let me = me.clone();
                                async move {
                                    let headers = req
                                        .headers()
                                        .iter()
                                        .map(|(k, v)| {
                                            (
                                                k.as_str().to_owned(),
                                                v.to_str().unwrap_or_default().to_owned(),
                                            )
                                        })
                                        .collect();
                                    let n = me.calls.fetch_add(1, Ordering::SeqCst);
                                    me.got.lock().expect("got").push((headers, body.to_vec()));
                                    if me.hang {
                                        tokio::time::sleep(std::time::Duration::from_secs(3600))
                                            .await;
                                    }
                                    let status = me
                                        .script
                                        .get(n)
                                        .copied()
                                        .unwrap_or(me.status_after.max(200));
                                    if (200..300).contains(&status) {
                                        let id = req
                                            .headers()
                                            .get("webhook-id")
                                            .and_then(|v| v.to_str().ok())
                                            .unwrap_or_default()
                                            .to_owned();
                                        let mut e = me.effects.lock().expect("effects");
                                        if !e.0.insert(id) {
                                            e.1 += 1;
                                        }
                                    }
                                    actix_web::HttpResponse::build(
                                        actix_web::http::StatusCode::from_u16(status)
                                            .expect("status"),
                                    )
                                    .finish()
                                }
                            },
                        ),
                    )
                })
                .workers(2)
                .listen(listener)
                .expect("listen")
                .run();
                let _ = server.await;
            })
        });
        (url, self)
    }

    fn requests(&self) -> Vec<Seen> {
        self.got.lock().expect("got").clone()
    }
}

fn webhook(app: &TestApp, channel: &'static str, url: &str) -> Webhook {
    webhook_with_timeout(app, channel, url, std::time::Duration::from_secs(30))
}

fn webhook_with_timeout(
    app: &TestApp,
    channel: &'static str,
    url: &str,
    timeout: std::time::Duration,
) -> Webhook {
    let clock: SharedClock = app.clock.clone();
    Webhook::new(channel, url, SECRET, timeout, clock, 16).expect("webhook")
}

/// Verifies a Standard Webhooks signature independently of accredo's signing code.
fn signature_valid(headers: &HashMap<String, String>, body: &[u8]) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .expect("key");
    let signed = format!(
        "{}.{}.{}",
        headers["webhook-id"],
        headers["webhook-timestamp"],
        String::from_utf8_lossy(body)
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("hmac");
    mac.update(signed.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    headers["webhook-signature"]
        .split(' ')
        .any(|s| s == format!("v1,{expected}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_failing_twice_gets_the_same_signed_message_three_times() {
    let app = TestApp::spawn_with_channels(instant("2026-04-23T09:00:00Z"), &["sms"]).await;
    let me = app.specialist("sms-applicant");
    app.submitted_case(&me).await;
    // Busy, then rate-limited, then accepted.
    let (url, receiver) = Receiver {
        script: vec![503, 429],
        ..Receiver::default()
    }
    .start();
    let sms = webhook(&app, "sms", &url);
    for expected in [(1, 0, 1), (1, 0, 1), (1, 1, 0)] {
        let r = pass(&app, &sms, "gw").await;
        assert_eq!((r.claimed, r.delivered, r.retried), expected, "{r:?}");
        // Past any backoff of these attempts.
        app.clock.advance(chrono::Duration::seconds(10));
    }
    assert_eq!(pass(&app, &sms, "gw").await.claimed, 0, "delivered: done");
    let got = receiver.requests();
    assert_eq!(got.len(), 3);
    let ids: Vec<&str> = got.iter().map(|(h, _)| h["webhook-id"].as_str()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(rows(&app, "sms")[0].0, ids[0], "the id is the outbox row's");
    for (headers, body) in &got {
        assert!(signature_valid(headers, body), "{headers:?}");
    }
    // The receiver acted once, on the accepted delivery, and had no repeat to drop.
    let (effects, dropped) = receiver.effects.lock().expect("effects").clone();
    assert_eq!(effects.into_iter().collect::<Vec<_>>(), [ids[0].to_owned()]);
    assert_eq!(dropped, 0);
    let first_error = rows(&app, "sms")[0].3.clone().unwrap_or_default();
    assert!(
        first_error.contains("429"),
        "the last error kept: {first_error}"
    );
    let body: Value = serde_json::from_slice(&got[2].1).expect("json");
    assert_eq!(body["type"], "notification.sms");
    assert_eq!(body["data"]["address"], "+79123456789");
    assert_eq!(body["data"]["event"], "submission_registered");
    assert!(
        body["data"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Заявление № 2026-77-000001 зарегистрировано"),
        "{body}"
    );
    // A tampered body does not verify.
    assert!(!signature_valid(&got[2].0, b"{}"));

    // A gateway that refuses the request itself (400) fails the row at once.
    let (url, _) = Receiver {
        status_after: 400,
        ..Receiver::default()
    }
    .start();
    let other = app.specialist("sms-refused");
    app.submitted_case(&other).await;
    let r = pass(&app, &webhook(&app, "sms", &url), "gw").await;
    assert_eq!((r.claimed, r.failed, r.retried), (1, 1, 0), "{r:?}");

    // A gateway that does not answer in time is retried, as is one answering 503 each time,
    // until the last attempt (4 here) fails the row with the reason.
    let (hang, _) = Receiver {
        hang: true,
        ..Receiver::default()
    }
    .start();
    let third = app.specialist("sms-timeout");
    app.submitted_case(&third).await;
    let slow = webhook_with_timeout(&app, "sms", &hang, std::time::Duration::from_millis(300));
    let r = pass(&app, &slow, "gw").await;
    assert_eq!((r.claimed, r.retried), (1, 1), "{r:?}");
    let (busy, _) = Receiver {
        status_after: 503,
        ..Receiver::default()
    }
    .start();
    let busy = webhook(&app, "sms", &busy);
    for attempt in 2..=4 {
        app.clock.advance(chrono::Duration::minutes(5));
        let r = pass(&app, &busy, "gw").await;
        let expected = if attempt < 4 { (1, 1, 0) } else { (1, 0, 1) };
        assert_eq!(
            (r.claimed, r.retried, r.failed),
            expected,
            "{attempt}: {r:?}"
        );
    }
    let log = rows(&app, "sms");
    let gave_up = log
        .iter()
        .find(|r| r.2 == 4)
        .expect("the row tried 4 times");
    assert_eq!(gave_up.1, "failed");
    let reason = gave_up.3.as_deref().unwrap_or_default();
    assert!(
        reason.contains("503") && reason.contains("after 4 attempts"),
        "{reason}"
    );
}

fn outbox_rows(app: &TestApp, count: usize, channel: &str) -> Vec<String> {
    use accredo::store::schema::users;
    app.user("bulk-recipient", &[accredo::domain::role::Role::Specialist]);
    let mut conn = app.state.store.conn().expect("conn");
    let user: String = users::table
        .filter(users::subject.eq("bulk-recipient"))
        .select(users::id)
        .first(&mut *conn)
        .expect("the user");
    let at = app.clock.now().naive_utc();
    static BATCH: AtomicUsize = AtomicUsize::new(0);
    let batch = BATCH.fetch_add(1, Ordering::SeqCst);
    let rows: Vec<NewNotification> = (0..count)
        .map(|i| NewNotification {
            id: format!("{channel}-{batch:03}-{i:05}"),
            recipient_id: user.clone(),
            case_id: None,
            event: "status_changed".into(),
            channel: channel.into(),
            subject: "Тема".into(),
            body: format!("Сообщение {i}"),
            status: "pending".into(),
            created_at: at,
            delivered_at: None,
            next_attempt_at: Some(at),
            address: Some(
                if channel == "email" {
                    "ivanova@example.ru"
                } else {
                    "+79123456789"
                }
                .into(),
            ),
            html: None,
        })
        .collect();
    accredo::store::notifications::insert(&mut conn, &rows).expect("insert");
    rows.into_iter().map(|r| r.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_dispatchers_deliver_every_row_once() {
    let app = TestApp::spawn_with_channels(instant("2026-04-23T09:00:00Z"), &["push"]).await;
    let ids = outbox_rows(&app, 600, "push");
    let (url, receiver) = Receiver::default().start();
    let small = Policy {
        batch: 25,
        ..policy()
    };
    // Both ready before either starts, released together.
    let start = Arc::new(tokio::sync::Barrier::new(2));
    let run = |owner: &'static str| {
        let (store, start) = (app.state.store.clone(), start.clone());
        let clock: SharedClock = app.clock.clone();
        let d = webhook(&app, "push", &url);
        async move {
            start.wait().await;
            dispatch::drain(&store, &d, &small, owner, &clock)
                .await
                .expect("drain")
        }
    };
    let (a, b) = (tokio::spawn(run("one")), tokio::spawn(run("two")));
    let (a, b) = (a.await.expect("one"), b.await.expect("two"));
    assert_eq!(a.delivered + b.delivered, 600, "{a:?} {b:?}");
    assert!(
        a.delivered > 0 && b.delivered > 0,
        "both took part: {a:?} {b:?}"
    );
    let got: Vec<String> = receiver
        .requests()
        .iter()
        .map(|(h, _)| h["webhook-id"].clone())
        .collect();
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(got.len(), 600, "no duplicate");
    assert_eq!(unique, ids, "no loss");
    assert!(rows(&app, "push").iter().all(|r| r.1 == "delivered"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_before_delivery_delivers_after_restart() {
    use std::process::Stdio;
    // The processes run on the wall clock (moved a year either way in CI): rows long due.
    let app = TestApp::spawn_with_channels(instant("2024-04-23T09:00:00Z"), &["sms"]).await;
    let ids = outbox_rows(&app, 3, "sms");
    let dir = tempfile::tempdir().expect("dir");
    let serve = |url: &str| {
        accredo_command(&app.db.url)
            .args(["serve", "--bind", "127.0.0.1:0", "--checkpoint-secs", "0"])
            .env("ACCREDO_DOCUMENTS_DIR", dir.path().join("documents"))
            .env("ACCREDO_SESSION_KEY_FILE", dir.path().join("session.key"))
            .env("ACCREDO_SMS_WEBHOOK_URL", url)
            .env("ACCREDO_SMS_WEBHOOK_SECRET", SECRET)
            .env("ACCREDO_NOTIFY_POLL_MS", "100")
            .env("ACCREDO_NOTIFY_LEASE_SECS", "2")
            .env("ACCREDO_WEBHOOK_TIMEOUT_MS", "600000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start serve")
    };
    let wait = |what: &str, mut done: Box<dyn FnMut() -> bool>| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    // The first instance claims the rows and posts them to a gateway that never answers;
    // it is killed mid-delivery, after the commit and before any row is marked delivered.
    let (hang_url, hanging) = Receiver {
        hang: true,
        ..Receiver::default()
    }
    .start();
    let mut first = serve(&hang_url);
    let h = hanging.clone();
    wait(
        "the first instance posts",
        Box::new(move || h.requests().len() == 3),
    );
    first.kill().expect("kill");
    first.wait().expect("wait");
    assert!(rows(&app, "sms").iter().all(|r| r.1 == "pending"));

    // After the restart (the lease of the dead one runs out) every row is delivered.
    let (url, receiver) = Receiver::default().start();
    let mut second = serve(&url);
    let store = app.state.store.clone();
    wait(
        "the second instance delivers",
        Box::new(move || {
            let mut conn = store.conn().expect("conn");
            n::table
                .filter(n::status.eq("delivered"))
                .filter(n::channel.eq("sms"))
                .count()
                .get_result::<i64>(&mut *conn)
                .expect("count")
                == 3
        }),
    );
    let _ = second.kill();
    let _ = second.wait();
    let mut got: Vec<String> = receiver
        .requests()
        .iter()
        .map(|(h, _)| h["webhook-id"].clone())
        .collect();
    got.sort();
    assert_eq!(got, ids, "each delivered once after the restart");
}

#[tokio::test]
async fn preferences_choose_the_channels_and_their_addresses() {
    let app =
        TestApp::spawn_with_channels(instant("2026-04-23T09:00:00Z"), &["email", "sms"]).await;
    let me = app.specialist("prefs-applicant");
    let path = "/api/v1/me/notification-preferences";
    let put = |body: Value| app.call(Method::PUT, path, Some(&me), &[], Some(body));
    let got = json_of(app.get(path, &me).await).await;
    let channel = |v: &Value, c: &str| {
        v["channels"]
            .as_array()
            .expect("channels")
            .iter()
            .find(|x| x["channel"] == c)
            .cloned()
            .expect("channel")
    };
    assert_eq!(channel(&got, "inapp")["always_on"], true);
    assert_eq!(channel(&got, "email")["enabled"], true);
    assert_eq!(channel(&got, "push")["available"], false);

    // Refusals, each with its code, and nothing stored.
    for (body, code) in [
        (json!({"inapp": {"enabled": false}}), "inapp_always_on"),
        (json!({"push": {"enabled": true}}), "channel_unavailable"),
        (
            json!({"email": {"enabled": true, "address": "не адрес"}}),
            "email_invalid",
        ),
        (
            json!({"sms": {"enabled": true, "address": "12345"}}),
            "phone_invalid",
        ),
        // No application yet, so no phone to fall back on.
        (json!({"sms": {"enabled": true}}), "address_required"),
    ] {
        let res = put(body.clone()).await;
        assert_eq!(res.status(), 422, "{body}");
        assert_eq!(json_of(res).await["code"], code, "{body}");
    }
    let res = put(json!({"fax": {"enabled": true}})).await;
    assert_eq!(res.status(), 400);
    assert_eq!(json_of(app.get(path, &me).await).await, got, "unchanged");

    // SMS off, e-mail to another address.
    let res = put(json!({
        "sms": {"enabled": false},
        "email": {"enabled": true, "address": "personal@example.ru"}
    }))
    .await;
    assert_eq!(res.status(), 200);
    let now = json_of(res).await;
    assert_eq!(channel(&now, "sms")["enabled"], false);
    assert_eq!(channel(&now, "email")["address"], "personal@example.ru");
    assert_eq!(channel(&now, "email")["address_source"], "preferences");
    app.submitted_case(&me).await;
    let mut conn = app.state.store.conn().expect("conn");
    let written: Vec<(String, Option<String>)> = n::table
        .order(n::channel)
        .select((n::channel, n::address))
        .load(&mut *conn)
        .expect("rows");
    assert_eq!(
        written,
        [
            ("email".to_owned(), Some("personal@example.ru".to_owned())),
            ("inapp".to_owned(), None)
        ],
        "nothing on the channel turned off"
    );
    drop(conn);
    // The form's address, once the own one is cleared.
    let res = put(json!({"email": {"enabled": true, "address": null}})).await;
    let cleared = json_of(res).await;
    assert_eq!(channel(&cleared, "email")["address"], "ivanova@example.ru");
    assert_eq!(channel(&cleared, "email")["address_source"], "application");
}

fn expiring(app: &TestApp, subject: &str, valid_until: &str) {
    use accredo::store::schema::registry_persons as r;
    let mut conn = app.state.store.conn().expect("conn");
    let snils = crate::support::snils_of(subject);
    diesel::update(r::table.filter(r::snils.eq(snils)))
        .set(
            r::accreditations.eq(json!([{
                "kind": "periodic_accreditation",
                "specialty": "31.08.49",
                "issued": "2021-05-01",
                "valid_until": valid_until,
            }])
            .to_string()),
        )
        .execute(&mut *conn)
        .expect("accreditation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_go_once_per_person_accreditation_and_offset() {
    // 23 April 2026; one accreditation ends on 20 May (27 days on), one in a year.
    let app = TestApp::spawn_with_channels(instant("2026-04-23T09:00:00Z"), &["email"]).await;
    let me = app.specialist("remind-soon");
    let later = app.specialist("remind-later");
    // Five days left at the first run: one reminder (the 7-day one), not two.
    let late = app.specialist("remind-late");
    expiring(&app, "remind-soon", "2026-05-20");
    expiring(&app, "remind-later", "2027-05-20");
    expiring(&app, "remind-late", "2026-04-28");
    // One has an e-mail address in the preferences; the other an application under way, whose
    // form has one (and no second draft is opened for them).
    let res = app
        .call(
            Method::PUT,
            "/api/v1/me/notification-preferences",
            Some(&me),
            &[],
            Some(json!({"email": {"enabled": true, "address": "personal@example.ru"}})),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.ready_case(&late).await;
    let settings = accredo::notify::reminders::Settings {
        offsets: vec![30, 7],
        open_drafts: true,
        ..Default::default()
    };
    let run = || {
        let mut conn = app.state.store.conn().expect("conn");
        accredo::notify::reminders::run(
            &mut conn,
            &app.state.catalog,
            &app.state.notices,
            &settings,
            app.clock.now(),
        )
        .expect("reminders")
    };
    // Two instances at once, then again: one reminder (the 30-day one).
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(run);
        let b = s.spawn(run);
        (a.join().expect("a"), b.join().expect("b"))
    });
    assert_eq!(a.sent + b.sent, 2, "{a:?} {b:?}");
    assert_eq!(a.drafts + b.drafts, 1);
    let again = run();
    assert_eq!((again.sent, again.already_sent), (0, 2));
    let late_inbox = json_of(app.get("/api/v1/me/notifications", &late).await).await;
    assert_eq!(late_inbox["unread"], 1, "{late_inbox}");
    // The reminder goes by e-mail too, to the address of the draft's form.
    {
        let mut conn = app.state.store.conn().expect("conn");
        let mut mails: Vec<Option<String>> = n::table
            .filter(n::event.eq("reminder"))
            .filter(n::channel.eq("email"))
            .select(n::address)
            .load(&mut *conn)
            .expect("rows");
        mails.sort();
        assert_eq!(
            mails,
            [
                Some("ivanova@example.ru".to_owned()),
                Some("personal@example.ru".to_owned())
            ]
        );
    }
    let inbox = json_of(app.get("/api/v1/me/notifications", &me).await).await;
    assert_eq!(inbox["items"].as_array().map(Vec::len), Some(1), "{inbox}");
    let notice = &inbox["items"][0];
    assert_eq!(notice["event"], "reminder");
    assert_eq!(notice["subject"], "Аккредитация истекает 20.05.2026");
    let draft = notice["case_id"].as_str().expect("the draft").to_owned();
    assert!(
        notice["body"].as_str().unwrap_or_default().contains(&draft),
        "{notice}"
    );
    let case = json_of(app.get(&format!("/api/v1/cases/{draft}"), &me).await).await;
    assert_eq!(case["state"], "draft", "{case}");
    assert_eq!(
        case["form"]["applicant"]["last_name"], "Тестова",
        "prefilled from the register: {case}"
    );
    assert_eq!(case["workflow"], "periodic_accreditation");
    let none = json_of(app.get("/api/v1/me/notifications", &later).await).await;
    assert_eq!(none["unread"], 0);

    // Thirteen days on, the 7-day reminder, with no second draft.
    app.clock.advance(chrono::Duration::days(20));
    let week = run();
    assert_eq!((week.sent, week.drafts, week.already_sent), (1, 0, 0));
    // After the date itself: nothing more.
    app.clock.advance(chrono::Duration::days(30));
    assert_eq!(run(), accredo::notify::reminders::Report::default());
}

#[test]
fn reminders_run_from_cron_sends_once() {
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let app = rt.block_on(TestApp::spawn());
    // By the wall clock: an accreditation ending in ten days.
    #[expect(
        clippy::disallowed_methods,
        reason = "the command runs on the wall clock"
    )]
    let soon = (chrono::Utc::now().date_naive() + chrono::Days::new(10)).to_string();
    app.specialist("remind-cron");
    expiring(&app, "remind-cron", &soon);
    let run = || {
        let out = accredo_command(&app.db.url)
            .args(["reminders", "run"])
            .output()
            .expect("run");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(run(), "reminders: 1 sent (0 with a draft), 0 sent before");
    assert_eq!(run(), "reminders: 0 sent (0 with a draft), 1 sent before");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_smtp_server_the_e_mails_are_kept_as_eml_files() {
    let app = TestApp::spawn_with_channels(instant("2026-04-23T09:00:00Z"), &["email"]).await;
    let me = app.specialist("eml-applicant");
    app.submitted_case(&me).await;
    let dir = tempfile::tempdir().expect("dir");
    let clock: SharedClock = app.clock.clone();
    let files = Email::new(
        accredo::notify::email::Transport::Files(dir.path().join("mail")),
        "Аккредитация специалистов <noreply@accredo.local>",
        app.state.store.clone(),
        clock,
        2,
    )
    .expect("email");
    assert_eq!(pass(&app, &files, "files").await.delivered, 1);
    let id = &rows(&app, "email")[0].0;
    let eml = std::fs::read(dir.path().join("mail").join(format!("{id}.eml"))).expect("eml");
    let msg = mail_parser::MessageParser::default()
        .parse(&eml)
        .expect("a MIME message");
    assert_eq!(
        msg.subject(),
        Some("Заявление № 2026-77-000001 зарегистрировано")
    );
    assert_eq!(msg.attachment_count(), 1);
    let names: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 1, "no partial file left: {names:?}");
}

#[test]
fn serve_without_smtp_refuses_the_e_mail_channel_loudly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("dir");
    let mut child = accredo_command(&format!("sqlite://{}", dir.path().join("a.db").display()))
        .args(["serve", "--bind", "127.0.0.1:0", "--checkpoint-secs", "0"])
        .env("ACCREDO_DOCUMENTS_DIR", dir.path().join("documents"))
        .env("ACCREDO_SESSION_KEY_FILE", dir.path().join("session.key"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("E-MAIL CHANNEL REFUSED") {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let refused = rx.recv_timeout(std::time::Duration::from_secs(60)).ok();
    let _ = child.kill();
    let _ = child.wait();
    let line = refused.expect("the refusal at start");
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("ACCREDO_SMTP_URL"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_cron_send_e_mail_through_the_configured_smtp_server() {
    use std::process::Stdio;
    // The processes run on the wall clock (moved a year either way in CI): rows long due.
    let app = TestApp::spawn_with_channels(instant("2024-04-23T09:00:00Z"), &["email"]).await;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let smtp = format!(
        "smtp://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let inbox = smtp_on(listener);
    let message_ids = |inbox: &Inbox| {
        let mut ids: Vec<String> = inbox
            .messages()
            .iter()
            .map(|m| {
                let msg = mail_parser::MessageParser::default()
                    .parse(m)
                    .expect("MIME");
                msg.message_id().unwrap_or_default().to_owned()
            })
            .collect();
        ids.sort();
        ids
    };
    let domain = |ids: &[String]| -> Vec<String> {
        ids.iter().map(|id| format!("{id}@accredo.local")).collect()
    };

    // From cron.
    let first = outbox_rows(&app, 2, "email");
    let out = accredo_command(&app.db.url)
        .args(["notifications", "run-once"])
        .env("ACCREDO_SMTP_URL", &smtp)
        .output()
        .expect("run-once");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "email: 2 delivered, 0 to retry, 0 failed"
    );
    assert_eq!(message_ids(&inbox), domain(&first));

    // From the server's dispatcher.
    let second = outbox_rows(&app, 2, "email");
    let dir = tempfile::tempdir().expect("dir");
    let mut serve = accredo_command(&app.db.url)
        .args(["serve", "--bind", "127.0.0.1:0", "--checkpoint-secs", "0"])
        .env("ACCREDO_DOCUMENTS_DIR", dir.path().join("documents"))
        .env("ACCREDO_SESSION_KEY_FILE", dir.path().join("session.key"))
        .env("ACCREDO_SMTP_URL", &smtp)
        .env("ACCREDO_NOTIFY_POLL_MS", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while inbox.messages().len() < 4 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = serve.kill();
    let _ = serve.wait();
    let mut all = first;
    all.extend(second);
    assert_eq!(message_ids(&inbox), domain(&all));
    assert!(rows(&app, "email").iter().all(|r| r.1 == "delivered"));
}

/// An approval issues the accreditation record: on the case («Аккредитовано»), as PDF and XML
/// (the same bytes every time), and queued for the register, whose webhook gets the export's
/// own JSON.
#[tokio::test]
async fn an_approval_issues_the_record_and_exports_it_to_the_register() {
    use accredo::domain::role::Role;
    let app = TestApp::spawn().await;
    let me = app.specialist("accredited");
    let secretary = app.user("secretary", &[Role::Secretary]);
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    let (id, v) = app.submitted_case(&me).await;
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    let application = case["number"].as_str().expect("number").to_owned();
    let last_name = case["form"]["applicant"]["last_name"]
        .as_str()
        .expect("name")
        .to_owned();
    app.step(&secretary, &id, "start_review", v, json!({}))
        .await;
    let v = app.claim(&reviewer, &id).await;
    // No record before the decision.
    assert_eq!(
        app.get(&format!("/api/v1/cases/{id}/result.pdf"), &me)
            .await
            .status(),
        404
    );
    app.step(&reviewer, &id, "approve", v, json!({})).await;

    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &me).await).await;
    let record = &case["accreditation"];
    assert_eq!(record["status_label"], "Аккредитовано", "{case}");
    let number = record["number"].as_str().expect("number").to_owned();
    assert!(number.starts_with("A-2026-77-"), "{number}");
    assert_eq!(record["kind"], "periodic");
    let decided: chrono::NaiveDate = record["decision_date"]
        .as_str()
        .expect("d")
        .parse()
        .expect("date");
    assert_eq!(
        record["valid_until"],
        json!((decided + chrono::Months::new(60) - chrono::Duration::days(1)).to_string())
    );

    let download = |ext: &'static str| {
        let app = &app;
        let (me, id) = (me.clone(), id.clone());
        async move {
            let res = app
                .get(&format!("/api/v1/cases/{id}/result.{ext}"), &me)
                .await;
            assert_eq!(res.status(), 200);
            res.bytes().await.expect("bytes").to_vec()
        }
    };
    let pdf = download("pdf").await;
    assert_eq!(pdf, download("pdf").await, "identical on every download");
    let text = pdf_extract::extract_text_from_mem(&pdf).expect("text");
    for wanted in [
        number.as_str(),
        "Аккредитовано",
        last_name.as_str(),
        application.as_str(),
    ] {
        assert!(text.contains(wanted), "{wanted} not in: {text}");
    }
    let xml = download("xml").await;
    assert_eq!(xml, download("xml").await);
    let xml = String::from_utf8(xml).expect("utf-8");
    crate::signing::assert_valid_xml(&xml, "schemas/accreditation-record.xsd");
    assert!(xml.contains(&number));
    // Someone else's record is not theirs to download.
    let other = app.specialist("stranger");
    assert_eq!(
        app.get(&format!("/api/v1/cases/{id}/result.xml"), &other)
            .await
            .status(),
        404
    );

    // Exactly one export in the outbox, delivered as its own JSON, signed.
    let queued = rows(&app, "register");
    assert_eq!(queued.len(), 1, "{queued:?}");
    let (url, receiver) = Receiver::default().start();
    let hook = webhook(&app, "register", &url).with_own_bodies();
    let report = pass(&app, &hook, "register-test").await;
    assert_eq!(report.delivered, 1, "{report:?}");
    let seen = receiver.requests();
    let (headers, body) = &seen[0];
    assert!(signature_valid(headers, body));
    let body: Value = serde_json::from_slice(body).expect("json");
    assert_eq!(body["type"], "accreditation.granted");
    assert_eq!(body["data"]["number"], json!(number));
    assert_eq!(body["data"]["application_number"], json!(application));
    assert_eq!(body["data"]["specialty_code"], "31.08.49");
    assert_eq!(rows(&app, "register")[0].1, "delivered");
}
