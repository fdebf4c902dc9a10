//! The readiness report: what is missing before the application can be submitted. It is the
//! facts gatherer plus an explanation per item, so it cannot drift from the guards.

use super::ServiceError;
use super::access::{Visible, load_visible};
use super::facts::{Subject, gather};
use crate::engine::Actor;
use crate::engine::catalog::Catalog;
use crate::engine::guards::{Need, form_problems};
use crate::store::{DbConnection, StoreError};
use serde::Serialize;

/// One line of the readiness table: what is needed before the application can be submitted.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReadinessRow {
    /// `form`, `registry`, or `document:<type>`.
    pub item: String,
    /// What it is, in Russian.
    pub label: String,
    /// Whether it is in order.
    pub ready: bool,
    /// Stable code of its state (`ok`, `form_incomplete`, `applicant_mismatch`,
    /// `document_missing`, `document_invalid`, or the register check's code).
    pub code: String,
    /// What to do, in Russian (empty when ready).
    pub message: String,
}

/// The readiness report of a case.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Every row is ready.
    pub ready: bool,
    /// Form, register match, then each required document type.
    pub rows: Vec<ReadinessRow>,
    /// On a case returned for revision: what the commission asked to fix and whether it has
    /// been changed since.
    pub revision: Option<super::revision::RoundReport>,
}

/// What is missing before the case can be submitted: the form complete and valid and the
/// applicant's own, the applicant matching the register, each required document present and
/// valid.
pub fn readiness(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
) -> Result<Readiness, ServiceError> {
    let visible = load_visible(conn, catalog, actor, case_id)?;
    let round = super::revision::open_round(conn, &visible)?;
    let Visible { case, workflow, .. } = &visible;
    let (case, workflow) = (case.clone(), workflow.clone());
    let form: serde_json::Value = serde_json::from_str(&case.form_data)
        .map_err(|e| StoreError::Corrupt(format!("form of case {case_id}: {e}")))?;
    let needs = [Need::Applicant, Need::Registry, Need::Documents]
        .into_iter()
        .collect();
    let subject = Subject {
        case: &case,
        workflow: &workflow,
        form: &form,
        signature: None,
        actor: None,
        transition: None,
        decision: None,
    };
    let gathered = gather(conn, subject, &needs)?;
    let facts = &gathered.facts;
    let mut rows = Vec::new();
    let errors = form_problems(facts.schema, facts.form, facts.applicant.as_ref());
    let mismatched: Vec<&str> = errors
        .iter()
        .filter(|e| e.code == "applicant_mismatch")
        .map(|e| e.message.as_str())
        .collect();
    let (code, message) = if errors.is_empty() {
        ("ok", String::new())
    } else if !mismatched.is_empty() {
        ("applicant_mismatch", mismatched.join("; "))
    } else {
        (
            "form_incomplete",
            format!(
                "Заполните или исправьте поля заявления (замечаний: {})",
                errors.len()
            ),
        )
    };
    rows.push(ReadinessRow {
        item: "form".into(),
        label: "Заявление".into(),
        ready: errors.is_empty(),
        code: code.into(),
        message,
    });
    if let Some(r) = &facts.registry {
        rows.push(ReadinessRow {
            item: "registry".into(),
            label: "Сведения в Федеральном регистре медицинских работников".into(),
            ready: r.matched,
            code: if r.matched { "ok" } else { r.code }.into(),
            message: if r.matched {
                String::new()
            } else {
                r.message.clone()
            },
        });
    }
    for d in facts.documents.iter().flatten() {
        rows.push(ReadinessRow {
            item: format!("document:{}", d.doc_type),
            label: d.label.clone(),
            ready: d.ready,
            code: d.code.clone(),
            message: d.message.clone(),
        });
    }
    let revision = match &round {
        Some(r) => Some(super::revision::report(conn, &visible, r, &form)?),
        None => None,
    };
    Ok(Readiness {
        ready: rows.iter().all(|r| r.ready),
        rows,
        revision,
    })
}
