//! `record_decision`: keeps what the commission member's decision says beside the case — the
//! reasons from the catalogue (with their texts as given), the recommendations, and the fixes
//! a revision asks for (with each named field's value at that moment, so the readiness report
//! can tell what was changed since). The audit event gets the codes and the decision's id.

use super::{Effect, EffectContext};
use crate::engine::decision::Decision;
use crate::service::ServiceError;
use crate::store::decisions::{self, DecisionRow};
use crate::store::{DbConnection, StoreError};
use serde_json::{Value, json};

/// The effect.
#[derive(Debug)]
pub struct RecordDecision;

/// The reasons of `decision` as `{"code", "text"}`, texts from the catalogue.
fn reasons(cx: &EffectContext<'_>, decision: &Decision) -> Vec<Value> {
    let workflow = &cx.workflow.definition.id;
    decision
        .reasons
        .iter()
        .map(|code| {
            let text = cx
                .reasons
                .find(workflow, code)
                .map_or_else(|| code.clone(), |r| r.text.clone());
            json!({"code": code, "text": text})
        })
        .collect()
}

/// What the decision says, in Russian, for the applicant's notification: the free-text reason,
/// the catalogue reasons, the recommendations and what to fix. `None` when it says nothing.
pub fn decision_text(cx: &EffectContext<'_>) -> Option<String> {
    let d = cx.decision;
    let def = &cx.workflow.definition;
    let mut parts: Vec<String> = Vec::new();
    if let Some(r) = cx.reason {
        parts.push(r.to_owned());
    }
    let texts: Vec<String> = reasons(cx, d)
        .iter()
        .filter_map(|r| r["text"].as_str().map(str::to_owned))
        .collect();
    if !texts.is_empty() {
        parts.push(format!("Причины: {}", texts.join("; ")));
    }
    if let Some(r) = d
        .recommendations
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        parts.push(format!("Рекомендации: {r}"));
    }
    let mut fixes: Vec<String> = d
        .fixes
        .fields
        .iter()
        .map(|f| f.comment.trim().to_owned())
        .collect();
    fixes.extend(d.fixes.documents.iter().map(|doc| {
        let label = def
            .document_types
            .iter()
            .find(|t| t.code == doc.doc_type)
            .map_or(doc.doc_type.as_str(), |t| t.label.as_str());
        format!("документ «{label}» — {}", doc.comment.trim())
    }));
    if !fixes.is_empty() {
        parts.push(fixes.join("; "));
    }
    if parts.is_empty() {
        return None;
    }
    let mut text = parts.join(". ");
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    Some(text)
}

impl Effect for RecordDecision {
    fn name(&self) -> &'static str {
        "record_decision"
    }

    fn writes_rows(&self) -> bool {
        true
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        cx: &mut EffectContext<'_>,
    ) -> Result<(), ServiceError> {
        let d = cx.decision;
        let id = crate::domain::ids::uuid_v7(cx.now).to_string();
        let fields: Vec<Value> = d
            .fixes
            .fields
            .iter()
            .map(|f| {
                json!({
                    "pointer": f.pointer,
                    "comment": f.comment.trim(),
                    "before": cx.form.pointer(&f.pointer).cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        let documents: Vec<Value> = d
            .fixes
            .documents
            .iter()
            .map(|doc| json!({"type": doc.doc_type, "comment": doc.comment.trim()}))
            .collect();
        let row = DecisionRow {
            id: id.clone(),
            case_id: cx.case.id.clone(),
            transition: cx.transition.name.clone(),
            decided_by: cx.actor.map(|a| a.user.to_string()),
            decided_at: cx.now.naive_utc(),
            reasons: Value::Array(reasons(cx, d)).to_string(),
            recommendations: d
                .recommendations
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            fixes: json!({"fields": fields, "documents": documents}).to_string(),
        };
        decisions::insert(conn, &row).map_err(StoreError::from)?;
        // What the decision says is part of the tamper-evident record (the values before the
        // return are the applicant's data and stay out).
        cx.payload["decision"] = json!({
            "id": id,
            "reasons": d.reasons,
            "recommendations": row.recommendations,
            "fields": d.fixes.fields,
            "documents": d.fixes.documents,
        });
        Ok(())
    }
}
