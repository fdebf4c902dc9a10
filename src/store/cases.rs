//! Case rows. Every change is written through [`super::commit`], checked against the version
//! the caller read.

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
    /// When the current step's deadline was found breached (cleared by the next step).
    pub breached_at: Option<NaiveDateTime>,
    /// The Moscow date the whole procedure is due, from the first registration.
    pub procedure_due_on: Option<chrono::NaiveDate>,
    /// The procedure's due date rests on provisional calendar days.
    pub procedure_due_provisional: bool,
    /// When the procedure's deadline was found breached.
    pub procedure_breached_at: Option<NaiveDateTime>,
    /// The application number, once filed (a copy of `case_numbers`, for lists and search).
    pub number: Option<String>,
    /// The specialty code applied for, as filed: which subcommission sees the case.
    pub specialty: Option<String>,
    /// The region code (субъект РФ), as filed.
    pub region: Option<String>,
    /// The applicant's full name, as filed.
    pub applicant_name: Option<String>,
    /// The name as a search key ([`crate::domain::person::search_key`]).
    pub name_key: Option<String>,
    /// The applicant's SNILS (11 digits), as filed.
    pub snils: Option<String>,
    /// The commission member the case is assigned to.
    pub assignee_id: Option<String>,
    /// The transition that started the current step (none for the first step).
    pub step_transition: Option<String>,
    /// What the case is classed by, as set: a JSON object ([`crate::engine::attributes`]).
    pub attributes: String,
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

/// In a write transaction, before a transition's effects write rows of their own: locks the
/// case's row (on PostgreSQL; SQLite's write transaction already holds the database) and reads
/// its version. A transition that lost a race learns of the winner here, before it writes
/// anything that could collide with the winner's rows (`None`: the case is gone).
pub fn lock_version(conn: &mut DbConnection, id: &str) -> QueryResult<Option<i64>> {
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        version: i64,
    }
    match conn {
        DbConnection::Pg(pg) => {
            diesel::sql_query("SELECT version FROM cases WHERE id = $1 FOR UPDATE")
                .bind::<diesel::sql_types::Text, _>(id)
                .get_result::<Locked>(pg)
                .optional()
                .map(|r| r.map(|l| l.version))
        }
        DbConnection::Sqlite(_) => cases::table
            .find(id)
            .select(cases::version)
            .first(conn)
            .optional(),
    }
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
