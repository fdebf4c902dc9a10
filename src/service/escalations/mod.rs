//! Escalations: what a breached deadline does besides flagging the case, one file each, named
//! by a state's `on_breach` (validated at load against `engine::escalations`). They run inside
//! the timer's commit and only add to it: notifications, more of the audit event, a new
//! assignee. None begins or commits a transaction of its own.

mod notify_assignee;
mod notify_line_lead;
mod notify_secretaries;
mod to_line_2;

use super::access::Visible;
use super::{Rules, ServiceError};
use crate::store::DbConnection;
use crate::store::notifications::NewNotification;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

/// The breach an escalation handles.
#[derive(Debug)]
pub struct Breach<'a> {
    /// The case, as loaded in the timer's transaction.
    pub case: &'a Visible,
    /// `step` or `procedure`.
    pub scope: &'a str,
    /// The deadline that passed, and whether it was provisional.
    pub due: Option<(NaiveDate, bool)>,
    /// The clock's now.
    pub now: DateTime<Utc>,
}

/// What an escalation adds to the timer's commit.
#[derive(Debug, Default)]
pub struct Escalated {
    /// Notices written to the outbox.
    pub notifications: Vec<NewNotification>,
    /// Added to the audit event's payload (`escalation` and what it did).
    pub payload: serde_json::Map<String, Value>,
    /// The case's new assignee, if the escalation hands it on.
    pub assignee: Option<String>,
}

/// A named escalation.
pub trait Escalation: Sync {
    /// The name workflows use.
    fn name(&self) -> &'static str;
    /// Adds what it does to the commit.
    fn apply(
        &self,
        conn: &mut DbConnection,
        rules: Rules<'_>,
        breach: &Breach<'_>,
        out: &mut Escalated,
    ) -> Result<(), ServiceError>;
}

/// Every escalation, by name.
const ESCALATIONS: &[&dyn Escalation] = &[
    &notify_secretaries::NotifySecretaries,
    &notify_assignee::NotifyAssignee,
    &notify_line_lead::NotifyLineLead,
    &to_line_2::ToLine2,
];

/// The notices of a breached deadline of `case` to `recipients` (the `deadline_breached`
/// event, the case's workflow's own words where it has them).
pub(crate) fn breach_notices(
    conn: &mut DbConnection,
    notices: &crate::notify::templates::Templates,
    case: &crate::store::cases::Case,
    def: &crate::engine::definition::Definition,
    (scope, due): (&str, Option<(NaiveDate, bool)>),
    recipients: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<crate::store::notifications::NewNotification>, ServiceError> {
    if recipients.is_empty() {
        return Ok(Vec::new());
    }
    let context = crate::notify::templates::Context {
        breach: Some(scope.into()),
        ..crate::notify::outbox::case_context(
            conn,
            &case.id,
            case.number.clone(),
            def,
            &case.state,
            due,
        )?
    };
    let audience = crate::notify::outbox::Audience {
        recipients,
        owner: None,
        case_id: Some(&case.id),
    };
    crate::notify::outbox::outbox_rows(conn, notices, "deadline_breached", &context, &audience, now)
}

/// Runs the named escalation.
pub fn run(
    conn: &mut DbConnection,
    rules: Rules<'_>,
    name: &str,
    breach: &Breach<'_>,
) -> Result<Escalated, ServiceError> {
    let e = ESCALATIONS
        .iter()
        .find(|e| e.name() == name)
        .ok_or_else(|| crate::store::StoreError::Corrupt(format!("unknown escalation {name}")))?;
    let mut out = Escalated::default();
    out.payload
        .insert("escalation".into(), Value::String(name.to_owned()));
    e.apply(conn, rules, breach, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_escalation_a_workflow_may_name_is_implemented_once() {
        let mut implemented: Vec<&str> = super::ESCALATIONS.iter().map(|e| e.name()).collect();
        implemented.sort_unstable();
        let mut named = crate::engine::escalations::ESCALATIONS.to_vec();
        named.sort_unstable();
        assert_eq!(implemented, named);
    }
}
