//! `once`: the transition it guards runs at most once on a case (a support request's deadline
//! is extended once).

use super::{Facts, Guard, GuardFailure, Need};

/// The guard.
#[derive(Debug)]
pub struct Once;

impl Guard for Once {
    fn name(&self) -> &'static str {
        "once"
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::History]
    }

    fn check(&self, facts: &Facts<'_>) -> Result<(), GuardFailure> {
        let (Some(ran), Some((name, label))) = (&facts.history, facts.transition) else {
            return Ok(());
        };
        if ran.iter().any(|r| r == name) {
            Err(GuardFailure {
                guard: "once",
                code: "already_done",
                message: format!(
                    "«{label}» уже выполнялось по этому делу: это можно сделать только один раз"
                ),
                details: Vec::new(),
            })
        } else {
            Ok(())
        }
    }
}
