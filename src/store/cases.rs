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
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
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
    pub updated_at: NaiveDateTime,
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
    /// Exclude cases in this state (staff never list drafts).
    pub not_state: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Cases created strictly before this id (ids are time-ordered), for paging.
    pub before_id: Option<String>,
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
    if let Some(not_state) = &f.not_state {
        q = q.filter(cases::state.ne(not_state.clone()));
    }
    if let Some(before) = &f.before_id {
        q = q.filter(cases::id.lt(before.clone()));
    }
    q.order(cases::id.desc()).limit(f.limit).load(conn)
}
