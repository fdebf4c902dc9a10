//! Appending to a hash chain. Each event's hash covers the previous hash and the canonical
//! event body, so altering, removing, inserting or reordering events breaks the chain.

use crate::store::DbConnection;
use crate::store::audit::{self as rows, AuditEvent, NewAuditEvent};
use chrono::NaiveDateTime;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The previous hash of the first event of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event to record. Payloads never hold tokens or personal data, only references.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Chain key: a case id, `user:<id>` or `system`.
    pub chain: String,
    /// Event kind, e.g. `case.transition`.
    pub kind: &'static str,
    /// Who acted, if anyone.
    pub actor: Option<String>,
    /// The case concerned, if any.
    pub case: Option<String>,
    /// When (microsecond precision).
    pub at: NaiveDateTime,
    /// Event details.
    pub payload: Value,
}

/// Sorts object keys recursively so the same content always serializes the same way.
pub fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&map[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn timestamp(at: &NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The canonical body the hash covers.
pub fn body(
    chain: &str,
    seq: i64,
    kind: &str,
    actor: Option<&str>,
    case: Option<&str>,
    at: &NaiveDateTime,
    payload: &Value,
) -> String {
    // Keys in alphabetical order, written by hand so the layout never depends on serde_json
    // map ordering features.
    let fields = [
        (
            "actor",
            actor.map_or(Value::Null, |a| Value::String(a.to_owned())),
        ),
        ("at", Value::String(timestamp(at))),
        (
            "case",
            case.map_or(Value::Null, |c| Value::String(c.to_owned())),
        ),
        ("chain", Value::String(chain.to_owned())),
        ("kind", Value::String(kind.to_owned())),
        ("payload", canonical(payload)),
        ("seq", Value::from(seq)),
    ];
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("{}:{}", Value::String((*k).to_owned()), v));
    }
    out.push('}');
    out
}

/// `SHA-256(prev_hash ‖ "\n" ‖ body)` in hex.
pub fn link_hash(prev_hash: &str, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// Recomputes the hash a stored event should have.
pub fn expected_hash(e: &AuditEvent) -> Result<String, serde_json::Error> {
    let payload: Value = serde_json::from_str(&e.payload)?;
    let b = body(
        &e.chain,
        e.seq,
        &e.kind,
        e.actor_id.as_deref(),
        e.case_id.as_deref(),
        &e.at,
        &payload,
    );
    Ok(link_hash(&e.prev_hash, &b))
}

/// Appends `entry` to its chain, reading the chain's head, and returns the new event's
/// sequence number. Must run inside the transaction of the change it records.
pub fn record(conn: &mut DbConnection, entry: Entry) -> diesel::QueryResult<i64> {
    if let DbConnection::Pg(pg) = conn {
        // Writers of one chain queue here instead of colliding on (chain, seq); SQLite's
        // BEGIN IMMEDIATE already serializes writers.
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))::text AS locked")
            .bind::<diesel::sql_types::Text, _>(&entry.chain)
            .execute(pg)?;
    }
    let head = rows::head(conn, &entry.chain)?;
    let event = prepare(
        entry,
        head.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
    );
    rows::insert(conn, &event)?;
    Ok(event.seq)
}

/// Hashes `entry` as the successor of `prev` (`(seq, hash)` of the chain's head, `None` for
/// a new chain). Case chains keep their head on the case row, so a transition needs no extra
/// read: the version-checked update of the row is what orders writers of one chain.
pub fn prepare(entry: Entry, prev: Option<(i64, &str)>) -> NewAuditEvent {
    let (seq, prev_hash) = match prev {
        Some((seq, hash)) => (seq + 1, hash.to_owned()),
        None => (1, GENESIS.to_owned()),
    };
    let payload = canonical(&entry.payload);
    let b = body(
        &entry.chain,
        seq,
        entry.kind,
        entry.actor.as_deref(),
        entry.case.as_deref(),
        &entry.at,
        &payload,
    );
    let hash = link_hash(&prev_hash, &b);
    NewAuditEvent {
        chain: entry.chain,
        seq,
        kind: entry.kind.to_owned(),
        actor_id: entry.actor,
        case_id: entry.case,
        at: entry.at,
        payload: payload.to_string(),
        prev_hash,
        hash,
    }
}
