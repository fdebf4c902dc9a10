//! `start_timer` (a state's `on_enter`): the state's timed escalation (`escalate`), if any, and
//! the step's deadline timer, due when the step's due
//! date has passed in Moscow (or, for a norm in working hours, at its instant). It runs the
//! state's `on_deadline` transition, or else escalates the breach. Written in the same commit
//! as the transition entering the state.

use super::{Effect, EffectContext, passed_at};
use crate::service::ServiceError;
use crate::store::DbConnection;
use crate::store::commit::NewTimer;

/// The effect.
#[derive(Debug)]
pub struct StartTimer;

impl Effect for StartTimer {
    fn name(&self) -> &'static str {
        "start_timer"
    }

    fn apply(&self, _: &mut DbConnection, cx: &mut EffectContext<'_>) -> Result<(), ServiceError> {
        // The state's timed escalation, so many working hours after the step's start.
        let to = &cx.transition.to;
        if let Some(e) = cx
            .workflow
            .definition
            .state(to)
            .and_then(|s| s.escalate.as_ref())
        {
            let at = cx
                .calendar
                .add_working_minutes(cx.registered_at, e.after_working_hours.saturating_mul(60));
            cx.extras.timers.push(NewTimer {
                id: crate::domain::ids::uuid_v7(cx.now).to_string(),
                case_id: cx.case.id.clone(),
                scope: "escalation".into(),
                action: "escalate".into(),
                transition: None,
                reason: None,
                state: to.clone(),
                due_at: at.value.naive_utc(),
                status: "pending".into(),
                created_at: cx.now.naive_utc(),
            });
        }
        // Validated at load: a state that starts a timer has a deadline on every entry.
        let Some((due, _)) = cx.step.due else {
            return Ok(());
        };
        let deadline = cx
            .workflow
            .definition
            .state(to)
            .and_then(|s| s.on_deadline.clone());
        let created = cx.now.naive_utc();
        cx.extras.timers.push(NewTimer {
            id: crate::domain::ids::uuid_v7(cx.now).to_string(),
            case_id: cx.case.id.clone(),
            scope: "step".into(),
            action: if deadline.is_some() {
                "transition"
            } else {
                "escalate"
            }
            .into(),
            transition: deadline.as_ref().map(|d| d.transition.clone()),
            reason: deadline.map(|d| d.reason),
            state: to.clone(),
            due_at: cx.step.due_at.unwrap_or_else(|| passed_at(due)),
            status: "pending".into(),
            created_at: created,
        });
        Ok(())
    }
}
