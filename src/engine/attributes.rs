//! Case attributes: what a workflow classes its cases by (a support request's priority and
//! kind), declared in its YAML with their values. A state's norm may depend on one
//! (`sla_by`), and staff of the roles an attribute names (`set_by`) may change it. A case
//! stores only the values set (by an effect or by staff); the others come from its form
//! (`from_form`) or the attribute's default.

use super::definition::Sla;
use crate::domain::role::Role;
use marked_yaml::Spanned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// An attribute as written in YAML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttribute {
    pub name: Spanned<String>,
    pub label: String,
    /// Its values: code → Russian label.
    pub values: BTreeMap<String, String>,
    pub default: Spanned<String>,
    /// Until set, the value this form field's value maps to.
    #[serde(default)]
    pub from_form: Option<RawFromForm>,
    /// Who may change it.
    #[serde(default)]
    pub set_by: Vec<Spanned<String>>,
}

/// A value taken from the form, as written in YAML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFromForm {
    /// A JSON pointer into the form (`/category`).
    pub field: Spanned<String>,
    /// The field's value → the attribute's value.
    pub map: BTreeMap<String, String>,
}

/// A norm as written in YAML: exactly one of the units.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNorm {
    #[serde(default)]
    pub working_days: Option<u32>,
    #[serde(default)]
    pub working_hours: Option<u32>,
    #[serde(default)]
    pub working_minutes: Option<u32>,
}

impl RawNorm {
    /// The norm, if exactly one positive unit is given.
    pub fn norm(&self) -> Option<Sla> {
        match (self.working_days, self.working_hours, self.working_minutes) {
            (Some(d), None, None) if d > 0 => Some(Sla::WorkingDays(d)),
            (None, Some(h), None) if h > 0 => Some(Sla::WorkingMinutes(h.saturating_mul(60))),
            (None, None, Some(m)) if m > 0 => Some(Sla::WorkingMinutes(m)),
            _ => None,
        }
    }
}

/// A state's norms by an attribute, as written in YAML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlaBy {
    pub attribute: Spanned<String>,
    /// The attribute's value → the norm (other values: the state's own norm).
    pub norms: BTreeMap<String, RawNorm>,
}

/// A validated attribute.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attribute {
    /// Its code, e.g. `priority`.
    pub name: String,
    /// Russian label.
    pub label: String,
    /// Its values: code → Russian label.
    pub values: BTreeMap<String, String>,
    /// The value of a case that has none set and none from the form.
    pub default: String,
    /// Until set, the value a form field maps to.
    pub from_form: Option<FromForm>,
    /// Who may change it.
    pub set_by: Vec<Role>,
}

/// A value taken from the form.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FromForm {
    /// A JSON pointer into the form.
    pub field: String,
    /// The field's value → the attribute's value.
    pub map: BTreeMap<String, String>,
}

/// A state's norms by an attribute.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlaBy {
    /// The attribute.
    pub attribute: String,
    /// Its value → the norm.
    #[schema(value_type = Object)]
    pub norms: BTreeMap<String, Sla>,
}

/// The values a case has: the attribute's code → the value's code.
pub type Values = BTreeMap<String, String>;

/// Every attribute's value for a case whose row stores `stored` (a JSON object of the values
/// set) and whose form is `form`.
pub fn resolve(attributes: &[Attribute], stored: &str, form: &Value) -> Values {
    let stored: serde_json::Map<String, Value> = serde_json::from_str(stored).unwrap_or_default();
    attributes
        .iter()
        .map(|a| {
            let set = stored
                .get(&a.name)
                .and_then(Value::as_str)
                .filter(|v| a.values.contains_key(*v));
            let from_form = a.from_form.as_ref().and_then(|f| {
                let v = form.pointer(&f.field)?.as_str()?;
                f.map.get(v).map(String::as_str)
            });
            let value = set.or(from_form).unwrap_or(&a.default);
            (a.name.clone(), value.to_owned())
        })
        .collect()
}

