//! Case documents over HTTP: upload (multipart), list, download.

use super::AppState;
use super::action::Action;
use super::auth::Principal;
use super::cases::case_id;
use super::error::{ApiError, ErrorBody};
use crate::documents::inspect::{self, Format};
use crate::documents::worker::InspectError;
use crate::engine::definition::DocumentType;
use crate::service::documents::{self, DocumentDto, NewDocument};
use crate::service::idempotent;
use actix_multipart::MultipartError;
use actix_web::http::StatusCode as S;
use actix_web::http::header::{
    Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use futures_util::TryStreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The upload form.
#[derive(Debug, utoipa::ToSchema)]
pub struct UploadForm {
    /// Document type code from the workflow (must come before `file`).
    #[schema(rename = "type")]
    pub doc_type: String,
    /// The file (PDF, JPEG or PNG).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// `?type=` may name the document type instead of a form field.
#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    /// Document type code.
    #[serde(rename = "type")]
    pub doc_type: Option<String>,
}

/// When to come back after `inspection_busy`: about the time a few inspections take.
const INSPECTION_RETRY_SECS: u32 = 5;

/// How much of a refused upload is read and dropped before the connection is given up: as
/// much as the server reads of an upload at all.
const DRAIN_LIMIT: usize = super::body::MAX_UPLOAD;

/// A multipart error in our terms: the library's own text is English and names its internals,
/// so it goes to the log, and the client gets a code and what to do, in Russian.
fn bad_form(e: MultipartError) -> ApiError {
    tracing::debug!(error = %e, "unreadable multipart form");
    let message = match e {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible => {
            return ApiError::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                "multipart_expected",
                "Передайте файл формой multipart/form-data: поле type с видом документа, затем поле file с файлом",
            );
        }
        MultipartError::BoundaryMissing => {
            "В заголовке Content-Type формы не указан разделитель её частей"
        }
        MultipartError::ContentDispositionMissing
        | MultipartError::ContentDispositionNameMissing => {
            "У одной из частей формы не указано имя поля: нужны поля type и file"
        }
        MultipartError::Nested => "Вложенные формы не принимаются: передайте файл в самой форме",
        MultipartError::Incomplete | MultipartError::Payload(_) => {
            "Форма передана не полностью: отправьте файл ещё раз"
        }
        MultipartError::Parse(_) => "Заголовки одной из частей формы не удалось разобрать",
        _ => "Форма с файлом передана неправильно: отправьте её ещё раз",
    };
    ApiError::new(S::BAD_REQUEST, "invalid_multipart", message)
}

fn refused(p: inspect::Problem) -> ApiError {
    let status = match p.code.as_str() {
        "empty_file" => S::BAD_REQUEST,
        "unsupported_format" | "ambiguous_format" => S::UNSUPPORTED_MEDIA_TYPE,
        _ => S::UNPROCESSABLE_ENTITY,
    };
    let code: &'static str = match p.code.as_str() {
        "empty_file" => "empty_file",
        "unsupported_format" => "unsupported_format",
        "ambiguous_format" => "ambiguous_format",
        "image_too_large" => "image_too_large",
        "corrupt_image" => "corrupt_image",
        "corrupt_pdf" => "corrupt_pdf",
        "encrypted_pdf" => "encrypted_pdf",
        "empty_pdf" => "empty_pdf",
        "inspection_timeout" => "inspection_timeout",
        _ => "unreadable_file",
    };
    ApiError::new(status, code, p.message)
}

