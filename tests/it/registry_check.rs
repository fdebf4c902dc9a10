//! The `registry_match` guard of submission: every cross-check outcome refuses or allows the
//! submit with its own code, the result is kept on the case and audited (without values),
//! and a register sync that fixes the record lets the waiting case through.

use crate::support::{TestApp, json_of, snils_of};
use accredo::domain::clock::{Clock, SystemClock};
use accredo::registry::{check, sync};
use accredo::store::profiles;
use accredo::store::schema::{audit_events as ae, person_profiles, registry_persons as rp};
use diesel::prelude::*;
use serde_json::{Value, json};

/// Submits; returns the status and the body.
async fn submit(app: &TestApp, token: &str, id: &str, v: i64) -> (u16, Value) {
    let signed = app.signed(token, id).await;
    let res = app.transition(token, id, "submit", v, signed).await;
    let status = res.status().as_u16();
    (status, json_of(res).await)
}

fn registry_details(body: &Value) -> Vec<(String, String, String)> {
    body["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter(|d| {
            d["field"] == "guard:registry_match"
                || d["field"]
                    .as_str()
                    .is_some_and(|f| f.starts_with("/registry/"))
        })
        .map(|d| {
            (
                d["field"].as_str().unwrap_or_default().to_owned(),
                d["code"].as_str().unwrap_or_default().to_owned(),
                d["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn submit_needs_a_register_match_and_a_sync_that_fixes_the_record_lets_it_through() {
    let app = TestApp::spawn().await;
    let me = app.specialist("reg-applicant");
    let snils = snils_of("reg-applicant");
    let (id, v) = app.ready_case(&me).await;
    let mut conn = app.state.store.conn().expect("conn");

    // The register has another last name and birth date for this SNILS.
    diesel::update(rp::table.filter(rp::snils.eq(&snils)))
        .set((
            rp::last_name.eq("Другая"),
            rp::birth_date.eq(chrono::NaiveDate::from_ymd_opt(1981, 2, 3).expect("date")),
        ))
        .execute(&mut *conn)
        .expect("change register");
    let (status, body) = submit(&app, &me, &id, v).await;
    assert_eq!(status, 422, "{body}");
    let details = registry_details(&body);
    assert_eq!(details[0].0, "guard:registry_match");
    assert_eq!(details[0].1, "registry_discrepancy");
    assert_eq!(
        details[1..]
            .iter()
            .map(|d| d.0.as_str())
            .collect::<Vec<_>>(),
        ["/registry/last_name", "/registry/birth_date"]
    );
    assert_eq!(
        details[1].2, "Фамилия: у нас «Тестова», в ФРМР «Другая»",
        "both values named"
    );
    assert_eq!(
        details[2].2,
        "Дата рождения: у нас «01.01.1980», в ФРМР «03.02.1981»"
    );
    let stored = profiles::case_check(&mut conn, &id)
        .expect("q")
        .expect("kept on the case");
    assert_eq!(stored.result, "registry_discrepancy");
    assert_eq!(stored.register_id.as_deref(), Some("test-reg-applicant"));
    let audited: Vec<String> = ae::table
        .filter(ae::kind.eq("registry.checked"))
        .order(ae::id.asc())
        .select(ae::payload)
        .load(&mut *conn)
        .expect("audit");
    assert_eq!(audited.len(), 1);
    assert!(
        audited[0].contains("\"fields\":[\"last_name\",\"birth_date\"]")
            && !audited[0].contains("Другая"),
        "field names, no values: {}",
        audited[0]
    );

    // Removed from the register: not found, with what to do about it.
    diesel::update(rp::table.filter(rp::snils.eq(&snils)))
        .set(rp::removed_at.eq(Some(SystemClock.now().naive_utc())))
        .execute(&mut *conn)
        .expect("remove");
    let (status, body) = submit(&app, &me, &id, v).await;
    assert_eq!(status, 422);
    let details = registry_details(&body);
    assert_eq!(details[0].1, "registry_not_found");
    assert!(details[0].2.contains("отдел кадров"), "{}", details[0].2);
    assert_eq!(
        profiles::case_check(&mut conn, &id)
            .expect("q")
            .expect("kept")
            .result,
        "registry_not_found"
    );

    // The next export has the record right again: the sync's re-check lets the case through.
    let fixed = json!({"register_id": "test-reg-applicant", "snils": snils, "last_name": "ТЕСТОВА",
                       "first_name": "reg-applicant", "birth_date": "1980-01-01"})
    .to_string();
    sync::from_json_lines(
        &mut conn,
        &SystemClock,
        "export",
        fixed.as_bytes(),
        false,
        |_| {},
    )
    .expect("sync");
    let rechecked = check::recheck_waiting(&mut conn, &SystemClock).expect("recheck");
    assert_eq!((rechecked.cases, rechecked.cases_matching), (1, 1));
    assert_eq!(
        profiles::case_check(&mut conn, &id)
            .expect("q")
            .expect("kept")
            .result,
        "registry_match"
    );
    assert_eq!(
        check::recheck_waiting(&mut conn, &SystemClock)
            .expect("again")
            .cases,
        0,
        "nothing waits any more"
    );
    let (status, body) = submit(&app, &me, &id, v).await;
    assert_eq!(status, 200, "{body}");
    let transition: String = ae::table
        .filter(ae::kind.eq("case.transition"))
        .order(ae::id.desc())
        .select(ae::payload)
        .first(&mut *conn)
        .expect("transition event");
    assert!(
        transition.contains("\"registry\":\"registry_match\""),
        "{transition}"
    );
}

#[tokio::test]
async fn an_applicant_the_identity_provider_told_nothing_about_cannot_submit() {
    let app = TestApp::spawn().await;
    let me = app.specialist("no-identity");
    let (id, v) = app.ready_case(&me).await;
    {
        let mut conn = app.state.store.conn().expect("conn");
        diesel::update(person_profiles::table)
            .set(person_profiles::snils.eq(None::<String>))
            .execute(&mut *conn)
            .expect("no snils");
    }
    let (status, body) = submit(&app, &me, &id, v).await;
    assert_eq!(status, 422);
    let details = registry_details(&body);
    assert_eq!(details[0].1, "registry_no_identity", "{body}");
    assert!(details[0].2.contains("Госуслуг"), "{}", details[0].2);
}
