//! The one mapping from errors to HTTP: `{code, message, details[], request_id}` with the
//! right status. Internal error text is logged, never sent.

use crate::engine::TransitionError;
use crate::engine::form::FieldError;
use crate::identity::session::AuthError;
use crate::service::ServiceError;
use crate::store::StoreError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

tokio::task_local! {
    /// The id of the request being served (set by the request-id middleware).
    pub static REQUEST_ID: String;
}

/// The current request's id, if inside a request.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// One detail of an error.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Field (JSON pointer) or item concerned.
    pub field: String,
    /// Stable code.
    pub code: String,
    /// Russian message.
    pub message: String,
}

/// Most details an error body carries: enough to fix a form, while a request naming thousands
/// of bad fields cannot make its answer megabytes long.
pub const MAX_DETAILS: usize = 100;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code for programs.
    pub code: String,
    /// Russian message for people.
    pub message: String,
    /// Per-field or per-item details: at most [`MAX_DETAILS`], the first ones found.
    pub details: Vec<ErrorDetail>,
    /// How many more details there were beyond [`MAX_DETAILS`] (absent when none were left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_omitted: Option<usize>,
    /// Id of the request, also in the `X-Request-Id` header and in the server log.
    pub request_id: Option<String>,
}

/// An error answered over HTTP.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<ErrorDetail>,
    etag: Option<i64>,
    retry_after: Option<u32>,
}

