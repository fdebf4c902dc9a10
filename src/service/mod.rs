//! Use cases: each runs the engine's rules against stored state inside one transaction and
//! writes the audit event of the change in that same transaction.

pub mod access;
pub mod applicant;
pub mod attributes;
pub mod calendar;
pub mod cases;
pub mod commission;
pub mod documents;
pub mod effects;
pub mod escalations;
pub mod facts;
pub mod form;
pub mod idempotent;
pub mod messages;
pub mod prefill;
pub mod readiness;
pub mod reports;
pub mod results;
pub mod review;
pub mod revision;
pub mod signing;
pub mod steps;
pub mod support;
pub mod support_mail;
pub mod timers;
pub mod transition;
pub mod warnings;

use crate::engine::TransitionError;
use crate::engine::catalog::{Catalog, Workflow};
use crate::engine::form::FieldError;
use crate::engine::guards::GuardFailure;
use crate::store::{DbConnection, StoreError, definitions};
use std::sync::Arc;

/// What transitions run by besides the stored state: the workflows, signature checking and
/// receipt numbering, and the notification templates.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The workflows.
    pub catalog: &'a Catalog,
    /// Signatures and receipt numbers.
    pub signing: &'a crate::signature::Signing,
    /// Notification templates.
    pub notices: &'a crate::notify::templates::Templates,
}

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
    /// The caller has none of the roles that may open a case of the workflow.
    #[error("not a creator of {workflow}")]
    NotCreator {
        /// The workflow's Russian title.
        workflow: String,
        /// The roles that may.
        roles: Vec<crate::domain::role::Role>,
    },
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
    /// The workflow has no such document type.
    #[error("unknown document type")]
    UnknownDocumentType(String),
    /// The case already holds as many files of this type as allowed.
    #[error("too many files")]
    TooManyFiles {
        /// Russian label of the type.
        label: String,
        /// How many are allowed.
        max: u32,
    },
    /// The user's documents would exceed their storage quota.
    #[error("quota exceeded")]
    QuotaExceeded {
        /// The quota in MB.
        quota_mb: i64,
    },
    /// The 48 hours for replacing a document have passed.
    #[error("replace window closed")]
    ReplaceWindowClosed,
    /// No such document in this case.
    #[error("document not found")]
    DocumentNotFound,
    /// The case has no receipt yet.
    #[error("receipt not found")]
    ReceiptNotFound,
    /// The idempotency key was used for another request.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// A rule of a use case refused the request: a stable code and what to do, in Russian.
    #[error("refused: {}", .0.code)]
    Refused(Refused),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a refusal is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The input is wrong (422).
    Invalid,
    /// The state of things does not allow it now (409).
    Conflict,
    /// The thing asked for does not exist (404).
    NotFound,
    /// The caller may not do it (403, audited as a denial).
    Forbidden,
}

/// A use case's refusal.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// How it is answered.
    pub kind: RefusalKind,
    /// Stable code.
    pub code: &'static str,
    /// What to do, in Russian.
    pub message: String,
    /// Per-field problems.
    pub details: Vec<FieldError>,
}

/// The code of a creation refused for want of one of `roles`: `not_specialist` where only the
/// specialist opens cases (the accreditation workflows, as before), else
/// `creator_role_required`.
pub fn creator_code(roles: &[crate::domain::role::Role]) -> &'static str {
    if roles == [crate::domain::role::Role::Specialist] {
        "not_specialist"
    } else {
        "creator_role_required"
    }
}

impl ServiceError {
    /// A refusal of `kind` with no field details.
    pub fn refused(kind: RefusalKind, code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Refused(Refused {
            kind,
            code,
            message: message.into(),
            details: Vec::new(),
        })
    }

    /// Wrong input (422) naming the field (a JSON pointer into the request).
    pub fn invalid_field(
        code: &'static str,
        message: impl Into<String>,
        field: &str,
        field_message: impl Into<String>,
    ) -> Self {
        ServiceError::Refused(Refused {
            kind: RefusalKind::Invalid,
            code,
            message: message.into(),
            details: vec![FieldError {
                field: field.to_owned(),
                code: code.to_owned(),
                message: field_message.into(),
            }],
        })
    }
}

