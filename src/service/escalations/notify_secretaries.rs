//! `notify_secretaries`: every responsible secretary hears of the breach in the cabinet (and
//! on the channels they have), in the timer's commit.

use super::{Breach, Escalated, Escalation};
use crate::domain::role::Role;
use crate::notify::outbox::{Audience, case_context, outbox_rows};
use crate::notify::templates::Context;
use crate::service::{Rules, ServiceError};
use crate::store::{DbConnection, StoreError, users};

/// The escalation.
#[derive(Debug)]
pub struct NotifySecretaries;

impl Escalation for NotifySecretaries {
    fn name(&self) -> &'static str {
        "notify_secretaries"
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        rules: Rules<'_>,
        b: &Breach<'_>,
        out: &mut Escalated,
    ) -> Result<(), ServiceError> {
        let case = &b.case.case;
        let def = &b.case.workflow.definition;
        let context = Context {
            breach: Some(b.scope.into()),
            ..case_context(conn, &case.id, None, def, &case.state, b.due)?
        };
        let secretaries =
            users::with_role(conn, Role::Secretary.as_str()).map_err(StoreError::from)?;
        let audience = Audience {
            recipients: &secretaries,
            owner: None,
            case_id: Some(&case.id),
        };
        out.notifications.extend(outbox_rows(
            conn,
            rules.notices,
            "deadline_breached",
            &context,
            &audience,
            b.now,
        )?);
        Ok(())
    }
}
