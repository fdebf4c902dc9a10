//! `assignee_only`: only the commission member the case is assigned to decides it.

use super::{Facts, Guard, GuardFailure, Need};

/// The guard.
#[derive(Debug)]
pub struct AssigneeOnly;

impl Guard for AssigneeOnly {
    fn name(&self) -> &'static str {
        "assignee_only"
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Assignment]
    }

    fn check(&self, facts: &Facts<'_>) -> Result<(), GuardFailure> {
        let refuse = |code: &'static str, message: &str| {
            Err(GuardFailure {
                guard: "assignee_only",
                code,
                message: message.into(),
                details: Vec::new(),
            })
        };
        let Some(a) = &facts.assignment else {
            return refuse("not_assigned", "Заявление не назначено члену подкомиссии");
        };
        match (&a.assignee, &a.actor) {
            (None, _) => refuse(
                "not_assigned",
                "Заявление не назначено: ответственный секретарь назначает рассматривающего, либо возьмите заявление себе",
            ),
            (Some(assignee), Some(actor)) if assignee == actor => Ok(()),
            _ => refuse(
                "not_assignee",
                "Решение по заявлению принимает назначенный член подкомиссии",
            ),
        }
    }
}
