//! Form data validation: the workflow's JSON Schema plus field rules (SNILS, INN, phone,
//! e-mail, dates) as custom formats. Errors come per field with stable codes and Russian text.

use crate::domain::{inn::Inn, ogrn::Ogrn, phone::normalize_ru_phone, snils::Snils};
use jsonschema::error::ValidationErrorKind;
use serde::Serialize;
use serde_json::Value;
use validator::ValidateEmail;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON pointer to the field, e.g. `/applicant/snils`.
    pub field: String,
    /// Stable code, e.g. `invalid_snils`.
    pub code: String,
    /// Russian message.
    pub message: String,
}

/// How strict to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Autosave of a draft: missing fields are fine, present ones must be valid.
    Draft,
    /// Before submission: everything required must be present.
    Complete,
}

/// A compiled form schema.
#[derive(Debug)]
pub struct FormSchema {
    validator: jsonschema::Validator,
    schema: Value,
}

/// The schema itself is not a valid JSON Schema.
#[derive(Debug, thiserror::Error)]
#[error("invalid JSON Schema: {0}")]
pub struct SchemaError(String);

impl FormSchema {
    /// Compiles a JSON Schema with our field-rule formats.
    pub fn compile(schema: &Value) -> Result<Self, SchemaError> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .with_format("snils", |s: &str| Snils::parse(s).is_ok())
            .with_format("inn", |s: &str| Inn::parse(s).is_ok())
            .with_format("ogrn", |s: &str| Ogrn::parse(s).is_ok())
            .with_format("phone-ru", |s: &str| normalize_ru_phone(s).is_some())
            .with_format("email", |s: &str| s.validate_email())
            .build(schema)
            .map_err(|e| SchemaError(e.to_string()))?;
        Ok(Self {
            validator,
            schema: schema.clone(),
        })
    }

    /// Whether `pointer` (`/applicant/snils`) names a field the schema declares: each step an
    /// object's property or an array's item index. The whole form (`""`) is no field.
    pub fn has_field(&self, pointer: &str) -> bool {
        let Some(rest) = pointer.strip_prefix('/') else {
            return false;
        };
        let mut node = &self.schema;
        for raw in rest.split('/') {
            let step = raw.replace("~1", "/").replace("~0", "~");
            let next = match node.get("properties").and_then(|p| p.get(&step)) {
                Some(n) => Some(n),
                None if !step.is_empty() && step.bytes().all(|b| b.is_ascii_digit()) => {
                    node.get("items")
                }
                None => None,
            };
            match next {
                Some(n) => node = n,
                None => return false,
            }
        }
        true
    }

    /// Every problem with `data`, in document order.
    pub fn validate(&self, data: &Value, mode: Mode) -> Vec<FieldError> {
        let mut out: Vec<FieldError> = Vec::new();
        for err in self.validator.iter_errors(data) {
            let path = err.instance_path().as_str().to_owned();
            let kind = err.kind();
            if mode == Mode::Draft && matches!(kind, ValidationErrorKind::Required { .. }) {
                continue;
            }
            out.extend(describe(&path, kind));
        }
        out.dedup();
        out
    }
}

fn field(path: &str, code: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
        code: code.into(),
        message: message.into(),
    }
}

fn describe(path: &str, kind: &ValidationErrorKind) -> Vec<FieldError> {
    use ValidationErrorKind as K;
    let one = |code: &str, msg: String| vec![field(path, code, msg)];
    match kind {
        K::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![field(&format!("{path}/{name}"), "required", "Обязательное поле")]
        }
        K::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|p| field(&format!("{path}/{p}"), "unknown_field", "Такого поля нет в заявлении"))
            .collect(),
        K::Format { format } => match format.as_str() {
            "snils" => one(
                "invalid_snils",
                "Неверный СНИЛС: нужно 11 цифр в формате XXX-XXX-XXX YY с верным контрольным числом".into(),
            ),
            "inn" => one(
                "invalid_inn",
                "Неверный ИНН: нужно 10 или 12 цифр с верными контрольными цифрами".into(),
            ),
            "ogrn" => one(
                "invalid_ogrn",
                "Неверный ОГРН: нужно 13 цифр (ОГРНИП — 15) с верной контрольной цифрой".into(),
            ),
            "phone-ru" => one("invalid_phone", "Укажите телефон в формате +7XXXXXXXXXX".into()),
            "email" => one("invalid_email", "Укажите адрес электронной почты, например name@example.ru".into()),
            "date" => one("invalid_date", "Укажите существующую дату в формате ГГГГ-ММ-ДД".into()),
            other => one("invalid_format", format!("Значение не соответствует формату {other}")),
        },
        K::Type { .. } => one("invalid_type", "Неверный тип значения".into()),
        K::MinLength { limit } => one("too_short", format!("Слишком короткое значение: не менее {limit} символов")),
        K::MaxLength { limit } => one("too_long", format!("Слишком длинное значение: не более {limit} символов")),
        K::Enum { .. } | K::Constant { .. } => one("invalid_choice", "Выберите значение из списка".into()),
        K::Pattern { .. } => one("invalid_format", "Значение имеет неверный формат".into()),
        K::Minimum { limit } | K::ExclusiveMinimum { limit } => {
            one("out_of_range", format!("Значение должно быть не меньше {limit}"))
        }
        K::Maximum { limit } | K::ExclusiveMaximum { limit } => {
            one("out_of_range", format!("Значение должно быть не больше {limit}"))
        }
        K::MaxItems { limit } => one("too_many", format!("Не более {limit} элементов")),
        K::MinItems { limit } => one("too_few", format!("Не менее {limit} элементов")),
        _ => one("invalid_value", "Недопустимое значение".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> FormSchema {
        let s = json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["snils", "inn"],
            "properties": {
                "snils": {"type": "string", "format": "snils"},
                "inn": {"type": "string", "format": "inn"},
                "phone": {"type": "string", "format": "phone-ru"},
                "email": {"type": "string", "format": "email"},
                "born": {"type": "string", "format": "date"}
            }
        });
        match FormSchema::compile(&s) {
            Ok(s) => s,
            Err(e) => unreachable!("test schema compiles: {e}"),
        }
    }

    fn codes(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect()
    }

    #[test]
    fn draft_allows_missing_but_not_wrong() {
        let s = schema();
        assert!(s.validate(&json!({}), Mode::Draft).is_empty());
        let e = s.validate(
            &json!({"snils": "112-233-445 96", "phone": "123", "email": "x@", "born": "2001-02-30", "extra": 1}),
            Mode::Draft,
        );
        let got: std::collections::BTreeSet<_> = codes(&e).into_iter().collect();
        let want: std::collections::BTreeSet<_> = [
            ("/extra", "unknown_field"),
            ("/born", "invalid_date"),
            ("/email", "invalid_email"),
            ("/phone", "invalid_phone"),
            ("/snils", "invalid_snils"),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want);
        assert_eq!(e.len(), 5, "{e:?}");
    }

    #[test]
    fn complete_requires_fields() {
        let e = schema().validate(&json!({"snils": "112-233-445 95"}), Mode::Complete);
        assert_eq!(codes(&e), vec![("/inn", "required")]);
    }
}
