//! Rows of our register copy, sync runs and the sync lock.

use super::DbConnection;
use super::schema::{
    registry_lock as rl, registry_persons as rp, registry_rejections as rj, registry_runs as rr,
    registry_sync_seen as seen,
};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

/// A stored register person.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = rp)]
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
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

/// What the database holds for a record the sync is about to write.
#[derive(Debug, Clone, Queryable)]
pub struct Existing {
    pub register_id: String,
    pub snils: String,
    pub record_hash: String,
    pub removed: bool,
}

/// The stored persons among `ids` or `snils`.
pub fn existing(
    conn: &mut DbConnection,
    ids: &[&str],
    snils: &[&str],
) -> QueryResult<Vec<Existing>> {
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

/// Inserts new persons: one binary `COPY` on PostgreSQL, row by row on SQLite.
pub fn insert_many(conn: &mut DbConnection, rows: &[&PersonRow]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    match conn {
        DbConnection::Pg(pg) => diesel::copy_from(rp::table)
            .from_insertable(rows.to_vec())
            .execute(pg)
            .map(drop),
        DbConnection::Sqlite(_) => rows.iter().try_for_each(|row| insert(conn, row)),
    }
}

/// Replaces changed persons: one `UPDATE … FROM unnest(…)` on PostgreSQL, row by row on SQLite.
pub fn update_many(conn: &mut DbConnection, rows: &[&PersonRow]) -> QueryResult<()> {
    use diesel::sql_types::{Array, BigInt, Date, Nullable, Text, Timestamp};
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let DbConnection::Pg(pg) = conn else {
        return rows.iter().try_for_each(|row| update(conn, row));
    };
    fn col<T: Clone>(rows: &[&PersonRow], f: impl Fn(&PersonRow) -> &T) -> Vec<T> {
        rows.iter().map(|r| f(r).clone()).collect()
    }
    diesel::sql_query(
        "UPDATE registry_persons AS p SET snils = s.snils, last_name = s.last_name, \
         first_name = s.first_name, middle_name = s.middle_name, birth_date = s.birth_date, \
         inn = s.inn, gender = s.gender, employments = s.employments, educations = s.educations, \
         accreditations = s.accreditations, source_updated_at = s.source_updated_at, \
         record_hash = s.record_hash, removed_at = NULL, last_seen_run = $14, synced_at = $15 \
         FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         AS s(register_id, snils, last_name, first_name, middle_name, birth_date, inn, gender, \
              employments, educations, accreditations, source_updated_at, record_hash) \
         WHERE p.register_id = s.register_id",
    )
    .bind::<Array<Text>, _>(col(rows, |r| &r.register_id))
    .bind::<Array<Text>, _>(col(rows, |r| &r.snils))
    .bind::<Array<Text>, _>(col(rows, |r| &r.last_name))
    .bind::<Array<Text>, _>(col(rows, |r| &r.first_name))
    .bind::<Array<Nullable<Text>>, _>(col(rows, |r| &r.middle_name))
    .bind::<Array<Date>, _>(col(rows, |r| &r.birth_date))
    .bind::<Array<Nullable<Text>>, _>(col(rows, |r| &r.inn))
    .bind::<Array<Nullable<Text>>, _>(col(rows, |r| &r.gender))
    .bind::<Array<Text>, _>(col(rows, |r| &r.employments))
    .bind::<Array<Text>, _>(col(rows, |r| &r.educations))
    .bind::<Array<Text>, _>(col(rows, |r| &r.accreditations))
    .bind::<Array<Nullable<Timestamp>>, _>(col(rows, |r| &r.source_updated_at))
    .bind::<Array<Text>, _>(col(rows, |r| &r.record_hash))
    .bind::<BigInt, _>(first.last_seen_run)
    .bind::<Timestamp, _>(first.synced_at)
    .execute(pg)
    .map(drop)
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

#[derive(Insertable)]
#[diesel(table_name = seen, treat_none_as_default_value = false)]
struct SeenRow<'a> {
    run_id: i64,
    register_id: &'a str,
}

/// Records that these unchanged persons were in the full export `run` (a repeated id is a
/// unique violation).
pub fn mark_seen(conn: &mut DbConnection, run: i64, ids: &[&str]) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<SeenRow<'_>> = ids
        .iter()
        .map(|id| SeenRow {
            run_id: run,
            register_id: id,
        })
        .collect();
    match conn {
        DbConnection::Pg(pg) => diesel::copy_from(seen::table)
            .from_insertable(&rows)
            .execute(pg)
            .map(drop),
        DbConnection::Sqlite(_) => rows.iter().try_for_each(|row| {
            diesel::insert_into(seen::table)
                .values(row)
                .execute(conn)
                .map(drop)
        }),
    }
}

