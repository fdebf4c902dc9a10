//! `record_response`: the moment of an agent's first answer to a support request (taking it
//! to work, asking for information or resolving it; an agent's comment counts too). Later
//! answers keep the first moment: it is what the first-response norm is measured by.

use super::{Effect, EffectContext};
use crate::service::ServiceError;
use crate::store::{DbConnection, StoreError, support};

/// The effect.
#[derive(Debug)]
pub struct RecordResponse;

impl Effect for RecordResponse {
    fn name(&self) -> &'static str {
        "record_response"
    }

    fn writes_rows(&self) -> bool {
        true
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        cx: &mut EffectContext<'_>,
    ) -> Result<(), ServiceError> {
        support::answered(conn, &cx.case.id, cx.now.naive_utc()).map_err(StoreError::from)?;
        Ok(())
    }
}
