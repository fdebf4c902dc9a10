//! `start_timer` (a state's `on_enter`): the state's timed escalation (`escalate`), if any, and
//! a warning to the assignee before the deadline (`warn_before`), and
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
        let timers = step_timers(
            &cx.workflow.definition,
            to,
            &cx.case.id,
            (&cx.step, cx.registered_at),
            cx.calendar,
            cx.now,
        );
        cx.extras.timers.extend(timers);
        Ok(())
    }
}

/// The timers of a step in `state` of a case (started at `start`, planned as `step`): its
/// deadline's, and the warning before it. A step planned anew (its norm changed with the
/// case's attributes) gets them again.
pub(crate) fn step_timers(
    def: &crate::engine::definition::Definition,
    state: &str,
    case_id: &str,
    (step, start): (&crate::service::Step, chrono::DateTime<chrono::Utc>),
    calendar: &crate::domain::calendar::Calendar,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<NewTimer> {
    let Some((due, _)) = step.due else {
        return Vec::new();
    };
    let deadline = def.state(state).and_then(|s| s.on_deadline.clone());
    let created = now.naive_utc();
    let timer = |scope: &str, action: &str, due_at| NewTimer {
        id: crate::domain::ids::uuid_v7(now).to_string(),
        case_id: case_id.to_owned(),
        scope: scope.into(),
        action: action.into(),
        transition: None,
        reason: None,
        state: state.to_owned(),
        due_at,
        status: "pending".into(),
        created_at: created,
    };
    let mut out = Vec::new();
    if let Some(at) = warning_at(def, state, (step, start), calendar, due) {
        out.push(timer("warning", "warn", at));
    }
    let action = if deadline.is_some() {
        "transition"
    } else {
        "escalate"
    };
    out.push(NewTimer {
        transition: deadline.as_ref().map(|d| d.transition.clone()),
        reason: deadline.map(|d| d.reason),
        ..timer(
            "step",
            action,
            step.due_at.unwrap_or_else(|| passed_at(due)),
        )
    });
    out
}

/// When the assignee is told the step in `state` is due soon: its `warn_before` minutes of
/// working time before the step is due (a norm in days: at the close of its last day), if
/// the step is longer than that.
fn warning_at(
    def: &crate::engine::definition::Definition,
    state: &str,
    (step, start): (&crate::service::Step, chrono::DateTime<chrono::Utc>),
    calendar: &crate::domain::calendar::Calendar,
    due: chrono::NaiveDate,
) -> Option<chrono::NaiveDateTime> {
    let before = def.state(state)?.warn_before_minutes?;
    let due_at = match step.due_at {
        Some(at) => at.and_utc(),
        None => {
            let (_, close) = calendar.working_hours(due)?;
            crate::domain::calendar::from_moscow(due.and_time(close))
        }
    };
    let total = calendar.working_minutes_between(start, due_at).value;
    let lead = u32::try_from(total)
        .ok()?
        .checked_sub(before)
        .filter(|m| *m > 0)?;
    Some(calendar.add_working_minutes(start, lead).value.naive_utc())
}
