//! Rows of our register copy, sync runs and the sync lock.

use super::DbConnection;
use super::schema::{registry_lock as rl, registry_persons as rp, registry_runs as rr};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

/// A stored register person.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = rp)]
#[diesel(treat_none_as_null = true)]
pub struct PersonRow {
    pub register_id: String,
    pub snils: String,
    pub last_name: String,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub birth_date: NaiveDate,
    pub inn: Option<String>,
    pub gender: Option<String>,
    pub employments: String,
    pub educations: String,
    pub accreditations: String,
    pub source_updated_at: Option<NaiveDateTime>,
    pub record_hash: String,
    pub removed_at: Option<NaiveDateTime>,
    pub last_seen_run: i64,
    pub synced_at: NaiveDateTime,
}

/// `(register_id, snils, record_hash, removed)` of the stored persons among `ids` or `snils`.
pub fn existing(
    conn: &mut DbConnection,
    ids: &[&str],
    snils: &[&str],
) -> QueryResult<Vec<(String, String, String, bool)>> {
    rp::table
        .filter(rp::register_id.eq_any(ids).or(rp::snils.eq_any(snils)))
        .select((
            rp::register_id,
            rp::snils,
            rp::record_hash,
            rp::removed_at.is_not_null(),
        ))
        .load(conn)
}

/// Inserts a new person.
pub fn insert(conn: &mut DbConnection, row: &PersonRow) -> QueryResult<()> {
    diesel::insert_into(rp::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Replaces a changed person.
pub fn update(conn: &mut DbConnection, row: &PersonRow) -> QueryResult<()> {
    diesel::update(rp::table.find(&row.register_id))
        .set(row)
        .execute(conn)
        .map(drop)
}

/// Records that these unchanged persons were present in run `run`.
pub fn touch(conn: &mut DbConnection, ids: &[&str], run: i64) -> QueryResult<()> {
    diesel::update(rp::table.filter(rp::register_id.eq_any(ids)))
        .set(rp::last_seen_run.eq(run))
        .execute(conn)
        .map(drop)
}

/// Marks as removed everyone a full export `run` did not contain; returns how many.
pub fn mark_removed(conn: &mut DbConnection, run: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        rp::table
            .filter(rp::last_seen_run.ne(run))
            .filter(rp::removed_at.is_null()),
    )
    .set(rp::removed_at.eq(now))
    .execute(conn)
}

/// The person with this SNILS (11 digits), removed or not.
pub fn by_snils(conn: &mut DbConnection, snils: &str) -> QueryResult<Option<PersonRow>> {
    rp::table
        .filter(rp::snils.eq(snils))
        .select(PersonRow::as_select())
        .first(conn)
        .optional()
}

/// A sync run as stored.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = rr)]
pub struct RunRow {
    pub id: i64,
    pub source: String,
    pub full_export: bool,
    pub status: String,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub read_count: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub removed: i64,
    pub rejected: i64,
    pub report: String,
}

/// Starts a run; returns its id.
pub fn start_run(
    conn: &mut DbConnection,
    source: &str,
    full: bool,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(rr::table)
        .values((
            rr::source.eq(source),
            rr::full_export.eq(full),
            rr::status.eq("running"),
            rr::started_at.eq(now),
            rr::read_count.eq(0),
            rr::inserted.eq(0),
            rr::updated.eq(0),
            rr::unchanged.eq(0),
            rr::removed.eq(0),
            rr::rejected.eq(0),
            rr::report.eq("{}"),
        ))
        .execute(conn)?;
    rr::table
        .select(diesel::dsl::max(rr::id))
        .first::<Option<i64>>(conn)
        .map(|id| id.unwrap_or(0))
}

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub read: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub removed: i64,
    pub rejected: i64,
}

/// Finishes a run with its counters and report.
pub fn finish_run(
    conn: &mut DbConnection,
    id: i64,
    status: &str,
    c: Counts,
    report: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(rr::table.find(id))
        .set((
            rr::status.eq(status),
            rr::finished_at.eq(now),
            rr::read_count.eq(c.read),
            rr::inserted.eq(c.inserted),
            rr::updated.eq(c.updated),
            rr::unchanged.eq(c.unchanged),
            rr::removed.eq(c.removed),
            rr::rejected.eq(c.rejected),
            rr::report.eq(report),
        ))
        .execute(conn)
        .map(drop)
}

/// Recent runs, newest first.
pub fn runs(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<RunRow>> {
    rr::table
        .order(rr::id.desc())
        .limit(limit)
        .select(RunRow::as_select())
        .load(conn)
}

/// Takes the sync lock for `run` unless someone holds an unexpired one; returns whether taken.
pub fn lock(
    conn: &mut DbConnection,
    run: i64,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::delete(
        rl::table
            .filter(rl::name.eq("sync"))
            .filter(rl::expires_at.le(now)),
    )
    .execute(conn)?;
    let held = rl::table
        .filter(rl::name.eq("sync"))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if held {
        return Ok(false);
    }
    diesel::insert_into(rl::table)
        .values((
            rl::name.eq("sync"),
            rl::run_id.eq(run),
            rl::expires_at.eq(until),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Extends the lock while the run is alive.
pub fn extend_lock(conn: &mut DbConnection, run: i64, until: NaiveDateTime) -> QueryResult<()> {
    diesel::update(
        rl::table
            .filter(rl::name.eq("sync"))
            .filter(rl::run_id.eq(run)),
    )
    .set(rl::expires_at.eq(until))
    .execute(conn)
    .map(drop)
}

/// Releases the lock held by `run`.
pub fn unlock(conn: &mut DbConnection, run: i64) -> QueryResult<()> {
    diesel::delete(
        rl::table
            .filter(rl::name.eq("sync"))
            .filter(rl::run_id.eq(run)),
    )
    .execute(conn)
    .map(drop)
}
