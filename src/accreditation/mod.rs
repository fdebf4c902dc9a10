//! The accreditation record (выписка о прохождении аккредитации): the result issued when the
//! commission approves an application. Pure: the record is built by the caller from the case
//! and rendered here as PDF (the shared writer in `crate::pdf_text`), as XML (schema
//! `schemas/accreditation-record.xsd`) and as the JSON body of the register (ФРМР) export.
//! Every rendering is deterministic, so a record made once and stored downloads byte-identical.

mod export;
mod pdf;
mod xml;

use crate::domain::snils::Snils;
use chrono::{DateTime, Datelike, NaiveDate, Utc};

pub use crate::pdf_text::PdfError;
pub use export::export_payload;
pub use xml::NAMESPACE;

/// The kind of accreditation a record grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Периодическая аккредитация (workflow `periodic_accreditation`).
    Periodic,
    /// Первичная аккредитация (workflow `primary_accreditation`).
    Primary,
}

impl Kind {
    /// The stable code in XML and in the export payload: `periodic` or `primary`.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Periodic => "periodic",
            Kind::Primary => "primary",
        }
    }

    /// The Russian label, lower case (it reads inside a sentence and after a colon).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Periodic => "периодическая аккредитация",
            Kind::Primary => "первичная аккредитация",
        }
    }

    /// The kind a workflow grants; `None` for a workflow that grants no accreditation
    /// (a support request).
    pub fn from_workflow(id: &str) -> Option<Kind> {
        match id {
            "periodic_accreditation" => Some(Kind::Periodic),
            "primary_accreditation" => Some(Kind::Primary),
            _ => None,
        }
    }
}

/// Everything an accreditation record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record number, see [`record_number`]: `A-2026-77-000001`.
    pub number: String,
    /// Periodic or primary.
    pub kind: Kind,
    /// The specialty code as the nomenclature gives it (`31.08.49`).
    pub specialty_code: String,
    /// The specialty name in Russian (`Терапия`).
    pub specialty_name: String,
    /// The specialist's full name.
    pub holder_name: String,
    /// The specialist's SNILS.
    pub snils: Snils,
    /// The number of the application the decision approved (`2026-77-000001`).
    pub application_number: String,
    /// The case of that application.
    pub case_id: String,
    /// When the commission decided (the `approve` transition).
    pub decided_at: DateTime<Utc>,
    /// The decision date in Moscow time: the Moscow calendar date of `decided_at`.
    pub decision_date: NaiveDate,
    /// The last day the accreditation is valid, inclusive, see [`valid_until`].
    pub valid_until: NaiveDate,
    /// The name of the accreditation subcommission that decided, in Russian.
    pub commission: String,
}

/// The last day (inclusive) of an accreditation granted on `decision_date` for `years` years:
/// the day before the same calendar date `years` later. 2026-12-02 for 5 years is valid through
/// 2031-12-01. A decision of 29 February has its anniversary on 1 March of a common year, so it
/// is valid through 28 February of the target year — and, in a leap target year, also through
/// 28 February (the day before 29 February). The term (five years by Federal Law 323-FZ,
/// art. 69) is the caller's configuration. A date beyond chrono's range saturates
/// to `NaiveDate::MAX`.
pub fn valid_until(decision_date: NaiveDate, years: u32) -> NaiveDate {
    i32::try_from(years)
        .ok()
        .and_then(|n| decision_date.year().checked_add(n))
        .and_then(|year| {
            NaiveDate::from_ymd_opt(year, decision_date.month(), decision_date.day())
                .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))
        })
        .and_then(|anniversary| anniversary.pred_opt())
        .unwrap_or(NaiveDate::MAX)
}