/// Upload a document to a case (multipart: `type`, then `file`). The file's format is taken
/// from its content; size, format, extension, count and quota are checked before it is kept,
/// and it is inspected in a worker process. A file that is readable but not good enough (a
/// low-resolution scan) is kept with status `invalid` and its problems.
#[utoipa::path(
    tag = "documents",
    params(
        ("id" = String, Path, description = "Case id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry key (1–255 printable ASCII): a repeated upload returns the first result with `Idempotent-Replayed: true` and keeps nothing again"),
    ),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored and inspected", body = DocumentDto),
        (status = 400, description = "No file, no type, empty file, extension that disagrees with the content", body = ErrorBody),
        (status = 409, description = "Case not editable, or too many files of this type", body = ErrorBody),
        (status = 413, description = "File over its type's limit, or quota exceeded", body = ErrorBody),
        (status = 415, description = "Not PDF/JPEG/PNG, or a format this type does not take", body = ErrorBody),
        (status = 422, description = "The file cannot be read", body = ErrorBody),
        (status = 503, description = "Too many files in inspection: try again after Retry-After", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[post("/api/v1/cases/{id}/documents")]
pub async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
    query: web::Query<UploadQuery>,
    mut form: actix_multipart::Multipart,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    let quota = state.documents.quota_bytes;
    let mut drain = Drain::new();
    let retry_key = super::idempotency::header(req.headers())?;
    let read = read_upload_form(
        &state,
        &who,
        &id,
        query.into_inner().doc_type,
        retry_key,
        &mut form,
        &mut drain,
    )
    .await;
    let (ty, file_name, bytes) = drain.settle(&mut form, read).await?;
    let digest = super::idempotency::fingerprint(&[&bytes]);
    let key = super::idempotency::key(
        req.headers(),
        &[
            b"POST /api/v1/cases/{id}/documents",
            id.as_bytes(),
            ty.code.as_bytes(),
            file_name.as_bytes(),
            digest.as_bytes(),
        ],
    )?;
    // A retry is answered before the file is inspected again.
    if key.key.is_some() {
        let k = key.clone();
        let earlier = state
            .use_case(
                &who,
                Action::DocumentUpload,
                Some(id.clone()),
                move |conn, _, actor, _| idempotent::remembered::<DocumentDto>(conn, actor, &k),
            )
            .await?;
        if let Some(dto) = earlier {
            let mut res = HttpResponse::Created();
            super::idempotency::mark(&mut res, true);
            return Ok(res.json(dto));
        }
    }
    let new = accept_content(&state, &ty, file_name, bytes).await?;
    let case = id.clone();
    let made = state
        .use_case(
            &who,
            Action::DocumentUpload,
            Some(id.clone()),
            move |conn, catalog, actor, now| {
                idempotent::once(
                    conn,
                    actor,
                    &key,
                    now,
                    |_: &DocumentDto| case.clone(),
                    |conn| documents::record_upload(conn, catalog, actor, &id, new, quota, now),
                )
            },
        )
        .await?;
    let mut res = HttpResponse::Created();
    super::idempotency::mark(&mut res, made.replayed);
    Ok(res.json(made.value))
}

/// The upload form: the type (a field before the file, or `doc_type` from the URL), the
/// checks that need no byte of the file, then the file within its type's limit.
async fn read_upload_form(
    state: &AppState,
    who: &Principal,
    id: &str,
    mut doc_type: Option<String>,
    retry_key: Option<String>,
    form: &mut actix_multipart::Multipart,
    drain: &mut Drain,
) -> Result<(DocumentType, String, Vec<u8>), ApiError> {
    let quota = state.documents.quota_bytes;
    let mut file: Option<(DocumentType, String, Vec<u8>)> = None;
    while let Some(mut field) = drain.next_field(form).await? {
        match field.name().unwrap_or_default() {
            "type" => {
                let mut text = Vec::new();
                while let Some(chunk) = drain.chunk(&mut field).await? {
                    if text.len() + chunk.len() > 200 {
                        drain.field(&mut field).await;
                        return Err(ApiError::new(
                            S::BAD_REQUEST,
                            "invalid_multipart",
                            "Поле type слишком длинное: в нём только код вида документа",
                        ));
                    }
                    text.extend_from_slice(&chunk);
                }
                doc_type = Some(String::from_utf8_lossy(&text).trim().to_owned());
            }
            "file" if file.is_none() => {
                let Some(code) = doc_type.clone() else {
                    drain.field(&mut field).await;
                    return Err(ApiError::new(
                        S::BAD_REQUEST,
                        "document_type_missing",
                        "Укажите вид документа (поле type перед файлом)",
                    ));
                };
                let check_id = id.to_owned();
                let retry = retry_key.clone();
                // Refused before a byte of the file is read (unless it is the retry of an
                // upload already kept: its answer is the first one, checked after reading).
                let checked = state
                    .use_case(
                        who,
                        Action::DocumentUpload,
                        Some(id.to_owned()),
                        move |conn, catalog, actor, _| {
                            if let Some(key) = &retry
                                && let Some(ty) = documents::type_for_retry(
                                    conn, catalog, actor, &check_id, &code, key,
                                )?
                            {
                                return Ok(ty);
                            }
                            documents::check_upload(
                                conn, catalog, actor, &check_id, &code, quota, 0,
                            )
                        },
                    )
                    .await;
                let ty = match checked {
                    Ok(ty) => ty,
                    Err(e) => {
                        drain.field(&mut field).await;
                        return Err(e);
                    }
                };
                let (name, bytes) = read_file(&mut field, &ty, drain).await?;
                file = Some((ty, name, bytes));
            }
            _ => {
                // Unknown parts are read and dropped, within the same bound.
                if !drain.field(&mut field).await {
                    return Err(form_too_large());
                }
            }
        }
    }
    file.ok_or_else(file_missing)
}

