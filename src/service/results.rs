//! The accreditation record an approval issued, as the applicant and the commission read it:
//! on the case («Аккредитовано») and as the stored PDF and XML.

use super::ServiceError;
use super::access::load_visible;
use crate::engine::Actor;
use crate::engine::catalog::Catalog;
use crate::store::schema::accreditation_records as ar;
use crate::store::{DbConnection, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

/// The record on the case.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccreditationDto {
    /// «Аккредитовано».
    pub status_label: String,
    /// Record number (`A-2026-77-000001`).
    pub number: String,
    /// `periodic` or `primary`.
    pub kind: String,
    /// Specialty code.
    pub specialty_code: String,
    /// Specialty name.
    pub specialty_name: String,
    /// When the commission decided (UTC).
    pub decided_at: DateTime<Utc>,
    /// The decision date (Moscow).
    pub decision_date: NaiveDate,
    /// The last day it is valid, inclusive.
    pub valid_until: NaiveDate,
}

type Head = (
    String,
    String,
    String,
    String,
    chrono::NaiveDateTime,
    NaiveDate,
    NaiveDate,
);

/// The record of a case, if an approval issued one (no access check: the caller's).
pub fn of_case(
    conn: &mut DbConnection,
    case_id: &str,
) -> Result<Option<AccreditationDto>, StoreError> {
    let row: Option<Head> = ar::table
        .find(case_id)
        .select((
            ar::number,
            ar::kind,
            ar::specialty_code,
            ar::specialty_name,
            ar::decided_at,
            ar::decision_date,
            ar::valid_until,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(
        |(number, kind, code, name, at, date, until)| AccreditationDto {
            status_label: "Аккредитовано".into(),
            number,
            kind,
            specialty_code: code,
            specialty_name: name,
            decided_at: at.and_utc(),
            decision_date: date,
            valid_until: until,
        },
    ))
}

/// The stored record document of a case the caller may see: `(number, bytes)`.
pub fn document(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
    xml: bool,
) -> Result<(String, Vec<u8>), ServiceError> {
    load_visible(conn, catalog, actor, case_id)?;
    let q = ar::table.find(case_id);
    let row: Option<(String, Vec<u8>)> = if xml {
        q.select((ar::number, ar::xml)).first(conn).optional()
    } else {
        q.select((ar::number, ar::pdf)).first(conn).optional()
    }
    .map_err(StoreError::from)?;
    row.ok_or_else(|| {
        ServiceError::refused(
            super::RefusalKind::NotFound,
            "result_not_found",
            "Выписка о прохождении аккредитации появится после решения комиссии об аккредитации",
        )
    })
}
