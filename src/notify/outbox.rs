//! The rows an event writes to the outbox: its template rendered once per channel, one row
//! per recipient on each channel that routes to them ([`super::routes`]). The `notify`
//! effect, a timer's escalation and the renewal reminders all write through here.

use super::templates::{Context, Templates};
use crate::service::ServiceError;
use crate::store::notifications::NewNotification;
use crate::store::{DbConnection, StoreError};
use serde_json::Value;

/// Who hears of an event.
#[derive(Debug, Clone, Copy)]
pub struct Audience<'a> {
    /// The users told.
    pub recipients: &'a [String],
    /// The case's applicant and the form they filled in, whose contacts stand in for
    /// addresses they did not set.
    pub owner: Option<(&'a str, &'a Value)>,
    /// The case the event is about, if any.
    pub case_id: Option<&'a str>,
}

/// The outbox rows of `event` for `audience`, written at `now`.
pub fn outbox_rows(
    conn: &mut DbConnection,
    templates: &Templates,
    event: &str,
    context: &Context,
    audience: &Audience<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<NewNotification>, ServiceError> {
    let at = now.naive_utc();
    let routes = super::routes::routes(
        conn,
        templates.active(),
        audience.recipients,
        audience.owner,
    )
    .map_err(StoreError::from)?;
    let mut rows = Vec::new();
    for channel in templates.active() {
        if !routes.iter().any(|r| r.channel == *channel) {
            continue;
        }
        let text = templates
            .render(event, channel, context)
            .map_err(|e| StoreError::Corrupt(format!("template {event}.{channel}: {e}")))?;
        // The cabinet's list is delivered by this commit; other channels wait for their
        // dispatcher.
        let inapp = *channel == "inapp";
        for route in routes.iter().filter(|r| r.channel == *channel) {
            rows.push(NewNotification {
                id: crate::domain::ids::uuid_v7(now).to_string(),
                recipient_id: route.recipient.clone(),
                case_id: audience.case_id.map(str::to_owned),
                event: event.into(),
                channel: (*channel).into(),
                subject: text.subject.clone(),
                body: text.body.clone(),
                status: if inapp { "delivered" } else { "pending" }.into(),
                created_at: at,
                delivered_at: inapp.then_some(at),
                next_attempt_at: (!inapp).then_some(at),
                address: route.address.clone(),
                html: text.html.clone(),
            });
        }
    }
    Ok(rows)
}

/// What every notice about a case tells: its number (`number` when known, else looked up; the
/// case id until it has one), the workflow's title, the state's label and, if any, the due
/// date of the step (`ДД.ММ.ГГГГ`, and whether it is provisional).
pub fn case_context(
    conn: &mut DbConnection,
    case_id: &str,
    number: Option<String>,
    def: &crate::engine::definition::Definition,
    state: &str,
    due: Option<(chrono::NaiveDate, bool)>,
) -> Result<Context, StoreError> {
    let number = match number {
        Some(n) => n,
        None => crate::store::signatures::number_of(conn, case_id)?
            .unwrap_or_else(|| case_id.to_owned()),
    };
    Ok(Context {
        number,
        workflow: def.title.clone(),
        state: def.label_of(state).to_owned(),
        due_on: due.map(|(d, _)| d.format("%d.%m.%Y").to_string()),
        due_provisional: due.is_some_and(|(_, p)| p),
        workflow_id: Some(def.id.clone()),
        ..Context::default()
    })
}
