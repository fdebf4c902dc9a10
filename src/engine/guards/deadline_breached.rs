//! `deadline_breached`: only once the current step's deadline has passed unmet (a support
//! request's author may then ask for line 2).

use super::{Facts, Guard, GuardFailure, Need};

/// The guard.
#[derive(Debug)]
pub struct DeadlineBreached;

impl Guard for DeadlineBreached {
    fn name(&self) -> &'static str {
        "deadline_breached"
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Deadline]
    }

    fn check(&self, facts: &Facts<'_>) -> Result<(), GuardFailure> {
        if facts.breached == Some(true) {
            Ok(())
        } else {
            Err(GuardFailure {
                guard: "deadline_breached",
                code: "deadline_not_breached",
                message: "Срок ещё не истёк: передать обращение на вторую линию можно после нарушения срока".into(),
                details: Vec::new(),
            })
        }
    }
}
