//! The one facts gatherer: what the guards of a transition need, read once, turned into the
//! engine's own facts. The transition and the readiness report both use it, so the report
//! cannot drift from what submission checks.

use super::signing::Accepted;
use crate::documents::inspect::Report;
use crate::engine::catalog::Workflow;
use crate::engine::definition::DocumentType;
use crate::engine::form::FieldError;
use crate::engine::guards::{Facts, Need, Refusal, RegisterFact, RequiredDocument};
use crate::registry::check::Checked;
use crate::registry::cross_check::Outcome;
use crate::signature::Signing;
use crate::store::cases::Case;
use crate::store::documents::{self as rows, DocumentRow};
use crate::store::{DbConnection, StoreError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeSet;

/// What a signature is checked with.
#[derive(Debug, Clone, Copy)]
pub struct SignatureInput<'a> {
    /// Trust store and verifiers.
    pub signing: &'a Signing,
    /// The signature sent with the request, if any.
    pub bytes: Option<&'a [u8]>,
    /// The clock's now (certificate validity).
    pub now: DateTime<Utc>,
}

/// What the gatherer reads for.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The case.
    pub case: &'a Case,
    /// Its workflow (the pinned definition).
    pub workflow: &'a Workflow,
    /// The case's form, parsed.
    pub form: &'a Value,
    /// How to check the request's signature, when it is needed.
    pub signature: Option<SignatureInput<'a>>,
    /// The acting user; `None` for the system.
    pub actor: Option<&'a str>,
    /// The transition being judged (name and label), when one is.
    pub transition: Option<(&'a str, &'a str)>,
    /// The request's decision and the reasons catalogue it is checked against.
    pub decision: Option<(
        &'a crate::engine::decision::Decision,
        &'a crate::engine::reasons::Reasons,
    )>,
}

/// The facts, and what their gathering produced besides: the register check (kept on the
/// case whatever the transition does) and an accepted signature (recorded by the effects).
#[derive(Debug)]
pub struct Gathered<'a> {
    /// For the guards.
    pub facts: Facts<'a>,
    /// The applicant's register check, when it was needed.
    pub checked: Option<Checked>,
    /// The accepted signature, when it was needed and verified.
    pub accepted: Option<Accepted>,
}

fn register_fact(outcome: &Outcome) -> RegisterFact {
    let details = match outcome {
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
        Outcome::Match | Outcome::NotFound | Outcome::NoIdentity => Vec::new(),
    };
    RegisterFact {
        matched: *outcome == Outcome::Match,
        code: outcome.code(),
        message: outcome.message(),
        details,
    }
}

/// One entry per required document type: ready when the case has a valid document of it,
/// otherwise missing or invalid (with the inspection's first problem).
fn required_documents(types: &[DocumentType], docs: &[DocumentRow]) -> Vec<RequiredDocument> {
    types
        .iter()
        .filter(|t| t.required)
        .map(|ty| {
            let of_type: Vec<&DocumentRow> =
                docs.iter().filter(|d| d.doc_type == ty.code).collect();
            let ready = of_type.iter().any(|d| d.status == "valid");
            let (code, message) = if ready {
                ("ok".to_owned(), String::new())
            } else if let Some(bad) = of_type.first() {
                let problem = serde_json::from_str::<Report>(&bad.inspection)
                    .ok()
                    .and_then(|r| r.problems.into_iter().next());
                (
                    "document_invalid".to_owned(),
                    problem.map_or_else(
                        || format!("Документ «{}» не прошёл проверку: замените его", ty.label),
                        |p| format!("«{}»: {}", ty.label, p.message),
                    ),
                )
            } else {
                (
                    "document_missing".to_owned(),
                    format!("Приложите документ «{}»", ty.label),
                )
            };
            RequiredDocument {
                doc_type: ty.code.clone(),
                label: ty.label.clone(),
                ready,
                code,
                message,
            }
        })
        .collect()
}

/// Gathers what `needs` asks for, each read once.
pub fn gather<'a>(
    conn: &mut DbConnection,
    s: Subject<'a>,
    needs: &BTreeSet<Need>,
) -> Result<Gathered<'a>, StoreError> {
    let owner = &s.case.owner_id;
    let applicant = if needs.contains(&Need::Applicant) {
        super::applicant::identity_of(conn, owner)?
    } else {
        None
    };
    let checked = if needs.contains(&Need::Registry) {
        Some(crate::registry::check::for_applicant(conn, owner)?)
    } else {
        None
    };
    // The case's documents, read once for both needs that look at them.
    let docs = if needs.contains(&Need::Documents) || needs.contains(&Need::Signature) {
        rows::of_case(conn, &s.case.id)?
    } else {
        Vec::new()
    };
    let documents = needs
        .contains(&Need::Documents)
        .then(|| required_documents(&s.workflow.definition.document_types, &docs));
    let verified = match (needs.contains(&Need::Signature), s.signature) {
        (true, Some(input)) => Some(super::signing::verify(
            conn,
            input.signing,
            s.case,
            s.workflow,
            docs,
            input.bytes,
            input.now,
        )?),
        _ => None,
    };
    let (signature, accepted) = match verified {
        Some(Ok(accepted)) => (Some(Ok(())), Some(accepted)),
        Some(Err(e)) => (
            Some(Err(Refusal {
                code: e.code,
                message: e.message,
            })),
            None,
        ),
        None => (None, None),
    };
    Ok(Gathered {
        facts: Facts {
            form: s.form,
            schema: &s.workflow.form,
            applicant,
            registry: checked.as_ref().map(|c| register_fact(&c.outcome)),
            documents,
            signature,
            assignment: needs.contains(&Need::Assignment).then(|| {
                crate::engine::guards::AssignmentFact {
                    assignee: s.case.assignee_id.clone(),
                    actor: s.actor.map(str::to_owned),
                }
            }),
            breached: needs
                .contains(&Need::Deadline)
                .then_some(s.case.breached_at.is_some()),
            history: match needs.contains(&Need::History) {
                true => Some(history(conn, &s.case.id)?),
                false => None,
            },
            transition: s.transition,
            decision: match (needs.contains(&Need::Decision), s.decision) {
                (true, Some((input, reasons))) => Some(crate::engine::guards::DecisionFact {
                    input,
                    reasons,
                    workflow: &s.workflow.definition.id,
                    document_types: &s.workflow.definition.document_types,
                }),
                _ => None,
            },
        },
        checked,
        accepted,
    })
}

/// The transitions run on a case, oldest first, as its audit chain records them.
fn history(conn: &mut DbConnection, case_id: &str) -> Result<Vec<String>, StoreError> {
    let events = crate::store::audit::for_case(conn, case_id, &["case.transition"])
        .map_err(StoreError::from)?;
    Ok(events
        .iter()
        .filter_map(|e| {
            let p: Value = serde_json::from_str(&e.payload).ok()?;
            p["transition"].as_str().map(str::to_owned)
        })
        .collect())
}
