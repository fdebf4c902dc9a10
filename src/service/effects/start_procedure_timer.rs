//! `start_procedure_timer` (on the submitting transition): the first registration starts the
//! whole procedure's norm (`procedure_sla_working_days`): the case gets its due date and an
//! escalation timer for the end of it. Later submissions (a resubmission) leave both alone.

use super::{Effect, EffectContext, passed_at};
use crate::service::ServiceError;
use crate::store::DbConnection;
use crate::store::commit::NewTimer;

/// The effect.
#[derive(Debug)]
pub struct StartProcedureTimer;

impl Effect for StartProcedureTimer {
    fn name(&self) -> &'static str {
        "start_procedure_timer"
    }

    fn apply(&self, _: &mut DbConnection, cx: &mut EffectContext<'_>) -> Result<(), ServiceError> {
        let Some(days) = cx.workflow.definition.procedure_sla_working_days else {
            return Ok(());
        };
        if cx.case.procedure_due_on.is_some() {
            return Ok(());
        }
        let registered = crate::domain::calendar::moscow(cx.registered_at).date();
        let due = cx.calendar.add_working_days(registered, days);
        let provisional = due.provisional || cx.step.due.is_some_and(|(_, p)| p);
        cx.patch.procedure_due = Some((due.value, provisional));
        cx.extras.timers.push(NewTimer {
            id: crate::domain::ids::uuid_v7(cx.now).to_string(),
            case_id: cx.case.id.clone(),
            scope: "procedure".into(),
            action: "escalate".into(),
            transition: None,
            reason: None,
            state: cx.transition.to.clone(),
            due_at: passed_at(due.value),
            status: "pending".into(),
            created_at: cx.now.naive_utc(),
        });
        Ok(())
    }
}
