//! `notify`: tells the applicant what the transition did, as one outbox row per channel in
//! the transition's commit: the cabinet's list (`inapp`, which that commit delivers) and each
//! configured channel the applicant has not turned off ([`crate::notify::routes`]).
//! The event picks the template: a submission (the receipt's number and both moments), a
//! return for revision (the reason and the window), a decision (final state, with the
//! reason), any other status change (the next step's due date).

use super::{Effect, EffectContext};
use crate::domain::calendar::moscow;
use crate::notify::templates::Context;
use crate::service::ServiceError;
use crate::store::notifications::NewNotification;
use crate::store::signatures as numbers;
use crate::store::{DbConnection, StoreError};

/// The effect.
#[derive(Debug)]
pub struct Notify;

fn moment(v: &serde_json::Value) -> Option<String> {
    let t: chrono::DateTime<chrono::Utc> = serde_json::from_value(v.clone()).ok()?;
    Some(moscow(t).format("%d.%m.%Y %H:%M").to_string())
}

impl Effect for Notify {
    fn name(&self) -> &'static str {
        "notify"
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        cx: &mut EffectContext<'_>,
    ) -> Result<(), ServiceError> {
        let def = &cx.workflow.definition;
        let t = cx.transition;
        let to = def.state(&t.to);
        let receipt = &cx.payload["receipt"];
        let event = if !receipt.is_null() {
            "submission_registered"
        } else if to.is_some_and(|s| s.r#final) {
            "decision"
        } else if to.is_some_and(|s| s.editable) && t.to != def.initial {
            "revision_requested"
        } else {
            "status_changed"
        };
        let number = match &cx.number {
            Some(n) => n.clone(),
            None => numbers::number_of(conn, &cx.case.id)
                .map_err(StoreError::from)?
                .unwrap_or_else(|| cx.case.id.clone()),
        };
        let context = Context {
            number,
            workflow: def.title.clone(),
            state: def.label_of(&t.to).to_owned(),
            transition: t.label.clone(),
            reason: cx.reason.map(str::to_owned),
            due_on: cx.step.due.map(|(d, _)| d.format("%d.%m.%Y").to_string()),
            due_provisional: cx.step.due.is_some_and(|(_, p)| p),
            received_at: moment(&receipt["received_at"]),
            registered_at: moment(&receipt["registered_at"]),
            ..Context::about(String::new(), String::new(), String::new())
        };
        let form: serde_json::Value =
            serde_json::from_str(&cx.case.form_data).unwrap_or(serde_json::Value::Null);
        let owner = std::slice::from_ref(&cx.case.owner_id);
        let rows = notices(
            conn,
            cx.notices,
            event,
            &context,
            owner,
            Some((&cx.case.owner_id, &form)),
            Some(&cx.case.id),
            cx.now,
        )?;
        cx.extras.notifications.extend(rows);
        Ok(())
    }
}

/// The outbox rows of `event` (about case `case_id`, if any) for each of `recipients` on
/// every channel that routes to them; `owner` is the case's applicant and their form.
#[expect(
    clippy::too_many_arguments,
    reason = "one call per event kind, each naming all"
)]
pub(crate) fn notices(
    conn: &mut DbConnection,
    templates: &crate::notify::templates::Templates,
    event: &str,
    context: &Context,
    recipients: &[String],
    owner: Option<(&str, &serde_json::Value)>,
    case_id: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<NewNotification>, ServiceError> {
    let at = now.naive_utc();
    let routes = crate::notify::routes::routes(conn, templates.active(), recipients, owner)
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
                case_id: case_id.map(str::to_owned),
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
