//! Effects: what a transition does besides moving the case, one file each, named in the
//! workflow YAML (`effects: [...]`, validated at load against `engine::effects`). They run in
//! order inside the transition's commit and only write rows there: none of them begins or
//! commits a transaction of its own, so a transition that fails leaves nothing of them.

mod assign_number;
mod issue_receipt;

use super::ServiceError;
use super::signing::Accepted;
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
    /// Its workflow.
    pub workflow: &'a Workflow,
    /// The transition.
    pub transition: &'a Transition,
    /// The request's signature, when a guard accepted one.
    pub accepted: Option<&'a Accepted>,
    /// Receipt numbering settings.
    pub signing: &'a Signing,
    /// The clock's now: when the request arrived.
    pub now: DateTime<Utc>,
    /// When it counts as registered: `now` within the intake hours of a working day, else the
    /// next opening (the step's start).
    pub registered_at: DateTime<Utc>,
    /// The transition's audit event payload; effects add what they did.
    pub payload: &'a mut Value,
    /// The case's number, once an effect has given or found it.
    pub number: Option<String>,
}

/// A named effect.
pub trait Effect: Sync {
    /// The name workflows use.
    fn name(&self) -> &'static str;
    /// Writes its rows in the commit's transaction.
    fn apply(
        &self,
        conn: &mut DbConnection,
        cx: &mut EffectContext<'_>,
    ) -> Result<(), ServiceError>;
}

/// Every effect, by name.
const EFFECTS: &[&dyn Effect] = &[&assign_number::AssignNumber, &issue_receipt::IssueReceipt];

/// Runs the named effects in order.
pub fn run(
    conn: &mut DbConnection,
    names: &[String],
    cx: &mut EffectContext<'_>,
) -> Result<(), ServiceError> {
    for name in names {
        let effect = EFFECTS
            .iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| crate::store::StoreError::Corrupt(format!("unknown effect {name}")))?;
        effect.apply(conn, cx)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_effect_a_workflow_may_name_is_implemented_once() {
        let mut implemented: Vec<&str> = super::EFFECTS.iter().map(|e| e.name()).collect();
        implemented.sort_unstable();
        let mut named: Vec<&str> = crate::engine::effects::EFFECTS.to_vec();
        named.sort_unstable();
        assert_eq!(implemented, named);
    }
}
