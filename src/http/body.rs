//! Request bodies: at most 1 MiB, JSON parsed with errors in our format.

use super::error::ApiError;
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// Largest accepted request body.
pub const MAX_BODY: usize = 1 << 20;

/// A JSON body (any JSON content type), refused cleanly when too large or malformed.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Тело запроса больше 1 МиБ",
    )
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|ct| {
                ct == "application/json"
                    || (ct.starts_with("application/") && ct.ends_with("+json"))
            });
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Передайте тело запроса в формате JSON (Content-Type: application/json)",
                ));
            }
            let bytes = bytes.await.map_err(|e| {
                if matches!(e.as_error::<PayloadError>(), Some(PayloadError::Overflow))
                    || e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE
                {
                    too_large()
                } else {
                    ApiError::bad_request("unreadable_body", "Не удалось прочитать тело запроса")
                }
            })?;
            serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
                let (code, message) = if e.is_data() {
                    (
                        "invalid_body",
                        format!(
                            "Тело запроса не подходит: неизвестное поле, нет обязательного поля или значение не того типа (строка {}, позиция {})",
                            e.line(),
                            e.column()
                        ),
                    )
                } else {
                    (
                        "malformed_json",
                        "Тело запроса не является корректным JSON".to_owned(),
                    )
                };
                ApiError::bad_request(code, message)
            })
        })
    }
}

/// The most of a document upload the server reads at all. A request declaring more is
/// refused before it is read. Up to this, a refused upload is read to its end and dropped, so
/// that a client that writes its whole body before reading (browsers' fetch, Python's
/// http.client) reads the answer instead of a reset connection; each document type's own
/// limit (at most 5 MB) is checked by the handler, which knows the type.
pub const MAX_UPLOAD: usize = 8 << 20;

/// A document upload or replacement: its limit is its type's, not the JSON body's.
fn is_upload(req: &actix_web::dev::ServiceRequest) -> bool {
    use actix_web::http::Method;
    let path = req.path();
    let Some(rest) = path.strip_prefix("/api/v1/cases/") else {
        return false;
    };
    let mut parts = rest.split('/');
    let (_case, documents, doc, end) = (parts.next(), parts.next(), parts.next(), parts.next());
    documents == Some("documents")
        && end.is_none()
        && match doc {
            None => req.method() == Method::POST,
            Some(doc) => !doc.is_empty() && req.method() == Method::PUT,
        }
}

/// Refuses any request whose declared length exceeds the limit (larger for document
/// uploads) before reading it.
pub fn declared_too_large(req: &actix_web::dev::ServiceRequest) -> Option<ApiError> {
    let len = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()?;
    if is_upload(req) {
        (len > MAX_UPLOAD as u64).then(|| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file_too_large",
                "Запрос с файлом больше 8 МБ — больше предела любого вида документа: уменьшите \
                 файл (например, сканируйте в оттенках серого)",
            )
        })
    } else {
        (len > MAX_BODY as u64).then(too_large)
    }
}
