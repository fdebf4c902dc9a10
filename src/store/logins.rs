//! Pending logins: state, nonce and PKCE verifier kept server-side, single-use, short-lived.

use super::DbConnection;
use super::schema::login_attempts as la;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A pending login.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = la)]
pub struct LoginAttempt {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub created_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

/// Stores a pending login and forgets those older than `forget_before`.
pub fn insert(
    conn: &mut DbConnection,
    attempt: &LoginAttempt,
    forget_before: NaiveDateTime,
) -> QueryResult<()> {
    diesel::delete(la::table.filter(la::created_at.lt(forget_before))).execute(conn)?;
    diesel::insert_into(la::table)
        .values(attempt)
        .execute(conn)
        .map(drop)
}

/// Takes a pending login by its state: marks it used and returns it, if it exists, was not
/// used before and was created after `not_before`. A second call with the same state gets
/// nothing, even concurrently (the marking is one conditional UPDATE).
pub fn take(
    conn: &mut DbConnection,
    state: &str,
    not_before: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<Option<LoginAttempt>> {
    let taken = diesel::update(
        la::table
            .filter(la::state.eq(state))
            .filter(la::used_at.is_null())
            .filter(la::created_at.ge(not_before)),
    )
    .set(la::used_at.eq(now))
    .execute(conn)?;
    if taken != 1 {
        return Ok(None);
    }
    la::table
        .find(state)
        .select(LoginAttempt::as_select())
        .first(conn)
        .optional()
}
