//! The record as the JSON body of the register (ФРМР) export webhook.

use super::Record;
use chrono::SecondsFormat;
use serde_json::{Value, json};

/// The JSON body the register export webhook sends for a granted accreditation. The envelope is
/// the one the notification webhooks use (Standard Webhooks: `type`, `timestamp`, `data`), and
/// the shape is stable: fields may be added, none is renamed, retyped or removed without a new
/// `type`.
///
/// ```json
/// {
///   "type": "accreditation.granted",
///   "timestamp": "2026-12-02T12:30:00Z",
///   "data": {
///     "number": "A-2026-77-000001",
///     "kind": "periodic",
///     "specialty_code": "31.08.49",
///     "specialty_name": "Терапия",
///     "holder_name": "Иванова Мария Петровна",
///     "snils": "11223344595",
///     "application_number": "2026-77-000123",
///     "case_id": "0190a5c8-0000-7000-8000-000000000001",
///     "decided_at": "2026-12-02T12:30:00Z",
///     "decision_date": "2026-12-02",
///     "valid_until": "2031-12-01",
///     "commission": "Аккредитационная подкомиссия по специальности «Терапия» (г. Москва)"
///   }
/// }
/// ```
///
/// - `type` — always `accreditation.granted`.
/// - `timestamp` — when the event happened: the decision (`data.decided_at`), not the attempt,
///   so every retry sends the same body.
/// - `data.number` — the record number (`A-{year}-{region}-{seq:06}`, Latin `A`); unique per
///   installation, so the receiver upserts by it.
/// - `data.kind` — `periodic` or `primary`.
/// - `data.specialty_code`, `data.specialty_name` — the specialty: nomenclature code and
///   Russian name.
/// - `data.holder_name` — the specialist's full name as in the application.
/// - `data.snils` — the specialist's SNILS, 11 digits without separators (checksum valid).
/// - `data.application_number` — the number of the approved application (`2026-77-000123`).
/// - `data.case_id` — accredo's id of the application's case.
/// - `data.decided_at` — the moment of the decision, RFC 3339 in UTC with seconds (`…Z`).
/// - `data.decision_date` — the date of the decision in Moscow time, `YYYY-MM-DD`.
/// - `data.valid_until` — the last day the accreditation is valid, inclusive, `YYYY-MM-DD`.
/// - `data.commission` — the name of the accreditation subcommission that decided, in Russian.
pub fn export_payload(r: &Record) -> Value {
    let decided_at = r.decided_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    json!({
        "type": "accreditation.granted",
        "timestamp": decided_at,
        "data": {
            "number": r.number,
            "kind": r.kind.code(),
            "specialty_code": r.specialty_code,
            "specialty_name": r.specialty_name,
            "holder_name": r.holder_name,
            "snils": r.snils.digits(),
            "application_number": r.application_number,
            "case_id": r.case_id,
            "decided_at": decided_at,
            "decision_date": r.decision_date.format("%Y-%m-%d").to_string(),
            "valid_until": r.valid_until.format("%Y-%m-%d").to_string(),
            "commission": r.commission,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::*;

    /// The whole body, so that any change of the shape is seen here first (it is an interface
    /// of another system).
    #[test]
    fn the_payload_has_the_documented_shape() {
        assert_eq!(
            export_payload(&record()),
            json!({
                "type": "accreditation.granted",
                "timestamp": "2026-12-02T12:30:00Z",
                "data": {
                    "number": "A-2026-77-000001",
                    "kind": "periodic",
                    "specialty_code": "31.08.49",
                    "specialty_name": "Терапия",
                    "holder_name": "Иванова Мария Петровна",
                    "snils": "11223344595",
                    "application_number": "2026-77-000123",
                    "case_id": "0190a5c8-0000-7000-8000-000000000001",
                    "decided_at": "2026-12-02T12:30:00Z",
                    "decision_date": "2026-12-02",
                    "valid_until": "2031-12-01",
                    "commission": "Аккредитационная подкомиссия по специальности «Терапия» (г. Москва)",
                }
            })
        );
    }

    #[test]
    fn a_primary_record_says_primary() {
        let mut r = record();
        r.kind = super::super::Kind::Primary;
        assert_eq!(export_payload(&r)["data"]["kind"], "primary");
    }
}