/// `stored` with `changes` set, as the row keeps it.
pub fn merged(stored: &str, changes: &Values) -> String {
    let mut map: serde_json::Map<String, Value> = serde_json::from_str(stored).unwrap_or_default();
    for (k, v) in changes {
        map.insert(k.clone(), Value::String(v.clone()));
    }
    Value::Object(map).to_string()
}

/// A problem found in the declarations: where, what, its code and message.
pub(super) type Found<'a> = (&'a Spanned<String>, String, &'static str, String);

/// Checks the declared attributes: codes, values, default, form mapping and roles.
pub(super) fn check(raw: &[RawAttribute]) -> (Vec<Attribute>, Vec<Found<'_>>) {
    let mut found: Vec<Found<'_>> = Vec::new();
    let mut out: Vec<Attribute> = Vec::new();
    for a in raw {
        let item = format!("attribute {}", *a.name);
        if !super::validate::is_code(&a.name) || out.iter().any(|o| o.name == *a.name) {
            found.push((
                &a.name,
                item.clone(),
                "bad_attribute",
                "an attribute needs a snake_case latin name, declared once".into(),
            ));
        }
        if a.values.is_empty() || a.values.keys().any(|v| !super::validate::is_code(v)) {
            found.push((
                &a.name,
                item.clone(),
                "bad_attribute",
                "an attribute needs values with snake_case latin codes".into(),
            ));
        }
        if !a.values.contains_key(a.default.as_str()) {
            found.push((
                &a.default,
                item.clone(),
                "unknown_value",
                format!("default `{}` is not one of the values", *a.default),
            ));
        }
        if let Some(f) = &a.from_form
            && (!f.field.starts_with('/') || f.map.values().any(|v| !a.values.contains_key(v)))
        {
            found.push((
                &f.field,
                item.clone(),
                "unknown_value",
                "from_form needs a JSON pointer and maps only to the attribute's values".into(),
            ));
        }
        let mut set_by = Vec::new();
        for r in &a.set_by {
            match r.parse::<Role>() {
                Ok(role) => set_by.push(role),
                Err(_) => found.push((
                    r,
                    item.clone(),
                    "unknown_role",
                    format!("unknown role `{}`", **r),
                )),
            }
        }
        out.push(Attribute {
            name: a.name.to_string(),
            label: a.label.clone(),
            values: a.values.clone(),
            default: a.default.to_string(),
            from_form: a.from_form.as_ref().map(|f| FromForm {
                field: f.field.to_string(),
                map: f.map.clone(),
            }),
            set_by,
        });
    }
    (out, found)
}

/// Checks a state's norms by an attribute: a declared attribute, its values, one positive
/// unit each, and a norm of the state's own for the other values.
pub(super) fn check_sla_by<'a>(
    by: &'a RawSlaBy,
    attributes: &[Attribute],
    state: &str,
    has_own_norm: bool,
) -> (Option<SlaBy>, Vec<Found<'a>>) {
    let item = format!("state {state}");
    let mut found: Vec<Found<'a>> = Vec::new();
    let Some(a) = attributes.iter().find(|a| a.name == *by.attribute) else {
        found.push((
            &by.attribute,
            item,
            "unknown_attribute",
            format!("sla_by names an undeclared attribute `{}`", *by.attribute),
        ));
        return (None, found);
    };
    let mut norms = BTreeMap::new();
    for (value, raw) in &by.norms {
        match raw.norm() {
            Some(n) if a.values.contains_key(value) => {
                norms.insert(value.clone(), n);
            }
            _ => found.push((
                &by.attribute,
                item.clone(),
                "bad_norm",
                format!(
                    "sla_by `{value}`: a value of `{}` with exactly one positive unit (working_days, working_hours or working_minutes)",
                    a.name
                ),
            )),
        }
    }
    if !has_own_norm {
        found.push((
            &by.attribute,
            item,
            "timer_without_deadline",
            "sla_by needs the state's own sla_working_days or sla_working_hours for the other values".into(),
        ));
    }
    (
        Some(SlaBy {
            attribute: a.name.clone(),
            norms,
        }),
        found,
    )
}