/// The record number: `A-{year}-{region}-{seq:06}`, e.g. `A-2026-77-000001` — the letter A
/// (аккредитация) before the same parts as the application number `2026-77-000001`: the year
/// of the decision (Moscow time), the region code, and a sequence of records per installation.
/// The prefix keeps the two apart wherever both appear (support requests, the register). The
/// letter is the Latin `A` (U+0041) so the number stays ASCII in URLs, file names, XML and
/// JSON; it looks exactly like the Cyrillic `А`, so a lookup by a typed number should fold
/// U+0410 to `A` first.
pub fn record_number(year: i32, region: &str, seq: i64) -> String {
    format!("A-{year}-{region}-{seq:06}")
}

/// The record as a PDF (A4, Cyrillic, same record → same bytes).
pub fn pdf(record: &Record) -> Result<Vec<u8>, PdfError> {
    pdf::render(record)
}

/// The record as XML (UTF-8), valid against `schemas/accreditation-record.xsd`
/// (namespace [`NAMESPACE`]).
pub fn xml(record: &Record) -> Vec<u8> {
    xml::render(record)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A record as the `approve` of 2 December 2026, 15:30 Moscow time, would make it.
    pub(crate) fn record() -> Record {
        Record {
            number: record_number(2026, "77", 1),
            kind: Kind::Periodic,
            specialty_code: "31.08.49".into(),
            specialty_name: "Терапия".into(),
            holder_name: "Иванова Мария Петровна".into(),
            snils: Snils::parse("112-233-445 95").unwrap(),
            application_number: "2026-77-000123".into(),
            case_id: "0190a5c8-0000-7000-8000-000000000001".into(),
            decided_at: Utc.with_ymd_and_hms(2026, 12, 2, 12, 30, 0).unwrap(),
            decision_date: date(2026, 12, 2),
            valid_until: valid_until(date(2026, 12, 2), 5),
            commission: "Аккредитационная подкомиссия по специальности «Терапия» (г. Москва)"
                .into(),
        }
    }

    #[test]
    fn valid_through_the_day_before_the_anniversary() {
        assert_eq!(valid_until(date(2026, 12, 2), 5), date(2031, 12, 1));
        assert_eq!(valid_until(date(2026, 1, 1), 5), date(2030, 12, 31));
        assert_eq!(valid_until(date(2026, 3, 1), 2), date(2028, 2, 29));
        assert_eq!(valid_until(date(2026, 12, 2), 0), date(2026, 12, 1));
    }

    #[test]
    fn a_decision_of_29_february_is_valid_through_28_february() {
        // Common target year: the anniversary is 1 March.
        assert_eq!(valid_until(date(2028, 2, 29), 5), date(2033, 2, 28));
        // Leap target year: the anniversary is 29 February itself.
        assert_eq!(valid_until(date(2028, 2, 29), 4), date(2032, 2, 28));
    }

    #[test]
    fn a_term_beyond_the_calendar_saturates() {
        assert_eq!(valid_until(date(2026, 12, 2), u32::MAX), NaiveDate::MAX);
    }

    #[test]
    fn the_record_number_is_not_an_application_number() {
        assert_eq!(record_number(2026, "77", 1), "A-2026-77-000001");
        assert_eq!(record_number(2026, "50", 1_234_567), "A-2026-50-1234567");
        assert!(record_number(2026, "77", 1).is_ascii());
        assert_ne!(
            record_number(2026, "77", 1),
            crate::receipt::number(2026, "77", 1)
        );
    }

    #[test]
    fn kinds_by_workflow() {
        assert_eq!(
            Kind::from_workflow("periodic_accreditation"),
            Some(Kind::Periodic)
        );
        assert_eq!(
            Kind::from_workflow("primary_accreditation"),
            Some(Kind::Primary)
        );
        assert_eq!(Kind::from_workflow("support_request"), None);
        assert_eq!(Kind::Periodic.code(), "periodic");
        assert_eq!(Kind::Primary.code(), "primary");
        assert_eq!(Kind::Periodic.label(), "периодическая аккредитация");
        assert_eq!(Kind::Primary.label(), "первичная аккредитация");
    }
}
