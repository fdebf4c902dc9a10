//! Timer rows: claiming due timers (the one backend-specific function pair) and closing those
//! that end without a case commit. Starting, cancelling and firing are part of
//! [`super::commit::CaseCommit`].

use super::DbConnection;
use super::schema::timers;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A stored timer.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = timers)]
pub struct Timer {
    pub id: String,
    pub case_id: String,
    pub scope: String,
    pub action: String,
    pub transition: Option<String>,
    pub reason: Option<String>,
    pub state: String,
    pub due_at: NaiveDateTime,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub fired_at: Option<NaiveDateTime>,
    pub lateness_ms: Option<i64>,
    pub outcome: Option<String>,
}

/// PostgreSQL: locks up to `limit` pending timers due at `now`, earliest first, skipping those
/// another transaction holds. The locks last until the caller's transaction ends.
pub fn claim_locked(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Timer>> {
    use diesel::sql_types::{BigInt, Timestamp};
    let DbConnection::Pg(pg) = conn else {
        return Err(diesel::result::Error::QueryBuilderError(
            "FOR UPDATE SKIP LOCKED is PostgreSQL's claim".into(),
        ));
    };
    diesel::sql_query(
        "SELECT * FROM timers WHERE status = 'pending' AND due_at <= $1
         ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind::<Timestamp, _>(now)
    .bind::<BigInt, _>(limit)
    .load(pg)
}

/// SQLite: leases up to `limit` pending timers due at `now` whose lease is free or has run out
/// to `owner` until `until`, and returns them. Run it in a write transaction.
pub fn claim_leased(
    conn: &mut DbConnection,
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Timer>> {
    let due: Vec<Timer> = timers::table
        .filter(timers::status.eq("pending"))
        .filter(timers::due_at.le(now))
        .filter(
            timers::lease_until
                .is_null()
                .or(timers::lease_until.lt(now)),
        )
        .order(timers::due_at)
        .limit(limit)
        .select(Timer::as_select())
        .load(conn)?;
    let ids: Vec<&str> = due.iter().map(|t| t.id.as_str()).collect();
    diesel::update(timers::table.filter(timers::id.eq_any(&ids)))
        .set((timers::lease_owner.eq(owner), timers::lease_until.eq(until)))
        .execute(conn)?;
    Ok(due)
}

/// Whether `owner` still holds the lease of a pending timer.
pub fn holds_lease(conn: &mut DbConnection, id: &str, owner: &str) -> QueryResult<bool> {
    timers::table
        .find(id)
        .filter(timers::status.eq("pending"))
        .filter(timers::lease_owner.eq(owner))
        .count()
        .get_result::<i64>(conn)
        .map(|n| n == 1)
}

/// Whether a timer is still pending.
pub fn is_pending(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    timers::table
        .find(id)
        .filter(timers::status.eq("pending"))
        .count()
        .get_result::<i64>(conn)
        .map(|n| n == 1)
}

/// Ends a pending timer without a case commit (`stale`, `failed`), recording why and when.
pub fn close(
    conn: &mut DbConnection,
    id: &str,
    status: &str,
    outcome: &str,
    at: NaiveDateTime,
    lateness_ms: i64,
) -> QueryResult<bool> {
    diesel::update(timers::table.find(id).filter(timers::status.eq("pending")))
        .set((
            timers::status.eq(status),
            timers::outcome.eq(outcome),
            timers::fired_at.eq(at),
            timers::lateness_ms.eq(lateness_ms),
            timers::lease_owner.eq(None::<String>),
            timers::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// A case's timers, oldest first.
pub fn of_case(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<Timer>> {
    timers::table
        .filter(timers::case_id.eq(case_id))
        .order(timers::created_at)
        .then_order_by(timers::id)
        .select(Timer::as_select())
        .load(conn)
}

/// How many timers are pending, and how many of them are due at `now`.
pub fn pending(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<(i64, i64)> {
    let all = timers::table
        .filter(timers::status.eq("pending"))
        .count()
        .get_result(conn)?;
    let due = timers::table
        .filter(timers::status.eq("pending"))
        .filter(timers::due_at.le(now))
        .count()
        .get_result(conn)?;
    Ok((all, due))
}
