//! Use cases: each runs the engine's rules against stored state inside one transaction and
//! writes the audit event of the change in that same transaction.

pub mod access;
pub mod cases;
pub mod form;
pub mod transition;

use crate::engine::TransitionError;
use crate::engine::catalog::{Catalog, Workflow};
use crate::engine::form::FieldError;
use crate::engine::guards::GuardFailure;
use crate::store::{DbConnection, StoreError, definitions};
use std::sync::Arc;

/// Errors of the use cases.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such case.
    #[error("case not found")]
    CaseNotFound,
    /// The case exists but the caller may not see it (answered exactly like `CaseNotFound`).
    #[error("case hidden")]
    CaseHidden,
    /// No such workflow.
    #[error("unknown workflow")]
    UnknownWorkflow,
    /// The caller may not create cases.
    #[error("not a specialist")]
    NotSpecialist,
    /// The engine refused the transition.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Guards refused.
    #[error("guards failed")]
    Guards(Vec<GuardFailure>),
    /// `If-Match` is missing.
    #[error("precondition required")]
    PreconditionRequired,
    /// `If-Match` does not match.
    #[error("version conflict")]
    VersionConflict {
        /// The case's current version.
        current: i64,
    },
    /// The form can no longer be changed in this state.
    #[error("case not editable")]
    NotEditable {
        /// Current state's label.
        state_label: String,
    },
    /// The form data has errors.
    #[error("invalid form")]
    InvalidForm(Vec<FieldError>),
    /// The patch is not a JSON object.
    #[error("patch is not an object")]
    PatchNotObject,
    /// The idempotency key was used for another request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// The audit code when this error is an access denial.
    pub fn denial_code(&self) -> Option<&'static str> {
        match self {
            ServiceError::CaseHidden => Some("case_hidden"),
            ServiceError::NotSpecialist => Some("not_specialist"),
            ServiceError::Transition(TransitionError::Forbidden) => Some("role_not_allowed"),
            ServiceError::Transition(TransitionError::OwnCase) => Some("own_case"),
            _ => None,
        }
    }
}

impl From<diesel::result::Error> for ServiceError {
    fn from(e: diesel::result::Error) -> Self {
        ServiceError::Store(StoreError::Query(e))
    }
}

/// The definition version a case pinned, rebuilt from storage if this process has not seen it.
pub fn pinned_workflow(
    conn: &mut DbConnection,
    catalog: &Catalog,
    hash: &str,
) -> Result<Arc<Workflow>, ServiceError> {
    if let Some(w) = catalog.pinned(hash) {
        return Ok(w);
    }
    let (yaml, schema) = definitions::sources(conn, hash)?
        .ok_or_else(|| StoreError::Corrupt(format!("definition {hash} is not stored")))?;
    let w = Workflow::build(&format!("stored:{hash}"), &yaml, &schema).map_err(|p| {
        StoreError::Corrupt(format!(
            "stored definition {hash} no longer validates: {}",
            p.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    if w.definition.hash != hash {
        return Err(
            StoreError::Corrupt(format!("stored definition {hash} hashes differently")).into(),
        );
    }
    Ok(catalog.remember(w))
}

/// A change to a case and the audit event that records it.
#[derive(Debug)]
pub(crate) struct Change {
    /// New state, if the state changes.
    pub state: Option<String>,
    /// New form data, if the form changes.
    pub form_data: Option<String>,
    /// Audit event kind.
    pub kind: &'static str,
    /// Audit event payload (references, no personal data).
    pub payload: serde_json::Value,
}

/// Applies a version-checked change to a case and appends its audit event to the case's chain,
/// inside the caller's transaction; on success `case` holds the new row.
pub(crate) fn commit_change(
    conn: &mut DbConnection,
    case: &mut crate::store::cases::Case,
    expected: i64,
    change: Change,
    actor: &crate::engine::Actor,
    now: chrono::NaiveDateTime,
) -> Result<(), ServiceError> {
    use crate::store::cases::{self, CaseUpdate};
    let Change {
        state,
        form_data,
        kind,
        payload,
    } = change;
    let event = crate::audit::prepare(
        crate::audit::Entry {
            chain: case.id.clone(),
            kind,
            actor: Some(actor.user.to_string()),
            case: Some(case.id.clone()),
            at: now,
            payload,
        },
        Some((case.audit_seq, &case.audit_head)),
    );
    let update = CaseUpdate {
        state: state.as_deref(),
        form_data: form_data.as_deref(),
        version: expected + 1,
        audit_seq: event.seq,
        audit_head: &event.hash,
        updated_at: now,
    };
    if !cases::update_checked(conn, &case.id, expected, &update)? {
        let current = cases::find(conn, &case.id)?.map_or(expected, |c| c.version);
        return Err(ServiceError::VersionConflict { current });
    }
    crate::store::audit::insert(conn, &event)?;
    if let Some(s) = state {
        case.state = s;
    }
    if let Some(f) = form_data {
        case.form_data = f;
    }
    case.version = expected + 1;
    case.audit_seq = event.seq;
    case.audit_head = event.hash;
    case.updated_at = now;
    Ok(())
}