fn form_too_large() -> ApiError {
    ApiError::new(
        S::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Форма с файлом слишком большая: передайте в ней только поля type и file",
    )
}

/// What is left of a refused form is read and dropped, at most [`DRAIN_LIMIT`] bytes in all:
/// a client that writes its whole request before reading the answer (browsers' fetch,
/// Python's http.client) gets to read it, where closing at once would reset the connection
/// under it. Past the bound the connection is given up.
///
/// The form is read through it, so that it knows when the form has ended or broken: the
/// multipart stream must not be polled again then.
#[derive(Debug)]
struct Drain {
    left: usize,
    finished: bool,
}

impl Drain {
    fn new() -> Self {
        Self {
            left: DRAIN_LIMIT,
            finished: false,
        }
    }

    /// The form's next part.
    async fn next_field(
        &mut self,
        form: &mut actix_multipart::Multipart,
    ) -> Result<Option<actix_multipart::Field>, ApiError> {
        if self.finished {
            return Ok(None);
        }
        let next = form.try_next().await;
        if !matches!(next, Ok(Some(_))) {
            self.finished = true;
        }
        next.map_err(bad_form)
    }

    /// The part's next chunk.
    async fn chunk(
        &mut self,
        field: &mut actix_multipart::Field,
    ) -> Result<Option<web::Bytes>, ApiError> {
        field.try_next().await.map_err(|e| {
            self.finished = true;
            bad_form(e)
        })
    }

