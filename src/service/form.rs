//! Autosaving form data: a JSON merge patch, validated, version-checked and audited.

use super::access::{Visible, load_visible};
use super::cases::{CaseDto, to_dto};
use super::{Change, ServiceError, apply_staged, stage_change};
use crate::engine::Actor;
use crate::engine::catalog::Catalog;
use crate::engine::form::Mode;
use crate::store::{DbConnection, single_write_tx};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Applies a merge patch to the case's form. Drafts may be incomplete; fields that are present
/// must be valid. Nothing is written when anything is wrong.
pub fn patch(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
    if_match: Option<i64>,
    patch: &Value,
    now: DateTime<Utc>,
) -> Result<CaseDto, ServiceError> {
    let expected = if_match.ok_or(ServiceError::PreconditionRequired)?;
    if !patch.is_object() {
        return Err(ServiceError::PatchNotObject);
    }
    let now = now.naive_utc();
    single_write_tx(conn, |conn| {
        let visible = load_visible(conn, catalog, actor, case_id)?;
        visible.require_owner(actor)?;
        if visible.case.version != expected {
            return Err(ServiceError::VersionConflict {
                current: visible.case.version,
            });
        }
        visible.require_editable()?;
        let round = super::revision::open_round(conn, &visible)?;
        let Visible {
            case,
            workflow,
            owner,
            line,
        } = visible;
        let before: Value = serde_json::from_str(&case.form_data).map_err(|e| {
            crate::store::StoreError::Corrupt(format!("form of case {case_id}: {e}"))
        })?;
        let mut form = before.clone();
        json_patch::merge(&mut form, patch);
        if let Some(round) = &round {
            super::revision::check_form(round, &before, &form)?;
        }
        let errors = workflow.form.validate(&form, Mode::Draft);
        if !errors.is_empty() {
            return Err(ServiceError::InvalidForm(errors));
        }
        let form_text = form.to_string();
        let changed: Vec<String> = patch
            .as_object()
            .map(|m| m.keys().map(|k| format!("/{k}")).collect())
            .unwrap_or_default();
        let payload = json!({ "changed": changed });
        let change = Change {
            submitted: false,
            state: None,
            form_data: Some(form_text),
            kind: "case.form_saved",
            step: None,
            payload,
        };
        let case = apply_staged(
            conn,
            stage_change(&case, expected, change, Some(actor), now),
            &super::Extras::default(),
        )?;
        to_dto(
            &Visible {
                case,
                workflow,
                owner,
                line,
            },
            actor,
            now.and_utc(),
        )
    })
}
