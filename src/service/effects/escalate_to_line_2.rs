//! `escalate_to_line_2`: the author asks, after a breached deadline (guard
//! `deadline_breached`), for the request to go to line 2: the same hand-over as the
//! `to_line_2` escalation, audited in the transition's event.

use super::{Effect, EffectContext};
use crate::service::ServiceError;
use crate::store::DbConnection;
use serde_json::json;

/// The effect.
#[derive(Debug)]
pub struct EscalateToLine2;

impl Effect for EscalateToLine2 {
    fn name(&self) -> &'static str {
        "escalate_to_line_2"
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
        let (agent, told) = crate::service::support::hand_to_line_2(conn, def, &cx.case.id)?;
        let due = cx.case.due_on.map(|d| (d, cx.case.due_provisional));
        let notes = crate::service::escalations::breach_notices(
            conn,
            cx.notices,
            cx.case,
            def,
            ("step", due),
            &told,
            cx.now,
        )?;
        cx.extras.notifications.extend(notes);
        cx.payload["escalation"] = json!({"to": {"line": 2, "assignee": agent, "told": told}});
        if agent.is_some() {
            cx.patch.assignee = agent;
        }
        Ok(())
    }
}
