//! Number series by prefix, for the numbers a workflow gives its cases at creation
//! (`ACCREDO-1`, `ACCREDO-2`, …).

use super::DbConnection;
use super::schema::number_series as ns;
use diesel::prelude::*;

/// The next number of the `prefix` series, in the caller's write transaction: the series
/// row stays locked until it commits, so concurrent creations get consecutive numbers.
pub fn next(conn: &mut DbConnection, prefix: &str) -> QueryResult<i64> {
    let key = ns::table.find(prefix);
    let bump = |conn: &mut DbConnection| {
        diesel::update(key)
            .set(ns::last_value.eq(ns::last_value + 1i64))
            .execute(conn)
    };
    if bump(conn)? == 0 {
        // The series' first number, in a savepoint: if a concurrent creation made the row
        // first, its primary key refuses ours and we take the next value instead.
        let created = conn.transaction(|c| {
            diesel::insert_into(ns::table)
                .values((ns::prefix.eq(prefix), ns::last_value.eq(1i64)))
                .execute(c)
        });
        match created {
            Ok(_) => return Ok(1),
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                bump(conn)?;
            }
            Err(e) => return Err(e),
        }
    }
    key.select(ns::last_value).first(conn)
}
