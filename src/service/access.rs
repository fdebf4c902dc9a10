//! Loading a case for a caller, with the access rules, and auditing denials.

use super::{ServiceError, pinned_workflow};
use crate::audit::{self, Entry};
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::engine::catalog::{Catalog, Workflow};
use crate::engine::visibility::Audience;
use crate::engine::{Actor, CaseView, can_view};
use crate::store::cases::{self, Case};
use crate::store::{DbConnection, StoreError, support, write_tx};
use chrono::NaiveDateTime;
use serde_json::json;
use std::sync::Arc;

/// A case the caller may see, with its pinned workflow.
#[derive(Debug)]
pub struct Visible {
    /// The row.
    pub case: Case,
    /// The workflow version it pinned.
    pub workflow: Arc<Workflow>,
    /// The owner.
    pub owner: UserId,
    /// The support line working it (a sent support request's).
    pub line: Option<u8>,
}

impl Visible {
    /// The same case at another row (after a change).
    pub fn with(&self, case: Case) -> Visible {
        Visible {
            case,
            workflow: self.workflow.clone(),
            owner: self.owner.clone(),
            line: self.line,
        }
    }

    /// The engine's view of the case.
    pub fn view(&self) -> CaseView<'_> {
        CaseView {
            state: &self.case.state,
            owner: &self.owner,
            submitted: self.case.submitted_at.is_some(),
            specialty: self.case.specialty.as_deref(),
            assignee: self.case.assignee_id.as_deref(),
            line: self.line,
        }
    }

    /// Refuses (403) anyone but the case's applicant.
    pub fn require_owner(&self, actor: &Actor) -> Result<(), ServiceError> {
        if self.owner == actor.user {
            Ok(())
        } else {
            Err(ServiceError::Transition(
                crate::engine::TransitionError::Forbidden,
            ))
        }
    }

    /// Refuses a case in a state where its applicant may not change it.
    pub fn require_editable(&self) -> Result<(), ServiceError> {
        let def = &self.workflow.definition;
        if def.state(&self.case.state).is_some_and(|s| s.editable) {
            Ok(())
        } else {
            Err(ServiceError::NotEditable {
                state_label: def.label_of(&self.case.state).to_owned(),
            })
        }
    }
}

/// Loads a case if the caller may see it; a case they may not see is reported exactly like
/// a missing one (404), so ids of other people's cases reveal nothing.
pub fn load_visible(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
) -> Result<Visible, ServiceError> {
    let visible = load(conn, catalog, case_id)?;
    let def = &visible.workflow.definition;
    if can_view(def, visible.view(), actor) || seen_through_request(conn, catalog, &visible, actor)?
    {
        Ok(visible)
    } else {
        Err(ServiceError::CaseHidden)
    }
}

/// Whether a support agent sees the case through a support request that links it, when its
/// workflow lets them ([`Audience::LinkedRequest`]).
fn seen_through_request(
    conn: &mut DbConnection,
    catalog: &Catalog,
    v: &Visible,
    actor: &Actor,
) -> Result<bool, ServiceError> {
    let def = &v.workflow.definition;
    if !actor.has(Role::Support) || !def.visible_to.contains(&Audience::LinkedRequest) {
        return Ok(false);
    }
    for link in support::linking(conn, &v.case.id)? {
        // The request is one of the actor's: the same rules as opening it.
        let request = load(conn, catalog, &link.case_id)?;
        let owner = UserId::from_stored(link.owner_id);
        let view = CaseView {
            owner: &owner,
            assignee: link.assignee_id.as_deref(),
            line: u8::try_from(link.line).ok(),
            ..request.view()
        };
        if can_view(&request.workflow.definition, view, actor) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A case row with its pinned workflow, as the access rules see it (the line of a support
/// request read when its workflow's audiences depend on it).
pub fn assemble(
    conn: &mut DbConnection,
    case: Case,
    workflow: Arc<Workflow>,
) -> Result<Visible, ServiceError> {
    let owner = UserId::from_stored(case.owner_id.clone());
    let line = if workflow
        .definition
        .visible_to
        .contains(&Audience::SupportLine)
    {
        support::line_of(conn, &case.id)?.and_then(|l| u8::try_from(l).ok())
    } else {
        None
    };
    Ok(Visible {
        case,
        workflow,
        owner,
        line,
    })
}

/// Loads a case with its pinned workflow, whoever asks: for the system (timers), which acts on
/// every case.
pub fn load(
    conn: &mut DbConnection,
    catalog: &Catalog,
    case_id: &str,
) -> Result<Visible, ServiceError> {
    let case = cases::find(conn, case_id)?.ok_or(ServiceError::CaseNotFound)?;
    let workflow = pinned_workflow(conn, catalog, &case.definition_hash)?;
    assemble(conn, case, workflow)
}

/// Runs a use case and, if it ends in an access denial, audits the denial.
pub fn audited<T>(
    conn: &mut DbConnection,
    actor: &Actor,
    action: &str,
    case_id: Option<&str>,
    now: NaiveDateTime,
    work: impl FnOnce(&mut DbConnection) -> Result<T, ServiceError>,
) -> Result<T, ServiceError> {
    let result = work(conn);
    if let Err(e) = &result
        && let Some(code) = e.denial_code()
    {
        record_denial(conn, actor, action, case_id, code, now)?;
    }
    result
}

/// Records that `actor` was refused `action` (in its own transaction: nothing else changed).
pub fn record_denial(
    conn: &mut DbConnection,
    actor: &Actor,
    action: &str,
    case_id: Option<&str>,
    code: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let payload = json!({"action": action, "case_id": case_id, "code": code});
    record_event(conn, actor, "access.denied", payload, now)
}

/// Records an event of `actor`'s own (an access denial, a look-up of personal data) in their
/// chain, in its own transaction, retried on a write conflict.
pub fn record_event(
    conn: &mut DbConnection,
    actor: &Actor,
    kind: &'static str,
    payload: serde_json::Value,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let mut attempts = 0;
    loop {
        let result = write_tx(conn, |conn| {
            audit::record(
                conn,
                Entry {
                    chain: format!("user:{}", actor.user),
                    kind,
                    actor: Some(actor.user.to_string()),
                    case: None,
                    at: now,
                    payload: payload.clone(),
                },
            )
            .map_err(StoreError::from)
        });
        match result {
            Err(e) if e.is_conflict() && attempts < 5 => attempts += 1,
            other => return other.map(drop),
        }
    }
}
