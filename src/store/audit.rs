//! Audit event and checkpoint rows.

use super::DbConnection;
use super::schema::{audit_checkpoints as ac, audit_events as ae};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A stored audit event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ae)]
pub struct AuditEvent {
    pub id: i64,
    pub chain: String,
    pub seq: i64,
    pub kind: String,
    pub actor_id: Option<String>,
    pub case_id: Option<String>,
    pub at: NaiveDateTime,
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

/// An audit event to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ae)]
pub struct NewAuditEvent {
    pub chain: String,
    pub seq: i64,
    pub kind: String,
    pub actor_id: Option<String>,
    pub case_id: Option<String>,
    pub at: NaiveDateTime,
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A stored checkpoint.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ac)]
pub struct Checkpoint {
    pub id: i64,
    pub first_event_id: i64,
    pub last_event_id: i64,
    pub event_count: i64,
    pub merkle_root: String,
    pub created_at: NaiveDateTime,
}

/// The newest event of a chain: `(seq, hash)`.
pub fn head(conn: &mut DbConnection, chain: &str) -> QueryResult<Option<(i64, String)>> {
    ae::table
        .filter(ae::chain.eq(chain))
        .order(ae::seq.desc())
        .select((ae::seq, ae::hash))
        .first(conn)
        .optional()
}

/// The id of event `seq` of a chain.
pub fn id_at(conn: &mut DbConnection, chain: &str, seq: i64) -> QueryResult<Option<i64>> {
    ae::table
        .filter(ae::chain.eq(chain))
        .filter(ae::seq.eq(seq))
        .select(ae::id)
        .first(conn)
        .optional()
}

/// Appends an event.
pub fn insert(conn: &mut DbConnection, e: &NewAuditEvent) -> QueryResult<()> {
    diesel::insert_into(ae::table)
        .values(e)
        .execute(conn)
        .map(drop)
}

/// Events of one case of the given kinds, oldest first.
pub fn for_case(
    conn: &mut DbConnection,
    case_id: &str,
    kinds: &[&str],
) -> QueryResult<Vec<AuditEvent>> {
    ae::table
        .filter(ae::case_id.eq(case_id))
        .filter(ae::kind.eq_any(kinds))
        .order(ae::seq.asc())
        .select(AuditEvent::as_select())
        .load(conn)
}

/// Up to `limit` events with id greater than `after`, in id order.
pub fn page(conn: &mut DbConnection, after: i64, limit: i64) -> QueryResult<Vec<AuditEvent>> {
    ae::table
        .filter(ae::id.gt(after))
        .order(ae::id.asc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)
}

/// Hashes of events with id in `(after, upto]`, in id order.
pub fn hashes_between(
    conn: &mut DbConnection,
    after: i64,
    upto: i64,
) -> QueryResult<Vec<(i64, String)>> {
    ae::table
        .filter(ae::id.gt(after))
        .filter(ae::id.le(upto))
        .order(ae::id.asc())
        .select((ae::id, ae::hash))
        .load(conn)
}

/// The largest event id, if any.
pub fn max_id(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    ae::table.select(diesel::dsl::max(ae::id)).first(conn)
}

/// All checkpoints, oldest first.
pub fn checkpoints(conn: &mut DbConnection) -> QueryResult<Vec<Checkpoint>> {
    ac::table
        .order(ac::id.asc())
        .select(Checkpoint::as_select())
        .load(conn)
}

/// The last event covered by the newest checkpoint.
pub fn last_checkpoint_end(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    ac::table
        .order(ac::id.desc())
        .select(ac::last_event_id)
        .first(conn)
        .optional()
}

/// Stores a checkpoint.
pub fn insert_checkpoint(
    conn: &mut DbConnection,
    first_event_id: i64,
    last_event_id: i64,
    event_count: i64,
    merkle_root: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(ac::table)
        .values((
            ac::first_event_id.eq(first_event_id),
            ac::last_event_id.eq(last_event_id),
            ac::event_count.eq(event_count),
            ac::merkle_root.eq(merkle_root),
            ac::created_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Where each case's row says its chain ends: `(case id, audit_seq, audit_head)`.
pub fn case_heads(conn: &mut DbConnection) -> QueryResult<Vec<(String, i64, String)>> {
    use super::schema::cases;
    cases::table
        .select((cases::id, cases::audit_seq, cases::audit_head))
        .load(conn)
}
