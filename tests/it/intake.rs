//! Intake hours: a submission is received at any time and registered at the next opening
//! (09:00 Moscow time of the next working day) when it arrives outside the intake hours of a
//! working day; the receipt shows both moments.

use crate::support::{TestApp, instant};
use reqwest::StatusCode;

async fn receipt(app: &TestApp, token: &str, id: &str) -> (String, String) {
    let xml = app
        .get(&format!("/api/v1/cases/{id}/receipt.xml"), token)
        .await;
    assert_eq!(xml.status(), StatusCode::OK);
    let xml = xml.text().await.expect("xml");
    let pdf = app
        .get(&format!("/api/v1/cases/{id}/receipt.pdf"), token)
        .await;
    let pdf = pdf.bytes().await.expect("pdf");
    let text = pdf_extract::extract_text_from_mem(&pdf).expect("pdf text");
    (xml, text)
}

fn moments(xml: &str) -> (String, String) {
    let between = |tag: &str| {
        let open = format!("<{tag}>");
        let start = xml.find(&open).expect(tag) + open.len();
        let end = xml[start..].find('<').expect("end") + start;
        xml[start..end].to_owned()
    };
    (between("receivedAt"), between("registeredAt"))
}

#[tokio::test]
async fn a_submission_after_hours_before_holidays_is_registered_at_the_next_opening() {
    // Friday 8 May 2026, 17:30 Moscow: a shortened day (until 17:00) before 9-11 May off.
    let app = TestApp::spawn_at(instant("2026-05-08T14:30:00Z")).await;
    let me = app.specialist("late-friday");
    let (id, _) = app.submitted_case(&me).await;
    let (xml, text) = receipt(&app, &me, &id).await;
    assert_eq!(
        moments(&xml),
        (
            "2026-05-08T17:30:00+03:00".to_owned(),
            "2026-05-12T09:00:00+03:00".to_owned()
        )
    );
    assert!(
        text.contains("Поступило: 08.05.2026 17:30:00 МСК"),
        "{text}"
    );
    assert!(
        text.contains("Зарегистрировано: 12.05.2026 09:00:00 МСК"),
        "{text}"
    );
}

#[tokio::test]
async fn within_the_intake_hours_a_submission_is_registered_at_once() {
    // Monday 23 November 2026, 12:00 Moscow.
    let app = TestApp::spawn_at(instant("2026-11-23T09:00:00Z")).await;
    let me = app.specialist("midday");
    let (id, _) = app.submitted_case(&me).await;
    let (xml, _) = receipt(&app, &me, &id).await;
    let (received, registered) = moments(&xml);
    assert_eq!(received, "2026-11-23T12:00:00+03:00");
    assert_eq!(registered, received);
}

#[tokio::test]
async fn an_extraordinary_day_off_moves_the_registration_too() {
    // Tuesday 1 December 2026, 21:09 Moscow; Wednesday made a day off by the operator.
    let app = TestApp::spawn_at(instant("2026-12-01T18:09:00Z")).await;
    {
        let mut conn = app.state.store.conn().expect("conn");
        accredo::service::calendar::set_override(
            &mut conn,
            chrono::NaiveDate::from_ymd_opt(2026, 12, 2).expect("date"),
            false,
            "Указ о нерабочем дне",
            instant("2026-12-01T10:00:00Z"),
        )
        .expect("override");
    }
    let me = app.specialist("tuesday-night");
    let (id, _) = app.submitted_case(&me).await;
    let (xml, _) = receipt(&app, &me, &id).await;
    assert_eq!(moments(&xml).1, "2026-12-03T09:00:00+03:00");
}
