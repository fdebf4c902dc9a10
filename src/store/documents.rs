//! Rows of case documents.

use super::DbConnection;
use super::schema::documents as d;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A stored document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = d)]
pub struct DocumentRow {
    pub id: String,
    pub case_id: String,
    pub doc_type: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub content_type: String,
    pub file_name: String,
    pub status: String,
    pub inspection: String,
    pub uploaded_by: String,
    pub uploaded_at: NaiveDateTime,
    pub replaced_at: Option<NaiveDateTime>,
    pub deleted_at: Option<NaiveDateTime>,
}

/// Stores a new document.
pub fn insert(conn: &mut DbConnection, row: &DocumentRow) -> QueryResult<()> {
    diesel::insert_into(d::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The case's documents (not deleted), oldest first.
pub fn of_case(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<DocumentRow>> {
    d::table
        .filter(d::case_id.eq(case_id))
        .filter(d::deleted_at.is_null())
        .order((d::uploaded_at.asc(), d::id.asc()))
        .select(DocumentRow::as_select())
        .load(conn)
}

/// One document of a case.
pub fn find(conn: &mut DbConnection, case_id: &str, id: &str) -> QueryResult<Option<DocumentRow>> {
    d::table
        .filter(d::case_id.eq(case_id))
        .filter(d::id.eq(id))
        .filter(d::deleted_at.is_null())
        .select(DocumentRow::as_select())
        .first(conn)
        .optional()
}

/// Bytes of all live documents a user uploaded.
pub fn bytes_of_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<i64> {
    d::table
        .filter(d::uploaded_by.eq(user_id))
        .filter(d::deleted_at.is_null())
        .select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT)",
        ))
        .first(conn)
}

/// Marks a document deleted (the row stays for the audit trail; its blob may be swept once
/// no live document refers to it).
pub fn mark_deleted(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(d::table.find(id))
        .set(d::deleted_at.eq(Some(at)))
        .execute(conn)
        .map(drop)
}

/// Puts new content in place of a document's (its first upload time stays).
pub fn replace_content(conn: &mut DbConnection, row: &DocumentRow) -> QueryResult<()> {
    diesel::update(d::table.find(&row.id))
        .set((
            d::sha256.eq(&row.sha256),
            d::size_bytes.eq(row.size_bytes),
            d::content_type.eq(&row.content_type),
            d::file_name.eq(&row.file_name),
            d::status.eq(&row.status),
            d::inspection.eq(&row.inspection),
            d::replaced_at.eq(row.replaced_at),
        ))
        .execute(conn)
        .map(drop)
}

/// Which of these hashes a live (not deleted) document refers to.
pub fn live_hashes_among(
    conn: &mut DbConnection,
    hashes: &[String],
) -> QueryResult<std::collections::HashSet<String>> {
    d::table
        .filter(d::sha256.eq_any(hashes))
        .filter(d::deleted_at.is_null())
        .select(d::sha256)
        .distinct()
        .load::<String>(conn)
        .map(|v| v.into_iter().collect())
}

/// Whether a document of `doc_type` on the case was uploaded, replaced or deleted after `at`.
pub fn touched_since(
    conn: &mut DbConnection,
    case_id: &str,
    doc_type: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let n: i64 = d::table
        .filter(d::case_id.eq(case_id))
        .filter(d::doc_type.eq(doc_type))
        .filter(
            d::uploaded_at
                .gt(at)
                .or(d::replaced_at.gt(at))
                .or(d::deleted_at.gt(at)),
        )
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}
