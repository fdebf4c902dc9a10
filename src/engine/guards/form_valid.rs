//! `form_valid`: the form is complete, every field passes its rules, and the applicant block
//! is the person who logged in.

use super::{Facts, Guard, GuardFailure, Need};
use crate::engine::applicant;
use crate::engine::form::{FieldError, FormSchema, Mode};
use serde_json::Value;

/// The guard.
#[derive(Debug)]
pub struct FormValid;

/// What `form_valid` refuses: the schema's complaints, then each applicant field that differs
/// from the login identity (the readiness report shows the same).
pub fn form_problems(
    schema: &FormSchema,
    form: &Value,
    applicant: Option<&applicant::Identity>,
) -> Vec<FieldError> {
    let mut errors = schema.validate(form, Mode::Complete);
    if let Some(who) = applicant {
        errors.extend(applicant::mismatches(form, who));
    }
    errors
}

impl Guard for FormValid {
    fn name(&self) -> &'static str {
        "form_valid"
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Applicant]
    }

    fn check(&self, facts: &Facts<'_>) -> Result<(), GuardFailure> {
        let errors = form_problems(facts.schema, facts.form, facts.applicant.as_ref());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(GuardFailure {
                guard: "form_valid",
                code: "form_incomplete",
                message:
                    "Заявление заполнено не полностью или с ошибками: исправьте отмеченные поля"
                        .into(),
                details: errors,
            })
        }
    }
}
