//! The production calendar as this installation keeps it: the decrees compiled in, and the
//! operator's overrides from the database (each one audited in the `calendar` chain).

use crate::audit::{self, Entry};
use crate::domain::calendar::{Calendar, Hours, Override};
use crate::store::calendar::{self as rows, OverrideRow};
use crate::store::{DbConnection, StoreError, write_tx};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

/// The calendar with the stored overrides.
pub fn load(conn: &mut DbConnection, hours: Hours) -> Result<Calendar, StoreError> {
    let overrides = rows::all(conn)?
        .into_iter()
        .map(|r| {
            (
                r.day,
                Override {
                    working: r.working,
                    reason: r.reason,
                },
            )
        })
        .collect();
    Ok(Calendar::new(overrides, hours))
}

/// Why an override is refused.
#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    /// No reason was given.
    #[error("give the reason for the change (the decree or the order)")]
    NoReason,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Makes `day` a working day or a day off, with the reason, audited.
pub fn set_override(
    conn: &mut DbConnection,
    day: NaiveDate,
    working: bool,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), OverrideError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(OverrideError::NoReason);
    }
    let at = now.naive_utc();
    write_tx(conn, |conn| {
        rows::set(
            conn,
            &OverrideRow {
                day,
                working,
                reason: reason.to_owned(),
                decided_at: at,
            },
        )
        .map_err(StoreError::from)?;
        audit::record(
            conn,
            Entry {
                chain: "calendar".into(),
                kind: "calendar.override",
                actor: None,
                case: None,
                at,
                payload: json!({"day": day, "working": working, "reason": reason}),
            },
        )
        .map_err(StoreError::from)?;
        Ok(())
    })
}
