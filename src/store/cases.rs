//! Case rows. Every write is checked against the version the caller read.

use super::DbConnection;
use super::schema::cases;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A stored case.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cases)]
pub struct Case {
    pub id: String,
    pub workflow_id: String,
    pub definition_hash: String,
    pub owner_id: String,
    pub state: String,
    pub form_data: String,
    pub version: i64,
    pub audit_seq: i64,
    pub audit_head: String,
    /// When the case first left the draft for the commission; staff see only such cases.
    pub submitted_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// JSON object: the form fields filled in at creation and their sources.
    pub prefilled: String,
    /// When the current step started (a submission: its registration moment).
    pub step_started_at: Option<NaiveDateTime>,
    /// The Moscow date the current step is due, when its state has a deadline.
    pub due_on: Option<chrono::NaiveDate>,
    /// The due date rests on provisional calendar days (past the last decree).
    pub due_provisional: bool,
}

/// A version-checked change of a case.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = cases)]
pub struct CaseUpdate<'a> {
    pub state: Option<&'a str>,
    pub form_data: Option<&'a str>,
    pub version: i64,
    pub audit_seq: i64,
    pub audit_head: &'a str,
    pub submitted_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
    /// A new step: when it started.
    pub step_started_at: Option<NaiveDateTime>,
    /// A new step: its due date, or none (`Some(None)` clears it).
    pub due_on: Option<Option<chrono::NaiveDate>>,
    /// A new step: whether the due date is provisional.
    pub due_provisional: Option<bool>,
}

/// Stores a new case.
pub fn insert(conn: &mut DbConnection, case: &Case) -> QueryResult<()> {
    diesel::insert_into(cases::table)
        .values(case)
        .execute(conn)
        .map(drop)
}

/// Reads a case.
pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Case>> {
    cases::table
        .find(id)
        .select(Case::as_select())
        .first(conn)
        .optional()
}

/// Applies `change` if the case is still at `expected_version`; returns whether it was.
pub fn update_checked(
    conn: &mut DbConnection,
    id: &str,
    expected_version: i64,
    change: &CaseUpdate<'_>,
) -> QueryResult<bool> {
    diesel::update(
        cases::table
            .find(id)
            .filter(cases::version.eq(expected_version)),
    )
    .set(change)
    .execute(conn)
    .map(|n| n == 1)
}

/// Filters for listing cases.
#[derive(Debug, Default, Clone)]
pub struct CaseFilter {
    /// Only this owner's cases.
    pub owner: Option<String>,
    /// Only cases in this state.
    pub state: Option<String>,
    /// Only cases of this workflow.
    pub workflow: Option<String>,
    /// Staff view: this user's own cases plus every submitted case (overrides `owner`).
    pub owner_or_submitted: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Cases created strictly before this id (ids are time-ordered), for paging.
    pub before_id: Option<String>,
    /// Only cases whose current step is due on or before this date.
    pub due_by: Option<chrono::NaiveDate>,
    /// Earliest due date first (cases without one last), instead of newest first.
    pub by_due: bool,
}

/// Lists cases, newest first.
pub fn list(conn: &mut DbConnection, f: &CaseFilter) -> QueryResult<Vec<Case>> {
    let mut q = cases::table.select(Case::as_select()).into_boxed();
    if let Some(owner) = &f.owner {
        q = q.filter(cases::owner_id.eq(owner.clone()));
    }
    if let Some(state) = &f.state {
        q = q.filter(cases::state.eq(state.clone()));
    }
    if let Some(workflow) = &f.workflow {
        q = q.filter(cases::workflow_id.eq(workflow.clone()));
    }
    if let Some(me) = &f.owner_or_submitted {
        q = q.filter(
            cases::owner_id
                .eq(me.clone())
                .or(cases::submitted_at.is_not_null()),
        );
    }
    if let Some(before) = &f.before_id {
        q = q.filter(cases::id.lt(before.clone()));
    }
    if let Some(by) = f.due_by {
        q = q.filter(cases::due_on.le(by));
    }
    if f.by_due {
        q = q.order((
            cases::due_on.is_null(),
            cases::due_on.asc(),
            cases::id.desc(),
        ));
    } else {
        q = q.order(cases::id.desc());
    }
    q.limit(f.limit).load(conn)
}

