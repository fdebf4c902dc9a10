//! A new draft starts with what accredo already knows about the applicant: name, SNILS, birth
//! date and INN from the identity provider (the profile of their last login) and the current
//! place of work from the register (ФРМР). The case says which field came from where.

use crate::domain::snils::Snils;
use crate::registry::record::Employment;
use crate::store::{DbConnection, profiles, registry};
use diesel::QueryResult;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The source code of fields from the identity provider (Госуслуги / ЕСИА).
pub const FROM_PROVIDER: &str = "esia";
/// The source code of fields from the register of medical workers.
pub const FROM_REGISTER: &str = "frmr";

/// A prefilled form and the source of each field in it (by JSON pointer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prefill {
    /// The form.
    pub form: Value,
    /// `/applicant/last_name` → `esia`, …
    pub sources: BTreeMap<String, &'static str>,
}

/// Whether the form schema declares the field at `pointer` (`/a/b` → `properties.a.properties.b`).
fn declares(schema: &Value, pointer: &str) -> bool {
    let path: String = pointer
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| format!("/properties/{p}"))
        .collect();
    schema.pointer(&path).is_some()
}

impl Prefill {
    fn set(&mut self, schema: &Value, pointer: &str, value: Option<String>, source: &'static str) {
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
            return;
        };
        if !declares(schema, pointer) {
            return;
        }
        let mut parts = pointer.split('/').filter(|p| !p.is_empty()).peekable();
        let mut node = &mut self.form;
        while let Some(part) = parts.next() {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            let Value::Object(map) = node else { return };
            if parts.peek().is_none() {
                map.insert(part.to_owned(), Value::String(value));
                break;
            }
            node = map.entry(part.to_owned()).or_insert_with(|| json!({}));
        }
        self.sources.insert(pointer.to_owned(), source);
    }
}

/// The current place of work: no end date, the latest start first.
fn current_employment(employments: &str) -> Option<Employment> {
    let mut all: Vec<Employment> = serde_json::from_str(employments).ok()?;
    all.retain(|e| e.end.is_none());
    all.sort_by_key(|e| std::cmp::Reverse(e.start));
    all.into_iter().next()
}

/// What a new draft of a workflow with form schema `schema` starts with for `owner_id`.
pub fn for_applicant(
    conn: &mut DbConnection,
    owner_id: &str,
    schema: &Value,
) -> QueryResult<Prefill> {
    let mut out = Prefill {
        form: json!({}),
        sources: BTreeMap::new(),
    };
    let Some(p) = profiles::find(conn, owner_id)? else {
        return Ok(out);
    };
    let snils = p.snils.as_deref().and_then(|s| Snils::parse(s).ok());
    out.set(
        schema,
        "/applicant/last_name",
        p.last_name.clone(),
        FROM_PROVIDER,
    );
    out.set(
        schema,
        "/applicant/first_name",
        p.first_name.clone(),
        FROM_PROVIDER,
    );
    out.set(
        schema,
        "/applicant/middle_name",
        p.middle_name.clone(),
        FROM_PROVIDER,
    );
    out.set(
        schema,
        "/applicant/birth_date",
        p.birth_date.map(|d| d.format("%Y-%m-%d").to_string()),
        FROM_PROVIDER,
    );
    out.set(
        schema,
        "/applicant/snils",
        snils.as_ref().map(ToString::to_string),
        FROM_PROVIDER,
    );
    out.set(schema, "/applicant/inn", p.inn.clone(), FROM_PROVIDER);
    if let Some(s) = &snils
        && let Some(record) = registry::by_snils(conn, s.digits())?
        && record.removed_at.is_none()
        && let Some(job) = current_employment(&record.employments)
    {
        out.set(
            schema,
            "/employment/position",
            Some(job.position),
            FROM_REGISTER,
        );
        out.set(
            schema,
            "/employment/organization_inn",
            job.inn,
            FROM_REGISTER,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_fields_are_set_and_each_names_its_source() {
        let schema = json!({"properties": {"applicant": {"properties": {"last_name": {}}}}});
        let mut p = Prefill {
            form: json!({}),
            sources: BTreeMap::new(),
        };
        p.set(
            &schema,
            "/applicant/last_name",
            Some("Иванова".into()),
            FROM_PROVIDER,
        );
        p.set(
            &schema,
            "/employment/position",
            Some("Врач".into()),
            FROM_REGISTER,
        );
        p.set(&schema, "/applicant/last_name", None, FROM_REGISTER);
        assert_eq!(p.form, json!({"applicant": {"last_name": "Иванова"}}));
        assert_eq!(
            p.sources.into_iter().collect::<Vec<_>>(),
            [("/applicant/last_name".to_owned(), "esia")]
        );
    }
}
