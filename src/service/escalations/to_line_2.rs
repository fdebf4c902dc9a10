//! `to_line_2`: the request's resolution norm passed, so it goes to line 2: its least loaded
//! agent takes it over (line 2 sees its whole history from then on) and hears of it with the
//! line's leads.

use super::{Breach, Escalated, Escalation};
use crate::service::{Rules, ServiceError};
use crate::store::DbConnection;
use serde_json::json;

/// The escalation.
#[derive(Debug)]
pub struct ToLine2;

impl Escalation for ToLine2 {
    fn name(&self) -> &'static str {
        "to_line_2"
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        rules: Rules<'_>,
        b: &Breach<'_>,
        out: &mut Escalated,
    ) -> Result<(), ServiceError> {
        let case = &b.case.case;
        let def = &b.case.workflow.definition;
        let (agent, told) = crate::service::support::hand_to_line_2(conn, def, &case.id)?;
        out.notifications
            .extend(crate::service::escalations::breach_notices(
                conn,
                rules.notices,
                case,
                def,
                (b.scope, b.due),
                &told,
                b.now,
            )?);
        out.payload.insert(
            "to".into(),
            json!({"line": 2, "assignee": agent, "told": told}),
        );
        out.assignee = agent;
        Ok(())
    }
}
