//! The audit log: every change is chained; `audit verify` catches altered, removed, inserted
//! and reordered events and names the first one.

use crate::support::{TestApp, json_of};
use accredo::audit::chain::{body, link_hash};
use accredo::audit::checkpoint;
use accredo::audit::verify::{self, Finding};
use accredo::domain::role::Role;
use accredo::store::audit::AuditEvent;
use accredo::store::schema::audit_events as ae;
use diesel::prelude::*;
use serde_json::json;

/// An app with one case that went through several steps; returns (app, case id).
async fn busy_app() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let me = app.specialist("alice");
    let reviewer = app.user("reviewer", &[Role::Reviewer]);
    let (id, v) = app.case_in_revision(&me, &reviewer, "Нужен диплом").await;
    let body = app.signed(&me, &id).await;
    app.step(&me, &id, "resubmit", v, body).await;
    (app, id)
}

fn events(app: &TestApp, chain: &str) -> Vec<AuditEvent> {
    let mut conn = app.state.store.conn().expect("conn");
    ae::table
        .filter(ae::chain.eq(chain))
        .order(ae::seq.asc())
        .select(AuditEvent::as_select())
        .load(&mut *conn)
        .expect("events")
}

fn verify(app: &TestApp) -> verify::Report {
    let mut conn = app.state.store.conn().expect("conn");
    verify::run(&mut conn).expect("verify")
}

#[tokio::test]
async fn every_change_is_in_the_chain_and_verifies() {
    let (app, id) = busy_app().await;
    let chain = events(&app, &id);
    let kinds: Vec<_> = chain.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "case.created",
            "case.form_saved",
            "document.uploaded",
            "document.uploaded",
            "document.uploaded",
            "document.uploaded",
            "document.uploaded",
            "document.uploaded",
            "document.uploaded",
            "document.uploaded",
            "document.uploaded",
            "case.transition",
            "case.transition",
            "case.assigned",
            "case.transition",
            "case.transition"
        ]
    );
    assert!(chain.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    assert!(
        chain.iter().all(|e| !e.payload.contains("Иванова")),
        "no personal data in the audit log"
    );
    {
        let mut conn = app.state.store.conn().expect("conn");
        let cp = checkpoint::write(&mut conn, chrono::NaiveDateTime::default())
            .expect("checkpoint")
            .expect("written");
        assert_eq!(cp.event_count, app.audit_count());
        assert!(
            checkpoint::write(&mut conn, chrono::NaiveDateTime::default())
                .expect("again")
                .is_none()
        );
    }
    let report = verify(&app);
    assert_eq!(report.findings, vec![]);
    assert_eq!(
        report.events,
        u64::try_from(app.audit_count()).expect("count")
    );
    assert_eq!(report.checkpoints, 1);
}

#[tokio::test]
async fn altered_event_is_named() {
    let (app, id) = busy_app().await;
    let chain = events(&app, &id);
    let target = chain
        .iter()
        .find(|e| e.payload.contains("Нужен диплом"))
        .expect("the request for revision")
        .clone();
    let mut conn = app.state.store.conn().expect("conn");
    diesel::update(ae::table.find(target.id))
        .set(ae::payload.eq(target.payload.replace("Нужен диплом", "Всё отлично")))
        .execute(&mut *conn)
        .expect("tamper");
    drop(conn);
    let report = verify(&app);
    assert_eq!(
        report.findings.first(),
        Some(&Finding::Altered {
            event_id: target.id,
            chain: id,
            seq: target.seq
        })
    );
}

#[tokio::test]
async fn removed_event_is_named() {
    let (app, id) = busy_app().await;
    let chain = events(&app, &id);
    let mut conn = app.state.store.conn().expect("conn");
    diesel::delete(ae::table.find(chain[2].id))
        .execute(&mut *conn)
        .expect("tamper");
    drop(conn);
    let report = verify(&app);
    assert_eq!(
        report.findings.first(),
        Some(&Finding::Removed {
            event_id: chain[3].id,
            chain: id,
            expected_seq: 3,
            found_seq: 4
        })
    );
}

#[tokio::test]
async fn removed_last_event_is_caught() {
    let (app, id) = busy_app().await;
    let chain = events(&app, &id);
    let mut conn = app.state.store.conn().expect("conn");
    diesel::delete(ae::table.find(chain[chain.len() - 1].id))
        .execute(&mut *conn)
        .expect("tamper");
    drop(conn);
    let report = verify(&app);
    assert_eq!(
        report.findings,
        vec![Finding::TruncatedChain {
            chain: id,
            expected_seq: chain[chain.len() - 1].seq,
            found_seq: chain[chain.len() - 2].seq
        }]
    );
}

