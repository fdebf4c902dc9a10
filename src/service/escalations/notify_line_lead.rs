//! `notify_line_lead`: nobody of the desk has answered the request yet, so the lead of the
//! line working it hears of it. Once an agent has answered it does nothing but say so.

use super::{Breach, Escalated, Escalation};
use crate::service::{Rules, ServiceError};
use crate::store::{DbConnection, StoreError, support};
use serde_json::json;

/// The escalation.
#[derive(Debug)]
pub struct NotifyLineLead;

impl Escalation for NotifyLineLead {
    fn name(&self) -> &'static str {
        "notify_line_lead"
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        rules: Rules<'_>,
        b: &Breach<'_>,
        out: &mut Escalated,
    ) -> Result<(), ServiceError> {
        let case = &b.case.case;
        let Some(request) = support::find(conn, &case.id).map_err(StoreError::from)? else {
            return Ok(());
        };
        if request.first_response_at.is_some() {
            out.payload.insert("answered".into(), json!(true));
            return Ok(());
        }
        let leads = support::leads(conn, request.line).map_err(StoreError::from)?;
        out.notifications
            .extend(crate::service::escalations::breach_notices(
                conn,
                rules.notices,
                case,
                &b.case.workflow.definition,
                (b.scope, b.due),
                &leads,
                b.now,
            )?);
        out.payload
            .insert("to".into(), json!({"line": request.line, "leads": leads}));
        Ok(())
    }
}
