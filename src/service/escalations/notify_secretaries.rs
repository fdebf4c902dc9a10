//! `notify_secretaries`: every responsible secretary hears of the breach in the cabinet (and
//! on the channels they have), in the timer's commit.

use super::{Breach, Escalated, Escalation};
use crate::domain::role::Role;
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
        let secretaries =
            users::with_role(conn, Role::Secretary.as_str()).map_err(StoreError::from)?;
        out.notifications.extend(super::breach_notices(
            conn,
            rules.notices,
            &b.case.case,
            &b.case.workflow.definition,
            (b.scope, b.due),
            &secretaries,
            b.now,
        )?);
        Ok(())
    }
}