/// What a sync needs to know of a stored record.
#[derive(Debug, Clone, QueryableByName)]
pub struct Fingerprint {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub register_id: String,
    /// The first 16 hex digits of the content hash.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub content: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub removed: bool,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub last_seen_run: i64,
}

/// Reads every stored record's fingerprint, `page` at a time, on one snapshot: a cursor over a
/// sequential scan on PostgreSQL, pages in id order on SQLite. Memory stays at one page.
pub fn scan_fingerprints(
    conn: &mut DbConnection,
    page: i64,
    mut each: impl FnMut(Vec<Fingerprint>),
) -> Result<(), super::StoreError> {
    const COLUMNS: &str = "register_id, substr(record_hash, 1, 16) AS content, \
                           removed_at IS NOT NULL AS removed, last_seen_run";
    super::snapshot_tx(conn, |conn| {
        match conn {
            DbConnection::Pg(pg) => {
                diesel::sql_query(format!(
                    "DECLARE registry_scan NO SCROLL CURSOR FOR SELECT {COLUMNS} FROM registry_persons"
                ))
                .execute(pg)?;
                loop {
                    let rows: Vec<Fingerprint> =
                        diesel::sql_query(format!("FETCH {page} FROM registry_scan")).load(pg)?;
                    if rows.is_empty() {
                        break;
                    }
                    each(rows);
                }
                diesel::sql_query("CLOSE registry_scan").execute(pg)?;
            }
            DbConnection::Sqlite(lite) => {
                let mut after = String::new();
                loop {
                    let rows: Vec<Fingerprint> = diesel::sql_query(format!(
                        "SELECT {COLUMNS} FROM registry_persons WHERE register_id > ? \
                         ORDER BY register_id LIMIT ?"
                    ))
                    .bind::<diesel::sql_types::Text, _>(&after)
                    .bind::<diesel::sql_types::BigInt, _>(page)
                    .load(lite)?;
                    let Some(last) = rows.last() else { break };
                    after = last.register_id.clone();
                    each(rows);
                }
            }
        }
        Ok::<_, super::StoreError>(())
    })
}

/// Ids the (resumable) run `run` listed as seen unchanged.
pub fn seen_ids(conn: &mut DbConnection, run: i64) -> QueryResult<Vec<String>> {
    seen::table
        .filter(seen::run_id.eq(run))
        .select(seen::register_id)
        .load(conn)
}

/// Marks these records removed; returns how many.
pub fn mark_removed(
    conn: &mut DbConnection,
    ids: &[&str],
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let mut n = 0;
    // Small enough for SQLite's limit on bound parameters.
    for chunk in ids.chunks(1_000) {
        n += diesel::update(rp::table.filter(rp::register_id.eq_any(chunk)))
            .set(rp::removed_at.eq(now))
            .execute(conn)?;
    }
    Ok(n)
}

/// Forgets the seen lists of runs other than `keep` that cannot be resumed.
pub fn clear_seen(conn: &mut DbConnection, keep: i64) -> QueryResult<()> {
    let resumable = rr::table
        .filter(rr::resume_offset.is_not_null())
        .select(rr::id);
    diesel::delete(
        seen::table
            .filter(seen::run_id.ne(keep))
            .filter(seen::run_id.ne_all(resumable)),
    )
    .execute(conn)
    .map(drop)
}

/// Forgets the seen list of `run`.
pub fn clear_seen_of(conn: &mut DbConnection, run: i64) -> QueryResult<()> {
    diesel::delete(seen::table.filter(seen::run_id.eq(run)))
        .execute(conn)
        .map(drop)
}

