//! `open_support_request`: a support request is sent. Beside its case it gets the line working
//! it (1), its category (from the form), the application it concerns (the author's own case
//! whose number `/concerns/case_number` names), a priority — urgent when that application's
//! step is due within [`URGENT_DUE_DAYS`] days or the accreditation the author names
//! (`/concerns/valid_until`) ends within [`URGENT_VALID_DAYS`] — and a reply token for e-mail.
//! It is assigned to the least loaded agent of line 1; a repeat request (`/repeat_of`, one of
//! the author's own requests) goes to the agent and line of the first.

use super::{Effect, EffectContext};
use crate::service::ServiceError;
use crate::store::support::{self, Request};
use crate::store::{DbConnection, StoreError};
use chrono::NaiveDate;
use serde_json::json;

/// The effect.
#[derive(Debug)]
pub struct OpenSupportRequest;

/// An application due this many days from today or sooner makes its request urgent.
pub const URGENT_DUE_DAYS: i64 = 3;
/// An accreditation ending this many days from today or sooner makes the request urgent.
pub const URGENT_VALID_DAYS: i64 = 30;

fn text<'a>(cx: &'a EffectContext<'_>, pointer: &str) -> Option<&'a str> {
    cx.form
        .pointer(pointer)
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A fresh token, 128 random bits in hex: what a notice's reply address carries.
pub(crate) fn reply_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl Effect for OpenSupportRequest {
    fn name(&self) -> &'static str {
        "open_support_request"
    }

    fn writes_rows(&self) -> bool {
        true
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        cx: &mut EffectContext<'_>,
    ) -> Result<(), ServiceError> {
        let def = &cx.workflow.definition;
        let owner = cx.case.owner_id.as_str();
        let today = crate::domain::calendar::moscow(cx.now).date();
        let within = |d: NaiveDate, days: i64| (d - today).num_days() <= days;
        let mut urgent = text(cx, "/concerns/valid_until")
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .is_some_and(|d| within(d, URGENT_VALID_DAYS));
        let mut linked = None;
        if let Some(number) = text(cx, "/concerns/case_number")
            && let Some(c) =
                support::own_case_by_number(conn, owner, number).map_err(StoreError::from)?
            && c.id != cx.case.id
        {
            // A step with a due date is open (a final state has none).
            urgent |= c.due_on.is_some_and(|d| within(d, URGENT_DUE_DAYS));
            linked = Some(c.id);
        }
        // A repeat: one of the author's own requests of this workflow.
        let mut repeat = None;
        if let Some(number) = text(cx, "/repeat_of")
            && let Some(c) =
                support::own_case_by_number(conn, owner, number).map_err(StoreError::from)?
            && c.workflow_id == def.id
            && c.id != cx.case.id
            && let Some(first) = support::find(conn, &c.id).map_err(StoreError::from)?
        {
            repeat = Some((c.id, first.line, c.assignee_id));
        }
        let open_states = def.open_states();
        let (line, assignee) = match &repeat {
            Some((_, line, Some(agent))) if support::agent(conn, agent)?.is_some() => {
                (*line, Some(agent.clone()))
            }
            Some((_, line, _)) => (*line, support::least_loaded(conn, *line, &open_states)?),
            None => (1, support::least_loaded(conn, 1, &open_states)?),
        };
        let category = text(cx, "/category").unwrap_or("other").to_owned();
        let priority = if urgent { "urgent" } else { "normal" };
        support::insert(
            conn,
            &Request {
                case_id: cx.case.id.clone(),
                line,
                category: category.clone(),
                linked_case_id: linked.clone(),
                repeat_of: repeat.as_ref().map(|(id, _, _)| id.clone()),
                reply_token: reply_token(),
                first_response_at: None,
                resolved_at: None,
                created_at: cx.now.naive_utc(),
            },
        )
        .map_err(StoreError::from)?;
        cx.payload["support"] = json!({
            "line": line,
            "priority": priority,
            "category": category,
            "assignee": assignee,
            "linked_case": linked,
            "repeat_of": repeat.as_ref().map(|(id, _, _)| id),
        });
        cx.patch.assignee = assignee;
        // The case's attribute: the first answer's norm depends on it.
        cx.patch
            .attributes
            .insert("priority".into(), priority.to_owned());
        Ok(())
    }
}
