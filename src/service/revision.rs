//! The revision round: a case the commission returned for revision (an editable state other
//! than the draft) can change only where the return asked — the form fields it named (and
//! what is inside them) and the documents of the types it named, which may then be added,
//! replaced (whatever the 48-hour window) or removed. Nothing else changes until the case is
//! resubmitted with a new signature. The readiness report shows what is still to fix.

use super::access::Visible;
use super::{RefusalKind, ServiceError};
use crate::engine::decision::{DocumentFix, FieldFix, Fixes};
use crate::engine::form::FieldError;
use crate::store::decisions;
use crate::store::documents as doc_rows;
use crate::store::{DbConnection, StoreError};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// The open round of a case: what the return for revision asked, and when.
#[derive(Debug, Clone)]
pub struct Round {
    /// What to fix.
    pub fixes: Fixes,
    /// The values of the named fields when the return was decided.
    pub before: HashMap<String, Value>,
    /// When the return was decided.
    pub decided_at: NaiveDateTime,
    /// The commission's recommendations.
    pub recommendations: Option<String>,
}

#[derive(serde::Deserialize)]
struct StoredFixes {
    #[serde(default)]
    fields: Vec<StoredField>,
    #[serde(default)]
    documents: Vec<DocumentFix>,
}

#[derive(serde::Deserialize)]
struct StoredField {
    pointer: String,
    comment: String,
    #[serde(default)]
    before: Value,
}

/// The case's open revision round: `None` outside one (a draft, or a state the applicant may
/// not change), and for a case returned before fixes were recorded (then the whole form is
/// open, as it was).
pub fn open_round(conn: &mut DbConnection, v: &Visible) -> Result<Option<Round>, ServiceError> {
    let def = &v.workflow.definition;
    let editable = def.state(&v.case.state).is_some_and(|s| s.editable);
    if !editable || v.case.state == def.initial {
        return Ok(None);
    }
    let Some(row) = decisions::latest_any(conn, &v.case.id).map_err(StoreError::from)? else {
        return Ok(None);
    };
    let stored: StoredFixes = serde_json::from_str(&row.fixes)
        .map_err(|e| StoreError::Corrupt(format!("fixes of decision {}: {e}", row.id)))?;
    if stored.fields.is_empty() && stored.documents.is_empty() {
        return Ok(None);
    }
    let before = stored
        .fields
        .iter()
        .map(|f| (f.pointer.clone(), f.before.clone()))
        .collect();
    Ok(Some(Round {
        fixes: Fixes {
            fields: stored
                .fields
                .into_iter()
                .map(|f| FieldFix {
                    pointer: f.pointer,
                    comment: f.comment,
                })
                .collect(),
            documents: stored.documents,
        },
        before,
        decided_at: row.decided_at,
        recommendations: row.recommendations,
    }))
}

/// Every leaf (by JSON pointer) where `a` and `b` differ; arrays count as one value.
pub fn changed_pointers(a: &Value, b: &Value) -> Vec<String> {
    fn walk(a: Option<&Value>, b: Option<&Value>, at: &str, out: &mut Vec<String>) {
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let step = k.replace('~', "~0").replace('/', "~1");
                    walk(x.get(k), y.get(k), &format!("{at}/{step}"), out);
                }
            }
            (x, y) if x != y => out.push(at.to_owned()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(Some(a), Some(b), "", &mut out);
    out
}

/// Refuses a form change in the round that touches a field the commission did not name.
pub fn check_form(round: &Round, before: &Value, after: &Value) -> Result<(), ServiceError> {
    let outside: Vec<FieldError> = changed_pointers(before, after)
        .into_iter()
        .filter(|p| !round.fixes.covers_field(p))
        .map(|p| FieldError {
            message: format!("Поле {p} комиссия не просила исправить"),
            field: p,
            code: "field_not_requested".into(),
        })
        .collect();
    if outside.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Refused(super::Refused {
            kind: RefusalKind::Conflict,
            code: "field_not_requested",
            message: "На доработке можно изменить только поля, названные комиссией".into(),
            details: outside,
        }))
    }
}

/// Refuses a document change in the round for a type the commission did not name.
pub fn check_document(round: &Round, doc_type: &str) -> Result<(), ServiceError> {
    if round.fixes.covers_document(doc_type) {
        Ok(())
    } else {
        Err(ServiceError::refused(
            RefusalKind::Conflict,
            "document_not_requested",
            "На доработке можно заменить, добавить или удалить только документы тех видов, которые назвала комиссия",
        ))
    }
}

/// A named field in the report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldToFix {
    /// JSON pointer.
    pub pointer: String,
    /// The commission's comment.
    pub comment: String,
    /// Changed since the return.
    pub changed: bool,
}

/// A named document type in the report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentToFix {
    /// Type code.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// Its label.
    pub label: String,
    /// The commission's comment.
    pub comment: String,
    /// A document of it was added, replaced or removed since the return.
    pub changed: bool,
}

/// What the round asks and what has been done.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoundReport {
    /// When the case was returned (UTC).
    pub returned_at: DateTime<Utc>,
    /// The commission's recommendations.
    pub recommendations: Option<String>,
    /// Named fields.
    pub fields: Vec<FieldToFix>,
    /// Named document types.
    pub documents: Vec<DocumentToFix>,
    /// Everything named was changed.
    pub all_changed: bool,
}

/// The report of `round` on the case as it is now.
pub fn report(
    conn: &mut DbConnection,
    v: &Visible,
    round: &Round,
    form: &Value,
) -> Result<RoundReport, ServiceError> {
    let fields: Vec<FieldToFix> = round
        .fixes
        .fields
        .iter()
        .map(|f| FieldToFix {
            changed: form.pointer(&f.pointer).cloned().unwrap_or(Value::Null)
                != round.before.get(&f.pointer).cloned().unwrap_or(Value::Null),
            pointer: f.pointer.clone(),
            comment: f.comment.clone(),
        })
        .collect();
    let mut documents = Vec::new();
    for d in &round.fixes.documents {
        let changed = doc_rows::touched_since(conn, &v.case.id, &d.doc_type, round.decided_at)
            .map_err(StoreError::from)?;
        documents.push(DocumentToFix {
            label: v
                .workflow
                .definition
                .document_types
                .iter()
                .find(|t| t.code == d.doc_type)
                .map_or_else(|| d.doc_type.clone(), |t| t.label.clone()),
            doc_type: d.doc_type.clone(),
            comment: d.comment.clone(),
            changed,
        });
    }
    Ok(RoundReport {
        returned_at: round.decided_at.and_utc(),
        recommendations: round.recommendations.clone(),
        all_changed: fields.iter().all(|f| f.changed) && documents.iter().all(|d| d.changed),
        fields,
        documents,
    })
}

#[cfg(test)]
mod tests {
    use super::changed_pointers;
    use serde_json::json;

    #[test]
    fn changes_are_found_at_their_leaves() {
        let a = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"});
        let b = json!({"a": {"b": 2, "c": [1, 2], "e": true}, "d": "x"});
        assert_eq!(changed_pointers(&a, &b), ["/a/b", "/a/e"]);
        assert!(changed_pointers(&a, &a).is_empty());
        assert_eq!(changed_pointers(&json!({"x/y": 1}), &json!({})), ["/x~1y"]);
    }
}
