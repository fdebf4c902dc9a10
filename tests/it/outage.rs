//! The database goes away under the server and comes back: requests are answered 503 at
//! once (not after waiting for a pool connection), and the server works again as soon as the
//! database does. PostgreSQL only: the database is reached through a proxy the test cuts.

use crate::support::{TestApp, TestDb, repo};
use reqwest::Method;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP proxy to PostgreSQL that can be cut: every open connection is dropped and new ones
/// are closed at once, as when the database server stops.
struct Proxy {
    addr: std::net::SocketAddr,
    cut: watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (cut, rx) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if *rx.borrow() {
                    continue; // dropped: the client sees the connection closed
                }
                let (upstream, mut rx) = (upstream.clone(), rx.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = rx.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { addr, cut }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_unreachable_answers_are_503_at_once_and_work_resumes_when_it_returns()
 {
    let db = TestDb::new();
    let Some(upstream) = db.pg_server() else {
        eprintln!("skipped: needs PostgreSQL (ACCREDO_TEST_DATABASE_URL); CI runs it there");
        return;
    };
    let proxy = Proxy::start(upstream).await;
    let app = TestApp::spawn_on(
        Arc::new(db.through(proxy.addr).expect("through")),
        &repo().join("workflows"),
    )
    .await;
    let token = app.specialist("1000001");
    let get = |path: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            let started = Instant::now();
            let r = app.call(Method::GET, path, Some(&token), &[], None).await;
            (r, started.elapsed())
        }
    };
    assert_eq!(get("/api/v1/cases").await.0.status(), 200);
    assert_eq!(get("/readyz").await.0.status(), 200);

    proxy.cut.send_replace(true);
    let outage = Instant::now();
    let mut answered = 0;
    while outage.elapsed() < Duration::from_millis(1500) {
        for path in ["/api/v1/cases", "/readyz"] {
            let (r, took) = get(path).await;
            assert_eq!(r.status(), 503, "{path}");
            assert!(took < Duration::from_secs(1), "{path} took {took:?}");
            assert!(r.headers().contains_key("retry-after"), "{path}");
            let body: serde_json::Value = r.json().await.expect("json");
            if path == "/readyz" {
                assert_eq!(
                    body["checks"]["database"]["status"], "unavailable",
                    "{body}"
                );
            } else {
                assert_eq!(body["code"], "database_unavailable", "{body}");
                let message = body["message"].as_str().expect("message");
                assert!(
                    !message.contains("connection"),
                    "no internal text: {message}"
                );
            }
            answered += 1;
        }
    }
    assert!(answered >= 4, "{answered} answers in the outage");

    proxy.cut.send_replace(false);
    let back = Instant::now();
    loop {
        let (r, _) = get("/api/v1/cases").await;
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 503);
        assert!(
            back.elapsed() < Duration::from_secs(1),
            "still 503 {:?} after the database returned",
            back.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get("/readyz").await.0.status(), 200);
}