    /// Drops the rest of `field`; false when the bound was reached or the form broke.
    async fn field(&mut self, field: &mut actix_multipart::Field) -> bool {
        loop {
            match self.chunk(field).await {
                Ok(Some(chunk)) if chunk.len() <= self.left => self.left -= chunk.len(),
                Ok(Some(_)) => {
                    self.left = 0;
                    self.finished = true;
                    return false;
                }
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }

    /// `result`, after dropping the rest of the form when it is a refusal: a client that sends
    /// the whole body before reading the answer then reads the refusal.
    async fn settle<T>(
        &mut self,
        form: &mut actix_multipart::Multipart,
        result: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        if result.is_err() {
            self.rest(form).await;
        }
        result
    }

    /// Drops the rest of the form.
    async fn rest(&mut self, form: &mut actix_multipart::Multipart) {
        while let Ok(Some(mut field)) = self.next_field(form).await {
            if !self.field(&mut field).await {
                return;
            }
        }
    }
}

/// A size limit in the words the cabinet uses: "2 МБ", or "500 КБ" when not whole megabytes.
fn size_limit(kb: u64) -> String {
    if kb >= 1024 && kb.is_multiple_of(1024) {
        format!("{} МБ", kb / 1024)
    } else {
        format!("{kb} КБ")
    }
}

/// Reads the file part, keeping at most the type's limit. Past it, nothing more is kept and
/// the rest of the part is drained (see [`Drain`]).
async fn read_file(
    field: &mut actix_multipart::Field,
    ty: &DocumentType,
    drain: &mut Drain,
) -> Result<(String, Vec<u8>), ApiError> {
    let limit = usize::try_from(ty.max_size_kb.saturating_mul(1024)).unwrap_or(usize::MAX);
    let mut bytes = Vec::new();
    while let Some(chunk) = drain.chunk(field).await? {
        if bytes.len() + chunk.len() > limit {
            drain.field(field).await;
            return Err(ApiError::new(
                S::PAYLOAD_TOO_LARGE,
                "file_too_large",
                format!(
                    "Файл больше предела для документа «{}»: не более {}. Уменьшите его (например, сканируйте в оттенках серого)",
                    ty.label,
                    size_limit(ty.max_size_kb)
                ),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    let name = field
        .content_disposition()
        .and_then(|cd| cd.get_filename().map(str::to_owned))
        .unwrap_or_else(|| "document".into());
    Ok((name, bytes))
}

/// Everything decided from the content: the format (allowed for the type, and agreeing with
/// the file name's extension), the inspection in a worker, and the blob in storage.
async fn accept_content(
    state: &AppState,
    ty: &DocumentType,
    file_name: String,
    bytes: Vec<u8>,
) -> Result<NewDocument, ApiError> {
    let format = inspect::sniff(&bytes).map_err(refused)?;
    if !ty.formats.iter().any(|f| f == format_name(format)) {
        return Err(ApiError::new(
            S::UNSUPPORTED_MEDIA_TYPE,
            "format_not_allowed",
            format!(
                "Для документа «{}» принимаются форматы: {}",
                ty.label,
                ty.formats.join(", ").to_uppercase()
            ),
        ));
    }
    if let Some(ext) = std::path::Path::new(&file_name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        && !format.extensions().contains(&ext.as_str())
    {
        return Err(ApiError::new(
            S::BAD_REQUEST,
            "extension_mismatch",
            format!(
                "Расширение .{ext} не соответствует содержимому файла ({}): переименуйте файл или сохраните его заново",
                format_name(format).to_uppercase()
            ),
        ));
    }
    let bytes = Arc::new(bytes);
    let report = match state.documents.inspector.inspect(bytes.clone()).await {
        Ok(r) => r,
        Err(InspectError::Refused(p)) => return Err(refused(p)),
        Err(InspectError::Busy) => {
            return Err(ApiError::new(
                S::SERVICE_UNAVAILABLE,
                "inspection_busy",
                "Сейчас проверяется много файлов: загрузите этот файл ещё раз через несколько секунд",
            )
            .with_retry_after(INSPECTION_RETRY_SECS));
        }
        Err(InspectError::Unavailable(e)) => {
            tracing::error!(error = %e, "inspection worker unavailable");
            return Err(ApiError::new(
                S::SERVICE_UNAVAILABLE,
                "inspection_unavailable",
                "Проверка файлов временно недоступна, попробуйте позже",
            ));
        }
    };
    let sha256 = hex::encode(Sha256::digest(bytes.as_slice()));
    let size_bytes = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    state
        .documents
        .blobs
        .put(&sha256, bytes.as_ref().clone())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "storing a document failed");
            ApiError::new(
                S::INTERNAL_SERVER_ERROR,
                "storage_failed",
                "Не удалось сохранить файл, попробуйте ещё раз",
            )
        })?;
    Ok(NewDocument {
        doc_type: ty.code.clone(),
        file_name,
        sha256,
        size_bytes,
        report,
    })
}

/// Replace a document's file within 48 hours of its first upload (multipart: `file`); the
/// same checks and inspection as an upload, for the document's own type.
#[utoipa::path(
    tag = "documents",
    params(
        ("id" = String, Path, description = "Case id"),
        ("doc" = String, Path, description = "Document id"),
    ),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Replaced and inspected", body = DocumentDto),
        (status = 409, description = "Case not editable, or the 48 hours have passed", body = ErrorBody),
        (status = 413, description = "File over its type's limit", body = ErrorBody),
        (status = 415, description = "Not a format this type takes", body = ErrorBody),
        (status = 422, description = "The file cannot be read", body = ErrorBody),
        (status = 503, description = "Too many files in inspection: try again after Retry-After", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[put("/api/v1/cases/{id}/documents/{doc}")]
pub async fn replace(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
    mut form: actix_multipart::Multipart,
) -> Result<HttpResponse, ApiError> {
    let (id, doc) = path.into_inner();
    let id = case_id(&id)?;
    let (check_id, check_doc) = (id.clone(), doc.clone());
    let mut drain = Drain::new();
    // Refused before a byte of the file is read.
    let checked = state
        .use_case(
            &who,
            Action::DocumentReplace,
            Some(id.clone()),
            move |conn, catalog, actor, now| {
                documents::check_replace(conn, catalog, actor, &check_id, &check_doc, now)
            },
        )
        .await;
    let (ty, _) = drain.settle(&mut form, checked).await?;
    let read = read_replace_form(&ty, &mut form, &mut drain).await;
    let (file_name, bytes) = drain.settle(&mut form, read).await?;
    let new = accept_content(&state, &ty, file_name, bytes).await?;
    let dto = state
        .use_case(
            &who,
            Action::DocumentReplace,
            Some(id.clone()),
            move |conn, catalog, actor, now| {
                documents::record_replace(conn, catalog, actor, &id, &doc, new, now)
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(dto))
}

fn file_missing() -> ApiError {
    ApiError::new(
        S::BAD_REQUEST,
        "file_missing",
        "В запросе нет файла (поле file)",
    )
}

/// The replacement form: the file within its type's limit; other parts are dropped.
async fn read_replace_form(
    ty: &DocumentType,
    form: &mut actix_multipart::Multipart,
    drain: &mut Drain,
) -> Result<(String, Vec<u8>), ApiError> {
    let mut file = None;
    while let Some(mut field) = drain.next_field(form).await? {
        if field.name() == Some("file") && file.is_none() {
            file = Some(read_file(&mut field, ty, drain).await?);
        } else if !drain.field(&mut field).await {
            return Err(form_too_large());
        }
    }
    file.ok_or_else(file_missing)
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Pdf => "pdf",
        Format::Jpeg => "jpeg",
        Format::Png => "png",
    }
}

/// The case's documents.
#[utoipa::path(
    tag = "documents",
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "Documents, oldest first", body = [DocumentDto]),
        (status = 404, description = "No such case (or not yours to see)", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/cases/{id}/documents")]
pub async fn list(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    let list = state
        .use_case(
            &who,
            Action::DocumentList,
            Some(id.clone()),
            move |conn, catalog, actor, _| documents::list(conn, catalog, actor, &id),
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Download a document: as an attachment, with its true content type and `nosniff`. Only the
/// case's owner and the commission may.
#[utoipa::path(
    tag = "documents",
    params(
        ("id" = String, Path, description = "Case id"),
        ("doc" = String, Path, description = "Document id"),
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 404, description = "No such document (or not yours to see)", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/cases/{id}/documents/{doc}")]
pub async fn download(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, doc) = path.into_inner();
    let id = case_id(&id)?;
    let row = state
        .use_case(
            &who,
            Action::DocumentDownload,
            Some(id.clone()),
            move |conn, catalog, actor, _| documents::find(conn, catalog, actor, &id, &doc),
        )
        .await?;
    let bytes = state.documents.blobs.get(&row.sha256).await.map_err(|e| {
        tracing::error!(error = %e, "reading a document failed");
        ApiError::new(
            S::INTERNAL_SERVER_ERROR,
            "storage_failed",
            "Не удалось прочитать файл, попробуйте ещё раз",
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type(row.content_type)
        .insert_header(attachment(row.file_name))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(bytes))
}

/// `Content-Disposition: attachment` with a UTF-8 file name (RFC 6266 `filename*`).
pub(super) fn attachment(file_name: String) -> ContentDisposition {
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::FilenameExt(ExtendedValue {
            charset: Charset::Ext("UTF-8".into()),
            language_tag: None,
            value: file_name.into_bytes(),
        })],
    }
}

/// Delete a document from a draft.
#[utoipa::path(
    tag = "documents",
    params(
        ("id" = String, Path, description = "Case id"),
        ("doc" = String, Path, description = "Document id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such document (or not yours)", body = ErrorBody),
        (status = 409, description = "The case is no longer a draft", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[delete("/api/v1/cases/{id}/documents/{doc}")]
pub async fn remove(
    state: web::Data<AppState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, doc) = path.into_inner();
    let id = case_id(&id)?;
    state
        .use_case(
            &who,
            Action::DocumentDelete,
            Some(id.clone()),
            move |conn, catalog, actor, now| {
                documents::delete(conn, catalog, actor, &id, &doc, now)
            },
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What is missing before the case can be submitted, as rows for a table: the form, the
/// register match, each required document.
#[utoipa::path(
    tag = "documents",
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "The readiness table", body = crate::service::readiness::Readiness),
        (status = 404, description = "No such case (or not yours to see)", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/api/v1/cases/{id}/readiness")]
pub async fn readiness(
    state: web::Data<AppState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    let report = state
        .use_case(
            &who,
            Action::CaseReadiness,
            Some(id.clone()),
            move |conn, catalog, actor, _| {
                crate::service::readiness::readiness(conn, catalog, actor, &id)
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
