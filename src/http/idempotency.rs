//! The `Idempotency-Key` header: parsed, tied to what the request asks for, and marked on a
//! replayed answer.

use super::error::ApiError;
use crate::service::idempotent::Key;
use actix_web::HttpResponseBuilder;
use actix_web::http::header::HeaderMap;
use sha2::{Digest, Sha256};

/// The header's value, if sent: 1 to 255 printable ASCII characters.
pub fn header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match raw.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_owned()))
        }
        _ => Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "Заголовок Idempotency-Key должен содержать от 1 до 255 печатных символов ASCII",
        )),
    }
}

/// The hash of what a request asks for: its parts (route, path ids, body fields), each
/// ended by a newline so that no two lists of parts hash alike.
pub fn fingerprint(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// The request's key, tied to `parts`.
pub fn key(headers: &HeaderMap, parts: &[&[u8]]) -> Result<Key, ApiError> {
    Ok(Key {
        key: header(headers)?,
        fingerprint: fingerprint(parts),
    })
}

/// Marks an answer as the remembered one (`Idempotent-Replayed: true`).
pub fn mark(res: &mut HttpResponseBuilder, replayed: bool) {
    if replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
}
