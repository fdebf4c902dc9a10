//! Operator overrides of the production calendar.

use super::DbConnection;
use super::schema::calendar_overrides as co;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

/// One override row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = co)]
pub struct OverrideRow {
    pub day: NaiveDate,
    pub working: bool,
    pub reason: String,
    pub decided_at: NaiveDateTime,
}

/// Every override, by date.
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<OverrideRow>> {
    co::table
        .order(co::day.asc())
        .select(OverrideRow::as_select())
        .load(conn)
}

/// Sets the override of a date (replacing an earlier one).
pub fn set(conn: &mut DbConnection, row: &OverrideRow) -> QueryResult<()> {
    let updated = diesel::update(co::table.find(row.day))
        .set(row)
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(co::table).values(row).execute(conn)?;
    }
    Ok(())
}
