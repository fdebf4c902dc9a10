//! Effects: what a transition does besides moving the case, one file each, named in the
//! workflow YAML (a transition's `effects`, a state's `on_enter`/`on_exit`; validated at load
//! against `engine::effects`). They run in order inside the transition's commit and only add
//! to it: rows they hand to the commit ([`Extras`]), or rows they write in its transaction
//! (those that must read first, like a counter, say so with [`Effect::writes_rows`]). None of
//! them begins or commits a transaction of its own, so a transition that fails leaves nothing
//! of them.

mod assign_number;
mod cancel_timers;
mod create_accreditation_record;
mod escalate_to_line_2;
mod export_to_register;
mod file_case;
mod issue_receipt;
pub(crate) mod notify;
mod open_repeat_request;
mod open_support_request;
mod record_decision;
mod record_resolution;
mod record_response;
mod start_procedure_timer;
pub(crate) mod start_timer;

use super::signing::Accepted;
use super::{Extras, ServiceError, Step};
use crate::domain::calendar::Calendar;
use crate::engine::catalog::Workflow;
use crate::engine::definition::Transition;
use crate::signature::Signing;
use crate::store::DbConnection;
use crate::store::cases::Case;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// What an effect sees, and what effects hand on to each other.
#[derive(Debug)]
pub struct EffectContext<'a> {
    /// The case as it was before the transition.
    pub case: &'a Case,
    /// Its form, parsed.
    pub form: &'a Value,
    /// The step the transition starts (its start and due date).
    pub step: Step,
    /// The production calendar.
    pub calendar: &'a Calendar,
    /// What the effects add to the commit.
    pub extras: &'a mut Extras,
    /// Its workflow.
    pub workflow: &'a Workflow,
    /// The transition.
    pub transition: &'a Transition,
    /// The request's signature, when a guard accepted one.
    pub accepted: Option<&'a Accepted>,
    /// Receipt numbering settings.
    pub signing: &'a Signing,
    /// Notification templates.
    pub notices: &'a crate::notify::templates::Templates,
    /// Who runs the transition; `None` for the system (a timer).
    pub actor: Option<&'a crate::engine::Actor>,
    /// The reason given.
    pub reason: Option<&'a str>,
    /// The clock's now: when the request arrived.
    pub now: DateTime<Utc>,
    /// When it counts as registered: `now` within the intake hours of a working day, else the
    /// next opening (the step's start).
    pub registered_at: DateTime<Utc>,
    /// The transition's audit event payload; effects add what they did.
    pub payload: &'a mut Value,
    /// What the decision of the request says.
    pub decision: &'a crate::engine::decision::Decision,
    /// The catalogue of rejection reasons.
    pub reasons: &'a crate::engine::reasons::Reasons,
    /// What the effects change on the case row besides the state.
    pub patch: CasePatch,
    /// The accreditation record an approval issued, for the effects after it.
    pub record: Option<crate::accreditation::Record>,
}

/// What effects change on the case row itself, applied to it before the commit.
#[derive(Debug, Default, Clone)]
pub struct CasePatch {
    /// The whole procedure's due date, and whether it is provisional.
    pub procedure_due: Option<(chrono::NaiveDate, bool)>,
    /// The application number.
    pub number: Option<String>,
    /// What the queue files the case by.
    pub filed: Option<Filed>,
    /// The staff member it is assigned to from now on.
    pub assignee: Option<String>,
    /// Attribute values it sets (a support request's priority).
    pub attributes: crate::engine::attributes::Values,
}

/// What the commission's queue filters and sorts a case by, as filed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filed {
    /// Specialty code.
    pub specialty: Option<String>,
    /// Region code.
    pub region: Option<String>,
    /// Full name.
    pub applicant_name: Option<String>,
    /// Name search key.
    pub name_key: Option<String>,
    /// SNILS digits.
    pub snils: Option<String>,
}

impl CasePatch {
    /// Writes the changes onto the row about to be committed.
    pub fn apply(self, next: &mut Case) {
        if let Some((due, provisional)) = self.procedure_due {
            next.procedure_due_on = Some(due);
            next.procedure_due_provisional = provisional;
        }
        if let Some(n) = self.number {
            next.number = Some(n);
        }
        if let Some(a) = self.assignee {
            next.assignee_id = Some(a);
        }
        if !self.attributes.is_empty() {
            next.attributes = crate::engine::attributes::merged(&next.attributes, &self.attributes);
        }
        if let Some(f) = self.filed {
            next.specialty = f.specialty;
            next.region = f.region;
            next.applicant_name = f.applicant_name;
            next.name_key = f.name_key;
            next.snils = f.snils;
        }
    }
}

/// A named effect.
pub trait Effect: Sync {
    /// The name workflows use.
    fn name(&self) -> &'static str;
    /// Whether it writes rows itself (after reading in the commit's transaction) rather than
    /// only handing rows to the commit: then the commit runs in a transaction.
    fn writes_rows(&self) -> bool {
        false
    }
    /// Adds its rows to the commit.
    fn apply(
        &self,
        conn: &mut DbConnection,
        cx: &mut EffectContext<'_>,
    ) -> Result<(), ServiceError>;
}

/// Every effect, by name.
const EFFECTS: &[&dyn Effect] = &[
    &assign_number::AssignNumber,
    &issue_receipt::IssueReceipt,
    &start_timer::StartTimer,
    &cancel_timers::CancelTimers,
    &start_procedure_timer::StartProcedureTimer,
    &notify::Notify,
    &file_case::FileCase,
    &record_decision::RecordDecision,
    &create_accreditation_record::CreateAccreditationRecord,
    &export_to_register::ExportToRegister,
    &open_support_request::OpenSupportRequest,
    &record_response::RecordResponse,
    &record_resolution::RecordResolution,
    &open_repeat_request::OpenRepeatRequest,
    &escalate_to_line_2::EscalateToLine2,
];

fn find(name: &str) -> Result<&'static dyn Effect, ServiceError> {
    EFFECTS
        .iter()
        .copied()
        .find(|e| e.name() == name)
        .ok_or_else(|| crate::store::StoreError::Corrupt(format!("unknown effect {name}")).into())
}

/// Whether any of the named effects writes rows itself (so the commit needs a transaction).
pub fn write_rows(names: &[&str]) -> Result<bool, ServiceError> {
    for name in names {
        if find(name)?.writes_rows() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Runs the named effects in order.
pub fn run(
    conn: &mut DbConnection,
    names: &[&str],
    cx: &mut EffectContext<'_>,
) -> Result<(), ServiceError> {
    for name in names {
        find(name)?.apply(conn, cx)?;
    }
    Ok(())
}

/// The UTC instant a Moscow due date has passed: the start of the next day in Moscow.
pub(crate) fn passed_at(due: chrono::NaiveDate) -> chrono::NaiveDateTime {
    let next = due.succ_opt().unwrap_or(due);
    crate::domain::calendar::from_moscow(next.and_time(chrono::NaiveTime::MIN)).naive_utc()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_effect_a_workflow_may_name_is_implemented_once() {
        let mut implemented: Vec<&str> = super::EFFECTS.iter().map(|e| e.name()).collect();
        implemented.sort_unstable();
        let mut named: Vec<&str> = crate::engine::effects::EFFECTS
            .iter()
            .map(|(n, _)| *n)
            .collect();
        named.sort_unstable();
        assert_eq!(implemented, named);
    }
}
