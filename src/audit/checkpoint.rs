//! Checkpoints: a Merkle root over all events since the previous checkpoint.

use crate::store::audit as rows;
use crate::store::{DbConnection, StoreError, write_tx};
use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use rs_merkle::{MerkleTree, algorithms::Sha256 as MerkleSha256};
use sha2::{Digest, Sha256};

/// A written checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// First event covered.
    pub first_event_id: i64,
    /// Last event covered.
    pub last_event_id: i64,
    /// Number of events covered.
    pub event_count: i64,
    /// Hex Merkle root.
    pub merkle_root: String,
}

/// Merkle root over `(id, hash)` leaves; each leaf binds the event id to its hash.
pub fn merkle_root(events: &[(i64, String)]) -> String {
    let leaves: Vec<[u8; 32]> = events
        .iter()
        .map(|(id, hash)| {
            let mut h = Sha256::new();
            h.update(id.to_be_bytes());
            h.update(hash.as_bytes());
            h.finalize().into()
        })
        .collect();
    MerkleTree::<MerkleSha256>::from_leaves(&leaves)
        .root_hex()
        .unwrap_or_default()
}

/// Writes a checkpoint over every event after the previous checkpoint; `None` if there are
/// no new events. On PostgreSQL the events table is locked in SHARE ROW EXCLUSIVE mode for the
/// moment of the checkpoint: in-flight writers finish first (no event can later commit inside
/// its range) and a concurrent checkpoint waits (two cannot cover the same range).
pub fn write(conn: &mut DbConnection, now: NaiveDateTime) -> Result<Option<Written>, StoreError> {
    write_tx(conn, |conn| {
        if let DbConnection::Pg(pg) = conn {
            pg.batch_execute("LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE")?;
        }
        let after = rows::last_checkpoint_end(conn)?.unwrap_or(0);
        let Some(upto) = rows::max_id(conn)? else {
            return Ok(None);
        };
        if upto <= after {
            return Ok(None);
        }
        let events = rows::hashes_between(conn, after, upto)?;
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(None);
        };
        let written = Written {
            first_event_id: first.0,
            last_event_id: last.0,
            event_count: i64::try_from(events.len()).unwrap_or(i64::MAX),
            merkle_root: merkle_root(&events),
        };
        rows::insert_checkpoint(
            conn,
            written.first_event_id,
            written.last_event_id,
            written.event_count,
            &written.merkle_root,
            now,
        )?;
        Ok(Some(written))
    })
}
