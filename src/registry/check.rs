//! The register cross-check where it is used: at login (the result is kept on the person's
//! profile and shown in the cabinet), as the `registry_match` guard of submission (kept on the
//! case and audited), and again, after every sync, for profiles and cases still waiting on a
//! mismatch.

use super::cross_check::{Outcome, Person, cross_check};
use crate::audit::{self, Entry};
use crate::domain::clock::Clock;
use crate::domain::person::Identity;
use crate::domain::snils::Snils;
use crate::store::profiles::{self, CaseCheckRow, ProfileRow};
use crate::store::registry as rows;
use crate::store::{DbConnection, StoreError, write_tx};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::QueryResult;
use serde_json::json;

/// A check's outcome and the register record it was made against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Match, not found, discrepancy, or nothing to check with.
    pub outcome: Outcome,
    /// The register record found by SNILS (not removed).
    pub register_id: Option<String>,
}

impl Checked {
    /// The outcome as stored (JSON, with its Russian message).
    pub fn detail(&self) -> String {
        let mut value = serde_json::to_value(&self.outcome).unwrap_or_default();
        value["message"] = json!(self.outcome.message());
        value.to_string()
    }

    /// Codes of the fields that differ (for the audit log, which keeps no values).
    pub fn fields(&self) -> Vec<&'static str> {
        match &self.outcome {
            Outcome::Discrepancy { differences } => differences.iter().map(|d| d.field).collect(),
            _ => Vec::new(),
        }
    }
}

/// A birth date as ESIA sends it (`DD.MM.YYYY`) or in ISO form.
fn birth_date(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%d.%m.%Y"))
        .ok()
}

/// Compares a profile with the register record of its SNILS.
pub fn check_profile(
    conn: &mut DbConnection,
    profile: Option<&ProfileRow>,
) -> QueryResult<Checked> {
    let person = profile.and_then(|p| {
        Some((
            p.snils.clone()?,
            Person {
                last_name: p.last_name.clone()?,
                first_name: p.first_name.clone()?,
                middle_name: p.middle_name.clone(),
                birth_date: Some(p.birth_date?),
                inn: p.inn.clone(),
            },
        ))
    });
    let Some((snils, person)) = person else {
        return Ok(Checked {
            outcome: Outcome::NoIdentity,
            register_id: None,
        });
    };
    let record = rows::by_snils(conn, &snils)?.filter(|r| r.removed_at.is_none());
    let theirs = record.as_ref().map(|r| Person {
        last_name: r.last_name.clone(),
        first_name: r.first_name.clone(),
        middle_name: r.middle_name.clone(),
        birth_date: Some(r.birth_date),
        inn: r.inn.clone(),
    });
    Ok(Checked {
        outcome: cross_check(&person, theirs.as_ref()),
        register_id: record.map(|r| r.register_id),
    })
}

/// At login: keeps what the identity provider said about the person on their profile, checks
/// it against the register and keeps the result there too.
pub fn at_login(
    conn: &mut DbConnection,
    user_id: &str,
    identity: &Identity,
    at: NaiveDateTime,
) -> QueryResult<Checked> {
    let mut row = ProfileRow {
        user_id: user_id.to_owned(),
        snils: identity
            .snils
            .as_deref()
            .and_then(|s| Snils::parse(s).ok())
            .map(|s| s.digits().to_owned()),
        last_name: identity.last_name.clone(),
        first_name: identity.first_name.clone(),
        middle_name: identity.middle_name.clone(),
        birth_date: identity.birth_date.as_deref().and_then(birth_date),
        inn: identity
            .inn
            .as_deref()
            .and_then(|i| crate::domain::inn::Inn::parse(i).ok())
            .map(|i| i.as_str().to_owned()),
        registry_result: String::new(),
        registry_detail: String::new(),
        checked_at: at,
        updated_at: at,
    };
    let checked = check_profile(conn, Some(&row))?;
    row.registry_result = checked.outcome.code().to_owned();
    row.registry_detail = checked.detail();
    profiles::upsert(conn, &row)?;
    Ok(checked)
}

/// The check of a case's applicant (the `registry_match` guard's input).
pub fn for_applicant(conn: &mut DbConnection, owner_id: &str) -> QueryResult<Checked> {
    let profile = profiles::find(conn, owner_id)?;
    check_profile(conn, profile.as_ref())
}

/// Keeps a case's check and, when the result changed, audits it in the applicant's chain (codes and field names only:
/// the values stay in the erasable check row).
pub fn record_for_case(
    conn: &mut DbConnection,
    case_id: &str,
    owner_id: &str,
    checked: &Checked,
    by: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    write_tx(conn, |conn| {
        let previous = profiles::case_check(conn, case_id)?;
        let unchanged = previous.is_some_and(|p| {
            p.result == checked.outcome.code()
                && p.detail == checked.detail()
                && p.register_id == checked.register_id
        });
        profiles::upsert_case_check(
            conn,
            &CaseCheckRow {
                case_id: case_id.to_owned(),
                result: checked.outcome.code().to_owned(),
                detail: checked.detail(),
                register_id: checked.register_id.clone(),
                checked_at: at,
            },
        )?;
        // A result is audited when it changes; a repeated one only moves `checked_at`.
        if unchanged {
            return Ok(());
        }
        audit::record(
            conn,
            Entry {
                chain: format!("user:{owner_id}"),
                kind: "registry.checked",
                actor: None,
                case: None,
                at,
                payload: json!({
                    "case_id": case_id,
                    "result": checked.outcome.code(),
                    "fields": checked.fields(),
                    "register_id": checked.register_id,
                    "by": by,
                }),
            },
        )?;
        Ok(())
    })
}

/// What the re-check after a sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rechecked {
    /// Waiting cases checked again.
    pub cases: usize,
    /// Of those, now matching the register.
    pub cases_matching: usize,
    /// Profiles checked again (not matching at their last check).
    pub profiles: usize,
}

/// Checks again every case and profile whose last check was not a match (after a sync the
/// register may have been corrected). A changed result is stored and audited.
pub fn recheck_waiting(
    conn: &mut DbConnection,
    clock: &dyn Clock,
) -> Result<Rechecked, StoreError> {
    let mut done = Rechecked::default();
    for (row, owner) in profiles::waiting_cases(conn)? {
        let checked = for_applicant(conn, &owner)?;
        done.cases += 1;
        if checked.outcome == Outcome::Match {
            done.cases_matching += 1;
        }
        if checked.outcome.code() != row.result || checked.detail() != row.detail {
            let at = clock.now().naive_utc();
            record_for_case(conn, &row.case_id, &owner, &checked, "registry_sync", at)?;
        }
    }
    for profile in profiles::not_matching(conn)? {
        let checked = check_profile(conn, Some(&profile))?;
        done.profiles += 1;
        if checked.outcome.code() != profile.registry_result
            || checked.detail() != profile.registry_detail
        {
            let at = clock.now().naive_utc();
            profiles::set_result(
                conn,
                &profile.user_id,
                checked.outcome.code(),
                &checked.detail(),
                at,
            )?;
        }
    }
    Ok(done)
}
