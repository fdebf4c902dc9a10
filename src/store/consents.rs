//! Consent to the transfer of personal data.

use super::DbConnection;
use super::schema::consents;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Whether the user has consented.
pub fn granted(conn: &mut DbConnection, user_id: &str) -> QueryResult<bool> {
    consents::table
        .find(user_id)
        .select(consents::granted)
        .first::<bool>(conn)
        .optional()
        .map(|g| g.unwrap_or(false))
}

/// Records the user's latest decision.
pub fn record(
    conn: &mut DbConnection,
    user_id: &str,
    granted: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let updated = diesel::update(consents::table.find(user_id))
        .set((consents::granted.eq(granted), consents::decided_at.eq(now)))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(consents::table)
            .values((
                consents::user_id.eq(user_id),
                consents::granted.eq(granted),
                consents::decided_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}