/// A version-checked change of a case row together with the audit event that records it and,
/// for a transition sent with an `Idempotency-Key`, the response to remember.
#[derive(Debug)]
pub struct Write<'a> {
    /// The case.
    pub id: &'a str,
    /// The version the change was computed from.
    pub expected_version: i64,
    /// New values of the row.
    pub update: CaseUpdate<'a>,
    /// The audit event.
    pub event: &'a super::audit::NewAuditEvent,
    /// The response to replay for a retried request.
    pub remember: Option<&'a super::idempotency::Remembered>,
}

#[derive(QueryableByName)]
struct AppliedId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[expect(dead_code, reason = "only the row count matters")]
    id: String,
}

/// Applies a [`Write`] atomically; `false` (and nothing written) if the case is no longer at
/// the expected version.
///
/// On PostgreSQL this is one statement (a data-modifying CTE), atomic by itself, so the
/// caller needs no explicit transaction: the hot path of a transition is two reads and this
/// one write. On SQLite it is up to three statements inside the caller's write transaction.
pub fn apply(conn: &mut DbConnection, w: &Write<'_>) -> QueryResult<bool> {
    use diesel::sql_types::{BigInt, Bool, Date, Nullable, Text, Timestamp};
    match conn {
        DbConnection::Pg(pg) => {
            let e = w.event;
            let r = w.remember;
            let rows: Vec<AppliedId> = diesel::sql_query(
                "WITH upd AS (
                    UPDATE cases SET state = COALESCE($1, state), form_data = COALESCE($2, form_data),
                        version = $3, audit_seq = $4, audit_head = $5, updated_at = $6,
                        submitted_at = COALESCE(submitted_at, $24),
                        step_started_at = COALESCE($25, step_started_at),
                        due_on = CASE WHEN $26 THEN $27 ELSE due_on END,
                        due_provisional = COALESCE($28, due_provisional)
                    WHERE id = $7 AND version = $8 RETURNING id),
                 ev AS (
                    INSERT INTO audit_events (chain, seq, kind, actor_id, case_id, at, payload, prev_hash, hash)
                    SELECT $9, $10, $11, $12, $13, $14, $15, $16, $17 FROM upd RETURNING id),
                 idem AS (
                    INSERT INTO idempotency_keys (user_id, idem_key, request_hash, case_id, response, created_at)
                    SELECT $18, $19, $20, $21, $22, $23 FROM upd WHERE $18::text IS NOT NULL RETURNING 1)
                 SELECT id FROM upd",
            )
            .bind::<Nullable<Text>, _>(w.update.state)
            .bind::<Nullable<Text>, _>(w.update.form_data)
            .bind::<BigInt, _>(w.update.version)
            .bind::<BigInt, _>(w.update.audit_seq)
            .bind::<Text, _>(w.update.audit_head)
            .bind::<Timestamp, _>(w.update.updated_at)
            .bind::<Text, _>(w.id)
            .bind::<BigInt, _>(w.expected_version)
            .bind::<Text, _>(&e.chain)
            .bind::<BigInt, _>(e.seq)
            .bind::<Text, _>(&e.kind)
            .bind::<Nullable<Text>, _>(e.actor_id.as_deref())
            .bind::<Nullable<Text>, _>(e.case_id.as_deref())
            .bind::<Timestamp, _>(e.at)
            .bind::<Text, _>(&e.payload)
            .bind::<Text, _>(&e.prev_hash)
            .bind::<Text, _>(&e.hash)
            .bind::<Nullable<Text>, _>(r.map(|r| r.user_id.as_str()))
            .bind::<Nullable<Text>, _>(r.map(|r| r.idem_key.as_str()))
            .bind::<Nullable<Text>, _>(r.map(|r| r.request_hash.as_str()))
            .bind::<Nullable<Text>, _>(r.map(|r| r.case_id.as_str()))
            .bind::<Nullable<Text>, _>(r.map(|r| r.response.as_str()))
            .bind::<Nullable<Timestamp>, _>(r.map(|r| r.created_at))
            .bind::<Nullable<Timestamp>, _>(w.update.submitted_at)
            .bind::<Nullable<Timestamp>, _>(w.update.step_started_at)
            .bind::<Bool, _>(w.update.due_on.is_some())
            .bind::<Nullable<Date>, _>(w.update.due_on.flatten())
            .bind::<Nullable<Bool>, _>(w.update.due_provisional)
            .load(pg)?;
            Ok(rows.len() == 1)
        }
        DbConnection::Sqlite(_) => {
            if !update_checked(conn, w.id, w.expected_version, &w.update)? {
                return Ok(false);
            }
            super::audit::insert(conn, w.event)?;
            if let Some(r) = w.remember {
                super::idempotency::insert(conn, r)?;
            }
            Ok(true)
        }
    }
}
