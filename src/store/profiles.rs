//! Person profiles from the identity provider and register checks of cases.

use super::DbConnection;
use super::schema::{case_registry_checks as cc, person_profiles as pp};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

/// A person as the identity provider described them, and their last register check.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = pp)]
#[diesel(treat_none_as_null = true)]
pub struct ProfileRow {
    pub user_id: String,
    pub snils: Option<String>,
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub inn: Option<String>,
    pub registry_result: String,
    pub registry_detail: String,
    pub checked_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The profile of a user.
pub fn find(conn: &mut DbConnection, user_id: &str) -> QueryResult<Option<ProfileRow>> {
    pp::table
        .find(user_id)
        .select(ProfileRow::as_select())
        .first(conn)
        .optional()
}

/// Creates or replaces a profile.
pub fn upsert(conn: &mut DbConnection, row: &ProfileRow) -> QueryResult<()> {
    let updated = diesel::update(pp::table.find(&row.user_id))
        .set(row)
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(pp::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// Stores a new register result on a profile.
pub fn set_result(
    conn: &mut DbConnection,
    user_id: &str,
    result: &str,
    detail: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(pp::table.find(user_id))
        .set((
            pp::registry_result.eq(result),
            pp::registry_detail.eq(detail),
            pp::checked_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// Profiles whose last register check was not a match.
pub fn not_matching(conn: &mut DbConnection) -> QueryResult<Vec<ProfileRow>> {
    pp::table
        .filter(pp::registry_result.ne("registry_match"))
        .order(pp::user_id)
        .select(ProfileRow::as_select())
        .load(conn)
}

/// The register check of a case's applicant.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = cc)]
#[diesel(treat_none_as_null = true)]
pub struct CaseCheckRow {
    pub case_id: String,
    pub result: String,
    pub detail: String,
    pub register_id: Option<String>,
    pub checked_at: NaiveDateTime,
}

/// The stored check of a case.
pub fn case_check(conn: &mut DbConnection, case_id: &str) -> QueryResult<Option<CaseCheckRow>> {
    cc::table
        .find(case_id)
        .select(CaseCheckRow::as_select())
        .first(conn)
        .optional()
}

/// Creates or replaces the check of a case.
pub fn upsert_case_check(conn: &mut DbConnection, row: &CaseCheckRow) -> QueryResult<()> {
    let updated = diesel::update(cc::table.find(&row.case_id))
        .set(row)
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(cc::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// Cases waiting on a register mismatch: their check is not a match. Returns each with its
/// owner.
pub fn waiting_cases(conn: &mut DbConnection) -> QueryResult<Vec<(CaseCheckRow, String)>> {
    use super::schema::cases;
    cc::table
        .inner_join(cases::table.on(cases::id.eq(cc::case_id)))
        .filter(cc::result.ne("registry_match"))
        .order(cc::case_id)
        .select((CaseCheckRow::as_select(), cases::owner_id))
        .load(conn)
}
