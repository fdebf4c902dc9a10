//! The applicant block of a form against the person who logged in: an application is filed
//! under the applicant's own name, SNILS and birth date, as the identity provider gave them
//! (and INN, when the provider gave one). Only the signature's SNILS was compared before, so
//! anyone could file under another's name.

use super::form::FieldError;
use crate::domain::inn::Inn;
use crate::domain::person_name::same_name;
use crate::domain::snils::Snils;
use chrono::NaiveDate;
use serde_json::Value;

/// Who the applicant is, as their login says (each part only if the provider said it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// SNILS, 11 digits.
    pub snils: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Middle name.
    pub middle_name: Option<String>,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// INN.
    pub inn: Option<String>,
}

fn field(form: &Value, name: &str) -> Option<String> {
    form.pointer(&format!("/applicant/{name}"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn mismatch(name: &str, label: &str, ours: &str, theirs: &str) -> FieldError {
    FieldError {
        field: format!("/applicant/{name}"),
        code: "applicant_mismatch".into(),
        message: format!(
            "{label} в заявлении («{ours}») не совпадает с данными вашей учётной записи Госуслуг \
             («{theirs}»): исправьте заявление или обновите данные на Госуслугах"
        ),
    }
}

/// Each field of the form's applicant block that differs from the login identity. A field the
/// form leaves empty is the form's completeness rule's business, except a middle name the
/// identity has; INN is compared only when both have one.
pub fn mismatches(form: &Value, who: &Identity) -> Vec<FieldError> {
    let mut out = Vec::new();
    if let (Some(theirs), Some(ours)) = (&who.snils, field(form, "snils"))
        && Snils::parse(&ours)
            .map(|s| s.digits().to_owned())
            .as_deref()
            != Ok(theirs.as_str())
    {
        let shown = Snils::parse(theirs).map_or_else(|_| theirs.clone(), |s| s.to_string());
        out.push(mismatch("snils", "СНИЛС", &ours, &shown));
    }
    for (name, label, theirs) in [
        ("last_name", "Фамилия", &who.last_name),
        ("first_name", "Имя", &who.first_name),
        ("middle_name", "Отчество", &who.middle_name),
    ] {
        let Some(theirs) = theirs.as_deref().filter(|t| !t.trim().is_empty()) else {
            continue;
        };
        let ours = field(form, name);
        if (ours.is_some() || name == "middle_name") && !same_name(ours.as_deref(), Some(theirs)) {
            out.push(mismatch(
                name,
                label,
                ours.as_deref().unwrap_or("не указано"),
                theirs,
            ));
        }
    }
    if let (Some(theirs), Some(ours)) = (who.birth_date, field(form, "birth_date"))
        && NaiveDate::parse_from_str(&ours, "%Y-%m-%d").ok() != Some(theirs)
    {
        out.push(mismatch(
            "birth_date",
            "Дата рождения",
            &ours,
            &theirs.format("%d.%m.%Y").to_string(),
        ));
    }
    if let (Some(theirs), Some(ours)) = (&who.inn, field(form, "inn"))
        && Inn::parse(&ours).map(|i| i.as_str().to_owned()).as_deref() != Ok(theirs.as_str())
    {
        out.push(mismatch("inn", "ИНН", &ours, theirs));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn maria() -> Identity {
        Identity {
            snils: Some("11223344595".into()),
            last_name: Some("Иванова".into()),
            first_name: Some("Мария".into()),
            middle_name: Some("Петровна".into()),
            birth_date: NaiveDate::from_ymd_opt(1985, 4, 12),
            inn: Some("500100732259".into()),
        }
    }

    #[test]
    fn the_same_person_written_differently_matches() {
        let form = json!({"applicant": {
            "last_name": "ИВАНОВА", "first_name": "мария", "middle_name": "Пётровна",
            "snils": "112 233 445 95", "birth_date": "1985-04-12", "inn": "500100732259",
        }});
        assert_eq!(mismatches(&form, &maria()), vec![]);
    }

    #[test]
    fn each_differing_field_is_named() {
        let form = json!({"applicant": {
            "last_name": "Петрова", "first_name": "Мария",
            "snils": "087-654-303 00", "birth_date": "1986-04-12", "inn": "7707083893",
        }});
        let fields: Vec<String> = mismatches(&form, &maria())
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "/applicant/snils",
                "/applicant/last_name",
                "/applicant/middle_name",
                "/applicant/birth_date",
                "/applicant/inn"
            ]
        );
        assert_eq!(
            mismatches(&json!({"applicant": {}}), &maria()).len(),
            1,
            "an empty block is incomplete, not mismatched, but for the middle name"
        );
    }
}
