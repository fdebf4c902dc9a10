//! Requests that create something, made safe to retry: with an `Idempotency-Key`, the first
//! result is remembered in the same transaction as what it created, and a retry (same user,
//! same key, same request) gets it back instead of creating it again.

use super::ServiceError;
use crate::engine::Actor;
use crate::store::idempotency::{self, Remembered};
use crate::store::{DbConnection, StoreError, write_tx};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The retry key of a request and what identifies the request (a hash of its route and body).
#[derive(Debug, Clone, Default)]
pub struct Key {
    /// The client's `Idempotency-Key`, if it sent one.
    pub key: Option<String>,
    /// What the request asked for: the same key with another request is refused.
    pub fingerprint: String,
}

/// A result, and whether it is the remembered result of an earlier request.
#[derive(Debug)]
pub struct Once<T> {
    /// The result.
    pub value: T,
    /// It was remembered, not made now.
    pub replayed: bool,
}

/// The remembered result of `key`, if there is one (refused if it was for another request).
pub fn remembered<T: DeserializeOwned>(
    conn: &mut DbConnection,
    actor: &Actor,
    key: &Key,
) -> Result<Option<T>, ServiceError> {
    let Some(k) = &key.key else { return Ok(None) };
    let Some(r) = idempotency::find(conn, actor.user.as_str(), k).map_err(StoreError::from)? else {
        return Ok(None);
    };
    if r.request_hash != key.fingerprint {
        return Err(ServiceError::IdempotencyKeyReused);
    }
    serde_json::from_str(&r.response)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("remembered response: {e}")).into())
}

/// Runs `op` once per key: without a key, simply runs it; with one, returns the remembered
/// result if there is one, else runs `op` and remembers its result in the same transaction
/// (`case_of` names the case it concerns). Of two concurrent requests with the same key, one
/// creates and the other gets its result.
pub fn once<T: Serialize + DeserializeOwned>(
    conn: &mut DbConnection,
    actor: &Actor,
    key: &Key,
    now: DateTime<Utc>,
    case_of: impl Fn(&T) -> String,
    op: impl FnOnce(&mut DbConnection) -> Result<T, ServiceError>,
) -> Result<Once<T>, ServiceError> {
    let Some(k) = &key.key else {
        return op(conn).map(|value| Once {
            value,
            replayed: false,
        });
    };
    if let Some(value) = remembered(conn, actor, key)? {
        return Ok(Once {
            value,
            replayed: true,
        });
    }
    let made = write_tx(conn, |conn| {
        let value = op(conn)?;
        let response =
            serde_json::to_string(&value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        idempotency::insert(
            conn,
            &Remembered {
                user_id: actor.user.to_string(),
                idem_key: k.clone(),
                request_hash: key.fingerprint.clone(),
                case_id: case_of(&value),
                response,
                created_at: now.naive_utc(),
            },
        )
        .map_err(StoreError::from)?;
        Ok::<_, ServiceError>(value)
    });
    match made {
        Ok(value) => Ok(Once {
            value,
            replayed: false,
        }),
        // A concurrent request with the key committed first: its result is the answer.
        Err(ServiceError::Store(e)) if e.is_conflict() => match remembered(conn, actor, key)? {
            Some(value) => Ok(Once {
                value,
                replayed: true,
            }),
            None => Err(ServiceError::Store(e)),
        },
        Err(e) => Err(e),
    }
}
