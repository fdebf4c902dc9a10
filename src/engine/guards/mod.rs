//! Guards: named checks a transition requires, one file each, registered in [`GUARDS`].
//!
//! A guard declares what it needs ([`Need`]) and checks engine-owned [`Facts`], which the
//! service's facts gatherer collects once per transition (and for the readiness report, which
//! therefore cannot drift from what submission checks). Only registered guards are known; a
//! workflow naming any other is refused at load.

mod assignee_only;
mod deadline_breached;
mod documents_complete;
mod fixes_named;
mod form_valid;
mod once;
mod reasons_given;
mod registry_match;
mod signature_valid;

use super::applicant;
use super::form::{FieldError, FormSchema};
use serde_json::Value;
use std::collections::BTreeSet;

pub use form_valid::form_problems;

/// What a guard needs gathered before it can judge (the form is always there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// The applicant's identity from their login.
    Applicant,
    /// The applicant's register (ФРМР) cross-check.
    Registry,
    /// The state of the case's required documents.
    Documents,
    /// The request's electronic signature, verified over the case's signing payload.
    Signature,
    /// Who the case is assigned to, and who acts.
    Assignment,
    /// What the decision says: reasons, recommendations, fixes.
    Decision,
    /// Whether the current step's deadline was breached.
    Deadline,
    /// The transitions run on the case before.
    History,
}

/// Who the case is assigned to and who runs the transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentFact {
    /// The assigned commission member.
    pub assignee: Option<String>,
    /// The acting user; `None` for the system.
    pub actor: Option<String>,
}

/// The decision of the request, with what it is checked against.
#[derive(Debug, Clone, Copy)]
pub struct DecisionFact<'a> {
    /// What the request says.
    pub input: &'a super::decision::Decision,
    /// The reasons catalogue.
    pub reasons: &'a super::reasons::Reasons,
    /// The workflow's id (reasons are scoped by it).
    pub workflow: &'a str,
    /// The workflow's document types.
    pub document_types: &'a [super::definition::DocumentType],
}

/// The applicant's register cross-check, as the guard sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterFact {
    /// The applicant matches the register.
    pub matched: bool,
    /// Stable code of the outcome.
    pub code: &'static str,
    /// What to do, in Russian.
    pub message: String,
    /// Each differing field.
    pub details: Vec<FieldError>,
}

/// One required document type and whether the case has a valid document of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredDocument {
    /// Document type code.
    pub doc_type: String,
    /// Its label.
    pub label: String,
    /// A valid document of this type is on the case.
    pub ready: bool,
    /// `ok`, `document_missing` or `document_invalid`.
    pub code: String,
    /// What to do, in Russian (empty when ready).
    pub message: String,
}

/// Why something was refused: a stable code and a Russian message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Stable code.
    pub code: &'static str,
    /// Russian message.
    pub message: String,
}

/// Everything a guard may look at; each part only when a guard needed it.
#[derive(Debug)]
pub struct Facts<'a> {
    /// The case's form data.
    pub form: &'a Value,
    /// The workflow's form schema.
    pub schema: &'a FormSchema,
    /// Who the applicant is by their login (none before their first login).
    pub applicant: Option<applicant::Identity>,
    /// The applicant's register cross-check.
    pub registry: Option<RegisterFact>,
    /// Each required document type of the workflow.
    pub documents: Option<Vec<RequiredDocument>>,
    /// The request's signature: accepted, or why not.
    pub signature: Option<Result<(), Refusal>>,
    /// Who the case is assigned to.
    pub assignment: Option<AssignmentFact>,
    /// The request's decision.
    pub decision: Option<DecisionFact<'a>>,
    /// Whether the current step's deadline was found breached.
    pub breached: Option<bool>,
    /// The transitions run on the case before, oldest first.
    pub history: Option<Vec<String>>,
    /// The transition being judged (its name and label), when one is.
    pub transition: Option<(&'a str, &'a str)>,
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

/// A named check.
pub trait Guard: Sync {
    /// The name workflows use.
    fn name(&self) -> &'static str;
    /// What must be gathered for it.
    fn needs(&self) -> &'static [Need];
    /// Judges the facts.
    fn check(&self, facts: &Facts<'_>) -> Result<(), GuardFailure>;
}

/// Every guard, by name.
pub const GUARDS: &[&dyn Guard] = &[
    &form_valid::FormValid,
    &registry_match::RegistryMatch,
    &documents_complete::DocumentsComplete,
    &signature_valid::SignatureValid,
    &assignee_only::AssigneeOnly,
    &reasons_given::ReasonsGiven,
    &fixes_named::FixesNamed,
    &deadline_breached::DeadlineBreached,
    &once::Once,
];

fn find(name: &str) -> Option<&'static dyn Guard> {
    GUARDS.iter().copied().find(|g| g.name() == name)
}

/// Whether a guard with that name exists.
pub fn is_known(name: &str) -> bool {
    find(name).is_some()
}

/// What the named guards need, together.
pub fn needs(names: &[String]) -> BTreeSet<Need> {
    names
        .iter()
        .filter_map(|n| find(n))
        .flat_map(|g| g.needs().iter().copied())
        .collect()
}

/// Runs the named guards in order and returns every failure.
pub fn evaluate(names: &[String], facts: &Facts<'_>) -> Vec<GuardFailure> {
    names
        .iter()
        .filter_map(|n| find(n))
        .filter_map(|g| g.check(facts).err())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_guard_declares_what_it_needs() {
        let all: Vec<String> = GUARDS.iter().map(|g| g.name().to_owned()).collect();
        assert_eq!(
            needs(&all),
            [
                Need::Applicant,
                Need::Registry,
                Need::Documents,
                Need::Signature,
                Need::Assignment,
                Need::Decision,
                Need::Deadline,
                Need::History
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(
            needs(&["form_valid".to_owned()]),
            [Need::Applicant].into_iter().collect()
        );
        assert!(needs(&["no_such_guard".to_owned()]).is_empty());
    }
}
