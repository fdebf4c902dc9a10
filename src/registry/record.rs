//! One register record as exported (a line of JSON Lines, `schemas/frmr-person.schema.json`),
//! parsed and checked before anything is written.

use crate::domain::{inn::Inn, ogrn::Ogrn, snils::Snils};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A place of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Employment {
    /// Organization id in the register.
    pub organization_id: String,
    /// OGRN of the organization.
    #[serde(default)]
    pub ogrn: Option<String>,
    /// INN of the organization.
    #[serde(default)]
    pub inn: Option<String>,
    /// Position.
    pub position: String,
    /// Specialty code.
    #[serde(default)]
    pub specialty_code: Option<String>,
    /// Start.
    #[serde(default)]
    pub start: Option<NaiveDate>,
    /// End (none while employed).
    #[serde(default)]
    pub end: Option<NaiveDate>,
}

/// A diploma, certificate or accreditation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Kind of document.
    pub kind: String,
    /// Specialty.
    #[serde(default)]
    pub specialty: Option<String>,
    /// Issued on.
    #[serde(default)]
    pub issued: Option<NaiveDate>,
    /// Valid until.
    #[serde(default)]
    pub valid_until: Option<NaiveDate>,
}

/// A person as the register exports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterPerson {
    /// Id in the register.
    pub register_id: String,
    /// SNILS (checked, stored as 11 digits).
    pub snils: String,
    /// Last name.
    pub last_name: String,
    /// First name.
    pub first_name: String,
    /// Middle name.
    #[serde(default)]
    pub middle_name: Option<String>,
    /// Birth date.
    pub birth_date: NaiveDate,
    /// Personal INN.
    #[serde(default)]
    pub inn: Option<String>,
    /// `male` or `female`.
    #[serde(default)]
    pub gender: Option<String>,
    /// When the register last changed the record.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Places of work.
    #[serde(default)]
    pub employments: Vec<Employment>,
    /// Education.
    #[serde(default)]
    pub educations: Vec<Document>,
    /// Accreditations and certificates.
    #[serde(default)]
    pub accreditations: Vec<Document>,
}

/// Why a record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// 1-based line in the file.
    pub line: u64,
    /// Stable code.
    pub code: &'static str,
    /// What is wrong.
    pub reason: String,
}

fn reject(line: u64, code: &'static str, reason: impl Into<String>) -> Rejection {
    Rejection {
        line,
        code,
        reason: reason.into(),
    }
}

impl RegisterPerson {
    /// Parses and checks one line; identifiers come back normalised.
    pub fn parse_line(line: u64, text: &str) -> Result<Self, Rejection> {
        let p: RegisterPerson = serde_json::from_str(text).map_err(|e| {
            let code = if e.is_data() {
                "invalid_record"
            } else {
                "unparseable_line"
            };
            reject(line, code, e.to_string())
        })?;
        p.check(line)
    }

    /// Checks one record already read as JSON (a page item of the register API).
    pub fn from_value(line: u64, value: serde_json::Value) -> Result<Self, Rejection> {
        let p: RegisterPerson = serde_json::from_value(value)
            .map_err(|e| reject(line, "invalid_record", e.to_string()))?;
        p.check(line)
    }

    /// Checks required fields and identifiers; identifiers come back normalised.
    pub fn check(mut self, line: u64) -> Result<Self, Rejection> {
        let p = &mut self;
        for (name, value) in [
            ("register_id", &p.register_id),
            ("last_name", &p.last_name),
            ("first_name", &p.first_name),
        ] {
            if value.trim().is_empty() {
                return Err(reject(line, "missing_field", format!("{name} is empty")));
            }
        }
        p.snils = Snils::parse(&p.snils)
            .map_err(|e| reject(line, "invalid_snils", format!("snils {}: {e}", p.snils)))?
            .digits()
            .to_owned();
        if let Some(inn) = &p.inn {
            let parsed = Inn::parse(inn)
                .map_err(|e| reject(line, "invalid_inn", format!("inn {inn}: {e}")))?;
            if !parsed.is_individual() {
                return Err(reject(
                    line,
                    "invalid_inn",
                    format!("inn {inn}: a person's INN has 12 digits"),
                ));
            }
        }
        for (i, e) in p.employments.iter().enumerate() {
            if let Some(ogrn) = &e.ogrn {
                Ogrn::parse(ogrn).map_err(|err| {
                    reject(
                        line,
                        "invalid_ogrn",
                        format!("employments[{i}].ogrn {ogrn}: {err}"),
                    )
                })?;
            }
            if let Some(inn) = &e.inn {
                Inn::parse(inn).map_err(|err| {
                    reject(
                        line,
                        "invalid_inn",
                        format!("employments[{i}].inn {inn}: {err}"),
                    )
                })?;
            }
        }
        Ok(self)
    }

