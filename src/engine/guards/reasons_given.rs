//! `reasons_given`: a rejection names at least one reason from the catalogue (for its
//! workflow), and only such reasons.

use super::{Facts, FieldError, Guard, GuardFailure, Need};

/// The guard.
#[derive(Debug)]
pub struct ReasonsGiven;

impl Guard for ReasonsGiven {
    fn name(&self) -> &'static str {
        "reasons_given"
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Decision]
    }

    fn check(&self, facts: &Facts<'_>) -> Result<(), GuardFailure> {
        let refuse = |code: &'static str, message: &str, details: Vec<FieldError>| {
            Err(GuardFailure {
                guard: "reasons_given",
                code,
                message: message.into(),
                details,
            })
        };
        let Some(d) = facts.decision else {
            return refuse(
                "reasons_required",
                "Укажите причины отказа из перечня",
                vec![],
            );
        };
        if d.input.reasons.is_empty() {
            return refuse(
                "reasons_required",
                "Укажите хотя бы одну причину отказа из перечня",
                vec![FieldError {
                    field: "/reasons".into(),
                    code: "required".into(),
                    message: "Обязательное поле".into(),
                }],
            );
        }
        let unknown: Vec<FieldError> = d
            .input
            .reasons
            .iter()
            .enumerate()
            .filter(|(_, code)| d.reasons.find(d.workflow, code).is_none())
            .map(|(i, code)| FieldError {
                field: format!("/reasons/{i}"),
                code: "unknown_reason".into(),
                message: format!("Причины «{code}» нет в перечне причин отказа"),
            })
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            refuse(
                "reason_unknown",
                "Причины отказа выбираются из перечня",
                unknown,
            )
        }
    }
}
