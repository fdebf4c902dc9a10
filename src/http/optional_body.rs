//! A JSON body that a client may leave out entirely.

use super::body::JsonBody;
use super::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use std::future::{Future, ready};
use std::pin::Pin;

/// A JSON body that may be absent: a request with no `Content-Type` and no body at all (as
/// `curl -X POST` sends) gets `T::default()`, the same as `{}`. Anything else is read as a
/// [`JsonBody`], so a body still needs a JSON content type and the usual limits apply.
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub T);

/// Whether the request declares no body: no content type, no chunked transfer and no length
/// other than zero (a request without a length has no body, RFC 9112 6.3).
fn declares_no_body(req: &HttpRequest) -> bool {
    let headers = req.headers();
    if headers.contains_key(CONTENT_TYPE) || headers.contains_key(TRANSFER_ENCODING) {
        return false;
    }
    headers
        .get(CONTENT_LENGTH)
        .is_none_or(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) == Some(0))
}

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if declares_no_body(req) {
            return Box::pin(ready(Ok(Self(T::default()))));
        }
        let body = JsonBody::<T>::from_request(req, payload);
        Box::pin(async move { body.await.map(|b| Self(b.0)) })
    }
}