    /// Hash of the record's content: equal hashes mean nothing changed.
    pub fn content_hash(&self) -> String {
        self.content_hash_with(
            &list_json(&self.employments),
            &list_json(&self.educations),
            &list_json(&self.accreditations),
        )
    }

    /// [`Self::content_hash`] given the three lists already serialized (as they are stored):
    /// SHA-256 over every field, each marked present or absent and separated, so that no two
    /// different records hash alike.
    pub fn content_hash_with(
        &self,
        employments: &str,
        educations: &str,
        accreditations: &str,
    ) -> String {
        let mut h = Sha256::new();
        let mut field = |v: Option<&str>| {
            match v {
                Some(text) => {
                    h.update([1]);
                    h.update(text.as_bytes());
                }
                None => h.update([0]),
            }
            h.update([0x1f]);
        };
        let birth = self.birth_date.to_string();
        let updated = self.updated_at.map(|t| t.to_rfc3339());
        field(Some(&self.register_id));
        field(Some(&self.snils));
        field(Some(&self.last_name));
        field(Some(&self.first_name));
        field(self.middle_name.as_deref());
        field(Some(&birth));
        field(self.inn.as_deref());
        field(self.gender.as_deref());
        field(updated.as_deref());
        field(Some(employments));
        field(Some(educations));
        field(Some(accreditations));
        hex::encode(h.finalize())
    }
}

/// A list of employments or documents as it is stored and hashed (JSON).
pub fn list_json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// The columns of a CSV export, in order (the README documents them).
pub const CSV_HEADER: [&str; 12] = [
    "register_id",
    "snils",
    "last_name",
    "first_name",
    "middle_name",
    "birth_date",
    "inn",
    "gender",
    "updated_at",
    "employments",
    "educations",
    "accreditations",
];

/// A row of a CSV export: the person's fields flat, and the three lists as JSON arrays in
/// their cells (empty for none).
#[derive(Debug, Deserialize)]
pub struct CsvPerson {
    register_id: String,
    snils: String,
    last_name: String,
    first_name: String,
    middle_name: Option<String>,
    birth_date: String,
    inn: Option<String>,
    gender: Option<String>,
    updated_at: Option<String>,
    employments: Option<String>,
    educations: Option<String>,
    accreditations: Option<String>,
}

impl CsvPerson {
    /// Checks the row as a register record.
    pub fn into_person(self, line: u64) -> Result<RegisterPerson, Rejection> {
        let list = |name: &str, cell: Option<String>| match cell {
            None => Ok(serde_json::Value::Array(Vec::new())),
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| reject(line, "invalid_record", format!("{name}: {e}"))),
        };
        let value = serde_json::json!({
            "register_id": self.register_id,
            "snils": self.snils,
            "last_name": self.last_name,
            "first_name": self.first_name,
            "middle_name": self.middle_name,
            "birth_date": self.birth_date,
            "inn": self.inn,
            "gender": self.gender,
            "updated_at": self.updated_at,
            "employments": list("employments", self.employments)?,
            "educations": list("educations", self.educations)?,
            "accreditations": list("accreditations", self.accreditations)?,
        });
        RegisterPerson::from_value(line, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"register_id":"r1","snils":"112-233-445 95","last_name":"Иванова","first_name":"Мария","birth_date":"1985-04-12","inn":"500100732259","employments":[{"organization_id":"o1","ogrn":"1027700132195","position":"Врач-терапевт"}]}"#;

    #[test]
    fn good_record_parses_with_normalised_snils() {
        let p = RegisterPerson::parse_line(1, GOOD).expect("good");
        assert_eq!(p.snils, "11223344595");
        assert_eq!(
            p.content_hash(),
            RegisterPerson::parse_line(2, GOOD)
                .expect("same")
                .content_hash()
        );
    }

    #[test]
    fn each_bad_record_is_rejected_with_line_and_code() {
        let cases = [
            ("{not json", "unparseable_line"),
            (
                r#"{"register_id":"r1","snils":"112-233-445 95","first_name":"М","birth_date":"1985-04-12"}"#,
                "invalid_record",
            ),
            (&GOOD.replace("445 95", "445 96"), "invalid_snils"),
            (&GOOD.replace("500100732259", "500100732258"), "invalid_inn"),
            (&GOOD.replace("500100732259", "7707329152"), "invalid_inn"),
            (&GOOD.replace("1985-04-12", "1985-02-30"), "invalid_record"),
            (
                &GOOD.replace("1027700132195", "1027700132196"),
                "invalid_ogrn",
            ),
            (&GOOD.replace("\"Иванова\"", "\"  \""), "missing_field"),
        ];
        for (text, code) in cases {
            let err = RegisterPerson::parse_line(7, text).expect_err(text);
            assert_eq!((err.line, err.code), (7, code), "{text}: {}", err.reason);
        }
    }
}