/// Closes runs other than `keep` left "running" by a process that died and that cannot be
/// resumed (called by the lock holder, so none of them is alive).
pub fn close_interrupted(
    conn: &mut DbConnection,
    keep: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        rr::table
            .filter(rr::status.eq("running"))
            .filter(rr::id.ne(keep))
            .filter(rr::resume_offset.is_null()),
    )
    .set((rr::status.eq("interrupted"), rr::finished_at.eq(now)))
    .execute(conn)
    .map(drop)
}

/// A rejected record as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable, serde::Serialize)]
#[diesel(table_name = rj)]
pub struct RejectionRow {
    #[serde(skip)]
    pub run_id: i64,
    pub line: i64,
    pub code: String,
    pub reason: String,
}

/// Stores rejected records of a run.
pub fn add_rejections(conn: &mut DbConnection, rows: &[RejectionRow]) -> QueryResult<()> {
    rows.iter().try_for_each(|row| {
        diesel::insert_into(rj::table)
            .values(row)
            .execute(conn)
            .map(drop)
    })
}

/// The first `limit` rejected records of a run, in source order.
pub fn rejections(conn: &mut DbConnection, run: i64, limit: i64) -> QueryResult<Vec<RejectionRow>> {
    rj::table
        .filter(rj::run_id.eq(run))
        .order(rj::line)
        .limit(limit)
        .load(conn)
}

/// The person with this SNILS (11 digits), removed or not.
pub fn by_snils(conn: &mut DbConnection, snils: &str) -> QueryResult<Option<PersonRow>> {
    rp::table
        .filter(rp::snils.eq(snils))
        .select(PersonRow::as_select())
        .first(conn)
        .optional()
}

/// A stored (UTC) moment as RFC 3339 with its offset, as the API's `date-time` says.
fn utc<S: serde::Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&t.and_utc(), s)
}

fn utc_opt<S: serde::Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&t.map(|t| t.and_utc()), s)
}

/// A sync run as stored.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = rr)]
pub struct RunRow {
    pub id: i64,
    pub source: String,
    pub full_export: bool,
    pub status: String,
    #[serde(serialize_with = "utc")]
    pub started_at: NaiveDateTime,
    #[serde(serialize_with = "utc_opt")]
    pub finished_at: Option<NaiveDateTime>,
    pub read_count: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub removed: i64,
    pub rejected: i64,
    pub report: String,
    pub resume_offset: Option<i64>,
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

/// Saves a run's counters and where it would resume, with the batch that got it there.
pub fn checkpoint(
    conn: &mut DbConnection,
    id: i64,
    c: Counts,
    resume_offset: Option<i64>,
) -> QueryResult<()> {
    diesel::update(rr::table.find(id))
        .set((
            rr::read_count.eq(c.read),
            rr::inserted.eq(c.inserted),
            rr::updated.eq(c.updated),
            rr::unchanged.eq(c.unchanged),
            rr::rejected.eq(c.rejected),
            rr::resume_offset.eq(resume_offset),
        ))
        .execute(conn)
        .map(drop)
}

/// The newest run of `source` that stopped part way (failed, or still marked running after
/// its process died and its lock expired) and knows where to resume.
pub fn resumable(conn: &mut DbConnection, source: &str) -> QueryResult<Option<RunRow>> {
    let last = rr::table
        .filter(rr::source.eq(source))
        .filter(rr::status.ne("refused_locked"))
        .order(rr::id.desc())
        .select(RunRow::as_select())
        .first(conn)
        .optional()?;
    Ok(last
        .filter(|r| matches!(r.status.as_str(), "failed" | "running") && r.resume_offset.is_some()))
}

/// Marks a stopped run as running again.
pub fn reopen_run(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    diesel::update(rr::table.find(id))
        .set((
            rr::status.eq("running"),
            rr::finished_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
        .map(drop)
}

impl RunRow {
    /// The counters as stored.
    pub fn counts(&self) -> Counts {
        Counts {
            read: self.read_count,
            inserted: self.inserted,
            updated: self.updated,
            unchanged: self.unchanged,
            removed: self.removed,
            rejected: self.rejected,
        }
    }
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
