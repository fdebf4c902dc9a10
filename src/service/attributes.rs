//! Changing a case's attributes (`PUT /api/v1/cases/{id}/attributes`): staff of the roles an
//! attribute's `set_by` names class a case they see (a support agent marks a request urgent, or
//! a complex incident). One audited change (`case.attributes_changed`, with each value before
//! and after and the reason); when the current state's norm depends on a changed attribute,
//! the step is planned anew from its start and its deadline and warning timers are replaced in
//! the same commit.

use super::access::load_visible;
use super::cases::{CaseDto, to_dto};
use super::{Change, Extras, RefusalKind, Rules, ServiceError, apply_staged, stage_change};
use crate::engine::Actor;
use crate::engine::attributes::{Values, merged, resolve};
use crate::store::{DbConnection, StoreError, single_write_tx};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Sets `values` on the case, read by the caller at version `expected`.
pub fn set(
    conn: &mut DbConnection,
    rules: Rules<'_>,
    actor: &Actor,
    (case_id, expected): (&str, Option<i64>),
    values: &Values,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CaseDto, ServiceError> {
    let expected = expected.ok_or(ServiceError::PreconditionRequired)?;
    let calendar = super::calendar::load(conn, rules.signing.intake)?;
    single_write_tx(conn, |conn| {
        let v = load_visible(conn, rules.catalog, actor, case_id)?;
        if v.case.version != expected {
            return Err(ServiceError::VersionConflict {
                current: v.case.version,
            });
        }
        let def = &v.workflow.definition;
        if values.is_empty() {
            return Err(ServiceError::refused(
                RefusalKind::Invalid,
                "no_attributes",
                "Укажите хотя бы один признак и его значение",
            ));
        }
        for (name, value) in values {
            let field = format!("/attributes/{name}");
            let Some(a) = def.attribute(name) else {
                return Err(ServiceError::invalid_field(
                    "unknown_attribute",
                    format!("У дел «{}» нет признака «{name}»", def.title),
                    &field,
                    "Такого признака нет",
                ));
            };
            if !a.values.contains_key(value) {
                let allowed = a.values.keys().cloned().collect::<Vec<_>>().join(", ");
                return Err(ServiceError::invalid_field(
                    "unknown_value",
                    format!("Признак «{}» принимает значения: {allowed}", a.label),
                    &field,
                    format!("Допустимые значения: {allowed}"),
                ));
            }
            if !a.set_by.iter().any(|r| actor.has(*r)) {
                return Err(ServiceError::refused(
                    RefusalKind::Forbidden,
                    "attribute_forbidden",
                    format!("Менять признак «{}» вам не разрешено", a.label),
                ));
            }
        }
        if def.state(&v.case.state).is_some_and(|s| s.r#final) {
            return Err(ServiceError::refused(
                RefusalKind::Conflict,
                "case_closed",
                "Дело завершено: его признаки больше не меняются",
            ));
        }
        let form: Value = serde_json::from_str(&v.case.form_data)
            .map_err(|e| StoreError::Corrupt(format!("form of case {}: {e}", v.case.id)))?;
        let before = resolve(&def.attributes, &v.case.attributes, &form);
        let stored = merged(&v.case.attributes, values);
        let after = resolve(&def.attributes, &stored, &form);
        let changed: serde_json::Map<String, Value> = after
            .iter()
            .filter(|(k, now)| before.get(*k) != Some(now))
            .map(|(k, to)| (k.clone(), json!({"from": before.get(k), "to": to})))
            .collect();
        if changed.is_empty() {
            return to_dto(&v, actor, now);
        }
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let mut payload = json!({"attributes": changed, "reason": reason});
        let mut extras = Extras::default();
        // The current step's norm, if it depends on what changed: planned anew from its start.
        let state = def.state(&v.case.state);
        let replans = state
            .and_then(|s| s.sla_by.as_ref())
            .is_some_and(|by| changed.contains_key(&by.attribute));
        let step = match v.case.step_started_at {
            Some(started) if replans && v.case.due_on.is_some() => {
                let start = crate::domain::calendar::Dated {
                    value: started.and_utc(),
                    provisional: false,
                };
                let step = super::transition::plan_step(
                    &calendar,
                    def.norm_of(&v.case.state, &after),
                    start,
                );
                extras.cancel = vec!["step", "warning"];
                extras.timers = super::effects::start_timer::step_timers(
                    def,
                    &v.case.state,
                    &v.case.id,
                    (&step, start.value),
                    &calendar,
                    now,
                );
                payload["step"] = json!({
                    "due_on": step.due.map(|(d, _)| d),
                    "due_at": step.due_at.map(|t| t.and_utc()),
                });
                Some(step)
            }
            _ => None,
        };
        let change = Change {
            state: None,
            form_data: None,
            submitted: false,
            kind: "case.attributes_changed",
            payload,
            step,
        };
        let mut staged = stage_change(
            &v.case,
            v.case.version,
            change,
            Some(actor),
            now.naive_utc(),
        );
        staged.next.attributes = stored;
        let next = apply_staged(conn, staged, &extras)?;
        to_dto(&v.with(next), actor, now)
    })
}
