//! `export_to_register`: queues the accreditation record an approval issued for export to the
//! register (ФРМР), in the outbox of the same commit: one row on the `register` channel whose
//! body is the export's JSON ([`crate::accreditation::export_payload`]), sent as it is by the
//! register's webhook dispatcher with the row id as the idempotency key.

use super::{Effect, EffectContext};
use crate::notify::templates::REGISTER_CHANNEL;
use crate::service::ServiceError;
use crate::store::notifications::NewNotification;
use crate::store::{DbConnection, StoreError};

/// The effect.
#[derive(Debug)]
pub struct ExportToRegister;

impl Effect for ExportToRegister {
    fn name(&self) -> &'static str {
        "export_to_register"
    }

    fn apply(
        &self,
        _conn: &mut DbConnection,
        cx: &mut EffectContext<'_>,
    ) -> Result<(), ServiceError> {
        let record = cx.record.as_ref().ok_or_else(|| {
            StoreError::Corrupt("export_to_register runs after create_accreditation_record".into())
        })?;
        let at = cx.now.naive_utc();
        cx.extras.notifications.push(NewNotification {
            id: crate::domain::ids::uuid_v7(cx.now).to_string(),
            recipient_id: cx.case.owner_id.clone(),
            case_id: Some(cx.case.id.clone()),
            event: "accreditation.granted".into(),
            channel: REGISTER_CHANNEL.into(),
            subject: record.number.clone(),
            body: crate::accreditation::export_payload(record).to_string(),
            status: "pending".into(),
            created_at: at,
            delivered_at: None,
            next_attempt_at: Some(at),
            address: None,
            html: None,
        });
        Ok(())
    }
}
