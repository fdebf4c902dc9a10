//! `open_repeat_request`: the author says the problem persists. A new request of the same
//! workflow opens as the author's draft with this one's form (its context: subject,
//! description, category, the case it concerns) and `/repeat_of` naming this request; sent,
//! it is marked «повторное обращение», linked to this one and goes to the agent who had it
//! (`open_support_request`). The new draft's id and number are in this transition's event.

use super::{Effect, EffectContext};
use crate::service::ServiceError;
use crate::store::DbConnection;
use crate::store::StoreError;
use serde_json::{Value, json};

/// The effect.
#[derive(Debug)]
pub struct OpenRepeatRequest;

impl Effect for OpenRepeatRequest {
    fn name(&self) -> &'static str {
        "open_repeat_request"
    }

    fn writes_rows(&self) -> bool {
        true
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        cx: &mut EffectContext<'_>,
    ) -> Result<(), ServiceError> {
        let def = &cx.workflow.definition;
        let number = cx.case.number.clone().unwrap_or_else(|| cx.case.id.clone());
        let mut form = cx.form.clone();
        if let Value::Object(fields) = &mut form {
            fields.insert("repeat_of".into(), json!(number));
        }
        let sources: Value = serde_json::from_str(&cx.case.prefilled)
            .map_err(|e| StoreError::Corrupt(format!("prefilled of case {}: {e}", cx.case.id)))?;
        let about = json!({"repeat_of": cx.case.id, "reason": cx.reason});
        let draft = crate::service::cases::write_draft(
            conn,
            def,
            &cx.case.owner_id,
            form,
            sources,
            about,
            cx.now,
        )?;
        cx.payload["repeat_request"] = json!({"id": draft.id, "number": draft.number});
        Ok(())
    }
}
