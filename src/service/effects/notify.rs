//! `notify`: tells the applicant what the transition did, as one outbox row per channel in
//! the transition's commit: the cabinet's list (`inapp`, which that commit delivers) and each
//! configured channel the applicant has not turned off ([`crate::notify::routes`]).
//! The event picks the template: a submission (the receipt's number and both moments), a
//! return for revision (the reason and the window), a decision (final state, with the
//! reason), any other status change (the next step's due date).

use super::{Effect, EffectContext};
use crate::domain::calendar::moscow;
use crate::notify::outbox::{Audience, case_context, outbox_rows};
use crate::notify::templates::Context;
use crate::service::ServiceError;
use crate::store::DbConnection;

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
        let event = if let Some(notice) = &t.notice {
            notice.as_str()
        } else if !receipt.is_null() {
            "submission_registered"
        } else if to.is_some_and(|s| s.r#final) {
            "decision"
        } else if to.is_some_and(|s| s.editable) && t.to != def.initial {
            "revision_requested"
        } else {
            "status_changed"
        };
        let context = Context {
            transition: t.label.clone(),
            reason: super::record_decision::decision_text(cx),
            received_at: moment(&receipt["received_at"]),
            registered_at: moment(&receipt["registered_at"]),
            ..case_context(
                conn,
                &cx.case.id,
                cx.patch.number.clone().or_else(|| cx.case.number.clone()),
                def,
                &t.to,
                cx.step.due,
            )?
        };
        let audience = Audience {
            recipients: std::slice::from_ref(&cx.case.owner_id),
            owner: Some((&cx.case.owner_id, cx.form)),
            case_id: Some(&cx.case.id),
        };
        let rows = outbox_rows(conn, cx.notices, event, &context, &audience, cx.now)?;
        cx.extras.notifications.extend(rows);
        Ok(())
    }
}
