//! Server-side sessions: every token names one, and a revoked or idle session ends access.

use super::DbConnection;
use super::schema::sessions;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A stored session.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    /// The user has not yet consented to the transfer of their data: no case access.
    pub consent_pending: bool,
}

/// Stores a new session.
pub fn insert(conn: &mut DbConnection, session: &Session) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values(session)
        .execute(conn)
        .map(drop)
}

/// Reads a session together with the roles of its user, in one query.
pub fn find_with_roles(
    conn: &mut DbConnection,
    id: &str,
) -> QueryResult<Option<(Session, Vec<String>)>> {
    use super::schema::user_roles;
    let rows: Vec<(Session, Option<String>)> = sessions::table
        .left_join(user_roles::table.on(user_roles::user_id.eq(sessions::user_id)))
        .filter(sessions::id.eq(id))
        .select((Session::as_select(), user_roles::role.nullable()))
        .load(conn)?;
    let mut rows = rows.into_iter();
    let Some((session, first)) = rows.next() else {
        return Ok(None);
    };
    let roles = first
        .into_iter()
        .chain(rows.filter_map(|(_, r)| r))
        .collect();
    Ok(Some((session, roles)))
}

/// Records activity.
pub fn touch(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(sessions::table.find(id))
        .set(sessions::last_seen_at.eq(now))
        .execute(conn)
        .map(drop)
}

/// Ends a session; returns whether it was active.
pub fn revoke(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)
    .map(|n| n == 1)
}

/// A user's sessions that have not ended, newest first.
pub fn active_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<Session>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .order(sessions::created_at.desc())
        .select(Session::as_select())
        .load(conn)
}

/// Ends a session of this user; `false` if there is no such active session of theirs.
pub fn revoke_own(
    conn: &mut DbConnection,
    user_id: &str,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)
    .map(|n| n == 1)
}

/// Sets the consent flag on all of a user's sessions: cleared when they consent, raised when
/// they withdraw, so the decision takes effect at once in every open session.
pub fn set_consent(conn: &mut DbConnection, user_id: &str, granted: bool) -> QueryResult<()> {
    diesel::update(sessions::table.filter(sessions::user_id.eq(user_id)))
        .set(sessions::consent_pending.eq(!granted))
        .execute(conn)
        .map(drop)
}
