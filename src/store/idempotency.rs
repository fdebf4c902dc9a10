//! Results of requests sent with an `Idempotency-Key`, replayed on retries.

use super::DbConnection;
use super::schema::idempotency_keys as ik;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A remembered result.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ik)]
pub struct Remembered {
    pub user_id: String,
    pub idem_key: String,
    pub request_hash: String,
    pub case_id: String,
    pub response: String,
    pub created_at: NaiveDateTime,
}

/// The result remembered for this user and key.
pub fn find(conn: &mut DbConnection, user_id: &str, key: &str) -> QueryResult<Option<Remembered>> {
    ik::table
        .find((user_id, key))
        .select(Remembered::as_select())
        .first(conn)
        .optional()
}

/// Remembers a result (a concurrent duplicate fails with a unique violation).
pub fn insert(conn: &mut DbConnection, r: &Remembered) -> QueryResult<()> {
    diesel::insert_into(ik::table)
        .values(r)
        .execute(conn)
        .map(drop)
}
