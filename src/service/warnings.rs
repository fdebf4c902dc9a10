//! The warning before a step's deadline (a state's `warn_before`): its timer tells the staff
//! member the case is assigned to when the step is due, and the case's chain records it
//! (`case.deadline_near`). It changes nothing else: the deadline and its escalation stay.

use super::access::Visible;
use super::{Change, Extras, Rules, ServiceError, apply_staged, stage_change};
use crate::engine::definition::Sla;
use crate::store::commit::Fired;
use crate::store::{DbConnection, StoreError};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;

/// Fires the warning timer `fired` of the case as loaded in the timer's transaction.
pub fn warn(
    conn: &mut DbConnection,
    rules: Rules<'_>,
    v: &Visible,
    fired: Fired,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let (case, def) = (&v.case, &v.workflow.definition);
    let form: serde_json::Value = serde_json::from_str(&case.form_data)
        .map_err(|e| StoreError::Corrupt(format!("form of case {}: {e}", case.id)))?;
    let values = crate::engine::attributes::resolve(&def.attributes, &case.attributes, &form);
    // A norm in working time is due at its step timer's instant, one in days on its date.
    let due_at: Option<NaiveDateTime> = match def.norm_of(&case.state, &values) {
        Some(Sla::WorkingMinutes(_)) => {
            crate::store::timers::pending_due_at(conn, &case.id, "step")
                .map_err(StoreError::from)?
        }
        _ => None,
    };
    let told: Vec<String> = case.assignee_id.iter().cloned().collect();
    let notifications = if told.is_empty() {
        Vec::new()
    } else {
        let base = crate::notify::outbox::case_context(
            conn,
            &case.id,
            case.number.clone(),
            def,
            &case.state,
            case.due_on.map(|d| (d, case.due_provisional)),
        )?;
        let context = crate::notify::templates::Context {
            due_on: match due_at {
                Some(at) => Some(
                    crate::domain::calendar::moscow(at.and_utc())
                        .format("%d.%m.%Y %H:%M")
                        .to_string(),
                ),
                None => base.due_on.clone(),
            },
            ..base
        };
        let audience = crate::notify::outbox::Audience {
            recipients: &told,
            owner: None,
            case_id: Some(&case.id),
        };
        crate::notify::outbox::outbox_rows(
            conn,
            rules.notices,
            "deadline_near",
            &context,
            &audience,
            now,
        )?
    };
    let change = Change {
        state: None,
        form_data: None,
        submitted: false,
        kind: "case.deadline_near",
        payload: json!({
            "state": case.state,
            "due_on": case.due_on,
            "due_at": due_at.map(|t| t.and_utc()),
            "told": told,
            "timer": {"id": fired.timer_id, "lateness_ms": fired.lateness_ms},
        }),
        step: None,
    };
    let staged = stage_change(case, case.version, change, None, now.naive_utc());
    let extras = Extras {
        fired: Some(fired),
        notifications,
        ..Extras::default()
    };
    apply_staged(conn, staged, &extras)?;
    Ok(())
}
