//! Response headers every answer gets, set in one place.
//!
//! `Cache-Control: no-store` goes on every answer under `/api/` and `/auth/`, chosen by path
//! rather than by whether the request carried credentials: those prefixes are where personal
//! data, files, receipts and tokens live (the login callback answers a token to a request that
//! carries none), and the browser sends the session cookie to every path of the site, so a rule
//! by credentials would also forbid caching the public viewer files. A handler's own
//! `Cache-Control` there is overridden: nothing under those prefixes may be stored.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

/// Path prefixes whose answers are never stored by browsers or proxies.
const PRIVATE_PREFIXES: [&str; 2] = ["/api/", "/auth/"];

/// Whether answers to `path` may hold personal data or tokens.
pub fn is_private(path: &str) -> bool {
    PRIVATE_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Adds `X-Content-Type-Options: nosniff` to every response and `Cache-Control: no-store` to
/// the private ones (see the module documentation). Wrapped outermost, so that answers made
/// by other middleware (413 before the body is read) get them too.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let private = is_private(req.path());
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if private {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}
