//! Guards: named checks a transition requires, registered here by name.
//!
//! Only guards that are implemented are known; a workflow naming any other is refused at load.

use super::form::{FieldError, FormSchema, Mode};
use crate::registry::cross_check::Outcome;
use serde_json::Value;

/// Everything a guard may look at.
#[derive(Debug)]
pub struct GuardContext<'a> {
    /// The case's form data.
    pub form: &'a Value,
    /// The workflow's form schema.
    pub schema: &'a FormSchema,
    /// Who the applicant is by their login, when a guard needs it (read by the caller).
    pub applicant: Option<&'a super::applicant::Identity>,
    /// The applicant's register cross-check, when a guard needs it (computed by the caller).
    pub registry: Option<&'a Outcome>,
    /// What is wrong with the case's required documents (one entry per type that is missing
    /// or invalid, field `/documents/<type>`), when a guard needs it (computed by the caller
    /// with the readiness report's rules).
    pub documents: Option<&'a [FieldError]>,
    /// The verification of the request's electronic signature over the case's signing
    /// payload, when a guard needs it (computed by the caller).
    pub signature: Option<Result<(), &'a crate::signature::SignatureError>>,
}

/// Why a guard refused.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardFailure {
    /// Guard name.
    pub guard: &'static str,
    /// Stable code.
    pub code: &'static str,
    /// Russian message.
    pub message: String,
    /// Per-field problems, when there are any.
    pub details: Vec<FieldError>,
}

type GuardFn = fn(&GuardContext<'_>) -> Result<(), GuardFailure>;

const GUARDS: &[(&str, GuardFn)] = &[
    ("form_valid", form_valid),
    ("registry_match", registry_match),
    ("documents_complete", documents_complete),
    ("signature_valid", signature_valid),
];

/// Whether these guards need the applicant's login identity.
pub fn needs_applicant(names: &[String]) -> bool {
    names.iter().any(|n| n == "form_valid")
}

/// Whether these guards need the applicant's register cross-check.
pub fn needs_registry(names: &[String]) -> bool {
    names.iter().any(|n| n == "registry_match")
}

/// Whether these guards need the state of the case's documents.
pub fn needs_documents(names: &[String]) -> bool {
    names.iter().any(|n| n == "documents_complete")
}

/// Whether these guards need the request's signature verified.
pub fn needs_signature(names: &[String]) -> bool {
    names.iter().any(|n| n == "signature_valid")
}

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

/// The form is complete, every field passes its rules, and the applicant block is the person
/// who logged in.
fn form_valid(ctx: &GuardContext<'_>) -> Result<(), GuardFailure> {
    let errors = form_problems(ctx.schema, ctx.form, ctx.applicant);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(GuardFailure {
            guard: "form_valid",
            code: "form_incomplete",
            message: "Заявление заполнено не полностью или с ошибками: исправьте отмеченные поля"
                .into(),
            details: errors,
        })
    }
}

/// What `form_valid` refuses: the schema's complaints, then each applicant field that differs
/// from the login identity (the readiness report shows the same).
pub fn form_problems(
    schema: &FormSchema,
    form: &Value,
    applicant: Option<&super::applicant::Identity>,
) -> Vec<FieldError> {
    let mut errors = schema.validate(form, Mode::Complete);
    if let Some(who) = applicant {
        errors.extend(super::applicant::mismatches(form, who));
    }
    errors
}

/// The applicant matches the register of medical workers (ФРМР): found by SNILS, with the
/// same name, birth date and INN. Each differing field is listed with both values.
fn registry_match(ctx: &GuardContext<'_>) -> Result<(), GuardFailure> {
    let outcome = ctx.registry.unwrap_or(&Outcome::NoIdentity);
    let details = match outcome {
        Outcome::Match => return Ok(()),
        Outcome::Discrepancy { differences } => differences
            .iter()
            .map(|d| FieldError {
                field: format!("/registry/{}", d.field),
                code: "registry_discrepancy".into(),
                message: format!(
                    "{}: у нас «{}», в ФРМР «{}»",
                    d.label,
                    d.ours.as_deref().unwrap_or("—"),
                    d.register.as_deref().unwrap_or("—")
                ),
            })
            .collect(),
        Outcome::NotFound | Outcome::NoIdentity => Vec::new(),
    };
    Err(GuardFailure {
        guard: "registry_match",
        code: outcome.code(),
        message: outcome.message(),
        details,
    })
}

/// Every required document type of the workflow has a valid document on the case.
fn documents_complete(ctx: &GuardContext<'_>) -> Result<(), GuardFailure> {
    match ctx.documents {
        Some([]) => Ok(()),
        Some(problems) => Err(GuardFailure {
            guard: "documents_complete",
            code: "documents_incomplete",
            message: "Приложены не все обязательные документы или некоторые из них не прошли \
                      проверку: смотрите список"
                .into(),
            details: problems.to_vec(),
        }),
        // The caller did not compute the documents' state: refuse rather than pass.
        None => Err(GuardFailure {
            guard: "documents_complete",
            code: "documents_incomplete",
            message: "Не удалось проверить документы заявления".into(),
            details: Vec::new(),
        }),
    }
}

/// The request carries a detached CMS signature of the applicant over exactly the case's
/// signing payload, verified against the trust store.
fn signature_valid(ctx: &GuardContext<'_>) -> Result<(), GuardFailure> {
    match ctx.signature {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(GuardFailure {
            guard: "signature_valid",
            code: e.code,
            message: e.message.clone(),
            details: Vec::new(),
        }),
        None => Err(GuardFailure {
            guard: "signature_valid",
            code: "signature_missing",
            message: "Не удалось проверить электронную подпись".into(),
            details: Vec::new(),
        }),
    }
}
