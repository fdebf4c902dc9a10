//! Cross-check of a person from the identity provider against their register record: matched
//! by SNILS (the lookup), then last, first and middle name (case, ё/е, spaces and hyphens
//! normalised), birth date and INN compared field by field.

use chrono::NaiveDate;
use serde::Serialize;

/// What we know about the person from the identity provider (or the form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Last name.
    pub last_name: String,
    /// First name.
    pub first_name: String,
    /// Middle name, if any.
    pub middle_name: Option<String>,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// INN, if known.
    pub inn: Option<String>,
}

/// The same fields of the register record found by SNILS.
pub type RegisterRecord = Person;

/// One field that differs, with both values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Difference {
    /// Field code: `last_name`, `first_name`, `middle_name`, `birth_date`, `inn`.
    pub field: &'static str,
    /// Russian name of the field.
    pub label: &'static str,
    /// Our value (from Gosuslugi or the form).
    pub ours: Option<String>,
    /// The register's value.
    pub register: Option<String>,
}

/// The result of the cross-check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Everything agrees.
    Match,
    /// No register record with this SNILS.
    NotFound,
    /// A record exists but some fields differ.
    Discrepancy {
        /// Each differing field with both values.
        differences: Vec<Difference>,
    },
    /// The identity provider gave no SNILS, name or birth date to check with.
    NoIdentity,
}

impl Outcome {
    /// Stable code for programs.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Match => "registry_match",
            Outcome::NotFound => "registry_not_found",
            Outcome::Discrepancy { .. } => "registry_discrepancy",
            Outcome::NoIdentity => "registry_no_identity",
        }
    }

    /// What to tell the person, in Russian.
    pub fn message(&self) -> String {
        match self {
            Outcome::Match => "Ваши данные совпадают со сведениями Федерального регистра медицинских работников".into(),
            Outcome::NoIdentity => "Госуслуги не передали СНИЛС, ФИО или дату рождения, поэтому сверить вас с Федеральным регистром медицинских работников нельзя: \
                проверьте, что эти сведения подтверждены в вашей учётной записи на Госуслугах, и войдите в кабинет заново"
                .into(),
            Outcome::NotFound => "Вас нет в Федеральном регистре медицинских работников (ФРМР). Сведения в регистр вносит работодатель: \
                обратитесь в отдел кадров вашей медицинской организации, попросите внести или обновить запись о вас в ФРМР \
                (СНИЛС, ФИО, дата рождения, образование, должность), а после её появления в регистре повторите проверку"
                .into(),
            Outcome::Discrepancy { differences } => {
                let fields: Vec<String> = differences
                    .iter()
                    .map(|d| {
                        format!(
                            "{}: у нас «{}», в ФРМР «{}»",
                            d.label,
                            d.ours.as_deref().unwrap_or("—"),
                            d.register.as_deref().unwrap_or("—")
                        )
                    })
                    .collect();
                format!(
                    "Данные не совпадают с Федеральным регистром медицинских работников — {}. Исправьте данные на Госуслугах или попросите отдел кадров работодателя исправить запись в ФРМР",
                    fields.join("; ")
                )
            }
        }
    }
}

pub use crate::domain::person_name::normalize_name;
use crate::domain::person_name::same_name;

/// Compares a person with the register record found by their SNILS (`None`: not found).
pub fn cross_check(person: &Person, record: Option<&RegisterRecord>) -> Outcome {
    let Some(record) = record else {
        return Outcome::NotFound;
    };
    let mut differences = Vec::new();
    let mut name = |field, label, ours: Option<&str>, theirs: Option<&str>| {
        if !same_name(ours, theirs) {
            differences.push(Difference {
                field,
                label,
                ours: ours.map(str::to_owned),
                register: theirs.map(str::to_owned),
            });
        }
    };
    name(
        "last_name",
        "Фамилия",
        Some(&person.last_name),
        Some(&record.last_name),
    );
    name(
        "first_name",
        "Имя",
        Some(&person.first_name),
        Some(&record.first_name),
    );
    name(
        "middle_name",
        "Отчество",
        person.middle_name.as_deref(),
        record.middle_name.as_deref(),
    );
    if person.birth_date != record.birth_date {
        differences.push(Difference {
            field: "birth_date",
            label: "Дата рождения",
            ours: person.birth_date.map(|d| d.format("%d.%m.%Y").to_string()),
            register: record.birth_date.map(|d| d.format("%d.%m.%Y").to_string()),
        });
    }
    // INN is compared only when both sides have it: many register records carry none.
    if let (Some(ours), Some(theirs)) = (&person.inn, &record.inn)
        && ours.trim() != theirs.trim()
    {
        differences.push(Difference {
            field: "inn",
            label: "ИНН",
            ours: Some(ours.clone()),
            register: Some(theirs.clone()),
        });
    }
    if differences.is_empty() {
        Outcome::Match
    } else {
        Outcome::Discrepancy { differences }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> Person {
        Person {
            last_name: "Королёва-Смит".into(),
            first_name: "Мария".into(),
            middle_name: Some("Петровна".into()),
            birth_date: NaiveDate::from_ymd_opt(1985, 4, 12),
            inn: Some("500100732259".into()),
        }
    }

    #[test]
    fn normalisation_ignores_case_yo_spaces_and_hyphens() {
        let mut record = person();
        record.last_name = "КОРОЛЕВА СМИТ".into();
        record.first_name = " мария ".into();
        assert_eq!(cross_check(&person(), Some(&record)), Outcome::Match);
        assert_eq!(normalize_name("Ёлкина–Петрова"), "елкинапетрова");
    }

    #[test]
    fn not_found_explains_how_to_get_into_the_register() {
        let outcome = cross_check(&person(), None);
        assert_eq!(outcome.code(), "registry_not_found");
        assert!(outcome.message().contains("отдел кадров"));
    }

    #[test]
    fn each_differing_field_is_named_with_both_values() {
        let mut record = person();
        record.first_name = "Марина".into();
        record.birth_date = NaiveDate::from_ymd_opt(1985, 4, 21);
        record.inn = Some("773370857141".into());
        record.middle_name = None;
        let Outcome::Discrepancy { differences } = cross_check(&person(), Some(&record)) else {
            unreachable!("fields differ");
        };
        let fields: Vec<_> = differences.iter().map(|d| d.field).collect();
        assert_eq!(fields, ["first_name", "middle_name", "birth_date", "inn"]);
        assert_eq!(differences[2].ours.as_deref(), Some("12.04.1985"));
        assert_eq!(differences[2].register.as_deref(), Some("21.04.1985"));
        let message = cross_check(&person(), Some(&record)).message();
        assert!(
            message.contains("Имя: у нас «Мария», в ФРМР «Марина»"),
            "{message}"
        );
    }

    #[test]
    fn inn_is_compared_only_when_both_have_it() {
        let mut record = person();
        record.inn = None;
        assert_eq!(cross_check(&person(), Some(&record)), Outcome::Match);
    }
}