#[tokio::test]
async fn inserted_event_is_named_even_with_a_valid_hash() {
    let (app, id) = busy_app().await;
    let chain = events(&app, &id);
    let last = chain.last().expect("last");
    // A forger who knows the scheme appends a well-formed "approve" at the end of the chain.
    let payload =
        json!({"transition": "approve", "from": "under_review", "to": "approved", "reason": null});
    let b = body(
        &id,
        last.seq + 1,
        "case.transition",
        last.actor_id.as_deref(),
        Some(&id),
        &last.at,
        &payload,
    );
    let hash = link_hash(&last.hash, &b);
    let mut conn = app.state.store.conn().expect("conn");
    diesel::insert_into(ae::table)
        .values((
            ae::chain.eq(&id),
            ae::seq.eq(last.seq + 1),
            ae::kind.eq("case.transition"),
            ae::actor_id.eq(&last.actor_id),
            ae::case_id.eq(Some(&id)),
            ae::at.eq(last.at),
            ae::payload.eq(payload.to_string()),
            ae::prev_hash.eq(&last.hash),
            ae::hash.eq(&hash),
        ))
        .execute(&mut *conn)
        .expect("tamper");
    let forged: i64 = ae::table
        .filter(ae::hash.eq(&hash))
        .select(ae::id)
        .first(&mut *conn)
        .expect("id");
    drop(conn);
    let report = verify(&app);
    assert_eq!(
        report.findings.first(),
        Some(&Finding::InsertedOrReordered {
            event_id: forged,
            chain: id,
            seq: last.seq + 1
        })
    );
}

#[tokio::test]
async fn reordered_events_are_named() {
    let (app, id) = busy_app().await;
    let chain = events(&app, &id);
    let (a, b) = (&chain[2], &chain[3]);
    let mut conn = app.state.store.conn().expect("conn");
    conn.transaction(|conn| {
        diesel::update(ae::table.find(a.id))
            .set(ae::seq.eq(-1))
            .execute(conn)?;
        diesel::update(ae::table.find(b.id))
            .set(ae::seq.eq(a.seq))
            .execute(conn)?;
        diesel::update(ae::table.find(a.id))
            .set(ae::seq.eq(b.seq))
            .execute(conn)?;
        Ok::<_, diesel::result::Error>(())
    })
    .expect("tamper");
    drop(conn);
    let report = verify(&app);
    let first = report.findings.first().expect("caught");
    assert_eq!(first.event_id(), Some(a.id), "{first}");
    assert!(report.findings.iter().any(|f| f.event_id() == Some(b.id)));
}

/// Rewrites the reason of the revision request and recomputes every hash after it, so the
/// chain itself is consistent again; returns the new head hash.
fn rewrite_reason(app: &TestApp, id: &str) -> String {
    let chain = events(app, id);
    let mut conn = app.state.store.conn().expect("conn");
    let mut prev = chain[3].hash.clone();
    for e in &chain[4..] {
        let mut payload: serde_json::Value = serde_json::from_str(&e.payload).expect("payload");
        if e.seq == 5 {
            payload["reason"] = json!("Всё отлично");
        }
        let b = body(
            &e.chain,
            e.seq,
            &e.kind,
            e.actor_id.as_deref(),
            e.case_id.as_deref(),
            &e.at,
            &payload,
        );
        let hash = link_hash(&prev, &b);
        diesel::update(ae::table.find(e.id))
            .set((
                ae::payload.eq(accredo::audit::chain::canonical(&payload).to_string()),
                ae::prev_hash.eq(&prev),
                ae::hash.eq(&hash),
            ))
            .execute(&mut *conn)
            .expect("rewrite");
        prev = hash;
    }
    prev
}

#[tokio::test]
async fn rewritten_chain_disagrees_with_its_case_row() {
    let (app, id) = busy_app().await;
    let last = events(&app, &id).last().expect("last").id;
    rewrite_reason(&app, &id);
    let report = verify(&app);
    assert_eq!(
        report.findings,
        vec![Finding::HeadMismatch {
            event_id: last,
            chain: id
        }]
    );
}

#[tokio::test]
async fn checkpoint_catches_a_rewritten_chain() {
    let (app, id) = busy_app().await;
    {
        let mut conn = app.state.store.conn().expect("conn");
        checkpoint::write(&mut conn, chrono::NaiveDateTime::default()).expect("checkpoint");
    }
    // A thorough forger also moves the head recorded on the case row.
    let head = rewrite_reason(&app, &id);
    {
        use accredo::store::schema::cases;
        let mut conn = app.state.store.conn().expect("conn");
        diesel::update(cases::table.find(&id))
            .set(cases::audit_head.eq(&head))
            .execute(&mut *conn)
            .expect("row");
    }
    let report = verify(&app);
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert!(matches!(
        report.findings[0],
        Finding::CheckpointMismatch {
            checkpoint_id: 1,
            ..
        }
    ));
}

#[tokio::test]
async fn history_comes_from_the_audit_chain() {
    let (app, id) = busy_app().await;
    let me = app.user("alice", &[]);
    let history = json_of(app.get(&format!("/api/v1/cases/{id}/history"), &me).await).await;
    assert_eq!(history.as_array().map(Vec::len), Some(5));
}
