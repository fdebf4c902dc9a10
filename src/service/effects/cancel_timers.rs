//! `cancel_timers`: the transition leaving a step cancels the step's pending timers (its
//! deadline and its timed escalation); one that
//! enters a final state also cancels the whole procedure's. In the same commit as the
//! transition, so a timer never fires for a step that has ended.

use super::{Effect, EffectContext};
use crate::service::ServiceError;
use crate::store::DbConnection;

/// The effect.
#[derive(Debug)]
pub struct CancelTimers;

impl Effect for CancelTimers {
    fn name(&self) -> &'static str {
        "cancel_timers"
    }

    fn apply(&self, _: &mut DbConnection, cx: &mut EffectContext<'_>) -> Result<(), ServiceError> {
        let scopes = &mut cx.extras.cancel;
        for scope in ["step", "escalation", "warning"] {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let finishing = cx
            .workflow
            .definition
            .state(&cx.transition.to)
            .is_some_and(|s| s.r#final);
        if finishing && !scopes.contains(&"procedure") {
            scopes.push("procedure");
        }
        Ok(())
    }
}