impl ApiError {
    /// An error with a status, a code and a Russian message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            etag: None,
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` header.
    pub fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Adds details.
    pub fn with_details(mut self, details: Vec<ErrorDetail>) -> Self {
        self.details = details;
        self
    }

    /// 400 for a request that cannot be understood.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 500 after logging the cause.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Внутренняя ошибка сервера. Повторите попытку позже; если ошибка повторится, сообщите в поддержку номер запроса",
        )
    }

    /// 503 while the database is unreachable.
    pub fn unavailable(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error = %cause, "database unavailable");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "Сервис временно недоступен. Повторите попытку через несколько секунд",
        );
        e.retry_after = Some(5);
        e
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.code)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(v) = self.etag {
            res.insert_header((header::ETAG, format!("\"{v}\"")));
        }
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        let omitted = self.details.len().saturating_sub(MAX_DETAILS);
        res.json(ErrorBody {
            code: self.code.to_owned(),
            message: self.message.clone(),
            details: self.details.iter().take(MAX_DETAILS).cloned().collect(),
            details_omitted: (omitted > 0).then_some(omitted),
            request_id: current_request_id(),
        })
    }
}

fn field_details(errors: Vec<FieldError>) -> Vec<ErrorDetail> {
    errors
        .into_iter()
        .map(|e| ErrorDetail {
            field: e.field,
            code: e.code,
            message: e.message,
        })
        .collect()
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Unavailable(_) => ApiError::unavailable(&e),
            StoreError::Query(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("database is locked") =>
            {
                ApiError::unavailable(&e)
            }
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection
                | diesel::result::DatabaseErrorKind::UnableToSendCommand,
                _,
            )) => ApiError::unavailable(&e),
            _ => ApiError::internal(&e),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let (code, message) = match e {
            AuthError::Missing => (
                "unauthenticated",
                "Требуется вход в систему: передайте токен сеанса в заголовке Authorization: Bearer",
            ),
            AuthError::Invalid => (
                "invalid_token",
                "Токен сеанса недействителен: войдите в систему заново",
            ),
            AuthError::Expired => (
                "session_expired",
                "Срок действия сеанса истёк: войдите в систему заново",
            ),
            AuthError::Idle => (
                "session_idle",
                "Сеанс завершён из-за бездействия: войдите в систему заново. Черновик сохранён",
            ),
            AuthError::Revoked => (
                "session_revoked",
                "Сеанс завершён: войдите в систему заново",
            ),
            AuthError::Store(s) => return s.into(),
        };
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use StatusCode as S;
        match e {
            ServiceError::CaseNotFound | ServiceError::CaseHidden => {
                ApiError::new(S::NOT_FOUND, "case_not_found", "Заявление не найдено")
            }
            ServiceError::UnknownWorkflow => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                "unknown_workflow",
                "Такого вида заявления нет: выберите вид из списка /api/v1/workflows",
            ),
            ServiceError::NotCreator { workflow, roles } => {
                let code = crate::service::creator_code(&roles);
                let message = if code == "not_specialist" {
                    "Подавать заявления может только медицинский работник".to_owned()
                } else {
                    let who: Vec<&str> = roles.iter().map(|r| r.label()).collect();
                    format!("«{workflow}» может создать только: {}", who.join(", "))
                };
                ApiError::new(S::FORBIDDEN, code, message)
            }
            ServiceError::Transition(t) => match t {
                TransitionError::Unknown => ApiError::new(
                    S::NOT_FOUND,
                    "unknown_transition",
                    "Такого действия с заявлением нет",
                ),
                TransitionError::WrongState(state) => ApiError::new(
                    S::CONFLICT,
                    "transition_not_allowed",
                    format!("Это действие недоступно для заявления в статусе «{state}»"),
                ),
                TransitionError::Forbidden => ApiError::new(
                    S::FORBIDDEN,
                    "role_not_allowed",
                    "Недостаточно прав для этого действия",
                ),
                TransitionError::OwnCase => ApiError::new(
                    S::FORBIDDEN,
                    "own_case",
                    "Нельзя выполнять действия комиссии по собственному заявлению",
                ),
                TransitionError::ReasonRequired => ApiError::new(
                    S::UNPROCESSABLE_ENTITY,
                    "reason_required",
                    "Укажите причину решения",
                )
                .with_details(vec![ErrorDetail {
                    field: "/reason".into(),
                    code: "required".into(),
                    message: "Обязательное поле".into(),
                }]),
            },
            ServiceError::Guards(failures) => {
                let mut details = Vec::new();
                for f in failures {
                    details.push(ErrorDetail {
                        field: format!("guard:{}", f.guard),
                        code: f.code.into(),
                        message: f.message,
                    });
                    details.extend(field_details(f.details));
                }
                ApiError::new(
                    S::UNPROCESSABLE_ENTITY,
                    "guards_failed",
                    "Заявление пока нельзя передать дальше: устраните перечисленные замечания",
                )
                .with_details(details)
            }
            ServiceError::PreconditionRequired => ApiError::new(
                S::PRECONDITION_REQUIRED,
                "precondition_required",
                "Передайте в заголовке If-Match версию заявления (ETag), которую вы видели",
            ),
            ServiceError::VersionConflict { current } => {
                let mut err = ApiError::new(
                    S::CONFLICT,
                    "version_conflict",
                    "Заявление уже изменено в другом окне или другим пользователем: обновите страницу",
                )
                .with_details(vec![ErrorDetail {
                    field: "version".into(),
                    code: "current_version".into(),
                    message: current.to_string(),
                }]);
                err.etag = Some(current);
                err
            }
            ServiceError::UnknownDocumentType(code) => ApiError::new(
                S::BAD_REQUEST,
                "unknown_document_type",
                format!("Документы вида «{code}» к этому заявлению не прикладываются"),
            ),
            ServiceError::TooManyFiles { label, max } => ApiError::new(
                S::CONFLICT,
                "too_many_files",
                format!(
                    "Документов вида «{label}» можно приложить не больше {max}: удалите или замените лишний"
                ),
            ),
            ServiceError::QuotaExceeded { quota_mb } => ApiError::new(
                S::PAYLOAD_TOO_LARGE,
                "quota_exceeded",
                format!(
                    "Превышен объём ваших документов ({quota_mb} МБ): удалите ненужные файлы"
                ),
            ),
            ServiceError::ReplaceWindowClosed => ApiError::new(
                S::CONFLICT,
                "replace_window_closed",
                "Заменить документ можно в течение 48 часов после первой загрузки; этот срок истёк",
            ),
            ServiceError::DocumentNotFound => ApiError::new(
                S::NOT_FOUND,
                "document_not_found",
                "Документ не найден",
            ),
            ServiceError::ReceiptNotFound => ApiError::new(
                S::NOT_FOUND,
                "receipt_not_found",
                "Акт о подаче появится после подачи заявления с электронной подписью",
            ),
            ServiceError::NotEditable { state_label } => ApiError::new(
                S::CONFLICT,
                "case_not_editable",
                format!("Заявление в статусе «{state_label}» изменить нельзя"),
            ),
            ServiceError::InvalidForm(errors) => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                "invalid_form",
                "Некоторые поля заполнены с ошибками: исправьте их, остальное сохранено не будет до исправления",
            )
            .with_details(field_details(errors)),
            ServiceError::PatchNotObject => ApiError::bad_request(
                "invalid_patch",
                "Изменения формы передаются JSON-объектом (JSON Merge Patch)",
            ),
            ServiceError::IdempotencyKeyReused => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Ключ Idempotency-Key уже использован для другого запроса",
            ),
            ServiceError::Refused(r) => {
                use crate::service::RefusalKind as K;
                let status = match r.kind {
                    K::Invalid => S::UNPROCESSABLE_ENTITY,
                    K::Conflict => S::CONFLICT,
                    K::NotFound => S::NOT_FOUND,
                    K::Forbidden => S::FORBIDDEN,
                };
                ApiError::new(status, r.code, r.message).with_details(field_details(r.details))
            }
            ServiceError::Store(s) => s.into(),
        }
    }
}
