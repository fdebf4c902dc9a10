//! What a provider says about a person, gathered from wherever it says it: the ID token, then
//! the userinfo endpoint, then an ESIA-style persons endpoint. Standard providers release
//! profile claims only at userinfo and only under named scopes; ESIA keeps them behind its
//! persons endpoint.

use super::oidc::Identity;
use openidconnect::{EndUserBirthday, LocalizedClaim};
use serde_json::Value;
use std::collections::BTreeMap;

/// Claims found so far; `None` means "not said yet" and is filled by a later source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// The person id under the configured claim (`sub` or e.g. `urn:esia:sbj_id`).
    pub subject: Option<String>,
    /// The confirmed-account flag.
    pub trusted: Option<bool>,
    /// Last name.
    pub last_name: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Middle name.
    pub middle_name: Option<String>,
    /// Birth date, ISO `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// SNILS as given.
    pub snils: Option<String>,
    /// INN as given.
    pub inn: Option<String>,
}

/// How to read the claims: which claim holds the person id and which the confirmed flag.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// `sub` or the name of the claim with the person id.
    pub subject_claim: &'a str,
    /// Claims that may hold the confirmed-account flag, first present wins.
    pub trusted_claims: &'a [String],
}

/// The standard claims of an ID token or a userinfo answer, as their accessors give them.
#[derive(Debug, Clone, Copy)]
pub struct Standard<'a> {
    /// `sub`.
    pub sub: &'a str,
    /// `family_name`.
    pub family_name: Option<&'a LocalizedClaim<openidconnect::EndUserFamilyName>>,
    /// `given_name`.
    pub given_name: Option<&'a LocalizedClaim<openidconnect::EndUserGivenName>>,
    /// `middle_name`.
    pub middle_name: Option<&'a LocalizedClaim<openidconnect::EndUserMiddleName>>,
    /// `birthdate`.
    pub birthdate: Option<&'a EndUserBirthday>,
}

fn text(extra: &BTreeMap<String, Value>, k: &str) -> Option<String> {
    extra
        .get(k)
        .and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        })
        .filter(|s| !s.is_empty())
}

fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(s == "true"),
        _ => None,
    }
}

impl Found {
    /// What one source (ID token or userinfo) says.
    pub fn from_claims(
        names: Names<'_>,
        std: Standard<'_>,
        extra: &BTreeMap<String, Value>,
    ) -> Self {
        let subject = if names.subject_claim == "sub" {
            Some(std.sub.to_owned()).filter(|s| !s.is_empty())
        } else {
            text(extra, names.subject_claim)
        };
        Self {
            subject,
            trusted: names
                .trusted_claims
                .iter()
                .find_map(|k| extra.get(k).and_then(flag)),
            last_name: std
                .family_name
                .and_then(|c| c.get(None))
                .map(|v| v.as_str().to_owned()),
            first_name: std
                .given_name
                .and_then(|c| c.get(None))
                .map(|v| v.as_str().to_owned()),
            middle_name: std
                .middle_name
                .and_then(|c| c.get(None))
                .map(|v| v.as_str().to_owned()),
            birth_date: std.birthdate.map(|b| b.as_str().to_owned()),
            snils: text(extra, "snils"),
            inn: text(extra, "inn"),
        }
    }

    /// What an ESIA-style persons endpoint (`/rs/prns/{oid}`) answered.
    pub fn from_persons(p: &Value) -> Self {
        let s = |k: &str| {
            p.get(k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Self {
            subject: None,
            trusted: p.get("trusted").and_then(Value::as_bool),
            last_name: s("lastName"),
            first_name: s("firstName"),
            middle_name: s("middleName"),
            birth_date: s("birthDate")
                .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%d.%m.%Y").ok())
                .map(|d| d.format("%Y-%m-%d").to_string()),
            snils: s("snils"),
            inn: s("inn"),
        }
    }

    /// Whether a claim accredo needs is still missing.
    pub fn incomplete(&self) -> bool {
        self.subject.is_none()
            || self.trusted.is_none()
            || self.last_name.is_none()
            || self.first_name.is_none()
            || self.birth_date.is_none()
            || self.snils.is_none()
            || self.inn.is_none()
    }

    /// Whether what a login cannot go without (the person id and the confirmed flag) is
    /// still missing; the rest (names, SNILS, INN) only makes the profile poorer.
    pub fn lacks_essentials(&self) -> bool {
        self.subject.is_none() || self.trusted.is_none()
    }

    /// Fills what is still missing from `later`; what an earlier source said stays.
    pub fn fill(&mut self, later: Found) {
        let Found {
            subject,
            trusted,
            last_name,
            first_name,
            middle_name,
            birth_date,
            snils,
            inn,
        } = later;
        self.subject = self.subject.take().or(subject);
        self.trusted = self.trusted.or(trusted);
        self.last_name = self.last_name.take().or(last_name);
        self.first_name = self.first_name.take().or(first_name);
        self.middle_name = self.middle_name.take().or(middle_name);
        self.birth_date = self.birth_date.take().or(birth_date);
        self.snils = self.snils.take().or(snils);
        self.inn = self.inn.take().or(inn);
    }

    /// The person, if the provider named them; an unsaid confirmed flag means "not confirmed".
    pub fn into_identity(self) -> Option<Identity> {
        Some(Identity {
            subject: self.subject?,
            trusted: self.trusted.unwrap_or(false),
            last_name: self.last_name,
            first_name: self.first_name,
            middle_name: self.middle_name,
            birth_date: self.birth_date,
            snils: self.snils,
            inn: self.inn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_later_source_fills_only_what_is_missing() {
        let mut found = Found {
            subject: Some("42".into()),
            last_name: Some("Иванова".into()),
            ..Found::default()
        };
        assert!(found.incomplete());
        found.fill(Found::from_persons(&json!({
            "lastName": "Петрова", "firstName": "Мария", "birthDate": "12.04.1985",
            "snils": "112-233-445 95", "inn": "500100732259", "trusted": true,
        })));
        assert_eq!(
            found.last_name.as_deref(),
            Some("Иванова"),
            "the ID token's name stays"
        );
        assert_eq!(found.first_name.as_deref(), Some("Мария"));
        assert_eq!(found.birth_date.as_deref(), Some("1985-04-12"));
        assert_eq!(found.inn.as_deref(), Some("500100732259"));
        assert!(!found.incomplete());
        let person = found.into_identity();
        assert_eq!(
            person.map(|p| (p.subject, p.trusted)),
            Some(("42".into(), true))
        );
    }
}
