//! The thread of messages between an applicant and the commission on a case.

use super::DbConnection;
use super::schema::case_messages;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A stored message.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_messages)]
pub struct MessageRow {
    pub id: String,
    pub case_id: String,
    pub author_id: String,
    /// `applicant` or `commission`.
    pub side: String,
    /// The author's role on the case (`specialist`, `reviewer`, `secretary`, `admin`).
    pub author_role: String,
    pub body: String,
    /// JSON: document ids of the case.
    pub attachments: String,
    pub created_at: NaiveDateTime,
}

/// Stores a message.
pub fn insert(conn: &mut DbConnection, row: &MessageRow) -> QueryResult<()> {
    diesel::insert_into(case_messages::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The thread of a case, oldest first.
pub fn of_case(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<MessageRow>> {
    case_messages::table
        .filter(case_messages::case_id.eq(case_id))
        .order(case_messages::id)
        .select(MessageRow::as_select())
        .load(conn)
}
