//! Guards: named checks a transition requires, registered here by name.
//!
//! Only guards that are implemented are known; a workflow naming any other is refused at load.

use super::form::{FieldError, FormSchema, Mode};
use serde_json::Value;

/// Everything a guard may look at.
#[derive(Debug)]
pub struct GuardContext<'a> {
    /// The case's form data.
    pub form: &'a Value,
    /// The workflow's form schema.
    pub schema: &'a FormSchema,
}

/// Why a guard refused.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardFailure {
    /// Guard name.
    pub guard: &'static str,
    /// Stable code.
    pub code: &'static str,
    /// Russian message.
    pub message: &'static str,
    /// Per-field problems, when there are any.
    pub details: Vec<FieldError>,
}

type GuardFn = fn(&GuardContext<'_>) -> Result<(), GuardFailure>;

const GUARDS: &[(&str, GuardFn)] = &[("form_valid", form_valid)];

/// Whether a guard with that name exists.
pub fn is_known(name: &str) -> bool {
    GUARDS.iter().any(|(n, _)| *n == name)
}

/// Runs the named guards in order and returns every failure.
pub fn evaluate(names: &[String], ctx: &GuardContext<'_>) -> Vec<GuardFailure> {
    names
        .iter()
        .filter_map(|name| GUARDS.iter().find(|(n, _)| n == name))
        .filter_map(|(_, guard)| guard(ctx).err())
        .collect()
}

/// The form is complete and every field passes its rules.
fn form_valid(ctx: &GuardContext<'_>) -> Result<(), GuardFailure> {
    let errors = ctx.schema.validate(ctx.form, Mode::Complete);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(GuardFailure {
            guard: "form_valid",
            code: "form_incomplete",
            message: "Заявление заполнено не полностью или с ошибками: исправьте отмеченные поля",
            details: errors,
        })
    }
}
