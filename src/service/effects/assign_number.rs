//! `assign_number`: the case gets its application number the first time this runs (a counter
//! per Moscow-time year and region, `2026-77-000001`); later runs find the same number.

use super::{Effect, EffectContext};
use crate::receipt;
use crate::service::ServiceError;
use crate::store::signatures as rows;
use crate::store::{DbConnection, StoreError};
use chrono::Datelike;

/// The effect.
#[derive(Debug)]
pub struct AssignNumber;

impl Effect for AssignNumber {
    fn name(&self) -> &'static str {
        "assign_number"
    }

    fn writes_rows(&self) -> bool {
        true
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        cx: &mut EffectContext<'_>,
    ) -> Result<(), ServiceError> {
        let number = match rows::number_of(conn, &cx.case.id).map_err(StoreError::from)? {
            Some(n) => n,
            None => {
                let year = receipt::in_moscow(cx.now).year();
                let region = &cx.signing.region;
                // The counter row's UPDATE holds its lock until the commit: numbers are
                // consecutive and unique across concurrent submissions.
                let seq = rows::next_in_sequence(conn, year, region).map_err(StoreError::from)?;
                let n = receipt::number(year, region, seq);
                rows::assign_number(conn, &cx.case.id, &n, cx.now.naive_utc())
                    .map_err(StoreError::from)?;
                n
            }
        };
        cx.patch.number = Some(number);
        Ok(())
    }
}
