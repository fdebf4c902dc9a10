//! `/metrics`: what the server did, counted where it happened, in the OpenMetrics text format.
//! The counters belong to the process (every test's servers share them), so each check is on
//! the increase this test caused, for label values only it uses where it can.

use crate::support::{TestApp, instant};
use accredo::domain::clock::Clock;
use accredo::domain::role::Role;
use reqwest::Method;
use serde_json::{Value, json};

/// The metrics as `name{labels}` → value.
async fn scrape(app: &TestApp) -> Vec<(String, f64)> {
    let r = app.call(Method::GET, "/metrics", None, &[], None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = r.text().await.expect("text");
    assert!(text.ends_with("# EOF\n"), "{text}");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("series value");
            (series.to_owned(), value.parse().expect("number"))
        })
        .collect()
}

/// The sum of the series called `name` whose labels include every one of `labels`.
fn value(metrics: &[(String, f64)], name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .iter()
        .filter(|(series, _)| {
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v)
        .sum()
}

fn increase(
    before: &[(String, f64)],
    after: &[(String, f64)],
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    value(after, name, labels) - value(before, name, labels)
}

#[tokio::test]
async fn metrics_count_requests_transitions_refusals_inspections_breaches_and_the_outbox() {
    let app = TestApp::spawn_with_channels(instant("2026-03-02T07:00:00Z"), &["email"]).await;
    let me = app.specialist("metrics-applicant");
    let before = scrape(&app).await;

    // A submission refused by its guards: an empty draft.
    let (draft, v) = app.create_case(&me, "periodic_accreditation").await;
    let refused = app.transition(&me, &draft, "submit", v, json!({})).await;
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.expect("json");
    let first = &body["details"][0];
    let guard_code = first["code"].as_str().expect("code").to_owned();

    // A submission that goes through (with its documents inspected), then a breached deadline.
    let (_id, _) = app.submitted_case(&me).await;
    app.clock.set(instant("2026-03-10T21:00:30Z"));
    let _secretary = app.user("metrics-secretary", &[Role::Secretary]);
    let fired = {
        let mut conn = app.state.store.conn().expect("conn");
        accredo::service::timers::drain(&mut conn, app.rules(), "m", 64, app.clock.as_ref(), 10)
            .expect("timers")
    };
    assert_eq!(fired.fired, 1, "{fired:?}");
    let after = scrape(&app).await;

    let pw = [("workflow", "periodic_accreditation")];
    assert!(
        increase(
            &before,
            &after,
            "accredo_transitions_total",
            &[pw[0], ("state", "submitted")]
        ) >= 1.0
    );
    assert!(
        increase(
            &before,
            &after,
            "accredo_guard_refusals_total",
            &[("code", &guard_code)]
        ) >= 1.0,
        "{guard_code}"
    );
    assert!(
        increase(
            &before,
            &after,
            "accredo_sla_breaches_total",
            &[pw[0], ("state", "submitted")]
        ) >= 1.0
    );
    // Fired 30 s after the deadline: counted in the 30 s bucket's range, not before it.
    let late = [("action", "escalated")];
    assert!(increase(&before, &after, "accredo_timers_fired_total", &late) >= 1.0);
    assert!(
        increase(
            &before,
            &after,
            "accredo_timer_lateness_seconds_count",
            &late
        ) >= 1.0
    );
    assert!(increase(&before, &after, "accredo_timer_lateness_seconds_sum", &late) >= 29.0);
    let accepted = [("outcome", "accepted")];
    assert!(increase(&before, &after, "accredo_inspections_total", &accepted) >= 1.0);
    assert!(
        increase(
            &before,
            &after,
            "accredo_inspection_duration_seconds_count",
            &accepted
        ) >= 1.0
    );
    let route = "/api/v1/cases/{id}/transitions/{name}";
    assert!(
        increase(
            &before,
            &after,
            "accredo_http_request_duration_seconds_count",
            &[("method", "POST"), ("route", route), ("status", "422")]
        ) >= 1.0
    );
    // Read from this server's database and pool when asked.
    assert!(value(&after, "accredo_outbox_pending", &[("value", "email")]) >= 1.0);
    assert!(
        value(
            &after,
            "accredo_outbox_oldest_pending_seconds",
            &[("value", "email")]
        ) > 0.0
    );
    assert!(value(&after, "accredo_db_pool_max_connections", &[]) >= 1.0);
    assert!(value(&after, "accredo_db_pool_connections", &[("value", "open")]) >= 1.0);
    assert!(value(&after, "accredo_db_pool_wait_seconds_count", &[]) >= 1.0);
}

#[tokio::test]
async fn register_sync_progress_is_read_from_the_latest_run() {
    let app = TestApp::spawn().await;
    let lines = accredo::identity::demo_idp::register_export().join("\n");
    let summary = accredo::registry::sync::from_json_lines(
        &mut app.state.store.conn().expect("conn"),
        app.clock.as_ref(),
        "metrics test",
        lines.as_bytes(),
        false,
        |_| {},
    )
    .expect("sync");
    let m = scrape(&app).await;
    let read = value(&m, "accredo_registry_sync_records", &[("value", "read")]);
    assert_eq!(read, summary.counts.read as f64);
    assert_eq!(
        value(
            &m,
            "accredo_registry_sync_records",
            &[("value", "inserted")]
        ),
        summary.counts.inserted as f64
    );
    assert_eq!(value(&m, "accredo_registry_sync_running", &[]), 0.0);
    assert_eq!(
        value(&m, "accredo_registry_sync_started_timestamp_seconds", &[]),
        app.clock.now().timestamp() as f64
    );
}
