//! Pending logins: state, nonce and PKCE verifier kept server-side, single-use, short-lived,
//! bound to the browser that started them and counted per client address.

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
    /// SHA-256 (hex) of the value in the browser's login cookie.
    pub browser_hash: String,
    /// The client address that started it.
    pub client: String,
}

/// Forgets logins created before `expired_before` (used or not).
pub fn prune(conn: &mut DbConnection, expired_before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(la::table.filter(la::created_at.lt(expired_before))).execute(conn)
}

/// Pending (unused, not expired) logins: of `client`, and in all.
pub fn pending(
    conn: &mut DbConnection,
    client: &str,
    not_before: NaiveDateTime,
) -> QueryResult<(i64, i64)> {
    let live = la::table
        .filter(la::used_at.is_null())
        .filter(la::created_at.ge(not_before));
    let mine = live
        .filter(la::client.eq(client))
        .count()
        .get_result(conn)?;
    let all = live.count().get_result(conn)?;
    Ok((mine, all))
}

/// Stores a pending login.
pub fn insert(conn: &mut DbConnection, attempt: &LoginAttempt) -> QueryResult<()> {
    diesel::insert_into(la::table)
        .values(attempt)
        .execute(conn)
        .map(drop)
}

/// Takes a pending login by its state for the browser whose cookie hashes to `browser_hash`:
/// marks it used and returns it, if it exists, was not used before, was created after
/// `not_before` and belongs to that browser. A second call with the same state gets nothing,
/// even concurrently (the marking is one conditional UPDATE); another browser's call leaves
/// the login to its owner.
pub fn take(
    conn: &mut DbConnection,
    state: &str,
    browser_hash: &str,
    not_before: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<Option<LoginAttempt>> {
    let taken = diesel::update(
        la::table
            .filter(la::state.eq(state))
            .filter(la::browser_hash.eq(browser_hash))
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

/// Whether a login with this state is still pending (unused, not expired), whoever owns it.
pub fn is_pending(
    conn: &mut DbConnection,
    state: &str,
    not_before: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        la::table
            .filter(la::state.eq(state))
            .filter(la::used_at.is_null())
            .filter(la::created_at.ge(not_before)),
    ))
    .get_result(conn)
}