impl ServiceError {
    /// The audit code when this error is an access denial.
    pub fn denial_code(&self) -> Option<&'static str> {
        match self {
            ServiceError::CaseHidden => Some("case_hidden"),
            // Audited like a hidden case, so the cost and the answer are the same and probing
            // for other people's case ids is visible in the log.
            ServiceError::CaseNotFound => Some("case_not_found"),
            ServiceError::NotCreator { roles, .. } => Some(creator_code(roles)),
            ServiceError::Transition(TransitionError::Forbidden) => Some("role_not_allowed"),
            ServiceError::Transition(TransitionError::OwnCase) => Some("own_case"),
            ServiceError::Refused(r) if r.kind == RefusalKind::Forbidden => Some(r.code),
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
    /// Whether this change hands the case to the commission.
    pub submitted: bool,
    /// Audit event kind.
    pub kind: &'static str,
    /// Audit event payload (references, no personal data).
    pub payload: serde_json::Value,
    /// A new step starts: when, and its due date if its state has a deadline.
    pub step: Option<Step>,
}

/// The start of a case's step and its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// When it starts.
    pub started_at: chrono::NaiveDateTime,
    /// The Moscow date it is due, and whether that rests on provisional calendar days.
    pub due: Option<(chrono::NaiveDate, bool)>,
    /// The instant it is due, for a norm in working hours (a norm in days is due when its
    /// date has passed).
    pub due_at: Option<chrono::NaiveDateTime>,
}

/// A change computed in memory: the row as it will be and the audit event recording it.
#[derive(Debug)]
pub(crate) struct Staged {
    /// The case row after the change.
    pub next: crate::store::cases::Case,
    /// The version the change was computed from.
    pub expected: i64,
    /// The audit event.
    pub event: crate::store::audit::NewAuditEvent,
}

/// What a change adds to its commit besides the case row and its audit event.
#[derive(Debug, Default)]
pub struct Extras {
    /// The response to replay for a retried request.
    pub remember: Option<crate::store::idempotency::Remembered>,
    /// Timers started.
    pub timers: Vec<crate::store::commit::NewTimer>,
    /// Scopes of pending timers cancelled.
    pub cancel: Vec<&'static str>,
    /// The timer fired.
    pub fired: Option<crate::store::commit::Fired>,
    /// Notifications written to the outbox.
    pub notifications: Vec<crate::store::notifications::NewNotification>,
    /// The step the change ends.
    pub closed_step: Option<crate::store::steps::StepRow>,
}

/// Computes a change of `case` (read at version `expected`) and its audit event, which extends
/// the case's chain from the head recorded on the row.
pub(crate) fn stage_change(
    case: &crate::store::cases::Case,
    expected: i64,
    change: Change,
    actor: Option<&crate::engine::Actor>,
    now: chrono::NaiveDateTime,
) -> Staged {
    let event = crate::audit::prepare(
        crate::audit::Entry {
            chain: case.id.clone(),
            kind: change.kind,
            actor: actor.map(|a| a.user.to_string()),
            case: Some(case.id.clone()),
            at: now,
            payload: change.payload,
        },
        Some((case.audit_seq, &case.audit_head)),
    );
    let mut next = case.clone();
    if let Some(s) = change.state {
        next.state = s;
    }
    if let Some(f) = change.form_data {
        next.form_data = f;
    }
    if change.submitted && next.submitted_at.is_none() {
        next.submitted_at = Some(now);
    }
    if let Some(step) = change.step {
        next.step_started_at = Some(step.started_at);
        next.due_on = step.due.map(|(d, _)| d);
        next.due_provisional = step.due.is_some_and(|(_, p)| p);
        next.breached_at = None;
    }
    next.version = expected + 1;
    next.audit_seq = event.seq;
    next.audit_head.clone_from(&event.hash);
    next.updated_at = now;
    Staged {
        next,
        expected,
        event,
    }
}

/// Writes a staged change with what it adds to the commit as one atomic, version-checked
/// [`crate::store::commit::CaseCommit`]; the caller runs it inside
/// [`crate::store::single_write_tx`].
pub(crate) fn apply_staged(
    conn: &mut DbConnection,
    staged: Staged,
    extras: &Extras,
) -> Result<crate::store::cases::Case, ServiceError> {
    use crate::store::commit::{self, CaseCommit};
    let commit = CaseCommit {
        case: &staged.next,
        expected_version: staged.expected,
        event: &staged.event,
        remember: extras.remember.as_ref(),
        timers: &extras.timers,
        cancel: &extras.cancel,
        fired: extras.fired.as_ref(),
        notifications: &extras.notifications,
        closed_step: extras.closed_step.as_ref(),
    };
    if !commit::write(conn, &commit)? {
        let current = crate::store::cases::find(conn, &staged.next.id)?
            .map_or(staged.expected, |c| c.version);
        return Err(ServiceError::VersionConflict { current });
    }
    Ok(staged.next)
}
