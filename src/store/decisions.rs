//! Decisions of the commission on a case: the reasons, recommendations and fixes they gave.

use super::DbConnection;
use super::schema::case_decisions;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A stored decision.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_decisions)]
pub struct DecisionRow {
    pub id: String,
    pub case_id: String,
    pub transition: String,
    pub decided_by: Option<String>,
    pub decided_at: NaiveDateTime,
    /// JSON `[{"code", "text"}]`.
    pub reasons: String,
    pub recommendations: Option<String>,
    /// JSON `{"fields": [{"pointer", "comment", "before"}], "documents": [{"type", "comment"}]}`.
    pub fixes: String,
}

/// Stores a decision.
pub fn insert(conn: &mut DbConnection, row: &DecisionRow) -> QueryResult<()> {
    diesel::insert_into(case_decisions::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The decisions on a case, oldest first.
pub fn of_case(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<DecisionRow>> {
    case_decisions::table
        .filter(case_decisions::case_id.eq(case_id))
        .order((case_decisions::decided_at, case_decisions::id))
        .select(DecisionRow::as_select())
        .load(conn)
}

/// The latest decision on a case, whatever it was.
pub fn latest_any(conn: &mut DbConnection, case_id: &str) -> QueryResult<Option<DecisionRow>> {
    case_decisions::table
        .filter(case_decisions::case_id.eq(case_id))
        .order((case_decisions::decided_at.desc(), case_decisions::id.desc()))
        .select(DecisionRow::as_select())
        .first(conn)
        .optional()
}
