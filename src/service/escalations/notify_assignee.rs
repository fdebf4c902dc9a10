//! `notify_assignee`: the staff member the case is assigned to is reminded of the breach (a
//! support request's first-answer norm).

use super::{Breach, Escalated, Escalation};
use crate::service::{Rules, ServiceError};
use crate::store::DbConnection;
use serde_json::json;

/// The escalation.
#[derive(Debug)]
pub struct NotifyAssignee;

impl Escalation for NotifyAssignee {
    fn name(&self) -> &'static str {
        "notify_assignee"
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        rules: Rules<'_>,
        b: &Breach<'_>,
        out: &mut Escalated,
    ) -> Result<(), ServiceError> {
        let case = &b.case.case;
        let told: Vec<String> = case.assignee_id.iter().cloned().collect();
        out.notifications
            .extend(crate::service::escalations::breach_notices(
                conn,
                rules.notices,
                case,
                &b.case.workflow.definition,
                (b.scope, b.due),
                &told,
                b.now,
            )?);
        out.payload.insert("told".into(), json!(told));
        Ok(())
    }
}
