//! `record_resolution`: the moment an agent resolved a support request (what its completion
//! time is measured by).

use super::{Effect, EffectContext};
use crate::service::ServiceError;
use crate::store::{DbConnection, StoreError, support};

/// The effect.
#[derive(Debug)]
pub struct RecordResolution;

impl Effect for RecordResolution {
    fn name(&self) -> &'static str {
        "record_resolution"
    }

    fn writes_rows(&self) -> bool {
        true
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        cx: &mut EffectContext<'_>,
    ) -> Result<(), ServiceError> {
        support::resolved(conn, &cx.case.id, Some(cx.now.naive_utc())).map_err(StoreError::from)?;
        Ok(())
    }
}
