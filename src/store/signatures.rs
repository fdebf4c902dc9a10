//! Signatures of submissions, case numbers and stored receipts.

use super::DbConnection;
use super::schema::{
    case_numbers as cn, case_signatures as cs, receipt_counters as rc, receipts as r,
};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A verified signature of a submission.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = cs)]
pub struct SignatureRow {
    pub id: String,
    pub case_id: String,
    pub case_version: i64,
    pub transition: String,
    pub payload_sha256: String,
    pub signature: Vec<u8>,
    pub certificate: Vec<u8>,
    pub certificate_sha256: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub algorithm: String,
    pub signing_time: NaiveDateTime,
    pub verified_at: NaiveDateTime,
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = r)]
pub struct ReceiptRow {
    pub case_id: String,
    pub seq: i32,
    pub number: String,
    pub signature_id: String,
    pub pdf: Vec<u8>,
    pub xml: Vec<u8>,
    pub created_at: NaiveDateTime,
}

/// Stores a signature.
pub fn insert_signature(conn: &mut DbConnection, row: &SignatureRow) -> QueryResult<()> {
    diesel::insert_into(cs::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The number a case got, if any.
pub fn number_of(conn: &mut DbConnection, case_id: &str) -> QueryResult<Option<String>> {
    cn::table
        .find(case_id)
        .select(cn::number)
        .first(conn)
        .optional()
}

/// The "year" of a counter that never restarts (a workflow's `number_prefix` series).
pub const EVERY_YEAR: i32 = 0;

/// Takes the next value of the `(year, region)` counter (`region` is any series name: a
/// region's receipts, the accreditation records, a workflow's number prefix). Must run inside a write
/// transaction: on PostgreSQL the `UPDATE` locks the counter row until commit, so concurrent
/// submissions take consecutive values; on SQLite the transaction holds the write lock.
pub fn next_in_sequence(conn: &mut DbConnection, year: i32, region: &str) -> QueryResult<i64> {
    let key = rc::table.find((year, region));
    let bump = |conn: &mut DbConnection| {
        diesel::update(key)
            .set(rc::last_value.eq(rc::last_value + 1i64))
            .execute(conn)
    };
    if bump(conn)? == 0 {
        // The year's first number. Created in a savepoint: if a concurrent submission created
        // the row first, its primary key refuses ours and we take the next value instead.
        let created = conn.transaction(|c| {
            diesel::insert_into(rc::table)
                .values((
                    rc::year.eq(year),
                    rc::region.eq(region),
                    rc::last_value.eq(1i64),
                ))
                .execute(c)
        });
        match created {
            Ok(_) => return Ok(1),
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                bump(conn)?;
            }
            Err(e) => return Err(e),
        }
    }
    key.select(rc::last_value).first(conn)
}

/// Records the number of a case.
pub fn assign_number(
    conn: &mut DbConnection,
    case_id: &str,
    number: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(cn::table)
        .values((
            cn::case_id.eq(case_id),
            cn::number.eq(number),
            cn::assigned_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// How many receipts a case has.
pub fn receipt_count(conn: &mut DbConnection, case_id: &str) -> QueryResult<i64> {
    r::table
        .filter(r::case_id.eq(case_id))
        .count()
        .get_result(conn)
}

/// Stores a receipt.
pub fn insert_receipt(conn: &mut DbConnection, row: &ReceiptRow) -> QueryResult<()> {
    diesel::insert_into(r::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// The latest receipt of a case.
pub fn latest_receipt(conn: &mut DbConnection, case_id: &str) -> QueryResult<Option<ReceiptRow>> {
    r::table
        .filter(r::case_id.eq(case_id))
        .order(r::seq.desc())
        .select(ReceiptRow::as_select())
        .first(conn)
        .optional()
}

/// The latest signature of a case.
pub fn latest_signature(
    conn: &mut DbConnection,
    case_id: &str,
) -> QueryResult<Option<SignatureRow>> {
    cs::table
        .filter(cs::case_id.eq(case_id))
        .order(cs::verified_at.desc())
        .select(SignatureRow::as_select())
        .first(conn)
        .optional()
}
