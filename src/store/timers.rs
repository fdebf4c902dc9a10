//! Timer rows: claiming due timers (the one backend-specific function), locking a claimed
//! timer's case for its firing, retrying or closing those that end without a case commit.
//! Starting, cancelling and firing are part of [`super::commit::CaseCommit`].

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
    /// Failed firings so far.
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Leases up to `limit` pending timers due at `now`, earliest first, whose lease is free or has
/// run out, to `owner` until `until`, and returns them. One short write transaction: on
/// PostgreSQL a single statement choosing them with `FOR UPDATE SKIP LOCKED`, so concurrent
/// workers take disjoint timers without waiting on each other; SQLite has one writer at a time.
pub fn claim(
    conn: &mut DbConnection,
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Timer>> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    if let DbConnection::Pg(pg) = conn {
        return diesel::sql_query(
            "UPDATE timers SET lease_owner = $1, lease_until = $2
             WHERE id IN (SELECT id FROM timers
                          WHERE status = 'pending' AND due_at <= $3
                            AND (lease_until IS NULL OR lease_until < $3)
                          ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED)
             RETURNING *",
        )
        .bind::<Text, _>(owner)
        .bind::<Timestamp, _>(until)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<Timer>(pg)
        .map(|mut due| {
            due.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
            due
        });
    }
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

/// In a firing's transaction: locks the timer's case first (the order every transition takes:
/// the case row, then its timers), then says whether `owner` still holds the lease of the
/// pending timer. A worker whose lease ran out, or whose timer another worker fired meanwhile,
/// gets `false` and leaves it.
pub fn lock_for_firing(
    conn: &mut DbConnection,
    case_id: &str,
    timer_id: &str,
    owner: &str,
) -> QueryResult<bool> {
    if let DbConnection::Pg(pg) = conn {
        diesel::sql_query("SELECT id FROM cases WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(case_id)
            .execute(pg)?;
    }
    holds_lease(conn, timer_id, owner)
}

/// After a firing that failed (and rolled back): one more attempt, retried once `retry_at`
/// has come, or, at `give_up`, closed as `failed` with the error. Returns whether it gave up.
pub fn retry_later(
    conn: &mut DbConnection,
    timer: &Timer,
    owner: &str,
    error: &str,
    retry_at: NaiveDateTime,
    give_up: bool,
) -> QueryResult<bool> {
    let mine = timers::table
        .find(&timer.id)
        .filter(timers::status.eq("pending"))
        .filter(timers::lease_owner.eq(owner));
    diesel::update(mine)
        .set((
            timers::attempts.eq(timer.attempts + 1),
            timers::last_error.eq(error),
            timers::lease_until.eq(retry_at),
        ))
        .execute(conn)?;
    if give_up {
        diesel::update(
            timers::table
                .find(&timer.id)
                .filter(timers::status.eq("pending")),
        )
        .set((
            timers::status.eq("failed"),
            timers::outcome.eq(format!("error: {error}")),
            timers::lease_owner.eq(None::<String>),
            timers::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    }
    Ok(give_up)
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

/// When the case's earliest pending timer of `scope` is due (a step's deadline in working
/// time ends at its step timer's instant).
pub fn pending_due_at(
    conn: &mut DbConnection,
    case_id: &str,
    scope: &str,
) -> QueryResult<Option<NaiveDateTime>> {
    timers::table
        .filter(timers::case_id.eq(case_id))
        .filter(timers::scope.eq(scope))
        .filter(timers::status.eq("pending"))
        .select(diesel::dsl::min(timers::due_at))
        .first(conn)
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
